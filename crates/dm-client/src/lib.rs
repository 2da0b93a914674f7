//! OMA DM 1.2 End Device agent for a Linux box.
//!
//! In: a [`Config`] (server URL and id, credentials both ways, listener addresses, tree file, Exec
//! commands), Package 0 notifications arriving on UDP (WSP push) or HTTP, and requests from the
//! embedding application (run a session now, queue a Generic Alert). Out: DM sessions with the
//! server over HTTP(S), the management tree persisted to its file after every session, the
//! configured shell commands run for Exec.
//!
//! The protocol itself is in the sans-IO crates (`dm_proto::ClientSession` drives the session,
//! `dm_tree::Tree` executes the server's commands and holds DevInfo/DevDetail/DMAcc, `syncml`
//! decodes Package 0 and WSP push); this crate is the I/O shell around them:
//!
//! - [`config`]: the TOML configuration.
//! - [`device`]: one device (tree + account) and its sessions; also used by `dm-sim`.
//! - [`session`]: the HTTP loop around `ClientSession`.
//! - [`agent`]: listeners, timer, on-demand sessions, Exec commands, tree file.
//! - [`listener`], [`exec`], [`tree_file`], [`device_info`]: the pieces.
//!
//! No global state: several agents can run in one process (`Agent::run(shutdown)`).

pub mod agent;
pub mod config;
pub mod device;
pub mod device_info;
mod error;
pub mod exec;
pub mod listener;
pub mod session;
pub mod tree_file;

pub use agent::{Agent, AgentHandle};
pub use config::Config;
pub use device::{Device, Trigger};
pub use dm_proto::{AlertItem, GenericAlert, SessionEnd};
pub use error::Error;
pub use session::SessionReport;
