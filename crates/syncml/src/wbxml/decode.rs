//! WBXML -> AST.

use wbxml::{Event, PublicId, Reader, Tag, TagId};

use super::ddf;
use super::tokens::{
    FPI_SYNCML_1_1, FPI_SYNCML_1_2, PAGE_METINF, PAGE_SYNCML, PUBLIC_ID_SYNCML_1_1,
    PUBLIC_ID_SYNCML_1_2, m, s, tag_name,
};
use crate::error::excerpt_bytes;
use crate::{
    Alert, AlertCode, Chal, Command, Container, Cred, Data, Encoding, Error, Exec,
    HARD_MAX_NESTING, Item, ItemCmd, LimitKind, Limits, Location, Meta, Results, Status,
    StatusCode, SyncBody, SyncHdr, SyncMl, Version,
};

/// Decodes one SyncML DM message from WBXML.
pub(crate) fn decode(input: &[u8], limits: &Limits) -> Result<SyncMl, Error> {
    let reader = Reader::new(input, *limits)?;
    let header_version = match reader.header().public_id {
        PublicId::Known(PUBLIC_ID_SYNCML_1_2) => Some(Version::V1_2),
        PublicId::Known(PUBLIC_ID_SYNCML_1_1) => Some(Version::V1_1),
        PublicId::Known(wbxml::PUBLIC_ID_UNKNOWN) => None,
        PublicId::Known(other) => {
            return Err(Error::WbxmlUnsupportedPublicId {
                public_id: format!("{other:#06x}"),
            });
        }
        PublicId::StringTable(_) => match reader.header().public_id_text() {
            Some(t) if t == FPI_SYNCML_1_2.as_bytes() => Some(Version::V1_2),
            Some(t) if t == FPI_SYNCML_1_1.as_bytes() => Some(Version::V1_1),
            t => {
                return Err(Error::WbxmlUnsupportedPublicId {
                    public_id: excerpt_bytes(t.unwrap_or_default()),
                });
            }
        },
    };
    let mut d = Decoder {
        r: reader,
        nesting: 0,
    };
    let (at, root) = d.start("SyncML")?;
    if root.page != PAGE_SYNCML || root.id != TagId::Token(s::SYNC_ML) || !root.has_content {
        return Err(d.unexpected_tag(at, &root, "<SyncML>"));
    }
    let mut hdr = None;
    let mut body = None;
    while let Some((at, tag)) = d.child()? {
        match tag_tok(&tag) {
            Some((PAGE_SYNCML, s::SYNC_HDR)) => hdr = Some(d.sync_hdr(&tag, at)?),
            Some((PAGE_SYNCML, s::SYNC_BODY)) => body = Some(d.sync_body(&tag)?),
            _ => d.skip(&tag)?,
        }
    }
    if let Some(ev) = d.r.next_event()? {
        return Err(Error::WbxmlUnexpected {
            offset: d.r.offset(),
            expected: "end of document",
            found: describe_event(Some(ev)),
        });
    }
    let hdr = hdr.ok_or(Error::WbxmlMissingElement {
        offset: at,
        parent: "SyncML",
        element: "SyncHdr",
    })?;
    let body = body.ok_or(Error::WbxmlMissingElement {
        offset: at,
        parent: "SyncML",
        element: "SyncBody",
    })?;
    let version = header_version.unwrap_or(if hdr.ver_dtd == "1.1" {
        Version::V1_1
    } else {
        Version::V1_2
    });
    Ok(SyncMl { version, hdr, body })
}

#[inline]
fn tag_tok(tag: &Tag<'_>) -> Option<(u8, u8)> {
    match tag.id {
        TagId::Token(t) => Some((tag.page, t)),
        TagId::Literal(_) => None,
    }
}

fn describe(tag: &Tag<'_>) -> String {
    match tag.id {
        TagId::Token(t) => tag_name(tag.page, t),
        TagId::Literal(name) => excerpt_bytes(name),
    }
}

/// A short description of an event for an error (never its content).
fn describe_event(ev: Option<Event<'_>>) -> String {
    match ev {
        None => "end of input".to_owned(),
        Some(Event::Start(t)) => describe(&t),
        Some(Event::End) => "END".to_owned(),
        Some(Event::Str(_)) => "text".to_owned(),
        Some(Event::Opaque(_)) => "opaque data".to_owned(),
        Some(Event::Entity(cp)) => format!("entity {cp:#x}"),
        Some(Event::Extension { kind, .. }) => format!("extension {kind}"),
    }
}

/// Collected character data of a text-only element. Its size is bounded by the reader
/// (`max_text` per value, the output budget in total): every piece comes from an event.
enum Text<'a> {
    Empty,
    One(&'a [u8]),
    Many(Vec<u8>),
}

impl<'a> Text<'a> {
    fn push(&mut self, b: &'a [u8]) {
        self.append(b, Text::One(b));
    }

    /// Appends the character of an `ENTITY` (U+FFFD for a code point that is none), in place:
    /// amortised constant time, however much text came before.
    fn push_entity(&mut self, cp: u32) {
        let c = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        let enc = c.encode_utf8(&mut buf).as_bytes();
        self.append(enc, Text::Many(enc.to_vec()));
    }

    /// Appends `b`; `alone` is what the text becomes when it was empty. The first append to a
    /// borrowed piece copies it once; later ones extend the buffer.
    fn append(&mut self, b: &[u8], alone: Text<'a>) {
        match self {
            Text::Empty => *self = alone,
            Text::One(a) => {
                let mut v = Vec::with_capacity(a.len() + b.len());
                v.extend_from_slice(a);
                v.extend_from_slice(b);
                *self = Text::Many(v);
            }
            Text::Many(v) => v.extend_from_slice(b),
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Text::Empty => Vec::new(),
            Text::One(b) => b.to_vec(),
            Text::Many(v) => v,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Text::Empty => &[],
            Text::One(b) => b,
            Text::Many(v) => v,
        }
    }
}

struct Decoder<'a> {
    r: Reader<'a>,
    /// Current `Atomic` / `Sequence` nesting.
    nesting: usize,
}

impl<'a> Decoder<'a> {
    fn unexpected_tag(&self, at: usize, tag: &Tag<'_>, expected: &'static str) -> Error {
        Error::WbxmlUnexpected {
            offset: at,
            expected,
            found: describe(tag),
        }
    }

    /// The next event, which must be a start tag.
    fn start(&mut self, expected: &'static str) -> Result<(usize, Tag<'a>), Error> {
        let at = self.r.offset();
        match self.r.next_event()? {
            Some(Event::Start(tag)) => Ok((at, tag)),
            other => Err(Error::WbxmlUnexpected {
                offset: at,
                expected,
                found: describe_event(other),
            }),
        }
    }

    /// The next child element of the current element, or `None` at its END. Character data
    /// between child elements is not allowed (whitespace is skipped).
    #[inline]
    fn child(&mut self) -> Result<Option<(usize, Tag<'a>)>, Error> {
        loop {
            let at = self.r.offset();
            if let Some(t) = self.r.tag_or_end() {
                return Ok(t.map(|tag| (at, tag)));
            }
            match self.r.next_event()? {
                Some(Event::Start(tag)) => return Ok(Some((at, tag))),
                Some(Event::End) => return Ok(None),
                Some(Event::Str(b)) if b.iter().all(u8::is_ascii_whitespace) => {}
                other => {
                    return Err(Error::WbxmlUnexpected {
                        offset: at,
                        expected: "an element or END",
                        found: describe_event(other),
                    });
                }
            }
        }
    }

    /// Children of an element that has content (none if it has not).
    #[inline]
    fn children(&mut self, tag: &Tag<'_>) -> Result<Option<(usize, Tag<'a>)>, Error> {
        if tag.has_content {
            self.child()
        } else {
            Ok(None)
        }
    }

    /// Skips an element and everything inside it.
    fn skip(&mut self, tag: &Tag<'_>) -> Result<(), Error> {
        if !tag.has_content {
            return Ok(());
        }
        let mut depth = 1usize;
        while depth > 0 {
            let at = self.r.offset();
            match self.r.next_event()? {
                Some(Event::Start(t)) => {
                    if t.has_content {
                        depth += 1;
                    }
                }
                Some(Event::End) => depth -= 1,
                Some(_) => {}
                None => {
                    return Err(wbxml::Error::UnexpectedEof {
                        offset: at,
                        context: "element",
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// The character data of a text-only element (STR_I, STR_T, OPAQUE, ENTITY pieces).
    fn text_bytes(&mut self, tag: &Tag<'_>) -> Result<Text<'a>, Error> {
        let mut text = Text::Empty;
        if !tag.has_content {
            return Ok(text);
        }
        loop {
            let at = self.r.offset();
            match self.r.next_event()? {
                Some(Event::Str(b) | Event::Opaque(b)) => text.push(b),
                Some(Event::End) => return Ok(text),
                Some(Event::Entity(cp)) => text.push_entity(cp),
                Some(Event::Start(t)) => {
                    return Err(Error::WbxmlUnexpected {
                        offset: at,
                        expected: "text",
                        found: describe(&t),
                    });
                }
                other => {
                    return Err(Error::WbxmlUnexpected {
                        offset: at,
                        expected: "text",
                        found: describe_event(other),
                    });
                }
            }
        }
    }

    fn string(&mut self, tag: &Tag<'_>, at: usize, element: &'static str) -> Result<String, Error> {
        if !tag.has_content {
            return Ok(String::new());
        }
        if let Some(b) = self.r.text_then_end() {
            // One piece: validate in place, copy once.
            return match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) => Err(Error::WbxmlInvalidUtf8 {
                    offset: at,
                    element,
                }),
            };
        }
        let owned = self.text_bytes(tag)?.into_vec();
        String::from_utf8(owned).map_err(|_| Error::WbxmlInvalidUtf8 {
            offset: at,
            element,
        })
    }

    fn number(&mut self, tag: &Tag<'_>, at: usize, element: &'static str) -> Result<u16, Error> {
        let t = if tag.has_content
            && let Some(b) = self.r.text_then_end()
        {
            Text::One(b)
        } else {
            self.text_bytes(tag)?
        };
        let b = t.bytes();
        let parsed = std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok());
        parsed.ok_or_else(|| Error::WbxmlInvalidNumber {
            offset: at,
            element,
            text: excerpt_bytes(b),
        })
    }

    fn flag(&mut self, tag: &Tag<'_>) -> Result<bool, Error> {
        self.skip(tag)?;
        Ok(true)
    }

    fn sync_hdr(&mut self, tag: &Tag<'_>, at: usize) -> Result<SyncHdr, Error> {
        let mut h = SyncHdr::default();
        let (mut dtd, mut proto, mut sid, mut mid, mut tgt, mut src) =
            (false, false, false, false, false, false);
        while let Some((cat, c)) = self.children(tag)? {
            match tag_tok(&c) {
                Some((PAGE_SYNCML, s::VER_DTD)) => {
                    h.ver_dtd = self.string(&c, cat, "VerDTD")?;
                    dtd = true;
                }
                Some((PAGE_SYNCML, s::VER_PROTO)) => {
                    h.ver_proto = self.string(&c, cat, "VerProto")?;
                    proto = true;
                }
                Some((PAGE_SYNCML, s::SESSION_ID)) => {
                    h.session_id = self.string(&c, cat, "SessionID")?;
                    sid = true;
                }
                Some((PAGE_SYNCML, s::MSG_ID)) => {
                    h.msg_id = self.string(&c, cat, "MsgID")?;
                    mid = true;
                }
                Some((PAGE_SYNCML, s::TARGET)) => {
                    h.target = self.location(&c, cat, "Target")?;
                    tgt = true;
                }
                Some((PAGE_SYNCML, s::SOURCE)) => {
                    h.source = self.location(&c, cat, "Source")?;
                    src = true;
                }
                Some((PAGE_SYNCML, s::RESP_URI)) => {
                    h.resp_uri = Some(self.string(&c, cat, "RespURI")?)
                }
                Some((PAGE_SYNCML, s::NO_RESP)) => h.no_resp = self.flag(&c)?,
                Some((PAGE_SYNCML, s::CRED)) => h.cred = Some(self.cred(&c, cat)?),
                Some((PAGE_SYNCML, s::META)) => h.meta = Some(self.meta(&c, cat)?),
                _ => self.skip(&c)?,
            }
        }
        for (present, element) in [
            (dtd, "VerDTD"),
            (proto, "VerProto"),
            (sid, "SessionID"),
            (mid, "MsgID"),
            (tgt, "Target"),
            (src, "Source"),
        ] {
            if !present {
                return Err(Error::WbxmlMissingElement {
                    offset: at,
                    parent: "SyncHdr",
                    element,
                });
            }
        }
        Ok(h)
    }

    fn location(
        &mut self,
        tag: &Tag<'_>,
        at: usize,
        parent: &'static str,
    ) -> Result<Location, Error> {
        let mut uri = None;
        let mut name = None;
        while let Some((cat, c)) = self.children(tag)? {
            match tag_tok(&c) {
                Some((PAGE_SYNCML, s::LOC_URI)) => uri = Some(self.string(&c, cat, "LocURI")?),
                Some((PAGE_SYNCML, s::LOC_NAME)) => name = Some(self.string(&c, cat, "LocName")?),
                _ => self.skip(&c)?,
            }
        }
        let loc_uri = uri.ok_or(Error::WbxmlMissingElement {
            offset: at,
            parent,
            element: "LocURI",
        })?;
        Ok(Location {
            loc_uri,
            loc_name: name,
        })
    }

    fn cred(&mut self, tag: &Tag<'_>, at: usize) -> Result<Cred, Error> {
        let mut cred = Cred::default();
        let mut data = false;
        while let Some((cat, c)) = self.children(tag)? {
            match tag_tok(&c) {
                Some((PAGE_SYNCML, s::META)) => cred.meta = Some(self.meta(&c, cat)?),
                Some((PAGE_SYNCML, s::DATA)) => {
                    cred.data = self.string(&c, cat, "Cred/Data")?;
                    data = true;
                }
                _ => self.skip(&c)?,
            }
        }
        if !data {
            return Err(Error::WbxmlMissingElement {
                offset: at,
                parent: "Cred",
                element: "Data",
            });
        }
        Ok(cred)
    }

    fn meta(&mut self, tag: &Tag<'_>, _at: usize) -> Result<Meta, Error> {
        let mut meta = Meta::default();
        while let Some((cat, c)) = self.children(tag)? {
            match tag_tok(&c) {
                Some((PAGE_METINF, m::FIELD_LEVEL)) => meta.field_level = self.flag(&c)?,
                Some((PAGE_METINF, m::FORMAT)) => {
                    meta.format = Some(self.string(&c, cat, "Format")?)
                }
                Some((PAGE_METINF, m::TYPE)) => {
                    let t = self.string(&c, cat, "Type")?;
                    meta.r#type = Some(super::type_from_wire(t));
                }
                Some((PAGE_METINF, m::MARK)) => meta.mark = Some(self.string(&c, cat, "Mark")?),
                Some((PAGE_METINF, m::SIZE)) => meta.size = Some(self.string(&c, cat, "Size")?),
                Some((PAGE_METINF, m::VERSION)) => {
                    meta.version = Some(self.string(&c, cat, "Version")?)
                }
                Some((PAGE_METINF, m::NEXT_NONCE)) => {
                    meta.next_nonce = Some(self.string(&c, cat, "NextNonce")?);
                }
                Some((PAGE_METINF, m::MAX_MSG_SIZE)) => {
                    meta.max_msg_size = Some(self.string(&c, cat, "MaxMsgSize")?);
                }
                Some((PAGE_METINF, m::MAX_OBJ_SIZE)) => {
                    meta.max_obj_size = Some(self.string(&c, cat, "MaxObjSize")?);
                }
                Some((PAGE_METINF, m::EMI)) => meta.emi.push(self.string(&c, cat, "EMI")?),
                _ => self.skip(&c)?,
            }
        }
        Ok(meta)
    }

    fn item(&mut self, tag: &Tag<'_>) -> Result<Item, Error> {
        let mut item = Item::default();
        while let Some((cat, c)) = self.children(tag)? {
            match tag_tok(&c) {
                Some((PAGE_SYNCML, s::TARGET)) => {
                    item.target = Some(self.location(&c, cat, "Target")?)
                }
                Some((PAGE_SYNCML, s::SOURCE)) => {
                    item.source = Some(self.location(&c, cat, "Source")?)
                }
                Some((PAGE_SYNCML, s::META)) => item.meta = Some(self.meta(&c, cat)?),
                Some((PAGE_SYNCML, s::DATA)) => item.data = Some(self.data(&c, cat)?),
                Some((PAGE_SYNCML, s::MORE_DATA)) => item.more_data = self.flag(&c)?,
                _ => self.skip(&c)?,
            }
        }
        Ok(item)
    }

    /// `Item/Data`: text, opaque (maybe a nested DDF document), or inline elements.
    fn data(&mut self, tag: &Tag<'_>, at: usize) -> Result<Data, Error> {
        if !tag.has_content {
            return Ok(Data::Text(String::new()));
        }
        let mut text = Text::Empty;
        let mut opaque_pieces = 0usize;
        loop {
            let eat = self.r.offset();
            match self.r.next_event()? {
                Some(Event::Str(b)) => {
                    text.push(b);
                }
                Some(Event::Opaque(b)) => {
                    opaque_pieces += 1;
                    text.push(b);
                }
                Some(Event::Entity(cp)) => text.push_entity(cp),
                Some(Event::End) => break,
                Some(Event::Start(t)) => {
                    // Inline elements: DDF tags or literal tags (libwbxml writes unknown XML so).
                    let xml = ddf::inline_elements_to_xml(&mut self.r, t, text.bytes(), eat)?;
                    return Ok(Data::Xml(xml));
                }
                Some(other) => {
                    return Err(Error::WbxmlUnexpected {
                        offset: eat,
                        expected: "Data content",
                        found: describe_event(Some(other)),
                    });
                }
                None => {
                    return Err(wbxml::Error::UnexpectedEof {
                        offset: eat,
                        context: "Data",
                    }
                    .into());
                }
            }
        }
        // A character entity for U+0000 gives text that only OPAQUE can carry: opaque data.
        if opaque_pieces == 0 && text.bytes().contains(&0) {
            opaque_pieces = 1;
        }
        if opaque_pieces == 0 {
            return String::from_utf8(text.into_vec())
                .map(Data::Text)
                .map_err(|_| Error::WbxmlInvalidUtf8 {
                    offset: at,
                    element: "Data",
                });
        }
        // Opaque data holding a TNDS document (however it was split into pieces) is XML.
        if let Some(xml) = ddf::nested_to_xml(&mut self.r, text.bytes(), at)? {
            return Ok(Data::Xml(xml));
        }
        Ok(Data::Opaque(text.into_vec()))
    }

    fn item_cmd(&mut self, tag: &Tag<'_>) -> Result<ItemCmd, Error> {
        let mut c = ItemCmd::default();
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => c.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::NO_RESP)) => c.no_resp = self.flag(&ch)?,
                Some((PAGE_SYNCML, s::CRED)) => c.cred = Some(self.cred(&ch, cat)?),
                Some((PAGE_SYNCML, s::META)) => c.meta = Some(self.meta(&ch, cat)?),
                Some((PAGE_SYNCML, s::ITEM)) => c.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(c)
    }

    fn alert(&mut self, tag: &Tag<'_>, at: usize) -> Result<Alert, Error> {
        let mut a = Alert {
            cmd_id: String::new(),
            no_resp: false,
            cred: None,
            code: AlertCode(0),
            correlator: None,
            items: Vec::new(),
        };
        let mut code = false;
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => a.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::NO_RESP)) => a.no_resp = self.flag(&ch)?,
                Some((PAGE_SYNCML, s::CRED)) => a.cred = Some(self.cred(&ch, cat)?),
                Some((PAGE_SYNCML, s::DATA)) => {
                    a.code = AlertCode(self.number(&ch, cat, "Alert/Data")?);
                    code = true;
                }
                Some((PAGE_SYNCML, s::CORRELATOR)) => {
                    a.correlator = Some(self.string(&ch, cat, "Correlator")?);
                }
                Some((PAGE_SYNCML, s::ITEM)) => a.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        if !code {
            return Err(Error::WbxmlMissingElement {
                offset: at,
                parent: "Alert",
                element: "Data",
            });
        }
        Ok(a)
    }

    fn exec(&mut self, tag: &Tag<'_>) -> Result<Exec, Error> {
        let mut e = Exec::default();
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => e.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::NO_RESP)) => e.no_resp = self.flag(&ch)?,
                Some((PAGE_SYNCML, s::CRED)) => e.cred = Some(self.cred(&ch, cat)?),
                Some((PAGE_SYNCML, s::META)) => e.meta = Some(self.meta(&ch, cat)?),
                Some((PAGE_SYNCML, s::CORRELATOR)) => {
                    e.correlator = Some(self.string(&ch, cat, "Correlator")?);
                }
                Some((PAGE_SYNCML, s::ITEM)) => e.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(e)
    }

    fn container(&mut self, tag: &Tag<'_>, at: usize) -> Result<Container, Error> {
        if self.nesting >= HARD_MAX_NESTING {
            return Err(Error::LimitExceeded {
                encoding: Encoding::Wbxml,
                limit: LimitKind::Depth,
                offset: at,
                max: HARD_MAX_NESTING,
            });
        }
        self.nesting += 1;
        let mut c = Container::default();
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => c.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::NO_RESP)) => c.no_resp = self.flag(&ch)?,
                Some((PAGE_SYNCML, s::META)) => c.meta = Some(self.meta(&ch, cat)?),
                _ => {
                    if let Some(cmd) = self.command(&ch, cat)? {
                        c.commands.push(cmd);
                    }
                }
            }
        }
        self.nesting -= 1;
        Ok(c)
    }

    fn results(&mut self, tag: &Tag<'_>) -> Result<Results, Error> {
        let mut r = Results::default();
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => r.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::MSG_REF)) => {
                    r.msg_ref = Some(self.string(&ch, cat, "MsgRef")?)
                }
                Some((PAGE_SYNCML, s::CMD_REF)) => r.cmd_ref = self.string(&ch, cat, "CmdRef")?,
                Some((PAGE_SYNCML, s::META)) => r.meta = Some(self.meta(&ch, cat)?),
                Some((PAGE_SYNCML, s::TARGET_REF)) => {
                    r.target_refs.push(self.string(&ch, cat, "TargetRef")?)
                }
                Some((PAGE_SYNCML, s::SOURCE_REF)) => {
                    r.source_refs.push(self.string(&ch, cat, "SourceRef")?)
                }
                Some((PAGE_SYNCML, s::ITEM)) => r.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(r)
    }

    fn status(&mut self, tag: &Tag<'_>, at: usize) -> Result<Status, Error> {
        let mut st = Status {
            cmd_id: String::new(),
            msg_ref: String::new(),
            cmd_ref: String::new(),
            cmd: String::new(),
            target_refs: Vec::new(),
            source_refs: Vec::new(),
            cred: None,
            chal: None,
            code: StatusCode(0),
            items: Vec::new(),
        };
        let mut code = false;
        while let Some((cat, ch)) = self.children(tag)? {
            match tag_tok(&ch) {
                Some((PAGE_SYNCML, s::CMD_ID)) => st.cmd_id = self.string(&ch, cat, "CmdID")?,
                Some((PAGE_SYNCML, s::MSG_REF)) => st.msg_ref = self.string(&ch, cat, "MsgRef")?,
                Some((PAGE_SYNCML, s::CMD_REF)) => st.cmd_ref = self.string(&ch, cat, "CmdRef")?,
                Some((PAGE_SYNCML, s::CMD)) => st.cmd = self.string(&ch, cat, "Cmd")?,
                Some((PAGE_SYNCML, s::TARGET_REF)) => {
                    st.target_refs.push(self.string(&ch, cat, "TargetRef")?)
                }
                Some((PAGE_SYNCML, s::SOURCE_REF)) => {
                    st.source_refs.push(self.string(&ch, cat, "SourceRef")?)
                }
                Some((PAGE_SYNCML, s::CRED)) => st.cred = Some(self.cred(&ch, cat)?),
                Some((PAGE_SYNCML, s::CHAL)) => {
                    let mut meta = Meta::default();
                    while let Some((mat, mc)) = self.children(&ch)? {
                        match tag_tok(&mc) {
                            Some((PAGE_SYNCML, s::META)) => meta = self.meta(&mc, mat)?,
                            _ => self.skip(&mc)?,
                        }
                    }
                    st.chal = Some(Chal { meta });
                }
                Some((PAGE_SYNCML, s::DATA)) => {
                    st.code = StatusCode(self.number(&ch, cat, "Status/Data")?);
                    code = true;
                }
                Some((PAGE_SYNCML, s::ITEM)) => st.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        if !code {
            return Err(Error::WbxmlMissingElement {
                offset: at,
                parent: "Status",
                element: "Data",
            });
        }
        Ok(st)
    }

    /// One command of a body or container; `None` for `Final` (handled by the caller).
    fn command(&mut self, tag: &Tag<'_>, at: usize) -> Result<Option<Command>, Error> {
        let cmd = match tag_tok(tag) {
            Some((PAGE_SYNCML, s::ADD)) => Command::Add(self.item_cmd(tag)?),
            Some((PAGE_SYNCML, s::ALERT)) => Command::Alert(self.alert(tag, at)?),
            Some((PAGE_SYNCML, s::ATOMIC)) => Command::Atomic(self.container(tag, at)?),
            Some((PAGE_SYNCML, s::COPY)) => Command::Copy(self.item_cmd(tag)?),
            Some((PAGE_SYNCML, s::DELETE)) => Command::Delete(self.item_cmd(tag)?),
            Some((PAGE_SYNCML, s::EXEC)) => Command::Exec(self.exec(tag)?),
            Some((PAGE_SYNCML, s::GET)) => Command::Get(self.item_cmd(tag)?),
            Some((PAGE_SYNCML, s::REPLACE)) => Command::Replace(self.item_cmd(tag)?),
            Some((PAGE_SYNCML, s::SEQUENCE)) => Command::Sequence(self.container(tag, at)?),
            Some((PAGE_SYNCML, s::RESULTS)) => Command::Results(self.results(tag)?),
            Some((PAGE_SYNCML, s::STATUS)) => Command::Status(self.status(tag, at)?),
            _ => {
                // An unmodelled command: report its name and CmdID so a server can answer it.
                let mut cmd_id = None;
                while let Some((cat, ch)) = self.children(tag)? {
                    if tag_tok(&ch) == Some((PAGE_SYNCML, s::CMD_ID)) {
                        cmd_id = self.string(&ch, cat, "CmdID").ok();
                    } else {
                        self.skip(&ch)?;
                    }
                }
                return Err(Error::WbxmlUnknownCommand {
                    offset: at,
                    name: describe(tag),
                    cmd_id,
                });
            }
        };
        Ok(Some(cmd))
    }

    fn sync_body(&mut self, tag: &Tag<'_>) -> Result<SyncBody, Error> {
        let mut body = SyncBody::default();
        while let Some((cat, ch)) = self.children(tag)? {
            if tag_tok(&ch) == Some((PAGE_SYNCML, s::FINAL)) {
                body.is_final = self.flag(&ch)?;
            } else if let Some(cmd) = self.command(&ch, cat)? {
                body.commands.push(cmd);
            }
        }
        Ok(body)
    }
}
