//! The workspace's own crates keep their layers: the runtime and the macros, each in the order
//! its `lib.rs` documents. CI runs this with the rest of the workspace's tests.

use std::path::Path;

fn assert_layered(krate: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let report = agentos_layers::check(&src).unwrap_or_else(|e| panic!("{krate}: {e}"));
    assert!(
        report.is_clean(),
        "{krate}/src breaks its layers:\n{report}"
    );
}

#[test]
fn the_runtime_keeps_its_layers() {
    assert_layered("runtime");
}

#[test]
fn the_macros_keep_their_layers() {
    assert_layered("macros");
}

#[test]
fn the_readme_lists_the_runtimes_layers_as_its_code_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let in_code = agentos_layers::layers_in(&read("runtime/src/lib.rs"));
    let in_readme = agentos_layers::layers_in_markdown(&read("README.md"), "Architecture");
    assert!(!in_code.is_empty());
    assert_eq!(
        in_readme, in_code,
        "README.md's Architecture section and runtime/src/lib.rs"
    );
}
