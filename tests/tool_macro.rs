//! `#[tool]` functions, called as an agent's model would call them.

use agentos::prelude::*;
use agentos::{PauseFor, Tool, ToolError, ToolFunction};
use serde_json::json;

#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no folder named '{}'", self.0)
    }
}

/// Lists the documents in a folder.
///
/// Newest first.
#[tool]
async fn list_documents(
    /// The folder to list.
    folder: String,
    /// At most this many.
    limit: Option<u32>,
) -> Result<String, NotFound> {
    tokio::task::yield_now().await;
    if folder == "missing" {
        return Err(NotFound(folder));
    }
    Ok(format!("{folder}: {} documents", limit.unwrap_or(10)))
}

#[derive(Serialize)]
struct Sum {
    total: i64,
}

/// Adds two numbers.
#[tool]
fn add(a: i64, b: i64) -> Sum {
    Sum { total: a + b }
}

/// The current time, always the same in tests.
#[tool]
fn now() -> &'static str {
    "12:00"
}

#[test]
fn the_definition_comes_from_the_signature_and_docs() {
    let definition = list_documents.definition();
    assert_eq!(definition.name, "list_documents");
    assert_eq!(
        definition.description,
        "Lists the documents in a folder.\n\nNewest first."
    );
    let parameters = &definition.parameters;
    assert_eq!(parameters["type"], "object");
    assert_eq!(
        parameters["properties"]["folder"]["description"],
        "The folder to list."
    );
    assert_eq!(
        parameters["properties"]["limit"]["description"],
        "At most this many."
    );
    assert_eq!(parameters["required"], json!(["folder"]));
    assert!(parameters.get("title").is_none());

    let definition = now.definition();
    assert_eq!(definition.name, "now");
    assert_eq!(definition.parameters["type"], "object");
}

#[tokio::test]
async fn an_async_tool_runs_on_its_arguments() {
    let text = list_documents
        .call(json!({"folder": "reports", "limit": 3}))
        .await
        .unwrap();
    assert_eq!(text, "reports: 3 documents");

    let text = list_documents
        .call(json!({"folder": "reports"}))
        .await
        .unwrap();
    assert_eq!(text, "reports: 10 documents");
}

#[tokio::test]
async fn an_error_becomes_a_failed_call() {
    let error = list_documents
        .call(json!({"folder": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ToolError::Failed {
            tool: "list_documents".into(),
            message: "no folder named 'missing'".into(),
        }
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_without_panicking() {
    for arguments in [
        json!({}),
        json!({"folder": 7}),
        json!("reports"),
        json!([1]),
    ] {
        let error = list_documents.call(arguments.clone()).await.unwrap_err();
        assert!(
            matches!(&error, ToolError::InvalidArguments { tool, .. } if tool == "list_documents"),
            "{arguments}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_sync_tool_returns_json_or_text() {
    assert_eq!(
        add.call(json!({"a": 2, "b": 3})).await.unwrap(),
        r#"{"total":5}"#
    );
    // A tool without parameters accepts `{}` and `null`.
    assert_eq!(now.call(json!({})).await.unwrap(), "12:00");
    assert_eq!(now.call(serde_json::Value::Null).await.unwrap(), "12:00");
}

#[test]
fn a_tool_attaches_to_an_agent() {
    let agent = Agent::new("Librarian")
        .with_tool(list_documents)
        .with_tool(add);
    let _ = agent;
}

/// Names the type of a value.
#[tool]
fn r#type(
    /// The value to look at.
    r#for: String,
    r#in: Option<String>,
) -> String {
    match r#in {
        Some(place) => format!("{for_} in {place}: string", for_ = r#for),
        None => format!("{}: string", r#for),
    }
}

#[tokio::test]
async fn raw_identifiers_are_named_without_their_prefix() {
    let definition = r#type.definition();
    assert_eq!(definition.name, "type");
    let parameters = &definition.parameters;
    assert_eq!(
        parameters["properties"]["for"]["description"],
        "The value to look at."
    );
    assert!(parameters["properties"].get("in").is_some());
    assert!(parameters["properties"].get("r#for").is_none());
    assert_eq!(parameters["required"], json!(["for"]));

    assert_eq!(r#type.call(json!({"for": "x"})).await.unwrap(), "x: string");
    assert_eq!(
        r#type.call(json!({"for": "x", "in": "y"})).await.unwrap(),
        "x in y: string"
    );
    // The model only ever sees `for`; the Rust spelling is not an alias of it.
    let error = r#type.call(json!({"r#for": "x"})).await.unwrap_err();
    assert!(
        matches!(&error, ToolError::InvalidArguments { tool, .. } if tool == "type"),
        "{error:?}"
    );
}

/// Deletes a file.
#[tool(requires_confirmation)]
fn delete_file(path: String) -> String {
    format!("deleted {path}")
}

/// Sends an email.
#[tool(requires_user_input = ["to", "for"])]
async fn send_email(
    /// Who gets it.
    to: Option<String>,
    r#for: Option<String>,
    body: String,
) -> String {
    format!(
        "{}: {body} (for {})",
        to.unwrap_or_default(),
        r#for.unwrap_or_default()
    )
}

/// Runs a command on the user's machine.
#[tool(external_execution)]
fn run_shell(command: String) -> String {
    command
}

#[test]
fn each_key_sets_what_the_tool_pauses_for() {
    assert_eq!(delete_file.pause_for(), Some(PauseFor::Confirmation));
    assert_eq!(
        send_email.pause_for(),
        Some(PauseFor::UserInput {
            fields: vec!["to".into(), "for".into()],
        })
    );
    assert_eq!(run_shell.pause_for(), Some(PauseFor::ExternalExecution));
    assert_eq!(add.pause_for(), None);
    assert_eq!(r#type.pause_for(), None);
}

#[test]
fn a_tool_handle_keeps_what_it_pauses_for() {
    assert_eq!(
        Tool::new(delete_file).pause_for(),
        Some(&PauseFor::Confirmation)
    );
    assert_eq!(
        Tool::new(send_email).pause_for(),
        Some(&PauseFor::UserInput {
            fields: vec!["to".into(), "for".into()],
        })
    );
    assert_eq!(
        Tool::new(run_shell).pause_for(),
        Some(&PauseFor::ExternalExecution)
    );
    assert_eq!(Tool::new(now).pause_for(), None);
    // Cloning shares the cached value rather than asking the function again.
    let tool = Tool::new(delete_file);
    assert_eq!(tool.clone().pause_for(), tool.pause_for());
}

#[tokio::test]
async fn a_pausing_tool_keeps_its_schema_and_still_runs() {
    // The argument schema is the one a tool without the key would have: the runtime derives
    // the person's part from it.
    let parameters = send_email.definition().parameters;
    assert_eq!(parameters["required"], json!(["body"]));
    assert!(parameters["properties"].get("to").is_some());
    assert!(parameters["properties"].get("for").is_some());
    assert_eq!(
        send_email
            .call(json!({"to": "ada", "for": "bob", "body": "hi"}))
            .await
            .unwrap(),
        "ada: hi (for bob)"
    );
    assert_eq!(
        delete_file.call(json!({"path": "a.txt"})).await.unwrap(),
        "deleted a.txt"
    );
}
