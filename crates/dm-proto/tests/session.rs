//! Whole DM sessions: a real ServerSession against a real ClientSession with a dm-tree behind
//! the client, every message encoded and decoded on every hop (XML and WBXML), simulated time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pair;

use std::time::Duration;

use dm_proto::{
    AlertItem, AuthScheme, ClientEvent, GenericAlert, Initiator, ServerEvent, SessionEnd,
};
use pair::{
    Dir, Setup, add, big_text, both, copy, creds, delete, get, has_alert, item_target, pair_len,
    replace, results_of, status_of, text,
};
use syncml::{AlertCode, Command, Container, Data, Encoding, Exec, StatusCode};

// ------------------------------------------------------------------------------------------

/// Client-initiated session with every command type; DM-level package flow 1-4 (seed 004:
/// packages 0-4 of DM-2).
fn every_command(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    let h_get = p.server.queue(get("./DevInfo/Man"));
    let h_rep = p.server.queue(replace("./Vendor/Name", Data::from("new")));
    let h_add = p.server.queue(add("./Vendor/Added", "x"));
    let h_del = p.server.queue(delete("./Vendor/Other"));
    let h_copy = p.server.queue(copy("./Vendor/Name", "./Vendor/Copied"));
    let h_exec = p.server.queue(Command::Exec(Exec {
        items: vec![item_target("./Vendor/Name", None)],
        ..Exec::default()
    }));
    let h_seq = p.server.queue(Command::Sequence(Container {
        commands: vec![add("./Vendor/InSeq", "s"), get("./Vendor/InSeq")],
        ..Container::default()
    }));
    p.run();

    // DevInfo arrived in package 1.
    let devinfo = p.server_events.iter().find_map(|e| match e {
        ServerEvent::DevInfo(items) => Some(items.clone()),
        _ => None,
    });
    assert_eq!(devinfo.unwrap().len(), 5);
    // Package 1 carried Alert 1201.
    let pkg1 = p.messages(Dir::ToServer).next().unwrap();
    assert!(has_alert(pkg1, AlertCode::CLIENT_INITIATED));
    assert_eq!(pkg1.hdr.session_id, "1234");

    assert_eq!(status_of(&p, h_get), vec![(vec![], StatusCode::OK)]);
    assert_eq!(
        results_of(&p, h_get).iter().map(text).collect::<Vec<_>>(),
        ["Acme"]
    );
    assert_eq!(status_of(&p, h_rep), vec![(vec![], StatusCode::OK)]);
    assert_eq!(status_of(&p, h_add), vec![(vec![], StatusCode::OK)]);
    assert_eq!(status_of(&p, h_del), vec![(vec![], StatusCode::OK)]);
    assert_eq!(status_of(&p, h_copy), vec![(vec![], StatusCode::OK)]);
    // No Exec handler registered on the node: the tree refuses, the session reports it.
    let exec = status_of(&p, h_exec);
    assert_eq!(exec.len(), 1);
    assert!(!exec[0].1.is_success());
    let seq = status_of(&p, h_seq);
    assert!(seq.contains(&(vec![], StatusCode::OK)));
    assert!(seq.contains(&(vec![0], StatusCode::OK)));
    assert!(seq.contains(&(vec![1], StatusCode::OK)));
    assert_eq!(
        results_of(&p, h_seq).iter().map(text).collect::<Vec<_>>(),
        ["s"]
    );

    assert_eq!(p.tree.value_str("./Vendor/Name"), Some("new"));
    assert_eq!(p.tree.value_str("./Vendor/Added"), Some("x"));
    assert!(p.tree.get("./Vendor/Other").is_none());
    assert_eq!(p.tree.value_str("./Vendor/Copied"), Some("new"));

    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
    // pkg1, pkg3 from the client; pkg2, pkg4 from the server.
    assert_eq!(p.client_msgs, 2);
    assert!(p.messages(Dir::ToClient).last().unwrap().body.is_final);
}

both!(every_command, every_command);

/// Server-initiated session: Alert 1200 and the Package 0 session id as hex (digest §2.2).
fn server_initiated(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.initiator = Initiator::Server;
    s.session_id = 0x002A;
    let mut p = s.build();
    let h = p.server.queue(get("./DevInfo/Mod"));
    p.run();
    let pkg1 = p.messages(Dir::ToServer).next().unwrap();
    assert_eq!(pkg1.hdr.session_id, "2A");
    assert!(has_alert(pkg1, AlertCode::SERVER_INITIATED));
    assert_eq!(p.server.session_id(), Some("2A"));
    assert_eq!(
        results_of(&p, h).iter().map(text).collect::<Vec<_>>(),
        ["Gw-1"]
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(server_initiated, server_initiated);

/// Atomic whose second command fails: 507 for the Atomic, 216 for the rolled-back Add.
fn atomic_rollback(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    let h = p.server.queue(Command::Atomic(Container {
        commands: vec![
            add("./Vendor/A1", "1"),
            replace("./Vendor/Missing/X", Data::from("v")),
        ],
        ..Container::default()
    }));
    p.run();
    let st = status_of(&p, h);
    assert!(st.contains(&(vec![], StatusCode::ATOMIC_FAILED)), "{st:?}");
    assert!(
        st.contains(&(vec![0], StatusCode::ATOMIC_ROLLBACK_OK)),
        "{st:?}"
    );
    assert!(p.tree.get("./Vendor/A1").is_none());
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(atomic_rollback, atomic_rollback);

/// Generic Alert 1226 from the device in Package 1 (GwMO alerts travel this way,
/// GwMO-DI-005).
fn generic_alert(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    p.client.queue_generic_alert(
        &GenericAlert::new(
            AlertItem::new(
                "urn:oma:at:oma-gwmo:deviceattached:1.0",
                "chr",
                Data::from("dev-42"),
            )
            .with_source("./Gw/Inventory")
            .with_mark("informational"),
        )
        .with_correlator("corr-7"),
    );
    p.run();
    let alert = p
        .server_events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Alert(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(alert.code, AlertCode::GENERIC_ALERT);
    assert_eq!(alert.correlator.as_deref(), Some("corr-7"));
    let item = &alert.items[0];
    let meta = item.meta.as_ref().unwrap();
    assert_eq!(
        meta.r#type.as_deref(),
        Some("urn:oma:at:oma-gwmo:deviceattached:1.0")
    );
    assert_eq!(meta.mark.as_deref(), Some("informational"));
    assert_eq!(item.source.as_ref().unwrap().loc_uri, "./Gw/Inventory");
    assert_eq!(text(item.data.as_ref().unwrap()), "dev-42");
    // The server answered the alert with 200.
    assert!(p.client_events.iter().any(|e| matches!(e,
        ClientEvent::Status(s) if s.cmd == "Alert" && s.code == StatusCode::OK)));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(generic_alert, generic_alert);

/// A Generic Alert of `n` items, each with its own type, format, mark, source and data (a
/// gateway reporting several devices at once, GwMO-DI-005).
fn inventory_alert(n: usize) -> GenericAlert {
    let item = |i: usize| {
        let kind = if i.is_multiple_of(2) {
            "deviceattached"
        } else {
            "devicedetached"
        };
        let mut it = AlertItem::new(
            format!("urn:oma:at:oma-gwmo:{kind}:1.0"),
            if i.is_multiple_of(3) { "xml" } else { "chr" },
            Data::from(format!("dev-{i}")),
        )
        .with_source(format!("./DeviceInventory/D{i}"));
        if i % 4 == 1 {
            it = it.with_mark("critical");
        }
        it
    };
    let mut alert = GenericAlert::new(item(0)).with_correlator("inv-1");
    for i in 1..n {
        alert.push(item(i));
    }
    alert
}

/// `(type, format, mark, source, data)` of items, to compare what left with what arrived.
fn item_fields(items: &[syncml::Item]) -> Vec<[Option<String>; 5]> {
    items
        .iter()
        .map(|i| {
            let meta = i.meta.as_ref();
            [
                meta.and_then(|m| m.r#type.clone()),
                meta.and_then(|m| m.format.clone()),
                meta.and_then(|m| m.mark.clone()),
                i.source.as_ref().map(|l| l.loc_uri.clone()),
                i.data.as_ref().map(text),
            ]
        })
        .collect()
}

/// A Generic Alert with several items reaches the server as one Alert with every item, each
/// with its own Meta, Source and Data, in order.
fn generic_alert_several_items(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    let alert = inventory_alert(3);
    p.client.queue_generic_alert(&alert);
    p.run();
    let got = p.generic_alerts();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].correlator.as_deref(), Some("inv-1"));
    let Command::Alert(sent) = alert.to_command() else {
        panic!()
    };
    assert_eq!(item_fields(&got[0].items), item_fields(&sent.items));
    assert_eq!(
        got[0].items[1].meta.as_ref().unwrap().mark.as_deref(),
        Some("critical")
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(generic_alert_several_items, generic_alert_several_items);

/// A Generic Alert whose items do not fit the server's MaxMsgSize: Package 1 spans several
/// messages, the alert is cut between whole items, every part keeps the Correlator, and the
/// server gets every item exactly once, in order.
fn generic_alert_over_several_messages(encoding: Encoding) {
    let small = if encoding == Encoding::Xml {
        1_400
    } else {
        600
    };
    let mut s = Setup::new(encoding);
    s.client.initial_server_max_msg_size = small;
    s.server.max_msg_size = small;
    let mut p = s.build();
    let alert = inventory_alert(40);
    p.client.queue_generic_alert(&alert);
    p.run();
    let got = p.generic_alerts();
    assert!(got.len() >= 3, "spread over messages: {}", got.len());
    assert!(got.iter().all(|a| a.correlator.as_deref() == Some("inv-1")));
    assert!(got.iter().all(|a| !a.items.is_empty()));
    let arrived: Vec<syncml::Item> = got.iter().flat_map(|a| a.items.clone()).collect();
    let Command::Alert(sent) = alert.to_command() else {
        panic!()
    };
    assert_eq!(item_fields(&arrived), item_fields(&sent.items));
    let pkg1: Vec<_> = p
        .messages(Dir::ToServer)
        .take_while(|m| !m.body.is_final)
        .collect();
    assert!(pkg1.len() >= 2, "Package 1 spans several messages");
    for m in p.messages(Dir::ToServer) {
        assert!(pair_len(encoding, m) <= small);
    }
    // One 200 per part.
    let alert_oks = p
        .client_events
        .iter()
        .filter(
            |e| matches!(e, ClientEvent::Status(s) if s.cmd == "Alert" && s.code == StatusCode::OK),
        )
        .count();
    assert_eq!(alert_oks, got.len() + 1, "the parts and Alert 1201");
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(
    generic_alert_over_several_messages,
    generic_alert_over_several_messages
);

/// md5: the client sends no Cred at first; 407 + Chal, retry with the nonce, 212 + next nonce.
fn md5_challenge(encoding: Encoding) {
    let mut s = Setup::new(encoding).md5_client_auth("secret", "secret", b"");
    s.client.cred_in_first_message = false;
    let mut p = s.build();
    let h = p.server.queue(get("./DevInfo/Man"));
    p.run();
    let to_client: Vec<_> = p.messages(Dir::ToClient).collect();
    let first_hdr_status = to_client[0]
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == "0" => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(first_hdr_status.code, StatusCode::MISSING_CREDENTIALS);
    let chal = first_hdr_status.chal.unwrap();
    assert_eq!(chal.meta.r#type.as_deref(), Some("syncml:auth-md5"));
    assert!(chal.meta.next_nonce.is_some());
    // The retry carried Cred.
    let retry = p.messages(Dir::ToServer).nth(1).unwrap();
    assert!(retry.hdr.cred.is_some());
    assert_eq!(retry.hdr.source.loc_name.as_deref(), Some("dev1"));
    assert!(p.server_events.contains(&ServerEvent::Authenticated));
    assert!(p.client_events.contains(&ClientEvent::Authenticated));
    assert_eq!(
        results_of(&p, h).iter().map(text).collect::<Vec<_>>(),
        ["Acme"]
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));

    // Nonce rotation: the last nonce the server issued is the one the client persisted.
    let issued = p.server_events_where(|e| match e {
        ServerEvent::NonceIssued(n) => Some(n.clone()),
        _ => None,
    });
    let received = p.client_events_where(|e| match e {
        ClientEvent::NonceReceived(n) => Some(n.clone()),
        _ => None,
    });
    assert!(issued.len() >= 2, "challenge nonce and next-session nonce");
    assert_eq!(issued.last(), received.last());

    // Next session with the persisted nonce: accepted at once, no challenge.
    let next = issued.last().unwrap().clone();
    let mut s2 = Setup::new(encoding).md5_client_auth("secret", "secret", &next);
    s2.session_id = 0x1235;
    let mut p2 = s2.build();
    p2.run();
    let hdr_status = p2
        .messages(Dir::ToClient)
        .next()
        .unwrap()
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == "0" => Some(s.code),
            _ => None,
        });
    assert_eq!(hdr_status, Some(StatusCode::AUTH_ACCEPTED));
    assert_eq!(p2.client_msgs, 1);
    assert_eq!(p2.server_end(), Some(SessionEnd::Completed));
}

both!(md5_challenge_and_nonce_rotation, md5_challenge);

/// Wrong password: 401 + Chal with a new nonce each time, the session ends after 3 attempts.
fn wrong_password(encoding: Encoding) {
    let mut p = Setup::new(encoding)
        .md5_client_auth("wrong", "secret", b"n0")
        .build();
    let h = p.server.queue(get("./DevInfo/Man"));
    p.run();
    assert_eq!(p.client_msgs, 3);
    for m in p.messages(Dir::ToClient) {
        let st = m.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd_ref == "0" => Some(s.code),
            _ => None,
        });
        assert_eq!(st, Some(StatusCode::INVALID_CREDENTIALS));
        // No management command goes to an unauthenticated device.
        assert!(
            m.body
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(_)))
        );
    }
    assert_eq!(p.server_end(), Some(SessionEnd::PeerAuthFailed));
    assert_eq!(p.client_end(), Some(SessionEnd::AuthFailed));
    assert!(status_of(&p, h).is_empty());
    assert!(!p.server.is_authenticated());
}

both!(wrong_password, wrong_password);

/// No downgrade (GwMO-SECACATE-001): a device set up for md5 that presents a correct password
/// with `syncml:auth-basic` is refused with a challenge for md5; the client then answers with the
/// requested scheme (digest §4.2), and only that md5 credential authenticates it.
fn scheme_downgrade_refused(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.credentials = Some(creds(AuthScheme::Basic, "dev1", "secret", b""));
    s.client_credentials_at_server = Some(creds(AuthScheme::Md5, "dev1", "secret", b"n0"));
    let mut p = s.build();
    p.run();
    let first = p.messages(Dir::ToClient).next().unwrap();
    let hdr_status = first.body.commands.iter().find_map(|c| match c {
        Command::Status(st) if st.cmd_ref == "0" => Some(st.clone()),
        _ => None,
    });
    let hdr_status = hdr_status.unwrap();
    assert_eq!(hdr_status.code, StatusCode::INVALID_CREDENTIALS);
    let chal_type = hdr_status.chal.as_ref().and_then(|c| c.meta.r#type.clone());
    assert_eq!(chal_type.as_deref(), Some("syncml:auth-md5"));
    // Every credential the server accepted was md5: the basic one never got in.
    let creds_sent: Vec<Option<String>> = p
        .messages(Dir::ToServer)
        .filter_map(|m| {
            m.hdr
                .cred
                .as_ref()
                .map(|c| c.meta.as_ref().and_then(|m| m.r#type.clone()))
        })
        .collect();
    assert_eq!(
        creds_sent.first().cloned().flatten().as_deref(),
        Some("syncml:auth-basic")
    );
    if p.server.is_authenticated() {
        assert_eq!(
            creds_sent.last().cloned().flatten().as_deref(),
            Some("syncml:auth-md5")
        );
    }
}

both!(scheme_downgrade_refused, scheme_downgrade_refused);

/// The device authenticates the server (SRVCRED); a server with the right credentials gets 212.
fn server_auth_ok(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.server_credentials = Some(creds(AuthScheme::Md5, "srv1", "srvpw", b"sn"));
    s.server.credentials = Some(creds(AuthScheme::Md5, "srv1", "srvpw", b"sn"));
    let mut p = s.build();
    let h = p
        .server
        .queue(replace("./Vendor/Name", Data::from("by-auth-server")));
    p.run();
    assert!(p.client_events.contains(&ClientEvent::ServerAuthenticated));
    assert!(p.server_events.contains(&ServerEvent::ServerAuthenticated));
    assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::OK)]);
    assert_eq!(p.tree.value_str("./Vendor/Name"), Some("by-auth-server"));
    // The nonce the device issued for the server's next session reached the server.
    let issued = p.client_events.iter().rev().find_map(|e| match e {
        ClientEvent::NonceIssued(n) => Some(n.clone()),
        _ => None,
    });
    let received = p.server_events.iter().rev().find_map(|e| match e {
        ServerEvent::NonceReceived(n) => Some(n.clone()),
        _ => None,
    });
    assert!(issued.is_some());
    assert_eq!(issued, received);
}

both!(server_auth_ok, server_auth_ok);

/// A server with the wrong credentials gets its commands refused (401 to the header and to
/// every command), nothing executes, and after the retries the device gives up.
fn server_auth_wrong(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.server_credentials = Some(creds(AuthScheme::Md5, "srv1", "srvpw", b"sn"));
    s.server.credentials = Some(creds(AuthScheme::Md5, "srv1", "not-it", b"sn"));
    let mut p = s.build();
    let h = p.server.queue(replace("./Vendor/Name", Data::from("evil")));
    p.run();
    assert_eq!(p.tree.value_str("./Vendor/Name"), Some("old"));
    let st = status_of(&p, h);
    assert!(!st.is_empty());
    assert!(
        st.iter()
            .all(|(_, c)| *c == StatusCode::INVALID_CREDENTIALS),
        "{st:?}"
    );
    assert_eq!(p.client_end(), Some(SessionEnd::PeerAuthFailed));
    assert_eq!(p.server_end(), Some(SessionEnd::AuthFailed));
    // Issue 6 item 6: the device's last refusal is answered (the HTTP response it waits
    // for): statuses, Alert 1223, Final, and no Chal (no nonce the device would never read).
    let last = p.messages(Dir::ToClient).last().unwrap();
    assert!(last.body.is_final);
    assert!(
        last.body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.code == syncml::AlertCode::SESSION_ABORT))
    );
    assert!(last.body.commands.iter().all(|c| match c {
        Command::Status(st) => st.chal.is_none(),
        _ => true,
    }));
    assert!(
        !p.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Commands { .. }))
    );
}

both!(server_auth_wrong, server_auth_wrong);

/// Basic auth and HMAC (x-syncml-hmac on every message) both ways.
fn hmac_and_basic(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.credentials = Some(creds(AuthScheme::Hmac, "dev1", "pw", b"n1"));
    s.client_credentials_at_server = Some(creds(AuthScheme::Hmac, "dev1", "pw", b"n1"));
    s.client.server_credentials = Some(creds(AuthScheme::Basic, "srv1", "spw", b""));
    s.server.credentials = Some(creds(AuthScheme::Basic, "srv1", "spw", b""));
    let mut p = s.build();
    let h = p.server.queue(get("./DevInfo/Lang"));
    p.run();
    assert_eq!(
        results_of(&p, h).iter().map(text).collect::<Vec<_>>(),
        ["en"]
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert!(p.messages(Dir::ToServer).all(|m| m.hdr.cred.is_none()));
}

both!(hmac_and_basic, hmac_and_basic);

/// A Get whose Results exceed the server's MaxMsgSize: the device cuts the item into chunks
/// across messages (1222 flow), the server reassembles it.
fn large_results(encoding: Encoding) {
    let value = big_text(9_000);
    let tree = pair::tree_with_big(&value);
    let mut s = Setup::new(encoding);
    s.server.max_msg_size = 2_000;
    let mut p = s.build_with_tree(tree);
    let h = p.server.queue(get("./Vendor/Big"));
    p.run();
    let got = results_of(&p, h);
    assert_eq!(got.len(), 1);
    assert_eq!(text(&got[0]), value);
    assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::OK)]);
    assert!(
        p.client_msgs >= 6,
        "chunked over several messages: {}",
        p.client_msgs
    );
    for m in p.messages(Dir::ToServer) {
        assert!(pair_len(encoding, m) <= 2_000);
    }
    // Non-final chunks are acknowledged with 213.
    assert!(p.messages(Dir::ToClient).any(|m| {
        m.body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Status(s) if s.code == StatusCode::CHUNK_ACCEPTED))
    }));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(large_results, large_results);

/// A Replace larger than the device's MaxMsgSize: chunked to the device (MoreData, Size on
/// the first chunk), 213 per chunk, reassembled, then 200.
fn large_replace(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.max_msg_size = 2_500;
    let mut p = s.build();
    let value = big_text(12_000);
    let h = p
        .server
        .queue(replace("./Vendor/Name", Data::from(value.as_str())));
    let h2 = p.server.queue(get("./DevInfo/Man"));
    p.run();
    assert_eq!(p.tree.value_str("./Vendor/Name"), Some(value.as_str()));
    assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::OK)]);
    assert_eq!(
        results_of(&p, h2).iter().map(text).collect::<Vec<_>>(),
        ["Acme"]
    );
    let chunks213 = p
        .messages(Dir::ToServer)
        .flat_map(|m| m.body.commands.iter())
        .filter(|c| matches!(c, Command::Status(s) if s.code == StatusCode::CHUNK_ACCEPTED))
        .count();
    assert!(chunks213 >= 4, "{chunks213}");
    let first_chunk = p
        .messages(Dir::ToClient)
        .flat_map(|m| m.body.commands.iter())
        .find_map(|c| match c {
            Command::Replace(r) if r.items[0].more_data => Some(r.items[0].clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(first_chunk.meta.unwrap().size.as_deref(), Some("12000"));
    for m in p.messages(Dir::ToClient) {
        assert!(pair_len(encoding, m) <= 2_500);
    }
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(large_replace, large_replace);

/// The announced Size does not match the reassembled object: 424, nothing stored.
fn size_mismatch(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.max_msg_size = 2_500;
    let mut p = s.build();
    let h = p
        .server
        .queue(replace("./Vendor/Name", Data::from(big_text(6_000))));
    p.tamper_to_client = Some(Box::new(|m: &mut syncml::SyncMl| {
        for c in &mut m.body.commands {
            if let Command::Replace(r) = c {
                for it in &mut r.items {
                    if let Some(meta) = it.meta.as_mut().filter(|m| m.size.is_some()) {
                        meta.size = Some("6001".into());
                    }
                }
            }
        }
    }));
    p.run();
    assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::SIZE_MISMATCH)]);
    assert_eq!(p.tree.value_str("./Vendor/Name"), Some("old"));
}

both!(size_mismatch, size_mismatch);

/// An object above the device's MaxObjSize is not sent at all (413 reported).
fn max_obj_size(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.max_obj_size = 1_000;
    let mut p = s.build();
    let h = p
        .server
        .queue(replace("./Vendor/Name", Data::from(big_text(1_500))));
    p.run();
    assert_eq!(
        status_of(&p, h),
        vec![(vec![], StatusCode::REQUEST_ENTITY_TOO_LARGE)]
    );
    assert_eq!(p.tree.value_str("./Vendor/Name"), Some("old"));
}

both!(max_obj_size, max_obj_size);

/// Many commands and a small device MaxMsgSize: package 2 spans several messages, the device
/// asks for each with Alert 1222, Final only on the last.
fn multi_message_package(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    // WBXML is about three times denser than XML.
    s.client.max_msg_size = if encoding == Encoding::Xml {
        1_500
    } else {
        600
    };
    let mut p = s.build();
    let handles: Vec<_> = (0..30)
        .map(|i| p.server.queue(add(&format!("./Vendor/N{i}"), "v")))
        .collect();
    p.run();
    for h in handles {
        assert_eq!(status_of(&p, h), vec![(vec![], StatusCode::OK)]);
    }
    assert!(p.tree.get("./Vendor/N29").is_some());
    let to_client: Vec<_> = p.messages(Dir::ToClient).collect();
    assert!(to_client.len() >= 4);
    assert!(to_client.iter().any(|m| !m.body.is_final));
    assert!(
        p.messages(Dir::ToServer)
            .any(|m| has_alert(m, AlertCode::NEXT_MESSAGE))
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(multi_message_package, multi_message_package);

/// The device aborts (1223): the server reports Aborted { by_peer: true }.
fn client_abort(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    p.server.queue(get("./DevInfo/Man"));
    p.client.abort();
    p.run();
    assert_eq!(p.client_end(), Some(SessionEnd::Aborted { by_peer: false }));
    assert_eq!(p.server_end(), Some(SessionEnd::Aborted { by_peer: true }));
    let m = p.messages(Dir::ToServer).next().unwrap();
    assert!(m.body.is_final);
    assert!(has_alert(m, AlertCode::SESSION_ABORT));
}

both!(client_abort, client_abort);

/// The server aborts: the device ends without replying.
fn server_abort(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    p.server.queue(get("./DevInfo/Man"));
    p.server.abort();
    p.run();
    assert_eq!(p.server_end(), Some(SessionEnd::Aborted { by_peer: false }));
    assert_eq!(p.client_end(), Some(SessionEnd::Aborted { by_peer: true }));
    assert_eq!(p.client_msgs, 1);
}

both!(server_abort, server_abort);

/// No answer within the idle timeout: both sides time out on handle_timeout.
fn idle_timeout(encoding: Encoding) {
    let mut p = Setup::new(encoding).build();
    p.server.queue(get("./DevInfo/Man"));
    p.drop_responses = true;
    p.run();
    let deadline = p.client.poll_timeout().unwrap();
    p.client.handle_timeout(deadline);
    let early = p.now + Duration::from_secs(10);
    p.server.handle_timeout(early);
    assert_eq!(p.server.ended(), None);
    p.server.handle_timeout(p.server.poll_timeout().unwrap());
    assert_eq!(p.client.ended(), Some(SessionEnd::TimedOut));
    assert_eq!(p.server.ended(), Some(SessionEnd::TimedOut));
    assert!(p.client.poll_timeout().is_none());
    p.drain_client();
    assert_eq!(p.client_end(), Some(SessionEnd::TimedOut));
}

both!(idle_timeout, idle_timeout);

/// Results larger than the server's MaxObjSize are not sent: the device answers the Get with
/// 413 (digest §3.1: a received MaxObjSize must be honoured), other Results go as usual.
fn results_above_server_max_obj_size(encoding: Encoding) {
    let tree = pair::tree_with_big(&big_text(1_500));
    let mut s = Setup::new(encoding);
    s.server.max_obj_size = 1_000;
    let mut p = s.build_with_tree(tree);
    let h_big = p.server.queue(get("./Vendor/Big"));
    let h_man = p.server.queue(get("./DevInfo/Man"));
    p.run();
    assert_eq!(p.client.server_max_obj_size(), Some(1_000));
    assert_eq!(
        status_of(&p, h_big),
        vec![(vec![], StatusCode::REQUEST_ENTITY_TOO_LARGE)]
    );
    assert!(results_of(&p, h_big).is_empty());
    assert_eq!(status_of(&p, h_man), vec![(vec![], StatusCode::OK)]);
    assert_eq!(
        results_of(&p, h_man).iter().map(text).collect::<Vec<_>>(),
        ["Acme"]
    );
    // Nothing of the object went on the wire.
    let results_sent: Vec<_> = p
        .messages(Dir::ToServer)
        .flat_map(|m| m.body.commands.iter())
        .filter_map(|c| match c {
            Command::Results(r) => Some(r.items[0].source.as_ref().unwrap().loc_uri.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results_sent, ["./DevInfo/Man"]);
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(
    results_above_server_max_obj_size,
    results_above_server_max_obj_size
);

fn hmac(name: &str, pw: &str, nonce: &[u8]) -> dm_proto::Credentials {
    creds(AuthScheme::Hmac, name, pw, nonce)
}

/// A challenge in the middle of the device's package (here: the server refuses the MAC of the
/// second message of a multi-message Package 1). The server processed nothing of the refused
/// message and everything of the earlier ones, so the device resends only what the refused
/// message carried (and what was still to come): no DevInfo or alert reaches the server twice.
fn challenge_mid_client_package(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.credentials = Some(hmac("dev1", "pw", b"n1"));
    s.client_credentials_at_server = Some(hmac("dev1", "pw", b"n1"));
    let small = if encoding == Encoding::Xml {
        1_400
    } else {
        600
    };
    s.client.initial_server_max_msg_size = small;
    s.server.max_msg_size = small;
    let mut p = s.build();
    for i in 0..8 {
        p.client.queue_generic_alert(
            &GenericAlert::new(
                AlertItem::new(
                    "urn:oma:at:oma-gwmo:deviceattached:1.0",
                    "chr",
                    Data::from(format!("dev-{i}")),
                )
                .with_source("./Gw/Inventory"),
            )
            .with_correlator(format!("c{i}")),
        );
    }
    let h = p.server.queue(get("./DevInfo/Man"));
    p.raw_to_server = Some(pair::spoil_hmac_of(1));
    p.run();

    // The refusal happened, mid-package.
    let codes = p.header_codes(Dir::ToClient);
    assert_eq!(codes[0], StatusCode::OK, "{codes:?}");
    assert_eq!(codes[1], StatusCode::INVALID_CREDENTIALS, "{codes:?}");
    let first = p.messages(Dir::ToServer).next().unwrap();
    assert!(!first.body.is_final, "Package 1 spans several messages");
    // Every alert and the DevInfo arrived exactly once.
    let mut correlators = p.server_events_where(|e| match e {
        ServerEvent::Alert(a) => a.correlator.clone(),
        _ => None,
    });
    correlators.sort();
    assert_eq!(
        correlators,
        (0..8).map(|i| format!("c{i}")).collect::<Vec<_>>()
    );
    let devinfo = p
        .server_events
        .iter()
        .filter(|e| matches!(e, ServerEvent::DevInfo(_)))
        .count();
    assert_eq!(devinfo, 1);
    assert_eq!(
        results_of(&p, h).iter().map(text).collect::<Vec<_>>(),
        ["Acme"]
    );
    // The device got one final answer per command: no 401 for a command that was resent.
    let alert_statuses = p
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Status(s) if s.cmd == "Alert"))
        .count();
    assert_eq!(alert_statuses, 9, "Alert 1201 and the 8 Generic Alerts");
    assert!(
        !p.client_events.iter().any(
            |e| matches!(e, ClientEvent::Status(s) if s.code == StatusCode::INVALID_CREDENTIALS)
        )
    );
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
}

both!(challenge_mid_client_package, challenge_mid_client_package);

/// The other direction: the device refuses the MAC of the second message of the server's
/// Package 2. The device executed the commands of the first message and none of the refused
/// one, so the server resends only the refused message's commands (and the rest): every Add
/// runs once (a second run would answer 418), and every command gets one status.
fn challenge_mid_server_package(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.server_credentials = Some(hmac("srv1", "spw", b"s1"));
    s.server.credentials = Some(hmac("srv1", "spw", b"s1"));
    s.client.max_msg_size = if encoding == Encoding::Xml {
        1_500
    } else {
        600
    };
    let mut p = s.build();
    let handles: Vec<_> = (0..24)
        .map(|i| p.server.queue(add(&format!("./Vendor/N{i}"), "v")))
        .collect();
    p.raw_to_client = Some(pair::spoil_hmac_of(1));
    p.run();

    let codes = p.header_codes(Dir::ToServer);
    assert!(
        codes.contains(&StatusCode::INVALID_CREDENTIALS),
        "the device refused a message: {codes:?}"
    );
    assert!(
        p.messages(Dir::ToClient)
            .next()
            .is_some_and(|m| !m.body.is_final)
    );
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(status_of(&p, *h), vec![(vec![], StatusCode::OK)], "Add {i}");
        assert!(p.tree.get(&format!("./Vendor/N{i}")).is_some());
    }
    let executed: usize = p
        .client_events
        .iter()
        .map(|e| match e {
            ClientEvent::Commands { commands, .. } => commands.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(executed, 24, "no Add reached the application twice");
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
}

both!(challenge_mid_server_package, challenge_mid_server_package);

/// A refused message that carried a chunk of a large object: the chunk goes again (the peer
/// buffered nothing of the refused message), the object is reassembled exactly once, and the
/// refusal itself carries statuses only. `device_refuses`: the device refuses the server
/// message carrying the second chunk of a Replace; `server_refuses`: the server refuses the
/// device message carrying the second chunk of Results. With both, MAC goes both ways and the
/// nonce a refused message carried must not count (the peer processed nothing of it).
fn challenge_during_large_object(encoding: Encoding, device_refuses: bool, server_refuses: bool) {
    let value = big_text(9_000);
    let tree = pair::tree_with_big(&value);
    let mut s = Setup::new(encoding);
    if device_refuses {
        s.client.server_credentials = Some(hmac("srv1", "spw", b"s1"));
        s.server.credentials = Some(hmac("srv1", "spw", b"s1"));
    }
    if server_refuses {
        s.client.credentials = Some(hmac("dev1", "pw", b"n1"));
        s.client_credentials_at_server = Some(hmac("dev1", "pw", b"n1"));
    }
    s.client.max_msg_size = 2_500;
    s.server.max_msg_size = 2_500;
    let mut p = s.build_with_tree(tree);
    let new_value = big_text(7_000).to_uppercase();
    let h_rep = p
        .server
        .queue(replace("./Vendor/Name", Data::from(new_value.as_str())));
    let h_get = p.server.queue(get("./Vendor/Big"));
    if device_refuses {
        // Server message 1 carries the second chunk of the Replace.
        p.raw_to_client = Some(pair::spoil_hmac_of(1));
    }
    if server_refuses {
        // Device message 0 is Package 1, 1-3 answer the Replace chunks, 4 and 5 carry the
        // first two chunks of the Results.
        p.raw_to_server = Some(pair::spoil_hmac_of(5));
    }
    p.run();
    assert!(p.tree.value_str("./Vendor/Name") == Some(new_value.as_str()));
    assert_eq!(status_of(&p, h_rep), vec![(vec![], StatusCode::OK)]);
    assert_eq!(status_of(&p, h_get), vec![(vec![], StatusCode::OK)]);
    let got = results_of(&p, h_get);
    assert_eq!(got.len(), 1);
    assert!(text(&got[0]) == value, "Results reassembled");
    let sides = [
        (Dir::ToServer, device_refuses),
        (Dir::ToClient, server_refuses),
    ];
    for (refused_by, expected) in sides {
        let refusals: Vec<_> = p
            .messages(refused_by)
            .filter(|m| {
                m.body.commands.iter().any(|c| {
                    matches!(c, Command::Status(s)
                        if s.cmd_ref == "0" && s.code == StatusCode::INVALID_CREDENTIALS)
                })
            })
            .collect();
        assert_eq!(refusals.len(), usize::from(expected), "{refused_by:?}");
        for r in refusals {
            assert!(
                r.body
                    .commands
                    .iter()
                    .all(|c| matches!(c, Command::Status(_))
                        || matches!(c, Command::Alert(a) if a.code == AlertCode::NEXT_MESSAGE)),
                "a refusal carries statuses only"
            );
        }
    }
    // What each side persists matches what the other holds.
    let stored = pair::Nonces::in_sync(b"n1", b"s1").after(&p);
    assert_eq!(stored.device_clcred, stored.server_client);
    assert_eq!(stored.device_srvcred, stored.server_own);
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
    assert_eq!(p.client_end(), Some(SessionEnd::Completed));
}

fn challenge_during_large_object_to_device(encoding: Encoding) {
    challenge_during_large_object(encoding, true, false);
}

fn challenge_during_large_object_to_server(encoding: Encoding) {
    challenge_during_large_object(encoding, false, true);
}

fn challenge_during_large_object_both_ways(encoding: Encoding) {
    challenge_during_large_object(encoding, true, true);
}

both!(
    challenge_during_large_object_to_device,
    challenge_during_large_object_to_device
);
both!(
    challenge_during_large_object_to_server,
    challenge_during_large_object_to_server
);
both!(
    challenge_during_large_object_both_ways,
    challenge_during_large_object_both_ways
);

/// Regression: a command that cannot fit any message and cannot be cut (here a Generic Alert
/// item above the server's MaxMsgSize) waited forever behind the statuses every message
/// starts with (an endless exchange of statuses-only messages). It now goes whole in a message
/// of its own and the peer judges.
fn oversized_alert_item_goes_whole(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.initial_server_max_msg_size = 1_400;
    s.server.max_msg_size = 1_400;
    let mut p = s.build();
    let value = big_text(3_000);
    p.client
        .queue_generic_alert(&GenericAlert::new(AlertItem::new(
            "urn:oma:at:oma-gwmo:resultaggregation:1.0",
            "chr",
            Data::from(value.as_str()),
        )));
    p.run();
    let got = p.generic_alerts();
    assert_eq!(got.len(), 1);
    assert_eq!(text(got[0].items[0].data.as_ref().unwrap()), value);
    assert!(p.client_msgs <= 3, "{}", p.client_msgs);
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(
    oversized_alert_item_goes_whole,
    oversized_alert_item_goes_whole
);

/// The same on the server side: an Exec whose argument exceeds the device's MaxMsgSize (an
/// Exec item is never chunked) goes whole once the device asks for the next message.
fn oversized_exec_goes_whole(encoding: Encoding) {
    let mut s = Setup::new(encoding);
    s.client.max_msg_size = 1_500;
    let mut p = s.build();
    let h_get = p.server.queue(get("./DevInfo/Man"));
    let h = p.server.queue(Command::Exec(Exec {
        items: vec![item_target("./Vendor/Name", Some(&big_text(4_000)))],
        ..Exec::default()
    }));
    p.run();
    assert_eq!(status_of(&p, h_get), vec![(vec![], StatusCode::OK)]);
    assert_eq!(status_of(&p, h).len(), 1, "the Exec reached the device");
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

both!(oversized_exec_goes_whole, oversized_exec_goes_whole);

/// Issue 6 item 10g: a device announcing MaxMsgSize 1, 0 or a huge value gets its commands
/// anyway (the value is clamped to MIN/MAX_PEER_MAX_MSG_SIZE), and the Status for its header
/// says so once.
fn absurd_peer_max_msg_size(encoding: Encoding) {
    for announced in [1usize, 0, usize::MAX] {
        let mut s = Setup::new(encoding);
        s.client.max_msg_size = announced;
        let mut p = s.build();
        let h = p.server.queue(get("./DevInfo/Man"));
        let h2 = p.server.queue(add("./Vendor/N", "v"));
        p.run();
        assert_eq!(
            status_of(&p, h),
            vec![(vec![], StatusCode::OK)],
            "{announced}"
        );
        assert_eq!(
            status_of(&p, h2),
            vec![(vec![], StatusCode::OK)],
            "{announced}"
        );
        assert_eq!(p.server_end(), Some(SessionEnd::Completed), "{announced}");
        let notes: Vec<String> = p
            .messages(Dir::ToClient)
            .flat_map(|m| m.body.commands.iter())
            .filter_map(|c| match c {
                Command::Status(st) if st.cmd_ref == "0" => st.items.first().cloned(),
                _ => None,
            })
            .filter_map(|i| i.data.and_then(|d| d.as_str().map(str::to_owned)))
            .collect();
        assert_eq!(notes.len(), 1, "{announced}: {notes:?}");
        assert!(
            notes[0].contains(&format!("MaxMsgSize {announced}")),
            "{notes:?}"
        );
    }
}

both!(absurd_peer_max_msg_size, absurd_peer_max_msg_size);
