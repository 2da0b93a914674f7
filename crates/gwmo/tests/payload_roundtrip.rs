//! Property tests of the form-urlencoded payloads: every value round-trips, and no text makes
//! a decoder panic or return more than it read.

use std::collections::BTreeMap;
use std::time::Duration;

use gwmo::fanout::{Aggregate, CommandAggregate, Exception, Outcome};
use gwmo::inventory::{Address, DevInfoSummary, Kind, Presence, Protocol};
use gwmo::mode::{Match, Mode};
use gwmo::payload::{DeviceReport, RegistrationRequest};
use proptest::prelude::*;
use syncml::Limits;

/// Text with the characters forms must escape.
fn text() -> impl Strategy<Value = String> {
    "[ -~éü€&=+%:/]{0,20}"
}

fn id() -> impl Strategy<Value = String> {
    "[ -~é]{1,20}".prop_filter("node name", |s| s != "." && s != "..")
}

fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        "[a-z0-9.]{1,12}:[0-9]{1,5}".prop_map(Address::Udp),
        "http://[a-z0-9./]{1,20}".prop_map(Address::Http),
    ]
}

fn report() -> impl Strategy<Value = DeviceReport> {
    (
        id(),
        pick(Kind::ALL),
        pick(Mode::ALL),
        pick(Protocol::ALL),
        proptest::collection::vec(address(), 0..3),
        (text(), text(), text(), text()),
        pick(Presence::ALL),
    )
        .prop_map(
            |(id, kind, mode, protocol, addresses, (man, model, dm_v, lang), presence)| {
                DeviceReport {
                    id,
                    kind,
                    mode,
                    protocol,
                    addresses,
                    dev_info: DevInfoSummary {
                        man,
                        model,
                        dm_v,
                        lang,
                    },
                    presence,
                }
            },
        )
}

fn registration() -> impl Strategy<Value = RegistrationRequest> {
    (
        proptest::option::of(pick(Mode::ALL)),
        proptest::collection::vec(address(), 0..3),
        proptest::collection::vec("[ -~]{1,12}", 0..3),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(mode, addresses, servers, lease)| RegistrationRequest {
            mode,
            addresses,
            servers,
            lease: lease.map(|s| Duration::from_secs(u64::from(s))),
        })
}

fn matcher() -> impl Strategy<Value = Match> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(pick(Kind::ALL)),
        proptest::option::of(pick(Protocol::ALL)),
    )
        .prop_map(|(man, model, id_prefix, kind, protocol)| Match {
            man,
            model,
            id_prefix,
            kind,
            protocol,
        })
}

fn aggregate() -> impl Strategy<Value = Aggregate> {
    let command = (
        "[0-9]{1,3}",
        proptest::collection::btree_map(any::<u16>(), any::<u64>(), 0..3),
        proptest::collection::vec((text(), any::<u64>()), 0..3),
        any::<u64>(),
    )
        .prop_map(
            |(cmd_ref, statuses, values, other_values)| CommandAggregate {
                cmd_ref,
                statuses: statuses.into_iter().collect::<BTreeMap<_, _>>(),
                values,
                other_values,
            },
        );
    let exception = (
        id(),
        pick(Outcome::ALL),
        proptest::collection::vec(("[0-9]{1,3}", any::<u16>()), 0..3),
    )
        .prop_map(|(device, outcome, codes)| Exception {
            device,
            outcome,
            codes,
        });
    (
        text(),
        proptest::array::uniform7(any::<u64>()),
        proptest::collection::vec(command, 0..3),
        proptest::collection::vec(exception, 0..3),
        (any::<u64>(), pick(gwmo::fanout::State::ALL)),
    )
        .prop_map(
            |(op, c, commands, exceptions, (exceptions_omitted, state))| Aggregate {
                op,
                state,
                transparent: c[6],
                targets: c[0],
                answered: c[1],
                timed_out: c[2],
                failed: c[3],
                unknown: c[4],
                cancelled: c[5],
                commands,
                exceptions,
                exceptions_omitted,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// GwMO-DI-004: deviceattached / devicedetached Data round-trips.
    #[test]
    fn device_report_round_trip(r in report()) {
        prop_assert_eq!(DeviceReport::decode(&r.encode(), &Limits::default()), Ok(r));
    }

    /// The Device Registration Alert's Data round-trips.
    #[test]
    fn registration_round_trip(r in registration()) {
        prop_assert_eq!(RegistrationRequest::decode(&r.encode(), &Limits::default()), Ok(r));
    }

    /// GwMO-MOO-001: `ModeRules/<x>/Match` round-trips.
    #[test]
    fn match_round_trip(m in matcher()) {
        prop_assert_eq!(Match::parse(&m.to_form(), &Limits::default()), Ok(m));
    }

    /// GwMO-FORA-002: the consolidated payload round-trips.
    #[test]
    fn aggregate_round_trip(a in aggregate()) {
        prop_assert_eq!(Aggregate::decode(&a.encode(), &Limits::default()), Ok(a));
    }

    /// No text makes a form decoder panic; decoded text is never longer than the input.
    #[test]
    fn form_decoders_are_total(s in "[a-z=&%0-9A-F:+éü]{0,64}") {
        let l = Limits::default();
        if let Ok(r) = DeviceReport::decode(&s, &l) {
            prop_assert!(r.id.len() <= s.len());
        }
        let _ = RegistrationRequest::decode(&s, &l);
        let _ = Match::parse(&s, &l);
        if let Ok(a) = Aggregate::decode(&s, &l) {
            prop_assert!(a.op.len() <= s.len());
            prop_assert!(a.commands.len() + a.exceptions.len() <= s.len());
        }
    }
}

fn image_ready() -> impl Strategy<Value = gwmo::payload::ImageReady> {
    use gwmo::image::{ImageState, Sha256Hex};
    (
        "[A-Za-z0-9_.-]{1,64}".prop_filter("entry name", |s| s != "." && s != ".."),
        proptest::array::uniform32(any::<u8>()),
        any::<u64>(),
        "[ -~é]{0,40}",
        pick(&ImageState::ALL),
        proptest::option::of(100u16..1000),
    )
        .prop_map(
            |(id, sha, size, uri, state, code)| gwmo::payload::ImageReady {
                id,
                sha256: Sha256Hex::from_bytes(&sha),
                size,
                uri,
                state,
                code,
            },
        )
}

proptest! {
    /// GwMO-DCIS-001: every imageready payload round-trips.
    #[test]
    fn gwmo_dcis_001_image_ready_round_trips(r in image_ready()) {
        let text = r.encode();
        prop_assert_eq!(gwmo::payload::ImageReady::decode(&text, &Limits::default()), Ok(r));
    }

    /// No text makes the imageready decoder panic.
    #[test]
    fn image_ready_decode_is_total(text in "[ -~%&=]{0,200}") {
        let _ = gwmo::payload::ImageReady::decode(&text, &Limits::default());
    }
}
