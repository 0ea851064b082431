//! Traces out of the process (the `otel` feature): the runtime's `tracing` spans (`request`,
//! `resolve`, `run`, `model_call`, with the run id, session id, component and model as
//! fields) exported over OTLP/HTTP with protobuf, to any OpenTelemetry collector.
//!
//! An incoming W3C `traceparent` header makes the request's span a child of the caller's, so
//! a run shows up inside the trace of whatever called it.
//!
//! One call in `main` turns it on:
//!
//! ```no_run
//! # async fn serve(os: agentos_runtime::AgentOs) -> Result<(), Box<dyn std::error::Error>> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 OTEL_SERVICE_NAME=support-api
//! let otel = agentos_runtime::otel::init()?;
//! os.serve("0.0.0.0:7777").await?;
//! drop(otel); // sends the spans still buffered
//! # Ok(())
//! # }
//! ```

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The service name when neither [`Otel::service_name`] nor `OTEL_SERVICE_NAME` gives one.
const DEFAULT_SERVICE_NAME: &str = "agentos";

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// The OTLP exporter could not be built (an invalid endpoint, say).
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Another global `tracing` subscriber is already installed; use [`Otel::layer`] in it.
    #[error("a global tracing subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
    /// Buffered spans could not be sent.
    #[error("cannot send the buffered spans: {0}")]
    Flush(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// Where spans go and what service they are from. Unset, the standard variables decide:
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`; `/v1/traces` is added),
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_SERVICE_NAME` (default `agentos`) and
/// `OTEL_RESOURCE_ATTRIBUTES`.
#[derive(Clone, Debug, Default)]
pub struct Otel {
    endpoint: Option<String>,
    service_name: Option<String>,
}

impl Otel {
    /// The standard variables' configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it
    /// (`http://collector:4318`); spans are posted to its `/v1/traces`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The `service.name` of every span.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The `tracing` layer that exports spans, for an application that assembles its own
    /// subscriber, and the guard that sends what is buffered when dropped.
    pub fn layer<S>(self) -> Result<(OpenTelemetryLayer<S, SdkTracer>, OtelGuard), OtelError>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        crate::tls::install_crypto_provider();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary);
        if let Some(base) = &self.endpoint {
            exporter = exporter.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
        }
        let exporter = exporter.build()?;
        let service_name = self
            .service_name
            .or_else(|| std::env::var("OTEL_SERVICE_NAME").ok())
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service_name).build())
            .build();
        // For the application's own outgoing calls: they can carry the trace on.
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider.clone());
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("agentos"));
        Ok((layer, OtelGuard { provider }))
    }

    /// Installs the global `tracing` subscriber: log lines on stderr and spans exported,
    /// both filtered by `RUST_LOG` (default `info`, which covers every span of the runtime).
    pub fn init(self) -> Result<OtelGuard, OtelError> {
        let (layer, guard) = self.layer()?;
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer())
            .with(layer)
            .try_init()?;
        Ok(guard)
    }
}

/// Installs the global subscriber configured by the standard variables; see [`Otel::init`].
pub fn init() -> Result<OtelGuard, OtelError> {
    Otel::new().init()
}

/// Keeps the exporter; dropping it sends the spans still buffered and stops it. It blocks
/// while it does (up to the exporter's timeout), so drop it at the end of `main`.
#[must_use = "spans are sent in the background only while the guard lives"]
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl OtelGuard {
    /// Sends the spans buffered so far, and waits until they are sent. It blocks: from async
    /// code, call it through `tokio::task::spawn_blocking`.
    pub fn flush(&self) -> Result<(), OtelError> {
        Ok(self.provider.force_flush()?)
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "could not send the last spans");
        }
    }
}

/// Makes `span` (a request's) a child of the caller's span named by its `traceparent`
/// header. Without the header, or without the OpenTelemetry layer, nothing changes.
pub(crate) fn follow_traceparent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only when no OpenTelemetry layer is installed: then there is nothing to follow.
    let _ = span.set_parent(parent);
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
