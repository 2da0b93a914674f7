//! `/api/v1/jobs...`: queue, read, list and cancel jobs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dm_store::{JobFilter, Store as _};
use serde::Deserialize;

use super::model::{CommandOutcome, Job, JobList, JobState, NewJob};
use super::{Failure, JsonBody, QueryArgs, fields};
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

pub(crate) fn job_json(job: dm_store::Job) -> Job {
    Job {
        id: job.id,
        device_id: job.device_id,
        state: job.state.into(),
        commands: job.commands,
        attempts: job.attempts,
        via_gateway: job.gateway,
        awaiting_since: job.awaiting_since,
        results: job
            .results
            .into_iter()
            .map(|r| CommandOutcome {
                index: r.index,
                cmd_id: r.cmd_id,
                status: r.status,
                items: r.items,
                completed_at: r.completed_at,
                error: r.error,
            })
            .collect(),
        created_at: job.created_at,
        updated_at: job.updated_at,
        completed_at: job.completed_at,
    }
}

/// `POST /api/v1/jobs`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(req): JsonBody<NewJob>,
) -> Result<(StatusCode, Json<Job>), Failure> {
    fields::device_id(&req.device_id)?;
    if req.commands.is_empty() {
        return Err(Failure::bad_request("a job needs at least one command"));
    }
    for c in &req.commands {
        c.validate()
            .map_err(|e| Failure::bad_request(e.to_string()))?;
    }
    fields::job_commands(&req.commands)?;
    let job = state
        .store
        .create_job(&dm_store::NewJob {
            device_id: req.device_id,
            commands: req.commands,
            created_at: now_ms(),
        })
        .await?;
    tracing::info!(job = job.id, device = %Untrusted(&job.device_id), "job queued");
    Ok((StatusCode::CREATED, Json(job_json(job))))
}

/// Query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    device_id: Option<String>,
    state: Option<JobState>,
    after: Option<i64>,
    #[serde(default)]
    limit: u32,
}

/// `GET /api/v1/jobs`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<JobList>, Failure> {
    if let Some(id) = &q.device_id {
        fields::device_id(id)?;
    }
    let filter = JobFilter {
        device_id: q.device_id,
        state: q.state.map(Into::into),
        after_id: q.after,
        limit: q.limit,
    };
    let jobs = state.store.list_jobs(&filter).await?;
    let next_after = (jobs.len() == super::devices::effective_limit(q.limit))
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok(Json(JobList {
        jobs: jobs.into_iter().map(job_json).collect(),
        next_after,
    }))
}

/// `GET /api/v1/jobs/{id}`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Job>, Failure> {
    let id = parse_id(&id)?;
    let job = state
        .store
        .get_job(id)
        .await?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("job not found: {id}")))?;
    Ok(Json(job_json(job)))
}

/// `POST /api/v1/jobs/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Job>, Failure> {
    let id = parse_id(&id)?;
    let job = state.store.cancel_job(id, now_ms()).await?;
    tracing::info!(job = id, "job cancelled");
    Ok(Json(job_json(job)))
}

fn parse_id(text: &str) -> Result<i64, Failure> {
    text.parse()
        .map_err(|_| Failure::bad_request("job id must be an integer"))
}
