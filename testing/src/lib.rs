//! Test support for agentos, kept out of the runtime so a production server carries none of
//! it: in-process servers that speak a model provider's real wire protocol.
//!
//! [`MockOpenAi`] speaks the Responses and Chat Completions APIs, so tests and benchmarks
//! exercise the real model clients (HTTP, SSE, retries, pooling) without a network or a key.
//! Applications reach it as `agentos::testing` with the facade's `testing` feature.

mod mock_openai;

pub use mock_openai::{ERROR_MARKER, Fault, MockOpenAi};
