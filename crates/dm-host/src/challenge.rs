//! The nonces of challenges sent to senders that did not authenticate: the only thing the
//! host keeps for them. Bounded (the oldest entry goes first), shared by all senders, one
//! outstanding nonce per device id (a newer challenge replaces an older one).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

struct Entry {
    nonce: Vec<u8>,
    seq: u64,
}

#[derive(Default)]
struct Inner {
    by_device: HashMap<String, Entry>,
    /// Insertion order (device, seq); entries whose seq no longer matches are stale.
    order: VecDeque<(u64, String)>,
    seq: u64,
}

/// Outstanding challenge nonces by device id, at most `capacity` of them.
pub(crate) struct ChallengeTable {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ChallengeTable {
    pub(crate) fn new(capacity: usize) -> Self {
        ChallengeTable {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many challenges are outstanding.
    pub(crate) fn len(&self) -> usize {
        self.lock().by_device.len()
    }

    /// Remembers the nonce of a challenge sent for `device_id` (replacing an older one),
    /// evicting the oldest entries past the capacity.
    pub(crate) fn insert(&self, device_id: &str, nonce: Vec<u8>) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        g.by_device
            .insert(device_id.to_owned(), Entry { nonce, seq });
        g.order.push_back((seq, device_id.to_owned()));
        while g.by_device.len() > self.capacity {
            let Some((seq, dev)) = g.order.pop_front() else {
                break;
            };
            if g.by_device.get(&dev).is_some_and(|e| e.seq == seq) {
                g.by_device.remove(&dev);
            }
        }
        // Stale order entries (devices challenged again) are dropped once they pile up.
        if g.order.len() > 2 * self.capacity {
            let Inner {
                by_device, order, ..
            } = &mut *g;
            order.retain(|(seq, dev)| by_device.get(dev).is_some_and(|e| e.seq == *seq));
        }
    }

    /// The outstanding challenge nonce of `device_id`, if any.
    pub(crate) fn get(&self, device_id: &str) -> Option<Vec<u8>> {
        self.lock()
            .by_device
            .get(device_id)
            .map(|e| e.nonce.clone())
    }

    /// Takes the challenge of `device_id` if its nonce is `nonce`: true for exactly one
    /// caller per challenge.
    pub(crate) fn take(&self, device_id: &str, nonce: &[u8]) -> bool {
        let mut g = self.lock();
        if g.by_device.get(device_id).is_some_and(|e| e.nonce == nonce) {
            g.by_device.remove(device_id);
            true
        } else {
            false
        }
    }

    /// Forgets the challenge of `device_id` (it authenticated otherwise).
    pub(crate) fn forget(&self, device_id: &str) {
        self.lock().by_device.remove(device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_oldest_first_and_taken_once() {
        let t = ChallengeTable::new(3);
        for i in 0..10u8 {
            t.insert(&format!("dev{i}"), vec![i]);
        }
        assert_eq!(t.len(), 3);
        assert!(t.get("dev6").is_none());
        assert_eq!(t.get("dev9"), Some(vec![9]));
        assert!(!t.take("dev9", &[1]));
        assert!(t.take("dev9", &[9]));
        assert!(!t.take("dev9", &[9]));
        // One device challenged again and again keeps one entry and a bounded order queue.
        for i in 0..1000u32 {
            t.insert("flood", i.to_be_bytes().to_vec());
        }
        assert_eq!(t.get("flood"), Some(999u32.to_be_bytes().to_vec()));
        assert!(t.len() <= 3);
        assert!(t.lock().order.len() <= 6);
    }
}
