//! The Package 0 listeners: connectionless WSP push over UDP and HTTP POST.
//!
//! In: datagrams on the UDP socket (WSP push PDUs carrying `application/vnd.syncml.notification`)
//! and `POST` requests on the HTTP listener (body = the Package 0 bytes). Out: [`Arrival`]s on a
//! channel; the agent verifies them ([`crate::agent`]). The listeners never parse more than the
//! framing, and answer HTTP requests with 202 once the body is handed over (verification happens
//! after: a sender learns nothing about the digest from the answer).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::Error;

/// Largest Package 0 accepted (bytes): 24 + 255 + generous vendor part + WSP framing.
pub const MAX_PACKAGE0: usize = 4096;

/// How a notification arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A WSP push datagram on the UDP listener.
    Udp,
    /// An HTTP POST on the HTTP listener.
    Http,
}

/// One received notification, before any verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The transport.
    pub via: Via,
    /// The sender.
    pub from: SocketAddr,
    /// The raw bytes: a WSP push PDU for [`Via::Udp`], the Package 0 itself for [`Via::Http`].
    pub bytes: Vec<u8>,
    /// For [`Via::Http`]: the GwMO relay headers, when the POST named an End Device to relay to
    /// (a gateway's listener; an End Device ignores such notifications). For [`Via::Udp`] they
    /// are inside the WSP push.
    pub relay: Option<Relay>,
}

/// The relay headers of a notification POSTed to a gateway (Transparent mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// `X-Oma-GwMO`: the End Device to relay to.
    pub device: String,
    /// `X-Oma-GwMO-MAC`: the relay MAC, if given.
    pub mac: Option<String>,
}

/// Most bytes of a relay header value kept.
const MAX_RELAY_HEADER: usize = 512;

/// Binds the UDP listener.
///
/// # Errors
/// [`Error::Bind`] when the address cannot be bound.
pub async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, Error> {
    UdpSocket::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Binds the HTTP listener.
///
/// # Errors
/// [`Error::Bind`] when the address cannot be bound.
pub async fn bind_http(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Receives datagrams forever, forwarding each to `tx`; returns when `tx` is closed.
pub async fn serve_udp(socket: UdpSocket, tx: mpsc::Sender<Arrival>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on some systems; keep listening.
                tracing::debug!(error = %e, "udp listener: receive error");
                continue;
            }
        };
        let Some(bytes) = buf.get(..n) else { continue };
        if n > MAX_PACKAGE0 {
            tracing::warn!(%from, len = n, "udp listener: datagram too large for a Package 0, dropped");
            continue;
        }
        let arrival = Arrival {
            via: Via::Udp,
            from,
            bytes: bytes.to_vec(),
            relay: None,
        };
        if tx.send(arrival).await.is_err() {
            return;
        }
    }
}

#[derive(Clone)]
struct HttpState {
    tx: mpsc::Sender<Arrival>,
}

async fn post_notification(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.is_empty() && !mime.eq_ignore_ascii_case(syncml::CONTENT_TYPE_NOTIFICATION) {
        tracing::warn!(%from, content_type, "http listener: not a Package 0 content type");
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_RELAY_HEADER)
            .map(|v| v.trim().to_owned())
    };
    let relay = header("x-oma-gwmo").map(|device| Relay {
        device,
        mac: header("x-oma-gwmo-mac"),
    });
    let arrival = Arrival {
        via: Via::Http,
        from,
        bytes: body.to_vec(),
        relay,
    };
    match state.tx.send(arrival).await {
        Ok(()) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Serves `POST` (any path) on `listener`, forwarding each body to `tx`, until `shutdown`
/// completes.
pub async fn serve_http(
    listener: TcpListener,
    tx: mpsc::Sender<Arrival>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let state = Arc::new(HttpState { tx });
    let app = axum::Router::new()
        .route("/", axum::routing::post(post_notification))
        .route("/{*path}", axum::routing::post(post_notification))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PACKAGE0))
        .with_state(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "http listener stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn udp_datagrams_are_forwarded() {
        let sock = bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = sock.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(serve_udp(sock, tx));
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.send_to(b"\x01\x06hello", addr).await.unwrap();
        let a = rx.recv().await.unwrap();
        assert_eq!(a.via, Via::Udp);
        assert_eq!(a.bytes, b"\x01\x06hello");
        assert_eq!(a.from, sender.local_addr().unwrap());
        task.abort();
    }

    #[tokio::test]
    async fn http_posts_are_forwarded_and_wrong_types_refused() {
        let l = bind_http("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_http(l, tx, async move {
            let _ = stop_rx.await;
        }));
        let client = reqwest::Client::new();
        let r = client
            .post(format!("http://{addr}/notify"))
            .header("content-type", syncml::CONTENT_TYPE_NOTIFICATION)
            .body(vec![1u8, 2, 3])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let a = rx.recv().await.unwrap();
        assert_eq!((a.via, a.bytes), (Via::Http, vec![1, 2, 3]));
        let r = client
            .post(format!("http://{addr}/"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415);
        let r = client
            .post(format!("http://{addr}/"))
            .body(vec![0u8; MAX_PACKAGE0 + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
        stop_tx.send(()).unwrap();
        task.await.unwrap();
    }
}
