//! The context follows futures across threads and `.await`, on tokio's multi-thread runtime
//! and on a minimal executor written here, and never leaks into other tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread;

use telemetry_context::{Context, FutureExt, SpanContext, TraceFlags, TraceState};
use telemetry_core::{SpanId, TraceId};

fn span(n: u64) -> SpanContext {
    SpanContext::new(
        TraceId::from_int(42),
        SpanId::from_int(n),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    )
}

fn current_span() -> Option<u64> {
    Context::map_current(|cx| cx.span_context().map(|sc| sc.span_id().to_int()))
}

/// A future that is pending once, waking itself, so the executor must poll it again
/// (possibly on another thread).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            task.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[test]
fn tokio_tasks_keep_their_context_across_worker_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let mut handles = Vec::new();
        for task in 1..=64u64 {
            let work = async move {
                let mut seen = Vec::new();
                let mut threads = std::collections::HashSet::new();
                for _ in 0..20 {
                    seen.push(current_span());
                    threads.insert(thread::current().id());
                    tokio::task::yield_now().await;
                    tokio::time::sleep(std::time::Duration::from_micros(50)).await;
                }
                (task, seen, threads.len())
            };
            handles.push(tokio::spawn(
                work.with_context(Context::new().with_span_context(span(task))),
            ));
        }
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.expect("task"));
        }
        results
    });
    let mut moved = 0;
    for (task, seen, threads) in results {
        assert!(
            seen.iter().all(|s| *s == Some(task)),
            "task {task} saw {seen:?}"
        );
        if threads > 1 {
            moved += 1;
        }
    }
    assert!(
        moved > 0,
        "no task moved between worker threads, so the test proved nothing"
    );
    assert_eq!(current_span(), None, "nothing leaked into the test thread");
}

#[test]
fn nested_spans_inside_a_task_restore_at_each_level() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(
        async {
            assert_eq!(current_span(), Some(1));
            let child = Context::current().with_span_context(span(2));
            async {
                assert_eq!(current_span(), Some(2));
                tokio::task::yield_now().await;
                assert_eq!(current_span(), Some(2));
            }
            .with_context(child)
            .await;
            assert_eq!(current_span(), Some(1));
        }
        .with_context(Context::new().with_span_context(span(1))),
    );
}

#[test]
fn with_current_context_captures_at_creation() {
    let guard = Context::new().with_span_context(span(5)).attach();
    let future = async { current_span() }.with_current_context();
    drop(guard);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(runtime.block_on(future), Some(5));
}

/// A deliberately small executor: a shared run queue served by two worker threads, so a
/// task is polled by whichever thread takes it next.
struct Task {
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    queue: mpsc::Sender<Arc<Task>>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.clone();
        let _ = queue.send(self);
    }
}

#[test]
fn a_hand_written_executor_carries_the_context_too() {
    let (sender, receiver) = mpsc::channel::<Arc<Task>>();
    let receiver = Arc::new(Mutex::new(receiver));
    let (done_sender, done_receiver) = mpsc::channel::<(u64, Vec<Option<u64>>, thread::ThreadId)>();
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let receiver = Arc::clone(&receiver);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let next = receiver
                        .lock()
                        .expect("queue")
                        .recv_timeout(std::time::Duration::from_millis(10));
                    let Ok(task) = next else { continue };
                    // Between polls the worker has no context of its own.
                    assert_eq!(current_span(), None);
                    let mut slot = task.future.lock().expect("task");
                    if let Some(mut future) = slot.take() {
                        let waker = Waker::from(Arc::clone(&task));
                        if future
                            .as_mut()
                            .poll(&mut TaskContext::from_waker(&waker))
                            .is_pending()
                        {
                            *slot = Some(future);
                        }
                    }
                }
            })
        })
        .collect();

    for n in 1..=16u64 {
        let done = done_sender.clone();
        let body = async move {
            let mut seen = Vec::new();
            for _ in 0..10 {
                seen.push(current_span());
                YieldOnce(false).await;
            }
            let _ = done.send((n, seen, thread::current().id()));
        };
        let task = Arc::new(Task {
            future: Mutex::new(Some(Box::pin(
                body.with_context(Context::new().with_span_context(span(n))),
            ))),
            queue: sender.clone(),
        });
        sender.send(task).expect("queue");
    }
    for _ in 0..16 {
        let (n, seen, _) = done_receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("task finished");
        assert!(seen.iter().all(|s| *s == Some(n)), "task {n} saw {seen:?}");
    }
    stop.store(true, Ordering::Release);
    for worker in workers {
        worker.join().expect("worker");
    }
}
