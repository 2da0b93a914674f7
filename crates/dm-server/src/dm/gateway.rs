//! The server's side of a DM gateway's session (docs/gateway.md §3, §5; seed 001 X.3, Y, Y').
//!
//! In: the jobs of End Devices behind a gateway in Proxy mode, the gateway's Generic Alerts
//! and the Statuses of the operations it was given. Out: Fanout operations (one SyncML
//! `Sequence` per job), the gateway's device reports as [`LinkReport`]s, and each device's
//! response fragment mapped onto its job's commands (per-command status, result items,
//! tree values), exactly as a direct session's answers are stored.
//!
//! A job travels as the operation `j<job id>`:
//!
//! ```text
//! Sequence
//!   Add  ./GwMO/Fanout/Operations/j<id>            Format node
//!   Add  ./GwMO/Fanout/Operations/j<id>/Targets    Format chr   Data <device id>
//!   Add  ./GwMO/Fanout/Operations/j<id>/Commands   Format xml   Data <the job's commands>
//!   Exec ./GwMO/Fanout/Operations/j<id>/Start      Correlator j<id>
//! ```
//!
//! The commands fragment numbers its commands 1..n in pre-order (containers before their
//! children), so the device's answer to CmdID `k` is the job's command of index `k - 1`. A job
//! sent again (its earlier gateway session ended unanswered) is preceded by a `Delete` of the
//! operation: the gateway may still hold the earlier attempt.

use std::collections::BTreeMap;

use dm_store::{
    CommandResult, DeviceKind, JobCommand, JobId, LinkMode, LinkReport, ResultItem, TreeValue,
};
use gwmo::inventory::{Address, Kind, Presence};
use gwmo::layout;
use gwmo::mode::Mode;
use gwmo::payload::{AlertPayload, DeviceResponse};
use syncml::{Alert, AlertCode, Command, Container, Exec, Item, ItemCmd, Limits, Location, Meta};

use super::session::{result_item, status_items};
use crate::commands;

/// The Fanout operation id of a job: `j<id>`.
pub(crate) fn operation_id(job: JobId) -> String {
    format!("j{job}")
}

/// The job an operation id names (`j` and decimal digits only).
pub(crate) fn job_of_operation(op: &str) -> Option<JobId> {
    let digits = op.strip_prefix('j')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The job's commands as a command fragment with CmdIDs 1..n in pre-order.
pub(crate) fn command_fragment(commands: &[JobCommand]) -> Vec<Command> {
    fn number(cmd: &mut Command, next: &mut u32) {
        cmd.set_cmd_id(next.to_string());
        *next += 1;
        if let Command::Atomic(c) | Command::Sequence(c) = cmd {
            for child in &mut c.commands {
                number(child, next);
            }
        }
    }
    let mut next = 1;
    commands
        .iter()
        .map(|c| {
            let mut cmd = commands::to_syncml(c);
            number(&mut cmd, &mut next);
            cmd
        })
        .collect()
}

fn item(uri: String, format: &str, data: Option<syncml::Data>) -> Item {
    Item {
        target: Some(Location::uri(uri)),
        meta: Some(Meta {
            format: Some(format.to_owned()),
            ..Meta::default()
        }),
        data,
        ..Item::default()
    }
}

fn add(item: Item) -> Command {
    Command::Add(ItemCmd {
        items: vec![item],
        ..ItemCmd::default()
    })
}

/// The Fanout operation that carries job `id` of `device` (see the module docs).
pub(crate) fn fanout_sequence(id: JobId, device: &str, commands: &[JobCommand]) -> Command {
    let op = operation_id(id);
    let base = layout::operation_uri(&op);
    let fragment = gwmo::payload::encode_fragment(&command_fragment(commands));
    Command::Sequence(Container {
        commands: vec![
            add(item(base.clone(), "node", None)),
            add(item(
                format!("{base}/Targets"),
                "chr",
                Some(syncml::Data::Text(device.to_owned())),
            )),
            add(item(format!("{base}/Commands"), "xml", Some(fragment))),
            Command::Exec(Exec {
                correlator: Some(op),
                items: vec![Item {
                    target: Some(Location::uri(format!("{base}/Start"))),
                    ..Item::default()
                }],
                ..Exec::default()
            }),
        ],
        ..Container::default()
    })
}

/// Position of the `Start` Exec in [`fanout_sequence`].
pub(crate) const START_INDEX: usize = 3;

/// The names of the commands of [`fanout_sequence`], by position (for error texts).
pub(crate) fn sequence_step(index: usize) -> &'static str {
    match index {
        0 => "Add of the operation",
        1 => "Add of its Targets",
        2 => "Add of its Commands",
        START_INDEX => "Exec of its Start",
        _ => "Sequence",
    }
}

/// The `Delete` of job `id`'s operation, sent before a re-sent job's Sequence.
pub(crate) fn fanout_cancel(id: JobId) -> Command {
    Command::Delete(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(layout::operation_uri(&operation_id(id)))),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

/// What the server takes from one Generic Alert of a gateway.
#[derive(Debug, Default)]
pub(crate) struct GatewayAlert {
    /// `deviceattached` / `devicedetached` items (GwMO-DI-004).
    pub(crate) reports: Vec<LinkReport>,
    /// `completionstatus` items (Y'), with the alert's Correlator.
    pub(crate) responses: Vec<DeviceResponse>,
    /// `resultaggregation` items (GwMO-FORA-002): a fanout's progress or consolidated response.
    pub(crate) aggregates: Vec<gwmo::fanout::Aggregate>,
    /// `imageready` items (GwMO-DCIS-001, B.8).
    pub(crate) images: Vec<gwmo::payload::ImageReady>,
}

fn link_mode(m: Mode) -> LinkMode {
    match m {
        Mode::Proxy => LinkMode::Proxy,
        Mode::Transparent => LinkMode::Transparent,
        Mode::Adaptation => LinkMode::Adaptation,
    }
}

/// A gwmo inventory address as a notification address (`udp:HOST:PORT`, the URL).
pub(crate) fn notify_address(a: &Address) -> String {
    match a {
        Address::Udp(hp) => format!("udp:{hp}"),
        Address::Http(url) => url.clone(),
    }
}

/// Reads the GwMO items of a Generic Alert, item by item (an item of another type, or one
/// that does not decode, is skipped: the alert is still stored as an event). A
/// `completionstatus` item counts only when the alert's Correlator, if any, names its
/// operation.
pub(crate) fn read_alert(alert: &Alert, limits: &Limits) -> GatewayAlert {
    let mut out = GatewayAlert::default();
    if alert.code != AlertCode::GENERIC_ALERT {
        return out;
    }
    for item in &alert.items {
        let one = Alert {
            items: vec![item.clone()],
            ..alert.clone()
        };
        let Ok(payloads) = gwmo::payload::read_generic_alert(&one, limits) else {
            continue;
        };
        for p in payloads {
            match p {
                AlertPayload::Device(r) => out.reports.push(LinkReport {
                    device_id: r.id,
                    kind: match r.kind {
                        Kind::Gateway => DeviceKind::Gateway,
                        _ => DeviceKind::Device,
                    },
                    mode: link_mode(r.mode),
                    attached: r.presence == Presence::Attached,
                    addresses: r.addresses.iter().map(notify_address).collect(),
                    devinfo: [
                        ("Man", r.dev_info.man),
                        ("Mod", r.dev_info.model),
                        ("DmV", r.dev_info.dm_v),
                        ("Lang", r.dev_info.lang),
                    ]
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                }),
                AlertPayload::Response(r)
                    if alert.correlator.as_ref().is_none_or(|c| *c == r.op) =>
                {
                    out.responses.push(r);
                }
                AlertPayload::Aggregate(a) => out.aggregates.push(*a),
                AlertPayload::ImageReady(r) => out.images.push(r),
                _ => {}
            }
        }
    }
    out
}

/// The response item of `device` for operation `op` among a `Start` Exec's Status items
/// (the aggregate item and other targets' items are skipped).
pub(crate) fn response_in(
    items: &[Item],
    op: &str,
    device: &str,
    limits: &Limits,
) -> Option<Vec<Command>> {
    items.iter().enumerate().find_map(|(i, item)| {
        let r = gwmo::payload::read_response_item(i, item, limits).ok()?;
        (r.op == op && r.device == device).then_some(r.commands)
    })
}

/// A device's answers mapped onto its job.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    /// Per pre-order index.
    pub(crate) results: BTreeMap<u32, CommandResult>,
    /// Tree values of its Results (stored under the End Device).
    pub(crate) values: Vec<TreeValue>,
}

/// Maps a response fragment (Statuses and Results whose CmdRefs point into the command
/// fragment of [`command_fragment`]) onto the job's pre-order indexes. A container whose
/// status is not 2xx gives its code to the commands in it that have none (a gateway that
/// answers for an unreachable device, 404 or 504, answers the top-level commands only).
pub(crate) fn map_response(commands: &[JobCommand], response: &[Command], now: i64) -> Answers {
    let total = u32::try_from(commands::count(commands)).unwrap_or(0);
    let index = |cmd_ref: &str| -> Option<u32> {
        let k: u32 = cmd_ref.trim().parse().ok()?;
        (1..=total).contains(&k).then(|| k - 1)
    };
    let mut out = Answers::default();
    for c in response {
        match c {
            Command::Status(s) => {
                let Some(i) = index(&s.cmd_ref) else { continue };
                let r = entry(&mut out.results, i, now);
                r.status = s.code.0;
                r.items.extend(status_items(s));
            }
            Command::Results(res) => {
                let Some(i) = index(&res.cmd_ref) else {
                    continue;
                };
                let items: Vec<ResultItem> = res
                    .items
                    .iter()
                    .map(|it| result_item(it, res.meta.as_ref()))
                    .collect();
                for it in &items {
                    out.values.push(TreeValue {
                        path: it.path.clone(),
                        format: it.format.clone(),
                        mime_type: it.mime_type.clone(),
                        value: it.data.clone(),
                        updated_at: now,
                    });
                }
                entry(&mut out.results, i, now).items.extend(items);
            }
            _ => {}
        }
    }
    inherit(commands, 0, None, &mut out.results, now);
    out
}

fn entry(results: &mut BTreeMap<u32, CommandResult>, i: u32, now: i64) -> &mut CommandResult {
    results.entry(i).or_insert_with(|| CommandResult {
        index: i,
        cmd_id: Some(i + 1),
        completed_at: now,
        ..CommandResult::default()
    })
}

/// Gives commands without a status the failing code of the container they are in; returns
/// the index after the last command walked.
fn inherit(
    commands: &[JobCommand],
    mut index: u32,
    failed: Option<u16>,
    results: &mut BTreeMap<u32, CommandResult>,
    now: i64,
) -> u32 {
    for c in commands {
        let own = results.get(&index).map(|r| r.status).filter(|s| *s != 0);
        if own.is_none()
            && let Some(code) = failed
        {
            entry(results, index, now).status = code;
        }
        let code = own.or(failed).filter(|s| !(200..300).contains(s));
        index = inherit(&c.children, index + 1, code, results, now);
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncml::{Results, Status, StatusCode};

    fn job(json: &str) -> Vec<JobCommand> {
        serde_json::from_str(json).unwrap()
    }

    fn status(cmd_ref: &str, code: u16) -> Command {
        Command::Status(Status {
            cmd_id: "9".into(),
            msg_ref: String::new(),
            cmd_ref: cmd_ref.into(),
            cmd: "Get".into(),
            target_refs: vec![],
            source_refs: vec![],
            cred: None,
            chal: None,
            code: StatusCode(code),
            items: vec![],
        })
    }

    #[test]
    fn operation_ids() {
        assert_eq!(operation_id(42), "j42");
        assert_eq!(job_of_operation("j42"), Some(42));
        for bad in ["", "j", "42", "j4x", "J42", "j-1", "j+1"] {
            assert_eq!(job_of_operation(bad), None, "{bad}");
        }
    }

    /// docs/gateway.md §5: the fragment's CmdIDs are 1..n in pre-order, URIs the device's.
    #[test]
    fn gwmo_pmode_001_fragment_numbers_commands_in_preorder() {
        let cmds = job(r#"[{"kind":"get","items":[{"path":"./DevInfo/Mod"}]},
                {"kind":"atomic","children":[{"kind":"replace","items":[{"path":"./A","value":"1"}]},
                                              {"kind":"delete","items":[{"path":"./B"}]}]}]"#);
        let f = command_fragment(&cmds);
        assert_eq!(f[0].cmd_id(), "1");
        assert_eq!(f[1].cmd_id(), "2");
        let Command::Atomic(a) = &f[1] else { panic!() };
        assert_eq!(a.commands[0].cmd_id(), "3");
        assert_eq!(a.commands[1].cmd_id(), "4");
        let Command::Sequence(seq) = fanout_sequence(7, "IMEI:1", &cmds) else {
            panic!()
        };
        let names: Vec<&str> = seq.commands.iter().map(Command::name).collect();
        assert_eq!(names, ["Add", "Add", "Add", "Exec"]);
        let Command::Add(c) = &seq.commands[2] else {
            panic!()
        };
        assert_eq!(
            c.items[0].target.as_ref().unwrap().loc_uri,
            "./GwMO/Fanout/Operations/j7/Commands"
        );
        let back =
            gwmo::payload::decode_commands(c.items[0].data.as_ref().unwrap(), &Limits::default())
                .unwrap();
        assert_eq!(back, f);
        let Command::Exec(e) = &seq.commands[START_INDEX] else {
            panic!()
        };
        assert_eq!(e.correlator.as_deref(), Some("j7"));
    }

    #[test]
    fn responses_map_onto_preorder_indexes_and_containers_give_failures() {
        let cmds = job(r#"[{"kind":"get","items":[{"path":"./DevInfo/Mod"}]},
                {"kind":"atomic","children":[{"kind":"replace","items":[{"path":"./A","value":"1"}]}]}]"#);
        let results = Command::Results(Results {
            cmd_ref: "1".into(),
            items: vec![Item {
                source: Some(Location::uri("./DevInfo/Mod")),
                data: Some("X1".into()),
                ..Item::default()
            }],
            ..Results::default()
        });
        let a = map_response(
            &cmds,
            &[
                status("1", 200),
                results,
                status("2", 504),
                status("77", 200),
            ],
            5,
        );
        let got: Vec<(u32, u16)> = a.results.values().map(|r| (r.index, r.status)).collect();
        assert_eq!(got, [(0, 200), (1, 504), (2, 504)]);
        assert_eq!(a.results[&0].items[0].data, b"X1");
        assert_eq!(a.values[0].path, "./DevInfo/Mod");
        // A successful container gives nothing to a child without a status.
        let a = map_response(&cmds, &[status("2", 200)], 5);
        assert_eq!(a.results.get(&2), None);
    }
}
