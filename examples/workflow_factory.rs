//! A workflow built per request: `#[workflow_factory]` with required typed input. Each run
//! counts the brief's words (a function step), researches it from two sides at once (a
//! parallel step), has a writer draft the post (an agent step), has it reviewed by an
//! editorial team (a team step), and, for a formal audience, adds a closing line (a
//! condition). The model comes from the environment as in the other examples.
//!
//! Run with (the model from `AGENTOS_MODEL` or the provider variables, else the offline
//! `TestModel`):
//!     cargo run --example workflow_factory
//!
//! Then:
//!     curl -s http://127.0.0.1:7777/workflows/blog-post
//!     curl -s http://127.0.0.1:7777/workflows/blog-post/runs -F message='Rust for data teams' \
//!       -F factory_input='{"audience": "engineering managers", "formal": true}' -F stream=false
//!     curl -sN http://127.0.0.1:7777/workflows/blog-post/runs -F message='Rust for data teams' \
//!       -F factory_input='{"audience": "students"}'
//!     # Without its required input the workflow starts nothing and answers 400:
//!     curl -s http://127.0.0.1:7777/workflows/blog-post/runs -F message=x -F stream=false

use agentos::model::{ModelHandle, from_env};
use agentos::prelude::*;
use agentos::store::Db;
use agentos::workflow::Json;

/// Who the post is for.
#[derive(Deserialize, Validate, JsonSchema)]
struct Brief {
    /// The readers, such as "engineering managers".
    #[garde(length(min = 1, max = 200))]
    audience: String,
    /// Whether the post closes formally.
    #[serde(default)]
    #[garde(skip)]
    formal: bool,
}

/// What the first step measures of the brief.
#[derive(Serialize)]
struct Measure {
    words: usize,
}

fn researcher(model: &ModelHandle, angle: &str) -> Agent {
    Agent::new(format!("{angle} Researcher"))
        .with_model(model.clone())
        .with_instruction(format!(
            "List three {angle} facts about the topic, briefly."
        ))
}

fn editorial_team(model: &ModelHandle, audience: &str) -> Team {
    Team::new("Editorial Team")
        .with_model(model.clone())
        .with_instruction("Have the Copy Editor tighten the draft, then return it.")
        .with_members([Agent::new("Copy Editor")
            .with_role("Tightens prose without changing its meaning")
            .with_model(model.clone())
            .with_instruction(format!("Keep it readable for {audience}."))])
}

/// Drafts a blog post for an audience: research, writing, review, and a formal close when
/// asked for.
#[workflow_factory(
    id = "blog-post",
    input = Brief,
    name = "Blog Post",
    description = "Researches, drafts and reviews a post for an audience."
)]
fn blog_post(ctx: RequestContext<Brief>) -> Result<Workflow, FactoryError> {
    let model = from_env("gpt-4o-mini")?;
    let audience = ctx.input.audience.clone();
    let writer = Agent::new("Writer")
        .with_model(model.clone())
        .with_instruction(format!(
            "Write a short blog post for {audience} from the research you are given."
        ));
    let formal = ctx.input.formal;
    Ok(Workflow::new("Blog Post").with_steps([
        Step::function("measure", |input: StepInput| {
            Json(Measure {
                words: input.message().split_whitespace().count(),
            })
        }),
        Parallel::new(
            "research",
            [
                Step::agent("technical", researcher(&model, "technical")),
                Step::agent("business", researcher(&model, "business")),
            ],
        ),
        Step::agent("draft", writer),
        Step::team("review", editorial_team(&model, &audience)),
        Condition::new("if formal", move |_: &StepInput| formal)
            .then([Step::function("close", |input: StepInput| {
                format!(
                    "{}\n\nWith kind regards,\nThe Editorial Team",
                    input.previous_or_message()
                )
            })])
            .into_step(),
    ]))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    AgentOs::builder()
        .workflow(blog_post)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
