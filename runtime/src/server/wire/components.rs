//! Agents, teams and workflows as agno's `/agents`, `/teams`, `/workflows` and `/config`
//! describe them, and the health and readiness answers.

use serde_json::{Map, Value, json};

use super::fields::{instructions, model};
use crate::agent::Agent;
use crate::component::{Component, ComponentKind};
use crate::resolve::Resolver;
use crate::run::delegation_tool;
use crate::team::{Member, Team, TeamMode};
use crate::workflow::{Step, StepKind, Workflow};

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

pub(super) fn mode_name(mode: TeamMode) -> &'static str {
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

impl Described for Workflow {
    fn describe(&self, db_id: &str) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id()));
        out.insert("name".into(), json!(self.name()));
        out.insert("db_id".into(), json!(db_id));
        if let Some(description) = self.description() {
            out.insert("description".into(), json!(description));
        }
        let steps: Vec<Value> = self.steps().iter().map(|s| step(s, db_id)).collect();
        out.insert("steps".into(), json!(steps));
        out.insert("is_factory".into(), json!(false));
        out.insert("workflow_agent".into(), json!(false));
        out
    }

    fn summarize(&self, _out: &mut Map<String, Value>) {}
}

/// A workflow's step as agno's `WorkflowResponse.steps` lists it: its name and type, the
/// agent or team it runs, and the steps it holds.
fn step(step: &Step, db_id: &str) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(step.name()));
    out.insert("type".into(), json!(step.step_type()));
    match step.kind() {
        StepKind::Agent(agent) => {
            out.insert("agent".into(), Value::Object(agent.describe(db_id)));
        }
        StepKind::Team(team) => {
            out.insert("team".into(), Value::Object(team.describe(db_id)));
        }
        _ => {}
    }
    let children = step.children();
    if !children.is_empty() {
        let steps: Vec<Value> = children.into_iter().map(|s| self::step(s, db_id)).collect();
        out.insert("steps".into(), json!(steps));
    }
    Value::Object(out)
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
    if C::KIND == ComponentKind::Workflow {
        out.insert("workflow_agent".into(), json!(false));
    }
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
    // The memories themselves are served (`server/memories.rs`); rewriting them with a model
    // is not yet.
    ("Memory optimization", &["optimize-memories"], None),
    ("Knowledge", &["knowledge"], Some("knowledge")),
    ("Evals", &["eval-runs"], Some("evals")),
    ("Traces", &["traces", "trace_session_stats"], Some("traces")),
    ("Learnings", &["learnings"], Some("learning")),
    ("Approvals", &["approvals"], None),
    ("Schedules", &["schedules"], None),
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
    workflows: Vec<Value>,
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
        "memory": domain(os.db_id, "agentos_memories"),
        // Counted from the runs on each read (`GET /metrics` as JSON).
        "metrics": domain(os.db_id, "agentos_runs"),
        "filesystem": {"namespaces": []},
        "queue": {"durable": false, "queue_per_session": false},
        "agents": agents,
        "teams": teams,
        "workflows": workflows,
        // The Agent2Agent door (`server/a2a.rs`), for every component.
        "interfaces": [{"type": "a2a", "version": super::a2a::PROTOCOL_VERSION, "route": "/a2a"}],
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
