use agentos::prelude::*;

struct Report;

/// Reports.
#[tool]
fn report() -> Report {
    Report
}

fn main() {}
