//! The components of agno's recorded exchanges, written with agentos: what an agno
//! `AgentOS(teams=[...], agents=[...])` app becomes when it is ported.
//!
//! | agno | agentos |
//! |---|---|
//! | `TeamFactory(id=..., factory=fn)` | `#[team_factory(id = ...)] fn` |
//! | `AgentFactory(..., input_schema=Model)` | `#[agent_factory(..., input = Model)]`, a serde + garde + schemars type |
//! | `ctx.user_id` | `ctx.user_id()`, with where it came from in `ctx.identity()` |
//! | `ctx.trusted.scopes` + `FactoryPermissionError` | `scopes = ["..."]` on the attribute (403 before the factory runs) |
//! | `async def factory(ctx)` | `async fn` |
//! | a plain `Team(...)` in `teams=[...]` | a `Team` value given to `.team(...)` |
//! | `OpenAIResponses(id=...)` / `OpenAIChat(id=...)` | the same names, `with_base_url`, one pooled client |
//! | `update_memory_on_run=True` | `.with_memory(Memory::after_run())`, memories per user and namespace |
//! | `WorkflowFactory(id=..., factory=fn)` with `Step(agent=...)` | `#[workflow_factory(id = ...)] fn` returning a `Workflow` of `Step::agent(...)` |
//!
//! What agentos does differently: factory ids are checked at compile time, the system prompt
//! is never returned to clients, and a user's sessions are theirs alone.

use std::sync::{Arc, OnceLock};

use agentos::model::{ModelHandle, OpenAIChat, OpenAIResponses, TestModel};
use agentos::prelude::*;
use agentos::{AgentOsBuilder, Identity};

/// Where the models live: an OpenAI-compatible server, or nowhere (the offline `TestModel`).
#[derive(Clone, Debug)]
pub enum Upstream {
    /// `OPENAI_BASE_URL` (and `OPENAI_API_KEY`) as async-openai reads them.
    Environment,
    /// A server at this base URL, such as the project's mock on loopback.
    BaseUrl(String),
    /// No server: answers come from `TestModel`.
    Offline,
}

static UPSTREAM: OnceLock<Upstream> = OnceLock::new();

/// Chooses the models' server once, before the OS is built; without a call, the environment
/// decides (an OpenAI server when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, else offline).
pub fn use_upstream(upstream: Upstream) {
    let _ = UPSTREAM.set(upstream);
}

fn upstream() -> &'static Upstream {
    UPSTREAM.get_or_init(|| {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
        if set("OPENAI_API_KEY") || set("OPENAI_BASE_URL") {
            Upstream::Environment
        } else {
            Upstream::Offline
        }
    })
}

/// The leader's and members' model: the Responses API, as in the recordings.
fn responses_model(id: &str) -> ModelHandle {
    match upstream() {
        Upstream::Environment => Arc::new(OpenAIResponses::new(id)),
        Upstream::BaseUrl(url) => Arc::new(
            OpenAIResponses::new(id)
                .with_base_url(url)
                .with_api_key("not-needed-by-the-mock"),
        ),
        Upstream::Offline => Arc::new(TestModel::with_id(id)),
    }
}

/// The tenant agent's model: Chat Completions, as in the recordings.
fn chat_model(id: &str) -> ModelHandle {
    match upstream() {
        Upstream::Environment => Arc::new(OpenAIChat::new(id)),
        Upstream::BaseUrl(url) => Arc::new(
            OpenAIChat::new(id)
                .with_base_url(url)
                .with_api_key("not-needed-by-the-mock"),
        ),
        Upstream::Offline => Arc::new(TestModel::with_id(id)),
    }
}

/// The support team of one tenant: a leader who routes, a billing and a tech support agent.
/// agno builds the same in its seed factory from `ctx.user_id`.
fn support_team_for(tenant: &str) -> Team {
    support_team_named("Support Team", tenant)
}

fn support_team_named(name: &str, tenant: &str) -> Team {
    let model = responses_model("gpt-5.4");
    Team::new(name)
        .with_model(model.clone())
        .with_markdown(true)
        .with_instructions([
            format!("You lead customer support for the tenant {tenant}."),
            "Send billing questions to the Billing Agent and technical problems to the Tech \
             Support Agent."
                .to_owned(),
        ])
        .with_members([
            Agent::new("Billing Agent")
                .with_role("Handle billing inquiries")
                .with_model(model.clone())
                .with_instructions([format!(
                    "Answer billing questions of the tenant {tenant}, briefly."
                )]),
            Agent::new("Tech Support Agent")
                .with_role("Handle technical issues")
                .with_model(model)
                .with_instructions([format!(
                    "Solve technical problems of the tenant {tenant}, briefly."
                )]),
        ])
}

/// The tenant a request is for: the verified subject, or the asserted user, or `anonymous`.
fn tenant(identity: &Identity) -> String {
    identity.user_id().unwrap_or("anonymous").to_owned()
}

/// agno: `TeamFactory(id="support-team", factory=build_support_team)`.
#[team_factory(
    id = "support-team",
    name = "Per-tenant Support Team",
    description = "A billing and a tech support agent, built for each tenant."
)]
pub fn support_team(ctx: RequestContext) -> Team {
    support_team_for(&tenant(ctx.identity()))
}

/// What a caller may choose about the configurable team (agno: a pydantic `TeamConfig`).
#[derive(Deserialize, Validate, JsonSchema)]
#[schemars(title = "TeamConfig")]
pub struct TeamConfig {
    /// Add a reviewer who checks the other members' answers.
    #[serde(default)]
    #[garde(skip)]
    pub include_reviewer: bool,
}

/// agno: `TeamFactory(..., input_schema=TeamConfig)`. A `factory_input` that is not valid
/// JSON, not an object, or not a `TeamConfig` is a 400 before the factory runs.
#[team_factory(
    id = "configurable-support-team",
    input = TeamConfig,
    name = "Configurable Support Team",
    description = "The support team, with a reviewer when factory_input asks for one."
)]
pub fn configurable_support_team(ctx: RequestContext<TeamConfig>) -> Team {
    let team = support_team_named("Configurable Support Team", &tenant(ctx.identity()));
    if ctx.input.include_reviewer {
        team.with_member(
            Agent::new("Reviewer Agent")
                .with_role("Review the other members' answers")
                .with_model(responses_model("gpt-5.4")),
        )
    } else {
        team
    }
}

/// agno checks `ctx.trusted.scopes` in the factory and raises `FactoryPermissionError`;
/// agentos declares the scope, and a caller without it gets 403 before the factory runs.
#[team_factory(
    id = "secure-support-team",
    name = "Secure Support Team",
    description = "Only for callers whose verified token holds the scope support:admin.",
    scopes = ["support:admin"]
)]
pub fn secure_support_team(ctx: RequestContext) -> Team {
    support_team_named("Secure Support Team", &tenant(ctx.identity()))
}

/// agno: an `async def` factory. Here an `async fn`; it may await a lookup of its own.
#[team_factory(
    id = "async-support-team",
    name = "Async Support Team",
    description = "The support team, built by an async factory."
)]
pub async fn async_support_team(ctx: RequestContext) -> Team {
    let tenant = tenant(ctx.identity());
    tokio::task::yield_now().await;
    support_team_named("Async Support Team", &tenant)
}

/// How the tenant agent should sound (agno: a pydantic `AgentConfig`).
#[derive(Deserialize, Validate, JsonSchema)]
#[schemars(title = "AgentConfig")]
pub struct AgentConfig {
    /// A word or two, such as `friendly`.
    #[serde(default = "neutral")]
    #[garde(length(min = 1, max = 32))]
    pub tone: String,
}

fn neutral() -> String {
    "neutral".to_owned()
}

/// agno: `AgentFactory(id="tenant-agent", input_schema=AgentConfig)` on `OpenAIChat`.
#[agent_factory(
    id = "tenant-agent",
    input = AgentConfig,
    name = "Per-tenant assistant",
    description = "An assistant for each tenant, in the tone the caller asks for."
)]
pub fn tenant_agent(ctx: RequestContext<AgentConfig>) -> Agent {
    Agent::new("Tenant Assistant")
        .with_model(chat_model("gpt-4o-mini"))
        .with_instructions([
            format!("You assist the tenant {}.", tenant(ctx.identity())),
            format!("Answer in a {} tone.", ctx.input.tone),
        ])
}

/// agno: an agent with `db=...` and `update_memory_on_run=True`, whose memories agno keys by
/// `user_id` alone. Here the memories are the caller's within the token's namespace, captured
/// after the answer is sent, and in the prompt of the caller's later sessions.
#[agent_factory(
    id = "memory-agent",
    name = "Memory Agent",
    description = "An assistant that remembers each user across sessions."
)]
pub fn memory_agent(ctx: RequestContext) -> Agent {
    Agent::new("Memory Agent")
        .with_model(chat_model("gpt-4o-mini"))
        .with_instructions([format!(
            "You assist the tenant {}, using what you remember of them.",
            tenant(ctx.identity())
        )])
        .with_memory(Memory::after_run())
}

/// agno: `WorkflowFactory(id="draft-and-edit", factory=fn)`, the draft-and-edit pipeline of
/// agno's factory cookbook: a writer drafts for the caller's tenant, an editor tightens it,
/// and a function signs it.
#[workflow_factory(
    id = "draft-and-edit",
    name = "Draft and Edit",
    description = "Drafts an answer for the tenant, then edits it."
)]
pub fn draft_and_edit(ctx: RequestContext) -> Workflow {
    let tenant = tenant(ctx.identity());
    let drafter = Agent::new("Drafter")
        .with_model(chat_model("gpt-4o-mini"))
        .with_instruction(format!("Draft a reply for the tenant {tenant}."));
    let editor = Agent::new("Editor")
        .with_model(chat_model("gpt-4o-mini"))
        .with_instruction("Tighten the draft you are given.");
    Workflow::new("Draft and Edit").with_steps([
        Step::agent("draft", drafter),
        Step::agent("edit", editor),
        Step::function("sign", move |input: StepInput| {
            format!("{} -- for {tenant}", input.previous_or_message())
        }),
    ])
}

/// Refunds an amount to the card the order was paid with. agno: `@tool(requires_confirmation=True)`.
#[tool(requires_confirmation)]
fn issue_refund(
    /// The order to refund.
    order_id: String,
    /// How much to refund, in cents.
    amount_cents: i64,
) -> String {
    format!("refunded {amount_cents} cents on order {order_id}")
}

/// agno: `WorkflowFactory(id="refund-review", factory=fn)`: a ticket, a Billing Agent whose
/// refund waits for a person (the workflow pauses there), and a receipt.
#[workflow_factory(
    id = "refund-review",
    name = "Refund Review",
    description = "A refund ticket per tenant whose refund step waits for a person's approval."
)]
pub fn refund_review(ctx: RequestContext) -> Workflow {
    let tenant = tenant(ctx.identity());
    let billing = Agent::new("Billing Agent")
        .with_model(chat_model("gpt-4o-mini"))
        .with_instruction(format!("You help tenant {tenant} with refunds."))
        .with_tool(issue_refund);
    Workflow::new("Refund Review").with_steps([
        Step::function("ticket", move |input: StepInput| {
            format!("Ticket for tenant {tenant}: {}", input.message())
        }),
        Step::agent("refund", billing),
        Step::function("receipt", |input: StepInput| {
            format!("Receipt: {}", input.previous_or_message())
        }),
    ])
}

/// agno: a plain `Team(...)` in `teams=[...]`. Built once; every request gets a copy, and
/// discovery describes it in full (members, model, instructions).
pub fn static_support_team() -> Team {
    support_team_named("Static Support Team", "static")
}

/// The OS of the recordings, without authentication and storage (the caller adds those).
pub fn builder() -> AgentOsBuilder {
    AgentOs::builder()
        .os_id("agno-compat")
        .name("agno compatibility example")
        .description("The components of agno's recorded exchanges, served by agentos")
        .db_id("agno-compat-db")
        .team(support_team)
        .team(configurable_support_team)
        .team(secure_support_team)
        .team(async_support_team)
        .team(static_support_team())
        .agent(tenant_agent)
        .agent(memory_agent)
        .workflow(draft_and_edit)
        .workflow(refund_review)
}
