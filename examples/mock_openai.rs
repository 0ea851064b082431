//! The project's OpenAI-compatible mock as a server of its own, scripted like the model
//! behind agno's recordings: given tools and a user's message it calls the first tool once
//! (for `delegate_task_to_member`, the member the message names), otherwise it answers
//! `[fake-openai model=M] reply to: ...`; a message holding `[[fake-error]]` gets HTTP 400.
//!
//! Run with:
//!     cargo run --example mock_openai -- 127.0.0.1:18080
//!
//! It prints `OPENAI_BASE_URL=http://127.0.0.1:18080/v1` once it listens, and serves until
//! stopped. Then try it:
//!     curl -s http://127.0.0.1:18080/v1/chat/completions \
//!       -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'

use std::io::Write as _;

use agentos::testing::{Fault, MockOpenAi};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let mock = MockOpenAi::start_on(address.as_str()).await?;
    mock.set_marker_fault(Fault::Status(400));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "OPENAI_BASE_URL={}", mock.base_url())?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
