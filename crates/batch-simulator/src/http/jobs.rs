//! Job and task routes: just enough of the job API to keep nodes busy in tests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::extract::{JOB_CREATE, Query, TASK_CREATE, check_id, count, read_body};
use super::listing::{Kind, list_page, single, to_json};
use super::reply::Reply;
use super::state::AppState;
use crate::clock::{etag_for, format_rfc1123};
use crate::errors::ApiError;
use crate::model::job::{Job, Task, TaskState};
use crate::versions::ApiVersion;
use crate::wire::{JobCreateBody, TaskCountsResultWire, TaskCountsWire, TaskCreateBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list).post(create))
        .route("/jobs/{id}", get(read))
        .route("/jobs/{id}/tasks", get(list_tasks).post(add_task))
        .route("/jobs/{id}/tasks/{task}", get(read_task))
        .route("/jobs/{id}/taskcounts", get(task_counts))
}

type Answer = Result<Reply, ApiError>;

fn job_json(j: &Job, base: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(j.to_wire(base)).map_err(|_| ApiError::internal("InternalError"))
}

/// A task as `version` shows it.
fn task_json(
    t: &Task,
    job_url: &str,
    base: &str,
    version: ApiVersion,
) -> Result<serde_json::Value, ApiError> {
    let mut v = serde_json::to_value(t.to_wire(job_url, base))
        .map_err(|_| ApiError::internal("InternalError"))?;
    version.adapt_task(&mut v);
    Ok(v)
}

/// `POST /jobs`: an id and `poolInfo.poolId`.
async fn create(State(s): State<AppState>, version: ApiVersion, body: Bytes) -> Answer {
    let b: JobCreateBody = read_body(&body, version, &JOB_CREATE)?;
    let id = check_id(b.id.ok_or_else(|| ApiError::missing_property("id"))?)?;
    let pool = b
        .pool_info
        .and_then(|p| p.pool_id)
        .ok_or_else(|| ApiError::missing_property("poolInfo"))?;
    let base = s.base_url.as_str();
    let mut w = s.lock_world();
    let priority = b.priority.unwrap_or(0).clamp(-1000, 1000) as i32;
    w.create_job(&id, &pool, priority)?;
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    Ok(Reply::empty(StatusCode::CREATED).with_headers(vec![
        ("etag", etag_for(j.last_modified)),
        ("last-modified", format_rfc1123(j.last_modified)),
        ("dataserviceid", format!("{base}/jobs/{id}")),
        ("location", format!("{base}/jobs/{id}")),
    ]))
}

/// `GET /jobs`.
async fn list(State(s): State<AppState>, version: ApiVersion, q: Query) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let items = w
        .jobs
        .values()
        .map(|j| Ok((j.id.clone(), job_json(j, base)?)))
        .collect::<Result<_, ApiError>>()?;
    let body = list_page(
        Kind::Job,
        version,
        items,
        &q,
        format!("{base}/$metadata#jobs"),
        &format!("{base}/jobs"),
    )?;
    Ok(Reply::json(StatusCode::OK, body))
}

/// `GET /jobs/{id}`.
async fn read(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let body = single(
        Kind::Job,
        version,
        job_json(j, base)?,
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
async fn add_task(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: ApiVersion,
    body: Bytes,
) -> Answer {
    let b: TaskCreateBody = read_body(&body, version, &TASK_CREATE)?;
    let slots = count("requiredSlots", b.required_slots)?;
    let tid = check_id(b.id.ok_or_else(|| ApiError::missing_property("id"))?)?;
    let cmd = b
        .command_line
        .ok_or_else(|| ApiError::missing_property("commandLine"))?;
    let base = s.base_url.as_str();
    let mut w = s.lock_world();
    w.add_task(&id, &tid, &cmd, slots.unwrap_or(1))?;
    let now = w.now();
    Ok(Reply::empty(StatusCode::CREATED).with_headers(vec![
        ("etag", etag_for(now)),
        ("last-modified", format_rfc1123(now)),
        ("dataserviceid", format!("{base}/jobs/{id}/tasks/{tid}")),
        ("location", format!("{base}/jobs/{id}/tasks/{tid}")),
    ]))
}

/// `GET /jobs/{id}/tasks`, in task id order.
async fn list_tasks(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> Answer {
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
    let jurl = format!("{base}/jobs/{}", j.id);
    let mut items: Vec<(String, serde_json::Value)> = j
        .tasks
        .iter()
        .map(|t| Ok((t.id.clone(), task_json(t, &jurl, base, version)?)))
        .collect::<Result<_, ApiError>>()?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let body = list_page(
        Kind::Task,
        version,
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
    version: ApiVersion,
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
        Kind::Task,
        version,
        task_json(t, &jurl, base, version)?,
        &q,
        format!("{base}/$metadata#tasks/@Element"),
    )?;
    Ok(Reply::json(StatusCode::OK, body).with_headers(vec![
        ("etag", etag_for(t.last_modified)),
        ("last-modified", format_rfc1123(t.last_modified)),
    ]))
}

/// `GET /jobs/{id}/taskcounts`: tasks and their slots by state.
async fn task_counts(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: ApiVersion,
) -> Answer {
    if !version.has_task_counts() {
        return Err(ApiError::resource_not_found());
    }
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
    let mut v = serde_json::to_value(TaskCountsResultWire {
        task_counts: c,
        task_slot_counts: sl,
    })
    .map_err(|_| ApiError::internal("InternalError"))?;
    version.adapt_task_counts(&mut v);
    let metadata = if version.has_task_slots() {
        "taskcountsresult"
    } else {
        "taskcounts"
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "odata.metadata".into(),
        serde_json::Value::String(format!("{base}/$metadata#{metadata}/@Element")),
    );
    if let serde_json::Value::Object(m) = v {
        out.extend(m);
    }
    let body = to_json(&serde_json::Value::Object(out))?;
    Ok(Reply::json(StatusCode::OK, body))
}
