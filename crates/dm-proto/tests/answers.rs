//! Answers as they finish: a real ServerSession against a real ClientSession whose device
//! answers each command on its own after a simulated delay (a proxied device's session, seed
//! 001 flows Y and Y'). Every message is encoded and decoded on every hop (XML and WBXML); the
//! server's idle timer runs in the same simulated time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pair;

use std::time::Duration;

use dm_proto::{
    AlertItem, ClientEvent, CommandHandle, CommandRef, Error, GenericAlert, ServerEvent,
    SessionEnd, Timestamp,
};
use pair::{
    Dir, NEVER, Pair, Setup, add, big_text, both, get, has_alert, pair_len, replace, results_of,
    status_of, text,
};
use syncml::{AlertCode, Command, Container, Data, Encoding, Exec, StatusCode};

const SEC: Duration = Duration::from_secs(1);

/// The device answers a command on `uri` after `delay`, every other command at once.
fn delays(table: &[(&str, Duration)]) -> pair::AnswerDelay {
    let table: Vec<(String, Duration)> = table.iter().map(|(u, d)| ((*u).to_owned(), *d)).collect();
    Box::new(move |cmd| {
        let uri = target_of(cmd)?;
        table.iter().find(|(u, _)| *u == uri).map(|(_, d)| *d)
    })
}

fn target_of(cmd: &Command) -> Option<String> {
    let items = match cmd {
        Command::Get(c) | Command::Replace(c) | Command::Add(c) => &c.items,
        Command::Exec(e) => &e.items,
        _ => return None,
    };
    items
        .first()
        .and_then(|i| i.target.as_ref())
        .map(|l| l.loc_uri.clone())
}

fn setup(encoding: Encoding, hold: Duration) -> Setup {
    let mut s = Setup::new(encoding);
    s.client.answer_hold = hold;
    s
}

/// The server's Package 2 (its first message with commands).
fn package2(p: &Pair) -> &syncml::SyncMl {
    p.messages(Dir::ToClient).next().unwrap()
}

/// The reference of the command on `uri` in server message `m` (nested ones included).
fn ref_of(m: &syncml::SyncMl, uri: &str) -> CommandRef {
    fn find<'a>(cmds: &'a [Command], uri: &str) -> Option<&'a Command> {
        cmds.iter().find_map(|c| match c {
            Command::Atomic(k) | Command::Sequence(k) => find(&k.commands, uri),
            other => (target_of(other).as_deref() == Some(uri)).then_some(other),
        })
    }
    let cmd = find(&m.body.commands, uri).expect("command in the message");
    CommandRef::new(&m.hdr.msg_id, cmd)
}

/// `(Cmd, CmdRef)` of every Status (not for the header) in client message `i`.
fn statuses_in(p: &Pair, i: usize) -> Vec<(String, String)> {
    p.messages(Dir::ToServer)
        .nth(i)
        .unwrap()
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd_ref != "0" && s.cmd != "Alert" => {
                Some((s.cmd.clone(), s.cmd_ref.clone()))
            }
            _ => None,
        })
        .collect()
}

fn is_final(p: &Pair, dir: Dir, i: usize) -> bool {
    p.messages(dir).nth(i).unwrap().body.is_final
}

/// Time from the server's Package 2 to client message `i`.
fn after_package2(p: &Pair, i: usize) -> Duration {
    let t0 = p.time_of(Dir::ToClient, 0);
    p.time_of(Dir::ToServer, i).since_epoch() - t0.since_epoch()
}

fn ok_results(p: &Pair, h: CommandHandle) -> Vec<String> {
    assert_eq!(status_of(p, h), vec![(vec![], StatusCode::OK)]);
    results_of(p, h).iter().map(text).collect()
}

// ------------------------------------------------------------------------------------------

/// Three Gets answered in another order than they came, all within the hold: the whole
/// Package 3 goes once, when the last answer is in, with the answers in the order they
/// finished; the server matches each to its Get.
fn answers_out_of_order(encoding: Encoding) {
    let mut p = setup(encoding, 10 * SEC).build();
    let h_man = p.server.queue(get("./DevInfo/Man"));
    let h_mod = p.server.queue(get("./DevInfo/Mod"));
    let h_name = p.server.queue(get("./Vendor/Name"));
    p.answer_delay = Some(delays(&[
        ("./DevInfo/Man", 3 * SEC),
        ("./DevInfo/Mod", SEC),
        ("./Vendor/Name", 2 * SEC),
    ]));
    p.run();

    assert_eq!(ok_results(&p, h_man), ["Acme"]);
    assert_eq!(ok_results(&p, h_mod), ["Gw-1"]);
    assert_eq!(ok_results(&p, h_name), ["old"]);
    assert_eq!(p.client_msgs, 2, "Package 1 and one Package 3");
    assert!(is_final(&p, Dir::ToServer, 1));
    let pkg2 = package2(&p);
    let order: Vec<String> = ["./DevInfo/Mod", "./Vendor/Name", "./DevInfo/Man"]
        .iter()
        .map(|u| ref_of(pkg2, u).cmd_ref)
        .collect();
    let sent: Vec<String> = statuses_in(&p, 1).into_iter().map(|(_, r)| r).collect();
    assert_eq!(sent, order, "in the order they finished");
    let waited = after_package2(&p, 1);
    assert!(waited >= 3 * SEC && waited < 4 * SEC, "{waited:?}");
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
}

both!(answers_out_of_order, answers_out_of_order);

/// One slow answer (12 s) while the others are ready, a 5 s hold and a server that gives up
/// after 8 s of silence (seed 001 Y.3/Y.4: the gateway returns the device's responses in the
/// same server session): the ready answers go at 5 s in a message without Final, a keep-alive
/// at 10 s, the slow answer at 12 s with Final. The server never times out.
fn one_slow_answer(encoding: Encoding) {
    let mut s = setup(encoding, 5 * SEC);
    s.server.idle_timeout = 8 * SEC;
    let mut p = s.build();
    let h_man = p.server.queue(get("./DevInfo/Man"));
    let h_mod = p.server.queue(get("./DevInfo/Mod"));
    let h_slow = p.server.queue(get("./Vendor/Name"));
    p.answer_delay = Some(delays(&[("./Vendor/Name", 12 * SEC)]));
    p.run();

    assert_eq!(ok_results(&p, h_man), ["Acme"]);
    assert_eq!(ok_results(&p, h_mod), ["Gw-1"]);
    assert_eq!(ok_results(&p, h_slow), ["old"]);
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));

    let pkg2 = package2(&p);
    let (man, md, slow) = (
        ref_of(pkg2, "./DevInfo/Man").cmd_ref,
        ref_of(pkg2, "./DevInfo/Mod").cmd_ref,
        ref_of(pkg2, "./Vendor/Name").cmd_ref,
    );
    assert_eq!(
        p.client_msgs, 4,
        "Package 1, the ready answers, a keep-alive, the slow one"
    );
    let refs = |i| -> Vec<String> { statuses_in(&p, i).into_iter().map(|(_, r)| r).collect() };
    assert_eq!(refs(1), [man, md]);
    assert!(!is_final(&p, Dir::ToServer, 1));
    assert!(refs(2).is_empty(), "a keep-alive");
    assert!(!is_final(&p, Dir::ToServer, 2));
    assert_eq!(refs(3), [slow]);
    assert!(is_final(&p, Dir::ToServer, 3));
    // The server asked for the rest of our package each time.
    for i in [1, 2] {
        assert!(has_alert(
            p.messages(Dir::ToClient).nth(i).unwrap(),
            AlertCode::NEXT_MESSAGE
        ));
        assert!(!is_final(&p, Dir::ToClient, i));
    }
    // Our package does not ask for the server's next message: its package is complete.
    for i in 1..4 {
        assert!(!has_alert(
            p.messages(Dir::ToServer).nth(i).unwrap(),
            AlertCode::NEXT_MESSAGE
        ));
    }
    let at = |i| after_package2(&p, i);
    assert!(at(1) >= 5 * SEC && at(1) < 6 * SEC, "{:?}", at(1));
    assert!(at(2) >= 10 * SEC && at(2) < 11 * SEC, "{:?}", at(2));
    assert!(at(3) >= 12 * SEC && at(3) < 13 * SEC, "{:?}", at(3));
    // The server had the ready Results before the slow one.
    let pos = |h| {
        p.server_events
            .iter()
            .position(|e| matches!(e, ServerEvent::Results { handle, .. } if *handle == h))
            .unwrap()
    };
    assert!(pos(h_man) < pos(h_slow) && pos(h_mod) < pos(h_slow));
}

both!(one_slow_answer, one_slow_answer);

/// The same slow answer with a hold longer than the server's patience: the server times out
/// before the first message of answers. (Why `answer_hold` must stay under the server's idle
/// timeout; and a check that the harness's server clock really runs.)
fn hold_beyond_server_patience(encoding: Encoding) {
    let mut s = setup(encoding, 10 * SEC);
    s.server.idle_timeout = 8 * SEC;
    let mut p = s.build();
    let h = p.server.queue(get("./Vendor/Name"));
    p.server.queue(get("./DevInfo/Man"));
    p.answer_delay = Some(delays(&[("./Vendor/Name", 12 * SEC)]));
    p.run();
    assert_eq!(p.server_end(), Some(SessionEnd::TimedOut));
    assert!(results_of(&p, h).is_empty());
}

both!(hold_beyond_server_patience, hold_beyond_server_patience);

/// An Exec whose work outlasts the answer deadline (seed 001 Y': the device is slow): the
/// session answers it 202 at the deadline (digest §3.5: long tasks return quickly, the outcome
/// follows by Generic Alert with the Exec's Correlator) and reports it Deferred. The answer
/// arriving later is refused (`NotAwaited`); the application reports it by Generic Alert,
/// here in the same session (Y'.5: "re-use the old session"), which the server's next
/// package keeps open.
fn answer_after_deadline_same_session(encoding: Encoding) {
    let mut tree = pair::device_tree();
    tree.register_exec(
        "./Vendor/Name",
        Box::new(|_r: &dm_tree::ExecRequest<'_>| dm_tree::ExecOutcome {
            code: StatusCode::OK,
            data: Some(Data::from("done")),
        }),
    )
    .unwrap();
    let mut s = setup(encoding, 5 * SEC);
    s.client.answer_deadline = 30 * SEC;
    let mut p = s.build_with_tree(tree);
    let h_exec = p.server.queue(Command::Exec(Exec {
        correlator: Some("job-9".into()),
        items: vec![pair::item_target("./Vendor/Name", None)],
        ..Exec::default()
    }));
    let h_man = p.server.queue(get("./DevInfo/Man"));
    // When the 202 arrives, the server has one more command (a second package).
    let mut queued = None;
    let later = std::rc::Rc::new(std::cell::Cell::new(None));
    let later_in = later.clone();
    p.script = Some(Box::new(move |evs, server| {
        let accepted = evs.iter().any(|e| {
            matches!(e, ServerEvent::Status { handle, code, .. }
                if *handle == h_exec && *code == StatusCode::ACCEPTED)
        });
        if accepted && queued.is_none() {
            queued = Some(());
            later_in.set(Some(server.queue(get("./DevInfo/Mod"))));
        }
    }));
    // The Exec finishes at 33 s, the second package's Get takes 10 s.
    p.answer_delay = Some(delays(&[
        ("./Vendor/Name", 33 * SEC),
        ("./DevInfo/Mod", 10 * SEC),
    ]));
    let t0 = p.now;
    p.stop_at = Some(t0 + 34 * SEC);
    p.run();

    // At the deadline: 202, reported.
    assert_eq!(status_of(&p, h_exec), vec![(vec![], StatusCode::ACCEPTED)]);
    assert_eq!(ok_results(&p, h_man), ["Acme"]);
    let exec_ref = ref_of(package2(&p), "./Vendor/Name");
    let deferred = p.client_events_where(|e| match e {
        ClientEvent::Deferred(refs) => Some(refs.clone()),
        _ => None,
    });
    assert_eq!(deferred, [vec![exec_ref.clone()]]);
    // The late answer is refused, nothing of it sent.
    assert_eq!(p.refused_answers.len(), 1);
    let (r, late, err) = &p.refused_answers[0];
    assert_eq!(r, &exec_ref);
    assert_eq!(
        err,
        &Error::NotAwaited {
            msg_ref: exec_ref.msg_ref.clone(),
            cmd_ref: exec_ref.cmd_ref.clone()
        }
    );
    assert_eq!(
        p.client.ended(),
        None,
        "the second package is being answered"
    );
    // The application reports the outcome by Generic Alert with the Exec's Correlator.
    let outcome = match &late[0] {
        Command::Status(s) => (s.code, s.items[0].data.clone().unwrap()),
        other => panic!("{other:?}"),
    };
    assert_eq!(outcome.0, StatusCode::OK);
    p.client.queue_generic_alert(
        &GenericAlert::new(
            AlertItem::new("urn:oma:at:oma-gwmo:completionstatus:1.0", "chr", outcome.1)
                .with_source("./Vendor/Name"),
        )
        .with_correlator("job-9"),
    );
    p.stop_at = None;
    p.run();

    let alert = p
        .generic_alerts()
        .pop()
        .expect("the Generic Alert reached the server in the same session");
    assert_eq!(alert.correlator.as_deref(), Some("job-9"));
    assert_eq!(text(alert.items[0].data.as_ref().unwrap()), "done");
    assert_eq!(ok_results(&p, later.get().unwrap()), ["Gw-1"]);
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
    // The Exec's status went once: the 202.
    let exec_statuses = p
        .messages(Dir::ToServer)
        .flat_map(|m| m.body.commands.iter())
        .filter(|c| matches!(c, Command::Status(s) if s.cmd == "Exec"))
        .count();
    assert_eq!(exec_statuses, 1);
}

both!(
    answer_after_deadline_same_session,
    answer_after_deadline_same_session
);

/// Seed 001 Y': the device never answers in time; the session answers 202 and ends normally;
/// the outcome, known after the end, is refused by the ended session and goes by Generic
/// Alert in a new session, with the Exec's Correlator.
fn deferred_exec_reported_in_new_session(encoding: Encoding) {
    let mut s = setup(encoding, 5 * SEC);
    s.client.answer_deadline = 30 * SEC;
    let mut p = s.build();
    let h = p.server.queue(Command::Exec(Exec {
        correlator: Some("job-10".into()),
        items: vec![pair::item_target("./Vendor/Name", None)],
        ..Exec::default()
    }));
    p.answer_delay = Some(delays(&[("./Vendor/Name", NEVER)]));
    p.run();
    assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::ACCEPTED)]);
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    let waited = after_package2(&p, 1 + 5);
    assert!(waited >= 30 * SEC && waited < 31 * SEC, "{waited:?}");
    let exec_ref = ref_of(package2(&p), "./Vendor/Name");
    let late = p.client.respond_to(&exec_ref, Vec::new());
    assert_eq!(late, Err(Error::SessionEnded));

    let mut s2 = Setup::new(encoding);
    s2.session_id = 0x1235;
    let mut p2 = s2.build();
    p2.client.queue_generic_alert(
        &GenericAlert::new(AlertItem::new(
            "urn:oma:at:oma-gwmo:completionstatus:1.0",
            "int",
            Data::from("200"),
        ))
        .with_correlator("job-10"),
    );
    p2.run();
    let alert = p2.generic_alerts().pop().unwrap();
    assert_eq!(alert.correlator.as_deref(), Some("job-10"));
    assert_eq!(p2.server_end(), Some(SessionEnd::Completed));
}

both!(
    deferred_exec_reported_in_new_session,
    deferred_exec_reported_in_new_session
);

/// The session is aborted (by the device, then by the server) while answers are owed: nothing
/// panics, the answers ready go with the abort, and the application learns which commands the
/// server never got an answer to (`Unanswered`, just before `Ended`); answering afterwards is
/// refused.
fn aborted_with_answers_pending(encoding: Encoding) {
    for device_aborts in [true, false] {
        let mut p = setup(encoding, 5 * SEC).build();
        p.server.queue(get("./DevInfo/Man"));
        p.server.queue(get("./DevInfo/Mod"));
        p.server.queue(Command::Sequence(Container {
            commands: vec![get("./DevInfo/Lang"), get("./Vendor/Name")],
            ..Container::default()
        }));
        p.answer_delay = Some(delays(&[
            ("./DevInfo/Mod", NEVER),
            ("./Vendor/Name", NEVER),
            ("./DevInfo/Lang", 6 * SEC),
        ]));
        let t0 = p.now;
        if device_aborts {
            // Stop after the first message of answers and the Lang answer.
            p.stop_at = Some(t0 + 7 * SEC);
        } else {
            p.script = Some(Box::new(|evs, server| {
                if evs.iter().any(|e| matches!(e, ServerEvent::Results { .. })) {
                    server.abort();
                }
            }));
        }
        p.run();
        if device_aborts {
            assert_eq!(p.client.ended(), None);
            p.client.abort();
            p.stop_at = None;
            p.run();
        }
        let pkg2 = package2(&p);
        let (mod_ref, seq, name_ref) = (
            ref_of(pkg2, "./DevInfo/Mod"),
            CommandRef {
                msg_ref: pkg2.hdr.msg_id.clone(),
                cmd_ref: pkg2
                    .body
                    .commands
                    .iter()
                    .find_map(|c| match c {
                        Command::Sequence(k) => Some(k.cmd_id.clone()),
                        _ => None,
                    })
                    .unwrap(),
            },
            ref_of(pkg2, "./Vendor/Name"),
        );
        let what = if device_aborts { "device" } else { "server" };
        let end = SessionEnd::Aborted {
            by_peer: !device_aborts,
        };
        assert_eq!(p.client_end(), Some(end), "{what}");
        let n = p.client_events.len();
        assert_eq!(p.client_events[n - 1], ClientEvent::Ended(end), "{what}");
        let ClientEvent::Unanswered(never) = &p.client_events[n - 2] else {
            panic!("{what}: {:?}", p.client_events[n - 2]);
        };
        if device_aborts {
            // Lang was answered before the abort, the rest never.
            assert_eq!(never, &vec![mod_ref.clone(), seq, name_ref], "{what}");
            let abort_msg = p.messages(Dir::ToServer).last().unwrap();
            assert!(abort_msg.body.is_final);
            assert!(has_alert(abort_msg, AlertCode::SESSION_ABORT));
            assert_eq!(p.server_end(), Some(SessionEnd::Aborted { by_peer: true }));
        } else {
            assert_eq!(never.len(), 4, "{what}: {never:?}");
            assert!(never.contains(&mod_ref));
        }
        assert_eq!(
            p.client.respond_to(&mod_ref, Vec::new()),
            Err(Error::SessionEnded)
        );
        assert!(p.client.unanswered().is_empty());
        assert!(p.client.poll_timeout().is_none());
    }
}

both!(aborted_with_answers_pending, aborted_with_answers_pending);

/// Commands inside a Sequence and an Atomic answered one by one: the Sequence's children go as
/// they finish; the Atomic's answers are held until the Atomic itself is answered and then go
/// together, in one message (digest §3.5).
fn container_children_answered_individually(encoding: Encoding) {
    let mut p = setup(encoding, 3 * SEC).build();
    let h_seq = p.server.queue(Command::Sequence(Container {
        commands: vec![get("./DevInfo/Man"), get("./Vendor/Name")],
        ..Container::default()
    }));
    let h_atomic = p.server.queue(Command::Atomic(Container {
        commands: vec![
            replace("./Vendor/Other", Data::from("x")),
            add("./Vendor/New", "y"),
        ],
        ..Container::default()
    }));
    p.answer_delay = Some(delays(&[
        ("./DevInfo/Man", SEC),
        ("./Vendor/Name", 8 * SEC),
        ("./Vendor/Other", SEC),
        ("./Vendor/New", 8 * SEC),
    ]));
    p.run();

    let all_ok = |h| {
        let mut st = status_of(&p, h);
        st.sort();
        assert_eq!(
            st,
            vec![
                (vec![], StatusCode::OK),
                (vec![0], StatusCode::OK),
                (vec![1], StatusCode::OK)
            ]
        );
    };
    all_ok(h_seq);
    all_ok(h_atomic);
    assert_eq!(
        results_of(&p, h_seq).iter().map(text).collect::<Vec<_>>(),
        ["Acme", "old"]
    );
    assert_eq!(p.tree.value_str("./Vendor/New"), Some("y"));

    // At 3 s: the Sequence's first child, nothing of the Atomic.
    let first: Vec<String> = statuses_in(&p, 1).into_iter().map(|(c, _)| c).collect();
    assert_eq!(first, ["Get"]);
    assert!(!is_final(&p, Dir::ToServer, 1));
    let results_first = p
        .messages(Dir::ToServer)
        .nth(1)
        .unwrap()
        .body
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Results(_)))
        .count();
    assert_eq!(results_first, 1);
    // Then, together: the Atomic and both its children (and the rest of the Sequence).
    let last = p.client_msgs - 1;
    let mut rest: Vec<String> = statuses_in(&p, last).into_iter().map(|(c, _)| c).collect();
    rest.sort();
    assert_eq!(rest, ["Add", "Atomic", "Get", "Replace", "Sequence"]);
    assert!(is_final(&p, Dir::ToServer, last));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(
    container_children_answered_individually,
    container_children_answered_individually
);

/// Large Results answered late, while another answer is still owed: the object goes in
/// chunks in consecutive messages without waiting for the hold between them (the server waits
/// for the rest), then the hold is back until the last answer.
fn large_results_answered_late(encoding: Encoding) {
    let value = big_text(9_000);
    let tree = pair::tree_with_big(&value);
    let mut s = setup(encoding, 2 * SEC);
    s.server.max_msg_size = 2_000;
    let mut p = s.build_with_tree(tree);
    let h_man = p.server.queue(get("./DevInfo/Man"));
    let h_big = p.server.queue(get("./Vendor/Big"));
    let h_name = p.server.queue(get("./Vendor/Name"));
    p.answer_delay = Some(delays(&[
        ("./Vendor/Big", 5 * SEC),
        ("./Vendor/Name", 20 * SEC),
    ]));
    p.run();

    assert_eq!(ok_results(&p, h_man), ["Acme"]);
    let big = ok_results(&p, h_big);
    assert_eq!(big.len(), 1);
    assert!(big[0] == value, "reassembled");
    assert_eq!(ok_results(&p, h_name), ["old"]);
    for m in p.messages(Dir::ToServer) {
        assert!(pair_len(encoding, m) <= 2_000);
    }
    // The messages carrying chunks of the object, and when they went.
    let chunks: Vec<(usize, Timestamp, bool)> = p
        .messages(Dir::ToServer)
        .enumerate()
        .filter_map(|(i, m)| {
            m.body.commands.iter().find_map(|c| match c {
                Command::Results(r)
                    if r.items[0].source.as_ref().unwrap().loc_uri == "./Vendor/Big" =>
                {
                    Some((i, p.time_of(Dir::ToServer, i), r.items[0].more_data))
                }
                _ => None,
            })
        })
        .collect();
    assert!(chunks.len() >= 4, "chunked: {}", chunks.len());
    assert!(
        chunks.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "consecutive"
    );
    let span = chunks.last().unwrap().1.since_epoch() - chunks[0].1.since_epoch();
    assert!(span < SEC, "no hold between chunks: {span:?}");
    assert!(!chunks.last().unwrap().2, "the last chunk has no MoreData");
    // The last answer came later, alone, with Final.
    let last = p.client_msgs - 1;
    assert!(last > chunks.last().unwrap().0);
    assert!(after_package2(&p, last) >= 20 * SEC);
    assert!(is_final(&p, Dir::ToServer, last));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(large_results_answered_late, large_results_answered_late);

/// `respond` (all at once) after a few answers given one by one: it answers what is left, a
/// command left without a Status gets 500, and the package goes at once.
fn respond_after_respond_to(encoding: Encoding) {
    let mut p = setup(encoding, 10 * SEC).build();
    let h_man = p.server.queue(get("./DevInfo/Man"));
    let h_mod = p.server.queue(get("./DevInfo/Mod"));
    let h_lang = p.server.queue(get("./DevInfo/Lang"));
    p.answer_delay = Some(delays(&[
        ("./DevInfo/Mod", NEVER),
        ("./DevInfo/Lang", NEVER),
    ]));
    p.stop_at = Some(p.now + SEC);
    p.run();
    let pkg2 = package2(&p);
    let lang = ref_of(pkg2, "./DevInfo/Lang");
    assert_eq!(
        p.client.unanswered(),
        [ref_of(pkg2, "./DevInfo/Mod"), lang.clone()]
    );
    let st = syncml::Status {
        cmd_id: String::new(),
        msg_ref: String::new(),
        cmd_ref: lang.cmd_ref.clone(),
        cmd: "Get".into(),
        target_refs: vec!["./DevInfo/Lang".into()],
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        code: StatusCode::NOT_FOUND,
        items: Vec::new(),
    };
    p.client.respond(vec![Command::Status(st)]).unwrap();
    assert!(p.client.unanswered().is_empty());
    p.stop_at = None;
    p.run();
    assert_eq!(ok_results(&p, h_man), ["Acme"]);
    assert_eq!(
        status_of(&p, h_mod),
        vec![(vec![], StatusCode::COMMAND_FAILED)]
    );
    assert_eq!(status_of(&p, h_lang), vec![(vec![], StatusCode::NOT_FOUND)]);
    assert_eq!(p.client_msgs, 2);
    assert!(after_package2(&p, 1) < 2 * SEC);
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
}

both!(respond_after_respond_to, respond_after_respond_to);

/// Authentication both ways while answers are held: every held message and keep-alive carries
/// the Chal the session issued for it, so what each side persists (the latest NonceIssued /
/// NonceReceived) is what the other holds, with md5 (nonce per session) and HMAC (nonce per
/// message); the next session authenticates at once.
fn nonces_in_sync_across_keep_alives(encoding: Encoding) {
    for hmac in [false, true] {
        let stored = pair::Nonces::in_sync(b"c0", b"s0");
        let mut s = stored.md5_setup(encoding, 0x0101);
        if hmac {
            for c in [
                &mut s.client.credentials,
                &mut s.client.server_credentials,
                &mut s.client_credentials_at_server,
                &mut s.server.credentials,
            ]
            .into_iter()
            .flatten()
            {
                c.scheme = dm_proto::AuthScheme::Hmac;
            }
        }
        s.client.answer_hold = 5 * SEC;
        let mut p = s.build();
        let h = p.server.queue(get("./Vendor/Name"));
        p.server.queue(get("./DevInfo/Man"));
        p.answer_delay = Some(delays(&[("./Vendor/Name", 12 * SEC)]));
        p.run();
        assert_eq!(ok_results(&p, h), ["old"], "hmac {hmac}");
        assert!(p.client_msgs >= 4, "keep-alives went: {}", p.client_msgs);
        assert_eq!(p.client_end(), Some(SessionEnd::Completed), "hmac {hmac}");
        let after = stored.after(&p);
        assert_eq!(after.device_clcred, after.server_client, "hmac {hmac}");
        assert_eq!(after.device_srvcred, after.server_own, "hmac {hmac}");
        // The next session, from what was persisted, is accepted at once.
        let mut p2 = after.md5_setup(encoding, 0x0102).build();
        p2.run();
        assert!(
            p2.header_codes(Dir::ToClient)
                .iter()
                .all(|c| c.is_success())
        );
        assert_eq!(p2.server_end(), Some(SessionEnd::Completed));
    }
}

both!(
    nonces_in_sync_across_keep_alives,
    nonces_in_sync_across_keep_alives
);
