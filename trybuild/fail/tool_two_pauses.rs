use agentos::prelude::*;

/// Deletes a file.
#[tool(requires_confirmation, external_execution)]
fn delete_file(path: String) -> String {
    path
}

/// Sends an email.
#[tool(requires_user_input = ["to"], requires_confirmation, external_execution)]
fn send_email(to: String, body: String) -> String {
    format!("{to}: {body}")
}

fn main() {
    // The tools are still defined, so their uses add no errors.
    let _ = Agent::new("Clerk").with_tool(delete_file).with_tool(send_email);
}
