use agentos::prelude::*;

/// Sends an email.
#[tool(requires_user_input = ["to", "recipient", "subjet"])]
fn send_email(to: String, subject: String, body: String) -> String {
    format!("{to}: {subject}\n{body}")
}

/// Pings the server.
#[tool(requires_user_input = ["host"])]
fn ping() -> &'static str {
    "pong"
}

fn main() {}
