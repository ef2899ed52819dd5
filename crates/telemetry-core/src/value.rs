//! Attribute keys and values: the OTLP `AnyValue` model.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable string that does not allocate for `&'static str` and clones cheaply when
/// shared.
///
/// Attribute keys and span names are static in almost all instrumented code, so keeping them
/// as `&'static str` removes an allocation from every span.
#[derive(Clone)]
pub struct StringValue(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Owned(Box<str>),
    Shared(Arc<str>),
}

impl StringValue {
    /// Wraps a static string without allocating.
    #[inline]
    pub const fn from_static(s: &'static str) -> Self {
        StringValue(Repr::Static(s))
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Owned(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// True when the string is static, so cloning and storing it costs nothing.
    #[inline]
    pub fn is_static(&self) -> bool {
        matches!(self.0, Repr::Static(_))
    }
}

impl Deref for StringValue {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for StringValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for StringValue {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for StringValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for StringValue {}

impl PartialOrd for StringValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StringValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for StringValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for StringValue {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StringValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for StringValue {
    #[inline]
    fn from(s: &'static str) -> Self {
        StringValue(Repr::Static(s))
    }
}

impl From<String> for StringValue {
    fn from(s: String) -> Self {
        StringValue(Repr::Owned(s.into_boxed_str()))
    }
}

impl From<Box<str>> for StringValue {
    fn from(s: Box<str>) -> Self {
        StringValue(Repr::Owned(s))
    }
}

impl From<Arc<str>> for StringValue {
    fn from(s: Arc<str>) -> Self {
        StringValue(Repr::Shared(s))
    }
}

impl From<std::borrow::Cow<'static, str>> for StringValue {
    fn from(s: std::borrow::Cow<'static, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => StringValue(Repr::Static(s)),
            std::borrow::Cow::Owned(s) => s.into(),
        }
    }
}

/// An attribute key: a non-empty, case-sensitive string.
pub type Key = StringValue;

/// An attribute value, as OTLP's `AnyValue` defines it.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// No value (OTLP's empty `AnyValue`).
    #[default]
    Empty,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A UTF-8 string.
    String(StringValue),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An ordered list of values, possibly of different types.
    Array(Vec<Value>),
    /// An ordered list of key-value pairs.
    Map(Vec<KeyValue>),
}

impl Value {
    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer, when the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The float, when the value is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The boolean, when the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The nesting depth: 0 for scalars, 1 + the deepest element for arrays and maps.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(values) => 1 + values.iter().map(Value::depth).max().unwrap_or(0),
            Value::Map(pairs) => 1 + pairs.iter().map(|kv| kv.value.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Writes the value the way a console exporter shows it: strings plain, bytes as hex,
/// arrays and maps in brackets.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Empty => Ok(()),
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(s) => f.write_str(s),
            Value::Bytes(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
            Value::Array(values) => {
                f.write_str("[")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, pair) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", pair.key, pair.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

macro_rules! value_from {
    ($($from:ty => |$v:ident| $to:expr),* $(,)?) => {
        $(impl From<$from> for Value {
            #[inline]
            fn from($v: $from) -> Self {
                $to
            }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(v.into()),
    u32 => |v| Value::I64(v.into()),
    u16 => |v| Value::I64(v.into()),
    u8 => |v| Value::I64(v.into()),
    f64 => |v| Value::F64(v),
    f32 => |v| Value::F64(v.into()),
    &'static str => |v| Value::String(v.into()),
    String => |v| Value::String(v.into()),
    Arc<str> => |v| Value::String(v.into()),
    StringValue => |v| Value::String(v),
    Vec<u8> => |v| Value::Bytes(v),
    Vec<Value> => |v| Value::Array(v),
    Vec<KeyValue> => |v| Value::Map(v),
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute's name.
    pub key: Key,
    /// The attribute's value.
    pub value: Value,
}

impl KeyValue {
    /// Pairs a key with a value; static strings are kept without allocating.
    #[inline]
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_strings_stay_static() {
        let kv = KeyValue::new("http.request.method", "GET");
        assert!(kv.key.is_static());
        assert_eq!(kv.value, Value::String(StringValue::from_static("GET")));
        let owned = KeyValue::new(String::from("k"), String::from("v"));
        assert!(!owned.key.is_static());
        assert_eq!(owned.key, "k");
    }

    #[test]
    fn strings_compare_by_content_whatever_their_storage() {
        let shared: Arc<str> = Arc::from("x");
        assert_eq!(
            StringValue::from(shared),
            StringValue::from(String::from("x"))
        );
        assert_eq!(StringValue::from("x"), StringValue::from_static("x"));
    }

    #[test]
    fn conversions_pick_the_right_variant() {
        assert_eq!(Value::from(3u32), Value::I64(3));
        assert_eq!(Value::from(1.5f32), Value::F64(1.5));
        assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
        assert_eq!(
            Value::from(vec![Value::from(true)]),
            Value::Array(vec![Value::Bool(true)])
        );
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::from(7i64).as_i64(), Some(7));
        assert_eq!(Value::from(0.5).as_f64(), Some(0.5));
        assert_eq!(Value::from("s").as_str(), Some("s"));
        assert_eq!(Value::from("s").as_i64(), None);
    }

    #[test]
    fn display_and_depth() {
        let nested = Value::Map(vec![
            KeyValue::new("a", vec![Value::from(1i64), Value::from("two")]),
            KeyValue::new("b", vec![0xabu8]),
        ]);
        assert_eq!(nested.to_string(), "{a: [1, two], b: ab}");
        assert_eq!(nested.depth(), 2);
        assert_eq!(Value::Empty.to_string(), "");
        assert_eq!(Value::from(false).depth(), 0);
    }
}
