//! Package 0 delivery: connectionless WSP push over UDP, or HTTP POST (DM-1).
//!
//! In: a device's notification address and the Package 0 bytes (built by
//! `syncml::notification`). Out: one UDP datagram or one HTTP POST.

use std::net::SocketAddr;
use std::time::Duration;

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
    Http(String),
}

/// Why a notification address or delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The address is neither `udp:HOST[:PORT]` nor an `http(s)://` URL.
    #[error("unsupported notification address {0:?} (want udp:HOST[:PORT] or http(s)://...)")]
    BadAddress(String),
    /// The UDP host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// Sending the datagram failed.
    #[error("UDP send failed: {0}")]
    Udp(#[from] std::io::Error),
    /// The HTTP POST failed or was answered with a non-2xx status.
    #[error("HTTP notification failed: {0}")]
    Http(String),
}

impl NotifyAddress {
    /// Parses a notification address; `default_udp_port` applies to `udp:HOST`.
    ///
    /// # Errors
    /// [`NotifyError::BadAddress`] for anything else.
    pub fn parse(text: &str, default_udp_port: u16) -> Result<NotifyAddress, NotifyError> {
        let bad = || NotifyError::BadAddress(text.to_owned());
        if let Some(rest) = text.strip_prefix("udp:") {
            let rest = rest.trim_start_matches("//");
            if rest.is_empty() {
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
            Ok(NotifyAddress::Http(text.to_owned()))
        } else {
            Err(bad())
        }
    }
}

/// Sends Package 0 messages; one per server, shared by all requests.
#[derive(Debug)]
pub struct Notifier {
    udp_v4: UdpSocket,
    http: reqwest::Client,
}

impl Notifier {
    /// Binds an ephemeral UDP socket and builds the HTTP client.
    ///
    /// # Errors
    /// The socket could not be bound.
    pub async fn new() -> std::io::Result<Notifier> {
        let udp_v4 = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Notifier { udp_v4, http })
    }

    /// Delivers one notification.
    ///
    /// `wsp_push` is the whole datagram for UDP (the WSP push PDU wrapping Package 0, with
    /// any push headers); `package0` is the bare Package 0 for HTTP, sent with
    /// `http_headers` (the GwMO relay headers of a notification a gateway relays).
    ///
    /// # Errors
    /// [`NotifyError`] when the host does not resolve or the transport fails.
    pub async fn send(
        &self,
        to: &NotifyAddress,
        wsp_push: &[u8],
        package0: &[u8],
        http_headers: &[(&str, &str)],
    ) -> Result<(), NotifyError> {
        match to {
            NotifyAddress::Udp { host, port } => {
                let target = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|_| NotifyError::Resolve(host.clone()))?
                    .next()
                    .ok_or_else(|| NotifyError::Resolve(host.clone()))?;
                if target.is_ipv4() {
                    self.udp_v4.send_to(wsp_push, target).await?;
                } else {
                    let sock = UdpSocket::bind(SocketAddr::from(([0u16; 8], 0))).await?;
                    sock.send_to(wsp_push, target).await?;
                }
                Ok(())
            }
            NotifyAddress::Http(url) => {
                let mut req = self.http.post(url).header(
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
                    .map_err(|e| NotifyError::Http(e.to_string()))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(NotifyError::Http(format!("status {}", resp.status())))
                }
            }
        }
    }
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
        for bad in ["", "udp:", "tcp:1.2.3.4:5", "udp:h:notaport", "udp:[::1"] {
            assert!(NotifyAddress::parse(bad, 2948).is_err(), "{bad}");
        }
    }
}
