//! `/api/v1/gateways/{id}/groups...`: device groups on a gateway (docs/gateway.md §8,
//! GwMO-Group-001/002).
//!
//! The server keeps each definition it gave and pushes every change to the gateway as a job
//! of DM commands on `./GwMO/DeviceInventory/Groups/<name>` (Add / Replace / Delete), then
//! notifies the gateway; `job_state` shows whether the gateway has the change.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{CommandKind, DeviceKind, GatewayGroup, JobCommand, JobItem, NewJob, Store as _};

use super::model::{Group, GroupChange, GroupList, GroupMatch, NewGroup};
use super::{Failure, JsonBody, fields};
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

/// Longest group name.
pub(crate) const MAX_GROUP_NAME_BYTES: usize = 64;
/// Most explicit members of a group (docs/gateway.md §8).
pub(crate) const MAX_MEMBERS: usize = 100_000;
/// Longest encoded match.
pub(crate) const MAX_MATCH_BYTES: usize = 4096;
/// The keys a match may use.
pub(crate) const MATCH_KEYS: [&str; 7] = [
    "man",
    "mod",
    "mode",
    "protocol",
    "kind",
    "status",
    "id_prefix",
];

/// A group name: one DM node name of letters, digits, `.`, `_`, `-`.
pub(crate) fn group_name(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() <= MAX_GROUP_NAME_BYTES
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Failure::bad_request(format!(
            "a group name is 1..={MAX_GROUP_NAME_BYTES} letters, digits, '.', '_' or '-'"
        )))
    }
}

fn members(list: &[String]) -> Result<(), Failure> {
    if list.len() > MAX_MEMBERS {
        return Err(Failure::bad_request(format!(
            "at most {MAX_MEMBERS} members are accepted"
        )));
    }
    for m in list {
        fields::device_id(m)?;
        if m.contains(',') {
            return Err(Failure::bad_request("a member id must not contain ','"));
        }
    }
    Ok(())
}

/// The `Match` node's text of a match (form-urlencoded), checked.
pub(crate) fn encode_match(m: &GroupMatch) -> Result<String, Failure> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, values) in m {
        if !MATCH_KEYS.contains(&k.as_str()) {
            return Err(Failure::bad_request(format!(
                "unknown match key {:?}; known: {}",
                Untrusted(k),
                MATCH_KEYS.join(", ")
            )));
        }
        for v in values {
            fields::text("match value", v, MAX_MATCH_BYTES)?;
            out.append_pair(k, v);
        }
    }
    let text = out.finish();
    if text.len() > MAX_MATCH_BYTES {
        return Err(Failure::bad_request(format!(
            "the match is {} bytes encoded; at most {MAX_MATCH_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(text)
}

fn decode_match(text: &str) -> GroupMatch {
    let mut m = GroupMatch::new();
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        m.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    m
}

fn group_uri(name: &str) -> String {
    format!("./GwMO/DeviceInventory/Groups/{name}")
}

fn leaf(kind: CommandKind, path: String, format: &str, value: Option<String>) -> JobCommand {
    JobCommand {
        kind,
        items: vec![JobItem {
            path,
            value,
            format: Some(format.to_owned()),
            ..JobItem::default()
        }],
        children: Vec::new(),
    }
}

/// Queues `commands` on the gateway and notifies it (best effort: a gateway not reachable now
/// gets them at its next session).
pub(crate) async fn push(
    state: &AppState,
    gateway: &str,
    commands: Vec<JobCommand>,
) -> Result<i64, Failure> {
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
        tracing::info!(gateway = %Untrusted(gateway), error = %e, "gateway not notified now: it gets the job at its next session");
    }
    Ok(job.id)
}

/// The gateway `id`, which must be a device of kind gateway.
pub(crate) async fn gateway(state: &AppState, id: &str) -> Result<(), Failure> {
    fields::device_id(id)?;
    match state.store.get_device(id).await? {
        Some(a) if a.kind == DeviceKind::Gateway => Ok(()),
        Some(_) => Err(Failure::new(
            StatusCode::CONFLICT,
            format!("{id} is not a gateway"),
        )),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("device not found: {id}"),
        )),
    }
}

async fn group_json(state: &AppState, g: GatewayGroup) -> Result<Group, Failure> {
    let job_state = match g.job_id {
        Some(j) => state.store.get_job(j).await?.map(|j| j.state.into()),
        None => None,
    };
    Ok(Group {
        gateway_id: g.gateway_id,
        name: g.name,
        members: g.members,
        match_rule: g.match_rule.as_deref().map(decode_match),
        job_id: g.job_id,
        job_state,
        updated_at: g.updated_at,
    })
}

/// `POST /api/v1/gateways/{id}/groups`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Path(gw): Path<String>,
    JsonBody(req): JsonBody<NewGroup>,
) -> Result<(StatusCode, Json<Group>), Failure> {
    gateway(&state, &gw).await?;
    group_name(&req.name)?;
    members(&req.members)?;
    let match_rule = req.match_rule.as_ref().map(encode_match).transpose()?;
    if state.store.get_group(&gw, &req.name).await?.is_some() {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            format!("group {} exists on {gw}", req.name),
        ));
    }
    let uri = group_uri(&req.name);
    let mut steps = vec![
        leaf(CommandKind::Add, uri.clone(), "node", None),
        leaf(
            CommandKind::Add,
            format!("{uri}/Members"),
            "chr",
            Some(req.members.join(",")),
        ),
    ];
    if let Some(m) = &match_rule {
        steps.push(leaf(
            CommandKind::Add,
            format!("{uri}/Match"),
            "chr",
            Some(m.clone()),
        ));
    }
    let job = push(
        &state,
        &gw,
        vec![JobCommand {
            kind: CommandKind::Sequence,
            items: Vec::new(),
            children: steps,
        }],
    )
    .await?;
    let g = GatewayGroup {
        gateway_id: gw.clone(),
        name: req.name,
        members: req.members,
        match_rule,
        job_id: Some(job),
        updated_at: now_ms(),
    };
    state.store.put_group(&g).await?;
    tracing::info!(gateway = %Untrusted(&gw), group = %g.name, job, "group created");
    Ok((StatusCode::CREATED, Json(group_json(&state, g).await?)))
}

/// `GET /api/v1/gateways/{id}/groups`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(gw): Path<String>,
) -> Result<Json<GroupList>, Failure> {
    gateway(&state, &gw).await?;
    let mut groups = Vec::new();
    for g in state.store.list_groups(&gw).await? {
        groups.push(group_json(&state, g).await?);
    }
    Ok(Json(GroupList { groups }))
}

async fn stored(state: &AppState, gw: &str, name: &str) -> Result<GatewayGroup, Failure> {
    gateway(state, gw).await?;
    group_name(name)?;
    state
        .store
        .get_group(gw, name)
        .await?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("no group {name} on {gw}")))
}

/// `GET /api/v1/gateways/{id}/groups/{name}`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path((gw, name)): Path<(String, String)>,
) -> Result<Json<Group>, Failure> {
    let g = stored(&state, &gw, &name).await?;
    Ok(Json(group_json(&state, g).await?))
}

/// `PATCH /api/v1/gateways/{id}/groups/{name}`: members added and removed, the match changed.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    Path((gw, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<GroupChange>,
) -> Result<Json<Group>, Failure> {
    let mut g = stored(&state, &gw, &name).await?;
    members(&req.add)?;
    members(&req.remove)?;
    let remove: BTreeSet<&String> = req.remove.iter().collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let merged: Vec<String> = g
        .members
        .iter()
        .chain(req.add.iter())
        .filter(|m| !remove.contains(m))
        .filter(|m| seen.insert((*m).clone()))
        .cloned()
        .collect();
    members(&merged)?;
    let uri = group_uri(&name);
    let mut steps = Vec::new();
    if merged != g.members {
        steps.push(leaf(
            CommandKind::Replace,
            format!("{uri}/Members"),
            "chr",
            Some(merged.join(",")),
        ));
        g.members = merged;
    }
    if req.clear_match && req.match_rule.is_some() {
        return Err(Failure::bad_request("match and clear_match together"));
    }
    if let Some(m) = &req.match_rule {
        let text = encode_match(m)?;
        let kind = if g.match_rule.is_some() {
            CommandKind::Replace
        } else {
            CommandKind::Add
        };
        steps.push(leaf(
            kind,
            format!("{uri}/Match"),
            "chr",
            Some(text.clone()),
        ));
        g.match_rule = Some(text);
    } else if req.clear_match && g.match_rule.is_some() {
        steps.push(JobCommand::on_paths(
            CommandKind::Delete,
            [format!("{uri}/Match")],
        ));
        g.match_rule = None;
    }
    if !steps.is_empty() {
        let job = push(
            &state,
            &gw,
            vec![JobCommand {
                kind: CommandKind::Sequence,
                items: Vec::new(),
                children: steps,
            }],
        )
        .await?;
        g.job_id = Some(job);
        g.updated_at = now_ms();
        state.store.put_group(&g).await?;
        tracing::info!(gateway = %Untrusted(&gw), group = %name, job, "group changed");
    }
    Ok(Json(group_json(&state, g).await?))
}

/// `DELETE /api/v1/gateways/{id}/groups/{name}`: the gateway forgets the group (not its
/// devices).
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    Path((gw, name)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    stored(&state, &gw, &name).await?;
    let job = push(
        &state,
        &gw,
        vec![JobCommand::on_paths(
            CommandKind::Delete,
            [group_uri(&name)],
        )],
    )
    .await?;
    state.store.delete_group(&gw, &name).await?;
    tracing::info!(gateway = %Untrusted(&gw), group = %name, job, "group deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_node_names() {
        for ok in ["meters", "floor-3.cams", "A_1"] {
            assert!(group_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(group_name(bad).is_err(), "{bad}");
        }
    }

    /// GwMO-Group-001: a match travels as the form-urlencoded `Match` node and reads back.
    #[test]
    fn gwmo_group_001_match_round_trips_and_unknown_keys_are_refused() {
        let mut m = GroupMatch::new();
        m.insert("man".into(), vec!["Acme & Co".into()]);
        m.insert("mode".into(), vec!["Proxy".into(), "Transparent".into()]);
        let text = encode_match(&m).unwrap();
        assert_eq!(text, "man=Acme+%26+Co&mode=Proxy&mode=Transparent");
        assert_eq!(decode_match(&text), m);
        let mut bad = GroupMatch::new();
        bad.insert("colour".into(), vec!["red".into()]);
        assert!(encode_match(&bad).is_err());
    }
}
