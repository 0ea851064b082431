//! The offline deterministic model.
