//! Where the worker hands its batches.

/// The receiver of a [`Batcher`](crate::Batcher)'s batches, called on the worker thread only.
///
/// Any `FnMut(&mut Vec<T>) + Send + 'static` closure is a sink; implement the trait on a type
/// when you also want to hear about flushes and the shutdown.
///
/// A sink that panics does not stop the worker: the panic is caught, the items of that batch
/// are counted in [`Counts::dropped_sink_panic`](crate::Counts::dropped_sink_panic) and the
/// next batch goes to the same sink, which must therefore stay usable after a panic.
pub trait Sink<T>: Send + 'static {
    /// Receives one batch: never empty, at most `max_batch` items, oldest first.
    ///
    /// The sink may take items out of the vector (`drain(..)`, `mem::take`) or leave them; the
    /// worker clears it afterwards and reuses its allocation for the next batch.
    fn export(&mut self, batch: &mut Vec<T>);

    /// Called by the worker once every item a
    /// [`force_flush`](crate::Batcher::force_flush) asked for has gone through
    /// [`export`](Self::export), before that call returns. Does nothing by default.
    fn flush(&mut self) {}

    /// Called once, after the last batch, when the batcher shuts down. Does nothing by default;
    /// the sink is dropped on the worker thread right after.
    fn shutdown(&mut self) {}
}

impl<T, F> Sink<T> for F
where
    F: FnMut(&mut Vec<T>) + Send + 'static,
{
    fn export(&mut self, batch: &mut Vec<T>) {
        self(batch);
    }
}
