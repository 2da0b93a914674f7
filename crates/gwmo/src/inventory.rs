//! The device inventory: who is behind the gateway, how it is managed, whether it is attached
//! (GwMO-DI-001..005, DI-007/008, seed 001 X.1-X.2).
//!
//! In: registrations ([`Inventory::register`]: an authenticated session or Device Registration
//! Alert, X.1), contacts ([`Inventory::seen`]), deletions and mode changes from the DM server,
//! records restored from the gateway's store, and the time: a monotonic
//! [`dm_proto::Timestamp`] for leases and the Unix time ([`dm_tree::Timestamp`], seconds) for
//! the stored `LastSeen` / `Registered` leaves. Both are arguments; nothing here reads a clock.
//!
//! Out: [`DeviceRecord`]s by id, the [`Summary`] counters in O(1) (GwMO-DI-002), and polled
//! [`InventoryEvent`]s (Attached / Reattached / Detached / Forgotten) that the gateway turns
//! into `deviceattached` / `devicedetached` alerts (GwMO-DI-004) and store writes, plus
//! [`Inventory::poll_timeout`], the next lease expiry.
//!
//! A device is *attached* while its lease runs (`last contact + lease > now`, GwMO-DI-003):
//! every contact renews it; when it runs out the device turns detached and the record stays.
//! Leases are kept in one ordered set of deadlines, so [`Inventory::handle_timeout`] touches
//! only the devices that expire, never the whole fleet.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use dm_proto::Timestamp;

use crate::Error;
use crate::error::peer_text;
use crate::mode::Mode;
use crate::names::named_enum;

/// Unix time in whole seconds (the stored `LastSeen` / `Registered`).
pub type UnixTime = dm_tree::Timestamp;

named_enum! {
    /// What a registered device is (GwMO-DI-007, `Devices/<id>/Kind`).
    pub enum Kind("kind") {
        /// An End Device.
        EndDevice => "EndDevice",
        /// A child DM gateway (hierarchy, GwMO 1.1).
        Gateway => "Gateway",
    }
}

named_enum! {
    /// How the gateway talks to the device (`Devices/<id>/Protocol`).
    pub enum Protocol("protocol") {
        /// OMA DM (Proxy and Transparent modes).
        OmaDm => "OMA-DM",
        /// KNXnet/IP (Adaptation mode).
        Knx => "KNX",
        /// OpenWebNet (Adaptation mode).
        OpenWebNet => "OpenWebNet",
        /// ZigBee (Adaptation mode).
        ZigBee => "ZigBee",
        /// Bluetooth LE (Adaptation mode).
        Ble => "BLE",
    }
}

named_enum! {
    /// Attached or detached (GwMO-DI-003, `Devices/<id>/Status`).
    pub enum Presence("status") {
        /// Its lease runs.
        Attached => "attached",
        /// Its lease ran out; the record stays.
        Detached => "detached",
    }
}

/// Where the gateway reaches a device (`Devices/<id>/Address`: `udp:HOST:PORT`, `http:URL`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// Package 0 by UDP WSP push to `HOST:PORT`.
    Udp(String),
    /// Package 0 by HTTP POST to this URL.
    Http(String),
}

/// Longest address text accepted.
pub const MAX_ADDRESS_LEN: usize = 512;

impl Address {
    /// Parses `udp:HOST:PORT` or `http:URL`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] (`what` = `address`) for another scheme, an empty or overlong
    /// value, or control characters.
    pub fn parse(s: &str) -> Result<Address, Error> {
        let bad = || Error::InvalidValue {
            what: "address",
            found: peer_text(s),
        };
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() || rest.len() > MAX_ADDRESS_LEN || rest.chars().any(char::is_control) {
            return Err(bad());
        }
        match scheme {
            "udp" => Ok(Address::Udp(rest.to_owned())),
            "http" => Ok(Address::Http(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Udp(a) => write!(f, "udp:{a}"),
            Address::Http(u) => write!(f, "http:{u}"),
        }
    }
}

/// The DevInfo summary kept per device (`Man`, `Mod`, `DmV`, `Lang`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevInfoSummary {
    /// `DevInfo/Man`.
    pub man: String,
    /// `DevInfo/Mod`.
    pub model: String,
    /// `DevInfo/DmV`.
    pub dm_v: String,
    /// `DevInfo/Lang`.
    pub lang: String,
}

/// One inventory record (`./GwMO/DeviceInventory/Devices/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// `DevInfo/DevId` (= `Source/LocURI` of its messages).
    pub id: String,
    /// End Device or child gateway.
    pub kind: Kind,
    /// The mode it is managed in.
    pub mode: Mode,
    /// How the gateway talks to it.
    pub protocol: Protocol,
    /// Where the gateway reaches it (may be empty: a Proxy device reached only in its sessions).
    pub addresses: Vec<Address>,
    /// Its lease.
    pub lease: Duration,
    /// Unix time of the last authenticated contact.
    pub last_seen: UnixTime,
    /// Unix time of the first registration.
    pub registered: UnixTime,
    /// Attached or detached.
    pub presence: Presence,
    /// Its DevInfo summary.
    pub dev_info: DevInfoSummary,
    /// The DM servers it is bootstrapped to.
    pub servers: Vec<String>,
}

/// What a registration says about a device (X.1). `None` fields keep what the record has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `DevInfo/DevId`.
    pub id: String,
    /// End Device or child gateway.
    pub kind: Kind,
    /// The mode the gateway chose for it ([`crate::mode::ModeRules::choose`]).
    pub mode: Mode,
    /// How the gateway talks to it.
    pub protocol: Protocol,
    /// Where it takes Package 0 (`None`: unchanged).
    pub addresses: Option<Vec<Address>>,
    /// The lease it asked for (`None`: the configured default); clamped to the configured
    /// bounds.
    pub lease: Option<Duration>,
    /// Its DevInfo, when the session carried it.
    pub dev_info: Option<DevInfoSummary>,
    /// The DM servers it is bootstrapped to, when it said.
    pub servers: Option<Vec<String>>,
}

/// What [`Inventory::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A device the inventory did not know ([`InventoryEvent::Attached`] queued).
    New,
    /// A known, detached device came back ([`InventoryEvent::Reattached`] queued).
    Reattached,
    /// A known, attached device: lease renewed, record updated (a heartbeat; no event).
    Renewed,
}

/// A change the gateway reports to its DM servers and writes to its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryEvent {
    /// A new device registered (GwMO-DI-004: `deviceattached`).
    Attached {
        /// Its id.
        id: String,
    },
    /// A detached device is back (`deviceattached`).
    Reattached {
        /// Its id.
        id: String,
    },
    /// A lease ran out (GwMO-DI-003: `devicedetached`).
    Detached {
        /// Its id.
        id: String,
    },
    /// The record was deleted (a server's Delete of `Devices/<id>`).
    Forgotten {
        /// The record as it was.
        record: Box<DeviceRecord>,
    },
}

/// Counts over the whole inventory (GwMO-DI-002, DI-007): kept up to date on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Registered devices.
    pub total: u64,
    /// Attached.
    pub attached: u64,
    /// Detached.
    pub detached: u64,
    /// In Proxy mode.
    pub proxy: u64,
    /// In Transparent mode.
    pub transparent: u64,
    /// In Adaptation mode.
    pub adaptation: u64,
    /// End Devices.
    pub end_devices: u64,
    /// Child gateways.
    pub gateways: u64,
}

impl Summary {
    fn apply(&mut self, r: &DeviceRecord, add: bool) {
        let step = |c: &mut u64| {
            *c = if add {
                c.saturating_add(1)
            } else {
                c.saturating_sub(1)
            }
        };
        step(&mut self.total);
        step(match r.presence {
            Presence::Attached => &mut self.attached,
            Presence::Detached => &mut self.detached,
        });
        step(match r.mode {
            Mode::Proxy => &mut self.proxy,
            Mode::Transparent => &mut self.transparent,
            Mode::Adaptation => &mut self.adaptation,
        });
        step(match r.kind {
            Kind::EndDevice => &mut self.end_devices,
            Kind::Gateway => &mut self.gateways,
        });
    }
}

/// Bounds and defaults of an [`Inventory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryConfig {
    /// Lease of a device that does not ask for one (`GwConfig/LeaseSeconds`, default 3600 s).
    pub default_lease: Duration,
    /// Shortest lease granted (default 60 s).
    pub min_lease: Duration,
    /// Longest lease granted (default 30 days).
    pub max_lease: Duration,
    /// Most devices held (default 100 000); a new one beyond is [`Error::InventoryFull`].
    pub max_devices: usize,
    /// Longest device id, server id or DevInfo value, in bytes (default 256).
    pub max_text_len: usize,
    /// Most addresses and most servers per device (default 8 each).
    pub max_list_len: usize,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            default_lease: Duration::from_secs(3600),
            min_lease: Duration::from_secs(60),
            max_lease: Duration::from_secs(30 * 86_400),
            max_devices: 100_000,
            max_text_len: 256,
            max_list_len: 8,
        }
    }
}

/// Checks that `id` can be a device id: non-empty, at most `max` bytes, not `.` or `..`
/// (it becomes one node name), no control characters.
///
/// # Errors
/// [`Error::InvalidDeviceId`].
pub fn check_device_id(id: &str, max: usize) -> Result<(), Error> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > max {
        "too long"
    } else if id == "." || id == ".." {
        "not a node name"
    } else if id.chars().any(char::is_control) {
        "control character"
    } else {
        return Ok(());
    };
    Err(Error::InvalidDeviceId {
        id: peer_text(id),
        reason,
    })
}

struct Slot {
    record: DeviceRecord,
    /// The lease deadline while attached (its key in `Inventory::deadlines`).
    deadline: Option<Timestamp>,
}

/// The inventory state machine (see the module docs).
pub struct Inventory {
    config: InventoryConfig,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_id: BTreeMap<String, u32>,
    deadlines: BTreeSet<(Timestamp, u32)>,
    events: VecDeque<InventoryEvent>,
    summary: Summary,
}

impl fmt::Debug for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inventory")
            .field("summary", &self.summary)
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Inventory {
    /// An empty inventory.
    #[must_use]
    pub fn new(config: InventoryConfig) -> Inventory {
        Inventory {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            summary: Summary::default(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &InventoryConfig {
        &self.config
    }

    /// Sets the default lease (`GwConfig/LeaseSeconds` replaced); running leases keep theirs.
    pub fn set_default_lease(&mut self, lease: Duration) {
        self.config.default_lease = lease;
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no device is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The counters (GwMO-DI-002), in O(1).
    #[must_use]
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// The record of `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&DeviceRecord> {
        self.slot(id).map(|s| &s.record)
    }

    /// Every record, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &DeviceRecord> {
        self.by_id
            .values()
            .filter_map(|&i| self.slot_at(i).map(|s| &s.record))
    }

    /// The records after `id` (exclusive), in id order: for paged listings.
    pub fn iter_after<'a>(&'a self, id: &str) -> impl Iterator<Item = &'a DeviceRecord> + 'a {
        use std::ops::Bound;
        self.by_id
            .range::<str, _>((Bound::Excluded(id), Bound::Unbounded))
            .filter_map(|(_, &i)| self.slot_at(i).map(|s| &s.record))
    }

    /// Registers or re-registers a device (X.1) and renews its lease.
    ///
    /// # Errors
    /// [`Error::InvalidDeviceId`]; [`Error::InvalidValue`] for an overlong DevInfo value or
    /// server id, or too many addresses or servers; [`Error::InventoryFull`] for a new device
    /// beyond `max_devices`. Nothing changes on error.
    pub fn register(
        &mut self,
        now: Timestamp,
        unix: UnixTime,
        reg: Registration,
    ) -> Result<Registered, Error> {
        check_device_id(&reg.id, self.config.max_text_len)?;
        self.check_registration(&reg)?;
        let lease = reg.lease.unwrap_or(self.config.default_lease).clamp(
            self.config.min_lease,
            self.config.max_lease.max(self.config.min_lease),
        );
        if let Some(&index) = self.by_id.get(&reg.id) {
            let outcome = self.update(index, |r| {
                let was = r.presence;
                r.kind = reg.kind;
                r.mode = reg.mode;
                r.protocol = reg.protocol;
                if let Some(a) = reg.addresses {
                    r.addresses = a;
                }
                r.lease = lease;
                r.last_seen = unix;
                r.presence = Presence::Attached;
                if let Some(d) = reg.dev_info {
                    r.dev_info = d;
                }
                if let Some(s) = reg.servers {
                    r.servers = s;
                }
                was
            });
            self.arm(index, now + lease);
            return Ok(match outcome {
                Some(Presence::Detached) => {
                    self.events
                        .push_back(InventoryEvent::Reattached { id: reg.id });
                    Registered::Reattached
                }
                _ => Registered::Renewed,
            });
        }
        if self.by_id.len() >= self.config.max_devices {
            return Err(Error::InventoryFull {
                max: self.config.max_devices,
            });
        }
        let record = DeviceRecord {
            id: reg.id.clone(),
            kind: reg.kind,
            mode: reg.mode,
            protocol: reg.protocol,
            addresses: reg.addresses.unwrap_or_default(),
            lease,
            last_seen: unix,
            registered: unix,
            presence: Presence::Attached,
            dev_info: reg.dev_info.unwrap_or_default(),
            servers: reg.servers.unwrap_or_default(),
        };
        let index = self.insert(record);
        self.arm(index, now + lease);
        self.events
            .push_back(InventoryEvent::Attached { id: reg.id });
        Ok(Registered::New)
    }

    /// An authenticated contact from `id` (any message of a session): renews its lease and
    /// sets `LastSeen`; a detached device turns attached again ([`InventoryEvent::Reattached`]).
    ///
    /// # Errors
    /// [`Error::UnknownDevice`].
    pub fn seen(&mut self, now: Timestamp, unix: UnixTime, id: &str) -> Result<(), Error> {
        let index = self.index(id)?;
        let was = self.update(index, |r| {
            let was = r.presence;
            r.last_seen = unix;
            r.presence = Presence::Attached;
            was
        });
        let lease = self
            .slot_at(index)
            .map_or(Duration::ZERO, |s| s.record.lease);
        self.arm(index, now + lease);
        if was == Some(Presence::Detached) {
            self.events
                .push_back(InventoryEvent::Reattached { id: id.to_owned() });
        }
        Ok(())
    }

    /// Deletes the record of `id` ([`InventoryEvent::Forgotten`] queued).
    ///
    /// # Errors
    /// [`Error::UnknownDevice`].
    pub fn forget(&mut self, id: &str) -> Result<(), Error> {
        let index = self.index(id)?;
        self.by_id.remove(id);
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) else {
            return Err(unknown(id));
        };
        if let Some(d) = slot.deadline {
            self.deadlines.remove(&(d, index));
        }
        self.free.push(index);
        self.summary.apply(&slot.record, false);
        self.events.push_back(InventoryEvent::Forgotten {
            record: Box::new(slot.record),
        });
        Ok(())
    }

    /// Moves `id` to `mode` (a server's Replace of `Devices/<id>/Mode`); returns the mode it
    /// had.
    ///
    /// # Errors
    /// [`Error::UnknownDevice`].
    pub fn set_mode(&mut self, id: &str, mode: Mode) -> Result<Mode, Error> {
        let index = self.index(id)?;
        self.update(index, |r| std::mem::replace(&mut r.mode, mode))
            .ok_or_else(|| unknown(id))
    }

    /// Puts back a record read from the gateway's store (after a restart), without an event
    /// unless its lease ran out while the gateway was down ([`InventoryEvent::Detached`]). The
    /// remaining lease is `last_seen + lease - unix`, counted from `now`.
    ///
    /// # Errors
    /// As [`Inventory::register`]; an id already present is replaced.
    pub fn restore(
        &mut self,
        now: Timestamp,
        unix: UnixTime,
        mut record: DeviceRecord,
    ) -> Result<(), Error> {
        check_device_id(&record.id, self.config.max_text_len)?;
        if self.by_id.contains_key(&record.id) {
            self.forget(&record.id)?;
            self.events.pop_back();
        } else if self.by_id.len() >= self.config.max_devices {
            return Err(Error::InventoryFull {
                max: self.config.max_devices,
            });
        }
        let end = record.last_seen.0.saturating_add(record.lease.as_secs());
        let remaining = Duration::from_secs(end.saturating_sub(unix.0));
        let expired = record.presence == Presence::Attached && remaining.is_zero();
        if expired {
            record.presence = Presence::Detached;
        }
        let attached = record.presence == Presence::Attached;
        let id = record.id.clone();
        let index = self.insert(record);
        if attached {
            self.arm(index, now + remaining);
        }
        if expired {
            self.events.push_back(InventoryEvent::Detached { id });
        }
        Ok(())
    }

    /// The next lease expiry, if any device is attached.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Detaches every device whose lease ended at or before `now` (one
    /// [`InventoryEvent::Detached`] each). Costs O(expired · log n).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(&(t, index)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) {
                slot.deadline = None;
                self.summary.apply(&slot.record, false);
                slot.record.presence = Presence::Detached;
                self.summary.apply(&slot.record, true);
                self.events.push_back(InventoryEvent::Detached {
                    id: slot.record.id.clone(),
                });
            }
        }
    }

    /// The next change to report.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<InventoryEvent> {
        self.events.pop_front()
    }

    // ----- internals -------------------------------------------------------------------

    fn check_registration(&self, reg: &Registration) -> Result<(), Error> {
        let max = self.config.max_text_len;
        let text = |what, s: &str| {
            if s.len() > max || s.chars().any(char::is_control) {
                Err(Error::InvalidValue {
                    what,
                    found: peer_text(s),
                })
            } else {
                Ok(())
            }
        };
        if let Some(d) = &reg.dev_info {
            text("Man", &d.man)?;
            text("Mod", &d.model)?;
            text("DmV", &d.dm_v)?;
            text("Lang", &d.lang)?;
        }
        let list = |what, n: usize| {
            if n > self.config.max_list_len {
                Err(Error::InvalidValue {
                    what,
                    found: n.to_string(),
                })
            } else {
                Ok(())
            }
        };
        if let Some(s) = &reg.servers {
            list("server count", s.len())?;
            for id in s {
                text("server", id)?;
            }
        }
        if let Some(a) = &reg.addresses {
            list("address count", a.len())?;
        }
        Ok(())
    }

    fn slot_at(&self, index: u32) -> Option<&Slot> {
        self.slots.get(index as usize).and_then(Option::as_ref)
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        self.by_id.get(id).and_then(|&i| self.slot_at(i))
    }

    fn index(&self, id: &str) -> Result<u32, Error> {
        self.by_id.get(id).copied().ok_or_else(|| unknown(id))
    }

    /// Applies `f` to the record at `index`, keeping the counters right.
    fn update<T>(&mut self, index: u32, f: impl FnOnce(&mut DeviceRecord) -> T) -> Option<T> {
        let slot = self
            .slots
            .get_mut(index as usize)
            .and_then(Option::as_mut)?;
        self.summary.apply(&slot.record, false);
        let out = f(&mut slot.record);
        self.summary.apply(&slot.record, true);
        Some(out)
    }

    fn insert(&mut self, record: DeviceRecord) -> u32 {
        self.summary.apply(&record, true);
        let id = record.id.clone();
        let slot = Some(Slot {
            record,
            deadline: None,
        });
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = slot;
                }
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.by_id.insert(id, index);
        index
    }

    /// Sets the lease deadline of `index` to `deadline`.
    fn arm(&mut self, index: u32, deadline: Timestamp) {
        if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) {
            if let Some(old) = slot.deadline.replace(deadline) {
                self.deadlines.remove(&(old, index));
            }
            self.deadlines.insert((deadline, index));
        }
    }
}

fn unknown(id: &str) -> Error {
    Error::UnknownDevice { id: peer_text(id) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::Timestamp as Unix;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_duration(Duration::from_secs(s))
    }

    fn reg(id: &str) -> Registration {
        Registration {
            id: id.into(),
            kind: Kind::EndDevice,
            mode: Mode::Proxy,
            protocol: Protocol::OmaDm,
            addresses: None,
            lease: Some(Duration::from_secs(100)),
            dev_info: Some(DevInfoSummary {
                man: "Acme".into(),
                model: "X1".into(),
                dm_v: "1.2".into(),
                lang: "en".into(),
            }),
            servers: Some(vec!["srv1".into()]),
        }
    }

    fn events(inv: &mut Inventory) -> Vec<InventoryEvent> {
        std::iter::from_fn(|| inv.poll_event()).collect()
    }

    /// GwMO-DI-003/004: a new device is attached and reported; its lease runs out; it
    /// comes back.
    #[test]
    fn gwmo_di_003_lease_lifecycle() {
        let mut inv = Inventory::new(InventoryConfig::default());
        assert_eq!(
            inv.register(t(0), Unix(1000), reg("IMEI:1")),
            Ok(Registered::New)
        );
        assert_eq!(
            events(&mut inv),
            [InventoryEvent::Attached {
                id: "IMEI:1".into()
            }]
        );
        assert_eq!(inv.poll_timeout(), Some(t(100)));
        inv.handle_timeout(t(99));
        assert!(events(&mut inv).is_empty());
        // A contact renews the lease.
        inv.seen(t(50), Unix(1050), "IMEI:1").unwrap();
        assert_eq!(inv.poll_timeout(), Some(t(150)));
        inv.handle_timeout(t(149));
        assert_eq!(inv.get("IMEI:1").unwrap().presence, Presence::Attached);
        inv.handle_timeout(t(150));
        assert_eq!(
            events(&mut inv),
            [InventoryEvent::Detached {
                id: "IMEI:1".into()
            }]
        );
        let r = inv.get("IMEI:1").unwrap();
        assert_eq!(
            (r.presence, r.last_seen, r.registered),
            (Presence::Detached, Unix(1050), Unix(1000))
        );
        assert_eq!(inv.poll_timeout(), None);
        assert_eq!(inv.summary().detached, 1);
        // Back.
        inv.seen(t(200), Unix(1200), "IMEI:1").unwrap();
        assert_eq!(
            events(&mut inv),
            [InventoryEvent::Reattached {
                id: "IMEI:1".into()
            }]
        );
        inv.handle_timeout(t(250));
        assert_eq!(
            inv.register(t(250), Unix(1250), reg("IMEI:1")),
            Ok(Registered::Renewed)
        );
        assert!(events(&mut inv).is_empty());
        inv.handle_timeout(t(400));
        assert_eq!(
            inv.register(t(400), Unix(1400), reg("IMEI:1")),
            Ok(Registered::Reattached)
        );
        assert_eq!(inv.get("IMEI:1").unwrap().registered, Unix(1000));
    }

    /// GwMO-DI-002/007: the summary is kept up to date by every change.
    #[test]
    fn gwmo_di_002_summary_counters() {
        let mut inv = Inventory::new(InventoryConfig::default());
        inv.register(t(0), Unix(0), reg("a")).unwrap();
        inv.register(
            t(0),
            Unix(0),
            Registration {
                kind: Kind::Gateway,
                mode: Mode::Transparent,
                ..reg("b")
            },
        )
        .unwrap();
        inv.register(t(10), Unix(0), reg("c")).unwrap();
        let s = inv.summary();
        assert_eq!(
            (
                s.total,
                s.attached,
                s.proxy,
                s.transparent,
                s.end_devices,
                s.gateways
            ),
            (3, 3, 2, 1, 2, 1)
        );
        inv.handle_timeout(t(105));
        let s = inv.summary();
        assert_eq!((s.attached, s.detached), (1, 2));
        assert_eq!(inv.set_mode("a", Mode::Transparent), Ok(Mode::Proxy));
        assert_eq!(inv.summary().transparent, 2);
        inv.forget("b").unwrap();
        let s = inv.summary();
        assert_eq!(
            (
                s.total,
                s.attached,
                s.detached,
                s.proxy,
                s.transparent,
                s.gateways
            ),
            (2, 1, 1, 1, 1, 0)
        );
        let ev = events(&mut inv);
        assert!(
            matches!(ev.last(), Some(InventoryEvent::Forgotten { record }) if record.id == "b")
        );
        assert!(matches!(inv.forget("b"), Err(Error::UnknownDevice { .. })));
        assert!(matches!(
            inv.seen(t(0), Unix(0), "zz"),
            Err(Error::UnknownDevice { .. })
        ));
        // The summary equals a recount.
        let recount = inv
            .iter()
            .filter(|r| r.presence == Presence::Attached)
            .count() as u64;
        assert_eq!(inv.summary().attached, recount);
        // The freed slot is reused and the old deadline is gone.
        inv.register(t(200), Unix(0), reg("d")).unwrap();
        assert_eq!(inv.len(), 3);
    }

    #[test]
    fn ids_and_bounds_are_checked() {
        let cfg = InventoryConfig {
            max_devices: 1,
            ..InventoryConfig::default()
        };
        let mut inv = Inventory::new(cfg);
        for bad in ["", ".", "..", "a\nb"] {
            assert!(matches!(
                inv.register(t(0), Unix(0), reg(bad)),
                Err(Error::InvalidDeviceId { .. })
            ));
        }
        assert!(matches!(
            inv.register(t(0), Unix(0), reg(&"x".repeat(257))),
            Err(Error::InvalidDeviceId {
                reason: "too long",
                ..
            })
        ));
        let many = Registration {
            servers: Some(vec!["s".into(); 9]),
            ..reg("a")
        };
        assert!(matches!(
            inv.register(t(0), Unix(0), many),
            Err(Error::InvalidValue { .. })
        ));
        inv.register(t(0), Unix(0), reg("a")).unwrap();
        assert_eq!(
            inv.register(t(0), Unix(0), reg("b")),
            Err(Error::InventoryFull { max: 1 })
        );
        // Lease is clamped.
        let long = Registration {
            lease: Some(Duration::from_secs(u64::MAX / 4)),
            ..reg("a")
        };
        inv.register(t(0), Unix(0), long).unwrap();
        assert_eq!(
            inv.get("a").unwrap().lease,
            Duration::from_secs(30 * 86_400)
        );
        let short = Registration {
            lease: Some(Duration::ZERO),
            ..reg("a")
        };
        inv.register(t(0), Unix(0), short).unwrap();
        assert_eq!(inv.poll_timeout(), Some(t(60)));
    }

    #[test]
    fn restore_keeps_remaining_lease_or_detaches() {
        let mut inv = Inventory::new(InventoryConfig::default());
        inv.register(t(0), Unix(1000), reg("a")).unwrap();
        let mut rec = inv.get("a").unwrap().clone();
        let mut fresh = Inventory::new(InventoryConfig::default());
        fresh.restore(t(5), Unix(1040), rec.clone()).unwrap();
        assert_eq!(fresh.poll_timeout(), Some(t(65)));
        assert!(events(&mut fresh).is_empty());
        rec.id = "b".into();
        fresh.restore(t(5), Unix(2000), rec).unwrap();
        assert_eq!(
            events(&mut fresh),
            [InventoryEvent::Detached { id: "b".into() }]
        );
        assert_eq!(fresh.summary().detached, 1);
        // Restoring an id again replaces it without a Forgotten event.
        let again = fresh.get("a").unwrap().clone();
        fresh.restore(t(5), Unix(1040), again).unwrap();
        assert_eq!(fresh.len(), 2);
        assert!(events(&mut fresh).is_empty());
    }

    #[test]
    fn listing_in_id_order_and_paged() {
        let mut inv = Inventory::new(InventoryConfig::default());
        for id in ["c", "a", "b"] {
            inv.register(t(0), Unix(0), reg(id)).unwrap();
        }
        let ids: Vec<_> = inv.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let ids: Vec<_> = inv.iter_after("a").map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn address_forms() {
        assert_eq!(
            Address::parse("udp:10.0.0.2:2948"),
            Ok(Address::Udp("10.0.0.2:2948".into()))
        );
        let h = Address::parse("http:http://10.0.0.2/pkg0").unwrap();
        assert_eq!(h.to_string(), "http:http://10.0.0.2/pkg0");
        for bad in ["tcp:x", "udp:", "udp", "http:a\u{7}"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Protocol::parse("oma-dm"), Ok(Protocol::OmaDm));
        assert_eq!(Kind::Gateway.as_str(), "Gateway");
    }
}
