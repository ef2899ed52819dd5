//! Ingest from several threads while a reader follows the live stream and queries.

mod store_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use serde_json::Value as Json;
use telemetry_dashboard::backend::Backend;
use telemetry_dashboard::{Store, StoreConfig};
use telemetry_logs::Severity;

use store_support::*;

const WRITERS: u64 = 2;
const BATCHES: u64 = 150;
const TRACES_PER_BATCH: u64 = 10;

#[test]
fn a_live_reader_misses_no_trace_written_concurrently() {
    let store = Arc::new(Store::new(StoreConfig {
        live_max_items: 1_000_000,
        ..StoreConfig::default()
    }));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        thread::spawn(move || {
            let mut seen = HashSet::new();
            let mut position = 0;
            let mut follow = |position: &mut u64| {
                if let Some((next, body)) = store.live_delta(*position) {
                    assert!(next > *position);
                    *position = next;
                    let delta: Json = serde_json::from_slice(&body).unwrap();
                    assert_eq!(delta["truncated"], false);
                    for trace in delta["traces"].as_array().unwrap() {
                        seen.insert(trace["traceId"].as_str().unwrap().to_owned());
                    }
                }
            };
            while !done.load(Ordering::Acquire) {
                follow(&mut position);
                let answer = get_ok(&store, "/api/traces", "limit=50&service=w0");
                assert!(answer["traces"].as_array().unwrap().len() <= 50);
                thread::yield_now();
            }
            follow(&mut position);
            assert_eq!(position, store.live_position());
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            thread::spawn(move || {
                for batch in 0..BATCHES {
                    let spans = (0..TRACES_PER_BATCH)
                        .map(|i| {
                            let t = u128::from((w * BATCHES + batch) * TRACES_PER_BATCH + i + 1);
                            span(t, 1, 0, "op", BASE + batch, BASE + batch + 10)
                        })
                        .collect();
                    store.ingest_traces(traces(&format!("w{w}"), spans), &source());
                    let record = log(1, 1, Severity::INFO, "tick", BASE + batch);
                    store.ingest_logs(logs("logger", vec![record]), &source());
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let seen = reader.join().unwrap();
    let expected: HashSet<String> = (1..=WRITERS * BATCHES * TRACES_PER_BATCH)
        .map(|t| format!("{t:032x}"))
        .collect();
    assert_eq!(seen, expected);
    let health = get_ok(&store, "/api/health", "");
    assert_eq!(
        health["store"]["traces"]["spans"].as_u64(),
        Some(WRITERS * BATCHES * TRACES_PER_BATCH)
    );
    assert_eq!(
        health["store"]["logs"]["records"].as_u64(),
        Some(WRITERS * BATCHES)
    );
}
