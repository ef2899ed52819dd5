//! Carrying a context across `.await`, on any executor.
//!
//! A future may be polled on a different worker thread each time, so a thread-local guard
//! held across `.await` would leak into unrelated tasks. Instead the wrapper attaches its
//! context just for the duration of each `poll` and detaches before returning.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use telemetry_core::diagnostic;

use crate::context::Context;

/// Whether a guard held across `.await` has been reported.
static LEAK_REPORTED: AtomicBool = AtomicBool::new(false);

pin_project_lite::pin_project! {
    /// A future that runs with a fixed [`Context`] current on every poll.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        cx: Context,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let guard = this.cx.clone().attach();
        let poll = this.inner.poll(task);
        // Reported once per process: a task that does this does it on every poll.
        if guard.detach_with_leaks() && !LEAK_REPORTED.swap(true, Ordering::Relaxed) {
            diagnostic::report(
                "context",
                format_args!(
                    "a ContextGuard was held across .await; its context was detached when the \
                     task yielded, so it cannot leak into other tasks on this thread"
                ),
            );
        }
        poll
    }
}

/// Attaches a [`Context`] to a future.
pub trait FutureExt: Future + Sized {
    /// Runs this future with `cx` as the current context on every poll.
    fn with_context(self, cx: Context) -> WithContext<Self> {
        WithContext { inner: self, cx }
    }

    /// Runs this future with the context that is current now, wherever it is polled later.
    fn with_current_context(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanContext, TraceFlags, TraceState};
    use telemetry_core::{SpanId, TraceId};

    fn span(n: u64) -> Context {
        Context::new().with_span_context(SpanContext::new(
            TraceId::from_int(1),
            SpanId::from_int(n),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        ))
    }

    fn current_span() -> Option<u64> {
        Context::current_span_context().map(|sc| sc.span_id().to_int())
    }

    /// Yields once, then finishes.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<()> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Ready(())
            } else {
                task.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn a_guard_held_across_await_does_not_leak_out_of_the_task() {
        let misbehaving = async {
            let _guard = span(7).attach();
            YieldOnce(false).await;
            current_span()
        };
        let mut task = Box::pin(misbehaving.with_context(span(1)));
        let mut cx = TaskContext::from_waker(std::task::Waker::noop());

        let outer = span(2).attach();
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            current_span(),
            Some(2),
            "the task's guard was detached at the yield"
        );

        // Another task's context takes the freed position; the stale guard must not clear it.
        let other = span(3).attach();
        assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(current_span(), Some(3));
        drop(other);
        assert_eq!(current_span(), Some(2));
        drop(outer);
        assert_eq!(current_span(), None);
    }
}
