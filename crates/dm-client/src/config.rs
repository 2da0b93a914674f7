//! The agent's configuration: which server, which credentials both ways, where to listen for
//! Package 0, where the tree lives, which shell command each Exec node runs.
//!
//! Read from TOML ([`Config::from_toml`], [`Config::load`]). Example:
//!
//! ```toml
//! server_url = "http://127.0.0.1:8080/dm"
//! server_id = "omadm-gwmo"
//! device_id = "IMEI:490154203237518"      # optional: /etc/machine-id or the host name otherwise
//! tree_file = "/var/lib/dm-client/tree.bin"
//! encoding = "xml"                        # or "wbxml"
//! session_interval_secs = 3600            # optional: 0 or absent = no periodic sessions
//!
//! [client_auth]                           # how this device authenticates to the server
//! type = "md5"                            # basic | md5 | hmac
//! name = "dev1"
//! secret = "device-secret"
//!
//! [server_auth]                           # how the server must authenticate to this device
//! type = "md5"                            # basic | md5 | hmac | none
//! secret = "server-secret"                # also keys the Package 0 digest
//!
//! [listen]
//! udp = "0.0.0.0:2948"                    # WSP push; "" or absent in [listen] = off
//! http = "127.0.0.1:2949"                 # POST Package 0 here
//!
//! [exec]
//! "./Ext/Reboot" = "systemctl reboot"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Error;

/// An authentication scheme of SyncML DM (DMAcc `AAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// `syncml:auth-basic`.
    Basic,
    /// `syncml:auth-md5` (the default).
    Md5,
    /// `syncml:auth-MAC` (`x-syncml-hmac` header).
    Hmac,
    /// No authentication (server side only: the device does not check the server).
    None,
}

/// Credentials this device presents to the server (DMAcc `CLCRED`). `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ClientAuth {
    /// Scheme; `none` is refused.
    #[serde(rename = "type", default = "default_auth_type")]
    pub auth_type: AuthType,
    /// The name the device authenticates with (may differ from its DevId).
    pub name: String,
    /// The password.
    pub secret: String,
}

/// Credentials the server must present to this device (DMAcc `SRVCRED`); the secret also keys the
/// Package 0 digest. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ServerAuth {
    /// Scheme; `none` means server messages are accepted without credentials (Package 0 still
    /// needs `secret` to be verified).
    #[serde(rename = "type", default = "default_auth_type")]
    pub auth_type: AuthType,
    /// The server's name in its credentials; the server id when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The server's password.
    #[serde(default)]
    pub secret: String,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("auth_type", &self.auth_type)
            .field("name", &self.name)
            .field("secret", &"***")
            .finish()
    }
}

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuth")
            .field("auth_type", &self.auth_type)
            .field("name", &self.name)
            .field("secret", &"***")
            .finish()
    }
}

fn default_auth_type() -> AuthType {
    AuthType::Md5
}

/// The Package 0 listeners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listen {
    /// UDP address for connectionless WSP push (port 2948 by default); `None` = off.
    #[serde(default = "default_udp", deserialize_with = "optional_addr")]
    pub udp: Option<SocketAddr>,
    /// HTTP address accepting `POST` of `application/vnd.syncml.notification`; `None` = off.
    #[serde(default, deserialize_with = "optional_addr")]
    pub http: Option<SocketAddr>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            udp: default_udp(),
            http: None,
        }
    }
}

fn default_udp() -> Option<SocketAddr> {
    Some(SocketAddr::from(([0, 0, 0, 0], 2948)))
}

fn optional_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() || s == "off" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// The encoding of the DM messages the device sends (the server answers in the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EncodingChoice {
    /// `application/vnd.syncml.dm+xml`.
    #[default]
    Xml,
    /// `application/vnd.syncml.dm+wbxml`.
    Wbxml,
}

impl From<EncodingChoice> for syncml::Encoding {
    fn from(e: EncodingChoice) -> Self {
        match e {
            EncodingChoice::Xml => syncml::Encoding::Xml,
            EncodingChoice::Wbxml => syncml::Encoding::Wbxml,
        }
    }
}

/// Optional overrides of the DevInfo / DevDetail values read from the system.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct DeviceOverrides {
    /// `./DevInfo/Man`.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// `./DevInfo/Mod`.
    #[serde(default)]
    pub model: Option<String>,
    /// `./DevInfo/Lang`.
    #[serde(default)]
    pub lang: Option<String>,
    /// `./DevDetail/DevTyp`.
    #[serde(default)]
    pub dev_type: Option<String>,
}

/// The whole agent configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The DM server URL (DMAcc `AppAddr`), e.g. `http://127.0.0.1:8080/dm`.
    pub server_url: String,
    /// The server identifier (DMAcc `ServerID`, Package 0 server id, ACL principal).
    pub server_id: String,
    /// `./DevInfo/DevId`; from `/etc/machine-id` or the host name when absent.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Credentials of the device.
    pub client_auth: ClientAuth,
    /// Credentials of the server.
    pub server_auth: ServerAuth,
    /// Package 0 listeners.
    #[serde(default)]
    pub listen: Listen,
    /// Where the tree is persisted (dm-tree snapshot).
    pub tree_file: PathBuf,
    /// Message encoding.
    #[serde(default)]
    pub encoding: EncodingChoice,
    /// Seconds between client-initiated sessions; 0 or absent: none besides the one at start.
    #[serde(default)]
    pub session_interval_secs: u64,
    /// Run a client-initiated session when the agent starts (default true).
    #[serde(default = "default_true")]
    pub session_on_start: bool,
    /// Largest message this device accepts (`MaxMsgSize`), bytes.
    #[serde(default = "default_max_msg_size")]
    pub max_msg_size: u32,
    /// Largest object this device accepts (`MaxObjSize`), bytes.
    #[serde(default = "default_max_obj_size")]
    pub max_obj_size: u32,
    /// Seconds one HTTP exchange with the server may take.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// Exec node path -> shell command line (run with `sh -c`; Exec's data in `$DM_EXEC_DATA`).
    #[serde(default)]
    pub exec: BTreeMap<String, String>,
    /// DevInfo / DevDetail overrides.
    #[serde(default)]
    pub device: DeviceOverrides,
    /// Register with a DM Gateway in Transparent mode (docs/gateway.md §3): the device stays
    /// managed by `server_url`, and the gateway relays the server's notifications to it.
    #[serde(default)]
    pub gateway: Option<GatewayRegistration>,
}

/// A DM Gateway the device registers with in Transparent mode (GwMO-TMode-001, seed 001 X.1):
/// an authenticated session with the gateway carrying the Device Registration Alert, at start
/// and again before half the lease has passed (the heartbeat).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRegistration {
    /// The gateway's DM endpoint, e.g. `http://192.168.1.1:8081/dm`.
    pub url: String,
    /// The gateway's server id towards its devices.
    pub server_id: String,
    /// What the device presents to the gateway.
    pub client_auth: ClientAuth,
    /// What the gateway presents to the device.
    pub server_auth: ServerAuth,
    /// The lease asked for, in seconds (default 3600).
    #[serde(default = "default_lease")]
    pub lease_secs: u64,
    /// An HTTP proxy for the sessions with the DM server (the gateway's HTTP relay, seed 001
    /// Z'.3), e.g. `http://192.168.1.1:3128`.
    #[serde(default)]
    pub http_proxy: Option<String>,
}

fn default_lease() -> u64 {
    3600
}

fn default_true() -> bool {
    true
}
fn default_max_msg_size() -> u32 {
    64 * 1024
}
fn default_max_obj_size() -> u32 {
    4 * 1024 * 1024
}
fn default_http_timeout() -> u64 {
    30
}

impl Config {
    /// Parses a TOML configuration.
    ///
    /// # Errors
    /// [`Error::Config`] when the text is not valid TOML for [`Config`] or a value is out of range
    /// (client auth type `none`, empty server URL).
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config {
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML configuration file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Config`] as in [`Config::from_toml`].
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text)
    }

    /// Checks the values serde cannot.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value.
    pub fn validate(&self) -> Result<(), Error> {
        if self.client_auth.auth_type == AuthType::None {
            return Err(Error::Config {
                reason: "client_auth.type cannot be none".into(),
            });
        }
        if self.server_url.trim().is_empty() {
            return Err(Error::Config {
                reason: "server_url is empty".into(),
            });
        }
        if self.server_id.trim().is_empty() {
            return Err(Error::Config {
                reason: "server_id is empty".into(),
            });
        }
        if let Some(g) = &self.gateway {
            if g.client_auth.auth_type == AuthType::None {
                return Err(Error::Config {
                    reason: "gateway.client_auth.type cannot be none".into(),
                });
            }
            if g.url.trim().is_empty()
                || g.server_id.trim().is_empty()
                || g.server_id == self.server_id
            {
                return Err(Error::Config {
                    reason: "gateway.url and gateway.server_id must be set, and the server id differ from server_id".into(),
                });
            }
            if g.lease_secs < 2 {
                return Err(Error::Config {
                    reason: "gateway.lease_secs must be at least 2".into(),
                });
            }
        }
        if self.max_msg_size < 1024 {
            return Err(Error::Config {
                reason: "max_msg_size must be at least 1024".into(),
            });
        }
        Ok(())
    }

    /// The session interval, if periodic sessions are on.
    #[must_use]
    pub fn session_interval(&self) -> Option<Duration> {
        (self.session_interval_secs > 0).then(|| Duration::from_secs(self.session_interval_secs))
    }

    /// The name the server uses in its credentials (`server_auth.name`, else the server id).
    #[must_use]
    pub fn server_auth_name(&self) -> &str {
        self.server_auth.name.as_deref().unwrap_or(&self.server_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
server_url = "http://127.0.0.1:8080/dm"
server_id = "srv"
device_id = "IMEI:1"
tree_file = "/tmp/t.bin"
encoding = "wbxml"
session_interval_secs = 60
[client_auth]
type = "hmac"
name = "dev1"
secret = "s1"
[server_auth]
type = "none"
[listen]
udp = "127.0.0.1:0"
http = "127.0.0.1:0"
[exec]
"./Ext/Reboot" = "true"
"#;

    #[test]
    fn debug_never_prints_secrets() {
        let c = Config::from_toml(&FULL.replace("\"s1\"", "\"dev-s3cr3t\"")).unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("dev1"));
    }

    #[test]
    fn parses_full_config() {
        let c = Config::from_toml(FULL).unwrap();
        assert_eq!(c.client_auth.auth_type, AuthType::Hmac);
        assert_eq!(c.server_auth.auth_type, AuthType::None);
        assert_eq!(c.encoding, EncodingChoice::Wbxml);
        assert_eq!(c.listen.udp, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.session_interval(), Some(Duration::from_secs(60)));
        assert_eq!(c.exec.get("./Ext/Reboot").map(String::as_str), Some("true"));
        assert_eq!(c.server_auth_name(), "srv");
    }

    #[test]
    fn defaults_md5_and_udp_2948() {
        let c = Config::from_toml(
            r#"server_url = "http://s/dm"
server_id = "srv"
tree_file = "t"
[client_auth]
name = "d"
secret = "x"
[server_auth]
secret = "y"
"#,
        )
        .unwrap();
        assert_eq!(c.client_auth.auth_type, AuthType::Md5);
        assert_eq!(c.server_auth.auth_type, AuthType::Md5);
        assert_eq!(c.listen.udp, Some("0.0.0.0:2948".parse().unwrap()));
        assert_eq!(c.listen.http, None);
        assert_eq!(c.encoding, EncodingChoice::Xml);
        assert!(c.session_interval().is_none());
        assert!(c.session_on_start);
    }

    #[test]
    fn rejects_unknown_keys_and_client_auth_none() {
        assert!(matches!(
            Config::from_toml("bogus = 1\n"),
            Err(Error::Config { .. })
        ));
        let bad = FULL.replace("type = \"hmac\"", "type = \"none\"");
        assert!(matches!(Config::from_toml(&bad), Err(Error::Config { .. })));
    }

    #[test]
    fn listener_can_be_switched_off() {
        let text = FULL.replace("udp = \"127.0.0.1:0\"", "udp = \"\"");
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.listen.udp, None);
    }
}
