//! Test utilities that are part of the library: an in-process OpenAI-compatible server.
