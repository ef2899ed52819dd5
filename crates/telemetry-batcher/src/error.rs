//! The crate's error types: one per kind of call that can fail.

use std::fmt;
use std::io;
use std::time::Duration;

/// A push that did not enqueue its item; the item comes back inside.
///
/// [`RingBuffer::push`](crate::RingBuffer::push) returns either variant;
/// [`Batcher::push`](crate::Batcher::push) returns only [`Closed`](Self::Closed), since the
/// batcher applies its [`OverflowPolicy`](crate::OverflowPolicy) to a full buffer itself.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError<T> {
    /// The buffer was full.
    Full(T),
    /// The buffer was closed (the batcher was shut down).
    Closed(T),
}

impl<T> PushError<T> {
    /// The item that was not enqueued.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

// Hand-written so that `T` needs no `Debug` (and is not printed).
impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the ring buffer is full"),
            Self::Closed(_) => f.write_str("the ring buffer is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// A [`force_flush`](crate::Batcher::force_flush) or [`shutdown`](crate::Batcher::shutdown)
/// that could not confirm its work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed first. The worker goes on; the items are not lost, only late.
    Timeout {
        /// The timeout the call was given.
        timeout: Duration,
    },
    /// The batcher was already shut down, so there is nothing left to flush.
    ShutDown,
    /// The worker thread died (a panic outside the sink, which catches its own); the items
    /// still queued will not be exported.
    WorkerDied,
    /// A flush met a transient failure ([`Outcome::Retry`](crate::Outcome::Retry)): the
    /// worker stopped trying for this flush. Nothing is lost: the undelivered items stay
    /// queued and are retried after a backoff.
    Undelivered {
        /// Items accepted and not yet exported or dropped when the flush gave up.
        queued: u64,
    },
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { timeout } => {
                write!(f, "the batcher did not finish within {timeout:?}")
            }
            Self::ShutDown => f.write_str("the batcher is shut down"),
            Self::WorkerDied => f.write_str("the batcher's worker thread died"),
            Self::Undelivered { queued } => write!(
                f,
                "the sink could not deliver for now; {queued} items stay queued for a retry"
            ),
        }
    }
}

impl std::error::Error for FlushError {}

/// A [`RingBuffer`](crate::RingBuffer) or [`Batcher`](crate::Batcher) that could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The capacity was zero.
    ZeroCapacity,
    /// The capacity, rounded up to a power of two, exceeds
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
    },
    /// The maximum batch size was zero.
    ZeroMaxBatch,
    /// The worker thread could not be started.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str("the capacity must be at least 1"),
            Self::CapacityTooLarge { requested } => write!(
                f,
                "a capacity of {requested} exceeds the maximum of {}",
                crate::MAX_CAPACITY
            ),
            Self::ZeroMaxBatch => f.write_str("the maximum batch size must be at least 1"),
            Self::Spawn(_) => f.write_str("could not start the batcher's worker thread"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(PushError::Full(1).to_string(), "the ring buffer is full");
        assert_eq!(format!("{:?}", PushError::Closed(1)), "Closed(..)");
        assert_eq!(PushError::Closed(7).into_inner(), 7);
        assert_eq!(
            FlushError::Timeout {
                timeout: Duration::from_millis(5)
            }
            .to_string(),
            "the batcher did not finish within 5ms"
        );
        assert_eq!(
            FlushError::Undelivered { queued: 3 }.to_string(),
            "the sink could not deliver for now; 3 items stay queued for a retry"
        );
        assert_eq!(
            BuildError::CapacityTooLarge { requested: 3 }.to_string(),
            format!(
                "a capacity of 3 exceeds the maximum of {}",
                crate::MAX_CAPACITY
            )
        );
        let spawn = BuildError::Spawn(io::Error::other("no threads"));
        assert!(std::error::Error::source(&spawn).is_some());
    }
}
