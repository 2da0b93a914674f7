//! `/api/v1/gateways/{id}/fanouts` and `/api/v1/fanouts/{id}`: fanouts of DM commands to a
//! group behind a gateway and their consolidated response (docs/gateway.md §9,
//! GwMO-FORA-001/002). The work after creation is [`crate::fanout`]'s.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{FanoutFilter, JobCommand, Store as _};
use serde::Deserialize;

use super::devices::effective_limit;
use super::groups::{gateway, group_name};
use super::model::{
    CommandCounts, Fanout, FanoutException, FanoutList, FanoutProgress, FanoutResult, NewFanout,
    ValueCount,
};
use super::{Failure, JsonBody, QueryArgs, fields};
use crate::fanout::{Detail, Request, Work, carrier_commands, decode_aggregate, operation_id};
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

/// Most explicit targets of one fanout (more: use a group).
pub(crate) const MAX_TARGETS: usize = 10_000;
/// Longest deadline of a fanout (30 days).
pub(crate) const MAX_TIMEOUT_SECS: u64 = 30 * 86_400;

/// `(kind, first path)` of each command in pre-order (CmdID `k` is entry `k - 1`).
fn preorder(commands: &[JobCommand], out: &mut Vec<(String, Option<String>)>) {
    for c in commands {
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push((kind, c.items.first().map(|i| i.path.clone())));
        preorder(&c.children, out);
    }
}

fn result_json(a: &gwmo::fanout::Aggregate, commands: &[JobCommand]) -> FanoutResult {
    let mut names = Vec::new();
    preorder(commands, &mut names);
    FanoutResult {
        targets: a.targets,
        answered: a.answered,
        timed_out: a.timed_out,
        failed: a.failed,
        unknown: a.unknown,
        cancelled: a.cancelled,
        commands: a
            .commands
            .iter()
            .map(|c| {
                let known = c
                    .cmd_ref
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| k.checked_sub(1))
                    .and_then(|i| names.get(i));
                let mut values: Vec<ValueCount> = c
                    .values
                    .iter()
                    .map(|(value, count)| ValueCount {
                        value: value.clone(),
                        count: *count,
                    })
                    .collect();
                values.sort_by_key(|v| std::cmp::Reverse(v.count));
                CommandCounts {
                    cmd_id: c.cmd_ref.clone(),
                    kind: known.map(|k| k.0.clone()),
                    path: known.and_then(|k| k.1.clone()),
                    statuses: c
                        .statuses
                        .iter()
                        .map(|(code, n)| (code.to_string(), *n))
                        .collect(),
                    values,
                    other_values: c.other_values,
                }
            })
            .collect(),
        exceptions: a
            .exceptions
            .iter()
            .map(|e| FanoutException {
                device_id: e.device.clone(),
                outcome: e.outcome.as_str().to_owned(),
                codes: e.codes.iter().cloned().collect(),
            })
            .collect(),
        exceptions_omitted: a.exceptions_omitted,
    }
}

/// The API view of a stored fanout.
pub(crate) fn fanout_json(f: dm_store::Fanout) -> Fanout {
    let d = Detail::of(&f);
    let shown = d
        .result
        .as_deref()
        .or(d.gateway.as_deref())
        .and_then(decode_aggregate);
    let progress = shown.as_ref().map_or_else(FanoutProgress::default, |a| {
        let finished = a.answered + a.timed_out + a.failed + a.unknown + a.cancelled;
        FanoutProgress {
            total: a.targets,
            finished: finished.min(a.targets),
        }
    });
    Fanout {
        id: f.id,
        operation: operation_id(f.id),
        gateway_id: f.gateway_id,
        state: f.state.into(),
        job_id: f.job_id,
        group: d.request.group.clone(),
        targets: d.request.targets.clone(),
        progress,
        result: shown.as_ref().map(|a| result_json(a, &d.request.commands)),
        commands: d.request.commands,
        transparent: d.transparent.into_iter().map(|c| c.device).collect(),
        error: d.error,
        created_at: f.created_at,
        updated_at: f.updated_at,
        completed_at: f.completed_at,
    }
}

/// `POST /api/v1/gateways/{id}/fanouts`: stores the fanout, queues its job on the gateway and
/// notifies the gateway.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Path(gw): Path<String>,
    JsonBody(req): JsonBody<NewFanout>,
) -> Result<(StatusCode, Json<Fanout>), Failure> {
    gateway(&state, &gw).await?;
    if let Some(g) = &req.group {
        group_name(g)?;
    }
    if req.group.is_none() && req.targets.is_empty() {
        return Err(Failure::bad_request("a fanout needs a group or targets"));
    }
    if req.targets.len() > MAX_TARGETS {
        return Err(Failure::bad_request(format!(
            "at most {MAX_TARGETS} explicit targets are accepted: use a group"
        )));
    }
    for t in &req.targets {
        fields::device_id(t)?;
        if t.contains(',') {
            return Err(Failure::bad_request("a target id must not contain ','"));
        }
    }
    if req.commands.is_empty() {
        return Err(Failure::bad_request("a fanout needs at least one command"));
    }
    for c in &req.commands {
        c.validate()
            .map_err(|e| Failure::bad_request(e.to_string()))?;
    }
    fields::job_commands(&req.commands)?;
    let timeout_secs = req.timeout_secs.unwrap_or(300);
    if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
        return Err(Failure::bad_request(format!(
            "timeout_secs is 1..={MAX_TIMEOUT_SECS}"
        )));
    }
    if req.window.is_some_and(|w| w == 0 || w > 1024) {
        return Err(Failure::bad_request("window is 1..=1024"));
    }
    if req
        .attempt_secs
        .is_some_and(|a| a == 0 || a > MAX_TIMEOUT_SECS)
        || req.max_attempts.is_some_and(|m| m == 0 || m > 100)
    {
        return Err(Failure::bad_request(
            "attempt_secs is 1..=2592000, max_attempts 1..=100",
        ));
    }
    let request = Request {
        group: req.group,
        targets: req.targets,
        commands: req.commands,
        timeout_secs,
        window: req.window,
        attempt_secs: req.attempt_secs,
        max_attempts: req.max_attempts,
    };
    let detail = Detail {
        request,
        ..Detail::default()
    };
    let mut f = state
        .store
        .create_fanout(&dm_store::NewFanout {
            gateway_id: gw.clone(),
            detail: serde_json::to_string(&detail)
                .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
            created_at: now_ms(),
        })
        .await?;
    let carrier = carrier_commands(f.id, &detail.request);
    let job = state
        .store
        .create_job(&dm_store::NewJob {
            device_id: gw.clone(),
            commands: carrier,
            created_at: now_ms(),
        })
        .await?;
    f.job_id = Some(job.id);
    f.updated_at = now_ms();
    state.store.update_fanout(&f).await?;
    tracing::info!(gateway = %Untrusted(&gw), fanout = f.id, job = job.id, "fanout queued");
    if let Err(e) =
        crate::route::notify(&state, &gw, syncml::notification::UiMode::Background).await
    {
        tracing::info!(gateway = %Untrusted(&gw), error = %e, "gateway not notified now: it gets the fanout at its next session");
    }
    Ok((StatusCode::CREATED, Json(fanout_json(f))))
}

/// Query of `GET /api/v1/gateways/{id}/fanouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    after: Option<i64>,
    #[serde(default)]
    limit: u32,
}

/// `GET /api/v1/gateways/{id}/fanouts`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Path(gw): Path<String>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<FanoutList>, Failure> {
    gateway(&state, &gw).await?;
    let page = state
        .store
        .list_fanouts(&FanoutFilter {
            gateway_id: Some(gw),
            after_id: q.after,
            limit: q.limit,
            ..FanoutFilter::default()
        })
        .await?;
    let next_after = (page.len() == effective_limit(q.limit))
        .then(|| page.last().map(|f| f.id))
        .flatten();
    Ok(Json(FanoutList {
        fanouts: page.into_iter().map(fanout_json).collect(),
        next_after,
    }))
}

fn parse_id(text: &str) -> Result<i64, Failure> {
    text.parse()
        .map_err(|_| Failure::bad_request("fanout id must be an integer"))
}

/// `GET /api/v1/fanouts/{id}`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Fanout>, Failure> {
    let id = parse_id(&id)?;
    let f =
        state.store.get_fanout(id).await?.ok_or_else(|| {
            Failure::new(StatusCode::NOT_FOUND, format!("fanout not found: {id}"))
        })?;
    Ok(Json(fanout_json(f)))
}

/// `POST /api/v1/fanouts/{id}/cancel`: answered at once (202); the fanout task deletes the
/// gateway's operation and cancels the server's own jobs of it.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Fanout>), Failure> {
    let id = parse_id(&id)?;
    let f =
        state.store.get_fanout(id).await?.ok_or_else(|| {
            Failure::new(StatusCode::NOT_FOUND, format!("fanout not found: {id}"))
        })?;
    if f.state.is_terminal() {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            format!("fanout {id} has ended"),
        ));
    }
    state.fanouts.send(Work::Cancel(id));
    Ok((StatusCode::ACCEPTED, Json(fanout_json(f))))
}
