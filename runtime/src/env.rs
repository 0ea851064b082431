//! Settings read from the environment, read one way: a missing variable is unset, and one
//! that does not read as its type is unset too, with a warning naming it.

/// The whole number `name` holds.
pub(crate) fn number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let parsed = value.trim().parse::<u64>().ok();
    if parsed.is_none() {
        tracing::warn!(
            variable = name,
            value,
            "not a whole number; the setting stays unset"
        );
    }
    parsed
}
