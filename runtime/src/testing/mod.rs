//! Test utilities that are part of the library: an in-process OpenAI-compatible server.
//!
//! [`MockOpenAi`] speaks the real wire protocol of the Responses and Chat Completions APIs, so
//! tests and benchmarks exercise the real model clients (HTTP, SSE, retries, pooling) without a
//! network or a key.

mod mock_openai;

pub use mock_openai::{ERROR_MARKER, Fault, MockOpenAi};
