//! Where a device's notification goes: the route read from its current gateway link
//! (docs/gateway.md §7; seed 001 Y.1, Y'.1, Z, Z').
//!
//! - **direct** (no link): the device's own Package 0 to it.
//! - **proxy via G** (Proxy or Adaptation mode, GwMO-PMode-001): the device's jobs travel in
//!   G's session, so G is notified with its own Package 0 (Y.1).
//! - **transparent via G** (GwMO-TMode-001): the device's own Package 0 (its server
//!   credentials and nonce) goes to G with the `X-Oma-GwMO` header naming the device and the
//!   relay MAC `X-Oma-GwMO-MAC` keyed by G's server credentials
//!   ([`syncml::notification::relay_mac`]): an HTTP POST with both headers, or a WSP push
//!   with the `X-Oma-GwMO` push header and a text application header for the MAC (Z'). When G
//!   reported an address of the device that the `transparent_direct` policy accepts, the
//!   device is notified there directly instead (Z, B.1).
//!
//! "To X" means: through X's open long-poll ([`crate::wait`]) when there is one, else to X's
//! first stored notification address.

use std::net::IpAddr;

use dm_host::log::Untrusted;
use dm_store::{DeviceAccount, Store as _};
use syncml::notification::{Notification, UiMode, wsp};

use crate::DirectPolicy;
use crate::notifier::{NotifyAddress, NotifyError};
use crate::state::AppState;
use crate::wait::{Delivered, Delivery};

/// Where a notification went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The `SessionID` the notified party will use (uppercase hex).
    pub(crate) session_id: String,
    /// Where it went: a notification address, or `long-poll`.
    pub(crate) address: String,
    /// `direct`, `proxy`, `transparent` (relayed by the gateway) or `transparent-direct`.
    pub(crate) route: &'static str,
    /// The gateway it went through.
    pub(crate) gateway: Option<String>,
}

/// Why a device could not be notified.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RouteError {
    /// No such device.
    #[error("device not found: {0}")]
    NotFound(String),
    /// The device (or its gateway) has no way to be reached.
    #[error("{0}")]
    NoRoute(String),
    /// The destination policy refused the address (`notify_allowed_networks`).
    #[error("{0}")]
    Refused(String),
    /// Delivery failed.
    #[error("{0}")]
    Failed(String),
    /// The Package 0 could not be built.
    #[error("Package 0: {0}")]
    Encode(#[source] syncml::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] dm_store::Error),
}

/// The server id a device knows the server by (its Package 0's server id, its relay MACs').
fn server_id(state: &AppState, a: &DeviceAccount) -> String {
    a.server_auth_name
        .clone()
        .unwrap_or_else(|| state.config.server_id.clone())
}

/// True for a publicly routable address (see [`DirectPolicy::Public`]).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// The reported address the policy lets the server notify directly, if any.
pub(crate) fn direct_address(policy: DirectPolicy, addresses: &[String]) -> Option<&String> {
    addresses.iter().find(|a| match policy {
        DirectPolicy::Never => false,
        DirectPolicy::Any => NotifyAddress::parse(a, 2948).is_ok(),
        DirectPolicy::Public => NotifyAddress::parse(a, 2948)
            .ok()
            .and_then(|a| a.ip_literal())
            .is_some_and(is_public),
    })
}

/// A Package 0 from this server to `account` (its server credentials and nonce).
fn package0(
    state: &AppState,
    account: &DeviceAccount,
    ui_mode: UiMode,
) -> Result<(u16, Notification, Vec<u8>), RouteError> {
    let session_id = state.next_notify_session_id();
    let mut n = Notification::new(server_id(state, account), session_id);
    n.ui_mode = ui_mode;
    let bytes = n
        .encode(account.server_secret.expose(), &account.server_nonce)
        .map_err(RouteError::Encode)?;
    Ok((session_id, n, bytes))
}

/// Sends `d` to `to`: through its long-poll, else to its first notification address.
async fn deliver(state: &AppState, to: &DeviceAccount, d: Delivery) -> Result<String, RouteError> {
    let d = match state.wait.deliver(&to.device_id, d) {
        Ok(Delivered::Now) => return Ok("long-poll".to_owned()),
        Ok(Delivered::Parked) => return Ok("long-poll (next poll)".to_owned()),
        Err(d) => d,
    };
    let Some(address) = to.notify_addrs.first() else {
        return Err(RouteError::NoRoute(format!(
            "{} has no notification address and no open long-poll",
            to.device_id
        )));
    };
    send_to(state, &to.device_id, address, &d).await
}

/// Sends `d` to one notification address: a WSP push datagram (with the relay as push
/// headers) or an HTTP POST (with the relay as HTTP headers).
async fn send_to(
    state: &AppState,
    device: &str,
    address: &str,
    d: &Delivery,
) -> Result<String, RouteError> {
    let target = NotifyAddress::parse(address, state.config.notification_udp_port)
        .map_err(|e| RouteError::NoRoute(e.to_string()))?;
    let mut wsp_headers = Vec::new();
    let mut http_headers = Vec::new();
    if let Some((device, mac)) = &d.relay {
        wsp_headers.push(wsp::Header::GwMo(device.clone()));
        wsp_headers.push(wsp::Header::Application {
            name: syncml::notification::RELAY_MAC_HEADER.to_owned(),
            value: mac.clone(),
        });
        http_headers.push((syncml::notification::GWMO_HEADER, device.as_str()));
        http_headers.push((syncml::notification::RELAY_MAC_HEADER, mac.as_str()));
    }
    let tid = d.package0.first().copied().unwrap_or(0);
    let push = wsp::encode_push(tid, &d.package0, &wsp_headers).map_err(RouteError::Encode)?;
    state
        .notifier
        .send(&target, &push, &d.package0, &http_headers)
        .await
        .map_err(|e| {
            tracing::warn!(
                device = %Untrusted(device),
                address = %Untrusted(address),
                error = %Untrusted(&e.to_string()),
                "notification failed"
            );
            match e {
                NotifyError::Refused { .. } => RouteError::Refused(e.to_string()),
                _ => RouteError::Failed(e.to_string()),
            }
        })?;
    Ok(address.to_owned())
}

fn remember(state: &AppState, device: &str, session_id: u16) {
    if let Ok(mut map) = state.notified.lock() {
        map.insert(device.to_owned(), session_id);
    }
}

/// Notifies `account` with its own Package 0, straight to it.
async fn notify_own(
    state: &AppState,
    account: &DeviceAccount,
    ui_mode: UiMode,
) -> Result<(Notification, String), RouteError> {
    let (session_id, n, bytes) = package0(state, account, ui_mode)?;
    let address = deliver(
        state,
        account,
        Delivery {
            package0: bytes,
            relay: None,
        },
    )
    .await?;
    remember(state, &account.device_id, session_id);
    Ok((n, address))
}

async fn gateway_account(state: &AppState, id: &str) -> Result<DeviceAccount, RouteError> {
    state
        .store
        .get_device(id)
        .await?
        .filter(|g| !g.is_registry_only())
        .ok_or_else(|| {
            RouteError::NoRoute(format!(
                "its gateway {id} has no account (the server cannot notify it)"
            ))
        })
}

/// Notifies a device by its route (see the module docs).
///
/// # Errors
/// [`RouteError`]: no such device, no way to reach it, a failed delivery.
pub(crate) async fn notify(
    state: &AppState,
    device_id: &str,
    ui_mode: UiMode,
) -> Result<Sent, RouteError> {
    let account = state
        .store
        .get_device(device_id)
        .await?
        .ok_or_else(|| RouteError::NotFound(device_id.to_owned()))?;
    let link = state.store.current_link(device_id).await?;
    match link {
        Some(l) if l.mode.is_proxied() => {
            let gw = gateway_account(state, &l.gateway_id).await?;
            let (n, address) = notify_own(state, &gw, ui_mode).await?;
            tracing::info!(device = %Untrusted(device_id), gateway = %Untrusted(&gw.device_id), address = %Untrusted(&address), "gateway notified for its Proxy-mode device");
            Ok(Sent {
                session_id: n.session_id_hex(),
                address,
                route: "proxy",
                gateway: Some(gw.device_id),
            })
        }
        Some(l) => {
            if account.is_registry_only() {
                return Err(RouteError::NoRoute(format!(
                    "{device_id} is in Transparent mode behind {} but has no account: its \
                     notification is signed with its own credentials",
                    l.gateway_id
                )));
            }
            if let Some(addr) = direct_address(state.config.transparent_direct, &l.addresses) {
                // Straight to the address the gateway reported (Z, B.1).
                let (session_id, n, bytes) = package0(state, &account, ui_mode)?;
                let d = Delivery {
                    package0: bytes,
                    relay: None,
                };
                let address = send_to(state, device_id, addr, &d).await?;
                remember(state, device_id, session_id);
                tracing::info!(device = %Untrusted(device_id), address = %Untrusted(&address), "Transparent-mode device notified directly");
                return Ok(Sent {
                    session_id: n.session_id_hex(),
                    address,
                    route: "transparent-direct",
                    gateway: Some(l.gateway_id),
                });
            }
            let gw = gateway_account(state, &l.gateway_id).await?;
            let (session_id, n, bytes) = package0(state, &account, ui_mode)?;
            let mac = syncml::notification::relay_mac(
                &server_id(state, &gw),
                gw.server_secret.expose(),
                &gw.server_nonce,
                device_id,
                &bytes,
            );
            let address = deliver(
                state,
                &gw,
                Delivery {
                    package0: bytes,
                    relay: Some((device_id.to_owned(), mac)),
                },
            )
            .await?;
            remember(state, device_id, session_id);
            tracing::info!(device = %Untrusted(device_id), gateway = %Untrusted(&gw.device_id), address = %Untrusted(&address), "notification sent for relay by the gateway");
            Ok(Sent {
                session_id: n.session_id_hex(),
                address,
                route: "transparent",
                gateway: Some(gw.device_id),
            })
        }
        None => {
            if account.is_registry_only() {
                return Err(RouteError::NoRoute(format!(
                    "{device_id} is known from a gateway's report only and is behind no gateway now"
                )));
            }
            let (n, address) = notify_own(state, &account, ui_mode).await?;
            tracing::info!(device = %Untrusted(device_id), address = %Untrusted(&address), "Package 0 sent");
            Ok(Sent {
                session_id: n.session_id_hex(),
                address,
                route: "direct",
                gateway: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for (addr, public) in [
            ("udp:8.8.8.8:2948", true),
            ("udp:127.0.0.1:2948", false),
            ("udp:10.1.2.3:2948", false),
            ("udp:192.168.0.9", false),
            ("udp:172.20.0.1:1", false),
            ("udp:100.64.0.1:1", false),
            ("udp:169.254.1.1:1", false),
            ("http://203.0.114.5:80/p0", true),
            ("http://192.0.2.1/p0", false),
            ("udp:[2a00:1450::1]:9", true),
            ("udp:[fd00::1]:9", false),
            ("udp:[fe80::1]:9", false),
            ("http://[::ffff:10.0.0.1]:8/x", false),
            ("udp:device.local:2948", false),
        ] {
            assert_eq!(
                direct_address(DirectPolicy::Public, &[addr.to_owned()]).is_some(),
                public,
                "{addr}"
            );
        }
        let lan = ["udp:127.0.0.1:9".to_owned()];
        assert!(direct_address(DirectPolicy::Any, &lan).is_some());
        assert!(direct_address(DirectPolicy::Never, &["udp:8.8.8.8:9".to_owned()]).is_none());
    }
}
