//! Embedded XML in `Data`: nested DM DDF 1.2 (TNDS) WBXML documents and inline elements.
//!
//! A TNDS `MgmtTree` travels in WBXML as a complete WBXML document of its own inside `OPAQUE`,
//! exactly as libwbxml writes it: WBXML 1.3, public id `-//OMA//DTD-DM-DDF 1.2//EN` as a
//! string-table reference, UTF-8, its own string table, then `SWITCH_PAGE 2` and the DDF tags.

use std::borrow::Cow;

use quick_xml::events::Event as XmlEvent;
use wbxml::{Event, Header, PublicId, Reader, StringTableBuilder, Tag, TagId, Version, Writer};

use super::tokens::{DDF_PAGE, FPI_DDF_1_2, NS_DDF, PAGE_DDF, PAGE_SYNCML, SYNCML_CODE_SPACE, d};
use crate::{Error, Limits};

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

/// Escapes character data (lossy for invalid UTF-8).
pub(crate) fn escape_text(b: &[u8]) -> String {
    let mut out = String::new();
    push_escaped(&mut out, &String::from_utf8_lossy(b));
    out
}

/// Decodes `bytes` as a nested DM DDF 1.2 WBXML document into XML text, if it is one.
pub(crate) fn nested_to_xml(bytes: &[u8], limits: &Limits) -> Option<String> {
    let wl = wbxml::Limits {
        max_size: limits.max_size,
        max_depth: limits.max_depth,
    };
    let mut r = Reader::new(bytes, wl).ok()?;
    let by_id = match r.header().public_id {
        PublicId::StringTable(_) => r.header().public_id_text()? == FPI_DDF_1_2.as_bytes(),
        PublicId::Known(_) => false,
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut stack: Vec<&'static str> = Vec::new();
    let mut first = true;
    while let Some(ev) = r.next_event().ok()? {
        match ev {
            Event::Start(Tag {
                id: TagId::Token(t),
                has_content,
                ..
            }) => {
                let name = DDF_PAGE.name(t)?;
                if first {
                    if t != d::MGMT_TREE && !by_id {
                        return None;
                    }
                    out.push('<');
                    out.push_str(name);
                    out.push_str(" xmlns=\"");
                    out.push_str(NS_DDF);
                    out.push('"');
                    first = false;
                } else {
                    out.push('<');
                    out.push_str(name);
                }
                if has_content {
                    out.push('>');
                    stack.push(name);
                } else {
                    out.push_str("/>");
                }
            }
            Event::End => {
                let name = stack.pop()?;
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
            Event::Str(b) | Event::Opaque(b) => {
                push_escaped(&mut out, std::str::from_utf8(b).ok()?)
            }
            Event::Entity(cp) => {
                let mut buf = [0u8; 4];
                push_escaped(&mut out, char::from_u32(cp)?.encode_utf8(&mut buf));
            }
            _ => return None,
        }
    }
    if first { None } else { Some(out) }
}

/// Builds XML text from elements written inline in `Data` (DDF tokens, or literal tags as
/// libwbxml writes unknown XML), consuming events up to and including the END of `Data`.
pub(crate) fn inline_elements_to_xml(
    r: &mut Reader<'_>,
    first: Tag<'_>,
    prefix: String,
    at: usize,
) -> Result<String, Error> {
    let mut out = prefix;
    // (name, namespace) of each open element.
    let mut stack: Vec<(String, &'static str)> = Vec::new();
    let mut next = Some(Event::Start(first));
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
        match ev {
            Event::Start(tag) => {
                let parent_ns = stack.last().map_or("", |(_, ns)| *ns);
                let (name, ns) = match tag.id {
                    TagId::Token(t) => match SYNCML_CODE_SPACE.tag(tag.page, t) {
                        // SyncML-page names inherit the document's default namespace.
                        Some((n, _)) if tag.page == PAGE_SYNCML => (n.to_owned(), parent_ns),
                        Some((n, ns)) => (n.to_owned(), ns),
                        None => {
                            return Err(Error::WbxmlUnexpected {
                                offset: at,
                                expected: "a known tag in Data",
                                found: super::tokens::tag_name(tag.page, t),
                            });
                        }
                    },
                    TagId::Literal(n) => (String::from_utf8_lossy(n).into_owned(), parent_ns),
                };
                out.push('<');
                out.push_str(&name);
                if ns != parent_ns && !ns.is_empty() {
                    out.push_str(" xmlns=\"");
                    out.push_str(ns);
                    out.push('"');
                }
                if tag.has_content {
                    out.push('>');
                    stack.push((name, ns));
                } else {
                    out.push_str("/>");
                }
            }
            Event::End => match stack.pop() {
                Some((name, _)) => {
                    out.push_str("</");
                    out.push_str(&name);
                    out.push('>');
                }
                // The END of Data itself.
                None => return Ok(out),
            },
            Event::Str(b) | Event::Opaque(b) => out.push_str(&escape_text(b)),
            Event::Entity(cp) => {
                let mut buf = [0u8; 4];
                let c = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                push_escaped(&mut out, c.encode_utf8(&mut buf));
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

/// Encodes a TNDS `MgmtTree` XML text as a nested DM DDF 1.2 WBXML document, libwbxml style.
/// `None` if the text is not a well-formed document using only DDF 1.2 elements (the caller
/// then writes the text itself as `OPAQUE`).
pub(crate) fn encode_nested(xml: &str) -> Option<Vec<u8>> {
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
                    return None;
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
    Some(w.finish())
}

/// One event of non-DDF XML in `Data`, written as WBXML elements the way libwbxml does:
/// names on the SyncML page as tokens, any other name as a `LITERAL` tag.
pub(crate) enum InlineEv<'x> {
    /// A start tag: the SyncML-page token if the name has one, else the literal name.
    Start(Result<u8, &'x str>, bool),
    End,
    Text(Cow<'x, str>),
}

/// Parses XML for the inline form, if that is lossless: elements without attributes or
/// namespace declarations (libwbxml would drop them), no prefixes, no PIs. `None` otherwise
/// (the caller then writes the text as `OPAQUE`).
pub(crate) fn parse_inline(xml: &str) -> Option<Vec<InlineEv<'_>>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut evs: Vec<InlineEv<'_>> = Vec::with_capacity(32);
    let mut depth = 0usize;
    let name_of = |e: &quick_xml::events::BytesStart<'_>| -> Option<&str> {
        if e.attributes().next().is_some() {
            return None;
        }
        // The name borrows from `xml` (the reader reads from a `&str`).
        let raw = e.name();
        let n = std::str::from_utf8(raw.as_ref()).ok()?;
        if n.contains(':') {
            return None;
        }
        let start = (n.as_ptr() as usize).checked_sub(xml.as_ptr() as usize)?;
        xml.get(start..start + n.len())
    };
    loop {
        match reader.read_event().ok()? {
            XmlEvent::Start(e) => {
                let n = name_of(&e)?;
                depth += 1;
                evs.push(InlineEv::Start(
                    super::tokens::syncml_token(n).ok_or(n),
                    true,
                ));
            }
            XmlEvent::Empty(e) => {
                let n = name_of(&e)?;
                evs.push(InlineEv::Start(
                    super::tokens::syncml_token(n).ok_or(n),
                    false,
                ));
            }
            XmlEvent::End(_) => {
                depth = depth.checked_sub(1)?;
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
    (depth == 0 && evs.iter().any(|e| matches!(e, InlineEv::Start(..)))).then_some(evs)
}
