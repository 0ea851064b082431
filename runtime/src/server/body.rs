//! Request bodies as agno clients send them: multipart, urlencoded or JSON, read once into
//! named fields, then into the body of each route.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::Value;

use super::error::{ApiError, FieldProblem};
use crate::component::MultitaskStrategy;
use crate::input::{MAX_INPUT_DEPTH, text_nests_deeper_than};
use crate::resolve::RawInput;

/// A JSON body that could not be read: FastAPI's 422, as agno answers it; one over the body
/// limit stays a 413.
pub(crate) fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        ApiError::InvalidField(FieldProblem {
            loc: vec!["body".into()],
            kind: "json_invalid",
            msg: rejection.body_text(),
            input: Value::Null,
        })
    })
}

/// A field as received: text from a form, or any JSON value from a JSON body.
#[derive(Debug)]
enum Field {
    Text(String),
    Json(Value),
}

/// The fields of a form or of a JSON object body.
#[derive(Debug, Default)]
pub(crate) struct FormFields(HashMap<String, Field>);

impl FormFields {
    /// A text field; a JSON value other than a string is given as its JSON text.
    fn text(&mut self, name: &str) -> Option<String> {
        match self.0.remove(name)? {
            Field::Text(text) => Some(text),
            Field::Json(Value::Null) => None,
            Field::Json(Value::String(text)) => Some(text),
            Field::Json(other) => Some(other.to_string()),
        }
    }

    /// A non-empty text field.
    fn non_empty(&mut self, name: &str) -> Option<String> {
        self.text(name).filter(|text| !text.is_empty())
    }

    /// A flag in the spellings pydantic accepts (true/false, 1/0, yes/no, on/off, t/f, y/n),
    /// `default` when absent or empty; anything else is FastAPI's 422 for that field.
    fn flag(&mut self, name: &str, default: bool) -> Result<bool, ApiError> {
        let Some(value) = self.text(name) else {
            return Ok(default);
        };
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

    /// `factory_input`: JSON text from a form, a JSON value from a JSON body.
    fn raw_input(&mut self, name: &str) -> RawInput {
        match self.0.remove(name) {
            None => RawInput::Absent,
            Some(Field::Text(text)) => RawInput::Text(text),
            Some(Field::Json(value)) => RawInput::Json(value),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut fields = HashMap::new();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|rejection| ApiError::BadBody(rejection.body_text()))?;
            while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                let value = field.text().await.map_err(multipart_error)?;
                fields.insert(name, Field::Text(value));
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state)
                .await
                .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
            fields.extend(
                pairs
                    .into_iter()
                    .map(|(name, value)| (name, Field::Text(value))),
            );
        } else if content_type.starts_with("application/json") {
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
            // Refused before parsing, which recurses on depth; one level is the body's own.
            if text_nests_deeper_than(&bytes, MAX_INPUT_DEPTH + 1) {
                return Err(ApiError::BadBody(format!(
                    "the JSON body must not nest deeper than {} levels",
                    MAX_INPUT_DEPTH + 1
                )));
            }
            let Json(value) = Json::<Value>::from_bytes(&bytes)
                .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
            let Value::Object(object) = value else {
                return Err(ApiError::BadBody("the JSON body must be an object".into()));
            };
            fields.extend(
                object
                    .into_iter()
                    .map(|(name, value)| (name, Field::Json(value))),
            );
        } else {
            return Err(ApiError::UnsupportedMediaType);
        }
        Ok(FormFields(fields))
    }
}

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
    /// What to do when the session is busy (`allow`, `reject`, `enqueue`, `interrupt`).
    pub multitask_strategy: Option<MultitaskStrategy>,
    /// Cancel the run when the streaming client goes away (off by default).
    pub cancel_on_disconnect: bool,
}

impl<S: Send + Sync> FromRequest<S> for RunBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut fields = FormFields::from_request(request, state).await?;
        let message = fields.text("message").ok_or(ApiError::MissingMessage)?;
        let multitask_strategy = fields
            .non_empty("multitask_strategy")
            .map(|value| value.parse::<MultitaskStrategy>())
            .transpose()
            .map_err(ApiError::BadBody)?;
        Ok(RunBody {
            message,
            stream: fields.flag("stream", true)?,
            background: fields.flag("background", false)?,
            session_id: fields.non_empty("session_id"),
            user_id: fields.non_empty("user_id"),
            factory_input: fields.raw_input("factory_input"),
            multitask_strategy,
            cancel_on_disconnect: fields.flag("cancel_on_disconnect", false)?,
        })
    }
}

/// agno's `POST .../continue` form: the person's answers (`tools` on the agent route,
/// `requirements` on the team route, `step_requirements` on the workflow route; any is read
/// on all), and how to answer.
#[derive(Debug)]
pub(crate) struct ContinueBody {
    /// The JSON array of tool executions or requirements, as sent.
    pub(crate) answers: String,
    pub(crate) session_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) stream: bool,
    pub(crate) background: bool,
}

impl<S: Send + Sync> FromRequest<S> for ContinueBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut fields = FormFields::from_request(request, state).await?;
        let answers = fields
            .text("tools")
            .or_else(|| fields.text("requirements"))
            .or_else(|| fields.text("step_requirements"))
            .unwrap_or_default();
        Ok(ContinueBody {
            answers,
            session_id: fields.non_empty("session_id"),
            user_id: fields.non_empty("user_id"),
            stream: fields.flag("stream", true)?,
            background: fields.flag("background", false)?,
        })
    }
}

/// agno's `POST .../resume` form: the last event the client has, and its session.
#[derive(Debug, Default)]
pub(crate) struct ResumeBody {
    /// The `event_index` of the last event received; everything when absent.
    pub(crate) last_event_index: Option<u64>,
    /// The run's session, as agno's client sends it.
    pub(crate) session_id: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for ResumeBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A resume may come without a body at all.
        if request.headers().get(CONTENT_TYPE).is_none() {
            return Ok(ResumeBody::default());
        }
        let mut fields = FormFields::from_request(request, state).await?;
        let last_event_index = match fields.non_empty("last_event_index") {
            None => None,
            Some(text) => parse_event_index(&text)?,
        };
        Ok(ResumeBody {
            last_event_index,
            session_id: fields.non_empty("session_id"),
        })
    }
}

/// An event index from a form field or a `Last-Event-ID` header: a number, `-1` meaning none
/// yet.
pub(crate) fn parse_event_index(text: &str) -> Result<Option<u64>, ApiError> {
    match text.trim().parse::<i64>() {
        Ok(index) if index < 0 => Ok(None),
        Ok(index) => Ok(Some(index as u64)),
        Err(_) => Err(ApiError::BadBody(format!(
            "the last event index must be a number, got '{text}'"
        ))),
    }
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    body_rejection(error.status(), error.body_text())
}

/// Middleware: a request whose declared `Content-Length` is over the body limit is refused
/// with a 413 at once, before any of its body is read (a body without a declared length is
/// cut at the limit as it is read).
pub(crate) async fn refuse_declared_oversize(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(request).await
}

/// A body that could not be read: too large stays 413, anything else is a 400.
fn body_rejection(status: axum::http::StatusCode, text: String) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadBody(text)
    }
}
