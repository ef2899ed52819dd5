//! Many threads recording at once: every measurement counted exactly once, also while a
//! delta reader collects concurrently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use telemetry_core::KeyValue;
use telemetry_metrics::data::{MetricData, Number, ResourceMetrics};
use telemetry_metrics::{ManualReader, MeterProvider, TemporalityPreference};

const THREADS: u64 = 8;
const ADDS: u64 = 20_000;

fn total(metrics: &ResourceMetrics, name: &str) -> (i64, u64) {
    let mut sum = 0;
    let mut count = 0;
    for metric in metrics
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
    {
        match &metric.data {
            MetricData::Sum(s) => {
                for point in &s.points {
                    match point.value {
                        Number::I64(v) => sum += v,
                        Number::F64(v) => sum += v as i64,
                    }
                }
            }
            MetricData::Histogram(h) => {
                for point in &h.points {
                    count += point.count;
                    assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>());
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (sum, count)
}

#[test]
fn many_threads_give_an_exact_cumulative_sum() -> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_cardinality_limit(50)
        .build();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("c").build()?;
    let floats = meter.f64_counter("f").build()?;
    let histogram = meter.u64_histogram("h").build()?;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let counter = counter.clone();
            let floats = floats.clone();
            let histogram = histogram.clone();
            thread::spawn(move || {
                let bound = counter.bind(&[KeyValue::new("bound", true)]);
                for i in 0..ADDS {
                    // 64 distinct sets against a limit of 50: some land in overflow, none lost.
                    let attributes = [
                        KeyValue::new("shard", (i % 64) as i64),
                        KeyValue::new("t", "x"),
                    ];
                    counter.add(1, &attributes);
                    counter.add(1, &[]);
                    bound.add(1);
                    floats.add(0.5, &attributes);
                    histogram.record(i % 300, &attributes);
                }
                t
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "a recording thread panicked")?;
    }
    let metrics = reader.collect()?;
    let expected = (THREADS * ADDS) as i64;
    assert_eq!(total(&metrics, "c").0, 3 * expected);
    assert_eq!(total(&metrics, "f").0, expected / 2);
    assert_eq!(total(&metrics, "h").1, THREADS * ADDS);
    Ok(())
}

#[test]
fn collecting_deltas_while_recording_loses_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("c").build()?;
    let histogram = meter.u64_histogram("h").build()?;
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let reader = reader.clone();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut sums = (0i64, 0u64);
            while !done.load(Ordering::Acquire) {
                let metrics = reader.collect().map_err(|e| e.to_string())?;
                let (c, _) = total(&metrics, "c");
                let (_, h) = total(&metrics, "h");
                sums = (sums.0 + c, sums.1 + h);
            }
            Ok::<_, String>(sums)
        })
    };
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let counter = counter.clone();
            let histogram = histogram.clone();
            thread::spawn(move || {
                for i in 0..ADDS {
                    let attributes = [KeyValue::new("k", ((i + t) % 16) as i64)];
                    counter.add(2, &attributes);
                    histogram.record(i, &attributes);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a recording thread panicked")?;
    }
    done.store(true, Ordering::Release);
    let (mut c, mut h) = collector.join().map_err(|_| "the collector panicked")??;
    let last = reader.collect()?;
    c += total(&last, "c").0;
    h += total(&last, "h").1;
    assert_eq!(c, (4 * ADDS * 2) as i64);
    assert_eq!(h, 4 * ADDS);
    Ok(())
}

/// Every histogram point of `name` as (bucket counts, count, sum, min, max), checking that
/// each is whole: two writers record 1.0 (bucket 0 of boundaries [2.0]) and 3.0 (bucket 1), so
/// a point's count, sum, min and max all follow from its two bucket counts. A point mixing
/// the fields of different sets of records (a bucket counted before its sum) fails here.
fn whole_histogram_points(metrics: &ResourceMetrics, name: &str) -> Vec<[u64; 2]> {
    let mut found = Vec::new();
    for metric in metrics
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
    {
        let MetricData::Histogram(h) = &metric.data else {
            panic!("unexpected {:?}", metric.data);
        };
        for point in &h.points {
            let [ones, threes] = point.bucket_counts[..] else {
                panic!("two buckets expected: {point:?}");
            };
            assert_eq!(point.count, ones + threes, "{point:?}");
            assert_eq!(
                point.sum,
                Some(ones as f64 + 3.0 * threes as f64),
                "{point:?}"
            );
            let min = if ones > 0 { 1.0 } else { 3.0 };
            let max = if threes > 0 { 3.0 } else { 1.0 };
            assert_eq!((point.min, point.max), (Some(min), Some(max)), "{point:?}");
            found.push([ones, threes]);
        }
    }
    found
}

/// Collections racing histogram records, with delta temporality (each collection empties the
/// series) and cumulative: every point is whole, and the deltas add up to exactly what was
/// recorded, as does the final cumulative point.
#[test]
fn histogram_points_stay_whole_while_collected_concurrently()
-> Result<(), Box<dyn std::error::Error>> {
    const RECORDS: u64 = 20_000;
    let delta = ManualReader::with_temporality(TemporalityPreference::Delta);
    let cumulative = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(delta.clone())
        .with_reader(cumulative.clone())
        .build();
    let histogram = provider
        .meter("m")
        .f64_histogram("h")
        .with_boundaries(vec![2.0])
        .build()?;
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (delta, cumulative) = (delta.clone(), cumulative.clone());
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut totals = [0u64; 2];
            let mut collections = 0u32;
            while !done.load(Ordering::Acquire) {
                let metrics = delta.collect().map_err(|e| e.to_string())?;
                for [ones, threes] in whole_histogram_points(&metrics, "h") {
                    totals[0] += ones;
                    totals[1] += threes;
                }
                let metrics = cumulative.collect().map_err(|e| e.to_string())?;
                whole_histogram_points(&metrics, "h");
                collections += 1;
            }
            Ok::<_, String>((totals, collections))
        })
    };
    let writers: Vec<_> = [1.0, 3.0]
        .into_iter()
        .map(|value| {
            let histogram = histogram.clone();
            thread::spawn(move || {
                let attributes = [KeyValue::new("route", "/"), KeyValue::new("code", 200i64)];
                for _ in 0..RECORDS {
                    histogram.record(value, &attributes);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a recording thread panicked")?;
    }
    done.store(true, Ordering::Release);
    let (mut totals, collections) = collector.join().map_err(|_| "the collector panicked")??;
    for [ones, threes] in whole_histogram_points(&delta.collect()?, "h") {
        totals[0] += ones;
        totals[1] += threes;
    }
    assert_eq!(
        totals,
        [RECORDS, RECORDS],
        "after {collections} racing collections"
    );
    assert_eq!(
        whole_histogram_points(&cumulative.collect()?, "h"),
        vec![[RECORDS, RECORDS]]
    );
    Ok(())
}
