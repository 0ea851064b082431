//! Test support for agentos, kept out of the runtime so a production server carries none of
//! it: in-process servers that speak a model provider's real wire protocol.
//!
//! [`MockOpenAi`] speaks the Responses and Chat Completions APIs, [`MockOpenAiCompatible`]
//! Chat Completions alone (as Ollama, vLLM and LM Studio do), [`MockAnthropic`] the
//! Messages API and [`MockGemini`] the Gemini API, so tests and benchmarks exercise the real
//! model clients (HTTP, SSE, retries, pooling) without a network or a key. Applications reach
//! them as `agentos::testing` with the facade's `testing` feature. [`McpOrders`] is an MCP
//! server (rmcp's) with order tools, for the tests and examples of MCP tools.

mod anthropic;
mod conversation;
mod gemini;
mod mcp;
mod openai;
mod protocol;
mod server;

pub use mcp::{McpOrders, serve_mcp_orders_on_stdio};
pub use protocol::{
    Anthropic, Gemini, MockAnthropic, MockGemini, MockOpenAi, MockOpenAiCompatible, OpenAi,
    OpenAiCompatible, Protocol,
};
pub use server::{ERROR_MARKER, Fault, MockServer};
