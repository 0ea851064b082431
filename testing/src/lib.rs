//! Test support for agentos, kept out of the runtime so a production server carries none of
//! it: in-process servers that speak a model provider's real wire protocol.
//!
//! [`MockOpenAi`] speaks the Responses and Chat Completions APIs, [`MockAnthropic`] the
//! Messages API and [`MockGemini`] the Gemini API, so tests and benchmarks exercise the real
//! model clients (HTTP, SSE, retries, pooling) without a network or a key. Applications reach
//! them as `agentos::testing` with the facade's `testing` feature.

mod anthropic;
mod conversation;
mod gemini;
mod openai;
mod server;

pub use server::{
    Anthropic, ERROR_MARKER, Fault, Gemini, MockAnthropic, MockGemini, MockOpenAi, MockServer,
    OpenAi, Protocol,
};
