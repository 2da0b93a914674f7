//! What every part of the gateway shares: the inventory with its mode rules, the Fanout
//! operations, the store, the clocks and the wake-ups of the tasks.
//!
//! The mount providers of the northbound tree ([`crate::inventory`], [`crate::fanout`]) run
//! inside a synchronous tree execution: they change the in-memory state at once and queue the
//! store writes as [`Write`]s, which the caller flushes ([`Shared::flush`]) before the answers
//! leave (so a Status the server sees is backed by the store, also across a kill -9).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gwmo::Timestamp;
use gwmo::group::Group;
use gwmo::group::{GroupLimits, Groups};
use gwmo::inventory::{DeviceRecord, Inventory, InventoryConfig, InventoryEvent, UnixTime};
use gwmo::mode::ModeRules;
use tokio::sync::{Notify, mpsc};

use crate::Error;
use crate::config::Config;
use crate::fanout::{Completion, Ops};
use crate::store::{GatewayStore, StoredOperation, StoredResponse};

/// The inventory and the `GwConfig` values that govern it.
#[derive(Debug)]
pub(crate) struct Directory {
    /// The records, leases and counters.
    pub(crate) inventory: Inventory,
    /// `GwConfig/DefaultMode` and `ModeRules`.
    pub(crate) rules: ModeRules,
    /// `GwConfig/InformNewDevices`.
    pub(crate) inform_devices: bool,
    /// `GwConfig/InformChildGateways`.
    pub(crate) inform_gateways: bool,
    /// `DeviceInventory/Groups` (GwMO-Group-001/002).
    pub(crate) groups: Groups,
}

/// The receiving ends of the northbound tasks' channels, per server id.
#[derive(Debug)]
pub(crate) struct Receivers {
    /// Session triggers.
    pub(crate) triggers: HashMap<String, mpsc::UnboundedReceiver<dm_client::Trigger>>,
    /// Completions of deferred `Start` Execs.
    pub(crate) completions: HashMap<String, mpsc::UnboundedReceiver<Completion>>,
    /// `EDTrigger/Notify` requests.
    pub(crate) ed_triggers: mpsc::UnboundedReceiver<String>,
}

/// A store write queued by synchronous code.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// Insert or replace a record.
    Device(DeviceRecord),
    /// Forget a record.
    ForgetDevice(String),
    /// Insert or replace an operation.
    Operation(StoredOperation),
    /// Forget an operation.
    ForgetOperation(String),
    /// A device's answer to an operation.
    Response(String, StoredResponse),
    /// Queue an alert (XML of one Alert command) for a server.
    Alert(String, String),
    /// Insert or replace a group.
    Group(String, Group),
    /// Forget a group.
    ForgetGroup(String),
    /// Insert or replace an image entry (its name, its stored form).
    Image(String, String),
    /// Forget an image entry.
    ForgetImage(String),
}

/// The shared state (one per gateway process).
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: GatewayStore,
    epoch: Instant,
    pub(crate) directory: Mutex<Directory>,
    pub(crate) ops: Mutex<Ops>,
    writes: Mutex<Vec<Write>>,
    /// Progress alerts (not durable), per server: at most one per operation, a newer one
    /// replacing the one not yet sent.
    progress: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// Wakes the northbound task of a server (a session is wanted: alerts queued, a
    /// notification arrived).
    pub(crate) north_wake: HashMap<String, mpsc::UnboundedSender<dm_client::Trigger>>,
    /// Where the fanout driver hands the outcome of a `Start` Exec to the live northbound
    /// session of a server.
    pub(crate) completions: HashMap<String, mpsc::UnboundedSender<Completion>>,
    /// Wakes the timer task (inventory leases, operations).
    pub(crate) timer_wake: Notify,
    /// Posts Package 0 to HTTP notification addresses (no redirects followed).
    pub(crate) notify_http: reqwest::Client,
    /// Sends WSP push datagrams (Package 0 to devices, relayed notifications).
    pub(crate) notify_udp: tokio::net::UdpSocket,
    /// `EDTrigger/Notify` requests: device ids to notify now.
    pub(crate) triggers: mpsc::UnboundedSender<String>,
    /// The image entries and files (`./GwMO/ImageInventory`).
    pub(crate) images: Mutex<crate::image::Images>,
    /// Downloads images (no overall timeout: a read timeout; no redirects).
    pub(crate) images_http: reqwest::Client,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("device_id", &self.config.device_id)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, taking over a poisoned one (a panicking holder left consistent data: every
/// change is a single assignment or a gwmo state machine step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Unix seconds now.
pub(crate) fn unix_now() -> UnixTime {
    dm_tree::Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

impl Shared {
    /// Builds the state: the inventory restored from the store, the operations from the store.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Corrupt`].
    pub(crate) async fn new(
        config: Config,
        store: GatewayStore,
    ) -> Result<(Arc<Shared>, Receivers), Error> {
        let epoch = Instant::now();
        let mut inventory = Inventory::new(InventoryConfig {
            min_lease: Duration::from_secs(config.min_lease_secs.max(1)),
            ..InventoryConfig::default()
        });
        let now = Timestamp::ZERO;
        let unix = unix_now();
        for record in store.devices().await? {
            if let Err(e) = inventory.restore(now, unix, record) {
                tracing::warn!(error = %e, "stored inventory record skipped");
            }
        }
        let mut groups = Groups::new(GroupLimits::default());
        for (name, g) in store.groups().await? {
            if let Err(e) = groups.restore(&name, g) {
                tracing::warn!(error = %e, "stored group skipped");
            }
        }
        let mut north_wake = HashMap::new();
        let mut triggers = HashMap::new();
        let mut completions = HashMap::new();
        let mut receivers = HashMap::new();
        for s in &config.servers {
            let (wake, woken) = mpsc::unbounded_channel();
            north_wake.insert(s.server_id.clone(), wake);
            triggers.insert(s.server_id.clone(), woken);
            let (tx, rx) = mpsc::unbounded_channel();
            completions.insert(s.server_id.clone(), tx);
            receivers.insert(s.server_id.clone(), rx);
        }
        let stored_ops = store.operations().await?;
        let mut responses = Vec::with_capacity(stored_ops.len());
        for o in &stored_ops {
            responses.push(store.responses(&o.op).await?);
        }
        let ops = Ops::restore(now, stored_ops, responses);
        let notify_udp = tokio::net::UdpSocket::bind(std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
            .await
            .map_err(|source| Error::Io {
                what: "binding the notification socket".into(),
                source,
            })?;
        let (ed_tx, ed_rx) = mpsc::unbounded_channel();
        let notify_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let images = {
            let blobs = match &config.images {
                Some(i) => Some(crate::image::blobs::Blobs::open(&i.dir)?),
                None => None,
            };
            let mut entries = Vec::new();
            for (name, value) in store.values_with_prefix(crate::image::KEY_PREFIX).await? {
                match std::str::from_utf8(&value)
                    .ok()
                    .and_then(crate::image::Entry::decode)
                {
                    Some(e) => entries.push(e),
                    None => tracing::warn!(key = %name, "stored image entry unreadable: skipped"),
                }
            }
            let base = config
                .images
                .as_ref()
                .map(|i| {
                    i.public_url
                        .clone()
                        .unwrap_or_else(|| format!("http://{}", i.listen))
                        .trim_end_matches('/')
                        .to_owned()
                })
                .unwrap_or_default();
            let auth = config
                .images
                .as_ref()
                .is_none_or(|i| i.auth == crate::config::ImageAuth::Token);
            crate::image::Images::new(blobs, base, auth, entries)
        };
        let images_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let shared = Arc::new(Shared {
            config,
            store,
            epoch,
            directory: Mutex::new(Directory {
                inventory,
                rules: ModeRules::default(),
                inform_devices: true,
                inform_gateways: true,
                groups,
            }),
            ops: Mutex::new(ops),
            writes: Mutex::new(Vec::new()),
            progress: Mutex::new(HashMap::new()),
            north_wake,
            completions,
            timer_wake: Notify::new(),
            notify_http,
            notify_udp,
            triggers: ed_tx,
            images: Mutex::new(images),
            images_http,
        });
        Ok((
            shared,
            Receivers {
                triggers,
                completions: receivers,
                ed_triggers: ed_rx,
            },
        ))
    }

    /// The monotonic time since the process started.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.epoch.elapsed())
    }

    /// The instant of a monotonic time (for `tokio::time::sleep_until`).
    pub(crate) fn instant(&self, t: Timestamp) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + t.since_epoch())
    }

    /// Queues a store write.
    pub(crate) fn queue(&self, w: Write) {
        lock(&self.writes).push(w);
    }

    /// Queues several store writes.
    pub(crate) fn queue_all(&self, ws: impl IntoIterator<Item = Write>) {
        lock(&self.writes).extend(ws);
    }

    /// Queues the progress alert (XML of one Alert command) of operation `op` for `server_id`
    /// and wakes its northbound task. Not durable; one per operation: a newer one replaces
    /// the one not yet sent.
    pub(crate) fn queue_progress(&self, server_id: &str, op: &str, xml: String) {
        lock(&self.progress)
            .entry(server_id.to_owned())
            .or_default()
            .insert(op.to_owned(), xml);
        self.wake_north(server_id);
    }

    /// Takes the progress alerts queued for `server_id`.
    pub(crate) fn take_progress(&self, server_id: &str) -> Vec<String> {
        lock(&self.progress)
            .remove(server_id)
            .map(|m| m.into_values().collect())
            .unwrap_or_default()
    }

    /// Forgets the progress alert of `op` not yet sent (its completion supersedes it).
    pub(crate) fn drop_progress(&self, server_id: &str, op: &str) {
        if let Some(m) = lock(&self.progress).get_mut(server_id) {
            m.remove(op);
        }
    }

    /// Wakes the northbound session task of `server_id`.
    pub(crate) fn wake_north(&self, server_id: &str) {
        self.trigger_north(server_id, dm_client::Trigger::Client);
    }

    /// Asks the northbound task of `server_id` for a session started by `trigger`.
    pub(crate) fn trigger_north(&self, server_id: &str, trigger: dm_client::Trigger) {
        if let Some(tx) = self.north_wake.get(server_id) {
            let _ = tx.send(trigger);
        }
    }

    /// Turns the inventory's pending events into store writes and, where `GwConfig` asks for
    /// it, into `deviceattached` / `devicedetached` alerts for every server (one Generic Alert
    /// per kind, one Item per device: GwMO-DI-004/005, B.9).
    pub(crate) fn drain_inventory_events(&self) {
        let mut writes = Vec::new();
        let mut attached = Vec::new();
        let mut detached = Vec::new();
        {
            let mut d = lock(&self.directory);
            while let Some(ev) = d.inventory.poll_event() {
                match ev {
                    InventoryEvent::Attached { id }
                    | InventoryEvent::Reattached { id }
                    | InventoryEvent::Detached { id } => {
                        let Some(r) = d.inventory.get(&id).cloned() else {
                            continue;
                        };
                        let inform = match r.kind {
                            gwmo::inventory::Kind::EndDevice => d.inform_devices,
                            gwmo::inventory::Kind::Gateway => d.inform_gateways,
                        };
                        if inform {
                            let item = gwmo::payload::device_report_item(
                                &gwmo::payload::DeviceReport::from_record(&r),
                            );
                            match r.presence {
                                gwmo::inventory::Presence::Attached => attached.push(item),
                                gwmo::inventory::Presence::Detached => detached.push(item),
                            }
                        }
                        writes.push(Write::Device(r));
                    }
                    InventoryEvent::Forgotten { record } => {
                        writes.push(Write::ForgetDevice(record.id));
                    }
                }
            }
        }
        for items in [attached, detached] {
            if items.is_empty() {
                continue;
            }
            let alert = gwmo::payload::generic_alert("1", None, items);
            let xml = syncml::xml::encode_fragment(&[syncml::Command::Alert(alert)]);
            for s in &self.config.servers {
                writes.push(Write::Alert(s.server_id.clone(), xml.clone()));
            }
        }
        self.queue_all(writes);
    }

    /// Writes everything queued, in order, and wakes the northbound tasks of the servers that
    /// got alerts.
    ///
    /// # Errors
    /// [`Error::Store`]; the writes not yet done stay queued for the next flush.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let writes = std::mem::take(&mut *lock(&self.writes));
        let mut woken = Vec::new();
        let mut iter = writes.into_iter();
        while let Some(w) = iter.next() {
            let done = match &w {
                Write::Device(r) => self.store.put_device(r).await,
                Write::ForgetDevice(id) => self.store.delete_device(id).await,
                Write::Operation(o) => self.store.put_operation(o).await,
                Write::ForgetOperation(op) => self.store.delete_operation(op).await,
                Write::Response(op, r) => self.store.put_response(op, r).await.map(|_| ()),
                Write::Group(name, g) => self.store.put_group(name, g).await,
                Write::ForgetGroup(name) => self.store.delete_group(name).await,
                Write::Image(name, text) => {
                    self.store
                        .put_value(
                            &format!("{}{name}", crate::image::KEY_PREFIX),
                            text.as_bytes(),
                        )
                        .await
                }
                Write::ForgetImage(name) => {
                    self.store
                        .delete_value(&format!("{}{name}", crate::image::KEY_PREFIX))
                        .await
                }
                Write::Alert(server, xml) => {
                    woken.push(server.clone());
                    self.store
                        .push_alert(server, xml, unix_now().0)
                        .await
                        .map(|_| ())
                }
            };
            if let Err(e) = done {
                let mut rest = vec![w];
                rest.extend(iter);
                let mut q = lock(&self.writes);
                rest.append(&mut q);
                *q = rest;
                return Err(e);
            }
        }
        woken.dedup();
        for s in woken {
            self.wake_north(&s);
        }
        Ok(())
    }
}
