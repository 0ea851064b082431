//! The tables, as sea-orm entities.

pub mod run;
pub mod session;
