//! Trust: verifying the caller's JWT and checking the scopes each route declares.
//!
//! A verified token's subject becomes the run's user (overriding any `user_id` in the body),
//! its `session_id` claim the run's session, and its claims and scopes the context's
//! [`crate::Trusted`]. Nothing in a request body can add to them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

use crate::component::ComponentKind;
use crate::context::Trusted;
use crate::runs::Caller;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 10;

/// Why a JWT configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The key is not a valid key for the algorithm.
    #[error("invalid verification key: {0}")]
    InvalidKey(String),
    /// The JWKS file could not be read or parsed.
    #[error("cannot read the JWKS file {path}: {message}")]
    Jwks {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// `JWT_VERIFICATION_KEY` is not set.
    #[error("JWT_VERIFICATION_KEY is not set")]
    MissingKey,
}

/// Where a token is looked for, in the configured order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Header,
    /// A cookie with this name.
    Cookie(String),
}

/// The verification keys: one key, or a JWKS chosen by the token's `kid`.
#[derive(Clone)]
enum Keys {
    Single(DecodingKey),
    ByKid(HashMap<String, DecodingKey>),
}

/// JWT verification settings. Build one with [`JwtAuth::hs256`], [`JwtAuth::rs256_pem`],
/// [`JwtAuth::es256_pem`], [`JwtAuth::jwks_file`] or [`JwtAuth::from_env`], then pass it to
/// `AgentOs::builder().auth(...)`.
///
/// ```
/// use agentos_runtime::server::{JwtAuth, TokenSource};
///
/// let auth = JwtAuth::hs256(b"a-secret-of-at-least-thirty-two-bytes!!")
///     .audience("agentos")
///     .token_from([TokenSource::Header, TokenSource::Cookie("access_token".into())])
///     .check_route_scopes(true);
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct JwtAuth {
    algorithm: Algorithm,
    keys: Keys,
    audience: Option<Vec<String>>,
    issuer: Option<Vec<String>>,
    sources: Vec<TokenSource>,
    user_id_claim: String,
    session_id_claim: String,
    scopes_claim: String,
    admin_scope: String,
    check_route_scopes: bool,
    /// The claim naming the caller's namespace (tenant); `None` for the issuer and audience.
    namespace_claim: Option<String>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("JwtAuth")
            .field("algorithm", &self.algorithm)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl JwtAuth {
    fn with_keys(algorithm: Algorithm, keys: Keys) -> Self {
        JwtAuth {
            algorithm,
            keys,
            audience: None,
            issuer: None,
            sources: vec![TokenSource::Header],
            user_id_claim: "sub".to_owned(),
            session_id_claim: "session_id".to_owned(),
            scopes_claim: "scopes".to_owned(),
            admin_scope: "agent_os:admin".to_owned(),
            check_route_scopes: false,
            namespace_claim: None,
        }
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::with_keys(
            Algorithm::HS256,
            Keys::Single(DecodingKey::from_secret(secret)),
        )
    }

    /// RS256 with a PEM public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, AuthConfigError> {
        let key = DecodingKey::from_rsa_pem(pem)
            .map_err(|e| AuthConfigError::InvalidKey(e.to_string()))?;
        Ok(Self::with_keys(Algorithm::RS256, Keys::Single(key)))
    }

    /// ES256 with a PEM public key.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, AuthConfigError> {
        let key = DecodingKey::from_ec_pem(pem)
            .map_err(|e| AuthConfigError::InvalidKey(e.to_string()))?;
        Ok(Self::with_keys(Algorithm::ES256, Keys::Single(key)))
    }

    /// Keys from a JWKS file, chosen by each token's `kid`; `algorithm` is the only one
    /// accepted.
    pub fn jwks_file(
        path: impl AsRef<Path>,
        algorithm: Algorithm,
    ) -> Result<Self, AuthConfigError> {
        let path = path.as_ref();
        let jwks_error = |message: String| AuthConfigError::Jwks {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| jwks_error(e.to_string()))?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| jwks_error(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| jwks_error(e.to_string()))?;
            keys.insert(kid, key);
        }
        Ok(Self::with_keys(algorithm, Keys::ByKid(keys)))
    }

    /// The key from `JWT_VERIFICATION_KEY`: a PEM key is RS256 or ES256 (`JWT_ALGORITHM`
    /// chooses; RS256 by default), anything else an HS256 secret.
    pub fn from_env() -> Result<Self, AuthConfigError> {
        let key = std::env::var("JWT_VERIFICATION_KEY").map_err(|_| AuthConfigError::MissingKey)?;
        if key.contains("-----BEGIN") {
            match std::env::var("JWT_ALGORITHM").as_deref() {
                Ok("ES256") => Self::es256_pem(key.as_bytes()),
                _ => Self::rs256_pem(key.as_bytes()),
            }
        } else {
            Ok(Self::hs256(key.as_bytes()))
        }
    }

    /// Accepts only tokens for this audience (may be called more than once).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// Accepts only tokens from this issuer (may be called more than once).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer.get_or_insert_with(Vec::new).push(issuer.into());
        self
    }

    /// Where to look for the token, in order (default: the `Authorization` header only).
    pub fn token_from(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The claim holding the user id (default `sub`).
    pub fn user_id_claim(mut self, claim: impl Into<String>) -> Self {
        self.user_id_claim = claim.into();
        self
    }

    /// The claim holding the session id (default `session_id`).
    pub fn session_id_claim(mut self, claim: impl Into<String>) -> Self {
        self.session_id_claim = claim.into();
        self
    }

    /// The claim holding the scopes, a list or a space-separated string (default `scopes`).
    pub fn scopes_claim(mut self, claim: impl Into<String>) -> Self {
        self.scopes_claim = claim.into();
        self
    }

    /// The claim naming the caller's namespace, the tenant whose data (memories) the caller
    /// reaches (for example `tenant`). By default the namespace is the token's issuer and
    /// audience, `iss|aud`, so users of two issuers never share data whatever their ids.
    pub fn namespace_claim(mut self, claim: impl Into<String>) -> Self {
        self.namespace_claim = Some(claim.into());
        self
    }

    /// The scope that grants every permission (default `agent_os:admin`).
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.admin_scope = scope.into();
        self
    }

    /// Whether each route checks its scope (`teams:run`, `teams:<id>:read`, ...). Off by
    /// default: a valid token is then enough, and factories decide from its claims.
    pub fn check_route_scopes(mut self, check: bool) -> Self {
        self.check_route_scopes = check;
        self
    }

    /// The scope that grants every permission.
    pub(crate) fn admin_scope_name(&self) -> &str {
        &self.admin_scope
    }

    /// Whether routes check their scopes.
    pub fn checks_route_scopes(&self) -> bool {
        self.check_route_scopes
    }

    /// Verifies the request's token.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let token = self.find_token(headers)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token"))?;
        if header.alg != self.algorithm {
            return Err(AuthError::Invalid("algorithm not allowed"));
        }
        // RFC 7515 4.1.11: a token naming header extensions the receiver must understand is
        // refused unless it understands them all, and this server understands none.
        if header.crit.is_some() {
            return Err(AuthError::Invalid("unsupported critical header"));
        }
        let key = match &self.keys {
            Keys::Single(key) => key,
            Keys::ByKid(keys) => header
                .kid
                .as_deref()
                .and_then(|kid| keys.get(kid))
                .ok_or(AuthError::Invalid("unknown key id"))?,
        };
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        match &self.audience {
            Some(audience) => validation.set_audience(audience),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(issuer);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(
            |error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::Invalid("token not yet valid"),
                ErrorKind::InvalidSignature => AuthError::Invalid("Signature verification failed"),
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience"),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer"),
                ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not allowed"),
                ErrorKind::MissingRequiredClaim(_) => AuthError::Invalid("missing exp claim"),
                _ => AuthError::Invalid("malformed token"),
            },
        )?;
        let claims = data.claims;
        let user_id = claims.get(&self.user_id_claim).and_then(claim_text);
        let session_id = claims.get(&self.session_id_claim).and_then(claim_text);
        // A verified id the store could not index or hold is no identity to act on: the
        // token is refused rather than the request it came with.
        let unusable = |id: &Option<String>| {
            id.as_deref()
                .is_some_and(|id| crate::runs::limits::check_id("id", id).is_err())
        };
        if unusable(&user_id) {
            return Err(AuthError::Invalid("the token's user id is not a usable id"));
        }
        if unusable(&session_id) {
            return Err(AuthError::Invalid(
                "the token's session id is not a usable id",
            ));
        }
        let scopes = claims
            .get(&self.scopes_claim)
            .map(scope_set)
            .unwrap_or_default();
        let admin = scopes.contains(&self.admin_scope);
        let namespace = self.namespace_of(&claims);
        Ok(Caller::verified(
            user_id,
            session_id,
            namespace,
            Trusted::verified(claims, scopes),
            admin,
        ))
    }

    /// The namespace verified claims put the caller in: the configured claim (empty when the
    /// token lacks it), else `iss|aud`.
    fn namespace_of(&self, claims: &Map<String, Value>) -> String {
        match &self.namespace_claim {
            Some(claim) => claims.get(claim).and_then(claim_text).unwrap_or_default(),
            None => {
                let issuer = claims.get("iss").and_then(claim_text).unwrap_or_default();
                let audience = match claims.get("aud") {
                    Some(Value::Array(items)) => {
                        let mut names: Vec<String> = items.iter().filter_map(claim_text).collect();
                        names.sort();
                        names.join(",")
                    }
                    Some(value) => claim_text(value).unwrap_or_default(),
                    None => String::new(),
                };
                format!("{issuer}|{audience}")
            }
        }
    }

    fn find_token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, AuthError> {
        for source in &self.sources {
            match source {
                TokenSource::Header => {
                    if let Some(value) = headers.get(header::AUTHORIZATION) {
                        let value = value
                            .to_str()
                            .map_err(|_| AuthError::Invalid("malformed Authorization header"))?;
                        let (scheme, token) = value
                            .trim()
                            .split_once(' ')
                            .ok_or(AuthError::Invalid("malformed Authorization header"))?;
                        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                            return Err(AuthError::Invalid("malformed Authorization header"));
                        }
                        return Ok(token.trim());
                    }
                }
                TokenSource::Cookie(name) => {
                    let found = headers
                        .get_all(header::COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(';'))
                        .filter_map(|pair| pair.trim().split_once('='))
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value);
                    if let Some(token) = found {
                        return Ok(token);
                    }
                }
            }
        }
        Err(AuthError::Missing)
    }
}

fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Scopes as a list of strings or one space-separated string.
fn scope_set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Why a request was not authenticated or authorized.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token where one was looked for.
    #[error("Authorization header missing")]
    Missing,
    /// The token has expired.
    #[error("Token has expired")]
    Expired,
    /// The token is malformed, wrongly signed, or for someone else.
    #[error("Invalid token: {0}")]
    Invalid(&'static str),
    /// The caller lacks the scope a route requires.
    #[error("Missing required scope '{0}'")]
    MissingScope(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            AuthError::MissingScope(_) => (StatusCode::FORBIDDEN, "missing_scope"),
            _ => (StatusCode::UNAUTHORIZED, "unauthorized"),
        };
        let mut response = (
            status,
            Json(json!({"detail": self.to_string(), "error_code": code})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What a route requires: an action on a kind of resource, for the `{id}` in its path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteScope {
    pub(crate) resource: &'static str,
    pub(crate) action: &'static str,
}

impl RouteScope {
    pub(crate) const fn of(kind: ComponentKind, action: &'static str) -> Self {
        RouteScope {
            resource: kind.plural(),
            action,
        }
    }

    pub(crate) const fn new(resource: &'static str, action: &'static str) -> Self {
        RouteScope { resource, action }
    }
}

/// Middleware: verifies the token (when auth is on), checks the route's scope, and hands the
/// [`Caller`] to the handler.
pub(crate) async fn authorize(
    State((auth, scope)): State<(Arc<JwtAuth>, RouteScope)>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let caller = auth.verify(request.headers())?;
    if auth.check_route_scopes {
        let id = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value);
        let allowed = match id {
            Some(id) => caller.may(scope.resource, scope.action, Some(id)),
            None => caller.may_any(scope.resource, scope.action),
        };
        if !allowed {
            let needed = format!("{}:{}", scope.resource, scope.action);
            return Err(AuthError::MissingScope(needed));
        }
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Middleware of the admin routes: a verified token with the admin scope, whether or not the
/// other routes check theirs.
pub(crate) async fn authorize_admin(
    State(auth): State<Arc<JwtAuth>>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let caller = auth.verify(request.headers())?;
    if !caller.is_admin() {
        return Err(AuthError::MissingScope(auth.admin_scope.clone()));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-namespace-test-secret-of-32-bytes-or-more";

    fn caller(auth: &JwtAuth, claims: Value) -> Caller {
        let mut claims = claims;
        claims["exp"] = Value::from(4_000_000_000u64);
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        auth.verify(&headers).expect("a valid token")
    }

    #[test]
    fn the_namespace_is_the_issuer_and_audience_unless_a_claim_names_it() {
        let auth = JwtAuth::hs256(SECRET);
        let one = caller(
            &auth,
            json!({"sub": "alice", "iss": "idp-a", "aud": "agentos"}),
        );
        let other = caller(
            &auth,
            json!({"sub": "alice", "iss": "idp-b", "aud": "agentos"}),
        );
        assert_eq!(one.namespace(), "idp-a|agentos");
        assert_ne!(
            one.memory_owner(),
            other.memory_owner(),
            "same id, two tenants"
        );
        let listed = caller(&auth, json!({"sub": "alice", "aud": ["b", "a"]}));
        assert_eq!(listed.namespace(), "|a,b");

        let by_claim = JwtAuth::hs256(SECRET).namespace_claim("tenant");
        let acme = caller(&by_claim, json!({"sub": "alice", "tenant": "acme"}));
        assert_eq!(acme.namespace(), "acme");
        let owner = acme.memory_owner().unwrap();
        assert_eq!(
            (owner.namespace.as_str(), owner.user_id.as_str()),
            ("acme", "alice")
        );
        let none = caller(&by_claim, json!({"sub": "alice"}));
        assert_eq!(
            none.namespace(),
            "",
            "a token without the claim has the empty namespace"
        );

        assert_eq!(Caller::open(Some("bob".into())).namespace(), "");
        assert_eq!(Caller::open(None).memory_owner(), None);
    }
}
