//! The attributes of a log record, kept inline up to a handful.
//!
//! A record is built on the emitting thread and dropped on the export worker's thread. A
//! `Vec` of attributes would be allocated on one and freed on the other, and glibc's malloc
//! then takes the producer's arena lock on every free: the two threads contend on it for
//! every record. Records with at most [`INLINE_ATTRIBUTES`] attributes (the common case)
//! keep them inside the record and allocate nothing.

use std::fmt;
use std::ops::{Deref, DerefMut};

use telemetry_core::{KeyValue, StringValue, Value};

/// How many attributes a [`LogAttributes`] holds without allocating. More move them all to
/// the heap.
pub const INLINE_ATTRIBUTES: usize = 4;

/// What fills the unused inline slots: dropping or cloning it costs nothing.
const VACANT: KeyValue = KeyValue {
    key: StringValue::from_static(""),
    value: Value::Empty,
};

/// A log record's attributes, in order: a list of [`KeyValue`] that keeps up to
/// [`INLINE_ATTRIBUTES`] of them without a heap allocation.
///
/// It dereferences to `[KeyValue]` (so `len`, `iter`, indexing and `iter_mut` work as on a
/// `Vec`), and is built like one: [`push`](Self::push), [`Extend`], [`FromIterator`],
/// `From<Vec<KeyValue>>`. Two lists are equal when their attributes are, however they are
/// stored.
#[derive(Clone)]
pub struct LogAttributes(Repr);

#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "the inline variant is the point: boxing it would bring back the allocation"
)]
enum Repr {
    /// The first `len` slots are attributes; the rest are [`VACANT`].
    Inline {
        len: u8,
        slots: [KeyValue; INLINE_ATTRIBUTES],
    },
    Heap(Vec<KeyValue>),
}

impl LogAttributes {
    /// An empty list; allocates nothing.
    #[inline]
    pub const fn new() -> Self {
        LogAttributes(Repr::Inline {
            len: 0,
            slots: [VACANT; INLINE_ATTRIBUTES],
        })
    }

    /// Appends `attribute`; allocates only when the inline slots are full.
    #[inline(always)]
    pub fn push(&mut self, attribute: KeyValue) {
        match &mut self.0 {
            Repr::Inline { len, slots } => match slots.get_mut(usize::from(*len)) {
                Some(slot) => {
                    // The slot holds `VACANT`, which owns nothing: forgetting it skips the
                    // drop glue's checks on the hot path, and leaks nothing.
                    #[allow(clippy::mem_forget, reason = "VACANT owns no memory")]
                    std::mem::forget(std::mem::replace(slot, attribute));
                    *len += 1;
                }
                None => self.spill(attribute),
            },
            Repr::Heap(attributes) => attributes.push(attribute),
        }
    }

    /// Moves the full inline slots to the heap, with `attribute` after them.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, attribute: KeyValue) {
        let mut attributes = Vec::with_capacity(INLINE_ATTRIBUTES * 2);
        attributes.extend(std::mem::take(self));
        attributes.push(attribute);
        self.0 = Repr::Heap(attributes);
    }

    /// Keeps the first `len` attributes, dropping the rest.
    pub fn truncate(&mut self, len: usize) {
        match &mut self.0 {
            Repr::Inline { len: held, slots } => {
                let held_now = usize::from(*held);
                if len < held_now {
                    for slot in &mut slots[len..held_now] {
                        *slot = VACANT;
                    }
                    // `len < held_now <= INLINE_ATTRIBUTES`, so it fits.
                    *held = u8::try_from(len).unwrap_or(u8::MAX);
                }
            }
            Repr::Heap(attributes) => attributes.truncate(len),
        }
    }

    /// Removes every attribute.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps the attributes for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&KeyValue) -> bool) {
        let mut kept = 0;
        for i in 0..self.len() {
            if keep(&self[i]) {
                self.swap(kept, i);
                kept += 1;
            }
        }
        self.truncate(kept);
    }

    /// How many attributes the heap allocation has room for: 0 while they are inline. For
    /// callers that account for memory.
    pub fn heap_capacity(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(attributes) => attributes.capacity(),
        }
    }

    /// The attributes as a `Vec` (allocates when they were inline).
    pub fn into_vec(self) -> Vec<KeyValue> {
        match self.0 {
            Repr::Heap(attributes) => attributes,
            Repr::Inline { .. } => self.into_iter().collect(),
        }
    }
}

impl Default for LogAttributes {
    #[inline]
    fn default() -> Self {
        LogAttributes::new()
    }
}

impl Deref for LogAttributes {
    type Target = [KeyValue];

    #[inline]
    fn deref(&self) -> &[KeyValue] {
        match &self.0 {
            Repr::Inline { len, slots } => &slots[..usize::from(*len)],
            Repr::Heap(attributes) => attributes,
        }
    }
}

impl DerefMut for LogAttributes {
    #[inline]
    fn deref_mut(&mut self) -> &mut [KeyValue] {
        match &mut self.0 {
            Repr::Inline { len, slots } => &mut slots[..usize::from(*len)],
            Repr::Heap(attributes) => attributes,
        }
    }
}

impl AsRef<[KeyValue]> for LogAttributes {
    fn as_ref(&self) -> &[KeyValue] {
        self
    }
}

impl fmt::Debug for LogAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for LogAttributes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<[KeyValue]> for LogAttributes {
    fn eq(&self, other: &[KeyValue]) -> bool {
        **self == *other
    }
}

impl PartialEq<Vec<KeyValue>> for LogAttributes {
    fn eq(&self, other: &Vec<KeyValue>) -> bool {
        **self == **other
    }
}

impl<const N: usize> PartialEq<[KeyValue; N]> for LogAttributes {
    fn eq(&self, other: &[KeyValue; N]) -> bool {
        **self == other[..]
    }
}

impl Extend<KeyValue> for LogAttributes {
    fn extend<I: IntoIterator<Item = KeyValue>>(&mut self, attributes: I) {
        for attribute in attributes {
            self.push(attribute);
        }
    }
}

impl FromIterator<KeyValue> for LogAttributes {
    fn from_iter<I: IntoIterator<Item = KeyValue>>(attributes: I) -> Self {
        let mut list = LogAttributes::new();
        list.extend(attributes);
        list
    }
}

impl From<Vec<KeyValue>> for LogAttributes {
    /// Keeps the vector's allocation (no copy) when it has one.
    fn from(attributes: Vec<KeyValue>) -> Self {
        if attributes.capacity() == 0 {
            LogAttributes::new()
        } else {
            LogAttributes(Repr::Heap(attributes))
        }
    }
}

impl<const N: usize> From<[KeyValue; N]> for LogAttributes {
    fn from(attributes: [KeyValue; N]) -> Self {
        attributes.into_iter().collect()
    }
}

impl From<LogAttributes> for Vec<KeyValue> {
    fn from(attributes: LogAttributes) -> Self {
        attributes.into_vec()
    }
}

/// The owning iterator of a [`LogAttributes`].
#[derive(Debug)]
pub struct AttributesIntoIter(IterRepr);

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "moves the inline slots out as they are, like the list it came from"
)]
enum IterRepr {
    Inline(std::iter::Take<std::array::IntoIter<KeyValue, INLINE_ATTRIBUTES>>),
    Heap(std::vec::IntoIter<KeyValue>),
}

impl Iterator for AttributesIntoIter {
    type Item = KeyValue;

    #[inline]
    fn next(&mut self) -> Option<KeyValue> {
        match &mut self.0 {
            IterRepr::Inline(slots) => slots.next(),
            IterRepr::Heap(attributes) => attributes.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Inline(slots) => slots.size_hint(),
            IterRepr::Heap(attributes) => attributes.size_hint(),
        }
    }
}

impl ExactSizeIterator for AttributesIntoIter {}

impl IntoIterator for LogAttributes {
    type Item = KeyValue;
    type IntoIter = AttributesIntoIter;

    fn into_iter(self) -> AttributesIntoIter {
        AttributesIntoIter(match self.0 {
            Repr::Inline { len, slots } => {
                IterRepr::Inline(slots.into_iter().take(usize::from(len)))
            }
            Repr::Heap(attributes) => IterRepr::Heap(attributes.into_iter()),
        })
    }
}

impl<'a> IntoIterator for &'a LogAttributes {
    type Item = &'a KeyValue;
    type IntoIter = std::slice::Iter<'a, KeyValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut LogAttributes {
    type Item = &'a mut KeyValue;
    type IntoIter = std::slice::IterMut<'a, KeyValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Vec<KeyValue> {
        (0..n)
            .map(|i| KeyValue::new(format!("k{i}"), i64::try_from(i).unwrap_or(i64::MAX)))
            .collect()
    }

    #[test]
    fn holds_what_a_vec_holds_inline_and_past_the_inline_slots() {
        for n in [
            0,
            1,
            INLINE_ATTRIBUTES,
            INLINE_ATTRIBUTES + 1,
            3 * INLINE_ATTRIBUTES,
        ] {
            let expected = numbered(n);
            let mut pushed = LogAttributes::new();
            for kv in expected.iter().cloned() {
                pushed.push(kv);
            }
            assert_eq!(pushed, expected, "{n}");
            assert_eq!(pushed.len(), n);
            assert_eq!(pushed.heap_capacity() == 0, n <= INLINE_ATTRIBUTES, "{n}");
            assert_eq!(
                matches!(pushed.0, Repr::Inline { .. }),
                n <= INLINE_ATTRIBUTES,
                "{n}: inline exactly while it fits"
            );
            let collected: LogAttributes = expected.iter().cloned().collect();
            assert_eq!(collected, pushed);
            assert_eq!(LogAttributes::from(expected.clone()), pushed);
            assert_eq!(pushed.clone().into_vec(), expected);
            assert_eq!(pushed.clone().into_iter().len(), n);
            assert_eq!(pushed.iter().count(), n);
            assert_eq!(format!("{pushed:?}"), format!("{expected:?}"));
        }
        assert_ne!(
            LogAttributes::from(numbered(2)),
            LogAttributes::from(numbered(3))
        );
    }

    #[test]
    fn truncate_retain_and_mutation() {
        for n in [3, INLINE_ATTRIBUTES + 3] {
            let mut list = LogAttributes::from(numbered(n));
            list.retain(|kv| kv.value.as_i64().is_some_and(|v| v % 2 == 0));
            let evens: Vec<KeyValue> = numbered(n).into_iter().step_by(2).collect();
            assert_eq!(list, evens, "{n}");
            list.truncate(1);
            assert_eq!(list, [KeyValue::new("k0", 0i64)]);
            list[0].value = Value::Bool(true);
            list.extend([KeyValue::new("x", "y")]);
            assert_eq!(list, [KeyValue::new("k0", true), KeyValue::new("x", "y")]);
            list.clear();
            assert!(list.is_empty());
        }
        // Slots freed by truncate are reused by later pushes.
        let mut list = LogAttributes::from_iter(numbered(INLINE_ATTRIBUTES));
        list.truncate(0);
        list.extend(numbered(INLINE_ATTRIBUTES));
        assert!(matches!(list.0, Repr::Inline { .. }));
        assert_eq!(list, numbered(INLINE_ATTRIBUTES));
    }
}
