//! Pieces both sessions build: statuses, alerts, header `Meta`, what a peer's header tells.

use syncml::{Alert, AlertCode, Chal, Command, Meta, Status, StatusCode, SyncHdr};

/// How long a session waits for its peer by default.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Default `MaxMsgSize` of either side.
pub const DEFAULT_MAX_MSG_SIZE: usize = 16 * 1024;
/// Smallest peer `MaxMsgSize` a session honours: a peer announcing less (1, 0) is sent
/// messages of up to this size, and told so in the Status for its header. (A message too
/// small for a command beside the header and statuses is followed by one that carries a
/// command whatever its size, so a session always moves on.)
pub const MIN_PEER_MAX_MSG_SIZE: usize = 512;
/// Largest peer `MaxMsgSize` a session honours (the default decoder size limit): a peer
/// announcing more is sent messages of at most this size, and told so.
pub const MAX_PEER_MAX_MSG_SIZE: usize = 4 * 1024 * 1024;
/// Default `MaxObjSize` of either side.
pub const DEFAULT_MAX_OBJ_SIZE: usize = 1024 * 1024;

/// `SessionID` text of a 16-bit session id: uppercase hex without leading zeros (digest §2.2).
#[must_use]
pub fn session_id_text(id: u16) -> String {
    format!("{id:X}")
}

/// A `Status` answering command `cmd_ref` (element `cmd`) of message `msg_ref`.
pub(crate) fn status(msg_ref: &str, cmd_ref: &str, cmd: &str, code: StatusCode) -> Status {
    Status {
        cmd_id: String::new(),
        msg_ref: msg_ref.to_owned(),
        cmd_ref: cmd_ref.to_owned(),
        cmd: cmd.to_owned(),
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        code,
        items: Vec::new(),
    }
}

/// The `Status` for a peer's `SyncHdr` (CmdRef 0), with Target/SourceRef and an optional
/// challenge.
pub(crate) fn header_status(hdr: &SyncHdr, code: StatusCode, chal: Option<Chal>) -> Command {
    let mut s = status(&hdr.msg_id, "0", "SyncHdr", code);
    s.target_refs.push(hdr.target.loc_uri.clone());
    s.source_refs.push(hdr.source.loc_uri.clone());
    s.chal = chal;
    Command::Status(s)
}

/// The `Status` for every command of a message (not for Status and Results, which are
/// answers themselves).
pub(crate) fn answerable(cmd: &Command) -> bool {
    !matches!(cmd, Command::Status(_) | Command::Results(_))
}

/// A plain alert with no items.
pub(crate) fn alert(code: AlertCode) -> Command {
    Command::Alert(Alert {
        cmd_id: String::new(),
        no_resp: false,
        cred: None,
        code,
        correlator: None,
        items: Vec::new(),
    })
}

/// The `Meta` announcing our own limits.
pub(crate) fn limits_meta(max_msg_size: usize, max_obj_size: usize) -> Meta {
    Meta {
        max_msg_size: Some(max_msg_size.to_string()),
        max_obj_size: Some(max_obj_size.to_string()),
        ..Meta::default()
    }
}

/// The limits a peer announced in its header, if any.
pub(crate) fn peer_limits(hdr: &SyncHdr) -> (Option<usize>, Option<usize>) {
    let meta = hdr.meta.as_ref();
    let num = |v: Option<&String>| v.and_then(|s| s.trim().parse::<usize>().ok());
    (
        num(meta.and_then(|m| m.max_msg_size.as_ref())),
        num(meta.and_then(|m| m.max_obj_size.as_ref())),
    )
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The server closed the session normally (a package with no commands).
    Completed,
    /// One side sent Alert 1223.
    Aborted {
        /// True when the peer aborted, false when this side did.
        by_peer: bool,
    },
    /// No message from the peer within the idle timeout.
    TimedOut,
    /// The peer refused our credentials (or the retries ran out).
    AuthFailed,
    /// The peer failed to authenticate itself to us within the allowed attempts.
    PeerAuthFailed,
}
