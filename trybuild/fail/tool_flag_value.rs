use agentos::prelude::*;

/// Deletes a file.
#[tool(requires_confirmation = true)]
fn delete_file(path: String) -> String {
    path
}

/// Runs a shell command on the user's machine.
#[tool(external_execution = false)]
fn run_shell(command: String) -> String {
    command
}

fn main() {}
