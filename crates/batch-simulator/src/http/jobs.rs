//! Job and task routes: just enough of the job API to keep nodes busy in tests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::extract::{Query, check_id, parse_body_required};
use super::listing::{list_page, single, to_json};
use super::reply::Reply;
use super::state::AppState;
use crate::clock::{etag_for, format_rfc1123};
use crate::errors::ApiError;
use crate::model::job::TaskState;
use crate::wire::{
    JobCreateBody, TaskCountsResultWire, TaskCountsWire, TaskCreateBody, TaskWire, WithMeta,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list).post(create))
        .route("/jobs/{id}", get(read))
        .route("/jobs/{id}/tasks", get(list_tasks).post(add_task))
        .route("/jobs/{id}/tasks/{task}", get(read_task))
        .route("/jobs/{id}/taskcounts", get(task_counts))
}

type Answer = Result<Reply, ApiError>;

/// `POST /jobs`: an id and `poolInfo.poolId`.
async fn create(State(s): State<AppState>, body: Bytes) -> Answer {
    let b: JobCreateBody = parse_body_required(&body)?;
    let id = check_id(b.id.ok_or_else(|| ApiError::missing_property("id"))?)?;
    let pool = b
        .pool_info
        .and_then(|p| p.pool_id)
        .ok_or_else(|| ApiError::missing_property("poolInfo"))?;
    let base = s.base_url.as_str();
    let mut w = s.lock_world();
    w.create_job(&id, &pool, b.priority.unwrap_or(0))?;
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    Ok(Reply::empty(StatusCode::CREATED).with_headers(vec![
        ("etag", etag_for(j.last_modified)),
        ("last-modified", format_rfc1123(j.last_modified)),
        ("dataserviceid", format!("{base}/jobs/{id}")),
        ("location", format!("{base}/jobs/{id}")),
    ]))
}

/// `GET /jobs`.
async fn list(State(s): State<AppState>, q: Query) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let items = w
        .jobs
        .values()
        .map(|j| (j.id.clone(), j.to_wire(base)))
        .collect();
    let body = list_page(
        items,
        &q,
        format!("{base}/$metadata#jobs"),
        &format!("{base}/jobs"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}

/// `GET /jobs/{id}`.
async fn read(State(s): State<AppState>, Path(id): Path<String>, q: Query) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let body = single(
        &j.to_wire(base),
        &q,
        format!("{base}/$metadata#jobs/@Element"),
    )?;
    Ok(Reply::json(StatusCode::OK, body).with_headers(vec![
        ("etag", etag_for(j.last_modified)),
        ("last-modified", format_rfc1123(j.last_modified)),
    ]))
}

/// `POST /jobs/{id}/tasks`: an id and a command line (which says how long the task runs
/// and how it exits).
async fn add_task(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> Answer {
    let b: TaskCreateBody = parse_body_required(&body)?;
    let tid = check_id(b.id.ok_or_else(|| ApiError::missing_property("id"))?)?;
    let cmd = b
        .command_line
        .ok_or_else(|| ApiError::missing_property("commandLine"))?;
    let base = s.base_url.as_str();
    let mut w = s.lock_world();
    w.add_task(&id, &tid, &cmd, b.required_slots.unwrap_or(1))?;
    let now = w.now();
    Ok(Reply::empty(StatusCode::CREATED).with_headers(vec![
        ("etag", etag_for(now)),
        ("last-modified", format_rfc1123(now)),
        ("dataserviceid", format!("{base}/jobs/{id}/tasks/{tid}")),
        ("location", format!("{base}/jobs/{id}/tasks/{tid}")),
    ]))
}

/// `GET /jobs/{id}/tasks`, in task id order.
async fn list_tasks(State(s): State<AppState>, Path(id): Path<String>, q: Query) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let jurl = format!("{base}/jobs/{}", j.id);
    let mut items: Vec<(String, TaskWire)> = j
        .tasks
        .iter()
        .map(|t| (t.id.clone(), t.to_wire(&jurl, base)))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let body = list_page(
        items,
        &q,
        format!("{base}/$metadata#tasks"),
        &format!("{jurl}/tasks"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}

/// `GET /jobs/{id}/tasks/{task}`.
async fn read_task(
    State(s): State<AppState>,
    Path((id, task)): Path<(String, String)>,
    q: Query,
) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let t = j
        .task_index(&task)
        .map(|i| &j.tasks[i])
        .ok_or_else(ApiError::task_not_found)?;
    let jurl = format!("{base}/jobs/{}", j.id);
    let body = single(
        &t.to_wire(&jurl, base),
        &q,
        format!("{base}/$metadata#tasks/@Element"),
    )?;
    Ok(Reply::json(StatusCode::OK, body).with_headers(vec![
        ("etag", etag_for(t.last_modified)),
        ("last-modified", format_rfc1123(t.last_modified)),
    ]))
}

/// `GET /jobs/{id}/taskcounts`: tasks and their slots by state.
async fn task_counts(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let mut c = TaskCountsWire::default();
    let mut sl = TaskCountsWire::default();
    for t in &j.tasks {
        let slots = t.required_slots;
        match t.state {
            TaskState::Active => {
                c.active += 1;
                sl.active += slots;
            }
            TaskState::Running => {
                c.running += 1;
                sl.running += slots;
            }
            TaskState::Completed => {
                c.completed += 1;
                sl.completed += slots;
                if t.failed() {
                    c.failed += 1;
                    sl.failed += slots;
                } else {
                    c.succeeded += 1;
                    sl.succeeded += slots;
                }
            }
        }
    }
    let body = to_json(&WithMeta {
        metadata: format!("{base}/$metadata#taskcountsresult/@Element"),
        inner: &TaskCountsResultWire {
            task_counts: c,
            task_slot_counts: sl,
        },
    })?;
    Ok(Reply::json(StatusCode::OK, body))
}
