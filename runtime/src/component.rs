//! What agents and teams share: ids, history settings, the multitask strategy, and the marker
//! trait for components.

use std::str::FromStr;

/// How much of the session's earlier runs a component sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    /// Whether earlier runs of the session are added to the model's context.
    pub add_history_to_context: bool,
    /// How many earlier runs, newest last.
    pub num_history_runs: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            add_history_to_context: false,
            num_history_runs: 3,
        }
    }
}

// Kept in agentos-core, beside the id rule its output is meant to satisfy.
pub use agentos_core::slugify;

/// A component a factory can build and the server can serve: [`crate::Agent`],
/// [`crate::Team`] or [`crate::workflow::Workflow`]. Sealed: nothing else is a component.
pub trait Component: Clone + Send + Sync + 'static + sealed::Sealed {
    /// `team`, `agent` or `workflow`, as used in routes and stored sessions.
    const KIND: ComponentKind;

    /// The id the component is served under.
    fn id(&self) -> &str;

    /// The display name.
    fn name(&self) -> &str;

    /// Replaces the id: a factory's component always carries the factory's id.
    fn set_id(&mut self, id: &str);

    /// What is wrong with the component as built, if anything (a workflow with two steps of
    /// one name): the server refuses to run it.
    fn problem(&self) -> Option<String> {
        None
    }
}

/// The kinds of component. Every place that tells a team from an agent or a workflow (routes,
/// stored rows, events, run outputs) goes through this one type, so nothing can be two of them
/// or none.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ComponentKind {
    /// A [`crate::Team`].
    #[sea_orm(string_value = "team")]
    Team,
    /// An [`crate::Agent`].
    #[sea_orm(string_value = "agent")]
    Agent,
    /// A [`crate::workflow::Workflow`].
    #[sea_orm(string_value = "workflow")]
    Workflow,
}

impl ComponentKind {
    /// `team`, `agent` or `workflow`: the stored value and agno's `session_type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Team => "team",
            ComponentKind::Agent => "agent",
            ComponentKind::Workflow => "workflow",
        }
    }

    /// `teams`, `agents` or `workflows`: the route segment and the scope resource.
    pub const fn plural(self) -> &'static str {
        match self {
            ComponentKind::Team => "teams",
            ComponentKind::Agent => "agents",
            ComponentKind::Workflow => "workflows",
        }
    }

    /// `Team`, `Agent` or `Workflow`, as agno's messages name them (`Team not found`).
    pub const fn label(self) -> &'static str {
        match self {
            ComponentKind::Team => "Team",
            ComponentKind::Agent => "Agent",
            ComponentKind::Workflow => "Workflow",
        }
    }

    /// agno's JSON keys for the component's id and name: `team_id`/`team_name`,
    /// `agent_id`/`agent_name` or `workflow_id`/`workflow_name`.
    pub const fn id_and_name_keys(self) -> (&'static str, &'static str) {
        match self {
            ComponentKind::Team => ("team_id", "team_name"),
            ComponentKind::Agent => ("agent_id", "agent_name"),
            ComponentKind::Workflow => ("workflow_id", "workflow_name"),
        }
    }

    /// The kind named `team`, `agent` or `workflow`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "team" => Some(ComponentKind::Team),
            "agent" => Some(ComponentKind::Agent),
            "workflow" => Some(ComponentKind::Workflow),
            _ => None,
        }
    }
}

impl std::fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which component a run or an event belongs to. agno's JSON spells it `team_id`/`team_name`,
/// `agent_id`/`agent_name` or `workflow_id`/`workflow_name`; this type writes and reads exactly
/// one of the pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRef {
    /// Team, agent or workflow.
    pub kind: ComponentKind,
    /// The component's id.
    pub id: std::sync::Arc<str>,
    /// Its display name.
    pub name: std::sync::Arc<str>,
}

impl ComponentRef {
    /// The id, when the component is a team (agno's `team_id`).
    pub fn team_id(&self) -> Option<&str> {
        (self.kind == ComponentKind::Team).then_some(&*self.id)
    }

    /// The id, when the component is an agent (agno's `agent_id`).
    pub fn agent_id(&self) -> Option<&str> {
        (self.kind == ComponentKind::Agent).then_some(&*self.id)
    }
}

impl Default for ComponentRef {
    fn default() -> Self {
        ComponentRef {
            kind: ComponentKind::Agent,
            id: std::sync::Arc::from(""),
            name: std::sync::Arc::from(""),
        }
    }
}

impl serde::Serialize for ComponentRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (id_key, name_key) = self.kind.id_and_name_keys();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(id_key, &*self.id)?;
        map.serialize_entry(name_key, &*self.name)?;
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for ComponentRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Pairs {
            team_id: Option<String>,
            team_name: Option<String>,
            agent_id: Option<String>,
            agent_name: Option<String>,
            workflow_id: Option<String>,
            workflow_name: Option<String>,
        }
        let pairs = Pairs::deserialize(deserializer)?;
        let (kind, id, name) = match (pairs.team_id, pairs.agent_id, pairs.workflow_id) {
            (Some(id), None, None) => (ComponentKind::Team, id, pairs.team_name),
            (None, Some(id), None) => (ComponentKind::Agent, id, pairs.agent_name),
            (None, None, Some(id)) => (ComponentKind::Workflow, id, pairs.workflow_name),
            _ => {
                return Err(serde::de::Error::custom(
                    "exactly one of team_id, agent_id and workflow_id must be set",
                ));
            }
        };
        Ok(ComponentRef {
            kind,
            name: std::sync::Arc::from(name.unwrap_or_else(|| id.clone())),
            id: std::sync::Arc::from(id),
        })
    }
}

/// What a run does when another top-level run of its session is running or queued.
///
/// agno has no such rule: two runs on one session interleave their history. The name and the
/// values are LangGraph's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MultitaskStrategy {
    /// Run at once, beside the others (agno's behaviour).
    #[default]
    Allow,
    /// Refuse with 409 while another run of the session is in progress.
    Reject,
    /// Wait, in order, for the earlier runs to end, then start with their history.
    Enqueue,
    /// Cancel the runs in progress (stored CANCELLED), then start.
    Interrupt,
}

impl MultitaskStrategy {
    /// The value as the form field spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MultitaskStrategy::Allow => "allow",
            MultitaskStrategy::Reject => "reject",
            MultitaskStrategy::Enqueue => "enqueue",
            MultitaskStrategy::Interrupt => "interrupt",
        }
    }
}

impl FromStr for MultitaskStrategy {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(MultitaskStrategy::Allow),
            "reject" => Ok(MultitaskStrategy::Reject),
            "enqueue" => Ok(MultitaskStrategy::Enqueue),
            "interrupt" => Ok(MultitaskStrategy::Interrupt),
            other => Err(format!(
                "multitask_strategy must be allow, reject, enqueue or interrupt, got '{other}'"
            )),
        }
    }
}

/// Implemented by `Agent` and `Team` only, beside their own code.
pub(crate) mod sealed {
    pub trait Sealed {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_ref_writes_and_reads_exactly_its_kinds_pair() {
        for (kind, id_key, name_key) in [
            (ComponentKind::Team, "team_id", "team_name"),
            (ComponentKind::Agent, "agent_id", "agent_name"),
            (ComponentKind::Workflow, "workflow_id", "workflow_name"),
        ] {
            let component = ComponentRef {
                kind,
                id: "blog".into(),
                name: "Blog".into(),
            };
            let json = serde_json::to_value(&component).unwrap();
            assert_eq!(json, serde_json::json!({id_key: "blog", name_key: "Blog"}));
            let back: ComponentRef = serde_json::from_value(json).unwrap();
            assert_eq!(back, component);
            assert_eq!(ComponentKind::parse(kind.as_str()), Some(kind));
        }
        let both = serde_json::json!({"team_id": "a", "workflow_id": "b"});
        assert!(serde_json::from_value::<ComponentRef>(both).is_err());
    }
}
