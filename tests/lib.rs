//! Shared-nothing crate root; the sandbox tests live in `sandbox/`.
