//! Driving one `dm_proto::ServerSession` per DM session: package 1 (identify, authenticate,
//! admit, open), every later message, expiry and the end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use dm_proto::{
    AuthScheme, CommandHandle, Credentials, ServerConfig, ServerEvent, ServerSession, SessionEnd,
    StoredSecret, Timestamp,
};
use rand::RngCore as _;
use syncml::{Command, Encoding, SyncMl};

use crate::Host;
use crate::backend::{Account, Backend, Claim, End, Ending, Event, SessionInfo};
use crate::http::{Family, Incoming, Reply};
use crate::log::Untrusted;
use crate::table::{Checkout, Token};

/// Where an authenticated session is in its life.
pub(crate) enum Phase {
    /// Exchanging messages.
    Open,
    /// Over (the host ends it with the backend once the current message is answered).
    Ended(End),
}

/// One authenticated session between two messages.
pub(crate) struct Live<S> {
    pub(crate) session: ServerSession,
    pub(crate) info: Arc<SessionInfo>,
    /// The backend's state.
    state: S,
    phase: Phase,
    /// The media type family of the device's last request (answered in kind).
    family: Family,
    peer: Option<SocketAddr>,
    /// Handle of each queued command -> its position among the backend's commands.
    handles: HashMap<CommandHandle, usize>,
    queued: usize,
    /// The nonce [`Backend::admit`] stored (not to be reported again at the end).
    admitted_nonce: Option<Vec<u8>>,
    client_nonce: Option<Vec<u8>>,
    server_nonce: Option<Vec<u8>>,
}

impl<S> Live<S> {
    fn queue(&mut self, commands: Vec<Command>) {
        for cmd in commands {
            let handle = self.session.queue(cmd);
            self.handles.insert(handle, self.queued);
            self.queued += 1;
        }
    }

    /// The session's events since the last call, for the backend; nonces and the end kept.
    fn collect(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(ev) = self.session.poll_event() {
            match ev {
                ServerEvent::NonceIssued(n) if self.admitted_nonce.as_ref() != Some(&n) => {
                    self.client_nonce = Some(n);
                }
                ServerEvent::NonceReceived(n) => self.server_nonce = Some(n),
                ServerEvent::DevInfo(items) => out.push(Event::DevInfo(items)),
                ServerEvent::Alert(a) => out.push(Event::Alert(a)),
                ServerEvent::Status {
                    handle,
                    path,
                    code,
                    status,
                } => {
                    if let Some(&command) = self.handles.get(&handle) {
                        out.push(Event::Status {
                            command,
                            path,
                            code,
                            status,
                        });
                    }
                }
                ServerEvent::Results {
                    handle,
                    path,
                    results,
                } => {
                    if let Some(&command) = self.handles.get(&handle) {
                        out.push(Event::Results {
                            command,
                            path,
                            results,
                        });
                    }
                }
                ServerEvent::Ended(how) => {
                    let device = Untrusted(&self.info.device_id);
                    match how {
                        SessionEnd::AuthFailed => tracing::warn!(
                            %device,
                            "session ended: the device refused the server's credentials"
                        ),
                        SessionEnd::PeerAuthFailed => tracing::warn!(
                            %device, peer = ?self.peer,
                            "session ended: the device failed to authenticate"
                        ),
                        _ => tracing::debug!(%device, end = ?how, "session ended"),
                    }
                    self.phase = Phase::Ended(End::Session(how));
                }
                _ => {}
            }
        }
        out
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn random_nonce() -> Vec<u8> {
    let mut b = vec![0u8; dm_proto::NONCE_LEN];
    rand::rng().fill_bytes(&mut b);
    b
}

/// The scheme of the credentials a message presents.
fn offered(msg: &SyncMl, hmac: bool) -> Option<AuthScheme> {
    if hmac {
        return Some(AuthScheme::Hmac);
    }
    let t = msg.hdr.cred.as_ref()?.meta.as_ref()?.r#type.as_deref()?;
    AuthScheme::from_meta_type(t)
}

/// An account nobody can authenticate as: an unknown sender gets the protocol's answer.
fn stranger(device_id: &str, name: &str) -> Account {
    Account {
        device_id: device_id.to_owned(),
        client: Some(Credentials {
            scheme: AuthScheme::Md5,
            name: name.to_owned(),
            secret: StoredSecret::UserHash(random_hex()),
            nonce: Vec::new(),
        }),
        server: None,
        provisional: false,
    }
}

/// What package 1 turned out to be.
enum Opening {
    /// Not authenticated (unknown, no or wrong credentials): answered, nothing kept.
    Refused(ServerSession),
    /// Authenticated and admitted.
    Admitted(ServerSession),
}

impl<B: Backend> Host<B> {
    fn session_config(&self, account: &Account) -> ServerConfig {
        let mut config = ServerConfig::new(self.config.server_id.clone());
        config.max_msg_size = self.config.max_msg_size;
        config.limits = self.config.limits;
        config.idle_timeout = self.config.session_timeout;
        config.credentials.clone_from(&account.server);
        config
    }

    fn new_session(&self, account: &Account, now: Timestamp) -> ServerSession {
        let nonces = Box::new(|buf: &mut [u8]| rand::rng().fill_bytes(buf));
        ServerSession::new(
            self.session_config(account),
            account.client.clone(),
            nonces,
            now,
        )
    }

    /// Answers a message with what `session` (which refused it) says, keeping only the
    /// challenge nonce it issued, for a known device.
    fn answer_refusal(
        &self,
        mut session: ServerSession,
        device_id: &str,
        known: bool,
        family: Family,
        now: Timestamp,
    ) -> Reply {
        let transmit = session.poll_transmit(now);
        while let Some(ev) = session.poll_event() {
            if let ServerEvent::NonceIssued(n) = ev
                && known
            {
                self.challenges.insert(device_id, n);
            }
        }
        match transmit {
            Some(t) => Reply::message(t, family),
            None => Reply::failure(),
        }
    }

    /// Package 1 (`POST /dm`): runs it to its answer. `token` becomes the session's key if
    /// it authenticates.
    pub(crate) async fn first_message(
        self: &Arc<Self>,
        token: Token,
        inc: Incoming,
        msg: SyncMl,
    ) -> Reply {
        let now = self.clock.now();
        let device_id = msg.hdr.source.loc_uri.clone();
        let session_id = msg.hdr.session_id.clone();
        let auth_name = msg.hdr.source.loc_name.clone();
        let claim = Claim {
            device_id: &device_id,
            auth_name: auth_name.as_deref(),
            offered: offered(&msg, inc.hmac.is_some()),
            peer: inc.peer,
        };
        let presented = msg.hdr.cred.is_some() || inc.hmac.is_some();
        let looked_up = match self.backend.account(&claim).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "backend failure looking up an account");
                return Reply::failure();
            }
        };
        let account = match looked_up {
            Some(a) if a.device_id == device_id => Some(a),
            Some(_) => {
                tracing::warn!(
                    device = %Untrusted(&device_id),
                    auth_name = %Untrusted(auth_name.as_deref().unwrap_or("")),
                    "refused: the auth name belongs to another device"
                );
                None
            }
            None => None,
        };
        let known = account.is_some();
        let account = account.unwrap_or_else(|| {
            tracing::warn!(
                device = %Untrusted(&device_id),
                auth_name = %Untrusted(auth_name.as_deref().unwrap_or("")),
                peer = ?inc.peer,
                "unknown device refused"
            );
            stranger(&device_id, auth_name.as_deref().unwrap_or(&device_id))
        });
        let challenge = known.then(|| self.challenges.get(&device_id)).flatten();
        let opening = match self
            .open(&account, known, challenge.as_deref(), &inc, msg, now)
            .await
        {
            Ok(o) => o,
            Err(reply) => return *reply,
        };
        let session = match opening {
            Opening::Refused(session) => {
                if known && presented {
                    tracing::warn!(
                        device = %Untrusted(&device_id), peer = ?inc.peer,
                        "the device failed to authenticate (wrong credentials): challenge sent"
                    );
                } else if known {
                    tracing::info!(
                        device = %Untrusted(&device_id), peer = ?inc.peer,
                        "device not authenticated: no credentials, challenge sent"
                    );
                }
                return self.answer_refusal(session, &device_id, known, inc.family, now);
            }
            Opening::Admitted(session) => session,
        };
        let info = Arc::new(SessionInfo {
            key: token.text(),
            device_id,
            session_id,
            peer: inc.peer,
        });
        // Only an authenticated message may end the device's open session of this SessionID.
        if let Some(old) = self.table.reserve(token, info.clone()) {
            let old_token = Token::parse(&old.info.key);
            tracing::debug!(device = %Untrusted(&info.device_id), "session restarted: the old one ends");
            if let Some(t) = old_token {
                self.finish(t, old, End::Replaced).await;
            }
        }
        let opened = match self.backend.authenticated(&info, &account).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, device = %Untrusted(&info.device_id), "backend failure opening a session");
                self.table.forget(token, &info);
                self.end_without_state(&info, End::Failed, inc.peer).await;
                return Reply::failure();
            }
        };
        let mut session = session;
        session.set_resp_uri(format!("{}/dm/s/{}", inc.base_url, token.text()));
        let admitted_nonce = session.next_nonce().map(<[u8]>::to_vec);
        let mut live = Box::new(Live {
            session,
            info,
            state: opened.state,
            phase: Phase::Open,
            family: inc.family,
            peer: inc.peer,
            handles: HashMap::new(),
            queued: 0,
            admitted_nonce,
            client_nonce: None,
            server_nonce: None,
        });
        live.queue(opened.commands);
        self.exchange(token, live, now).await
    }

    /// Identifies and authenticates package 1 and, once it verified, admits it with the
    /// backend (consuming the nonce it used).
    async fn open(
        &self,
        account: &Account,
        known: bool,
        challenge: Option<&[u8]>,
        inc: &Incoming,
        msg: SyncMl,
        now: Timestamp,
    ) -> Result<Opening, Box<Reply>> {
        let mut session = self.new_session(account, now);
        if let Some(c) = challenge {
            session.allow_challenge_nonce(c);
        }
        if let Err(e) =
            session.handle_decoded(now, inc.encoding, msg, &inc.body, inc.hmac.as_deref())
        {
            tracing::warn!(error = %Untrusted(&e.to_string()), "package 1 not processed");
            return Err(Box::new(Reply::malformed(&e.to_string())));
        }
        if !known || !session.is_authenticated() || session.ended().is_some() {
            return Ok(Opening::Refused(session));
        }
        let device_id = &account.device_id;
        let used = session.verified_nonce().map(<[u8]>::to_vec);
        // A challenge nonce authenticates once: the first taker wins.
        if let (Some(c), Some(u)) = (challenge, used.as_deref())
            && c == u
            && !self.challenges.take(device_id, c)
        {
            return Ok(self.refuse_replay(account, inc, now));
        }
        // The nonce the device authenticated with is replaced in the account now, before
        // anything else happens: a replay of this message (or a racing copy) loses here.
        let next = match (used.is_some(), session.next_nonce()) {
            (_, Some(n)) => Some(n.to_vec()),
            (true, None) => Some(random_nonce()),
            (false, None) => None,
        };
        match self.backend.admit(account, next.as_deref()).await {
            Ok(true) => {
                self.challenges.forget(device_id);
                Ok(Opening::Admitted(session))
            }
            Ok(false) => {
                tracing::warn!(
                    device = %Untrusted(device_id), peer = ?inc.peer,
                    "refused: credentials with a nonce already used (a replayed message?)"
                );
                Ok(self.refuse_replay(account, inc, now))
            }
            Err(e) => {
                tracing::error!(error = %e, device = %Untrusted(device_id), "backend failure admitting a device");
                Err(Box::new(Reply::failure()))
            }
        }
    }

    /// The refusal of credentials whose nonce is spent: the message again through a session
    /// that expects a nonce nobody has, so it gets 401 and a fresh challenge.
    fn refuse_replay(&self, account: &Account, inc: &Incoming, now: Timestamp) -> Opening {
        let mut spent = account.clone();
        if let Some(c) = spent.client.as_mut() {
            c.nonce = random_nonce();
        }
        let mut session = self.new_session(&spent, now);
        // The message decoded before: decoding it again is bounded by the same limits.
        if let Ok(msg) = inc.encoding.decode(&inc.body, &self.config.limits) {
            let _ = session.handle_decoded(now, inc.encoding, msg, &inc.body, inc.hmac.as_deref());
        }
        Opening::Refused(session)
    }

    /// A later message of a session (`POST /dm/s/{token}`).
    pub(crate) async fn next_message(
        self: &Arc<Self>,
        token: Token,
        inc: Incoming,
        msg: SyncMl,
    ) -> Reply {
        let mut live = match self.table.checkout(token) {
            Checkout::Got(live) => live,
            Checkout::Missing => return Reply::unknown_session(),
            Checkout::Busy => return Reply::busy(),
        };
        let now = self.clock.now();
        if let Err(e) =
            live.session
                .handle_decoded(now, inc.encoding, msg, &inc.body, inc.hmac.as_deref())
        {
            // A message the session cannot take does not end it.
            tracing::warn!(
                device = %Untrusted(&live.info.device_id),
                error = %Untrusted(&e.to_string()),
                "message refused"
            );
            self.table.checkin(token, live);
            return Reply::malformed(&e.to_string());
        }
        live.family = inc.family;
        if inc.peer.is_some() {
            live.peer = inc.peer;
        }
        self.exchange(token, live, now).await
    }

    /// Hands the events of the message just handled to the backend, answers, and ends or
    /// keeps the session.
    async fn exchange(
        self: &Arc<Self>,
        token: Token,
        mut live: Box<Live<B::Session>>,
        now: Timestamp,
    ) -> Reply {
        self.deliver(&mut live).await;
        let transmit = live.session.poll_transmit(now);
        self.deliver(&mut live).await;
        let reply = match transmit {
            Some(t) => Reply::message(t, live.family),
            None => {
                if matches!(live.phase, Phase::Open) {
                    live.phase = Phase::Ended(End::Failed);
                }
                Reply::failure()
            }
        };
        match live.phase {
            Phase::Open => self.table.checkin(token, live),
            Phase::Ended(end) => self.finish(token, live, end).await,
        }
        reply
    }

    /// Gives the backend the session's pending events; commands it returns are queued. A
    /// failing backend aborts the session.
    async fn deliver(&self, live: &mut Live<B::Session>) {
        let events = live.collect();
        if events.is_empty() {
            return;
        }
        match self
            .backend
            .events(&mut live.state, &live.info, events)
            .await
        {
            Ok(commands) => live.queue(commands),
            Err(e) => {
                tracing::error!(error = %e, device = %Untrusted(&live.info.device_id), "backend failure: session aborted");
                live.session.abort();
                // The abort goes out with the answer; the end is the backend's failure.
                live.collect();
                live.phase = Phase::Ended(End::Failed);
            }
        }
    }

    /// Ends a session with the backend and frees its slot.
    pub(crate) async fn finish(&self, token: Token, live: Box<Live<B::Session>>, end: End) {
        self.table.forget(token, &live.info);
        let Live {
            state,
            info,
            client_nonce,
            server_nonce,
            peer,
            ..
        } = *live;
        let ending = Ending {
            end,
            client_nonce,
            server_nonce,
            peer,
        };
        self.backend.ended(Some(state), &info, ending).await;
    }

    /// Ends a session whose state is lost (a hook failed or panicked).
    pub(crate) async fn end_without_state(
        &self,
        info: &SessionInfo,
        end: End,
        peer: Option<SocketAddr>,
    ) {
        let ending = Ending {
            end,
            client_nonce: None,
            server_nonce: None,
            peer,
        };
        self.backend.ended(None, info, ending).await;
    }

    /// Ends the sessions whose idle deadline passed.
    pub(crate) async fn expire(self: &Arc<Self>, token: Token, mut live: Box<Live<B::Session>>) {
        let now = self.clock.now();
        live.session.handle_timeout(now);
        self.deliver(&mut live).await;
        match live.phase {
            Phase::Ended(end) => {
                tracing::debug!(device = %Untrusted(&live.info.device_id), "session timed out");
                self.finish(token, live, end).await;
            }
            // Not due after all (its deadline moved): back to waiting.
            Phase::Open => self.table.checkin(token, live),
        }
    }
}

/// The family of encodings a message in `encoding` is answered in.
pub(crate) fn content_type(encoding: Encoding, family: Family) -> &'static str {
    match (family, encoding) {
        (Family::Dm, e) => e.content_type(),
        (Family::Legacy, Encoding::Xml) => crate::http::LEGACY_XML,
        (Family::Legacy, Encoding::Wbxml) => crate::http::LEGACY_WBXML,
    }
}
