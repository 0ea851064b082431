use agentos::prelude::*;

/// Echoes.
#[tool]
struct Echo;

fn main() {
    let _ = Echo;
}
