//! A minimal JSON writer over a `Vec<u8>`: the caller drives the structure, the writer
//! places commas and escapes strings. Writing straight into the buffer avoids building a
//! `serde_json::Value` tree per request.

use super::base64;

/// Writes JSON tokens, tracking only whether the next value needs a comma before it.
pub(crate) struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    need_comma: bool,
}

impl<'a> JsonWriter<'a> {
    /// Writes after whatever `out` already holds.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        JsonWriter {
            out,
            need_comma: false,
        }
    }

    fn separate(&mut self) {
        if self.need_comma {
            self.out.push(b',');
        }
    }

    /// Starts an object (as a value).
    pub(crate) fn begin_object(&mut self) {
        self.separate();
        self.out.push(b'{');
        self.need_comma = false;
    }

    /// Ends an object.
    pub(crate) fn end_object(&mut self) {
        self.out.push(b'}');
        self.need_comma = true;
    }

    /// Starts an array (as a value).
    pub(crate) fn begin_array(&mut self) {
        self.separate();
        self.out.push(b'[');
        self.need_comma = false;
    }

    /// Ends an array.
    pub(crate) fn end_array(&mut self) {
        self.out.push(b']');
        self.need_comma = true;
    }

    /// Writes an object key; `name` is one of our lowerCamelCase field names, which need no
    /// escaping.
    pub(crate) fn key(&mut self, name: &str) {
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.need_comma = false;
    }

    /// Writes a string value, escaped.
    pub(crate) fn string(&mut self, s: &str) {
        self.separate();
        self.out.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..0x20 | 0x7f => b"",
                _ => continue,
            };
            self.out.extend_from_slice(&bytes[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[usize::from(b >> 4)]);
                self.out.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.out.extend_from_slice(escape);
            }
            start = i + 1;
        }
        self.out.extend_from_slice(&bytes[start..]);
        self.out.push(b'"');
        self.need_comma = true;
    }

    /// Writes raw ASCII (hex ids) as a string value.
    pub(crate) fn ascii_string(&mut self, ascii: &[u8]) {
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(ascii);
        self.out.push(b'"');
        self.need_comma = true;
    }

    /// Writes bytes as a padded base64 string.
    pub(crate) fn base64(&mut self, bytes: &[u8]) {
        self.separate();
        self.out.push(b'"');
        base64::encode_into(bytes, self.out);
        self.out.push(b'"');
        self.need_comma = true;
    }

    /// Writes an unsigned integer as a JSON number (32-bit fields).
    pub(crate) fn number(&mut self, value: u64) {
        self.separate();
        push_decimal(self.out, value);
        self.need_comma = true;
    }

    /// Writes a signed integer as a JSON number (`int32` and `sint32` fields).
    pub(crate) fn signed_number(&mut self, value: i64) {
        self.separate();
        if value < 0 {
            self.out.push(b'-');
        }
        push_decimal(self.out, value.unsigned_abs());
        self.need_comma = true;
    }

    /// Writes a 64-bit integer as a decimal string, as OTLP/JSON requires.
    pub(crate) fn u64_string(&mut self, value: u64) {
        self.separate();
        self.out.push(b'"');
        push_decimal(self.out, value);
        self.out.push(b'"');
        self.need_comma = true;
    }

    /// Writes a signed 64-bit integer as a decimal string.
    pub(crate) fn i64_string(&mut self, value: i64) {
        self.separate();
        self.out.push(b'"');
        if value < 0 {
            self.out.push(b'-');
        }
        push_decimal(self.out, value.unsigned_abs());
        self.out.push(b'"');
        self.need_comma = true;
    }

    /// Writes a double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` as proto3 JSON
    /// spells the values JSON numbers cannot hold.
    pub(crate) fn double(&mut self, value: f64) {
        if value.is_nan() {
            self.ascii_string(b"NaN");
        } else if value.is_infinite() {
            self.ascii_string(if value > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            });
        } else {
            self.separate();
            // Debug prints the shortest representation that parses back to the same value,
            // with an exponent for very large or small magnitudes: valid JSON either way.
            self.out.extend_from_slice(format!("{value:?}").as_bytes());
            self.need_comma = true;
        }
    }

    /// Writes `true` or `false`.
    pub(crate) fn bool(&mut self, value: bool) {
        self.separate();
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self.need_comma = true;
    }
}

fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_with_escapes_and_quirks() -> Result<(), serde_json::Error> {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out);
        w.begin_object();
        w.key("s");
        w.string("a\"b\\c\n\u{1}\u{7f}é");
        w.key("n");
        w.number(4_294_967_295);
        w.key("u");
        w.u64_string(u64::MAX);
        w.key("i");
        w.i64_string(i64::MIN);
        w.key("d");
        w.begin_array();
        for value in [0.5, -0.0, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            w.double(value);
        }
        w.end_array();
        w.key("b");
        w.base64(&[0xfb, 0xff]);
        w.key("t");
        w.bool(true);
        w.end_object();
        let text = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(
            text,
            r#"{"s":"a\"b\\c\n\u0001\u007fé","n":4294967295,"u":"18446744073709551615","i":"-9223372036854775808","d":[0.5,-0.0,1e300,"NaN","Infinity","-Infinity"],"b":"+/8=","t":true}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&out)?;
        assert_eq!(parsed["s"], "a\"b\\c\n\u{1}\u{7f}é");
        Ok(())
    }
}
