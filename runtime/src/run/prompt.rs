//! System prompts and the delegation tools a team leader is given.

use std::fmt::Write as _;

use serde_json::json;

use crate::agent::Agent;
use crate::memory::{Memory, Recalled};
use crate::team::{Member, Team, TeamMode};
use crate::tool::ToolDefinition;

/// Name of the tool a leader delegates one task to one member with.
pub(crate) const DELEGATE_ONE: &str = "delegate_task_to_member";
/// Name of the tool a broadcasting leader sends one task to every member with.
pub(crate) const DELEGATE_ALL: &str = "delegate_task_to_members";

pub(crate) fn agent_system_prompt(agent: &Agent) -> String {
    let mut prompt = String::new();
    if let Some(role) = agent.role() {
        let _ = writeln!(prompt, "Your role: {role}");
    }
    if let Some(description) = agent.description() {
        let _ = writeln!(prompt, "{description}");
    }
    push_instructions(&mut prompt, agent.instructions());
    if agent.is_markdown() {
        prompt.push_str("\nFormat your answers in markdown.\n");
    }
    prompt
}

pub(crate) fn leader_system_prompt(team: &Team) -> String {
    let mut prompt = format!(
        "You lead the team \"{}\". Answer the user by working with your team members.\n",
        team.name()
    );
    if let Some(description) = team.description() {
        let _ = writeln!(prompt, "{description}");
    }
    prompt.push_str("\nTeam members:\n");
    for member in team.members() {
        let _ = write!(prompt, "- id: {}, name: {}", member.id(), member.name());
        if let Some(role) = member_role(member) {
            let _ = write!(prompt, ", role: {role}");
        }
        prompt.push('\n');
    }
    prompt.push('\n');
    prompt.push_str(match team.mode() {
        TeamMode::Coordinate => {
            "Delegate tasks to the members best suited to them with the \
            delegate_task_to_member tool, as often as you need, then write the final answer \
            from what they report.\n"
        }
        TeamMode::Route => {
            "Choose the one member best suited to the request and delegate it \
            with the delegate_task_to_member tool; that member's answer goes to the user as \
            it is.\n"
        }
        TeamMode::Broadcast => {
            "Send the task to every member at once with the \
            delegate_task_to_members tool, then write the final answer from all their \
            reports.\n"
        }
    });
    push_instructions(&mut prompt, team.instructions());
    if team.is_markdown() {
        prompt.push_str("\nFormat your answers in markdown.\n");
    }
    prompt
}

/// Adds what is remembered of the user to a system prompt: the memories `settings` let in,
/// or, when there are none yet, that the component remembers but knows nothing of them.
/// Nothing when the run has no user whose memories were read.
pub(crate) fn push_memories(prompt: &mut String, settings: &Memory, recalled: Option<&[Recalled]>) {
    let Some(recalled) = recalled else {
        return;
    };
    if !settings.adds_to_context() {
        return;
    }
    let shown = settings.in_context(recalled);
    if shown.is_empty() {
        prompt.push_str(
            "\nYou can remember things about the user across conversations, but you do not \
            know anything about this user yet.\n",
        );
        return;
    }
    prompt.push_str("\nWhat you remember about the user from earlier conversations:\n");
    prompt.push_str("<memories_from_previous_interactions>\n");
    for memory in shown {
        let _ = writeln!(prompt, "- {}", memory.memory);
    }
    prompt.push_str("</memories_from_previous_interactions>\n");
    prompt.push_str(
        "These may be out of date: what the user says in this conversation comes first.\n",
    );
}

/// Adds the session's summary to a top-level component's system prompt.
pub(crate) fn push_summary(prompt: &mut String, summary: &str) {
    prompt.push_str("\nA summary of this conversation so far, older messages included:\n");
    prompt.push_str("<summary_of_previous_interactions>\n");
    prompt.push_str(summary.trim());
    prompt.push_str("\n</summary_of_previous_interactions>\n");
}

fn member_role(member: &Member) -> Option<&str> {
    match member {
        Member::Agent(agent) => agent.role(),
        Member::Team(team) => team.description(),
    }
}

fn push_instructions(prompt: &mut String, instructions: &[String]) {
    if instructions.is_empty() {
        return;
    }
    prompt.push_str("\nInstructions:\n");
    for instruction in instructions {
        let _ = writeln!(prompt, "- {instruction}");
    }
}

/// The delegation tool for `team`'s mode.
pub(crate) fn delegation_tool(team: &Team) -> ToolDefinition {
    let task = json!({
        "type": "string",
        "description": "The task, with everything the member needs to carry it out."
    });
    if team.mode() == TeamMode::Broadcast {
        return ToolDefinition {
            name: DELEGATE_ALL.to_owned(),
            description: "Send one task to every team member at once and get all their answers."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": { "task": task },
                "required": ["task"],
                "additionalProperties": false
            }),
        };
    }
    let ids: Vec<&str> = team.members().iter().map(Member::id).collect();
    ToolDefinition {
        name: DELEGATE_ONE.to_owned(),
        description: "Give a task to one team member and get the member's answer.".to_owned(),
        parameters: json!({
            "type": "object",
            "properties": {
                "member_id": {
                    "type": "string",
                    "enum": ids,
                    "description": "The id of the member to delegate to."
                },
                "task": task
            },
            "required": ["member_id", "task"],
            "additionalProperties": false
        }),
    }
}
