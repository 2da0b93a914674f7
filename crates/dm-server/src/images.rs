//! Images the server gives out to its gateways (docs/gateway.md §10, GwMO-DCIS-001, B.8).
//!
//! - `POST /api/v1/images?name=N` (bearer token; the body is the image): streamed to a
//!   temporary file while hashed, bounded by `image_max_bytes` (413), renamed to
//!   `<images_dir>/<sha256>`; one file per digest.
//! - `GET /api/v1/images`: the uploaded images.
//! - `POST /api/v1/gateways/{G}/images` `{"sha256", "node"?, "enable_storage"?}`: queues one job
//!   on G: (`Replace ./GwMO/GwConfig/ImageStorage true` when asked), the Adds of
//!   `./GwMO/ImageInventory/Images/<node>` (`Name`, `URL` = a signed URL of this server,
//!   `SHA256`, `Size`) and `Exec .../Download`; the entry is `pushed` until G's `imageready`
//!   alert says `ready` (with the LocalURI) or `failed`.
//! - `GET /api/v1/gateways/{G}/images`, `DELETE .../images/{node}` (a job of `Delete`),
//!   `POST .../images/{node}/disable|enable` (a job of `Replace Enabled`).
//! - `GET /images/<sha256>?gw=G&exp=UNIX&sig=HEX`: the image for a gateway, with Range
//!   ([`dm_host::range`]). No bearer token: the URL is signed (`sig` = hex HMAC-SHA256 under a
//!   random key the server keeps in its store, over `sha256 "\n" gw "\n" exp`) and expires
//!   (`image_url_ttl_secs`, default a day); it travels only inside G's authenticated DM session.
//!   A bad or expired signature is 403, before any file is looked at.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dm_store::{CommandKind, GatewayImage, ImageRecord, ImageStore as _, JobCommand, JobItem};
use dm_store::{NewJob, Store as _};
use gwmo::image::{Sha256Hex, valid_entry_name};
use hmac::Mac as _;
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::api::{Failure, JsonBody, QueryArgs};
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// An uploaded image as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    /// SHA-256 (hex).
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Name given at upload.
    pub name: String,
    /// When it was uploaded.
    pub created_at: i64,
}

impl From<ImageRecord> for Image {
    fn from(r: ImageRecord) -> Self {
        Image {
            sha256: r.sha256,
            size: r.size,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

/// An image entry on a gateway as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayImageView {
    /// The entry's node name.
    pub node: String,
    /// The image.
    pub sha256: String,
    /// `pushed`, `ready`, `failed`, `disabled`.
    pub state: String,
    /// Where the gateway's End Devices fetch it (from the `imageready` alert).
    pub local_uri: Option<String>,
    /// Whether it is served.
    pub enabled: bool,
    /// The job of the latest change.
    pub job_id: Option<i64>,
    /// The SyncML status of a failure.
    pub code: Option<i64>,
    /// Last change.
    pub updated_at: i64,
}

impl From<GatewayImage> for GatewayImageView {
    fn from(g: GatewayImage) -> Self {
        GatewayImageView {
            node: g.node,
            sha256: g.sha256,
            state: g.state,
            local_uri: g.local_uri,
            enabled: g.enabled,
            job_id: g.job_id,
            code: g.code,
            updated_at: g.updated_at,
        }
    }
}

fn dir(state: &AppState) -> Result<&std::path::Path, Failure> {
    state
        .config
        .images_dir
        .as_deref()
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no images_dir configured"))
}

/// Query of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/v1/images`.
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<UploadQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Image>), Failure> {
    let dir = dir(&state)?.to_owned();
    let name = q.name.unwrap_or_default();
    crate::api::fields::text("name", &name, 256)?;
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, "image upload: file error");
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "image file error")
    };
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let tmp = dir.join(format!(".upload.{}", rand::random::<u64>()));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let mut body = body;
    let result: Result<(), Failure> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::bad_request(format!("body not read: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            size = size.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            if size > state.config.image_max_bytes {
                return Err(Failure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("images of at most {} bytes", state.config.image_max_bytes),
                ));
            }
            hasher.update(&data);
            file.write_all(&data).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    let sha = Sha256Hex::from_bytes(&hasher.finalize().into());
    tokio::fs::rename(&tmp, dir.join(sha.as_str()))
        .await
        .map_err(io)?;
    let record = ImageRecord {
        sha256: sha.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        name,
        created_at: now_ms(),
    };
    state.store.put_image(&record).await?;
    let stored = state.store.get_image(sha.as_str()).await?.unwrap_or(record);
    tracing::info!(sha = %sha, bytes = size, "image uploaded");
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// `GET /api/v1/images`.
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Vec<Image>>, Failure> {
    Ok(Json(
        state
            .store
            .list_images()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

fn signature(key: &[u8; 32], sha: &str, gateway: &str, exp: u64) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(format!("{sha}\n{gateway}\n{exp}").as_bytes());
    Some(mac)
}

/// The signed URL of image `sha` for `gateway`.
fn signed_url(state: &AppState, base: &str, sha: &str, gateway: &str) -> Option<String> {
    let exp = u64::try_from(now_ms() / 1000)
        .unwrap_or(0)
        .saturating_add(state.config.image_url_ttl_secs);
    let sig = hex::encode(
        signature(&state.image_key, sha, gateway, exp)?
            .finalize()
            .into_bytes(),
    );
    let gw: String = form_urlencoded_gw(gateway);
    Some(format!("{base}/images/{sha}?gw={gw}&exp={exp}&sig={sig}"))
}

fn form_urlencoded_gw(gateway: &str) -> String {
    gateway
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Query of `GET /images/{sha}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Signed {
    gw: String,
    exp: u64,
    sig: String,
}

/// `GET /images/{sha}` (and `HEAD`): a signed URL.
pub(crate) async fn serve(
    State(state): State<Arc<AppState>>,
    method: Method,
    Path(sha): Path<String>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let forbidden = || (StatusCode::FORBIDDEN, "bad or expired image URL\n").into_response();
    let Ok(sha) = Sha256Hex::parse(&sha) else {
        return forbidden();
    };
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let Ok(sig) = hex::decode(&q.sig) else {
        return forbidden();
    };
    let valid = q.exp >= now
        && signature(&state.image_key, sha.as_str(), &q.gw, q.exp)
            .is_some_and(|m| m.verify_slice(&sig).is_ok());
    if !valid {
        tracing::info!(gateway = %Untrusted(&q.gw), "image request with a bad or expired signature");
        return forbidden();
    }
    let Some(dir) = state.config.images_dir.as_deref() else {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    };
    let path = dir.join(sha.as_str());
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    };
    dm_host::range::serve_file(
        &path,
        meta.len(),
        sha.as_str(),
        &sha.to_bytes(),
        &method,
        &headers,
    )
    .await
}

/// `POST /api/v1/gateways/{id}/images`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Push {
    sha256: String,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    enable_storage: bool,
}

fn item(path: String, value: Option<String>, format: Option<&str>) -> JobItem {
    JobItem {
        path,
        value,
        format: format.map(str::to_owned),
        ..JobItem::default()
    }
}

fn cmd(kind: CommandKind, items: Vec<JobItem>) -> JobCommand {
    JobCommand {
        kind,
        items,
        children: Vec::new(),
    }
}

async fn queue(state: &AppState, gateway: &str, commands: Vec<JobCommand>) -> Result<i64, Failure> {
    let job = state
        .store
        .create_job(&NewJob {
            device_id: gateway.to_owned(),
            commands,
            created_at: now_ms(),
        })
        .await?;
    if let Err(e) =
        crate::route::notify(state, gateway, syncml::notification::UiMode::Background).await
    {
        tracing::info!(gateway = %Untrusted(gateway), error = %e, "gateway not notified: the job waits for its next session");
    }
    Ok(job.id)
}

/// The base URL gateways reach this server at.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        })
        .map_or_else(|| state.config.listen.to_string(), str::to_owned);
    let scheme = if state.config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `POST /api/v1/gateways/{id}/images`.
pub(crate) async fn push(
    State(state): State<Arc<AppState>>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Push>,
) -> Result<(StatusCode, Json<GatewayImageView>), Failure> {
    crate::api::fields::device_id(&gateway)?;
    let sha = Sha256Hex::parse(&req.sha256)
        .map_err(|_| Failure::bad_request("sha256 must be 64 hex digits"))?;
    let image = state
        .store
        .get_image(sha.as_str())
        .await?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such image"))?;
    if state.store.get_device(&gateway).await?.is_none() {
        return Err(Failure::new(StatusCode::NOT_FOUND, "no such gateway"));
    }
    let node = req.node.unwrap_or_else(|| {
        let mut n = sha.as_str().to_owned();
        n.truncate(16);
        n
    });
    if !valid_entry_name(&node) {
        return Err(Failure::bad_request(
            "node: 1 to 64 of A-Z a-z 0-9 - _ . (not . or ..)",
        ));
    }
    let url = signed_url(&state, &base_url(&state, &headers), sha.as_str(), &gateway)
        .ok_or_else(|| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "no URL signed"))?;
    let base = gwmo::image::image_uri(&node);
    let mut commands = Vec::new();
    if req.enable_storage {
        commands.push(cmd(
            CommandKind::Replace,
            vec![item(
                "./GwMO/GwConfig/ImageStorage".into(),
                Some("true".into()),
                Some("bool"),
            )],
        ));
    }
    commands.push(cmd(
        CommandKind::Add,
        vec![item(base.clone(), None, Some("node"))],
    ));
    for (leaf, value, format) in [
        ("Name", image.name.clone(), None),
        ("URL", url, None),
        ("SHA256", sha.to_string(), None),
        ("Size", image.size.to_string(), Some("int")),
    ] {
        commands.push(cmd(
            CommandKind::Add,
            vec![item(format!("{base}/{leaf}"), Some(value), format)],
        ));
    }
    commands.push(cmd(
        CommandKind::Exec,
        vec![item(format!("{base}/Download"), None, None)],
    ));
    let now = now_ms();
    let job_id = queue(&state, &gateway, commands).await?;
    let entry = GatewayImage {
        gateway_id: gateway.clone(),
        node,
        sha256: sha.to_string(),
        state: "pushed".into(),
        local_uri: None,
        enabled: true,
        job_id: Some(job_id),
        code: None,
        created_at: now,
        updated_at: now,
    };
    state.store.put_gateway_image(&entry).await?;
    tracing::info!(gateway = %Untrusted(&gateway), sha = %sha, job = job_id, "image pushed to a gateway");
    Ok((StatusCode::CREATED, Json(entry.into())))
}

/// `GET /api/v1/gateways/{id}/images`.
pub(crate) async fn gateway_list(
    State(state): State<Arc<AppState>>,
    Path(gateway): Path<String>,
) -> Result<Json<Vec<GatewayImageView>>, Failure> {
    crate::api::fields::device_id(&gateway)?;
    Ok(Json(
        state
            .store
            .list_gateway_images(&gateway)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

async fn entry(state: &AppState, gateway: &str, node: &str) -> Result<GatewayImage, Failure> {
    crate::api::fields::device_id(gateway)?;
    if !valid_entry_name(node) {
        return Err(Failure::bad_request("not an image entry name"));
    }
    state
        .store
        .get_gateway_image(gateway, node)
        .await?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such image entry"))
}

/// `DELETE /api/v1/gateways/{id}/images/{node}`: a job of `Delete`; the entry is forgotten.
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    Path((gateway, node)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, Failure> {
    let e = entry(&state, &gateway, &node).await?;
    let job = queue(
        &state,
        &gateway,
        vec![cmd(
            CommandKind::Delete,
            vec![item(gwmo::image::image_uri(&e.node), None, None)],
        )],
    )
    .await?;
    state.store.delete_gateway_image(&gateway, &node).await?;
    Ok(Json(serde_json::json!({"job_id": job})))
}

async fn set_enabled(
    state: &AppState,
    gateway: &str,
    node: &str,
    enabled: bool,
) -> Result<Json<GatewayImageView>, Failure> {
    let mut e = entry(state, gateway, node).await?;
    let job = queue(
        state,
        gateway,
        vec![cmd(
            CommandKind::Replace,
            vec![item(
                format!("{}/Enabled", gwmo::image::image_uri(node)),
                Some(enabled.to_string()),
                Some("bool"),
            )],
        )],
    )
    .await?;
    e.enabled = enabled;
    e.job_id = Some(job);
    e.state = match (enabled, e.state.as_str()) {
        (false, "ready") => "disabled".into(),
        (true, "disabled") => "ready".into(),
        (_, s) => s.to_owned(),
    };
    e.updated_at = now_ms();
    state.store.put_gateway_image(&e).await?;
    Ok(Json(e.into()))
}

/// `POST /api/v1/gateways/{id}/images/{node}/disable`.
pub(crate) async fn disable(
    State(state): State<Arc<AppState>>,
    Path((gateway, node)): Path<(String, String)>,
) -> Result<Json<GatewayImageView>, Failure> {
    set_enabled(&state, &gateway, &node, false).await
}

/// `POST /api/v1/gateways/{id}/images/{node}/enable`.
pub(crate) async fn enable(
    State(state): State<Arc<AppState>>,
    Path((gateway, node)): Path<(String, String)>,
) -> Result<Json<GatewayImageView>, Failure> {
    set_enabled(&state, &gateway, &node, true).await
}
