//! `/api/v1/devices...`: accounts, registry, tree values, notifications.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{
    DeviceAccount, DeviceFilter, DeviceLink, DeviceView, LinkFilter, Registry, Secret, Store as _,
};
use serde::Deserialize;
use syncml::notification::UiMode;

use super::model::{
    self, AuthType, Device, DeviceKind, DeviceList, DeviceUpdate, LinkList, NewDevice,
    NotifyRequest, NotifyResponse,
};
use super::{Failure, JsonBody, QueryArgs, fields};
use crate::notifier::NotifyAddress;
use crate::route::{self, RouteError};
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

impl From<AuthType> for dm_store::AuthType {
    fn from(t: AuthType) -> Self {
        match t {
            AuthType::Basic => dm_store::AuthType::Basic,
            AuthType::Md5 => dm_store::AuthType::Md5,
            AuthType::Hmac => dm_store::AuthType::Hmac,
            AuthType::None => dm_store::AuthType::None,
        }
    }
}

impl From<dm_store::AuthType> for AuthType {
    fn from(t: dm_store::AuthType) -> Self {
        match t {
            dm_store::AuthType::Basic => AuthType::Basic,
            dm_store::AuthType::Md5 => AuthType::Md5,
            dm_store::AuthType::Hmac => AuthType::Hmac,
            dm_store::AuthType::None => AuthType::None,
        }
    }
}

pub(crate) fn device_json(
    account: &DeviceAccount,
    registry: Option<Registry>,
    link: Option<DeviceLink>,
) -> Device {
    let registry = registry.unwrap_or_default();
    let registry_only = account.is_registry_only();
    Device {
        device_id: account.device_id.clone(),
        kind: account.kind.into(),
        registry_only,
        link: link.map(Into::into),
        auth_type: account.client_auth.into(),
        auth_name: if registry_only {
            String::new()
        } else {
            account.auth_name.clone()
        },
        server_auth_type: account.server_auth.into(),
        notify: account.notify_addrs.clone(),
        created_at: account.created_at,
        last_contact_at: registry.last_contact,
        last_address: registry.last_addr,
        devinfo: registry.devinfo,
    }
}

async fn account(state: &AppState, id: &str) -> Result<DeviceAccount, Failure> {
    fields::device_id(id)?;
    state
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("device not found: {id}")))
}

/// `POST /api/v1/devices`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(req): JsonBody<NewDevice>,
) -> Result<(StatusCode, Json<Device>), Failure> {
    fields::device_id(&req.device_id)?;
    if let Some(name) = &req.auth_name {
        fields::auth_name(name)?;
    }
    if req.auth_type == AuthType::None {
        return Err(Failure::bad_request(
            "auth_type none is not allowed for devices",
        ));
    }
    fields::secret("auth_secret", &req.auth_secret)?;
    if let Some(secret) = &req.server_secret {
        fields::secret("server_secret", secret)?;
    }
    let notify_addrs: Vec<String> = req.notify.into_iter().collect();
    check_notify_addresses(&state, &notify_addrs)?;
    let now = now_ms();
    let auth_name = req.auth_name.unwrap_or_else(|| req.device_id.clone());
    let mut account = DeviceAccount::new(
        req.device_id,
        auth_name,
        req.auth_type.into(),
        &req.auth_secret,
        now,
    );
    account.server_auth = req.server_auth_type.into();
    let server_secret = req
        .server_secret
        .or_else(|| state.config.server_password.clone())
        .unwrap_or(req.auth_secret);
    account.server_secret = Secret::new(server_secret);
    account.notify_addrs = notify_addrs;
    account.kind = req.kind.into();
    state.store.create_device(&account).await?;
    tracing::info!(device = %Untrusted(&account.device_id), "device account created");
    // A registry-only entry it replaced keeps its registry, link and kind.
    let (account, registry, link) = view(&state, &account.device_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(device_json(&account, registry, link)),
    ))
}

/// Checks notification addresses where they are stored: count and length, syntax, and the
/// destination policy for IP literals (host names are checked again at send time).
fn check_notify_addresses(state: &AppState, addrs: &[String]) -> Result<(), Failure> {
    fields::notify_addresses(addrs)?;
    for addr in addrs {
        let parsed = NotifyAddress::parse(addr, state.config.notification_udp_port)
            .map_err(|e| Failure::bad_request(e.to_string()))?;
        state
            .notifier
            .policy()
            .check_address(&parsed)
            .map_err(|e| Failure::bad_request(e.to_string()))?;
    }
    Ok(())
}

/// Query of `GET /api/v1/devices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    prefix: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    seen_since: Option<i64>,
    kind: Option<DeviceKind>,
    gateway: Option<String>,
    after: Option<String>,
    #[serde(default)]
    limit: u32,
}

impl ListQuery {
    fn filter(self) -> DeviceFilter {
        DeviceFilter {
            id_prefix: self.prefix,
            manufacturer: self.manufacturer,
            model: self.model,
            seen_since: self.seen_since,
            kind: self.kind.map(Into::into),
            gateway_id: self.gateway,
            after: self.after,
            limit: self.limit,
        }
    }
}

/// One page of devices as the API lists them.
pub(crate) async fn page(state: &AppState, filter: &DeviceFilter) -> Result<DeviceList, Failure> {
    let size = effective_limit(filter.limit);
    let views: Vec<DeviceView> = state.store.list_devices(filter).await?;
    let next_after = (views.len() == size)
        .then(|| views.last().map(|v| v.account.device_id.clone()))
        .flatten();
    let devices = views
        .into_iter()
        .map(|v| device_json(&v.account, v.registry, v.link))
        .collect();
    Ok(DeviceList {
        devices,
        next_after,
    })
}

/// `GET /api/v1/devices`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<DeviceList>, Failure> {
    for (field, value) in [
        ("prefix", &q.prefix),
        ("manufacturer", &q.manufacturer),
        ("model", &q.model),
        ("gateway", &q.gateway),
        ("after", &q.after),
    ] {
        fields::opt_text(field, value.as_deref(), model::MAX_SHORT_TEXT_BYTES)?;
    }
    Ok(Json(page(&state, &q.filter()).await?))
}

/// A device's account, registry entry and current link.
pub(crate) async fn view(
    state: &AppState,
    id: &str,
) -> Result<(DeviceAccount, Option<Registry>, Option<DeviceLink>), Failure> {
    let account = account(state, id).await?;
    let registry = state.store.get_registry(id).await?;
    let link = state.store.current_link(id).await?;
    Ok((account, registry, link))
}

/// The page size the store uses for `limit`.
pub(crate) fn effective_limit(limit: u32) -> usize {
    let l = if limit == 0 {
        dm_store::DEFAULT_PAGE
    } else {
        limit.min(dm_store::MAX_PAGE)
    };
    usize::try_from(l).unwrap_or(usize::MAX)
}

/// `GET /api/v1/devices/{id}`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Device>, Failure> {
    let (account, registry, link) = view(&state, &id).await?;
    Ok(Json(device_json(&account, registry, link)))
}

/// Query of `GET /api/v1/devices/{id}/links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinksQuery {
    after: Option<i64>,
    #[serde(default)]
    limit: u32,
}

/// `GET /api/v1/devices/{id}/links`: the device's gateway links, oldest first.
pub(crate) async fn links(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<LinksQuery>,
) -> Result<Json<LinkList>, Failure> {
    account(&state, &id).await?;
    let links = state
        .store
        .list_links(&LinkFilter {
            device_id: Some(id),
            after_id: q.after,
            limit: q.limit,
            ..LinkFilter::default()
        })
        .await?;
    let next_after = (links.len() == effective_limit(q.limit))
        .then(|| links.last().map(|l| l.id))
        .flatten();
    Ok(Json(LinkList {
        links: links.into_iter().map(Into::into).collect(),
        next_after,
    }))
}

/// `PATCH /api/v1/devices/{id}`: changes secrets, auth types, notification addresses or the
/// enabled flag; nonces and everything else are kept.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DeviceUpdate>,
) -> Result<Json<Device>, Failure> {
    let mut a = account(&state, &id).await?;
    if req.auth_type == Some(AuthType::None) {
        return Err(Failure::bad_request(
            "auth_type none is not allowed for devices",
        ));
    }
    if let Some(name) = &req.auth_name {
        fields::auth_name(name)?;
        if req.auth_secret.is_none() && *name != a.auth_name {
            return Err(Failure::bad_request(
                "a new auth_name needs auth_secret too (the stored verifier covers the name)",
            ));
        }
        a.auth_name.clone_from(name);
    }
    if let Some(secret) = &req.auth_secret {
        fields::secret("auth_secret", secret)?;
        a.client_verifier = dm_store::md5_verifier(&a.auth_name, secret);
    }
    if let Some(t) = req.auth_type {
        a.client_auth = t.into();
    }
    if let Some(t) = req.server_auth_type {
        a.server_auth = t.into();
    }
    if let Some(secret) = req.server_secret {
        fields::secret("server_secret", &secret)?;
        a.server_secret = Secret::new(secret);
    }
    if let Some(addrs) = req.notify {
        check_notify_addresses(&state, &addrs)?;
        a.notify_addrs = addrs;
    }
    if let Some(enabled) = req.enabled {
        a.enabled = enabled;
    }
    if let Some(kind) = req.kind {
        a.kind = kind.into();
    }
    a.updated_at = now_ms();
    state.store.update_device(&a).await?;
    tracing::info!(device = %Untrusted(&id), "device account updated");
    let (a, registry, link) = view(&state, &id).await?;
    Ok(Json(device_json(&a, registry, link)))
}

/// `DELETE /api/v1/devices/{id}`.
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    fields::device_id(&id)?;
    state.store.delete_device(&id).await?;
    tracing::info!(device = %Untrusted(&id), "device account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/v1/devices/{id}/tree`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TreeQuery {
    #[serde(default)]
    prefix: String,
}

/// `GET /api/v1/devices/{id}/tree`.
pub(crate) async fn tree(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<TreeQuery>,
) -> Result<Json<model::TreeValues>, Failure> {
    fields::node_path("prefix", &q.prefix)?;
    account(&state, &id).await?;
    let values = state.store.list_tree_values(&id, &q.prefix).await?;
    let values = values
        .into_iter()
        .map(|v| model::TreeValue {
            value: dm_store::ResultItem {
                path: v.path,
                format: v.format,
                mime_type: v.mime_type,
                data: v.value,
            },
            updated_at: v.updated_at,
        })
        .collect();
    Ok(Json(model::TreeValues { values }))
}

/// `POST /api/v1/devices/{id}/notify`: Package 0 by the device's route (`route`: directly,
/// to its gateway in Proxy mode, relayed by its gateway in Transparent mode).
pub(crate) async fn notify(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<NotifyResponse>), Failure> {
    let req: NotifyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        NotifyRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Failure::bad_request(e.to_string()))?
    };
    let ui_mode = match req.ui_mode.as_deref() {
        None => UiMode::Background,
        Some(text) => UiMode::parse(text)
            .ok_or_else(|| Failure::bad_request(format!("unknown ui_mode {text:?}")))?,
    };
    let sent = route::notify(&state, &id, ui_mode)
        .await
        .map_err(|e| match e {
            RouteError::NotFound(_) => Failure::new(StatusCode::NOT_FOUND, e.to_string()),
            RouteError::NoRoute(_) | RouteError::Refused(_) => {
                Failure::new(StatusCode::CONFLICT, e.to_string())
            }
            RouteError::Failed(_) => Failure::new(StatusCode::BAD_GATEWAY, e.to_string()),
            RouteError::Encode(_) => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            RouteError::Store(e) => Failure::from(e),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(NotifyResponse {
            session_id: sent.session_id,
            address: sent.address,
            route: sent.route.to_owned(),
            gateway: sent.gateway,
        }),
    ))
}
