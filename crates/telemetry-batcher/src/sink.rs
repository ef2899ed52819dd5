//! Where the worker hands its batches, and what the sink says happened to them.

/// The receiver of a [`Batcher`](crate::Batcher)'s batches, called on the worker thread only.
///
/// Any `FnMut(&mut Vec<T>) + Send + 'static` closure is a sink whose every batch is
/// [`Outcome::Exported`]; implement the trait on a type when you also want to report failures
/// or hear about flushes and the shutdown.
///
/// A sink that panics does not stop the worker: the panic is caught, the items of that batch
/// are counted in [`Counts::dropped_sink_panic`](crate::Counts::dropped_sink_panic) and the
/// next batch goes to the same sink, which must therefore stay usable after a panic.
pub trait Sink<T>: Send + 'static {
    /// Receives one batch: never empty, at most `max_batch` items, oldest first, and says what
    /// became of it.
    ///
    /// For [`Outcome::Exported`] and [`Outcome::Failed`] the sink may take items out of the
    /// vector (`drain(..)`, `mem::take`) or leave them; the worker clears it afterwards and
    /// reuses its allocation. For [`Outcome::Retry`] the sink must leave the items it wants
    /// back: the worker keeps what is left in the vector and hands it over again later (any
    /// it took are counted as [`dropped_export_failed`](crate::Counts::dropped_export_failed)).
    fn export(&mut self, batch: &mut Vec<T>) -> Outcome;

    /// Called by the worker once every item a
    /// [`force_flush`](crate::Batcher::force_flush) asked for has gone through
    /// [`export`](Self::export), before that call returns. Does nothing by default.
    fn flush(&mut self) {}

    /// Called once, after the last batch, when the batcher shuts down. Does nothing by default;
    /// the sink is dropped on the worker thread right after.
    fn shutdown(&mut self) {}
}

/// What became of a batch handed to [`Sink::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Delivered; counted in [`Counts::exported`](crate::Counts::exported).
    Exported,
    /// Not delivered, for a reason that may pass (the destination is unreachable or timed
    /// out): the worker keeps the batch at the head of the queue and tries it again after a
    /// backoff (see [`BatcherBuilder::max_retry_delay`](crate::BatcherBuilder::max_retry_delay)),
    /// while producers go on filling the buffer.
    Retry,
    /// Not delivered, and trying again is useless (the destination rejected it): dropped and
    /// counted in [`Counts::dropped_export_failed`](crate::Counts::dropped_export_failed).
    Failed,
}

impl<T, F> Sink<T> for F
where
    F: FnMut(&mut Vec<T>) + Send + 'static,
{
    fn export(&mut self, batch: &mut Vec<T>) -> Outcome {
        self(batch);
        Outcome::Exported
    }
}
