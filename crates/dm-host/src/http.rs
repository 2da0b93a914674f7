//! The HTTP side of the DM endpoint: `POST /dm` (package 1) and `POST /dm/s/{token}` (the
//! `RespURI` of a running session).
//!
//! - **Media types**: `application/vnd.syncml.dm+xml` / `+wbxml` and the legacy SyncML family
//!   `application/vnd.syncml+xml` / `+wbxml` (sent by libdmclient and other older clients),
//!   with or without parameters (`charset`); no `Content-Type`: detected from the bytes.
//!   Every answer uses the family and encoding of the request (415 for anything else).
//! - **Decoding** happens once per request, under the host's [`syncml::Limits`]: a body that
//!   does not decode gets 400, one above a limit 413, and a warning with the reason and offset
//!   (escaped) is logged.
//! - **Identifiers** of the header (`Source/LocURI`, `Source/LocName`, `Target/LocURI`,
//!   `SessionID`) longer than [`crate::HostConfig::max_identifier_len`] get 400 before any
//!   lookup.
//! - Each request runs to completion in a task of its own: a client going away cannot cancel
//!   it half-way, and a panic in it frees the session's slot and ends the session with the
//!   backend ([`crate::End::Failed`]), answering 500.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use dm_proto::Transmit;
use syncml::{Encoding, SyncMl};

use crate::Host;
use crate::backend::Backend;
use crate::log::Untrusted;
use crate::table::Token;

/// Legacy SyncML media type of XML messages.
pub const LEGACY_XML: &str = "application/vnd.syncml+xml";
/// Legacy SyncML media type of WBXML messages.
pub const LEGACY_WBXML: &str = "application/vnd.syncml+wbxml";

/// Which family of media types a request used (its answer uses the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `application/vnd.syncml.dm+...`.
    Dm,
    /// `application/vnd.syncml+...`.
    Legacy,
}

/// A DM request as the session layer sees it.
pub(crate) struct Incoming {
    pub(crate) encoding: Encoding,
    pub(crate) family: Family,
    pub(crate) body: Bytes,
    pub(crate) hmac: Option<String>,
    pub(crate) peer: Option<SocketAddr>,
    /// Base URL for `RespURI` (`http(s)://host`).
    pub(crate) base_url: String,
}

/// An HTTP answer of the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// `x-syncml-hmac` header value, if any.
    pub hmac: Option<String>,
}

impl Reply {
    fn plain(status: StatusCode, text: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.into().into_bytes(),
            hmac: None,
        }
    }

    pub(crate) fn message(t: Transmit, family: Family) -> Reply {
        let encoding = if t.content_type == Encoding::Wbxml.content_type() {
            Encoding::Wbxml
        } else {
            Encoding::Xml
        };
        Reply {
            status: StatusCode::OK,
            content_type: crate::session::content_type(encoding, family),
            body: t.bytes,
            hmac: t.hmac,
        }
    }

    pub(crate) fn malformed(reason: &str) -> Reply {
        Reply::plain(
            StatusCode::BAD_REQUEST,
            format!("malformed SyncML message: {}\n", Untrusted(reason)),
        )
    }

    pub(crate) fn unknown_session() -> Reply {
        Reply::plain(
            StatusCode::NOT_FOUND,
            "no such session (expired or never started)\n",
        )
    }

    pub(crate) fn busy() -> Reply {
        Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "server busy\n")
    }

    pub(crate) fn failure() -> Reply {
        Reply::plain(StatusCode::INTERNAL_SERVER_ERROR, "server failure\n")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if self.status == StatusCode::OK {
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, private"),
            );
        }
        if let Some(mac) = self.hmac.and_then(|m| HeaderValue::from_str(&m).ok()) {
            h.insert(syncml::auth::HMAC_HEADER, mac);
        }
        resp
    }
}

/// True when a decoder stopped at one of its [`syncml::Limits`] (answered 413, not 400).
fn is_limit(e: &syncml::Error) -> bool {
    e.limit().is_some()
}

/// The encoding and family a `Content-Type` names, if it is a SyncML DM message type.
fn media_type(value: &str) -> Option<(Encoding, Family)> {
    let encoding = Encoding::from_content_type(value)?;
    let mime = value.split(';').next().unwrap_or("").trim();
    let family = if mime.eq_ignore_ascii_case(LEGACY_XML) || mime.eq_ignore_ascii_case(LEGACY_WBXML)
    {
        Family::Legacy
    } else {
        Family::Dm
    };
    Some((encoding, family))
}

impl<B: Backend> Host<B> {
    /// The DM endpoint routes, `POST /dm` and `POST /dm/s/{token}`, to merge into the
    /// process's router (which sets the body-size limit and serves the connections).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/dm", post(first::<B>))
            .route("/dm/s/{token}", post(next::<B>))
            .with_state(self.clone())
    }

    fn incoming(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        body: Bytes,
    ) -> Result<Incoming, Reply> {
        let (encoding, family) = match headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(ct) => media_type(ct).ok_or_else(|| {
                Reply::plain(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected application/vnd.syncml.dm+xml or +wbxml (or application/vnd.syncml+xml or +wbxml)\n",
                )
            })?,
            None => (Encoding::detect(&body), Family::Dm),
        };
        if body.is_empty() {
            return Err(Reply::plain(StatusCode::BAD_REQUEST, "empty body\n"));
        }
        let hmac = headers
            .get(syncml::auth::HMAC_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let base_url = crate::listener::base_url(
            self.config.public_url.as_deref(),
            headers.get(header::HOST),
            self.config.tls,
        );
        Ok(Incoming {
            encoding,
            family,
            body,
            hmac,
            peer,
            base_url,
        })
    }

    /// Decodes a request body once, under the host's limits, and checks the length of the
    /// header's identifiers.
    fn decode(&self, inc: &Incoming) -> Result<SyncMl, Reply> {
        let msg = inc
            .encoding
            .decode(&inc.body, &self.config.limits)
            .map_err(|e| {
                let limit = is_limit(&e);
                tracing::warn!(
                    peer = ?inc.peer,
                    bytes = inc.body.len(),
                    error = %Untrusted(&e.to_string()),
                    "undecodable DM message"
                );
                if limit {
                    Reply::plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "message above a decoder limit: {}\n",
                            Untrusted(&e.to_string())
                        ),
                    )
                } else {
                    Reply::malformed(&e.to_string())
                }
            })?;
        let hdr = &msg.hdr;
        let max = self.config.max_identifier_len;
        let long = [
            ("Source/LocURI", Some(hdr.source.loc_uri.as_str())),
            ("Source/LocName", hdr.source.loc_name.as_deref()),
            ("Target/LocURI", Some(hdr.target.loc_uri.as_str())),
            ("SessionID", Some(hdr.session_id.as_str())),
        ]
        .into_iter()
        .find_map(|(what, v)| v.filter(|v| v.len() > max).map(|v| (what, v)));
        if let Some((what, v)) = long {
            tracing::warn!(
                peer = ?inc.peer,
                field = what,
                len = v.len(),
                value = %Untrusted(v),
                "refused: identifier too long"
            );
            return Err(Reply::plain(
                StatusCode::BAD_REQUEST,
                format!("{what} longer than {max} bytes\n"),
            ));
        }
        Ok(msg)
    }

    /// Runs one request in its own task (see the module docs).
    async fn run(self: Arc<Self>, token: Token, resp_uri: bool, inc: Incoming) -> Reply {
        let host = self.clone();
        let peer = inc.peer;
        let task = tokio::spawn(async move {
            let msg = match host.decode(&inc) {
                Ok(m) => m,
                Err(r) => return r,
            };
            if resp_uri {
                host.next_message(token, inc, msg).await
            } else {
                host.first_message(token, inc, msg).await
            }
        });
        match task.await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "DM request task failed");
                if let Some(info) = self.table.abandon(token) {
                    let host = self.clone();
                    let ended = tokio::spawn(async move {
                        host.end_without_state(&info, crate::End::Failed, peer)
                            .await;
                    });
                    if let Err(e) = ended.await {
                        tracing::error!(error = %e, "backend end hook failed");
                    }
                }
                Reply::failure()
            }
        }
    }
}

async fn first<B: Backend>(
    State(host): State<Arc<Host<B>>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(p))| p);
    match host.incoming(&headers, peer, body) {
        Ok(inc) => host.run(Token::random(), false, inc).await.into_response(),
        Err(r) => r.into_response(),
    }
}

async fn next<B: Backend>(
    State(host): State<Arc<Host<B>>>,
    Path(token): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = Token::parse(&token) else {
        return Reply::unknown_session().into_response();
    };
    let peer = peer.map(|Extension(ConnectInfo(p))| p);
    match host.incoming(&headers, peer, body) {
        Ok(inc) => host.run(token, true, inc).await.into_response(),
        Err(r) => r.into_response(),
    }
}
