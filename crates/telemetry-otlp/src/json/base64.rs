//! Base64 for `bytesValue`: the standard alphabet with padding on output; on input either
//! alphabet (standard or URL-safe), padded or not, as proto3 JSON parsers accept.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the padded standard base64 of `bytes`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let (chunks, rest) = bytes.as_chunks::<3>();
    out.reserve(bytes.len().div_ceil(3) * 4);
    for &[a, b, c] in chunks {
        let n = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
        out.extend([18, 12, 6, 0].map(|shift| ALPHABET[(n >> shift) as usize & 63]));
    }
    match *rest {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend([
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
            ]);
            out.extend(b"==");
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend([18, 12, 6].map(|shift| ALPHABET[(n >> shift) as usize & 63]));
            out.push(b'=');
        }
        _ => {}
    }
}

fn sextet(byte: u8) -> Option<u32> {
    Some(u32::from(match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    }))
}

/// Decodes base64, or `None` when it is not base64. Bits left over in the last character
/// must be zero, so that every byte string has one accepted encoding per alphabet.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let unpadded = match bytes {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] if bytes.len().is_multiple_of(4) => rest,
        _ => bytes,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    let (chunks, rest) = unpadded.as_chunks::<4>();
    for chunk in chunks {
        let mut n = 0;
        for &byte in chunk {
            n = (n << 6) | sextet(byte)?;
        }
        out.extend([(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let mut n = 0;
    for &byte in rest {
        n = (n << 6) | sextet(byte)?;
    }
    match rest.len() {
        2 if n & 0xf == 0 => out.push((n >> 4) as u8),
        3 if n & 0x3 == 0 => out.extend([(n >> 10) as u8, (n >> 2) as u8]),
        0 => {}
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            let mut out = Vec::new();
            encode_into(plain.as_bytes(), &mut out);
            assert_eq!(out, encoded.as_bytes(), "{plain}");
            assert_eq!(
                decode(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(
                decode(unpadded).as_deref(),
                Some(plain.as_bytes()),
                "{unpadded}"
            );
        }
    }

    #[test]
    fn both_alphabets_and_no_garbage() {
        assert_eq!(decode("-_8="), decode("+/8="));
        assert_eq!(decode("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
        for bad in [
            "Z",
            "Zg=",
            "Z===",
            "Zh==",
            "Zm9v YmFy",
            "Zm9v\n",
            "Zg==Zg==",
            "=",
            "*AAA",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        for len in 0..bytes.len() {
            let mut out = Vec::new();
            encode_into(&bytes[..len], &mut out);
            let text = String::from_utf8(out).unwrap_or_default();
            assert_eq!(decode(&text).as_deref(), Some(&bytes[..len]));
        }
    }
}
