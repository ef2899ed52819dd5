//! Lowercase hexadecimal, byte by byte.
//!
//! W3C Trace Context allows only lowercase hex digits, so decoding rejects uppercase and
//! anything else without leaning on `from_str_radix` (which accepts signs and uppercase).

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Decodes one lowercase hex digit, or `None` for any other byte.
#[inline]
pub(crate) const fn decode_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Decodes exactly `2 * N` lowercase hex digits into `N` bytes.
///
/// On failure returns the index of the first offending byte, or `None` when the length is
/// wrong.
#[inline]
pub(crate) fn decode_exact<const N: usize>(input: &[u8]) -> Result<[u8; N], DecodeFailure> {
    if input.len() != 2 * N {
        return Err(DecodeFailure::Length);
    }
    let mut out = [0u8; N];
    for (i, pair) in input.chunks_exact(2).enumerate() {
        let hi = decode_digit(pair[0]).ok_or(DecodeFailure::Digit(2 * i))?;
        let lo = decode_digit(pair[1]).ok_or(DecodeFailure::Digit(2 * i + 1))?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

/// Why [`decode_exact`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeFailure {
    /// The input does not have exactly twice as many digits as there are bytes.
    Length,
    /// The byte at this index is not a lowercase hex digit.
    Digit(usize),
}

/// Encodes `bytes` as lowercase hex into `out`, which must be exactly twice as long.
#[inline]
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = LOWER_HEX[usize::from(byte >> 4)];
        pair[1] = LOWER_HEX[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_lowercase_only() {
        for byte in 0..=255u8 {
            let expected = matches!(byte, b'0'..=b'9' | b'a'..=b'f');
            assert_eq!(decode_digit(byte).is_some(), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn decode_reports_position_and_length() {
        assert_eq!(decode_exact::<2>(b"0aff"), Ok([0x0a, 0xff]));
        assert_eq!(decode_exact::<2>(b"0aF0"), Err(DecodeFailure::Digit(2)));
        assert_eq!(decode_exact::<2>(b"+1ff"), Err(DecodeFailure::Digit(0)));
        assert_eq!(decode_exact::<2>(b"0af"), Err(DecodeFailure::Length));
        assert_eq!(decode_exact::<2>(b"0aff0"), Err(DecodeFailure::Length));
    }

    #[test]
    fn encode_round_trips() {
        let bytes = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
        let mut out = [0u8; 12];
        encode_into(&bytes, &mut out);
        assert_eq!(&out, b"00017f80feff");
        assert_eq!(decode_exact::<6>(&out), Ok(bytes));
    }
}
