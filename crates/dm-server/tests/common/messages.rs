//! Scripted-peer messages: the one place tests build or edit SyncML messages by hand (a
//! replayed package, a client quirk), on top of what a real `ClientSession` sent.

use syncml::{Command, Encoding, Item, Limits, Status, StatusCode, SyncMl};

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

/// The Status a device (or scripted gateway) answers `cmd` of message `msg_id` with.
pub fn status_for(msg_id: &str, cmd: &Command, code: u16, items: Vec<Item>) -> Command {
    let targets = match cmd {
        Command::Add(c) | Command::Replace(c) | Command::Delete(c) | Command::Get(c) => c
            .items
            .iter()
            .filter_map(|i| i.target.as_ref().map(|t| t.loc_uri.clone()))
            .collect(),
        Command::Exec(e) => e
            .items
            .iter()
            .filter_map(|i| i.target.as_ref().map(|t| t.loc_uri.clone()))
            .collect(),
        _ => Vec::new(),
    };
    Command::Status(Status {
        cmd_id: String::new(),
        msg_ref: msg_id.to_owned(),
        cmd_ref: cmd.cmd_id().to_owned(),
        cmd: cmd.name().to_owned(),
        target_refs: targets,
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        code: StatusCode(code),
        items,
    })
}

/// The answers of a gateway to a Fanout `Sequence` (docs/gateway.md §5): `codes` for the
/// three Adds and the `Start` Exec (whose Status carries `exec_items`), 200 for the Sequence.
pub fn fanout_answer(
    msg_id: &str,
    cmd: &Command,
    codes: [u16; 4],
    exec_items: Vec<Item>,
) -> Option<Vec<Command>> {
    let Command::Sequence(seq) = cmd else {
        return None;
    };
    let mut out = vec![status_for(msg_id, cmd, 200, Vec::new())];
    let mut exec_items = Some(exec_items);
    for (c, code) in seq.commands.iter().zip(codes) {
        let items = match c {
            Command::Exec(_) => exec_items.take().unwrap_or_default(),
            _ => Vec::new(),
        };
        out.push(status_for(msg_id, c, code, items));
    }
    Some(out)
}
