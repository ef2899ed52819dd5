//! Attribute buffers handed back from the export worker to the threads that make spans.
//!
//! A span's attribute `Vec` is allocated on the thread that starts the span and, with a batch
//! processor, freed on the export worker's thread. glibc's allocator serves a free from a
//! thread other than the allocating one under the allocating arena's lock, which the producing
//! thread's next allocation also takes: on two cores, a span with attributes then spent more
//! time in that lock (and in futex calls around it) than in everything else, and its sustained
//! cost exceeded opentelemetry_sdk's. So the batch processor returns the emptied buffers of the
//! spans it exported to this bounded pool, and a span that needs an attribute buffer takes one
//! from it before asking the allocator: in steady state neither thread allocates or frees one.
//!
//! Bounded twice: [`POOL_SIZE`] buffers at most, each of at most [`MAX_KEPT_CAPACITY`]
//! attributes, so the pool never holds more than a few hundred kilobytes whatever spans were
//! made. A buffer that does not fit is freed as before.

use std::sync::LazyLock;

use telemetry_batcher::RingBuffer;
use telemetry_core::KeyValue;

/// Buffers the pool holds at most: enough to cover a batch in flight between the worker's
/// return and the producers' next starts, small enough not to matter when idle.
const POOL_SIZE: usize = 1024;

/// The largest attribute buffer (in attributes) worth keeping: typical spans have a handful.
const MAX_KEPT_CAPACITY: usize = 16;

/// The process-wide pool; one for every provider, since a buffer carries nothing of its span.
static SPARE_ATTRIBUTES: LazyLock<Option<RingBuffer<Vec<KeyValue>>>> =
    LazyLock::new(|| RingBuffer::new(POOL_SIZE).ok());

/// An empty attribute buffer: a returned one when the pool has one, else a new one with room
/// for `at_least` attributes.
#[inline]
pub(crate) fn attribute_buffer(at_least: usize) -> Vec<KeyValue> {
    if at_least <= MAX_KEPT_CAPACITY
        && let Some(pool) = SPARE_ATTRIBUTES.as_ref()
        && let Some(buffer) = pool.pop()
    {
        return buffer;
    }
    Vec::with_capacity(at_least)
}

/// Gives an attribute buffer back for reuse, emptying it; frees it when it is too large to
/// keep or the pool is full.
#[inline]
pub(crate) fn give_back(mut buffer: Vec<KeyValue>) {
    let capacity = buffer.capacity();
    if capacity == 0 || capacity > MAX_KEPT_CAPACITY {
        return;
    }
    buffer.clear();
    if let Some(pool) = SPARE_ATTRIBUTES.as_ref() {
        // A full pool hands the buffer back, and it is freed here.
        let _ = pool.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_from_the_pool_is_empty() {
        let mut buffer = Vec::with_capacity(MAX_KEPT_CAPACITY);
        buffer.push(KeyValue::new("key", "value"));
        give_back(buffer);
        // Other tests in this process may take or return buffers meanwhile; whatever comes
        // back is empty.
        assert!(attribute_buffer(4).is_empty());
    }

    #[test]
    fn large_or_unallocated_buffers_are_not_kept() {
        let pool = SPARE_ATTRIBUTES.as_ref().expect("the pool builds");
        // Drain, so the count below is this test's own (the pool is process-wide: other
        // tests may return buffers concurrently, so only an upper bound holds).
        while pool.pop().is_some() {}
        give_back(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
        give_back(Vec::new());
        let mut kept = Vec::new();
        while let Some(buffer) = pool.pop() {
            kept.push(buffer);
        }
        assert!(
            kept.iter()
                .all(|b| b.capacity() > 0 && b.capacity() <= MAX_KEPT_CAPACITY),
            "{kept:?}"
        );
    }

    #[test]
    fn a_request_for_more_than_the_kept_size_allocates_it() {
        let buffer = attribute_buffer(MAX_KEPT_CAPACITY + 5);
        assert!(buffer.capacity() >= MAX_KEPT_CAPACITY + 5);
    }

    #[test]
    fn the_pool_stays_bounded() {
        for _ in 0..(2 * POOL_SIZE) {
            give_back(Vec::with_capacity(1));
        }
        let pool = SPARE_ATTRIBUTES.as_ref().expect("the pool builds");
        assert!(pool.len() <= POOL_SIZE);
    }
}
