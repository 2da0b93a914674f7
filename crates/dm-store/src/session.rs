//! Everything one DM session writes, stored in one transaction by
//! [`crate::Store::record_session`].

use crate::{JobId, JobResults, LinkReport, NewEvent, NonceUpdate, RegistryUpdate, TreeValue};

/// The writes of one session for one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// The device (must have an account).
    pub device_id: String,
    /// Session time: stamps job state changes.
    pub at: crate::UnixMillis,
    /// Registry changes (DevInfo, last contact, address, session id).
    pub registry: RegistryUpdate,
    /// Nonces to keep for the next session.
    pub nonces: NonceUpdate,
    /// Tree values from `Results` (upserted by path; a later duplicate path wins).
    pub tree_values: Vec<TreeValue>,
    /// Job results and completions.
    pub job_results: Vec<JobResults>,
    /// Alerts to keep as events (their `device_id` is set to this record's device).
    pub events: Vec<NewEvent>,
    /// Devices this device reported behind it (it is a gateway: writing any marks it so);
    /// see [`crate::link`].
    pub links: Vec<LinkReport>,
    /// Tree values of other devices, from the answers of Proxy-mode jobs this gateway carried:
    /// stored under those End Devices (a device without an entry is skipped).
    pub proxied: Vec<ProxiedValues>,
    /// Jobs this gateway accepted for a later completion alert (set their
    /// [`crate::Job::awaiting_since`] to [`SessionRecord::at`]; only jobs still `sent` and
    /// carried by this gateway).
    pub awaiting: Vec<JobId>,
}

/// Tree values of one End Device, reported through its gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxiedValues {
    /// The End Device.
    pub device_id: String,
    /// Its values (upserted by path; a later duplicate path wins).
    pub values: Vec<TreeValue>,
}

impl SessionRecord {
    /// True when the record has a gateway's parts (links, proxied values, awaiting jobs).
    pub(crate) fn has_gateway_parts(&self) -> bool {
        !(self.links.is_empty() && self.proxied.is_empty() && self.awaiting.is_empty())
    }
}

/// Keeps the last value of each path (so a batch upsert never touches a row twice), in the
/// order of those last occurrences.
pub(crate) fn dedup_tree_values(values: &[TreeValue]) -> Vec<&TreeValue> {
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    let mut out: Vec<&TreeValue> = values
        .iter()
        .rev()
        .filter(|v| seen.insert(v.path.as_str()))
        .collect();
    out.reverse();
    out
}
