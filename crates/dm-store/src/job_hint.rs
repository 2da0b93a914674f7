//! "This device has nothing queued" hint (SQLite backend): most DM sessions find no job, and
//! with the hint they do not touch the database to learn it.
//!
//! A device is marked empty when a take found fewer jobs than it asked for, but only if no job
//! was queued (anywhere) since the take started: every path that puts a job in state `queued`
//! calls [`QueuedHint::queued`] after its write, which clears the device's mark and bumps a
//! sequence number; [`QueuedHint::mark_empty`] checks that number. Like the account cache,
//! this assumes this process is the only writer of the store. The set is bounded: when full it
//! is cleared (a missing mark only costs one database look-up).

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct Inner {
    empty: HashSet<String>,
    seq: u64,
}

/// Ticket of a take: the queue sequence number when it started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TakeTicket(u64);

/// Devices known to have no queued job.
pub(crate) struct QueuedHint {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for QueuedHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedHint")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl QueuedHint {
    /// A hint remembering at most `capacity` devices (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        QueuedHint {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// False when the device certainly has no queued job.
    pub(crate) fn may_have_jobs(&self, device_id: &str) -> bool {
        !self.lock().empty.contains(device_id)
    }

    /// Call before taking jobs.
    pub(crate) fn ticket(&self) -> TakeTicket {
        TakeTicket(self.lock().seq)
    }

    /// The take that got `ticket` left nothing queued for the device.
    pub(crate) fn mark_empty(&self, device_id: &str, ticket: TakeTicket) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.lock();
        if g.seq != ticket.0 {
            return;
        }
        if g.empty.len() >= self.capacity {
            g.empty.clear();
        }
        g.empty.insert(device_id.to_owned());
    }

    /// A job of the device was put in state `queued`.
    pub(crate) fn queued(&self, device_id: &str) {
        let mut g = self.lock();
        g.seq += 1;
        g.empty.remove(device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_until_a_job_is_queued() {
        let h = QueuedHint::new(8);
        assert!(h.may_have_jobs("a"));
        let t = h.ticket();
        h.mark_empty("a", t);
        assert!(!h.may_have_jobs("a"));
        assert!(h.may_have_jobs("b"));
        h.queued("a");
        assert!(h.may_have_jobs("a"));
    }

    #[test]
    fn a_job_queued_during_the_take_keeps_the_device_maybe() {
        let h = QueuedHint::new(8);
        let t = h.ticket();
        h.queued("a"); // committed after the take's statement ran
        h.mark_empty("a", t);
        assert!(h.may_have_jobs("a"));
    }

    #[test]
    fn bounded() {
        let h = QueuedHint::new(2);
        for d in ["a", "b", "c"] {
            h.mark_empty(d, h.ticket());
        }
        assert!(h.lock().empty.len() <= 2);
        assert!(!h.may_have_jobs("c"));
    }
}
