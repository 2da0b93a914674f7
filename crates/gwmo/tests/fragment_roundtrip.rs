//! Property tests of the SyncML fragment codec (`syncml::xml::fragment`, used by
//! `gwmo::payload` for Fanout `Commands` and device `Response`s): a fragment decodes to exactly
//! what the same commands give inside a whole message, and no input makes it panic.
//!
//! The command strategies are syncml's own (`crates/syncml/tests/strategy`), so the fragment
//! codec is tested on every command shape the message codec is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../syncml/tests/strategy/mod.rs"]
mod strategy;

use proptest::prelude::*;
use syncml::xml::{self, FragmentKind};
use syncml::{Command, Limits, SyncBody, SyncMl};

/// `commands` as the body of a message, through the message codec.
fn via_message(commands: &[Command]) -> (String, Vec<Command>) {
    let msg = SyncMl {
        body: SyncBody {
            commands: commands.to_vec(),
            is_final: false,
        },
        ..envelope()
    };
    let bytes = xml::encode(&msg);
    let back = xml::decode(&bytes, &Limits::default()).expect("message codec round trip");
    (String::from_utf8(bytes).unwrap(), back.body.commands)
}

fn envelope() -> SyncMl {
    SyncMl {
        version: syncml::Version::V1_2,
        hdr: syncml::SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1".into(),
            msg_id: "1".into(),
            ..syncml::SyncHdr::default()
        },
        body: SyncBody::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// GwMO-FORA-001 (commands carried to devices) and Y.3 (responses stored): for both kinds,
    /// the fragment is the message's body text and decodes to what the message decodes to.
    #[test]
    fn fragment_equals_message_body(commands in proptest::collection::vec(strategy::command(), 0..5)) {
        for kind in [FragmentKind::Commands, FragmentKind::Responses] {
            let cs: Vec<Command> = commands.iter().filter(|c| kind.admits(c)).cloned().collect();
            let text = xml::encode_fragment(&cs);
            let (message, expected) = via_message(&cs);
            let body = format!("<SyncBody>{}</SyncBody>", text);
            prop_assert!(message.contains(&body));
            let back = xml::decode_fragment(text.as_bytes(), kind, &Limits::default());
            prop_assert_eq!(back.as_ref(), Ok(&expected), "{}", text);
            // A fixpoint after one trip.
            prop_assert_eq!(xml::encode_fragment(&expected), xml::encode_fragment(back.as_ref().unwrap()));
        }
    }

    /// A fragment with a command of the other kind is refused, never half-read.
    #[test]
    fn other_kind_is_refused(commands in proptest::collection::vec(strategy::command(), 1..4)) {
        let text = xml::encode_fragment(&commands);
        for kind in [FragmentKind::Commands, FragmentKind::Responses] {
            let all_admitted = commands.iter().all(|c| kind.admits(c));
            let back = xml::decode_fragment(text.as_bytes(), kind, &Limits::default());
            prop_assert_eq!(back.is_ok(), all_admitted, "{}", text);
        }
    }

    /// Arbitrary bytes never make the decoder panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for kind in [FragmentKind::Commands, FragmentKind::Responses] {
            let _ = xml::decode_fragment(&bytes, kind, &Limits::default());
        }
    }

    /// Cut or spliced fragments never panic, and what decodes re-encodes to a fragment that
    /// decodes to the same commands.
    #[test]
    fn mutated_fragments_never_panic(
        commands in proptest::collection::vec(strategy::command(), 1..4),
        cut in any::<prop::sample::Index>(),
        insert in "(</SyncBody>|<SyncBody>|<Final/>|</Get>|<Get>|&amp;|<!--|]]>|x){0,2}",
    ) {
        let text = xml::encode_fragment(&commands);
        let at = cut.index(text.len() + 1);
        let mut bytes = text.into_bytes();
        bytes.splice(at..at, insert.bytes());
        for kind in [FragmentKind::Commands, FragmentKind::Responses] {
            if let Ok(cs) = xml::decode_fragment(&bytes, kind, &Limits::default()) {
                let again = xml::encode_fragment(&cs);
                prop_assert_eq!(xml::decode_fragment(again.as_bytes(), kind, &Limits::default()), Ok(cs));
            }
        }
    }
}
