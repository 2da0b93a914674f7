//! Injected time: the sessions never read a clock.

use std::ops::Add;
use std::time::Duration;

/// A point in time on a monotonic clock the caller owns (e.g. the time since the driver
/// started). Only differences matter; the epoch is the caller's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The epoch of the caller's clock.
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);

    /// The instant `since_epoch` after the caller's epoch.
    #[must_use]
    pub fn from_duration(since_epoch: Duration) -> Self {
        Timestamp(since_epoch)
    }

    /// The instant `ms` milliseconds after the caller's epoch.
    #[must_use]
    pub fn from_millis(ms: u64) -> Self {
        Timestamp(Duration::from_millis(ms))
    }

    /// Time since the caller's epoch.
    #[must_use]
    pub fn since_epoch(self) -> Duration {
        self.0
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs))
    }
}
