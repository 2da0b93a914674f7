//! Job commands (the store's operator-level commands) as SyncML commands.
//!
//! In: [`dm_store::JobCommand`] lists. Out: [`syncml::Command`] values with empty CmdIDs (the
//! session numbers them), and the pre-order numbering that maps each answer back to a command.

use dm_store::{CommandKind, JobCommand, JobItem};
use syncml::{Command, Container, Exec, Item, ItemCmd, Location, Meta};

/// Number of commands counted in pre-order (containers and their children).
#[must_use]
pub fn count(commands: &[JobCommand]) -> usize {
    commands.iter().map(|c| 1 + count(&c.children)).sum()
}

fn meta(item: &JobItem) -> Option<Meta> {
    if item.format.is_none() && item.mime_type.is_none() {
        return None;
    }
    Some(Meta {
        format: item.format.clone(),
        r#type: item.mime_type.clone(),
        ..Meta::default()
    })
}

/// One SyncML item for a job item: `Target` is the addressed node (for `copy` the `target`,
/// with the job item's `path` as `Source`).
fn item(kind: CommandKind, it: &JobItem) -> Item {
    let (target, source) = match (kind, &it.target) {
        (CommandKind::Copy, Some(dst)) => (dst.as_str(), Some(Location::uri(it.path.as_str()))),
        _ => (it.path.as_str(), None),
    };
    let interior = it.format.as_deref() == Some("node");
    let data = match kind {
        CommandKind::Add | CommandKind::Replace | CommandKind::Exec if !interior => {
            it.value.as_deref().map(Into::into)
        }
        _ => None,
    };
    Item {
        target: Some(Location::uri(target)),
        source,
        meta: meta(it),
        data,
        more_data: false,
    }
}

/// Translates one job command (and its children) into a SyncML command with empty CmdIDs.
///
/// Item-level `Meta` carries each item's format and type, so one command may address several
/// nodes of different formats.
#[must_use]
pub fn to_syncml(cmd: &JobCommand) -> Command {
    let items = || {
        cmd.items
            .iter()
            .map(|i| item(cmd.kind, i))
            .collect::<Vec<_>>()
    };
    let item_cmd = || ItemCmd {
        items: items(),
        ..ItemCmd::default()
    };
    let container = || Container {
        commands: cmd.children.iter().map(to_syncml).collect(),
        ..Container::default()
    };
    match cmd.kind {
        CommandKind::Get => Command::Get(item_cmd()),
        CommandKind::Replace => Command::Replace(item_cmd()),
        CommandKind::Add => Command::Add(item_cmd()),
        CommandKind::Delete => Command::Delete(item_cmd()),
        CommandKind::Copy => Command::Copy(item_cmd()),
        CommandKind::Exec => Command::Exec(Exec {
            items: items(),
            ..Exec::default()
        }),
        CommandKind::Atomic => Command::Atomic(container()),
        CommandKind::Sequence => Command::Sequence(container()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Vec<JobCommand> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn translates_every_command_type() {
        let job = parse(
            r#"[{"kind":"get","items":[{"path":"./DevInfo/Mod"}]},
                {"kind":"replace","items":[{"path":"./A","value":"v","format":"chr","type":"text/plain"}]},
                {"kind":"add","items":[{"path":"./N","value":"x","format":"node"}]},
                {"kind":"delete","items":[{"path":"./D"}]},
                {"kind":"exec","items":[{"path":"./E","value":"arg"}]},
                {"kind":"copy","items":[{"path":"./S","target":"./T"}]},
                {"kind":"atomic","children":[{"kind":"sequence","children":[{"kind":"get","items":[{"path":"./x"}]}]}]}]"#,
        );
        assert_eq!(count(&job), 9);
        let cmds: Vec<Command> = job.iter().map(to_syncml).collect();
        let names: Vec<&str> = cmds.iter().map(Command::name).collect();
        assert_eq!(
            names,
            ["Get", "Replace", "Add", "Delete", "Exec", "Copy", "Atomic"]
        );
        let Command::Replace(r) = &cmds[1] else {
            unreachable!()
        };
        let m = r.items[0].meta.as_ref().unwrap();
        assert_eq!(m.format.as_deref(), Some("chr"));
        assert_eq!(m.r#type.as_deref(), Some("text/plain"));
        assert_eq!(r.items[0].data.as_ref().unwrap().as_str(), Some("v"));
        assert_eq!(r.items[0].target.as_ref().unwrap().loc_uri, "./A");
        let Command::Add(a) = &cmds[2] else {
            unreachable!()
        };
        assert!(a.items[0].data.is_none(), "interior node has no data");
        let Command::Get(g) = &cmds[0] else {
            unreachable!()
        };
        assert!(g.items[0].data.is_none() && g.items[0].meta.is_none());
        let Command::Exec(e) = &cmds[4] else {
            unreachable!()
        };
        assert_eq!(e.items[0].data.as_ref().unwrap().as_str(), Some("arg"));
        let Command::Copy(c) = &cmds[5] else {
            unreachable!()
        };
        assert_eq!(c.items[0].target.as_ref().unwrap().loc_uri, "./T");
        assert_eq!(c.items[0].source.as_ref().unwrap().loc_uri, "./S");
        let Command::Atomic(at) = &cmds[6] else {
            unreachable!()
        };
        let Command::Sequence(seq) = &at.commands[0] else {
            unreachable!()
        };
        assert_eq!(seq.commands[0].name(), "Get");
    }
}
