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

/// How deeply `factory_input` may nest (objects and lists). Deeper input is refused before it
/// is parsed, since parsing, validating, storing and dropping JSON all recurse on its depth.
pub const MAX_INPUT_DEPTH: usize = 64;

/// Whether JSON text nests deeper than `max` levels, found by counting brackets outside
/// strings, without parsing (and so without recursion). Text that is not JSON is left to the
/// parser to refuse.
pub(crate) fn text_nests_deeper_than(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether a JSON value nests deeper than `max` levels, walked without recursion.
pub(crate) fn value_nests_deeper_than(value: &Value, max: usize) -> bool {
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        if depth + 1 > max {
            return true;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// The JSON Schema of `T`, as discovery and the OpenAPI document show it.
pub fn input_schema<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_is_counted_in_text_and_in_values_alike() {
        for depth in [0, 1, 5, 64, 65] {
            let text = if depth == 0 {
                "1".to_owned()
            } else {
                nested(depth)
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                text_nests_deeper_than(text.as_bytes(), 64),
                depth > 64,
                "{depth}"
            );
            assert_eq!(value_nests_deeper_than(&value, 64), depth > 64, "{depth}");
        }
        let object = r#"{"a":{"b":[{"c":1}]}}"#;
        assert!(text_nests_deeper_than(object.as_bytes(), 3));
        assert!(!text_nests_deeper_than(object.as_bytes(), 4));
        assert!(value_nests_deeper_than(
            &serde_json::from_str(object).unwrap(),
            3
        ));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = r#"{"a": "[[[[[[\"[[[[", "b": ["]]]]"]}"#;
        assert!(!text_nests_deeper_than(text.as_bytes(), 2));
        assert!(text_nests_deeper_than(text.as_bytes(), 1));
    }

    #[test]
    fn a_million_levels_are_counted_without_recursing() {
        let text = nested(1_000_000);
        assert!(text_nests_deeper_than(text.as_bytes(), MAX_INPUT_DEPTH));
    }
}
