//! The immutable execution context and the thread's current one.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::baggage::Baggage;
use crate::span_context::SpanContext;

/// An immutable bag of what flows with a unit of work: the active span's context, baggage,
/// and values of any type keyed by that type.
///
/// Every change returns a new `Context`; cloning is one reference-count increment, and the
/// empty context allocates nothing.
#[derive(Clone, Default)]
pub struct Context {
    inner: Option<Arc<Fields>>,
}

#[derive(Clone, Default)]
struct Fields {
    span_context: Option<SpanContext>,
    baggage: Baggage,
    values: Vec<(TypeId, Arc<dyn Any + Send + Sync>)>,
}

impl Context {
    /// The empty context.
    pub const fn new() -> Self {
        Context { inner: None }
    }

    /// A clone of this thread's current context (the empty one if none is attached).
    pub fn current() -> Self {
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

    /// Runs `f` on this thread's current context.
    pub fn map_current<R>(f: impl FnOnce(&Context) -> R) -> R {
        f(&Self::current())
    }

    fn fields(&self) -> Fields {
        self.inner.as_deref().cloned().unwrap_or_default()
    }

    /// The span context of the active span, if any.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.inner
            .as_ref()
            .and_then(|fields| fields.span_context.as_ref())
    }

    /// A copy whose active span context is `span_context`.
    #[must_use]
    pub fn with_span_context(&self, span_context: SpanContext) -> Context {
        let mut fields = self.fields();
        fields.span_context = Some(span_context);
        Context {
            inner: Some(Arc::new(fields)),
        }
    }

    /// The baggage.
    pub fn baggage(&self) -> &Baggage {
        self.inner
            .as_ref()
            .map_or(&Baggage::EMPTY, |fields| &fields.baggage)
    }

    /// A copy with `baggage`.
    #[must_use]
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        let mut fields = self.fields();
        fields.baggage = baggage;
        Context {
            inner: Some(Arc::new(fields)),
        }
    }

    /// The value of type `T`, if one was set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let fields = self.inner.as_ref()?;
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
        Context {
            inner: Some(Arc::new(fields)),
        }
    }

    /// Makes this the thread's current context until the guard drops.
    ///
    /// Guards may drop in any order: a guard dropped early is remembered, and the current
    /// context is always the newest one still attached.
    pub fn attach(self) -> ContextGuard {
        let position = STACK
            .try_with(|stack| {
                stack
                    .try_borrow_mut()
                    .map(|mut stack| stack.push(self))
                    .ok()
            })
            .ok()
            .flatten()
            .unwrap_or(usize::MAX);
        ContextGuard {
            position,
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
                &self.inner.as_ref().map_or(0, |fields| fields.values.len()),
            )
            .finish()
    }
}

/// Restores the previous current context when dropped. Not `Send`: it belongs to the thread
/// that attached it.
#[must_use = "the context is detached as soon as the guard drops"]
pub struct ContextGuard {
    position: usize,
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
        // `try_with`: during thread teardown the stack may already be gone, and there is
        // nothing left to restore.
        let _ = STACK.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.detach(self.position);
            }
        });
    }
}

thread_local! {
    static STACK: RefCell<ContextStack> = const { RefCell::new(ContextStack { entries: Vec::new() }) };
}

/// Attached contexts, oldest first. `None` marks a guard that was dropped while newer ones
/// were still attached; such holes are removed as soon as they reach the top, so the top is
/// always a live context.
struct ContextStack {
    entries: Vec<Option<Context>>,
}

static EMPTY: Context = Context::new();

impl ContextStack {
    fn current(&self) -> &Context {
        match self.entries.last() {
            Some(Some(cx)) => cx,
            _ => &EMPTY,
        }
    }

    fn push(&mut self, cx: Context) -> usize {
        self.entries.push(Some(cx));
        self.entries.len() - 1
    }

    fn detach(&mut self, position: usize) {
        if let Some(slot) = self.entries.get_mut(position) {
            *slot = None;
        }
        while let Some(None) = self.entries.last() {
            self.entries.pop();
        }
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
