//! The HTTP relay of Transparent mode (seed 001 Z'.3): End Devices with no route to the DM
//! server use the gateway as an HTTP forward proxy (`http_proxy` in their configuration).
//! Requests come in absolute form (`POST http://server/dm HTTP/1.1`) and are forwarded
//! unchanged (body, `Content-Type`, `Accept`, `x-syncml-hmac`), so the `RespURI`s the server
//! hands out and the message integrity stay end to end.
//!
//! Only to the DM servers of the gateway's configuration (same scheme, host and port as a
//! server's URL), and only for peers registered in Transparent mode and attached (their
//! source address is the host of one of their registered notification addresses). `CONNECT`
//! (HTTPS through the relay) is not offered yet: 501.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use gwmo::inventory::{Address, Presence};
use gwmo::mode::Mode;

use crate::state::{Shared, lock};

/// Headers copied both ways.
const FORWARDED: [&str; 4] = ["content-type", "accept", "cache-control", "x-syncml-hmac"];

/// The relay's state.
pub(crate) struct Relay {
    shared: Arc<Shared>,
    http: reqwest::Client,
    max_body: usize,
}

/// The relay's router (every request goes to [`forward`]).
pub(crate) fn router(shared: Arc<Shared>, max_body: usize) -> Result<axum::Router, crate::Error> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(shared.config.http_timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| crate::Error::Config(format!("HTTP relay client: {e}")))?;
    let relay = Arc::new(Relay {
        shared,
        http,
        max_body,
    });
    Ok(axum::Router::new()
        .fallback(forward)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(relay))
}

fn origin(u: &Uri) -> Option<(String, String)> {
    Some((
        u.scheme_str()?.to_ascii_lowercase(),
        u.authority()?.as_str().to_ascii_lowercase(),
    ))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn address_ip(a: &Address) -> Option<IpAddr> {
    let hostport = match a {
        Address::Udp(hp) => hp.as_str(),
        Address::Http(url) => url.split("://").nth(1)?.split('/').next()?,
    };
    hostport
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .ok()
        .or_else(|| hostport.parse().ok())
}

/// True when `ip` is the address of a device registered in Transparent mode and attached.
fn registered(shared: &Shared, ip: IpAddr) -> bool {
    let d = lock(&shared.directory);
    d.inventory.iter().any(|r| {
        r.mode == Mode::Transparent
            && r.presence == Presence::Attached
            && r.addresses.iter().any(|a| address_ip(a) == Some(ip))
    })
}

async fn forward(
    State(relay): State<Arc<Relay>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    if req.method() == Method::CONNECT {
        return plain(StatusCode::NOT_IMPLEMENTED, "CONNECT is not relayed\n");
    }
    let Some((scheme, authority)) = origin(req.uri()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "expected an absolute-form request URI\n",
        );
    };
    let allowed = relay.shared.config.servers.iter().any(|s| {
        s.url.parse::<Uri>().ok().and_then(|u| origin(&u))
            == Some((scheme.clone(), authority.clone()))
    });
    if !allowed {
        tracing::warn!(%peer, to = %dm_host::log::Untrusted(&authority), "relay refused: not one of the gateway's DM servers");
        return plain(StatusCode::FORBIDDEN, "not a DM server of this gateway\n");
    }
    if !registered(&relay.shared, peer.ip()) {
        tracing::warn!(%peer, "relay refused: not a registered Transparent-mode device");
        return plain(StatusCode::FORBIDDEN, "not a registered device\n");
    }
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "DM messages are POSTed\n");
    }
    let url = req.uri().to_string();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), relay.max_body).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
    };
    let mut out = relay.http.post(&url).body(body);
    for name in FORWARDED {
        if let Some(v) = headers.get(name) {
            out = out.header(name, v.clone());
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "relay: the DM server did not answer");
            return plain(StatusCode::BAD_GATEWAY, "the DM server did not answer\n");
        }
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut back = HeaderMap::new();
    for name in FORWARDED {
        if let Some(v) = resp.headers().get(name)
            && let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), v.to_str())
            && let Ok(v) = v.parse()
        {
            back.insert(n, v);
        }
    }
    if resp
        .content_length()
        .is_some_and(|n| n > relay.max_body as u64)
    {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the DM server's answer is too large\n",
        );
    }
    let mut resp = resp;
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) if bytes.len() + c.len() <= relay.max_body => bytes.extend_from_slice(&c),
            Ok(None) => break,
            _ => {
                return plain(
                    StatusCode::BAD_GATEWAY,
                    "the DM server's answer was cut or too large\n",
                );
            }
        }
    }
    let bytes = Bytes::from(bytes);
    tracing::debug!(%peer, status = status.as_u16(), "relayed a DM message");
    (status, back, bytes).into_response()
}
