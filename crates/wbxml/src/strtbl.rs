//! Choosing a string table: only strings whose table entry saves bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::mbuint::mb_u_int32_len;

/// FNV-1a: a fast hasher for the short strings of one document (no DoS concern: the writer
/// hashes its own output strings).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Counts the strings a document will write and picks those worth a string-table entry.
///
/// An inline string of length `L` costs `L + 2` bytes (`STR_I`, bytes, NUL) at each of its `c`
/// uses; a table entry costs `L + 1` once plus `1 + len(offset)` per use. A string goes into
/// the table only when that is cheaper, most profitable first (so the busiest strings get the
/// shortest offsets).
#[derive(Debug, Default, Clone)]
pub struct StringTableBuilder<'s> {
    counts: FnvMap<&'s [u8], u32>,
}

impl std::fmt::Debug for Fnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fnv")
    }
}

impl<'s> StringTableBuilder<'s> {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one use of `s` as character data. Strings with a NUL byte (which cannot be in a
    /// table) and empty strings are ignored.
    #[inline]
    pub fn add(&mut self, s: &'s [u8]) {
        if s.is_empty() || s.contains(&0) {
            return;
        }
        *self.counts.entry(s).or_insert(0) += 1;
    }

    /// Builds the table. Strings not worth an entry are absent from it (write them inline).
    #[must_use]
    pub fn build(self) -> StringTable<'s> {
        let mut picked: Vec<(&'s [u8], u32, i64)> = self
            .counts
            .into_iter()
            .filter(|&(_, c)| c > 1)
            .map(|(s, c)| {
                let l = s.len() as i64;
                let c64 = i64::from(c);
                // Assume a 1-byte offset first; re-checked with real offsets below.
                (s, c, c64 * (l + 2) - (l + 1) - c64 * 2)
            })
            .filter(|&(_, _, gain)| gain > 0)
            .collect();
        // Most profitable first; ties by bytes so the output is deterministic.
        picked.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
        let mut bytes = Vec::new();
        let mut offsets: FnvMap<&'s [u8], u32> = FnvMap::default();
        let mut gain_total: i64 = 0;
        for (s, c, _) in picked {
            let Ok(off) = u32::try_from(bytes.len()) else {
                break;
            };
            let l = s.len() as i64;
            let c64 = i64::from(c);
            let gain = c64 * (l + 2) - (l + 1) - c64 * (1 + mb_u_int32_len(off) as i64);
            if gain <= 0 {
                continue;
            }
            gain_total += gain;
            bytes.extend_from_slice(s);
            bytes.push(0);
            offsets.insert(s, off);
        }
        // The header's table-length field grows with the table: keep it only if still ahead.
        let header_cost = mb_u_int32_len(u32::try_from(bytes.len()).unwrap_or(u32::MAX)) as i64 - 1;
        if gain_total <= header_cost {
            return StringTable::default();
        }
        StringTable { bytes, offsets }
    }
}

/// A chosen string table: its bytes (for the header) and the offset of each entry.
#[derive(Debug, Default, Clone)]
pub struct StringTable<'s> {
    bytes: Vec<u8>,
    offsets: FnvMap<&'s [u8], u32>,
}

impl<'s> StringTable<'s> {
    /// The raw table for [`crate::Header::string_table`].
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The offset of `s` if it is in the table.
    #[must_use]
    #[inline]
    pub fn offset(&self, s: &[u8]) -> Option<u32> {
        if self.offsets.is_empty() {
            return None;
        }
        self.offsets.get(s).copied()
    }

    /// True when the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends a string that must be in the table regardless of gain (e.g. a textual public
    /// identifier or a literal tag name) and returns its offset.
    pub fn insert(&mut self, s: &'s [u8]) -> u32 {
        if let Some(o) = self.offsets.get(s) {
            return *o;
        }
        let off = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(s);
        self.bytes.push(0);
        self.offsets.insert(s, off);
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_only_profitable_strings() {
        let mut b = StringTableBuilder::new();
        for _ in 0..3 {
            b.add(b"IMEI:359123456789012");
        }
        b.add(b"once-only-long-string");
        b.add(b"x");
        b.add(b"x");
        let t = b.build();
        assert_eq!(t.offset(b"IMEI:359123456789012"), Some(0));
        assert_eq!(t.offset(b"once-only-long-string"), None);
        assert_eq!(
            t.offset(b"x"),
            None,
            "two uses of a 1-byte string save nothing"
        );
        assert_eq!(t.bytes(), b"IMEI:359123456789012\0");
    }

    #[test]
    fn empty_when_nothing_repeats() {
        let mut b = StringTableBuilder::new();
        b.add(b"abc");
        b.add(b"a\0c");
        b.add(b"a\0c");
        assert!(b.build().is_empty());
    }
}
