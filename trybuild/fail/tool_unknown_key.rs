use agentos::prelude::*;

/// Deletes a file.
#[tool(require_confirmation)]
fn delete_file(path: String) -> String {
    path
}

/// Sends an email.
#[tool(user_input_fields = ["to"])]
fn send_email(to: String, body: String) -> String {
    format!("{to}: {body}")
}

fn main() {}
