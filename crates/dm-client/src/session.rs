//! Drives one `dm_proto::ClientSession` over HTTP.
//!
//! In: a started `ClientSession`, a shared `reqwest::Client`, and an executor for the server's
//! commands. Out: a [`SessionReport`] (how the session ended, what the server answered, the
//! nonces to persist). The loop is the one `dm-proto` documents: `poll_transmit` -> POST ->
//! `handle_bytes` -> drain `poll_event` -> `respond` -> `poll_transmit` ... until the session
//! has ended.

use std::future::Future;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use dm_proto::{ClientEvent, ClientSession, CommandRef, SessionEnd, Timestamp};
use syncml::{Command, Status};

use crate::Error;

/// Most messages one session may exchange before the driver gives up (a loop guard: a large
/// object of 4 MiB in 16 KiB messages needs about 260).
pub const MAX_MESSAGES: usize = 2_000;

/// The name of the HMAC header (`syncml:auth-MAC`).
pub const HMAC_HEADER: &str = "x-syncml-hmac";

/// Bytes of an error answer's body kept for [`Error::HttpStatus`].
const ERROR_TEXT_BYTES: usize = 200;

/// The largest server response a session reads: the `MaxMsgSize` the device announces plus a
/// quarter of it (at least 4 KiB) of headroom for servers that count a little differently, and
/// never more than the decoder's `max_size`. A conformant server's messages always fit.
#[must_use]
pub fn response_limit(max_msg_size: usize, decoder_max_size: usize) -> usize {
    let headroom = (max_msg_size / 4).max(4096);
    max_msg_size.saturating_add(headroom).min(decoder_max_size)
}

/// What happened in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// The `SessionID`.
    pub session_id: String,
    /// How the session ended.
    pub end: SessionEnd,
    /// Messages sent to the server.
    pub messages: usize,
    /// Server commands executed (top-level; an Atomic counts once).
    pub commands: usize,
    /// True when the server authenticated itself (or server authentication is off).
    pub server_authenticated: bool,
    /// The server's statuses for our own commands (Alert, DevInfo Replace, Generic Alerts).
    pub statuses: Vec<Status>,
    /// Last nonce the server gave us for our next credentials, if any arrived.
    pub client_nonce: Option<Vec<u8>>,
    /// Last nonce we gave the server for its next credentials, if any was issued.
    pub server_nonce: Option<Vec<u8>>,
}

impl SessionReport {
    /// True when the server closed the session normally.
    #[must_use]
    pub fn completed(&self) -> bool {
        self.end == SessionEnd::Completed
    }
}

/// Executes the commands of one server message and returns their Status / Results.
///
/// A synchronous executor (a local tree) answers every command in [`Executor::execute`]. One
/// whose work takes time (the gateway: a command for a device behind it) answers what it can
/// there, reports [`Executor::has_pending`], and yields the rest from
/// [`Executor::completion`] as it finishes; the driver then answers each command on its own
/// (`ClientSession::respond_to`) and waits on the session's timer meanwhile.
pub trait Executor {
    /// Executes `cmds`, which came in the server message `msg_id` (the payload of
    /// `ClientEvent::Commands`): the Status / Results known now.
    fn execute(
        &mut self,
        msg_id: String,
        cmds: Vec<Command>,
    ) -> impl Future<Output = Result<Vec<Command>, Error>>;

    /// True while some command's answer is still to come from [`Executor::completion`].
    fn has_pending(&self) -> bool {
        false
    }

    /// The next finished answer (Status, and Results for a Get) of a pending command; `None`
    /// when no more will come.
    fn completion(&mut self) -> impl Future<Output = Option<Vec<Command>>> {
        std::future::ready(None)
    }

    /// The session hands the server `nonce` for its next credentials (and Package 0) in the
    /// message about to be sent: an executor that persists state keeps it now, beside the one
    /// stored (the message may never arrive).
    ///
    /// # Errors
    /// The session stops (the message is not sent).
    fn nonce_issued(&mut self, nonce: &[u8]) -> impl Future<Output = Result<(), Error>> {
        let _ = nonce;
        std::future::ready(Ok(()))
    }

    /// The session gave up waiting for these commands (answered 202 at its deadline, or ended
    /// with them owed): their answers must go another way (a Generic Alert).
    fn abandoned(&mut self, refs: &[CommandRef]) {
        let _ = refs;
    }
}

/// The top-level command each command (nested ones included) of a server message belongs to,
/// by `(MsgRef, CmdID)`.
#[derive(Debug, Default)]
struct Owners(HashMap<(String, String), CommandRef>);

impl Owners {
    fn add(&mut self, msg_id: &str, commands: &[Command]) {
        fn walk(
            map: &mut HashMap<(String, String), CommandRef>,
            msg: &str,
            top: &CommandRef,
            c: &Command,
        ) {
            map.insert((msg.to_owned(), c.cmd_id().to_owned()), top.clone());
            if let Command::Atomic(x) | Command::Sequence(x) = c {
                for child in &x.commands {
                    walk(map, msg, top, child);
                }
            }
        }
        for c in commands {
            let top = CommandRef::new(msg_id, c);
            walk(&mut self.0, msg_id, &top, c);
        }
    }

    /// Answers `responses` command by command (grouped by top-level command, in order).
    fn respond(
        &self,
        session: &mut ClientSession,
        msg_id: Option<&str>,
        responses: Vec<Command>,
    ) -> Result<(), Error> {
        let mut groups: Vec<(CommandRef, Vec<Command>)> = Vec::new();
        for r in responses {
            let (msg_ref, cmd_ref) = match &r {
                Command::Status(s) => (s.msg_ref.clone(), s.cmd_ref.clone()),
                Command::Results(x) => (x.msg_ref.clone().unwrap_or_default(), x.cmd_ref.clone()),
                _ => continue,
            };
            let msg_ref = match (msg_ref.is_empty(), msg_id) {
                (true, Some(m)) => m.to_owned(),
                _ => msg_ref,
            };
            let Some(top) = self.0.get(&(msg_ref, cmd_ref)) else {
                continue;
            };
            match groups.last_mut() {
                Some((t, g)) if t == top => g.push(r),
                _ => groups.push((top.clone(), vec![r])),
            }
        }
        for (top, group) in groups {
            session.respond_to(&top, group)?;
        }
        Ok(())
    }
}

/// Runs `session` to its end, POSTing with `http` (which carries the timeouts). Each response
/// body is read up to `max_response_bytes` (see [`response_limit`]) and no further.
///
/// # Errors
/// [`Error::Transport`] when an HTTP exchange fails, [`Error::HttpStatus`] when the server
/// answers with a non-2xx status, [`Error::ResponseTooLarge`] for a body over
/// `max_response_bytes`, [`Error::Session`] when the server's message is malformed or out of
/// place, [`Error::TooManyMessages`] past [`MAX_MESSAGES`], and what the executor returns.
pub async fn drive<E: Executor>(
    http: &reqwest::Client,
    session: &mut ClientSession,
    executor: &mut E,
    idle_timeout: Duration,
    max_response_bytes: usize,
) -> Result<SessionReport, Error> {
    let epoch = Instant::now();
    let now = || Timestamp::from_duration(epoch.elapsed());
    let mut report = SessionReport {
        session_id: session.session_id().to_owned(),
        end: SessionEnd::TimedOut,
        messages: 0,
        commands: 0,
        server_authenticated: true,
        statuses: Vec::new(),
        client_nonce: None,
        server_nonce: None,
    };
    let mut server_checked = false;
    let mut owners = Owners::default();
    let mut held = std::collections::VecDeque::new();
    let mut fallback_url: Option<String> = None;
    // A nonce issued to the server travels in the Chal of our next message; when the session
    // ends without one (the server's last package had no commands) the server never sees it,
    // so it must not replace the stored one.
    let mut issued: Option<Vec<u8>> = None;
    loop {
        while let Some(event) = held.pop_front().or_else(|| session.poll_event()) {
            match event {
                ClientEvent::Commands { msg_id, commands } => {
                    report.commands += commands.len();
                    owners.add(&msg_id, &commands);
                    let responses = executor.execute(msg_id.clone(), commands).await?;
                    if executor.has_pending() {
                        owners.respond(session, Some(&msg_id), responses)?;
                    } else {
                        session.respond(responses)?;
                    }
                }
                ClientEvent::Deferred(refs) | ClientEvent::Unanswered(refs) => {
                    executor.abandoned(&refs);
                }
                ClientEvent::ServerAuthenticated => server_checked = true,
                ClientEvent::NonceReceived(n) => report.client_nonce = Some(n),
                // Only a nonce that reached the server counts (see below).
                ClientEvent::NonceIssued(n) => issued = Some(n),
                ClientEvent::Status(s) => report.statuses.push(s),
                ClientEvent::Ended(end) => report.end = end,
                _ => {}
            }
        }
        let Some(tx) = session.poll_transmit(now()) else {
            if let Some(end) = session.ended() {
                report.end = end;
                break;
            }
            if executor.has_pending() {
                // Answers are on their way: wait for one, or for the session's own timer
                // (keep-alives, the answer deadline).
                let deadline = session
                    .poll_timeout()
                    .map(|t| tokio::time::Instant::from_std(epoch + t.since_epoch()));
                let timer = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => tokio::time::sleep(idle_timeout).await,
                    }
                };
                tokio::select! {
                    done = executor.completion() => match done {
                        Some(responses) => owners.respond(session, None, responses)?,
                        None => session.handle_timeout(now() + idle_timeout),
                    },
                    () = timer => session.handle_timeout(now()),
                }
                continue;
            }
            // Nothing to send and not ended: the state machine waits for input that never comes.
            session.handle_timeout(now() + idle_timeout);
            continue;
        };
        // A nonce this message hands the server must be kept before it leaves: a crash after
        // the server took it would otherwise leave the two sides with different nonces.
        while let Some(event) = session.poll_event() {
            if let ClientEvent::NonceIssued(n) = &event {
                executor.nonce_issued(n).await?;
            }
            held.push_back(event);
        }
        report.messages += 1;
        if report.messages > MAX_MESSAGES {
            return Err(Error::TooManyMessages {
                messages: MAX_MESSAGES,
            });
        }
        let url = match tx.url.clone().or_else(|| fallback_url.clone()) {
            Some(u) => u,
            None => {
                return Err(Error::Transport {
                    url: String::new(),
                    reason: "no URL".into(),
                });
            }
        };
        fallback_url = Some(url.clone());
        let mut req = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, tx.content_type)
            .header(reqwest::header::ACCEPT, tx.content_type)
            .header(reqwest::header::CACHE_CONTROL, "no-store, private")
            .body(tx.bytes);
        if let Some(h) = &tx.hmac {
            req = req.header(HMAC_HEADER, h);
        }
        let transport = |reason: String| Error::Transport {
            url: url.clone(),
            reason,
        };
        let in_flight = issued.take();
        let resp = req.send().await.map_err(|e| transport(error_chain(&e)))?;
        if in_flight.is_some() {
            report.server_nonce = in_flight;
        }
        let status = resp.status();
        let hmac = resp
            .headers()
            .get(HMAC_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() && session.ended().is_none() {
            let retry_after_secs = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let (head, _) = read_capped(resp, ERROR_TEXT_BYTES)
                .await
                .map_err(|e| transport(error_chain(&e)))?;
            return Err(Error::HttpStatus {
                url: url.clone(),
                status: status.as_u16(),
                retry_after_secs,
                text: String::from_utf8_lossy(&head).into_owned(),
            });
        }
        let (body, complete) = read_capped(resp, max_response_bytes)
            .await
            .map_err(|e| transport(error_chain(&e)))?;
        if let Some(end) = session.ended() {
            // That was the last message (abort, refusal of an unauthenticated server).
            report.end = end;
            break;
        }
        if !complete {
            return Err(Error::ResponseTooLarge {
                url: url.clone(),
                limit: max_response_bytes,
            });
        }
        session.handle_bytes(now(), &body, hmac.as_deref())?;
    }
    report.server_authenticated = server_checked;
    Ok(report)
}

/// Reads at most `limit` bytes of the body; `false` when there was more (the rest is never
/// read: the connection is dropped). A `Content-Length` over the limit stops before reading.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let announced = resp.content_length().and_then(|n| usize::try_from(n).ok());
    if announced.is_some_and(|n| n > limit) {
        return Ok((Vec::new(), false));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// An error with its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
