//! Shared by the mount tests and the mount benchmark: providers and command builders.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod memory;
pub mod proxied;

use dm_tree::{ExecContext, Timestamp};
use syncml::{Command, Container, Data, Exec, Item, ItemCmd, Location, Meta, Status, StatusCode};

pub const SRV: &str = "srv1";

pub fn ctx_at(server: &str, now: u64) -> ExecContext<'_> {
    ExecContext {
        server_id: server,
        msg_id: "4",
        now: Timestamp(now),
    }
}

pub fn ctx(server: &str) -> ExecContext<'_> {
    ctx_at(server, 1_000)
}

/// An item: target, optional Meta Format/Type, optional text data.
pub fn item(target: &str, format: Option<&str>, ty: Option<&str>, data: Option<&str>) -> Item {
    Item {
        target: Some(Location::uri(target)),
        meta: (format.is_some() || ty.is_some()).then(|| Meta {
            format: format.map(str::to_owned),
            r#type: ty.map(str::to_owned),
            ..Meta::default()
        }),
        data: data.map(Data::from),
        ..Item::default()
    }
}

pub fn items(id: &str, items: Vec<Item>) -> ItemCmd {
    ItemCmd {
        cmd_id: id.into(),
        items,
        ..ItemCmd::default()
    }
}

pub fn get(target: &str) -> Command {
    Command::Get(items("2", vec![item(target, None, None, None)]))
}

pub fn add(target: &str, format: Option<&str>, data: Option<&str>) -> Command {
    Command::Add(items("3", vec![item(target, format, None, data)]))
}

pub fn add_typed(target: &str, ty: &str, data: &str) -> Command {
    Command::Add(items("3", vec![item(target, None, Some(ty), Some(data))]))
}

pub fn replace(target: &str, data: &str) -> Command {
    Command::Replace(items("5", vec![item(target, None, None, Some(data))]))
}

pub fn delete(target: &str) -> Command {
    Command::Delete(items("6", vec![item(target, None, None, None)]))
}

pub fn copy(source: &str, target: &str) -> Command {
    let mut it = item(target, None, None, None);
    it.source = Some(Location::uri(source));
    Command::Copy(items("7", vec![it]))
}

pub fn exec(target: &str, data: Option<&str>) -> Command {
    Command::Exec(Exec {
        cmd_id: "8".into(),
        correlator: Some("c-1".into()),
        items: vec![item(target, None, None, data)],
        ..Exec::default()
    })
}

pub fn atomic(commands: Vec<Command>) -> Command {
    Command::Atomic(Container {
        cmd_id: "10".into(),
        commands,
        ..Container::default()
    })
}

pub fn sequence(commands: Vec<Command>) -> Command {
    Command::Sequence(Container {
        cmd_id: "11".into(),
        commands,
        ..Container::default()
    })
}

pub fn statuses(out: &[Command]) -> Vec<&Status> {
    out.iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some(s),
            _ => None,
        })
        .collect()
}

pub fn codes(out: &[Command]) -> Vec<u16> {
    statuses(out).iter().map(|s| s.code.0).collect()
}

/// The Results items of `out` (all Results commands).
pub fn result_items(out: &[Command]) -> Vec<Item> {
    out.iter()
        .filter_map(|c| match c {
            Command::Results(r) => Some(r.items.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub fn data_text(item: &Item) -> &str {
    item.data
        .as_ref()
        .and_then(Data::as_str)
        .unwrap_or_default()
}

pub fn source(item: &Item) -> &str {
    item.source
        .as_ref()
        .map(|l| l.loc_uri.as_str())
        .unwrap_or_default()
}

pub const OK: StatusCode = StatusCode::OK;
