//! Entitle's use cases, shared by the functions, the CLI and the demo: no crate depends on a function crate.
//! Each area has its `Deps` (what it needs, as ports) with one composition root, `Deps::from_env`.
pub mod processor;
