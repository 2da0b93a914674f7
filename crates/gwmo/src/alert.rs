//! GwMO Generic Alert (1226) types: the `Item/Meta/Type` strings (digest §1.3, §3.8).
//!
//! We emit the registry form, root `urn:oma:at:oma-gwmo` + `:` + type, e.g.
//! `urn:oma:at:oma-gwmo:deviceattached:1.1` (docs/gwmo-objects.md), and
//! `x-oma-gwmo:deviceregistration:1.0` for our own Device Registration Alert (project choice,
//! docs/gateway.md §3). [`AlertType::parse`] accepts every form we accept: the registry forms
//! (`deviceattached` in 1.0 and 1.1), the draft strings of seed 003
//! (`urn:oma:gwmo:1.0:AssociatedGateway`, `urn:oma:gwmo:1.0:BootstrappedDMSList`), ASCII case
//! ignored and surrounding whitespace trimmed (peers differ in the case of `BootstrappedDMSList`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, peer_text};

/// A GwMO Generic Alert type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertType {
    /// `deviceattached`: the gateway has a new (or returning) End Device (GwMO-DI-004).
    DeviceAttached,
    /// `devicedetached`: an End Device left the gateway (lease ran out, GwMO-DI-003).
    DeviceDetached,
    /// `resultaggregation`: the consolidated response of a fanout (GwMO-FORA-002).
    ResultAggregation,
    /// `completionstatus`: a fanout operation completed (its per-device responses).
    CompletionStatus,
    /// `imageready`: an image is stored on the gateway.
    ImageReady,
    /// `BootstrappedDMSList`: an End Device's list of DM servers (End Device → gateway).
    BootstrappedDmsList,
    /// `AssociatedGateway`: the gateway's public address (End Device → DM server).
    AssociatedGateway,
    /// Our Device Registration Alert (End Device → gateway, Transparent mode; project choice).
    DeviceRegistration,
}

/// Every accepted `Meta/Type` string and its type; the first of each type is the one we emit.
const FORMS: &[(&str, AlertType)] = &[
    (
        "urn:oma:at:oma-gwmo:deviceattached:1.1",
        AlertType::DeviceAttached,
    ),
    (
        "urn:oma:at:oma-gwmo:devicedetached:1.0",
        AlertType::DeviceDetached,
    ),
    (
        "urn:oma:at:oma-gwmo:resultaggregation:1.0",
        AlertType::ResultAggregation,
    ),
    (
        "urn:oma:at:oma-gwmo:completionstatus:1.0",
        AlertType::CompletionStatus,
    ),
    ("urn:oma:at:oma-gwmo:imageready:1.0", AlertType::ImageReady),
    (
        "urn:oma:at:oma-gwmo:BootstrappedDMSList:1.0",
        AlertType::BootstrappedDmsList,
    ),
    (
        "urn:oma:at:oma-gwmo:AssociatedGateway:1.0",
        AlertType::AssociatedGateway,
    ),
    (
        "x-oma-gwmo:deviceregistration:1.0",
        AlertType::DeviceRegistration,
    ),
    // Also accepted.
    (
        "urn:oma:at:oma-gwmo:deviceattached:1.0",
        AlertType::DeviceAttached,
    ),
    (
        "urn:oma:gwmo:1.0:AssociatedGateway",
        AlertType::AssociatedGateway,
    ),
    (
        "urn:oma:gwmo:1.0:BootstrappedDMSList",
        AlertType::BootstrappedDmsList,
    ),
];

impl AlertType {
    /// Every type.
    pub const ALL: [AlertType; 8] = [
        AlertType::DeviceAttached,
        AlertType::DeviceDetached,
        AlertType::ResultAggregation,
        AlertType::CompletionStatus,
        AlertType::ImageReady,
        AlertType::BootstrappedDmsList,
        AlertType::AssociatedGateway,
        AlertType::DeviceRegistration,
    ];

    /// The `Meta/Type` string we emit for this type.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        FORMS
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("", |(s, _)| s)
    }

    /// The type named by a `Meta/Type` string, in any accepted form (see the module docs).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] (`what` = `alert type`) for any other string.
    pub fn parse(s: &str) -> Result<AlertType, Error> {
        let s = s.trim();
        FORMS
            .iter()
            .find(|(form, _)| form.eq_ignore_ascii_case(s))
            .map(|(_, t)| *t)
            .ok_or_else(|| Error::InvalidValue {
                what: "alert type",
                found: peer_text(s),
            })
    }
}

impl fmt::Display for AlertType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertType::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emitted_forms_are_the_registry_ones_and_parse_back() {
        let expected = [
            "urn:oma:at:oma-gwmo:deviceattached:1.1",
            "urn:oma:at:oma-gwmo:devicedetached:1.0",
            "urn:oma:at:oma-gwmo:resultaggregation:1.0",
            "urn:oma:at:oma-gwmo:completionstatus:1.0",
            "urn:oma:at:oma-gwmo:imageready:1.0",
            "urn:oma:at:oma-gwmo:BootstrappedDMSList:1.0",
            "urn:oma:at:oma-gwmo:AssociatedGateway:1.0",
            "x-oma-gwmo:deviceregistration:1.0",
        ];
        for (t, s) in AlertType::ALL.into_iter().zip(expected) {
            assert_eq!(t.as_str(), s);
            assert_eq!(t.to_string(), s);
            assert_eq!(AlertType::parse(s), Ok(t));
        }
    }

    /// Seed 003 drafts and the 1.0 registry form are accepted on input (architecture §6).
    #[test]
    fn accepted_forms_case_insensitive_and_trimmed() {
        for (s, t) in [
            (
                "urn:oma:at:oma-gwmo:deviceattached:1.0",
                AlertType::DeviceAttached,
            ),
            (
                "URN:OMA:AT:OMA-GWMO:DEVICEATTACHED:1.1",
                AlertType::DeviceAttached,
            ),
            (
                "urn:oma:gwmo:1.0:AssociatedGateway",
                AlertType::AssociatedGateway,
            ),
            (
                "urn:oma:gwmo:1.0:BootstrappedDMSList",
                AlertType::BootstrappedDmsList,
            ),
            (
                "urn:oma:gwmo:1.0:bootstrappeddmslist",
                AlertType::BootstrappedDmsList,
            ),
            (
                " x-oma-gwmo:deviceregistration:1.0\n",
                AlertType::DeviceRegistration,
            ),
        ] {
            assert_eq!(s.parse::<AlertType>(), Ok(t), "{s}");
        }
        for bad in [
            "",
            "urn:oma:at:oma-gwmo:devicedetached:1.1",
            "urn:oma:at:oma-gwmo:deviceattached",
            "deviceattached",
            "urn:oma:at:oma-scomo-dl:1.0",
        ] {
            assert!(
                matches!(
                    AlertType::parse(bad),
                    Err(Error::InvalidValue {
                        what: "alert type",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
