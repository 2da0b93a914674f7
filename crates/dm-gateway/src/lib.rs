//! The OMA GwMO 1.1 DM Gateway.
//!
//! In: a [`Config`] (its own identity, the DM servers it is a client of, its southbound DM
//! endpoint, the End Device accounts it holds), DM sessions and Package 0 from the servers,
//! DM sessions and registrations from its End Devices. Out: northbound DM sessions carrying the
//! GwMO objects (inventory, configuration, Fanout operations) and the gateway's alerts,
//! southbound DM sessions with Proxy-mode devices, Package 0 relayed to Transparent-mode
//! devices, and its state in one SQLite file ([`store`]).
//!
//! The design is in `docs/gateway.md`, the node layout in `docs/gwmo-objects.md`; the protocol
//! logic is in the sans-IO crates (`gwmo`, `dm-proto`, `dm-tree`), this crate drives it.

pub mod config;
mod dispatch;
mod error;
mod fanout;
mod gateway;
mod gwconfig;
mod http_relay;
mod image;
mod inventory;
mod northbound;
pub mod relay;
mod southbound;
mod state;
pub mod store;

pub use config::Config;
pub use error::Error;
pub use gateway::{Bound, run};
