use agentos::prelude::*;

/// Sends an email.
#[tool(requires_user_input = [])]
fn send_email(to: String, body: String) -> String {
    format!("{to}: {body}")
}

/// Books a table.
#[tool(requires_user_input = ["time", "guests", "time"])]
fn book_table(guests: u8, time: String) -> String {
    format!("{guests} at {time}")
}

fn main() {}
