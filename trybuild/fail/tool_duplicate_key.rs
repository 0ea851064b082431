use agentos::prelude::*;

/// Deletes a file.
#[tool(requires_confirmation, requires_confirmation)]
fn delete_file(path: String) -> String {
    path
}

fn main() {}
