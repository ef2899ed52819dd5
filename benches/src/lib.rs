//! Benchmarks of `telemetry`, run side by side with the peers they compete with.
//!
//! The benchmarks live in `benches/*.rs` and run with `cargo bench -p telemetry-benches`.
//! Each group measures our implementation and its peers (opentelemetry_sdk, fastrace,
//! crossbeam, std) in the same process, so the ratios recorded in `docs/performance.md`
//! compare like with like on the same machine.
#![forbid(unsafe_code)]
