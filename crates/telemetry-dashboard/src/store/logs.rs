//! Log records in arrival order, indexed by trace id.
//!
//! Records sit in one deque in arrival order with consecutive sequence numbers, so a sequence
//! number finds its record by subtraction and eviction (oldest first) pops the front. The
//! trace-id index maps to sequence numbers, in order, so evicting pops each list's front too.
//! Severity, text, span id, attribute and time filters scan newest first and stop at the limit;
//! each record keeps an attribute signature (see `signature`) of its own and its resource's
//! attributes, so an attribute filter skips nearly every record lacking the pair with one AND.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;

use serde_json::{Value as Json, json};
use telemetry_core::{Resource, SpanId, StringValue, TraceId, Value};
use telemetry_logs::{LogRecord, Severity};
use telemetry_otlp::{LogsData, ResourceLogs, ScopeLogs};

use super::hash::IdHash;
use super::json as j;
use super::signature::{attribute_bits, attribute_signature};

/// The most records one search looks at.
pub(crate) const MAX_SCAN: u64 = 500_000;
/// Bytes charged per record beyond the record and its deque slot: its entry in the trace
/// index (a sequence number in a per-trace deque, and that deque's share of the map).
const LOG_OVERHEAD: usize = size_of::<u64>() * 2 + 24;

/// One stored record.
#[derive(Debug)]
pub(crate) struct StoredLog {
    pub(crate) record: LogRecord,
    pub(crate) resource: Resource,
    pub(crate) service: StringValue,
    pub(crate) bytes: usize,
    /// The live position of the batch that brought it.
    position: u64,
    /// The attribute signature of its attributes and its resource's.
    attribute_bits: u64,
}

impl StoredLog {
    /// Wraps a decoded record; `resource_share` is its part of its resource's size, and
    /// `resource_bits` the signature of its resource's attributes. `scratch` is a buffer
    /// reused between records.
    pub(crate) fn new(
        record: LogRecord,
        resource: Resource,
        service: StringValue,
        resource_share: usize,
        resource_bits: u64,
        scratch: &mut Vec<u8>,
    ) -> StoredLog {
        let bytes =
            size_of::<StoredLog>() + LOG_OVERHEAD + super::size::log_heap(&record) + resource_share;
        let attribute_bits = attribute_signature(&record.attributes, scratch) | resource_bits;
        StoredLog {
            record,
            resource,
            service,
            bytes,
            position: 0,
            attribute_bits,
        }
    }

    /// The record's time: its timestamp, else when it was observed.
    pub(crate) fn time(&self) -> u64 {
        self.record
            .timestamp
            .unwrap_or(self.record.observed_timestamp)
            .as_unix_nanos()
    }

    fn to_json(&self, seq: u64) -> Json {
        let record = &self.record;
        json!({
            "id": seq.to_string(),
            "timeUnixNano": j::nanos(self.time()),
            "timeMs": j::millis(self.time()),
            "observedTimeUnixNano": j::nanos(record.observed_timestamp.as_unix_nanos()),
            "severityNumber": record.severity.number(),
            "severityText": record.severity_text.as_ref().map_or(record.severity.name(), |text| text.as_str()),
            "body": j::value(&record.body),
            "attributes": j::attributes(&record.attributes),
            "traceId": record.trace_id.is_valid().then(|| record.trace_id.to_string()),
            "spanId": record.span_id.is_valid().then(|| record.span_id.to_string()),
            "eventName": record.event_name.as_ref().map(StringValue::as_str),
            "service": self.service.as_str(),
            "resource": j::resource(&self.resource),
            "scope": j::scope(&record.scope),
        })
    }
}

/// Which records a search wants.
#[derive(Debug, Default)]
pub(crate) struct LogQuery {
    pub(crate) min_severity: Option<Severity>,
    /// Case-insensitive substring of the body (ASCII case folding), lowercased already.
    pub(crate) text: Option<String>,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) service: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) limit: usize,
    /// Only records older than this sequence number.
    pub(crate) cursor: Option<u64>,
}

impl LogQuery {
    /// `attribute_bits` are the signature bits of each of `attributes`, in order.
    fn matches(&self, log: &StoredLog, attribute_bits: &[u64]) -> bool {
        // One AND per attribute pair rules out nearly every record that lacks it.
        if attribute_bits
            .iter()
            .any(|&bits| log.attribute_bits & bits != bits)
        {
            return false;
        }
        let record = &log.record;
        if self.min_severity.is_some_and(|min| record.severity < min)
            || self.span_id.is_some_and(|id| record.span_id != id)
            || self.trace_id.is_some_and(|id| record.trace_id != id)
            || self.start.is_some_and(|start| log.time() < start)
            || self.end.is_some_and(|end| log.time() > end)
            || self
                .service
                .as_ref()
                .is_some_and(|s| log.service.as_str() != s)
        {
            return false;
        }
        if let Some(text) = &self.text {
            // A string body is searched in place: no copy, no lowercased copy, per record.
            let found = match &record.body {
                Value::String(body) => contains_ignore_case(body.as_str().as_bytes(), text),
                other => contains_ignore_case(other.to_string().as_bytes(), text),
            };
            if !found {
                return false;
            }
        }
        self.attributes.iter().all(|(key, value)| {
            j::attribute_matches(&record.attributes, key, value)
                || j::attribute_matches(log.resource.attributes(), key, value)
        })
    }
}

/// Whether `haystack` contains `lowered_needle` with ASCII letters of either case (other
/// bytes exactly): candidates are found with `memchr2` on the needle's first byte in both
/// cases, then compared case-insensitively.
fn contains_ignore_case(haystack: &[u8], lowered_needle: &str) -> bool {
    let needle = lowered_needle.as_bytes();
    let Some(&first) = needle.first() else {
        return true;
    };
    let mut from = 0;
    while let Some(offset) = haystack
        .get(from..)
        .and_then(|rest| memchr::memchr2(first, first.to_ascii_uppercase(), rest))
    {
        let at = from + offset;
        match haystack.get(at..at + needle.len()) {
            Some(window) if window.eq_ignore_ascii_case(needle) => return true,
            Some(_) => from = at + 1,
            None => return false,
        }
    }
    false
}

/// The logs of the store.
#[derive(Debug)]
pub(crate) struct LogStore {
    logs: VecDeque<StoredLog>,
    /// Sequence number of `logs[0]`.
    first_seq: u64,
    /// Keyed by trace id with [`IdHash`], whose docs say why that is safe for network ids.
    by_trace: HashMap<TraceId, VecDeque<u64>, IdHash>,
    pub(crate) budget: usize,
    pub(crate) used: usize,
    pub(crate) evicted: u64,
}

impl LogStore {
    pub(crate) fn new(budget: usize) -> LogStore {
        LogStore {
            logs: VecDeque::new(),
            first_seq: 0,
            by_trace: HashMap::with_hasher(IdHash::new()),
            budget,
            used: 0,
            evicted: 0,
        }
    }

    /// Records stored.
    pub(crate) fn len(&self) -> usize {
        self.logs.len()
    }

    /// Stores records at live `position`, then evicts the oldest until within the budget.
    pub(crate) fn insert(&mut self, logs: Vec<StoredLog>, position: u64) {
        for mut log in logs {
            log.position = position;
            let seq = self.first_seq + self.logs.len() as u64;
            if log.record.trace_id.is_valid() {
                self.by_trace
                    .entry(log.record.trace_id)
                    .or_default()
                    .push_back(seq);
            }
            // The record's heap, and the deque's inline slots as its capacity grows.
            self.used += log.bytes - size_of::<StoredLog>();
            let capacity = self.logs.capacity();
            self.logs.push_back(log);
            self.used += (self.logs.capacity() - capacity) * size_of::<StoredLog>();
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.used > self.budget {
            let Some(log) = self.logs.pop_front() else {
                break;
            };
            let seq = self.first_seq;
            self.first_seq += 1;
            self.used = self.used.saturating_sub(log.bytes - size_of::<StoredLog>());
            self.evicted += 1;
            let id = log.record.trace_id;
            if let Some(list) = self.by_trace.get_mut(&id) {
                if list.front() == Some(&seq) {
                    list.pop_front();
                }
                if list.is_empty() {
                    self.by_trace.remove(&id);
                }
            }
        }
        // Eviction leaves the deque's slots allocated; give back most of them once it is
        // mostly empty (so slots alone can never hold the budget).
        let capacity = self.logs.capacity();
        if (capacity > 64 || self.logs.is_empty()) && self.logs.len() < capacity / 4 {
            self.logs.shrink_to(self.logs.len() * 2);
            let freed = capacity - self.logs.capacity();
            self.used = self.used.saturating_sub(freed * size_of::<StoredLog>());
        }
    }

    fn get(&self, seq: u64) -> Option<&StoredLog> {
        let index = seq.checked_sub(self.first_seq)?;
        self.logs.get(usize::try_from(index).ok()?)
    }

    /// Records matching `query`, newest first, and the cursor of the next page.
    pub(crate) fn search(&self, query: &LogQuery) -> (Vec<Json>, Option<u64>) {
        let end_seq = self.first_seq + self.logs.len() as u64;
        let below = query.cursor.unwrap_or(end_seq).min(end_seq);
        let attribute_bits: Vec<u64> = query
            .attributes
            .iter()
            .map(|(key, value)| attribute_bits(key, value.as_bytes()))
            .collect();
        let mut found = Vec::new();
        let mut emit = |seq: u64, log: &StoredLog| -> bool {
            if query.matches(log, &attribute_bits) {
                found.push(log.to_json(seq));
            }
            found.len() >= query.limit
        };
        if let Some(trace_id) = query.trace_id {
            // The index holds this trace's records in order: walk it backwards.
            for &seq in self.by_trace.get(&trace_id).into_iter().flatten().rev() {
                if seq >= below {
                    continue;
                }
                if let Some(log) = self.get(seq)
                    && emit(seq, log)
                {
                    return (found, Some(seq));
                }
            }
            return (found, None);
        }
        for seq in (self.first_seq..below).rev() {
            if below - seq > MAX_SCAN {
                // Bounded lock time: the next page starts where this scan stopped.
                return (found, Some(seq + 1));
            }
            if let Some(log) = self.get(seq)
                && emit(seq, log)
            {
                return (found, Some(seq));
            }
        }
        (found, None)
    }

    /// Records added after live position `since` (up to `upto`), newest last, at most `cap`;
    /// and whether older ones were left out.
    pub(crate) fn added_since(&self, since: u64, upto: u64, cap: usize) -> (Vec<Json>, bool) {
        let first_new = self.logs.partition_point(|log| log.position <= since);
        let last = self.logs.partition_point(|log| log.position <= upto);
        let from = first_new.max(last.saturating_sub(cap));
        let out = (from..last)
            .filter_map(|index| {
                let log = self.logs.get(index)?;
                Some(log.to_json(self.first_seq + index as u64))
            })
            .collect();
        (out, from > first_new)
    }

    /// The records with a time in `[start, end]`, or of one trace, for export.
    pub(crate) fn records(&self, trace: Option<TraceId>, start: u64, end: u64) -> Vec<&StoredLog> {
        match trace {
            Some(id) => self
                .by_trace
                .get(&id)
                .into_iter()
                .flatten()
                .filter_map(|&seq| self.get(seq))
                .collect(),
            None => self
                .logs
                .iter()
                .filter(|log| (start..=end).contains(&log.time()))
                .collect(),
        }
    }
}

/// Groups records by resource and scope into OTLP `LogsData`, keeping their order.
pub(crate) fn to_logs_data<'a>(logs: impl IntoIterator<Item = &'a StoredLog>) -> LogsData {
    let mut data = LogsData::default();
    for log in logs {
        let position = data
            .resource_logs
            .iter()
            .rposition(|group| group.resource == log.resource);
        let group = match position {
            Some(index) => &mut data.resource_logs[index],
            None => {
                data.resource_logs.push(ResourceLogs {
                    resource: log.resource.clone(),
                    resource_dropped_attributes_count: 0,
                    scope_logs: Vec::new(),
                });
                let last = data.resource_logs.len() - 1;
                &mut data.resource_logs[last]
            }
        };
        let position = group
            .scope_logs
            .iter()
            .rposition(|scope| scope.scope == log.record.scope);
        let scope = match position {
            Some(index) => &mut group.scope_logs[index],
            None => {
                group.scope_logs.push(ScopeLogs {
                    scope: log.record.scope.clone(),
                    scope_dropped_attributes_count: 0,
                    records: Vec::new(),
                });
                let last = group.scope_logs.len() - 1;
                &mut group.scope_logs[last]
            }
        };
        scope.records.push(log.record.clone());
    }
    data
}

#[cfg(test)]
mod tests {
    use telemetry_core::Timestamp;

    use super::*;

    fn stored(trace: u128, body: &str) -> StoredLog {
        let mut record = LogRecord::new(Severity::INFO).with_body(body.to_owned());
        record.trace_id = TraceId::from_int(trace);
        record.observed_timestamp = Timestamp::from_unix_nanos(1);
        StoredLog::new(
            record,
            Resource::empty(),
            "svc".into(),
            0,
            0,
            &mut Vec::new(),
        )
    }

    #[test]
    fn text_search_folds_ascii_case_only_and_finds_every_position() {
        let cases: [(&str, &str, bool); 10] = [
            ("Payment FAILED for order 7", "failed", true),
            ("payment failed", "payment failed", true),
            ("fail", "failed", false),
            ("", "x", false),
            ("anything", "", true),
            ("aaab", "aab", true),
            ("xxAxxAB", "ab", true),
            ("Straße", "straße", true),
            ("STRASSE", "straße", false),
            ("ends with tail", "tail", true),
        ];
        for (haystack, needle, expected) in cases {
            assert_eq!(
                contains_ignore_case(haystack.as_bytes(), needle),
                expected,
                "{haystack:?} / {needle:?}"
            );
            assert_eq!(
                haystack.to_ascii_lowercase().contains(needle),
                expected,
                "the old definition agrees: {haystack:?} / {needle:?}"
            );
        }
    }

    #[test]
    fn eviction_keeps_the_trace_index_in_step() {
        // Room for the deque's four slots and the heap of two records.
        let heap = stored(1, "a").bytes - size_of::<StoredLog>();
        let mut store = LogStore::new(4 * size_of::<StoredLog>() + 2 * heap);
        store.insert(vec![stored(1, "a"), stored(2, "b"), stored(1, "c")], 1);
        assert_eq!((store.len(), store.evicted), (2, 1));
        let query = LogQuery {
            trace_id: Some(TraceId::from_int(1)),
            limit: 10,
            ..LogQuery::default()
        };
        let (found, _) = store.search(&query);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["body"], "c");
        assert_eq!(store.by_trace[&TraceId::from_int(1)].len(), 1);
    }

    #[test]
    fn added_since_takes_the_newest_and_says_when_it_cut() {
        let mut store = LogStore::new(usize::MAX);
        store.insert(vec![stored(1, "old")], 1);
        store.insert(vec![stored(1, "x"), stored(1, "y"), stored(1, "z")], 2);
        let (lines, cut) = store.added_since(1, 2, 2);
        let bodies: Vec<_> = lines.iter().map(|l| l["body"].clone()).collect();
        assert_eq!(bodies, ["y", "z"]);
        assert!(cut);
        let (lines, cut) = store.added_since(0, 1, 10);
        assert_eq!((lines.len(), cut), (1, false));
    }
}
