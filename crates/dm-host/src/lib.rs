//! What every process that plays the DM server role shares: `dm-server` towards devices and
//! gateways, and `dm-gateway` towards the End Devices on its LAN.
//!
//! In: TCP connections (plain or TLS) carrying SyncML DM messages in HTTP POST bodies, and a
//! backend that knows the accounts and what to do with an authenticated session.
//! Out: HTTP responses, and the backend's hooks called for authenticated sessions only.
//!
//! - [`listener`]: the HTTP(S) accept loop with its bounds ([`listener::ListenerLimits`]).
//! - [`log`]: peer-supplied text made safe for log lines ([`log::Untrusted`]).

mod error;
pub mod listener;
pub mod log;

pub use error::Error;
