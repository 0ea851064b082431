//! An MCP server to try `McpTools` against: the project's order tools (rmcp), which answer for
//! the user the `X-User-Id` header names, over streamable HTTP at `/mcp`, or over stdio.
//!
//! Run with:
//!     cargo run --example mcp_orders_server -- 127.0.0.1:8931
//!     cargo run --example mcp_orders_server -- --stdio
//!
//! Over HTTP it prints `MCP_SERVER_URL=http://127.0.0.1:8931/mcp` once it listens, and serves
//! until stopped; `examples/mcp_tools.rs` gives its tools to an agent.

use std::io::Write as _;

use agentos::testing::{McpOrders, serve_mcp_orders_on_stdio};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argument = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8931".to_owned());
    if argument == "--stdio" {
        serve_mcp_orders_on_stdio().await?;
        return Ok(());
    }
    let server = McpOrders::start_on(argument.as_str()).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "MCP_SERVER_URL={}", server.url())?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
