//! LEB128 varints, canonical only.
//!
//! Non-minimal encodings are rejected so every value has exactly one byte
//! form: bytes -> value -> bytes round-trips, and junk is less likely to parse.

use crate::error::CodecError;
use bytes::BufMut;

/// Bytes `v` takes on the wire.
pub(crate) fn len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v`. The caller has checked capacity with [`len`].
pub(crate) fn put(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads a varint at `*pos`, advancing it; never reads past `data`.
pub(crate) fn get(data: &[u8], pos: &mut usize) -> Result<u64, CodecError> {
    // Most values on the wire (stream ids, lengths, flags' neighbours) fit
    // in one byte.
    let first = *data.get(*pos).ok_or(CodecError::Truncated)?;
    if first < 0x80 {
        *pos += 1;
        return Ok(u64::from(first));
    }
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *data.get(*pos + i).ok_or(CodecError::Truncated)?;
        let low = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(CodecError::VarintOverflow);
        }
        v |= low << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(CodecError::NonCanonical);
            }
            *pos += i + 1;
            return Ok(v);
        }
    }
    Err(CodecError::VarintOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            put(&mut out, *v);
            assert_eq!(&out[..], *bytes);
            assert_eq!(len(*v), bytes.len());
            let mut pos = 0;
            assert_eq!(get(bytes, &mut pos), Ok(*v));
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn rejects_bad_forms() {
        let mut pos = 0;
        assert_eq!(get(&[0x80, 0x00], &mut pos), Err(CodecError::NonCanonical));
        assert_eq!(get(&[0x80], &mut pos), Err(CodecError::Truncated));
        assert_eq!(get(&[0xff; 10], &mut pos), Err(CodecError::VarintOverflow));
        assert_eq!(
            get(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                &mut pos
            ),
            Err(CodecError::VarintOverflow)
        );
        assert_eq!(pos, 0, "failed reads consume nothing");
    }

    proptest! {
        #[test]
        fn value_round_trip(v: u64) {
            let mut out = Vec::new();
            put(&mut out, v);
            prop_assert_eq!(out.len(), len(v));
            let mut pos = 0;
            prop_assert_eq!(get(&out, &mut pos), Ok(v));
        }

        #[test]
        fn bytes_round_trip(data: Vec<u8>) {
            let mut pos = 0;
            if let Ok(v) = get(&data, &mut pos) {
                let mut out = Vec::new();
                put(&mut out, v);
                prop_assert_eq!(&out[..], &data[..pos]);
            }
        }
    }
}
