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
use pair::{Dir, Nonces, Pair, get};
use syncml::{Encoding, StatusCode};

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

/// Nonce resynchronisation (digest §2.3): both sides' nonces are out of step, so the server
/// sends Package 0 with the special resync nonce; the device's digest check reports it, the
/// device authenticates Package 1 with that same nonce and expects it in the server's
/// credentials; the server, allowed by its driver, accepts it and both sides hand out fresh
/// nonces, so the next session authenticates at once.
fn resync(encoding: Encoding, special: &[u8], server_allows: bool) {
    use syncml::notification::{self, Notification, verify_with_resync};
    let what = format!("{encoding:?}, resync nonce {special:?}, allowed {server_allows}");
    let session_id = 0x0042;
    // The device's view and the server's view disagree on both nonces.
    let device = Nonces::in_sync(b"device-c", b"device-s");
    let server = Nonces::in_sync(b"server-c", b"server-s");
    let mut stored = Nonces {
        device_clcred: device.device_clcred,
        device_srvcred: device.device_srvcred,
        server_client: server.server_client,
        server_own: server.server_own,
    };

    // Package 0 with the special nonce; the device checks it against its stored nonce.
    let pkg0 = Notification::new(pair::SERVER_ID, session_id)
        .encode("srvpw", special)
        .unwrap();
    let matched = verify_with_resync(&pkg0, pair::SERVER_ID, "srvpw", &stored.device_srvcred)
        .expect("the digest verifies with the resync nonce");
    assert_ne!(matched, notification::NonceMatch::Stored);

    let mut s = stored.md5_setup(encoding, session_id);
    s.initiator = dm_proto::Initiator::Server;
    s.client.cred_in_first_message = false;
    assert!(s.client.resync_with(matched));
    assert!(
        s.client.cred_in_first_message,
        "resync sends Cred in Package 1"
    );
    let mut p = s.build();
    if server_allows {
        p.server.allow_resync_nonce(special);
    }
    let h = p.server.queue(get("./DevInfo/Mod"));
    p.run();
    assert!(
        p.server_events.iter().any(|e| matches!(e,
            ServerEvent::Results { handle, .. } if *handle == h)),
        "{what}"
    );
    assert_eq!(
        p.server_events.contains(&ServerEvent::ResyncNonceAccepted),
        server_allows,
        "{what}"
    );
    let first_answer = p.header_codes(Dir::ToClient)[0];
    if server_allows {
        // Package 1 itself authenticated both ways.
        assert_authenticated_at_once(&p, &what, true);
        assert_eq!(first_answer, StatusCode::AUTH_ACCEPTED, "{what}");
    } else {
        // Not allowed: challenged with a fresh nonce, which recovers as well.
        assert_eq!(first_answer, StatusCode::INVALID_CREDENTIALS, "{what}");
        assert_eq!(p.client_end(), Some(SessionEnd::Completed), "{what}");
    }
    stored = stored.after(&p);
    assert_eq!(stored.device_clcred, stored.server_client, "{what}");
    assert_eq!(stored.device_srvcred, stored.server_own, "{what}");

    // Back in step: the next Package 0 verifies with the stored nonce, the next session
    // authenticates at once with the persisted nonces.
    let pkg0 = Notification::new(pair::SERVER_ID, 0x43)
        .encode("srvpw", &stored.server_own)
        .unwrap();
    assert_eq!(
        verify_with_resync(&pkg0, pair::SERVER_ID, "srvpw", &stored.device_srvcred),
        Some(notification::NonceMatch::Stored),
        "{what}"
    );
    let mut p = stored.md5_setup(encoding, 0x43).build();
    p.server.queue(get("./DevInfo/Man"));
    p.run();
    assert_authenticated_at_once(&p, &what, true);
}

#[test]
fn resync_nonce_octets_allowed() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        resync(encoding, syncml::notification::RESYNC_NONCE_OCTETS, true);
    }
}

#[test]
fn resync_nonce_text_allowed() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        resync(encoding, syncml::notification::RESYNC_NONCE_TEXT, true);
    }
}

#[test]
fn resync_nonce_refused_by_the_server_recovers_through_challenge() {
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        resync(encoding, syncml::notification::RESYNC_NONCE_OCTETS, false);
    }
}

/// A driver that keeps no session for a refused sender remembers the nonce of the challenge
/// it sent: allowed with `allow_challenge_nonce`, credentials computed with it authenticate
/// package 1 at once; `verified_nonce` names it and `next_nonce` is the one the answer's
/// Chal carries. Without it the same package 1 is refused (401).
fn challenge_nonce_authenticates_once(encoding: Encoding) {
    for allowed in [true, false] {
        let mut s = pair::Setup::new(encoding);
        s.client.credentials = Some(pair::creds(
            dm_proto::AuthScheme::Md5,
            "dev1",
            "pw",
            b"chal",
        ));
        s.client_credentials_at_server = Some(pair::creds(
            dm_proto::AuthScheme::Md5,
            "dev1",
            "pw",
            b"stored",
        ));
        let mut p = s.build();
        if allowed {
            p.server.allow_challenge_nonce(b"chal");
        }
        p.server.queue(get("./DevInfo/Mod"));
        p.run();
        let first = p.header_codes(Dir::ToClient)[0];
        if allowed {
            assert_eq!(first, StatusCode::AUTH_ACCEPTED);
            assert_eq!(p.server.verified_nonce(), Some(&b"chal"[..]));
        } else {
            assert_eq!(first, StatusCode::INVALID_CREDENTIALS);
            // It recovers with the fresh nonce of the challenge, which is what verified.
            assert_ne!(p.server.verified_nonce(), Some(&b"chal"[..]));
        }
        assert_eq!(p.server.next_nonce(), None, "committed with the answer");
        assert_eq!(p.client_end(), Some(SessionEnd::Completed));
    }
}

#[test]
fn challenge_nonce_authenticates_once_xml() {
    challenge_nonce_authenticates_once(Encoding::Xml);
}

#[test]
fn challenge_nonce_authenticates_once_wbxml() {
    challenge_nonce_authenticates_once(Encoding::Wbxml);
}
