//! Compile-time behaviour of the macros: every accepted form compiles, every mistake is a
//! compile error at the user's token (`trybuild/fail/*.stderr`).
//!
//! Refresh the snapshots with `TRYBUILD=overwrite cargo test --test trybuild`, then read them.

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("trybuild/pass/*.rs");
    t.compile_fail("trybuild/fail/*.rs");
}
