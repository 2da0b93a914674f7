//! The connection layer every DM server process uses: one accept loop for plain TCP and TLS
//! in front of an `axum::Router`, with every peer's work bounded.
//!
//! In: a bound address, an optional rustls configuration ([`tls_config`] loads one from PEM
//! files), [`ListenerLimits`], a router and a shutdown future. Out: HTTP/1.1 service of the
//! router until the shutdown future resolves; each request carries the peer's address as
//! `axum::extract::ConnectInfo<SocketAddr>`.
//!
//! What a peer cannot do, whatever it sends:
//! - hold a connection without sending a complete request head: cut after
//!   [`ListenerLimits::header_read_timeout`] (this also bounds a stalled TLS handshake and an
//!   idle kept-alive connection);
//! - hold a connection by not reading its response: cut after [`ListenerLimits::idle_timeout`]
//!   without a byte moved;
//! - hold a request slot with a slow body or a slow handler: answered `408` after
//!   [`ListenerLimits::request_timeout`];
//! - exhaust file descriptors: at most [`ListenerLimits::max_connections`] connections (and
//!   at most three quarters of `RLIMIT_NOFILE`); at the cap accepting pauses, connections idle
//!   between requests are closed, and every response says `Connection: close` until a slot is
//!   free, so waiting connections get their turn. A failed `accept` (`EMFILE`, `ENFILE`, `ENOBUFS`, ...) backs
//!   off from 10 ms to 1 s instead of spinning, and the loop never gives up;
//! - queue work: past [`ListenerLimits::max_in_flight`] requests being handled, a request is
//!   answered `503 Service Unavailable` with `Retry-After` at once; with
//!   [`Listener::with_priority`] new work is shed first (a quarter of the slots is kept for the
//!   continuation of admitted work).
//!
//! ```no_run
//! # async fn example(router: axum::Router) -> Result<(), dm_host::Error> {
//! use dm_host::listener::{Listener, ListenerLimits};
//! let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), None, ListenerLimits::default()).await?;
//! println!("listening on {}", listener.url());
//! listener.serve(router, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod connection;
mod limits;
mod public_url;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

pub use limits::ListenerLimits;
pub use public_url::{PublicUrl, base_url};
pub use tls::tls_config;

use crate::Error;
use connection::Shared;

/// Where the listener is in its life: connections follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting and serving.
    Serving,
    /// Accepting and serving; the connection cap was reached (the n-th time: each notice is a
    /// change): connections idle between requests close to make room.
    AtCap(u64),
    /// No longer accepting; connections finish their current request and close.
    Draining,
    /// The shutdown grace is over: connections close now.
    Stopped,
}

/// How often, at most, connections are asked to make room at the connection cap.
const CAP_NOTICE_EVERY: Duration = Duration::from_millis(250);

/// A bound, not yet serving listener (plain HTTP or HTTPS).
pub struct Listener {
    tcp: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    limits: ListenerLimits,
    priority: Option<connection::Priority>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .field("priority", &self.priority.is_some())
            .finish()
    }
}

impl Listener {
    /// Checks `limits`, fits `max_connections` into the open-file limit (logging when it
    /// lowers it) and binds `addr`. With `tls` the listener speaks HTTPS.
    ///
    /// # Errors
    /// [`Error::InvalidLimit`], [`Error::Bind`], or [`Error::Socket`] when the bound address
    /// cannot be read.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: ListenerLimits,
    ) -> Result<Listener, Error> {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Listener::from_tcp(tcp, tls, limits)
    }

    /// As [`bind`](Self::bind), on an already bound socket.
    ///
    /// # Errors
    /// [`Error::InvalidLimit`] or [`Error::Socket`].
    pub fn from_tcp(
        tcp: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: ListenerLimits,
    ) -> Result<Listener, Error> {
        limits.validate()?;
        let fitted = limits.within_open_files(open_file_limit());
        if fitted.max_connections < limits.max_connections {
            tracing::warn!(
                configured = limits.max_connections,
                used = fitted.max_connections,
                "max_connections lowered to three quarters of the open-file limit (RLIMIT_NOFILE)"
            );
        }
        let local_addr = tcp.local_addr().map_err(Error::Socket)?;
        Ok(Listener {
            tcp,
            local_addr,
            tls: tls.map(TlsAcceptor::from),
            limits: fitted,
            priority: None,
        })
    }

    /// Keeps a quarter of [`ListenerLimits::max_in_flight`] for requests `is_priority` picks
    /// (by URI): other requests are shed once three quarters of the slots are taken. Use it for
    /// the continuation of work already admitted (dm-server: the later messages of a DM session,
    /// `POST /dm/s/{token}`), so that overload refuses new sessions rather than breaking
    /// running ones.
    #[must_use]
    pub fn with_priority(
        mut self,
        is_priority: impl Fn(&axum::http::Uri) -> bool + Send + Sync + 'static,
    ) -> Listener {
        self.priority = Some(Arc::new(is_priority));
        self
    }

    /// The bound address (the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// True when the listener speaks HTTPS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `http://ADDR` or `https://ADDR`.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The limits in force (`max_connections` possibly lowered by [`bind`](Self::bind)).
    #[must_use]
    pub fn limits(&self) -> &ListenerLimits {
        &self.limits
    }

    /// Serves `router` until `shutdown` resolves; then stops accepting, lets running requests
    /// finish for up to [`ListenerLimits::shutdown_grace`], and returns once every connection
    /// is closed (or the grace is over and they were dropped).
    ///
    /// Nothing a peer does ends it: failed accepts back off and are retried, failed
    /// handshakes and broken connections are logged at debug level and dropped.
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()> + Send) {
        let Listener {
            tcp,
            tls,
            limits,
            priority,
            ..
        } = self;
        let shared = Arc::new(Shared::new(router, limits, priority));
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let (phase, watch_phase) = watch::channel(Phase::Serving);
        let mut shutdown = pin!(shutdown);
        let mut backoff = AcceptBackoff::default();
        let mut last_cap_notice: Option<tokio::time::Instant> = None;
        let mut cap_notices = 0u64;
        loop {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    tracing::debug!(
                        max_connections = limits.max_connections,
                        "connection limit reached: closing idle connections, pausing accept"
                    );
                    shared.saturated.store(true, Ordering::Relaxed);
                    // Waking every connection costs one wake-up each: at most every 250 ms.
                    let now = tokio::time::Instant::now();
                    if last_cap_notice.is_none_or(|t| now.duration_since(t) >= CAP_NOTICE_EVERY) {
                        last_cap_notice = Some(now);
                        cap_notices += 1;
                        let _ = phase.send(Phase::AtCap(cap_notices));
                    }
                    let permit = tokio::select! {
                        () = &mut shutdown => break,
                        permit = slots.clone().acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                    };
                    shared.saturated.store(false, Ordering::Relaxed);
                    permit
                }
            };
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = tcp.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection::serve(
                        stream,
                        peer,
                        tls.clone(),
                        shared.clone(),
                        watch_phase.clone(),
                        permit,
                    ));
                }
                Err(e) => {
                    drop(permit);
                    if let Some(pause) = backoff.failed(&e) {
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            }
        }
        drop(tcp);
        let _ = phase.send(Phase::Draining);
        let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await;
        if drained.is_err() {
            tracing::info!("shutdown grace over: closing the remaining connections");
            let _ = phase.send(Phase::Stopped);
            let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
        }
    }
}

/// The soft `RLIMIT_NOFILE`; `None` when unlimited or unknown.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Pauses after failed accepts: 10 ms, doubling to 1 s, reset by a successful accept.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u64,
    pause: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failed = self.failures, "accepting connections again");
        }
        self.failures = 0;
        self.pause = Duration::ZERO;
    }

    /// The pause before the next accept, `None` to retry at once: the error belonged to one
    /// connection that was reset or aborted before it was accepted.
    fn failed(&mut self, e: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind as K;
        if matches!(
            e.kind(),
            K::ConnectionAborted | K::ConnectionReset | K::Interrupted
        ) {
            return None;
        }
        self.failures += 1;
        self.pause = if self.pause.is_zero() {
            Self::FIRST
        } else {
            (self.pause * 2).min(Self::MAX)
        };
        if self.failures == 1 {
            tracing::warn!(error = %e, "accept failed: backing off until it succeeds again");
        } else {
            tracing::debug!(error = %e, failures = self.failures, "accept failed again");
        }
        Some(self.pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let emfile = std::io::Error::from_raw_os_error(24);
        let pauses: Vec<_> = (0..9).filter_map(|_| b.failed(&emfile)).collect();
        assert_eq!(pauses.first(), Some(&Duration::from_millis(10)));
        assert_eq!(pauses.get(1), Some(&Duration::from_millis(20)));
        assert_eq!(pauses.last(), Some(&Duration::from_secs(1)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&reset), None);
        b.succeeded();
        assert_eq!(b.failed(&emfile), Some(Duration::from_millis(10)));
    }
}
