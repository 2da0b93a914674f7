//! The operator REST API under `/api/v1` (JSON, bearer token).
//!
//! Shapes are in [`model`]; the OpenAPI document in [`openapi`]; the prose contract in
//! `docs/api.md`.

mod devices;
mod events;
mod fanouts;
pub(crate) mod fields;
mod gateways;
mod groups;
mod jobs;
pub mod model;
pub mod openapi;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dm_host::log::Untrusted;
use subtle::ConstantTimeEq as _;

use crate::state::AppState;
use model::ApiError;

/// The `/api/v1` routes (every one behind the bearer-token check).
pub(crate) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/devices", post(devices::create).get(devices::list))
        .route(
            "/devices/{id}",
            get(devices::show)
                .patch(devices::update)
                .delete(devices::remove),
        )
        .route("/devices/{id}/tree", get(devices::tree))
        .route("/devices/{id}/events", get(events::for_device))
        .route("/devices/{id}/notify", post(devices::notify))
        .route("/devices/{id}/links", get(devices::links))
        .route("/gateways", get(gateways::list))
        .route("/gateways/{id}", get(gateways::show))
        .route("/gateways/{id}/devices", get(gateways::devices))
        .route(
            "/gateways/{id}/groups",
            post(groups::create).get(groups::list),
        )
        .route(
            "/gateways/{id}/groups/{name}",
            get(groups::show)
                .patch(groups::update)
                .delete(groups::remove),
        )
        .route(
            "/gateways/{id}/fanouts",
            post(fanouts::create).get(fanouts::list),
        )
        .route("/fanouts/{id}", get(fanouts::show))
        .route("/fanouts/{id}/cancel", post(fanouts::cancel))
        .route("/jobs", post(jobs::create).get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/events", get(events::list))
        .route(
            "/images",
            post(crate::images::upload)
                .layer(axum::extract::DefaultBodyLimit::disable())
                .get(crate::images::list),
        )
        .route(
            "/gateways/{id}/images",
            post(crate::images::push).get(crate::images::gateway_list),
        )
        .route(
            "/gateways/{id}/images/{node}",
            axum::routing::delete(crate::images::remove),
        )
        .route(
            "/gateways/{id}/images/{node}/disable",
            post(crate::images::disable),
        )
        .route(
            "/gateways/{id}/images/{node}/enable",
            post(crate::images::enable),
        )
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "no such API route") })
        .layer(axum::middleware::from_fn_with_state(state, require_token))
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(openapi::document())
}

/// Refuses requests without `Authorization: Bearer <api_token>` (constant-time compare; an
/// empty configured token refuses everything).
async fn require_token(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let expected = state.config.api_token.as_bytes();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let ok = !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected));
    if !ok {
        tracing::info!(
            path = %Untrusted(req.uri().path()),
            "API request refused: bad or missing bearer token"
        );
        let mut resp =
            Failure::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    next.run(req).await
}

/// An API error answer: an HTTP status and `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ApiError {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<dm_store::Error> for Failure {
    fn from(e: dm_store::Error) -> Self {
        use dm_store::Error as E;
        let status = match &e {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Conflict { .. } | E::InvalidState { .. } => StatusCode::CONFLICT,
            E::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            _ => {
                tracing::error!(
                    error = %Untrusted(&e.to_string()),
                    "store failure in API request"
                );
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Failure::new(status, e.to_string())
    }
}

/// JSON body extractor whose rejections are `{"error": ...}` answers.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            // Syntax and data errors are both 400; 413 and 415 keep their status.
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(Failure::new(status, rejection.body_text()))
            }
        }
    }
}

/// Query-string extractor whose rejections are `{"error": ...}` answers.
pub(crate) struct QueryArgs<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryArgs<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryArgs(v)),
            Err(rejection) => Err(Failure::bad_request(rejection.body_text())),
        }
    }
}
