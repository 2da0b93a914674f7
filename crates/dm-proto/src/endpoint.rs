//! What both ends of a DM session keep alike: the event queue, the idle timer, how a session
//! ends, the nonce issued to the peer until a message carries it, and the message being built
//! (the outbox, the statuses and header Status owed to the peer, the trailer alerts, `Final`).
//!
//! [`crate::ClientSession`] and [`crate::ServerSession`] each embed one [`Endpoint`]; what differs
//! between the two sides (who starts packages, how the peer's header is checked, where a
//! message goes) stays in `client.rs` and `server.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use syncml::auth::AuthScheme;
use syncml::{
    AlertCode, Chal, Command, Encoding, Item, Location, Meta, Status, StatusCode, SyncHdr, SyncMl,
    Version,
};

use crate::credentials::{Credentials, NonceSource, Verdict, fresh_nonce};
use crate::header::{
    MAX_PEER_MAX_MSG_SIZE, MIN_PEER_MAX_MSG_SIZE, SessionEnd, alert, answerable, header_status,
    peer_limits, status,
};
use crate::large_object::Assembler;
use crate::package::{Composed, Outgoing, compose, is_header_status};
use crate::{Error, Timestamp, Transmit};

/// The events both sides report alike.
pub(crate) trait SessionEvent {
    /// The session is over.
    fn ended(how: SessionEnd) -> Self;
    /// A nonce we issued to the peer went out: the application persists it.
    fn nonce_issued(nonce: Vec<u8>) -> Self;
    /// The peer gave us a new nonce for our next credentials: the application persists it.
    fn nonce_received(nonce: Vec<u8>) -> Self;
}

/// What the peer's Status for our header decided about our credentials.
pub(crate) enum OwnVerdict {
    /// Accepted (200 or 212). `first`: the first time; `nonce`: the next nonce the peer gave
    /// us, already adopted (the caller reports it, in its side's order of events).
    Accepted {
        /// The first acceptance in this session.
        first: bool,
        /// The nonce of the `Chal`, if any.
        nonce: Option<Vec<u8>>,
    },
    /// Challenged (401/407 with `Chal`): scheme and nonce adopted and reported; what the
    /// refused message carried is to be sent again with new credentials.
    Challenged,
    /// Nothing more to do: another status, or a refusal for good (the session has ended with
    /// [`SessionEnd::AuthFailed`]).
    Settled,
}

/// The state one end of a session keeps whichever side it is. `E` is the side's event type,
/// `T` the tag of its outbox entries (the server's command handles).
pub(crate) struct Endpoint<E, T> {
    /// Where fresh nonces for the peer come from.
    nonces: Box<dyn NonceSource>,
    /// Events not yet polled.
    pub(crate) events: VecDeque<E>,
    /// When the last message arrived or left (the idle timer runs from there).
    pub(crate) last_activity: Timestamp,
    /// How the session ended, once it has.
    pub(crate) ended: Option<SessionEnd>,
    /// A nonce issued to the peer whose `Chal` no message has carried yet.
    pub(crate) issued_pending: Option<Vec<u8>>,
    /// The peer's `MaxMsgSize`: the last it announced, or the one assumed until it does.
    pub(crate) peer_max_msg: usize,
    /// The peer's `MaxObjSize`, once it announced one.
    pub(crate) peer_max_obj: Option<usize>,
    /// `MsgID` of the last message we sent.
    pub(crate) msg_id: u32,
    /// The commands still to send in our current package.
    pub(crate) outbox: VecDeque<Outgoing<T>>,
    /// The outbox entries the last message took, as they were before: a challenge refusing
    /// that message puts them back (without the header Status) to send them again.
    pub(crate) last_sent: Vec<Outgoing<T>>,
    /// `Composed::pushed_back` of the last message.
    pub(crate) last_pushed_back: usize,
    /// The next message refuses the peer's: it carries no commands.
    pub(crate) refusing: bool,
    /// Statuses owed to the peer's commands, for the next message.
    pub(crate) statuses: Vec<Command>,
    /// Status owed to the peer's header, for the next message.
    pub(crate) hdr_status: Option<Command>,
    /// A message is to be sent.
    pub(crate) reply_due: bool,
    /// The next message asks for the peer's next message (Alert 1222).
    pub(crate) want_more: bool,
    /// The next message may carry `Final` once the outbox is empty.
    pub(crate) may_close: bool,
    /// The next message carries Alert 1223.
    pub(crate) abort_requested: bool,
    /// The session ends, this way, once the next message is out (it carries `Final`).
    pub(crate) end_after_send: Option<SessionEnd>,
    /// Large objects being received.
    pub(crate) assembler: Assembler,
    /// The peer proved its credentials.
    pub(crate) peer_authenticated: bool,
    /// How many times the peer failed to prove its credentials.
    pub(crate) peer_auth_failures: u32,
    /// The peer accepted our credentials.
    own_authenticated: bool,
    /// How many times the peer refused our credentials.
    own_auth_attempts: u32,
    /// Our next header carries `Cred`.
    pub(crate) cred_needed: bool,
    /// When the peer refuses our credentials for good, answer it once more (statuses, Alert
    /// 1223, `Final`) instead of ending at once: the server side, whose peer waits for the
    /// HTTP response to its refusal.
    pub(crate) answer_own_refusal: bool,
    /// The last message carried statuses only though commands were waiting (a peer
    /// `MaxMsgSize` too small for them): the next one carries a command whatever its size.
    starved: bool,
    /// What clamping the peer's announced `MaxMsgSize` changed, to tell the peer once.
    pub(crate) clamped: Option<String>,
}

impl<E: SessionEvent, T: Clone> Endpoint<E, T> {
    /// A fresh endpoint; `reply_due` is true when this side speaks first, `cred_needed` when
    /// its first header carries `Cred`, `peer_max_msg` is the peer's `MaxMsgSize` until it
    /// announces one.
    pub(crate) fn new(
        nonces: Box<dyn NonceSource>,
        now: Timestamp,
        reply_due: bool,
        cred_needed: bool,
        peer_max_msg: usize,
    ) -> Self {
        Endpoint {
            nonces,
            events: VecDeque::new(),
            last_activity: now,
            ended: None,
            issued_pending: None,
            peer_max_msg,
            peer_max_obj: None,
            msg_id: 0,
            outbox: VecDeque::new(),
            last_sent: Vec::new(),
            last_pushed_back: 0,
            refusing: false,
            statuses: Vec::new(),
            hdr_status: None,
            reply_due,
            want_more: false,
            may_close: true,
            abort_requested: false,
            end_after_send: None,
            assembler: Assembler::default(),
            peer_authenticated: false,
            peer_auth_failures: 0,
            own_authenticated: false,
            own_auth_attempts: 0,
            cred_needed,
            answer_own_refusal: false,
            starved: false,
            clamped: None,
        }
    }

    /// The next event for the application, if any.
    pub(crate) fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }

    /// The idle deadline, or `None` once ended.
    pub(crate) fn poll_timeout(&self, idle_timeout: Duration) -> Option<Timestamp> {
        self.ended
            .is_none()
            .then(|| self.last_activity + idle_timeout)
    }

    /// Ends the session with `SessionEnd::TimedOut` when the peer stayed silent too long.
    pub(crate) fn handle_timeout(&mut self, now: Timestamp, idle_timeout: Duration) {
        if self.ended.is_none() && now >= self.last_activity + idle_timeout {
            self.end(SessionEnd::TimedOut);
        }
    }

    /// A message of the peer arrived at `now`: the idle timer restarts, and the limits its
    /// header announces (`MaxMsgSize`, `MaxObjSize`) hold from now on.
    pub(crate) fn received(&mut self, now: Timestamp, hdr: &SyncHdr) {
        self.last_activity = now;
        let (max_msg, max_obj) = peer_limits(hdr);
        if let Some(m) = max_msg {
            let sane = m.clamp(MIN_PEER_MAX_MSG_SIZE, MAX_PEER_MAX_MSG_SIZE);
            if sane != m && self.peer_max_msg != sane {
                self.clamped = Some(format!(
                    "MaxMsgSize {m} is outside {MIN_PEER_MAX_MSG_SIZE}..={MAX_PEER_MAX_MSG_SIZE}: using {sane}"
                ));
            }
            self.peer_max_msg = sane;
        }
        if max_obj.is_some() {
            self.peer_max_obj = max_obj;
        }
    }

    /// True when an item's data is larger than the `MaxObjSize` the peer announced.
    pub(crate) fn above_peer_max_obj(&self, items: &[Item]) -> bool {
        self.peer_max_obj.is_some_and(|max| {
            items
                .iter()
                .any(|i| i.data.as_ref().is_some_and(|d| d.len() > max))
        })
    }

    /// Ends the session (once) and reports it.
    pub(crate) fn end(&mut self, how: SessionEnd) {
        if self.ended.is_none() {
            // A nonce no message carried never takes effect.
            self.issued_pending = None;
            self.ended = Some(how);
            self.events.push_back(E::ended(how));
        }
    }

    /// Asks for the next message to carry Alert 1223 and `Final`, ending the session
    /// (`SessionEnd::Aborted { by_peer: false }`). Nothing once the session has ended.
    pub(crate) fn request_abort(&mut self) {
        if self.ended.is_none() {
            self.abort_requested = true;
            self.end_after_send = Some(SessionEnd::Aborted { by_peer: false });
            self.reply_due = true;
        }
    }

    /// A fresh nonce for the peer's next credentials. It takes effect (and is reported) only
    /// with the message carrying it: see [`commit_issued_nonce`](Self::commit_issued_nonce).
    pub(crate) fn issue_nonce(&mut self) -> Vec<u8> {
        let n = fresh_nonce(self.nonces.as_mut());
        self.issued_pending = Some(n.clone());
        n
    }

    /// The message carrying the pending issued nonce goes out: the peer's credentials are
    /// checked against it from now on, and it is reported (`NonceIssued`). Returns the nonce
    /// it replaced in `peer`, if it replaced one.
    pub(crate) fn commit_issued_nonce(
        &mut self,
        peer: Option<&mut Credentials>,
    ) -> Option<Vec<u8>> {
        let n = self.issued_pending.take()?;
        let previous = peer.map(|c| std::mem::replace(&mut c.nonce, n.clone()));
        self.events.push_back(E::nonce_issued(n));
        previous
    }

    /// The peer's credentials verified: the header Status code (212, or 200 per message with
    /// `syncml:auth-MAC`) and the `Chal` with a fresh nonce for its next credentials. True
    /// in the third place the first time the peer is authenticated.
    pub(crate) fn peer_verified(&mut self, expect: &Credentials) -> (StatusCode, Chal, bool) {
        let first = !self.peer_authenticated;
        self.peer_authenticated = true;
        let next = self.issue_nonce();
        let code = if expect.scheme == AuthScheme::Hmac {
            StatusCode::OK
        } else {
            StatusCode::AUTH_ACCEPTED
        };
        (code, expect.chal(Some(&next)), first)
    }

    /// The peer's credentials failed (`verdict` is not `Ok`): the refusal (401/407) and the
    /// `Chal` to send, with the current nonce when the peer sent no credentials and a fresh
    /// one otherwise. No `Chal` once `max_attempts` failures are reached: the session gives
    /// the peer up.
    pub(crate) fn peer_refused(
        &mut self,
        expect: &Credentials,
        verdict: Verdict,
        max_attempts: u32,
    ) -> (StatusCode, Option<Chal>) {
        self.peer_auth_failures += 1;
        if self.peer_auth_failures >= max_attempts {
            return (verdict.refusal(), None);
        }
        let nonce = if verdict == Verdict::Wrong || expect.nonce.is_empty() {
            self.issue_nonce()
        } else {
            expect.nonce.clone()
        };
        (verdict.refusal(), Some(expect.chal(Some(&nonce))))
    }

    /// The peer's Status `s` for our header, with our credentials `own` (their scheme and
    /// nonce follow the peer's `Chal`). 212 stops sending `Cred` (except with
    /// `syncml:auth-MAC`); a 401/407 with `Chal` within `max_attempts` asks for it again,
    /// anything else refusing us ends the session.
    pub(crate) fn own_verdict(
        &mut self,
        s: &Status,
        own: &mut Credentials,
        max_attempts: u32,
    ) -> OwnVerdict {
        let chal = s
            .chal
            .as_ref()
            .and_then(|c| syncml::auth::parse_chal(c).ok());
        match s.code {
            StatusCode::OK | StatusCode::AUTH_ACCEPTED => {
                if s.code == StatusCode::AUTH_ACCEPTED && own.scheme != AuthScheme::Hmac {
                    self.cred_needed = false;
                }
                let first = !self.own_authenticated;
                self.own_authenticated = true;
                let nonce = match chal {
                    Some((_, Some(n))) => {
                        own.nonce.clone_from(&n);
                        Some(n)
                    }
                    _ => None,
                };
                OwnVerdict::Accepted { first, nonce }
            }
            StatusCode::INVALID_CREDENTIALS | StatusCode::MISSING_CREDENTIALS => {
                self.own_auth_attempts += 1;
                match chal {
                    Some((scheme, nonce)) if self.own_auth_attempts < max_attempts => {
                        own.scheme = scheme;
                        if let Some(n) = nonce {
                            own.nonce.clone_from(&n);
                            self.events.push_back(E::nonce_received(n));
                        }
                        self.cred_needed = true;
                        OwnVerdict::Challenged
                    }
                    _ if self.answer_own_refusal => {
                        self.request_abort();
                        self.end_after_send = Some(SessionEnd::AuthFailed);
                        OwnVerdict::Settled
                    }
                    _ => {
                        self.end(SessionEnd::AuthFailed);
                        OwnVerdict::Settled
                    }
                }
            }
            _ => OwnVerdict::Settled,
        }
    }

    /// Our header for the next message (`MsgID` already counted): `Cred` from `own` while
    /// the peer has not accepted it, our limits in `Meta`.
    ///
    /// # Errors
    /// What building `Cred` from `own` fails with.
    pub(crate) fn header(
        &self,
        own: Option<&Credentials>,
        session_id: String,
        target: String,
        source: String,
        resp_uri: Option<String>,
        limits: Meta,
    ) -> Result<SyncHdr, Error> {
        let cred = match own {
            Some(c) if self.cred_needed => c.cred()?,
            _ => None,
        };
        Ok(SyncHdr {
            ver_dtd: Version::V1_2.ver_dtd().to_owned(),
            ver_proto: Version::V1_2.ver_proto().to_owned(),
            session_id,
            msg_id: self.msg_id.to_string(),
            target: Location::uri(target),
            source: Location {
                loc_uri: source,
                loc_name: own.map(|c| c.name.clone()),
            },
            resp_uri,
            no_resp: false,
            cred,
            meta: Some(limits),
        })
    }

    /// Refuses the peer's whole message: its header gets `code` (with `chal`), and every
    /// command the same `code`; the next message carries statuses only.
    pub(crate) fn refuse_message(&mut self, msg: &SyncMl, code: StatusCode, chal: Option<Chal>) {
        self.hdr_status = Some(header_status(&msg.hdr, code, chal));
        for cmd in msg.body.commands.iter().filter(|c| answerable(c)) {
            self.statuses.push(Command::Status(status(
                &msg.hdr.msg_id,
                cmd.cmd_id(),
                cmd.name(),
                code,
            )));
        }
        self.refusing = true;
    }

    /// The peer refused our last message (a challenge): put back what it carried, without
    /// its header Status, to send it again.
    pub(crate) fn restore_refused(&mut self) {
        Composed::restore(
            &self.last_sent,
            self.last_pushed_back,
            &mut self.outbox,
            is_header_status,
        );
    }

    /// Composes the next message under `hdr`, within the peer's `MaxMsgSize`: the header
    /// Status, the statuses, then what fits of the outbox (nothing of it in a refusal), then
    /// Alert 1223 or 1222 as asked. Statuses are put in the outbox with the tag `untagged`.
    pub(crate) fn compose_message(
        &mut self,
        encoding: Encoding,
        hdr: SyncHdr,
        untagged: &T,
    ) -> Composed<T> {
        // A refusal carries statuses only (digest §4.2): the commands wait behind it.
        let refusing = std::mem::take(&mut self.refusing);
        let held = if refusing {
            std::mem::take(&mut self.outbox)
        } else {
            VecDeque::new()
        };
        for s in std::mem::take(&mut self.statuses).into_iter().rev() {
            self.outbox.push_front(Outgoing::new(s, untagged.clone()));
        }
        if let Some(s) = self.hdr_status.take() {
            self.outbox.push_front(Outgoing::new(s, untagged.clone()));
        }
        let trailer = if self.abort_requested {
            vec![alert(AlertCode::SESSION_ABORT)]
        } else if self.want_more {
            vec![alert(AlertCode::NEXT_MESSAGE)]
        } else {
            Vec::new()
        };
        let mut composed = compose(
            encoding,
            self.peer_max_msg,
            hdr,
            &mut self.outbox,
            trailer,
            self.may_close,
            // A refusal (statuses only) goes out whole: the peer may retry from scratch.
            self.starved || refusing,
        );
        // Statuses only, though more waited: the next message carries it whatever its size.
        self.starved = !self.outbox.is_empty()
            && composed
                .msg
                .body
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(_) | Command::Alert(_)));
        self.outbox.extend(held);
        self.last_sent = std::mem::take(&mut composed.consumed);
        self.last_pushed_back = composed.pushed_back;
        composed
    }

    /// Finishes a composed message: `Final` and the end of the session when it was the last
    /// one, then the bytes, with the `x-syncml-hmac` value when `own` credentials use
    /// `syncml:auth-MAC`.
    pub(crate) fn transmit(
        &mut self,
        mut msg: SyncMl,
        encoding: Encoding,
        own: Option<&Credentials>,
        url: Option<String>,
    ) -> Transmit {
        if let Some(how) = self.end_after_send.take() {
            msg.body.is_final = true;
            self.outbox.clear();
            self.end(how);
        }
        let bytes = encoding.encode(&msg);
        let hmac = own.and_then(|c| c.hmac_header(&bytes));
        Transmit {
            bytes,
            content_type: encoding.content_type(),
            url,
            hmac,
        }
    }
}
