//! Job and task routes: just enough of the job API to keep nodes busy in tests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;

use super::extract::{JOB_CREATE, TASK_CREATE, check_id, count, read_body};
use super::listing::{Get, Kind, to_value, with_metadata};
use super::reply::{Answer, Reply};
use super::state::SimulatorState;
use crate::errors::ErrorReply;
use crate::model::job::{Task, TaskState};
use crate::versions::ApiVersion;
use crate::wire::{JobCreateBody, TaskCountsResultWire, TaskCountsWire, TaskCreateBody};

pub(super) fn routes() -> Router<SimulatorState> {
    Router::new()
        .route("/jobs", get(list).post(create))
        .route("/jobs/{id}", get(read))
        .route("/jobs/{id}/tasks", get(list_tasks).post(add_task))
        .route("/jobs/{id}/tasks/{task}", get(read_task))
        .route("/jobs/{id}/taskcounts", get(task_counts))
}

/// A task as the request's api-version shows it.
fn task_json(t: &Task, job_url: &str, get: &Get) -> Result<Value, ErrorReply> {
    let mut v = to_value(t.to_wire(job_url, get.base()))?;
    get.version.adapt_task(&mut v);
    Ok(v)
}

/// `POST /jobs`: an id and `poolInfo.poolId`.
async fn create(State(s): State<SimulatorState>, version: ApiVersion, body: Bytes) -> Answer {
    let b: JobCreateBody = read_body(&body, version, &JOB_CREATE)?;
    let id = check_id(b.id.ok_or_else(|| ErrorReply::missing_property("id"))?)?;
    let pool = b
        .pool_info
        .and_then(|p| p.pool_id)
        .ok_or_else(|| ErrorReply::missing_property("poolInfo"))?;
    let mut w = s.lock_world();
    let priority = b.priority.unwrap_or(0).clamp(-1000, 1000) as i32;
    w.create_job(&id, &pool, priority)?;
    let j = w.jobs.get(&id).ok_or_else(ErrorReply::job_not_found)?;
    Ok(Reply::created(j.url(&s.base_url), j.last_modified))
}

/// `GET /jobs`.
async fn list(get: Get) -> Answer {
    let w = get.state.lock_world();
    let base = get.base();
    let jobs = w.jobs.values().map(|j| to_value(j.to_wire(base)));
    get.list(Kind::Job, &format!("{base}/jobs"), jobs)
}

/// `GET /jobs/{id}`.
async fn read(get: Get, Path(id): Path<String>) -> Answer {
    let w = get.state.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ErrorReply::job_not_found)?;
    let job = to_value(j.to_wire(get.base()))?;
    get.entity(Kind::Job, job, Some(j.last_modified))
}

/// `POST /jobs/{id}/tasks`: an id and a command line (which says how long the task runs
/// and how it exits).
async fn add_task(
    State(s): State<SimulatorState>,
    Path(id): Path<String>,
    version: ApiVersion,
    body: Bytes,
) -> Answer {
    let b: TaskCreateBody = read_body(&body, version, &TASK_CREATE)?;
    let slots = count("requiredSlots", b.required_slots)?;
    let tid = check_id(b.id.ok_or_else(|| ErrorReply::missing_property("id"))?)?;
    let cmd = b
        .command_line
        .ok_or_else(|| ErrorReply::missing_property("commandLine"))?;
    let mut w = s.lock_world();
    w.add_task(&id, &tid, &cmd, slots.unwrap_or(1))?;
    Ok(Reply::created(
        format!("{}/jobs/{id}/tasks/{tid}", s.base_url),
        w.now(),
    ))
}

/// `GET /jobs/{id}/tasks`.
async fn list_tasks(get: Get, Path(id): Path<String>) -> Answer {
    let w = get.state.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ErrorReply::job_not_found)?;
    let jurl = j.url(get.base());
    let tasks = j.tasks.iter().map(|t| task_json(t, &jurl, &get));
    get.list(Kind::Task, &format!("{jurl}/tasks"), tasks)
}

/// `GET /jobs/{id}/tasks/{task}`.
async fn read_task(get: Get, Path((id, task)): Path<(String, String)>) -> Answer {
    let w = get.state.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ErrorReply::job_not_found)?;
    let t = j
        .task_index(&task)
        .map(|i| &j.tasks[i])
        .ok_or_else(ErrorReply::task_not_found)?;
    let task = task_json(t, &j.url(get.base()), &get)?;
    get.entity(Kind::Task, task, Some(t.last_modified))
}

/// `GET /jobs/{id}/taskcounts`: tasks and their slots by state.
async fn task_counts(
    State(s): State<SimulatorState>,
    Path(id): Path<String>,
    version: ApiVersion,
) -> Answer {
    if !version.has_task_counts() {
        return Err(ErrorReply::resource_not_found());
    }
    let base = s.base_url.as_str();
    let w = s.lock_world();
    let j = w.jobs.get(&id).ok_or_else(ErrorReply::job_not_found)?;
    // A task counts once among the tasks and `requiredSlots` times among the slots.
    let tally = |counts: &mut TaskCountsWire, t: &Task, n: u32| match t.state {
        TaskState::Active => counts.active += n,
        TaskState::Running => counts.running += n,
        TaskState::Completed => {
            counts.completed += n;
            if t.failed() {
                counts.failed += n;
            } else {
                counts.succeeded += n;
            }
        }
    };
    let (mut c, mut sl) = (TaskCountsWire::default(), TaskCountsWire::default());
    for t in &j.tasks {
        tally(&mut c, t, 1);
        tally(&mut sl, t, t.required_slots);
    }
    let mut v = to_value(TaskCountsResultWire {
        task_counts: c,
        task_slot_counts: sl,
    })?;
    version.adapt_task_counts(&mut v);
    let metadata = if version.has_task_slots() {
        "taskcountsresult"
    } else {
        "taskcounts"
    };
    let body = with_metadata(format!("{base}/$metadata#{metadata}/@Element"), v)?;
    Ok(Reply::json(StatusCode::OK, body))
}
