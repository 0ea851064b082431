//! The errors a factory can return, and how input validation reports them.

use std::fmt;

use serde::Serialize;

/// Boxed error kept as the cause of an internal failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a factory could not build its component.
///
/// Each variant maps to one HTTP status: `Permission` to 403, `Validation` to 400, `Internal` to
/// 500. An internal error's cause is logged on the server and never sent to the client.
///
/// ```
/// use agentos_runtime::FactoryError;
///
/// fn check_tier(tier: &str) -> Result<(), FactoryError> {
///     match tier {
///         "free" | "enterprise" => Ok(()),
///         other => Err(FactoryError::permission(format!("tier '{other}' may not run this team"))),
///     }
/// }
/// assert!(check_tier("guest").is_err());
/// ```
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// The caller may not have this component (403). The message is sent to the client.
    #[error("{0}")]
    Permission(String),
    /// The input was rejected (400), with one entry per offending field.
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Something failed inside the factory (500). The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl FactoryError {
    /// A 403 with `message` as its detail.
    pub fn permission(message: impl Into<String>) -> Self {
        FactoryError::Permission(message.into())
    }

    /// A 400 about one field of the input.
    pub fn invalid_field(path: impl Into<String>, message: impl Into<String>) -> Self {
        FactoryError::Validation(ValidationErrors::from_fields(vec![FieldError {
            loc: vec![PathSegment::Key(path.into())],
            msg: message.into(),
        }]))
    }

    /// A 500 whose cause stays in the server log.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        FactoryError::Internal(cause.into())
    }

    /// The stable machine-readable code clients can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            FactoryError::Permission(_) => "permission_denied",
            FactoryError::Validation(_) => "invalid_factory_input",
            FactoryError::Internal(_) => "internal_error",
        }
    }
}

/// One part of a field path: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// One rejected field: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The path from the root of `factory_input`, such as `["agents", 1, "model"]`.
    pub loc: Vec<PathSegment>,
    /// What is wrong, for a person.
    pub msg: String,
}

impl FieldError {
    /// The path written the way a person reads it: `agents[1].model`.
    pub fn dotted_path(&self) -> String {
        let mut out = String::new();
        for segment in &self.loc {
            match segment {
                PathSegment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                PathSegment::Index(index) => {
                    out.push('[');
                    out.push_str(&index.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

/// A rejected `factory_input`: a summary and the field errors behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationErrors {
    detail: String,
    fields: Vec<FieldError>,
}

impl ValidationErrors {
    /// A failure of the input as a whole (not JSON, not an object).
    pub fn whole(detail: impl Into<String>) -> Self {
        ValidationErrors {
            detail: detail.into(),
            fields: Vec::new(),
        }
    }

    /// Failures of individual fields; the summary names each path.
    pub fn from_fields(fields: Vec<FieldError>) -> Self {
        let listed = fields
            .iter()
            .map(|field| match field.dotted_path() {
                path if path.is_empty() => field.msg.clone(),
                path => format!("{path}: {}", field.msg),
            })
            .collect::<Vec<_>>()
            .join("; ");
        ValidationErrors {
            detail: format!("factory_input validation failed: {listed}"),
            fields,
        }
    }

    /// The summary sent as the response's `detail`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// One entry per rejected field (empty when the input as a whole was rejected).
    pub fn fields(&self) -> &[FieldError] {
        &self.fields
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The text of a panic's payload, for the log only: it never reaches a client.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
