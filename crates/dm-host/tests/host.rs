//! The host with an in-memory backend, driven through its router (no sockets) by real
//! `dm_proto::ClientSession`s, on tokio's paused clock where time matters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use dm_host::{Account, Backend, Claim, End, Ending, Event, Host, HostConfig, Opened, SessionInfo};
use dm_proto::{
    AuthScheme, ClientConfig, ClientEvent, ClientSession, Credentials, Initiator, SessionEnd,
    StoredSecret, Timestamp,
};
use syncml::{Command, Item, ItemCmd, Location, Status, StatusCode};
use tower::ServiceExt as _;

const PASSWORD: &str = "pw";

/// Accounts with nonces, what ended, and a switch to panic in `events`.
#[derive(Default)]
struct Mem {
    nonces: Mutex<HashMap<String, Vec<u8>>>,
    ended: Mutex<Vec<(SessionInfo, End, bool)>>,
    /// Commands every session gets.
    commands: Vec<Command>,
    /// `events` panics when it gets a Status.
    panic_on_status: bool,
    admitted: Mutex<u32>,
}

fn user_hash(name: &str) -> String {
    syncml::auth::user_hash(name, PASSWORD)
}

/// The backend: a handle on the shared [`Mem`] the test reads.
struct Shared(Arc<Mem>);

impl std::ops::Deref for Shared {
    type Target = Mem;
    fn deref(&self) -> &Mem {
        &self.0
    }
}

impl Backend for Shared {
    type Session = ();

    async fn account(&self, claim: &Claim<'_>) -> Result<Option<Account>, dm_host::Error> {
        let nonce = self.nonces.lock().unwrap().get(claim.device_id).cloned();
        Ok(nonce.map(|nonce| Account {
            device_id: claim.device_id.to_owned(),
            client: Some(Credentials {
                scheme: AuthScheme::Md5,
                name: claim.device_id.to_owned(),
                secret: StoredSecret::UserHash(user_hash(claim.device_id)),
                nonce,
            }),
            server: None,
            provisional: false,
        }))
    }

    async fn admit(&self, account: &Account, next: Option<&[u8]>) -> Result<bool, dm_host::Error> {
        let mut n = self.nonces.lock().unwrap();
        let stored = n.get_mut(&account.device_id).unwrap();
        let expected = &account.client.as_ref().unwrap().nonce;
        if stored != expected {
            return Ok(false);
        }
        *stored = next.unwrap().to_vec();
        *self.admitted.lock().unwrap() += 1;
        Ok(true)
    }

    async fn authenticated(
        &self,
        _s: &SessionInfo,
        _a: &Account,
    ) -> Result<Opened<()>, dm_host::Error> {
        Ok(Opened {
            state: (),
            commands: self.commands.clone(),
        })
    }

    async fn events(
        &self,
        _state: &mut (),
        _s: &SessionInfo,
        events: Vec<Event>,
    ) -> Result<Vec<Command>, dm_host::Error> {
        if self.panic_on_status && events.iter().any(|e| matches!(e, Event::Status { .. })) {
            panic!("backend bug");
        }
        Ok(Vec::new())
    }

    async fn ended(&self, state: Option<()>, s: &SessionInfo, ending: Ending) {
        self.ended
            .lock()
            .unwrap()
            .push((s.clone(), ending.end, state.is_some()));
    }
}

fn get(path: &str) -> Command {
    Command::Get(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(path)),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

fn host(mem: &Arc<Mem>, challenges: usize) -> Arc<Host<Shared>> {
    let mut c = HostConfig::new("test-server");
    c.challenge_capacity = challenges;
    c.session_timeout = Duration::from_secs(300);
    c.public_url = Some("http://dm.test".into());
    Host::new(c, Shared(mem.clone()))
}

fn client(device: &str, password: &str, nonce: &[u8], sid: u16) -> ClientSession {
    let mut c = ClientConfig::new("http://dm.test/dm", device);
    c.credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: device.to_owned(),
        secret: StoredSecret::Password(password.to_owned()),
        nonce: nonce.to_vec(),
    });
    let devinfo = vec![Item {
        source: Some(Location::uri("./DevInfo/DevId")),
        data: Some(device.into()),
        ..Item::default()
    }];
    let nonces = Box::new(|b: &mut [u8]| b.fill(7));
    ClientSession::new(c, Initiator::Client, sid, devinfo, nonces, Timestamp::ZERO)
}

/// POSTs `body` to `url` (a path: `/dm` or `/dm/s/...`) through the router.
async fn post(h: &Arc<Host<Shared>>, url: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let path = url.strip_prefix("http://dm.test").unwrap_or(url);
    let req = Request::post(path)
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(Body::from(body))
        .unwrap();
    let resp = h.router().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

/// Runs a client session to its end (or a non-200 answer); every command gets 200.
async fn run(h: &Arc<Host<Shared>>, s: &mut ClientSession) -> Option<u16> {
    while let Some(t) = s.poll_transmit(Timestamp::ZERO) {
        let (status, body) = post(h, &t.url.unwrap(), t.bytes).await;
        if status != 200 {
            return Some(status);
        }
        if s.handle_bytes(Timestamp::ZERO, &body, None).is_err() {
            return None;
        }
        while let Some(ev) = s.poll_event() {
            if let ClientEvent::Commands { msg_id, commands } = ev {
                let answers = commands
                    .iter()
                    .map(|c| {
                        Command::Status(Status {
                            cmd_id: String::new(),
                            msg_ref: msg_id.clone(),
                            cmd_ref: c.cmd_id().to_owned(),
                            cmd: c.name().to_owned(),
                            target_refs: Vec::new(),
                            source_refs: Vec::new(),
                            cred: None,
                            chal: None,
                            code: StatusCode::OK,
                            items: Vec::new(),
                        })
                    })
                    .collect();
                s.respond(answers).unwrap();
            }
        }
    }
    None
}

fn mem_with(devices: &[&str], commands: Vec<Command>, panic_on_status: bool) -> Arc<Mem> {
    let m = Mem {
        commands,
        panic_on_status,
        ..Mem::default()
    };
    for d in devices {
        m.nonces
            .lock()
            .unwrap()
            .insert((*d).to_owned(), b"n0".to_vec());
    }
    Arc::new(m)
}

/// Issue 6 item 7: a backend hook that panics frees the session's slot (the next message
/// to its RespURI gets 404, not "busy" forever) and the end hook still runs.
#[tokio::test]
async fn a_panicking_backend_frees_the_slot_and_ends_the_session() {
    let mem = mem_with(&["dev1"], vec![get("./DevInfo/Man")], true);
    let h = host(&mem, 16);
    let mut s = client("dev1", PASSWORD, b"n0", 1);
    // Package 1 authenticates; the device's status for the Get makes the backend panic.
    let code = run(&h, &mut s).await;
    assert_eq!(code, Some(500));
    assert_eq!(h.live_sessions(), 0, "the slot is freed");
    let ended = mem.ended.lock().unwrap().clone();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, End::Failed);
    assert!(!ended[0].2, "the state was lost with the panic");
    // The RespURI names no session any more: 404, not "busy" (503) forever.
    let resp_uri = format!("/dm/s/{}", ended[0].0.key);
    let t = client("dev1", PASSWORD, b"n0", 1)
        .poll_transmit(Timestamp::ZERO)
        .unwrap();
    let (status, _) = post(&h, &resp_uri, t.bytes).await;
    assert_eq!(status, 404);
}

/// Issue 7 (expiry by poll_timeout) and issue 6 item 8 (a monotonic clock): a session whose
/// device goes silent ends when the host's timer reaches its deadline on tokio's clock (the
/// wall clock plays no part: time here is paused and advanced by hand).
#[tokio::test(start_paused = true)]
async fn silent_session_ends_at_its_deadline() {
    let mem = mem_with(&["dev1"], vec![get("./DevInfo/Man")], false);
    let h = host(&mem, 16);
    tokio::spawn(h.clone().run_timeouts());
    let mut s = client("dev1", PASSWORD, b"n0", 1);
    let t = s.poll_transmit(Timestamp::ZERO).unwrap();
    let (status, _) = post(&h, &t.url.unwrap(), t.bytes).await;
    assert_eq!(status, 200);
    assert_eq!(h.live_sessions(), 1);
    tokio::time::advance(Duration::from_secs(299)).await;
    tokio::task::yield_now().await;
    assert_eq!(h.live_sessions(), 1, "not yet due");
    assert!(mem.ended.lock().unwrap().is_empty());
    tokio::time::advance(Duration::from_secs(2)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.live_sessions(), 0);
    let ended = mem.ended.lock().unwrap().clone();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, End::Session(SessionEnd::TimedOut));
    assert!(ended[0].2);
}

/// Issue 6 item 10b: package 1s naming a known device with wrong credentials keep nothing
/// but a challenge nonce each, in a table that stays at its cap; the backend never admits
/// them; the genuine device authenticates afterwards.
#[tokio::test]
async fn unauthenticated_senders_cost_a_bounded_challenge_table() {
    let devices: Vec<String> = (0..100).map(|i| format!("dev{i}")).collect();
    let names: Vec<&str> = devices.iter().map(String::as_str).collect();
    let mem = mem_with(&names, Vec::new(), false);
    let h = host(&mem, 32);
    for (i, d) in devices.iter().enumerate().cycle().take(1000) {
        let mut s = client(d, "guess", b"n0", u16::try_from(i).unwrap() + 1);
        let t = s.poll_transmit(Timestamp::ZERO).unwrap();
        let (status, body) = post(&h, &t.url.unwrap(), t.bytes).await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("<Data>401</Data>"), "{text}");
        assert!(
            !text.contains("RespURI"),
            "a refusal opens no session: {text}"
        );
        assert_eq!(h.live_sessions(), 0);
    }
    assert_eq!(h.outstanding_challenges(), 32);
    assert_eq!(*mem.admitted.lock().unwrap(), 0);
    assert!(mem.nonces.lock().unwrap().values().all(|n| n == b"n0"));
    // The genuine device: its stored nonce still works.
    let mut s = client("dev5", PASSWORD, b"n0", 9);
    assert_eq!(run(&h, &mut s).await, None);
    assert_eq!(s.ended(), Some(SessionEnd::Completed));
    assert_eq!(*mem.admitted.lock().unwrap(), 1);
}

/// Issue 6 item 10a, under concurrency: the same package 1 posted many times at once is
/// admitted once; every other copy is refused (401 with a challenge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_package_1_authenticate_once() {
    let mem = mem_with(&["dev1"], vec![get("./DevInfo/Man")], false);
    let h = host(&mem, 16);
    let mut s = client("dev1", PASSWORD, b"n0", 1);
    let t = s.poll_transmit(Timestamp::ZERO).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let h = h.clone();
            let body = t.bytes.clone();
            tokio::spawn(async move { post(&h, "/dm", body).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        if text.contains("<Data>212</Data>") {
            accepted += 1;
        } else {
            assert!(text.contains("<Data>401</Data>"), "{text}");
            assert!(text.contains("<Chal>"), "{text}");
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(*mem.admitted.lock().unwrap(), 1);
    assert_eq!(h.live_sessions(), 1);
}

/// Issue 6 item 10d: identifiers above the cap are refused with 400 before any lookup, and
/// the answer is small.
#[tokio::test]
async fn overlong_identifiers_get_400() {
    let mem = mem_with(&["dev1"], Vec::new(), false);
    let h = host(&mem, 16);
    let long = format!("dev\n\u{1b}[31m{}", "x".repeat(300_000));
    let mut s = client(&long, PASSWORD, b"n0", 1);
    let t = s.poll_transmit(Timestamp::ZERO).unwrap();
    let (status, body) = post(&h, "/dm", t.bytes).await;
    assert_eq!(status, 400);
    assert!(body.len() < 200, "{}", body.len());
    assert!(String::from_utf8_lossy(&body).contains("Source/LocURI"));
}
