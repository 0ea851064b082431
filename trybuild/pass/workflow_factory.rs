use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
struct PostConfig {
    #[garde(length(min = 1))]
    audience: String,
}

/// Drafts a post for an audience.
#[workflow_factory(id = "blog-post", input = PostConfig, name = "Blog Post")]
fn blog_post(ctx: RequestContext<PostConfig>) -> Workflow {
    let writer = Agent::new("Writer").with_instruction(format!("Write for {}.", ctx.input.audience));
    Workflow::new("Blog Post").with_steps([
        Step::agent("draft", writer),
        Step::function("sign", |input: StepInput| format!("{} -- the team", input.previous_or_message())),
    ])
}

#[workflow_factory(id = "echo")]
async fn echo() -> Result<Workflow, FactoryError> {
    Ok(Workflow::new("Echo").with_step(Step::function("echo", |input: StepInput| async move {
        input.message().to_owned()
    })))
}

fn serve(_: impl WorkflowFactory) {}

fn main() {
    serve(blog_post);
    serve(echo);
    let _ = AgentOs::builder().workflow(blog_post).workflow(echo);
}
