//! Prometheus metrics of one [`crate::AgentOs`]: runs, model calls, HTTP requests, streams,
//! store writes and limit rejections, exposed by `GET /metrics` in the text format.
//!
//! Each OS has its own registry, so several servers in one process (tests) count apart.
//! Label values come only from what the operator configured (component ids, model ids and
//! providers, route templates) and from closed sets (statuses, limits); never from a request:
//! a user id or a raw path would give every caller a series of their own.
//!
//! The hot path pays an atomic add per counter and a short lock per histogram: the handles of
//! each component are made once, at build, and those of each model the first time it is called.

mod instruments;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::component::ComponentKind;

pub(crate) use instruments::{
    ComponentInstruments, ModelInstruments, OpenStream, RetryReason, StoreInstruments, WriteKind,
};
use instruments::{
    ComponentLabels, FinishedLabels, HistogramFamily, HttpLabels, LimitLabels, ModelErrorLabels,
    ModelLabels, OpLabels, ReasonLabels, TokenLabels, first_token_histogram, run_histogram,
    write_histogram,
};

/// Distinct models counted under their own labels; the rest share `other`, so a factory that
/// names models after its input cannot grow the exposition without bound.
const MAX_MODELS: usize = 64;

/// Distinct routes counted under their own labels (the router's templates are far fewer).
const MAX_ROUTES: usize = 256;

/// The label of requests no route matched.
const UNMATCHED_ROUTE: &str = "unmatched";

/// The registry of one OS and its instruments.
pub(crate) struct Metrics {
    registry: Registry,
    teams: HashMap<String, Arc<ComponentInstruments>>,
    agents: HashMap<String, Arc<ComponentInstruments>>,
    workflows: HashMap<String, Arc<ComponentInstruments>>,
    model_calls: Family<ModelLabels, Counter>,
    model_tokens: Family<TokenLabels, Counter>,
    model_errors: Family<ModelErrorLabels, Counter>,
    /// By model id, then provider: looked up with the model's own `&str`s, without allocating.
    models: RwLock<HashMap<String, HashMap<String, Arc<ModelInstruments>>>>,
    model_count: std::sync::atomic::AtomicUsize,
    other_model: OnceLock<Arc<ModelInstruments>>,
    http: Family<HttpLabels, Counter>,
    routes: RwLock<HashMap<String, Arc<str>>>,
    unmatched: Arc<str>,
    open_streams: Gauge,
    store: Arc<StoreInstruments>,
    limits: Family<LimitLabels, Counter>,
    busy: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The registry of an OS serving these teams, agents and workflows.
    pub(crate) fn new<'a>(
        teams: impl IntoIterator<Item = &'a str>,
        agents: impl IntoIterator<Item = &'a str>,
        workflows: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut registry = Registry::with_prefix("agentos");

        let started = Family::<ComponentLabels, Counter>::default();
        registry.register(
            "runs_started",
            "Runs stored as started, by component",
            started.clone(),
        );
        let finished = Family::<FinishedLabels, Counter>::default();
        registry.register(
            "runs_finished",
            "Runs whose task ended, by component and status (a pause ends one; its continuation ends again)",
            finished.clone(),
        );
        let duration: HistogramFamily<ComponentLabels> =
            Family::new_with_constructor(run_histogram);
        registry.register_with_unit(
            "run_duration",
            "How long runs ran, by component",
            Unit::Seconds,
            duration.clone(),
        );
        let first_token: HistogramFamily<ComponentLabels> =
            Family::new_with_constructor(first_token_histogram);
        registry.register_with_unit(
            "run_time_to_first_token",
            "Time until a run's first model token, by component",
            Unit::Seconds,
            first_token.clone(),
        );
        let instruments = |kind: ComponentKind, id: &str| {
            let labels = ComponentLabels {
                kind: kind.as_str(),
                component: Arc::from(id),
            };
            Arc::new(ComponentInstruments {
                started: started.get_or_create_owned(&labels),
                duration: duration.get_or_create_owned(&labels),
                first_token: first_token.get_or_create_owned(&labels),
                finished_family: finished.clone(),
                finished: Default::default(),
                labels,
            })
        };
        let teams = teams
            .into_iter()
            .map(|id| (id.to_owned(), instruments(ComponentKind::Team, id)))
            .collect();
        let agents = agents
            .into_iter()
            .map(|id| (id.to_owned(), instruments(ComponentKind::Agent, id)))
            .collect();
        let workflows = workflows
            .into_iter()
            .map(|id| (id.to_owned(), instruments(ComponentKind::Workflow, id)))
            .collect();

        let model_calls = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_calls",
            "Model calls, failed ones included, by model",
            model_calls.clone(),
        );
        let model_tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "model_tokens",
            "Tokens the model reported, by model and direction (input, output)",
            model_tokens.clone(),
        );
        let model_errors = Family::<ModelErrorLabels, Counter>::default();
        registry.register(
            "model_errors",
            "Model calls that failed, by model and kind of error",
            model_errors.clone(),
        );

        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http.clone(),
        );
        let open_streams = Gauge::default();
        registry.register(
            "open_streams",
            "Run event streams (SSE) open now",
            open_streams.clone(),
        );

        let writes: HistogramFamily<OpLabels> = Family::new_with_constructor(write_histogram);
        registry.register_with_unit(
            "store_write",
            "How long a run lifecycle write waited for its commit, by operation",
            Unit::Seconds,
            writes.clone(),
        );
        let retries = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "store_retries",
            "Store writes sent again: alone after their batch was refused, or while the store was away",
            retries.clone(),
        );
        let store = Arc::new(StoreInstruments {
            writes: ["start_run", "events", "finish_run", "add_usage"]
                .map(|op| writes.get_or_create_owned(&OpLabels { op })),
            retries: ["batch_refused", "unavailable"]
                .map(|reason| retries.get_or_create_owned(&ReasonLabels { reason })),
        });

        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limit_rejections",
            "Run requests refused with 429 for a per-user limit, by limit",
            limits.clone(),
        );
        let busy = Counter::default();
        registry.register(
            "session_busy_rejections",
            "Run requests refused with 409 because their session was busy (multitask reject)",
            busy.clone(),
        );

        Metrics {
            registry,
            teams,
            agents,
            workflows,
            model_calls,
            model_tokens,
            model_errors,
            models: RwLock::default(),
            model_count: Default::default(),
            other_model: OnceLock::new(),
            http,
            routes: RwLock::default(),
            unmatched: Arc::from(UNMATCHED_ROUTE),
            open_streams,
            store,
            limits,
            busy,
        }
    }

    /// The handles of the served component `kind`/`id`.
    pub(crate) fn component(
        &self,
        kind: ComponentKind,
        id: &str,
    ) -> Option<Arc<ComponentInstruments>> {
        match kind {
            ComponentKind::Team => self.teams.get(id),
            ComponentKind::Agent => self.agents.get(id),
            ComponentKind::Workflow => self.workflows.get(id),
        }
        .cloned()
    }

    /// The handles of a model, by its id and provider.
    pub(crate) fn model(&self, id: &str, provider: &str) -> Arc<ModelInstruments> {
        let found = read(&self.models)
            .get(id)
            .and_then(|by_provider| by_provider.get(provider))
            .cloned();
        if let Some(found) = found {
            return found;
        }
        use std::sync::atomic::Ordering;
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = models.get(id).and_then(|m| m.get(provider)) {
            return Arc::clone(found);
        }
        if self.model_count.load(Ordering::Relaxed) >= MAX_MODELS {
            return Arc::clone(
                self.other_model
                    .get_or_init(|| self.model_instruments("other", "other")),
            );
        }
        self.model_count.fetch_add(1, Ordering::Relaxed);
        let made = self.model_instruments(id, provider);
        models
            .entry(id.to_owned())
            .or_default()
            .insert(provider.to_owned(), Arc::clone(&made));
        made
    }

    fn model_instruments(&self, id: &str, provider: &str) -> Arc<ModelInstruments> {
        let labels = ModelLabels {
            model: Arc::from(id),
            provider: Arc::from(provider),
        };
        let tokens = |direction| TokenLabels {
            model: Arc::clone(&labels.model),
            provider: Arc::clone(&labels.provider),
            direction,
        };
        Arc::new(ModelInstruments {
            calls: self.model_calls.get_or_create_owned(&labels),
            input_tokens: self.model_tokens.get_or_create_owned(&tokens("input")),
            output_tokens: self.model_tokens.get_or_create_owned(&tokens("output")),
            errors_family: self.model_errors.clone(),
            errors: Default::default(),
            labels,
        })
    }

    /// An HTTP request was answered: `route` is the matched route template, `None` when no
    /// route matched.
    pub(crate) fn http_request(&self, route: Option<&str>, method: &http::Method, status: u16) {
        let route = match route {
            None => Arc::clone(&self.unmatched),
            Some(route) => self.route(route),
        };
        let labels = HttpLabels {
            route,
            method: method_label(method),
            status,
        };
        self.http.get_or_create(&labels).inc();
    }

    fn route(&self, route: &str) -> Arc<str> {
        if let Some(found) = read(&self.routes).get(route) {
            return Arc::clone(found);
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if routes.len() >= MAX_ROUTES && !routes.contains_key(route) {
            return Arc::from("other");
        }
        Arc::clone(
            routes
                .entry(route.to_owned())
                .or_insert_with(|| Arc::from(route)),
        )
    }

    /// A stream opens; it counts as open until the returned guard is dropped.
    pub(crate) fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    /// The store's handles.
    pub(crate) fn store(&self) -> &Arc<StoreInstruments> {
        &self.store
    }

    /// A run request was refused for the per-user limit named `limit`.
    pub(crate) fn limit_rejected(&self, limit: &'static str) {
        let label = match limit {
            "runs per minute per user" => "runs_per_minute",
            "concurrent runs per user" => "concurrent_runs",
            "daily tokens per user" => "daily_tokens",
            _ => "other",
        };
        self.limits
            .get_or_create(&LimitLabels { limit: label })
            .inc();
    }

    /// A run request was refused because its session was busy.
    pub(crate) fn session_busy(&self) {
        self.busy.inc();
    }

    /// The exposition, in Prometheus's text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// The content type of [`Metrics::encode`].
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// A method as a label: the standard ones by name, anything else as `other`.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::Usage;
    use crate::status::RunStatus;

    #[test]
    fn a_component_counts_its_runs_by_status() {
        let metrics = Metrics::new(["support"], ["helper"], ["pipeline"]);
        let team = metrics.component(ComponentKind::Team, "support").unwrap();
        let workflow = metrics
            .component(ComponentKind::Workflow, "pipeline")
            .unwrap();
        workflow.started();
        assert!(
            metrics
                .component(ComponentKind::Workflow, "support")
                .is_none()
        );
        team.started();
        team.finished(RunStatus::Completed, Duration::from_millis(20), Some(0.004));
        team.finished(RunStatus::Error, Duration::from_millis(5), None);
        assert!(metrics.component(ComponentKind::Team, "helper").is_none());
        let text = metrics.encode();
        assert!(
            text.contains(r#"agentos_runs_started_total{kind="team",component="support"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"agentos_runs_started_total{kind="workflow",component="pipeline"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"agentos_runs_finished_total{kind="team",component="support",status="COMPLETED"} 1"#
        ));
        assert!(
            text.contains(
                r#"agentos_run_duration_seconds_count{kind="team",component="support"} 2"#
            )
        );
        assert!(text.contains(
            r#"agentos_run_time_to_first_token_seconds_count{kind="team",component="support"} 1"#
        ));
        assert!(!text.contains(r#"status="CANCELLED""#));
    }

    #[test]
    fn models_past_the_bound_share_one_label() {
        let metrics = Metrics::new([], [], []);
        for n in 0..MAX_MODELS + 10 {
            metrics.model(&format!("m{n}"), "Test").answered(Usage {
                input_tokens: 1,
                ..Usage::default()
            });
        }
        let text = metrics.encode();
        let series = text
            .lines()
            .filter(|line| line.starts_with("agentos_model_calls_total{"))
            .count();
        assert_eq!(series, MAX_MODELS + 1, "{text}");
        assert!(text.contains(r#"agentos_model_calls_total{model="other",provider="other"} 10"#));
    }
}
