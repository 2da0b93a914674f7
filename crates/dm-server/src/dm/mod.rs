//! The DM endpoint: `POST /dm` and `POST /dm/s/{token}` (the `RespURI` of a running session).
//!
//! In: SyncML DM messages in HTTP POST bodies (XML or WBXML). Out: the server's next message
//! in the HTTP response, store writes per session.

mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use syncml::Encoding;

pub(crate) use session::SessionTable;

use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/dm", post(first_message))
        .route("/dm/s/{token}", post(next_message))
}

/// Removes sessions idle for longer than the configured timeout.
pub(crate) async fn expire_idle(state: &Arc<AppState>) {
    session::expire_idle(state).await;
}

/// A DM request as the session layer sees it.
pub(crate) struct Incoming {
    pub(crate) encoding: Encoding,
    pub(crate) body: Bytes,
    pub(crate) hmac: Option<String>,
    pub(crate) peer: Option<SocketAddr>,
    /// Base URL for `RespURI` (`http(s)://host`).
    pub(crate) base_url: String,
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn incoming(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    body: Bytes,
) -> Result<Incoming, Box<Response>> {
    let encoding = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => Encoding::from_content_type(ct).ok_or_else(|| {
            Box::new(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/vnd.syncml.dm+xml or +wbxml\n",
            ))
        })?,
        None => Encoding::detect(&body),
    };
    if body.is_empty() {
        return Err(Box::new(plain(StatusCode::BAD_REQUEST, "empty body\n")));
    }
    let hmac = headers
        .get(syncml::auth::HMAC_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let base_url = dm_host::listener::base_url(
        state.config.public_url.as_deref(),
        headers.get(header::HOST),
        state.tls,
    );
    Ok(Incoming {
        encoding,
        body,
        hmac,
        peer,
        base_url,
    })
}

/// Turns the session layer's answer into the HTTP response.
pub(crate) fn reply(out: session::Outgoing) -> Response {
    match out {
        session::Outgoing::Message {
            bytes,
            content_type,
            hmac,
        } => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, private"),
            );
            if let Some(mac) = hmac.and_then(|m| HeaderValue::from_str(&m).ok()) {
                h.insert(syncml::auth::HMAC_HEADER, mac);
            }
            resp
        }
        session::Outgoing::Malformed => {
            plain(StatusCode::BAD_REQUEST, "malformed SyncML message\n")
        }
        session::Outgoing::UnknownSession => plain(
            StatusCode::NOT_FOUND,
            "no such session (expired or never started)\n",
        ),
        session::Outgoing::Busy => plain(StatusCode::SERVICE_UNAVAILABLE, "server busy\n"),
        session::Outgoing::Failure => plain(StatusCode::INTERNAL_SERVER_ERROR, "server failure\n"),
    }
}

/// Runs one DM message to completion in its own task, so that a client going away mid-request
/// (which drops the HTTP handler's future) cannot drop a checked-out session half-way, with its
/// jobs taken from the queue but never recorded or re-queued.
async fn handle_detached(
    state: Arc<AppState>,
    token: Option<String>,
    msg: Incoming,
) -> session::Outgoing {
    let task = tokio::spawn(async move { session::handle(&state, token.as_deref(), msg).await });
    match task.await {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "DM message task failed");
            session::Outgoing::Failure
        }
    }
}

async fn first_message(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let msg = match incoming(
        &state,
        &headers,
        peer.map(|Extension(ConnectInfo(p))| p),
        body,
    ) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    reply(handle_detached(state, None, msg).await)
}

async fn next_message(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let msg = match incoming(
        &state,
        &headers,
        peer.map(|Extension(ConnectInfo(p))| p),
        body,
    ) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    reply(handle_detached(state, Some(token), msg).await)
}
