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

/// Eight copies of a byte, one per lane of a `u64`.
const fn lanes(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Sets the high bit of every lane of `x` whose byte is in `lo..=hi`. Every lane of `x` must
/// be below 0x80, so that no addition carries into the next lane.
const fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = x.wrapping_add(lanes(0x80 - lo));
    let above_hi = x.wrapping_add(lanes(0x7f - hi));
    at_least_lo & !above_hi & lanes(0x80)
}

/// Decodes 8 lowercase hex digits into 4 bytes, 8 digits at a time in one `u64` (SWAR), or
/// `None` when any of them is not a lowercase hex digit.
fn decode_8(digits: &[u8; 8]) -> Option<[u8; 4]> {
    let x = u64::from_be_bytes(*digits);
    if x & lanes(0x80) != 0 {
        return None;
    }
    let digit = in_range(x, b'0', b'9');
    let letter = in_range(x, b'a', b'f');
    if digit | letter != lanes(0x80) {
        return None;
    }
    // '0'..'9' are 0x30..0x39 and 'a'..'f' are 0x61..0x66: the low nibble, plus 9 for letters.
    let nibbles = (x & lanes(0x0f)) + (letter >> 7) * 9;
    // Big-endian lanes n0 n1 n2 … n7: pair them into bytes, then pack the bytes together.
    let pairs = (nibbles | (nibbles >> 4)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let packed = (quads | (quads >> 16)) as u32;
    Some(packed.to_be_bytes())
}

/// Decodes exactly `2 * N` lowercase hex digits into `N` bytes.
///
/// Eight digits are checked and combined at once in a `u64` (SWAR), with no data-dependent
/// branch per digit, so random ids cost the same as the benchmark's fixed one. Only on
/// failure is the input scanned again for the first offending byte.
#[inline]
pub(crate) fn decode_exact<const N: usize>(input: &[u8]) -> Result<[u8; N], DecodeFailure> {
    if input.len() != 2 * N {
        return Err(DecodeFailure::Length);
    }
    let mut out = [0u8; N];
    let (chunks, rest) = input.as_chunks::<8>();
    let (head, tail) = out.split_at_mut(4 * chunks.len());
    let mut valid = true;
    for (bytes, chunk) in head.chunks_exact_mut(4).zip(chunks) {
        match decode_8(chunk) {
            Some(decoded) => bytes.copy_from_slice(&decoded),
            None => valid = false,
        }
    }
    for (byte, pair) in tail.iter_mut().zip(rest.chunks_exact(2)) {
        match (decode_digit(pair[0]), decode_digit(pair[1])) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => valid = false,
        }
    }
    if !valid {
        let index = input
            .iter()
            .position(|&b| decode_digit(b).is_none())
            .unwrap_or_default();
        return Err(DecodeFailure::Digit(index));
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
    fn swar_agrees_with_the_scalar_decoder_on_every_byte_at_every_position() {
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut digits = *b"0123abcd";
                digits[position] = byte;
                let scalar: Option<Vec<u8>> = digits
                    .chunks_exact(2)
                    .map(|pair| Some((decode_digit(pair[0])? << 4) | decode_digit(pair[1])?))
                    .collect();
                assert_eq!(
                    decode_8(&digits).map(Vec::from),
                    scalar,
                    "byte {byte:#04x} at {position}"
                );
            }
        }
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
