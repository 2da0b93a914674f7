//! Scripted-peer tests: one real session against hand-made messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pair;

use dm_proto::{ClientEvent, Error, ServerConfig, ServerSession, Timestamp};
use pair::{Setup, nonces};
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

/// A chunked Replace interrupted by another command: the device answers Alert 1225 naming the
/// object and executes nothing of it (digest §3.4).
#[test]
fn interrupted_large_object_gets_1225() {
    let (mut client, pkg1) = first_client_message(Encoding::Xml);
    let mut reply = SyncMl {
        hdr: pkg1.hdr.clone(),
        ..SyncMl::default()
    };
    reply.hdr.msg_id = "1".into();
    std::mem::swap(&mut reply.hdr.source, &mut reply.hdr.target);
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
    reply.body.commands.push(chunk);
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
    assert!(
        answer
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.code == AlertCode::NEXT_MESSAGE))
    );

    // Next message: an unrelated Get instead of the rest of the object.
    reply.hdr.msg_id = "2".into();
    reply.body.commands = vec![Command::Get(ItemCmd {
        cmd_id: "1".into(),
        items: vec![Item {
            target: Some(Location::uri("./DevInfo/Man")),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })];
    reply.body.is_final = true;
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
