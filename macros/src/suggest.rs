//! "Did you mean": the name a misspelt one most likely meant, and names listed as messages
//! show them.

/// `names` as a message lists them: `` `a`, `b`, `c` ``.
pub fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name in `names` that `written` is most likely a misspelling of, if any is close enough
/// to be worth suggesting.
pub fn closest<'a>(written: &str, names: &[&'a str]) -> Option<&'a str> {
    let written = written.to_lowercase();
    names
        .iter()
        .copied()
        .filter_map(|name| {
            let distance = edit_distance(&written, name);
            // A long run shared with a key (`confirm`, or agno's `user_input_fields`) is as
            // telling as a typo.
            let shared = longest_common_run(&written, name);
            let close =
                distance <= name.len().max(3) / 3 || (shared >= 5 && 2 * shared >= written.len());
            close.then_some((distance, name))
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// The length of the longest run of characters `a` and `b` have in common.
fn longest_common_run(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut longest = 0;
    // ending[j]: the length of the common run ending at the current character of `a` and at
    // b[j - 1].
    let mut ending = vec![0; b.len() + 1];
    for &x in &a {
        for j in (1..=b.len()).rev() {
            ending[j] = if x == b[j - 1] { ending[j - 1] + 1 } else { 0 };
            longest = longest.max(ending[j]);
        }
    }
    longest
}

/// Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: the distance between the first i characters of `a` and the first j of `b`.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitute = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + substitute);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_and_parts_only() {
        let names = [
            "requires_confirmation",
            "requires_user_input",
            "external_execution",
        ];
        assert_eq!(
            closest("requires_confirmaton", &names),
            Some("requires_confirmation")
        );
        assert_eq!(
            closest("confirmation", &names),
            Some("requires_confirmation")
        );
        assert_eq!(closest("confirm", &names), Some("requires_confirmation"));
        assert_eq!(
            closest("user_input_fields", &names),
            Some("requires_user_input")
        );
        assert_eq!(
            closest("External_Execution", &names),
            Some("external_execution")
        );
        assert_eq!(closest("colour", &names), None);
        assert_eq!(closest("id", &["id", "input"]), Some("id"));
        assert_eq!(
            closest("title", &["id", "input", "name", "description"]),
            None
        );
    }

    #[test]
    fn common_runs_are_contiguous() {
        assert_eq!(
            longest_common_run("user_input_fields", "requires_user_input"),
            10
        );
        assert_eq!(longest_common_run("abc", "xyz"), 0);
        assert_eq!(longest_common_run("axbxc", "abc"), 1);
        assert_eq!(longest_common_run("", "abc"), 0);
    }

    #[test]
    fn edit_distance_counts_a_swap_as_one() {
        assert_eq!(edit_distance("name", "name"), 0);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
