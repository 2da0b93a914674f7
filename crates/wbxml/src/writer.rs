//! The writer.

use crate::{Header, PublicId, StringTable, mbuint::write_mb_u_int32, token};

/// Writes one WBXML document into a growing buffer.
///
/// The writer does not check well-formedness: every tag written with `has_content = true`
/// needs exactly one [`Writer::end`]. Code pages are switched lazily: [`Writer::start`] emits
/// `SWITCH_PAGE` only when the tag's page differs from the page in force (which starts at 0).
#[derive(Debug, Clone)]
pub struct Writer {
    out: Vec<u8>,
    page: u8,
    /// String-table references written (`STR_T` and literal tags).
    str_refs: usize,
}

impl Writer {
    /// Starts a document: writes `header` (string table included).
    #[must_use]
    pub fn new(header: &Header<'_>) -> Self {
        Self::with_capacity(header, 256)
    }

    /// Like [`Writer::new`], reserving room for `capacity` bytes of body.
    #[must_use]
    pub fn with_capacity(header: &Header<'_>, capacity: usize) -> Self {
        Self::append_to(
            header,
            Vec::with_capacity(capacity + header.string_table.len() + 8),
        )
    }

    /// Like [`Writer::new`], appending the document to `out` (whose bytes are kept), e.g. a
    /// cleared buffer being reused; [`Writer::finish`] gives the buffer back.
    #[must_use]
    pub fn append_to(header: &Header<'_>, mut out: Vec<u8>) -> Self {
        out.push(header.version.byte());
        match header.public_id {
            PublicId::Known(id) => write_mb_u_int32(&mut out, id),
            PublicId::StringTable(i) => {
                out.push(0);
                write_mb_u_int32(&mut out, i);
            }
        }
        if header.version != crate::Version::V1_0 {
            write_mb_u_int32(&mut out, header.charset);
        }
        write_mb_u_int32(
            &mut out,
            u32::try_from(header.string_table.len()).unwrap_or(u32::MAX),
        );
        out.extend_from_slice(header.string_table);
        Writer {
            out,
            page: 0,
            str_refs: 0,
        }
    }

    /// Writes a start tag: `token` (0x05..=0x3F) on code page `page`, with the content bit when
    /// `has_content`.
    #[inline]
    pub fn start(&mut self, page: u8, token: u8, has_content: bool) {
        if page != self.page {
            self.out.push(token::SWITCH_PAGE);
            self.out.push(page);
            self.page = page;
        }
        let t = token & token::TAG_MASK;
        self.out.push(if has_content {
            t | token::CONTENT_BIT
        } else {
            t
        });
    }

    /// Writes a literal start tag whose name is at `index` in the string table.
    pub fn start_literal(&mut self, index: u32, has_content: bool) {
        self.out.push(if has_content {
            token::LITERAL_C
        } else {
            token::LITERAL
        });
        write_mb_u_int32(&mut self.out, index);
        self.str_refs += 1;
    }

    /// Ends the innermost open element.
    #[inline]
    pub fn end(&mut self) {
        self.out.push(token::END);
    }

    /// Writes character data: an inline string (`STR_I`), or, when `s` contains a NUL byte
    /// (which an inline string cannot hold), `OPAQUE`. Empty strings write nothing.
    #[inline]
    pub fn text(&mut self, s: &[u8]) {
        if s.is_empty() {
            return;
        }
        if s.contains(&0) {
            self.opaque(s);
        } else {
            self.out.push(token::STR_I);
            self.out.extend_from_slice(s);
            self.out.push(0);
        }
    }

    /// Writes character data using `table`: a whole-string reference when `s` is an entry,
    /// else inline pieces around the entries found inside it (see [`StringTable::find_in`]).
    #[inline]
    pub fn text_with_table(&mut self, table: &StringTable<'_>, s: &[u8]) {
        if let Some(o) = table.offset(s) {
            self.str_t(o);
            return;
        }
        let mut rest = s;
        while let Some((pos, len, off)) = table.find_in(rest) {
            self.text(rest.get(..pos).unwrap_or_default());
            self.str_t(off);
            rest = rest.get(pos + len..).unwrap_or_default();
        }
        self.text(rest);
    }

    /// Writes a string-table reference (`STR_T`) to the string at `offset`.
    #[inline]
    pub fn str_t(&mut self, offset: u32) {
        self.out.push(token::STR_T);
        write_mb_u_int32(&mut self.out, offset);
        self.str_refs += 1;
    }

    /// The string-table references written so far (`STR_T` and literal tags): what a reader
    /// counts against [`crate::Limits::max_str_refs`].
    #[must_use]
    pub fn str_refs(&self) -> usize {
        self.str_refs
    }

    /// Writes opaque data (`OPAQUE`, length, bytes).
    #[inline]
    pub fn opaque(&mut self, data: &[u8]) {
        self.out.push(token::OPAQUE);
        write_mb_u_int32(&mut self.out, u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(data);
    }

    /// Writes a character entity.
    pub fn entity(&mut self, code_point: u32) {
        self.out.push(token::ENTITY);
        write_mb_u_int32(&mut self.out, code_point);
    }

    /// Bytes written so far (header included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing has been written (never, since the header is written at creation).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The finished document.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    #[test]
    fn writes_the_libwbxml_tiny_document() {
        // Same bytes as xml2wbxml for the digest's tiny SyncML 1.2 message.
        let mut w = Writer::new(&Header::new(Version::V1_3, PublicId::Known(0x1201)));
        let leaf = |w: &mut Writer, t: u8, s: &str| {
            w.start(0, t, true);
            w.text(s.as_bytes());
            w.end();
        };
        w.start(0, 0x2D, true);
        w.start(0, 0x2C, true);
        leaf(&mut w, 0x31, "1.2");
        leaf(&mut w, 0x32, "DM/1.2");
        leaf(&mut w, 0x25, "1");
        leaf(&mut w, 0x1B, "1");
        w.start(0, 0x2E, true);
        leaf(&mut w, 0x17, "http://s/dm");
        w.end();
        w.start(0, 0x27, true);
        leaf(&mut w, 0x17, "IMEI:1");
        w.end();
        w.end();
        w.start(0, 0x2B, true);
        w.start(0, 0x06, true);
        leaf(&mut w, 0x0B, "1");
        leaf(&mut w, 0x0F, "1201");
        w.end();
        w.start(0, 0x12, false);
        w.end();
        w.end();
        let hex: String = w.finish().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "03a4016a006d6c7103312e3200017203444d2f312e32000165033100015b033100016e5703687474703a2f2f732f646d000101675703494d45493a31000101016b464b033100014f0331323031000101120101"
        );
    }

    #[test]
    fn lazy_page_switch_and_nul_fallback() {
        let mut w = Writer::new(&Header::new(Version::V1_2, PublicId::Known(1)));
        w.start(0, 0x1A, true);
        w.start(1, 0x0C, true);
        w.text(b"a\0b");
        w.end();
        w.start(1, 0x13, false);
        w.end();
        w.start(0, 0x12, false);
        assert_eq!(
            w.finish(),
            [
                0x02, 0x01, 0x6A, 0x00, 0x5A, 0x00, 0x01, 0x4C, 0xC3, 3, b'a', 0, b'b', 0x01, 0x13,
                0x01, 0x00, 0x00, 0x12
            ]
        );
    }
}
