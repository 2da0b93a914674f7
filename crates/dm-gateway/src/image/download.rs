//! Fetching an image over HTTP(S) into `partial/<sha>`, resuming with `Range: bytes=N-` after a
//! cut-off, bounded by the declared `Size` and the quota, verified before it is renamed into
//! the store (docs/gateway.md §10).

use std::sync::Arc;
use std::time::Duration;

use gwmo::image::Sha256Hex;
use sha2::Digest as _;
use syncml::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::state::{Shared, lock};

/// Attempts per `Download` (each resumes where the last stopped).
const ATTEMPTS: u32 = 4;

/// Pause before the second attempt (doubling).
const BACKOFF: Duration = Duration::from_millis(500);

/// Why a download failed: the SyncML status reported and a reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    pub(crate) code: StatusCode,
    pub(crate) reason: String,
}

fn failed(code: StatusCode, reason: impl Into<String>) -> Failed {
    Failed {
        code,
        reason: reason.into(),
    }
}

/// What one attempt ended with.
enum Attempt {
    /// The whole body is in the partial file.
    Complete,
    /// Cut off (transport error, 5xx): worth another try; the partial file stays.
    Retry(String),
    /// Final.
    Fail(Failed),
}

/// Downloads `url` as the image `sha` (at most `size` bytes when declared) into the store.
/// Returns the stored size.
///
/// # Errors
/// [`Failed`] with 420 (over the quota), 424 (longer or shorter than `size`), 400 (the digest
/// does not match: the partial file is dropped), 503 (the source failed every attempt: the
/// partial file stays for the next `Download`), 500 (a local file error).
pub(crate) async fn fetch(
    shared: &Arc<Shared>,
    sha: &Sha256Hex,
    url: &str,
    size: Option<u64>,
) -> Result<u64, Failed> {
    let partial = lock(&shared.images).blobs()?.partial_path(sha);
    let mut last = String::new();
    let mut pause = BACKOFF;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match one_attempt(shared, sha, url, size, &partial).await {
            Attempt::Complete => return finish(shared, sha, size, &partial).await,
            Attempt::Retry(why) => {
                tracing::info!(%sha, attempt, reason = %why, "image download cut off; resuming");
                last = why;
            }
            Attempt::Fail(f) => {
                if f.code != StatusCode::DEVICE_FULL {
                    let _ = tokio::fs::remove_file(&partial).await;
                }
                return Err(f);
            }
        }
    }
    Err(failed(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("source failed {ATTEMPTS} times: {last}"),
    ))
}

async fn one_attempt(
    shared: &Arc<Shared>,
    sha: &Sha256Hex,
    url: &str,
    size: Option<u64>,
    partial: &std::path::Path,
) -> Attempt {
    let have = tokio::fs::metadata(partial)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if size.is_some_and(|s| have >= s) {
        return Attempt::Complete;
    }
    let mut req = shared.images_http.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Attempt::Retry(e.without_url().to_string()),
    };
    let status = resp.status();
    let mut offset = match status {
        reqwest::StatusCode::PARTIAL_CONTENT if have > 0 => {
            let start = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(have) {
                return Attempt::Fail(failed(
                    StatusCode::COMMAND_FAILED,
                    "the source answered another range",
                ));
            }
            have
        }
        reqwest::StatusCode::OK => 0,
        reqwest::StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => return Attempt::Complete,
        s if s.is_server_error() => return Attempt::Retry(format!("source answered {s}")),
        s => {
            return Attempt::Fail(failed(
                StatusCode::NOT_FOUND,
                format!("source answered {s}"),
            ));
        }
    };
    let file = if offset == 0 {
        tokio::fs::File::create(partial).await
    } else {
        tokio::fs::OpenOptions::new()
            .append(true)
            .open(partial)
            .await
    };
    let mut file = match file {
        Ok(f) => f,
        Err(e) => return Attempt::Fail(failed(StatusCode::COMMAND_FAILED, e.to_string())),
    };
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = file.flush().await;
                return Attempt::Retry(e.without_url().to_string());
            }
        };
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let next = offset.saturating_add(len);
        if size.is_some_and(|s| next > s) {
            return Attempt::Fail(failed(
                StatusCode::SIZE_MISMATCH,
                "the source sent more than Size",
            ));
        }
        let quota = lock(&shared.images).quota;
        if !lock(&shared.images).reserve(sha, next, quota) {
            return Attempt::Fail(failed(
                StatusCode::DEVICE_FULL,
                "the image does not fit the quota",
            ));
        }
        if let Err(e) = file.write_all(&chunk).await {
            return Attempt::Fail(failed(StatusCode::COMMAND_FAILED, e.to_string()));
        }
        offset = next;
    }
    if let Err(e) = file.flush().await {
        return Attempt::Fail(failed(StatusCode::COMMAND_FAILED, e.to_string()));
    }
    Attempt::Complete
}

/// Hashes the partial file, checks its size and digest, syncs it and renames it into the
/// store.
async fn finish(
    shared: &Arc<Shared>,
    sha: &Sha256Hex,
    size: Option<u64>,
    partial: &std::path::Path,
) -> Result<u64, Failed> {
    let local = |e: std::io::Error| failed(StatusCode::COMMAND_FAILED, e.to_string());
    let mut f = tokio::fs::File::open(partial).await.map_err(local)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await.map_err(local)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        total = total.saturating_add(u64::try_from(n).unwrap_or(0));
    }
    if size.is_some_and(|s| s != total) {
        let _ = tokio::fs::remove_file(partial).await;
        return Err(failed(
            StatusCode::SIZE_MISMATCH,
            format!("{total} bytes, Size says otherwise"),
        ));
    }
    if Sha256Hex::from_bytes(&hasher.finalize().into()) != *sha {
        let _ = tokio::fs::remove_file(partial).await;
        return Err(failed(StatusCode::BAD_REQUEST, "SHA-256 does not match"));
    }
    f.sync_all().await.map_err(local)?;
    drop(f);
    let target = lock(&shared.images).blobs()?.path(sha);
    tokio::fs::rename(partial, &target).await.map_err(local)?;
    lock(&shared.images).stored_now(sha, total);
    Ok(total)
}
