//! Embedded XML in `Data`: nested DM DDF 1.2 (TNDS) WBXML documents and inline elements.
//!
//! A TNDS `MgmtTree` travels in WBXML as a complete WBXML document of its own inside `OPAQUE`,
//! exactly as libwbxml writes it: WBXML 1.3, public id `-//OMA//DTD-DM-DDF 1.2//EN` as a
//! string-table reference, UTF-8, its own string table, then `SWITCH_PAGE 2` and the DDF tags.

use std::borrow::Cow;

use quick_xml::events::Event as XmlEvent;
use wbxml::{Event, Header, PublicId, Reader, StringTableBuilder, Tag, TagId, Version, Writer};

use super::tokens::{
    DDF_PAGE, FPI_DDF_1_2, METINF_PAGE, NS_DDF, NS_METINF, PAGE_DDF, PAGE_METINF, PAGE_SYNCML,
    SYNCML_CODE_SPACE, d,
};
use crate::{Encoding, Error, LimitKind};

/// Appends `text` to `out` with `&`, `<`, `>` escaped.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => continue,
        };
        out.push_str(text.get(last..i).unwrap_or_default());
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(text.get(last..).unwrap_or_default());
}

/// Builds the XML text of embedded elements in the one canonical form that the encoder maps
/// back to the same WBXML meaning, so that decode -> encode -> decode gives the same text:
/// an element without content (or with only whitespace) is written `<X/>`, adjacent text pieces
/// become one text node, and text nodes made only of whitespace are dropped (the encoder, like
/// libwbxml, ignores them).
///
/// It writes at most `limit` bytes, give or take one operation: [`XmlOut::over`] says when it
/// went past (the caller stops there and reports the limit).
pub(crate) struct XmlOut<'a> {
    out: String,
    /// Text seen since the last tag, not yet written.
    text: PendingText<'a>,
    /// A start tag of an element with content is written up to its name; its `>` (or `/>` if
    /// nothing follows before its end) is still to come.
    open: bool,
    limit: usize,
}

/// Character data between two tags, borrowed while it is one piece.
enum PendingText<'a> {
    Empty,
    One(&'a str),
    Many(String),
}

impl<'a> XmlOut<'a> {
    /// An empty builder with room for `capacity` bytes (at most `limit`), that may write `limit`.
    pub(crate) fn new(capacity: usize, limit: usize) -> Self {
        XmlOut {
            out: String::with_capacity(capacity.min(limit)),
            text: PendingText::Empty,
            open: false,
            limit,
        }
    }

    /// True once more than the limit has been written.
    #[inline]
    pub(crate) fn over(&self) -> bool {
        self.out.len() > self.limit
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    /// Appends character data (unescaped).
    pub(crate) fn text(&mut self, s: &'a str) {
        if s.is_empty() {
            return;
        }
        self.text = match std::mem::replace(&mut self.text, PendingText::Empty) {
            PendingText::Empty => PendingText::One(s),
            PendingText::One(a) => {
                let mut v = String::with_capacity(a.len() + s.len());
                v.push_str(a);
                v.push_str(s);
                PendingText::Many(v)
            }
            PendingText::Many(mut v) => {
                v.push_str(s);
                PendingText::Many(v)
            }
        };
    }

    /// Appends owned character data (unescaped).
    pub(crate) fn text_owned(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.text = match std::mem::replace(&mut self.text, PendingText::Empty) {
            PendingText::Empty => PendingText::Many(s.to_owned()),
            PendingText::One(a) => {
                let mut v = String::with_capacity(a.len() + s.len());
                v.push_str(a);
                v.push_str(s);
                PendingText::Many(v)
            }
            PendingText::Many(mut v) => {
                v.push_str(s);
                PendingText::Many(v)
            }
        };
    }

    #[inline]
    fn close_open(&mut self) {
        if self.open {
            self.out.push('>');
            self.open = false;
        }
    }

    fn flush_text(&mut self) {
        let text = std::mem::replace(&mut self.text, PendingText::Empty);
        let t: &str = match &text {
            PendingText::Empty => return,
            PendingText::One(t) => t,
            PendingText::Many(t) => t,
        };
        if !t.trim().is_empty() {
            self.close_open();
            push_escaped(&mut self.out, t);
        }
    }

    /// A start tag, with an `xmlns` declaration if `xmlns` is given.
    pub(crate) fn start(&mut self, name: &str, xmlns: Option<&str>, has_content: bool) {
        self.flush_text();
        self.close_open();
        self.out.push('<');
        self.out.push_str(name);
        if let Some(ns) = xmlns {
            self.out.push_str(" xmlns=\"");
            self.out.push_str(ns);
            self.out.push('"');
        }
        if has_content {
            self.open = true;
        } else {
            self.out.push_str("/>");
        }
    }

    /// The end of the innermost element with content, called `name`.
    pub(crate) fn end(&mut self, name: &str) {
        self.flush_text();
        if self.open {
            self.out.push_str("/>");
            self.open = false;
        } else {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
    }

    /// The text.
    pub(crate) fn finish(mut self) -> String {
        self.flush_text();
        self.out
    }
}

/// Counts the `len` bytes of XML text an [`XmlOut`] wrote for one value against the reader's
/// budget: an error if they are more than `max_text` or than the output budget holds.
fn settle(r: &mut Reader<'_>, len: usize, offset: usize) -> Result<(), wbxml::Error> {
    let max = r.limits().max_text;
    if len > max {
        return Err(wbxml::Error::LimitExceeded {
            limit: LimitKind::Text,
            offset,
            max,
        });
    }
    r.charge(len)
}

/// Decodes `bytes` (the content of the `Data` element at byte `at` of the message `outer`
/// reads) as a nested DM DDF 1.2 WBXML document into XML text, if it is one: its root must be
/// `MgmtTree` (the encoder writes only such a root as a nested document). `Ok(None)` if it is
/// not one. The nested document draws on the outer message's budget ([`Reader::nested`]),
/// whether it turns out to be one or not, and the XML text written counts against it too.
///
/// # Errors
/// [`Error::LimitExceeded`] (at `at`) when the nested document exceeds a limit.
pub(crate) fn nested_to_xml(
    outer: &mut Reader<'_>,
    bytes: &[u8],
    at: usize,
) -> Result<Option<String>, Error> {
    let limit_or_none = |e: wbxml::Error| match e {
        wbxml::Error::LimitExceeded { limit, max, .. } => Err(Error::LimitExceeded {
            encoding: Encoding::Wbxml,
            limit,
            offset: at,
            max,
        }),
        _ => Ok(None),
    };
    // The `Data` element has ended: the nested document sits one level below the reader.
    let mut r = match outer.nested(bytes, outer.depth() + 1) {
        Ok(r) => r,
        Err(e) => return limit_or_none(e),
    };
    let result = nested_events(&mut r, bytes.len());
    outer.absorb(&r);
    result.or_else(limit_or_none)
}

/// The XML text of the DDF document `r` reads (`len` bytes), `None` if it is not one.
fn nested_events(r: &mut Reader<'_>, len: usize) -> Result<Option<String>, wbxml::Error> {
    let limit = r.output_left().min(r.limits().max_text);
    let mut out = XmlOut::new(len * 2, limit);
    let mut stack: Vec<&'static str> = Vec::with_capacity(16);
    let mut first = true;
    let mut buf = [0u8; 4];
    while let Some(ev) = r.next_event()? {
        match ev {
            Event::Start(Tag {
                id: TagId::Token(t),
                has_content,
                ..
            }) => {
                let Some(name) = DDF_PAGE.name(t) else {
                    return Ok(None);
                };
                if first {
                    if t != d::MGMT_TREE {
                        return Ok(None);
                    }
                    out.start(name, Some(NS_DDF), has_content);
                    first = false;
                } else {
                    out.start(name, None, has_content);
                }
                if has_content {
                    stack.push(name);
                }
            }
            Event::End => match stack.pop() {
                Some(name) => out.end(name),
                None => return Ok(None),
            },
            Event::Str(b) | Event::Opaque(b) => match std::str::from_utf8(b) {
                Ok(t) => out.text(t),
                Err(_) => return Ok(None),
            },
            Event::Entity(cp) => match char::from_u32(cp) {
                Some(c) => out.text_owned(c.encode_utf8(&mut buf)),
                None => return Ok(None),
            },
            _ => return Ok(None),
        }
        if out.over() {
            let offset = r.offset();
            settle(r, out.len(), offset)?;
        }
    }
    if first {
        return Ok(None);
    }
    let xml = out.finish();
    let offset = r.offset();
    settle(r, xml.len(), offset)?;
    Ok(Some(xml))
}

/// True when a literal tag name can be written as an XML element name that reads back as the
/// same single name: not empty, and no ASCII byte other than letters, digits, `.`, `_`, `-`
/// (no spaces, markup characters or `:` prefixes).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| !b.is_ascii() || b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Builds XML text from elements written inline in `Data` (SyncML, MetInf or DDF tokens, or
/// literal tags as libwbxml writes unknown XML), after the text `prefix` that preceded them,
/// consuming events up to and including the END of `Data`. The text is in [`XmlOut`]'s
/// canonical form; `xmlns` is declared where an element's namespace differs from its parent's
/// (SyncML-page and literal elements inherit their parent's).
pub(crate) fn inline_elements_to_xml<'a>(
    r: &mut Reader<'a>,
    first: Tag<'a>,
    prefix: &[u8],
    at: usize,
) -> Result<String, Error> {
    let limit = r.output_left().min(r.limits().max_text);
    let mut out = XmlOut::new(256 + 2 * (r.offset() - at), limit);
    // A U+FEFF at the very start of the text would be read back as a byte-order mark and
    // dropped (quick-xml skips it), so it is dropped here already.
    out.text_owned(String::from_utf8_lossy(prefix).trim_start_matches('\u{FEFF}'));
    // (name, namespace) of each open element.
    let mut stack: Vec<(Cow<'a, str>, &'static str)> = Vec::with_capacity(8);
    let mut next = Some(Event::Start(first));
    let mut buf = [0u8; 4];
    loop {
        let ev = match next.take() {
            Some(ev) => ev,
            None => {
                let eat = r.offset();
                r.next_event()?.ok_or(wbxml::Error::UnexpectedEof {
                    offset: eat,
                    context: "Data",
                })?
            }
        };
        if out.over() {
            let offset = r.offset();
            settle(r, out.len(), offset)?;
        }
        match ev {
            Event::Start(tag) => {
                let parent_ns = stack.last().map_or("", |(_, ns)| *ns);
                let (name, ns): (Cow<'a, str>, &'static str) = match tag.id {
                    TagId::Token(t) => match SYNCML_CODE_SPACE.tag(tag.page, t) {
                        // SyncML-page names inherit the document's default namespace.
                        Some((n, _)) if tag.page == PAGE_SYNCML => (Cow::Borrowed(n), parent_ns),
                        Some((n, ns)) => (Cow::Borrowed(n), ns),
                        None => {
                            return Err(Error::WbxmlUnexpected {
                                offset: at,
                                expected: "a known tag in Data",
                                found: super::tokens::tag_name(tag.page, t),
                            });
                        }
                    },
                    TagId::Literal(n) => {
                        let n = String::from_utf8_lossy(n);
                        if !is_plain_name(&n) {
                            return Err(Error::WbxmlUnexpected {
                                offset: at,
                                expected: "an XML element name in Data",
                                found: crate::error::excerpt(&n),
                            });
                        }
                        (n, parent_ns)
                    }
                };
                let xmlns = (ns != parent_ns && !ns.is_empty()).then_some(ns);
                out.start(&name, xmlns, tag.has_content);
                if tag.has_content {
                    stack.push((name, ns));
                }
            }
            Event::End => match stack.pop() {
                Some((name, _)) => out.end(&name),
                // The END of Data itself.
                None => {
                    let xml = out.finish();
                    let offset = r.offset();
                    settle(r, xml.len(), offset)?;
                    return Ok(xml);
                }
            },
            Event::Str(b) | Event::Opaque(b) => match String::from_utf8_lossy(b) {
                Cow::Borrowed(t) => out.text(t),
                Cow::Owned(t) => out.text_owned(&t),
            },
            Event::Entity(cp) => {
                let c = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.text_owned(c.encode_utf8(&mut buf));
            }
            Event::Extension { .. } => {}
        }
    }
}

/// One tag-level event of a DDF document being encoded.
enum DdfEv<'x> {
    Start(u8, bool),
    End,
    Text(Cow<'x, str>),
}

/// True when `xml`'s root element is a DDF/TNDS `MgmtTree` (namespace `syncml:dmddf1.2`).
pub(crate) fn is_mgmt_tree(xml: &str) -> bool {
    let t = xml.trim_start();
    t.starts_with("<MgmtTree")
        && t.get(..t.find('>').unwrap_or(0))
            .is_some_and(|h| h.contains(NS_DDF))
}

/// Encodes a TNDS `MgmtTree` XML text as a nested DM DDF 1.2 WBXML document, libwbxml style,
/// with the number of string-table references it holds. `None` if the text is not a
/// well-formed document using only DDF 1.2 elements (the caller then writes the text itself as
/// `OPAQUE`).
pub(crate) fn encode_nested(xml: &str) -> Option<(Vec<u8>, usize)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut evs: Vec<DdfEv<'_>> = Vec::with_capacity(64);
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        match reader.read_event().ok()? {
            XmlEvent::Start(e) | XmlEvent::Empty(e) if seen_root && depth == 0 => {
                let _ = e;
                return None;
            }
            XmlEvent::Start(e) => {
                for a in e.attributes() {
                    let a = a.ok()?;
                    let key = a.key.as_ref();
                    if !(key == b"xmlns" || key.starts_with(b"xmlns:")) {
                        return None;
                    }
                }
                let tok =
                    super::tokens::ddf_token(std::str::from_utf8(e.local_name().as_ref()).ok()?)?;
                if depth == 0 && tok != d::MGMT_TREE {
                    return None;
                }
                seen_root = true;
                depth += 1;
                evs.push(DdfEv::Start(tok, true));
            }
            XmlEvent::Empty(e) => {
                for a in e.attributes() {
                    let a = a.ok()?;
                    let key = a.key.as_ref();
                    if !(key == b"xmlns" || key.starts_with(b"xmlns:")) {
                        return None;
                    }
                }
                let tok =
                    super::tokens::ddf_token(std::str::from_utf8(e.local_name().as_ref()).ok()?)?;
                if depth == 0 {
                    // An empty root: `<MgmtTree xmlns="syncml:dmddf1.2"/>`.
                    if tok != d::MGMT_TREE {
                        return None;
                    }
                    seen_root = true;
                }
                evs.push(DdfEv::Start(tok, false));
            }
            XmlEvent::End(_) => {
                depth = depth.checked_sub(1)?;
                if let Some(DdfEv::Start(_, c)) = evs.last_mut()
                    && *c
                {
                    // An element with no children has no content bit (libwbxml does the same).
                    *c = false;
                } else {
                    evs.push(DdfEv::End);
                }
            }
            XmlEvent::Text(t) => {
                let s = t.unescape().ok()?;
                if s.trim().is_empty() {
                    continue;
                }
                if depth == 0 {
                    return None;
                }
                evs.push(DdfEv::Text(s));
            }
            XmlEvent::CData(c) => {
                if depth == 0 {
                    return None;
                }
                let s = std::str::from_utf8(c.into_inner().as_ref())
                    .ok()?
                    .to_owned();
                if !s.is_empty() {
                    evs.push(DdfEv::Text(Cow::Owned(s)));
                }
            }
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
            XmlEvent::Eof => break,
        }
    }
    if !seen_root || depth != 0 {
        return None;
    }
    let mut b = StringTableBuilder::new();
    for e in &evs {
        if let DdfEv::Text(t) = e {
            b.add(t.as_bytes());
        }
    }
    let mut table = b.build();
    let pid = table.insert(FPI_DDF_1_2.as_bytes());
    let header = Header {
        version: Version::V1_3,
        public_id: PublicId::StringTable(pid),
        charset: wbxml::CHARSET_UTF8,
        string_table: table.bytes(),
    };
    let mut w = Writer::with_capacity(&header, xml.len() / 2);
    for e in &evs {
        match e {
            DdfEv::Start(t, c) => w.start(PAGE_DDF, *t, *c),
            DdfEv::End => w.end(),
            DdfEv::Text(t) => {
                w.text_with_table(&table, t.as_bytes());
            }
        }
    }
    let refs = w.str_refs();
    Some((w.finish(), refs))
}

/// One event of non-DDF XML in `Data`, written as WBXML elements the way libwbxml does:
/// names with a token as that token, any other name as a `LITERAL` tag.
pub(crate) enum InlineEv<'x> {
    /// A start tag: the `(page, token)` if the name has one, else the literal name.
    Start(InlineId<'x>, bool),
    End,
    Text(Cow<'x, str>),
}

/// An inline element's `(page, token)`, or its literal name.
pub(crate) type InlineId<'x> = Result<(u8, u8), &'x str>;

/// The namespaces an inline element can be in: the message's own (SyncML), MetInf or DDF.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InlineNs {
    Default,
    MetInf,
    Ddf,
}

/// The token of `name` in namespace `ns`: on that namespace's page first, else on the SyncML
/// page (whose elements inherit their parent's namespace).
fn inline_token(ns: InlineNs, name: &str) -> Option<(u8, u8)> {
    let own = match ns {
        InlineNs::Default => None,
        InlineNs::MetInf => METINF_PAGE.token(name).map(|t| (PAGE_METINF, t)),
        InlineNs::Ddf => super::tokens::ddf_token(name).map(|t| (PAGE_DDF, t)),
    };
    own.or_else(|| super::tokens::syncml_token(name).map(|t| (PAGE_SYNCML, t)))
}

/// Parses XML for the inline form, if that is lossless: elements without attributes other than
/// an `xmlns` that puts the element on the MetInf or DDF page (as the decoder writes them), no
/// prefixes, no CDATA or PIs. `None` otherwise (the caller then writes the text as `OPAQUE`).
/// Whitespace-only text is dropped and `<X></X>` becomes a tag without content, as libwbxml
/// does (see [`XmlOut`] for the decoder's matching form).
pub(crate) fn parse_inline(xml: &str) -> Option<Vec<InlineEv<'_>>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut evs: Vec<InlineEv<'_>> = Vec::with_capacity(32);
    let mut stack: Vec<InlineNs> = Vec::with_capacity(8);
    // The element's name (borrowed from `xml`) and its `(page, token)` if it has one.
    let start = |e: &quick_xml::events::BytesStart<'_>,
                 parent: InlineNs|
     -> Option<(InlineNs, InlineId<'_>)> {
        let mut declared = None;
        for a in e.attributes() {
            let a = a.ok()?;
            if a.key.as_ref() != b"xmlns" || declared.is_some() {
                return None;
            }
            declared = Some(match a.value.as_ref() {
                v if v == NS_METINF.as_bytes() => InlineNs::MetInf,
                v if v == NS_DDF.as_bytes() => InlineNs::Ddf,
                _ => return None,
            });
        }
        // The name borrows from `xml` (the reader reads from a `&str`).
        let raw = e.name();
        let n = std::str::from_utf8(raw.as_ref()).ok()?;
        if n.contains(':') {
            return None;
        }
        let at = (n.as_ptr() as usize).checked_sub(xml.as_ptr() as usize)?;
        let n = xml.get(at..at + n.len())?;
        match declared {
            // The decoder declares a namespace only where it changes, and only for an element
            // of that namespace's page.
            Some(ns) if ns != parent => {
                let tok = match ns {
                    InlineNs::MetInf => (PAGE_METINF, METINF_PAGE.token(n)?),
                    _ => (PAGE_DDF, super::tokens::ddf_token(n)?),
                };
                Some((ns, Ok(tok)))
            }
            Some(_) => None,
            None => Some((parent, inline_token(parent, n).ok_or(n))),
        }
    };
    loop {
        match reader.read_event().ok()? {
            XmlEvent::Start(e) => {
                let parent = stack.last().copied().unwrap_or(InlineNs::Default);
                let (ns, id) = start(&e, parent)?;
                stack.push(ns);
                evs.push(InlineEv::Start(id, true));
            }
            XmlEvent::Empty(e) => {
                let parent = stack.last().copied().unwrap_or(InlineNs::Default);
                let (_, id) = start(&e, parent)?;
                evs.push(InlineEv::Start(id, false));
            }
            XmlEvent::End(_) => {
                stack.pop()?;
                if let Some(InlineEv::Start(_, c)) = evs.last_mut()
                    && *c
                {
                    *c = false;
                } else {
                    evs.push(InlineEv::End);
                }
            }
            XmlEvent::Text(t) => {
                let s = t.unescape().ok()?;
                if !s.trim().is_empty() {
                    evs.push(InlineEv::Text(s));
                }
            }
            XmlEvent::CData(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) | XmlEvent::Decl(_) => {
                return None;
            }
            XmlEvent::Comment(_) => {}
            XmlEvent::Eof => break,
        }
    }
    (stack.is_empty() && evs.iter().any(|e| matches!(e, InlineEv::Start(..)))).then_some(evs)
}
