//! The SyncML DM code pages: SyncML 1.2 (page 0), MetInf 1.2 (page 1), DM DDF 1.2 (page 2).
//!
//! Token values from the digest §6.3–6.5 (libwbxml's `wbxml_tables.c` agrees).

use wbxml::{CodePage, CodeSpace};

/// Page number of the SyncML tags.
pub const PAGE_SYNCML: u8 = 0;
/// Page number of the MetInf tags.
pub const PAGE_METINF: u8 = 1;
/// Page number of the DM DDF / TNDS tags.
pub const PAGE_DDF: u8 = 2;

/// WBXML public id of SyncML 1.2.
pub const PUBLIC_ID_SYNCML_1_2: u32 = 0x1201;
/// WBXML public id of SyncML 1.1.
pub const PUBLIC_ID_SYNCML_1_1: u32 = 0x0FD3;
/// Textual public id of SyncML 1.2.
pub const FPI_SYNCML_1_2: &str = "-//SYNCML//DTD SyncML 1.2//EN";
/// Textual public id of SyncML 1.1.
pub const FPI_SYNCML_1_1: &str = "-//SYNCML//DTD SyncML 1.1//EN";
/// Textual public id of DM DDF 1.2 (no numeric id is registered).
pub const FPI_DDF_1_2: &str = "-//OMA//DTD-DM-DDF 1.2//EN";
/// Namespace of the MetInf elements.
pub const NS_METINF: &str = "syncml:metinf";
/// Namespace of DM DDF 1.2 / TNDS.
pub const NS_DDF: &str = "syncml:dmddf1.2";

/// SyncML 1.2 tags, tokens 0x05..=0x3C.
const SYNCML_TAGS: [&str; 56] = [
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    "",
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
];

/// MetInf 1.2 tags, tokens 0x05..=0x16.
const METINF_TAGS: [&str; 18] = [
    "Anchor",
    "EMI",
    "Format",
    "FreeID",
    "FreeMem",
    "Last",
    "Mark",
    "MaxMsgSize",
    "Mem",
    "MetInf",
    "Next",
    "NextNonce",
    "SharedMem",
    "Size",
    "Type",
    "Version",
    "MaxObjSize",
    "FieldLevel",
];

/// DM DDF 1.2 tags, tokens 0x05..=0x3C.
const DDF_TAGS: [&str; 56] = [
    "AccessType",
    "ACL",
    "Add",
    "b64",
    "bin",
    "bool",
    "chr",
    "CaseSense",
    "CIS",
    "Copy",
    "CS",
    "date",
    "DDFName",
    "DefaultValue",
    "Delete",
    "Description",
    "DFFormat",
    "DFProperties",
    "DFTitle",
    "DFType",
    "Dynamic",
    "Exec",
    "float",
    "Format",
    "Get",
    "int",
    "Man",
    "MgmtTree",
    "MIME",
    "Mod",
    "Name",
    "Node",
    "node",
    "NodeName",
    "null",
    "Occurrence",
    "One",
    "OneOrMore",
    "OneOrN",
    "Path",
    "Permanent",
    "Replace",
    "RTProperties",
    "Scope",
    "Size",
    "time",
    "Title",
    "TStamp",
    "Type",
    "Value",
    "VerDTD",
    "VerNo",
    "xml",
    "ZeroOrMore",
    "ZeroOrN",
    "ZeroOrOne",
];

/// The SyncML page for SyncML 1.2 (SyncML 1.1 uses the same tokens; only the namespace differs).
pub const SYNCML_PAGE: CodePage<'static> = CodePage {
    number: PAGE_SYNCML,
    namespace: "SYNCML:SYNCML1.2",
    first_token: 5,
    tags: &SYNCML_TAGS,
};
/// The MetInf page.
pub const METINF_PAGE: CodePage<'static> = CodePage {
    number: PAGE_METINF,
    namespace: NS_METINF,
    first_token: 5,
    tags: &METINF_TAGS,
};
/// The DM DDF 1.2 page (page 2 inside a SyncML document; page 0 is not used by a nested TNDS
/// document from libwbxml, which switches to page 2 first).
pub const DDF_PAGE: CodePage<'static> = CodePage {
    number: PAGE_DDF,
    namespace: NS_DDF,
    first_token: 5,
    tags: &DDF_TAGS,
};

/// All three pages.
pub const SYNCML_CODE_SPACE: CodeSpace<'static> = CodeSpace {
    pages: &[SYNCML_PAGE, METINF_PAGE, DDF_PAGE],
};

/// SyncML (page 0) tag tokens.
#[allow(missing_docs)]
pub mod s {
    pub const ADD: u8 = 0x05;
    pub const ALERT: u8 = 0x06;
    pub const ATOMIC: u8 = 0x08;
    pub const CHAL: u8 = 0x09;
    pub const CMD: u8 = 0x0A;
    pub const CMD_ID: u8 = 0x0B;
    pub const CMD_REF: u8 = 0x0C;
    pub const COPY: u8 = 0x0D;
    pub const CRED: u8 = 0x0E;
    pub const DATA: u8 = 0x0F;
    pub const DELETE: u8 = 0x10;
    pub const EXEC: u8 = 0x11;
    pub const FINAL: u8 = 0x12;
    pub const GET: u8 = 0x13;
    pub const ITEM: u8 = 0x14;
    pub const LOC_NAME: u8 = 0x16;
    pub const LOC_URI: u8 = 0x17;
    pub const META: u8 = 0x1A;
    pub const MSG_ID: u8 = 0x1B;
    pub const MSG_REF: u8 = 0x1C;
    pub const NO_RESP: u8 = 0x1D;
    pub const REPLACE: u8 = 0x20;
    pub const RESP_URI: u8 = 0x21;
    pub const RESULTS: u8 = 0x22;
    pub const SEQUENCE: u8 = 0x24;
    pub const SESSION_ID: u8 = 0x25;
    pub const SOURCE: u8 = 0x27;
    pub const SOURCE_REF: u8 = 0x28;
    pub const STATUS: u8 = 0x29;
    pub const SYNC_BODY: u8 = 0x2B;
    pub const SYNC_HDR: u8 = 0x2C;
    pub const SYNC_ML: u8 = 0x2D;
    pub const TARGET: u8 = 0x2E;
    pub const TARGET_REF: u8 = 0x2F;
    pub const VER_DTD: u8 = 0x31;
    pub const VER_PROTO: u8 = 0x32;
    pub const MORE_DATA: u8 = 0x34;
    pub const CORRELATOR: u8 = 0x3C;
}

/// MetInf (page 1) tag tokens.
#[allow(missing_docs)]
pub mod m {
    pub const EMI: u8 = 0x06;
    pub const FORMAT: u8 = 0x07;
    pub const MARK: u8 = 0x0B;
    pub const MAX_MSG_SIZE: u8 = 0x0C;
    pub const NEXT_NONCE: u8 = 0x10;
    pub const SIZE: u8 = 0x12;
    pub const TYPE: u8 = 0x13;
    pub const VERSION: u8 = 0x14;
    pub const MAX_OBJ_SIZE: u8 = 0x15;
    pub const FIELD_LEVEL: u8 = 0x16;
}

/// DDF (page 2) tag tokens the codec needs by value.
#[allow(missing_docs)]
pub mod d {
    pub const MGMT_TREE: u8 = 0x20;
}

/// The name of a tag for error messages.
pub fn tag_name(page: u8, token: u8) -> String {
    match SYNCML_CODE_SPACE.tag(page, token) {
        Some((name, _)) => name.to_owned(),
        None => format!("{page:02x}:{token:02x}"),
    }
}

/// The SyncML-page token of an element name (a `match`, faster than scanning the page).
#[must_use]
pub fn syncml_token(name: &str) -> Option<u8> {
    match name {
        "Add" => Some(0x05),
        "Alert" => Some(0x06),
        "Archive" => Some(0x07),
        "Atomic" => Some(0x08),
        "Chal" => Some(0x09),
        "Cmd" => Some(0x0A),
        "CmdID" => Some(0x0B),
        "CmdRef" => Some(0x0C),
        "Copy" => Some(0x0D),
        "Cred" => Some(0x0E),
        "Data" => Some(0x0F),
        "Delete" => Some(0x10),
        "Exec" => Some(0x11),
        "Final" => Some(0x12),
        "Get" => Some(0x13),
        "Item" => Some(0x14),
        "Lang" => Some(0x15),
        "LocName" => Some(0x16),
        "LocURI" => Some(0x17),
        "Map" => Some(0x18),
        "MapItem" => Some(0x19),
        "Meta" => Some(0x1A),
        "MsgID" => Some(0x1B),
        "MsgRef" => Some(0x1C),
        "NoResp" => Some(0x1D),
        "NoResults" => Some(0x1E),
        "Put" => Some(0x1F),
        "Replace" => Some(0x20),
        "RespURI" => Some(0x21),
        "Results" => Some(0x22),
        "Search" => Some(0x23),
        "Sequence" => Some(0x24),
        "SessionID" => Some(0x25),
        "SftDel" => Some(0x26),
        "Source" => Some(0x27),
        "SourceRef" => Some(0x28),
        "Status" => Some(0x29),
        "Sync" => Some(0x2A),
        "SyncBody" => Some(0x2B),
        "SyncHdr" => Some(0x2C),
        "SyncML" => Some(0x2D),
        "Target" => Some(0x2E),
        "TargetRef" => Some(0x2F),
        "VerDTD" => Some(0x31),
        "VerProto" => Some(0x32),
        "NumberOfChanges" => Some(0x33),
        "MoreData" => Some(0x34),
        "Field" => Some(0x35),
        "Filter" => Some(0x36),
        "Record" => Some(0x37),
        "FilterType" => Some(0x38),
        "SourceParent" => Some(0x39),
        "TargetParent" => Some(0x3A),
        "Move" => Some(0x3B),
        "Correlator" => Some(0x3C),
        _ => None,
    }
}

/// The DDF-page token of an element name.
#[must_use]
pub fn ddf_token(name: &str) -> Option<u8> {
    match name {
        "AccessType" => Some(0x05),
        "ACL" => Some(0x06),
        "Add" => Some(0x07),
        "b64" => Some(0x08),
        "bin" => Some(0x09),
        "bool" => Some(0x0A),
        "chr" => Some(0x0B),
        "CaseSense" => Some(0x0C),
        "CIS" => Some(0x0D),
        "Copy" => Some(0x0E),
        "CS" => Some(0x0F),
        "date" => Some(0x10),
        "DDFName" => Some(0x11),
        "DefaultValue" => Some(0x12),
        "Delete" => Some(0x13),
        "Description" => Some(0x14),
        "DFFormat" => Some(0x15),
        "DFProperties" => Some(0x16),
        "DFTitle" => Some(0x17),
        "DFType" => Some(0x18),
        "Dynamic" => Some(0x19),
        "Exec" => Some(0x1A),
        "float" => Some(0x1B),
        "Format" => Some(0x1C),
        "Get" => Some(0x1D),
        "int" => Some(0x1E),
        "Man" => Some(0x1F),
        "MgmtTree" => Some(0x20),
        "MIME" => Some(0x21),
        "Mod" => Some(0x22),
        "Name" => Some(0x23),
        "Node" => Some(0x24),
        "node" => Some(0x25),
        "NodeName" => Some(0x26),
        "null" => Some(0x27),
        "Occurrence" => Some(0x28),
        "One" => Some(0x29),
        "OneOrMore" => Some(0x2A),
        "OneOrN" => Some(0x2B),
        "Path" => Some(0x2C),
        "Permanent" => Some(0x2D),
        "Replace" => Some(0x2E),
        "RTProperties" => Some(0x2F),
        "Scope" => Some(0x30),
        "Size" => Some(0x31),
        "time" => Some(0x32),
        "Title" => Some(0x33),
        "TStamp" => Some(0x34),
        "Type" => Some(0x35),
        "Value" => Some(0x36),
        "VerDTD" => Some(0x37),
        "VerNo" => Some(0x38),
        "xml" => Some(0x39),
        "ZeroOrMore" => Some(0x3A),
        "ZeroOrN" => Some(0x3B),
        "ZeroOrOne" => Some(0x3C),
        _ => None,
    }
}
