//! The outbound notification channel of a gateway (or any device) the server cannot reach:
//! the long-poll `POST /dm/wait` (GwMO-HLF-001, docs/gateway.md §6).
//!
//! The request body is `<device id> "\n" <unix seconds> "\n" <random hex>` and its
//! `x-syncml-hmac` header is computed with the device's client credentials (CLCRED: its auth
//! name and `B64(MD5(name:secret))`, which is what the server stores) and an empty nonce over
//! the body. The server refuses (401) an unknown or registry-only device, a wrong MAC, a
//! timestamp more than [`MAX_SKEW_SECS`] off its clock, or a body it has seen before (a bounded
//! replay cache); nothing is kept for a refused request. An accepted one is held up to
//! `long_poll_hold_secs`: it is answered `200 application/vnd.syncml.notification` with the
//! Package 0 the server would have sent the device (plus the `X-Oma-GwMO` relay headers when
//! it is a Transparent-mode device's notification the gateway relays), or `204` when the hold
//! elapses. At most one request waits per device (a new one replaces the old, which gets
//! 204) and at most `max_long_polls` in all (more get 503).
//!
//! A notification for a device that is between two polls (its last poll ended less than
//! [`PARK`] ago) waits for its next poll instead of going to its stored addresses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dm_store::Store as _;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::state::{AppState, now_ms};

/// Largest accepted request body.
pub(crate) const MAX_BODY: usize = 1024;

/// Most seconds a poll's timestamp may be off the server's clock.
pub(crate) const MAX_SKEW_SECS: i64 = 300;

/// Bodies remembered against replays (each for as long as its timestamp is acceptable).
pub(crate) const REPLAY_CAPACITY: usize = 65_536;

/// How long a notification for a device between two polls waits for its next poll.
pub(crate) const PARK: Duration = Duration::from_secs(30);

/// A notification handed to a waiting poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The Package 0.
    pub(crate) package0: Vec<u8>,
    /// For a notification the gateway relays to an End Device: the device and the relay MAC
    /// (`X-Oma-GwMO`, `X-Oma-GwMO-MAC`).
    pub(crate) relay: Option<(String, String)>,
}

/// How [`WaitChannels::deliver`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Handed to the waiting poll.
    Now,
    /// Kept for the device's next poll (it is between two).
    Parked,
}

struct Waiter {
    ticket: u64,
    tx: oneshot::Sender<Delivery>,
}

#[derive(Default)]
struct Inner {
    waiting: HashMap<String, Waiter>,
    /// Notifications for devices between two polls, with when they were parked.
    parked: HashMap<String, (Instant, Delivery)>,
    /// When each device's last poll ended (pruned past [`PARK`]).
    ended: HashMap<String, Instant>,
    /// Body digest -> Unix seconds after which its timestamp is refused anyway.
    seen: HashMap<[u8; 16], i64>,
    next_ticket: u64,
}

/// What a poll waits on.
pub(crate) enum Wait {
    /// A parked notification: answer at once.
    Ready(Delivery),
    /// Wait on this (ticket for [`WaitChannels::done`]).
    Pending(u64, oneshot::Receiver<Delivery>),
}

/// Why a poll is refused after it authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The body was seen before.
    Replayed,
    /// The replay cache or the table of waiting polls is full.
    Full,
}

/// The waiting polls and the replay cache (one per server).
pub(crate) struct WaitChannels {
    inner: Mutex<Inner>,
    max_waiting: usize,
    pub(crate) hold: Duration,
}

impl std::fmt::Debug for WaitChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitChannels")
            .field("max_waiting", &self.max_waiting)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl WaitChannels {
    pub(crate) fn new(max_waiting: usize, hold: Duration) -> WaitChannels {
        WaitChannels {
            inner: Mutex::new(Inner::default()),
            max_waiting: max_waiting.max(1),
            hold,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers an authenticated body (until `expires`, Unix seconds); refuses one seen
    /// before. When the cache is full the expired entries go; if none has, the poll is
    /// refused (an entry still valid is never dropped: it would let its replay in).
    pub(crate) fn remember(&self, body: &[u8], expires: i64, now: i64) -> Result<(), Refused> {
        let digest: [u8; 16] = Md5::digest(body).into();
        let mut g = self.lock();
        if g.seen.contains_key(&digest) {
            return Err(Refused::Replayed);
        }
        if g.seen.len() >= REPLAY_CAPACITY {
            g.seen.retain(|_, until| *until >= now);
            if g.seen.len() >= REPLAY_CAPACITY {
                return Err(Refused::Full);
            }
        }
        g.seen.insert(digest, expires);
        Ok(())
    }

    /// Registers the poll of `device` (replacing an earlier one of the same device).
    pub(crate) fn wait(&self, device: &str) -> Result<Wait, Refused> {
        let now = Instant::now();
        let mut g = self.lock();
        if let Some((at, d)) = g.parked.remove(device)
            && now.duration_since(at) <= PARK
        {
            return Ok(Wait::Ready(d));
        }
        if !g.waiting.contains_key(device) && g.waiting.len() >= self.max_waiting {
            return Err(Refused::Full);
        }
        g.next_ticket += 1;
        let ticket = g.next_ticket;
        let (tx, rx) = oneshot::channel();
        // The old request (if any) sees its sender dropped and answers 204.
        g.waiting.insert(device.to_owned(), Waiter { ticket, tx });
        Ok(Wait::Pending(ticket, rx))
    }

    /// The poll with `ticket` ended (answered or timed out).
    pub(crate) fn done(&self, device: &str, ticket: u64) {
        let now = Instant::now();
        let mut g = self.lock();
        if g.waiting.get(device).is_some_and(|w| w.ticket == ticket) {
            g.waiting.remove(device);
        }
        if g.ended.len() >= self.max_waiting.saturating_mul(2) {
            g.ended.retain(|_, at| now.duration_since(*at) <= PARK);
        }
        if g.ended.len() < self.max_waiting.saturating_mul(2) {
            g.ended.insert(device.to_owned(), now);
        }
    }

    /// Hands a notification to `device`'s waiting poll, or parks it when the device is
    /// between two polls; gives it back when the device keeps no channel open.
    pub(crate) fn deliver(&self, device: &str, d: Delivery) -> Result<Delivered, Delivery> {
        let now = Instant::now();
        let mut g = self.lock();
        let mut d = d;
        if let Some(w) = g.waiting.remove(device) {
            match w.tx.send(d) {
                Ok(()) => return Ok(Delivered::Now),
                // The poll went away just now: it counts as ended.
                Err(back) => d = back,
            }
        }
        let between = g
            .ended
            .get(device)
            .is_some_and(|at| now.duration_since(*at) <= PARK);
        if between && (g.parked.len() < self.max_waiting || g.parked.contains_key(device)) {
            g.parked.insert(device.to_owned(), (now, d));
            return Ok(Delivered::Parked);
        }
        Err(d)
    }

    /// Polls waiting now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

/// The parts of a poll body.
fn parse_body(body: &[u8]) -> Option<(&str, i64)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.split('\n');
    let device = lines.next()?;
    let secs: i64 = lines.next()?.trim().parse().ok()?;
    let random = lines.next()?.trim();
    if lines.next().is_some_and(|rest| !rest.is_empty())
        || device.is_empty()
        || device.len() > 256
        || device.chars().any(char::is_control)
        || !(16..=128).contains(&random.len())
        || !random.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some((device, secs))
}

/// `POST /dm/wait` (see the module docs).
pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "poll body too large");
    }
    let Some((device, secs)) = parse_body(&body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "poll body must be <device id>\\n<unix seconds>\\n<random hex>",
        );
    };
    let who = dm_host::log::Untrusted(device);
    let refuse = |why: &str| {
        tracing::warn!(device = %who, "long-poll refused: {why}");
        plain(StatusCode::UNAUTHORIZED, "not authenticated")
    };
    let now = now_ms() / 1000;
    if (secs - now).abs() > MAX_SKEW_SECS {
        return refuse("stale timestamp");
    }
    let Some(hmac) = headers
        .get("x-syncml-hmac")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| syncml::auth::HmacHeader::parse(v).ok())
    else {
        return refuse("no valid x-syncml-hmac header");
    };
    let account = match state.store.get_device(device).await {
        Ok(Some(a)) if a.enabled && !a.is_registry_only() => a,
        Ok(_) => return refuse("unknown device"),
        Err(e) => {
            tracing::error!(error = %e, "store failure on a long-poll");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "server failure");
        }
    };
    let expected = syncml::auth::hmac_mac(
        &account.auth_name,
        syncml::auth::Secret::UserHash(account.client_verifier.expose()),
        b"",
        &body,
    );
    if hmac.username != account.auth_name
        || !bool::from(expected.as_bytes().ct_eq(hmac.mac.trim().as_bytes()))
    {
        return refuse("wrong MAC");
    }
    let channels = &state.wait;
    match channels.remember(&body, secs + MAX_SKEW_SECS, now) {
        Ok(()) => {}
        Err(Refused::Replayed) => return refuse("replayed body"),
        Err(Refused::Full) => {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "too many long-polls");
        }
    }
    let delivery = match channels.wait(device) {
        Ok(Wait::Ready(d)) => Some(d),
        Ok(Wait::Pending(ticket, rx)) => {
            tracing::debug!(device = %who, "long-poll waiting");
            let got = tokio::time::timeout(channels.hold, rx).await;
            channels.done(device, ticket);
            match got {
                Ok(Ok(d)) => Some(d),
                _ => None,
            }
        }
        Err(_) => {
            tracing::warn!(device = %who, "long-poll refused: too many waiting");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "too many long-polls");
        }
    };
    let Some(d) = delivery else {
        return StatusCode::NO_CONTENT.into_response();
    };
    tracing::info!(device = %who, relay = d.relay.is_some(), "notification sent on the long-poll");
    let mut resp = (StatusCode::OK, d.package0).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(syncml::CONTENT_TYPE_NOTIFICATION),
    );
    if let Some((device, mac)) = d.relay
        && let (Ok(device), Ok(mac)) = (HeaderValue::from_str(&device), HeaderValue::from_str(&mac))
    {
        h.insert(syncml::notification::GWMO_HEADER, device);
        h.insert(syncml::notification::RELAY_MAC_HEADER, mac);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Delivery {
        Delivery {
            package0: vec![n],
            relay: None,
        }
    }

    #[test]
    fn bodies_parse_strictly() {
        assert_eq!(
            parse_body(b"GW:1\n1700000000\n0123456789abcdef"),
            Some(("GW:1", 1_700_000_000))
        );
        for bad in [
            &b""[..],
            b"GW:1\n1700000000",
            b"GW:1\nx\n0123456789abcdef",
            b"\n1\n0123456789abcdef",
            b"GW:1\n1\nshort",
            b"GW:1\n1\n0123456789abcdefXX",
            b"GW:1\n1\n0123456789abcdef\nmore",
            b"G\x01\n1\n0123456789abcdef",
        ] {
            assert_eq!(parse_body(bad), None, "{bad:?}");
        }
    }

    /// GwMO-HLF-001: a body is accepted once.
    #[test]
    fn gwmo_hlf_001_replays_are_refused() {
        let w = WaitChannels::new(4, Duration::from_secs(1));
        assert_eq!(w.remember(b"a", 10, 0), Ok(()));
        assert_eq!(w.remember(b"a", 10, 5), Err(Refused::Replayed));
        assert_eq!(w.remember(b"b", 10, 5), Ok(()));
    }

    #[tokio::test]
    async fn one_poll_per_device_and_a_global_cap() {
        let w = WaitChannels::new(2, Duration::from_secs(1));
        let Ok(Wait::Pending(t1, rx1)) = w.wait("A") else {
            panic!()
        };
        // A second poll of A replaces the first (whose sender is gone).
        let Ok(Wait::Pending(t2, rx2)) = w.wait("A") else {
            panic!()
        };
        assert!(rx1.await.is_err());
        w.done("A", t1);
        assert_eq!(
            w.waiting(),
            1,
            "the old ticket does not remove the new poll"
        );
        let Ok(Wait::Pending(_, _rx_b)) = w.wait("B") else {
            panic!()
        };
        assert!(matches!(w.wait("C"), Err(Refused::Full)));
        assert_eq!(w.deliver("A", d(1)), Ok(Delivered::Now));
        assert_eq!(rx2.await.unwrap(), d(1));
        w.done("A", t2);
        // Between two polls: parked for the next one; a device that never polled: given back.
        assert_eq!(w.deliver("A", d(2)), Ok(Delivered::Parked));
        assert!(matches!(w.wait("A"), Ok(Wait::Ready(x)) if x == d(2)));
        assert_eq!(w.deliver("Z", d(3)), Err(d(3)));
    }
}
