//! The OMA DM 1.2 server: the I/O shell around `dm-proto`, `syncml` and `dm-store`.
//!
//! In: a [`Config`] (listen address, store URL, API token, TLS files, policies) and a shutdown
//! future. Out: a listener that serves, on one port,
//! - the DM endpoint `POST /dm` (and `POST /dm/s/{token}`, the `RespURI` of a running session):
//!   SyncML DM in XML or WBXML, one `dm_proto::ServerSession` per session, results stored;
//! - the operator REST API under `/api/v1` (bearer token; OpenAPI at `/api/v1/openapi.json`;
//!   JSON shapes in [`api::model`], documented in `docs/api.md`);
//! - Package 0 notifications sent on request over UDP (WSP push) or HTTP, routed by each
//!   device's gateway link (direct, through its gateway's session in Proxy mode, relayed by
//!   its gateway in Transparent mode);
//! - `POST /dm/wait`: the long-poll of a gateway (or device) the server cannot reach
//!   (GwMO-HLF-001), which carries its notifications;
//! - `GET`/`POST /healthz`: a liveness probe (no token, no store access).
//!
//! Connections go through [`dm_host::listener`] (plain HTTP or TLS): header-read, idle and
//! request timeouts, a connection cap and `503` + `Retry-After` past the in-flight bound, all
//! set by [`Config::listener`].
//!
//! Start it with [`run`] (prints `listening on URL`) or [`Server::bind`] + [`Server::serve`]
//! (tests: bind port 0, read [`Server::local_addr`]).

pub mod api;
pub mod commands;
mod config;
mod dm;
mod error;
mod fanout;
mod images;
pub mod notifier;
mod route;
mod state;
mod wait;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use dm_host::listener::{Listener, tls_config};

pub use config::{Config, DirectPolicy, EnrolmentPolicy};
pub use error::Error;

use state::AppState;

/// A bound, not yet serving server.
pub struct Server {
    listener: Listener,
    router: Router,
    state: Arc<AppState>,
    fanout_work: state::FanoutWork,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates the configuration, opens (and migrates) the store, loads the TLS files and
    /// binds the listener.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::Listener`] (limits, public URL, TLS files, bind) or
    /// [`Error::Store`].
    pub async fn bind(config: Config) -> Result<Server, Error> {
        config.validate()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        // The later messages of an admitted DM session go before new sessions under load.
        let listener = Listener::bind(config.listen, tls, config.listener)
            .await?
            .with_priority(|uri| uri.path().starts_with("/dm/s/"));
        let (state, fanout_work) = AppState::new(config, listener.is_tls()).await?;
        let router = router(state.clone());
        Ok(Server {
            listener,
            router,
            state,
            fanout_work,
        })
    }

    /// The address the listener is bound to (the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// `http://ADDR` or `https://ADDR`.
    #[must_use]
    pub fn url(&self) -> String {
        self.listener.url()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets running requests finish
    /// (for up to the listener's `shutdown_grace`) and closes the store.
    ///
    /// # Errors
    /// None today (a failing accept is retried with back-off); the `Result` is kept for
    /// failures of the shutdown path.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Server {
            listener,
            router,
            state,
            fanout_work,
        } = self;
        let timeouts = tokio::spawn(state.host.clone().run_timeouts());
        let fanouts = tokio::spawn(fanout::run(state.clone(), fanout_work));
        listener.serve(router, shutdown).await;
        timeouts.abort();
        fanouts.abort();
        state.close().await;
        Ok(())
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
    let dm_limit = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    let api_limit = axum::extract::DefaultBodyLimit::max(state.config.api_max_body_bytes);
    // The API's own limit is the inner layer: it overrides the outer one on its routes.
    Router::new()
        .route("/dm/wait", axum::routing::post(wait::handle))
        .route("/images/{sha}", axum::routing::get(images::serve))
        .nest("/api/v1", api::routes(state.clone()).layer(api_limit))
        .with_state(state.clone())
        .route("/healthz", axum::routing::get(healthz).post(healthz_post))
        .merge(state.host.router())
        .layer(dm_limit)
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
