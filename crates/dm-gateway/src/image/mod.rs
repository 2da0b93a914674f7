//! `./GwMO/ImageInventory` (`urn:oma:mo:oma-gwmo-imageinventory:1.0`, GwMO-DCIS-001..003,
//! use case B.8): the images a DM server stores on the gateway for its End Devices
//! (docs/gateway.md §10).
//!
//! A server creates an entry with Adds (`Images/<x>`, `URL`, `SHA256`, optional `Size`,
//! `Name`) and starts the download with `Exec Images/<x>/Download` (202); or it delivers the
//! bytes in `Images/<x>/Data` (a large object). Both need `GwConfig/ImageStorage` true (else
//! 405) and room under `GwConfig/ImageQuotaBytes` (else 420 and state `failed`). A verified
//! image is one file per digest ([`blobs`]), however many entries name it; when it is stored,
//! the gateway queues an `imageready` alert for the server that created the entry (the
//! northbound outbox: the server hears it within seconds) and serves it at the entry's
//! `LocalURI` ([`serve`]) while the entry is `Enabled`.

pub(crate) mod blobs;
mod download;
pub(crate) mod serve;

use std::collections::BTreeMap;
use std::sync::Arc;

use dm_tree::{
    AccessType, Answer, Change, ExecOutcome, ExecRequest, Format, MountContext, MountNode, NewNode,
    NodeProvider,
};
use gwmo::image::{ImageState, Sha256Hex, valid_entry_name};
use gwmo::payload::ImageReady;
use syncml::{Command, Data, StatusCode};

use crate::state::{Shared, Write, lock};
use blobs::{Blobs, StoreRefusal};
use download::Failed;

/// The mount point.
pub(crate) const MOUNT: &str = "./GwMO/ImageInventory";

/// Most image entries held at once (more: 420).
pub(crate) const MAX_ENTRIES: usize = 1024;

/// Longest `Name` / `URL` value, bytes.
const MAX_TEXT: usize = 2048;

/// Store key prefix of the entries.
pub(crate) const KEY_PREFIX: &str = "image.";

/// One image entry (`Images/<x>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `<x>`.
    pub(crate) name: String,
    /// The server that created it (its alerts go there).
    pub(crate) server_id: String,
    /// `Name`.
    pub(crate) title: Option<String>,
    /// `URL`.
    pub(crate) url: Option<String>,
    /// `SHA256`.
    pub(crate) sha256: Option<Sha256Hex>,
    /// `Size` as declared.
    pub(crate) size: Option<u64>,
    /// Bytes stored (when ready).
    pub(crate) stored: u64,
    /// `created`, `downloading`, `ready`, `failed` (`disabled` is shown for a ready entry
    /// that is not enabled).
    pub(crate) state: ImageState,
    /// `Enabled`.
    pub(crate) enabled: bool,
    /// The secret part of its local URI.
    pub(crate) token: String,
    /// The `Download` Exec's correlator.
    pub(crate) correlator: Option<String>,
    /// Delivered by `Data`.
    pub(crate) has_data: bool,
}

impl Entry {
    fn new(name: &str, server_id: &str) -> Entry {
        let t: [u8; 16] = rand::random();
        Entry {
            name: name.to_owned(),
            server_id: server_id.to_owned(),
            title: None,
            url: None,
            sha256: None,
            size: None,
            stored: 0,
            state: ImageState::Created,
            enabled: true,
            token: t.iter().map(|b| format!("{b:02x}")).collect(),
            correlator: None,
            has_data: false,
        }
    }

    /// The stored form (form-urlencoded).
    pub(crate) fn encode(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("name", &self.name);
        s.append_pair("server", &self.server_id);
        if let Some(v) = &self.title {
            s.append_pair("title", v);
        }
        if let Some(v) = &self.url {
            s.append_pair("url", v);
        }
        if let Some(v) = &self.sha256 {
            s.append_pair("sha256", v.as_str());
        }
        if let Some(v) = self.size {
            s.append_pair("size", &v.to_string());
        }
        s.append_pair("stored", &self.stored.to_string());
        s.append_pair("state", self.state.as_str());
        s.append_pair("enabled", if self.enabled { "1" } else { "0" });
        s.append_pair("token", &self.token);
        if let Some(v) = &self.correlator {
            s.append_pair("correlator", v);
        }
        if self.has_data {
            s.append_pair("data", "1");
        }
        s.finish()
    }

    /// Reads the stored form; `None` when it is not one.
    pub(crate) fn decode(text: &str) -> Option<Entry> {
        let mut e = Entry::new("x", "");
        let mut name = None;
        for (k, v) in form_urlencoded::parse(text.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "name" => name = Some(v),
                "server" => e.server_id = v,
                "title" => e.title = Some(v),
                "url" => e.url = Some(v),
                "sha256" => e.sha256 = Some(Sha256Hex::parse(&v).ok()?),
                "size" => e.size = Some(v.parse().ok()?),
                "stored" => e.stored = v.parse().ok()?,
                "state" => e.state = ImageState::parse(&v).ok()?,
                "enabled" => e.enabled = v == "1",
                "token" => e.token = v,
                "correlator" => e.correlator = Some(v),
                "data" => e.has_data = v == "1",
                _ => {}
            }
        }
        e.name = name.filter(|n| valid_entry_name(n))?;
        Some(e)
    }

    /// The `State` node's value.
    fn shown_state(&self) -> ImageState {
        if self.state == ImageState::Ready && !self.enabled {
            ImageState::Disabled
        } else {
            self.state
        }
    }
}

/// The image entries, the files and the `GwConfig` values that govern them.
#[derive(Debug)]
pub(crate) struct Images {
    blobs: Option<Blobs>,
    /// `GwConfig/ImageQuotaBytes`.
    pub(crate) quota: u64,
    /// `GwConfig/ImageStorage`.
    pub(crate) storage: bool,
    entries: BTreeMap<String, Entry>,
    /// Base of the local URIs (`http://HOST:PORT`).
    base_url: String,
    /// Local URIs carry a token (the default).
    auth: bool,
}

impl Images {
    /// The state of a gateway with (or without) an `[images]` section.
    pub(crate) fn new(
        blobs: Option<Blobs>,
        base_url: String,
        auth: bool,
        entries: Vec<Entry>,
    ) -> Images {
        Images {
            blobs,
            quota: 1 << 30,
            storage: false,
            entries: entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
            base_url,
            auth,
        }
    }

    /// The files.
    pub(crate) fn blobs(&self) -> Result<&Blobs, Failed> {
        self.blobs.as_ref().ok_or(Failed {
            code: StatusCode::COMMAND_NOT_ALLOWED,
            reason: "no [images] dir configured".into(),
        })
    }

    pub(crate) fn reserve(&mut self, sha: &Sha256Hex, bytes: u64, quota: u64) -> bool {
        self.blobs
            .as_mut()
            .is_some_and(|b| b.reserve(sha, bytes, quota))
    }

    pub(crate) fn stored_now(&mut self, sha: &Sha256Hex, size: u64) {
        if let Some(b) = self.blobs.as_mut() {
            b.stored_now(sha, size);
        }
    }

    /// The local URI of an entry.
    fn local_uri(&self, e: &Entry) -> Option<String> {
        let sha = e.sha256.as_ref()?;
        Some(if self.auth {
            format!("{}/images/{sha}?t={}", self.base_url, e.token)
        } else {
            format!("{}/images/{sha}", self.base_url)
        })
    }

    /// What the local server may send for `sha` with `token`: the file and its size, when an
    /// enabled, ready entry of that digest holds the token (or authentication is off).
    pub(crate) fn servable(
        &self,
        sha: &Sha256Hex,
        token: Option<&str>,
    ) -> Option<(std::path::PathBuf, u64)> {
        use subtle::ConstantTimeEq as _;
        let blobs = self.blobs.as_ref()?;
        let size = blobs.stored(sha)?;
        let ok = self.entries.values().any(|e| {
            e.sha256.as_ref() == Some(sha)
                && e.state == ImageState::Ready
                && e.enabled
                && (!self.auth
                    || token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(e.token.as_bytes()))))
        });
        ok.then(|| (blobs.path(sha), size))
    }

    /// Entries still downloading (to resume after a restart).
    pub(crate) fn downloading(&self) -> Vec<(Sha256Hex, String, Option<u64>)> {
        let mut out: Vec<_> = self
            .entries
            .values()
            .filter(|e| e.state == ImageState::Downloading)
            .filter_map(|e| Some((e.sha256.clone()?, e.url.clone()?, e.size)))
            .collect();
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// True when a ready (or downloading) entry other than `except` names `sha`.
    fn referenced(&self, sha: &Sha256Hex, except: &str) -> bool {
        self.entries.values().any(|e| {
            e.name != except
                && e.sha256.as_ref() == Some(sha)
                && matches!(e.state, ImageState::Ready | ImageState::Downloading)
        })
    }

    /// Drops the file of `sha` unless another entry needs it.
    fn unreference(&mut self, sha: &Sha256Hex, except: &str) {
        if !self.referenced(sha, except)
            && let Some(b) = self.blobs.as_mut()
            && !b.downloading(sha)
        {
            b.remove(sha);
        }
    }

    /// The alert for an entry's outcome, as a store write for its server.
    fn alert(&self, e: &Entry, code: Option<StatusCode>) -> Write {
        let ready = ImageReady {
            id: e.name.clone(),
            sha256: e
                .sha256
                .clone()
                .unwrap_or_else(|| Sha256Hex::from_bytes(&[0; 32])),
            size: e.stored,
            uri: if code.is_none() {
                self.local_uri(e).unwrap_or_default()
            } else {
                String::new()
            },
            state: if code.is_none() {
                ImageState::Ready
            } else {
                ImageState::Failed
            },
            code: code.map(|c| c.0),
        };
        let alert = gwmo::payload::generic_alert(
            "1",
            e.correlator.clone(),
            vec![gwmo::payload::image_ready_item(&ready)],
        );
        Write::Alert(
            e.server_id.clone(),
            syncml::xml::encode_fragment(&[Command::Alert(alert)]),
        )
    }

    /// A download of `sha` ended: every entry waiting for it turns ready (or failed) and is
    /// reported; a file nobody names any more is dropped.
    pub(crate) fn download_done(
        &mut self,
        sha: &Sha256Hex,
        outcome: &Result<u64, Failed>,
    ) -> Vec<Write> {
        if let Some(b) = self.blobs.as_mut() {
            b.release(sha);
        }
        let mut writes = Vec::new();
        let names: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.sha256.as_ref() == Some(sha) && e.state == ImageState::Downloading)
            .map(|e| e.name.clone())
            .collect();
        for name in names {
            let Some(mut e) = self.entries.get(&name).cloned() else {
                continue;
            };
            let code = match outcome {
                Ok(size) => {
                    e.state = ImageState::Ready;
                    e.stored = *size;
                    None
                }
                Err(f) => {
                    e.state = ImageState::Failed;
                    Some(f.code)
                }
            };
            writes.push(self.alert(&e, code));
            writes.push(Write::Image(e.name.clone(), e.encode()));
            self.entries.insert(name, e);
        }
        if outcome.is_ok() && !self.referenced(sha, "") {
            self.unreference(sha, "");
        }
        writes
    }
}

/// Runs the download of `sha` and records its outcome.
pub(crate) fn spawn_download(shared: &Arc<Shared>, sha: Sha256Hex, url: String, size: Option<u64>) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let outcome = download::fetch(&shared, &sha, &url, size).await;
        match &outcome {
            Ok(n) => tracing::info!(%sha, bytes = n, "image stored"),
            Err(f) => {
                tracing::warn!(%sha, code = f.code.0, reason = %f.reason, "image download failed")
            }
        }
        let writes = lock(&shared.images).download_done(&sha, &outcome);
        shared.queue_all(writes);
        if let Err(e) = shared.flush().await {
            tracing::error!(error = %e, "gateway store write failed; retried");
        }
    });
}

/// The provider of `./GwMO/ImageInventory`.
pub(crate) struct ImageTree {
    shared: Arc<Shared>,
}

impl ImageTree {
    pub(crate) fn new(shared: Arc<Shared>) -> ImageTree {
        ImageTree { shared }
    }
}

const LEAVES: [&str; 9] = [
    "Name", "URL", "SHA256", "Size", "Data", "Download", "State", "LocalURI", "Enabled",
];

const SETTABLE: AccessType =
    AccessType(AccessType::GET.0 | AccessType::ADD.0 | AccessType::REPLACE.0);

fn leaf(value: String, format: Format, access: AccessType) -> Option<MountNode> {
    Some(MountNode::from(
        NewNode::leaf(value).format(format).access(access),
    ))
}

fn entry_leaf(images: &Images, e: &Entry, name: &str) -> Option<MountNode> {
    match name {
        "Name" => e.title.clone().and_then(|v| leaf(v, Format::Chr, SETTABLE)),
        "URL" => e.url.clone().and_then(|v| leaf(v, Format::Chr, SETTABLE)),
        "SHA256" => e
            .sha256
            .as_ref()
            .and_then(|v| leaf(v.to_string(), Format::Chr, SETTABLE)),
        "Size" => e
            .size
            .and_then(|v| leaf(v.to_string(), Format::Int, SETTABLE)),
        "Data" if e.has_data => leaf(
            String::new(),
            Format::Bin,
            AccessType::ADD | AccessType::REPLACE,
        ),
        "Download" => leaf(String::new(), Format::Null, AccessType::EXEC),
        "State" => leaf(
            e.shown_state().as_str().to_owned(),
            Format::Chr,
            AccessType::GET,
        ),
        "LocalURI" if e.state == ImageState::Ready => images
            .local_uri(e)
            .and_then(|v| leaf(v, Format::Chr, AccessType::GET)),
        "Enabled" => leaf(
            e.enabled.to_string(),
            Format::Bool,
            AccessType::GET | AccessType::REPLACE,
        ),
        _ => None,
    }
}

fn interior(access: AccessType) -> Option<MountNode> {
    Some(MountNode::from(NewNode::interior().access(access)))
}

impl NodeProvider for ImageTree {
    fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
        let images = lock(&self.shared.images);
        Ok(match path {
            [images_node] if images_node == "Images" => interior(AccessType::GET | AccessType::ADD),
            [images_node, x] if images_node == "Images" => images
                .entries
                .get(x)
                .and_then(|_| interior(AccessType::GET | AccessType::ADD | AccessType::DELETE)),
            [images_node, x, name] if images_node == "Images" => images
                .entries
                .get(x)
                .and_then(|e| entry_leaf(&images, e, name)),
            _ => None,
        })
    }

    fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
        let images = lock(&self.shared.images);
        Ok(match path {
            [] => vec!["Images".to_owned()],
            [i] if i == "Images" => images.entries.keys().cloned().collect(),
            [i, x] if i == "Images" => images
                .entries
                .get(x)
                .map(|e| {
                    LEAVES
                        .iter()
                        .filter(|n| entry_leaf(&images, e, n).is_some())
                        .map(|s| (*s).to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    fn add(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        node: NewNode,
    ) -> Answer<StatusCode> {
        let mut images = lock(&self.shared.images);
        let code = match path {
            [i, x] if i == "Images" => {
                if images.entries.contains_key(x) {
                    StatusCode::ALREADY_EXISTS
                } else if !valid_entry_name(x) || node.value.is_some() {
                    StatusCode::COMMAND_NOT_ALLOWED
                } else if images.entries.len() >= MAX_ENTRIES {
                    StatusCode::DEVICE_FULL
                } else {
                    let e = Entry::new(x, ctx.server_id);
                    self.shared.queue(Write::Image(e.name.clone(), e.encode()));
                    images.entries.insert(x.clone(), e);
                    StatusCode::OK
                }
            }
            [i, x, name] if i == "Images" => match node.value {
                Some(value) => set_leaf(
                    &self.shared,
                    &mut images,
                    x,
                    name,
                    &value,
                    Some(node.format),
                ),
                None => StatusCode::COMMAND_NOT_ALLOWED,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn replace(
        &mut self,
        _ctx: &MountContext<'_>,
        path: &[String],
        change: Change,
    ) -> Answer<StatusCode> {
        let mut images = lock(&self.shared.images);
        let code = match (path, change) {
            ([i, x, name], Change::Value { data, format, .. }) if i == "Images" => {
                set_leaf(&self.shared, &mut images, x, name, &data, format)
            }
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn delete(&mut self, _ctx: &MountContext<'_>, path: &[String]) -> Answer<StatusCode> {
        let mut images = lock(&self.shared.images);
        let code = match path {
            [i, x] if i == "Images" => match images.entries.remove(x) {
                Some(e) => {
                    if let Some(sha) = &e.sha256 {
                        images.unreference(sha, x);
                    }
                    self.shared.queue(Write::ForgetImage(x.clone()));
                    StatusCode::OK
                }
                None => StatusCode::NOT_FOUND,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn exec(
        &mut self,
        _ctx: &MountContext<'_>,
        path: &[String],
        req: &ExecRequest<'_>,
    ) -> Answer<ExecOutcome> {
        let [i, x, download] = path else {
            return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
        };
        if i != "Images" || download != "Download" {
            return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
        }
        let code = start_download(&self.shared, x, req.correlator);
        Answer::Ready(ExecOutcome::code(code))
    }
}

/// `Exec Images/<x>/Download`.
fn start_download(shared: &Arc<Shared>, x: &str, correlator: Option<&str>) -> StatusCode {
    let mut images = lock(&shared.images);
    let storage = images.storage && images.blobs.is_some();
    let quota = images.quota;
    let Some(mut e) = images.entries.get(x).cloned() else {
        return StatusCode::NOT_FOUND;
    };
    if !storage {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    let (Some(sha), Some(url)) = (e.sha256.clone(), e.url.clone()) else {
        return StatusCode::BAD_REQUEST;
    };
    if e.state == ImageState::Downloading {
        return StatusCode::ACCEPTED;
    }
    e.correlator = correlator.map(str::to_owned);
    let Some(blobs) = images.blobs.as_ref() else {
        return StatusCode::COMMAND_NOT_ALLOWED;
    };
    if let Some(size) = blobs.stored(&sha) {
        // GwMO-DCIS-002: the digest is stored already; this entry names the same file.
        e.state = ImageState::Ready;
        e.stored = size;
        let w = images.alert(&e, None);
        shared.queue_all([w, Write::Image(e.name.clone(), e.encode())]);
        images.entries.insert(e.name.clone(), e);
        return StatusCode::ACCEPTED;
    }
    let running = blobs.downloading(&sha);
    if !running && !images.reserve(&sha, e.size.unwrap_or(0), quota) {
        e.state = ImageState::Failed;
        shared.queue(Write::Image(e.name.clone(), e.encode()));
        images.entries.insert(e.name.clone(), e);
        return StatusCode::DEVICE_FULL;
    }
    e.state = ImageState::Downloading;
    shared.queue(Write::Image(e.name.clone(), e.encode()));
    let size = e.size;
    images.entries.insert(e.name.clone(), e);
    drop(images);
    if !running {
        spawn_download(shared, sha, url, size);
    }
    StatusCode::ACCEPTED
}

fn set_leaf(
    shared: &Shared,
    images: &mut Images,
    x: &str,
    name: &str,
    value: &Data,
    format: Option<Format>,
) -> StatusCode {
    let storage = images.storage && images.blobs.is_some();
    let quota = images.quota;
    let Some(mut e) = images.entries.get(x).cloned() else {
        return StatusCode::NOT_FOUND;
    };
    if e.state == ImageState::Downloading && name != "Enabled" && name != "Name" {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    if name == "Data" {
        if !storage {
            return StatusCode::COMMAND_NOT_ALLOWED;
        }
        let Some(sha) = e.sha256.clone() else {
            return StatusCode::BAD_REQUEST;
        };
        let bytes = match (format, value) {
            (Some(Format::B64), v) => {
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(
                    v.as_bytes()
                        .iter()
                        .filter(|b| !b.is_ascii_whitespace())
                        .copied()
                        .collect::<Vec<u8>>(),
                ) {
                    Ok(b) => b,
                    Err(_) => return StatusCode::BAD_REQUEST,
                }
            }
            (_, v) => v.as_bytes().to_vec(),
        };
        let Some(blobs) = images.blobs.as_mut() else {
            return StatusCode::COMMAND_NOT_ALLOWED;
        };
        let code = match blobs.put_bytes(&sha, &bytes, quota) {
            Ok(size) => {
                e.state = ImageState::Ready;
                e.stored = size;
                e.has_data = true;
                e.correlator = None;
                StatusCode::OK
            }
            Err(StoreRefusal::Digest) => {
                e.state = ImageState::Failed;
                StatusCode::BAD_REQUEST
            }
            Err(StoreRefusal::Quota) => {
                e.state = ImageState::Failed;
                StatusCode::DEVICE_FULL
            }
            Err(StoreRefusal::Io(err)) => {
                tracing::error!(error = %err, "image file not written");
                StatusCode::COMMAND_FAILED
            }
        };
        if code == StatusCode::OK {
            shared.queue(images.alert(&e, None));
        }
        shared.queue(Write::Image(e.name.clone(), e.encode()));
        images.entries.insert(e.name.clone(), e);
        return code;
    }
    let Some(text) = value.as_str().map(str::trim) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    if text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return StatusCode::BAD_REQUEST;
    }
    let old_sha = e.sha256.clone();
    match name {
        "Name" => e.title = Some(text.to_owned()),
        "URL" => {
            if !(text.starts_with("http://") || text.starts_with("https://"))
                || reqwest::Url::parse(text).is_err()
            {
                return StatusCode::BAD_REQUEST;
            }
            e.url = Some(text.to_owned());
        }
        "SHA256" => match Sha256Hex::parse(text) {
            Ok(s) => e.sha256 = Some(s),
            Err(_) => return StatusCode::BAD_REQUEST,
        },
        "Size" => match text.parse::<u64>() {
            Ok(s) => e.size = Some(s),
            Err(_) => return StatusCode::BAD_REQUEST,
        },
        "Enabled" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => e.enabled = true,
            "false" | "0" => e.enabled = false,
            _ => return StatusCode::BAD_REQUEST,
        },
        _ => return StatusCode::COMMAND_NOT_ALLOWED,
    }
    if e.sha256 != old_sha && e.state == ImageState::Ready {
        // Another image: the entry starts over and no longer holds the old file.
        e.state = ImageState::Created;
        e.stored = 0;
        e.has_data = false;
        let x = e.name.clone();
        images.entries.insert(x.clone(), e.clone());
        if let Some(sha) = &old_sha {
            images.unreference(sha, &x);
        }
    }
    shared.queue(Write::Image(e.name.clone(), e.encode()));
    images.entries.insert(e.name.clone(), e);
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_through_its_stored_form() {
        let mut e = Entry::new("fw-1", "dmserver");
        e.title = Some("Firmware & co".into());
        e.url = Some("http://127.0.0.1:1/images/x?a=b".into());
        e.sha256 = Some(Sha256Hex::from_bytes(&[7; 32]));
        e.size = Some(10);
        e.state = ImageState::Ready;
        e.enabled = false;
        e.correlator = Some("c1".into());
        assert_eq!(Entry::decode(&e.encode()), Some(e.clone()));
        assert_eq!(e.shown_state(), ImageState::Disabled);
        assert_eq!(e.token.len(), 32);
        assert_ne!(Entry::new("a", "s").token, Entry::new("a", "s").token);
        assert_eq!(Entry::decode("name=a/b"), None);
    }
}
