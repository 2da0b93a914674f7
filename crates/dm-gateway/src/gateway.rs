//! The gateway process: its tasks and how they are wired.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use dm_client::listener;
use dm_host::listener::{Listener, ListenerLimits};
use dm_host::{Host, HostConfig};
use tokio::sync::mpsc;

use crate::Error;
use crate::config::Config;
use crate::northbound::North;
use crate::southbound::{South, scheme_name};
use crate::state::{Shared, lock};
use crate::store::{DeviceAccount, GatewayStore};

/// The addresses a running gateway listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The southbound DM endpoint.
    pub south: SocketAddr,
    /// The UDP Package 0 listener for the servers' notifications, if on.
    pub north_udp: Option<SocketAddr>,
    /// The HTTP Package 0 listener, if on.
    pub north_http: Option<SocketAddr>,
    /// The HTTP relay for Transparent-mode devices, if on.
    pub relay: Option<SocketAddr>,
    /// The local image server, if `[images]` is configured.
    pub images: Option<SocketAddr>,
}

/// Writes the accounts of the configuration's `[[devices]]` (stored nonces are kept).
async fn provision(store: &GatewayStore, config: &Config) -> Result<(), Error> {
    for d in &config.devices {
        store
            .put_account(&DeviceAccount {
                device_id: d.id.clone(),
                auth_name: d.client_auth.name.clone(),
                client_auth: scheme_name(d.client_auth.auth_type).to_owned(),
                client_verifier: syncml::auth::user_hash(
                    &d.client_auth.name,
                    &d.client_auth.secret,
                ),
                server_secret: d.server_secret.clone(),
                client_nonce: Vec::new(),
                server_nonce: Vec::new(),
                notify: d.notify.clone(),
            })
            .await?;
    }
    Ok(())
}

/// Sleeps until the next lease or operation deadline (or a wake-up), then runs what is due:
/// leases that ran out, operations' dispatches and events.
async fn timers(shared: Arc<Shared>) {
    loop {
        let now = shared.now();
        let lease_next = {
            let mut d = lock(&shared.directory);
            if d.inventory.poll_timeout().is_some_and(|t| t <= now) {
                d.inventory.handle_timeout(now);
            }
            d.inventory.poll_timeout()
        };
        shared.drain_inventory_events();
        let crate::fanout::Polled {
            dispatches,
            events,
            next: ops_next,
        } = lock(&shared.ops).poll(now);
        for (op, ev) in events {
            let crate::fanout::Applied {
                writes,
                completion,
                progress,
            } = lock(&shared.ops).on_event(&op, ev);
            let completed = writes.iter().find_map(|w| match w {
                crate::state::Write::Operation(o) if o.reported => Some(o.server_id.clone()),
                _ => None,
            });
            shared.queue_all(writes);
            if let Some(server) = completed {
                // The completion supersedes a progress alert not yet sent.
                shared.drop_progress(&server, &op);
            }
            if let Some((server, xml)) = progress {
                shared.queue_progress(&server, &op, xml);
            }
            if let Some((server, c)) = completion
                && let Some(tx) = shared.completions.get(&server)
                && tx.send(c).is_err()
            {
                tracing::debug!(%op, "no live session for the completion: it goes by alert");
            }
        }
        if let Err(e) = shared.flush().await {
            tracing::error!(error = %e, "gateway store write failed; retried");
        }
        let busy = !dispatches.is_empty();
        for (op, d) in dispatches {
            let shared = shared.clone();
            tokio::spawn(async move { crate::dispatch::dispatch(&shared, &op, d).await });
        }
        if busy {
            continue;
        }
        let next = match (lease_next, ops_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(shared.instant(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = shared.timer_wake.notified() => {}
        }
    }
}

/// Runs the gateway until `shutdown` resolves; `on_bound` learns the addresses once every
/// listener is bound.
///
/// # Errors
/// [`Error::Store`] when the state file cannot be opened, [`Error::Io`] when a listener cannot
/// be bound, [`Error::Tree`] when the tree cannot be built.
pub async fn run(
    config: Config,
    on_bound: impl FnOnce(Bound),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let store = GatewayStore::open(&config.db).await?;
    provision(&store, &config).await?;
    let south_listen = config.southbound.listen;
    let (shared, mut rx) = Shared::new(config, store).await?;
    let north = North::new(shared.clone()).await?;

    let mut host_config = HostConfig::new(shared.config.southbound.server_id.clone());
    host_config.public_url = shared.config.southbound.public_url.clone();
    let host = Host::new(
        host_config,
        South {
            shared: shared.clone(),
        },
    );
    let south_listener = Listener::bind(south_listen, None, ListenerLimits::default()).await?;
    let south_addr = south_listener.local_addr();
    let router = host.router().layer(axum::extract::DefaultBodyLimit::max(
        host.config().limits.max_size,
    ));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(
        south_listener.serve(router, std::future::pending()),
    ));
    tasks.push(tokio::spawn(host.clone().run_timeouts()));
    let mut relay_addr = None;
    if let Some(addr) = shared.config.southbound.relay {
        let l = Listener::bind(addr, None, ListenerLimits::default()).await?;
        relay_addr = Some(l.local_addr());
        let app = crate::http_relay::router(shared.clone(), host.config().limits.max_size)?;
        tasks.push(tokio::spawn(l.serve(app, std::future::pending())));
    }

    let mut images_addr = None;
    if let Some(i) = &shared.config.images {
        let l = Listener::bind(i.listen, None, ListenerLimits::default()).await?;
        images_addr = Some(l.local_addr());
        let app = crate::image::serve::router(shared.clone());
        tasks.push(tokio::spawn(l.serve(app, std::future::pending())));
    }
    // Downloads a restart interrupted go on where they stopped.
    let resume = lock(&shared.images).downloading();
    for (sha, url, size) in resume {
        let _ = lock(&shared.images).reserve(&sha, size.unwrap_or(0), u64::MAX);
        crate::image::spawn_download(&shared, sha, url, size);
    }
    let (arr_tx, mut arr_rx) = mpsc::channel(256);
    let mut bound = Bound {
        south: south_addr,
        north_udp: None,
        north_http: None,
        relay: relay_addr,
        images: images_addr,
    };
    if let Some(addr) = shared.config.northbound.udp {
        let sock = listener::bind_udp(addr).await?;
        bound.north_udp = sock.local_addr().ok();
        tasks.push(tokio::spawn(listener::serve_udp(sock, arr_tx.clone())));
    }
    if let Some(addr) = shared.config.northbound.http {
        let l = listener::bind_http(addr).await?;
        bound.north_http = l.local_addr().ok();
        let tx = arr_tx.clone();
        tasks.push(tokio::spawn(listener::serve_http(
            l,
            tx,
            std::future::pending(),
        )));
    }
    drop(arr_tx);
    {
        let shared = shared.clone();
        let north = north.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(a) = arr_rx.recv().await {
                crate::relay::handle(&shared, &north, a).await;
            }
        }));
    }
    for (i, s) in shared.config.servers.iter().enumerate() {
        let (Some(triggers), Some(completions)) = (
            rx.triggers.remove(&s.server_id),
            rx.completions.remove(&s.server_id),
        ) else {
            continue;
        };
        tasks.push(tokio::spawn(north.clone().serve(i, triggers, completions)));
        if s.long_poll {
            tasks.push(tokio::spawn(north.clone().long_poll(i)));
        }
    }
    tasks.push(tokio::spawn(timers(shared.clone())));
    {
        let shared = shared.clone();
        let mut ed = rx.ed_triggers;
        tasks.push(tokio::spawn(async move {
            while let Some(id) = ed.recv().await {
                crate::dispatch::trigger(&shared, &id).await;
            }
        }));
    }
    on_bound(bound);
    shutdown.await;
    for t in &tasks {
        t.abort();
    }
    if let Err(e) = shared.flush().await {
        tracing::error!(error = %e, "gateway store: writes lost at shutdown");
    }
    shared.store.close().await;
    Ok(())
}
