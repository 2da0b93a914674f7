//! The OMA DM 1.2 server: the I/O shell around `dm-proto`, `syncml` and `dm-store`.
//!
//! In: a [`Config`] (listen address, store URL, API token, TLS files, policies) and a shutdown
//! future. Out: a listener that serves, on one port,
//! - the DM endpoint `POST /dm` (and `POST /dm/s/{token}`, the `RespURI` of a running session):
//!   SyncML DM in XML or WBXML, one `dm_proto::ServerSession` per session, results stored;
//! - the operator REST API under `/api/v1` (bearer token; OpenAPI at `/api/v1/openapi.json`;
//!   JSON shapes in [`api::model`], documented in `docs/api.md`);
//! - Package 0 notifications sent on request over UDP (WSP push) or HTTP;
//! - `GET`/`POST /healthz`: a liveness probe (no token, no store access).
//!
//! Start it with [`run`] (prints `listening on URL`) or [`Server::bind`] + [`Server::serve`]
//! (tests: bind port 0, read [`Server::local_addr`]).

pub mod api;
pub mod commands;
mod config;
mod dm;
mod error;
pub mod notifier;
mod state;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use config::{Config, EnrolmentPolicy};
pub use error::Error;

use state::AppState;

/// A bound, not yet serving server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    state: Arc<AppState>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates the configuration, opens (and migrates) the store, loads the TLS files and
    /// binds the listener.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::Store`], [`Error::Pem`]/[`Error::Tls`] or
    /// [`Error::Bind`].
    pub async fn bind(config: Config) -> Result<Server, Error> {
        config.validate()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr()?;
        let state = AppState::new(config, tls.is_some()).await?;
        let router = router(state.clone());
        Ok(Server {
            listener,
            local_addr,
            tls,
            router,
            state,
        })
    }

    /// The address the listener is bound to (the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` or `https://ADDR`.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets running requests finish
    /// and closes the store.
    ///
    /// # Errors
    /// [`Error::Io`] if the listener fails.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Server {
            listener,
            tls,
            router,
            state,
            ..
        } = self;
        let timeouts = tokio::spawn(state.host.clone().run_timeouts());
        let result = match tls {
            Some(config) => tls::serve(listener, config, router, shutdown).await,
            None => axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Io),
        };
        timeouts.abort();
        state.close().await;
        result
    }
}

/// Binds, prints `listening on http(s)://ADDR` on standard output, and serves until
/// `shutdown` resolves.
///
/// # Errors
/// As [`Server::bind`] and [`Server::serve`].
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let server = Server::bind(config).await?;
    println!("listening on {}", server.url());
    tracing::info!(url = %server.url(), "dm-server listening");
    server.serve(shutdown).await
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/healthz", axum::routing::get(healthz).post(healthz_post))
        .nest("/api/v1", api::routes(state.clone()))
        .with_state(state.clone())
        .merge(state.host.router())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
}

/// `GET /healthz`: `ok` (no token, no store access): a liveness probe.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `POST /healthz`: reads the body and answers `ok` with its length: the loopback HTTP
/// round-trip baseline of the benchmark (`dm-sim --baseline`).
async fn healthz_post(body: axum::body::Bytes) -> String {
    format!("ok {}\n", body.len())
}
