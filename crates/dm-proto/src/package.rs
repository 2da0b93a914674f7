//! Outgoing packages: the commands one side still has to send in its current package, cut into
//! messages that fit the peer's `MaxMsgSize`, with items too large for one message cut into
//! chunks (`MoreData`, `Meta/Size` on the first chunk; digest §3.3, §3.4).
//!
//! Sizes are measured with the session's real encoder, so the accounting holds for XML and
//! WBXML alike.

use std::collections::VecDeque;

use syncml::{AlertCode, Command, Data, Encoding, Item, Meta, SyncBody, SyncHdr, SyncMl, Version};

/// Bytes kept free in every message for what measuring command by command cannot see.
const MARGIN: usize = 24;
/// Smallest chunk of data worth a message of its own.
const MIN_CHUNK: usize = 16;
/// Statuses every message may have to carry whatever else it holds: the Status for the peer's
/// header and, mid-package, the one for its Alert 1222. A command that does not fit behind
/// this many has no better message to wait for.
const UNAVOIDABLE_STATUSES: usize = 2;

/// One command waiting in an outbox, with the caller's tag (the server's command handle).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing<T> {
    pub(crate) cmd: Command,
    pub(crate) tag: T,
    /// True once the first chunk of its item has left (later chunks carry no `Meta/Size`).
    continued: bool,
}

impl<T> Outgoing<T> {
    pub(crate) fn new(cmd: Command, tag: T) -> Self {
        Outgoing {
            cmd,
            tag,
            continued: false,
        }
    }
}

/// What one message carries, for the caller's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Placed<T> {
    pub(crate) tag: T,
    /// The CmdIDs given to the command and to every command nested in it, with the path of
    /// child indexes leading to it (empty for the command itself).
    pub(crate) ids: Vec<(String, Vec<usize>)>,
    /// This is a chunk of a large object and more chunks follow.
    pub(crate) partial: bool,
}

/// A message composed from an outbox.
#[derive(Debug, Clone)]
pub(crate) struct Composed<T> {
    pub(crate) msg: SyncMl,
    pub(crate) placed: Vec<Placed<T>>,
    /// The outbox entries this message took, as they were before (whole, not yet chunked).
    pub(crate) consumed: Vec<Outgoing<T>>,
    /// How many entries at the head of the outbox are what is left of `consumed` (the rest of
    /// a chunked object, items or commands that did not fit); the entries after them are the
    /// outbox as it was behind `consumed`.
    pub(crate) pushed_back: usize,
}

impl<T> Composed<T> {
    /// Puts the outbox back as it was before this message was composed (to send the message
    /// again), leaving out the entries `drop` selects (e.g. a header Status that is answered
    /// anew).
    pub(crate) fn restore(
        consumed: &[Outgoing<T>],
        pushed_back: usize,
        outbox: &mut VecDeque<Outgoing<T>>,
        drop: impl Fn(&Command) -> bool,
    ) where
        T: Clone,
    {
        let rest = outbox.split_off(pushed_back.min(outbox.len()));
        outbox.clear();
        outbox.extend(consumed.iter().filter(|o| !drop(&o.cmd)).cloned());
        outbox.extend(rest);
    }
}

/// Composes the next message: `hdr`, as many commands from `outbox` as fit into `max_size`
/// (cutting a large item into a chunk when it alone does not fit), then `trailer` (alerts
/// such as 1222 that must go in any case). `Final` is set when the outbox is empty afterwards
/// and `may_close` is true. With `force_one` (the previous message carried statuses only
/// though more was waiting) every status owed and the first command after them go out even
/// if they do not fit, so that a session always moves on.
pub(crate) fn compose<T: Clone>(
    encoding: Encoding,
    max_size: usize,
    hdr: SyncHdr,
    outbox: &mut VecDeque<Outgoing<T>>,
    mut trailer: Vec<Command>,
    may_close: bool,
    force_one: bool,
) -> Composed<T> {
    let budget = max_size.saturating_sub(MARGIN);
    let mut probe = SyncMl {
        version: Version::V1_2,
        hdr,
        body: SyncBody {
            commands: Vec::new(),
            is_final: true,
        },
    };
    let probe_len = encoding.encode(&probe).len();
    let mut used = probe_len;
    for t in &mut trailer {
        t.set_cmd_id("9999");
        used += measure(encoding, &mut probe, probe_len, t.clone());
    }
    let mut next_id: u32 = 1;
    let mut body: Vec<Command> = Vec::new();
    let mut placed: Vec<Placed<T>> = Vec::new();
    let mut consumed: Vec<Outgoing<T>> = Vec::new();
    let mut pushed_back = 0;
    // A command went whole although it does not fit (it is the last one placed).
    let mut forced = false;

    while let Some(mut out) = outbox.pop_front() {
        consumed.push(out.clone());
        let first_id = next_id;
        let ids = number(&mut out.cmd, &mut next_id);
        let n = measure(encoding, &mut probe, probe_len, out.cmd.clone());
        if used + n <= budget {
            used += n;
            placed.push(Placed {
                tag: out.tag.clone(),
                ids,
                partial: false,
            });
            body.push(out.cmd);
            continue;
        }
        let room = budget.saturating_sub(used);
        // Several items: send those that fit now, the rest as another command.
        if item_count(&out.cmd) > 1
            && let Some((head, tail)) = split_items(encoding, &mut probe, probe_len, &out.cmd, room)
        {
            {
                let mut head = head;
                next_id = first_id;
                let ids = number(&mut head, &mut next_id);
                placed.push(Placed {
                    tag: out.tag.clone(),
                    ids,
                    partial: false,
                });
                body.push(head);
                outbox.push_front(Outgoing {
                    cmd: tail,
                    tag: out.tag,
                    continued: false,
                });
                pushed_back += 1;
                break;
            }
        }
        // One large item: cut a chunk that fills the rest of this message.
        if let Some((chunk, rest)) = cut_chunk(
            encoding,
            &mut probe,
            probe_len,
            &out.cmd,
            room,
            !out.continued,
        ) {
            let mut chunk = chunk;
            next_id = first_id;
            let ids = number(&mut chunk, &mut next_id);
            placed.push(Placed {
                tag: out.tag.clone(),
                ids,
                partial: true,
            });
            body.push(chunk);
            outbox.push_front(Outgoing {
                cmd: rest,
                tag: out.tag,
                continued: true,
            });
            pushed_back += 1;
            break;
        }
        let only_statuses = body.iter().all(|c| matches!(c, Command::Status(_)));
        // Nothing smaller is possible: an empty message, one holding only the statuses every
        // message starts with (no later message has more room: waiting would send the same
        // statuses-only message forever), or a message the caller needs to go whatever its
        // size. Send it whole and let the peer judge.
        let unavoidable = body.len() <= UNAVOIDABLE_STATUSES && only_statuses;
        if body.is_empty()
            || unavoidable
            || (force_one && (only_statuses || matches!(out.cmd, Command::Status(_))))
        {
            forced = true;
            used += n;
            let partial = false;
            placed.push(Placed {
                tag: out.tag.clone(),
                ids,
                partial,
            });
            body.push(out.cmd);
            continue;
        }
        next_id = first_id;
        outbox.push_front(out);
        pushed_back += 1;
        break;
    }

    let mut msg = probe;
    msg.body.commands = body;
    let mut tail_ids = next_id;
    let numbered_trailer = |mut trailer: Vec<Command>, mut id: u32| {
        for t in &mut trailer {
            t.set_cmd_id(id.to_string());
            id += 1;
        }
        trailer
    };
    // Measuring command by command is an estimate (WBXML string tables, ids): verify the
    // whole message and move whole commands back while it is too large.
    loop {
        msg.body.is_final = outbox.is_empty() && may_close;
        let mut check = msg.clone();
        check
            .body
            .commands
            .extend(numbered_trailer(trailer.clone(), tail_ids));
        let too_big = encoding.encode(&check).len() > max_size;
        let last_partial = placed.last().is_some_and(|p| p.partial);
        if !too_big || msg.body.commands.len() < 2 || last_partial || forced || force_one {
            msg = check;
            break;
        }
        if let (Some(cmd), Some(p)) = (msg.body.commands.pop(), placed.pop()) {
            tail_ids = p
                .ids
                .first()
                .and_then(|(id, _)| id.parse().ok())
                .unwrap_or(tail_ids);
            outbox.push_front(Outgoing {
                cmd,
                tag: p.tag,
                continued: false,
            });
            pushed_back += 1;
        }
    }
    Composed {
        msg,
        placed,
        consumed,
        pushed_back,
    }
}

/// True for a Status answering a `SyncHdr` (CmdRef 0): it belongs to the message it answers
/// and is never sent again.
pub(crate) fn is_header_status(cmd: &Command) -> bool {
    matches!(cmd, Command::Status(s) if s.cmd_ref == "0")
}

/// Encoded size of `cmd` inside a message with the header of `probe`.
fn measure(encoding: Encoding, probe: &mut SyncMl, probe_len: usize, cmd: Command) -> usize {
    probe.body.commands.push(cmd);
    let n = encoding.encode(probe).len();
    probe.body.commands.clear();
    n.saturating_sub(probe_len)
}

/// Gives `cmd` and every nested command consecutive CmdIDs from `next`.
fn number(cmd: &mut Command, next: &mut u32) -> Vec<(String, Vec<usize>)> {
    let mut ids = Vec::new();
    number_into(cmd, next, &mut Vec::new(), &mut ids);
    ids
}

fn number_into(
    cmd: &mut Command,
    next: &mut u32,
    path: &mut Vec<usize>,
    ids: &mut Vec<(String, Vec<usize>)>,
) {
    let id = next.to_string();
    *next += 1;
    cmd.set_cmd_id(id.clone());
    ids.push((id, path.clone()));
    if let Command::Atomic(c) | Command::Sequence(c) = cmd {
        for (i, child) in c.commands.iter_mut().enumerate() {
            path.push(i);
            number_into(child, next, path, ids);
            path.pop();
        }
    }
}

/// The items of a command that carries items with data (Add, Replace, Results).
pub(crate) fn data_items(cmd: &Command) -> Option<&Vec<Item>> {
    match cmd {
        Command::Add(c) | Command::Replace(c) => Some(&c.items),
        Command::Results(r) => Some(&r.items),
        _ => None,
    }
}

fn data_items_mut(cmd: &mut Command) -> Option<&mut Vec<Item>> {
    match cmd {
        Command::Add(c) | Command::Replace(c) => Some(&mut c.items),
        Command::Results(r) => Some(&mut r.items),
        _ => None,
    }
}

/// The items of a command that may travel as several commands, each with some of them: Add,
/// Replace and Results, and a Generic Alert (each of its items is an alert of its own, digest
/// §3.8; every part keeps the `Correlator`).
fn separable_items_mut(cmd: &mut Command) -> Option<&mut Vec<Item>> {
    match cmd {
        Command::Alert(a) if a.code == AlertCode::GENERIC_ALERT => Some(&mut a.items),
        Command::Add(c) | Command::Replace(c) => Some(&mut c.items),
        Command::Results(r) => Some(&mut r.items),
        _ => None,
    }
}

fn item_count(cmd: &Command) -> usize {
    match cmd {
        Command::Alert(a) if a.code == AlertCode::GENERIC_ALERT => a.items.len(),
        other => data_items(other).map_or(0, Vec::len),
    }
}

/// Splits a multi-item command into the longest head that fits into `room` and the rest.
fn split_items(
    encoding: Encoding,
    probe: &mut SyncMl,
    probe_len: usize,
    cmd: &Command,
    room: usize,
) -> Option<(Command, Command)> {
    let total = item_count(cmd);
    let with_items = |range: std::ops::Range<usize>| {
        let mut c = cmd.clone();
        if let Some(items) = separable_items_mut(&mut c) {
            let kept: Vec<Item> = items.get(range).map(<[Item]>::to_vec).unwrap_or_default();
            *items = kept;
        }
        c
    };
    // Largest k in 1..total whose head fits.
    let (mut lo, mut hi) = (0usize, total.saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if measure(encoding, probe, probe_len, with_items(0..mid)) <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    (lo >= 1).then(|| (with_items(0..lo), with_items(lo..total)))
}

/// Cuts the first chunk of the single item of `cmd` so that it fits into `room`. Returns the
/// chunk (with `MoreData`, and `Meta/Size` when `first`) and the command with the rest.
fn cut_chunk(
    encoding: Encoding,
    probe: &mut SyncMl,
    probe_len: usize,
    cmd: &Command,
    room: usize,
    first: bool,
) -> Option<(Command, Command)> {
    let items = data_items(cmd)?;
    let [item] = items.as_slice() else {
        return None;
    };
    let data = &xml_form(encoding, item.data.as_ref()?);
    let total = data.len();
    let build = |piece: Data, more: bool, size: Option<usize>| {
        let mut c = cmd.clone();
        if let Some(Some(it)) = data_items_mut(&mut c).map(|v| v.first_mut()) {
            it.data = Some(piece);
            it.more_data = more;
            let mut meta = it.meta.take().unwrap_or_default();
            meta.size = size.map(|s| s.to_string());
            it.meta = (!meta.is_empty()).then_some(meta);
        }
        c
    };
    let size = first.then_some(total);
    let overhead = measure(
        encoding,
        probe,
        probe_len,
        build(Data::Text(String::new()), true, size),
    );
    let mut take = room.saturating_sub(overhead);
    for _ in 0..12 {
        // The whole rest did not fit (that is why we cut), so a chunk is always shorter.
        take = take.min(total.saturating_sub(1));
        if take < MIN_CHUNK {
            return None;
        }
        let (head, rest) = split_data(data, take);
        if head.is_empty() {
            return None;
        }
        let chunk = build(head, true, size);
        let n = measure(encoding, probe, probe_len, chunk.clone());
        if n <= room {
            let rest = build(rest, item.more_data, None);
            return Some((chunk, rest));
        }
        // Scale by how much the data grew in encoding (escapes, Base64), a little under.
        let data_room = room.saturating_sub(overhead);
        let data_len = n.saturating_sub(overhead).max(1);
        let scaled = take.saturating_mul(data_room) / data_len;
        take = scaled
            .saturating_sub(scaled / 50 + 1)
            .min(take.saturating_sub(1));
    }
    None
}

/// The form data takes on the wire. XML carries opaque bytes as CDATA when they are UTF-8 and
/// as Base64 text otherwise; chunks must be cut from that form, or the pieces would not
/// concatenate to what a single message would have carried.
fn xml_form(encoding: Encoding, data: &Data) -> Data {
    match (encoding, data) {
        (Encoding::Xml, Data::Opaque(bytes)) => match std::str::from_utf8(bytes) {
            Ok(s) => Data::CData(s.to_owned()),
            Err(_) => Data::Text(syncml::auth::b64_encode(bytes)),
        },
        _ => data.clone(),
    }
}

/// Splits data after (at most) `at` bytes; text is cut on a character boundary. Embedded XML
/// cannot be cut into well-formed pieces, so its pieces travel as CDATA (or plain text).
fn split_data(data: &Data, at: usize) -> (Data, Data) {
    fn split_str(s: &str, mut at: usize) -> (String, String) {
        while at > 0 && !s.is_char_boundary(at) {
            at -= 1;
        }
        let (a, b) = s.split_at(at);
        (a.to_owned(), b.to_owned())
    }
    match data {
        Data::Text(s) => {
            let (a, b) = split_str(s, at);
            (Data::Text(a), Data::Text(b))
        }
        Data::CData(s) | Data::Xml(s) => {
            let (a, b) = split_str(s, at);
            if s.contains("]]>") {
                (Data::Text(a), Data::Text(b))
            } else {
                (Data::CData(a), Data::CData(b))
            }
        }
        Data::Opaque(bytes) => {
            let (a, b) = bytes.split_at(at.min(bytes.len()));
            (Data::Opaque(a.to_vec()), Data::Opaque(b.to_vec()))
        }
    }
}

/// `Meta` holding only a `Size`, or merged into an existing one.
pub(crate) fn without_size(meta: Option<Meta>) -> Option<Meta> {
    meta.and_then(|mut m| {
        m.size = None;
        (!m.is_empty()).then_some(m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncml::{ItemCmd, Location, Results};

    fn hdr() -> SyncHdr {
        SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1".into(),
            msg_id: "1".into(),
            target: Location::uri("http://s/dm"),
            source: Location::uri("IMEI:1"),
            ..SyncHdr::default()
        }
    }

    fn results(data: Data) -> Command {
        Command::Results(Results {
            cmd_ref: "3".into(),
            msg_ref: Some("1".into()),
            items: vec![Item {
                source: Some(Location::uri("./Big")),
                data: Some(data),
                ..Item::default()
            }],
            ..Results::default()
        })
    }

    /// Cuts one object into messages and glues the chunks back together.
    fn roundtrip(encoding: Encoding, data: Data, max: usize) -> (Vec<u8>, usize) {
        let mut outbox = VecDeque::from([Outgoing::new(results(data), ())]);
        let mut glued = Vec::new();
        let mut messages = 0;
        while !outbox.is_empty() {
            let c = compose(encoding, max, hdr(), &mut outbox, Vec::new(), true, false);
            let bytes = encoding.encode(&c.msg);
            assert!(
                bytes.len() <= max,
                "{} > {max} ({encoding:?}, message {messages}, left {})",
                bytes.len(),
                outbox.len()
            );
            let back = encoding.decode(&bytes, &syncml::Limits::default()).unwrap();
            let Some(Command::Results(r)) = back.body.commands.first() else {
                panic!()
            };
            let item = &r.items[0];
            if messages == 0 {
                assert!(item.meta.as_ref().and_then(|m| m.size.as_ref()).is_some());
            } else {
                assert!(item.meta.as_ref().and_then(|m| m.size.as_ref()).is_none());
            }
            assert_eq!(item.more_data, !outbox.is_empty());
            assert_eq!(back.body.is_final, outbox.is_empty());
            glued.extend_from_slice(item.data.as_ref().unwrap().as_bytes());
            messages += 1;
        }
        (glued, messages)
    }

    #[test]
    fn large_text_and_binary_items_are_chunked_within_max_msg_size() {
        let text: String = "é<&>abc".repeat(800);
        let bin: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
        for encoding in [Encoding::Xml, Encoding::Wbxml] {
            let (glued, n) = roundtrip(encoding, Data::from(text.as_str()), 1200);
            assert_eq!(glued, text.as_bytes());
            assert!(n > 3);
            let (glued, n) = roundtrip(encoding, Data::Opaque(bin.clone()), 1200);
            // XML carries non-UTF-8 bytes as Base64 text, chunked or not.
            let expected = match encoding {
                Encoding::Xml => syncml::auth::b64_encode(&bin).into_bytes(),
                Encoding::Wbxml => bin.clone(),
            };
            assert_eq!(glued, expected);
            assert!(n > 3);
        }
    }

    #[test]
    fn commands_that_do_not_fit_wait_for_the_next_message() {
        let add = |i: usize| {
            Command::Add(ItemCmd {
                items: vec![Item {
                    target: Some(Location::uri(format!("./N{i}"))),
                    data: Some(Data::from("value")),
                    ..Item::default()
                }],
                ..ItemCmd::default()
            })
        };
        let mut outbox: VecDeque<_> = (0..40).map(|i| Outgoing::new(add(i), i)).collect();
        let mut seen = Vec::new();
        let mut messages = 0;
        while !outbox.is_empty() {
            let c = compose(
                Encoding::Xml,
                1000,
                hdr(),
                &mut outbox,
                Vec::new(),
                true,
                false,
            );
            assert!(Encoding::Xml.encode(&c.msg).len() <= 1000);
            // CmdIDs restart at 1 in every message.
            assert_eq!(c.msg.body.commands[0].cmd_id(), "1");
            seen.extend(c.placed.iter().map(|p| p.tag));
            messages += 1;
        }
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        assert!(messages > 2);
    }
}
