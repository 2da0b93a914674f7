//! Incoming large objects: chunks of one item (`MoreData`) collected until the last chunk,
//! checked against the announced `Meta/Size` and the receiver's `MaxObjSize` (digest §3.4).

use syncml::{AlertCode, Command, Data, Item, Location, StatusCode};

use crate::header::alert;
use crate::package::{data_items, without_size};

/// What became of one received command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Not a chunk: the command as it arrived.
    Whole(Command),
    /// A chunk was buffered: answer 213.
    Buffered,
    /// The last chunk arrived: the reassembled command, under the CmdID of the last chunk.
    Complete(Command),
    /// The object is refused with this status (413 too large, 424 size mismatch, 406 chunked
    /// item not last); whatever was buffered is dropped.
    Refused(StatusCode),
}

/// The object that was being received when an unrelated command arrived (answer: Alert 1225
/// naming it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interrupted {
    pub(crate) target: Option<String>,
    pub(crate) source: Option<String>,
    /// For Results: the `MsgRef` and `CmdRef` of the Get they answer.
    pub(crate) answers: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct Pending {
    name: &'static str,
    cmd_ref: Option<String>,
    target: Option<String>,
    source: Option<String>,
    template: Command,
    declared: Option<usize>,
    buf: Vec<u8>,
    text: bool,
}

/// Collects the chunks of at most one large object at a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Assembler {
    pending: Option<Pending>,
}

fn loc(l: Option<&syncml::Location>) -> Option<String> {
    l.map(|l| l.loc_uri.clone())
}

fn results_ref(cmd: &Command) -> Option<String> {
    match cmd {
        Command::Results(r) => Some(r.cmd_ref.clone()),
        _ => None,
    }
}

fn declared_size(cmd: &Command, item: &Item) -> Option<usize> {
    let cmd_meta = match cmd {
        Command::Add(c) | Command::Replace(c) => c.meta.as_ref(),
        Command::Results(r) => r.meta.as_ref(),
        _ => None,
    };
    item.meta
        .as_ref()
        .and_then(|m| m.size.as_deref())
        .or_else(|| cmd_meta.and_then(|m| m.size.as_deref()))
        .and_then(|s| s.trim().parse().ok())
}

impl Assembler {
    /// True while a large object is incomplete.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops an incomplete object (session end), returning what it was.
    pub(crate) fn interrupt(&mut self) -> Option<Interrupted> {
        self.pending.take().map(|p| {
            let answers = match &p.template {
                Command::Results(r) => {
                    Some((r.msg_ref.clone().unwrap_or_default(), r.cmd_ref.clone()))
                }
                _ => None,
            };
            Interrupted {
                target: p.target,
                source: p.source,
                answers,
            }
        })
    }

    /// Takes one received command. `max_obj_size` is this side's `MaxObjSize`.
    pub(crate) fn offer(
        &mut self,
        cmd: Command,
        max_obj_size: usize,
    ) -> (Option<Interrupted>, Offered) {
        let Some(items) = data_items(&cmd) else {
            return (self.interrupt(), Offered::Whole(cmd));
        };
        let first = items.first();
        let target = loc(first.and_then(|i| i.target.as_ref()));
        let source = loc(first.and_then(|i| i.source.as_ref()));
        let continues = self.pending.as_ref().is_some_and(|p| {
            p.name == cmd.name()
                && p.target == target
                && p.source == source
                && p.cmd_ref == results_ref(&cmd)
                && items.len() == 1
        });
        if continues {
            return (None, self.append(cmd, max_obj_size));
        }
        let interrupted = self.interrupt();
        if items.iter().rev().skip(1).any(|i| i.more_data) {
            return (
                interrupted,
                Offered::Refused(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED),
            );
        }
        if items
            .iter()
            .any(|i| i.data.as_ref().is_some_and(|d| d.len() > max_obj_size))
        {
            return (
                interrupted,
                Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE),
            );
        }
        let [item] = items.as_slice() else {
            return (interrupted, Offered::Whole(cmd));
        };
        if !item.more_data {
            return (interrupted, Offered::Whole(cmd));
        }
        let declared = declared_size(&cmd, item);
        if declared.is_some_and(|d| d > max_obj_size) {
            return (
                interrupted,
                Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE),
            );
        }
        let data = item.data.as_ref();
        self.pending = Some(Pending {
            name: cmd.name(),
            cmd_ref: results_ref(&cmd),
            target,
            source,
            declared,
            buf: data.map(|d| d.as_bytes().to_vec()).unwrap_or_default(),
            text: !matches!(data, Some(Data::Opaque(_))),
            template: cmd,
        });
        (interrupted, Offered::Buffered)
    }

    fn append(&mut self, cmd: Command, max_obj_size: usize) -> Offered {
        let Some(mut p) = self.pending.take() else {
            return Offered::Whole(cmd);
        };
        let Some(item) = data_items(&cmd).and_then(|i| i.first()) else {
            return Offered::Whole(cmd);
        };
        if let Some(d) = &item.data {
            p.buf.extend_from_slice(d.as_bytes());
            p.text &= !matches!(d, Data::Opaque(_));
        }
        if p.buf.len() > max_obj_size {
            return Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE);
        }
        if item.more_data {
            self.pending = Some(p);
            return Offered::Buffered;
        }
        if p.declared.is_some_and(|d| d != p.buf.len()) {
            return Offered::Refused(StatusCode::SIZE_MISMATCH);
        }
        let cdata = data_items(&p.template)
            .and_then(|i| i.first())
            .is_some_and(|i| matches!(i.data, Some(Data::CData(_))));
        let data = match String::from_utf8(p.buf) {
            Ok(s) if p.text && cdata => Data::CData(s),
            Ok(s) if p.text => Data::Text(s),
            Ok(s) => Data::Opaque(s.into_bytes()),
            Err(e) => Data::Opaque(e.into_bytes()),
        };
        let mut whole = p.template;
        whole.set_cmd_id(cmd.cmd_id());
        match &mut whole {
            Command::Add(c) | Command::Replace(c) => {
                c.meta = without_size(c.meta.take());
                set_item(&mut c.items, data);
            }
            Command::Results(r) => {
                r.meta = without_size(r.meta.take());
                if let Command::Results(last) = &cmd {
                    r.msg_ref.clone_from(&last.msg_ref);
                }
                set_item(&mut r.items, data);
            }
            _ => {}
        }
        Offered::Complete(whole)
    }
}

fn set_item(items: &mut [Item], data: Data) {
    if let Some(it) = items.first_mut() {
        it.data = Some(data);
        it.more_data = false;
        it.meta = without_size(it.meta.take());
    }
}

/// Alert 1225 (no end of data) naming an object whose last chunk never came.
pub(crate) fn no_end_of_data(target: Option<String>, source: Option<String>) -> Command {
    let mut a = alert(AlertCode::NO_END_OF_DATA);
    if let Command::Alert(al) = &mut a {
        al.items.push(Item {
            target: target.map(Location::uri),
            source: source.map(Location::uri),
            ..Item::default()
        });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncml::{ItemCmd, Location, Meta};

    fn chunk(data: &str, more: bool, size: Option<&str>, target: &str) -> Command {
        Command::Replace(ItemCmd {
            cmd_id: "7".into(),
            items: vec![Item {
                target: Some(Location::uri(target)),
                meta: size.map(|s| Meta {
                    size: Some(s.into()),
                    ..Meta::default()
                }),
                data: Some(Data::from(data)),
                more_data: more,
                ..Item::default()
            }],
            ..ItemCmd::default()
        })
    }

    #[test]
    fn chunks_reassemble_under_last_cmd_id() {
        let mut a = Assembler::default();
        assert_eq!(
            a.offer(chunk("abc", true, Some("6"), "./X"), 100).1,
            Offered::Buffered
        );
        let mut last = chunk("def", false, None, "./X");
        last.set_cmd_id("9");
        let (none, done) = a.offer(last, 100);
        assert!(none.is_none());
        let Offered::Complete(Command::Replace(r)) = done else {
            panic!("{done:?}")
        };
        assert_eq!(r.cmd_id, "9");
        assert_eq!(r.items[0].data, Some(Data::from("abcdef")));
        assert!(!r.items[0].more_data);
        assert!(
            r.items[0].meta.is_none(),
            "Size is dropped after reassembly"
        );
        assert!(!a.is_pending());
    }

    #[test]
    fn size_mismatch_is_424() {
        let mut a = Assembler::default();
        a.offer(chunk("abc", true, Some("7"), "./X"), 100);
        assert_eq!(
            a.offer(chunk("def", false, None, "./X"), 100).1,
            Offered::Refused(StatusCode::SIZE_MISMATCH)
        );
    }

    #[test]
    fn announced_or_grown_size_above_max_obj_size_is_413() {
        let mut a = Assembler::default();
        assert_eq!(
            a.offer(chunk("abc", true, Some("1000"), "./X"), 100).1,
            Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE)
        );
        a.offer(chunk("abc", true, None, "./X"), 5);
        assert_eq!(
            a.offer(chunk("def", true, None, "./X"), 5).1,
            Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE)
        );
        assert_eq!(
            a.offer(chunk("abcdef", false, None, "./Y"), 5).1,
            Offered::Refused(StatusCode::REQUEST_ENTITY_TOO_LARGE)
        );
    }

    #[test]
    fn another_command_interrupts_the_object_1225() {
        let mut a = Assembler::default();
        a.offer(chunk("abc", true, Some("6"), "./X"), 100);
        let (interrupted, offered) = a.offer(chunk("zz", false, None, "./Other"), 100);
        assert_eq!(
            interrupted,
            Some(Interrupted {
                target: Some("./X".into()),
                source: None,
                answers: None,
            })
        );
        assert!(matches!(offered, Offered::Whole(_)));
        assert!(!a.is_pending());
    }
}
