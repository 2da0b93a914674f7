//! Generators of hostile SyncML DM messages (issue 6): small inputs that ask a decoder for far
//! more work or memory than their size, built byte by byte so that each one is exactly the
//! attack it names. Shared by the codec tests (`mod hostile;`), the reproducer files in
//! `testdata/hostile/` and `fuzz/corpus/` (checked to be these generators' output by
//! `tests/hostile_inputs.rs`), and the `dmctl` CLI tests (`#[path]` include).
//!
//! Every message is a complete, otherwise valid SyncML 1.2 WBXML (or XML) message: a `SyncHdr`,
//! then one `Replace` whose single `Item/Data` holds the payload, then `Final`.
#![allow(dead_code)]

/// WBXML tokens used here (WAP-192 global tokens, SyncML 1.2 / DDF 1.2 code pages).
mod t {
    pub const SWITCH_PAGE: u8 = 0x00;
    pub const END: u8 = 0x01;
    pub const ENTITY: u8 = 0x02;
    pub const STR_I: u8 = 0x03;
    pub const LITERAL: u8 = 0x04;
    pub const STR_T: u8 = 0x83;
    pub const OPAQUE: u8 = 0xC3;
    pub const C: u8 = 0x40;
    // SyncML page 0.
    pub const SYNC_ML: u8 = 0x2D;
    pub const SYNC_HDR: u8 = 0x2C;
    pub const VER_DTD: u8 = 0x31;
    pub const VER_PROTO: u8 = 0x32;
    pub const SESSION_ID: u8 = 0x25;
    pub const MSG_ID: u8 = 0x1B;
    pub const TARGET: u8 = 0x2E;
    pub const SOURCE: u8 = 0x27;
    pub const LOC_URI: u8 = 0x17;
    pub const SYNC_BODY: u8 = 0x2B;
    pub const REPLACE: u8 = 0x20;
    pub const CMD_ID: u8 = 0x0B;
    pub const ITEM: u8 = 0x14;
    pub const DATA: u8 = 0x0F;
    pub const FINAL: u8 = 0x12;
    // DDF page 2.
    pub const MGMT_TREE: u8 = 0x20;
    pub const NODE: u8 = 0x24;
    pub const NODE_NAME: u8 = 0x26;
}

/// `mb_u_int32` encoding of `n`.
pub fn mb(mut n: u32) -> Vec<u8> {
    let mut out = vec![(n & 0x7F) as u8];
    n >>= 7;
    while n > 0 {
        out.push(0x80 | (n & 0x7F) as u8);
        n >>= 7;
    }
    out.reverse();
    out
}

/// `STR_I` of `s`.
fn str_i(s: &str) -> Vec<u8> {
    let mut v = vec![t::STR_I];
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// An element with content (`tok | 0x40`, `content`, `END`).
fn el(tok: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tok | t::C];
    v.extend_from_slice(content);
    v.push(t::END);
    v
}

/// A WBXML 1.3 header with public id `pid` (numeric), UTF-8, and string table `table`.
fn header(pid: u32, table: &[u8]) -> Vec<u8> {
    let mut v = vec![0x03];
    v.extend(mb(pid));
    v.push(0x6A);
    v.extend(mb(u32::try_from(table.len()).unwrap()));
    v.extend_from_slice(table);
    v
}

/// The bytes before and after the content of `Data` in a SyncML 1.2 WBXML message whose string
/// table is `table`.
fn frame(table: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut pre = header(0x1201, table);
    pre.push(t::SYNC_ML | t::C);
    let mut hdr = Vec::new();
    hdr.extend(el(t::VER_DTD, &str_i("1.2")));
    hdr.extend(el(t::VER_PROTO, &str_i("DM/1.2")));
    hdr.extend(el(t::SESSION_ID, &str_i("1")));
    hdr.extend(el(t::MSG_ID, &str_i("1")));
    hdr.extend(el(
        t::TARGET,
        &el(t::LOC_URI, &str_i("http://dm.example/dm")),
    ));
    hdr.extend(el(
        t::SOURCE,
        &el(t::LOC_URI, &str_i("IMEI:493005100592800")),
    ));
    pre.extend(el(t::SYNC_HDR, &hdr));
    pre.extend([t::SYNC_BODY | t::C, t::REPLACE | t::C]);
    pre.extend(el(t::CMD_ID, &str_i("2")));
    pre.extend([t::ITEM | t::C, t::DATA | t::C]);
    // END of Data, Item, Replace; Final; END of SyncBody, SyncML.
    let post = vec![t::END, t::END, t::END, t::FINAL, t::END, t::END];
    (pre, post)
}

/// A message whose `Data` content is `data`, with string table `table`.
pub fn with_data(table: &[u8], data: &[u8]) -> Vec<u8> {
    let (mut msg, post) = frame(table);
    msg.extend_from_slice(data);
    msg.extend(post);
    msg
}

/// A message of `len` bytes (as close as the framing allows) whose `Data` content is `unit`
/// repeated as often as fits, with string table `table`.
fn filled(table: &[u8], unit: &[u8], len: usize) -> Vec<u8> {
    let (pre, post) = frame(table);
    let n = len.saturating_sub(pre.len() + post.len()) / unit.len();
    with_data(table, &unit.repeat(n))
}

/// Issue 6, finding 1: a message of `len` bytes whose string table holds one string of
/// `string_len` bytes (`A`s) and whose `Data` is nothing but `STR_T` references to it (2 bytes
/// each). `string_table_amplification(1 << 20, 300 << 10)` is the reported body: ~370,000
/// references asking for ~100 GiB.
pub fn string_table_amplification(len: usize, string_len: usize) -> Vec<u8> {
    let mut table = vec![b'A'; string_len];
    table.push(0);
    filled(&table, &[t::STR_T, 0x00], len)
}

/// Issue 6, finding 2: a message of `len` bytes whose `Data` is nothing but `ENTITY` tokens
/// (`&#x41;`, 2 bytes each), which the old decoder joined in O(n²).
pub fn entity_flood(len: usize) -> Vec<u8> {
    filled(&[], &[t::ENTITY, 0x41], len)
}

/// A message of `len` bytes whose `Data` holds `LITERAL` elements (inline XML, as libwbxml
/// writes unknown elements) named by one `name_len`-byte string-table entry: each 2-byte tag
/// asks for a `name_len`-byte name (twice, as XML `<name/>`).
pub fn literal_name_amplification(len: usize, name_len: usize) -> Vec<u8> {
    let mut table = vec![b'n'; name_len];
    table.push(0);
    filled(&table, &[t::LITERAL, 0x00], len)
}

/// A nested DM DDF 1.2 document (WBXML 1.3, public id in its own string table, as libwbxml
/// writes TNDS): `MgmtTree/Node/NodeName` whose `NodeName` holds `refs` `STR_T` references to
/// a `string_len`-byte string of its string table.
pub fn nested_ddf_amplification_doc(string_len: usize, refs: usize) -> Vec<u8> {
    let fpi = b"-//OMA//DTD-DM-DDF 1.2//EN\0";
    let mut table = fpi.to_vec();
    let at = u32::try_from(table.len()).unwrap();
    table.extend(vec![b'N'; string_len]);
    table.push(0);
    let mut doc = vec![0x03, 0x00, 0x00, 0x6A];
    doc.extend(mb(u32::try_from(table.len()).unwrap()));
    doc.extend_from_slice(&table);
    doc.extend([t::SWITCH_PAGE, 0x02]);
    let mut unit = vec![t::STR_T];
    unit.extend(mb(at));
    let name = el(t::NODE_NAME, &unit.repeat(refs));
    doc.extend(el(t::MGMT_TREE, &el(t::NODE, &name)));
    doc
}

/// A message whose `Data` is `OPAQUE` holding [`nested_ddf_amplification_doc`]: the outer
/// message looks harmless, the amplification is inside the nested TNDS document.
pub fn nested_ddf_amplification(string_len: usize, refs: usize) -> Vec<u8> {
    let doc = nested_ddf_amplification_doc(string_len, refs);
    let mut data = vec![t::OPAQUE];
    data.extend(mb(u32::try_from(doc.len()).unwrap()));
    data.extend(doc);
    with_data(&[], &data)
}

/// A nested DDF document of `depth` nested `Node` elements (below `MgmtTree`).
pub fn nested_ddf_depth_doc(depth: usize) -> Vec<u8> {
    let mut doc = vec![0x03, 0x00, 0x00, 0x6A];
    let fpi = b"-//OMA//DTD-DM-DDF 1.2//EN\0";
    doc.extend(mb(u32::try_from(fpi.len()).unwrap()));
    doc.extend_from_slice(fpi);
    doc.extend([t::SWITCH_PAGE, 0x02, t::MGMT_TREE | t::C]);
    doc.extend(std::iter::repeat_n(t::NODE | t::C, depth));
    doc.extend(el(t::NODE_NAME, &str_i("x")));
    doc.extend(std::iter::repeat_n(t::END, depth + 1));
    doc
}

/// A message whose `Data` is `OPAQUE` holding [`nested_ddf_depth_doc`]: its depth adds to the
/// 5 levels of the outer message (`SyncML/SyncBody/Replace/Item/Data`).
pub fn nested_ddf_depth(depth: usize) -> Vec<u8> {
    let doc = nested_ddf_depth_doc(depth);
    let mut data = vec![t::OPAQUE];
    data.extend(mb(u32::try_from(doc.len()).unwrap()));
    data.extend(doc);
    with_data(&[], &data)
}

/// A message of `len` bytes with `STR_I " "` (whitespace, 3 bytes) repeated between `Replace`'s
/// children, which the old decoder skipped by recursing once per piece.
pub fn whitespace_flood(len: usize) -> Vec<u8> {
    let (pre, post) = frame(&[]);
    let unit = str_i(" ");
    let n = len.saturating_sub(pre.len() + post.len()) / unit.len();
    // Splice the whitespace in after CmdID (before Item): `pre` ends with Item, Data.
    let mut msg = pre[..pre.len() - 2].to_vec();
    msg.extend(unit.repeat(n));
    msg.extend_from_slice(&pre[pre.len() - 2..]);
    msg.extend(post);
    msg
}

/// An XML message of about `len` bytes whose `Data` is nothing but `&#65;` references.
pub fn xml_entity_flood(len: usize) -> Vec<u8> {
    let head = "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD>\
                <VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>\
                <Target><LocURI>http://dm.example/dm</LocURI></Target>\
                <Source><LocURI>IMEI:493005100592800</LocURI></Source></SyncHdr>\
                <SyncBody><Replace><CmdID>2</CmdID><Item><Data>";
    let tail = "</Data></Item></Replace><Final/></SyncBody></SyncML>";
    let n = len.saturating_sub(head.len() + tail.len()) / 5;
    format!("{head}{}{tail}", "&#65;".repeat(n)).into_bytes()
}

/// The reproducer files: (path from the repository root, generator output). The full-size
/// bodies live in `testdata/hostile/` (for the binaries' tests); scaled-down ones, which exceed
/// the default limits just the same, seed the fuzz corpora (libFuzzer sizes its inputs after
/// the largest seed).
pub fn reproducers() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "testdata/hostile/wbxml-strtbl-amplification-1mib.wbxml",
            string_table_amplification(1 << 20, 300 << 10),
        ),
        (
            "testdata/hostile/wbxml-entity-flood-1mib.wbxml",
            entity_flood(1 << 20),
        ),
        (
            "testdata/hostile/wbxml-nested-ddf-amplification.wbxml",
            nested_ddf_amplification(100 << 10, 100_000),
        ),
        (
            "testdata/hostile/wbxml-literal-name-amplification.wbxml",
            literal_name_amplification(1 << 20, 100 << 10),
        ),
        (
            "testdata/hostile/wbxml-whitespace-flood-1mib.wbxml",
            whitespace_flood(1 << 20),
        ),
        (
            "testdata/hostile/xml-entity-flood-1mib.xml",
            xml_entity_flood(1 << 20),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-strtbl-amplification.wbxml",
            string_table_amplification(4096, 1024),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-entity-flood.wbxml",
            entity_flood(4096),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-nested-ddf-amplification.wbxml",
            nested_ddf_amplification(1024, 1500),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-nested-ddf-depth.wbxml",
            nested_ddf_depth(40),
        ),
        (
            "fuzz/corpus/wbxml_nested/limit-nested-ddf-amplification.wbxml",
            nested_ddf_amplification_doc(1024, 1500),
        ),
        (
            "fuzz/corpus/wbxml_nested/limit-nested-ddf-depth.wbxml",
            nested_ddf_depth_doc(40),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-literal-name-amplification.wbxml",
            literal_name_amplification(4096, 1024),
        ),
        (
            "fuzz/corpus/wbxml_decode/limit-whitespace-flood.wbxml",
            whitespace_flood(4096),
        ),
    ]
}
