//! Starting the work of a Fanout target (seed 001 Y.2): the gateway's own Package 0 to a
//! Proxy-mode End Device (server id = the gateway's southbound server id, digest under the
//! account the gateway holds for the device), so that it opens a session with the gateway; and
//! the delivery of relayed notifications (Transparent mode).

use std::net::SocketAddr;
use std::sync::Arc;

use gwmo::fanout::Dispatch;
use gwmo::inventory::{Address, Presence};
use gwmo::mode::Mode;
use syncml::notification::{Initiator, Notification, UiMode, wsp};

use crate::state::{Shared, lock};

/// Why a notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The datagram could not be sent.
    #[error("UDP: {0}")]
    Udp(#[source] std::io::Error),
    /// The POST failed or was refused.
    #[error("HTTP: {0}")]
    Http(String),
    /// The Package 0 could not be built.
    #[error("Package 0: {0}")]
    Encode(#[source] syncml::Error),
}

/// Delivers a Package 0 to `to`: a WSP push datagram for `udp:`, a POST for `http:`. Redirects
/// are not followed.
pub(crate) async fn send(shared: &Shared, to: &Address, package0: &[u8]) -> Result<(), SendError> {
    match to {
        Address::Udp(host_port) => {
            let target: SocketAddr = tokio::net::lookup_host(host_port.as_str())
                .await
                .map_err(|_| SendError::Resolve(host_port.clone()))?
                .next()
                .ok_or_else(|| SendError::Resolve(host_port.clone()))?;
            let tid = rand::random::<u8>();
            let push = wsp::encode_push(tid, package0, &[]).map_err(SendError::Encode)?;
            if target.is_ipv4() {
                shared
                    .notify_udp
                    .send_to(&push, target)
                    .await
                    .map_err(SendError::Udp)?;
            } else {
                let sock = tokio::net::UdpSocket::bind(SocketAddr::from(([0u16; 8], 0)))
                    .await
                    .map_err(SendError::Udp)?;
                sock.send_to(&push, target).await.map_err(SendError::Udp)?;
            }
            Ok(())
        }
        Address::Http(url) => {
            let resp = shared
                .notify_http
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    syncml::CONTENT_TYPE_NOTIFICATION,
                )
                .body(package0.to_vec())
                .send()
                .await
                .map_err(|e| SendError::Http(e.to_string()))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(SendError::Http(format!("status {}", resp.status())))
            }
        }
    }
}

/// The inventory address of a stored notification address (`udp:HOST:PORT` or a URL).
pub(crate) fn address_of(text: &str) -> Option<Address> {
    if text.starts_with("http://") || text.starts_with("https://") {
        Some(Address::Http(text.to_owned()))
    } else {
        Address::parse(text).ok()
    }
}

/// What became of one dispatch.
enum Outcome {
    Notified,
    Unknown,
    Unreachable,
}

/// Notifies the target of `dispatch` (or learns it cannot be reached) and tells the engine.
pub(crate) async fn dispatch(shared: &Arc<Shared>, op: &str, d: Dispatch) {
    let device = d.device.as_str();
    let known = {
        let dir = lock(&shared.directory);
        dir.inventory
            .get(device)
            .map(|r| (r.mode, r.presence, r.addresses.clone()))
    };
    let outcome = match known {
        None => Outcome::Unknown,
        Some((mode, _, _)) if mode != Mode::Proxy => Outcome::Unknown,
        // Detached (its lease ran out): parked until it opens a session or registers again
        // (`Ops::work_for` resumes it), or the deadline (504).
        Some((_, Presence::Detached, _)) => Outcome::Unreachable,
        Some((_, Presence::Attached, addresses)) => {
            notify_device(shared, device, addresses.first()).await
        }
    };
    let now = shared.now();
    let mut ops = lock(&shared.ops);
    if let Some(engine) = ops.engine_mut(op) {
        match outcome {
            Outcome::Notified => {}
            Outcome::Unknown => {
                engine.handle_unknown(now, device);
            }
            Outcome::Unreachable => {
                engine.handle_unreachable(now, device);
            }
        }
    }
    drop(ops);
    shared.timer_wake.notify_one();
}

/// `EDTrigger/Notify` (docs/gwmo-objects.md): the gateway notifies a Proxy-mode device now so
/// that it opens a session with the gateway.
pub(crate) async fn trigger(shared: &Arc<Shared>, device: &str) {
    let registered = {
        let dir = lock(&shared.directory);
        dir.inventory
            .get(device)
            .and_then(|r| r.addresses.first().cloned())
    };
    notify_device(shared, device, registered.as_ref()).await;
}

async fn notify_device(shared: &Shared, device: &str, registered: Option<&Address>) -> Outcome {
    let who = dm_host::log::Untrusted(device);
    let account = match shared.store.account(device, None).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!(device = %who, "no account for a Proxy-mode device: cannot notify it");
            return Outcome::Unreachable;
        }
        Err(e) => {
            tracing::error!(error = %e, "gateway store: account lookup failed");
            return Outcome::Unreachable;
        }
    };
    let to = match (&account.notify, registered) {
        (Some(text), _) => address_of(text),
        (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    let Some(to) = to else {
        tracing::debug!(device = %who, "no notification address: the device gets its work when it next connects");
        return Outcome::Unreachable;
    };
    let mut n = Notification::new(
        shared.config.southbound.server_id.clone(),
        rand::random_range(1..=u16::MAX),
    );
    n.ui_mode = UiMode::Background;
    n.initiator = Initiator::Server;
    let bytes = match n.encode(&account.server_secret, &account.server_nonce) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(device = %who, error = %e, "Package 0 not built");
            return Outcome::Unreachable;
        }
    };
    match send(shared, &to, &bytes).await {
        Ok(()) => {
            tracing::debug!(device = %who, %to, "device notified");
            Outcome::Notified
        }
        Err(e) => {
            tracing::info!(device = %who, %to, error = %e, "device not reachable now");
            Outcome::Unreachable
        }
    }
}
