//! Package 0 arriving from the DM servers (UDP WSP push, HTTP POST): notifications for the
//! gateway itself start a northbound session; notifications naming an End Device in the
//! `X-Oma-GwMO` header are relayed to it unchanged (Transparent mode, GwMO-TMode-001, seed 001
//! Z'.1-Z'.2, B.2) when every check of docs/gateway.md §4 passes:
//!
//! 1. the device is registered in Transparent mode and attached;
//! 2. the trigger's server id is one of the gateway's DM servers;
//! 3. the relay MAC (`X-Oma-GwMO-MAC`, an HTTP header or a WSP application header) verifies
//!    under that server's credentials for the gateway ([`relay_mac`]).
//!
//! Anything else is dropped and logged at warn; the sender learns nothing (HTTP answers 202
//! before any check, as the End Device's own listener does).

use std::sync::Arc;

use dm_client::listener::{Arrival, Via};
use gwmo::inventory::{Address, Presence};
use gwmo::mode::Mode;
use subtle::ConstantTimeEq as _;
use syncml::notification::{self, wsp};

use crate::northbound::North;
use crate::state::{Shared, lock};

pub use syncml::notification::{RELAY_MAC_HEADER, relay_mac};

/// One notification as it arrived, unwrapped.
struct Received {
    body: Vec<u8>,
    device: Option<String>,
    mac: Option<String>,
}

fn unwrap(a: &Arrival) -> Option<Received> {
    match a.via {
        Via::Udp => {
            let push = wsp::decode_push(&a.bytes).ok()?;
            if !push.is_dm_notification() {
                return None;
            }
            let mac = push.headers.iter().find_map(|h| match h {
                wsp::Header::Application { name, value }
                    if name.eq_ignore_ascii_case(RELAY_MAC_HEADER) =>
                {
                    Some(value.clone())
                }
                _ => None,
            });
            Some(Received {
                device: push.gwmo_device().map(str::to_owned),
                mac,
                body: push.body,
            })
        }
        Via::Http => Some(Received {
            body: a.bytes.clone(),
            device: a.relay.as_ref().map(|r| r.device.clone()),
            mac: a.relay.as_ref().and_then(|r| r.mac.clone()),
        }),
    }
}

/// Handles one arrival.
pub(crate) async fn handle(shared: &Arc<Shared>, north: &North, a: Arrival) {
    let Some(r) = unwrap(&a) else {
        tracing::warn!(from = %a.from, "not a DM notification: dropped");
        return;
    };
    match r.device {
        None => north.notified(&r.body, a.from).await,
        Some(device) => relay(shared, north, &device, r.mac.as_deref(), &r.body, a.from).await,
    }
}

async fn relay(
    shared: &Arc<Shared>,
    north: &North,
    device: &str,
    mac: Option<&str>,
    body: &[u8],
    from: std::net::SocketAddr,
) {
    let who = dm_host::log::Untrusted(device);
    let refuse =
        |why: &str| tracing::warn!(device = %who, %from, "notification not relayed: {why}");
    let Ok((n, _)) = notification::decode(body) else {
        return refuse("not a Package 0");
    };
    let Some(server) = shared.config.server(&n.server_id) else {
        return refuse("from a DM server the gateway does not know");
    };
    let addresses = {
        let d = lock(&shared.directory);
        match d.inventory.get(device) {
            Some(r) if r.mode == Mode::Transparent && r.presence == Presence::Attached => {
                r.addresses.clone()
            }
            Some(_) => return refuse("the device is not attached in Transparent mode"),
            None => return refuse("unknown device"),
        }
    };
    let Some(mac) = mac else {
        return refuse("no relay MAC");
    };
    let nonce = north.server_nonce(&server.server_id);
    let expected = relay_mac(
        &server.server_id,
        &server.server_auth.secret,
        &nonce,
        device,
        body,
    );
    if !bool::from(expected.as_bytes().ct_eq(mac.trim().as_bytes())) {
        return refuse("relay MAC does not verify");
    }
    let Some(to) = addresses.first() else {
        return refuse("the device registered no notification address");
    };
    match crate::dispatch::send(shared, to, body).await {
        Ok(()) => tracing::info!(device = %who, to = %to, "notification relayed"),
        Err(e) => tracing::warn!(device = %who, to = %to, error = %e, "relay failed"),
    }
}

/// The address text of an inventory address, as a notifier takes it.
pub(crate) fn notify_text(a: &Address) -> String {
    match a {
        Address::Udp(hp) => format!("udp:{hp}"),
        Address::Http(url) => url.clone(),
    }
}
