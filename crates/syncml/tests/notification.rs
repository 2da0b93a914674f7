//! Package 0 vectors of the implementer's digest §2.4 (`testdata/pkg0/`), reproduced exactly by
//! the encoder and decoded back, for versions 11 and 12; plus WSP push framing of those vectors
//! (DM-1 over UDP; the X-Oma-GwMO relay header serves GwMO transparent mode, GwMO-HLF-001).

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use syncml::notification::wsp::{self, Header};
use syncml::notification::{
    self, Initiator, Notification, UiMode, session_id_from_hex, session_id_to_hex,
};

const SERVER_ID: &str = "dmserver";
const PASSWORD: &str = "srvpwd";
const NONCE: &[u8] = b"n0";

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/pkg0/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn vector_notification(version: u16) -> Notification {
    Notification {
        version,
        ui_mode: UiMode::Background,
        initiator: Initiator::Server,
        session_id: 1,
        server_id: SERVER_ID.to_owned(),
        vendor: Vec::new(),
    }
}

#[test]
fn encode_reproduces_digest_vectors_v11_and_v12() {
    for (version, file) in [(11, "v11-dmserver-s1.bin"), (12, "v12-dmserver-s1.bin")] {
        let bytes = vector_notification(version)
            .encode(PASSWORD, NONCE)
            .unwrap();
        assert_eq!(bytes, vector(file), "version {version}");
    }
}

#[test]
fn decode_vectors_and_verify_digest() {
    for (version, file) in [(11, "v11-dmserver-s1.bin"), (12, "v12-dmserver-s1.bin")] {
        let bytes = vector(file);
        let (n, digest) = notification::decode(&bytes).unwrap();
        assert_eq!(n, vector_notification(version));
        assert_eq!(&digest[..], &bytes[..16]);
        assert_eq!(n.session_id_hex(), "1");
        assert!(notification::verify(&bytes, SERVER_ID, PASSWORD, NONCE));
        assert!(!notification::verify(&bytes, SERVER_ID, "wrong", NONCE));
        assert!(!notification::verify(&bytes, SERVER_ID, PASSWORD, b"n1"));
        assert!(!notification::verify(&bytes, "other", PASSWORD, NONCE));
        // Any changed trigger byte breaks the digest.
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() ^= 0x20;
        assert!(!notification::verify(&tampered, SERVER_ID, PASSWORD, NONCE));
    }
}

#[test]
fn default_version_is_11() {
    let n = Notification::new(SERVER_ID, 1);
    assert_eq!(n.version, notification::VERSION_DEFAULT);
    assert_eq!(n.version, 11);
    assert_eq!(n.initiator, Initiator::Server);
}

#[test]
fn round_trip_all_field_values() {
    for ui_mode in [
        UiMode::NotSpecified,
        UiMode::Background,
        UiMode::Informative,
        UiMode::UserInteraction,
    ] {
        for initiator in [Initiator::Client, Initiator::Server] {
            for session_id in [0u16, 1, 0x2A, 0xFFFF] {
                let n = Notification {
                    version: 12,
                    ui_mode,
                    initiator,
                    session_id,
                    server_id: "srv/é".to_owned(),
                    vendor: vec![0, 1, 2, 0xff],
                };
                let bytes = n.encode("pw", b"\x00\x01").unwrap();
                let (back, _) = notification::decode(&bytes).unwrap();
                assert_eq!(back, n);
                assert!(notification::verify(&bytes, "srv/é", "pw", b"\x00\x01"));
            }
        }
    }
}

#[test]
fn session_id_hex_is_uppercase_without_leading_zeros() {
    assert_eq!(session_id_to_hex(0x002A), "2A");
    assert_eq!(session_id_to_hex(0x0abc), "ABC");
    assert_eq!(session_id_from_hex("ABC").unwrap(), 0xABC);
}

#[test]
fn decode_never_panics_on_prefixes_and_bit_flips() {
    let bytes = vector("v11-dmserver-s1.bin");
    for len in 0..=bytes.len() {
        assert!(notification::decode(&bytes[..len]).is_ok() == (len == bytes.len()));
        let _ = wsp::decode_push(&bytes[..len]);
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            if let Ok((n, _)) = notification::decode(&b) {
                // What decodes re-encodes to the same trigger bytes.
                assert_eq!(n.trigger().unwrap(), &b[16..]);
            }
        }
    }
}

#[test]
fn wsp_push_of_vector_and_gwmo_relay_header() {
    let body = vector("v12-dmserver-s1.bin");
    let pdu = wsp::encode_push(0x2A, &body, &[]).unwrap();
    assert_eq!(&pdu[..6], &[0x2A, 0x06, 0x03, 0xC4, 0xAF, 0x87]);
    let push = wsp::decode_push(&pdu).unwrap();
    assert!(push.is_dm_notification());
    assert_eq!(push.body, body);
    assert!(notification::verify(&push.body, SERVER_ID, PASSWORD, NONCE));

    // Transparent mode: the gateway learns the End Device from X-Oma-GwMO and relays the body
    // unchanged; the device still verifies with its own credentials.
    let pdu = wsp::encode_push(1, &body, &[Header::GwMo("IMEI:490154203237518".into())]).unwrap();
    let push = wsp::decode_push(&pdu).unwrap();
    assert_eq!(push.gwmo_device(), Some("IMEI:490154203237518"));
    assert_eq!(push.body, body);
    let relayed = wsp::encode_push(2, &push.body, &[]).unwrap();
    let relayed = wsp::decode_push(&relayed).unwrap();
    assert_eq!(relayed.gwmo_device(), None);
    assert!(notification::verify(
        &relayed.body,
        SERVER_ID,
        PASSWORD,
        NONCE
    ));
}
