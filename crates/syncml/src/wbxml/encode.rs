//! AST -> WBXML, in two passes over one walk: the first counts strings for the string table,
//! the second writes.
//!
//! WBXML compresses: a string-table reference, a tag token of an embedded document, stand for
//! many bytes of decoded output. The encoder keeps its output decodable under the default
//! [`Limits`] (whose output budget is a multiple of the input): while counting, it bounds the
//! output a decoder will count for the message; when that bound is over the budget of the
//! encoded bytes, it checks by decoding them, and if they exceed a limit it writes the message
//! again in the plain form (no string table, embedded XML as its text in `OPAQUE`), which
//! decodes to no more than its own size.

use wbxml::{Header, PublicId, StringTable, StringTableBuilder, Version as WbxmlVersion, Writer};

use std::borrow::Cow;

use super::ddf::{self, InlineEv};
use super::tokens::{PAGE_METINF, PAGE_SYNCML, PUBLIC_ID_SYNCML_1_1, PUBLIC_ID_SYNCML_1_2, m, s};
use crate::{
    Alert, Command, Container, Cred, Data, Error, Exec, Item, ItemCmd, Limits, Location, Meta,
    Results, Status, SyncHdr, SyncMl, Version,
};

/// Where the walk sends tags and character data.
trait Sink<'m> {
    fn start(&mut self, page: u8, token: u8, has_content: bool);
    fn end(&mut self);
    /// Character data that may go into the string table.
    fn text(&mut self, s: &'m [u8]);
    /// Character data written inline, never a string-table candidate.
    fn inline(&mut self, s: &[u8]);
    /// `Data` content other than text.
    fn data(&mut self, d: &'m Data);
}

/// How one `Data::Xml` is written, decided in pass 1.
enum XmlPlan<'m> {
    /// Elements inline, as libwbxml writes them (lossless for this XML).
    Inline(Vec<InlineEv<'m>>),
    /// A TNDS `MgmtTree` as a nested DM DDF 1.2 WBXML document in `OPAQUE`.
    Nested(Vec<u8>),
    /// Anything else: the exact text in `OPAQUE` (see the module docs).
    Opaque,
}

/// Pass 1: counts strings; plans each `Data::Xml` once for both passes.
struct Collect<'m> {
    strings: StringTableBuilder<'m>,
    /// The plan of each `Data::Xml`, in walk order.
    xml_plans: Vec<XmlPlan<'m>>,
    /// The plain form: no string table, every `Data::Xml` as [`XmlPlan::Opaque`].
    plain: bool,
    /// An upper bound of the output a decoder counts for the message beyond its own bytes.
    output: usize,
    /// String-table references in nested documents.
    nested_refs: usize,
}

impl<'m> Sink<'m> for Collect<'m> {
    #[inline]
    fn start(&mut self, _: u8, _: u8, _: bool) {}
    #[inline]
    fn end(&mut self) {}
    #[inline]
    fn text(&mut self, s: &'m [u8]) {
        // Each text is counted once, however it is written (inline or by reference).
        self.output += s.len();
        if !self.plain {
            self.strings.add(s);
        }
    }
    #[inline]
    fn inline(&mut self, _: &[u8]) {}
    fn data(&mut self, d: &'m Data) {
        let Data::Xml(x) = d else {
            // Opaque data that may be a WBXML document is decoded as one: its tags may turn
            // into up to 40 bytes of XML each (and its strings are counted again).
            if let Data::Opaque(b) = d
                && b.first().is_some_and(|&v| v <= 3)
            {
                self.output = self.output.saturating_add(b.len().saturating_mul(40));
            }
            return;
        };
        let nested = if !self.plain && ddf::is_mgmt_tree(x) {
            ddf::encode_nested(x)
        } else {
            None
        };
        if !self.plain {
            // Embedded elements: their text and names as read, then the XML text written
            // for them (at most 4 times the source: `>` becomes `&gt;`).
            self.output = self
                .output
                .saturating_add(x.len().saturating_mul(6))
                .saturating_add(64);
        }
        let plan = match nested {
            Some((doc, refs)) => {
                self.nested_refs += refs;
                XmlPlan::Nested(doc)
            }
            None if self.plain => XmlPlan::Opaque,
            None => match ddf::parse_inline(x) {
                Some(evs) => {
                    for e in &evs {
                        match e {
                            InlineEv::Start(Err(name), _) => {
                                self.strings.require(name.as_bytes());
                            }
                            InlineEv::Text(Cow::Borrowed(t)) => self.strings.add(t.as_bytes()),
                            _ => {}
                        }
                    }
                    XmlPlan::Inline(evs)
                }
                None => XmlPlan::Opaque,
            },
        };
        self.xml_plans.push(plan);
    }
}

/// Pass 2: writes.
struct Write<'t, 'm> {
    w: Writer,
    table: StringTable<'t>,
    xml_plans: std::vec::IntoIter<XmlPlan<'m>>,
}

impl Write<'_, '_> {
    #[inline]
    fn table_text(&mut self, s: &[u8]) {
        self.w.text_with_table(&self.table, s);
    }
}

impl<'m> Sink<'m> for Write<'_, 'm> {
    #[inline]
    fn start(&mut self, page: u8, token: u8, has_content: bool) {
        self.w.start(page, token, has_content);
    }
    #[inline]
    fn end(&mut self) {
        self.w.end();
    }
    #[inline]
    fn text(&mut self, s: &'m [u8]) {
        self.table_text(s);
    }
    fn inline(&mut self, s: &[u8]) {
        self.w.text(s);
    }
    fn data(&mut self, d: &'m Data) {
        match d {
            Data::Text(t) => self.w.text(t.as_bytes()),
            Data::CData(t) => self.w.opaque(t.as_bytes()),
            Data::Opaque(b) => self.w.opaque(b),
            Data::Xml(x) => match self.xml_plans.next() {
                Some(XmlPlan::Inline(evs)) => {
                    for e in &evs {
                        match e {
                            InlineEv::Start(Ok((page, tok)), c) => self.w.start(*page, *tok, *c),
                            InlineEv::Start(Err(name), c) => {
                                let idx = self.table.offset(name.as_bytes()).unwrap_or(0);
                                self.w.start_literal(idx, *c);
                            }
                            InlineEv::End => self.w.end(),
                            InlineEv::Text(t) => self.table_text(t.as_bytes()),
                        }
                    }
                }
                Some(XmlPlan::Nested(doc)) => self.w.opaque(&doc),
                Some(XmlPlan::Opaque) | None => self.w.opaque(x.as_bytes()),
            },
        }
    }
}

/// Appends the encoding of one message to `out`, in a form that decodes under the default
/// [`Limits`] if any does (see the module docs).
pub(crate) fn encode_into(msg: &SyncMl, out: &mut Vec<u8>) {
    let start = out.len();
    let (output, refs) = encode_form(msg, out, false);
    let len = out.len().saturating_sub(start);
    let limits = Limits::default();
    if (output.saturating_add(len) > limits.output_budget(len) || refs > limits.max_str_refs)
        && matches!(
            super::decode::decode(out.get(start..).unwrap_or_default(), &limits),
            Err(Error::LimitExceeded { .. })
        )
    {
        out.truncate(start);
        encode_form(msg, out, true);
    }
}

/// Appends the encoding of one message to `out`, compact or `plain`; returns the bound of the
/// output a decoder counts beyond the encoded bytes, and the string-table references written.
fn encode_form(msg: &SyncMl, out: &mut Vec<u8>, plain: bool) -> (usize, usize) {
    let mut c = Collect {
        strings: StringTableBuilder::new(),
        xml_plans: Vec::new(),
        plain,
        output: 0,
        nested_refs: 0,
    };
    walk(msg, &mut c);
    let (output, nested_refs) = (c.output, c.nested_refs);
    let table = c.strings.build();
    let public_id = match msg.version {
        Version::V1_1 => PUBLIC_ID_SYNCML_1_1,
        Version::V1_2 => PUBLIC_ID_SYNCML_1_2,
    };
    let header = Header {
        version: WbxmlVersion::V1_3,
        public_id: PublicId::Known(public_id),
        charset: wbxml::CHARSET_UTF8,
        string_table: table.bytes(),
    };
    let mut buf = std::mem::take(out);
    buf.reserve(1024 + header.string_table.len());
    let mut w = Write {
        w: Writer::append_to(&header, buf),
        table,
        xml_plans: c.xml_plans.into_iter(),
    };
    walk(msg, &mut w);
    let refs = w.w.str_refs() + nested_refs;
    *out = w.w.finish();
    (output, refs)
}

/// Static decimal strings for codes below 2000 (status and alert codes), so they can be
/// string-table entries without allocating.
#[allow(clippy::indexing_slicing)] // evaluated at compile time: cannot panic at run time
static NUMS: [[u8; 4]; 2000] = {
    let mut t = [[0u8; 4]; 2000];
    let mut n = 0;
    while n < 2000 {
        let mut v = n;
        let mut i = 4;
        while i > 0 {
            i -= 1;
            t[n][i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        n += 1;
    }
    t
};

fn digits(n: u16) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => 4,
    }
}

#[inline]
fn leaf<'m, S: Sink<'m>>(sk: &mut S, page: u8, tok: u8, v: &'m str) {
    if v.is_empty() {
        sk.start(page, tok, false);
    } else {
        sk.start(page, tok, true);
        sk.text(v.as_bytes());
        sk.end();
    }
}

#[inline]
fn opt_leaf<'m, S: Sink<'m>>(sk: &mut S, page: u8, tok: u8, v: &'m Option<String>) {
    if let Some(v) = v {
        leaf(sk, page, tok, v);
    }
}

#[inline]
fn flag<'m, S: Sink<'m>>(sk: &mut S, tok: u8, on: bool) {
    if on {
        sk.start(PAGE_SYNCML, tok, false);
    }
}

fn number<'m, S: Sink<'m>>(sk: &mut S, tok: u8, n: u16) {
    sk.start(PAGE_SYNCML, tok, true);
    match NUMS.get(usize::from(n)) {
        Some(d) => sk.text(d.get(4 - digits(n)..).unwrap_or_default()),
        None => {
            // Codes >= 2000 are rare: written inline, not string-table candidates.
            sk.inline(n.to_string().as_bytes());
        }
    }
    sk.end();
}

fn walk<'m, S: Sink<'m>>(msg: &'m SyncMl, sk: &mut S) {
    sk.start(PAGE_SYNCML, s::SYNC_ML, true);
    hdr(&msg.hdr, sk);
    sk.start(PAGE_SYNCML, s::SYNC_BODY, true);
    for c in &msg.body.commands {
        command(c, sk);
    }
    flag(sk, s::FINAL, msg.body.is_final);
    sk.end();
    sk.end();
}

fn hdr<'m, S: Sink<'m>>(h: &'m SyncHdr, sk: &mut S) {
    sk.start(PAGE_SYNCML, s::SYNC_HDR, true);
    leaf(sk, PAGE_SYNCML, s::VER_DTD, &h.ver_dtd);
    leaf(sk, PAGE_SYNCML, s::VER_PROTO, &h.ver_proto);
    leaf(sk, PAGE_SYNCML, s::SESSION_ID, &h.session_id);
    leaf(sk, PAGE_SYNCML, s::MSG_ID, &h.msg_id);
    location(sk, s::TARGET, &h.target);
    location(sk, s::SOURCE, &h.source);
    opt_leaf(sk, PAGE_SYNCML, s::RESP_URI, &h.resp_uri);
    flag(sk, s::NO_RESP, h.no_resp);
    if let Some(c) = &h.cred {
        cred(sk, c);
    }
    if let Some(mt) = &h.meta {
        meta(sk, mt);
    }
    sk.end();
}

fn location<'m, S: Sink<'m>>(sk: &mut S, tok: u8, l: &'m Location) {
    sk.start(PAGE_SYNCML, tok, true);
    leaf(sk, PAGE_SYNCML, s::LOC_URI, &l.loc_uri);
    opt_leaf(sk, PAGE_SYNCML, s::LOC_NAME, &l.loc_name);
    sk.end();
}

fn cred<'m, S: Sink<'m>>(sk: &mut S, c: &'m Cred) {
    sk.start(PAGE_SYNCML, s::CRED, true);
    if let Some(mt) = &c.meta {
        meta(sk, mt);
    }
    leaf(sk, PAGE_SYNCML, s::DATA, &c.data);
    sk.end();
}

fn meta<'m, S: Sink<'m>>(sk: &mut S, mt: &'m Meta) {
    if mt.is_empty() {
        sk.start(PAGE_SYNCML, s::META, false);
        return;
    }
    sk.start(PAGE_SYNCML, s::META, true);
    if mt.field_level {
        sk.start(PAGE_METINF, m::FIELD_LEVEL, false);
    }
    opt_leaf(sk, PAGE_METINF, m::FORMAT, &mt.format);
    if let Some(t) = &mt.r#type {
        leaf(sk, PAGE_METINF, m::TYPE, super::type_to_wire(t));
    }
    opt_leaf(sk, PAGE_METINF, m::MARK, &mt.mark);
    opt_leaf(sk, PAGE_METINF, m::SIZE, &mt.size);
    opt_leaf(sk, PAGE_METINF, m::VERSION, &mt.version);
    opt_leaf(sk, PAGE_METINF, m::NEXT_NONCE, &mt.next_nonce);
    opt_leaf(sk, PAGE_METINF, m::MAX_MSG_SIZE, &mt.max_msg_size);
    opt_leaf(sk, PAGE_METINF, m::MAX_OBJ_SIZE, &mt.max_obj_size);
    for e in &mt.emi {
        leaf(sk, PAGE_METINF, m::EMI, e);
    }
    sk.end();
}

fn item<'m, S: Sink<'m>>(sk: &mut S, it: &'m Item) {
    sk.start(PAGE_SYNCML, s::ITEM, true);
    if let Some(t) = &it.target {
        location(sk, s::TARGET, t);
    }
    if let Some(t) = &it.source {
        location(sk, s::SOURCE, t);
    }
    if let Some(mt) = &it.meta {
        meta(sk, mt);
    }
    if let Some(d) = &it.data {
        if d.is_empty() && !matches!(d, Data::Opaque(_)) {
            sk.start(PAGE_SYNCML, s::DATA, false);
        } else {
            sk.start(PAGE_SYNCML, s::DATA, true);
            match d {
                Data::Text(t) => sk.text(t.as_bytes()),
                other => sk.data(other),
            }
            sk.end();
        }
    }
    flag(sk, s::MORE_DATA, it.more_data);
    sk.end();
}

fn head<'m, S: Sink<'m>>(sk: &mut S, cmd_id: &'m str, no_resp: bool, cr: &'m Option<Cred>) {
    leaf(sk, PAGE_SYNCML, s::CMD_ID, cmd_id);
    flag(sk, s::NO_RESP, no_resp);
    if let Some(c) = cr {
        cred(sk, c);
    }
}

fn item_cmd<'m, S: Sink<'m>>(sk: &mut S, tok: u8, c: &'m ItemCmd) {
    sk.start(PAGE_SYNCML, tok, true);
    head(sk, &c.cmd_id, c.no_resp, &c.cred);
    if let Some(mt) = &c.meta {
        meta(sk, mt);
    }
    for it in &c.items {
        item(sk, it);
    }
    sk.end();
}

fn alert<'m, S: Sink<'m>>(sk: &mut S, a: &'m Alert) {
    sk.start(PAGE_SYNCML, s::ALERT, true);
    head(sk, &a.cmd_id, a.no_resp, &a.cred);
    number(sk, s::DATA, a.code.0);
    opt_leaf(sk, PAGE_SYNCML, s::CORRELATOR, &a.correlator);
    for it in &a.items {
        item(sk, it);
    }
    sk.end();
}

fn exec<'m, S: Sink<'m>>(sk: &mut S, e: &'m Exec) {
    sk.start(PAGE_SYNCML, s::EXEC, true);
    head(sk, &e.cmd_id, e.no_resp, &e.cred);
    if let Some(mt) = &e.meta {
        meta(sk, mt);
    }
    opt_leaf(sk, PAGE_SYNCML, s::CORRELATOR, &e.correlator);
    for it in &e.items {
        item(sk, it);
    }
    sk.end();
}

fn container<'m, S: Sink<'m>>(sk: &mut S, tok: u8, c: &'m Container) {
    sk.start(PAGE_SYNCML, tok, true);
    leaf(sk, PAGE_SYNCML, s::CMD_ID, &c.cmd_id);
    flag(sk, s::NO_RESP, c.no_resp);
    if let Some(mt) = &c.meta {
        meta(sk, mt);
    }
    for cmd in &c.commands {
        command(cmd, sk);
    }
    sk.end();
}

fn results<'m, S: Sink<'m>>(sk: &mut S, r: &'m Results) {
    sk.start(PAGE_SYNCML, s::RESULTS, true);
    leaf(sk, PAGE_SYNCML, s::CMD_ID, &r.cmd_id);
    opt_leaf(sk, PAGE_SYNCML, s::MSG_REF, &r.msg_ref);
    leaf(sk, PAGE_SYNCML, s::CMD_REF, &r.cmd_ref);
    if let Some(mt) = &r.meta {
        meta(sk, mt);
    }
    for t in &r.target_refs {
        leaf(sk, PAGE_SYNCML, s::TARGET_REF, t);
    }
    for t in &r.source_refs {
        leaf(sk, PAGE_SYNCML, s::SOURCE_REF, t);
    }
    for it in &r.items {
        item(sk, it);
    }
    sk.end();
}

fn status<'m, S: Sink<'m>>(sk: &mut S, st: &'m Status) {
    sk.start(PAGE_SYNCML, s::STATUS, true);
    leaf(sk, PAGE_SYNCML, s::CMD_ID, &st.cmd_id);
    leaf(sk, PAGE_SYNCML, s::MSG_REF, &st.msg_ref);
    leaf(sk, PAGE_SYNCML, s::CMD_REF, &st.cmd_ref);
    leaf(sk, PAGE_SYNCML, s::CMD, &st.cmd);
    for t in &st.target_refs {
        leaf(sk, PAGE_SYNCML, s::TARGET_REF, t);
    }
    for t in &st.source_refs {
        leaf(sk, PAGE_SYNCML, s::SOURCE_REF, t);
    }
    if let Some(c) = &st.cred {
        cred(sk, c);
    }
    if let Some(ch) = &st.chal {
        sk.start(PAGE_SYNCML, s::CHAL, true);
        meta(sk, &ch.meta);
        sk.end();
    }
    number(sk, s::DATA, st.code.0);
    for it in &st.items {
        item(sk, it);
    }
    sk.end();
}

fn command<'m, S: Sink<'m>>(c: &'m Command, sk: &mut S) {
    match c {
        Command::Add(x) => item_cmd(sk, s::ADD, x),
        Command::Alert(x) => alert(sk, x),
        Command::Atomic(x) => container(sk, s::ATOMIC, x),
        Command::Copy(x) => item_cmd(sk, s::COPY, x),
        Command::Delete(x) => item_cmd(sk, s::DELETE, x),
        Command::Exec(x) => exec(sk, x),
        Command::Get(x) => item_cmd(sk, s::GET, x),
        Command::Replace(x) => item_cmd(sk, s::REPLACE, x),
        Command::Sequence(x) => container(sk, s::SEQUENCE, x),
        Command::Results(x) => results(sk, x),
        Command::Status(x) => status(sk, x),
    }
}
