//! Scripted-peer messages: the one place tests build or edit SyncML messages by hand (a
//! replayed package, a client quirk), on top of what a real `ClientSession` sent.

use syncml::{Command, Encoding, Limits, SyncMl};

/// Decodes an XML or WBXML message.
pub fn decode(bytes: &[u8]) -> SyncMl {
    Encoding::detect(bytes)
        .decode(bytes, &Limits::default())
        .unwrap()
}

/// Encodes in the encoding `like` was in.
pub fn encode_like(like: &[u8], msg: &SyncMl) -> Vec<u8> {
    Encoding::detect(like).encode(msg)
}

/// The same message with another `SessionID` (what a replayer sends: MD5 credentials do not
/// cover it).
pub fn with_session_id(bytes: &[u8], session_id: &str) -> Vec<u8> {
    let mut msg = decode(bytes);
    msg.hdr.session_id = session_id.to_owned();
    encode_like(bytes, &msg)
}

/// Sets the value of every `./DevInfo/<leaf>` item of the message's Replace (forged DevInfo).
pub fn with_devinfo(bytes: &[u8], leaf: &str, value: &str) -> Vec<u8> {
    let mut msg = decode(bytes);
    for cmd in &mut msg.body.commands {
        if let Command::Replace(r) = cmd {
            for i in &mut r.items {
                let uri = i
                    .source
                    .as_ref()
                    .map(|l| l.loc_uri.clone())
                    .unwrap_or_default();
                if uri.ends_with(&format!("/{leaf}")) {
                    i.data = Some(value.into());
                }
            }
        }
    }
    encode_like(bytes, &msg)
}

/// The quirk of libdmclient (2014): no Status for an `Atomic` (it runs the children one by
/// one and answers each).
pub fn drop_atomic_statuses(msg: &mut SyncMl) {
    msg.body
        .commands
        .retain(|c| !matches!(c, Command::Status(s) if s.cmd == "Atomic"));
}

/// The code of the Status for the header (`CmdRef` 0) and whether it carries a `Chal`.
pub fn header_status(bytes: &[u8]) -> (u16, bool) {
    let msg = decode(bytes);
    msg.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == "0" => Some((s.code.0, s.chal.is_some())),
            _ => None,
        })
        .unwrap()
}

/// The `RespURI` of a server message, if any.
pub fn resp_uri(bytes: &[u8]) -> Option<String> {
    decode(bytes).hdr.resp_uri
}
