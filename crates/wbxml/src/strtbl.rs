//! Choosing a string table: only strings whose table entry saves bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::mbuint::mb_u_int32_len;

/// A fast word-at-a-time multiplicative hasher (FxHash style) for the short strings of one
/// document (no DoS concern: the writer hashes its own output strings).
#[derive(Default)]
struct Fnv(u64);

impl Fnv {
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.mix(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
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
    required: Vec<&'s [u8]>,
}

impl std::fmt::Debug for Fnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fnv")
    }
}

impl<'s> StringTableBuilder<'s> {
    /// An empty builder, sized for the few dozen strings of a typical message (so that
    /// counting does not rehash).
    #[must_use]
    pub fn new() -> Self {
        StringTableBuilder {
            counts: FnvMap::with_capacity_and_hasher(64, BuildHasherDefault::default()),
            required: Vec::new(),
        }
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

    /// Records a string that must be in the table whatever it saves (a literal tag name).
    pub fn require(&mut self, s: &'s [u8]) {
        if !self.required.contains(&s) {
            self.required.push(s);
        }
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
        if picked.is_empty() && self.required.is_empty() {
            return StringTable::default();
        }
        // Most profitable first; ties by bytes so the output is deterministic.
        picked.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
        let mut bytes = Vec::with_capacity(picked.iter().map(|p| p.0.len() + 1).sum());
        let mut offsets: FnvMap<&'s [u8], u32> =
            FnvMap::with_capacity_and_hasher(picked.len(), BuildHasherDefault::default());
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
            bytes.clear();
            offsets.clear();
        }
        for s in self.required {
            if !offsets.contains_key(s) && !s.contains(&0) {
                let off = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                bytes.extend_from_slice(s);
                bytes.push(0);
                offsets.insert(s, off);
            }
        }
        let mut t = StringTable {
            bytes,
            offsets,
            ..StringTable::default()
        };
        t.index_prefixes();
        t
    }
}

/// A chosen string table: its bytes (for the header) and the offset of each entry.
#[derive(Debug, Default, Clone)]
pub struct StringTable<'s> {
    bytes: Vec<u8>,
    offsets: FnvMap<&'s [u8], u32>,
    /// Entries worth using as a prefix of a longer string, longest first.
    prefixes: Vec<(&'s [u8], u32)>,
    /// Bitmap of the first bytes of `prefixes`.
    first_bytes: [u64; 4],
    /// Length of the shortest and the longest entry (no lookup for strings outside).
    min_len: usize,
    max_len: usize,
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
        if s.len() < self.min_len || s.len() > self.max_len || self.offsets.is_empty() {
            return None;
        }
        self.offsets.get(s).copied()
    }

    /// The leftmost occurrence of a table entry inside `s` (longest entry at that position)
    /// whose reference saves bytes over writing those bytes inline, as `(position, length,
    /// offset)`. libwbxml likewise splits strings around table entries (e.g. a server URL
    /// inside `RespURI`, or a word at the end of an alert type).
    #[must_use]
    pub fn find_in(&self, s: &[u8]) -> Option<(usize, usize, u32)> {
        if s.len() < self.min_len || self.prefixes.is_empty() {
            return None;
        }
        for (i, &b) in s.iter().enumerate() {
            let word = self
                .first_bytes
                .get(usize::from(b >> 6))
                .copied()
                .unwrap_or(0);
            if word & (1u64 << (b & 63)) == 0 {
                continue;
            }
            let rest = s.get(i..).unwrap_or_default();
            for (e, off) in &self.prefixes {
                if rest.len() < e.len() || !rest.starts_with(e) {
                    continue;
                }
                // Bytes saved: the entry inline minus its reference, minus the STR_I + NUL of
                // each extra inline piece the split creates.
                let pre = usize::from(i > 0);
                let post = usize::from(rest.len() > e.len());
                let saved =
                    e.len() as i64 + 1 - mb_u_int32_len(*off) as i64 - 2 * (pre + post) as i64;
                if saved > 0 {
                    return Some((i, e.len(), *off));
                }
            }
        }
        None
    }

    fn index_prefixes(&mut self) {
        let mut v: Vec<(&'s [u8], u32)> = self.offsets.iter().map(|(k, o)| (*k, *o)).collect();
        v.sort_unstable_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(b.0)));
        let mut bits = [0u64; 4];
        for (e, _) in &v {
            if let Some(&b) = e.first()
                && let Some(w) = bits.get_mut(usize::from(b >> 6))
            {
                *w |= 1u64 << (b & 63);
            }
        }
        self.min_len = v.last().map_or(0, |(e, _)| e.len());
        self.max_len = v.first().map_or(0, |(e, _)| e.len());
        self.prefixes = v;
        self.first_bytes = bits;
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
        self.index_prefixes();
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
    fn prefixes_of_longer_strings() {
        let mut b = StringTableBuilder::new();
        b.add(b"https://dm.example.net/dm");
        b.add(b"https://dm.example.net/dm");
        let t = b.build();
        assert_eq!(
            t.find_in(b"https://dm.example.net/dm?s=1"),
            Some((0, 25, 0))
        );
        assert_eq!(t.find_in(b"x https://dm.example.net/dm"), Some((2, 25, 0)));
        assert_eq!(t.find_in(b"http://other"), None);
        assert_eq!(t.find_in(b""), None);
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
