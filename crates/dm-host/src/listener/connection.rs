//! One accepted connection: TLS handshake (if any), HTTP/1.1 with the header-read, idle and
//! request bounds, and the admission of each request against the in-flight bound.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::{ListenerLimits, Phase};

/// What every connection of one listener shares.
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) limits: ListenerLimits,
    /// Which requests may use the slots kept for priority work (`None`: no reserve).
    priority: Option<Priority>,
    /// Permits for requests being handled.
    pub(super) in_flight: Arc<Semaphore>,
    /// True while the accept loop waits for a free connection slot: every response then says
    /// `Connection: close`, so that the connections waiting get their turn.
    pub(super) saturated: AtomicBool,
    /// Requests answered 503 since the last log line about it.
    shed_since_log: AtomicU64,
    /// When that log line was written (ms since `epoch`).
    last_shed_log_ms: AtomicU64,
    epoch: Instant,
}

impl Shared {
    pub(super) fn new(
        router: Router,
        limits: ListenerLimits,
        priority: Option<Priority>,
    ) -> Shared {
        Shared {
            router,
            priority,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            saturated: AtomicBool::new(false),
            shed_since_log: AtomicU64::new(0),
            last_shed_log_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Counts a shed request and logs the count at most once a second (the first shed request
    /// of a burst is logged at once; the tail of a burst with the next one).
    fn note_shed(&self) {
        self.shed_since_log.fetch_add(1, Ordering::Relaxed);
        let now = ms_since(self.epoch).max(1);
        let last = self.last_shed_log_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .last_shed_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let shed = self.shed_since_log.swap(0, Ordering::Relaxed);
            tracing::warn!(
                shed,
                max_in_flight = self.limits.max_in_flight,
                "requests over the in-flight bound answered 503"
            );
        }
    }
}

/// Tells requests that continue admitted work (they may use the reserved slots) from new work.
pub(super) type Priority = Arc<dyn Fn(&axum::http::Uri) -> bool + Send + Sync>;

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Serves one accepted TCP connection until it ends, is cut by a bound or the listener stops.
/// `permit` is the connection's slot under `max_connections`.
pub(super) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    _permit: OwnedSemaphorePermit,
) {
    let Some(acceptor) = tls else {
        http(tcp, peer, shared, phase).await;
        return;
    };
    let handshake = tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = phase.wait_for(|p| matches!(p, Phase::Draining | Phase::Stopped)) => return,
    };
    http(stream, peer, shared, phase).await;
}

/// HTTP/1.1 on an established stream (plain or TLS).
async fn http<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits;
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let gate = Gate {
        shared: shared.clone(),
        peer,
        activity: activity.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let mut conn = pin!(builder.serve_connection(io, gate));
    let mut closing = false;
    // Idle check: every half idle timeout; two checks in a row without a byte moved and no
    // request being handled close the connection (between 1 and 1.5 idle timeouts after the
    // last byte).
    let tick = (limits.idle_timeout / 2).max(Duration::from_millis(1));
    let mut check = pin!(tokio::time::sleep(tick));
    let mut seen = activity.moves();
    let mut quiet_checks = 0u8;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = check.as_mut() => {
                check.as_mut().reset(Instant::now() + tick);
                let moves = activity.moves();
                if moves != seen || activity.busy() > 0 {
                    seen = moves;
                    quiet_checks = 0;
                } else {
                    quiet_checks += 1;
                    if quiet_checks >= 2 {
                        tracing::debug!(%peer, "connection idle past the idle timeout: closed");
                        return;
                    }
                }
            }
            changed = phase.changed() => match changed.map(|()| *phase.borrow()) {
                Ok(Phase::Serving) => {}
                Ok(Phase::AtCap(_)) => {
                    // Only between requests: a connection that has not sent its first request
                    // yet may be a device about to (the header timeout bounds the others).
                    if !closing && activity.busy() == 0 && activity.served() > 0 {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
                Ok(Phase::Draining) => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                Ok(Phase::Stopped) | Err(_) => return,
            },
        }
    }
}

/// How often a connection moved bytes (a count, not a clock: cheap on every read and write),
/// and how many of its requests are being handled.
struct Activity {
    moves: AtomicU64,
    busy: AtomicUsize,
    served: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            moves: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    /// Requests of this connection handled to their end.
    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// A request being handled; its end counts as activity (the idle clock restarts).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.served.fetch_add(1, Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The stream, noting every read or write that moved bytes.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Admits each request of a connection against the in-flight bound, hands it to the router
/// with the peer's address (`ConnectInfo<SocketAddr>`), and bounds its time.
struct Gate {
    shared: Arc<Shared>,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Gate {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut req: Request<Incoming>) -> Answer {
        let reserved_for_priority = match &self.shared.priority {
            Some(is_priority) if !is_priority(req.uri()) => self.shared.limits.max_in_flight / 4,
            _ => 0,
        };
        let admitted = if self.shared.in_flight.available_permits() > reserved_for_priority {
            self.shared.in_flight.clone().try_acquire_owned().ok()
        } else {
            None
        };
        let Some(permit) = admitted else {
            self.shared.note_shed();
            let busy = busy_response(self.shared.limits.retry_after_secs());
            return Box::pin(std::future::ready(Ok(busy)));
        };
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let busy = self.activity.begin();
        let shared = self.shared.clone();
        let peer = self.peer;
        Box::pin(async move {
            let _permit = permit;
            let _busy = busy;
            let timeout = shared.limits.request_timeout;
            // Router is always ready (axum documents it): call it without `poll_ready`.
            let routed = tower::Service::call(&mut shared.router.clone(), req);
            match tokio::time::timeout(timeout, routed).await {
                Ok(Ok(mut resp)) => {
                    if shared.saturated.load(Ordering::Relaxed) {
                        resp.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok(resp)
                }
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::debug!(%peer, "request took longer than the request timeout");
                    Ok(timed_out_response())
                }
            }
        })
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `503` with `Retry-After`: the answer to a request past the in-flight bound.
fn busy_response(retry_after_secs: u64) -> Response<Body> {
    let mut resp = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "server busy, retry later\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// `408` and `Connection: close`: the answer to a request past the request timeout.
fn timed_out_response() -> Response<Body> {
    let mut resp = plain(StatusCode::REQUEST_TIMEOUT, "request timed out\n");
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
