//! AST -> XML: a direct writer into a byte buffer, elements in SyncML / MetInf DTD order.

use base64::Engine as _;

use crate::{
    Alert, Chal, Command, Container, Cred, Data, Exec, Item, ItemCmd, Location, Meta, Results,
    Status, SyncMl,
};

/// Encodes one message as compact XML (no declaration, no indentation).
#[must_use]
pub fn encode(msg: &SyncMl) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    encode_into(msg, &mut out);
    out
}

/// Appends the compact XML encoding of `msg` to `out` (clear it first to reuse a buffer).
pub fn encode_into(msg: &SyncMl, out: &mut Vec<u8>) {
    Writer { out, indent: None }.sync_ml(msg);
}

/// Encodes one message as indented XML (two spaces per level), for logs and people.
///
/// Whitespace is only added between elements, never inside text or `Data`, so it decodes to the
/// same AST as [`encode`]'s output.
#[must_use]
pub fn encode_pretty(msg: &SyncMl) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    Writer {
        out: &mut out,
        indent: Some(0),
    }
    .sync_ml(msg);
    out
}

const METINF: &str = " xmlns=\"syncml:metinf\"";

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// `Some(level)` when pretty-printing.
    indent: Option<usize>,
}

/// Appends `s` with `&`, `<`, `>` escaped and `\r` written as `&#13;` (so that it survives XML
/// line-end normalisation). Characters XML 1.0 cannot carry at all (C0 controls other than tab,
/// line feed and carriage return; U+FFFE, U+FFFF) are written as U+FFFD: the decoder never
/// produces them, and the output must stay well-formed.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (rep, len): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'\r' => (b"&#13;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f => (REPLACEMENT, 1),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => {
                (REPLACEMENT, 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(bytes.get(last..i).unwrap_or_default());
        out.extend_from_slice(rep);
        i += len;
        last = i;
    }
    out.extend_from_slice(bytes.get(last..).unwrap_or_default());
}

/// U+FFFD in UTF-8.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// True when every character of `s` is an XML 1.0 `Char`.
fn all_xml_chars(s: &str) -> bool {
    s.chars().all(|c| super::reader::is_xml_char(u32::from(c)))
}

/// Appends `s` as one or more CDATA sections (a `]]>` is split across two sections).
fn cdata_into(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(b"<![CDATA[");
    let mut rest = s;
    while let Some(i) = rest.find("]]>") {
        // Close after "]]", reopen before ">".
        let (head, tail) = rest.split_at(i + 2);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(b"]]><![CDATA[");
        rest = tail;
    }
    out.extend_from_slice(rest.as_bytes());
    out.extend_from_slice(b"]]>");
}

/// True when `s` can travel in a CDATA section unchanged: only XML `Char`s, and no control
/// character other than tab and line feed (`\r` would be normalised away by conforming parsers).
fn cdata_safe(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\t' && c != '\n') || matches!(c, '\u{fffe}' | '\u{ffff}'))
}

impl Writer<'_> {
    fn newline(&mut self) {
        if let Some(level) = self.indent {
            if !self.out.is_empty() {
                self.out.push(b'\n');
            }
            self.out.resize(self.out.len() + 2 * level, b' ');
        }
    }

    fn open(&mut self, name: &str) {
        self.newline();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
        if let Some(level) = &mut self.indent {
            *level += 1;
        }
    }

    fn close(&mut self, name: &str) {
        if let Some(level) = &mut self.indent {
            *level = level.saturating_sub(1);
        }
        self.newline();
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    /// `<name>text</name>` (`attrs` goes inside the start tag verbatim).
    fn leaf_with(&mut self, name: &str, attrs: &str, text: &str) {
        self.newline();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(attrs.as_bytes());
        self.out.push(b'>');
        escape_into(self.out, text);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, "", text);
    }

    fn opt_leaf(&mut self, name: &str, text: Option<&String>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    fn empty(&mut self, name: &str, attrs: &str) {
        self.newline();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(attrs.as_bytes());
        self.out.extend_from_slice(b"/>");
    }

    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.empty(name, "");
        }
    }

    fn number(&mut self, name: &str, n: u16) {
        let mut buf = [0u8; 5];
        let mut i = buf.len();
        let mut v = n;
        loop {
            i -= 1;
            if let Some(slot) = buf.get_mut(i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        let digits = std::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or("0");
        self.leaf(name, digits);
    }

    fn sync_ml(&mut self, msg: &SyncMl) {
        self.newline();
        self.out.extend_from_slice(b"<SyncML xmlns=\"");
        self.out
            .extend_from_slice(msg.version.namespace().as_bytes());
        self.out.extend_from_slice(b"\">");
        if let Some(level) = &mut self.indent {
            *level += 1;
        }
        let h = &msg.hdr;
        self.open("SyncHdr");
        self.leaf("VerDTD", &h.ver_dtd);
        self.leaf("VerProto", &h.ver_proto);
        self.leaf("SessionID", &h.session_id);
        self.leaf("MsgID", &h.msg_id);
        self.location("Target", &h.target);
        self.location("Source", &h.source);
        self.opt_leaf("RespURI", h.resp_uri.as_ref());
        self.flag("NoResp", h.no_resp);
        self.opt_cred(h.cred.as_ref());
        self.opt_meta(h.meta.as_ref());
        self.close("SyncHdr");
        self.open("SyncBody");
        for cmd in &msg.body.commands {
            self.command(cmd);
        }
        self.flag("Final", msg.body.is_final);
        self.close("SyncBody");
        self.close("SyncML");
    }

    fn location(&mut self, name: &str, loc: &Location) {
        self.open(name);
        self.leaf("LocURI", &loc.loc_uri);
        self.opt_leaf("LocName", loc.loc_name.as_ref());
        self.close(name);
    }

    fn opt_cred(&mut self, cred: Option<&Cred>) {
        if let Some(c) = cred {
            self.open("Cred");
            self.opt_meta(c.meta.as_ref());
            self.leaf("Data", &c.data);
            self.close("Cred");
        }
    }

    fn chal(&mut self, chal: &Chal) {
        self.open("Chal");
        self.meta(&chal.meta);
        self.close("Chal");
    }

    fn opt_meta(&mut self, meta: Option<&Meta>) {
        if let Some(m) = meta
            && !m.is_empty()
        {
            self.meta(m);
        }
    }

    fn meta(&mut self, m: &Meta) {
        self.open("Meta");
        if m.field_level {
            self.empty("FieldLevel", METINF);
        }
        let fields = [
            ("Format", &m.format),
            ("Type", &m.r#type),
            ("Mark", &m.mark),
            ("Size", &m.size),
            ("Version", &m.version),
            ("NextNonce", &m.next_nonce),
            ("MaxMsgSize", &m.max_msg_size),
            ("MaxObjSize", &m.max_obj_size),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                self.leaf_with(name, METINF, v);
            }
        }
        for emi in &m.emi {
            self.leaf_with("EMI", METINF, emi);
        }
        self.close("Meta");
    }

    fn data(&mut self, data: &Data) {
        match data {
            Data::Text(s) if s.is_empty() => self.empty("Data", ""),
            Data::Text(s) => self.leaf("Data", s),
            Data::CData(s) if all_xml_chars(s) => self.raw_data(|out| cdata_into(out, s)),
            // Not from the decoder: written as (escaped) text so that the output stays XML.
            Data::CData(s) => self.leaf("Data", s),
            Data::Xml(s) => self.raw_data(|out| out.extend_from_slice(s.as_bytes())),
            Data::Opaque(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) if cdata_safe(s) => self.raw_data(|out| cdata_into(out, s)),
                _ => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    self.leaf("Data", &b64);
                }
            },
        }
    }

    fn raw_data(&mut self, content: impl FnOnce(&mut Vec<u8>)) {
        self.newline();
        self.out.extend_from_slice(b"<Data>");
        content(self.out);
        self.out.extend_from_slice(b"</Data>");
    }

    fn item(&mut self, item: &Item) {
        self.open("Item");
        if let Some(t) = &item.target {
            self.location("Target", t);
        }
        if let Some(s) = &item.source {
            self.location("Source", s);
        }
        self.opt_meta(item.meta.as_ref());
        if let Some(d) = &item.data {
            self.data(d);
        }
        self.flag("MoreData", item.more_data);
        self.close("Item");
    }

    fn items(&mut self, items: &[Item]) {
        for item in items {
            self.item(item);
        }
    }

    fn command(&mut self, cmd: &Command) {
        match cmd {
            Command::Add(c) => self.item_cmd("Add", c),
            Command::Alert(c) => self.alert(c),
            Command::Atomic(c) => self.container("Atomic", c),
            Command::Copy(c) => self.item_cmd("Copy", c),
            Command::Delete(c) => self.item_cmd("Delete", c),
            Command::Exec(c) => self.exec(c),
            Command::Get(c) => self.item_cmd("Get", c),
            Command::Replace(c) => self.item_cmd("Replace", c),
            Command::Sequence(c) => self.container("Sequence", c),
            Command::Results(c) => self.results(c),
            Command::Status(c) => self.status(c),
        }
    }

    fn item_cmd(&mut self, name: &str, c: &ItemCmd) {
        self.open(name);
        self.leaf("CmdID", &c.cmd_id);
        self.flag("NoResp", c.no_resp);
        self.opt_cred(c.cred.as_ref());
        self.opt_meta(c.meta.as_ref());
        self.items(&c.items);
        self.close(name);
    }

    fn alert(&mut self, c: &Alert) {
        self.open("Alert");
        self.leaf("CmdID", &c.cmd_id);
        self.flag("NoResp", c.no_resp);
        self.opt_cred(c.cred.as_ref());
        self.number("Data", c.code.0);
        self.opt_leaf("Correlator", c.correlator.as_ref());
        self.items(&c.items);
        self.close("Alert");
    }

    fn exec(&mut self, c: &Exec) {
        self.open("Exec");
        self.leaf("CmdID", &c.cmd_id);
        self.flag("NoResp", c.no_resp);
        self.opt_cred(c.cred.as_ref());
        self.opt_meta(c.meta.as_ref());
        self.opt_leaf("Correlator", c.correlator.as_ref());
        self.items(&c.items);
        self.close("Exec");
    }

    fn container(&mut self, name: &str, c: &Container) {
        self.open(name);
        self.leaf("CmdID", &c.cmd_id);
        self.flag("NoResp", c.no_resp);
        self.opt_meta(c.meta.as_ref());
        for cmd in &c.commands {
            self.command(cmd);
        }
        self.close(name);
    }

    fn results(&mut self, c: &Results) {
        self.open("Results");
        self.leaf("CmdID", &c.cmd_id);
        self.opt_leaf("MsgRef", c.msg_ref.as_ref());
        self.leaf("CmdRef", &c.cmd_ref);
        self.opt_meta(c.meta.as_ref());
        for r in &c.target_refs {
            self.leaf("TargetRef", r);
        }
        for r in &c.source_refs {
            self.leaf("SourceRef", r);
        }
        self.items(&c.items);
        self.close("Results");
    }

    fn status(&mut self, c: &Status) {
        self.open("Status");
        self.leaf("CmdID", &c.cmd_id);
        if !c.msg_ref.is_empty() {
            self.leaf("MsgRef", &c.msg_ref);
        }
        self.leaf("CmdRef", &c.cmd_ref);
        self.leaf("Cmd", &c.cmd);
        for r in &c.target_refs {
            self.leaf("TargetRef", r);
        }
        for r in &c.source_refs {
            self.leaf("SourceRef", r);
        }
        self.opt_cred(c.cred.as_ref());
        if let Some(chal) = &c.chal {
            self.chal(chal);
        }
        self.number("Data", c.code.0);
        self.items(&c.items);
        self.close("Status");
    }
}
