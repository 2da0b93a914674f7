//! GwMO 1.1 (the OMA Gateway Management Object), sans-IO.
//!
//! In: DM commands and Generic Alerts from the typed SyncML AST, registrations and contacts of
//! End Devices, the gateway's configuration (its DM server ids, `GwConfig` values, mode rules),
//! device answers, and the time as arguments: a monotonic [`Timestamp`] (`dm_proto`'s) for
//! leases and deadlines, Unix seconds ([`inventory::UnixTime`]) for stored times.
//! Out: the GwMO subtrees of a [`dm_tree::Tree`], inventory records and counters, the mode of
//! each device, encoded payloads and alert items, command / response fragments, and, polled
//! from the state machines, events, dispatch decisions and deadlines. Nothing here does I/O,
//! reads a clock or draws random numbers.
//!
//! - [`mo`]: the registered MO identifiers; [`alert`]: the Generic Alert types.
//! - [`layout`]: our node layout as one table, the static tree builder, device-id node names.
//! - [`inventory`]: the device records, leases and the summary (GwMO-DI-001..008).
//! - [`mode`]: the mode rules (GwMO-MOO-001/002).
//! - [`payload`]: form-urlencoded payloads, command / response fragments, alert items.
//! - [`group`]: device groups, explicit and by match (GwMO-Group-001/002).
//! - [`fanout`]: the fanout engine and the consolidated response (GwMO-FORA-001/002).
//! - [`image`]: the Image Inventory model: states, digests, entry URIs (GwMO-DCIS-001..003).

pub mod alert;
mod error;
pub mod fanout;
pub mod group;
pub mod image;
pub mod inventory;
pub mod layout;
pub mod mo;
pub mod mode;
mod names;
pub mod payload;

pub use dm_proto::Timestamp;
pub use error::Error;
