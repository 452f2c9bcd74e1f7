//! Examples of using cad-core; see the `examples/` directory of this crate.
