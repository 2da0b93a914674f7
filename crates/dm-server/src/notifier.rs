//! Package 0 delivery: connectionless WSP push over UDP, or HTTP POST (DM-1).
//!
//! In: a device's notification address, the operator's [`NotifyPolicy`] and the Package 0
//! bytes (built by `syncml::notification`). Out: one UDP datagram or one HTTP POST, sent only
//! to an address the policy permits.
//!
//! Addresses are checked twice: when they are stored ([`NotifyPolicy::check_address`]: syntax,
//! no `user:password@` in URLs, IP literals against the policy) and when a notification is sent
//! (every address a host name resolves to must pass as well, so a name that later resolves
//! into a forbidden network is refused). HTTP redirects are never followed and no proxy is
//! used: the POST goes to the checked address or nowhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use tokio::net::UdpSocket;

/// Where a device listens for Package 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddress {
    /// `udp:HOST[:PORT]`: a connectionless WSP push datagram.
    Udp {
        /// Host name or IP address.
        host: String,
        /// UDP port.
        port: u16,
    },
    /// `http://...` or `https://...`: an HTTP POST of the raw Package 0.
    Http(Url),
}

/// Why a notification address or delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The address is neither `udp:HOST[:PORT]` nor an `http(s)://` URL with a host.
    #[error("unsupported notification address {0:?} (want udp:HOST[:PORT] or http(s)://...)")]
    BadAddress(String),
    /// The address (or every address its host resolves to) is refused by the policy.
    #[error("notification address {address:?} refused: {reason}")]
    Refused {
        /// The address, or the resolved IP address.
        address: String,
        /// Why.
        reason: &'static str,
    },
    /// The host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// Sending the datagram failed.
    #[error("UDP send failed: {0}")]
    Udp(#[from] std::io::Error),
    /// The HTTP POST failed (connect, TLS, timeout).
    #[error("HTTP notification failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The HTTP POST was answered with a non-2xx status (a redirect included: never followed).
    #[error("HTTP notification answered with status {status}")]
    HttpStatus {
        /// The HTTP status.
        status: u16,
    },
}

impl NotifyAddress {
    /// Parses a notification address; `default_udp_port` applies to `udp:HOST`.
    ///
    /// # Errors
    /// [`NotifyError::BadAddress`] for anything else, [`NotifyError::Refused`] for a URL with
    /// user information (`http://user:password@...`).
    pub fn parse(text: &str, default_udp_port: u16) -> Result<NotifyAddress, NotifyError> {
        let bad = || NotifyError::BadAddress(text.to_owned());
        if let Some(rest) = text.strip_prefix("udp:") {
            let rest = rest.trim_start_matches("//");
            if rest.is_empty() || rest.contains(['@', '/', ' ']) {
                return Err(bad());
            }
            // [v6]:port, host:port, or a bare host / bare v6 address.
            if let Some(v6) = rest.strip_prefix('[') {
                let (host, after) = v6.split_once(']').ok_or_else(bad)?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse().map_err(|_| bad())?,
                    None if after.is_empty() => default_udp_port,
                    None => return Err(bad()),
                };
                return Ok(NotifyAddress::Udp {
                    host: host.to_owned(),
                    port,
                });
            }
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => Ok(NotifyAddress::Udp {
                    host: host.to_owned(),
                    port: port.parse().map_err(|_| bad())?,
                }),
                _ => Ok(NotifyAddress::Udp {
                    host: rest.to_owned(),
                    port: default_udp_port,
                }),
            }
        } else if text.starts_with("http://") || text.starts_with("https://") {
            let url = Url::parse(text).map_err(|_| bad())?;
            if url.host().is_none() {
                return Err(bad());
            }
            if !url.username().is_empty() || url.password().is_some() {
                // The refusal names the URL without the credentials.
                let mut shown = url.clone();
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                return Err(NotifyError::Refused {
                    address: shown.to_string(),
                    reason: "user information (user:password@) is not allowed in a notification URL",
                });
            }
            Ok(NotifyAddress::Http(url))
        } else {
            Err(bad())
        }
    }

    /// The host as an IP address when it is an IP literal.
    pub(crate) fn ip_literal(&self) -> Option<IpAddr> {
        match self {
            NotifyAddress::Udp { host, .. } => host.parse().ok(),
            NotifyAddress::Http(url) => {
                let host = url.host_str()?;
                let bare = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                bare.parse().ok()
            }
        }
    }
}

/// Which destinations notifications may go to.
///
/// Default ([`NotifyPolicy::default`]): every address except unspecified (`0.0.0.0/8`, `::`),
/// broadcast (`255.255.255.255`), multicast (`224.0.0.0/4`, `ff00::/8`) and link-local
/// (`169.254.0.0/16`, `fe80::/10`: among them cloud metadata services) addresses. Loopback and
/// private ranges are allowed: devices and gateways live on LANs. With a list of allowed
/// networks ([`NotifyPolicy::allowing`], config `notify_allowed_networks`) only addresses
/// inside one of them pass (unspecified addresses never do). IPv4-mapped IPv6 addresses are
/// judged as the IPv4 address they carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyPolicy {
    allowed: Option<Vec<IpNet>>,
}

impl NotifyPolicy {
    /// Only addresses inside `networks` pass (`None`: the default policy).
    #[must_use]
    pub fn allowing(networks: Option<Vec<IpNet>>) -> NotifyPolicy {
        NotifyPolicy { allowed: networks }
    }

    /// Whether a notification may be sent to `ip`.
    ///
    /// # Errors
    /// [`NotifyError::Refused`] with the reason.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), NotifyError> {
        match self.refusal(ip) {
            None => Ok(()),
            Some(reason) => Err(NotifyError::Refused {
                address: ip.to_string(),
                reason,
            }),
        }
    }

    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = ip.to_canonical();
        let unspecified = match ip {
            IpAddr::V4(v4) => v4.octets().first() == Some(&0),
            IpAddr::V6(v6) => v6.is_unspecified(),
        };
        if unspecified {
            return Some("unspecified address");
        }
        if let Some(networks) = &self.allowed {
            return (!networks.iter().any(|n| n.contains(&ip)))
                .then_some("outside notify_allowed_networks");
        }
        match ip {
            IpAddr::V4(v4) if v4 == Ipv4Addr::BROADCAST => Some("broadcast address"),
            IpAddr::V4(v4) if v4.is_multicast() => Some("multicast address"),
            IpAddr::V4(v4) if v4.is_link_local() => Some("link-local address"),
            IpAddr::V6(v6) if v6.is_multicast() => Some("multicast address"),
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("link-local address"),
            _ => None,
        }
    }

    /// Checks an address where it is stored: its host when that is an IP literal (a host name
    /// is checked when the notification is sent, against what it then resolves to).
    ///
    /// # Errors
    /// [`NotifyError::Refused`].
    pub fn check_address(&self, address: &NotifyAddress) -> Result<(), NotifyError> {
        match address.ip_literal() {
            Some(ip) => self.check_ip(ip),
            None => Ok(()),
        }
    }

    /// The permitted ones of `resolved`.
    ///
    /// # Errors
    /// [`NotifyError::Refused`] naming the first refused address when none is permitted.
    fn permitted(
        &self,
        resolved: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, NotifyError> {
        let mut first_refusal = None;
        let mut ok = Vec::new();
        for addr in resolved {
            match self.check_ip(addr.ip()) {
                Ok(()) => ok.push(addr),
                Err(e) => {
                    tracing::debug!(%addr, "resolved notification address refused by the policy");
                    first_refusal.get_or_insert(e);
                }
            }
        }
        match (ok.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            _ => Ok(ok),
        }
    }
}

/// reqwest's resolver for the notifier: host names resolve to the policy's permitted addresses
/// only, at connect time (so a name cannot be re-pointed between a check and the POST).
struct PolicyResolver(Arc<NotifyPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| NotifyError::Resolve(host.clone()))?;
            let permitted = policy.permitted(resolved)?;
            if permitted.is_empty() {
                return Err(NotifyError::Resolve(host).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends Package 0 messages; one per server, shared by all requests.
#[derive(Debug)]
pub struct Notifier {
    udp_v4: UdpSocket,
    http: reqwest::Client,
    policy: Arc<NotifyPolicy>,
}

impl Notifier {
    /// Binds an ephemeral UDP socket and builds the HTTP client (10 s timeout, no redirects, no
    /// proxy, names resolved through `policy`).
    ///
    /// # Errors
    /// The socket could not be bound.
    pub async fn new(policy: NotifyPolicy) -> std::io::Result<Notifier> {
        let udp_v4 = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await?;
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(PolicyResolver(policy.clone()))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Notifier {
            udp_v4,
            http,
            policy,
        })
    }

    /// The destination policy.
    #[must_use]
    pub fn policy(&self) -> &NotifyPolicy {
        &self.policy
    }

    /// Delivers one notification.
    ///
    /// `wsp_push` is the whole datagram for UDP (the WSP push PDU wrapping Package 0, with
    /// any push headers); `package0` is the bare Package 0 for HTTP, sent with
    /// `http_headers` (the GwMO relay headers of a notification a gateway relays).
    ///
    /// # Errors
    /// [`NotifyError::Refused`] when the address (or every address its host resolves to) is
    /// outside the policy, [`NotifyError::Resolve`], or the transport's error.
    pub async fn send(
        &self,
        to: &NotifyAddress,
        wsp_push: &[u8],
        package0: &[u8],
        http_headers: &[(&str, &str)],
    ) -> Result<(), NotifyError> {
        self.policy.check_address(to)?;
        match to {
            NotifyAddress::Udp { host, port } => {
                let resolved = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|_| NotifyError::Resolve(host.clone()))?;
                let target = self
                    .policy
                    .permitted(resolved)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| NotifyError::Resolve(host.clone()))?;
                if target.is_ipv4() {
                    self.udp_v4.send_to(wsp_push, target).await?;
                } else {
                    let sock =
                        UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).await?;
                    sock.send_to(wsp_push, target).await?;
                }
                Ok(())
            }
            NotifyAddress::Http(url) => {
                let mut req = self.http.post(url.clone()).header(
                    reqwest::header::CONTENT_TYPE,
                    syncml::CONTENT_TYPE_NOTIFICATION,
                );
                for (name, value) in http_headers {
                    req = req.header(*name, *value);
                }
                let resp = req
                    .body(package0.to_vec())
                    .send()
                    .await
                    .map_err(from_reqwest)?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(NotifyError::HttpStatus {
                        status: resp.status().as_u16(),
                    })
                }
            }
        }
    }
}

/// A refusal by [`PolicyResolver`] comes back wrapped in reqwest's error: unwrap it.
fn from_reqwest(e: reqwest::Error) -> NotifyError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(c) = cause {
        if let Some(NotifyError::Refused { address, reason }) = c.downcast_ref::<NotifyError>() {
            return NotifyError::Refused {
                address: address.clone(),
                reason,
            };
        }
        cause = c.source();
    }
    NotifyError::Http(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            NotifyAddress::parse("udp:127.0.0.1:4000", 2948).unwrap(),
            NotifyAddress::Udp {
                host: "127.0.0.1".into(),
                port: 4000
            }
        );
        assert_eq!(
            NotifyAddress::parse("udp:dev.example", 2948).unwrap(),
            NotifyAddress::Udp {
                host: "dev.example".into(),
                port: 2948
            }
        );
        assert_eq!(
            NotifyAddress::parse("udp:[::1]:9", 2948).unwrap(),
            NotifyAddress::Udp {
                host: "::1".into(),
                port: 9
            }
        );
        assert_eq!(
            NotifyAddress::parse("udp:::1", 2948).unwrap(),
            NotifyAddress::Udp {
                host: "::1".into(),
                port: 2948
            }
        );
        assert!(matches!(
            NotifyAddress::parse("http://x/n", 2948).unwrap(),
            NotifyAddress::Http(_)
        ));
        for bad in [
            "",
            "udp:",
            "tcp:1.2.3.4:5",
            "udp:h:notaport",
            "udp:[::1",
            "udp:u@h:1",
            "http://",
        ] {
            assert!(
                matches!(
                    NotifyAddress::parse(bad, 2948),
                    Err(NotifyError::BadAddress(_))
                ),
                "{bad}"
            );
        }
        for userinfo in [
            "http://u:p@host/n",
            "https://u@host/n",
            "http://:p@10.0.0.1/",
        ] {
            assert!(
                matches!(
                    NotifyAddress::parse(userinfo, 2948),
                    Err(NotifyError::Refused { .. })
                ),
                "{userinfo}"
            );
        }
    }

    fn refused(policy: &NotifyPolicy, text: &str) -> bool {
        let address = NotifyAddress::parse(text, 2948).unwrap();
        matches!(
            policy.check_address(&address),
            Err(NotifyError::Refused { .. })
        )
    }

    #[test]
    fn default_policy_refuses_special_destinations_and_allows_lan_and_loopback() {
        let p = NotifyPolicy::default();
        for bad in [
            "udp:0.0.0.0:2948",
            "udp:0.1.2.3",
            "udp:[::]:2948",
            "udp:255.255.255.255",
            "udp:224.0.0.1",
            "udp:239.255.255.250:1900",
            "udp:[ff02::1]",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/n",
            "http://[::ffff:169.254.169.254]/n",
            "http://0.0.0.0:8080/n",
        ] {
            assert!(refused(&p, bad), "{bad}");
        }
        for good in [
            "udp:127.0.0.1:4000",
            "udp:[::1]:9",
            "udp:192.168.1.20",
            "udp:10.1.2.3",
            "http://172.16.0.5:8080/push",
            "https://[fd00::5]/push",
            "udp:198.51.100.7",
            "http://device.lan/push",
        ] {
            assert!(!refused(&p, good), "{good}");
        }
    }

    #[test]
    fn allowed_networks_are_a_whitelist() {
        let p = NotifyPolicy::allowing(Some(vec![
            "10.0.0.0/8".parse().unwrap(),
            "169.254.0.0/16".parse().unwrap(),
        ]));
        assert!(!refused(&p, "udp:10.9.8.7"));
        assert!(
            !refused(&p, "udp:169.254.3.4"),
            "explicitly allowed link-local"
        );
        assert!(refused(&p, "udp:127.0.0.1"));
        assert!(refused(&p, "udp:192.168.1.1"));
        assert!(refused(&p, "udp:0.0.0.0"), "never the unspecified address");
        let none = NotifyPolicy::allowing(Some(Vec::new()));
        assert!(refused(&none, "udp:127.0.0.1"));
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let p = NotifyPolicy::default();
        let a: SocketAddr = "169.254.169.254:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(p.permitted([a, b]).unwrap(), vec![b]);
        assert!(matches!(p.permitted([a]), Err(NotifyError::Refused { .. })));
        assert!(p.permitted([]).unwrap().is_empty());
    }
}
