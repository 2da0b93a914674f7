//! `/api/v1/events` and `/api/v1/devices/{id}/events`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{EventFilter, Store as _};
use serde::Deserialize;

use super::model::{Event, EventList};
use super::{Failure, QueryArgs, fields};
use crate::state::AppState;

/// Query of the event lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    device_id: Option<String>,
    alert_code: Option<u16>,
    alert_type: Option<String>,
    since: Option<i64>,
    after: Option<i64>,
    #[serde(default)]
    limit: u32,
}

async fn list_filtered(state: &AppState, q: ListQuery) -> Result<Json<EventList>, Failure> {
    if let Some(id) = &q.device_id {
        fields::device_id(id)?;
    }
    fields::opt_text(
        "alert_type",
        q.alert_type.as_deref(),
        super::model::MAX_SHORT_TEXT_BYTES,
    )?;
    let filter = EventFilter {
        device_id: q.device_id,
        alert_code: q.alert_code,
        alert_type: q.alert_type,
        since: q.since,
        after_id: q.after,
        limit: q.limit,
    };
    let events = state.store.list_events(&filter).await?;
    let next_after = (events.len() == super::devices::effective_limit(q.limit))
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let events = events
        .into_iter()
        .map(|e| Event {
            id: e.id,
            device_id: e.event.device_id,
            at: e.event.at,
            alert_code: e.event.alert_code,
            alert_type: e.event.alert_type,
            format: e.event.format,
            mark: e.event.mark,
            source: e.event.source_uri,
            correlator: e.event.correlator,
            data: e.event.data,
        })
        .collect();
    Ok(Json(EventList { events, next_after }))
}

/// `GET /api/v1/events`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<EventList>, Failure> {
    list_filtered(&state, q).await
}

/// `GET /api/v1/devices/{id}/events`.
pub(crate) async fn for_device(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    QueryArgs(mut q): QueryArgs<ListQuery>,
) -> Result<Json<EventList>, Failure> {
    fields::device_id(&id)?;
    if state.store.get_device(&id).await?.is_none() {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("device not found: {id}"),
        ));
    }
    q.device_id = Some(id);
    list_filtered(&state, q).await
}
