//! Serving a content-addressed file over HTTP with `Range` (RFC 9110 §14) and its digests:
//! the gateway's local image server and the server's image endpoint share it.
//!
//! In: the file's path and length, its SHA-256, the request method and headers. Out: the
//! response: 200 (whole), 206 with `Content-Range` (one `bytes=` range), 416 with
//! `Content-Range: bytes */LEN` (unsatisfiable); a malformed or multi-range header is ignored
//! (the whole file). Every answer carries `Accept-Ranges: bytes`, `ETag` = the quoted hex digest,
//! `Repr-Digest: sha-256=:B64:` (RFC 9530, of the whole file, also on 206) and
//! `Content-Length`; the body is streamed from the file (bounded memory).

use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// What a `Range` header asks for, against an image of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The whole image.
    All,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A range that no byte of the image satisfies.
    Unsatisfiable,
}

/// Reads one `bytes=` range (RFC 9110 §14.1.2); anything it cannot read is ignored (`All`).
pub fn wanted(range: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let num = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.trim().is_empty(), num(a), num(b)) {
        // `-N`: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(len.saturating_sub(n), len - 1)
            }
        }
        (false, Some(start), end) => {
            if !b.trim().is_empty() && end.is_none() {
                return Wanted::All;
            }
            if end.is_some_and(|e| e < start) {
                return Wanted::All;
            }
            if start >= len {
                return Wanted::Unsatisfiable;
            }
            Wanted::Part(start, end.map_or(len - 1, |e| e.min(len - 1)))
        }
        _ => Wanted::All,
    }
}

fn failure(status: StatusCode) -> Response {
    (status, "image unavailable\n").into_response()
}

/// The answer for `path` (`len` bytes, digest `sha_hex` / `sha_bytes`), see the module docs.
pub async fn serve_file(
    path: &Path,
    len: u64,
    sha_hex: &str,
    sha_bytes: &[u8; 32],
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{sha_hex}\""))
        .header("repr-digest", {
            use base64::Engine as _;
            format!(
                "sha-256=:{}:",
                base64::engine::general_purpose::STANDARD.encode(sha_bytes)
            )
        })
        .header(header::CONTENT_TYPE, "application/octet-stream");
    let (status, start, count) = match wanted(range, len) {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(s, e) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{len}"));
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Wanted::Unsatisfiable => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_LENGTH, "0")
                .body(Body::empty())
                .unwrap_or_else(|_| failure(StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    builder = builder
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from(count));
    if method == Method::HEAD {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| failure(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(sha = %sha_hex, error = %e, "stored file unreadable");
            return failure(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    if start > 0
        && let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await
    {
        tracing::error!(sha = %sha_hex, error = %e, "stored file unreadable");
        return failure(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(count), 64 * 1024);
    builder
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| failure(StatusCode::INTERNAL_SERVER_ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(wanted(None, 10), Wanted::All);
        assert_eq!(wanted(Some("bytes=0-4"), 10), Wanted::Part(0, 4));
        assert_eq!(wanted(Some("bytes=5-"), 10), Wanted::Part(5, 9));
        assert_eq!(wanted(Some("bytes=5-100"), 10), Wanted::Part(5, 9));
        assert_eq!(wanted(Some("bytes=-3"), 10), Wanted::Part(7, 9));
        assert_eq!(wanted(Some("bytes=-30"), 10), Wanted::Part(0, 9));
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        for ignored in [
            "bytes=5-2",
            "bytes=a-",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(wanted(Some(ignored), 10), Wanted::All, "{ignored}");
        }
    }
}
