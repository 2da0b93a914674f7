//! Scripted-peer tests: one real session against hand-made messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pair;

use dm_proto::{
    ClientEvent, CommandHandle, CommandRef, Error, ServerConfig, ServerEvent, ServerSession,
    Timestamp,
};
use pair::{Setup, get, has_alert, nonces};
use syncml::{AlertCode, Command, Data, Encoding, Item, ItemCmd, Limits, Location, Meta, SyncMl};

fn server() -> ServerSession {
    ServerSession::new(
        ServerConfig::new(pair::SERVER_URI),
        None,
        nonces(1),
        Timestamp::ZERO,
    )
}

/// Malformed bytes are an error for the driver (HTTP 400), not a SyncML answer.
#[test]
fn malformed_bytes_are_a_decode_error() {
    let mut s = server();
    let err = s
        .handle_bytes(Timestamp::ZERO, b"<SyncML><SyncHdr>", None)
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(s.poll_transmit(Timestamp::ZERO).is_none());
}

fn first_client_message(encoding: Encoding) -> (dm_proto::ClientSession, SyncMl) {
    let mut p = Setup::new(encoding).build();
    let t = p.client.poll_transmit(p.now).unwrap();
    let msg = encoding.decode(&t.bytes, &Limits::default()).unwrap();
    (p.client, msg)
}

/// A message of another session is refused.
#[test]
fn other_session_is_refused() {
    let mut s = server();
    s.queue(Command::Get(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri("./DevInfo/Man")),
            ..Item::default()
        }],
        ..ItemCmd::default()
    }));
    let (_, msg) = first_client_message(Encoding::Xml);
    s.handle_message(Timestamp::ZERO, msg.clone()).unwrap();
    let _ = s.poll_transmit(Timestamp::ZERO);
    let mut other = msg;
    other.hdr.session_id = "FFFF".into();
    assert!(matches!(
        s.handle_message(Timestamp::ZERO, other),
        Err(Error::SessionIdMismatch { .. })
    ));
}

/// A server message answering the device's Package 1 `pkg1`: its header turned around,
/// `MsgID` `msg_id`, the commands (CmdIDs set by the caller).
fn server_msg(pkg1: &SyncMl, msg_id: &str, commands: Vec<Command>, is_final: bool) -> SyncMl {
    let mut m = SyncMl {
        hdr: pkg1.hdr.clone(),
        ..SyncMl::default()
    };
    m.hdr.msg_id = msg_id.into();
    m.hdr.cred = None;
    std::mem::swap(&mut m.hdr.source, &mut m.hdr.target);
    m.body.commands = commands;
    m.body.is_final = is_final;
    m
}

/// A Get of `uri` with CmdID `id`.
fn get_with_id(id: &str, uri: &str) -> Command {
    let mut g = get(uri);
    g.set_cmd_id(id);
    g
}

/// A chunked Replace interrupted by another command: the device answers Alert 1225 naming the
/// object and executes nothing of it (digest §3.4).
#[test]
fn interrupted_large_object_gets_1225() {
    let (mut client, pkg1) = first_client_message(Encoding::Xml);
    let chunk = Command::Replace(ItemCmd {
        cmd_id: "2".into(),
        items: vec![Item {
            target: Some(Location::uri("./Vendor/Name")),
            meta: Some(Meta {
                size: Some("10".into()),
                ..Meta::default()
            }),
            data: Some(Data::from("abcde")),
            more_data: true,
            ..Item::default()
        }],
        ..ItemCmd::default()
    });
    let reply = server_msg(&pkg1, "1", vec![chunk], false);
    client
        .handle_message(Timestamp::ZERO, reply.clone())
        .unwrap();
    let t = client.poll_transmit(Timestamp::ZERO).unwrap();
    let answer = Encoding::Xml.decode(&t.bytes, &Limits::default()).unwrap();
    assert!(
        answer
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Status(s) if s.cmd_ref == "2" && s.code.0 == 213))
    );
    assert!(has_alert(&answer, AlertCode::NEXT_MESSAGE));

    // Next message: an unrelated Get instead of the rest of the object.
    let reply = server_msg(&pkg1, "2", vec![get_with_id("1", "./DevInfo/Man")], true);
    client.handle_message(Timestamp::ZERO, reply).unwrap();
    let Some(ClientEvent::Commands { commands, .. }) = client.poll_event() else {
        panic!()
    };
    assert_eq!(commands.len(), 1, "only the Get reaches the application");
    assert!(matches!(commands[0], Command::Get(_)));
    client.respond(Vec::new()).unwrap();
    let t = client.poll_transmit(Timestamp::ZERO).unwrap();
    let answer = Encoding::Xml.decode(&t.bytes, &Limits::default()).unwrap();
    let alert = answer
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Alert(a) if a.code == AlertCode::NO_END_OF_DATA => Some(a),
            _ => None,
        })
        .expect("Alert 1225");
    assert_eq!(
        alert.items[0].target.as_ref().unwrap().loc_uri,
        "./Vendor/Name"
    );
    // The unanswered Get got 500 from the session.
    assert!(
        answer
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Status(s) if s.cmd == "Get" && s.code.0 == 500))
    );
    assert!(client.ended().is_none());
}

/// A device message of session `1234` (the Pair's session id) to the server.
fn device_msg(msg_id: &str, commands: Vec<Command>, is_final: bool) -> SyncMl {
    let (_, pkg1) = first_client_message(Encoding::Xml);
    let mut m = SyncMl {
        hdr: pkg1.hdr,
        ..SyncMl::default()
    };
    m.hdr.msg_id = msg_id.into();
    m.hdr.cred = None;
    m.body.commands = commands;
    m.body.is_final = is_final;
    m
}

fn st(msg_ref: &str, cmd_ref: &str, cmd: &str, code: u16) -> Command {
    Command::Status(syncml::Status {
        cmd_id: "1".into(),
        msg_ref: msg_ref.into(),
        cmd_ref: cmd_ref.into(),
        cmd: cmd.into(),
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        code: syncml::StatusCode(code),
        items: Vec::new(),
    })
}

fn results(cmd_ref: &str, source: &str, data: &str, more: bool, size: Option<&str>) -> Command {
    Command::Results(syncml::Results {
        cmd_id: "3".into(),
        msg_ref: Some("1".into()),
        cmd_ref: cmd_ref.into(),
        items: vec![Item {
            source: Some(Location::uri(source)),
            meta: size.map(|s| Meta {
                size: Some(s.into()),
                ..Meta::default()
            }),
            data: Some(Data::from(data)),
            more_data: more,
            ..Item::default()
        }],
        ..syncml::Results::default()
    })
}

fn transmit(s: &mut ServerSession) -> SyncMl {
    let t = s.poll_transmit(Timestamp::ZERO).unwrap();
    Encoding::Xml.decode(&t.bytes, &Limits::default()).unwrap()
}

fn events(s: &mut ServerSession) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The CmdID the server gave the Get of `uri` in `m`.
fn get_id(m: &SyncMl, uri: &str) -> String {
    m.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Get(g) if g.items[0].target.as_ref().unwrap().loc_uri == uri => {
                Some(g.cmd_id.clone())
            }
            _ => None,
        })
        .unwrap()
}

/// Package 1 and Package 2 (the queued Gets); returns the server and Package 2.
fn server_with_gets(uris: &[&str]) -> (ServerSession, Vec<CommandHandle>, SyncMl) {
    let mut s = server();
    let handles = uris.iter().map(|u| s.queue(get(u))).collect();
    let (_, pkg1) = first_client_message(Encoding::Xml);
    s.handle_message(Timestamp::ZERO, pkg1).unwrap();
    let pkg2 = transmit(&mut s);
    (s, handles, pkg2)
}

fn alert_1225(m: &SyncMl) -> Option<&syncml::Alert> {
    m.body.commands.iter().find_map(|c| match c {
        Command::Alert(a) if a.code == AlertCode::NO_END_OF_DATA => Some(a),
        _ => None,
    })
}

fn statuses_of(evs: &[ServerEvent], h: CommandHandle) -> Vec<u16> {
    evs.iter()
        .filter_map(|e| match e {
            ServerEvent::Status { handle, code, .. } if *handle == h => Some(code.0),
            _ => None,
        })
        .collect()
}

fn results_for(evs: &[ServerEvent], h: CommandHandle) -> usize {
    evs.iter()
        .filter(|e| matches!(e, ServerEvent::Results { handle, .. } if *handle == h))
        .count()
}

/// The device's message 2: status 200 for the header and for the Get `big` of
/// `./Vendor/Big`, and the first 5 of 10 bytes of its Results.
fn first_chunk_of_big(big: &str) -> SyncMl {
    device_msg(
        "2",
        vec![
            st("1", "0", "SyncHdr", 200),
            st("1", big, "Get", 200),
            results(big, "./Vendor/Big", "abcde", true, Some("10")),
        ],
        false,
    )
}

/// The device starts chunked Results for one Get, then sends the Results of another Get
/// instead of the next chunk: the server answers Alert 1225 naming the object, reports the
/// first Get failed (500) and never reports its partial Results (digest §3.4).
#[test]
fn interrupted_results_from_the_device_get_1225() {
    let (mut s, h, pkg2) = server_with_gets(&["./Vendor/Big", "./DevInfo/Man"]);
    let (big, man) = (
        get_id(&pkg2, "./Vendor/Big"),
        get_id(&pkg2, "./DevInfo/Man"),
    );

    let first_chunk = first_chunk_of_big(&big);
    s.handle_message(Timestamp::ZERO, first_chunk).unwrap();
    let answer = transmit(&mut s);
    assert!(
        answer
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Status(x) if x.cmd == "Results" && x.code.0 == 213))
    );
    assert!(alert_1225(&answer).is_none());
    let evs = events(&mut s);
    assert_eq!(statuses_of(&evs, h[0]), [200]);

    // Not the next chunk: the other Get's Results, and the package ends.
    let other = device_msg(
        "3",
        vec![
            st("2", "0", "SyncHdr", 200),
            st("1", &man, "Get", 200),
            results(&man, "./DevInfo/Man", "Acme", false, None),
        ],
        true,
    );
    s.handle_message(Timestamp::ZERO, other).unwrap();
    let evs = events(&mut s);
    let answer = transmit(&mut s);
    let alert = alert_1225(&answer).expect("Alert 1225");
    assert_eq!(
        alert.items[0].source.as_ref().unwrap().loc_uri,
        "./Vendor/Big"
    );
    assert_eq!(statuses_of(&evs, h[0]), [500]);
    assert_eq!(results_for(&evs, h[0]), 0);
    assert_eq!(statuses_of(&evs, h[1]), [200]);
    assert_eq!(results_for(&evs, h[1]), 1);
}

/// Any other command (here a Generic Alert) interrupts the object as well, and so does the end
/// of the device's package.
#[test]
fn generic_alert_or_final_interrupts_results_too() {
    for by_alert in [true, false] {
        let (mut s, h, pkg2) = server_with_gets(&["./Vendor/Big"]);
        let big = get_id(&pkg2, "./Vendor/Big");
        let first_chunk = first_chunk_of_big(&big);
        s.handle_message(Timestamp::ZERO, first_chunk).unwrap();
        let _ = transmit(&mut s);
        let _ = events(&mut s);
        let mut cmds = vec![st("2", "0", "SyncHdr", 200)];
        if by_alert {
            cmds.push(
                dm_proto::GenericAlert::new(
                    dm_proto::AlertItem::new(
                        "urn:oma:at:oma-gwmo:deviceattached:1.0",
                        "chr",
                        Data::from("dev-1"),
                    )
                    .with_source("./Gw"),
                )
                .to_command(),
            );
            cmds.last_mut().unwrap().set_cmd_id("2");
        }
        s.handle_message(Timestamp::ZERO, device_msg("3", cmds, true))
            .unwrap();
        let evs = events(&mut s);
        let answer = transmit(&mut s);
        assert!(alert_1225(&answer).is_some(), "by_alert {by_alert}");
        assert_eq!(statuses_of(&evs, h[0]), [500], "by_alert {by_alert}");
        assert_eq!(results_for(&evs, h[0]), 0);
        assert_eq!(
            evs.iter()
                .filter(|e| matches!(e, ServerEvent::Alert(_)))
                .count(),
            usize::from(by_alert)
        );
    }
}

/// Decodes a client transmit.
fn decoded(t: &dm_proto::Transmit) -> SyncMl {
    Encoding::Xml.decode(&t.bytes, &Limits::default()).unwrap()
}

fn status_for(cmd_ref: &str, cmd: &str, code: u16) -> Command {
    // The builder above fills MsgRef "1"; answers leave it empty (the session fills it in).
    let mut s = st("", cmd_ref, cmd, code);
    s.set_cmd_id("");
    s
}

/// `(CmdRef, code)` of the Statuses in `m` for commands (not the header, not Alerts).
fn answered(m: &SyncMl) -> Vec<(String, u16)> {
    m.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd_ref != "0" && s.cmd != "Alert" => {
                Some((s.cmd_ref.clone(), s.code.0))
            }
            _ => None,
        })
        .collect()
}

/// `respond_to` checks the answers before taking any: an unknown command, a Status naming
/// another command, a second Status, a command that is not an answer are refused, and
/// nothing of a refused call goes to the server.
#[test]
fn respond_to_refuses_what_is_not_awaited() {
    let (mut client, pkg1) = first_client_message(Encoding::Xml);
    let cmds = vec![
        get_with_id("3", "./DevInfo/Man"),
        Command::Sequence(syncml::Container {
            cmd_id: "4".into(),
            commands: vec![get_with_id("5", "./DevInfo/Mod")],
            ..syncml::Container::default()
        }),
    ];
    client
        .handle_message(Timestamp::ZERO, server_msg(&pkg1, "1", cmds, true))
        .unwrap();
    let Some(ClientEvent::Commands { msg_id, commands }) = client.poll_event() else {
        panic!()
    };
    let man = CommandRef::new(&msg_id, &commands[0]);
    let seq = CommandRef::new(&msg_id, &commands[1]);
    let not_awaited = |m: &str, c: &str| Error::NotAwaited {
        msg_ref: m.into(),
        cmd_ref: c.into(),
    };
    let unknown = CommandRef {
        msg_ref: "1".into(),
        cmd_ref: "9".into(),
    };
    assert_eq!(
        client.respond_to(&unknown, vec![]),
        Err(not_awaited("1", "9"))
    );
    // The Sequence's child belongs to the Sequence, not to the Get.
    assert_eq!(
        client.respond_to(&man, vec![status_for("5", "Get", 200)]),
        Err(not_awaited("1", "5"))
    );
    // Another message's command.
    let mut other = status_for("3", "Get", 200);
    if let Command::Status(s) = &mut other {
        s.msg_ref = "7".into();
    }
    assert_eq!(
        client.respond_to(&man, vec![other]),
        Err(not_awaited("7", "3"))
    );
    assert_eq!(
        client.respond_to(
            &man,
            vec![status_for("3", "Get", 200), status_for("3", "Get", 404)]
        ),
        Err(not_awaited("1", "3"))
    );
    assert!(matches!(
        client.respond_to(&man, vec![get_with_id("1", "./X")]),
        Err(Error::Unexpected { .. })
    ));
    assert_eq!(
        client.unanswered(),
        [
            man.clone(),
            seq.clone(),
            CommandRef {
                msg_ref: "1".into(),
                cmd_ref: "5".into()
            }
        ]
    );
    // Nothing was taken: the hold is on, no message is due yet.
    assert!(client.poll_transmit(Timestamp::ZERO).is_none());

    // Valid answers: the child through the Sequence's reference, then the rest.
    client
        .respond_to(&seq, vec![status_for("5", "Get", 404)])
        .unwrap();
    client
        .respond_to(&man, vec![status_for("3", "Get", 404)])
        .unwrap();
    assert_eq!(
        client.respond_to(&man, vec![status_for("3", "Get", 200)]),
        Err(not_awaited("1", "3")),
        "already answered"
    );
    assert!(
        client.poll_transmit(Timestamp::ZERO).is_none(),
        "the Sequence is owed"
    );
    client
        .respond_to(&seq, vec![status_for("4", "Sequence", 200)])
        .unwrap();
    let m = decoded(&client.poll_transmit(Timestamp::ZERO).unwrap());
    assert_eq!(
        answered(&m),
        [("5".into(), 404), ("3".into(), 404), ("4".into(), 200)]
    );
    assert!(m.body.is_final);
    assert!(client.unanswered().is_empty());
}

/// While answers are owed the reply still goes at once when the server's package goes on (a
/// message without Final): it carries the ready answers and Alert 1222; the server's next
/// message brings more commands, and the package of answers closes with the last answer.
#[test]
fn reply_to_an_unfinished_server_package_goes_at_once() {
    let (mut client, pkg1) = first_client_message(Encoding::Xml);
    let first = vec![
        get_with_id("1", "./DevInfo/Man"),
        get_with_id("2", "./DevInfo/Mod"),
    ];
    client
        .handle_message(Timestamp::ZERO, server_msg(&pkg1, "1", first, false))
        .unwrap();
    let Some(ClientEvent::Commands { msg_id, commands }) = client.poll_event() else {
        panic!()
    };
    client
        .respond_to(
            &CommandRef::new(&msg_id, &commands[0]),
            vec![status_for("1", "Get", 404)],
        )
        .unwrap();
    let m = decoded(&client.poll_transmit(Timestamp::ZERO).expect("at once"));
    assert_eq!(answered(&m), [("1".into(), 404)]);
    assert!(!m.body.is_final);
    assert!(has_alert(&m, AlertCode::NEXT_MESSAGE));

    // The rest of the server's package; then a hold, then the answers.
    let second = vec![get_with_id("1", "./Vendor/Name")];
    client
        .handle_message(Timestamp::ZERO, server_msg(&pkg1, "2", second, true))
        .unwrap();
    let Some(ClientEvent::Commands {
        msg_id: m2,
        commands: c2,
    }) = client.poll_event()
    else {
        panic!()
    };
    assert_eq!(client.unanswered().len(), 2, "one of each message");
    assert!(client.poll_transmit(Timestamp::ZERO).is_none(), "held");
    let hold = client.poll_timeout().unwrap();
    assert_eq!(hold, Timestamp::ZERO + dm_proto::DEFAULT_ANSWER_HOLD);
    client
        .respond_to(
            &CommandRef::new(&m2, &c2[0]),
            vec![status_for("1", "Get", 404)],
        )
        .unwrap();
    client
        .respond_to(
            &CommandRef::new(&msg_id, &commands[1]),
            vec![status_for("2", "Get", 404)],
        )
        .unwrap();
    let m = decoded(&client.poll_transmit(Timestamp::ZERO).unwrap());
    let refs: Vec<(String, String)> = m
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd == "Get" => Some((s.msg_ref.clone(), s.cmd_ref.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refs, [("2".into(), "1".into()), ("1".into(), "2".into())]);
    assert!(m.body.is_final);
}

/// A server message with Final and no commands while answers are owed does not end the
/// session (the device's package is not complete); the hold and the deadline go on, and at
/// the deadline the owed command is answered 202.
#[test]
fn owed_answers_outlive_a_commandless_server_message() {
    let (mut client, pkg1) = first_client_message(Encoding::Xml);
    client
        .handle_message(
            Timestamp::ZERO,
            server_msg(&pkg1, "1", vec![get_with_id("1", "./DevInfo/Man")], true),
        )
        .unwrap();
    let _ = client.poll_event();
    let hold = client.poll_timeout().unwrap();
    assert!(client.poll_transmit(Timestamp::ZERO).is_none());
    client.handle_timeout(hold);
    let keep_alive = decoded(&client.poll_transmit(hold).unwrap());
    assert!(answered(&keep_alive).is_empty());
    assert!(!keep_alive.body.is_final);
    // The server answers with Final only (a wrong reply: our package is not complete).
    let mut empty = server_msg(&pkg1, "2", vec![st("2", "0", "SyncHdr", 200)], true);
    empty.body.commands[0].set_cmd_id("1");
    client.handle_message(hold, empty).unwrap();
    assert_eq!(client.ended(), None);
    // Keep-alives until the deadline, each answered the way a server asks for the next
    // message (header Status and Alert 1222, no Final); then 202.
    let mut now = hold;
    let mut msg_id = 3;
    let last = loop {
        let Some(t) = client.poll_transmit(now) else {
            now = client.poll_timeout().unwrap();
            client.handle_timeout(now);
            continue;
        };
        let m = decoded(&t);
        if m.body.is_final {
            break m;
        }
        assert!(answered(&m).is_empty());
        assert!(msg_id < 20, "bounded by the deadline");
        let mut next_message = next_message_alert();
        next_message.set_cmd_id("2");
        let mut hdr = st(&m.hdr.msg_id, "0", "SyncHdr", 200);
        hdr.set_cmd_id("1");
        let next = server_msg(&pkg1, &msg_id.to_string(), vec![hdr, next_message], false);
        client.handle_message(now, next).unwrap();
        msg_id += 1;
    };
    assert_eq!(answered(&last), [("1".into(), 202)]);
    assert_eq!(now, Timestamp::ZERO + dm_proto::DEFAULT_ANSWER_DEADLINE);
    let deferred =
        std::iter::from_fn(|| client.poll_event()).find(|e| matches!(e, ClientEvent::Deferred(_)));
    assert!(deferred.is_some());
}

/// Alert 1222 (next message), CmdID left empty.
fn next_message_alert() -> Command {
    Command::Alert(syncml::Alert {
        cmd_id: String::new(),
        no_resp: false,
        cred: None,
        code: AlertCode::NEXT_MESSAGE,
        correlator: None,
        items: Vec::new(),
    })
}
