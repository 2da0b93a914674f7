//! Client alerts kept as events: Generic Alerts (1226) and other alerts a device sent.

use crate::UnixMillis;

/// Id of a stored event (increasing in insertion order).
pub type EventId = i64;

/// An alert to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEvent {
    /// Device that sent it.
    pub device_id: String,
    /// Receive time.
    pub at: UnixMillis,
    /// Alert code (1226 for Generic Alert).
    pub alert_code: u16,
    /// Item `Meta/Type` (e.g. `urn:oma:at:gwmo:1.0:deviceattached`).
    pub alert_type: Option<String>,
    /// Item `Meta/Format`.
    pub format: Option<String>,
    /// Item `Meta/Mark` (`critical`, `fatal`, `major`, `minor`, `warning`, `informational`).
    pub mark: Option<String>,
    /// Item `Source/LocURI`.
    pub source_uri: Option<String>,
    /// Alert `Correlator` (ties the alert to an Exec).
    pub correlator: Option<String>,
    /// Item `Data` as text.
    pub data: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id.
    pub id: EventId,
    /// What was stored.
    pub event: NewEvent,
}

/// Filters and page for [`crate::Store::list_events`]; all filters are ANDed. Results are in
/// id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this device.
    pub device_id: Option<String>,
    /// Only this alert code.
    pub alert_code: Option<u16>,
    /// Only this alert type.
    pub alert_type: Option<String>,
    /// Only events at or after this time.
    pub since: Option<UnixMillis>,
    /// Keyset pagination: only ids greater than this.
    pub after_id: Option<EventId>,
    /// Page size; `0` means the default (100). Capped at 10,000.
    pub limit: u32,
}
