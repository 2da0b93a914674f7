//! XML -> AST: a recursive-descent decoder over the borrowed tokens of [`super::reader`].

use std::borrow::Cow;

use super::reader::{Entities, Reader, StartTag, Token, all_ws, check_chars, malformed, unescape};
use super::tag::Tag;
use crate::error::excerpt;
use crate::{
    Alert, AlertCode, Chal, Command, Container, Cred, Data, Encoding, Error, Exec,
    HARD_MAX_NESTING, Item, ItemCmd, LimitKind, Limits, Location, Meta, Results, Status,
    StatusCode, SyncBody, SyncHdr, SyncMl, Version,
};

/// Decodes one XML-encoded SyncML DM message.
///
/// See the [module documentation](super) for what is accepted and how `Data` is classified.
///
/// # Errors
/// - [`Error::LimitExceeded`] when the input is longer than `limits.max_size`, nests deeper than
///   `limits.max_depth`, holds more than `limits.max_elements` elements or `max_entities`
///   references, has a text value larger than `max_text` or more text than its output budget,
///   or nests containers deeper than [`HARD_MAX_NESTING`];
/// - [`Error::XmlMalformed`] for input that is not well-formed UTF-8 XML;
/// - [`Error::XmlInvalidChar`] for a character outside XML 1.0's `Char` production (a C0
///   control other than tab, line feed and carriage return, U+FFFE, U+FFFF), raw or as a
///   character reference;
/// - [`Error::XmlUnexpected`] for a wrong root, text among elements, elements inside text
///   elements, truncated input;
/// - [`Error::XmlMissingElement`] when a required child (e.g. `Status/CmdRef`) is absent;
/// - [`Error::XmlInvalidNumber`] for a non-numeric status or alert code;
/// - [`Error::XmlUnknownCommand`] for a command this codec does not model;
/// - [`Error::XmlUnsupportedVersion`] for a SyncML version other than 1.1 or 1.2.
pub fn decode(input: &[u8], limits: &Limits) -> Result<SyncMl, Error> {
    if input.len() > limits.max_size {
        return Err(limit_error(
            LimitKind::Size,
            limits.max_size,
            limits.max_size,
        ));
    }
    let text = std::str::from_utf8(input).map_err(|e| Error::XmlMalformed {
        offset: e.valid_up_to(),
        reason: "invalid UTF-8".to_owned(),
    })?;
    let nul_runs = check_chars(input)?;
    let mut parser = Parser::new(text, nul_runs, limits);
    parser.document()
}

/// An exceeded XML decoding limit.
pub(super) fn limit_error(limit: LimitKind, offset: usize, max: usize) -> Error {
    Error::LimitExceeded {
        encoding: Encoding::Xml,
        limit,
        offset,
        max,
    }
}

/// An element whose start (or empty) tag has just been read.
#[derive(Debug, Clone, Copy)]
struct Child<'a> {
    tag: Tag,
    /// `<X/>`: there is no content and no end tag to read.
    empty: bool,
    /// Offset of the `<`.
    offset: usize,
    /// Qualified name as written.
    name: &'a str,
}

struct Parser<'a> {
    reader: Reader<'a>,
    max_depth: usize,
    max_elements: usize,
    elements: usize,
    max_text: usize,
    /// Output bytes the budget still holds, and the budget.
    output_left: usize,
    output_max: usize,
    entities: Entities,
    /// Names of the open elements, outermost first (its length is the depth).
    open: Vec<&'a str>,
    /// Current `Atomic` / `Sequence` nesting.
    nesting: usize,
}

fn unexpected(offset: usize, expected: &'static str, found: &str) -> Error {
    Error::XmlUnexpected {
        offset,
        expected,
        found: excerpt(found),
    }
}

fn missing(c: &Child<'_>, parent: &'static str, element: &'static str) -> Error {
    Error::XmlMissingElement {
        offset: c.offset,
        parent,
        element,
    }
}

fn push<'a>(acc: &mut Option<Cow<'a, str>>, s: Cow<'a, str>) {
    match acc {
        None => *acc = Some(s),
        Some(a) => a.to_mut().push_str(&s),
    }
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(|ch: char| ch.is_ascii() && super::reader::is_ws(ch as u8))
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, nul_runs: bool, limits: &Limits) -> Self {
        let mut reader = Reader::new(input, nul_runs);
        // A byte order mark is not part of the document; offsets stay those of `input`.
        if input.starts_with('\u{feff}') {
            reader.set_pos('\u{feff}'.len_utf8());
        }
        Parser {
            reader,
            max_depth: limits.max_depth,
            max_elements: limits.max_elements,
            elements: 0,
            max_text: limits.max_text,
            output_left: limits.output_budget(input.len()),
            output_max: limits.output_budget(input.len()),
            entities: Entities {
                left: limits.max_entities,
                max: limits.max_entities,
            },
            open: Vec::with_capacity(16),
            nesting: 0,
        }
    }

    /// The next token and the offset it starts at.
    fn event(&mut self) -> Result<(usize, Token<'a>), Error> {
        let offset = self.reader.pos();
        Ok((offset, self.reader.next_token()?))
    }

    /// Accounts for a start or empty tag against the limits.
    fn open(&mut self, offset: usize, t: &StartTag<'a>) -> Result<Child<'a>, Error> {
        self.elements += 1;
        if self.elements > self.max_elements {
            return Err(limit_error(LimitKind::Elements, offset, self.max_elements));
        }
        if self.open.len() >= self.max_depth {
            return Err(limit_error(LimitKind::Depth, offset, self.max_depth));
        }
        if !t.empty {
            self.open.push(t.name);
        }
        Ok(Child {
            tag: Tag::of(t.local()),
            empty: t.empty,
            offset,
            name: t.name,
        })
    }

    /// Counts a decoded value of `len` bytes (of the element at `offset`) against `max_text` and
    /// the output budget. (XML never expands: every value is at most the input it came from, so
    /// checking once it is built is enough.)
    #[inline]
    fn value(&mut self, offset: usize, len: usize) -> Result<(), Error> {
        if len > self.max_text {
            return Err(limit_error(LimitKind::Text, offset, self.max_text));
        }
        match self.output_left.checked_sub(len) {
            Some(left) => {
                self.output_left = left;
                Ok(())
            }
            None => Err(limit_error(LimitKind::Output, offset, self.output_max)),
        }
    }

    /// Resolves the references of the raw text `t` found at `offset`.
    #[inline]
    fn unescape(&mut self, t: &'a str, offset: usize) -> Result<Cow<'a, str>, Error> {
        unescape(t, offset, &mut self.entities)
    }

    /// Closes the innermost open element with the end tag `name` found at `offset`.
    fn close(&mut self, offset: usize, name: &str) -> Result<(), Error> {
        match self.open.pop() {
            Some(open) if open == name => Ok(()),
            Some(open) => Err(malformed(
                offset,
                format!("end tag </{name}> does not match <{open}>"),
            )),
            None => Err(malformed(offset, format!("unexpected end tag </{name}>"))),
        }
    }

    /// Consumes the end tag of the innermost open element if it comes next, written exactly
    /// `</name>` (the common case: no name scan, no comparison against the stack).
    fn close_here(&mut self) -> bool {
        let at = self.reader.pos();
        match self.open.last() {
            Some(name) if self.reader.end_tag_at(at, name) => {
                self.reader.set_pos(at + name.len() + 3);
                self.open.pop();
                true
            }
            _ => false,
        }
    }

    /// The next child element of `parent`, or `None` once its end tag is consumed.
    fn child(&mut self, parent: &Child<'a>) -> Result<Option<Child<'a>>, Error> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            let ws = self.reader.pos();
            self.reader.skip_ws();
            if self.close_here() {
                return Ok(None);
            }
            let offset = self.reader.pos();
            match self.reader.next_token()? {
                Token::Start(t) => return self.open(offset, &t).map(Some),
                Token::End(name) => {
                    self.close(offset, name)?;
                    return Ok(None);
                }
                Token::Text(_) => return Err(unexpected(ws, "element", "text")),
                Token::Comment | Token::Pi => {}
                tok => return Err(unexpected(offset, "element or end tag", tok.describe())),
            }
        }
    }

    /// Skips the content of `c` (and its end tag), counting nested elements against the limits.
    fn skip(&mut self, c: &Child<'a>) -> Result<(), Error> {
        if c.empty {
            return Ok(());
        }
        let target = self.open.len().saturating_sub(1);
        loop {
            let (offset, tok) = self.event()?;
            match tok {
                Token::Start(t) => {
                    self.open(offset, &t)?;
                }
                Token::End(name) => {
                    self.close(offset, name)?;
                    if self.open.len() <= target {
                        return Ok(());
                    }
                }
                Token::Text(t) => {
                    self.unescape(t, offset)?;
                }
                Token::CData(_) | Token::Comment | Token::Pi => {}
                tok => return Err(unexpected(offset, "end tag", tok.describe())),
            }
        }
    }

    /// The character data of a text-only element (entities resolved, CDATA taken literally).
    fn text(&mut self, c: &Child<'a>) -> Result<String, Error> {
        if c.empty {
            return Ok(String::new());
        }
        let start = self.reader.pos();
        // Fast path: text without references, then the end tag.
        let (raw, stop) = self.reader.plain_text();
        if stop == Some(b'<') && self.close_here() {
            self.value(c.offset, raw.len())?;
            return Ok(raw.to_owned());
        }
        self.reader.set_pos(start);
        let mut acc: Option<Cow<'a, str>> = None;
        loop {
            let (offset, tok) = self.event()?;
            match tok {
                Token::Text(t) => {
                    let s = self.unescape(t, offset)?;
                    push(&mut acc, s);
                }
                Token::CData(t) => push(&mut acc, Cow::Borrowed(t)),
                Token::End(name) => {
                    self.close(offset, name)?;
                    let text = acc.map(Cow::into_owned).unwrap_or_default();
                    self.value(c.offset, text.len())?;
                    return Ok(text);
                }
                Token::Start(t) => return Err(unexpected(offset, "text", t.name)),
                Token::Comment | Token::Pi => {}
                tok => return Err(unexpected(offset, "text or end tag", tok.describe())),
            }
        }
    }

    /// A status or alert code.
    fn number(&mut self, c: &Child<'a>, element: &'static str) -> Result<u16, Error> {
        let text = self.text(c)?;
        trim_ws(&text)
            .parse::<u16>()
            .map_err(|_| Error::XmlInvalidNumber {
                offset: c.offset,
                element,
                text: excerpt(&text),
            })
    }

    /// The content of an `Item/Data`.
    fn data(&mut self, c: &Child<'a>) -> Result<Data, Error> {
        if c.empty {
            return Ok(Data::Text(String::new()));
        }
        let start = self.reader.pos();
        let base = self.open.len();
        let mut text: Option<Cow<'a, str>> = None;
        let mut cdata: Option<Cow<'a, str>> = None;
        let mut text_is_ws = true;
        let mut has_elements = false;
        loop {
            let (offset, tok) = self.event()?;
            match tok {
                Token::Text(t) => {
                    let s = self.unescape(t, offset)?;
                    if !has_elements {
                        if !all_ws(&s) {
                            text_is_ws = false;
                        }
                        push(&mut text, s);
                    }
                }
                Token::CData(s) if !has_elements => {
                    push(&mut text, Cow::Borrowed(s));
                    push(&mut cdata, Cow::Borrowed(s));
                }
                Token::Start(t) => {
                    self.open(offset, &t)?;
                    has_elements = true;
                }
                Token::End(name) if self.open.len() > base => self.close(offset, name)?,
                Token::End(name) => {
                    self.close(offset, name)?;
                    let data = if has_elements {
                        let raw = trim_ws(self.reader.slice(start, offset)?);
                        // Runs of NULs sit only before end tags (the reader checked the rest):
                        // dropped from embedded XML as from any text.
                        if self.reader.has_nul_runs() && raw.contains('\0') {
                            Data::Xml(raw.replace('\0', ""))
                        } else {
                            Data::Xml(raw.to_owned())
                        }
                    } else if let (Some(cd), true) = (cdata, text_is_ws) {
                        Data::CData(cd.into_owned())
                    } else {
                        Data::Text(text.map(Cow::into_owned).unwrap_or_default())
                    };
                    self.value(c.offset, data.as_bytes().len())?;
                    return Ok(data);
                }
                Token::CData(_) | Token::Comment | Token::Pi => {}
                tok => {
                    return Err(unexpected(
                        offset,
                        "Data content or end tag",
                        tok.describe(),
                    ));
                }
            }
        }
    }

    fn document(&mut self) -> Result<SyncMl, Error> {
        // Prolog.
        let (root, root_ns) = loop {
            let (offset, tok) = self.event()?;
            match tok {
                Token::Start(t) => {
                    let ns = root_namespace(offset, &t)?;
                    break (self.open(offset, &t)?, ns);
                }
                Token::Decl | Token::DocType | Token::Comment | Token::Pi => {}
                Token::Text(t) if all_ws(t) => {}
                tok => return Err(unexpected(offset, "<SyncML>", tok.describe())),
            }
        };
        if root.tag != Tag::SyncMl {
            return Err(unexpected(root.offset, "<SyncML>", root.name));
        }
        let msg = self.sync_ml(&root, root_ns)?;
        // Epilog.
        loop {
            let (offset, tok) = self.event()?;
            match tok {
                Token::Eof => return Ok(msg),
                Token::Comment | Token::Pi => {}
                Token::Text(t) if all_ws(t) => {}
                tok => return Err(unexpected(offset, "end of input", tok.describe())),
            }
        }
    }

    fn sync_ml(&mut self, c: &Child<'a>, ns: Option<Version>) -> Result<SyncMl, Error> {
        let mut hdr = None;
        let mut body = None;
        let mut ver_dtd_offset = c.offset;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::SyncHdr => {
                    let (h, off) = self.sync_hdr(&ch)?;
                    ver_dtd_offset = off;
                    hdr = Some(h);
                }
                Tag::SyncBody => body = Some(self.sync_body(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        let hdr = hdr.ok_or_else(|| missing(c, "SyncML", "SyncHdr"))?;
        let body = body.ok_or_else(|| missing(c, "SyncML", "SyncBody"))?;
        let version = match ns {
            Some(v) => v,
            None => match hdr.ver_dtd.trim() {
                "1.2" => Version::V1_2,
                "1.1" => Version::V1_1,
                other => {
                    return Err(Error::XmlUnsupportedVersion {
                        offset: ver_dtd_offset,
                        found: excerpt(other),
                    });
                }
            },
        };
        Ok(SyncMl { version, hdr, body })
    }

    /// The header and the offset of its `VerDTD`.
    fn sync_hdr(&mut self, c: &Child<'a>) -> Result<(SyncHdr, usize), Error> {
        const P: &str = "SyncHdr";
        let mut ver_dtd = None;
        let mut ver_dtd_offset = c.offset;
        let mut ver_proto = None;
        let mut session_id = None;
        let mut msg_id = None;
        let mut target = None;
        let mut source = None;
        let mut resp_uri = None;
        let mut no_resp = false;
        let mut cred = None;
        let mut meta = None;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::VerDtd => {
                    ver_dtd_offset = ch.offset;
                    ver_dtd = Some(self.text(&ch)?);
                }
                Tag::VerProto => ver_proto = Some(self.text(&ch)?),
                Tag::SessionId => session_id = Some(self.text(&ch)?),
                Tag::MsgId => msg_id = Some(self.text(&ch)?),
                Tag::Target => target = Some(self.location(&ch, "Target")?),
                Tag::Source => source = Some(self.location(&ch, "Source")?),
                Tag::RespUri => resp_uri = Some(self.text(&ch)?),
                Tag::NoResp => {
                    self.skip(&ch)?;
                    no_resp = true;
                }
                Tag::Cred => cred = Some(self.cred(&ch)?),
                Tag::Meta => meta = Some(self.meta(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        let hdr = SyncHdr {
            ver_dtd: ver_dtd.ok_or_else(|| missing(c, P, "VerDTD"))?,
            ver_proto: ver_proto.ok_or_else(|| missing(c, P, "VerProto"))?,
            session_id: session_id.ok_or_else(|| missing(c, P, "SessionID"))?,
            msg_id: msg_id.ok_or_else(|| missing(c, P, "MsgID"))?,
            target: target.ok_or_else(|| missing(c, P, "Target"))?,
            source: source.ok_or_else(|| missing(c, P, "Source"))?,
            resp_uri,
            no_resp,
            cred,
            meta,
        };
        Ok((hdr, ver_dtd_offset))
    }

    fn location(&mut self, c: &Child<'a>, parent: &'static str) -> Result<Location, Error> {
        let mut loc_uri = None;
        let mut loc_name = None;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::LocUri => loc_uri = Some(self.text(&ch)?),
                Tag::LocName => loc_name = Some(self.text(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Location {
            loc_uri: loc_uri.ok_or_else(|| missing(c, parent, "LocURI"))?,
            loc_name,
        })
    }

    fn cred(&mut self, c: &Child<'a>) -> Result<Cred, Error> {
        let mut meta = None;
        let mut data = None;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::Meta => meta = Some(self.meta(&ch)?),
                Tag::Data => data = Some(self.text(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Cred {
            meta,
            data: data.ok_or_else(|| missing(c, "Cred", "Data"))?,
        })
    }

    fn chal(&mut self, c: &Child<'a>) -> Result<Chal, Error> {
        let mut meta = None;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::Meta => meta = Some(self.meta(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Chal {
            meta: meta.ok_or_else(|| missing(c, "Chal", "Meta"))?,
        })
    }

    fn meta(&mut self, c: &Child<'a>) -> Result<Meta, Error> {
        let mut meta = Meta::default();
        self.meta_into(c, &mut meta, true)?;
        Ok(meta)
    }

    /// Reads MetInf elements into `m`; one level of `MetInf` wrapper is looked through.
    fn meta_into(&mut self, c: &Child<'a>, m: &mut Meta, wrapper: bool) -> Result<(), Error> {
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::FieldLevel => {
                    self.skip(&ch)?;
                    m.field_level = true;
                }
                Tag::Format => m.format = Some(self.text(&ch)?),
                Tag::Type => m.r#type = Some(self.text(&ch)?),
                Tag::Mark => m.mark = Some(self.text(&ch)?),
                Tag::Size => m.size = Some(self.text(&ch)?),
                Tag::Version => m.version = Some(self.text(&ch)?),
                Tag::NextNonce => m.next_nonce = Some(self.text(&ch)?),
                Tag::MaxMsgSize => m.max_msg_size = Some(self.text(&ch)?),
                Tag::MaxObjSize => m.max_obj_size = Some(self.text(&ch)?),
                Tag::Emi => m.emi.push(self.text(&ch)?),
                Tag::MetInf if wrapper => self.meta_into(&ch, m, false)?,
                _ => self.skip(&ch)?,
            }
        }
        Ok(())
    }

    fn item(&mut self, c: &Child<'a>) -> Result<Item, Error> {
        let mut item = Item::default();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::Target => item.target = Some(self.location(&ch, "Target")?),
                Tag::Source => item.source = Some(self.location(&ch, "Source")?),
                Tag::Meta => item.meta = Some(self.meta(&ch)?),
                Tag::Data => item.data = Some(self.data(&ch)?),
                Tag::MoreData => {
                    self.skip(&ch)?;
                    item.more_data = true;
                }
                _ => self.skip(&ch)?,
            }
        }
        Ok(item)
    }

    fn sync_body(&mut self, c: &Child<'a>) -> Result<SyncBody, Error> {
        let mut body = SyncBody {
            // Room for a typical package without regrowing (commands are large to move).
            commands: Vec::with_capacity(8),
            is_final: false,
        };
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::Final => {
                    self.skip(&ch)?;
                    body.is_final = true;
                }
                _ => body.commands.push(self.command(&ch)?),
            }
        }
        Ok(body)
    }

    fn command(&mut self, c: &Child<'a>) -> Result<Command, Error> {
        Ok(match c.tag {
            Tag::Add => Command::Add(self.item_cmd(c, "Add")?),
            Tag::Alert => Command::Alert(self.alert(c)?),
            Tag::Atomic => Command::Atomic(self.container(c, "Atomic")?),
            Tag::Copy => Command::Copy(self.item_cmd(c, "Copy")?),
            Tag::Delete => Command::Delete(self.item_cmd(c, "Delete")?),
            Tag::Exec => Command::Exec(self.exec(c)?),
            Tag::Get => Command::Get(self.item_cmd(c, "Get")?),
            Tag::Replace => Command::Replace(self.item_cmd(c, "Replace")?),
            Tag::Sequence => Command::Sequence(self.container(c, "Sequence")?),
            Tag::Results => Command::Results(self.results(c)?),
            Tag::Status => Command::Status(self.status(c)?),
            _ => return Err(self.unknown_command(c)?),
        })
    }

    /// The error for an unknown command, after reading its `CmdID` (if any) and skipping it.
    fn unknown_command(&mut self, c: &Child<'a>) -> Result<Error, Error> {
        let mut cmd_id = None;
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId if cmd_id.is_none() => cmd_id = Some(self.text(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Error::XmlUnknownCommand {
            offset: c.offset,
            name: excerpt(c.name),
            cmd_id,
        })
    }

    fn item_cmd(&mut self, c: &Child<'a>, parent: &'static str) -> Result<ItemCmd, Error> {
        let mut cmd_id = None;
        let mut cmd = ItemCmd::default();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::NoResp => {
                    self.skip(&ch)?;
                    cmd.no_resp = true;
                }
                Tag::Cred => cmd.cred = Some(self.cred(&ch)?),
                Tag::Meta => cmd.meta = Some(self.meta(&ch)?),
                Tag::Item => cmd.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        cmd.cmd_id = cmd_id.ok_or_else(|| missing(c, parent, "CmdID"))?;
        Ok(cmd)
    }

    fn alert(&mut self, c: &Child<'a>) -> Result<Alert, Error> {
        const P: &str = "Alert";
        let mut cmd_id = None;
        let mut no_resp = false;
        let mut cred = None;
        let mut code = None;
        let mut correlator = None;
        let mut items = Vec::new();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::NoResp => {
                    self.skip(&ch)?;
                    no_resp = true;
                }
                Tag::Cred => cred = Some(self.cred(&ch)?),
                Tag::Data => code = Some(AlertCode(self.number(&ch, "Alert/Data")?)),
                Tag::Correlator => correlator = Some(self.text(&ch)?),
                Tag::Item => items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Alert {
            cmd_id: cmd_id.ok_or_else(|| missing(c, P, "CmdID"))?,
            no_resp,
            cred,
            code: code.ok_or_else(|| missing(c, P, "Data"))?,
            correlator,
            items,
        })
    }

    fn exec(&mut self, c: &Child<'a>) -> Result<Exec, Error> {
        let mut cmd_id = None;
        let mut exec = Exec::default();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::NoResp => {
                    self.skip(&ch)?;
                    exec.no_resp = true;
                }
                Tag::Cred => exec.cred = Some(self.cred(&ch)?),
                Tag::Meta => exec.meta = Some(self.meta(&ch)?),
                Tag::Correlator => exec.correlator = Some(self.text(&ch)?),
                Tag::Item => exec.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        exec.cmd_id = cmd_id.ok_or_else(|| missing(c, "Exec", "CmdID"))?;
        Ok(exec)
    }

    fn container(&mut self, c: &Child<'a>, parent: &'static str) -> Result<Container, Error> {
        if self.nesting >= HARD_MAX_NESTING {
            return Err(limit_error(LimitKind::Depth, c.offset, HARD_MAX_NESTING));
        }
        self.nesting += 1;
        let mut cmd_id = None;
        let mut container = Container::default();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::NoResp => {
                    self.skip(&ch)?;
                    container.no_resp = true;
                }
                Tag::Meta => container.meta = Some(self.meta(&ch)?),
                _ => container.commands.push(self.command(&ch)?),
            }
        }
        container.cmd_id = cmd_id.ok_or_else(|| missing(c, parent, "CmdID"))?;
        self.nesting -= 1;
        Ok(container)
    }

    fn results(&mut self, c: &Child<'a>) -> Result<Results, Error> {
        const P: &str = "Results";
        let mut cmd_id = None;
        let mut cmd_ref = None;
        let mut r = Results::default();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::MsgRef => r.msg_ref = Some(self.text(&ch)?),
                Tag::CmdRef => cmd_ref = Some(self.text(&ch)?),
                Tag::Meta => r.meta = Some(self.meta(&ch)?),
                Tag::TargetRef => r.target_refs.push(self.text(&ch)?),
                Tag::SourceRef => r.source_refs.push(self.text(&ch)?),
                Tag::Item => r.items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        r.cmd_id = cmd_id.ok_or_else(|| missing(c, P, "CmdID"))?;
        r.cmd_ref = cmd_ref.ok_or_else(|| missing(c, P, "CmdRef"))?;
        Ok(r)
    }

    fn status(&mut self, c: &Child<'a>) -> Result<Status, Error> {
        const P: &str = "Status";
        let mut cmd_id = None;
        let mut msg_ref = None;
        let mut cmd_ref = None;
        let mut cmd = None;
        let mut target_refs = Vec::new();
        let mut source_refs = Vec::new();
        let mut cred = None;
        let mut chal = None;
        let mut code = None;
        let mut items = Vec::new();
        while let Some(ch) = self.child(c)? {
            match ch.tag {
                Tag::CmdId => cmd_id = Some(self.text(&ch)?),
                Tag::MsgRef => msg_ref = Some(self.text(&ch)?),
                Tag::CmdRef => cmd_ref = Some(self.text(&ch)?),
                Tag::Cmd => cmd = Some(self.text(&ch)?),
                Tag::TargetRef => target_refs.push(self.text(&ch)?),
                Tag::SourceRef => source_refs.push(self.text(&ch)?),
                Tag::Cred => cred = Some(self.cred(&ch)?),
                Tag::Chal => chal = Some(self.chal(&ch)?),
                Tag::Data => code = Some(StatusCode(self.number(&ch, "Status/Data")?)),
                Tag::Item => items.push(self.item(&ch)?),
                _ => self.skip(&ch)?,
            }
        }
        Ok(Status {
            cmd_id: cmd_id.ok_or_else(|| missing(c, P, "CmdID"))?,
            msg_ref: msg_ref.unwrap_or_default(),
            cmd_ref: cmd_ref.ok_or_else(|| missing(c, P, "CmdRef"))?,
            cmd: cmd.ok_or_else(|| missing(c, P, "Cmd"))?,
            target_refs,
            source_refs,
            cred,
            chal,
            code: code.ok_or_else(|| missing(c, P, "Data"))?,
            items,
        })
    }
}

/// The SyncML version named by the root's namespace declaration, if it has one.
fn root_namespace(offset: usize, t: &StartTag<'_>) -> Result<Option<Version>, Error> {
    let prefix = t.prefix();
    for (key, value) in t.attributes() {
        let binds_root = match (prefix, key.strip_prefix("xmlns")) {
            (None, Some(rest)) => rest.is_empty(),
            (Some(p), Some(rest)) => rest.strip_prefix(':') == Some(p),
            _ => false,
        };
        if !binds_root {
            continue;
        }
        return if value.eq_ignore_ascii_case("SYNCML:SYNCML1.2") {
            Ok(Some(Version::V1_2))
        } else if value.eq_ignore_ascii_case("SYNCML:SYNCML1.1") {
            Ok(Some(Version::V1_1))
        } else {
            Err(Error::XmlUnsupportedVersion {
                offset,
                found: excerpt(value),
            })
        };
    }
    Ok(None)
}
