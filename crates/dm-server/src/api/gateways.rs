//! `/api/v1/gateways...`: the gateways the server knows and the devices behind them, as the
//! server stores them (seed 001 X.3; the gateway's own inventory is read with a job on its
//! `./GwMO/DeviceInventory`, GwMO-DI-001/002).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{DeviceFilter, DeviceKind, Store as _};
use serde::Deserialize;

use super::devices::{device_json, effective_limit, page, view};
use super::model::{DeviceList, Gateway, GatewayList};
use super::{Failure, QueryArgs};
use crate::state::AppState;

/// Query of the gateway lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    after: Option<String>,
    #[serde(default)]
    limit: u32,
}

/// `GET /api/v1/gateways`: devices of kind `gateway`, with counts of the devices behind each.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<GatewayList>, Failure> {
    let filter = DeviceFilter {
        kind: Some(DeviceKind::Gateway),
        after: q.after,
        limit: q.limit,
        ..DeviceFilter::default()
    };
    let views = state.store.list_devices(&filter).await?;
    let next_after = (views.len() == effective_limit(q.limit))
        .then(|| views.last().map(|v| v.account.device_id.clone()))
        .flatten();
    let mut gateways = Vec::with_capacity(views.len());
    for v in views {
        let behind = state.store.link_counts(&v.account.device_id).await?.into();
        gateways.push(Gateway {
            device: device_json(&v.account, v.registry, v.link),
            behind,
        });
    }
    Ok(Json(GatewayList {
        gateways,
        next_after,
    }))
}

/// `GET /api/v1/gateways/{id}`: one gateway with its counts.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Gateway>, Failure> {
    let (account, registry, link) = view(&state, &id).await?;
    if account.kind != DeviceKind::Gateway {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("{id} is not a gateway"),
        ));
    }
    let behind = state.store.link_counts(&id).await?.into();
    Ok(Json(Gateway {
        device: device_json(&account, registry, link),
        behind,
    }))
}

/// `GET /api/v1/gateways/{id}/devices`: the devices currently behind the gateway.
pub(crate) async fn devices(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<DeviceList>, Failure> {
    view(&state, &id).await?;
    let filter = DeviceFilter {
        gateway_id: Some(id),
        after: q.after,
        limit: q.limit,
        ..DeviceFilter::default()
    };
    Ok(Json(page(&state, &filter).await?))
}
