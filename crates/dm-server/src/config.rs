//! Server configuration: a TOML file, overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dm_host::listener::{ListenerLimits, PublicUrl};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Everything `dm-server` needs to run. Every field has a default except the API token.
///
/// TOML example:
///
/// ```toml
/// listen = "0.0.0.0:8443"
/// db = "sqlite:/var/lib/dm-server/dm.db"
/// api_token = "operator-secret"
/// server_id = "dm.example.org"
/// tls_cert = "/etc/dm-server/cert.pem"
/// tls_key = "/etc/dm-server/key.pem"
/// session_timeout_secs = 300
/// max_body_bytes = 1048576
/// api_max_body_bytes = 1048576
/// max_msg_size = 65536
/// notification_udp_port = 2948
/// public_url = "https://dm.example.org"
/// notify_allowed_networks = ["192.168.0.0/16", "fd00::/8"]
/// max_job_attempts = 3
/// challenge_capacity = 65536
/// transparent_direct = "public"
/// long_poll_hold_secs = 55
/// max_long_polls = 64
/// images_dir = "/var/lib/dm-server/images"
/// image_max_bytes = 1073741824
/// image_url_ttl_secs = 86400
///
/// [enrolment]
/// policy = "secret"
/// secret = "factory-enrolment-secret"
///
/// [listener]            # dm_host::listener::ListenerLimits; these are the defaults
/// max_connections = 4096
/// max_in_flight = 128
/// header_read_timeout_secs = 10
/// idle_timeout_secs = 30
/// request_timeout_secs = 60
/// retry_after_secs = 1
/// max_header_bytes = 16384
/// shutdown_grace_secs = 10
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP(S) listener binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Store URL: `sqlite:PATH` (default `sqlite:dm-server.db`) or `postgres://...`.
    pub db: String,
    /// Bearer token of the REST API. An empty token refuses every API request.
    pub api_token: String,
    /// The server identifier (`SyncHdr/Source/LocURI` of server messages, Package 0 server id).
    pub server_id: String,
    /// Password the server authenticates itself with toward devices. `None`: each device's
    /// account carries its own server password.
    pub server_password: Option<String>,
    /// PEM certificate chain; together with `tls_key` the listener speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Seconds of inactivity after which a DM session is forgotten.
    pub session_timeout_secs: u64,
    /// Largest accepted body of a DM message (`POST /dm...`) in bytes (larger: HTTP 413).
    pub max_body_bytes: usize,
    /// Largest accepted body of a REST API request in bytes (larger: HTTP 413 with a JSON
    /// error). Default 1 MiB.
    pub api_max_body_bytes: usize,
    /// `MaxMsgSize` the server announces and honours.
    pub max_msg_size: usize,
    /// Default UDP port of device notification addresses given without a port.
    pub notification_udp_port: u16,
    /// What to do with devices that have no account.
    pub enrolment: EnrolmentPolicy,
    /// Base URL devices use to reach this server (for `RespURI`), e.g. `https://dm.example.org`
    /// or `https://relay.example.org/tenant-a` (http or https, a host, optional port and path;
    /// no user information, query or fragment). `None`: derived from the request's `Host`
    /// header when that is a plain `host[:port]`, and the listener's scheme.
    pub public_url: Option<String>,
    /// Networks notification addresses may point into (CIDR, e.g. `10.0.0.0/8`). `None` (the
    /// default): any address except unspecified, broadcast, multicast and link-local ones
    /// (`169.254.0.0/16`, `fe80::/10`). When set, only these networks (the unspecified
    /// addresses are refused all the same). See [`crate::notifier::NotifyPolicy`].
    pub notify_allowed_networks: Option<Vec<IpNet>>,
    /// Connection and request bounds of the HTTP(S) listener (`[listener]`).
    pub listener: ListenerLimits,
    /// Sends of a job after which the commands the device never answered (no Status at all)
    /// end it as `failed`, each with the result error "no status from device". Default 3.
    pub max_job_attempts: u32,
    /// Most challenge nonces kept for devices that did not authenticate yet (the only state
    /// kept for an unauthenticated sender; the oldest is dropped first). Default 65,536.
    pub challenge_capacity: usize,
    /// Which address a gateway reported for a Transparent-mode device the server notifies
    /// directly instead of through the gateway (seed 001 Z, B.1). Default `public`.
    pub transparent_direct: DirectPolicy,
    /// How long `POST /dm/wait` (the long-poll of a device or gateway the server cannot reach,
    /// GwMO-HLF-001) is held before it is answered 204; less than `[listener]
    /// request_timeout_secs`. Default 55 s.
    pub long_poll_hold_secs: u64,
    /// Most `POST /dm/wait` requests held at once (one per device; more get 503). Each holds
    /// one of the listener's `max_in_flight` request slots while it waits, so at most half of
    /// `max_in_flight` are held whatever this says ([`Config::long_poll_cap`]; raise both for
    /// many gateways behind NAT). Default 64.
    pub max_long_polls: usize,
    /// Directory of the images the server gives out (content-addressed files, docs/gateway.md
    /// §10). `None`: the image API answers 404.
    pub images_dir: Option<PathBuf>,
    /// Largest image `POST /api/v1/images` accepts, bytes (larger: 413). Default 1 GiB.
    pub image_max_bytes: u64,
    /// How long a signed image URL given to a gateway stays valid, seconds. Default 86,400.
    pub image_url_ttl_secs: u64,
}

/// Which reported address of a Transparent-mode device is notified directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DirectPolicy {
    /// A publicly routable IP address: not private (RFC 1918, unique local `fc00::/7`), not
    /// loopback, link-local, shared (`100.64/10`), documentation, benchmarking, multicast,
    /// reserved or unspecified. Host names count as not public (the server cannot tell).
    #[default]
    Public,
    /// Any reported address (a LAN the server can reach, or tests on loopback).
    Any,
    /// None: always through the gateway.
    Never,
}

/// Secrets (API token, passwords) are never printed, so a config can be logged safely.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("db", &self.db)
            .field("api_token", &"***")
            .field("server_id", &self.server_id)
            .field(
                "server_password",
                &self.server_password.as_ref().map(|_| "***"),
            )
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("session_timeout_secs", &self.session_timeout_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("api_max_body_bytes", &self.api_max_body_bytes)
            .field("max_msg_size", &self.max_msg_size)
            .field("notification_udp_port", &self.notification_udp_port)
            .field("enrolment", &self.enrolment)
            .field("public_url", &self.public_url)
            .field("notify_allowed_networks", &self.notify_allowed_networks)
            .field("listener", &self.listener)
            .field("max_job_attempts", &self.max_job_attempts)
            .field("challenge_capacity", &self.challenge_capacity)
            .field("transparent_direct", &self.transparent_direct)
            .field("long_poll_hold_secs", &self.long_poll_hold_secs)
            .field("max_long_polls", &self.max_long_polls)
            .field("images_dir", &self.images_dir)
            .field("image_max_bytes", &self.image_max_bytes)
            .field("image_url_ttl_secs", &self.image_url_ttl_secs)
            .finish()
    }
}

/// The enrolment secret is never printed.
impl std::fmt::Debug for EnrolmentPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnrolmentPolicy::Reject => f.write_str("Reject"),
            EnrolmentPolicy::Secret { .. } => f.write_str("Secret { secret: \"***\" }"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: "sqlite:dm-server.db".to_owned(),
            api_token: String::new(),
            server_id: "dm-server".to_owned(),
            server_password: None,
            tls_cert: None,
            tls_key: None,
            session_timeout_secs: 300,
            max_body_bytes: 1024 * 1024,
            api_max_body_bytes: 1024 * 1024,
            max_msg_size: 64 * 1024,
            notification_udp_port: 2948,
            enrolment: EnrolmentPolicy::Reject,
            public_url: None,
            notify_allowed_networks: None,
            listener: ListenerLimits::default(),
            max_job_attempts: 3,
            challenge_capacity: 65_536,
            transparent_direct: DirectPolicy::Public,
            long_poll_hold_secs: 55,
            max_long_polls: 64,
            images_dir: None,
            image_max_bytes: 1 << 30,
            image_url_ttl_secs: 86_400,
        }
    }
}

/// Policy for devices that present credentials for an account the store does not hold.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "policy", rename_all = "lowercase", deny_unknown_fields)]
pub enum EnrolmentPolicy {
    /// Unknown devices are refused (HTTP 200 with SyncML 401, and a log line).
    #[default]
    Reject,
    /// Unknown devices whose credentials verify with this shared secret (as their password)
    /// are enrolled: an account is created with the auth name they used.
    Secret {
        /// The enrolment secret.
        secret: String,
    },
}

impl Config {
    /// Reads a TOML configuration file.
    ///
    /// # Errors
    /// [`Error::ConfigRead`] when the file cannot be read, [`Error::ConfigParse`] when it is not
    /// valid TOML for [`Config`].
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text)
    }

    /// Parses a TOML configuration.
    ///
    /// # Errors
    /// [`Error::ConfigParse`] when the text is not valid TOML for [`Config`].
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        Ok(toml::from_str(text)?)
    }

    /// The session idle timeout.
    #[must_use]
    pub fn session_timeout(&self) -> Duration {
        Duration::from_secs(self.session_timeout_secs)
    }

    /// Checks the combination of settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when only one of `tls_cert`/`tls_key` is given, the db URL has an
    /// unknown scheme, the enrolment secret is empty or a body limit is 0;
    /// [`Error::Listener`] for an invalid `public_url` or `[listener]` value.
    pub fn validate(&self) -> Result<(), Error> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::InvalidConfig(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if !(self.db.starts_with("sqlite:")
            || self.db.starts_with("postgres://")
            || self.db.starts_with("postgresql://"))
        {
            return Err(Error::InvalidConfig(format!(
                "db must be sqlite:PATH or postgres://..., got {:?}",
                self.db
            )));
        }
        if let EnrolmentPolicy::Secret { secret } = &self.enrolment
            && secret.is_empty()
        {
            return Err(Error::InvalidConfig(
                "enrolment secret must not be empty".into(),
            ));
        }
        if self.max_body_bytes == 0 || self.api_max_body_bytes == 0 {
            return Err(Error::InvalidConfig(
                "max_body_bytes and api_max_body_bytes must be at least 1".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url)?;
        }
        self.listener.validate()?;
        if self.long_poll_hold_secs == 0 || self.listener.request_timeout <= Duration::from_secs(1)
        {
            return Err(Error::InvalidConfig(
                "long_poll_hold_secs and [listener] request_timeout_secs must be at least 1 \
                 and 2"
                    .into(),
            ));
        }
        if self.max_long_polls == 0 {
            return Err(Error::InvalidConfig(
                "max_long_polls must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The long-polls held at once: `max_long_polls`, at most half of the listener's
    /// How long a long-poll is held: `long_poll_hold_secs`, but always a second less than the
    /// listener's request timeout (which would otherwise cut it first).
    #[must_use]
    pub fn long_poll_hold(&self) -> Duration {
        Duration::from_secs(self.long_poll_hold_secs).min(
            self.listener
                .request_timeout
                .saturating_sub(Duration::from_secs(1)),
        )
    }

    /// `max_in_flight` (each waiting poll holds one of its request slots), at least 1.
    #[must_use]
    pub fn long_poll_cap(&self) -> usize {
        self.max_long_polls
            .min(self.listener.max_in_flight / 2)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GwMO-HLF-001: long-polls fit the listener's bounds (they hold a request slot each, and
    /// must be answered before the request timeout).
    #[test]
    fn long_polls_fit_the_listener() {
        assert!(Config::default().validate().is_ok());
        let mut c = Config::default();
        c.long_poll_hold_secs = c.listener.request_timeout.as_secs();
        assert!(c.validate().is_ok());
        assert!(
            c.long_poll_hold() < c.listener.request_timeout,
            "held less than the timeout"
        );
        c.long_poll_hold_secs = 0;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        assert_eq!(c.long_poll_cap(), 64);
        c.listener.max_in_flight = 32;
        assert_eq!(c.long_poll_cap(), 16);
        c.max_long_polls = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = Config::from_toml(
            "api_token = \"tok-s3cr3t\"\nserver_password = \"pw-s3cr3t\"\n[enrolment]\npolicy = \"secret\"\nsecret = \"enrol-s3cr3t\"\n",
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("server_id"));
    }

    #[test]
    fn toml_round_trip_and_defaults() {
        let c = Config::from_toml(
            "api_token = \"t\"\nlisten = \"127.0.0.1:0\"\n[enrolment]\npolicy = \"secret\"\nsecret = \"s\"\n",
        )
        .unwrap();
        assert_eq!(c.api_token, "t");
        assert_eq!(c.db, "sqlite:dm-server.db");
        assert_eq!(c.notification_udp_port, 2948);
        assert_eq!(c.enrolment, EnrolmentPolicy::Secret { secret: "s".into() });
        let again = Config::from_toml(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn listener_policy_and_public_url_keys() {
        let c = Config::from_toml(
            "public_url = \"https://dm.example.org/\"\nnotify_allowed_networks = [\"10.0.0.0/8\", \"fd00::/8\"]\n[listener]\nmax_in_flight = 32\nheader_read_timeout_secs = 3\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.listener.max_in_flight, 32);
        assert_eq!(c.listener.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.listener.max_connections, 4096);
        assert_eq!(c.notify_allowed_networks.as_ref().map(Vec::len), Some(2));
        assert!(Config::from_toml("notify_allowed_networks = [\"10.0.0.1\"]").is_err());
        for bad in [
            "public_url = \"dm.example.org\"",
            "public_url = \"https://u:p@dm.example.org\"",
            "[listener]\nmax_connections = 0",
        ] {
            let c = Config::from_toml(bad).unwrap();
            assert!(matches!(c.validate(), Err(Error::Listener(_))), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown_keys_and_half_tls() {
        assert!(Config::from_toml("nope = 1").is_err());
        let c = Config {
            tls_cert: Some("c.pem".into()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            db: "mysql://x".into(),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
