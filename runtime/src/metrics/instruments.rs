//! The instruments handed out to what counts: a component's runs, a model's calls, the store's
//! writes, an open stream; and the label sets and buckets they are registered with.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::model::{ModelError, Usage};
use crate::run::RunStatus;

/// Seconds a run takes: from milliseconds (the offline model) to minutes (tool loops).
pub(super) const RUN_SECONDS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Seconds until a run's first token.
pub(super) const FIRST_TOKEN_SECONDS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Seconds a store write waits for its commit (queue and transaction).
pub(super) const WRITE_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ComponentLabels {
    pub(super) kind: &'static str,
    pub(super) component: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FinishedLabels {
    pub(super) kind: &'static str,
    pub(super) component: Arc<str>,
    pub(super) status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ModelLabels {
    pub(super) model: Arc<str>,
    pub(super) provider: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TokenLabels {
    pub(super) model: Arc<str>,
    pub(super) provider: Arc<str>,
    pub(super) direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ModelErrorLabels {
    pub(super) model: Arc<str>,
    pub(super) provider: Arc<str>,
    pub(super) error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLabels {
    pub(super) route: Arc<str>,
    pub(super) method: &'static str,
    pub(super) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OpLabels {
    pub(super) op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct LimitLabels {
    pub(super) limit: &'static str,
}

pub(super) type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub(super) fn run_histogram() -> Histogram {
    Histogram::new(RUN_SECONDS)
}

pub(super) fn first_token_histogram() -> Histogram {
    Histogram::new(FIRST_TOKEN_SECONDS)
}

pub(super) fn write_histogram() -> Histogram {
    Histogram::new(WRITE_SECONDS)
}

/// Every status a run can end with, in one order, for the per-status handles.
pub(super) const STATUSES: [RunStatus; 6] = [
    RunStatus::Pending,
    RunStatus::Running,
    RunStatus::Paused,
    RunStatus::Completed,
    RunStatus::Error,
    RunStatus::Cancelled,
];

pub(super) fn status_index(status: RunStatus) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(0)
}

/// The handles of one served component, made at build.
pub(crate) struct ComponentInstruments {
    pub(super) labels: ComponentLabels,
    pub(super) started: Counter,
    pub(super) duration: Histogram,
    pub(super) first_token: Histogram,
    pub(super) finished_family: Family<FinishedLabels, Counter>,
    /// Made on a status's first use, so statuses a component never ends with stay out of the
    /// exposition.
    pub(super) finished: [OnceLock<Counter>; STATUSES.len()],
}

impl ComponentInstruments {
    /// A run was stored as started.
    pub(crate) fn started(&self) {
        self.started.inc();
    }

    /// A run's task ended with `status` after `duration` of running; `first_token` is the
    /// seconds until its first token, when it got one.
    pub(crate) fn finished(&self, status: RunStatus, duration: Duration, first_token: Option<f64>) {
        let counter = self.finished[status_index(status)].get_or_init(|| {
            self.finished_family.get_or_create_owned(&FinishedLabels {
                kind: self.labels.kind,
                component: Arc::clone(&self.labels.component),
                status: status.as_str(),
            })
        });
        counter.inc();
        self.duration.observe(duration.as_secs_f64());
        if let Some(seconds) = first_token {
            self.first_token.observe(seconds);
        }
    }
}

/// What a model error is, as a label.
pub(super) fn error_label(error: &ModelError) -> &'static str {
    match error {
        ModelError::Status { .. } => "status",
        ModelError::Timeout { .. } => "timeout",
        ModelError::Connection(_) => "connection",
        ModelError::InvalidResponse(_) => "invalid_response",
        ModelError::Config(_) => "config",
    }
}

pub(super) const MODEL_ERRORS: [&str; 5] = [
    "status",
    "timeout",
    "connection",
    "invalid_response",
    "config",
];

/// The handles of one model (id and provider), made on its first call.
pub(crate) struct ModelInstruments {
    pub(super) labels: ModelLabels,
    pub(super) calls: Counter,
    pub(super) input_tokens: Counter,
    pub(super) output_tokens: Counter,
    pub(super) errors_family: Family<ModelErrorLabels, Counter>,
    pub(super) errors: [OnceLock<Counter>; MODEL_ERRORS.len()],
}

impl ModelInstruments {
    /// A call answered, with the tokens it used.
    pub(crate) fn answered(&self, usage: Usage) {
        self.calls.inc();
        self.input_tokens.inc_by(usage.input_tokens);
        self.output_tokens.inc_by(usage.output_tokens);
    }

    /// A call failed.
    pub(crate) fn failed(&self, error: &ModelError) {
        self.calls.inc();
        let label = error_label(error);
        let index = MODEL_ERRORS.iter().position(|e| *e == label).unwrap_or(0);
        self.errors[index]
            .get_or_init(|| {
                self.errors_family.get_or_create_owned(&ModelErrorLabels {
                    model: Arc::clone(&self.labels.model),
                    provider: Arc::clone(&self.labels.provider),
                    error: label,
                })
            })
            .inc();
    }
}

/// The store's handles, shared with [`crate::store::Store`].
#[derive(Debug)]
pub(crate) struct StoreInstruments {
    pub(super) writes: [Histogram; 4],
    pub(super) retries: [Counter; 2],
}

/// A lifecycle write of the store.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WriteKind {
    StartRun = 0,
    Events = 1,
    FinishRun = 2,
    /// Tokens a run used after its end.
    AddUsage = 3,
}

/// Why a store write was sent again.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RetryReason {
    /// Its batch was refused, so it went again alone.
    BatchRefused = 0,
    /// The store was away when a finished run was stored; it is tried again.
    Unavailable = 1,
}

impl StoreInstruments {
    pub(crate) fn wrote(&self, kind: WriteKind, took: Duration) {
        self.writes[kind as usize].observe(took.as_secs_f64());
    }

    pub(crate) fn retried(&self, reason: RetryReason) {
        self.retries[reason as usize].inc();
    }
}

/// Keeps the open-streams gauge up while it lives.
pub(crate) struct OpenStream(pub(super) Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}
