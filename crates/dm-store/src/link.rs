//! Gateways and the devices behind them: the <gateway, device, mode> relationship of seed 001
//! step X.3, with its history (docs/gateway.md §7).
//!
//! A gateway is a device like any other whose [`DeviceKind`] is [`DeviceKind::Gateway`]. Each
//! device has at most one *current* link (`until` unset): the gateway that last reported it and
//! the mode it manages it in. When another gateway reports the device, or the same gateway in
//! another mode, the current link is closed (`until` = the report's time) and a new one opens;
//! a detach report of the current gateway marks the link detached (it stays current: the
//! gateway still knows the device). A gateway behind a gateway is a link like any other, so
//! hierarchies need no other table.
//!
//! Reports are written with [`crate::SessionRecord::links`] (the gateway's session) or
//! [`crate::Store::apply_link_reports`]. A device the server has no account for gets a
//! *registry-only* entry: a `devices` row without credentials ([`DeviceAccount::registry_only`])
//! that can never open a DM session with the server; it is reached through its gateway.

use std::collections::BTreeMap;

use crate::{DeviceAccount, Error, UnixMillis};

/// What a device is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceKind {
    /// An End Device (the default).
    #[default]
    Device,
    /// A DM gateway (GwMO): it reports devices behind it and carries their Proxy-mode jobs.
    Gateway,
}

impl DeviceKind {
    /// The stored text: `device` or `gateway`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Device => "device",
            DeviceKind::Gateway => "gateway",
        }
    }

    /// Parses the stored text.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for anything but the two names.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "device" => Ok(DeviceKind::Device),
            "gateway" => Ok(DeviceKind::Gateway),
            _ => Err(Error::Corrupt {
                what: "device kind",
                detail: s.to_owned(),
            }),
        }
    }
}

/// How a gateway manages a device (GwMO-MOO-001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkMode {
    /// The server manages the device through the gateway's Fanout MO (GwMO-PMode-001).
    Proxy,
    /// The device talks to the server itself; the gateway relays its notifications
    /// (GwMO-TMode-001).
    Transparent,
    /// The gateway speaks another protocol to the device; routed like Proxy.
    Adaptation,
}

impl LinkMode {
    /// The stored text: `proxy`, `transparent`, `adaptation`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Proxy => "proxy",
            LinkMode::Transparent => "transparent",
            LinkMode::Adaptation => "adaptation",
        }
    }

    /// Parses the stored text (ASCII case ignored, so `Proxy` as GwMO writes it works too).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for another name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.eq_ignore_ascii_case("proxy") {
            Ok(LinkMode::Proxy)
        } else if s.eq_ignore_ascii_case("transparent") {
            Ok(LinkMode::Transparent)
        } else if s.eq_ignore_ascii_case("adaptation") {
            Ok(LinkMode::Adaptation)
        } else {
            Err(Error::Corrupt {
                what: "link mode",
                detail: s.to_owned(),
            })
        }
    }

    /// True when the server reaches the device through the gateway's session (Proxy,
    /// Adaptation), false when the device has its own sessions (Transparent).
    #[must_use]
    pub fn is_proxied(self) -> bool {
        !matches!(self, LinkMode::Transparent)
    }
}

/// Id of a stored link (increasing, never reused).
pub type LinkId = i64;

/// One stored link: a device behind a gateway in a mode, for a span of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLink {
    /// Its id.
    pub id: LinkId,
    /// The device behind the gateway.
    pub device_id: String,
    /// The gateway.
    pub gateway_id: String,
    /// How the gateway manages it.
    pub mode: LinkMode,
    /// When the link opened.
    pub since: UnixMillis,
    /// When it closed (the device moved to another gateway or mode); `None`: current.
    pub until: Option<UnixMillis>,
    /// As last reported: attached (`true`) or detached (GwMO-DI-003).
    pub attached: bool,
    /// Where the gateway reaches the device, as last reported, in notification-address form
    /// (`udp:HOST:PORT`, `http://...`).
    pub addresses: Vec<String>,
    /// Last change (report) time.
    pub updated_at: UnixMillis,
}

/// One device as a gateway reported it (`deviceattached` / `devicedetached`, GwMO-DI-004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// The device.
    pub device_id: String,
    /// What it is (a child gateway is [`DeviceKind::Gateway`]).
    pub kind: DeviceKind,
    /// The mode the gateway manages it in.
    pub mode: LinkMode,
    /// Attached (`true`) or detached.
    pub attached: bool,
    /// Where the gateway reaches it (notification-address form).
    pub addresses: Vec<String>,
    /// Its DevInfo summary (`Man`, `Mod`, `DmV`, `Lang`; empty values left out): fills the
    /// registry of a device that has no DevInfo of its own sessions.
    pub devinfo: BTreeMap<String, String>,
}

/// Filters and page for [`crate::Store::list_links`]; results are in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkFilter {
    /// Only this device's links (its history).
    pub device_id: Option<String>,
    /// Only links to this gateway.
    pub gateway_id: Option<String>,
    /// Only current links (`until` unset).
    pub current: bool,
    /// Keyset pagination: only ids greater than this.
    pub after_id: Option<LinkId>,
    /// Page size; `0` means the default (100). Capped at 10,000.
    pub limit: u32,
}

/// Counts over a gateway's current links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Devices currently behind the gateway.
    pub total: u64,
    /// Of those, attached.
    pub attached: u64,
    /// Of those, in Proxy mode.
    pub proxy: u64,
    /// Of those, in Transparent mode.
    pub transparent: u64,
    /// Of those, in Adaptation mode.
    pub adaptation: u64,
    /// Of those, gateways themselves (child gateways).
    pub gateways: u64,
}

/// The `auth_name` of a registry-only entry: this prefix and the device id. Accounts may not
/// use names with this prefix ([`crate::Store::create_device`] refuses them), so an entry never
/// collides with a real account's name.
pub const REGISTRY_ONLY_PREFIX: &str = "registry-only:";

impl DeviceAccount {
    /// A registry-only entry: a device learned from a gateway's report, without credentials
    /// (client auth `none`), disabled, so that it can never open a DM session with the server.
    #[must_use]
    pub fn registry_only(device_id: &str, kind: DeviceKind, now: UnixMillis) -> DeviceAccount {
        let mut a = DeviceAccount::new(
            device_id,
            format!("{REGISTRY_ONLY_PREFIX}{device_id}"),
            crate::AuthType::None,
            "",
            now,
        );
        a.client_verifier = crate::Secret::default();
        a.enabled = false;
        a.kind = kind;
        a
    }

    /// True for an entry without credentials (client auth `none`): a device known from a
    /// gateway's report only. It cannot authenticate to the server; it is reached through its
    /// gateway.
    #[must_use]
    pub fn is_registry_only(&self) -> bool {
        self.client_auth == crate::AuthType::None
    }
}
