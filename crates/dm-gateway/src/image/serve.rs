//! The gateway's local image server (docs/gateway.md §10): `GET` / `HEAD /images/<sha256>?t=<token>`
//! for the End Devices behind it (GwMO-DCIS-001, B.8).
//!
//! Served only while an entry of that digest is ready and enabled and, with authentication on
//! (the default), holds the token (constant-time compare); anything else is 404, the same
//! answer as for an unknown digest. Range, `ETag`, `Repr-Digest`: [`dm_host::range`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use gwmo::image::Sha256Hex;

use crate::state::{Shared, lock};

/// The router of the local image server.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/images/{sha}", axum::routing::get(image))
        .with_state(shared)
}

/// The query of an image request.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Token {
    t: Option<String>,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such image\n").into_response()
}

async fn image(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(sha): Path<String>,
    Query(token): Query<Token>,
    headers: HeaderMap,
) -> Response {
    let Ok(sha) = Sha256Hex::parse(&sha) else {
        return not_found();
    };
    let Some((path, len)) = lock(&shared.images).servable(&sha, token.t.as_deref()) else {
        return not_found();
    };
    dm_host::range::serve_file(&path, len, sha.as_str(), &sha.to_bytes(), &method, &headers).await
}
