//! What a run request may carry into the store, checked before anything is written: ids that
//! fit their indexes, and text that every backend can hold.

use super::RunError;

/// The longest session or user id, in bytes. PostgreSQL's indexes refuse keys of a few
/// kilobytes, which would fail the whole batch of writes a bad id shares.
pub const MAX_ID_BYTES: usize = 256;

/// Refuses an id that is too long or holds a control character.
pub(crate) fn check_id(field: &str, value: &str) -> Result<(), RunError> {
    if value.len() > MAX_ID_BYTES {
        return Err(RunError::Invalid(format!(
            "{field} is longer than {MAX_ID_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(RunError::Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Refuses text with a NUL character, which PostgreSQL cannot store.
pub(crate) fn check_text(field: &str, value: &str) -> Result<(), RunError> {
    if value.contains('\0') {
        return Err(RunError::Invalid(format!(
            "{field} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// Refuses a JSON value with a NUL character in any string or key.
pub(crate) fn check_json(field: &str, value: &serde_json::Value) -> Result<(), RunError> {
    use serde_json::Value;
    match value {
        Value::String(text) => check_text(field, text),
        Value::Array(items) => items.iter().try_for_each(|item| check_json(field, item)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            check_text(field, key)?;
            check_json(field, item)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_fit_and_hold_no_control_characters() {
        assert!(check_id("session_id", "a-uuid-like-id").is_ok());
        assert!(check_id("session_id", &"x".repeat(MAX_ID_BYTES)).is_ok());
        assert!(check_id("session_id", &"x".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(check_id("user_id", "ada\0").is_err());
        assert!(check_id("user_id", "ada\nlovelace").is_err());
    }

    #[test]
    fn nul_is_refused_in_text_and_json() {
        assert!(check_text("message", "hello").is_ok());
        assert!(check_text("message", "he\0llo").is_err());
        let nested = serde_json::json!({"a": [{"b": "x\u{0}y"}]});
        assert!(check_json("factory_input", &nested).is_err());
        let key = serde_json::json!({"k\u{0}": 1});
        assert!(check_json("factory_input", &key).is_err());
        assert!(check_json("factory_input", &serde_json::json!({"a": [1, "b"]})).is_ok());
    }
}
