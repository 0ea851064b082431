//! A team run's streamed event names, and the order agno's recording gives them, for the tests
//! that compare the two whatever the model behind the run.

use agentos::Team;
use agentos::run::{RunEnv, RunOutput, RunRequest, run_team};
use serde_json::Value;
use tokio::sync::mpsc;

/// Runs `team` streaming, and returns its output and the names of the events it sent.
pub async fn run_streamed(team: &Team, request: &RunRequest) -> (RunOutput, Vec<String>) {
    let (sink, mut events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink).streaming(true);
    let output = run_team(team, request, &env).await;
    drop(env);
    let mut names = Vec::new();
    while let Some(event) = events.recv().await {
        names.push(event.event.as_str().to_owned());
    }
    (output, names)
}

/// Event names with runs of content pieces folded into one, since chunking differs.
pub fn folded(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let is_piece = name == "RunContent" || name == "TeamRunContent";
        if is_piece && out.last() == Some(&name) {
            continue;
        }
        out.push(name);
    }
    out
}

/// The event order agno produced for a delegating team run, from its recording.
pub fn recorded_order() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wire/11_team_run_stream.json"
    );
    let text = std::fs::read_to_string(path).expect("the recording is in tests/fixtures/wire");
    let recording: Value = serde_json::from_str(&text).expect("the recording is JSON");
    folded(
        recording["response"]["sse"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned()),
    )
}
