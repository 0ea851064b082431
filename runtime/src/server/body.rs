//! The body of a run request: multipart, urlencoded or JSON, as agno clients send it.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::{Form, Json};
use serde_json::Value;

use super::error::{ApiError, FieldProblem};
use crate::resolve::RawInput;

/// The fields of a run request that agentos uses. Fields agno clients send that agentos does
/// not use are accepted and ignored.
#[derive(Debug)]
pub struct RunBody {
    /// The message to answer.
    pub message: String,
    /// Stream events (SSE) or answer with the run JSON; defaults to streaming.
    pub stream: bool,
    /// Answer 202 at once and run in the background.
    pub background: bool,
    /// The session to continue.
    pub session_id: Option<String>,
    /// The user, as the client asserts it.
    pub user_id: Option<String>,
    /// The factory's input, not yet parsed.
    pub factory_input: RawInput,
}

/// The fields as received, before `message` is required.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    stream: Option<String>,
    background: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    factory_input: Option<RawInput>,
}

impl Fields {
    fn set_text(&mut self, name: &str, value: String) {
        match name {
            "message" => self.message = Some(value),
            "stream" => self.stream = Some(value),
            "background" => self.background = Some(value),
            "session_id" => self.session_id = Some(value),
            "user_id" => self.user_id = Some(value),
            "factory_input" => self.factory_input = Some(RawInput::Text(value)),
            _ => {}
        }
    }

    fn into_body(self) -> Result<RunBody, ApiError> {
        let message = self.message.ok_or(ApiError::MissingMessage)?;
        Ok(RunBody {
            message,
            stream: parse_flag("stream", self.stream, true)?,
            background: parse_flag("background", self.background, false)?,
            session_id: self.session_id.filter(|s| !s.is_empty()),
            user_id: self.user_id.filter(|s| !s.is_empty()),
            factory_input: self.factory_input.unwrap_or(RawInput::Absent),
        })
    }
}

fn parse_flag(name: &str, value: Option<String>, default: bool) -> Result<bool, ApiError> {
    let Some(value) = value else {
        return Ok(default);
    };
    // The spellings pydantic accepts for a boolean form field.
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::InvalidField(FieldProblem {
            loc: vec!["body".to_owned(), name.to_owned()],
            kind: "bool_parsing",
            msg: format!("{name} must be a boolean (true or false)"),
            input: Value::String(value),
        })),
    }
}

impl<S: Send + Sync> FromRequest<S> for RunBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut fields = Fields::default();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|rejection| ApiError::BadBody(rejection.body_text()))?;
            while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                let value = field.text().await.map_err(multipart_error)?;
                fields.set_text(&name, value);
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state)
                .await
                .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
            for (name, value) in pairs {
                fields.set_text(&name, value);
            }
        } else if content_type.starts_with("application/json") {
            let Json(value) = Json::<Value>::from_request(request, state)
                .await
                .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
            let Value::Object(object) = value else {
                return Err(ApiError::BadBody("the JSON body must be an object".into()));
            };
            for (name, value) in object {
                match (name.as_str(), value) {
                    ("factory_input", value) => fields.factory_input = Some(RawInput::Json(value)),
                    (_, Value::Null) => {}
                    (name, Value::String(text)) => fields.set_text(name, text),
                    (name, Value::Bool(flag)) => fields.set_text(name, flag.to_string()),
                    (name, Value::Number(number)) => fields.set_text(name, number.to_string()),
                    _ => {}
                }
            }
        } else {
            return Err(ApiError::UnsupportedMediaType);
        }
        fields.into_body()
    }
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    body_rejection(error.status(), error.body_text())
}

/// A body that could not be read: too large stays 413, anything else is a 400.
fn body_rejection(status: axum::http::StatusCode, text: String) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadBody(text)
    }
}
