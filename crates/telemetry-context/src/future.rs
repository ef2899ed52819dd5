//! Carrying a context across `.await`, on any executor.
//!
//! A future may be polled on a different worker thread each time, so a thread-local guard
//! held across `.await` would leak into unrelated tasks. Instead the wrapper attaches its
//! context just for the duration of each `poll` and detaches before returning.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::context::Context;

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
        let _guard = this.cx.clone().attach();
        this.inner.poll(task)
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
