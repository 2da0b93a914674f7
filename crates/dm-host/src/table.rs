//! The live sessions: keyed by `RespURI` token, findable by (device, `SessionID`), with one
//! ordered set of idle deadlines (each session's `ServerSession::poll_timeout`) that the
//! host's timer task sleeps on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dm_proto::Timestamp;
use tokio::sync::Notify;

use crate::backend::SessionInfo;
use crate::session::Live;

/// The secret key of a session (its `RespURI` token): 128 random bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Token(pub(crate) u128);

impl Token {
    pub(crate) fn random() -> Token {
        Token(rand::random())
    }

    /// The token of a `RespURI` path segment: exactly 32 lowercase hex digits.
    pub(crate) fn parse(s: &str) -> Option<Token> {
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Token)
    }

    pub(crate) fn text(self) -> String {
        format!("{:032x}", self.0)
    }
}

enum Slot<S> {
    /// Waiting for the device's next message, until `deadline`.
    Idle {
        live: Box<Live<S>>,
        deadline: Option<Timestamp>,
    },
    /// A request of the session is being processed.
    Busy(Arc<SessionInfo>),
}

struct Inner<S> {
    slots: HashMap<Token, Slot<S>>,
    /// (device id, SessionID) -> token.
    by_session: HashMap<(String, String), Token>,
    deadlines: BTreeSet<(Timestamp, Token)>,
}

/// What [`SessionTable::checkout`] found.
pub(crate) enum Checkout<S> {
    Got(Box<Live<S>>),
    Missing,
    Busy,
}

/// Live sessions and their deadlines.
pub(crate) struct SessionTable<S> {
    inner: Mutex<Inner<S>>,
    /// Woken when a deadline earlier than every other one is added.
    pub(crate) earlier: Notify,
}

impl<S> SessionTable<S> {
    pub(crate) fn new() -> Self {
        SessionTable {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                by_session: HashMap::new(),
                deadlines: BTreeSet::new(),
            }),
            earlier: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of live sessions (idle or busy).
    pub(crate) fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Takes out the session of `token` to process one of its messages (its slot stays,
    /// busy).
    pub(crate) fn checkout(&self, token: Token) -> Checkout<S> {
        let mut g = self.lock();
        let Some(slot) = g.slots.get_mut(&token) else {
            return Checkout::Missing;
        };
        let info = match slot {
            Slot::Busy(_) => return Checkout::Busy,
            Slot::Idle { live, .. } => live.info.clone(),
        };
        match std::mem::replace(slot, Slot::Busy(info)) {
            Slot::Idle { live, deadline } => {
                if let Some(d) = deadline {
                    g.deadlines.remove(&(d, token));
                }
                Checkout::Got(live)
            }
            Slot::Busy(_) => Checkout::Busy,
        }
    }

    /// Reserves a busy slot for a new session and returns the idle session of the same
    /// device and `SessionID`, taken out, if there is one.
    pub(crate) fn reserve(&self, token: Token, info: Arc<SessionInfo>) -> Option<Box<Live<S>>> {
        let mut g = self.lock();
        let key = (info.device_id.clone(), info.session_id.clone());
        let old = g.by_session.insert(key, token);
        g.slots.insert(token, Slot::Busy(info));
        let old = old.filter(|t| *t != token)?;
        match g.slots.remove(&old) {
            Some(Slot::Idle { live, deadline }) => {
                if let Some(d) = deadline {
                    g.deadlines.remove(&(d, old));
                }
                Some(live)
            }
            Some(busy @ Slot::Busy(_)) => {
                // Being processed: it ends on its own (timeout) and is no longer findable.
                g.slots.insert(old, busy);
                None
            }
            None => None,
        }
    }

    /// Puts a session back, idle until its deadline.
    pub(crate) fn checkin(&self, token: Token, live: Box<Live<S>>) {
        let deadline = live.session.poll_timeout();
        let mut g = self.lock();
        let wake = match deadline {
            Some(d) => {
                let first = g.deadlines.first().is_none_or(|(f, _)| d < *f);
                g.deadlines.insert((d, token));
                first
            }
            None => false,
        };
        g.slots.insert(token, Slot::Idle { live, deadline });
        drop(g);
        if wake {
            self.earlier.notify_one();
        }
    }

    /// Removes the slot of a session that is over (and its (device, `SessionID`) entry if
    /// it still points to it).
    pub(crate) fn forget(&self, token: Token, info: &SessionInfo) {
        let mut g = self.lock();
        if let Some(Slot::Idle {
            deadline: Some(d), ..
        }) = g.slots.remove(&token)
        {
            g.deadlines.remove(&(d, token));
        }
        let key = (info.device_id.clone(), info.session_id.clone());
        if g.by_session.get(&key) == Some(&token) {
            g.by_session.remove(&key);
        }
    }

    /// Removes a busy slot whose request failed (panicked): its session info, to end it, if
    /// the slot was still there.
    pub(crate) fn abandon(&self, token: Token) -> Option<Arc<SessionInfo>> {
        let mut g = self.lock();
        let info = match g.slots.get(&token)? {
            Slot::Busy(info) => info.clone(),
            Slot::Idle { .. } => return None,
        };
        g.slots.remove(&token);
        let key = (info.device_id.clone(), info.session_id.clone());
        if g.by_session.get(&key) == Some(&token) {
            g.by_session.remove(&key);
        }
        Some(info)
    }

    /// The earliest deadline of an idle session.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.lock().deadlines.first().map(|(d, _)| *d)
    }

    /// Takes out every idle session whose deadline is at or before `now` (their slots
    /// become busy: end them with [`forget`](Self::forget)).
    pub(crate) fn take_expired(&self, now: Timestamp) -> Vec<(Token, Box<Live<S>>)> {
        let mut g = self.lock();
        let mut out = Vec::new();
        while let Some(&(d, token)) = g.deadlines.first() {
            if d > now {
                break;
            }
            g.deadlines.remove(&(d, token));
            let Some(slot) = g.slots.get_mut(&token) else {
                continue;
            };
            let info = match slot {
                Slot::Idle { live, .. } => live.info.clone(),
                Slot::Busy(_) => continue,
            };
            if let Slot::Idle { live, .. } = std::mem::replace(slot, Slot::Busy(info)) {
                out.push((token, live));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_round_trip() {
        let t = Token::random();
        assert_eq!(Token::parse(&t.text()), Some(t));
        assert_eq!(Token::parse("0123456789abcdef"), None);
        assert_eq!(Token::parse(&"G".repeat(32)), None);
        assert_eq!(Token::parse(&"A".repeat(32)), None);
    }
}
