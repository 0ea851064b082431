//! Which files each file imports from: every `use` of an item and every path in the code that
//! names one, resolved to the file that defines it.

use std::path::PathBuf;

use syn::spanned::Spanned;
use syn::visit::Visit;

use crate::resolve::{Target, resolve};
use crate::tree::{ModId, Tree, flatten, is_test_only};

/// One file naming an item another file defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: PathBuf,
    pub to: PathBuf,
    /// The module the item lives in, `run::engine`, for the layer check.
    pub to_module: Vec<String>,
    pub from_module: Vec<String>,
    pub line: usize,
    /// The path as written, `crate::server::rfc::format`.
    pub written: String,
}

/// Every edge between two different files of the crate.
pub fn edges(tree: &Tree) -> Vec<Edge> {
    let mut out = Vec::new();
    for (id, module) in tree.modules.iter().enumerate() {
        for import in &module.imports {
            if import.glob {
                // A glob names nothing by itself; the names used through it are read below.
                continue;
            }
            let Some(target) = resolve(tree, id, &import.path) else {
                continue;
            };
            // Naming a module is not using it: what the code takes from it is read below.
            // A module passing on its own submodules' items is their front, not their user.
            let passes_on_own = import.reexport && tree.is_within(target.module(), id);
            if matches!(target, Target::Item(_)) && !passes_on_own {
                push(
                    tree,
                    id,
                    target,
                    import.line,
                    import.path.join("::"),
                    &mut out,
                );
            }
        }
        let mut paths = Paths {
            tree,
            id,
            found: Vec::new(),
        };
        for item in &module.code {
            paths.visit_item(item);
        }
        for (target, line, written) in paths.found {
            push(tree, id, target, line, written, &mut out);
        }
    }
    out
}

fn push(
    tree: &Tree,
    from: ModId,
    target: Target,
    line: usize,
    written: String,
    out: &mut Vec<Edge>,
) {
    let from = &tree.modules[from];
    let to = &tree.modules[target.module()];
    if from.file != to.file {
        out.push(Edge {
            from: from.file.clone(),
            to: to.file.clone(),
            to_module: to.path.clone(),
            from_module: from.path.clone(),
            line,
            written,
        });
    }
}

/// Paths in a module's code (types, expressions, patterns, trait bounds) that name an item
/// of the crate.
struct Paths<'t> {
    tree: &'t Tree,
    id: ModId,
    found: Vec<(Target, usize, String)>,
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(target @ Target::Item(_)) = resolve(self.tree, self.id, &segments) {
            self.found
                .push((target, path.span().start().line, segments.join("::")));
        }
        syn::visit::visit_path(self, path);
    }

    /// A `use` inside a function body.
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut imports = Vec::new();
        let line = item.span().start().line;
        flatten(&item.tree, Vec::new(), false, line, &mut imports);
        for import in imports.into_iter().filter(|i| !i.glob) {
            if let Some(target @ Target::Item(_)) = resolve(self.tree, self.id, &import.path) {
                self.found.push((target, line, import.path.join("::")));
            }
        }
    }

    // Test-only code inside a module (a `#[cfg(test)] fn`, an inline test module) is left out,
    // as whole test modules are.
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test_only(crate::tree::item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
}
