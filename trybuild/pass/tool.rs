use agentos::prelude::*;

#[derive(Debug)]
struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

/// Sync, returns a string.
#[tool]
fn echo(text: String) -> String {
    text
}

/// Async, returns a Result of a serializable value.
#[tool]
pub async fn count(
    /// What to count.
    items: Vec<String>,
    mut offset: Option<usize>,
) -> Result<usize, Oops> {
    offset.get_or_insert(0);
    Ok(items.len() + offset.unwrap_or_default())
}

/// No parameters, no return value.
#[tool]
fn ping() {}

mod renamed {
    extern crate agentos as my_agentos;

    /// With a renamed crate.
    #[my_agentos::tool(crate = my_agentos)]
    pub fn shout(text: String) -> String {
        text.to_uppercase()
    }
}

fn main() {
    let _ = Agent::new("Tools")
        .with_tool(echo)
        .with_tool(count)
        .with_tool(ping)
        .with_tool(renamed::shout);
}
