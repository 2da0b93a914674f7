//! A strict, allocation-free XML 1.0 pull reader over a UTF-8 document.
//!
//! In: the document as `&str` (already UTF-8 validated and checked by [`check_chars`]). Out:
//! [`Token`]s borrowing from it, each read at [`Reader::pos`]. The reader checks the syntax of
//! markup (names, attributes, end tags, comments, CDATA, processing instructions, DOCTYPE);
//! matching end tags to start tags, and what may appear where, is the decoder's business.
//! Text comes out raw: [`unescape`] resolves entity and character references.

use std::borrow::Cow;

use crate::{Encoding, Error, LimitKind};

/// XML `S`: space, tab, line feed, carriage return.
pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// True when every byte of `s` is XML whitespace.
pub(super) fn all_ws(s: &str) -> bool {
    s.bytes().all(is_ws)
}

/// A byte that may start a name (any non-ASCII byte: names are not checked beyond ASCII).
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || matches!(b, b'_' | b':') || b >= 0x80
}

/// What a byte is inside a name: 0 ends it, 1 continues it, 2 is a `:` (as a table: the name
/// scan is the reader's inner loop).
#[allow(
    clippy::indexing_slicing,
    reason = "const initialiser: `b < 256` indexes a 256-entry array (`get_mut` is not const)"
)]
static NAME_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let class = if c == b':' {
            2
        } else if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') || c >= 0x80 {
            1
        } else {
            0
        };
        t[b] = class;
        b += 1;
    }
    t
};

fn name_class(b: u8) -> u8 {
    NAME_BYTE.get(usize::from(b)).copied().unwrap_or(0)
}

pub(super) fn malformed(offset: usize, reason: impl Into<String>) -> Error {
    Error::XmlMalformed {
        offset,
        reason: reason.into(),
    }
}

/// True when `c` matches XML 1.0's `Char` production.
pub(super) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `x` equals `b` (exact: no false positives on the boolean).
fn has_byte(x: u64, b: u8) -> u64 {
    let v = x ^ (ONES * u64::from(b));
    v.wrapping_sub(ONES) & !v & HIGHS
}

fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Checks that `bytes` (valid UTF-8) holds only XML 1.0 `Char`s: no C0 control other than tab,
/// line feed and carriage return, no U+FFFE or U+FFFF (UTF-8 excludes surrogates already),
/// except runs of NUL bytes right before an end tag (`leaf\0</Data>`, the C string terminator
/// libdmclient sends): true when there are such runs (the reader then drops them from text and
/// rejects a NUL in any other markup, see [`Reader::new`]).
///
/// # Errors
/// [`Error::XmlInvalidChar`] at the first offending character.
pub(super) fn check_chars(bytes: &[u8]) -> Result<bool, Error> {
    // A branch-free test per 32-byte block (the compiler vectorises it); the exact byte loop
    // runs only on a block that holds a bad control character or a 0xEF lead byte.
    let mut blocks = bytes.chunks_exact(32);
    let mut base = 0;
    let mut nul_runs = false;
    for block in blocks.by_ref() {
        if suspicious(block) {
            nul_runs |= check_slow(bytes, base, base + 32)?;
        }
        base += 32;
    }
    // The tail, padded with spaces to a whole block.
    let mut last = [b' '; 32];
    let tail = blocks.remainder();
    if let Some(dst) = last.get_mut(..tail.len()) {
        dst.copy_from_slice(tail);
    }
    if suspicious(&last) {
        nul_runs |= check_slow(bytes, base, bytes.len())?;
    }
    Ok(nul_runs)
}

/// True when `block` may hold a non-`Char`: a C0 control other than tab, line feed, carriage
/// return, or a 0xEF lead byte (of U+F000..U+FFFF, which includes U+FFFE and U+FFFF).
fn suspicious(block: &[u8]) -> bool {
    block.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF)
    })
}

/// The byte-at-a-time check of `bytes[from..to]` (a `U+FFFx` or a run of NULs may run past
/// `to`); true when it found a run of NULs right before `</`.
fn check_slow(bytes: &[u8], from: usize, to: usize) -> Result<bool, Error> {
    let mut nul_runs = false;
    let mut i = from;
    while i < to {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == 0 {
            let run = bytes
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&c| c == 0)
                .count();
            if bytes.get(i + run..i + run + 2) == Some(b"</") {
                nul_runs = true;
                i += run;
                continue;
            }
        }
        if b < 0x20 && !is_ws(b) {
            return Err(Error::XmlInvalidChar {
                offset: i,
                code_point: u32::from(b),
            });
        }
        if b == 0xEF
            && bytes.get(i + 1) == Some(&0xBF)
            && let Some(&last @ (0xBE | 0xBF)) = bytes.get(i + 2)
        {
            return Err(Error::XmlInvalidChar {
                offset: i,
                code_point: 0xFFC0 | u32::from(last & 0x3F),
            });
        }
        i += 1;
    }
    Ok(nul_runs)
}

/// An error at the first NUL of `text`, found at byte `offset`, if it has one (markup other
/// than text of a document with runs of NULs before end tags, see [`check_chars`]).
fn no_nul(text: &str, offset: usize) -> Result<(), Error> {
    match text.bytes().position(|b| b == 0) {
        Some(i) => Err(Error::XmlInvalidChar {
            offset: offset + i,
            code_point: 0,
        }),
        None => Ok(()),
    }
}

/// The entity and character references a decoder may still resolve.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entities {
    /// References left.
    pub(super) left: usize,
    /// The limit (for the error).
    pub(super) max: usize,
}

impl Entities {
    /// No bound (references that are only checked, not resolved into the output).
    pub(super) fn uncounted() -> Entities {
        Entities {
            left: usize::MAX,
            max: usize::MAX,
        }
    }
}

/// Index of the first `a` or `b` in `bytes` at or after `from`, else `bytes.len()`.
pub(super) fn find2(bytes: &[u8], from: usize, a: u8, b: u8) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = word(chunk);
        let hit = has_byte(x, a) | has_byte(x, b);
        if hit != 0 {
            // The lowest flagged byte is an exact match (borrows only run upwards).
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = bytes.get(i) {
        if c == a || c == b {
            return i;
        }
        i += 1;
    }
    bytes.len().max(from)
}

/// Resolves the predefined entities and character references of `raw`, text found at byte
/// `offset` of the document. Borrows when there is nothing to resolve.
///
/// Each reference is counted against `entities`.
///
/// # Errors
/// [`Error::XmlMalformed`] for an unknown or unterminated reference, [`Error::XmlInvalidChar`]
/// for a character reference to a non-`Char`, [`Error::LimitExceeded`] ([`LimitKind::Entities`])
/// at the reference past the count.
pub(super) fn unescape<'r>(
    raw: &'r str,
    offset: usize,
    entities: &mut Entities,
) -> Result<Cow<'r, str>, Error> {
    let bytes = raw.as_bytes();
    let first = find2(bytes, 0, b'&', b'&');
    if first == bytes.len() {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut amp = first;
    while amp < bytes.len() {
        out.push_str(raw.get(last..amp).unwrap_or_default());
        let at = offset + amp;
        entities.left = entities.left.checked_sub(1).ok_or(Error::LimitExceeded {
            encoding: Encoding::Xml,
            limit: LimitKind::Entities,
            offset: at,
            max: entities.max,
        })?;
        let semi = find2(bytes, amp, b';', b';');
        let name = raw
            .get(amp + 1..semi)
            .filter(|_| semi < bytes.len())
            .ok_or_else(|| malformed(at, "unterminated entity reference"))?;
        match name {
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "amp" => out.push('&'),
            "apos" => out.push('\''),
            "quot" => out.push('"'),
            _ => out.push(char_ref(name, at)?),
        }
        last = semi + 1;
        amp = find2(bytes, last, b'&', b'&');
    }
    out.push_str(raw.get(last..).unwrap_or_default());
    Ok(Cow::Owned(out))
}

/// The character of `#123` / `#x7B` (the text between `&` and `;`), at byte `at`.
fn char_ref(name: &str, at: usize) -> Result<char, Error> {
    let (digits, radix) = match name.strip_prefix('#') {
        Some(hex) if hex.starts_with('x') => (hex.get(1..).unwrap_or_default(), 16),
        Some(dec) => (dec, 10),
        None => return Err(malformed(at, format!("unknown entity &{name};"))),
    };
    if digits.is_empty() {
        return Err(malformed(at, "empty character reference"));
    }
    let mut v: u32 = 0;
    for c in digits.chars() {
        let d = c
            .to_digit(radix)
            .ok_or_else(|| malformed(at, format!("invalid character reference &{name};")))?;
        v = v.saturating_mul(radix).saturating_add(d);
    }
    match char::from_u32(v) {
        Some(c) if is_xml_char(v) => Ok(c),
        _ => Err(Error::XmlInvalidChar {
            offset: at,
            code_point: v,
        }),
    }
}

/// A start tag or empty-element tag.
#[derive(Debug, Clone, Copy)]
pub(super) struct StartTag<'a> {
    /// The qualified name as written.
    pub(super) name: &'a str,
    /// What follows the name up to `>` or `/>`: attributes and whitespace (syntax checked).
    pub(super) attrs: &'a str,
    /// `<X/>`.
    pub(super) empty: bool,
    /// Where the local name starts in `name` (after the first `:`, else 0).
    local_start: usize,
}

impl<'a> StartTag<'a> {
    /// The local name (after the first `:`).
    pub(super) fn local(&self) -> &'a [u8] {
        self.name
            .as_bytes()
            .get(self.local_start..)
            .unwrap_or_default()
    }

    /// The namespace prefix (before the first `:`), if any.
    pub(super) fn prefix(&self) -> Option<&'a str> {
        match self.local_start {
            0 => None,
            n => self.name.get(..n - 1),
        }
    }

    /// The attributes as `(name, raw value)` pairs.
    pub(super) fn attributes(&self) -> Attributes<'a> {
        Attributes { rest: self.attrs }
    }
}

/// Iterator over the attributes of a [`StartTag`] (whose syntax the reader checked).
pub(super) struct Attributes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii() && is_ws(c as u8));
        let (name, rest) = s.split_once('=')?;
        let rest = rest.trim_start_matches(|c: char| c.is_ascii() && is_ws(c as u8));
        let quote = rest.chars().next()?;
        let rest = rest.get(1..)?;
        let (value, rest) = rest.split_once(quote)?;
        self.rest = rest;
        Some((
            name.trim_end_matches(|c: char| c.is_ascii() && is_ws(c as u8)),
            value,
        ))
    }
}

/// One piece of the document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Token<'a> {
    /// `<name ...>` or `<name .../>`.
    Start(StartTag<'a>),
    /// `</name>`, with the name.
    End(&'a str),
    /// Character data up to the next `<`, raw (references unresolved); never empty.
    Text(&'a str),
    /// The content of `<![CDATA[...]]>`.
    CData(&'a str),
    /// `<!--...-->`.
    Comment,
    /// `<?target ...?>`.
    Pi,
    /// `<?xml ...?>`.
    Decl,
    /// `<!DOCTYPE ...>`.
    DocType,
    /// End of the document.
    Eof,
}

impl Token<'_> {
    /// What this token is, for error messages.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Token::Start(_) => "element",
            Token::End(_) => "end tag",
            Token::Text(_) => "text",
            Token::CData(_) => "CDATA",
            Token::Comment => "comment",
            Token::Pi => "processing instruction",
            Token::Decl => "XML declaration",
            Token::DocType => "DOCTYPE",
            Token::Eof => "end of input",
        }
    }
}

/// The pull reader: a position in the document.
pub(super) struct Reader<'a> {
    src: &'a str,
    pos: usize,
    /// The document has runs of NULs before end tags ([`check_chars`]).
    nul_runs: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `src`. With `nul_runs` (what [`check_chars`] returned), a run of
    /// NULs at the end of a text token (all the NULs such a document has are right before an
    /// end tag) is dropped, a text token made only of NULs is skipped, and a NUL in a CDATA
    /// section, comment, processing instruction or DOCTYPE is an [`Error::XmlInvalidChar`].
    pub(super) fn new(src: &'a str, nul_runs: bool) -> Self {
        Reader {
            src,
            pos: 0,
            nul_runs,
        }
    }

    /// `text` without its trailing NULs, if the document has runs of them.
    #[inline]
    fn trim_nuls(&self, text: &'a str) -> &'a str {
        if self.nul_runs {
            text.trim_end_matches('\0')
        } else {
            text
        }
    }

    /// Whether the document has runs of NULs before end tags.
    pub(super) fn has_nul_runs(&self) -> bool {
        self.nul_runs
    }

    /// Offset of the next token.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to `pos` (a token boundary this reader returned, or just after a byte order mark).
    pub(super) fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// Moves past XML whitespace.
    pub(super) fn skip_ws(&mut self) {
        self.pos = self.ws_end(self.pos);
    }

    pub(super) fn byte(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(i).copied()
    }

    /// `src[from..to]`, or a malformed error at `from` when not on character boundaries.
    pub(super) fn slice(&self, from: usize, to: usize) -> Result<&'a str, Error> {
        self.src
            .get(from..to)
            .ok_or_else(|| malformed(from, "bad slice"))
    }

    /// True when `</name>` starts at `at` (exactly: no whitespace before `>`).
    pub(super) fn end_tag_at(&self, at: usize, name: &str) -> bool {
        let bytes = self.src.as_bytes();
        let n = name.len();
        bytes.get(at..at + 2) == Some(b"</")
            && bytes.get(at + 2..at + 2 + n) == Some(name.as_bytes())
            && bytes.get(at + 2 + n) == Some(&b'>')
    }

    /// Reads raw text from the current position up to the next `<` or `&` (or the end), and
    /// returns it with the byte it stopped at. The position moves to that byte.
    pub(super) fn plain_text(&mut self) -> (&'a str, Option<u8>) {
        let start = self.pos;
        let end = find2(self.src.as_bytes(), start, b'<', b'&');
        self.pos = end;
        let text = self.src.get(start..end).unwrap_or_default();
        let stop = self.byte(end);
        if stop == Some(b'<') {
            (self.trim_nuls(text), stop)
        } else {
            (text, stop)
        }
    }

    /// The next token.
    ///
    /// # Errors
    /// [`Error::XmlMalformed`] for broken markup, at the offset of the problem.
    pub(super) fn next_token(&mut self) -> Result<Token<'a>, Error> {
        let start = self.pos;
        match self.byte(start) {
            None => Ok(Token::Eof),
            Some(b'<') => match self.byte(start + 1) {
                Some(b'/') => self.end_tag(start),
                Some(b'!') => self.bang(start),
                Some(b'?') => self.pi(start),
                _ => self.start_tag(start),
            },
            Some(_) => {
                let end = find2(self.src.as_bytes(), start, b'<', b'<');
                self.pos = end;
                let text = self.trim_nuls(self.slice(start, end)?);
                if text.is_empty() {
                    // Only NULs before an end tag: dropped.
                    return self.next_token();
                }
                Ok(Token::Text(text))
            }
        }
    }

    /// The end of a name starting at `from` (which must start one).
    fn name_end(&self, from: usize) -> Result<usize, Error> {
        self.name_scan(from).map(|(end, _)| end)
    }

    /// The end of a name starting at `from` (which must start one), and the offset of its
    /// local part inside it (after the first `:`, else 0).
    fn name_scan(&self, from: usize) -> Result<(usize, usize), Error> {
        if !self.byte(from).is_some_and(is_name_start) {
            return Err(malformed(from, "expected a name"));
        }
        let bytes = self.src.as_bytes();
        let mut local = if self.byte(from) == Some(b':') { 1 } else { 0 };
        let mut i = from + 1;
        loop {
            match bytes.get(i).map_or(0, |&b| name_class(b)) {
                0 => return Ok((i, local)),
                2 if local == 0 => local = i + 1 - from,
                _ => {}
            }
            i += 1;
        }
    }

    fn ws_end(&self, mut i: usize) -> usize {
        while self.byte(i).is_some_and(is_ws) {
            i += 1;
        }
        i
    }

    fn end_tag(&mut self, start: usize) -> Result<Token<'a>, Error> {
        let from = start + 2;
        let end = self.name_end(from)?;
        let name = self.slice(from, end)?;
        let close = self.ws_end(end);
        if self.byte(close) != Some(b'>') {
            return Err(malformed(close, "expected '>' to close the end tag"));
        }
        self.pos = close + 1;
        Ok(Token::End(name))
    }

    fn start_tag(&mut self, start: usize) -> Result<Token<'a>, Error> {
        let from = start + 1;
        let (end, local_start) = self.name_scan(from)?;
        let name = self.slice(from, end)?;
        let mut i = end;
        loop {
            let after_ws = self.ws_end(i);
            match self.byte(after_ws) {
                Some(b'>') => {
                    self.pos = after_ws + 1;
                    let attrs = self.slice(end, after_ws)?;
                    return Ok(Token::Start(StartTag {
                        name,
                        attrs,
                        empty: false,
                        local_start,
                    }));
                }
                Some(b'/') if self.byte(after_ws + 1) == Some(b'>') => {
                    self.pos = after_ws + 2;
                    let attrs = self.slice(end, after_ws)?;
                    return Ok(Token::Start(StartTag {
                        name,
                        attrs,
                        empty: true,
                        local_start,
                    }));
                }
                Some(b) if after_ws > i && is_name_start(b) => i = self.attribute(after_ws)?,
                None => return Err(malformed(after_ws, "unclosed start tag")),
                Some(_) => return Err(malformed(after_ws, "invalid start tag")),
            }
        }
    }

    /// Checks one `name = "value"` at `from`; returns the offset after it.
    fn attribute(&self, from: usize) -> Result<usize, Error> {
        let end = self.name_end(from)?;
        let eq = self.ws_end(end);
        if self.byte(eq) != Some(b'=') {
            return Err(malformed(eq, "expected '=' after an attribute name"));
        }
        let q = self.ws_end(eq + 1);
        let quote = match self.byte(q) {
            Some(c @ (b'"' | b'\'')) => c,
            _ => return Err(malformed(q, "expected a quoted attribute value")),
        };
        let close = find2(self.src.as_bytes(), q + 1, quote, b'<');
        match self.byte(close) {
            Some(c) if c == quote => {
                // References in the value must be well-formed and name XML characters.
                unescape(self.slice(q + 1, close)?, q + 1, &mut Entities::uncounted())?;
                Ok(close + 1)
            }
            Some(_) => Err(malformed(close, "'<' in an attribute value")),
            None => Err(malformed(q, "unclosed attribute value")),
        }
    }

    /// The offset just after the first `pat` at or after `from`, else an error at `start`.
    fn past(&self, from: usize, pat: &str, start: usize, what: &str) -> Result<usize, Error> {
        self.src
            .get(from..)
            .and_then(|rest| rest.find(pat))
            .map(|i| from + i + pat.len())
            .ok_or_else(|| malformed(start, format!("unclosed {what}")))
    }

    /// In a document with runs of NULs, an error at the first NUL of the markup that starts at
    /// `start` and ends at the current position.
    fn markup_without_nul(&self, start: usize) -> Result<(), Error> {
        if self.nul_runs {
            no_nul(self.slice(start, self.pos)?, start)?;
        }
        Ok(())
    }

    fn bang(&mut self, start: usize) -> Result<Token<'a>, Error> {
        let rest = self.src.get(start..).unwrap_or_default();
        if rest.starts_with("<!--") {
            self.pos = self.past(start + 4, "-->", start, "comment")?;
            self.markup_without_nul(start)?;
            Ok(Token::Comment)
        } else if rest.starts_with("<![CDATA[") {
            let from = start + 9;
            let end = self.past(from, "]]>", start, "CDATA section")?;
            self.pos = end;
            self.markup_without_nul(start)?;
            Ok(Token::CData(self.slice(from, end - 3)?))
        } else if rest.starts_with("<!DOCTYPE") {
            self.pos = self.doctype_end(start)?;
            self.markup_without_nul(start)?;
            Ok(Token::DocType)
        } else {
            Err(malformed(start, "unknown markup declaration"))
        }
    }

    /// The offset after the DOCTYPE at `start` (quoted strings and an internal subset in `[]`
    /// skipped).
    fn doctype_end(&self, start: usize) -> Result<usize, Error> {
        let bytes = self.src.as_bytes();
        let mut i = start + 9;
        let mut depth = 0usize;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'"' | b'\'' => {
                    let close = find2(bytes, i + 1, b, b);
                    if close >= bytes.len() {
                        break;
                    }
                    i = close;
                }
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'>' if depth == 0 => return Ok(i + 1),
                _ => {}
            }
            i += 1;
        }
        Err(malformed(start, "unclosed DOCTYPE"))
    }

    fn pi(&mut self, start: usize) -> Result<Token<'a>, Error> {
        let from = start + 2;
        let end = self.name_end(from)?;
        let target = self.slice(from, end)?;
        match self.byte(end) {
            Some(b'?') => {}
            Some(b) if is_ws(b) => {}
            _ => return Err(malformed(end, "invalid processing instruction")),
        }
        self.pos = self.past(end, "?>", start, "processing instruction")?;
        self.markup_without_nul(start)?;
        Ok(if target.eq_ignore_ascii_case("xml") {
            Token::Decl
        } else {
            Token::Pi
        })
    }
}
