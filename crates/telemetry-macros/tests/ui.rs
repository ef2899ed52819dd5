//! Compile errors for misuse of `#[traced]`, checked with trybuild. After changing a
//! message, regenerate the `.stderr` files with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
