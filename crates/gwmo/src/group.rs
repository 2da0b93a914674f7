//! Device groups (GwMO-Group-001/002; docs/gateway.md §8): named sets of End Devices and child
//! gateways, under `./GwMO/DeviceInventory/Groups/<g>` (our layout).
//!
//! In: group definitions from the DM server (`Members`: comma-separated device ids; `Match`:
//! form-urlencoded conditions), the [`GroupLimits`] to enforce and the [`Limits`] of the form
//! codec, and inventory records ([`crate::inventory::DeviceRecord`]) to evaluate membership
//! against. Out: [`Group`]s kept in [`Groups`], their resolved members
//! ([`Group::resolve`]: each id once, the explicit ones first in their given order, then the
//! matched ones in inventory order) and typed errors with their SyncML status
//! ([`status_of`]).
//!
//! `Match` keys: `man`, `mod` (equal, ASCII case ignored), `mode`, `protocol`, `kind`,
//! `status` (`attached` / `detached`) (by name) and `id_prefix` (the id starts with it, case
//! kept). Different keys must all hold; a repeated key holds if any of its values does; an
//! unknown key is an error (a typo must not silently widen a group); an empty `Match`
//! matches every device; a group without a `Match` has no matched members.
//!
//! Costs: parsing is one pass over the text (linear, bounded by [`GroupLimits`] and
//! [`Limits`]); [`Group::resolve`] is linear in the explicit members plus the inventory times
//! the `Match` size.

use std::collections::{BTreeMap, HashSet};

use syncml::{Limits, StatusCode};

use crate::Error;
use crate::inventory::{DeviceRecord, Kind, Presence, Protocol, check_device_id};
use crate::mode::Mode;
use crate::payload::form::{Fields, encode_pairs};

/// The bounds of the group model (docs/gateway.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Most groups held (default 1,024; beyond: 420).
    pub max_groups: usize,
    /// Most explicit members of one group (default 100,000; beyond: 413).
    pub max_members: usize,
    /// Longest `Match` text in bytes (default 4,096; beyond: 413).
    pub max_match_len: usize,
    /// Longest `Members` text in bytes (default 100,000 ids of 64 bytes; beyond: 413).
    pub max_members_len: usize,
    /// Longest device id (default 256).
    pub max_id_len: usize,
    /// Longest group name (default 64).
    pub max_name_len: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_groups: 1024,
            max_members: 100_000,
            max_match_len: 4096,
            max_members_len: 100_000 * 65,
            max_id_len: 256,
            max_name_len: 64,
        }
    }
}

/// The conditions of a group's `Match` (see the module docs); an empty list is "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Match {
    /// `man=`: manufacturer, ASCII case ignored.
    pub man: Vec<String>,
    /// `mod=`: model, ASCII case ignored.
    pub model: Vec<String>,
    /// `mode=`.
    pub mode: Vec<Mode>,
    /// `protocol=`.
    pub protocol: Vec<Protocol>,
    /// `kind=`.
    pub kind: Vec<Kind>,
    /// `status=`: attached or detached.
    pub status: Vec<Presence>,
    /// `id_prefix=`: the device id starts with one of these.
    pub id_prefix: Vec<String>,
}

impl Match {
    /// Parses the form-urlencoded `Match` text, at most `group.max_match_len` bytes and
    /// `limits.max_elements` fields.
    ///
    /// # Errors
    /// [`Error::FormTooLarge`] beyond the length bound, [`Error::FormTooManyFields`],
    /// [`Error::FormInvalidUtf8`], [`Error::FormUnknownKey`] for a key outside the seven,
    /// [`Error::FormInvalidValue`] for a bad `mode`, `protocol`, `kind` or `status`.
    pub fn parse(text: &str, limits: &Limits, group: &GroupLimits) -> Result<Match, Error> {
        let bounded = Limits {
            max_size: limits.max_size.min(group.max_match_len),
            ..*limits
        };
        let mut m = Match::default();
        let mut fields = Fields::new(text, &bounded)?;
        while let Some(f) = fields.next_field()? {
            match f.key.as_str() {
                "man" => m.man.push(f.value.clone()),
                "mod" => m.model.push(f.value.clone()),
                "id_prefix" => m.id_prefix.push(f.value.clone()),
                "mode" => m.mode.push(f.parse("mode", |v| Mode::parse(&v))?),
                "protocol" => m
                    .protocol
                    .push(f.parse("protocol", |v| Protocol::parse(&v))?),
                "kind" => m.kind.push(f.parse("kind", |v| Kind::parse(&v))?),
                "status" => m.status.push(f.parse("status", |v| Presence::parse(&v))?),
                _ => {
                    return Err(Error::FormUnknownKey {
                        key: crate::error::peer_text(&f.key),
                        offset: f.offset,
                    });
                }
            }
        }
        Ok(m)
    }

    /// The form-urlencoded text, keys in a fixed order ([`Match::parse`] reads it back to the
    /// same value).
    #[must_use]
    pub fn to_form(&self) -> String {
        let mut pairs: Vec<(&str, Option<&str>)> = Vec::new();
        pairs.extend(self.man.iter().map(|v| ("man", Some(v.as_str()))));
        pairs.extend(self.model.iter().map(|v| ("mod", Some(v.as_str()))));
        pairs.extend(self.mode.iter().map(|v| ("mode", Some(v.as_str()))));
        pairs.extend(self.protocol.iter().map(|v| ("protocol", Some(v.as_str()))));
        pairs.extend(self.kind.iter().map(|v| ("kind", Some(v.as_str()))));
        pairs.extend(self.status.iter().map(|v| ("status", Some(v.as_str()))));
        pairs.extend(
            self.id_prefix
                .iter()
                .map(|v| ("id_prefix", Some(v.as_str()))),
        );
        encode_pairs(pairs)
    }

    /// True when every key given holds for `r` (some value of each).
    #[must_use]
    pub fn matches(&self, r: &DeviceRecord) -> bool {
        fn any<T>(want: &[T], holds: impl Fn(&T) -> bool) -> bool {
            want.is_empty() || want.iter().any(holds)
        }
        any(&self.man, |w| r.dev_info.man.eq_ignore_ascii_case(w))
            && any(&self.model, |w| r.dev_info.model.eq_ignore_ascii_case(w))
            && any(&self.mode, |w| *w == r.mode)
            && any(&self.protocol, |w| *w == r.protocol)
            && any(&self.kind, |w| *w == r.kind)
            && any(&self.status, |w| *w == r.presence)
            && any(&self.id_prefix, |w| r.id.starts_with(w.as_str()))
    }
}

/// Reads a `Members` value: comma-separated device ids, blanks around them dropped, empty
/// pieces skipped, a repeated id kept once (first place).
///
/// # Errors
/// [`Error::GroupBound`] (`what` = `members`) for a text over `max_members_len` bytes or more
/// than `max_members` ids; [`Error::InvalidDeviceId`] for an id the inventory cannot hold.
pub fn parse_members(text: &str, limits: &GroupLimits) -> Result<Vec<String>, Error> {
    if text.len() > limits.max_members_len {
        return Err(Error::GroupBound {
            what: "members",
            max: limits.max_members_len,
        });
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for id in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        check_device_id(id, limits.max_id_len)?;
        if seen.insert(id) {
            if out.len() >= limits.max_members {
                return Err(Error::GroupBound {
                    what: "members",
                    max: limits.max_members,
                });
            }
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

/// One group: explicit members and an optional [`Match`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// Explicit members, in the order given (each once).
    pub members: Vec<String>,
    /// Membership by match; `None`: no matched members.
    pub matcher: Option<Match>,
}

impl Group {
    /// The members now (GwMO-Group-002): each id once, the explicit ones first in their given
    /// order (whether registered or not: an unknown one is the fanout's 404), then the
    /// records `inventory` yields that the `Match` holds for, in that order.
    #[must_use]
    pub fn resolve<'a>(
        &self,
        inventory: impl IntoIterator<Item = &'a DeviceRecord>,
    ) -> Vec<String> {
        let mut seen: HashSet<&str> = self.members.iter().map(String::as_str).collect();
        let mut out = self.members.clone();
        if let Some(m) = &self.matcher {
            for r in inventory {
                if m.matches(r) && seen.insert(r.id.as_str()) {
                    out.push(r.id.clone());
                }
            }
        }
        out
    }

    /// How many members [`Group::resolve`] gives, without building the list.
    #[must_use]
    pub fn size<'a>(&self, inventory: impl IntoIterator<Item = &'a DeviceRecord>) -> usize {
        let explicit: HashSet<&str> = self.members.iter().map(String::as_str).collect();
        let matched = self.matcher.as_ref().map_or(0, |m| {
            inventory
                .into_iter()
                .filter(|r| m.matches(r) && !explicit.contains(r.id.as_str()))
                .count()
        });
        explicit.len() + matched
    }
}

/// Every group, by name, under [`GroupLimits`].
#[derive(Debug, Clone, Default)]
pub struct Groups {
    limits: GroupLimits,
    groups: BTreeMap<String, Group>,
}

/// Checks a group name: one node name, non-empty, at most `max` bytes, no `/` or control
/// characters, not `.` / `..`.
fn check_name(name: &str, max: usize) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > max {
        "too long"
    } else if name == "." || name == ".." || name.contains('/') {
        "not a node name"
    } else if name.chars().any(char::is_control) {
        "control character"
    } else {
        return Ok(());
    };
    Err(Error::InvalidValue {
        what: "group name",
        found: format!("{}: {reason}", crate::error::peer_text(name)),
    })
}

impl Groups {
    /// No groups, under `limits`.
    #[must_use]
    pub fn new(limits: GroupLimits) -> Groups {
        Groups {
            limits,
            groups: BTreeMap::new(),
        }
    }

    /// The bounds.
    #[must_use]
    pub fn limits(&self) -> &GroupLimits {
        &self.limits
    }

    /// Number of groups.
    #[must_use]
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True without groups.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The group `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// Every group, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Group)> {
        self.groups.iter()
    }

    /// Creates the empty group `name`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for a bad name, [`Error::GroupExists`], [`Error::GroupBound`]
    /// (`what` = `groups`) when `max_groups` are held. Nothing changes on error.
    pub fn create(&mut self, name: &str) -> Result<(), Error> {
        check_name(name, self.limits.max_name_len)?;
        if self.groups.contains_key(name) {
            return Err(Error::GroupExists {
                name: crate::error::peer_text(name),
            });
        }
        if self.groups.len() >= self.limits.max_groups {
            return Err(Error::GroupBound {
                what: "groups",
                max: self.limits.max_groups,
            });
        }
        self.groups.insert(name.to_owned(), Group::default());
        Ok(())
    }

    /// Puts a group as it is (restored from a store), within the bounds.
    ///
    /// # Errors
    /// As [`Groups::create`] (an existing one is replaced), and [`Error::GroupBound`] for too
    /// many members.
    pub fn restore(&mut self, name: &str, group: Group) -> Result<(), Error> {
        check_name(name, self.limits.max_name_len)?;
        if group.members.len() > self.limits.max_members {
            return Err(Error::GroupBound {
                what: "members",
                max: self.limits.max_members,
            });
        }
        if !self.groups.contains_key(name) && self.groups.len() >= self.limits.max_groups {
            return Err(Error::GroupBound {
                what: "groups",
                max: self.limits.max_groups,
            });
        }
        self.groups.insert(name.to_owned(), group);
        Ok(())
    }

    /// Sets the explicit members of `name` from a `Members` value ([`parse_members`]).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`]; [`parse_members`]'s errors. Nothing changes on error.
    pub fn set_members(&mut self, name: &str, text: &str) -> Result<&Group, Error> {
        let members = parse_members(text, &self.limits)?;
        let g = self.group_mut(name)?;
        g.members = members;
        Ok(g)
    }

    /// Sets the `Match` of `name` ([`Match::parse`]).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`]; [`Match::parse`]'s errors. Nothing changes on error.
    pub fn set_match(&mut self, name: &str, text: &str, limits: &Limits) -> Result<&Group, Error> {
        let m = Match::parse(text, limits, &self.limits)?;
        let g = self.group_mut(name)?;
        g.matcher = Some(m);
        Ok(g)
    }

    /// Removes `name` (its devices stay in the inventory).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn remove(&mut self, name: &str) -> Result<Group, Error> {
        self.groups.remove(name).ok_or_else(|| Error::UnknownGroup {
            name: crate::error::peer_text(name),
        })
    }

    fn group_mut(&mut self, name: &str) -> Result<&mut Group, Error> {
        self.groups
            .get_mut(name)
            .ok_or_else(|| Error::UnknownGroup {
                name: crate::error::peer_text(name),
            })
    }
}

/// The SyncML status a DM command changing a group gets for `e`: 413 for a value over its
/// bound, 420 when the gateway holds its maximum of groups, 418 for an existing group, 404
/// for an unknown one, 400 for anything malformed.
#[must_use]
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::FormTooLarge { .. } | Error::FormTooManyFields { .. } => {
            StatusCode::REQUEST_ENTITY_TOO_LARGE
        }
        Error::GroupBound { what: "groups", .. } => StatusCode::DEVICE_FULL,
        Error::GroupBound { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
        Error::GroupExists { .. } => StatusCode::ALREADY_EXISTS,
        Error::UnknownGroup { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{DevInfoSummary, DeviceRecord};
    use proptest::prelude::*;
    use std::time::Duration;

    fn rec(id: &str, man: &str, mode: Mode, presence: Presence) -> DeviceRecord {
        DeviceRecord {
            id: id.to_owned(),
            kind: Kind::EndDevice,
            mode,
            protocol: Protocol::OmaDm,
            addresses: vec![],
            lease: Duration::from_secs(60),
            last_seen: dm_tree::Timestamp(1),
            registered: dm_tree::Timestamp(1),
            presence,
            dev_info: DevInfoSummary {
                man: man.to_owned(),
                model: "M1".to_owned(),
                dm_v: "1.2".to_owned(),
                lang: "en".to_owned(),
            },
            servers: vec![],
        }
    }

    fn fleet() -> Vec<DeviceRecord> {
        vec![
            rec("IMEI:1", "Acme", Mode::Proxy, Presence::Attached),
            rec("IMEI:2", "acme", Mode::Transparent, Presence::Attached),
            rec("IMEI:3", "Other", Mode::Proxy, Presence::Detached),
            rec("mac:4", "Acme", Mode::Proxy, Presence::Detached),
        ]
    }

    fn l() -> Limits {
        Limits::default()
    }

    /// GwMO-Group-001: membership by match; different keys all hold, a repeated key any.
    #[test]
    fn gwmo_group_001_match_semantics() {
        let g = GroupLimits::default();
        let m = |t: &str| Match::parse(t, &l(), &g).unwrap();
        let ids = |m: Match| {
            fleet()
                .iter()
                .filter(|r| m.matches(r))
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(m("")).len(), 4);
        assert_eq!(ids(m("man=ACME")), ["IMEI:1", "IMEI:2", "mac:4"]);
        assert_eq!(ids(m("man=acme&mode=Proxy")), ["IMEI:1", "mac:4"]);
        assert_eq!(
            ids(m("man=Other&man=acme&status=detached")),
            ["IMEI:3", "mac:4"]
        );
        assert_eq!(
            ids(m("id_prefix=IMEI%3A&id_prefix=zz")),
            ["IMEI:1", "IMEI:2", "IMEI:3"]
        );
        assert_eq!(ids(m("kind=Gateway")).len(), 0);
        assert_eq!(ids(m("protocol=OMA-DM&mod=m1")).len(), 4);
        assert!(matches!(
            Match::parse("colour=red", &l(), &g),
            Err(Error::FormUnknownKey { .. })
        ));
        assert!(matches!(
            Match::parse("mode=Sideways", &l(), &g),
            Err(Error::FormInvalidValue { key: "mode", .. })
        ));
        let long = format!("man={}", "a".repeat(4093));
        let e = Match::parse(&long, &l(), &g).unwrap_err();
        assert!(matches!(e, Error::FormTooLarge { max: 4096, .. }));
        assert_eq!(status_of(&e), StatusCode::REQUEST_ENTITY_TOO_LARGE);
    }

    /// GwMO-Group-002: resolve gives each member once, explicit ones first in their order.
    #[test]
    fn gwmo_group_002_resolve_order_and_once() {
        let mut gs = Groups::new(GroupLimits::default());
        gs.create("g").unwrap();
        gs.set_members("g", " mac:4, IMEI:nobody,,mac:4 ").unwrap();
        assert_eq!(
            gs.get("g").unwrap().resolve(&fleet()),
            ["mac:4", "IMEI:nobody"]
        );
        gs.set_match("g", "man=acme", &l()).unwrap();
        let g = gs.get("g").unwrap();
        assert_eq!(
            g.resolve(&fleet()),
            ["mac:4", "IMEI:nobody", "IMEI:1", "IMEI:2"]
        );
        assert_eq!(g.size(&fleet()), 4);
        assert_eq!(
            gs.create("g").map_err(|e| status_of(&e)),
            Err(StatusCode::ALREADY_EXISTS)
        );
        assert_eq!(
            gs.set_members("nope", "a").map_err(|e| status_of(&e)),
            Err(StatusCode::NOT_FOUND)
        );
        assert!(gs.set_members("g", "a\u{1}b").is_err());
        assert_eq!(gs.get("g").unwrap().members, ["mac:4", "IMEI:nobody"]);
        assert!(gs.remove("g").is_ok());
        assert!(gs.is_empty());
    }

    #[test]
    fn bounds_have_typed_statuses() {
        let limits = GroupLimits {
            max_groups: 2,
            max_members: 3,
            ..GroupLimits::default()
        };
        let mut gs = Groups::new(limits);
        gs.create("a").unwrap();
        gs.create("b").unwrap();
        let e = gs.create("c").unwrap_err();
        assert_eq!(status_of(&e), StatusCode::DEVICE_FULL);
        let e = gs.set_members("a", "1,2,3,4").unwrap_err();
        assert_eq!(status_of(&e), StatusCode::REQUEST_ENTITY_TOO_LARGE);
        // Duplicates do not count against the bound.
        assert!(gs.set_members("a", "1,2,3,3,1").is_ok());
        for bad in ["", "x/y", "..", &"n".repeat(65)] {
            assert_eq!(
                gs.create(bad).map_err(|e| status_of(&e)),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        let big = parse_members(&"x,".repeat(4_000_000), &GroupLimits::default()).unwrap_err();
        assert!(matches!(
            big,
            Error::GroupBound {
                what: "members",
                ..
            }
        ));
    }

    fn record_strategy() -> impl Strategy<Value = DeviceRecord> {
        (
            "[ab]{1,3}",
            prop_oneof![Just("Acme"), Just("Other")],
            prop_oneof![Just(Mode::Proxy), Just(Mode::Transparent)],
            prop_oneof![Just(Presence::Attached), Just(Presence::Detached)],
        )
            .prop_map(|(id, man, mode, p)| rec(&id, man, mode, p))
    }

    fn match_strategy() -> impl Strategy<Value = Match> {
        (
            proptest::collection::vec(
                prop_oneof![Just("acme".to_owned()), Just("x".to_owned())],
                0..2,
            ),
            proptest::collection::vec(
                prop_oneof![Just(Mode::Proxy), Just(Mode::Transparent)],
                0..2,
            ),
            proptest::collection::vec(
                prop_oneof![Just(Presence::Attached), Just(Presence::Detached)],
                0..2,
            ),
            proptest::collection::vec("[ab]{0,2}", 0..2),
        )
            .prop_map(|(man, mode, status, id_prefix)| Match {
                man,
                mode,
                status,
                id_prefix,
                ..Match::default()
            })
    }

    proptest! {
        /// GwMO-Group-002: resolve lists each member exactly once: explicit ones first in
        /// their order, then exactly the matched records, in inventory order.
        #[test]
        fn resolve_invariants(
            records in proptest::collection::vec(record_strategy(), 0..12),
            explicit in proptest::collection::vec("[abc]{1,3}", 0..6),
            matcher in proptest::option::of(match_strategy()),
        ) {
            // An inventory holds each id once.
            let mut ids = HashSet::new();
            let records: Vec<DeviceRecord> =
                records.into_iter().filter(|r| ids.insert(r.id.clone())).collect();
            let members = parse_members(&explicit.join(","), &GroupLimits::default()).unwrap();
            let g = Group { members: members.clone(), matcher: matcher.clone() };
            let out = g.resolve(&records);
            let unique: HashSet<&String> = out.iter().collect();
            prop_assert_eq!(unique.len(), out.len());
            prop_assert_eq!(out.get(..members.len()), Some(members.as_slice()));
            let matched: Vec<String> = records
                .iter()
                .filter(|r| matcher.as_ref().is_some_and(|m| m.matches(r)))
                .filter(|r| !members.contains(&r.id))
                .map(|r| r.id.clone())
                .collect();
            prop_assert_eq!(out.get(members.len()..), Some(matched.as_slice()));
            prop_assert_eq!(g.size(&records), out.len());
        }

        /// A parsed Match encodes to a form that parses to the same value.
        #[test]
        fn match_round_trip(m in match_strategy()) {
            let text = m.to_form();
            let back = Match::parse(&text, &Limits::default(), &GroupLimits::default());
            prop_assert_eq!(back, Ok(m));
        }

        /// Parsing never panics on any text.
        #[test]
        fn parse_is_total(text in ".{0,64}") {
            let _ = Match::parse(&text, &Limits::default(), &GroupLimits::default());
            let _ = parse_members(&text, &GroupLimits::default());
        }
    }
}
