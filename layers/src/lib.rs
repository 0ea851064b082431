//! Keeps a crate's modules in layers: reads every file of the crate, finds what each file
//! imports from the others, and reports import circles between files and imports that point
//! up the layer order the crate's root documents.
//!
//! The order is written once, in the crate root's own docs, as a numbered list whose items
//! name their modules in backticks inside the first parentheses, bottom layer first:
//!
//! ```text
//! //! 1. Vocabulary (`context`, `error`): the words every layer shares.
//! //! 2. Models (`model`): ...
//! ```
//!
//! A module imports from its own layer and those below it. The root file itself is the top.
//! Only the crate's own modules count; `#[cfg(test)]` code is left out, since a unit test may
//! drive its module through the layers above it.

mod imports;
mod resolve;
mod tree;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use imports::Edge;

/// Why a crate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot parse {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("`mod {module};` in {declared_in} has no file")]
    MissingModule {
        module: String,
        declared_in: PathBuf,
    },
    #[error("the crate root lists no layers (a numbered list naming modules in backticks)")]
    NoLayers,
    #[error("layer {layer} names `{module}`, which the crate does not have")]
    UnknownModule { layer: String, module: String },
}

/// One layer of the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// Module paths from the crate root, `run` or `server::rfc`.
    pub modules: Vec<String>,
}

/// Files that reach each other through their imports.
#[derive(Debug)]
pub struct Circle {
    /// One import a step around the shortest circle through the group's first file.
    pub steps: Vec<Edge>,
    /// The group's other files, on longer circles.
    pub also: Vec<PathBuf>,
}

/// An import of a higher layer's item.
#[derive(Debug)]
pub struct Upward {
    pub edge: Edge,
    /// The importing file's layer.
    pub from_layer: String,
    /// The imported item's layer.
    pub to_layer: String,
}

/// What is wrong with a crate's imports.
#[derive(Debug, Default)]
pub struct Report {
    /// Files that import each other, directly or through others.
    pub circles: Vec<Circle>,
    /// Imports from a lower layer of a higher one.
    pub upward: Vec<Upward>,
    /// Modules no layer names.
    pub unplaced: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.circles.is_empty() && self.upward.is_empty() && self.unplaced.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for circle in &self.circles {
            writeln!(f, "import circle of {} files:", circle.steps.len())?;
            for edge in &circle.steps {
                writeln!(
                    f,
                    "  {}:{} imports `{}` from {}",
                    edge.from.display(),
                    edge.line,
                    edge.written,
                    edge.to.display()
                )?;
            }
            if !circle.also.is_empty() {
                let also: Vec<String> = circle
                    .also
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                writeln!(f, "  and, on longer circles, {}", also.join(", "))?;
            }
        }
        for upward in &self.upward {
            let edge = &upward.edge;
            writeln!(
                f,
                "upward import: {}:{} (layer {}) imports `{}` from {} (layer {})",
                edge.from.display(),
                edge.line,
                upward.from_layer,
                edge.written,
                edge.to.display(),
                upward.to_layer
            )?;
        }
        for module in &self.unplaced {
            writeln!(
                f,
                "module `{module}` is in no layer of the crate root's list"
            )?;
        }
        Ok(())
    }
}

/// Reads the crate at `src` (its `lib.rs` and every module), its layer order from the root's
/// docs, and reports what breaks them.
pub fn check(src: &Path) -> Result<Report, Error> {
    let root = std::fs::read_to_string(src.join("lib.rs")).map_err(|error| Error::Read {
        file: src.join("lib.rs"),
        error,
    })?;
    let layers = layers_in(&root);
    if layers.is_empty() {
        return Err(Error::NoLayers);
    }
    let tree = tree::Tree::read(src)?;
    for layer in &layers {
        for module in &layer.modules {
            let path: Vec<&str> = module.split("::").collect();
            if tree.find(&path).is_none() {
                return Err(Error::UnknownModule {
                    layer: layer.name.clone(),
                    module: module.clone(),
                });
            }
        }
    }
    let edges = imports::edges(&tree);
    let mut report = Report {
        circles: circles(&edges),
        ..Report::default()
    };

    let rank = |module: &[String]| -> Option<(usize, &str)> {
        let joined = module.join("::");
        layers
            .iter()
            .enumerate()
            .flat_map(|(rank, layer)| layer.modules.iter().map(move |m| (rank, layer, m)))
            .filter(|(_, _, m)| joined == **m || joined.starts_with(&format!("{m}::")))
            .max_by_key(|(_, _, m)| m.len())
            .map(|(rank, layer, _)| (rank, layer.name.as_str()))
    };
    let top = (layers.len(), "crate root");
    for module in tree.modules.iter().skip(1) {
        if module.parent == Some(0) && rank(&module.path).is_none() {
            report.unplaced.push(module.path.join("::"));
        }
    }
    for edge in &edges {
        let from = if edge.from_module.is_empty() {
            Some(top)
        } else {
            rank(&edge.from_module)
        };
        let to = if edge.to_module.is_empty() {
            Some(top)
        } else {
            rank(&edge.to_module)
        };
        if let (Some((from_rank, from_name)), Some((to_rank, to_name))) = (from, to)
            && to_rank > from_rank
        {
            report.upward.push(Upward {
                edge: edge.clone(),
                from_layer: from_name.to_owned(),
                to_layer: to_name.to_owned(),
            });
        }
    }
    Ok(report)
}

/// The numbered list of the root's `//!` docs: `N. Name (`a`, `b::c`): ...`, an item's
/// continuation lines joined to it.
pub fn layers_in(root: &str) -> Vec<Layer> {
    list(
        root.lines()
            .filter_map(|line| line.trim_start().strip_prefix("//!")),
    )
}

/// The same list in the section of a Markdown file headed `## {heading}`.
pub fn layers_in_markdown(text: &str, heading: &str) -> Vec<Layer> {
    let title = format!("## {heading}");
    let section = text
        .lines()
        .skip_while(|line| line.trim_end() != title)
        .skip(1)
        .take_while(|line| !line.starts_with("## "));
    list(section)
}

fn list<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Layer> {
    let mut items: Vec<String> = Vec::new();
    let mut open = false;
    for line in lines {
        let text = line.trim();
        let item = text
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if let Some((_, rest)) = item {
            items.push(rest.to_owned());
            open = true;
        } else if text.is_empty() {
            open = false;
        } else if open && let Some(last) = items.last_mut() {
            last.push(' ');
            last.push_str(text);
        }
    }
    items
        .iter()
        .filter_map(|item| {
            let (name, rest) = item.split_once(" (")?;
            let (inside, _) = rest.split_once(')')?;
            let modules: Vec<String> = inside
                .split(',')
                .filter_map(|m| m.trim().strip_prefix('`')?.strip_suffix('`'))
                .map(str::to_owned)
                .collect();
            (!modules.is_empty()).then(|| Layer {
                name: name.trim().to_owned(),
                modules,
            })
        })
        .collect()
}

/// Groups of files that reach each other through imports (strongly connected components of
/// more than one file).
fn circles(edges: &[Edge]) -> Vec<Circle> {
    let mut files: Vec<&PathBuf> = edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
    files.sort();
    files.dedup();
    let index: BTreeMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); files.len()];
    for edge in edges {
        next[index[&edge.from]].push(index[&edge.to]);
    }
    let groups = strongly_connected(&next);
    let mut out = Vec::new();
    for group in groups.into_iter().filter(|g| g.len() > 1) {
        // Walk the circle from its first file, taking the shortest way back, so the report
        // names one import a step.
        let path = shortest_cycle(&next, &group);
        let mut steps = Vec::new();
        for pair in path.windows(2) {
            if let Some(edge) = edges
                .iter()
                .find(|e| index[&e.from] == pair[0] && index[&e.to] == pair[1])
            {
                steps.push(edge.clone());
            }
        }
        let also = group
            .iter()
            .filter(|f| !path.contains(f))
            .map(|f| files[*f].clone())
            .collect();
        out.push(Circle { steps, also });
    }
    out
}

/// Tarjan's algorithm, iteratively.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = next.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut groups = Vec::new();
    let mut counter = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 && index[v] == usize::MAX {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = next[v].get(*child) {
                *child += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut group = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                group.sort();
                groups.push(group);
            }
        }
    }
    groups
}

/// The shortest way from the group's first file back to itself, inside the group.
fn shortest_cycle(next: &[Vec<usize>], group: &[usize]) -> Vec<usize> {
    let start = group[0];
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &next[v] {
            if !group.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = came_from[&at];
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}
