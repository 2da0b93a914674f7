//! A bounded in-memory cache of device accounts (SQLite backend), so that a DM session does not
//! pay a database round trip to find the account it authenticates as.
//!
//! Coherence: the cache assumes this process is the only writer of the `devices` table (true
//! for SQLite, whose file one server owns). Every write path of the store either updates the
//! cached entry in place (the nonces a session record stores, written by the group-commit task
//! right after its commit) or removes it (account updates, deletions, explicit nonce writes).
//! A miss is filled from the database, but only if no write to that device happened between
//! the read and the fill: each write stamps the device with a sequence number, and a fill
//! whose ticket is older than the stamp is dropped (see [`AccountCache::begin_fill`]).
//!
//! Eviction is least-recently-used in batches: when the cache grows past its capacity, the
//! eighth of the entries used longest ago is dropped at once (amortised O(log n) per insert).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{DeviceAccount, NonceUpdate};

/// Stamps of recent writes kept before they are folded into the floor.
const RECENT_WRITES: usize = 4096;

struct Entry {
    account: DeviceAccount,
    used: u64,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    /// auth name -> device id, for the entries in `by_id`.
    by_auth_name: HashMap<String, String>,
    /// Use clock (LRU order).
    clock: u64,
    /// Write sequence: bumped by every write of a device.
    seq: u64,
    /// device id -> `seq` of its last write, for recent writes.
    recent: HashMap<String, u64>,
    /// Fills with a ticket older than this are dropped (their device's stamp was forgotten).
    floor: u64,
}

/// Ticket of a cache fill: the write sequence number when the database read started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillTicket(u64);

/// Bounded cache of device accounts, keyed by device id and auth name.
pub(crate) struct AccountCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl AccountCache {
    /// A cache of at most `capacity` accounts (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        AccountCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of cached accounts.
    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// The cached account of a device.
    pub(crate) fn get(&self, device_id: &str) -> Option<DeviceAccount> {
        let mut g = self.lock();
        g.clock += 1;
        let now = g.clock;
        let e = g.by_id.get_mut(device_id)?;
        e.used = now;
        Some(e.account.clone())
    }

    /// The cached account that authenticates as `auth_name`.
    pub(crate) fn get_by_auth_name(&self, auth_name: &str) -> Option<DeviceAccount> {
        let mut g = self.lock();
        g.clock += 1;
        let now = g.clock;
        let inner = &mut *g;
        let id = inner.by_auth_name.get(auth_name)?;
        let e = inner.by_id.get_mut(id)?;
        e.used = now;
        Some(e.account.clone())
    }

    /// Call before reading an account from the database to fill the cache with.
    pub(crate) fn begin_fill(&self) -> FillTicket {
        FillTicket(self.lock().seq)
    }

    /// Caches an account read from the database after `ticket` was taken, unless the device
    /// was written since (then the value read may be stale and is not kept).
    pub(crate) fn fill(&self, ticket: FillTicket, account: &DeviceAccount) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.lock();
        if ticket.0 < g.floor
            || g.recent
                .get(&account.device_id)
                .is_some_and(|&stamp| stamp > ticket.0)
        {
            return;
        }
        g.clock += 1;
        let used = g.clock;
        let inner = &mut *g;
        if let Some(old) = inner.by_id.insert(
            account.device_id.clone(),
            Entry {
                account: account.clone(),
                used,
            },
        ) {
            inner.by_auth_name.remove(&old.account.auth_name);
        }
        inner
            .by_auth_name
            .insert(account.auth_name.clone(), account.device_id.clone());
        if inner.by_id.len() > self.capacity {
            inner.evict(self.capacity);
        }
    }

    /// Forgets a device's account (after it was updated or deleted in the database).
    pub(crate) fn invalidate(&self, device_id: &str) {
        let mut g = self.lock();
        g.stamp(device_id);
        if let Some(old) = g.by_id.remove(device_id) {
            g.by_auth_name.remove(&old.account.auth_name);
        }
    }

    /// Applies nonces just committed for a device to its cached account, if cached.
    pub(crate) fn store_nonces(&self, device_id: &str, nonces: &NonceUpdate) {
        if nonces.client.is_none() && nonces.server.is_none() {
            return;
        }
        let mut g = self.lock();
        g.stamp(device_id);
        if let Some(e) = g.by_id.get_mut(device_id) {
            if let Some(c) = &nonces.client {
                e.account.client_nonce.clone_from(c);
            }
            if let Some(s) = &nonces.server {
                e.account.server_nonce.clone_from(s);
            }
        }
    }
}

impl Inner {
    /// Records a write of `device_id` (so that fills that read before it are dropped).
    fn stamp(&mut self, device_id: &str) {
        self.seq += 1;
        if self.recent.len() >= RECENT_WRITES {
            // Forget the individual stamps: every fill that started before now is dropped.
            self.recent.clear();
            self.floor = self.seq;
        }
        let seq = self.seq;
        match self.recent.get_mut(device_id) {
            Some(s) => *s = seq,
            None => {
                self.recent.insert(device_id.to_owned(), seq);
            }
        }
    }

    /// Drops the eighth of the entries used longest ago (at least down to `capacity`).
    fn evict(&mut self, capacity: usize) {
        let excess = self.by_id.len().saturating_sub(capacity);
        let drop = excess.max(capacity / 8).max(1);
        let mut ages: Vec<u64> = self.by_id.values().map(|e| e.used).collect();
        if drop >= ages.len() {
            self.by_id.clear();
            self.by_auth_name.clear();
            return;
        }
        let (_, &mut cut, _) = ages.select_nth_unstable(drop - 1);
        let by_auth_name = &mut self.by_auth_name;
        self.by_id.retain(|_, e| {
            let keep = e.used > cut;
            if !keep {
                by_auth_name.remove(&e.account.auth_name);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthType;

    fn account(i: usize) -> DeviceAccount {
        DeviceAccount::new(
            format!("dev-{i}"),
            format!("name-{i}"),
            AuthType::Md5,
            "pw",
            1,
        )
    }

    #[test]
    fn fill_then_get_by_both_keys() {
        let c = AccountCache::new(10);
        let t = c.begin_fill();
        c.fill(t, &account(1));
        assert_eq!(c.get("dev-1").unwrap().auth_name, "name-1");
        assert_eq!(c.get_by_auth_name("name-1").unwrap().device_id, "dev-1");
        assert!(c.get("dev-2").is_none());
    }

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let c = AccountCache::new(10);
        let t = c.begin_fill();
        // The account is updated between the database read and the fill.
        c.invalidate("dev-1");
        c.fill(t, &account(1));
        assert!(c.get("dev-1").is_none());
        // A write of another device does not spoil this fill.
        let t = c.begin_fill();
        c.invalidate("dev-2");
        c.fill(t, &account(1));
        assert!(c.get("dev-1").is_some());
    }

    #[test]
    fn forgotten_stamps_drop_older_fills() {
        let c = AccountCache::new(10);
        let t = c.begin_fill();
        for i in 0..=RECENT_WRITES {
            c.invalidate(&format!("other-{i}"));
        }
        c.fill(t, &account(1));
        assert!(
            c.get("dev-1").is_none(),
            "stamps were folded into the floor"
        );
        let t = c.begin_fill();
        c.fill(t, &account(1));
        assert!(c.get("dev-1").is_some());
    }

    #[test]
    fn nonces_update_in_place_and_invalidate_removes() {
        let c = AccountCache::new(10);
        c.fill(c.begin_fill(), &account(1));
        c.store_nonces(
            "dev-1",
            &NonceUpdate {
                client: Some(b"cn".to_vec()),
                server: None,
            },
        );
        let a = c.get_by_auth_name("name-1").unwrap();
        assert_eq!(a.client_nonce, b"cn");
        c.invalidate("dev-1");
        assert!(c.get("dev-1").is_none());
        assert!(c.get_by_auth_name("name-1").is_none());
    }

    #[test]
    fn renamed_account_drops_the_old_auth_name() {
        let c = AccountCache::new(10);
        c.fill(c.begin_fill(), &account(1));
        let mut renamed = account(1);
        renamed.auth_name = "new-name".into();
        c.fill(c.begin_fill(), &renamed);
        assert!(c.get_by_auth_name("name-1").is_none());
        assert_eq!(c.get_by_auth_name("new-name").unwrap().device_id, "dev-1");
    }

    #[test]
    fn bounded_and_least_recently_used_goes_first() {
        let c = AccountCache::new(16);
        for i in 0..16 {
            c.fill(c.begin_fill(), &account(i));
        }
        // dev-0 is used again: it is the most recent now.
        assert!(c.get("dev-0").is_some());
        for i in 16..40 {
            c.fill(c.begin_fill(), &account(i));
        }
        assert!(c.len() <= 16);
        assert!(c.get("dev-1").is_none(), "old entries are evicted");
        assert!(c.get("dev-39").is_some());
        assert!(c.get_by_auth_name("name-1").is_none());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let c = AccountCache::new(0);
        c.fill(c.begin_fill(), &account(1));
        assert!(c.get("dev-1").is_none());
    }
}
