//! The typed abstract syntax tree of one SyncML DM message.
//!
//! One AST serves both encodings: [`crate::xml`] and [`crate::wbxml`] decode into it and encode
//! from it. Identifiers (`MsgID`, `CmdID`, `SessionID`, ...) are kept as the strings that arrived so
//! that a message re-encodes faithfully; status and alert codes are numbers.
//!
//! Child elements are re-encoded in the order the SyncML 1.2 / MetInf 1.2 DTDs give, which is the
//! order every conforming peer sends them in.

/// SyncML representation version of a message (`VerDTD` and the namespace / public id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Version {
    /// SyncML 1.1 (DM 1.1.2): namespace `SYNCML:SYNCML1.1`, WBXML public id 0x0FD3. Input only
    /// by intent, but encoders write it faithfully if asked.
    V1_1,
    /// SyncML 1.2 (DM 1.2 / 1.3): namespace `SYNCML:SYNCML1.2`, WBXML public id 0x1201.
    #[default]
    V1_2,
}

impl Version {
    /// The `VerDTD` text of this version (`"1.1"` or `"1.2"`).
    #[must_use]
    pub fn ver_dtd(self) -> &'static str {
        match self {
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// The XML namespace of the SyncML element of this version.
    #[must_use]
    pub fn namespace(self) -> &'static str {
        match self {
            Version::V1_1 => "SYNCML:SYNCML1.1",
            Version::V1_2 => "SYNCML:SYNCML1.2",
        }
    }

    /// The `VerProto` text conventionally paired with this version (`DM/1.1` or `DM/1.2`).
    #[must_use]
    pub fn ver_proto(self) -> &'static str {
        match self {
            Version::V1_1 => "DM/1.1",
            Version::V1_2 => "DM/1.2",
        }
    }
}

/// A whole SyncML message: `<SyncML><SyncHdr/><SyncBody/></SyncML>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncMl {
    /// Representation version (from the namespace / public id / `VerDTD`).
    pub version: Version,
    /// The header.
    pub hdr: SyncHdr,
    /// The body.
    pub body: SyncBody,
}

/// `SyncHdr`: who talks to whom in which session, with optional credentials and limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncHdr {
    /// `VerDTD`, e.g. `"1.2"`.
    pub ver_dtd: String,
    /// `VerProto`, e.g. `"DM/1.2"`.
    pub ver_proto: String,
    /// `SessionID`.
    pub session_id: String,
    /// `MsgID`.
    pub msg_id: String,
    /// `Target`: the recipient.
    pub target: Location,
    /// `Source`: the sender (`LocName` carries the auth-md5 user name).
    pub source: Location,
    /// `RespURI`: where the recipient must send its next message.
    pub resp_uri: Option<String>,
    /// `NoResp` (not used by DM 1.2; kept if it arrives).
    pub no_resp: bool,
    /// `Cred`: credentials of the sender.
    pub cred: Option<Cred>,
    /// `Meta` (MaxMsgSize, MaxObjSize, ...).
    pub meta: Option<Meta>,
}

/// `Target` or `Source`: a `LocURI` and an optional `LocName`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// `LocURI`.
    pub loc_uri: String,
    /// `LocName`.
    pub loc_name: Option<String>,
}

impl Location {
    /// A location with only a `LocURI`.
    #[must_use]
    pub fn uri(loc_uri: impl Into<String>) -> Self {
        Location {
            loc_uri: loc_uri.into(),
            loc_name: None,
        }
    }
}

/// `Cred`: authentication scheme in `Meta` (Type, Format) and the credential in `Data`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cred {
    /// `Meta` with `Type` (e.g. `syncml:auth-md5`) and `Format` (`b64`).
    pub meta: Option<Meta>,
    /// `Data`: the credential text (Base64 for basic and md5).
    pub data: String,
}

/// `Chal`: an authentication challenge inside a `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chal {
    /// `Meta` with `Type`, `Format` and `NextNonce`.
    pub meta: Meta,
}

/// `Meta` / MetInf: the `syncml:metinf` elements DM uses. Absent elements are `None`.
///
/// Elements are written in MetInf DTD order: FieldLevel, Format, Type, Mark, Size, Anchor (not
/// used by DM, not modelled), Version, NextNonce, MaxMsgSize, MaxObjSize, EMI, Mem (not used).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// `FieldLevel` (empty element) present.
    pub field_level: bool,
    /// `Format`, e.g. `chr`, `int`, `b64`, `node`.
    pub format: Option<String>,
    /// `Type`: MIME type or alert type string.
    pub r#type: Option<String>,
    /// `Mark` (Generic Alert severity).
    pub mark: Option<String>,
    /// `Size` (total size of a large object, as text).
    pub size: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `NextNonce` (Base64 text as sent).
    pub next_nonce: Option<String>,
    /// `MaxMsgSize` (as text).
    pub max_msg_size: Option<String>,
    /// `MaxObjSize` (as text).
    pub max_obj_size: Option<String>,
    /// `EMI` elements (vendor extensions), in order.
    pub emi: Vec<String>,
}

impl Meta {
    /// True when no element is present (encoders then omit the whole `Meta`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }
}

/// The content of a `Data` element, kept in the form it arrived in so it re-encodes faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Character data (entities already resolved). WBXML: `STR_I` / `STR_T`.
    Text(String),
    /// A CDATA section's content. WBXML has no CDATA; it is written as `OPAQUE`.
    CData(String),
    /// Opaque bytes (WBXML `OPAQUE`). In XML it is written as CDATA when the bytes are UTF-8
    /// text without `]]>`, else as Base64 text.
    Opaque(Vec<u8>),
    /// Embedded XML (for example a TNDS `MgmtTree` or a GwMO payload): the exact source text of
    /// the child elements, namespace declarations included. In WBXML a TNDS `MgmtTree` travels
    /// as a nested WBXML document (DM DDF 1.2) inside `OPAQUE`.
    Xml(String),
}

impl Data {
    /// The data as bytes (text, CDATA and XML as their UTF-8 bytes).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Text(s) | Data::CData(s) | Data::Xml(s) => s.as_bytes(),
            Data::Opaque(b) => b,
        }
    }

    /// The data as text if it is valid UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Data::Text(s) | Data::CData(s) | Data::Xml(s) => Some(s),
            Data::Opaque(b) => std::str::from_utf8(b).ok(),
        }
    }

    /// Length of the data in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when the data is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::Text(s.to_owned())
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Data::Text(s)
    }
}

/// `Item`: one target/source node with optional meta and data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// `Target`.
    pub target: Option<Location>,
    /// `Source`.
    pub source: Option<Location>,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// `Data`. `Some(Data::Text(""))` is an empty `<Data/>`, distinct from no `Data` at all.
    pub data: Option<Data>,
    /// `MoreData`: this is a chunk of a large object and more chunks follow.
    pub more_data: bool,
}

/// A status or result code (the `Data` of a `Status`), e.g. 200, 401, 213.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

#[allow(missing_docs)]
impl StatusCode {
    pub const IN_PROGRESS: StatusCode = StatusCode(101);
    pub const OK: StatusCode = StatusCode(200);
    pub const ACCEPTED: StatusCode = StatusCode(202);
    pub const AUTH_ACCEPTED: StatusCode = StatusCode(212);
    pub const CHUNK_ACCEPTED: StatusCode = StatusCode(213);
    pub const OPERATION_CANCELLED: StatusCode = StatusCode(214);
    pub const NOT_EXECUTED: StatusCode = StatusCode(215);
    pub const ATOMIC_ROLLBACK_OK: StatusCode = StatusCode(216);
    pub const NOT_MODIFIED: StatusCode = StatusCode(304);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const INVALID_CREDENTIALS: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const COMMAND_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const OPTIONAL_FEATURE_NOT_SUPPORTED: StatusCode = StatusCode(406);
    pub const MISSING_CREDENTIALS: StatusCode = StatusCode(407);
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    pub const INCOMPLETE_COMMAND: StatusCode = StatusCode(412);
    pub const REQUEST_ENTITY_TOO_LARGE: StatusCode = StatusCode(413);
    pub const URI_TOO_LONG: StatusCode = StatusCode(414);
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    pub const REQUESTED_SIZE_TOO_BIG: StatusCode = StatusCode(416);
    pub const RETRY_LATER: StatusCode = StatusCode(417);
    pub const ALREADY_EXISTS: StatusCode = StatusCode(418);
    pub const DEVICE_FULL: StatusCode = StatusCode(420);
    pub const SIZE_MISMATCH: StatusCode = StatusCode(424);
    pub const PERMISSION_DENIED: StatusCode = StatusCode(425);
    pub const COMMAND_FAILED: StatusCode = StatusCode(500);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const BAD_GATEWAY: StatusCode = StatusCode(502);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const GATEWAY_TIMEOUT: StatusCode = StatusCode(504);
    pub const DTD_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);
    pub const PROCESSING_ERROR: StatusCode = StatusCode(506);
    pub const ATOMIC_FAILED: StatusCode = StatusCode(507);
    pub const DATA_STORE_FAILURE: StatusCode = StatusCode(510);
    pub const SERVER_FAILURE: StatusCode = StatusCode(511);
    pub const PROTOCOL_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(513);
    pub const OPERATION_CANCELLED_RECIPIENT: StatusCode = StatusCode(514);
    pub const ATOMIC_ROLLBACK_FAILED: StatusCode = StatusCode(516);
    pub const ATOMIC_RESPONSE_TOO_LARGE: StatusCode = StatusCode(517);

    /// True for 2xx codes.
    #[must_use]
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An alert code (the `Data` of an `Alert`), e.g. 1201, 1226.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertCode(pub u16);

#[allow(missing_docs)]
impl AlertCode {
    pub const DISPLAY: AlertCode = AlertCode(1100);
    pub const CONFIRM_OR_REJECT: AlertCode = AlertCode(1101);
    pub const TEXT_INPUT: AlertCode = AlertCode(1102);
    pub const SINGLE_CHOICE: AlertCode = AlertCode(1103);
    pub const MULTIPLE_CHOICE: AlertCode = AlertCode(1104);
    pub const SERVER_INITIATED: AlertCode = AlertCode(1200);
    pub const CLIENT_INITIATED: AlertCode = AlertCode(1201);
    pub const NEXT_MESSAGE: AlertCode = AlertCode(1222);
    pub const SESSION_ABORT: AlertCode = AlertCode(1223);
    pub const CLIENT_EVENT: AlertCode = AlertCode(1224);
    pub const NO_END_OF_DATA: AlertCode = AlertCode(1225);
    pub const GENERIC_ALERT: AlertCode = AlertCode(1226);
}

impl std::fmt::Display for AlertCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `SyncBody`: commands (statuses included) in the order they arrived, and `Final`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncBody {
    /// The commands, `Status` and `Results` included, in document order.
    pub commands: Vec<Command>,
    /// `Final` present: this message closes its package.
    pub is_final: bool,
}

/// One command of a `SyncBody` (or of an `Atomic` / `Sequence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `Add`.
    Add(ItemCmd),
    /// `Alert`.
    Alert(Alert),
    /// `Atomic`.
    Atomic(Container),
    /// `Copy`.
    Copy(ItemCmd),
    /// `Delete`.
    Delete(ItemCmd),
    /// `Exec`.
    Exec(Exec),
    /// `Get`.
    Get(ItemCmd),
    /// `Replace`.
    Replace(ItemCmd),
    /// `Sequence`.
    Sequence(Container),
    /// `Results`.
    Results(Results),
    /// `Status`.
    Status(Status),
}

impl Command {
    /// The element name of this command (`"Add"`, `"Status"`, ...), as used in `Status/Cmd`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Command::Add(_) => "Add",
            Command::Alert(_) => "Alert",
            Command::Atomic(_) => "Atomic",
            Command::Copy(_) => "Copy",
            Command::Delete(_) => "Delete",
            Command::Exec(_) => "Exec",
            Command::Get(_) => "Get",
            Command::Replace(_) => "Replace",
            Command::Sequence(_) => "Sequence",
            Command::Results(_) => "Results",
            Command::Status(_) => "Status",
        }
    }

    /// The `CmdID` of this command.
    #[must_use]
    pub fn cmd_id(&self) -> &str {
        match self {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => &c.cmd_id,
            Command::Alert(c) => &c.cmd_id,
            Command::Atomic(c) | Command::Sequence(c) => &c.cmd_id,
            Command::Exec(c) => &c.cmd_id,
            Command::Results(c) => &c.cmd_id,
            Command::Status(c) => &c.cmd_id,
        }
    }

    /// Sets the `CmdID` of this command (containers keep their children's ids).
    pub fn set_cmd_id(&mut self, id: impl Into<String>) {
        let id = id.into();
        match self {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => c.cmd_id = id,
            Command::Alert(c) => c.cmd_id = id,
            Command::Atomic(c) | Command::Sequence(c) => c.cmd_id = id,
            Command::Exec(c) => c.cmd_id = id,
            Command::Results(c) => c.cmd_id = id,
            Command::Status(c) => c.cmd_id = id,
        }
    }
}

/// `Add`, `Copy`, `Delete`, `Get` and `Replace`: CmdID, NoResp?, Cred?, Meta?, Item+.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemCmd {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp` present (not used by DM 1.2; kept if it arrives).
    pub no_resp: bool,
    /// `Cred` (not allowed in DM outside the header; kept if it arrives).
    pub cred: Option<Cred>,
    /// `Meta` applying to every item.
    pub meta: Option<Meta>,
    /// The items.
    pub items: Vec<Item>,
}

/// `Alert`: CmdID, NoResp?, Cred?, Data? (the alert code), Correlator?, Item*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp` present.
    pub no_resp: bool,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Data`: the alert code.
    pub code: AlertCode,
    /// `Correlator` (ties a Generic Alert to an asynchronous Exec).
    pub correlator: Option<String>,
    /// The items.
    pub items: Vec<Item>,
}

/// `Exec`: CmdID, NoResp?, Cred?, Meta?, Correlator?, Item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp` present.
    pub no_resp: bool,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// `Correlator`.
    pub correlator: Option<String>,
    /// The item (DM 1.2 has exactly one; more are accepted on input).
    pub items: Vec<Item>,
}

/// `Atomic` and `Sequence`: CmdID, NoResp?, Meta?, then the contained commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp` present.
    pub no_resp: bool,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// The contained commands, in order.
    pub commands: Vec<Command>,
}

/// `Results`: CmdID, MsgRef?, CmdRef, Meta?, TargetRef*, SourceRef*, Item+.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Results {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`: the message of the Get.
    pub msg_ref: Option<String>,
    /// `CmdRef`: the `CmdID` of the Get.
    pub cmd_ref: String,
    /// `Meta`.
    pub meta: Option<Meta>,
    /// `TargetRef`s.
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    pub source_refs: Vec<String>,
    /// The items (Source/LocURI = node, Meta, Data).
    pub items: Vec<Item>,
}

/// `Status`: CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data, Item*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`: the message of the command this status answers.
    pub msg_ref: String,
    /// `CmdRef`: the `CmdID` it answers (`"0"` for the header).
    pub cmd_ref: String,
    /// `Cmd`: the element name it answers (`"SyncHdr"`, `"Get"`, ...).
    pub cmd: String,
    /// `TargetRef`s.
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    pub source_refs: Vec<String>,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Chal`.
    pub chal: Option<Chal>,
    /// `Data`: the status code.
    pub code: StatusCode,
    /// The items (e.g. the answer of a UI alert).
    pub items: Vec<Item>,
}
