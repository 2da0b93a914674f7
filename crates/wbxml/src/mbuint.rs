//! `mb_u_int32`: WBXML's variable-length unsigned integer (7 bits per byte, big-endian, high bit
//! set on every byte but the last).

use crate::Error;

/// Reads an `mb_u_int32` from `input` at `*pos`, advancing `*pos` past it.
///
/// # Errors
/// [`Error::UnexpectedEof`] if the input ends inside the integer, [`Error::MbUintOverflow`] if
/// it does not fit in 32 bits or is longer than 5 bytes.
#[inline]
pub fn read_mb_u_int32(input: &[u8], pos: &mut usize) -> Result<u32, Error> {
    let start = *pos;
    let mut value: u32 = 0;
    for i in 0..5 {
        let Some(&b) = input.get(start + i) else {
            return Err(Error::UnexpectedEof {
                offset: input.len(),
                context: "mb_u_int32",
            });
        };
        // Four full groups of 7 bits fit in 28 bits; the fifth byte may add 4 more.
        if value > (u32::MAX >> 7) {
            return Err(Error::MbUintOverflow { offset: start });
        }
        value = (value << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(Error::MbUintOverflow { offset: start })
}

/// Number of bytes `value` takes as an `mb_u_int32`.
#[must_use]
#[inline]
pub fn mb_u_int32_len(value: u32) -> usize {
    match value {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        0x20_0000..=0x0FFF_FFFF => 4,
        _ => 5,
    }
}

/// Appends `value` as an `mb_u_int32`.
#[inline]
pub fn write_mb_u_int32(out: &mut Vec<u8>, value: u32) {
    if value < 0x80 {
        // The common case: one byte. Truncation is exact here.
        out.push(value as u8);
        return;
    }
    let n = mb_u_int32_len(value);
    for i in (0..n).rev() {
        let group = ((value >> (7 * i)) & 0x7F) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        for (v, bytes) in [
            (0u32, &[0x00][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0x1201, &[0xA4, 0x01]),
            (0x0FD3, &[0x9F, 0x53]),
            (u32::MAX, &[0x8F, 0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            write_mb_u_int32(&mut out, v);
            assert_eq!(out, bytes, "{v:#x}");
            assert_eq!(mb_u_int32_len(v), bytes.len());
            let mut pos = 0;
            assert_eq!(read_mb_u_int32(bytes, &mut pos), Ok(v));
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn overflow_and_eof_are_errors() {
        let mut pos = 0;
        assert_eq!(
            read_mb_u_int32(&[0x90, 0x80, 0x80, 0x80, 0x00], &mut pos),
            Err(Error::MbUintOverflow { offset: 0 })
        );
        let mut pos = 0;
        assert_eq!(
            read_mb_u_int32(&[0x81, 0x81, 0x81, 0x81, 0x81, 0x01], &mut pos),
            Err(Error::MbUintOverflow { offset: 0 })
        );
        let mut pos = 1;
        assert!(matches!(
            read_mb_u_int32(&[0x00, 0x81], &mut pos),
            Err(Error::UnexpectedEof { offset: 2, .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(v: u32) {
            let mut out = Vec::new();
            write_mb_u_int32(&mut out, v);
            let mut pos = 0;
            proptest::prop_assert_eq!(read_mb_u_int32(&out, &mut pos), Ok(v));
            proptest::prop_assert_eq!(pos, out.len());
        }
    }
}
