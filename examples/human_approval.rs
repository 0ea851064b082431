//! Human approval: a refund waits for a person. The Billing Agent's `issue_refund` tool is
//! `#[tool(requires_confirmation)]`, so a run whose model calls it stops before the refund is
//! made, is stored `PAUSED` with a requirement saying what it waits for, and goes on (as the
//! same run) when someone confirms or rejects the call through agno's
//! `POST .../runs/{run_id}/continue`. `lookup_order` needs nobody and runs at once.
//!
//! Three components: the agent factory `refund-agent` (the Billing Agent alone), the team
//! factory `approval-team` (a Billing Agent and a Tech Support Agent per tenant) and the
//! workflow factory `refund-review` (a ticket, the Billing Agent, a receipt). Without
//! `OPENAI_API_KEY` or `OPENAI_BASE_URL` they run on the offline `TestModel`, which calls every
//! tool it is offered, so any message pauses at `issue_refund`.
//!
//! Run with:
//!     cargo run --example human_approval
//!
//! Then ask for a refund; the answer is `"status": "PAUSED"`, with the waiting call in
//! `requirements` (and in `tools`, flagged `requires_confirmation`):
//!     RUN=$(curl -s http://127.0.0.1:7777/agents/refund-agent/runs \
//!       -F message='Please refund order 1042' -F user_id=tenant_42 -F stream=false)
//!     echo "$RUN" | jq '{status, requirements}'
//!
//! Confirm it: send the waiting tool executions back with `confirmed: true` (or `false` and a
//! `confirmation_note` to refuse); the refund runs and the answer is `"status": "COMPLETED"`:
//!     TOOLS=$(echo "$RUN" | jq -c '[.tools[] | select(.requires_confirmation) | .confirmed = true]')
//!     curl -s http://127.0.0.1:7777/agents/refund-agent/runs/$(echo "$RUN" | jq -r .run_id)/continue \
//!       --form-string tools="$TOOLS" -F user_id=tenant_42 -F stream=false | jq '{status, content}'
//!
//! The team pauses when its Billing Agent does; its requirements name the member
//! (`member_agent_id: "billing-agent"`) and go back as the `requirements` field:
//!     RUN=$(curl -s http://127.0.0.1:7777/teams/approval-team/runs \
//!       -F message='billing-agent, refund order 1042' -F user_id=tenant_42 -F stream=false)
//!     REQS=$(echo "$RUN" | jq -c '[.requirements[] | .confirmation = true]')
//!     curl -s http://127.0.0.1:7777/teams/approval-team/runs/$(echo "$RUN" | jq -r .run_id)/continue \
//!       --form-string requirements="$REQS" -F user_id=tenant_42 -F stream=false | jq '{status, content}'
//!
//! The workflow pauses when its `refund` step's agent does; each of its `step_requirements`
//! holds that run's requirements, answered inside it and sent back as `step_requirements`:
//!     RUN=$(curl -s http://127.0.0.1:7777/workflows/refund-review/runs \
//!       -F message='Please refund order 1042' -F user_id=tenant_42 -F stream=false)
//!     STEPS=$(echo "$RUN" | jq -c '[.step_requirements[] | .executor_requirements |= map(.confirmation = true)]')
//!     curl -s http://127.0.0.1:7777/workflows/refund-review/runs/$(echo "$RUN" | jq -r .run_id)/continue \
//!       --form-string step_requirements="$STEPS" -F user_id=tenant_42 -F stream=false | jq '{status, content}'
//!
//! With `JWT_VERIFICATION_KEY` set the server verifies HS256 tokens and takes the tenant from
//! their subject (`user_id` is then ignored); mint one with
//!     TOKEN=$(JWT_VERIFICATION_KEY=... cargo run -q --example human_approval -- mint tenant_42)
//! and add `-H "Authorization: Bearer $TOKEN"` to each curl. Only the run's owner continues it.

use agentos::model::{ModelHandle, from_env};
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::Db;

/// Refunds an amount to the card the order was paid with.
#[tool(requires_confirmation)]
fn issue_refund(
    /// The order to refund.
    order_id: String,
    /// How much to refund, in cents.
    amount_cents: i64,
) -> String {
    // A real tool would call the payment provider; this one only says what it would have done.
    format!("refunded {amount_cents} cents on order {order_id}")
}

/// Looks up an order: what was bought, what it cost and where it is.
#[tool]
fn lookup_order(
    /// The order number.
    order_id: String,
) -> String {
    format!("order {order_id}: 1 router, 8900 cents, delivered")
}

fn billing_agent(model: &ModelHandle, tenant: &str) -> Agent {
    Agent::new("Billing Agent")
        .with_role("Handle billing inquiries and refunds")
        .with_model(model.clone())
        .with_instruction(format!(
            "You help tenant {tenant} with invoices, orders and refunds."
        ))
        .with_instruction("Look the order up before you refund it.")
        .with_tool(issue_refund)
        .with_tool(lookup_order)
}

/// The Billing Agent on its own: every refund it issues waits for a person.
#[agent_factory(
    id = "refund-agent",
    name = "Refund Agent",
    description = "A billing agent per tenant whose refunds wait for a person's approval."
)]
fn refund_agent(ctx: RequestContext) -> Result<Agent, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous");
    Ok(billing_agent(&from_env("gpt-4o-mini")?, tenant))
}

/// One team per tenant; it pauses whenever its Billing Agent waits for an approval.
#[team_factory(
    id = "approval-team",
    name = "Approval Team",
    description = "A support team per tenant whose refunds wait for a person's approval."
)]
fn approval_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous");
    let model = from_env("gpt-4o-mini")?;
    Ok(Team::new("Approval Team")
        .with_model(model.clone())
        .with_members([
            billing_agent(&model, tenant),
            Agent::new("Tech Support Agent")
                .with_role("Handle technical issues")
                .with_model(model.clone())
                .with_instruction(format!(
                    "You help tenant {tenant} with outages and devices."
                )),
        ])
        .with_instructions([
            format!("You are the support team leader for tenant {tenant}."),
            "Route refunds and billing questions to the Billing Agent and technical issues to the Tech Support Agent.".to_owned(),
        ]))
}

/// A refund as a workflow: the ticket is written, the Billing Agent refunds (and waits for a
/// person there), and the receipt says what was done.
#[workflow_factory(
    id = "refund-review",
    name = "Refund Review",
    description = "A refund ticket per tenant whose refund step waits for a person's approval."
)]
fn refund_review(ctx: RequestContext) -> Result<Workflow, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous").to_owned();
    let model = from_env("gpt-4o-mini")?;
    Ok(Workflow::new("Refund Review").with_steps([
        Step::function("ticket", move |input: StepInput| {
            format!("Ticket for tenant {tenant}: {}", input.message())
        }),
        Step::agent(
            "refund",
            billing_agent(&model, ctx.user_id().unwrap_or("anonymous")),
        ),
        Step::function("receipt", |input: StepInput| {
            format!("Receipt: {}", input.previous_or_message())
        }),
    ]))
}

/// `mint <sub>`: prints a token for `JWT_VERIFICATION_KEY`, valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let [sub] = args else {
        anyhow::bail!("usage: human_approval mint <sub>");
    };
    let Ok(secret) = std::env::var("JWT_VERIFICATION_KEY") else {
        anyhow::bail!("set JWT_VERIFICATION_KEY to the key the server verifies with");
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    println!(
        "{}",
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("mint") {
        return mint(&args[1..]);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut builder = AgentOs::builder()
        .os_id("human-approval")
        .agent(refund_agent)
        .team(approval_team)
        .workflow(refund_review)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true);
    match std::env::var("JWT_VERIFICATION_KEY") {
        Ok(key) if !key.is_empty() => builder = builder.auth(JwtAuth::hs256(key.as_bytes())),
        _ => tracing::warn!("JWT_VERIFICATION_KEY is not set: user_id is the client's word"),
    }
    builder
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
