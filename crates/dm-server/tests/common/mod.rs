//! Test harness: a real `dm_server::Server` on 127.0.0.1:0 with a temporary SQLite file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;

pub mod device;
pub mod messages;

use dm_server::{Config, Server};
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-token";

/// A running server; dropping it (or [`Running::stop`]) shuts it down.
pub struct Running {
    pub addr: SocketAddr,
    pub url: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), dm_server::Error>>>,
}

impl Running {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.api(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.api(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .patch(self.api(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.api(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// Graceful shutdown; waits until the store is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Abrupt stop: the serving task is aborted (nothing is flushed beyond what was committed).
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A configuration for tests: port 0, the given database file, the test token.
pub fn config(db: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: format!("sqlite:{}", db.display()),
        api_token: TOKEN.into(),
        server_id: "test-dm-server".into(),
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Running {
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let url = server.url();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Running {
        addr,
        url,
        http,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A temporary directory with a database path inside.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dm.db");
    (dir, path)
}

/// The API body of an MD5 device account (server secret "server-secret").
pub fn account(id: &str, name: &str, password: &str) -> serde_json::Value {
    serde_json::json!({
        "device_id": id,
        "auth_type": "md5",
        "auth_name": name,
        "auth_secret": password,
        "server_secret": "server-secret",
    })
}

/// A job as the API shows it.
pub async fn job(s: &Running, id: i64) -> serde_json::Value {
    s.get(&format!("/jobs/{id}")).await.json().await.unwrap()
}
