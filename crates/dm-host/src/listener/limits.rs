//! [`ListenerLimits`]: the bounds every connection and request is held to.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// How much a listener lets its peers hold, and for how long.
///
/// Every field has a default (see [`Default`]); the TOML form (in `dm-server`'s `[listener]`
/// table) uses the field names, durations as whole seconds with a `_secs` suffix:
///
/// ```toml
/// max_connections = 4096
/// max_in_flight = 128
/// header_read_timeout_secs = 10
/// idle_timeout_secs = 30
/// request_timeout_secs = 60
/// retry_after_secs = 1
/// max_header_bytes = 16384
/// shutdown_grace_secs = 10
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerLimits {
    /// Most connections open at once (default 4,096). Past it the listener stops accepting:
    /// new connections wait in the kernel's accept queue, connections idle between requests
    /// are closed, and the others are closed after their
    /// current response, to make room. [`crate::listener::Listener::bind`] lowers it to three
    /// quarters of the process's open-file limit (`RLIMIT_NOFILE`), so that the store, the
    /// notifier and the log keep file descriptors even when every slot is taken.
    pub max_connections: usize,
    /// Most requests handled at once, over all connections (default 128). A request past it
    /// is answered at once with `503 Service Unavailable` and `Retry-After`, never queued.
    /// With [`crate::listener::Listener::with_priority`], a quarter of it is kept for priority
    /// requests: others are shed once three quarters are taken.
    pub max_in_flight: usize,
    /// Longest wait for a complete request head (request line and headers), counted from the
    /// moment the connection is ready for a request: after accept (and again after the TLS
    /// handshake), and after each response on a kept-alive connection (default 10 s). So it is
    /// also how long an idle kept-alive connection stays open. The TLS handshake has the same
    /// bound. Past it the connection is closed.
    #[serde(rename = "header_read_timeout_secs", with = "secs")]
    pub header_read_timeout: Duration,
    /// Longest time a connection may go without a byte read or written while no request of it
    /// is being handled (default 30 s): catches a peer that stops reading its response. Checked
    /// every half timeout, so the connection closes between 1 and 1.5 timeouts after its last
    /// byte.
    #[serde(rename = "idle_timeout_secs", with = "secs")]
    pub idle_timeout: Duration,
    /// Longest time one request may take, reading its body included (default 60 s). Past it
    /// the request is answered `408 Request Timeout` and the connection closed.
    #[serde(rename = "request_timeout_secs", with = "secs")]
    pub request_timeout: Duration,
    /// The `Retry-After` of a `503` (whole seconds, at least 1; default 1 s).
    #[serde(rename = "retry_after_secs", with = "secs")]
    pub retry_after: Duration,
    /// Largest request head in bytes (default 16 KiB, at least 8,192): a larger one is answered
    /// `431` and the connection closed. It is also the connection's read buffer bound.
    pub max_header_bytes: usize,
    /// On shutdown, how long running requests get to finish before their connections are
    /// dropped (default 10 s).
    #[serde(rename = "shutdown_grace_secs", with = "secs")]
    pub shutdown_grace: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 4096,
            max_in_flight: 128,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            retry_after: Duration::from_secs(1),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Upper bound of the two counts (a semaphore's permits must fit in `u32`).
const MAX_COUNT: usize = 1 << 20;
/// hyper's smallest read buffer.
const MIN_HEADER_BYTES: usize = 8192;

impl ListenerLimits {
    /// Checks that every bound is usable.
    ///
    /// # Errors
    /// [`Error::InvalidLimit`] for a zero count or duration, a count above 1,048,576, or
    /// `max_header_bytes` below 8,192.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field, reason| Err(Error::InvalidLimit { field, reason });
        for (field, n) in [
            ("max_connections", self.max_connections),
            ("max_in_flight", self.max_in_flight),
        ] {
            if n == 0 {
                return bad(field, "must be at least 1");
            }
            if n > MAX_COUNT {
                return bad(field, "must be at most 1048576");
            }
        }
        for (field, d) in [
            ("header_read_timeout_secs", self.header_read_timeout),
            ("idle_timeout_secs", self.idle_timeout),
            ("request_timeout_secs", self.request_timeout),
            ("retry_after_secs", self.retry_after),
        ] {
            if d.is_zero() {
                return bad(field, "must be more than 0");
            }
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return bad("max_header_bytes", "must be at least 8192");
        }
        Ok(())
    }

    /// These limits with `max_connections` lowered to three quarters of `open_files` (the
    /// soft `RLIMIT_NOFILE`; `None`: unlimited or unknown).
    #[must_use]
    pub fn within_open_files(self, open_files: Option<u64>) -> ListenerLimits {
        let Some(limit) = open_files else {
            return self;
        };
        let usable = usize::try_from(limit - limit / 4)
            .unwrap_or(usize::MAX)
            .max(1);
        ListenerLimits {
            max_connections: self.max_connections.min(usable),
            ..self
        }
    }

    /// `Retry-After` in whole seconds (rounded up, at least 1).
    pub(crate) fn retry_after_secs(&self) -> u64 {
        let whole = self.retry_after.as_secs();
        let up = whole + u64::from(self.retry_after.subsec_nanos() > 0);
        up.max(1)
    }
}

/// Durations as whole seconds in TOML.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let d = ListenerLimits::default();
        d.validate().unwrap();
        let text = toml::to_string(&d).unwrap();
        assert!(text.contains("header_read_timeout_secs = 10"), "{text}");
        let back: ListenerLimits = toml::from_str(&text).unwrap();
        assert_eq!(back, d);
        let partial: ListenerLimits = toml::from_str("max_in_flight = 8").unwrap();
        assert_eq!(partial.max_in_flight, 8);
        assert_eq!(partial.max_connections, d.max_connections);
        assert!(toml::from_str::<ListenerLimits>("max_inflight = 8").is_err());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for bad in [
            ListenerLimits {
                max_connections: 0,
                ..ListenerLimits::default()
            },
            ListenerLimits {
                max_in_flight: MAX_COUNT + 1,
                ..ListenerLimits::default()
            },
            ListenerLimits {
                header_read_timeout: Duration::ZERO,
                ..ListenerLimits::default()
            },
            ListenerLimits {
                max_header_bytes: 100,
                ..ListenerLimits::default()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::InvalidLimit { .. })));
        }
    }

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        let d = ListenerLimits::default();
        assert_eq!(d.within_open_files(None).max_connections, 4096);
        assert_eq!(d.within_open_files(Some(1024)).max_connections, 768);
        assert_eq!(d.within_open_files(Some(1 << 20)).max_connections, 4096);
        assert_eq!(d.within_open_files(Some(1)).max_connections, 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        let l = |ms| ListenerLimits {
            retry_after: Duration::from_millis(ms),
            ..ListenerLimits::default()
        };
        assert_eq!(l(1).retry_after_secs(), 1);
        assert_eq!(l(1000).retry_after_secs(), 1);
        assert_eq!(l(2500).retry_after_secs(), 3);
    }
}
