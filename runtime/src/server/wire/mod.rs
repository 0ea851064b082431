//! agno's JSON shapes, built in one place from the run service's typed values: what agno's
//! clients and control plane parse. Handlers never assemble JSON themselves.

pub(crate) mod a2a;
pub(crate) mod agui;
mod components;
mod events;
mod fields;
mod memories;
mod runs;
mod sessions;
mod usage;

pub(crate) use components::{
    Described, OsSummary, UNBUILT_FEATURES, component, config, config_entry, health, ready,
};
pub use events::event_frame;
pub(crate) use events::{stream_frame, translated};
pub(crate) use memories::{memory, memory_page, user_stats_page};
pub(crate) use runs::{background_run, cancelled, run, stored_run, stored_runs};
pub(crate) use sessions::{session_detail, session_page};
pub(crate) use usage::{day_metrics, metrics_page, refresh_status};
