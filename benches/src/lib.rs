//! Benchmarks of cad live in `benches/benches/`; this library is empty.
