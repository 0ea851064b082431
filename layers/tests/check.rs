//! The check on small crates written for each test: clean layers pass, and a deliberate
//! upward import or circle is reported with the file and line that makes it.

use std::path::{Path, PathBuf};

use agentos_layers::{Error, check, layers_in};

/// A crate in a directory of its own under the system's temp dir, removed afterwards.
struct Crate(PathBuf);

impl Crate {
    fn new(test: &str, files: &[(&str, &str)]) -> Crate {
        let dir =
            std::env::temp_dir().join(format!("agentos-layers-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Crate(dir)
    }

    fn src(&self) -> &Path {
        &self.0
    }
}

impl Drop for Crate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ROOT: &str = "//! Layers:
//!
//! 1. Words (`words`): what every layer says.
//! 2. Engine (`engine`): runs things,
//!    over several lines (`not`, `these`).
//! 3. Front (`front`, `front_extra`): serves them.

mod words;
mod engine;
mod front;
mod front_extra;
pub use engine::run;
";

fn layered(test: &str, engine: &str) -> Crate {
    Crate::new(
        test,
        &[
            ("lib.rs", ROOT),
            ("words.rs", "pub struct Word;\npub fn say() {}\n"),
            ("engine/mod.rs", "mod inner;\npub use inner::run;\n"),
            ("engine/inner.rs", engine),
            (
                "front.rs",
                "use crate::words::Word;\npub struct Door(pub Word);\npub fn open() { crate::engine::run(); }\n",
            ),
            (
                "front_extra.rs",
                "pub fn extra() { super::front::open(); }\n",
            ),
        ],
    )
}

#[test]
fn the_layers_are_read_from_the_roots_numbered_list() {
    let layers = layers_in(ROOT);
    let names: Vec<(&str, Vec<&str>)> = layers
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.modules.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Words", vec!["words"]),
            ("Engine", vec!["engine"]),
            ("Front", vec!["front", "front_extra"]),
        ]
    );
}

#[test]
fn imports_down_the_layers_are_clean() {
    let krate = layered(
        "clean",
        "use crate::words::{self, Word};\npub fn run() { let _w: Word = Word; words::say(); }\n",
    );
    let report = check(krate.src()).unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn an_upward_import_names_its_file_line_and_layers() {
    let krate = layered(
        "upward",
        "pub fn run() {}\n\npub fn serve() {\n    use crate::front::Door;\n    let _ = std::mem::size_of::<Door>();\n}\n",
    );
    let report = check(krate.src()).unwrap();
    assert_eq!(report.upward.len(), 1, "{report}");
    let shown = report.to_string();
    assert!(
        shown.contains("engine/inner.rs:4 (layer Engine) imports `crate::front::Door` from front.rs (layer Front)"),
        "{shown}"
    );
}

#[test]
fn a_path_in_code_counts_as_an_import() {
    let krate = layered("in-code", "pub fn run() { let _ = crate::front::Door; }\n");
    let report = check(krate.src()).unwrap();
    assert_eq!(report.upward.len(), 1, "{report}");
    // front.rs calls `run`, which engine/inner.rs defines: the two files make a circle.
    assert_eq!(report.circles.len(), 1, "{report}");
    let files: Vec<String> = report.circles[0]
        .steps
        .iter()
        .map(|e| e.from.display().to_string())
        .collect();
    assert_eq!(files, ["engine/inner.rs", "front.rs"], "{report}");
}

#[test]
fn a_circle_inside_one_layer_is_reported() {
    let krate = Crate::new(
        "circle",
        &[
            (
                "lib.rs",
                "//! 1. All (`a`, `b`, `c`): one layer.\nmod a;\nmod b;\nmod c;\n",
            ),
            ("a.rs", "use crate::b::B;\npub struct A(B);\n"),
            (
                "b.rs",
                "pub struct B;\npub fn make() -> crate::c::C { todo!() }\n",
            ),
            ("c.rs", "use super::a::A;\npub struct C(A);\n"),
        ],
    );
    let report = check(krate.src()).unwrap();
    assert!(report.upward.is_empty(), "{report}");
    assert_eq!(report.circles.len(), 1, "{report}");
    let shown = report.to_string();
    assert!(shown.contains("import circle of 3 files"), "{shown}");
    assert!(
        shown.contains("a.rs:1 imports `crate::b::B` from b.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("b.rs:2 imports `crate::c::C` from c.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("c.rs:1 imports `super::a::A` from a.rs"),
        "{shown}"
    );
}

#[test]
fn a_reexport_is_followed_to_the_file_that_defines_the_item() {
    // `b` takes `A` through `c`'s re-export: the import is of a.rs, and a parent passing on
    // its own child's item imports nothing.
    let krate = Crate::new(
        "reexport",
        &[
            (
                "lib.rs",
                "//! 1. All (`a`, `b`, `c`): one layer.\nmod a;\nmod b;\nmod c;\n",
            ),
            ("a.rs", "pub struct A;\n"),
            ("b.rs", "use crate::c::*;\npub fn f(_: A) {}\n"),
            ("c/mod.rs", "mod d;\npub use crate::a::A;\npub use d::D;\n"),
            ("c/d.rs", "pub struct D;\npub fn g(_: super::A) {}\n"),
        ],
    );
    let report = check(krate.src()).unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn test_code_may_reach_up() {
    let krate = layered(
        "tests",
        "pub fn run() {}\n\n#[cfg(test)]\nmod tests {\n    use crate::front::Door;\n}\n\n#[cfg(test)]\nfn helper() -> crate::front::Door { todo!() }\n",
    );
    let report = check(krate.src()).unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_module_no_layer_names_is_reported_and_a_layer_naming_nothing_is_an_error() {
    let krate = Crate::new(
        "unplaced",
        &[
            ("lib.rs", "//! 1. All (`a`): one layer.\nmod a;\nmod b;\n"),
            ("a.rs", ""),
            ("b.rs", ""),
        ],
    );
    assert_eq!(check(krate.src()).unwrap().unplaced, ["b"]);

    let krate = Crate::new(
        "unknown",
        &[
            ("lib.rs", "//! 1. All (`a`, `gone`): one layer.\nmod a;\n"),
            ("a.rs", ""),
        ],
    );
    let error = check(krate.src()).unwrap_err();
    assert!(
        matches!(&error, Error::UnknownModule { module, .. } if module == "gone"),
        "{error}"
    );
}
