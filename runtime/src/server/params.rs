//! Numeric query parameters, read as FastAPI reads an `int` with bounds: anything that is not
//! an integer, or is out of its range, is a 422 naming the parameter, never a panic further in.

use serde_json::Value;

use super::error::{ApiError, FieldProblem};
use crate::store::SessionQuery;

/// `page` of agno's paginated listings: 0 and up (0 reads as 1); past the last page the list
/// is empty, and past this bound the answer is a 422.
pub(crate) const PAGE: IntParam = IntParam {
    name: "page",
    min: 0,
    max: SessionQuery::MAX_PAGE,
    clamp_above: false,
};

/// `limit` of agno's paginated listings: at least 1, as in agno; a larger page than 200 is
/// served as 200.
pub(crate) const LIMIT: IntParam = IntParam {
    name: "limit",
    min: 1,
    max: SessionQuery::MAX_LIMIT,
    clamp_above: true,
};

/// The bounds of one integer parameter.
pub(crate) struct IntParam {
    /// The parameter's name, as in the query string.
    pub(crate) name: &'static str,
    /// The least value accepted.
    pub(crate) min: u64,
    /// The greatest value served.
    pub(crate) max: u64,
    /// Whether a value above `max` is served as `max` (a page size) rather than refused.
    pub(crate) clamp_above: bool,
}

impl IntParam {
    /// The parameter's value: `None` when absent or empty, else a whole number within the
    /// bounds (or clamped to them, where that is its documented behaviour).
    pub(crate) fn read(&self, text: Option<&str>) -> Result<Option<u64>, ApiError> {
        let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.problem(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer".into(),
                text,
            ));
        }
        if text.starts_with('-') && digits.bytes().any(|b| b != b'0') {
            return Err(self.too_small(text));
        }
        // Too many digits for u64 is simply above any bound.
        let value = digits.parse::<u64>().unwrap_or(u64::MAX);
        if value < self.min {
            return Err(self.too_small(text));
        }
        if value > self.max {
            if self.clamp_above {
                return Ok(Some(self.max));
            }
            return Err(self.problem(
                "less_than_equal",
                format!("Input should be less than or equal to {}", self.max),
                text,
            ));
        }
        Ok(Some(value))
    }

    fn too_small(&self, text: &str) -> ApiError {
        self.problem(
            "greater_than_equal",
            format!("Input should be greater than or equal to {}", self.min),
            text,
        )
    }

    fn problem(&self, kind: &'static str, msg: String, text: &str) -> ApiError {
        ApiError::InvalidField(FieldProblem {
            loc: vec!["query".to_owned(), self.name.to_owned()],
            kind,
            msg,
            input: Value::String(text.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: IntParam = IntParam {
        name: "page",
        min: 0,
        max: 1_000,
        clamp_above: false,
    };
    const LIMIT: IntParam = IntParam {
        name: "limit",
        min: 1,
        max: 200,
        clamp_above: true,
    };

    fn kind(result: Result<Option<u64>, ApiError>) -> &'static str {
        match result {
            Err(ApiError::InvalidField(problem)) => problem.kind,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn values_in_range_are_read_and_absent_ones_are_none() {
        assert_eq!(PAGE.read(None).unwrap(), None);
        assert_eq!(PAGE.read(Some(" ")).unwrap(), None);
        assert_eq!(PAGE.read(Some("0")).unwrap(), Some(0));
        assert_eq!(PAGE.read(Some("+7")).unwrap(), Some(7));
        assert_eq!(PAGE.read(Some("-0")).unwrap(), Some(0));
        assert_eq!(LIMIT.read(Some("200")).unwrap(), Some(200));
    }

    #[test]
    fn out_of_range_values_are_refused_or_clamped() {
        assert_eq!(
            kind(PAGE.read(Some("9223372036854775807"))),
            "less_than_equal"
        );
        assert_eq!(
            kind(PAGE.read(Some("99999999999999999999999"))),
            "less_than_equal"
        );
        assert_eq!(kind(PAGE.read(Some("-1"))), "greater_than_equal");
        assert_eq!(kind(LIMIT.read(Some("0"))), "greater_than_equal");
        assert_eq!(LIMIT.read(Some("9223372036854775807")).unwrap(), Some(200));
    }

    #[test]
    fn what_is_not_an_integer_is_refused() {
        for text in ["abc", "1.5", "1e3", "-", "0x10", "١"] {
            assert_eq!(kind(PAGE.read(Some(text))), "int_parsing", "{text}");
        }
    }
}
