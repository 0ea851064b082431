//! The MCP tools: what each is called and takes (JSON Schema), and what it does through the
//! run service. Every tool answers a result; a refusal or a failure is a tool error whose
//! text is the body the REST route would have answered (field paths included, nothing
//! internal).

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderMap;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::super::auth::AuthError;
use super::super::error::ApiError;
use super::super::state::OsState;
use super::super::wire;
use crate::agent::Agent;
use crate::component::ComponentKind;
use crate::resolve::RawInput;
use crate::run::{Decisions, RunOutput, RunStatus};
use crate::runs::{Caller, ContinueAsk, RunAnswer, RunAsk};
use crate::store::SessionQuery;
use crate::team::Team;
use crate::workflow::Workflow;

/// The prefix of the tool that runs one component of `kind` (`run_team__<id>`, ...).
fn run_prefix(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Team => "run_team__",
        ComponentKind::Agent => "run_agent__",
        ComponentKind::Workflow => "run_workflow__",
    }
}

/// The kinds, in the order their tools are listed.
const KINDS: [ComponentKind; 3] = [
    ComponentKind::Team,
    ComponentKind::Agent,
    ComponentKind::Workflow,
];

/// Every tool, for `tools/list`: agno's, then one per component.
pub(super) fn catalogue(state: &OsState) -> Vec<Tool> {
    let text = |description: &str| json!({"type": "string", "description": description});
    let user_id = text("Who runs it, when the server verifies no tokens (a token's subject wins).");
    let session_id = text("The session to continue; a new one when absent.");
    let component = |key: &str| {
        schema(
            json!({
                key: text("The component's id."),
                "message": text("The message to answer."),
                "session_id": session_id,
                "user_id": user_id,
                "factory_input": {"type": "object", "description": "The factory's input, checked against its schema."},
            }),
            &[key, "message"],
        )
    };
    let run_ref = |extra: Value| {
        let mut properties = json!({
            "run_id": text("The run."),
            "agent_id": text("The agent it is a run of (or team_id, or workflow_id)."),
            "team_id": text("The team it is a run of (or agent_id, or workflow_id)."),
            "workflow_id": text("The workflow it is a run of (or agent_id, or team_id)."),
            "session_id": text("The run's session."),
            "user_id": user_id,
        });
        if let (Value::Object(properties), Value::Object(extra)) = (&mut properties, extra) {
            properties.extend(extra);
        }
        properties
    };
    let mut tools = vec![
        tool(
            "get_agentos_config",
            "The OS's configuration: its agents, teams and workflows, with their input schemas.",
            schema(json!({}), &[]),
        ),
        tool(
            "run_agent",
            "Runs an agent and answers with its output.",
            component("agent_id"),
        ),
        tool(
            "run_team",
            "Runs a team and answers with its output.",
            component("team_id"),
        ),
        tool(
            "run_workflow",
            "Runs a workflow and answers with its output.",
            component("workflow_id"),
        ),
        tool(
            "continue_run",
            "Continues a paused run with a person's answers to its requirements.",
            schema(
                run_ref(json!({"requirements": {
                    "type": "array",
                    "description": "The paused run's requirements (a workflow's step requirements), each with its answer (confirmation, user input or external result).",
                    "items": {"type": "object"},
                }})),
                &["run_id", "requirements"],
            ),
        ),
        tool(
            "cancel_run",
            "Cancels a run in progress.",
            schema(run_ref(json!({})), &["run_id"]),
        ),
        tool(
            "get_sessions",
            "Lists the caller's sessions, newest first.",
            schema(
                json!({
                    "session_type": {"type": "string", "enum": ["agent", "team", "workflow"]},
                    "component_id": text("Only this component's sessions."),
                    "user_id": user_id,
                    "limit": {"type": "integer", "minimum": 1, "maximum": SessionQuery::MAX_LIMIT, "default": 20},
                    "page": {"type": "integer", "minimum": 1, "default": 1},
                    "sort_by": {"type": "string", "enum": ["created_at", "updated_at"], "default": "created_at"},
                    "sort_order": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                }),
                &[],
            ),
        ),
        tool(
            "get_session_runs",
            "The runs of one of the caller's sessions.",
            schema(
                json!({
                    "session_id": text("The session."),
                    "session_type": {"type": "string", "enum": ["agent", "team", "workflow"]},
                    "user_id": user_id,
                }),
                &["session_id"],
            ),
        ),
    ];
    for kind in KINDS {
        for (info, input) in state.runs.components().served(kind) {
            let title = info.name.as_deref().unwrap_or(&info.id);
            let description = match &info.description {
                Some(about) => format!("Runs {title}: {about}"),
                None => format!("Runs {title}."),
            };
            tools.push(tool(
                &format!("{}{}", run_prefix(kind), info.id),
                &description,
                component_schema(input),
            ));
        }
    }
    tools
}

fn tool(name: &str, description: &str, input_schema: JsonObject) -> Tool {
    Tool::new(
        Cow::Owned(name.to_owned()),
        Cow::Owned(description.to_owned()),
        Arc::new(input_schema),
    )
}

/// An object schema with these properties, these required.
fn schema(properties: Value, required: &[&str]) -> JsonObject {
    let mut object = Map::new();
    object.insert("type".into(), json!("object"));
    object.insert("properties".into(), properties);
    if !required.is_empty() {
        object.insert("required".into(), json!(required));
    }
    object
}

/// The input of a component's own tool: the run's fields, and for a factory with input its
/// `factory_input` schema (required when the factory requires a field). The input schema's
/// definitions move to the root, where its `$ref`s point.
fn component_schema(input: Option<&Value>) -> JsonObject {
    let mut properties = json!({
        "message": {"type": "string", "description": "The message to answer."},
        "session_id": {"type": "string", "description": "The session to continue; a new one when absent."},
        "user_id": {"type": "string", "description": "Who runs it, when the server verifies no tokens."},
    });
    let mut required = vec!["message"];
    let mut definitions = Map::new();
    if let Some(Value::Object(input)) = input {
        let mut input = input.clone();
        input.remove("$schema");
        for key in ["$defs", "definitions"] {
            if let Some(Value::Object(defs)) = input.remove(key) {
                definitions.insert(key.to_owned(), Value::Object(defs));
            }
        }
        if input
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|fields| !fields.is_empty())
        {
            required.push("factory_input");
        }
        properties["factory_input"] = Value::Object(input);
    }
    let mut object = schema(properties, &required);
    object.extend(definitions);
    object
}

/// One tool call, with who made it.
pub(super) struct Call<'a> {
    pub(super) state: &'a OsState,
    /// The caller the token names, when authentication is on.
    pub(super) verified: Option<Caller>,
    /// The HTTP request's headers, for factories.
    pub(super) headers: HeaderMap,
}

/// Why a call is answered with a tool error.
enum Refusal {
    /// Arguments that do not fit the tool's schema.
    Arguments(String),
    /// The caller lacks the scope the action's REST route needs.
    Scope(AuthError),
    /// What the REST route would have answered.
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Api(error)
    }
}

impl From<crate::runs::RunError> for Refusal {
    fn from(error: crate::runs::RunError) -> Self {
        Refusal::Api(error.into())
    }
}

#[derive(Deserialize)]
struct RunArgs {
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    message: String,
    session_id: Option<String>,
    user_id: Option<String>,
    factory_input: Option<Value>,
}

#[derive(Deserialize)]
struct RunRefArgs {
    run_id: String,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    #[serde(default)]
    requirements: Vec<Value>,
}

#[derive(Deserialize)]
struct SessionsArgs {
    session_type: Option<String>,
    component_id: Option<String>,
    user_id: Option<String>,
    limit: Option<u64>,
    page: Option<u64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

#[derive(Deserialize)]
struct SessionRunsArgs {
    session_id: String,
    session_type: Option<String>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct NoArgs {}

impl Call<'_> {
    /// Runs the tool `name` and answers its result.
    pub(super) async fn run(self, name: &str, arguments: JsonObject) -> CallToolResult {
        let answered = match name {
            "get_agentos_config" => self.config(arguments),
            "run_agent" => self.run_named(ComponentKind::Agent, arguments).await,
            "run_team" => self.run_named(ComponentKind::Team, arguments).await,
            "run_workflow" => self.run_named(ComponentKind::Workflow, arguments).await,
            "continue_run" => self.continue_run(arguments).await,
            "cancel_run" => self.cancel_run(arguments).await,
            "get_sessions" => self.sessions(arguments).await,
            "get_session_runs" => self.session_runs(arguments).await,
            other => {
                let target = KINDS.into_iter().find_map(|kind| {
                    let id = other.strip_prefix(run_prefix(kind))?;
                    Some((kind, id))
                });
                match target {
                    Some((kind, id)) => match parse::<RunArgs>(arguments) {
                        Ok(args) => self.run_component(kind, id.to_owned(), args).await,
                        Err(refusal) => Err(refusal),
                    },
                    None => Err(Refusal::Arguments(format!(
                        "there is no tool named '{other}'"
                    ))),
                }
            }
        };
        match answered {
            Ok(result) => result,
            Err(Refusal::Arguments(message)) => {
                let body = json!({"detail": message, "error_code": "invalid_arguments"});
                error_result(body)
            }
            Err(Refusal::Scope(error)) => error_result(json!({
                "detail": error.to_string(),
                "error_code": "missing_scope",
                "status": 403,
            })),
            Err(Refusal::Api(error)) => error_result(error.body_with_status()),
        }
    }

    /// The caller: the token's, or, without authentication, whoever the arguments name.
    fn caller(&self, asserted: Option<String>) -> Caller {
        match &self.verified {
            Some(caller) => caller.clone(),
            None => Caller::open(asserted),
        }
    }

    /// Whether the caller holds the scope the REST route of this action needs.
    fn require(
        &self,
        caller: &Caller,
        resource: &str,
        action: &str,
        id: Option<&str>,
    ) -> Result<(), Refusal> {
        let checks = self
            .state
            .auth
            .as_ref()
            .is_some_and(|auth| auth.checks_route_scopes());
        let allowed = match id {
            Some(id) => caller.may(resource, action, Some(id)),
            None => caller.may_any(resource, action),
        };
        if !checks || allowed {
            Ok(())
        } else {
            Err(Refusal::Scope(AuthError::MissingScope(format!(
                "{resource}:{action}"
            ))))
        }
    }

    fn config(&self, arguments: JsonObject) -> Result<CallToolResult, Refusal> {
        parse::<NoArgs>(arguments)?;
        let caller = self.caller(None);
        self.require(&caller, "system", "read", None)?;
        Ok(json_result(super::super::discovery::config_json(
            self.state,
        )))
    }

    /// `run_agent`, `run_team` or `run_workflow`: the component named by its id argument.
    async fn run_named(
        &self,
        kind: ComponentKind,
        arguments: JsonObject,
    ) -> Result<CallToolResult, Refusal> {
        let args = parse::<RunArgs>(arguments)?;
        let id = match kind {
            ComponentKind::Agent => args.agent_id.clone(),
            ComponentKind::Team => args.team_id.clone(),
            ComponentKind::Workflow => args.workflow_id.clone(),
        };
        match id {
            Some(id) => self.run_component(kind, id, args).await,
            None => {
                let key = kind.id_and_name_keys().0;
                Err(Refusal::Arguments(format!("{key} is required")))
            }
        }
    }

    async fn run_component(
        &self,
        kind: ComponentKind,
        id: String,
        args: RunArgs,
    ) -> Result<CallToolResult, Refusal> {
        let caller = self.caller(args.user_id);
        self.require(&caller, kind.plural(), "run", Some(&id))?;
        if !self.state.runs.serves(kind, &id) {
            return Err(ApiError::NotFound(kind).into());
        }
        let ask = RunAsk {
            message: args.message,
            session_id: args.session_id,
            factory_input: args.factory_input.map_or(RawInput::Absent, RawInput::Json),
            headers: self.headers.clone(),
            stream: false,
            background: false,
            multitask: None,
            idempotency_key: None,
            cancel_on_disconnect: false,
        };
        let answered = match kind {
            ComponentKind::Team => self.state.runs.start::<Team>(&id, &caller, ask).await?,
            ComponentKind::Agent => self.state.runs.start::<Agent>(&id, &caller, ask).await?,
            ComponentKind::Workflow => self.state.runs.start::<Workflow>(&id, &caller, ask).await?,
        };
        Ok(run_result(answered.answer))
    }

    async fn continue_run(&self, arguments: JsonObject) -> Result<CallToolResult, Refusal> {
        let args = parse::<RunRefArgs>(arguments)?;
        let caller = self.caller(args.user_id.clone());
        let (kind, id) = component_of(&args)?;
        self.require(&caller, kind.plural(), "run", Some(&id))?;
        if !self.state.runs.serves(kind, &id) {
            return Err(ApiError::NotFound(kind).into());
        }
        let ask = ContinueAsk {
            decisions: Decisions::from_agno(&args.requirements),
            session_id: args.session_id,
            headers: self.headers.clone(),
            stream: false,
            background: false,
        };
        let runs = &self.state.runs;
        let run_id = &args.run_id;
        let answered = match kind {
            ComponentKind::Team => runs.continue_run::<Team>(&id, run_id, &caller, ask).await?,
            ComponentKind::Agent => {
                runs.continue_run::<Agent>(&id, run_id, &caller, ask)
                    .await?
            }
            ComponentKind::Workflow => {
                runs.continue_run::<Workflow>(&id, run_id, &caller, ask)
                    .await?
            }
        };
        Ok(run_result(answered.answer))
    }

    async fn cancel_run(&self, arguments: JsonObject) -> Result<CallToolResult, Refusal> {
        let args = parse::<RunRefArgs>(arguments)?;
        let caller = self.caller(args.user_id.clone());
        let (kind, id) = component_of(&args)?;
        self.require(&caller, kind.plural(), "run", Some(&id))?;
        let outcome = self
            .state
            .runs
            .cancel(kind, &id, &args.run_id, &caller)
            .await?;
        Ok(json_result(wire::cancelled(&args.run_id, outcome)))
    }

    async fn sessions(&self, arguments: JsonObject) -> Result<CallToolResult, Refusal> {
        let args = parse::<SessionsArgs>(arguments)?;
        let caller = self.caller(args.user_id.clone());
        self.require(&caller, "sessions", "read", None)?;
        let limit = args.limit.unwrap_or(20).clamp(1, SessionQuery::MAX_LIMIT);
        let page = args.page.unwrap_or(1).clamp(1, SessionQuery::MAX_PAGE);
        let query = SessionQuery {
            kind: parse_kind(args.session_type.as_deref())?,
            component_id: args.component_id,
            user_id: args.user_id.map(Some),
            page,
            limit,
            ascending: args.sort_order.as_deref() == Some("asc"),
            by_created: args.sort_by.as_deref().is_none_or(|by| by == "created_at"),
        };
        let started = std::time::Instant::now();
        let (found, metrics) = self.state.runs.session_listing(query, &caller).await?;
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(json_result(wire::session_page(
            &found, &metrics, page, limit, took_ms,
        )))
    }

    async fn session_runs(&self, arguments: JsonObject) -> Result<CallToolResult, Refusal> {
        let args = parse::<SessionRunsArgs>(arguments)?;
        let caller = self.caller(args.user_id);
        self.require(&caller, "sessions", "read", None)?;
        let kind = parse_kind(args.session_type.as_deref())?;
        let (runs, events) = self
            .state
            .runs
            .session_runs(&args.session_id, kind, &caller)
            .await?;
        Ok(json_result(
            json!({"runs": wire::stored_runs(&runs, &events)}),
        ))
    }
}

fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, Refusal> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|error| Refusal::Arguments(format!("invalid arguments: {error}")))
}

fn parse_kind(kind: Option<&str>) -> Result<Option<ComponentKind>, Refusal> {
    match kind {
        None | Some("") => Ok(None),
        Some(name) => ComponentKind::parse(name).map(Some).ok_or_else(|| {
            Refusal::Arguments("session_type must be 'team', 'agent' or 'workflow'".into())
        }),
    }
}

/// The component a run tool names, by `team_id`, `agent_id` or `workflow_id`.
fn component_of(args: &RunRefArgs) -> Result<(ComponentKind, String), Refusal> {
    match (&args.team_id, &args.agent_id, &args.workflow_id) {
        (Some(id), None, None) => Ok((ComponentKind::Team, id.clone())),
        (None, Some(id), None) => Ok((ComponentKind::Agent, id.clone())),
        (None, None, Some(id)) => Ok((ComponentKind::Workflow, id.clone())),
        _ => Err(Refusal::Arguments(
            "exactly one of team_id, agent_id and workflow_id is required".into(),
        )),
    }
}

/// A run's answer: its content as text, and agno's trimmed result as structured content
/// (`run_id`, `session_id`, `status`, and a paused run's `requirements`, which are a
/// workflow's step requirements).
fn run_result(answer: RunAnswer) -> CallToolResult {
    let RunAnswer::Whole(output) = answer else {
        // Never asked for: these runs neither stream nor go to the background.
        return error_result(json!({"detail": "the run did not answer whole"}));
    };
    let output: &RunOutput = &output;
    let mut structured = json!({
        "run_id": output.run_id,
        "session_id": output.session_id,
        "status": output.status,
        "content": output.content,
    });
    // What a paused run asks, to send back answered to `continue_run`: a workflow's are its
    // step requirements.
    if output.status == RunStatus::Paused {
        if let Some(requirements) = &output.step_requirements {
            structured["requirements"] = json!(requirements);
        } else if let Some(requirements) = &output.requirements {
            structured["requirements"] = json!(requirements);
        }
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(output.content.clone())]);
    result.structured_content = Some(structured);
    if matches!(output.status, RunStatus::Error) {
        result.is_error = Some(true);
    }
    result
}

fn json_result(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

fn error_result(body: Value) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(body.to_string())]);
    result.structured_content = Some(body);
    result
}
