//! Procedural macros of agentos. Use them through the `agentos` crate
//! (`use agentos::prelude::*;`), which re-exports them and the paths their expansion needs.
//!
//! The modules stand in layers, bottom first; each imports only from its own layer and those
//! below (checked in CI by the `agentos-layers` crate):
//!
//! 1. Reporting (`errors`, `respan`, `suggest`): errors gathered with the user's spans,
//!    generated code placed at the user's tokens, and the names a misspelt one likely meant.
//! 2. Grammar (`attr`): the `key = value` attribute grammar the macros read.
//! 3. Macros (`factory`, `tool`): each parses its attribute, validates, then expands.

#![warn(missing_docs)]

mod attr;
mod errors;
mod factory;
mod respan;
mod suggest;
mod tool;

use proc_macro::TokenStream;

/// Turns a function into a **team factory**: a value the server calls on every request to build
/// the [`Team`] that runs it.
///
/// ```ignore
/// use agentos::prelude::*;
///
/// #[derive(Deserialize, Validate, JsonSchema)]
/// struct TeamConfig {
///     #[garde(length(min = 1))]
///     topic: String,
/// }
///
/// /// Researches a topic and writes it up.
/// #[team_factory(
///     id = "research-team",
///     input = TeamConfig,
///     name = "Research",
///     description = "Researches a topic and writes it up",
///     scopes = ["teams:run"],
/// )]
/// pub async fn research_team(ctx: RequestContext<TeamConfig>) -> Result<Team, FactoryError> {
///     Ok(Team::new("Research").with_member(Agent::new("Researcher")))
/// }
///
/// // Serve it ...
/// let os = AgentOs::builder().team(research_team).build().await?;
/// // ... or find every annotated factory in the binary ...
/// let os = AgentOs::builder().discover().build().await?;
/// // ... or call it in a unit test.
/// let team = research_team.build(RequestContext::test(TeamConfig { topic: "rust".into() })).await?;
/// ```
///
/// # Arguments
///
/// ```text
/// #[team_factory(key = value, ...)]
///
/// id          = "slug"          required. The id it is served under (`/teams/{id}/runs`):
///                               1 to 64 lowercase ASCII letters, digits, `-` and `_`.
/// input       = Type            The type of the request's `factory_input`. It must implement
///                               `Deserialize`, `garde::Validate` and `JsonSchema`. Without
///                               `input` the factory takes no input and ignores any it is sent.
/// name        = "..."           Display name.
/// description = "..."           What it builds, for people.
/// scopes      = ["a:b", ...]    Scopes the caller must hold before the factory runs.
/// blocking                      A flag: run a sync function on tokio's blocking thread pool,
///                               for slow set-up (files, a database client). Not on `async fn`.
/// multitask   = "enqueue"       What a run does when another run of its session is in
///                               progress: "allow" (the default), "reject" (409), "enqueue"
///                               (wait its turn) or "interrupt" (cancel the others). A
///                               request's `multitask_strategy` field overrides it.
/// crate       = path            Where the `agentos` crate is (default `::agentos`), for code
///                               that renamed it or re-exports it.
/// ```
///
/// # The function
///
/// A `fn` or an `async fn`, without `self`, generics or `where` clause, taking either nothing
/// or the request context:
///
/// ```text
/// [async] fn name() -> R
/// [async] fn name(ctx: RequestContext<I>) -> R    I = the `input` type, or `()` without `input`
///
/// R = Team | Result<Team, E>    where E: Into<FactoryError>
/// ```
///
/// The future of an `async fn` must be `Send`: the server runs it on a multi-threaded runtime.
/// Do not hold an `Rc` or a `std::sync::MutexGuard` across an `.await`.
///
/// # What it generates
///
/// The function's name becomes a unit struct (a type and a value at once), with the function's
/// visibility and doc comment:
///
/// ```text
/// pub struct research_team;                        // Clone + Copy + Debug
/// impl research_team { fn __agentos_factory_fn(..) { /* your body */ } }
/// impl agentos::Factory for research_team {
///     type Input = TeamConfig;                     // or ()
///     type Output = Team;
///     fn info(&self) -> FactoryInfo;               // id, name, description, scopes
///     fn input_schema(&self) -> Option<Value>;     // the input's JSON Schema, or None
///     fn parse_input(&self, input) -> Result<TeamConfig, FactoryError>;
///     fn build(&self, ctx) -> impl Future<Output = Result<Team, FactoryError>> + Send;
/// }
/// // plus a registration that `AgentOsBuilder::discover()` finds.
/// ```
///
/// Since the function's name is now a value, it is passed around as one:
/// `.team(research_team)`, `research_team.build(ctx)`, `research_team.info()`.
///
/// # Errors
///
/// Every mistake is a compile error at the token that caused it, and the factory is still
/// defined so the rest of the crate does not report more errors:
///
/// - missing `id`; `id`, `name` or `description` not a string literal; an `id` that is not a
///   slug or is longer than 64 characters (the rule of `agentos_core::check_id`); `scopes` not
///   an array of string literals; an unknown or repeated key; a value given to `blocking`;
///   `blocking` on an `async fn`;
/// - the attribute on something other than a function; a `self` parameter, generics, a `where`
///   clause, more than one parameter, `unsafe`, `extern`, no return type;
/// - an `input` type missing `Deserialize`, `Validate` or `JsonSchema` (reported at `input = T`);
/// - a parameter that is not `RequestContext<I>` for the factory's input `I` (reported at the
///   parameter's type);
/// - a return type other than `Team` or `Result<Team, E: Into<FactoryError>>` (reported at the
///   return type);
/// - an `async fn` whose future is not `Send` (reported at the function's name, with rustc's
///   note on the value held across `.await`).
///
/// Two factories with the same id are found when the server is assembled:
/// `AgentOsBuilder::build` fails with an error naming both types.
///
/// [`Team`]: https://docs.rs/agentos/latest/agentos/struct.Team.html
#[proc_macro_attribute]
pub fn team_factory(args: TokenStream, item: TokenStream) -> TokenStream {
    factory::expand(factory::Kind::Team, args.into(), item.into()).into()
}

/// Turns a function into an **agent factory**: a value the server calls on every request to
/// build the [`Agent`] that runs it, served under `/agents/{id}/runs`.
///
/// Everything about [`macro@team_factory`] applies, with `Agent` in place of `Team`: the same
/// keys, the same accepted functions (returning `Agent` or `Result<Agent, E>`), the same
/// generated items (implementing `Factory<Output = Agent>`, so `AgentFactory`), the same errors.
///
/// ```ignore
/// use agentos::prelude::*;
///
/// #[agent_factory(id = "helper", name = "Helper")]
/// fn helper() -> Agent {
///     Agent::new("Helper").with_instructions("Answer briefly.")
/// }
///
/// let os = AgentOs::builder().agent(helper).build().await?;
/// ```
///
/// [`Agent`]: https://docs.rs/agentos/latest/agentos/struct.Agent.html
#[proc_macro_attribute]
pub fn agent_factory(args: TokenStream, item: TokenStream) -> TokenStream {
    factory::expand(factory::Kind::Agent, args.into(), item.into()).into()
}

/// Turns a function into a **workflow factory**: a value the server calls on every request to
/// build the [`Workflow`] that runs it, served under `/workflows/{id}/runs`.
///
/// Everything about [`macro@team_factory`] applies, with `Workflow` in place of `Team`: the
/// same keys, the same accepted functions (returning `Workflow` or `Result<Workflow, E>`), the
/// same generated items (implementing `Factory<Output = Workflow>`, so `WorkflowFactory`), the
/// same errors.
///
/// ```ignore
/// use agentos::prelude::*;
///
/// #[derive(Deserialize, Validate, JsonSchema)]
/// struct PostConfig {
///     #[garde(length(min = 1))]
///     audience: String,
/// }
///
/// #[workflow_factory(id = "blog-post", input = PostConfig)]
/// fn blog_post(ctx: RequestContext<PostConfig>) -> Workflow {
///     let writer = Agent::new("Writer")
///         .with_instruction(format!("Write for {}.", ctx.input.audience));
///     Workflow::new("Blog Post").with_steps([Step::agent("draft", writer)])
/// }
///
/// let os = AgentOs::builder().workflow(blog_post).build().await?;
/// ```
///
/// [`Workflow`]: https://docs.rs/agentos/latest/agentos/workflow/struct.Workflow.html
#[proc_macro_attribute]
pub fn workflow_factory(args: TokenStream, item: TokenStream) -> TokenStream {
    factory::expand(factory::Kind::Workflow, args.into(), item.into()).into()
}

/// Turns a function into a **tool** an agent's model can call.
///
/// ```ignore
/// use agentos::prelude::*;
///
/// /// Lists the documents in a folder.
/// #[tool]
/// async fn list_documents(
///     /// The folder to list, like `reports/2024`.
///     folder: String,
///     /// At most this many documents.
///     limit: Option<u32>,
/// ) -> Result<Vec<String>, std::io::Error> {
///     Ok(vec![format!("{folder}/summary.md")])
/// }
///
/// let agent = Agent::new("Librarian").with_tool(list_documents);
/// ```
///
/// # The function
///
/// A `fn` or an `async fn` (whose future is `Send`), without `self` or generics. Each parameter
/// is a plain name with a type that implements `Deserialize` and `JsonSchema`; it becomes a
/// property of the arguments object the model sends, and its doc comment becomes the
/// property's description. `Option<T>` parameters are optional.
///
/// It returns any `T: Serialize` or a `Result<T: Serialize, E: Display>`. A string is given to
/// the model as is; any other value as JSON text; an `Err` as a failed tool call with the
/// error's message.
///
/// # What it generates
///
/// ```text
/// struct list_documents;                           // Clone + Copy + Debug
/// impl agentos::ToolFunction for list_documents {
///     fn definition(&self) -> ToolDefinition;      // name: "list_documents",
///                                                  // description: the fn's doc comment,
///                                                  // parameters: JSON Schema of the arguments
///     fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>>;
///     fn pause_for(&self) -> Option<PauseFor>;     // only with one of the keys below
/// }
/// ```
///
/// Arguments that do not fit the schema give `ToolError::InvalidArguments` (the model sees
/// the message and can retry); they never panic.
///
/// A raw identifier loses its `r#` in what the model sees: `fn r#type(r#for: String)` is the
/// tool `type` with the argument `for`.
///
/// # Arguments
///
/// ```text
/// #[tool(key, ...)]
///
/// requires_confirmation           A flag: a person approves each call before the tool runs.
/// requires_user_input = ["a", ..] These parameters are filled in by a person, not the model.
///                                 Each must be a parameter of the function; the argument
///                                 schema stays as it is.
/// external_execution              A flag: the client runs the tool and sends back its result.
/// crate = path                    Where the `agentos` crate is, as for `team_factory`.
/// ```
///
/// At most one of the first three. Each sets what `ToolFunction::pause_for` returns
/// (`PauseFor::Confirmation`, `PauseFor::UserInput { fields }`, `PauseFor::ExternalExecution`;
/// `None` without them): the attribute declares what a call waits for, and the runtime reads it
/// from `Tool::pause_for`.
///
/// ```ignore
/// /// Sends an email; the person chooses who gets it.
/// #[tool(requires_user_input = ["to"])]
/// async fn send_email(to: Option<String>, body: String) -> String {
///     format!("sent to {}", to.unwrap_or_default())
/// }
/// ```
///
/// # Errors
///
/// Compile errors at the offending token: an unknown or repeated key (the message lists the
/// valid keys, and names the likely one for a misspelling); a value given to a flag;
/// `requires_user_input` that is not an array of string literals, is empty, or names something
/// that is not a parameter (the message lists the parameters) or a parameter twice; two of
/// `requires_confirmation`, `requires_user_input` and `external_execution` together; the
/// attribute on something other than a function, a `self` parameter, generics, a pattern
/// instead of a parameter name (`(a, b): (u8, u8)`), a parameter type that is not
/// `Deserialize`/`JsonSchema`, a return type that is neither `Serialize` nor a `Result` of
/// one, a non-`Send` future.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    tool::expand(args.into(), item.into()).into()
}
