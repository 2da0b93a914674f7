//! Nonces across sessions: what each side persists must be what the other side learnt, so the
//! next session authenticates at once (DM Security: a new nonce per session, digest §4.2), and
//! the nonce resynchronisation of Package 0 (digest §2.3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pair;

use dm_proto::{ClientEvent, ServerEvent, SessionEnd};
use pair::{Dir, Nonces, Pair};
use syncml::{Command, Encoding, Item, ItemCmd, Location, StatusCode};

fn get(uri: &str) -> Command {
    Command::Get(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(uri)),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

/// No 401/407 in either direction, both sides authenticated, session completed. (The server
/// only learns that the device accepted it when the device answers a package.)
fn assert_authenticated_at_once(p: &Pair, what: &str, device_answered: bool) {
    for dir in [Dir::ToServer, Dir::ToClient] {
        let codes = p.header_codes(dir);
        assert!(
            codes
                .iter()
                .all(|c| *c == StatusCode::OK || *c == StatusCode::AUTH_ACCEPTED),
            "{what}: header statuses {dir:?}: {codes:?}"
        );
    }
    assert!(
        p.client_events.contains(&ClientEvent::Authenticated),
        "{what}"
    );
    assert!(
        p.client_events.contains(&ClientEvent::ServerAuthenticated),
        "{what}"
    );
    assert!(
        p.server_events.contains(&ServerEvent::Authenticated),
        "{what}"
    );
    assert_eq!(
        p.server_events.contains(&ServerEvent::ServerAuthenticated),
        device_answered,
        "{what}"
    );
    assert_eq!(p.client_end(), Some(SessionEnd::Completed), "{what}");
    assert_eq!(p.server_end(), Some(SessionEnd::Completed), "{what}");
}

/// Regression (nonce drift): a server package without commands ends the session, so the
/// device sends nothing more; the nonce it would have issued to the server in its next Chal
/// must not be reported (and so not persisted), or the next session's server credentials and
/// Package 0 digest would be checked against a nonce the server never learnt. Consecutive
/// sessions, md5 both ways, alternating command-less and command-bearing server packages.
fn consecutive_sessions_keep_nonces_in_sync(encoding: Encoding) {
    let mut stored = Nonces::in_sync(b"c0", b"s0");
    // Session 1 ends with a command-less Package 2; session 3 with a command-less Package 4.
    for (n, with_commands) in [(1u16, false), (2, true), (3, true), (4, false), (5, true)] {
        let what = format!("session {n} ({encoding:?})");
        let mut p = stored.md5_setup(encoding, 0x100 + n).build();
        let h = with_commands.then(|| p.server.queue(get("./DevInfo/Man")));
        p.run();
        assert_authenticated_at_once(&p, &what, with_commands);
        if let Some(h) = h {
            assert!(p.server_events.iter().any(|e| matches!(e,
                ServerEvent::Results { handle, .. } if *handle == h)));
        } else {
            // The server's Package 2 closed the session: the device sent only Package 1...
            assert_eq!(p.client_msgs, 1, "{what}");
            // ...so the nonce it would have challenged the server with never left.
            assert!(
                !p.client_events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::NonceIssued(_))),
                "{what}: {:?}",
                p.client_events
            );
        }
        let next = stored.after(&p);
        assert_eq!(next.device_clcred, next.server_client, "{what}");
        assert_eq!(next.device_srvcred, next.server_own, "{what}");
        // The device's nonce rotates every session (212 + Chal in every Package 2).
        assert_ne!(next.device_clcred, stored.device_clcred, "{what}");
        stored = next;
    }
}

#[test]
fn consecutive_sessions_keep_nonces_in_sync_xml() {
    consecutive_sessions_keep_nonces_in_sync(Encoding::Xml);
}

#[test]
fn consecutive_sessions_keep_nonces_in_sync_wbxml() {
    consecutive_sessions_keep_nonces_in_sync(Encoding::Wbxml);
}

/// The server side of the same rule: with `syncml:auth-MAC` the server issues a nonce for every
/// device message it accepts; when the device's message also ends the session (it refused the
/// server's credentials for the last time), no response carries that nonce, so it must not be
/// reported. The next session's device credentials are then checked against the nonce the
/// device really holds.
fn server_nonce_of_a_message_never_answered_is_dropped(encoding: Encoding) {
    let mut s = pair::Setup::new(encoding);
    s.client.credentials = Some(pair::creds(dm_proto::AuthScheme::Hmac, "dev1", "pw", b"n0"));
    s.client_credentials_at_server =
        Some(pair::creds(dm_proto::AuthScheme::Hmac, "dev1", "pw", b"n0"));
    s.client.server_credentials = Some(pair::creds(dm_proto::AuthScheme::Md5, "srv1", "spw", b"s"));
    s.server.credentials = Some(pair::creds(
        dm_proto::AuthScheme::Md5,
        "srv1",
        "wrong",
        b"s",
    ));
    let mut p = s.build();
    p.server.queue(get("./DevInfo/Man"));
    p.run();
    assert_eq!(p.client_end(), Some(SessionEnd::PeerAuthFailed));
    assert_eq!(p.server_end(), Some(SessionEnd::AuthFailed));
    let stored = Nonces::in_sync(b"n0", b"s").after(&p);
    assert_eq!(stored.server_client, stored.device_clcred);

    // Next session: the device's MAC with its stored nonce is accepted at once.
    let mut s = pair::Setup::new(encoding);
    s.session_id = 0x77;
    s.client.credentials = Some(pair::creds(
        dm_proto::AuthScheme::Hmac,
        "dev1",
        "pw",
        &stored.device_clcred,
    ));
    s.client_credentials_at_server = Some(pair::creds(
        dm_proto::AuthScheme::Hmac,
        "dev1",
        "pw",
        &stored.server_client,
    ));
    let mut p = s.build();
    p.run();
    assert_eq!(p.header_codes(Dir::ToClient).first(), Some(&StatusCode::OK));
    assert!(p.server_events.contains(&ServerEvent::Authenticated));
    assert_eq!(p.server_end(), Some(SessionEnd::Completed));
}

#[test]
fn server_nonce_of_a_message_never_answered_is_dropped_xml() {
    server_nonce_of_a_message_never_answered_is_dropped(Encoding::Xml);
}

#[test]
fn server_nonce_of_a_message_never_answered_is_dropped_wbxml() {
    server_nonce_of_a_message_never_answered_is_dropped(Encoding::Wbxml);
}
