//! The Batch data-plane routes.
//!
//! Each handler: validate the request (body first — the service rejects a bad body even
//! for a pool that does not exist), lock the world, advance it to simulated now, act,
//! render. The lock is held only for the in-memory work, never across an `.await`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::clock::{format_rfc1123, parse_iso_duration};
use super::errors::ApiError;
use super::model::node::Dealloc;
use super::model::pool::{default_vm_config, normalize_start_task};
use super::odata::{apply_select, parse_filter, parse_select};
use super::server::Shared;
use super::wire::*;
use super::world::{NewPool, World};

/// The only data-plane version served.
pub const API_VERSION: &str = "2025-06-01";

/// JSON content type exactly as the service sends it.
pub const JSON_CT: &str = "application/json;odata=minimalmetadata";

/// Decoded query parameters.
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler produces before the server adds the common headers.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Reply {
    fn json(status: StatusCode, body: String) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn into_response(self, head: bool) -> Response<Body> {
        let mut b = Response::builder().status(self.status);
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                b = b.header(*k, v);
            }
        }
        let body = match self.body {
            Some(s) => {
                b = b.header("content-type", JSON_CT);
                if head { Body::empty() } else { Body::from(s) }
            }
            None => Body::empty(),
        };
        b.body(body)
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|_| ApiError::internal("InternalError"))
}

fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_body(e.to_string()))
}

fn parse_body_required<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let slice: &[u8] = if body.iter().all(|b| b.is_ascii_whitespace()) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(slice).map_err(|e| ApiError::invalid_body(e.to_string()))
}

fn parse_timeout(v: Option<&str>) -> Result<(String, Duration), ApiError> {
    match v {
        None => Ok(("PT15M".into(), Duration::from_secs(900))),
        Some(s) => {
            let d = parse_iso_duration(s).ok_or_else(|| {
                ApiError::invalid_property(
                    "resizeTimeout",
                    s,
                    "The value is not a valid ISO-8601 duration.",
                )
            })?;
            if d < Duration::from_secs(300) {
                return Err(ApiError::invalid_property(
                    "resizeTimeout",
                    s,
                    "The specified resize timeout is less than the minimum of 5 minutes.",
                ));
            }
            Ok((s.to_string(), d))
        }
    }
}

fn parse_dealloc(v: Option<&str>) -> Result<Dealloc, ApiError> {
    match v {
        None => Ok(Dealloc::Requeue),
        Some(s) => Dealloc::parse(s).ok_or_else(|| {
            ApiError::invalid_property(
                "nodeDeallocationOption",
                s,
                "Must be one of requeue, terminate, taskcompletion, retaineddata.",
            )
        }),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `If-Match` / `If-None-Match` (the two the service honours that matter for ETags).
fn check_conditions(headers: &HeaderMap, etag: &str, read: bool) -> Result<(), ApiError> {
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ];
    if names.iter().filter(|n| headers.contains_key(**n)).count() > 1 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MultipleConditionHeadersNotSupported",
            "Multiple condition headers are not supported.",
        ));
    }
    let val = |n: &str| {
        headers.get(n).and_then(|v| v.to_str().ok()).map(|s| {
            s.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        })
    };
    let failed = if read {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::PRECONDITION_FAILED
    };
    if let Some(m) = val("if-match")
        && m != "*"
        && !m.eq_ignore_ascii_case(etag)
    {
        return Err(ApiError::condition_not_met(StatusCode::PRECONDITION_FAILED));
    }
    if let Some(m) = val("if-none-match")
        && (m == "*" || m.eq_ignore_ascii_case(etag))
    {
        return Err(ApiError::condition_not_met(failed));
    }
    Ok(())
}

fn pool_headers(base: &str, p: &super::model::pool::Pool) -> Vec<(&'static str, String)> {
    vec![
        ("etag", p.etag()),
        ("last-modified", format_rfc1123(p.last_modified)),
        ("dataserviceid", format!("{base}/pools/{}", p.id)),
    ]
}

/// One list page with `$filter`, `$select`, `maxresults` and `$skiptoken` applied.
/// `items` must be sorted by key.
fn list_page<T: Serialize>(
    items: Vec<(String, T)>,
    q: &Query,
    metadata: String,
    next_base: &str,
) -> Result<String, ApiError> {
    let filter = match q.get("$filter") {
        Some(f) => Some(parse_filter(f).map_err(|e| ApiError::invalid_query("$filter", f, &e.0))?),
        None => None,
    };
    let max = match q.get("maxresults") {
        None => 1000usize,
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::invalid_query("maxresults", s, "MaxResults must be an integer")
            })?;
            if n < 1 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be less than 1",
                ));
            }
            if n > 1000 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be greater than 1000",
                ));
            }
            n as usize
        }
    };
    let after = q.get("$skiptoken").map(str::to_string);
    let select = q.get("$select").map(parse_select);
    let mut out: Vec<Value> = Vec::new();
    let mut next = None;
    for (key, item) in items {
        if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
            continue;
        }
        let mut v = serde_json::to_value(&item).map_err(|_| ApiError::internal("InternalError"))?;
        if let Some(f) = &filter
            && !f.matches(&v)
        {
            continue;
        }
        if out.len() == max {
            next = out
                .last()
                .and_then(|l| l.get("id").or_else(|| l.get("poolId")))
                .and_then(Value::as_str)
                .map(str::to_string);
            break;
        }
        if let Some(s) = &select {
            // Keep the key so paging still works, drop it afterwards.
            apply_select(
                &mut v,
                &[s.clone(), vec!["id".into(), "poolId".into()]].concat(),
            );
        }
        out.push(v);
    }
    let next_link = next.map(|last| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skiptoken", &last);
        format!("{next_base}?{}", ser.finish())
    });
    if let Some(s) = &select {
        let keep_id = s.iter().any(|x| x.eq_ignore_ascii_case("id"));
        let keep_pid = s.iter().any(|x| x.eq_ignore_ascii_case("poolId"));
        for v in &mut out {
            if let Value::Object(m) = v {
                if !keep_id {
                    m.remove("id");
                }
                if !keep_pid {
                    m.remove("poolId");
                }
            }
        }
    }
    to_json(&ListPage {
        metadata,
        value: out,
        next_link,
    })
}

fn single<T: Serialize>(item: &T, q: &Query, metadata: String) -> Result<String, ApiError> {
    match q.get("$select") {
        None => to_json(&WithMeta {
            metadata,
            inner: item,
        }),
        Some(s) => {
            let mut v =
                serde_json::to_value(item).map_err(|_| ApiError::internal("InternalError"))?;
            apply_select(&mut v, &parse_select(s));
            if let Value::Object(m) = &mut v {
                m.insert("odata.metadata".into(), Value::String(metadata));
            }
            to_json(&v)
        }
    }
}

/// Dispatch one authenticated Batch request.
pub fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let base = shared.base_url.as_str();
    let meta = |what: &str| format!("{base}/$metadata#{what}");
    let mut w = shared.lock_world();
    let w: &mut World = &mut w;
    let m = method.clone();
    let is_get = m == Method::GET || m == Method::HEAD;

    match (segs.as_slice(), &m) {
        (["pools"], &Method::GET) => {
            let items = w
                .pools
                .values()
                .map(|p| (p.id.clone(), p.to_wire(base)))
                .collect();
            Ok(Reply::json(
                StatusCode::OK,
                list_page(items, q, meta("pools"), &format!("{base}/pools"))?,
            ))
        }
        (["pools"], &Method::POST) => {
            let b: PoolCreateBody = parse_body_required(body)?;
            let id =
                b.id.clone()
                    .ok_or_else(|| ApiError::missing_property("id"))?;
            if !valid_id(&id) {
                return Err(ApiError::invalid_property(
                    "id",
                    id,
                    "The id may contain up to 64 letters, digits, hyphens and underscores.",
                ));
            }
            let vm = b
                .vm_size
                .clone()
                .ok_or_else(|| ApiError::missing_property("vmSize"))?;
            let timeout = parse_timeout(b.resize_timeout.as_deref())?;
            let auto = b.enable_auto_scale.unwrap_or(false);
            if auto && (b.target_dedicated_nodes.is_some() || b.target_low_priority_nodes.is_some())
            {
                return Err(ApiError::invalid_property(
                    "targetDedicatedNodes",
                    "set",
                    "Targets cannot be given when enableAutoScale is true.",
                ));
            }
            let auto_scale = if auto {
                let f = b
                    .auto_scale_formula
                    .clone()
                    .ok_or_else(|| ApiError::missing_property("autoScaleFormula"))?;
                Some((
                    f,
                    b.auto_scale_evaluation_interval
                        .clone()
                        .unwrap_or_else(|| "PT15M".into()),
                ))
            } else {
                None
            };
            w.create_pool(NewPool {
                id: id.clone(),
                display_name: b.display_name,
                vm_size: vm.to_ascii_lowercase(),
                vm_config: Some(
                    b.virtual_machine_configuration
                        .unwrap_or_else(default_vm_config),
                ),
                start_task: b.start_task.map(normalize_start_task),
                metadata: b.metadata.unwrap_or_default(),
                task_slots_per_node: b.task_slots_per_node.unwrap_or(1),
                enable_inter_node_communication: b.enable_inter_node_communication.unwrap_or(false),
                target_dedicated: b.target_dedicated_nodes.unwrap_or(0),
                target_low_priority: b.target_low_priority_nodes.unwrap_or(0),
                resize_timeout: timeout,
                auto_scale,
            })?;
            let p = w
                .pools
                .get(&id)
                .ok_or_else(|| ApiError::internal("InternalError"))?;
            let mut r = Reply::empty(StatusCode::CREATED);
            r.headers = pool_headers(base, p);
            r.headers.push(("location", format!("{base}/pools/{id}")));
            Ok(r)
        }
        (["pools", id], _) if is_get => {
            let p = w.pools.get(*id).ok_or_else(ApiError::pool_not_found)?;
            check_conditions(headers, &p.etag(), true)?;
            let mut r = Reply::json(
                StatusCode::OK,
                single(&p.to_wire(base), q, meta("pools/@Element"))?,
            );
            r.headers = pool_headers(base, p);
            r.headers.retain(|(k, _)| *k != "dataserviceid");
            Ok(r)
        }
        (["pools", id], &Method::PATCH) => {
            let b: PoolPatchBody = parse_body(body)?;
            if let Some(md) = &b.metadata
                && md.iter().any(|nv| nv.name.is_empty())
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "EmptyMetadataKey",
                    "A metadata name cannot be empty.",
                ));
            }
            let p = w.pool_for_change(id)?;
            check_conditions(headers, &p.etag(), false)?;
            w.patch_pool(id, b.metadata, b.start_task, b.display_name)?;
            let p = w.pools.get(*id).ok_or_else(ApiError::pool_not_found)?;
            let mut r = Reply::empty(StatusCode::OK);
            r.headers = pool_headers(base, p);
            Ok(r)
        }
        (["pools", id], &Method::DELETE) => {
            if let Some(p) = w.pools.get(*id) {
                check_conditions(headers, &p.etag(), false)?;
            }
            w.delete_pool(id)?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        (["pools", id, action], &Method::POST) => {
            let id = *id;
            match *action {
                "resize" => {
                    let b: ResizeBody = parse_body(body)?;
                    if b.target_dedicated_nodes.is_none() && b.target_low_priority_nodes.is_none() {
                        return Err(ApiError::missing_property(
                            "targetDedicatedNodes and/or targetLowPriorityNodes",
                        ));
                    }
                    let timeout = parse_timeout(b.resize_timeout.as_deref())?;
                    let dealloc = parse_dealloc(b.node_deallocation_option.as_deref())?;
                    let p = w.pool_for_change(id)?;
                    check_conditions(headers, &p.etag(), false)?;
                    w.resize(
                        id,
                        b.target_dedicated_nodes,
                        b.target_low_priority_nodes,
                        timeout,
                        dealloc,
                    )?;
                }
                "stopresize" => {
                    let p = w.pool_for_change(id)?;
                    check_conditions(headers, &p.etag(), false)?;
                    w.stop_resize(id)?;
                }
                "removenodes" => {
                    let b: RemoveNodesBody = parse_body(body)?;
                    let list = b
                        .node_list
                        .ok_or_else(|| ApiError::missing_property("nodeList"))?;
                    if list.is_empty() || list.len() > 100 {
                        return Err(ApiError::invalid_property(
                            "nodeList",
                            list.len().to_string(),
                            "nodeList must hold between 1 and 100 node ids.",
                        ));
                    }
                    let timeout = parse_timeout(b.resize_timeout.as_deref())?;
                    let dealloc = parse_dealloc(b.node_deallocation_option.as_deref())?;
                    let p = w.pool_for_change(id)?;
                    check_conditions(headers, &p.etag(), false)?;
                    w.remove_nodes(id, &list, timeout, dealloc)?;
                }
                "enableautoscale" => {
                    let b: EnableAutoScaleBody = parse_body(body)?;
                    if let Some(i) = &b.auto_scale_evaluation_interval {
                        let d = parse_iso_duration(i).ok_or_else(|| {
                            ApiError::invalid_property(
                                "autoScaleEvaluationInterval",
                                i.as_str(),
                                "Not a valid ISO-8601 duration.",
                            )
                        })?;
                        if d < Duration::from_secs(300) || d > Duration::from_secs(168 * 3600) {
                            return Err(ApiError::invalid_property(
                                "autoScaleEvaluationInterval",
                                i.as_str(),
                                "Must be between 5 minutes and 168 hours.",
                            ));
                        }
                    }
                    let p = w.pool_for_change(id)?;
                    check_conditions(headers, &p.etag(), false)?;
                    w.enable_autoscale(id, b.auto_scale_formula, b.auto_scale_evaluation_interval)?;
                    let p = w.pools.get(id).ok_or_else(ApiError::pool_not_found)?;
                    let mut r = Reply::empty(StatusCode::OK);
                    r.headers = pool_headers(base, p);
                    return Ok(r);
                }
                "disableautoscale" => {
                    w.disable_autoscale(id)?;
                    let p = w.pools.get(id).ok_or_else(ApiError::pool_not_found)?;
                    let mut r = Reply::empty(StatusCode::OK);
                    r.headers = pool_headers(base, p);
                    return Ok(r);
                }
                _ => return Err(ApiError::resource_not_found()),
            }
            let p = w.pools.get(id).ok_or_else(ApiError::pool_not_found)?;
            let mut r = Reply::empty(StatusCode::ACCEPTED);
            r.headers = pool_headers(base, p);
            Ok(r)
        }
        (["pools", id, "nodes"], _) if is_get => {
            let p = w.pools.get(*id).ok_or_else(ApiError::pool_not_found)?;
            let purl = format!("{base}/pools/{}", p.id);
            let mut items: Vec<(String, NodeWire)> = p
                .nodes
                .iter()
                .map(|n| (n.id.clone(), n.to_wire(&purl)))
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Reply::json(
                StatusCode::OK,
                list_page(items, q, meta("nodes"), &format!("{purl}/nodes"))?,
            ))
        }
        (["pools", id, "nodes", nid], _) if is_get => {
            let p = w.pools.get(*id).ok_or_else(ApiError::pool_not_found)?;
            let n = p
                .nodes
                .iter()
                .find(|n| n.id == *nid)
                .ok_or_else(ApiError::node_not_found)?;
            let purl = format!("{base}/pools/{}", p.id);
            Ok(Reply::json(
                StatusCode::OK,
                single(&n.to_wire(&purl), q, meta("nodes/@Element"))?,
            ))
        }
        (["nodecounts"], _) if is_get => {
            let items = w
                .pools
                .values()
                .map(|p| {
                    let mut d = NodeCountsWire::default();
                    let mut l = NodeCountsWire::default();
                    for n in &p.nodes {
                        let c = if n.is_dedicated { &mut d } else { &mut l };
                        use super::model::node::NodeState::*;
                        match n.state {
                            Creating => c.creating += 1,
                            Starting => c.starting += 1,
                            WaitingForStartTask => c.waiting_for_start_task += 1,
                            Idle => c.idle += 1,
                            Running => c.running += 1,
                            StartTaskFailed => c.start_task_failed += 1,
                            Unusable => c.unusable += 1,
                            LeavingPool => c.leaving_pool += 1,
                        }
                        c.total += 1;
                    }
                    (
                        p.id.clone(),
                        PoolNodeCountsWire {
                            pool_id: p.id.clone(),
                            dedicated: d,
                            low_priority: l,
                        },
                    )
                })
                .collect();
            Ok(Reply::json(
                StatusCode::OK,
                list_page(
                    items,
                    q,
                    meta("poolnodecounts"),
                    &format!("{base}/nodecounts"),
                )?,
            ))
        }
        (["jobs"], &Method::POST) => {
            let b: JobCreateBody = parse_body_required(body)?;
            let id = b.id.ok_or_else(|| ApiError::missing_property("id"))?;
            if !valid_id(&id) {
                return Err(ApiError::invalid_property(
                    "id",
                    id,
                    "The id may contain up to 64 letters, digits, hyphens and underscores.",
                ));
            }
            let pool = b
                .pool_info
                .and_then(|p| p.pool_id)
                .ok_or_else(|| ApiError::missing_property("poolInfo"))?;
            w.create_job(&id, &pool, b.priority.unwrap_or(0))?;
            let j = w.jobs.get(&id).ok_or_else(ApiError::job_not_found)?;
            let mut r = Reply::empty(StatusCode::CREATED);
            r.headers = vec![
                ("etag", super::clock::etag_for(j.last_modified)),
                ("last-modified", format_rfc1123(j.last_modified)),
                ("dataserviceid", format!("{base}/jobs/{id}")),
                ("location", format!("{base}/jobs/{id}")),
            ];
            Ok(r)
        }
        (["jobs"], _) if is_get => {
            let items = w
                .jobs
                .values()
                .map(|j| (j.id.clone(), j.to_wire(base)))
                .collect();
            Ok(Reply::json(
                StatusCode::OK,
                list_page(items, q, meta("jobs"), &format!("{base}/jobs"))?,
            ))
        }
        (["jobs", id], _) if is_get => {
            let j = w.jobs.get(*id).ok_or_else(ApiError::job_not_found)?;
            let mut r = Reply::json(
                StatusCode::OK,
                single(&j.to_wire(base), q, meta("jobs/@Element"))?,
            );
            r.headers = vec![
                ("etag", super::clock::etag_for(j.last_modified)),
                ("last-modified", format_rfc1123(j.last_modified)),
            ];
            Ok(r)
        }
        (["jobs", id, "tasks"], &Method::POST) => {
            let b: TaskCreateBody = parse_body_required(body)?;
            let tid = b.id.ok_or_else(|| ApiError::missing_property("id"))?;
            if !valid_id(&tid) {
                return Err(ApiError::invalid_property(
                    "id",
                    tid,
                    "The id may contain up to 64 letters, digits, hyphens and underscores.",
                ));
            }
            let cmd = b
                .command_line
                .ok_or_else(|| ApiError::missing_property("commandLine"))?;
            w.add_task(id, &tid, &cmd, b.required_slots.unwrap_or(1))?;
            let now = w.now();
            let mut r = Reply::empty(StatusCode::CREATED);
            r.headers = vec![
                ("etag", super::clock::etag_for(now)),
                ("last-modified", format_rfc1123(now)),
                ("dataserviceid", format!("{base}/jobs/{id}/tasks/{tid}")),
                ("location", format!("{base}/jobs/{id}/tasks/{tid}")),
            ];
            Ok(r)
        }
        (["jobs", id, "tasks"], _) if is_get => {
            let j = w.jobs.get(*id).ok_or_else(ApiError::job_not_found)?;
            let jurl = format!("{base}/jobs/{}", j.id);
            let mut items: Vec<(String, TaskWire)> = j
                .tasks
                .iter()
                .map(|t| (t.id.clone(), t.to_wire(&jurl, base)))
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Reply::json(
                StatusCode::OK,
                list_page(items, q, meta("tasks"), &format!("{jurl}/tasks"))?,
            ))
        }
        (["jobs", id, "tasks", tid], _) if is_get => {
            let j = w.jobs.get(*id).ok_or_else(ApiError::job_not_found)?;
            let t = j
                .task_index(tid)
                .map(|i| &j.tasks[i])
                .ok_or_else(ApiError::task_not_found)?;
            let jurl = format!("{base}/jobs/{}", j.id);
            let mut r = Reply::json(
                StatusCode::OK,
                single(&t.to_wire(&jurl, base), q, meta("tasks/@Element"))?,
            );
            r.headers = vec![
                ("etag", super::clock::etag_for(t.last_modified)),
                ("last-modified", format_rfc1123(t.last_modified)),
            ];
            Ok(r)
        }
        (["jobs", id, "taskcounts"], _) if is_get => {
            let j = w.jobs.get(*id).ok_or_else(ApiError::job_not_found)?;
            let mut c = TaskCountsWire::default();
            let mut s = TaskCountsWire::default();
            for t in &j.tasks {
                let slots = t.required_slots;
                use super::model::job::TaskState::*;
                match t.state {
                    Active => {
                        c.active += 1;
                        s.active += slots;
                    }
                    Running => {
                        c.running += 1;
                        s.running += slots;
                    }
                    Completed => {
                        c.completed += 1;
                        s.completed += slots;
                        if t.failed() {
                            c.failed += 1;
                            s.failed += slots;
                        } else {
                            c.succeeded += 1;
                            s.succeeded += slots;
                        }
                    }
                }
            }
            Ok(Reply::json(
                StatusCode::OK,
                to_json(&WithMeta {
                    metadata: meta("taskcountsresult/@Element"),
                    inner: &TaskCountsResultWire {
                        task_counts: c,
                        task_slot_counts: s,
                    },
                })?,
            ))
        }
        (["pools", ..], _) | (["jobs", ..], _) | (["nodecounts"], _) => {
            Err(ApiError::unsupported_operation())
        }
        _ => Err(ApiError::resource_not_found()),
    }
}
