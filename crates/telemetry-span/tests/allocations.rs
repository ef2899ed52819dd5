//! What spans allocate, counted by a global allocator that this test binary alone uses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use telemetry_core::KeyValue;
use telemetry_span::{InMemorySpanExporter, Sampler, TracerProvider};

/// Counts allocations made by the current thread while `COUNTING` is set on it.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_in<R>(f: impl FnOnce() -> R) -> (u64, R) {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    let result = f();
    COUNTING.with(|counting| counting.set(false));
    (ALLOCATIONS.with(Cell::get), result)
}

#[test]
fn an_unsampled_span_allocates_nothing() {
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .with_simple_exporter(InMemorySpanExporter::new())
        .build();
    let tracer = provider.tracer("alloc");
    // Warm up thread-locals (id generator, context stack) outside the count.
    let warm_up = tracer.start("warm-up");
    drop(warm_up.enter());
    let (count, ()) = allocations_in(|| {
        for _ in 0..100 {
            let span = tracer.start("unsampled");
            let _guard = span.enter();
            let child = tracer.start("child");
            assert!(!child.is_recording());
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn a_sampled_span_allocates_once() {
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(InMemorySpanExporter::new())
        .build();
    let tracer = provider.tracer("alloc");
    let parent = tracer.start("parent");
    let _guard = parent.enter();
    let (count, span) = allocations_in(|| tracer.start("child"));
    assert!(span.is_recording());
    assert_eq!(
        count, 1,
        "the shared span cell is the only allocation at start"
    );
    let (count, guard) = allocations_in(|| span.enter());
    assert_eq!(count, 0, "entering a span allocates nothing");
    drop(guard);
}

#[test]
fn a_span_reuses_the_attribute_buffer_of_a_span_the_batch_processor_exported() {
    // The only test here that makes spans with attributes through a batch processor, so the
    // process-wide pool of returned buffers is this test's alone.
    let exporter = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_batch_exporter(exporter.clone())
        .expect("the export worker starts")
        .build();
    let tracer = provider.tracer("alloc");
    let attributes = || {
        [
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
        ]
    };
    // The warm-up span's buffer goes back to the pool once the worker has exported it,
    // which happens before the flush returns (and the pool itself is made on first use).
    drop(
        tracer
            .span_builder("warm-up")
            .with_attributes(attributes())
            .start(),
    );
    provider.force_flush().expect("flushes");

    let (reusing, first) = allocations_in(|| {
        tracer
            .span_builder("first")
            .with_attributes(attributes())
            .start()
    });
    assert_eq!(
        reusing, 1,
        "only the span cell: the buffer came back from the worker"
    );
    // The pool is empty now: a second span allocates its own buffer.
    let (allocating, second) = allocations_in(|| {
        tracer
            .span_builder("second")
            .with_attributes(attributes())
            .start()
    });
    assert_eq!(allocating, 2, "the span cell and the attribute buffer");
    drop((first, second));
    provider.force_flush().expect("flushes");
    let exported = exporter.finished_spans();
    let second = exported
        .iter()
        .find(|span| span.name == "second")
        .expect("the second span was exported");
    assert_eq!(
        second.attributes,
        attributes(),
        "a reused buffer holds only its span's"
    );
    provider.shutdown().expect("shuts down");
}
