//! Nothing here: this crate exists for its integration tests (`integration/`) and benchmarks.
