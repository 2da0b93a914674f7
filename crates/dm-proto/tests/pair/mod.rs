//! In-memory `Pair` harness: a real `ServerSession` against a real `ClientSession` with a real
//! `dm_tree::Tree` behind the client. Every message is encoded and decoded on every hop; time
//! is simulated.

#![allow(
    dead_code,
    unused_macros,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use dm_proto::AuthScheme;
use dm_proto::{
    ClientConfig, ClientEvent, ClientSession, CommandHandle, CommandRef, Credentials, Initiator,
    ServerConfig, ServerEvent, ServerSession, StoredSecret, Timestamp,
};
use dm_tree::{Acl, ExecContext, NewNode, Tree};
use syncml::{
    AlertCode, Command, Data, Encoding, Item, ItemCmd, Limits, Location, Meta, StatusCode, SyncMl,
};

pub const SERVER_URI: &str = "https://dm.example.org/dm";
pub const DEVICE_ID: &str = "IMEI:490154203237518";
pub const SERVER_ID: &str = "srv1";

/// Deterministic nonce source: 16 bytes counting up from `seed`.
pub fn nonces(seed: u8) -> Box<dyn dm_proto::NonceSource> {
    let mut n = seed;
    Box::new(move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            *b = n;
            n = n.wrapping_add(1);
        }
    })
}

pub fn creds(scheme: AuthScheme, name: &str, password: &str, nonce: &[u8]) -> Credentials {
    Credentials {
        scheme,
        name: name.to_owned(),
        secret: StoredSecret::Password(password.to_owned()),
        nonce: nonce.to_vec(),
    }
}

/// A Get of one node (CmdID left empty, as the sessions want it).
pub fn get(uri: &str) -> syncml::Command {
    syncml::Command::Get(syncml::ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(uri)),
            ..Item::default()
        }],
        ..syncml::ItemCmd::default()
    })
}

/// The device's tree: DevInfo, a vendor subtree with a few leaves.
pub fn device_tree() -> Tree {
    let mut tree =
        Tree::with_root_acl(Acl::parse("Add=*&Delete=*&Exec=*&Get=*&Replace=*").unwrap());
    let t = dm_tree::Timestamp(0);
    tree.insert("./DevInfo", NewNode::interior(), t).unwrap();
    tree.insert("./DevInfo/DevId", NewNode::leaf(DEVICE_ID), t)
        .unwrap();
    tree.insert("./DevInfo/Man", NewNode::leaf("Acme"), t)
        .unwrap();
    tree.insert("./DevInfo/Mod", NewNode::leaf("Gw-1"), t)
        .unwrap();
    tree.insert("./DevInfo/DmV", NewNode::leaf("1.2"), t)
        .unwrap();
    tree.insert("./DevInfo/Lang", NewNode::leaf("en"), t)
        .unwrap();
    tree.insert("./Vendor", NewNode::interior(), t).unwrap();
    tree.insert("./Vendor/Name", NewNode::leaf("old"), t)
        .unwrap();
    tree.insert("./Vendor/Other", NewNode::leaf("other"), t)
        .unwrap();
    tree
}

/// [`device_tree`] with a leaf `./Vendor/Big` holding `value` (large objects).
pub fn tree_with_big(value: &str) -> Tree {
    let mut tree = device_tree();
    tree.insert("./Vendor/Big", NewNode::leaf(value), dm_tree::Timestamp(0))
        .unwrap();
    tree
}

/// The DevInfo leaves sent in Package 1.
pub fn devinfo(tree: &Tree) -> Vec<Item> {
    ["DevId", "Man", "Mod", "DmV", "Lang"]
        .iter()
        .map(|leaf| {
            let uri = format!("./DevInfo/{leaf}");
            Item {
                source: Some(Location::uri(uri.clone())),
                data: tree.value(&uri).cloned(),
                ..Item::default()
            }
        })
        .collect()
}

/// Direction of a logged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

type Tamper = Box<dyn FnMut(&mut SyncMl)>;
/// Changes a message on the wire: its index in its direction (0-based) and the transmit.
type RawTamper = Box<dyn FnMut(usize, &mut dm_proto::Transmit)>;
type Script = Box<dyn FnMut(&[ServerEvent], &mut ServerSession)>;
/// How long (simulated) the device takes to answer one command; `None`: at once.
pub type AnswerDelay = Box<dyn FnMut(&Command) -> Option<Duration>>;

/// A never-answered command's delay (longer than any test runs).
pub const NEVER: Duration = Duration::from_secs(1_000_000);

/// An answer the device will give: when, to which command, what.
struct Scheduled {
    at: Timestamp,
    cmd: CommandRef,
    answers: Vec<Command>,
}

pub struct Pair {
    pub encoding: Encoding,
    pub now: Timestamp,
    pub client: ClientSession,
    pub server: ServerSession,
    pub tree: Tree,
    pub client_events: Vec<ClientEvent>,
    pub server_events: Vec<ServerEvent>,
    /// Every message, decoded, in order.
    pub log: Vec<(Dir, SyncMl)>,
    /// Changes messages to the client in flight (decode, change, re-encode).
    pub tamper_to_client: Option<Tamper>,
    /// Called with the new server events after each device message, before the response.
    pub script: Option<Script>,
    /// Messages the client sent.
    pub client_msgs: usize,
    /// Deliver no more server responses (to simulate a silent server).
    pub drop_responses: bool,
    /// Changes the bytes or HMAC header of a client message on the wire.
    pub raw_to_server: Option<RawTamper>,
    /// Changes the bytes or HMAC header of a server message on the wire.
    pub raw_to_client: Option<RawTamper>,
    /// When set, the device answers each command on its own (`respond_to`), the commands
    /// nested in an Atomic or Sequence too, after the delay this gives it (a container when
    /// its slowest part is done); the answers are computed on arrival. Unset: every message's
    /// commands are answered at once with `respond`.
    pub answer_delay: Option<AnswerDelay>,
    /// Answers the client refused (`respond_to` failed), with the error.
    pub refused_answers: Vec<(CommandRef, Vec<Command>, dm_proto::Error)>,
    /// Simulated time does not advance past this (the run stops there).
    pub stop_at: Option<Timestamp>,
    /// When each message of `log` went, in the same order.
    pub log_times: Vec<Timestamp>,
    scheduled: Vec<Scheduled>,
    server_msgs: usize,
}

pub struct Setup {
    pub encoding: Encoding,
    pub client: ClientConfig,
    pub server: ServerConfig,
    pub client_credentials_at_server: Option<Credentials>,
    pub initiator: Initiator,
    pub session_id: u16,
    /// First byte of the client's nonce source (vary it between consecutive sessions).
    pub client_nonce_seed: u8,
    /// First byte of the server's nonce source.
    pub server_nonce_seed: u8,
}

impl Setup {
    pub fn new(encoding: Encoding) -> Self {
        let mut client = ClientConfig::new(SERVER_URI, DEVICE_ID);
        client.encoding = encoding;
        Setup {
            encoding,
            client,
            server: ServerConfig::new(SERVER_URI),
            client_credentials_at_server: None,
            initiator: Initiator::Client,
            session_id: 0x1234,
            client_nonce_seed: 100,
            server_nonce_seed: 1,
        }
    }

    /// md5 both ways is not configured here; this sets md5 client auth with matching secrets.
    pub fn md5_client_auth(mut self, client_pw: &str, server_pw: &str, nonce: &[u8]) -> Self {
        self.client.credentials = Some(creds(AuthScheme::Md5, "dev1", client_pw, nonce));
        self.client_credentials_at_server = Some(creds(AuthScheme::Md5, "dev1", server_pw, nonce));
        self
    }

    pub fn build(self) -> Pair {
        self.build_with_tree(device_tree())
    }

    pub fn build_with_tree(self, tree: Tree) -> Pair {
        let now = Timestamp::from_millis(1_000);
        let client = ClientSession::new(
            self.client,
            self.initiator,
            self.session_id,
            devinfo(&tree),
            nonces(self.client_nonce_seed),
            now,
        );
        let server = ServerSession::new(
            self.server,
            self.client_credentials_at_server,
            nonces(self.server_nonce_seed),
            now,
        );
        Pair {
            encoding: self.encoding,
            now,
            client,
            server,
            tree,
            client_events: Vec::new(),
            server_events: Vec::new(),
            log: Vec::new(),
            tamper_to_client: None,
            script: None,
            client_msgs: 0,
            drop_responses: false,
            raw_to_server: None,
            raw_to_client: None,
            answer_delay: None,
            refused_answers: Vec::new(),
            stop_at: None,
            log_times: Vec::new(),
            scheduled: Vec::new(),
            server_msgs: 0,
        }
    }
}

impl Pair {
    fn tick(&mut self) {
        self.now = self.now + Duration::from_millis(20);
    }

    fn decode(&self, bytes: &[u8]) -> SyncMl {
        self.encoding
            .decode(bytes, &Limits::default())
            .expect("every hop decodes")
    }

    /// Runs message exchanges until neither side has anything to send.
    pub fn run(&mut self) {
        self.exchange();
        self.drain_server();
        self.drain_client();
    }

    fn exchange(&mut self) {
        for _ in 0..500 {
            self.tick();
            let Some(mut t) = self.client.poll_transmit(self.now) else {
                if self.advance() {
                    continue;
                }
                return;
            };
            if let Some(tamper) = self.raw_to_server.as_mut() {
                tamper(self.client_msgs, &mut t);
            }
            assert_eq!(t.content_type, self.encoding.content_type());
            assert!(t.url.is_some());
            let msg = self.decode(&t.bytes);
            self.log.push((Dir::ToServer, msg));
            self.log_times.push(self.now);
            self.client_msgs += 1;
            self.tick();
            if self.server.ended().is_some() {
                return;
            }
            self.server
                .handle_bytes(self.now, &t.bytes, t.hmac.as_deref())
                .expect("server takes it");
            let mut new_events = Vec::new();
            while let Some(ev) = self.server.poll_event() {
                new_events.push(ev);
            }
            if let Some(script) = self.script.as_mut() {
                script(&new_events, &mut self.server);
            }
            self.server_events.extend(new_events);
            let Some(mut resp) = self.server.poll_transmit(self.now) else {
                self.drain_server();
                return;
            };
            if let Some(tamper) = self.raw_to_client.as_mut() {
                tamper(self.server_msgs, &mut resp);
            }
            self.server_msgs += 1;
            self.drain_server();
            assert!(resp.url.is_none());
            let mut bytes = resp.bytes;
            let mut msg = self.decode(&bytes);
            if let Some(tamper) = self.tamper_to_client.as_mut() {
                tamper(&mut msg);
                bytes = self.encoding.encode(&msg);
            }
            self.log.push((Dir::ToClient, msg));
            self.log_times.push(self.now);
            if self.drop_responses {
                return;
            }
            self.tick();
            if self.client.ended().is_some() {
                return;
            }
            self.client
                .handle_bytes(self.now, &bytes, resp.hmac.as_deref())
                .expect("client takes it");
            self.drain_client();
        }
        for (d, m) in self.log.iter().take(12) {
            let names: Vec<&str> = m.body.commands.iter().map(syncml::Command::name).collect();
            eprintln!("{d:?} final={} {names:?}", m.body.is_final);
        }
        panic!("session did not settle");
    }

    fn drain_server(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            self.server_events.push(ev);
        }
    }

    /// The client waits for the device's answers: lets simulated time run to the next answer
    /// or the client's next deadline (the server's idle timer runs meanwhile), and delivers
    /// what is due. False when nothing is to come.
    fn advance(&mut self) -> bool {
        if self.client.ended().is_some() {
            return false;
        }
        let next_answer = self.scheduled.iter().map(|s| s.at).min();
        if next_answer.is_none() && self.client.unanswered().is_empty() {
            return false;
        }
        let Some(at) = [next_answer, self.client.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        if self.stop_at.is_some_and(|stop| at > stop) {
            return false;
        }
        self.now = self.now.max(at);
        if self.server.poll_timeout().is_some_and(|t| self.now >= t) {
            self.server.handle_timeout(self.now);
            self.drain_server();
        }
        self.deliver_due();
        if self.client.poll_timeout().is_some_and(|t| self.now >= t) {
            self.client.handle_timeout(self.now);
        }
        self.drain_client();
        true
    }

    /// Gives the client the scheduled answers that are due, in order.
    fn deliver_due(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|s| s.at <= now);
        self.scheduled = later;
        for s in due {
            if let Err(e) = self.client.respond_to(&s.cmd, s.answers.clone()) {
                self.refused_answers.push((s.cmd, s.answers, e));
            }
        }
    }

    /// Drains client events; commands are executed on the tree and answered (at once, or
    /// as `answer_delay` schedules).
    pub fn drain_client(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            if let ClientEvent::Commands { msg_id, commands } = &ev {
                let ctx = ExecContext {
                    server_id: SERVER_ID,
                    msg_id,
                    now: dm_tree::Timestamp(self.now.since_epoch().as_secs()),
                };
                if self.answer_delay.is_some() {
                    for c in commands {
                        let out = self.tree.execute(&ctx, c);
                        self.schedule(msg_id, c, &out);
                    }
                    self.deliver_due();
                } else {
                    let mut out = Vec::new();
                    for c in commands {
                        out.extend(self.tree.execute(&ctx, c));
                    }
                    self.client.respond(out).expect("client awaits responses");
                }
            }
            self.client_events.push(ev);
        }
    }

    /// Schedules the answers to `cmd` and to every command nested in it, each by its own
    /// delay; returns when `cmd` is answered.
    fn schedule(&mut self, msg_id: &str, cmd: &Command, answers: &[Command]) -> Timestamp {
        let delay = self.answer_delay.as_mut().and_then(|f| f(cmd));
        let mut at = self.now + delay.unwrap_or_default();
        if let Command::Atomic(c) | Command::Sequence(c) = cmd {
            for child in &c.commands {
                at = at.max(self.schedule(msg_id, child, answers));
            }
        }
        let own: Vec<Command> = answers
            .iter()
            .filter(|a| match a {
                Command::Status(s) => s.cmd_ref == cmd.cmd_id(),
                Command::Results(r) => r.cmd_ref == cmd.cmd_id(),
                _ => false,
            })
            .cloned()
            .collect();
        if !own.is_empty() {
            self.scheduled.push(Scheduled {
                at,
                cmd: CommandRef::new(msg_id, cmd),
                answers: own,
            });
        }
        at
    }

    /// When message `i` of direction `dir` went.
    pub fn time_of(&self, dir: Dir, i: usize) -> Timestamp {
        self.log
            .iter()
            .zip(&self.log_times)
            .filter(|((d, _), _)| *d == dir)
            .nth(i)
            .map(|(_, t)| *t)
            .expect("message logged")
    }

    pub fn messages(&self, dir: Dir) -> impl Iterator<Item = &SyncMl> {
        self.log
            .iter()
            .filter(move |(d, _)| *d == dir)
            .map(|(_, m)| m)
    }
}

/// The nonces both sides keep between sessions, updated the way a driver persists them: every
/// `NonceIssued` / `NonceReceived` event replaces the stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonces {
    /// Device, DMAcc CLCRED AAuthData: the nonce of its own credentials.
    pub device_clcred: Vec<u8>,
    /// Device, DMAcc SRVCRED AAuthData: the nonce the server's credentials must use.
    pub device_srvcred: Vec<u8>,
    /// Server: the nonce the device's credentials must use.
    pub server_client: Vec<u8>,
    /// Server: the nonce of its own credentials.
    pub server_own: Vec<u8>,
}

impl Nonces {
    /// Both sides agree on both nonces.
    pub fn in_sync(n: &[u8], s: &[u8]) -> Self {
        Nonces {
            device_clcred: n.to_vec(),
            device_srvcred: s.to_vec(),
            server_client: n.to_vec(),
            server_own: s.to_vec(),
        }
    }

    /// What the drivers store after session `p`.
    pub fn after(&self, p: &Pair) -> Self {
        let mut n = self.clone();
        for e in &p.client_events {
            match e {
                ClientEvent::NonceReceived(x) => n.device_clcred.clone_from(x),
                ClientEvent::NonceIssued(x) => n.device_srvcred.clone_from(x),
                _ => {}
            }
        }
        for e in &p.server_events {
            match e {
                ServerEvent::NonceIssued(x) => n.server_client.clone_from(x),
                ServerEvent::NonceReceived(x) => n.server_own.clone_from(x),
                _ => {}
            }
        }
        n
    }

    /// A session set up with md5 both ways from these stored nonces.
    pub fn md5_setup(&self, encoding: Encoding, session_id: u16) -> Setup {
        let mut s = Setup::new(encoding);
        s.session_id = session_id;
        // Fresh nonce sources per session, as real random sources would be.
        s.client_nonce_seed = (session_id as u8).wrapping_mul(37);
        s.server_nonce_seed = (session_id as u8).wrapping_mul(53).wrapping_add(7);
        s.client.credentials = Some(creds(AuthScheme::Md5, "dev1", "devpw", &self.device_clcred));
        s.client.server_credentials = Some(creds(
            AuthScheme::Md5,
            SERVER_ID,
            "srvpw",
            &self.device_srvcred,
        ));
        s.client_credentials_at_server =
            Some(creds(AuthScheme::Md5, "dev1", "devpw", &self.server_client));
        s.server.credentials = Some(creds(AuthScheme::Md5, SERVER_ID, "srvpw", &self.server_own));
        s
    }
}

/// A raw tamper that spoils the `x-syncml-hmac` header of message `index` only.
pub fn spoil_hmac_of(index: usize) -> RawTamper {
    Box::new(move |i, t: &mut dm_proto::Transmit| {
        if i == index {
            let h = t.hmac.as_mut().expect("the message has an HMAC header");
            // Another valid-looking MAC: 22 Base64 characters and padding.
            let at = h.find("mac=").expect("mac attribute") + 4;
            h.truncate(at);
            h.push_str("AAAAAAAAAAAAAAAAAAAAAA==");
        }
    })
}

impl Pair {
    /// The codes of the Status for the peer's `SyncHdr` in every message of `dir`.
    pub fn header_codes(&self, dir: Dir) -> Vec<syncml::StatusCode> {
        self.messages(dir)
            .flat_map(|m| m.body.commands.iter())
            .filter_map(|c| match c {
                syncml::Command::Status(s) if s.cmd_ref == "0" => Some(s.code),
                _ => None,
            })
            .collect()
    }

    /// How the client's session ended, from its events.
    pub fn client_end(&self) -> Option<dm_proto::SessionEnd> {
        self.client_events.iter().find_map(|e| match e {
            ClientEvent::Ended(how) => Some(*how),
            _ => None,
        })
    }

    /// How the server's session ended, from its events.
    pub fn server_end(&self) -> Option<dm_proto::SessionEnd> {
        self.server_events.iter().find_map(|e| match e {
            ServerEvent::Ended(how) => Some(*how),
            _ => None,
        })
    }
}

// --- builders and readers shared by the test files ---------------------------------------

pub fn item_target(uri: &str, data: Option<&str>) -> Item {
    Item {
        target: Some(Location::uri(uri)),
        data: data.map(Data::from),
        ..Item::default()
    }
}

pub fn replace(uri: &str, value: Data) -> Command {
    Command::Replace(ItemCmd {
        meta: Some(Meta {
            format: Some("chr".into()),
            ..Meta::default()
        }),
        items: vec![Item {
            target: Some(Location::uri(uri)),
            data: Some(value),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

pub fn add(uri: &str, value: &str) -> Command {
    Command::Add(ItemCmd {
        meta: Some(Meta {
            format: Some("chr".into()),
            ..Meta::default()
        }),
        items: vec![item_target(uri, Some(value))],
        ..ItemCmd::default()
    })
}

pub fn delete(uri: &str) -> Command {
    Command::Delete(ItemCmd {
        items: vec![item_target(uri, None)],
        ..ItemCmd::default()
    })
}

pub fn copy(from: &str, to: &str) -> Command {
    Command::Copy(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(to)),
            source: Some(Location::uri(from)),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

pub fn status_of(p: &Pair, h: CommandHandle) -> Vec<(Vec<usize>, StatusCode)> {
    p.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Status {
                handle, path, code, ..
            } if *handle == h => Some((path.clone(), *code)),
            _ => None,
        })
        .collect()
}

pub fn results_of(p: &Pair, h: CommandHandle) -> Vec<Data> {
    p.server_events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Results {
                handle, results, ..
            } if *handle == h => Some(results),
            _ => None,
        })
        .flat_map(|r| r.items.iter().filter_map(|i| i.data.clone()))
        .collect()
}

pub fn text(d: &Data) -> String {
    String::from_utf8(d.as_bytes().to_vec()).unwrap()
}

/// One test per encoding: `NAME::xml` and `NAME::wbxml`, running `scenario(encoding)` of the
/// test file.
macro_rules! both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[test]
            fn xml() {
                super::$scenario(syncml::Encoding::Xml);
            }
            #[test]
            fn wbxml() {
                super::$scenario(syncml::Encoding::Wbxml);
            }
        }
    };
}

pub(crate) use both;

pub fn big_text(n: usize) -> String {
    (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect()
}

pub fn pair_len(encoding: Encoding, m: &syncml::SyncMl) -> usize {
    encoding.encode(m).len()
}

/// True when message `m` carries an Alert with `code`.
pub fn has_alert(m: &SyncMl, code: AlertCode) -> bool {
    m.body
        .commands
        .iter()
        .any(|c| matches!(c, Command::Alert(a) if a.code == code))
}

impl Pair {
    /// What `pick` takes from the client's events, in order.
    pub fn client_events_where<T>(&self, pick: impl FnMut(&ClientEvent) -> Option<T>) -> Vec<T> {
        self.client_events.iter().filter_map(pick).collect()
    }

    /// What `pick` takes from the server's events, in order.
    pub fn server_events_where<T>(&self, pick: impl FnMut(&ServerEvent) -> Option<T>) -> Vec<T> {
        self.server_events.iter().filter_map(pick).collect()
    }

    /// The Generic Alerts the server reported, in order.
    pub fn generic_alerts(&self) -> Vec<syncml::Alert> {
        self.server_events_where(|e| match e {
            ServerEvent::Alert(a) if a.code == AlertCode::GENERIC_ALERT => Some(a.clone()),
            _ => None,
        })
    }
}
