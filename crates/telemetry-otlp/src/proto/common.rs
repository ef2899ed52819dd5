//! `opentelemetry.proto.common.v1` and `resource.v1`: attribute values, key-value pairs,
//! instrumentation scopes and resources, shared by traces, metrics and logs.

use std::hash::Hasher;
use std::sync::Arc;

use telemetry_core::{InstrumentationScope, KeyValue, Resource, StringValue, Value};

use super::wire::{Field, I64, LEN, Reader, VARINT, Writer, key, varint_len};
use crate::error::{DecodeError, DecodeErrorKind};

pub(crate) const ANY_VALUE: &str = "opentelemetry.proto.common.v1.AnyValue";
pub(crate) const KEY_VALUE: &str = "opentelemetry.proto.common.v1.KeyValue";
pub(crate) const ARRAY_VALUE: &str = "opentelemetry.proto.common.v1.ArrayValue";
pub(crate) const KEY_VALUE_LIST: &str = "opentelemetry.proto.common.v1.KeyValueList";
pub(crate) const SCOPE: &str = "opentelemetry.proto.common.v1.InstrumentationScope";
pub(crate) const RESOURCE: &str = "opentelemetry.proto.resource.v1.Resource";

// KeyValue
const KV_KEY: u32 = key(1, LEN);
const KV_VALUE: u32 = key(2, LEN);
// AnyValue (every member is in the `value` oneof, so written even when zero or empty)
const AV_STRING: u32 = key(1, LEN);
const AV_BOOL: u32 = key(2, VARINT);
const AV_INT: u32 = key(3, VARINT);
const AV_DOUBLE: u32 = key(4, I64);
const AV_ARRAY: u32 = key(5, LEN);
const AV_KVLIST: u32 = key(6, LEN);
const AV_BYTES: u32 = key(7, LEN);
// ArrayValue and KeyValueList
const VALUES: u32 = key(1, LEN);
// InstrumentationScope
const SCOPE_NAME: u32 = key(1, LEN);
const SCOPE_VERSION: u32 = key(2, LEN);
const SCOPE_ATTRIBUTES: u32 = key(3, LEN);
const SCOPE_DROPPED: u32 = key(4, VARINT);
// Resource
const RESOURCE_ATTRIBUTES: u32 = key(1, LEN);
const RESOURCE_DROPPED: u32 = key(2, VARINT);

/// Writes one `KeyValue` as field `field_key` of the enclosing message.
#[inline]
pub(crate) fn write_key_value(w: &mut Writer<'_>, field_key: u32, kv: &KeyValue) {
    if !write_scalar_key_value(w, field_key, kv) {
        write_key_value_nested(w, field_key, kv);
    }
}

/// Writes a `KeyValue` whose value is a scalar, front to back: both nested lengths are known
/// before writing, so nothing is reserved and patched (see `wire.rs`). Returns false, having
/// written nothing, for arrays and maps.
///
/// Attributes are most of a span's bytes. In callgrind profiles of the bench batch
/// (`--bench otlp -- otlp/encode/telemetry`, 512 spans of 6 attributes and an event), the
/// `Writer` fast paths, this function and [`same_scope`] together took the encoder from
/// 1.85 M to 0.96 M instructions per request (prost encoding its ready message: 3.13 M); the
/// four-byte stores of the string case alone, from 1.09 M to 0.96 M.
#[inline]
fn write_scalar_key_value(w: &mut Writer<'_>, field_key: u32, kv: &KeyValue) -> bool {
    let value_len = match &kv.value {
        Value::Empty => 0,
        Value::Bool(_) => 2,
        Value::I64(v) => 1 + varint_len(*v as u64),
        Value::F64(_) => 9,
        Value::String(s) => 1 + varint_len(s.len() as u64) + s.len(),
        Value::Bytes(b) => 1 + varint_len(b.len() as u64) + b.len(),
        Value::Array(_) | Value::Map(_) => return false,
    };
    let key = kv.key.as_bytes();
    let key_len = if key.is_empty() {
        0
    } else {
        1 + varint_len(key.len() as u64) + key.len()
    };
    let len = key_len + 1 + varint_len(value_len as u64) + value_len;
    // The usual pair, a key and a value under 128 bytes each under a one-byte field key:
    // every key and length is one byte, so the bytes around the key and the string go out
    // as two four-byte stores instead of eight single-byte pushes.
    if len < 0x80
        && field_key < 0x80
        && !key.is_empty()
        && let Value::String(s) = &kv.value
    {
        w.reserve(len + 2);
        w.raw(&[field_key as u8, len as u8, KV_KEY as u8, key.len() as u8]);
        w.raw(key);
        w.raw(&[
            KV_VALUE as u8,
            value_len as u8,
            AV_STRING as u8,
            s.len() as u8,
        ]);
        w.raw(s.as_bytes());
        return true;
    }
    // The field key, the pair's length and the pair.
    w.reserve(len + 15);
    w.key(field_key);
    w.varint(len as u64);
    w.bytes_field(KV_KEY, key);
    w.key(KV_VALUE);
    w.varint(value_len as u64);
    match &kv.value {
        Value::Bool(v) => {
            w.key(AV_BOOL);
            w.varint(u64::from(*v));
        }
        Value::I64(v) => {
            w.key(AV_INT);
            w.varint(*v as u64);
        }
        Value::F64(v) => w.fixed64_always(AV_DOUBLE, v.to_bits()),
        Value::String(s) => w.bytes_always(AV_STRING, s.as_bytes()),
        Value::Bytes(bytes) => w.bytes_always(AV_BYTES, bytes),
        Value::Empty | Value::Array(_) | Value::Map(_) => {}
    }
    true
}

/// Writes a `KeyValue` of any value, reserving and patching its length.
fn write_key_value_nested(w: &mut Writer<'_>, field_key: u32, kv: &KeyValue) {
    let nested = w.begin(field_key, 1);
    w.bytes_field(KV_KEY, kv.key.as_bytes());
    write_any_value(w, KV_VALUE, &kv.value);
    w.end(nested);
}

/// Writes every attribute as a repeated `KeyValue` field.
#[inline]
pub(crate) fn write_attributes(w: &mut Writer<'_>, field_key: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        write_key_value(w, field_key, kv);
    }
}

/// Writes an `AnyValue`. `Value::Empty` is an `AnyValue` with no member set, still written so
/// that it keeps its place in an array.
pub(crate) fn write_any_value(w: &mut Writer<'_>, field_key: u32, value: &Value) {
    let nested = w.begin(field_key, 1);
    match value {
        Value::Empty => {}
        Value::Bool(v) => {
            w.key(AV_BOOL);
            w.varint(u64::from(*v));
        }
        Value::I64(v) => {
            w.key(AV_INT);
            // int64 is the varint of the two's complement, so negatives take ten bytes.
            w.varint(*v as u64);
        }
        Value::F64(v) => w.fixed64_always(AV_DOUBLE, v.to_bits()),
        Value::String(s) => w.bytes_always(AV_STRING, s.as_bytes()),
        Value::Bytes(bytes) => w.bytes_always(AV_BYTES, bytes),
        Value::Array(values) => {
            let array = w.begin(AV_ARRAY, 1);
            for value in values {
                write_any_value(w, VALUES, value);
            }
            w.end(array);
        }
        Value::Map(pairs) => {
            let list = w.begin(AV_KVLIST, 1);
            write_attributes(w, VALUES, pairs);
            w.end(list);
        }
    }
    w.end(nested);
}

/// Writes a `Resource` message (attributes and the dropped count).
pub(crate) fn write_resource(
    w: &mut Writer<'_>,
    field_key: u32,
    resource: &Resource,
    dropped_attributes_count: u32,
) {
    let nested = w.begin(field_key, 1);
    write_attributes(w, RESOURCE_ATTRIBUTES, resource.attributes());
    w.uint_field(RESOURCE_DROPPED, u64::from(dropped_attributes_count));
    w.end(nested);
}

/// Writes an `InstrumentationScope` message. Its schema URL belongs to the enclosing
/// envelope, which writes it.
pub(crate) fn write_scope(
    w: &mut Writer<'_>,
    field_key: u32,
    scope: &InstrumentationScope,
    dropped_attributes_count: u32,
) {
    let nested = w.begin(field_key, 1);
    w.bytes_field(SCOPE_NAME, scope.name().as_bytes());
    if let Some(version) = scope.version() {
        w.bytes_field(SCOPE_VERSION, version.as_bytes());
    }
    write_attributes(w, SCOPE_ATTRIBUTES, scope.attributes());
    w.uint_field(SCOPE_DROPPED, u64::from(dropped_attributes_count));
    w.end(nested);
}

/// Whether two spans' or records' scopes are equal, deciding without comparing contents when
/// both are the same shared scope (the usual case: every span of a tracer holds a clone of
/// its scope).
///
/// Equal addresses and lengths of every field mean equal contents, so this agrees with `==`
/// except for a scope holding a NaN attribute, which `==` finds unequal even to itself and
/// which this finds equal to its clones, so that its spans are still grouped under it. In a
/// callgrind profile of the bench batch the content comparisons (twice per span: grouping,
/// then writing each group) were about 4% of the encoder's instructions.
#[inline]
pub(crate) fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    fn place(s: &str) -> (*const u8, usize) {
        (s.as_ptr(), s.len())
    }
    let shared = place(a.name()) == place(b.name())
        && a.version().map(place) == b.version().map(place)
        && a.schema_url().map(place) == b.schema_url().map(place)
        && (a.attributes().as_ptr(), a.attributes().len())
            == (b.attributes().as_ptr(), b.attributes().len());
    shared || a == b
}

/// Copies a decoded string into an owned [`StringValue`].
pub(crate) fn string_value(s: &str) -> StringValue {
    if s.is_empty() {
        StringValue::from_static("")
    } else {
        StringValue::from(String::from(s))
    }
}

/// Strings longer than this are copied, not shared: long values (URLs, messages) rarely
/// repeat, and hashing them would cost more than it saves.
const MAX_SHARED_LEN: usize = 64;
/// Slots of the string cache (a power of two).
const SLOTS: usize = 512;

/// Shares repeated strings within one request: attribute keys, span and event names and
/// short values recur in almost every span, so each is allocated once (as an `Arc<str>`) and
/// later occurrences cost a reference count.
///
/// A direct-mapped cache rather than a map: a string that collides with another or was
/// never seen replaces the slot's entry, so a batch of unique values costs no growth or
/// rehashing and the cache never exceeds its 512 slots whatever the input. In a perf
/// profile of `cargo bench -p telemetry-benches --bench otlp -- otlp/decode`, sharing took
/// malloc and free from about 30% of decode time to a few percent.
pub(crate) struct Strings<'a> {
    slots: Vec<Option<(&'a str, StringValue)>>,
    share: bool,
}

impl<'a> Strings<'a> {
    pub(crate) fn new() -> Self {
        Strings {
            slots: Vec::new(),
            share: true,
        }
    }

    /// A cache that shares nothing, for decoding a few strings: the cache's table is 20 KiB
    /// to zero, far more than a single span's strings cost to allocate.
    pub(crate) fn unshared() -> Self {
        Strings {
            slots: Vec::new(),
            share: false,
        }
    }

    /// The string as a [`StringValue`], shared with earlier occurrences when short.
    #[inline]
    pub(crate) fn get(&mut self, s: &'a str) -> StringValue {
        if s.is_empty() || s.len() > MAX_SHARED_LEN || !self.share {
            return string_value(s);
        }
        if self.slots.is_empty() {
            self.slots.resize(SLOTS, None);
        }
        let mut hasher = WordHasher::default();
        hasher.write(s.as_bytes());
        let slot = &mut self.slots[hasher.finish() as usize & (SLOTS - 1)];
        if let Some((seen, value)) = slot
            && *seen == s
        {
            return value.clone();
        }
        let value = StringValue::from(Arc::<str>::from(s));
        *slot = Some((s, value.clone()));
        value
    }
}

/// A fast non-cryptographic hash for the string cache: eight bytes per multiply. Collisions
/// only cost a copy (the cache is direct-mapped), so a keyed hash would buy nothing.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let (words, rest) = bytes.as_chunks::<8>();
        for word in words {
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(*word)).wrapping_mul(K);
        }
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.0 =
            (self.0.rotate_left(5) ^ u64::from_le_bytes(last) ^ rest.len() as u64).wrapping_mul(K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Reads a `KeyValue`.
pub(crate) fn read_key_value<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<KeyValue, DecodeError> {
    if r.can_nest()
        && let Some(kv) = key_value_fast(r.rest(), strings)
    {
        return Ok(kv);
    }
    read_key_value_fields(r, strings)
}

/// Reads a `KeyValue` field by field: any layout, any value, errors with their place.
fn read_key_value_fields<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<KeyValue, DecodeError> {
    let mut key = "";
    let mut value = Value::Empty;
    r.fields(KEY_VALUE, |r, field| {
        match field.number {
            1 => key = r.str_field(field)?,
            2 => value = read_any_value(r.message_field(field)?, strings)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(KeyValue {
        key: strings.get(key),
        value,
    })
}

/// Splits a one-byte length and that many bytes off the front of `bytes`.
#[inline]
pub(crate) fn short_len(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    if len >= 0x80 || usize::from(len) > rest.len() {
        return None;
    }
    Some(rest.split_at(usize::from(len)))
}

/// Decodes the layout nearly every sender writes for a scalar attribute, in one straight
/// pass: key (field 1, shorter than 128 bytes), then value (field 2, shorter than 128 bytes)
/// holding exactly one string, bool, int or double member, or none. Anything else, including
/// invalid UTF-8, returns `None` and the general decoder, which reports errors, takes over;
/// the result is the same either way. Attributes are most of a span's bytes: with this path
/// the bench batch (`--bench otlp -- otlp/decode`, 512 spans) decoded in 486 µs instead of
/// 634 µs.
#[inline]
fn key_value_fast<'a>(bytes: &'a [u8], strings: &mut Strings<'a>) -> Option<KeyValue> {
    let (key, value) = scalar_key_value(bytes)?;
    let value = match value {
        ScalarValue::Empty => Value::Empty,
        ScalarValue::String(s) => Value::String(strings.get(s)),
        ScalarValue::Bool(b) => Value::Bool(b),
        ScalarValue::I64(v) => Value::I64(v),
        ScalarValue::F64(v) => Value::F64(v),
    };
    Some(KeyValue {
        key: strings.get(key),
        value,
    })
}

/// A scalar attribute value borrowed from the input, as [`scalar_key_value`] reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ScalarValue<'a> {
    Empty,
    String(&'a str),
    Bool(bool),
    I64(i64),
    F64(f64),
}

/// The layout of [`key_value_fast`], borrowed: the key and the scalar value of a `KeyValue`
/// message's bytes, or `None` for any other layout or invalid UTF-8. Shared by the owned
/// decoder and `TracesView`.
#[inline]
pub(crate) fn scalar_key_value(bytes: &[u8]) -> Option<(&str, ScalarValue<'_>)> {
    let (key, rest) = short_len(bytes.strip_prefix(&[0x0a])?)?;
    let (value, rest) = short_len(rest.strip_prefix(&[0x12])?)?;
    if !rest.is_empty() {
        return None;
    }
    let value = match value {
        [] => ScalarValue::Empty,
        [0x0a, tail @ ..] => match short_len(tail)? {
            (s, []) => {
                // The key, the four framing bytes after it (ASCII: two keys and two lengths
                // under 128) and the string are one run of input, valid UTF-8 exactly when
                // both strings are: one check instead of two calls on short strings.
                let text = std::str::from_utf8(bytes.get(2..)?).ok()?;
                let key = text.get(..key.len())?;
                let value = text.get(text.len() - s.len()..)?;
                return Some((key, ScalarValue::String(value)));
            }
            _ => return None,
        },
        [0x10, b] if *b < 0x80 => ScalarValue::Bool(*b != 0),
        [0x18, tail @ ..] => {
            let mut r = Reader::new(tail);
            let v = r.varint().ok()?;
            if r.remaining() != 0 {
                return None;
            }
            // int64 on the wire is the two's complement as an unsigned varint.
            ScalarValue::I64(v as i64)
        }
        [0x21, tail @ ..] => {
            ScalarValue::F64(f64::from_bits(u64::from_le_bytes(tail.try_into().ok()?)))
        }
        _ => return None,
    };
    Some((std::str::from_utf8(key).ok()?, value))
}

/// Whether the `KeyValue` message `r` is named `key` and its value satisfies `matches`; the
/// value is decoded only when the key is `key`.
pub(crate) fn key_value_matches<'a>(
    r: Reader<'a>,
    key: &str,
    matches: &mut impl FnMut(&Value) -> bool,
) -> Result<bool, DecodeError> {
    // The key is compared as bytes, unvalidated: equal bytes are the (valid) `key`, and
    // any other key is not looked at further.
    let mut name: &[u8] = b"";
    let mut value = None;
    r.fields(KEY_VALUE, |r, field| {
        match field.number {
            1 => name = r.bytes_field(field)?,
            2 => value = Some(r.message_field(field)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    if name != key.as_bytes() {
        return Ok(false);
    }
    let value = match value {
        Some(value) => read_any_value(value, &mut Strings::unshared())?,
        None => Value::Empty,
    };
    Ok(matches(&value))
}

/// Reads a repeated `KeyValue` field's next element into `attributes`.
#[inline]
pub(crate) fn push_key_value<'a>(
    r: &mut Reader<'a>,
    field: Field,
    attributes: &mut Vec<KeyValue>,
    strings: &mut Strings<'a>,
) -> Result<(), DecodeError> {
    attributes.push(read_key_value(r.message_field(field)?, strings)?);
    Ok(())
}

/// Reads an `AnyValue`. As for any `oneof`, the last member present wins; members this
/// decoder does not know (such as the profiles-only `string_value_strindex`) are skipped,
/// which leaves the value empty when they are all there is.
pub(crate) fn read_any_value<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<Value, DecodeError> {
    let mut value = Value::Empty;
    r.fields(ANY_VALUE, |r, field| {
        value = match field.number {
            1 => Value::String(strings.get(r.str_field(field)?)),
            2 => Value::Bool(r.varint_field(field)? != 0),
            // int64 on the wire is the two's complement as an unsigned varint.
            3 => Value::I64(r.varint_field(field)? as i64),
            4 => Value::F64(f64::from_bits(r.fixed64_field(field)?)),
            5 => {
                let mut values = Vec::new();
                r.message_field(field)?.fields(ARRAY_VALUE, |r, field| {
                    match field.number {
                        1 => values.push(read_any_value(r.message_field(field)?, strings)?),
                        _ => r.skip(field)?,
                    }
                    Ok(())
                })?;
                Value::Array(values)
            }
            6 => {
                let mut pairs = Vec::new();
                r.message_field(field)?.fields(KEY_VALUE_LIST, |r, field| {
                    match field.number {
                        1 => push_key_value(r, field, &mut pairs, strings)?,
                        _ => r.skip(field)?,
                    }
                    Ok(())
                })?;
                Value::Map(pairs)
            }
            7 => Value::Bytes(r.bytes_field(field)?.to_vec()),
            _ => {
                r.skip(field)?;
                return Ok(());
            }
        };
        Ok(())
    })?;
    Ok(value)
}

/// Reads a `Resource`: its attributes and dropped count. Unknown fields (such as the
/// development-stage `entity_refs`) are skipped. The schema URL is the envelope's, which may
/// come later, so the caller builds the [`Resource`] with [`build_resource`].
pub(crate) fn read_resource<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<(Vec<KeyValue>, u32), DecodeError> {
    let mut attributes = Vec::new();
    let mut dropped = 0;
    r.fields(RESOURCE, |r, field| {
        match field.number {
            1 if attributes.len() == MAX_RESOURCE_ATTRIBUTES => {
                return Err(DecodeError::new(
                    DecodeErrorKind::TooManyAttributes,
                    field.offset,
                ));
            }
            1 => push_key_value(r, field, &mut attributes, strings)?,
            // uint32 on the wire is a varint whose high bits a decoder drops.
            2 => dropped = r.varint_field(field)? as u32,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok((attributes, dropped))
}

/// Most attributes a decoded resource may have.
///
/// [`Resource`] can only be built through its builder, which looks up every key it adds
/// (quadratic in the count), so an unbounded count would let a small hostile request burn
/// seconds of CPU. The SDK's default attribute limit is 128; this leaves ample room.
pub(crate) const MAX_RESOURCE_ATTRIBUTES: usize = 1024;

/// The resource with these attributes. The builder keeps one value per key (the last, at
/// the first one's position); conforming senders never repeat a key (PB-8).
pub(crate) fn build_resource(attributes: Vec<KeyValue>, schema_url: &str) -> Resource {
    let mut builder = Resource::builder().with_attributes(attributes);
    if !schema_url.is_empty() {
        builder = builder.with_schema_url(string_value(schema_url));
    }
    builder.build()
}

/// Reads an `InstrumentationScope`: the scope (without its schema URL, which the envelope
/// carries) and its dropped attribute count.
pub(crate) fn read_scope<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ScopeFields<'a>, DecodeError> {
    let mut scope = ScopeFields::default();
    r.fields(SCOPE, |r, field| {
        match field.number {
            1 => scope.name = r.str_field(field)?,
            2 => scope.version = r.str_field(field)?,
            3 => push_key_value(r, field, &mut scope.attributes, strings)?,
            4 => scope.dropped_attributes_count = r.varint_field(field)? as u32,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(scope)
}

/// The fields of a decoded `InstrumentationScope`, before the envelope's schema URL joins
/// them.
#[derive(Default)]
pub(crate) struct ScopeFields<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes_count: u32,
}

impl ScopeFields<'_> {
    /// The scope, with `schema_url` when it is not empty. An empty version is no version:
    /// proto3 cannot tell them apart.
    pub(crate) fn build(self, schema_url: &str) -> InstrumentationScope {
        let mut builder = InstrumentationScope::builder(string_value(self.name));
        if !self.version.is_empty() {
            builder = builder.with_version(string_value(self.version));
        }
        if !schema_url.is_empty() {
            builder = builder.with_schema_url(string_value(schema_url));
        }
        builder.with_attributes(self.attributes).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_value(value: &Value) -> Vec<u8> {
        let mut buf = Vec::new();
        write_any_value(&mut Writer::new(&mut buf), KV_VALUE, value);
        buf
    }

    fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut r = Reader::new(bytes);
        let field = r
            .next_field()?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, 0))?;
        read_any_value(r.message_field(field)?, &mut Strings::new())
    }

    #[test]
    fn any_value_bytes_match_the_proto_encoding() {
        let cases: &[(Value, &[u8])] = &[
            (Value::Empty, &[0x12, 0x00]),
            (Value::Bool(false), &[0x12, 0x02, 0x10, 0x00]),
            (Value::I64(0), &[0x12, 0x02, 0x18, 0x00]),
            (
                Value::I64(-1),
                &[
                    0x12, 0x0b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
            ),
            (Value::F64(0.0), &[0x12, 0x09, 0x21, 0, 0, 0, 0, 0, 0, 0, 0]),
            (Value::from(""), &[0x12, 0x02, 0x0a, 0x00]),
            (Value::from("hi"), &[0x12, 0x04, 0x0a, 0x02, b'h', b'i']),
            (Value::Bytes(vec![]), &[0x12, 0x02, 0x3a, 0x00]),
            (
                Value::Array(vec![Value::Empty, Value::Bool(true)]),
                &[0x12, 0x08, 0x2a, 0x06, 0x0a, 0x00, 0x0a, 0x02, 0x10, 0x01],
            ),
            (
                Value::Map(vec![KeyValue::new("k", Value::Empty)]),
                &[
                    0x12, 0x09, 0x32, 0x07, 0x0a, 0x05, 0x0a, 0x01, b'k', 0x12, 0x00,
                ],
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(&encode_value(value), expected, "{value:?}");
            assert_eq!(decode_value(expected).as_ref(), Ok(value), "{value:?}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_field_loop() {
        let long_key = [b'k'; 130];
        let mut long = vec![0x0a, 0x82, 0x01];
        long.extend(long_key);
        long.extend([0x12, 0x00]);
        let cases: &[(&str, &[u8], bool)] = &[
            (
                "string",
                &[0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v'],
                true,
            ),
            ("bool", &[0x0a, 0x01, b'k', 0x12, 0x02, 0x10, 0x01], true),
            (
                "negative int",
                &[
                    0x0a, 0x01, b'k', 0x12, 0x0b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0xff, 0x01,
                ],
                true,
            ),
            (
                "double",
                &[
                    0x0a, 0x01, b'k', 0x12, 0x09, 0x21, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,
                ],
                true,
            ),
            ("empty value", &[0x0a, 0x01, b'k', 0x12, 0x00], true),
            (
                "bool as a big varint",
                &[0x0a, 0x01, b'k', 0x12, 0x03, 0x10, 0x81, 0x00],
                false,
            ),
            ("value before key", &[0x12, 0x00, 0x0a, 0x01, b'k'], false),
            ("no value", &[0x0a, 0x01, b'k'], false),
            (
                "two members",
                &[0x0a, 0x01, b'k', 0x12, 0x04, 0x10, 0x01, 0x10, 0x00],
                false,
            ),
            (
                "unknown field after",
                &[0x0a, 0x01, b'k', 0x12, 0x00, 0x18, 0x01],
                false,
            ),
            ("invalid UTF-8 key", &[0x0a, 0x01, 0xff, 0x12, 0x00], false),
            (
                "invalid UTF-8 string value",
                &[0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, 0xff],
                false,
            ),
            (
                "a sequence split by the framing bytes",
                &[0x0a, 0x01, 0xc3, 0x12, 0x04, 0x0a, 0x02, 0xa9, b'v'],
                false,
            ),
            (
                "multi-byte key and value",
                &[
                    0x0a, 0x02, 0xc3, 0xa9, 0x12, 0x05, 0x0a, 0x03, 0xe2, 0x82, 0xac,
                ],
                true,
            ),
            (
                "int with trailing byte",
                &[0x0a, 0x01, b'k', 0x12, 0x03, 0x18, 0x01, 0x00],
                false,
            ),
            (
                "short double",
                &[0x0a, 0x01, b'k', 0x12, 0x03, 0x21, 0x00, 0x00],
                false,
            ),
            ("long key", &long, false),
        ];
        for (name, bytes, fast) in cases {
            let general = read_key_value_fields(Reader::new(bytes), &mut Strings::new());
            match key_value_fast(bytes, &mut Strings::new()) {
                Some(kv) => {
                    assert!(*fast, "{name}: took the fast path");
                    assert_eq!(general.as_ref(), Ok(&kv), "{name}");
                }
                None => assert!(!fast, "{name}: missed the fast path"),
            }
            let both = read_key_value(Reader::new(bytes), &mut Strings::new());
            assert_eq!(both, general, "{name}");
        }
    }

    #[test]
    fn scalar_pairs_are_written_as_the_general_writer_writes_them() {
        let long = "v".repeat(200);
        let values = [
            Value::Empty,
            Value::Bool(true),
            Value::I64(0),
            Value::I64(127),
            Value::I64(-1),
            Value::F64(-0.5),
            Value::from(""),
            Value::from("GET"),
            Value::from(long.clone()),
            Value::Bytes(vec![0, 1, 2]),
        ];
        for key in ["", "k", "http.request.method", long.as_str()] {
            for value in &values {
                let kv = KeyValue::new(key.to_owned(), value.clone());
                for field_key in [key_for_test(9), key_for_test(20)] {
                    let (mut fast, mut general) = (Vec::new(), Vec::new());
                    write_key_value(&mut Writer::new(&mut fast), field_key, &kv);
                    write_key_value_nested(&mut Writer::new(&mut general), field_key, &kv);
                    assert_eq!(fast, general, "{key:?} = {value:?} as field {field_key}");
                }
            }
        }
    }

    fn key_for_test(field: u32) -> u32 {
        key(field, LEN)
    }

    #[test]
    fn shared_scopes_are_the_same_without_comparing_contents() {
        let scope = InstrumentationScope::builder("lib")
            .with_version("1.0")
            .with_attributes([KeyValue::new("x", 1i64)])
            .build();
        assert!(same_scope(&scope, &scope.clone()));
        // Equal by value, built apart: still the same scope.
        let twin = InstrumentationScope::builder("lib")
            .with_version("1.0")
            .with_attributes([KeyValue::new("x", 1i64)])
            .build();
        assert!(same_scope(&scope, &twin));
        let other_version = InstrumentationScope::builder("lib")
            .with_version("1.1")
            .with_attributes([KeyValue::new("x", 1i64)])
            .build();
        assert!(!same_scope(&scope, &other_version));
        let no_version = InstrumentationScope::builder("lib").build();
        let empty_version = InstrumentationScope::builder("lib")
            .with_version("")
            .build();
        assert!(!same_scope(&no_version, &empty_version));
        // A NaN attribute makes `==` false even for clones; a shared scope is still itself.
        let nan = InstrumentationScope::builder("lib")
            .with_attributes([KeyValue::new("x", f64::NAN)])
            .build();
        assert!(same_scope(&nan, &nan.clone()));
    }

    #[test]
    fn repeated_strings_are_shared_and_long_ones_copied() {
        let mut strings = Strings::new();
        let a = strings.get("http.request.method");
        let b = strings.get("http.request.method");
        assert_eq!(a, b);
        assert!(!a.is_static());
        let long = "x".repeat(MAX_SHARED_LEN + 1);
        assert_eq!(strings.get(&long).as_str(), long);
        assert!(strings.get("").is_empty());
    }

    #[test]
    fn last_oneof_member_wins_and_unknown_members_are_skipped() {
        // string "a", then bool true, then string_value_strindex 3 (unknown to us).
        let bytes = [0x12, 0x07, 0x0a, 0x01, b'a', 0x10, 0x01, 0x40, 0x03];
        assert_eq!(decode_value(&bytes), Ok(Value::Bool(true)));
    }

    #[test]
    fn strings_must_be_utf8() {
        let bytes = [0x12, 0x04, 0x0a, 0x02, 0xc3, 0x28];
        let error = decode_value(&bytes).expect_err("invalid UTF-8");
        assert_eq!(error.kind(), DecodeErrorKind::InvalidUtf8);
        assert_eq!(error.offset(), 3);
        assert_eq!(error.message(), Some(ANY_VALUE));
        assert_eq!(error.field(), Some(1));
    }
}
