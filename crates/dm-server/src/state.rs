//! What every request handler shares: configuration, store, the DM session host, notifier.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dm_host::{Host, HostConfig};
use dm_store::{AnyStore, RequeueScope, Store as _};

use crate::dm::{DmBackend, Notified};
use crate::notifier::{Notifier, NotifyPolicy};
use crate::wait::WaitChannels;
use crate::{Config, Error};

/// The receiving half of the fanout task's feed, handed to [`crate::fanout::run`].
pub(crate) type FanoutWork = tokio::sync::mpsc::UnboundedReceiver<crate::fanout::Work>;

/// Shared server state (one per [`crate::Server`]).
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) store: AnyStore,
    pub(crate) notifier: Notifier,
    /// The DM endpoint: sessions, authentication, expiry.
    pub(crate) host: Arc<Host<DmBackend>>,
    /// Package 0 session ids sent per device, so that the device's 1200 session is matched.
    pub(crate) notified: Notified,
    /// The long-polls of devices the server cannot reach (`POST /dm/wait`).
    pub(crate) wait: WaitChannels,
    /// The fanout task's feed.
    pub(crate) fanouts: crate::fanout::Feed,
    next_notify_id: AtomicU16,
    /// The key of the signed image URLs (`images.url_key` in the store; 32 random bytes made
    /// at the first start).
    pub(crate) image_key: [u8; 32],
}

impl AppState {
    /// Opens the store, re-queues jobs sent before a restart and binds the notifier socket.
    pub(crate) async fn new(
        config: Config,
        tls: bool,
    ) -> Result<(Arc<AppState>, FanoutWork), Error> {
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
        let notified = Notified::default();
        let (fanouts, fanout_work) = crate::fanout::Feed::new();
        let backend = DmBackend {
            fanouts: fanouts.clone(),
            store: store.clone(),
            server_id: config.server_id.clone(),
            enrolment: config.enrolment.clone(),
            max_job_attempts: config.max_job_attempts.max(1),
            notified: notified.clone(),
            limits: syncml::Limits {
                max_size: config.max_body_bytes,
                ..syncml::Limits::default()
            },
        };
        let mut host_config = HostConfig::new(config.server_id.clone());
        host_config.max_msg_size = config.max_msg_size;
        host_config.limits = syncml::Limits {
            max_size: config.max_body_bytes,
            ..syncml::Limits::default()
        };
        host_config.session_timeout = config.session_timeout();
        host_config.public_url.clone_from(&config.public_url);
        host_config.tls = tls;
        host_config.challenge_capacity = config.challenge_capacity;
        // Every device id the API accepts must fit the DM endpoint's identifier bound.
        host_config.max_identifier_len = crate::api::model::MAX_DEVICE_ID_BYTES;
        let wait = WaitChannels::new(config.long_poll_cap(), config.long_poll_hold());
        let image_key = match store.get_kv("images.url_key").await? {
            Some(k) if k.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&k);
                key
            }
            _ => {
                let key: [u8; 32] = rand::random();
                store.put_kv("images.url_key", &key, now_ms()).await?;
                key
            }
        };
        Ok((
            Arc::new(AppState {
                host: Host::new(host_config, backend),
                wait,
                fanouts,
                image_key,
                config,
                store,
                notifier,
                notified,
                next_notify_id: AtomicU16::new(first_id),
            }),
            fanout_work,
        ))
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

/// Milliseconds since the Unix epoch (wall clock: for stored timestamps only; sessions run
/// on the host's monotonic clock).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
