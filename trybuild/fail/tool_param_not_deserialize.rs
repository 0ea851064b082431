use agentos::prelude::*;

struct Folder;

/// Lists a folder.
#[tool]
fn list(folder: Folder) -> String {
    let _ = folder;
    String::new()
}

fn main() {}
