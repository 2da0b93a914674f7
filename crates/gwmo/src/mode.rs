//! Operation modes and the rules that choose one per End Device (GwMO-MOO-001, MOO-002).
//!
//! In: the rules of `./GwMO/GwConfig/ModeRules/<x>` (`Match`, `Mode`, `Order`) and
//! `GwConfig/DefaultMode`; the facts of a device ([`DeviceFacts`]) and the mode it asked for.
//! Out: the [`Mode`] the gateway manages it in ([`ModeRules::choose`]).
//!
//! `Match` is `application/x-www-form-urlencoded` text of conditions that must all hold:
//! `man=` and `mod=` (equal, ASCII case ignored), `id_prefix=` (the device id starts with it,
//! case kept), `kind=EndDevice|Gateway`, `protocol=` (a [`Protocol`] name). Each key at most
//! once; an unknown key is an error (a typo must not silently widen a rule); an empty `Match`
//! matches every device.

use std::cmp::Ordering;

use syncml::Limits;

use crate::Error;
use crate::inventory::{Kind, Protocol};
use crate::names::named_enum;
use crate::payload::form::{Fields, encode_pairs};

named_enum! {
    /// How the gateway manages a device (GwMO RD §5.1).
    pub enum Mode("mode") {
        /// The gateway is the device's DM server and carries the DM server's commands.
        Proxy => "Proxy",
        /// The gateway relays Package 0; the device talks to the DM server itself.
        Transparent => "Transparent",
        /// The gateway manages the device over a non-DM protocol.
        Adaptation => "Adaptation",
    }
}

/// What the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    /// `DevInfo/DevId`.
    pub id: &'a str,
    /// End Device or child gateway.
    pub kind: Kind,
    /// How the gateway talks to it.
    pub protocol: Protocol,
    /// `DevInfo/Man`, when known.
    pub man: Option<&'a str>,
    /// `DevInfo/Mod`, when known.
    pub model: Option<&'a str>,
}

/// The conditions of one rule (`ModeRules/<x>/Match`); `None` is "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Match {
    /// `man=`: manufacturer, ASCII case ignored.
    pub man: Option<String>,
    /// `mod=`: model, ASCII case ignored.
    pub model: Option<String>,
    /// `id_prefix=`: the device id starts with this.
    pub id_prefix: Option<String>,
    /// `kind=`.
    pub kind: Option<Kind>,
    /// `protocol=`.
    pub protocol: Option<Protocol>,
}

const MATCH_KEYS: [&str; 5] = ["man", "mod", "id_prefix", "kind", "protocol"];

impl Match {
    /// Parses the form-urlencoded `Match` text (see the module docs).
    ///
    /// # Errors
    /// The form errors of [`crate::payload`] ([`Error::FormTooLarge`],
    /// [`Error::FormTooManyFields`], [`Error::FormInvalidUtf8`], [`Error::FormDuplicateKey`]),
    /// [`Error::FormUnknownKey`] for a key outside the five, [`Error::FormInvalidValue`] for a
    /// bad `kind` or `protocol`.
    pub fn parse(text: &str, limits: &Limits) -> Result<Match, Error> {
        let mut m = Match::default();
        let mut fields = Fields::new(text, limits)?;
        while let Some(f) = fields.next_field()? {
            let Some(key) = MATCH_KEYS.iter().copied().find(|k| *k == f.key) else {
                return Err(Error::FormUnknownKey {
                    key: crate::error::peer_text(&f.key),
                    offset: f.offset,
                });
            };
            match key {
                "man" => f.once(key, &mut m.man, Ok)?,
                "mod" => f.once(key, &mut m.model, Ok)?,
                "id_prefix" => f.once(key, &mut m.id_prefix, Ok)?,
                "kind" => f.once(key, &mut m.kind, |v| Kind::parse(&v))?,
                _ => f.once(key, &mut m.protocol, |v| Protocol::parse(&v))?,
            }
        }
        Ok(m)
    }

    /// The form-urlencoded text ([`Match::parse`] reads it back to the same value).
    #[must_use]
    pub fn to_form(&self) -> String {
        encode_pairs([
            ("man", self.man.as_deref()),
            ("mod", self.model.as_deref()),
            ("id_prefix", self.id_prefix.as_deref()),
            ("kind", self.kind.map(Kind::as_str)),
            ("protocol", self.protocol.map(Protocol::as_str)),
        ])
    }

    /// True when every condition holds for `facts`. A `man` / `mod` condition does not hold
    /// for a device whose value is unknown.
    #[must_use]
    pub fn matches(&self, facts: &DeviceFacts<'_>) -> bool {
        let text = |want: &Option<String>, have: Option<&str>| match want {
            None => true,
            Some(w) => have.is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        text(&self.man, facts.man)
            && text(&self.model, facts.model)
            && self
                .id_prefix
                .as_deref()
                .is_none_or(|p| facts.id.starts_with(p))
            && self.kind.is_none_or(|k| k == facts.kind)
            && self.protocol.is_none_or(|p| p == facts.protocol)
    }
}

/// One rule: `ModeRules/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The node name `<x>` (the tie-break after `order`).
    pub name: String,
    /// `Order`: rules are tried by ascending order, then name.
    pub order: i64,
    /// `Match`.
    pub matcher: Match,
    /// `Mode`.
    pub mode: Mode,
}

impl Rule {
    /// A rule from the text of its three leaves (`order` `None` when the leaf is absent:
    /// order 0).
    ///
    /// # Errors
    /// [`Match::parse`]'s errors; [`Error::InvalidValue`] for a bad `Mode` or `Order`.
    pub fn from_leaves(
        name: &str,
        matcher: &str,
        mode: &str,
        order: Option<&str>,
        limits: &Limits,
    ) -> Result<Rule, Error> {
        let order = match order.map(str::trim) {
            None | Some("") => 0,
            Some(o) => o.parse().map_err(|_| Error::InvalidValue {
                what: "Order",
                found: crate::error::peer_text(o),
            })?,
        };
        Ok(Rule {
            name: name.to_owned(),
            order,
            matcher: Match::parse(matcher, limits)?,
            mode: Mode::parse(mode.trim())?,
        })
    }

    fn cmp_order(&self, other: &Rule) -> Ordering {
        self.order
            .cmp(&other.order)
            .then_with(|| self.name.cmp(&other.name))
    }
}

/// The rule list and the default mode of `GwConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeRules {
    rules: Vec<Rule>,
    default: Mode,
}

impl Default for ModeRules {
    /// No rules, default [`Mode::Proxy`] (the `GwConfig/DefaultMode` default).
    fn default() -> Self {
        ModeRules::new(Mode::Proxy, Vec::new())
    }
}

/// True when a device speaking `protocol` can be managed in `mode`: OMA DM devices in Proxy or
/// Transparent mode (a child gateway too, GwMO-MOO-002), others only in Adaptation mode.
#[must_use]
pub fn feasible(mode: Mode, protocol: Protocol) -> bool {
    match protocol {
        Protocol::OmaDm => matches!(mode, Mode::Proxy | Mode::Transparent),
        _ => mode == Mode::Adaptation,
    }
}

impl ModeRules {
    /// Rules (in any order; kept sorted by order, then name) and `DefaultMode`.
    #[must_use]
    pub fn new(default: Mode, mut rules: Vec<Rule>) -> ModeRules {
        rules.sort_by(Rule::cmp_order);
        ModeRules { rules, default }
    }

    /// The rules in the order they are tried.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `DefaultMode`.
    #[must_use]
    pub fn default_mode(&self) -> Mode {
        self.default
    }

    /// The mode the rules give `facts`, ignoring what the device asks for: the mode of the
    /// first matching rule whose mode is [`feasible`] for the device, else `DefaultMode` if
    /// feasible; a device of a non-DM protocol is always in Adaptation mode, an OMA DM device
    /// with nothing feasible in Proxy mode.
    #[must_use]
    pub fn decide(&self, facts: &DeviceFacts<'_>) -> Mode {
        if facts.protocol != Protocol::OmaDm {
            return Mode::Adaptation;
        }
        self.rules
            .iter()
            .find(|r| feasible(r.mode, facts.protocol) && r.matcher.matches(facts))
            .map(|r| r.mode)
            .or_else(|| feasible(self.default, facts.protocol).then_some(self.default))
            .unwrap_or(Mode::Proxy)
    }

    /// The mode the gateway manages the device in (GwMO-MOO-001). Precedence:
    ///
    /// 1. the rules decide ([`ModeRules::decide`]): the first feasible matching rule, else the
    ///    default; the request never overrides them;
    /// 2. a device asking for [`Mode::Proxy`] gets Proxy even where the rules say Transparent
    ///    (relaying Package 0 is what the rules grant; proxying is always possible for an OMA
    ///    DM device);
    /// 3. any other request (Transparent, Adaptation, none) gets the rules' mode.
    ///
    /// So a device asking for Transparent gets it only if the rules allow Transparent for it;
    /// the caller answers a registration whose request it did not get with 403.
    #[must_use]
    pub fn choose(&self, facts: &DeviceFacts<'_>, requested: Option<Mode>) -> Mode {
        let decided = self.decide(facts);
        match requested {
            Some(Mode::Proxy) if decided == Mode::Transparent => Mode::Proxy,
            _ => decided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(id: &'a str, man: Option<&'a str>, model: Option<&'a str>) -> DeviceFacts<'a> {
        DeviceFacts {
            id,
            kind: Kind::EndDevice,
            protocol: Protocol::OmaDm,
            man,
            model,
        }
    }

    fn rule(name: &str, order: i64, m: &str, mode: Mode) -> Rule {
        Rule {
            name: name.into(),
            order,
            matcher: Match::parse(m, &Limits::default()).unwrap(),
            mode,
        }
    }

    #[test]
    fn mode_names_parse_case_insensitively() {
        assert_eq!(Mode::parse("transparent"), Ok(Mode::Transparent));
        assert_eq!(Mode::Proxy.to_string(), "Proxy");
        assert!(matches!(
            Mode::parse("Relay"),
            Err(Error::InvalidValue { what: "mode", .. })
        ));
    }

    /// GwMO-MOO-001: the Match form parses, formats back and matches on every field.
    #[test]
    fn gwmo_moo_001_match_form_round_trip_and_fields() {
        let l = Limits::default();
        let m = Match::parse(
            "man=Acme&mod=X%201&id_prefix=IMEI%3A35&kind=EndDevice&protocol=OMA-DM",
            &l,
        )
        .unwrap();
        assert_eq!(m.model.as_deref(), Some("X 1"));
        assert_eq!(m.id_prefix.as_deref(), Some("IMEI:35"));
        assert_eq!(Match::parse(&m.to_form(), &l), Ok(m.clone()));
        assert!(m.matches(&facts("IMEI:3512", Some("ACME"), Some("x 1"))));
        assert!(!m.matches(&facts("imei:3512", Some("ACME"), Some("x 1"))));
        assert!(!m.matches(&facts("IMEI:3512", None, Some("x 1"))));
        let gw = DeviceFacts {
            kind: Kind::Gateway,
            ..facts("IMEI:3512", Some("Acme"), Some("X 1"))
        };
        assert!(!m.matches(&gw));
        assert!(Match::default().matches(&facts("x", None, None)));
        assert_eq!(Match::parse("", &l), Ok(Match::default()));
        assert_eq!(Match::default().to_form(), "");
    }

    #[test]
    fn gwmo_moo_001_match_errors_are_typed() {
        let l = Limits::default();
        assert!(matches!(
            Match::parse("man=a&model=b", &l),
            Err(Error::FormUnknownKey { offset: 6, .. })
        ));
        assert!(matches!(
            Match::parse("man=a&man=b", &l),
            Err(Error::FormDuplicateKey {
                key: "man",
                offset: 6
            })
        ));
        assert!(matches!(
            Match::parse("kind=Phone", &l),
            Err(Error::FormInvalidValue {
                key: "kind",
                offset: 0,
                ..
            })
        ));
        assert!(matches!(
            Match::parse("man=%FF", &l),
            Err(Error::FormInvalidUtf8 { offset: 0 })
        ));
    }

    /// GwMO-MOO-001: first matching rule by (order, name), else the default; the documented
    /// precedence of a request.
    #[test]
    fn gwmo_moo_001_choose_precedence() {
        let rules = ModeRules::new(
            Mode::Proxy,
            vec![
                rule("b", 1, "man=Acme", Mode::Transparent),
                rule("a", 1, "man=Acme&mod=Old", Mode::Proxy),
                rule("z", 0, "id_prefix=mac:", Mode::Transparent),
            ],
        );
        let names: Vec<_> = rules.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b"]);
        let acme_new = facts("IMEI:1", Some("Acme"), Some("New"));
        let acme_old = facts("IMEI:2", Some("Acme"), Some("Old"));
        let mac_old = facts("mac:01", Some("Acme"), Some("Old"));
        let other = facts("IMEI:3", Some("Other"), None);
        assert_eq!(rules.choose(&acme_new, None), Mode::Transparent);
        assert_eq!(
            rules.choose(&acme_old, Some(Mode::Transparent)),
            Mode::Proxy
        ); // refused
        assert_eq!(rules.choose(&mac_old, None), Mode::Transparent); // order 0 first
        assert_eq!(rules.choose(&other, Some(Mode::Transparent)), Mode::Proxy);
        // Asking for Proxy is always granted to an OMA DM device.
        assert_eq!(rules.choose(&acme_new, Some(Mode::Proxy)), Mode::Proxy);
        // Asking for Adaptation does not give it to an OMA DM device.
        assert_eq!(rules.choose(&other, Some(Mode::Adaptation)), Mode::Proxy);
        let transparent_default = ModeRules::new(Mode::Transparent, vec![]);
        assert_eq!(
            transparent_default.choose(&other, Some(Mode::Transparent)),
            Mode::Transparent
        );
    }

    /// GwMO-MOO-001/002: modes a device cannot be managed in are skipped.
    #[test]
    fn gwmo_moo_002_infeasible_modes_are_skipped() {
        let rules = ModeRules::new(
            Mode::Adaptation,
            vec![rule("a", 0, "kind=Gateway", Mode::Adaptation)],
        );
        let gw = DeviceFacts {
            kind: Kind::Gateway,
            ..facts("gw1", None, None)
        };
        assert_eq!(rules.choose(&gw, None), Mode::Proxy);
        let knx = DeviceFacts {
            protocol: Protocol::Knx,
            ..facts("knx:1.1.1", None, None)
        };
        assert_eq!(
            ModeRules::default().choose(&knx, Some(Mode::Proxy)),
            Mode::Adaptation
        );
    }

    #[test]
    fn rule_from_leaves() {
        let l = Limits::default();
        let r = Rule::from_leaves("r1", "kind=Gateway", " transparent ", Some(" -3 "), &l).unwrap();
        assert_eq!(
            (r.order, r.mode, r.matcher.kind),
            (-3, Mode::Transparent, Some(Kind::Gateway))
        );
        assert_eq!(
            Rule::from_leaves("r", "", "Proxy", None, &l).unwrap().order,
            0
        );
        assert!(matches!(
            Rule::from_leaves("r", "", "Proxy", Some("x"), &l),
            Err(Error::InvalidValue { what: "Order", .. })
        ));
    }
}
