//! Device accounts (credentials, nonces, notification addresses) and the registry of what each
//! device reported (DevInfo, last contact).
//!
//! # How secrets are stored
//! - **Client secret** (device → server): only the verifier `B64(MD5(auth_name ":" password))`
//!   is stored, whatever the client auth type. MD5 digest auth (`B64(MD5(verifier ":" nonce))`)
//!   and HMAC (`B64(MD5(verifier ":" nonce ":" B64(MD5(body))))`) need exactly that value, and
//!   basic auth is checked by recomputing the verifier from the name and password the device
//!   presented ([`DeviceAccount::check_basic`], constant-time). The clear password is never
//!   stored; the flip side is that changing `auth_name` needs the password again to compute a
//!   new verifier ([`md5_verifier`]).
//! - **Server secret** (server → device): stored as the clear password, because basic auth toward
//!   the device must send it and the device may be switched between basic and MD5/HMAC.
//!
//! Both are held in [`Secret`], whose `Debug` prints `Secret(***)`; nothing in this crate logs
//! them.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

use crate::{DeviceKind, DeviceLink, Error, UnixMillis};

/// A credential kept out of logs: `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret text. Call only where the value is needed for a computation.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Computes the client-secret verifier `B64(MD5(name ":" password))` (OMA DM Security: the inner
/// hash of the MD5 digest and HMAC formulas).
#[must_use]
pub fn md5_verifier(name: &str, password: &str) -> Secret {
    let mut h = Md5::new();
    h.update(name.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    Secret(base64::engine::general_purpose::STANDARD.encode(h.finalize()))
}

/// An authentication scheme of SyncML DM (`syncml:auth-basic`, `syncml:auth-md5`,
/// `syncml:auth-MAC`), or none (server toward device only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// No authentication (allowed for the server toward the device only).
    None,
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5`.
    Md5,
    /// `syncml:auth-MAC` (HMAC-MD5 in the transport header).
    Hmac,
}

impl AuthType {
    /// The stored text: `none`, `basic`, `md5`, `hmac`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Basic => "basic",
            AuthType::Md5 => "md5",
            AuthType::Hmac => "hmac",
        }
    }

    /// Parses the stored text.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for anything but the four names.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "none" => AuthType::None,
            "basic" => AuthType::Basic,
            "md5" => AuthType::Md5,
            "hmac" => AuthType::Hmac,
            _ => {
                return Err(Error::Corrupt {
                    what: "auth type",
                    detail: s.to_owned(),
                });
            }
        })
    }
}

/// A device account: who the device is, how it authenticates, how to notify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccount {
    /// The DevId (e.g. `IMEI:352099001761481`); primary key.
    pub device_id: String,
    /// The name the device authenticates with (`Cred` user name / HMAC `username`); unique.
    pub auth_name: String,
    /// Auth type the device must use toward the server (`basic`, `md5` or `hmac`).
    pub client_auth: AuthType,
    /// `B64(MD5(auth_name ":" password))`, see the module docs and [`md5_verifier`].
    pub client_verifier: Secret,
    /// Auth type the server uses toward the device.
    pub server_auth: AuthType,
    /// Name the server authenticates with toward the device; `None` = the server's own id.
    pub server_auth_name: Option<String>,
    /// The server's password toward the device (clear, see the module docs).
    pub server_secret: Secret,
    /// Nonce the server issued to the device for its next `Cred` (client nonce).
    pub client_nonce: Vec<u8>,
    /// Nonce the device issued to the server (server nonce).
    pub server_nonce: Vec<u8>,
    /// Notification addresses, tried in order: `udp:HOST:PORT` or `http://...`.
    pub notify_addrs: Vec<String>,
    /// A device or a gateway. (How a device is reached through a gateway is its current
    /// [`crate::DeviceLink`], not part of the account.)
    pub kind: DeviceKind,
    /// Disabled accounts are refused at authentication.
    pub enabled: bool,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Last update time (set by the caller on every update).
    pub updated_at: UnixMillis,
}

impl DeviceAccount {
    /// A new enabled account with empty nonces, no notification address, server auth `none`.
    #[must_use]
    pub fn new(
        device_id: impl Into<String>,
        auth_name: impl Into<String>,
        client_auth: AuthType,
        password: &str,
        now: UnixMillis,
    ) -> Self {
        let auth_name = auth_name.into();
        let client_verifier = md5_verifier(&auth_name, password);
        DeviceAccount {
            device_id: device_id.into(),
            auth_name,
            client_auth,
            client_verifier,
            server_auth: AuthType::None,
            server_auth_name: None,
            server_secret: Secret::default(),
            client_nonce: Vec::new(),
            server_nonce: Vec::new(),
            notify_addrs: Vec::new(),
            kind: DeviceKind::Device,
            enabled: true,
            created_at: now,
            updated_at: now,
        }
    }

    /// Checks basic-auth credentials against the stored verifier in constant time.
    #[must_use]
    pub fn check_basic(&self, name: &str, password: &str) -> bool {
        let v = md5_verifier(name, password);
        name == self.auth_name
            && bool::from(
                v.expose()
                    .as_bytes()
                    .ct_eq(self.client_verifier.expose().as_bytes()),
            )
    }
}

/// Filters and page for [`crate::Store::list_devices`]; all filters are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Device ids starting with this text.
    pub id_prefix: Option<String>,
    /// Registry `Man` equals this.
    pub manufacturer: Option<String>,
    /// Registry `Mod` equals this.
    pub model: Option<String>,
    /// Last contact at or after this time.
    pub seen_since: Option<UnixMillis>,
    /// Only devices of this kind.
    pub kind: Option<DeviceKind>,
    /// Only devices currently linked behind this gateway.
    pub gateway_id: Option<String>,
    /// Keyset pagination: only device ids greater than this (pass the last id of the previous
    /// page).
    pub after: Option<String>,
    /// Page size; `0` means the default (100). Capped at 10,000.
    pub limit: u32,
}

/// What a device reported and when it was last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// DevInfo leaf name → value (`DevId`, `Man`, `Mod`, `DmV`, `Lang`, ...).
    pub devinfo: BTreeMap<String, String>,
    /// Time of the last session.
    pub last_contact: Option<UnixMillis>,
    /// Peer address of the last session.
    pub last_addr: Option<String>,
    /// SyncML `SessionID` of the last session.
    pub last_session_id: Option<String>,
}

/// A change to the registry; `None` fields keep the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryUpdate {
    /// Replaces the whole stored DevInfo map (DevInfo is reported whole in package 1).
    pub devinfo: Option<BTreeMap<String, String>>,
    /// New last contact time.
    pub last_contact: Option<UnixMillis>,
    /// New last peer address.
    pub last_addr: Option<String>,
    /// New last session id.
    pub last_session_id: Option<String>,
}

/// A device as listed: its account and, if it ever connected, its registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    /// The account.
    pub account: DeviceAccount,
    /// The registry entry; `None` before the first session (or report).
    pub registry: Option<Registry>,
    /// Its current link to a gateway, if any.
    pub link: Option<DeviceLink>,
}

/// New nonces to store; `None` keeps the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NonceUpdate {
    /// Next client nonce (server → device challenge).
    pub client: Option<Vec<u8>>,
    /// Next server nonce (device → server challenge).
    pub server: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_matches_known_vector_and_redacts() {
        // Auth vector of the spec digest (section on auth formulas).
        let v = md5_verifier("user1", "pass1");
        assert_eq!(v.expose(), "/lgJpthnkn7/fyorCQh5bQ==");
        assert_eq!(format!("{v:?}"), "Secret(***)");
        let a = DeviceAccount::new("IMEI:1", "user1", AuthType::Basic, "pass1", 0);
        assert!(a.check_basic("user1", "pass1"));
        assert!(!a.check_basic("user1", "Pass1"));
        assert!(!a.check_basic("user", "1pass1"));
        assert!(!format!("{a:?}").contains("/lgJ"));
    }

    #[test]
    fn auth_type_text_round_trips() {
        for t in [
            AuthType::None,
            AuthType::Basic,
            AuthType::Md5,
            AuthType::Hmac,
        ] {
            assert_eq!(AuthType::parse(t.as_str()).unwrap(), t);
        }
        assert!(AuthType::parse("digest").is_err());
    }
}
