//! What a factory knows about the request it builds for.

use std::collections::BTreeSet;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::meta::{Identity, RunMeta};

/// Claims and scopes taken from a verified token.
///
/// Only the runtime's auth layer builds a `Trusted` from a request; nothing a client sends in a
/// body can reach it. Unit tests build one with [`Trusted::for_test`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trusted {
    claims: Map<String, Value>,
    scopes: BTreeSet<String>,
}

impl Trusted {
    /// Built by the auth layer from a verified token.
    pub(crate) fn verified(claims: Map<String, Value>, scopes: BTreeSet<String>) -> Self {
        Trusted { claims, scopes }
    }

    /// Claims and scopes for a unit test of a factory (the `testing` feature). The server
    /// never calls this.
    #[cfg(feature = "testing")]
    pub fn for_test<S: Into<String>>(claims: Value, scopes: impl IntoIterator<Item = S>) -> Self {
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Trusted {
            claims,
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// Every verified claim, as decoded from the token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// One claim.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// One claim, when it is a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The verified scopes.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Everything a factory receives: the validated input and who is asking.
///
/// `session_id` and `run_id` are always set: when the client sent none, the runtime generated
/// them before calling the factory, so a factory may key per-run resources on them.
///
/// ```
/// use agentos_runtime::{RequestContext, Trusted};
///
/// let ctx = RequestContext::test(())
///     .with_verified_user("tenant_42")
///     .with_trusted(Trusted::for_test(serde_json::json!({"tier": "free"}), ["teams:run"]));
/// assert_eq!(ctx.user_id(), Some("tenant_42"));
/// assert_eq!(ctx.trusted().claim_str("tier"), Some("free"));
/// ```
#[derive(Clone, Debug)]
pub struct RequestContext<I = ()> {
    /// The validated `factory_input`.
    pub input: I,
    meta: RunMeta,
    trusted: Arc<Trusted>,
    headers: Arc<HeaderMap>,
    message: Arc<str>,
}

impl<I> RequestContext<I> {
    pub(crate) fn from_parts(input: I, parts: RequestParts) -> Self {
        RequestContext {
            input,
            meta: parts.meta,
            trusted: parts.trusted,
            headers: parts.headers,
            message: parts.message,
        }
    }

    /// The user id, verified or asserted; see [`RequestContext::identity`].
    pub fn user_id(&self) -> Option<&str> {
        self.meta.user_id()
    }

    /// The user id with its provenance.
    pub fn identity(&self) -> &Identity {
        self.meta.identity()
    }

    /// The session this run belongs to.
    pub fn session_id(&self) -> &str {
        self.meta.session_id()
    }

    /// The id the run will carry.
    pub fn run_id(&self) -> &str {
        self.meta.run_id()
    }

    /// Verified claims and scopes (empty when authentication is off).
    pub fn trusted(&self) -> &Trusted {
        &self.trusted
    }

    /// The request's headers, read-only.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The message the run will answer.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Constructors for unit tests of factories (the `testing` feature): contexts with the
/// identity and claims a test chooses. A production build has no way to make them.
#[cfg(feature = "testing")]
impl<I> RequestContext<I> {
    /// A context for unit tests: anonymous, no claims, fresh session and run ids, no message.
    pub fn test(input: I) -> Self {
        Self::from_parts(input, RequestParts::new(""))
    }

    /// Test helper: a subject as if verified from a token.
    pub fn with_verified_user(mut self, user_id: impl Into<String>) -> Self {
        self.meta = self.meta.with_identity(Identity::Verified(user_id.into()));
        self
    }

    /// Test helper: a `user_id` as if sent by a client without authentication.
    pub fn with_asserted_user(mut self, user_id: impl Into<String>) -> Self {
        self.meta = self.meta.with_identity(Identity::Asserted(user_id.into()));
        self
    }

    /// Test helper: verified claims and scopes.
    pub fn with_trusted(mut self, trusted: Trusted) -> Self {
        self.trusted = Arc::new(trusted);
        self
    }

    /// Test helper: the session id.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.meta = self.meta.with_session(session_id.into());
        self
    }

    /// Test helper: the run message.
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = Arc::from(message);
        self
    }

    /// Test helper: request headers.
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Arc::new(headers);
        self
    }
}

/// The request-derived part of a context, gathered by the server before the input is known.
#[derive(Clone, Debug)]
pub struct RequestParts {
    pub(crate) meta: RunMeta,
    pub(crate) trusted: Arc<Trusted>,
    pub(crate) headers: Arc<HeaderMap>,
    pub(crate) message: Arc<str>,
}

impl RequestParts {
    /// An anonymous request for `message`, as a new run in a new session.
    pub fn new(message: &str) -> Self {
        Self::for_run(RunMeta::new(None, Identity::Anonymous), message)
    }

    /// A request for `message` as the run `meta`.
    pub fn for_run(meta: RunMeta, message: &str) -> Self {
        RequestParts {
            meta,
            trusted: Arc::default(),
            headers: Arc::default(),
            message: Arc::from(message),
        }
    }

    /// The claims and scopes of a verified token. Only the run service calls this, with what
    /// the auth layer verified.
    pub(crate) fn verified(mut self, trusted: Arc<Trusted>) -> Self {
        self.trusted = trusted;
        self
    }

    /// Test helper: claims and scopes as if verified from a token. The server never calls
    /// this; it builds `Trusted` only from tokens it verified.
    #[cfg(feature = "testing")]
    pub fn with_trusted_for_test(mut self, trusted: Trusted) -> Self {
        self.trusted = Arc::new(trusted);
        self
    }

    /// The request's headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Arc::new(headers);
        self
    }

    /// The run's ids.
    pub fn meta(&self) -> &RunMeta {
        &self.meta
    }

    /// The verified claims and scopes.
    pub fn trusted(&self) -> &Trusted {
        &self.trusted
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
