//! The borrowing pull reader.

use crate::{Error, LimitKind, Limits, Version, mbuint::read_mb_u_int32, token};

/// The document's public identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicId {
    /// A registered numeric identifier (e.g. 0x1201 for SyncML 1.2; 1 = unknown).
    Known(u32),
    /// An offset into the string table holding the textual public identifier.
    StringTable(u32),
}

/// The WBXML header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// WBXML version.
    pub version: Version,
    /// Public identifier.
    pub public_id: PublicId,
    /// Charset MIBenum (106 = UTF-8).
    pub charset: u32,
    /// The raw string table (NUL-terminated strings back to back).
    pub string_table: &'a [u8],
}

impl<'a> Header<'a> {
    /// A UTF-8 header with no string table.
    #[must_use]
    pub fn new(version: Version, public_id: PublicId) -> Self {
        Header {
            version,
            public_id,
            charset: crate::CHARSET_UTF8,
            string_table: &[],
        }
    }

    /// The textual public identifier when it lives in the string table.
    #[must_use]
    pub fn public_id_text(&self) -> Option<&'a [u8]> {
        match self.public_id {
            PublicId::StringTable(i) => table_string(self.string_table, i),
            PublicId::Known(_) => None,
        }
    }
}

/// The NUL-terminated string at `index` in a string table.
fn table_string(table: &[u8], index: u32) -> Option<&[u8]> {
    let rest = table.get(usize::try_from(index).ok()?..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end)
}

/// What a tag names: a token on the current page, or a literal name from the string table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagId<'a> {
    /// A tag token (0x05..=0x3F) on [`Tag::page`].
    Token(u8),
    /// A literal tag name (`LITERAL*` tokens), from the string table.
    Literal(&'a [u8]),
}

/// A start tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag<'a> {
    /// The tag code page in force.
    pub page: u8,
    /// The token or literal name.
    pub id: TagId<'a>,
    /// Whether content (and so a matching [`Event::End`]) follows.
    pub has_content: bool,
}

/// One item of the document body, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event<'a> {
    /// A start tag. Tags without content have no matching [`Event::End`].
    Start(Tag<'a>),
    /// The end of the innermost open element that has content.
    End,
    /// Character data: an inline string (`STR_I`) or a string-table reference (`STR_T`), as the
    /// raw bytes (UTF-8 for the charsets this reader accepts; not validated here).
    Str(&'a [u8]),
    /// Opaque data.
    Opaque(&'a [u8]),
    /// A character entity (Unicode code point, unchecked).
    Entity(u32),
    /// An extension token: `kind` 0..=2 is the `n` of `EXT_I_n`/`EXT_T_n`/`EXT_n`.
    Extension {
        /// Which of the three extensions.
        kind: u8,
        /// Its value.
        value: ExtValue<'a>,
    },
}

/// The payload of an extension token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtValue<'a> {
    /// `EXT_I_n`: an inline string.
    Str(&'a [u8]),
    /// `EXT_T_n`: an integer.
    Int(u32),
    /// `EXT_n`: no payload.
    None,
}

/// A pull reader over one WBXML document.
///
/// Create it with [`Reader::new`] (which reads the header), then call [`Reader::next_event`]
/// until it returns `Ok(None)` (the root element has ended and the input is exhausted).
///
/// The reader keeps to its [`Limits`] (see there for the guarantee): every slice it hands out
/// and every entity is counted against the document's output budget, each run of character
/// data between two tags against `max_text`, and string-table references, entities and
/// elements against their counts; exceeding one is an [`Error::LimitExceeded`] at the offset
/// of the token that went over. A document embedded in this one is read with
/// [`Reader::nested`], on the same budget.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    header: Header<'a>,
    page: u8,
    depth: usize,
    /// `max_depth` less the depth of the element an embedded document sits in.
    depth_room: usize,
    root_done: bool,
    limits: Limits,
    /// What is left of the message's budget.
    budget: Budget,
    /// The budget when this reader was made (what [`Reader::absorb`] subtracts from).
    start: Budget,
    /// Bytes of character data since the last tag.
    text_run: usize,
    skip_attributes: bool,
}

/// What a message may still spend: output bytes, string-table references, entities, elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    output: usize,
    /// The message's whole output budget (reported in errors).
    output_max: usize,
    str_refs: usize,
    entities: usize,
    elements: usize,
}

impl Budget {
    fn new(limits: &Limits, input_len: usize) -> Self {
        let output = limits.output_budget(input_len);
        Budget {
            output,
            output_max: output,
            str_refs: limits.max_str_refs,
            entities: limits.max_entities,
            elements: limits.max_elements,
        }
    }

    /// `self` less what `reader` spent since it was made.
    fn less_spent_by(self, reader: &Reader<'_>) -> Self {
        let spent = |start: usize, now: usize| start.saturating_sub(now);
        let (s, n) = (reader.start, reader.budget);
        Budget {
            output: self.output.saturating_sub(spent(s.output, n.output)),
            output_max: self.output_max,
            str_refs: self.str_refs.saturating_sub(spent(s.str_refs, n.str_refs)),
            entities: self.entities.saturating_sub(spent(s.entities, n.entities)),
            elements: self.elements.saturating_sub(spent(s.elements, n.elements)),
        }
    }
}

impl<'a> Reader<'a> {
    /// Reads the header of `input` and positions the reader on the body.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] ([`LimitKind::Size`]), [`Error::UnsupportedVersion`],
    /// [`Error::UnsupportedCharset`], and
    /// the framing errors of the header fields.
    pub fn new(input: &'a [u8], limits: Limits) -> Result<Self, Error> {
        Reader::with_budget(input, limits, Budget::new(&limits, input.len()), 0)
    }

    /// Reads the header of a document embedded in this one (e.g. a WBXML document inside
    /// `OPAQUE` data) in an element at depth `depth` (the root element is depth 1), and
    /// positions a reader on its body. The new reader draws on what is left of this reader's
    /// budget (output, string-table references, entities, elements), and its elements count
    /// from `depth` against `max_depth`; hand the spending back with [`Reader::absorb`] when
    /// done with it, whether it succeeded or not. Its offsets are those of `input`.
    ///
    /// # Errors
    /// As [`Reader::new`].
    pub fn nested<'b>(&self, input: &'b [u8], depth: usize) -> Result<Reader<'b>, Error> {
        Ok(Reader::with_budget(input, self.limits, self.budget, depth)?
            .skip_attributes(self.skip_attributes))
    }

    /// Counts what the `nested` reader (made by [`Reader::nested`] from this one) spent against
    /// this reader's budget.
    pub fn absorb(&mut self, nested: &Reader<'_>) {
        self.budget = self.budget.less_spent_by(nested);
    }

    /// Counts `bytes` of output that the caller produced itself from the events (for instance
    /// markup, when turning WBXML elements into XML text) against the output budget.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] ([`LimitKind::Output`], at the current offset) when the budget
    /// does not hold `bytes` more.
    pub fn charge(&mut self, bytes: usize) -> Result<(), Error> {
        match self.budget.output.checked_sub(bytes) {
            Some(left) => {
                self.budget.output = left;
                Ok(())
            }
            None => Err(self.exceeded(LimitKind::Output, self.pos)),
        }
    }

    /// Bytes of output the budget still holds.
    #[must_use]
    pub fn output_left(&self) -> usize {
        self.budget.output
    }

    /// The limits this reader keeps to.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn with_budget(
        input: &'a [u8],
        limits: Limits,
        budget: Budget,
        depth_base: usize,
    ) -> Result<Self, Error> {
        if input.len() > limits.max_size {
            return Err(Error::LimitExceeded {
                limit: LimitKind::Size,
                offset: limits.max_size,
                max: limits.max_size,
            });
        }
        let Some(&vbyte) = input.first() else {
            return Err(Error::UnexpectedEof {
                offset: 0,
                context: "header",
            });
        };
        let version = Version::from_byte(vbyte).ok_or(Error::UnsupportedVersion { byte: vbyte })?;
        let mut pos = 1;
        let pid = read_mb_u_int32(input, &mut pos)?;
        let public_id = if pid == 0 {
            PublicId::StringTable(read_mb_u_int32(input, &mut pos)?)
        } else {
            PublicId::Known(pid)
        };
        let charset = if version == Version::V1_0 {
            crate::CHARSET_UTF8
        } else {
            let at = pos;
            let mib = read_mb_u_int32(input, &mut pos)?;
            if !matches!(
                mib,
                crate::CHARSET_UTF8 | crate::CHARSET_US_ASCII | crate::CHARSET_UNKNOWN
            ) {
                return Err(Error::UnsupportedCharset { offset: at, mib });
            }
            mib
        };
        let len = read_mb_u_int32(input, &mut pos)?;
        let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l));
        let string_table = end
            .and_then(|end| input.get(pos..end))
            .ok_or(Error::UnexpectedEof {
                offset: input.len(),
                context: "string table",
            })?;
        pos += string_table.len();
        let header = Header {
            version,
            public_id,
            charset,
            string_table,
        };
        if let PublicId::StringTable(i) = public_id
            && header.public_id_text().is_none()
        {
            return Err(Error::BadStringTableRef {
                offset: 1,
                index: i,
            });
        }
        Ok(Reader {
            input,
            pos,
            header,
            page: 0,
            depth: 0,
            depth_room: limits.max_depth.saturating_sub(depth_base),
            root_done: false,
            limits,
            budget,
            start: budget,
            text_run: 0,
            skip_attributes: false,
        })
    }

    /// The error for `limit`, exceeded at `offset`.
    #[cold]
    fn exceeded(&self, limit: LimitKind, offset: usize) -> Error {
        let max = match limit {
            LimitKind::Output => self.budget.output_max,
            other => self.limits.get(other),
        };
        Error::LimitExceeded { limit, offset, max }
    }

    /// Counts `len` bytes of character data (or of a name) handed out, found at `at`; `text`
    /// says whether they add to the current text value.
    #[inline]
    fn count_output(&mut self, at: usize, len: usize, text: bool) -> Result<(), Error> {
        if text {
            self.text_run = self.text_run.saturating_add(len);
            if self.text_run > self.limits.max_text {
                return Err(self.exceeded(LimitKind::Text, at));
            }
        }
        match self.budget.output.checked_sub(len) {
            Some(left) => {
                self.budget.output = left;
                Ok(())
            }
            None => Err(self.exceeded(LimitKind::Output, at)),
        }
    }

    /// Counts one string-table reference at `at`.
    #[inline]
    fn count_ref(&mut self, at: usize) -> Result<(), Error> {
        match self.budget.str_refs.checked_sub(1) {
            Some(left) => {
                self.budget.str_refs = left;
                Ok(())
            }
            None => Err(self.exceeded(LimitKind::StrRefs, at)),
        }
    }

    /// Skips attribute lists instead of rejecting them with [`Error::AttributesUnsupported`].
    #[must_use]
    pub fn skip_attributes(mut self, skip: bool) -> Self {
        self.skip_attributes = skip;
        self
    }

    /// The document header.
    #[must_use]
    pub fn header(&self) -> &Header<'a> {
        &self.header
    }

    /// The byte offset of the next token.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The number of open elements.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.depth
    }

    #[inline]
    fn byte(&mut self, context: &'static str) -> Result<u8, Error> {
        let b = *self.input.get(self.pos).ok_or(Error::UnexpectedEof {
            offset: self.input.len(),
            context,
        })?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn mb(&mut self) -> Result<u32, Error> {
        read_mb_u_int32(self.input, &mut self.pos)
    }

    #[inline]
    fn inline_str(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let rest = self.input.get(start..).unwrap_or_default();
        let len = memchr0(rest).ok_or(Error::UnterminatedString { offset: start })?;
        self.pos = start + len + 1;
        Ok(rest.get(..len).unwrap_or_default())
    }

    /// A string-table reference (its `mb_u_int32` at the current position; the token at `at`),
    /// counted.
    fn table_ref(&mut self, at: usize) -> Result<&'a [u8], Error> {
        let idx_at = self.pos;
        let index = self.mb()?;
        self.count_ref(at)?;
        table_string(self.header.string_table, index).ok_or(Error::BadStringTableRef {
            offset: idx_at,
            index,
        })
    }

    fn opaque(&mut self) -> Result<&'a [u8], Error> {
        let at = self.pos;
        let len = self.mb()?;
        let start = self.pos;
        let data = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .and_then(|end| self.input.get(start..end))
            .ok_or(Error::OpaqueTooLong { offset: at, len })?;
        self.pos = start + data.len();
        Ok(data)
    }

    /// Skips an attribute list (after a tag with the attribute bit) up to and including its END.
    fn skip_attribute_list(&mut self) -> Result<(), Error> {
        loop {
            let b = self.byte("attribute list")?;
            match b {
                token::END => return Ok(()),
                token::SWITCH_PAGE => {
                    self.byte("SWITCH_PAGE")?;
                }
                token::STR_I | 0x40..=0x42 => {
                    self.inline_str()?;
                }
                token::STR_T | token::ENTITY | token::LITERAL | 0x80..=0x82 => {
                    self.mb()?;
                }
                token::OPAQUE => {
                    self.opaque()?;
                }
                _ => {}
            }
        }
    }

    fn start_tag(&mut self, at: usize, b: u8, id: TagId<'a>) -> Result<Event<'a>, Error> {
        if self.root_done {
            return Err(Error::UnexpectedToken {
                offset: at,
                token: b,
                context: "element after the root element",
            });
        }
        if b & token::ATTR_BIT != 0 {
            if self.skip_attributes {
                self.skip_attribute_list()?;
            } else {
                return Err(Error::AttributesUnsupported { offset: at });
            }
        }
        match self.budget.elements.checked_sub(1) {
            Some(left) => self.budget.elements = left,
            None => return Err(self.exceeded(LimitKind::Elements, at)),
        }
        self.text_run = 0;
        let has_content = b & token::CONTENT_BIT != 0;
        if has_content {
            if self.depth >= self.depth_room {
                return Err(self.exceeded(LimitKind::Depth, at));
            }
            self.depth += 1;
        } else if self.depth == 0 {
            self.root_done = true;
        }
        Ok(Event::Start(Tag {
            page: self.page,
            id,
            has_content,
        }))
    }

    fn check_in_element(&self, at: usize, b: u8) -> Result<(), Error> {
        if self.depth == 0 {
            Err(Error::UnexpectedToken {
                offset: at,
                token: b,
                context: "content outside the root",
            })
        } else {
            Ok(())
        }
    }

    /// Fast path for reading an element's children: if the next token is a tag token without
    /// attributes on the current page, or the `END` of an element below the root, consumes it
    /// and returns `Some(Some(tag))` or `Some(None)`. Otherwise (any other token, a page switch,
    /// the root's `END`, a limit reached, the end of input) consumes nothing and returns
    /// `None`: use [`Reader::next_event`] there, which also reports any error.
    #[inline]
    pub fn tag_or_end(&mut self) -> Option<Option<Tag<'a>>> {
        let b = *self.input.get(self.pos)?;
        if b == token::END {
            if self.depth <= 1 {
                return None;
            }
            self.pos += 1;
            self.depth -= 1;
            self.text_run = 0;
            return Some(None);
        }
        if b & token::ATTR_BIT != 0
            || b & token::TAG_MASK < 5
            || self.depth == 0
            || self.budget.elements == 0
        {
            return None;
        }
        let has_content = b & token::CONTENT_BIT != 0;
        if has_content {
            if self.depth >= self.depth_room {
                return None;
            }
            self.depth += 1;
        }
        self.budget.elements -= 1;
        self.text_run = 0;
        self.pos += 1;
        Some(Some(Tag {
            page: self.page,
            id: TagId::Token(b & token::TAG_MASK),
            has_content,
        }))
    }

    /// Fast path for a text-only element, right after its start tag (with content): if the
    /// next tokens are one string (`STR_I` or a valid `STR_T`) and `END`, or just `END`,
    /// consumes them and returns the string (empty for a lone `END`). Otherwise consumes
    /// nothing and returns `None`: read the content with [`Reader::next_event`] instead (which
    /// also reports any error there).
    #[inline]
    pub fn text_then_end(&mut self) -> Option<&'a [u8]> {
        if self.depth == 0 {
            return None;
        }
        let at = self.pos;
        let (text, after, refs) = match *self.input.get(at)? {
            token::STR_I => {
                let rest = self.input.get(at + 1..)?;
                let len = memchr0(rest)?;
                (rest.get(..len)?, at + len + 2, 0)
            }
            token::STR_T => {
                let mut p = at + 1;
                let index = read_mb_u_int32(self.input, &mut p).ok()?;
                (table_string(self.header.string_table, index)?, p, 1)
            }
            token::END => (&[][..], at, 0),
            _ => return None,
        };
        if *self.input.get(after)? != token::END
            || self.budget.str_refs < refs
            || self.budget.output < text.len()
            || self.text_run.saturating_add(text.len()) > self.limits.max_text
        {
            return None;
        }
        self.budget.str_refs -= refs;
        self.budget.output -= text.len();
        self.text_run = 0;
        self.pos = after + 1;
        self.depth -= 1;
        if self.depth == 0 {
            self.root_done = true;
        }
        Some(text)
    }

    /// The next event, or `Ok(None)` once the root element has ended and the input is used up.
    ///
    /// # Errors
    /// Any framing error, with the byte offset where it was found; an exceeded limit.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event<'a>>, Error> {
        loop {
            let at = self.pos;
            let Some(&b) = self.input.get(at) else {
                if self.depth == 0 && self.root_done {
                    return Ok(None);
                }
                return Err(Error::UnexpectedEof {
                    offset: at,
                    context: "body",
                });
            };
            self.pos += 1;
            let ev = match b {
                token::SWITCH_PAGE => {
                    self.page = self.byte("SWITCH_PAGE")?;
                    continue;
                }
                token::END => {
                    if self.depth == 0 {
                        return Err(Error::UnexpectedToken {
                            offset: at,
                            token: b,
                            context: "END with no open element",
                        });
                    }
                    self.depth -= 1;
                    self.text_run = 0;
                    if self.depth == 0 {
                        self.root_done = true;
                    }
                    Event::End
                }
                token::STR_I => {
                    self.check_in_element(at, b)?;
                    let s = self.inline_str()?;
                    self.count_output(at, s.len(), true)?;
                    Event::Str(s)
                }
                token::STR_T => {
                    self.check_in_element(at, b)?;
                    let s = self.table_ref(at)?;
                    self.count_output(at, s.len(), true)?;
                    Event::Str(s)
                }
                token::OPAQUE => {
                    self.check_in_element(at, b)?;
                    let s = self.opaque()?;
                    self.count_output(at, s.len(), true)?;
                    Event::Opaque(s)
                }
                token::ENTITY => {
                    self.check_in_element(at, b)?;
                    let cp = self.mb()?;
                    match self.budget.entities.checked_sub(1) {
                        Some(left) => self.budget.entities = left,
                        None => return Err(self.exceeded(LimitKind::Entities, at)),
                    }
                    // The UTF-8 size of the character (of U+FFFD for a code point that is none).
                    let len = char::from_u32(cp).map_or(3, char::len_utf8);
                    self.count_output(at, len, true)?;
                    Event::Entity(cp)
                }
                0x40..=0x42 => {
                    self.check_in_element(at, b)?;
                    let s = self.inline_str()?;
                    self.count_output(at, s.len(), true)?;
                    Event::Extension {
                        kind: b - 0x40,
                        value: ExtValue::Str(s),
                    }
                }
                0x80..=0x82 => {
                    self.check_in_element(at, b)?;
                    Event::Extension {
                        kind: b - 0x80,
                        value: ExtValue::Int(self.mb()?),
                    }
                }
                0xC0..=0xC2 => {
                    self.check_in_element(at, b)?;
                    Event::Extension {
                        kind: b - 0xC0,
                        value: ExtValue::None,
                    }
                }
                token::PI => {
                    return Err(Error::UnexpectedToken {
                        offset: at,
                        token: b,
                        context: "processing instructions are not supported",
                    });
                }
                token::LITERAL | token::LITERAL_C | token::LITERAL_A | token::LITERAL_AC => {
                    let name = self.table_ref(at)?;
                    self.count_output(at, name.len(), false)?;
                    self.start_tag(at, b, TagId::Literal(name))?
                }
                _ => self.start_tag(at, b, TagId::Token(b & token::TAG_MASK))?,
            };
            return Ok(Some(ev));
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Event<'a>, Error>;

    /// Iterates over [`Reader::next_event`]; stops after the first error.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                // Make the iterator fused after an error.
                self.pos = self.input.len();
                self.depth = 0;
                self.root_done = true;
                Some(Err(e))
            }
        }
    }
}

/// Position of the first NUL byte.
#[inline]
fn memchr0(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Result<Vec<Event<'_>>, Error> {
        events_with(input, Limits::default())
    }

    fn events_with(input: &[u8], limits: Limits) -> Result<Vec<Event<'_>>, Error> {
        Reader::new(input, limits)?.collect()
    }

    fn exceeded(limit: LimitKind, offset: usize, max: usize) -> Error {
        Error::LimitExceeded { limit, offset, max }
    }

    /// `<x>` + `body` + `</x>` with string table `table` (WBXML 1.3, UTF-8).
    fn doc(table: &[u8], body: &[u8]) -> Vec<u8> {
        let mut d = vec![0x03, 0x01, 0x6A];
        crate::write_mb_u_int32(&mut d, u32::try_from(table.len()).unwrap());
        d.extend_from_slice(table);
        d.push(0x45);
        d.extend_from_slice(body);
        d.push(0x01);
        d
    }

    #[test]
    fn string_table_references_are_counted_and_their_text_bounded() {
        let table = [b'a'; 100].iter().chain(&[0]).copied().collect::<Vec<_>>();
        let body = [0x83, 0x00].repeat(50);
        let d = doc(&table, &body);
        let at = d.len() - 1 - body.len();
        // 50 references of 100 bytes: 5000 bytes of output from a 207-byte document, within
        // the default budget (32 times: 6624 bytes); 16 times (3312 bytes) is too little: the
        // 34th reference is one too many.
        assert_eq!(events(&d).unwrap().len(), 52);
        let half = Limits {
            max_expansion: 16,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, half),
            Err(exceeded(LimitKind::Output, at + 2 * 33, 16 * d.len()))
        );
        let wide = Limits {
            max_expansion: 100,
            ..Limits::default()
        };
        assert_eq!(events_with(&d, wide).unwrap().len(), 52);
        let text = Limits {
            max_text: 1000,
            ..wide
        };
        assert_eq!(
            events_with(&d, text),
            Err(exceeded(LimitKind::Text, at + 20, 1000)),
            "the 11th reference makes 1100 bytes"
        );
        let refs = Limits {
            max_str_refs: 3,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, refs),
            Err(exceeded(LimitKind::StrRefs, at + 6, 3))
        );
        let ratio = Limits {
            max_expansion: 2,
            ..Limits::default()
        };
        let budget = 2 * d.len();
        assert_eq!(
            events_with(&d, ratio),
            Err(exceeded(LimitKind::Output, at + 2 * (budget / 100), budget))
        );
        let output = Limits {
            max_output: 250,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, output),
            Err(exceeded(LimitKind::Output, at + 4, 250))
        );
        // The text run ends at a tag: 10 elements of 9 references each fit in max_text 1000.
        let mut body = Vec::new();
        for _ in 0..10 {
            body.push(0x46);
            body.extend([0x83, 0x00].repeat(9));
            body.push(0x01);
        }
        assert!(events_with(&doc(&table, &body), text).is_ok());
    }

    #[test]
    fn entities_elements_and_literal_names_are_counted() {
        let d = doc(&[], &[0x02, 0x41].repeat(10));
        let at = d.len() - 21;
        assert!(events(&d).is_ok());
        let few = Limits {
            max_entities: 4,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, few),
            Err(exceeded(LimitKind::Entities, at + 8, 4))
        );
        // An entity outside Unicode counts as U+FFFD (3 bytes).
        let text = Limits {
            max_text: 5,
            ..Limits::default()
        };
        let bad = doc(
            &[],
            &[
                0x02, 0x8F, 0xFF, 0xFF, 0x7F, 0x02, 0x41, 0x02, 0x41, 0x02, 0x41,
            ],
        );
        assert_eq!(
            events_with(&bad, text).unwrap_err(),
            exceeded(LimitKind::Text, bad.len() - 3, 5)
        );
        // Elements, the fast path included.
        let d = doc(&[], &[0x06, 0x06, 0x06]);
        let two = Limits {
            max_elements: 3,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, two),
            Err(exceeded(LimitKind::Elements, 7, 3))
        );
        assert_eq!(
            events_fast_with(&d, two),
            Err(exceeded(LimitKind::Elements, 7, 3))
        );
        // Literal names are output.
        let table = [b'n'; 100].iter().chain(&[0]).copied().collect::<Vec<_>>();
        let d = doc(&table, &[0x04, 0x00].repeat(5));
        let small = Limits {
            max_output: 450,
            ..Limits::default()
        };
        assert_eq!(
            events_with(&d, small),
            Err(exceeded(LimitKind::Output, d.len() - 3, 450))
        );
    }

    #[test]
    fn nested_documents_share_the_budget_and_the_depth() {
        let table = [b'a'; 100].iter().chain(&[0]).copied().collect::<Vec<_>>();
        let inner = doc(&table, &[0x83, 0x00].repeat(4));
        let limits = Limits {
            max_output: 1000,
            max_depth: 4,
            ..Limits::default()
        };
        // The outer document: <x><x>OPAQUE(inner)</x></x>.
        let mut body = vec![0x45, 0xC3];
        crate::write_mb_u_int32(&mut body, u32::try_from(inner.len()).unwrap());
        body.extend_from_slice(&inner);
        body.push(0x01);
        let outer_doc = doc(&[], &body);
        let mut outer = Reader::new(&outer_doc, limits).unwrap();
        outer.next_event().unwrap();
        outer.next_event().unwrap();
        let Some(Event::Opaque(bytes)) = outer.next_event().unwrap() else {
            panic!()
        };
        let left = outer.output_left();
        assert_eq!(left, 1000 - inner.len());
        // Depth 2 here: the nested root is at depth 3, its children at 4 (the limit).
        let mut nested = outer.nested(bytes, outer.depth()).unwrap();
        let evs: Vec<_> = nested.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(evs.len(), 6);
        outer.absorb(&nested);
        assert_eq!(outer.output_left(), left - 400);
        // A second pass over the same bytes still fits (85 bytes left), a third does not: its
        // first reference is past the budget, whichever reader spends it.
        let mut again = outer.nested(bytes, outer.depth()).unwrap();
        assert!(again.by_ref().all(|e| e.is_ok()));
        outer.absorb(&again);
        assert_eq!(outer.output_left(), left - 800);
        let mut third = outer.nested(bytes, outer.depth()).unwrap();
        assert_eq!(
            third.by_ref().collect::<Result<Vec<_>, _>>().unwrap_err(),
            exceeded(LimitKind::Output, inner.len() - 9, 1000)
        );
        outer.absorb(&third);
        assert!(outer.charge(outer.output_left() + 1).is_err());
        // One level deeper and the nested root's children go past max_depth.
        let deep = outer.nested(bytes, outer.depth() + 1).unwrap();
        let nested_inner = doc(&[], &[0x46, 0x01]);
        let mut deeper = deep.nested(&nested_inner, 3).unwrap();
        deeper.next_event().unwrap();
        assert_eq!(
            deeper.next_event().unwrap_err(),
            exceeded(LimitKind::Depth, nested_inner.len() - 3, 4)
        );
    }

    #[test]
    fn libwbxml_tiny_syncml_document() {
        // xml2wbxml output for a tiny SyncML 1.2 message (see the digest, section 6.7).
        let doc = hex(
            "03a4016a006d6c7103312e3200017203444d2f312e32000165033100015b033100016e5703687474703a2f2f732f646d000101675703494d45493a31000101016b464b033100014f0331323031000101120101",
        );
        let r = Reader::new(&doc, Limits::default()).unwrap();
        assert_eq!(r.header().version, Version::V1_3);
        assert_eq!(r.header().public_id, PublicId::Known(0x1201));
        let ev = events(&doc).unwrap();
        assert_eq!(
            ev[0],
            Event::Start(Tag {
                page: 0,
                id: TagId::Token(0x2D),
                has_content: true
            })
        );
        assert_eq!(ev[3], Event::Str(b"1.2"));
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Start(_))).count(),
            15,
            "15 tags in the document"
        );
        assert_eq!(ev.last(), Some(&Event::End));
    }

    #[test]
    fn string_table_public_id_and_refs() {
        // version 1.3, public id in string table at 0, utf-8, table "ab\0-//X//EN\0"
        let mut doc = vec![0x03, 0x00, 0x03, 0x6A, 12];
        doc.extend_from_slice(b"ab\0-//X//EN\0");
        doc.extend_from_slice(&[0x45, 0x83, 0x00, 0x03, b'c', 0, 0x01]);
        let r = Reader::new(&doc, Limits::default()).unwrap();
        assert_eq!(r.header().public_id_text(), Some(&b"-//X//EN"[..]));
        let ev = events(&doc).unwrap();
        assert_eq!(ev[1], Event::Str(b"ab"));
        assert_eq!(ev[2], Event::Str(b"c"));
    }

    #[test]
    fn typed_errors_with_offsets() {
        assert_eq!(
            events(&[]).unwrap_err(),
            Error::UnexpectedEof {
                offset: 0,
                context: "header"
            }
        );
        assert_eq!(
            events(&[0x07]).unwrap_err(),
            Error::UnsupportedVersion { byte: 7 }
        );
        assert_eq!(
            events(&[0x03, 0x01, 0x04, 0x00, 0x45, 0x01]).unwrap_err(),
            Error::UnsupportedCharset { offset: 2, mib: 4 }
        );
        assert_eq!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x45, 0x83, 0x05, 0x01]).unwrap_err(),
            Error::BadStringTableRef {
                offset: 6,
                index: 5
            }
        );
        assert_eq!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x45, 0x03, b'a']).unwrap_err(),
            Error::UnterminatedString { offset: 6 }
        );
        assert_eq!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x45, 0xC3, 0x05, 1, 2]).unwrap_err(),
            Error::OpaqueTooLong { offset: 6, len: 5 }
        );
        assert_eq!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0xC5, 0x01, 0x01]).unwrap_err(),
            Error::AttributesUnsupported { offset: 4 }
        );
        assert!(matches!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x01]).unwrap_err(),
            Error::UnexpectedToken { offset: 4, .. }
        ));
        assert!(matches!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x45, 0x01, 0x05]).unwrap_err(),
            Error::UnexpectedToken { offset: 6, .. }
        ));
        assert!(matches!(
            events(&[0x03, 0x01, 0x6A, 0x00, 0x45]).unwrap_err(),
            Error::UnexpectedEof { offset: 5, .. }
        ));
        assert!(matches!(
            events(&[0x03, 0x01, 0x6A, 0x05, 0x45]).unwrap_err(),
            Error::UnexpectedEof {
                context: "string table",
                ..
            }
        ));
        let deep = [0x03, 0x01, 0x6A, 0x00, 0x45, 0x45, 0x45, 0x01, 0x01, 0x01];
        let shallow = Limits {
            max_size: 100,
            max_depth: 2,
            ..Limits::default()
        };
        let r = Reader::new(&deep, shallow).unwrap();
        assert_eq!(
            r.collect::<Result<Vec<_>, _>>().unwrap_err(),
            Error::LimitExceeded {
                limit: LimitKind::Depth,
                offset: 6,
                max: 2
            }
        );
        assert_eq!(
            Reader::new(
                &deep,
                Limits {
                    max_size: 5,
                    ..shallow
                }
            )
            .unwrap_err(),
            Error::LimitExceeded {
                limit: LimitKind::Size,
                offset: 5,
                max: 5
            }
        );
    }

    #[test]
    fn attributes_can_be_skipped() {
        // <x a="v">t</x> with an attribute start token 0x05 and an inline value.
        let doc = [
            0x03, 0x01, 0x6A, 0x00, 0xC5, 0x05, 0x03, b'v', 0, 0x01, 0x03, b't', 0, 0x01,
        ];
        let r = Reader::new(&doc, Limits::default())
            .unwrap()
            .skip_attributes(true);
        let ev: Vec<_> = r.collect::<Result<_, _>>().unwrap();
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[1], Event::Str(b"t"));
    }

    #[test]
    fn literal_tags_and_extensions() {
        let mut doc = vec![0x03, 0x01, 0x6A, 0x04];
        doc.extend_from_slice(b"Inv\0");
        doc.extend_from_slice(&[0x44, 0x00, 0x04, 0x00, 0x02, 0x41, 0xC0, 0x81, 0x05, 0x01]);
        let ev = events(&doc).unwrap();
        assert_eq!(
            ev[0],
            Event::Start(Tag {
                page: 0,
                id: TagId::Literal(b"Inv"),
                has_content: true
            })
        );
        assert_eq!(
            ev[1],
            Event::Start(Tag {
                page: 0,
                id: TagId::Literal(b"Inv"),
                has_content: false
            })
        );
        assert_eq!(ev[2], Event::Entity(0x41));
        assert_eq!(
            ev[3],
            Event::Extension {
                kind: 0,
                value: ExtValue::None
            }
        );
        assert_eq!(
            ev[4],
            Event::Extension {
                kind: 1,
                value: ExtValue::Int(5)
            }
        );
    }

    /// Reads `input` trying the fast paths first, as events (a fast-path string read comes out
    /// as `Str` + `End`, an empty one as `End`).
    fn events_fast(input: &[u8]) -> Result<Vec<Event<'_>>, Error> {
        events_fast_with(input, Limits::default())
    }

    fn events_fast_with(input: &[u8], limits: Limits) -> Result<Vec<Event<'_>>, Error> {
        let mut r = Reader::new(input, limits)?;
        let mut ev = Vec::new();
        let mut after_start = false;
        loop {
            if after_start && let Some(t) = r.text_then_end() {
                if !t.is_empty() {
                    ev.push(Event::Str(t));
                }
                ev.push(Event::End);
                after_start = false;
                continue;
            }
            if let Some(t) = r.tag_or_end() {
                after_start = t.is_some_and(|t| t.has_content);
                ev.push(t.map_or(Event::End, Event::Start));
                continue;
            }
            match r.next_event()? {
                Some(e) => {
                    after_start = matches!(e, Event::Start(t) if t.has_content);
                    ev.push(e);
                }
                None => return Ok(ev),
            }
        }
    }

    #[test]
    fn fast_paths_read_the_same_events() {
        let doc = hex(
            "03a4016a006d6c7103312e3200017203444d2f312e32000165033100015b033100016e5703687474703a2f2f732f646d000101675703494d45493a31000101016b464b033100014f0331323031000101120101",
        );
        assert_eq!(events_fast(&doc).unwrap(), events(&doc).unwrap());
        // STR_T, an empty element with content, a page switch, a string split in two pieces.
        let mut doc = vec![0x03, 0x01, 0x6A, 0x03, b'a', b'b', 0];
        doc.extend_from_slice(&[0x45, 0x46, 0x83, 0x00, 0x01, 0x47, 0x01, 0x00, 0x01, 0x48]);
        doc.extend_from_slice(&[0x03, b'x', 0, 0x83, 0x01, 0x01, 0x09, 0x01]);
        let slow = events(&doc).unwrap();
        assert_eq!(events_fast(&doc).unwrap(), slow);
        assert_eq!(slow[2], Event::Str(b"ab"));
        assert_eq!(
            slow[6],
            Event::Start(Tag {
                page: 1,
                id: TagId::Token(8),
                has_content: true
            })
        );
        assert_eq!(slow[7], Event::Str(b"x"));
        assert_eq!(slow[8], Event::Str(b"b"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            if let Ok(r) = Reader::new(&data, Limits { max_size: 1 << 16, max_depth: 8, ..Limits::default() }) {
                for e in r.take(10_000) {
                    let _ = e;
                }
            }
        }

        #[test]
        fn fast_paths_agree_with_next_event(body: Vec<u8>) {
            let mut data = vec![0x03, 0x01, 0x6A, 0x04, b'a', 0, b'b', 0, 0x45];
            data.extend_from_slice(&body);
            // Where the plain reader succeeds, the fast paths give the same events; where it
            // fails, they fail too (or stop at the same point).
            match events(&data) {
                Ok(slow) => proptest::prop_assert_eq!(events_fast(&data).unwrap(), slow),
                Err(e) => proptest::prop_assert_eq!(events_fast(&data).unwrap_err(), e),
            }
        }

        #[test]
        fn fast_paths_agree_under_any_limits(
            body: Vec<u8>,
            text in 0usize..64,
            output in 0usize..256,
            refs in 0usize..8,
            elements in 0usize..16,
            depth in 0usize..6,
        ) {
            let mut data = vec![0x03, 0x01, 0x6A, 0x06, b'a', b'a', b'a', 0, b'b', 0, 0x45];
            data.extend_from_slice(&body);
            let limits = Limits {
                max_text: text,
                max_output: output,
                max_str_refs: refs,
                max_elements: elements,
                max_depth: depth,
                ..Limits::default()
            };
            // The fast paths keep to the limits exactly as next_event does.
            proptest::prop_assert_eq!(events_fast_with(&data, limits), events_with(&data, limits));
        }

        #[test]
        fn never_panics_after_valid_header(body: Vec<u8>) {
            let mut data = vec![0x03, 0x01, 0x6A, 0x04, b'a', 0, b'b', 0];
            data.extend_from_slice(&body);
            if let Ok(r) = Reader::new(&data, Limits { max_size: 1 << 16, max_depth: 8, ..Limits::default() }) {
                for e in r.take(10_000) {
                    let _ = e;
                }
            }
        }
    }
}
