//! A crate's modules as rustc finds them: from `lib.rs`, through every `mod` declaration, to
//! the files and inline blocks that hold them, with the items and imports each one declares.

use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::{Attribute, Item, UseTree, Visibility};

use crate::Error;

/// Index of a module in [`Tree::modules`].
pub type ModId = usize;

/// One module: a file, or a `mod name { ... }` block inside one.
pub struct Module {
    /// Its path from the crate root, `["run", "engine"]`; empty for the root.
    pub path: Vec<String>,
    /// The file that holds it, relative to the crate's `src`.
    pub file: PathBuf,
    pub parent: Option<ModId>,
    pub children: Vec<(String, ModId)>,
    /// Names of the items it defines (types, functions, traits, constants, macros).
    pub defines: Vec<String>,
    pub imports: Vec<Import>,
    /// Its own items apart from imports and modules, whose code is read for paths.
    pub code: Vec<Item>,
}

/// One name a `use` brings in.
#[derive(Debug, Clone)]
pub struct Import {
    /// The name it is known by here; `None` for a glob or `as _`.
    pub name: Option<String>,
    /// The path as written, `["crate", "store", "Store"]`; a glob's path ends before the `*`.
    pub path: Vec<String>,
    pub glob: bool,
    /// `pub use` in any form: the module passes the name on.
    pub reexport: bool,
    pub line: usize,
}

/// Every module of one crate.
pub struct Tree {
    pub modules: Vec<Module>,
}

impl Tree {
    /// Reads the crate whose root is `src/lib.rs`.
    pub fn read(src: &Path) -> Result<Tree, Error> {
        let mut tree = Tree {
            modules: Vec::new(),
        };
        let root = parse(src, Path::new("lib.rs"))?;
        tree.add(src, Vec::new(), PathBuf::from("lib.rs"), None, root.items)?;
        Ok(tree)
    }

    /// The module `path` names, if the crate has it.
    pub fn find(&self, path: &[&str]) -> Option<ModId> {
        self.modules
            .iter()
            .position(|m| m.path.iter().map(String::as_str).eq(path.iter().copied()))
    }

    /// Whether `inner` is `outer` or lies inside it.
    pub fn is_within(&self, inner: ModId, outer: ModId) -> bool {
        let mut at = Some(inner);
        while let Some(id) = at {
            if id == outer {
                return true;
            }
            at = self.modules[id].parent;
        }
        false
    }

    fn add(
        &mut self,
        src: &Path,
        path: Vec<String>,
        file: PathBuf,
        parent: Option<ModId>,
        items: Vec<Item>,
    ) -> Result<ModId, Error> {
        let id = self.modules.len();
        self.modules.push(Module {
            path: path.clone(),
            file: file.clone(),
            parent,
            children: Vec::new(),
            defines: Vec::new(),
            imports: Vec::new(),
            code: Vec::new(),
        });
        for item in items {
            if is_test_only(item_attrs(&item)) {
                continue;
            }
            match item {
                Item::Mod(module) => {
                    let name = module.ident.to_string();
                    let mut child_path = path.clone();
                    child_path.push(name.clone());
                    let child = match module.content {
                        Some((_, inline)) => {
                            self.add(src, child_path, file.clone(), Some(id), inline)?
                        }
                        None => {
                            let child_file = module_file(src, &file, &name)?;
                            let parsed = parse(src, &child_file)?;
                            self.add(src, child_path, child_file, Some(id), parsed.items)?
                        }
                    };
                    self.modules[id].children.push((name, child));
                }
                Item::Use(import) => {
                    let reexport = !matches!(import.vis, Visibility::Inherited);
                    let line = import.span().start().line;
                    let mut found = Vec::new();
                    flatten(&import.tree, Vec::new(), reexport, line, &mut found);
                    self.modules[id].imports.extend(found);
                }
                other => {
                    if let Some(name) = defined_name(&other) {
                        self.modules[id].defines.push(name);
                    }
                    self.modules[id].code.push(other);
                }
            }
        }
        Ok(id)
    }
}

fn parse(src: &Path, file: &Path) -> Result<syn::File, Error> {
    let full = src.join(file);
    let text = std::fs::read_to_string(&full).map_err(|error| Error::Read {
        file: full.clone(),
        error,
    })?;
    syn::parse_file(&text).map_err(|error| Error::Parse {
        file: full,
        message: error.to_string(),
    })
}

/// Where `mod name;` declared in `parent` lives: `name.rs` or `name/mod.rs`, in the parent's
/// directory when the parent is `lib.rs` or a `mod.rs`, else in a directory named after it.
fn module_file(src: &Path, parent: &Path, name: &str) -> Result<PathBuf, Error> {
    let stem = parent.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let dir = parent.parent().unwrap_or(Path::new(""));
    let dir = if stem == "lib" || stem == "mod" {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let candidates = [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ];
    candidates
        .iter()
        .find(|c| src.join(c).is_file())
        .cloned()
        .ok_or_else(|| Error::MissingModule {
            module: name.to_owned(),
            declared_in: parent.to_path_buf(),
        })
}

/// Flattens `use a::{b, c::{self, d as e}, f::*}` into one import a name.
pub(crate) fn flatten(
    tree: &UseTree,
    prefix: Vec<String>,
    reexport: bool,
    line: usize,
    out: &mut Vec<Import>,
) {
    let mut push = |name: Option<String>, path: Vec<String>, glob: bool| {
        out.push(Import {
            name,
            path,
            glob,
            reexport,
            line,
        })
    };
    match tree {
        UseTree::Path(p) => {
            let mut prefix = prefix;
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, reexport, line, out);
        }
        UseTree::Name(n) => {
            let ident = n.ident.to_string();
            if ident == "self" {
                let name = prefix.last().cloned();
                push(name, prefix, false);
            } else {
                let mut path = prefix;
                path.push(ident.clone());
                push(Some(ident), path, false);
            }
        }
        UseTree::Rename(r) => {
            let mut path = prefix;
            let ident = r.ident.to_string();
            if ident != "self" {
                path.push(ident);
            }
            let alias = r.rename.to_string();
            push((alias != "_").then_some(alias), path, false);
        }
        UseTree::Glob(_) => push(None, prefix, true),
        UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix.clone(), reexport, line, out);
            }
        }
    }
}

fn defined_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        _ => return None,
    };
    Some(ident.to_string())
}

pub(crate) fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]`: unit tests may drive their module through the layers above it, so their
/// imports are not the module's.
pub(crate) fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string() == "test")
    })
}
