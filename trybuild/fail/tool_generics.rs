use agentos::prelude::*;

/// Echoes.
#[tool]
fn echo<T: ToString>(text: T) -> String {
    text.to_string()
}

fn main() {}
