//! Rules agentos shares between its macros and its runtime.
//!
//! The factory macros reject a bad id at compile time and the runtime rejects one built at run
//! time; both call [`check_id`], so the two can never disagree about what an id is.

#![warn(missing_docs)]

use std::fmt;

/// The longest id a route accepts, in bytes (an id is ASCII, so also in characters).
pub const MAX_ID_LEN: usize = 64;

/// What is wrong with an id, as [`check_id`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    /// The id is the empty string.
    Empty,
    /// The id holds a character the rule does not allow; this is the first one.
    InvalidChar {
        /// The character.
        found: char,
        /// Its byte offset in the id.
        at: usize,
    },
    /// The id is longer than [`MAX_ID_LEN`].
    TooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => f.write_str("an id cannot be empty"),
            IdError::InvalidChar { found, .. } => write!(
                f,
                "an id holds only lowercase ASCII letters, digits, '-' and '_', not {found:?}"
            ),
            IdError::TooLong { len } => write!(
                f,
                "an id has at most {MAX_ID_LEN} characters, this one has {len}"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// Whether `c` may appear in an id.
fn is_id_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

/// Checks `id` against the rule every route id follows: 1 to [`MAX_ID_LEN`] lowercase ASCII
/// letters, digits, `-` and `_`.
///
/// A bad character is reported before the length, since fixing it is what the author has to do
/// anyway, and only once every character is ASCII does the length count characters.
///
/// ```
/// use agentos_core::{IdError, check_id};
///
/// assert_eq!(check_id("research-team"), Ok(()));
/// assert_eq!(check_id("Research"), Err(IdError::InvalidChar { found: 'R', at: 0 }));
/// ```
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some((at, found)) = id.char_indices().find(|&(_, c)| !is_id_char(c)) {
        return Err(IdError::InvalidChar { found, at });
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: id.len() });
    }
    Ok(())
}

/// The id agno derives from a name: lowercase, runs of other characters folded into `-`.
///
/// ```
/// assert_eq!(agentos_core::slugify("Tech Support Agent"), "tech-support-agent");
/// ```
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_up_to_the_limit() {
        for id in [
            "a",
            "research-team",
            "team_2",
            "0",
            "-",
            &"x".repeat(MAX_ID_LEN),
        ] {
            assert_eq!(check_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(check_id(""), Err(IdError::Empty));
        assert_eq!(
            check_id(&"x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong {
                len: MAX_ID_LEN + 1
            })
        );
        assert_eq!(
            check_id("support team"),
            Err(IdError::InvalidChar { found: ' ', at: 7 })
        );
        assert_eq!(
            check_id("café"),
            Err(IdError::InvalidChar { found: 'é', at: 3 })
        );
        assert_eq!(
            check_id("a/b"),
            Err(IdError::InvalidChar { found: '/', at: 1 })
        );
    }

    #[test]
    fn the_first_bad_character_wins_over_the_length() {
        let id = format!("A{}", "x".repeat(MAX_ID_LEN));
        assert_eq!(
            check_id(&id),
            Err(IdError::InvalidChar { found: 'A', at: 0 })
        );
    }

    #[test]
    fn multibyte_characters_are_refused_whatever_the_length() {
        // 40 characters but 80 bytes: the character is the mistake to report.
        let id = "é".repeat(40);
        assert_eq!(
            check_id(&id),
            Err(IdError::InvalidChar { found: 'é', at: 0 })
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(IdError::Empty.to_string(), "an id cannot be empty");
        assert_eq!(
            IdError::TooLong { len: 70 }.to_string(),
            "an id has at most 64 characters, this one has 70"
        );
        assert_eq!(
            IdError::InvalidChar { found: 'R', at: 0 }.to_string(),
            "an id holds only lowercase ASCII letters, digits, '-' and '_', not 'R'"
        );
    }

    #[test]
    fn slugify_folds_runs_of_other_characters() {
        assert_eq!(slugify("Tech Support Agent"), "tech-support-agent");
        assert_eq!(slugify("  Leading and trailing  "), "leading-and-trailing");
        assert_eq!(slugify("a -- b"), "a-b");
        assert_eq!(slugify("snake_case Name"), "snake_case-name");
        assert_eq!(slugify("Café au lait"), "caf-au-lait");
        assert_eq!(slugify("!!!"), "");
    }

    #[test]
    fn a_slug_of_a_short_name_is_a_valid_id() {
        for name in ["Tech Support Agent", "R2-D2", "x y z", "snake_case"] {
            assert_eq!(check_id(&slugify(name)), Ok(()), "{name:?}");
        }
    }
}
