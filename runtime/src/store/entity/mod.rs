//! The tables, as sea-orm entities.

pub mod event;
pub mod idempotency_key;
pub mod memory;
pub mod run;
pub mod session;
pub mod token_usage;
