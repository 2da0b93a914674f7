//! What every request handler shares: configuration, store, session table, notifier.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dm_store::{AnyStore, RequeueScope, Store as _};

use crate::dm::SessionTable;
use crate::notifier::{Notifier, NotifyPolicy};
use crate::{Config, Error};

/// Shared server state (one per [`crate::Server`]).
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) store: AnyStore,
    pub(crate) notifier: Notifier,
    pub(crate) sessions: SessionTable,
    /// True when the listener speaks HTTPS (for `RespURI`).
    pub(crate) tls: bool,
    /// Package 0 session ids sent per device, so that the device's 1200 session is matched.
    pub(crate) notified: Mutex<HashMap<String, u16>>,
    next_notify_id: AtomicU16,
}

impl AppState {
    /// Opens the store, re-queues jobs sent before a restart and binds the notifier socket.
    pub(crate) async fn new(config: Config, tls: bool) -> Result<Arc<AppState>, Error> {
        let store = AnyStore::open(&config.db).await?;
        let now = now_ms();
        let requeued = store
            .requeue_unanswered(&RequeueScope::SentBefore(now), now)
            .await?;
        if !requeued.is_empty() {
            tracing::info!(
                jobs = requeued.len(),
                "jobs sent but unanswered before the restart are queued again"
            );
        }
        let notifier = Notifier::new(NotifyPolicy::allowing(
            config.notify_allowed_networks.clone(),
        ))
        .await?;
        let first_id = u16::try_from(now_ms().rem_euclid(0xfff0))
            .unwrap_or(1)
            .max(1);
        Ok(Arc::new(AppState {
            sessions: SessionTable::new(config.session_timeout()),
            config,
            store,
            notifier,
            tls,
            notified: Mutex::new(HashMap::new()),
            next_notify_id: AtomicU16::new(first_id),
        }))
    }

    /// The next Package 0 session id (1..=0xFFFF, never 0).
    pub(crate) fn next_notify_session_id(&self) -> u16 {
        loop {
            let id = self.next_notify_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    /// Closes the store (flushes SQLite).
    pub(crate) async fn close(&self) {
        self.store.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Evicts idle sessions once a second, forever (aborted by [`crate::Server::serve`]).
pub(crate) async fn sweep_sessions(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        crate::dm::expire_idle(&state).await;
    }
}
