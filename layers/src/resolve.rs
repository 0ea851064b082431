//! What a path inside the crate names: the module that defines the item, followed through
//! every `use` and re-export, as far as the crate's own modules go.

use crate::tree::{ModId, Tree};

/// Re-exports of re-exports stop here; a crate that needs more has a circle of `use`s.
const MAX_HOPS: usize = 32;

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A module, as in `use crate::store;`.
    Module(ModId),
    /// An item (or something inside one: a variant, an associated function) defined in this
    /// module.
    Item(ModId),
}

impl Target {
    pub fn module(self) -> ModId {
        match self {
            Target::Module(id) | Target::Item(id) => id,
        }
    }
}

/// Resolves `path` as written in module `from`; `None` when it leaves the crate (another
/// crate, the prelude, a local name).
pub fn resolve(tree: &Tree, from: ModId, path: &[String]) -> Option<Target> {
    resolve_hops(tree, from, path, 0)
}

fn resolve_hops(tree: &Tree, from: ModId, path: &[String], hops: usize) -> Option<Target> {
    if hops > MAX_HOPS {
        return None;
    }
    let (first, rest) = path.split_first()?;
    let mut at = match first.as_str() {
        "crate" => Target::Module(0),
        "self" => Target::Module(from),
        "super" => Target::Module(tree.modules[from].parent?),
        name => lookup(tree, from, name, hops + 1)?,
    };
    for segment in rest {
        at = match at {
            Target::Module(id) if segment == "super" => Target::Module(tree.modules[id].parent?),
            Target::Module(id) => lookup(tree, id, segment, hops + 1)?,
            // `Type::method`, `Enum::Variant`: still the item's module.
            Target::Item(_) => break,
        };
    }
    Some(at)
}

/// The name `name` in module `id`'s scope: a child module, an item defined there, or
/// something imported there by name or by glob.
fn lookup(tree: &Tree, id: ModId, name: &str, hops: usize) -> Option<Target> {
    if hops > MAX_HOPS {
        return None;
    }
    let module = &tree.modules[id];
    if let Some((_, child)) = module.children.iter().find(|(n, _)| n == name) {
        return Some(Target::Module(*child));
    }
    if module.defines.iter().any(|d| d == name) {
        return Some(Target::Item(id));
    }
    for import in &module.imports {
        if import.name.as_deref() == Some(name) {
            // An import of an outside crate's name shadows nothing of ours.
            return resolve_hops(tree, id, &import.path, hops + 1);
        }
    }
    module
        .imports
        .iter()
        .filter(|import| import.glob)
        .find_map(
            |import| match resolve_hops(tree, id, &import.path, hops + 1)? {
                Target::Module(glob) if glob != id => lookup(tree, glob, name, hops + 1),
                _ => None,
            },
        )
}
