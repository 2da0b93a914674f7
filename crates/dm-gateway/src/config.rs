//! The gateway's TOML configuration.
//!
//! ```toml
//! device_id = "GW:home-1"          # the gateway's own DevInfo/DevId
//! db = "dm-gateway.db"             # its state (inventory, accounts, operations, outbox, tree)
//!
//! [[servers]]                      # northbound: the DM servers managing the gateway (GwMO-ADM-001)
//! url = "http://127.0.0.1:8080/dm"
//! server_id = "dmserver"
//! client_auth = { type = "md5", name = "GW:home-1", secret = "gw-secret" }
//! server_auth = { type = "md5", secret = "server-secret" }
//! long_poll = false                # keep POST /dm/wait (at the url's origin) open: the
//!                                  # server's notifications come on it (behind NAT, GwMO-HLF-001)
//!
//! [northbound]                     # where the servers' Package 0 arrives (also relayed ones)
//! udp = "127.0.0.1:2948"
//! http = "127.0.0.1:8091"
//!
//! [southbound]                     # the gateway as DM server of its End Devices
//! listen = "127.0.0.1:8081"
//! server_id = "dmgateway"
//! relay = "127.0.0.1:3128"         # HTTP forward proxy for Transparent devices (Z'.3); absent: off
//!
//! [images]                         # image storage for the End Devices (docs/gateway.md §10)
//! dir = "/var/lib/dm-gateway/images"   # content-addressed files (absent section: no storage)
//! listen = "127.0.0.1:8090"        # the local image server (GET/HEAD /images/<sha256>)
//! public_url = "http://192.168.1.1:8090"  # base of the LocalURIs (default http://LISTEN)
//! auth = "token"                   # "token" (default): LocalURIs carry a per-entry secret; "none"
//!
//! [[devices]]                      # End Device accounts the gateway holds (GwMO-PMode-003)
//! id = "IMEI:1"
//! client_auth = { type = "md5", name = "IMEI:1", secret = "device-secret" }
//! server_secret = "gateway-secret-for-this-device"
//! notify = "udp:127.0.0.1:3001"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dm_client::config::{ClientAuth, EncodingChoice, Listen, ServerAuth};
use serde::Deserialize;

use crate::Error;

/// One DM server the gateway is a DM client of.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NorthServer {
    /// The server's DM endpoint URL.
    pub url: String,
    /// Its server id (DMAcc `ServerID`, the Package 0 server identifier).
    pub server_id: String,
    /// What the gateway presents to it (CLCRED).
    pub client_auth: ClientAuth,
    /// What it presents to the gateway (SRVCRED; also keys its Package 0 and relay MACs).
    pub server_auth: ServerAuth,
    /// Keep an outbound long-poll open to the server (`POST /dm/wait` at the origin of `url`,
    /// docs/gateway.md §6): the server's notifications arrive on it, so the gateway needs no
    /// inbound address for this server.
    #[serde(default)]
    pub long_poll: bool,
}

/// The southbound side: the gateway as DM server of its End Devices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Southbound {
    /// Address of the DM endpoint (`POST /dm`) for Proxy-mode sessions and registrations.
    pub listen: SocketAddr,
    /// The gateway's server id towards its devices (their DMAcc `ServerID`).
    #[serde(default = "default_south_id")]
    pub server_id: String,
    /// Base URL of the `RespURI`s handed out (default: `http://` + the listen address).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Address of the HTTP forward proxy for Transparent-mode devices (docs/gateway.md §4).
    #[serde(default)]
    pub relay: Option<SocketAddr>,
    /// Unknown devices presenting this secret (as their client password) are enrolled; absent:
    /// only configured devices are accepted.
    #[serde(default)]
    pub enrolment_secret: Option<String>,
    /// Server password given to enrolled devices' accounts (what the gateway presents to them).
    #[serde(default)]
    pub enrolment_server_secret: Option<String>,
}

fn default_south_id() -> String {
    "dmgateway".to_owned()
}

/// How the local image server admits End Devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageAuth {
    /// A LocalURI carries its entry's unguessable token (`?t=`, 128 random bits); the server
    /// answers 404 without it.
    #[default]
    Token,
    /// Anyone who reaches the listener may fetch a ready, enabled image.
    None,
}

/// Image storage (`[images]`, GwMO-DCIS-001..003).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// Directory of the content-addressed files.
    pub dir: PathBuf,
    /// Address of the local image server.
    pub listen: SocketAddr,
    /// Base URL of the LocalURIs (default `http://` + the bound address).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Access control of the local server.
    #[serde(default)]
    pub auth: ImageAuth,
}

/// An End Device account held by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAccountConfig {
    /// The device id (`DevInfo/DevId`).
    pub id: String,
    /// What the device presents to the gateway.
    pub client_auth: ClientAuth,
    /// What the gateway presents to the device (and keys the Package 0 it sends it).
    pub server_secret: String,
    /// Where the device takes Package 0 (`udp:HOST:PORT` or an `http://` URL), if known
    /// before it registers.
    #[serde(default)]
    pub notify: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The gateway's own device id.
    pub device_id: String,
    /// The SQLite file of its state.
    #[serde(default = "default_db")]
    pub db: PathBuf,
    /// The DM servers (at least one).
    pub servers: Vec<NorthServer>,
    /// Package 0 listeners for the servers' notifications.
    #[serde(default)]
    pub northbound: Listen,
    /// The southbound DM endpoint.
    pub southbound: Southbound,
    /// End Device accounts.
    #[serde(default)]
    pub devices: Vec<DeviceAccountConfig>,
    /// Image storage; absent: `Download` and `Data` answer 405.
    #[serde(default)]
    pub images: Option<Images>,
    /// Encoding of the northbound sessions.
    #[serde(default)]
    pub encoding: EncodingChoice,
    /// A session with each server every this many seconds (0: only on notification/change).
    #[serde(default)]
    pub session_interval_secs: u64,
    /// HTTP timeout of a northbound exchange, in seconds.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// Manufacturer reported in the gateway's DevInfo.
    #[serde(default = "default_man")]
    pub manufacturer: String,
    /// Model reported in the gateway's DevInfo.
    #[serde(default = "default_model")]
    pub model: String,
    /// `GwConfig/DefaultMode` on a fresh tree (`Proxy` or `Transparent`; the server may change
    /// it later).
    #[serde(default)]
    pub default_mode: Option<String>,
    /// `GwConfig/ModeRules` on a fresh tree.
    #[serde(default)]
    pub mode_rules: Vec<ModeRuleConfig>,
    /// The shortest lease granted, in seconds (default 60; a registration asking for less, or
    /// `GwConfig/LeaseSeconds` below it, gets this).
    #[serde(default = "default_min_lease")]
    pub min_lease_secs: u64,
}

fn default_min_lease() -> u64 {
    60
}

/// One initial mode rule (`GwConfig/ModeRules/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeRuleConfig {
    /// The rule's node name.
    pub name: String,
    /// `Match`: form-urlencoded conditions (`man=`, `mod=`, `id_prefix=`, `kind=`, `protocol=`).
    #[serde(rename = "match", default)]
    pub matcher: String,
    /// `Mode`: `Proxy` or `Transparent`.
    pub mode: String,
    /// `Order`.
    #[serde(default)]
    pub order: i64,
}

fn default_db() -> PathBuf {
    PathBuf::from("dm-gateway.db")
}
fn default_http_timeout() -> u64 {
    60
}
fn default_man() -> String {
    "omadm-gwmo".to_owned()
}
fn default_model() -> String {
    "dm-gateway".to_owned()
}

impl Config {
    /// Parses a TOML text and validates it.
    ///
    /// # Errors
    /// [`Error::Config`] for a syntax error or an invalid value.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, else as [`Config::from_toml`].
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: format!("reading {}", path.display()),
            source,
        })?;
        Config::from_toml(&text)
    }

    /// Checks what serde cannot: ids present and bounded, at least one server, distinct ids.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if gwmo::inventory::check_device_id(&self.device_id, 256).is_err() {
            return bad(format!("device_id {:?} is not a usable id", self.device_id));
        }
        if self.servers.is_empty() {
            return bad("at least one [[servers]] entry is needed".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for s in &self.servers {
            if s.server_id.is_empty() || !ids.insert(s.server_id.as_str()) {
                return bad(format!("server id {:?} empty or repeated", s.server_id));
            }
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                return bad(format!("server url {:?} is not http(s)", s.url));
            }
        }
        if self.southbound.server_id.is_empty() || ids.contains(self.southbound.server_id.as_str())
        {
            return bad("southbound.server_id must be set and differ from the servers' ids".into());
        }
        if let Some(m) = &self.default_mode
            && gwmo::mode::Mode::parse(m).is_err()
        {
            return bad(format!("default_mode {m:?} is not Proxy or Transparent"));
        }
        for r in &self.mode_rules {
            let order = r.order.to_string();
            if let Err(e) = gwmo::mode::Rule::from_leaves(
                &r.name,
                &r.matcher,
                &r.mode,
                Some(&order),
                &syncml::Limits::default(),
            ) {
                return bad(format!("mode rule {:?}: {e}", r.name));
            }
        }
        let mut dev = std::collections::BTreeSet::new();
        for d in &self.devices {
            if gwmo::inventory::check_device_id(&d.id, 256).is_err() || !dev.insert(d.id.as_str()) {
                return bad(format!("device id {:?} unusable or repeated", d.id));
            }
        }
        Ok(())
    }

    /// The server with this id.
    #[must_use]
    pub fn server(&self, server_id: &str) -> Option<&NorthServer> {
        self.servers.iter().find(|s| s.server_id == server_id)
    }

    /// The base URL of the southbound `RespURI`s.
    #[must_use]
    pub fn south_base_url(&self) -> String {
        match &self.southbound.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.southbound.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
device_id = "GW:1"
db = "/tmp/x.db"
[[servers]]
url = "http://127.0.0.1:8080/dm"
server_id = "dmserver"
client_auth = { type = "md5", name = "GW:1", secret = "a" }
server_auth = { type = "md5", secret = "b" }
[northbound]
udp = "127.0.0.1:2948"
[southbound]
listen = "127.0.0.1:8081"
[[devices]]
id = "IMEI:1"
client_auth = { name = "IMEI:1", secret = "c" }
server_secret = "d"
notify = "udp:127.0.0.1:3001"
"#;

    #[test]
    fn sample_parses() {
        let c = Config::from_toml(SAMPLE).unwrap();
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.southbound.server_id, "dmgateway");
        assert_eq!(c.south_base_url(), "http://127.0.0.1:8081");
        assert_eq!(c.devices[0].notify.as_deref(), Some("udp:127.0.0.1:3001"));
        assert!(
            !format!("{c:?}").contains("\"c\""),
            "secrets stay out of Debug"
        );
    }

    #[test]
    fn refuses_duplicate_and_missing() {
        let no_servers = SAMPLE.replace("[[servers]]", "[[nothing]]");
        assert!(Config::from_toml(&no_servers).is_err());
        let same_id = SAMPLE.replace("listen = ", "server_id = \"dmserver\"\nlisten = ");
        assert!(Config::from_toml(&same_id).is_err());
    }
}
