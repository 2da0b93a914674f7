//! `ProxiedDevice`: a `CommandProvider` standing for a device behind a gateway in Proxy mode.
//! The device is a real `Tree`; a forwarded item becomes a DM command the device executes as
//! its DM client would (server id `gw`), now or, when deferring, when the test says the
//! device's session ran (`finish`).

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex, MutexGuard};

use dm_tree::{
    Answer, CommandProvider, ExecContext, Forwarded, ItemCommand, ItemOutcome, MountContext,
    Ticket, Timestamp, Tree,
};
use syncml::{Command, Exec, ItemCmd};

#[derive(Debug, Default)]
pub struct DeviceState {
    pub tree: Tree,
    /// Answer `Pending` where allowed (the device is reached in a later session).
    pub defer: bool,
    pub next_ticket: u64,
    pub queued: Vec<(Ticket, Command)>,
    /// Every command the device received, in order.
    pub received: Vec<Command>,
}

#[derive(Debug, Clone, Default)]
pub struct ProxiedDevice(Arc<Mutex<DeviceState>>);

impl ProxiedDevice {
    pub fn new(tree: Tree) -> ProxiedDevice {
        ProxiedDevice(Arc::new(Mutex::new(DeviceState {
            tree,
            ..DeviceState::default()
        })))
    }

    pub fn state(&self) -> MutexGuard<'_, DeviceState> {
        self.0.lock().unwrap()
    }

    /// The device runs the queued command `ticket` (its session with the gateway).
    pub fn finish(&self, ticket: Ticket) -> ItemOutcome {
        let mut s = self.state();
        let i = s.queued.iter().position(|(t, _)| *t == ticket).unwrap();
        let (_, cmd) = s.queued.remove(i);
        run(&mut s, &cmd)
    }
}

fn run(s: &mut DeviceState, cmd: &Command) -> ItemOutcome {
    s.received.push(cmd.clone());
    let ctx = ExecContext {
        server_id: "gw",
        msg_id: "1",
        now: Timestamp(5),
    };
    let replies = s.tree.execute(&ctx, cmd);
    let mut out = ItemOutcome::from(syncml::StatusCode::COMMAND_FAILED);
    for r in replies {
        match r {
            Command::Status(st) => {
                out.code = st.code;
                out.status_items = st.items;
            }
            Command::Results(res) => out.results = Some(res.items),
            _ => {}
        }
    }
    out
}

/// The DM command the gateway sends the device for a forwarded item.
pub fn command_for(f: &Forwarded<'_>) -> Command {
    let item_cmd = ItemCmd {
        cmd_id: "1".into(),
        meta: f.cmd_meta.cloned(),
        items: vec![f.provider_item()],
        ..ItemCmd::default()
    };
    match f.command {
        ItemCommand::Add => Command::Add(item_cmd),
        ItemCommand::Copy => Command::Copy(item_cmd),
        ItemCommand::Delete => Command::Delete(item_cmd),
        ItemCommand::Get => Command::Get(item_cmd),
        ItemCommand::Replace => Command::Replace(item_cmd),
        ItemCommand::Exec => Command::Exec(Exec {
            cmd_id: "1".into(),
            correlator: f.correlator.map(str::to_owned),
            meta: f.cmd_meta.cloned(),
            items: item_cmd.items,
            ..Exec::default()
        }),
    }
}

impl CommandProvider for ProxiedDevice {
    fn forward(&mut self, ctx: &MountContext<'_>, item: &Forwarded<'_>) -> Answer<ItemOutcome> {
        let cmd = command_for(item);
        let mut s = self.state();
        if s.defer && ctx.may_defer {
            s.next_ticket += 1;
            let t = Ticket(s.next_ticket);
            s.queued.push((t, cmd));
            return Answer::Pending(t);
        }
        Answer::Ready(run(&mut s, &cmd))
    }
}
