use agentos::prelude::*;
use agentos::{PauseFor, ToolFunction};

/// Deletes a file, once a person agreed.
#[tool(requires_confirmation)]
fn delete_file(path: String) -> String {
    format!("deleted {path}")
}

/// Sends an email; the person says who to.
#[tool(requires_user_input = ["to", "cc"], crate = agentos)]
async fn send_email(to: String, cc: Option<String>, body: String) -> String {
    format!("{to} ({cc:?}): {body}")
}

/// Runs a command on the user's machine.
#[tool(external_execution)]
fn run_shell(command: String) -> String {
    command
}

/// Raw identifiers name the tool and its argument without `r#`.
#[tool(requires_user_input = ["for"])]
fn r#type(r#for: String) -> String {
    r#for
}

fn main() {
    assert_eq!(delete_file.pause_for(), Some(PauseFor::Confirmation));
    assert_eq!(run_shell.pause_for(), Some(PauseFor::ExternalExecution));
    let _ = (send_email.pause_for(), r#type.pause_for());
    let _ = Agent::new("Assistant")
        .with_tool(delete_file)
        .with_tool(send_email)
        .with_tool(run_shell)
        .with_tool(r#type);
}
