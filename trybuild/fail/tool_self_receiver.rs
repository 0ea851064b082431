use agentos::prelude::*;

struct Tools;

impl Tools {
    /// Echoes.
    #[tool]
    fn echo(&self, text: String) -> String {
        text
    }
}

fn main() {}
