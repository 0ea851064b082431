use agentos::prelude::*;

/// Sends an email.
#[tool(requires_user_input = ["recipient"], retries = 3, external_execution = true)]
fn send_email<T: ToString>(to: String, body: T) -> String {
    format!("{to}: {}", body.to_string())
}

fn main() {
    // The tool is still defined, so its uses add no errors.
    let _ = Agent::new("Clerk").with_tool(send_email);
}
