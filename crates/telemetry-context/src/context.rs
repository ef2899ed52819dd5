//! The immutable execution context and the thread's current one.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::baggage::Baggage;
use crate::span_context::SpanContext;

/// An immutable bag of what flows with a unit of work: the active span's context, baggage,
/// and values of any type keyed by that type.
///
/// Every change returns a new `Context`. The common cases allocate nothing: the empty
/// context, and a context holding only the active span (what entering a span or extracting
/// a `traceparent` makes). Baggage or typed values move the fields behind one `Arc`, so
/// cloning stays a reference-count increment.
#[derive(Clone, Default)]
pub struct Context {
    inner: Inner,
}

#[derive(Clone, Default)]
enum Inner {
    #[default]
    Empty,
    /// Only an active span: its context and, for spans of this process, its handle.
    Span {
        span_context: SpanContext,
        /// The active span's own object, owned by the span crate.
        handle: Option<Arc<dyn Any + Send + Sync>>,
    },
    /// Anything more.
    Full(Arc<Fields>),
}

#[derive(Clone, Default)]
struct Fields {
    span_context: Option<SpanContext>,
    active_span: Option<Arc<dyn Any + Send + Sync>>,
    baggage: Baggage,
    values: Vec<(TypeId, Arc<dyn Any + Send + Sync>)>,
}

impl Fields {
    /// True when nothing but the span is set, so the context fits [`Inner::Span`].
    fn only_span(&self) -> bool {
        self.baggage.is_empty() && self.values.is_empty()
    }
}

impl Context {
    /// The empty context.
    pub const fn new() -> Self {
        Context {
            inner: Inner::Empty,
        }
    }

    /// Whether this thread's current context carries a span context: one thread-local byte,
    /// read inline by the caller. For hot paths that only need to know whether to look
    /// further (a metric's exemplar filter, outside any span, stops here).
    #[inline]
    pub fn current_has_span() -> bool {
        CURRENT.get() & CURRENT_HAS_SPAN != 0
    }

    /// A clone of this thread's current context (the empty one if none is attached).
    pub fn current() -> Self {
        // Outside any attached context (most log records, every root span) one plain
        // thread-local read answers.
        if CURRENT.get() == CURRENT_EMPTY {
            return Context::new();
        }
        // `try_with`: during thread teardown the stack may already be gone. No borrow of the
        // stack is ever held while user code runs, so `try_borrow` fails only in that case.
        STACK
            .try_with(|stack| {
                stack
                    .try_borrow()
                    .map(|stack| stack.current().clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// A clone of the span context of this thread's current context, if it has one.
    ///
    /// Cheaper than `Context::current().span_context().cloned()`: it clones no shared state
    /// but the trace state, so a tracer deciding whether to record pays no reference counts.
    pub fn current_span_context() -> Option<SpanContext> {
        // Most measurements and log records happen outside any span: one plain thread-local
        // read answers them without the stack's registration check and borrow.
        if CURRENT.get() & CURRENT_HAS_SPAN == 0 {
            return None;
        }
        STACK
            .try_with(|stack| {
                stack
                    .try_borrow()
                    .ok()
                    .and_then(|stack| stack.current().span_context().cloned())
            })
            .ok()
            .flatten()
    }

    /// Runs `f` on this thread's current context.
    pub fn map_current<R>(f: impl FnOnce(&Context) -> R) -> R {
        f(&Self::current())
    }

    fn fields(&self) -> Fields {
        match &self.inner {
            Inner::Empty => Fields::default(),
            Inner::Span {
                span_context,
                handle,
            } => Fields {
                span_context: Some(span_context.clone()),
                active_span: handle.clone(),
                ..Fields::default()
            },
            Inner::Full(fields) => (**fields).clone(),
        }
    }

    fn from_fields(fields: Fields) -> Context {
        let inner = match fields {
            Fields {
                span_context: None,
                active_span: None,
                ..
            } if fields.only_span() => Inner::Empty,
            Fields {
                span_context: Some(span_context),
                active_span: handle,
                ..
            } if fields.only_span() => Inner::Span {
                span_context,
                handle,
            },
            fields => Inner::Full(Arc::new(fields)),
        };
        Context { inner }
    }

    /// The span context of the active span, if any.
    pub fn span_context(&self) -> Option<&SpanContext> {
        match &self.inner {
            Inner::Empty => None,
            Inner::Span { span_context, .. } => Some(span_context),
            Inner::Full(fields) => fields.span_context.as_ref(),
        }
    }

    fn with_span(
        &self,
        span_context: SpanContext,
        handle: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Context {
        match &self.inner {
            Inner::Full(fields) if !fields.only_span() => {
                let mut fields = (**fields).clone();
                fields.span_context = Some(span_context);
                fields.active_span = handle;
                Context {
                    inner: Inner::Full(Arc::new(fields)),
                }
            }
            _ => Context {
                inner: Inner::Span {
                    span_context,
                    handle,
                },
            },
        }
    }

    /// A copy whose active span context is `span_context` (a span of another process, or one
    /// without a handle); any earlier span handle is removed.
    #[must_use]
    pub fn with_span_context(&self, span_context: SpanContext) -> Context {
        self.with_span(span_context, None)
    }

    /// A copy whose active span is `span_context`, with `handle` as the span's own
    /// object (for the span crate, so that the current span can be reached and changed).
    #[must_use]
    pub fn with_active_span(
        &self,
        span_context: SpanContext,
        handle: Arc<dyn Any + Send + Sync>,
    ) -> Context {
        self.with_span(span_context, Some(handle))
    }

    /// The handle stored by [`Context::with_active_span`], if the active span came with one.
    pub fn active_span(&self) -> Option<&Arc<dyn Any + Send + Sync>> {
        match &self.inner {
            Inner::Empty => None,
            Inner::Span { handle, .. } => handle.as_ref(),
            Inner::Full(fields) => fields.active_span.as_ref(),
        }
    }

    /// The baggage.
    pub fn baggage(&self) -> &Baggage {
        match &self.inner {
            Inner::Full(fields) => &fields.baggage,
            _ => &Baggage::EMPTY,
        }
    }

    /// A copy with `baggage`.
    #[must_use]
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        let mut fields = self.fields();
        fields.baggage = baggage;
        Self::from_fields(fields)
    }

    /// The value of type `T`, if one was set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let Inner::Full(fields) = &self.inner else {
            return None;
        };
        let (_, value) = fields
            .values
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())?;
        value.downcast_ref::<T>()
    }

    /// A copy holding `value`, replacing any earlier value of the same type. Use a newtype
    /// per key: two keys are distinct exactly when their types are.
    #[must_use]
    pub fn with_value<T: Any + Send + Sync>(&self, value: T) -> Context {
        let mut fields = self.fields();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match fields
            .values
            .iter_mut()
            .find(|(id, _)| *id == TypeId::of::<T>())
        {
            Some(slot) => slot.1 = value,
            None => fields.values.push((TypeId::of::<T>(), value)),
        }
        Self::from_fields(fields)
    }

    /// Makes this the thread's current context until the guard drops.
    ///
    /// Guards may drop in any order: a guard dropped early is remembered, and the current
    /// context is always the newest one still attached.
    pub fn attach(self) -> ContextGuard {
        let (position, id) = STACK
            .try_with(|stack| {
                stack
                    .try_borrow_mut()
                    .map(|mut stack| stack.push(self))
                    .ok()
            })
            .ok()
            .flatten()
            .unwrap_or((usize::MAX, 0));
        ContextGuard {
            position,
            id,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this context current, then restores the previous one. Handy for moving
    /// a context into a spawned thread.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("span_context", &self.span_context())
            .field("baggage", self.baggage())
            .field(
                "values",
                &match &self.inner {
                    Inner::Full(fields) => fields.values.len(),
                    _ => 0,
                },
            )
            .finish()
    }
}

/// Restores the previous current context when dropped. Not `Send`: it belongs to the thread
/// that attached it.
#[must_use = "the context is detached as soon as the guard drops"]
pub struct ContextGuard {
    position: usize,
    /// The entry's id: a guard that outlived its entry (see [`truncate_stack`]) must not
    /// detach whatever later took its position.
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard")
            .field("position", &self.position)
            .finish()
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        // `usize::MAX`: never attached (or already detached); nothing to restore.
        if self.position == usize::MAX {
            return;
        }
        // `try_with`: during thread teardown the stack may already be gone, and there is
        // nothing left to restore.
        let _ = STACK.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.detach(self.position, self.id);
            }
        });
    }
}

thread_local! {
    static STACK: RefCell<ContextStack> = const {
        RefCell::new(ContextStack { entries: Vec::new(), next_id: 1 })
    };
    /// What the top of this thread's stack holds ([`CURRENT_EMPTY`], or [`CURRENT_SET`] with
    /// [`CURRENT_HAS_SPAN`] when it carries a span context), kept by every change of the stack
    /// (`ContextStack::changed`). A `Cell<u8>` needs no destructor, so reading it skips the
    /// registration check a thread-local with one (`STACK`) pays on every access.
    static CURRENT: Cell<u8> = const { Cell::new(CURRENT_EMPTY) };
}

/// [`CURRENT`]: the current context is the empty one.
const CURRENT_EMPTY: u8 = 0;
/// [`CURRENT`]: the current context holds something.
const CURRENT_SET: u8 = 1;
/// [`CURRENT`]: the current context holds a span context.
const CURRENT_HAS_SPAN: u8 = 2;

/// Attached contexts, oldest first. `None` marks a guard that was dropped while newer ones
/// were still attached; such holes are removed as soon as they reach the top, so the top is
/// always a live context.
struct ContextStack {
    entries: Vec<Option<Entry>>,
    /// The id of the next entry; ids are never reused on a thread.
    next_id: u64,
}

struct Entry {
    id: u64,
    cx: Context,
}

static EMPTY: Context = Context::new();

impl ContextStack {
    fn current(&self) -> &Context {
        match self.entries.last() {
            Some(Some(entry)) => &entry.cx,
            _ => &EMPTY,
        }
    }

    fn push(&mut self, cx: Context) -> (usize, u64) {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Some(Entry { id, cx }));
        self.changed();
        (self.entries.len() - 1, id)
    }

    fn detach(&mut self, position: usize, id: u64) {
        if let Some(slot) = self.entries.get_mut(position)
            && slot.as_ref().is_some_and(|entry| entry.id == id)
        {
            *slot = None;
        }
        while let Some(None) = self.entries.last() {
            self.entries.pop();
        }
        self.changed();
    }

    /// Keeps [`CURRENT`] in step with the top of the stack; called after every change of
    /// `entries`.
    fn changed(&self) {
        let current = self.current();
        CURRENT.set(match (&current.inner, current.span_context().is_some()) {
            (Inner::Empty, _) => CURRENT_EMPTY,
            (_, true) => CURRENT_SET | CURRENT_HAS_SPAN,
            (_, false) => CURRENT_SET,
        });
    }
}

impl ContextGuard {
    /// Detaches this guard's context and every context attached above it; true if there was
    /// any above. A future that holds a [`ContextGuard`] across `.await` leaves its context
    /// attached when its `poll` returns, where it would become the current context of
    /// whatever runs next on the thread: [`WithContext`](crate::WithContext) ends each poll
    /// with this instead of a plain drop. The stale guard, when it finally drops, finds its
    /// entry gone (ids differ) and detaches nothing.
    pub(crate) fn detach_with_leaks(mut self) -> bool {
        // Everything the drop would do happens below, in one borrow of the stack; the
        // sentinel position makes the drop itself a no-op.
        let position = std::mem::replace(&mut self.position, usize::MAX);
        STACK
            .try_with(|stack| {
                stack.try_borrow_mut().is_ok_and(|mut stack| {
                    let leaked = stack.entries.len() > position.saturating_add(1);
                    stack.entries.truncate(position);
                    while let Some(None) = stack.entries.last() {
                        stack.entries.pop();
                    }
                    stack.changed();
                    leaked
                })
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanContext, TraceFlags, TraceState};
    use telemetry_core::{SpanId, TraceId};

    fn span(n: u64) -> SpanContext {
        SpanContext::new(
            TraceId::from_int(1),
            SpanId::from_int(n),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        )
    }

    fn current_span() -> Option<u64> {
        Context::map_current(|cx| cx.span_context().map(|sc| sc.span_id().to_int()))
    }

    /// The fast paths of `current` and `current_span_context` agree with the stack after
    /// every kind of change.
    #[test]
    fn the_current_flags_follow_the_stack() {
        let agree = || {
            let slow = STACK.with(|stack| stack.borrow().current().clone());
            assert_eq!(Context::current().span_context(), slow.span_context());
            assert_eq!(Context::current().baggage(), slow.baggage());
            assert_eq!(
                Context::current_span_context(),
                slow.span_context().cloned()
            );
        };
        agree();
        let outer = Context::new().with_span_context(span(1)).attach();
        agree();
        let empty = Context::new().attach();
        assert_eq!(
            Context::current_span_context(),
            None,
            "an empty context on top"
        );
        agree();
        let valued = Context::new().with_value(UserId(7)).attach();
        assert_eq!(Context::current().get::<UserId>(), Some(&UserId(7)));
        agree();
        drop(valued);
        let inner = Context::new().with_span_context(span(2)).attach();
        agree();
        // Out of order: the empty one's guard first, then the top.
        drop(empty);
        agree();
        drop(inner);
        assert_eq!(
            Context::current_span_context().map(|sc| sc.span_id().to_int()),
            Some(1)
        );
        drop(outer);
        assert_eq!(Context::current_span_context(), None);
        // Detaching with leaks (what `WithContext` does at the end of a poll).
        let base = Context::new().with_span_context(span(3)).attach();
        let leaked = Context::new().with_span_context(span(4)).attach();
        assert!(base.detach_with_leaks());
        agree();
        assert_eq!(Context::current_span_context(), None);
        // The stale guard finds its entry gone and changes nothing.
        drop(leaked);
        agree();
        assert_eq!(Context::current_span_context(), None);
    }

    #[derive(Debug, PartialEq)]
    struct UserId(u32);
    #[derive(Debug, PartialEq)]
    struct Other(u32);

    #[test]
    fn values_are_keyed_by_type_and_immutable() {
        let base = Context::new().with_value(UserId(1));
        let changed = base.with_value(UserId(2)).with_value(Other(3));
        assert_eq!(base.get::<UserId>(), Some(&UserId(1)));
        assert_eq!(changed.get::<UserId>(), Some(&UserId(2)));
        assert_eq!(changed.get::<Other>(), Some(&Other(3)));
        assert_eq!(base.get::<Other>(), None);
        assert!(format!("{changed:?}").contains("values: 2"));
    }

    #[test]
    fn active_span_handles_travel_with_their_span_context() {
        let handle: Arc<dyn Any + Send + Sync> = Arc::new(UserId(9));
        let cx = Context::new().with_active_span(span(1), handle);
        assert_eq!(
            cx.active_span().and_then(|h| h.downcast_ref::<UserId>()),
            Some(&UserId(9))
        );
        let remote = cx.with_span_context(span(2));
        assert!(
            remote.active_span().is_none(),
            "a new span context drops the old handle"
        );
        assert!(Context::new().active_span().is_none());
    }

    #[test]
    fn current_span_context_reads_the_top_of_the_stack() {
        assert_eq!(Context::current_span_context(), None);
        assert!(!Context::current_has_span());
        let with_baggage = Context::new()
            .with_span_context(span(4))
            .with_value(UserId(1))
            .attach();
        assert_eq!(
            Context::current_span_context().map(|sc| sc.span_id().to_int()),
            Some(4)
        );
        assert!(Context::current_has_span());
        let without_span = Context::new().with_value(Other(2)).attach();
        assert_eq!(Context::current_span_context(), None);
        assert!(!Context::current_has_span());
        drop(without_span);
        assert!(Context::current_has_span());
        drop(with_baggage);
        assert_eq!(Context::current_span_context(), None);
        assert!(!Context::current_has_span());
    }

    #[test]
    fn guards_restore_in_order() {
        assert_eq!(current_span(), None);
        let outer = Context::new().with_span_context(span(1)).attach();
        assert_eq!(current_span(), Some(1));
        {
            let _inner = Context::current().with_span_context(span(2)).attach();
            assert_eq!(current_span(), Some(2));
        }
        assert_eq!(current_span(), Some(1));
        drop(outer);
        assert_eq!(current_span(), None);
    }

    #[test]
    fn out_of_order_drops_do_not_corrupt_the_stack() {
        let a = Context::new().with_span_context(span(1)).attach();
        let b = Context::new().with_span_context(span(2)).attach();
        let c = Context::new().with_span_context(span(3)).attach();
        drop(b);
        assert_eq!(
            current_span(),
            Some(3),
            "dropping a middle guard keeps the newest"
        );
        drop(c);
        assert_eq!(current_span(), Some(1), "the dropped middle one is skipped");
        let d = Context::new().with_span_context(span(4)).attach();
        drop(a);
        assert_eq!(current_span(), Some(4));
        drop(d);
        assert_eq!(current_span(), None);
    }

    #[test]
    fn run_scopes_a_context_to_a_closure_on_another_thread() {
        let cx = Context::new().with_span_context(span(7));
        let seen = std::thread::spawn(move || cx.run(current_span))
            .join()
            .expect("thread");
        assert_eq!(seen, Some(7));
        assert_eq!(current_span(), None, "nothing leaked into this thread");
    }

    #[test]
    fn baggage_rides_along() -> Result<(), crate::BaggageError> {
        let cx = Context::new()
            .with_baggage(Baggage::EMPTY.insert("k", "v")?)
            .with_span_context(span(1));
        assert_eq!(cx.baggage().get("k"), Some("v"));
        assert!(Context::new().baggage().is_empty());
        Ok(())
    }
}
