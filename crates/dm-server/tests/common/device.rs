//! A real DM client for tests: `dm_proto::ClientSession` + `dm_tree::Tree`, over reqwest.

use std::time::{SystemTime, UNIX_EPOCH};

use dm_proto::{
    AuthScheme, ClientConfig, ClientEvent, ClientSession, Credentials, Initiator, SessionEnd,
    StoredSecret, Timestamp,
};
use dm_tree::mo::devinfo::{self, DevInfo};
use dm_tree::{Acl, ExecContext, NewNode, Tree};
use rand::RngCore as _;
use syncml::Encoding;

pub const SERVER_ID: &str = "test-dm-server";

pub fn now() -> Timestamp {
    Timestamp::from_duration(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
}

/// A device: its tree and what its DMAcc would hold.
pub struct Device {
    pub id: String,
    pub auth_name: String,
    pub password: String,
    pub scheme: AuthScheme,
    pub server_password: String,
    /// Nonce for our next credentials (issued by the server).
    pub client_nonce: Vec<u8>,
    /// Nonce the server must use (issued by us).
    pub server_nonce: Vec<u8>,
    pub encoding: Encoding,
    pub tree: Tree,
    pub next_session: u16,
    /// Authenticate the server (SRVCRED).
    pub check_server: bool,
    /// A Generic Alert to put in the next package 1.
    pub pending_alert: Option<dm_proto::GenericAlert>,
    /// Changes every outgoing message before it is sent (a scripted quirk of a real client,
    /// see [`crate::common::messages`]).
    pub edit_outgoing: Option<fn(&mut syncml::SyncMl)>,
    /// `Content-Type` of the requests instead of the session's own.
    pub content_type: Option<&'static str>,
    /// `MaxMsgSize` the device announces.
    pub max_msg_size: Option<usize>,
    /// Every request body sent, in order.
    pub sent: Vec<Vec<u8>>,
    /// `Content-Type` of every 200 answer, in order.
    pub answer_types: Vec<String>,
    /// Every 200 answer's body, in order.
    pub received: Vec<Vec<u8>>,
}

/// What one session did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ended: Option<SessionEnd>,
    pub authenticated: bool,
    pub commands_executed: usize,
    /// HTTP status of a non-200 answer, if one ended the exchange.
    pub http_error: Option<u16>,
    pub messages_sent: usize,
}

impl Device {
    pub fn new(id: &str, auth_name: &str, password: &str) -> Device {
        let mut tree =
            Tree::with_root_acl(Acl::parse("Add=*&Delete=*&Exec=*&Get=*&Replace=*").unwrap());
        let t = dm_tree::Timestamp(0);
        let info = DevInfo {
            dev_id: id.to_owned(),
            man: "Acme".into(),
            model: "Gw-1".into(),
            dm_v: "1.2".into(),
            lang: "en".into(),
        };
        devinfo::install(&mut tree, &info, t).unwrap();
        tree.insert("./Vendor", NewNode::interior(), t).unwrap();
        tree.insert("./Vendor/Name", NewNode::leaf("old"), t)
            .unwrap();
        tree.insert("./Vendor/Other", NewNode::leaf("other"), t)
            .unwrap();
        Device {
            id: id.to_owned(),
            auth_name: auth_name.to_owned(),
            password: password.to_owned(),
            scheme: AuthScheme::Md5,
            server_password: "server-secret".to_owned(),
            client_nonce: Vec::new(),
            server_nonce: Vec::new(),
            encoding: Encoding::Xml,
            tree,
            next_session: 1,
            check_server: true,
            pending_alert: None,
            edit_outgoing: None,
            content_type: None,
            max_msg_size: None,
            sent: Vec::new(),
            answer_types: Vec::new(),
            received: Vec::new(),
        }
    }

    fn config(&self, url: &str) -> ClientConfig {
        let mut c = ClientConfig::new(url, self.id.clone());
        c.encoding = self.encoding;
        if let Some(m) = self.max_msg_size {
            c.max_msg_size = m;
        }
        c.credentials = Some(Credentials {
            scheme: self.scheme,
            name: self.auth_name.clone(),
            secret: StoredSecret::Password(self.password.clone()),
            nonce: self.client_nonce.clone(),
        });
        c.server_credentials = self.check_server.then(|| Credentials {
            scheme: AuthScheme::Md5,
            name: SERVER_ID.to_owned(),
            secret: StoredSecret::Password(self.server_password.clone()),
            nonce: self.server_nonce.clone(),
        });
        c
    }

    /// Runs one session against `url` (the server's `/dm`).
    pub async fn session(&mut self, http: &reqwest::Client, url: &str) -> Outcome {
        self.session_as(http, url, Initiator::Client, None).await
    }

    pub async fn session_as(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        initiator: Initiator,
        session_id: Option<u16>,
    ) -> Outcome {
        let mut s = self.start(url, initiator, session_id);
        let mut out = Outcome::default();
        while self.step(http, &mut s, &mut out).await {}
        self.drain(&mut s, &mut out);
        out.ended = out.ended.or(s.ended());
        out
    }

    /// A client session, not started (its package 1 is the first [`step`](Self::step)).
    pub fn start(
        &mut self,
        url: &str,
        initiator: Initiator,
        session_id: Option<u16>,
    ) -> ClientSession {
        let sid = session_id.unwrap_or_else(|| {
            let s = self.next_session;
            self.next_session = self.next_session.wrapping_add(1).max(1);
            s
        });
        let nonces = Box::new(|buf: &mut [u8]| rand::rng().fill_bytes(buf));
        let mut s = ClientSession::new(
            self.config(url),
            initiator,
            sid,
            devinfo::items(&self.tree),
            nonces,
            now(),
        );
        if let Some(alert) = self.pending_alert.take() {
            s.queue_generic_alert(&alert);
        }
        s
    }

    /// One HTTP exchange of session `s`: false when the session has nothing more to send
    /// (or the server answered other than 200, recorded in `out`).
    pub async fn step(
        &mut self,
        http: &reqwest::Client,
        s: &mut ClientSession,
        out: &mut Outcome,
    ) -> bool {
        let Some(t) = s.poll_transmit(now()) else {
            return false;
        };
        let mut bytes = t.bytes.clone();
        if let Some(edit) = self.edit_outgoing {
            let mut msg = t_decode(self.encoding, &bytes);
            edit(&mut msg);
            bytes = self.encoding.encode(&msg);
        }
        self.sent.push(bytes.clone());
        let mut req = http
            .post(t.url.clone().unwrap())
            .header("content-type", self.content_type.unwrap_or(t.content_type))
            .body(bytes);
        if let Some(mac) = &t.hmac {
            req = req.header("x-syncml-hmac", mac);
        }
        out.messages_sent += 1;
        let resp = req.send().await.unwrap();
        if resp.status() != 200 {
            out.http_error = Some(resp.status().as_u16());
            return false;
        }
        if let Some(ct) = resp.headers().get("content-type") {
            self.answer_types.push(ct.to_str().unwrap().to_owned());
        }
        let mac = resp
            .headers()
            .get("x-syncml-hmac")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.bytes().await.unwrap();
        self.received.push(body.to_vec());
        if s.handle_bytes(now(), &body, mac.as_deref()).is_err() {
            return false;
        }
        self.drain(s, out);
        true
    }

    pub fn drain(&mut self, s: &mut ClientSession, out: &mut Outcome) {
        while let Some(ev) = s.poll_event() {
            match ev {
                ClientEvent::Commands { msg_id, commands } => {
                    let ctx = ExecContext {
                        server_id: SERVER_ID,
                        msg_id: &msg_id,
                        now: dm_tree::Timestamp(0),
                    };
                    let mut answers = Vec::new();
                    for c in &commands {
                        answers.extend(self.tree.execute(&ctx, c));
                    }
                    out.commands_executed += commands.len();
                    s.respond(answers).unwrap();
                }
                ClientEvent::Authenticated => out.authenticated = true,
                ClientEvent::NonceReceived(n) => self.client_nonce = n,
                ClientEvent::NonceIssued(n) => self.server_nonce = n,
                ClientEvent::Ended(how) => out.ended = Some(how),
                _ => {}
            }
        }
    }
}

impl Device {
    /// Sends package 1 and returns the server's package 2 as text, then stops (the device
    /// "crashes").
    pub async fn first_exchange(&mut self, http: &reqwest::Client, url: &str) -> String {
        let nonces = Box::new(|buf: &mut [u8]| rand::rng().fill_bytes(buf));
        let mut s = ClientSession::new(
            self.config(url),
            Initiator::Client,
            self.next_session,
            devinfo::items(&self.tree),
            nonces,
            now(),
        );
        let t = s.poll_transmit(now()).unwrap();
        let resp = http
            .post(t.url.unwrap())
            .header("content-type", t.content_type)
            .body(t.bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned()
    }

    /// A session whose package 1 carries a Generic Alert.
    pub async fn session_with_alert(&mut self, http: &reqwest::Client, url: &str) -> Outcome {
        self.pending_alert = Some(dm_proto::GenericAlert::new(
            dm_proto::AlertItem::new(
                "urn:oma:at:gwmo:1.0:deviceattached",
                "chr",
                syncml::Data::Text("dev-7".into()),
            )
            .with_source("./GwMO/Inventory/7")
            .with_mark("informational"),
        ));
        self.session(http, url).await
    }
}

fn t_decode(encoding: Encoding, bytes: &[u8]) -> syncml::SyncMl {
    encoding.decode(bytes, &syncml::Limits::default()).unwrap()
}
