//! Shared by the codec tests: applies a normalisation to every `Item/Data` of a message
//! (commands nested in Atomic/Sequence included), so each test states only how its encoding
//! may change `Data` and compares everything else exactly.

use syncml::{Command, Data, Item, SyncMl};

/// A copy of `msg` with `f` applied to the `Data` of every item.
pub fn map_data(msg: &SyncMl, mut f: impl FnMut(&mut Data)) -> SyncMl {
    let mut m = msg.clone();
    commands(&mut m.body.commands, &mut f);
    m
}

fn items(items: &mut [Item], f: &mut impl FnMut(&mut Data)) {
    for item in items {
        if let Some(d) = &mut item.data {
            f(d);
        }
    }
}

fn commands(cmds: &mut [Command], f: &mut impl FnMut(&mut Data)) {
    for cmd in cmds {
        match cmd {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => items(&mut c.items, f),
            Command::Alert(c) => items(&mut c.items, f),
            Command::Exec(c) => items(&mut c.items, f),
            Command::Results(c) => items(&mut c.items, f),
            Command::Status(c) => items(&mut c.items, f),
            Command::Atomic(c) | Command::Sequence(c) => commands(&mut c.commands, f),
        }
    }
}
