use agentos::prelude::*;

/// Sends an email.
#[tool(requires_user_input = "to")]
fn send_email(to: String, body: String) -> String {
    format!("{to}: {body}")
}

/// Books a table.
#[tool(requires_user_input = [guests, "time"])]
fn book_table(guests: u8, time: String) -> String {
    format!("{guests} at {time}")
}

/// Orders a taxi.
#[tool(requires_user_input = true)]
fn order_taxi(address: String) -> String {
    address
}

fn main() {}
