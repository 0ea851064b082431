//! agno's JSON shapes, built in one place from the run service's typed values: what agno's
//! clients and control plane parse. Handlers never assemble JSON themselves.

use std::collections::HashMap;

use axum::response::sse::Event;
use serde_json::{Map, Value, json};

use crate::agent::Agent;
use crate::component::{Component, ComponentKind};
use crate::model::{ModelHandle, Role};
use crate::resolve::Resolver;
use crate::run::{RunEvent, RunMetrics, RunStatus, delegation_tool};
use crate::runs::{Cancelled, StreamItem};
use crate::store::{SessionPage, StoredRun, StoredSession};
use crate::team::{Member, Team, TeamMode};

/// The RFC 3339 time of unix microseconds, to the second, as agno's stored rows give it.
fn timestamp_seconds(micros: i64) -> String {
    let seconds = micros.max(0) as u64 / 1_000_000;
    let full = crate::time::rfc3339(std::time::Duration::from_secs(seconds));
    // `...:SS.000000Z` -> `...:SSZ`
    match full.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => full,
    }
}

/// agno's key for a component id: `team_id` or `agent_id`.
fn id_key(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Team => "team_id",
        ComponentKind::Agent => "agent_id",
    }
}

/// A run as agno's run JSON: the whole output once it has ended, the fields known so far
/// while it runs.
pub(crate) fn run(run: &StoredRun) -> Value {
    if let Some(output) = &run.output
        && let Ok(value) = serde_json::to_value(output)
    {
        return value;
    }
    let mut summary = Map::new();
    summary.insert("run_id".into(), json!(run.run_id));
    summary.insert(id_key(run.kind).into(), json!(run.component_id));
    summary.insert("session_id".into(), json!(run.session_id));
    if let Some(parent) = &run.parent_run_id {
        summary.insert("parent_run_id".into(), json!(parent));
    }
    summary.insert("user_id".into(), json!(run.user_id));
    summary.insert("status".into(), json!(run.status));
    summary.insert("input".into(), json!({"input_content": run.input}));
    summary.insert("created_at".into(), json!(run.created_at / 1_000_000));
    summary.insert("events".into(), json!([]));
    Value::Object(summary)
}

/// A run as agno's session routes list it (its `RunSchema` / `TeamRunSchema`): the input as
/// `run_input`, an ISO `created_at`, `parent_run_id` empty for a top-level run, and the
/// streamed events kept with it.
pub(crate) fn stored_run(run: &StoredRun, events: Option<&Value>) -> Value {
    let output = run.output.as_ref();
    let mut out = Map::new();
    out.insert("run_id".into(), json!(run.run_id));
    out.insert(
        "parent_run_id".into(),
        json!(run.parent_run_id.as_deref().unwrap_or("")),
    );
    out.insert(id_key(run.kind).into(), json!(run.component_id));
    out.insert("user_id".into(), json!(run.user_id));
    // The output is the run's own account of how it ended, as `run` answers it.
    out.insert(
        "status".into(),
        json!(output.map_or(run.status, |o| o.status)),
    );
    out.insert("run_input".into(), json!(run.input));
    out.insert(
        "content".into(),
        json!(output.map(|o| o.content.as_str()).unwrap_or("")),
    );
    out.insert("run_response_format".into(), json!("text"));
    out.insert("reasoning_content".into(), json!(""));
    out.insert("reasoning_steps".into(), json!([]));
    out.insert(
        "metrics".into(),
        output
            .and_then(|o| serde_json::to_value(&o.metrics).ok())
            .unwrap_or_else(|| json!({})),
    );
    if let Some(output) = output {
        if !output.messages.is_empty() {
            out.insert("messages".into(), json!(output.messages));
        }
        if !output.tools.is_empty() {
            out.insert("tools".into(), json!(output.tools));
        }
        if let Some(state) = &output.session_state {
            out.insert("session_state".into(), state.clone());
        }
    }
    let events = events
        .filter(|events| events.as_array().is_some_and(|list| !list.is_empty()))
        .cloned()
        .or_else(|| {
            output
                .and_then(|o| o.events.as_ref())
                .filter(|events| !events.is_empty())
                .map(|events| json!(events))
        });
    if let Some(events) = events {
        out.insert("events".into(), events);
    }
    out.insert(
        "created_at".into(),
        json!(timestamp_seconds(run.created_at)),
    );
    out.insert("references".into(), json!([]));
    out.insert("reasoning_messages".into(), json!([]));
    for media in ["images", "videos", "audio", "files"] {
        out.insert(media.into(), json!([]));
    }
    out.insert(
        "input_media".into(),
        json!({"images": [], "videos": [], "audios": [], "files": []}),
    );
    Value::Object(out)
}

/// Runs as agno lists them: each member run right before the run that delegated to it.
pub(crate) fn stored_runs(runs: &[StoredRun], events: &HashMap<String, Value>) -> Value {
    // Members by the run that delegated to them, each list in the order given (oldest first).
    let mut members: HashMap<&str, Vec<&StoredRun>> = HashMap::new();
    let ids: std::collections::HashSet<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let mut tops = Vec::new();
    for run in runs {
        match run.parent_run_id.as_deref() {
            Some(parent) if ids.contains(parent) => members.entry(parent).or_default().push(run),
            _ => tops.push(run),
        }
    }
    let mut ordered = Vec::with_capacity(runs.len());
    for top in tops {
        push_with_members(top, &members, &mut ordered);
    }
    Value::Array(
        ordered
            .into_iter()
            .map(|run| stored_run(run, events.get(&run.run_id)))
            .collect(),
    )
}

fn push_with_members<'a>(
    run: &'a StoredRun,
    members: &HashMap<&str, Vec<&'a StoredRun>>,
    into: &mut Vec<&'a StoredRun>,
) {
    for member in members.get(run.run_id.as_str()).into_iter().flatten() {
        push_with_members(member, members, into);
    }
    into.push(run);
}

/// A session's metrics as agno reports them: the sum of its top-level runs' tokens, with
/// the models used.
fn session_metrics(metrics: Option<&RunMetrics>) -> Value {
    let metrics = metrics.cloned().unwrap_or_default();
    json!({
        "input_tokens": metrics.input_tokens,
        "output_tokens": metrics.output_tokens,
        "total_tokens": metrics.total_tokens,
        "details": {"model": metrics.details.map(|d| d.model).unwrap_or_default()},
    })
}

/// A session as agno lists it.
pub(crate) fn session(session: &StoredSession, metrics: Option<&RunMetrics>) -> Value {
    let metrics_json = session_metrics(metrics);
    json!({
        // agno's client rebuilds listed sessions from the stored row's `session_data`.
        "session_data": {
            "session_name": session.name,
            "session_state": session.state,
            "session_metrics": metrics_json.clone(),
        },
        "session_id": session.session_id,
        "session_name": session.name.as_deref().unwrap_or(""),
        "session_state": session.state,
        "created_at": timestamp_seconds(session.created_at),
        "updated_at": timestamp_seconds(session.updated_at),
        "session_type": session.kind,
        "user_id": session.user_id,
        id_key(session.kind): session.component_id,
        "metrics": metrics_json,
        "total_tokens": metrics.map_or(0, |m| m.total_tokens),
        "metadata": session.metadata,
    })
}

/// A page of sessions: `{data, meta}`.
pub(crate) fn session_page(
    page: &SessionPage,
    metrics: &HashMap<String, RunMetrics>,
    page_number: u64,
    limit: u64,
    search_time_ms: f64,
) -> Value {
    json!({
        "data": page
            .sessions
            .iter()
            .map(|s| session(s, metrics.get(&s.session_id)))
            .collect::<Vec<_>>(),
        "meta": {
            "page": page_number,
            "limit": limit,
            "total_count": page.total,
            "total_pages": page.total.div_ceil(limit),
            "search_time_ms": search_time_ms,
        }
    })
}

/// A session with its exchanges (agno's `TeamSessionDetailSchema` or
/// `AgentSessionDetailSchema`): the component it ran, its metrics, and a chat history of the
/// top-level runs' user messages and model turns, tool-calling turns included.
pub(crate) fn session_detail(
    session_row: &StoredSession,
    runs: &[StoredRun],
    metrics: Option<&RunMetrics>,
) -> Value {
    let mut chat_history = Vec::new();
    let top_level = || runs.iter().filter(|r| r.parent_run_id.is_none());
    for run in top_level() {
        match &run.output {
            Some(output) if !output.messages.is_empty() => {
                for message in output
                    .messages
                    .iter()
                    .filter(|m| matches!(m.role, Role::User | Role::Assistant))
                {
                    chat_history.push(json!(message));
                }
            }
            _ => {
                let created_at = run.created_at / 1_000_000;
                chat_history
                    .push(json!({"role": "user", "content": run.input, "created_at": created_at}));
                if let Some(output) = &run.output {
                    chat_history.push(json!({"role": "assistant", "content": output.content, "created_at": created_at}));
                }
            }
        }
    }
    let mut body = session(session_row, metrics);
    if session_row.kind == ComponentKind::Agent {
        body["agent_session_id"] = json!(session_row.session_id);
    }
    // What ran the session, from its latest run: a factory's component exists per request.
    if let Some(output) = top_level().filter_map(|r| r.output.as_ref()).next_back() {
        let provider_label = output
            .metrics
            .details
            .as_ref()
            .and_then(|d| d.model.first())
            .map(|m| m.provider.as_str());
        let model = output.model.as_ref().map(|id| {
            json!({
                "provider": output.model_provider,
                "name": provider_label.map(model_class),
                "id": id,
            })
        });
        let key = match session_row.kind {
            ComponentKind::Team => "team_data",
            ComponentKind::Agent => "agent_data",
        };
        body[key] = json!({
            "name": output.component.name,
            id_key(session_row.kind): session_row.component_id,
            "model": model,
        });
    }
    body["chat_history"] = Value::Array(chat_history);
    body
}

/// agno's model class name from agentos's provider label: `OpenAI Responses` ->
/// `OpenAIResponses`.
fn model_class(label: &str) -> String {
    label.split_whitespace().collect()
}

/// The answer to a run started in the background.
pub(crate) fn background_run(run_id: &str, session_id: &str, status: RunStatus) -> Value {
    // agno answers a background run as accepted and not yet begun, whether or not its task
    // has started by the time the answer leaves; a queued run is pending anyway.
    let status = match status {
        RunStatus::Running => RunStatus::Pending,
        other => other,
    };
    json!({
        "run_id": run_id,
        "session_id": session_id,
        "status": status,
    })
}

/// The answer to a cancel request.
pub(crate) fn cancelled(run_id: &str, outcome: Cancelled) -> Value {
    let status = match outcome {
        Cancelled::Stopping => "CANCELLING",
        Cancelled::AlreadyEnded(status) => status.as_str(),
    };
    json!({"run_id": run_id, "status": status})
}

/// One SSE frame of an event: `id:` its number, `event:` its name, `data:` its JSON with the
/// number again as agno's `event_index`.
pub fn event_frame(event: &RunEvent, seq: u64) -> Event {
    numbered_frame(event.event.as_str(), event.json(), seq)
}

fn numbered_frame(name: &str, data: &str, seq: u64) -> Event {
    // The JSON is an object; the index goes first so the rest is sent as it was produced.
    let data = match data.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"event_index\":{seq}}}"),
        Some(rest) => format!("{{\"event_index\":{seq},{rest}"),
        None => data.to_owned(),
    };
    Event::default().event(name).id(seq.to_string()).data(data)
}

/// One SSE frame of a run's stream: a live or stored event, or one of agno's resume notices
/// (which carry no `id:`, so a reconnecting client's `Last-Event-ID` stays an event's).
pub(crate) fn stream_frame(item: &StreamItem) -> Event {
    match item {
        StreamItem::Live { seq, event } => event_frame(event, *seq),
        StreamItem::Stored(stored) => numbered_frame(&stored.event, &stored.data, stored.seq),
        StreamItem::Notice { name, data } => Event::default().event(*name).data(data.to_string()),
    }
}

/// A model as discovery describes it.
fn model(model: Option<&ModelHandle>) -> Option<Value> {
    model.map(|m| {
        json!({
            "name": model_class(m.provider_label()),
            "model": m.id(),
            "provider": m.provider(),
        })
    })
}

/// Instructions as the component's author wrote them: one string, or a list.
fn instructions(list: &[String]) -> Option<Value> {
    match list {
        [] => None,
        [one] => Some(json!(one)),
        many => Some(json!(many)),
    }
}

/// How discovery describes a component kind in full, and briefly for `/config`.
pub(crate) trait Described: Component {
    /// Every setting a client may show, as agno's `TeamResponse` / `AgentResponse`. The
    /// system prompt itself is never shown: only the instructions it is built from.
    fn describe(&self, db_id: &str) -> Map<String, Value>;
    /// The extra fields of a `/config` summary.
    fn summarize(&self, out: &mut Map<String, Value>);
}

impl Described for Agent {
    fn describe(&self, db_id: &str) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id()));
        out.insert("name".into(), json!(self.name()));
        out.insert("db_id".into(), json!(db_id));
        out.insert("filesystem".into(), json!(false));
        if let Some(description) = self.description() {
            out.insert("description".into(), json!(description));
        }
        if let Some(role) = self.role() {
            out.insert("role".into(), json!(role));
        }
        out.insert("is_factory".into(), json!(false));
        if let Some(model) = model(self.model()) {
            out.insert("model".into(), model);
        }
        if !self.tools().is_empty() {
            let tools: Vec<Value> = self.tools().iter().map(|t| json!(t.definition())).collect();
            out.insert("tools".into(), json!({ "tools": tools }));
        }
        let history = self.history();
        out.insert(
            "sessions".into(),
            json!({
                "session_table": "agentos_sessions",
                "add_history_to_context": history.add_history_to_context,
                "num_history_runs": history.num_history_runs,
            }),
        );
        out.insert("reasoning".into(), json!({"reasoning": false}));
        let mut system = Map::new();
        if let Some(instructions) = instructions(self.instructions()) {
            system.insert("instructions".into(), instructions);
        }
        if self.is_markdown() {
            system.insert("markdown".into(), json!(true));
        }
        out.insert("system_message".into(), Value::Object(system));
        out.insert("is_component".into(), json!(false));
        out.insert("sandboxed".into(), json!(false));
        out
    }

    fn summarize(&self, out: &mut Map<String, Value>) {
        if let Some(model) = self.model() {
            out.insert(
                "model".into(),
                json!({"id": model.id(), "provider": model.provider()}),
            );
        }
    }
}

fn mode_name(mode: TeamMode) -> &'static str {
    match mode {
        TeamMode::Coordinate => "coordinate",
        TeamMode::Route => "route",
        TeamMode::Broadcast => "broadcast",
    }
}

impl Described for Team {
    fn describe(&self, db_id: &str) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id()));
        out.insert("name".into(), json!(self.name()));
        out.insert("db_id".into(), json!(db_id));
        if let Some(description) = self.description() {
            out.insert("description".into(), json!(description));
        }
        out.insert("mode".into(), json!(mode_name(self.mode())));
        if let Some(model) = model(self.model()) {
            out.insert("model".into(), model);
        }
        out.insert("tools".into(), json!({ "tools": [delegation_tool(self)] }));
        let history = self.history();
        out.insert(
            "sessions".into(),
            json!({
                "session_table": "agentos_sessions",
                "add_history_to_context": history.add_history_to_context,
                "num_history_runs": history.num_history_runs,
            }),
        );
        out.insert("reasoning".into(), json!({"reasoning": false}));
        let mut system = Map::new();
        if let Some(instructions) = instructions(self.instructions()) {
            system.insert("instructions".into(), instructions);
        }
        system.insert("markdown".into(), json!(self.is_markdown()));
        out.insert("system_message".into(), Value::Object(system));
        out.insert("streaming".into(), json!({"stream_member_events": true}));
        let members: Vec<Value> = self
            .members()
            .iter()
            .map(|member| match member {
                Member::Agent(agent) => Value::Object(agent.describe(db_id)),
                Member::Team(team) => Value::Object(team.describe(db_id)),
            })
            .collect();
        out.insert("members".into(), json!(members));
        out.insert("is_factory".into(), json!(false));
        out.insert("is_component".into(), json!(false));
        out.insert("sandboxed".into(), json!(false));
        out
    }

    fn summarize(&self, out: &mut Map<String, Value>) {
        out.insert("mode".into(), json!(mode_name(self.mode())));
        if let Some(model) = self.model() {
            out.insert(
                "model".into(),
                json!({"id": model.id(), "provider": model.provider()}),
            );
        }
    }
}

/// How discovery describes one component: a static one in full, a factory from its info,
/// never by building it.
pub(crate) fn component<C: Described>(resolver: &Resolver<C>, db_id: &str) -> Value {
    if let Some(prototype) = resolver.prototype() {
        return Value::Object(prototype.describe(db_id));
    }
    let info = resolver.info();
    let mut out = Map::new();
    out.insert("id".into(), json!(info.id));
    out.insert(
        "name".into(),
        json!(info.name.as_deref().unwrap_or(&info.id)),
    );
    out.insert("db_id".into(), json!(db_id));
    if C::KIND == ComponentKind::Agent {
        out.insert("filesystem".into(), json!(false));
    }
    if let Some(description) = &info.description {
        out.insert("description".into(), json!(description));
    }
    if let Some(schema) = resolver.input_schema() {
        out.insert("input_schema".into(), schema.clone());
        out.insert("factory_input_schema".into(), schema.clone());
    }
    out.insert("is_factory".into(), json!(info.is_factory));
    out.insert("is_component".into(), json!(false));
    out.insert("sandboxed".into(), json!(false));
    if !info.scopes.is_empty() {
        out.insert("required_scopes".into(), json!(info.scopes));
    }
    Value::Object(out)
}

/// A component's entry in `/config`.
pub(crate) fn config_entry<C: Described>(resolver: &Resolver<C>, db_id: &str) -> Value {
    let info = resolver.info();
    let mut out = Map::new();
    out.insert("id".into(), json!(info.id));
    out.insert(
        "name".into(),
        json!(info.name.as_deref().unwrap_or(&info.id)),
    );
    if let Some(description) = &info.description {
        out.insert("description".into(), json!(description));
    }
    out.insert("db_id".into(), json!(db_id));
    if C::KIND == ComponentKind::Agent {
        out.insert("filesystem".into(), json!(false));
    }
    if let Some(prototype) = resolver.prototype() {
        prototype.summarize(&mut out);
    }
    out.insert("is_factory".into(), json!(info.is_factory));
    if let Some(schema) = resolver.input_schema() {
        out.insert("factory_input_schema".into(), schema.clone());
    }
    out.insert("sandboxed".into(), json!(false));
    Value::Object(out)
}

/// The features of agno's AgentOS that agentos does not serve yet: the route prefixes agno's
/// control plane calls for each, and its `/config` section, if it has one.
pub(crate) const UNBUILT_FEATURES: &[(&str, &[&str], Option<&str>)] = &[
    (
        "Memory",
        &[
            "memories",
            "memory_topics",
            "optimize-memories",
            "user_memory_stats",
        ],
        Some("memory"),
    ),
    ("Knowledge", &["knowledge"], Some("knowledge")),
    ("Evals", &["eval-runs"], Some("evals")),
    ("Traces", &["traces", "trace_session_stats"], Some("traces")),
    // agno's usage metrics (JSON). `GET /metrics` itself is the Prometheus exposition
    // (`server/metrics.rs`), which takes that method before this catch-all.
    ("Metrics", &["metrics"], Some("metrics")),
    ("Learnings", &["learnings"], Some("learning")),
    ("Approvals", &["approvals"], None),
    ("Schedules", &["schedules"], None),
    ("Workflows", &["workflows"], None),
    ("Registry", &["registry"], None),
    ("Components", &["components"], None),
];

/// What `/config` needs to know about the OS.
pub(crate) struct OsSummary<'a> {
    pub(crate) os_id: &'a str,
    pub(crate) name: Option<&'a str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) db_id: &'a str,
}

/// `/config`: agno's `ConfigResponse`. Sessions are served from the OS's one database; every
/// domain agentos does not serve yet is listed without databases, as not enabled.
pub(crate) fn config(
    os: OsSummary<'_>,
    models: Vec<(String, String)>,
    agents: Vec<Value>,
    teams: Vec<Value>,
) -> Value {
    let domain = |display_name: &str, table: &str| {
        json!({"dbs": [{
            "db_id": os.db_id,
            "domain_config": {"display_name": display_name},
            "tables": [table],
        }]})
    };
    let mut body = json!({
        "os_id": os.os_id,
        "name": os.name,
        "description": os.description,
        "available_models": models
            .into_iter()
            .map(|(id, provider)| json!({"id": id, "provider": provider}))
            .collect::<Vec<_>>(),
        "os_database": os.db_id,
        "databases": [os.db_id],
        "session": domain(os.db_id, "agentos_sessions"),
        "filesystem": {"namespaces": []},
        "queue": {"durable": false, "queue_per_session": false},
        "agents": agents,
        "teams": teams,
        "workflows": [],
        "interfaces": [],
        "company": null,
    });
    for (feature, _, section) in UNBUILT_FEATURES {
        if let Some(section) = section {
            body[*section] = json!({
                "display_name": format!("{feature} (not available in agentos yet)"),
                "enabled": false,
                "dbs": [],
            });
        }
    }
    body["knowledge"]["knowledge_instances"] = json!([]);
    body
}

/// `/health`.
pub(crate) fn health(started_at: &str) -> Value {
    json!({"status": "ok", "instantiated_at": started_at})
}

/// `/ready`.
pub(crate) fn ready(started_at: &str) -> Value {
    json!({"status": "ready", "store": "ok", "instantiated_at": started_at})
}
