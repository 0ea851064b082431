//! Typed factory inputs: deserialized with field paths, validated with garde, described with
//! JSON Schema.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{FactoryError, FieldError, PathSegment, ValidationErrors};

/// Deserializes `input` into `T` and validates it, reporting every failure with its field path.
///
/// A type error stops deserialization at the first bad field (serde cannot go on past it);
/// validation reports every rule that failed, nested structs included (`#[garde(dive)]`).
pub fn parse_input<T>(input: Map<String, Value>) -> Result<T, FactoryError>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let value: T = serde_path_to_error::deserialize(Value::Object(input)).map_err(|error| {
        let loc = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(PathSegment::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(PathSegment::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let msg = error.into_inner().to_string();
        FactoryError::Validation(ValidationErrors::from_fields(vec![FieldError { loc, msg }]))
    })?;
    value.validate().map_err(|report| {
        let fields = report
            .iter()
            .map(|(path, error)| FieldError {
                loc: garde_path(path),
                msg: error.message().to_owned(),
            })
            .collect();
        FactoryError::Validation(ValidationErrors::from_fields(fields))
    })?;
    Ok(value)
}

/// garde serializes a path as `[[kind, component], ...]`, root first.
fn garde_path(path: &garde::error::Path) -> Vec<PathSegment> {
    let Ok(Value::Array(components)) = serde_json::to_value(path) else {
        return Vec::new();
    };
    components
        .iter()
        .filter_map(|component| {
            let kind = component.get(0)?.as_str()?;
            let text = component.get(1)?.as_str()?;
            match kind {
                "index" => text.parse().ok().map(PathSegment::Index),
                "key" => Some(PathSegment::Key(text.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// The JSON Schema of `T`, as discovery and the OpenAPI document show it.
pub fn input_schema<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}
