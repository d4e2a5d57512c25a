//! Replayed real traffic: every request of the SDK test recordings in
//! `tests/recordings/` (see its README for their source and licence) is sent to the
//! simulator at the recorded distance from the previous one, on a frozen clock, and the
//! answer is compared with the recorded one:
//!
//! * the status;
//! * the headers that matter: `ETag` and `Last-Modified` (present where recorded, and
//!   moving where the recording moves: equal recorded values must be equal simulated
//!   values, a new recorded value a new simulated one), `DataServiceId` and `Location`
//!   (same path), `Content-Type`, `DataServiceVersion`, `request-id`;
//! * the body: the same field names (recursively, with their casing), the same kinds
//!   and formats of values (timestamps, ETags, `odata.metadata`), and the same values
//!   where they are the state (states, node counts, error codes and details, ...).
//!
//! A recording starts from a state its test made earlier (a pool it created); each
//! scenario recreates that state with a few plain requests first (its `prelude`), which
//! are not compared. Durations are fixed to those the recordings show ([`recorded`]),
//! each of which lies in the simulator's default range.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use batch_simulator::{Simulator, SimulatorConfig, Timing, start};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// The durations the recordings show (see `Timing::default` for where each is from).
fn recorded() -> Timing {
    Timing {
        allocate: (31.0, 31.0),
        settle_after_allocate: (0.6, 0.6),
        creating: (10.0, 10.0),
        starting: (110.0, 110.0),
        start_task_overhead: (6.5, 6.5),
        leaving: (40.0, 40.0),
        stopping: 5.0,
        noop_settle: (1.4, 1.4),
        pool_delete: (105.0, 105.0),
        rebooting: (125.0, 125.0),
        reimaging: (185.0, 185.0),
    }
}

/// Fields of recorded bodies the simulator does not model (docs/simulator.md).
const NOT_MODELLED: &[&str] = &[
    "userAccounts",
    "networkConfiguration",
    "extensions",
    "mountConfiguration",
];

/// Fields whose value is the state a client acts on: compared by value.
const BY_VALUE: &[&str] = &[
    "id",
    "state",
    "allocationState",
    "vmSize",
    "resizeTimeout",
    "currentDedicatedNodes",
    "targetDedicatedNodes",
    "currentLowPriorityNodes",
    "targetLowPriorityNodes",
    "enableAutoScale",
    "enableInterNodeCommunication",
    "taskSlotsPerNode",
    "nodeFillType",
    "jobDefaultOrder",
    "currentNodeCommunicationMode",
    "certificateReferences",
    "code",
    "key",
    "lang",
    "name",
    "commandLine",
    "waitForSuccess",
    "maxTaskRetryCount",
    "scope",
    "elevationLevel",
    "nodeAgentSKUId",
];

struct Exchange {
    file: String,
    index: usize,
    method: String,
    path_and_query: String,
    body: Option<Value>,
    at: OffsetDateTime,
    status: u16,
    headers: HashMap<String, String>,
    response: Option<Value>,
}

fn load(file: &str) -> Vec<Exchange> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recordings")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("recording json");
    let lower = |m: &Value| -> HashMap<String, String> {
        m.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    v["Entries"]
        .as_array()
        .expect("Entries")
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let uri = e["RequestUri"].as_str().expect("RequestUri");
            let after_scheme = uri.split_once("://").map_or(uri, |(_, r)| r);
            let path_and_query =
                after_scheme[after_scheme.find('/').expect("a path")..].to_string();
            let req = lower(&e["RequestHeaders"]);
            let date = req
                .get("ocp-date")
                .or_else(|| req.get("date"))
                .expect("a request date");
            Exchange {
                file: file.to_string(),
                index,
                method: e["RequestMethod"].as_str().unwrap().to_string(),
                path_and_query,
                body: Some(e["RequestBody"].clone()).filter(|b| !b.is_null()),
                at: OffsetDateTime::parse(date, &Rfc2822).expect("rfc1123 date"),
                status: e["StatusCode"].as_u64().unwrap() as u16,
                headers: lower(&e["ResponseHeaders"]),
                response: Some(e["ResponseBody"].clone()).filter(|b| !b.is_null()),
            }
        })
        .collect()
}

/// A request that recreates the state a recording starts from, `at` seconds from the
/// recording's first request (negative: before it).
struct Step {
    at: f64,
    method: &'static str,
    path_and_query: String,
    body: Option<Value>,
}

struct Replay {
    sim: Simulator,
    http: reqwest::Client,
    token: String,
    /// Simulated seconds since the recording's first request.
    now: f64,
    etags: HashMap<String, String>,
    last_modified: HashMap<String, String>,
    compared: usize,
}

fn http_client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("pem")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .build()
        .expect("client")
}

impl Replay {
    async fn new() -> Self {
        let sim = start(SimulatorConfig {
            frozen_clock: true,
            timing: recorded(),
            ..Default::default()
        })
        .await
        .expect("start");
        let token = sim.issue_token("https://batch.core.windows.net/", Duration::from_secs(3600));
        Replay {
            http: http_client(sim.ca_pem()),
            sim,
            token,
            now: f64::NEG_INFINITY,
            etags: HashMap::new(),
            last_modified: HashMap::new(),
            compared: 0,
        }
    }

    fn advance_to(&mut self, at: f64) {
        if self.now == f64::NEG_INFINITY {
            self.now = at;
        }
        if at > self.now {
            self.sim.advance(Duration::from_secs_f64(at - self.now));
            self.now = at;
        }
    }

    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Option<Value>) {
        let url = format!("{}{}", self.sim.ready_info().endpoint, path_and_query);
        let mut req = self
            .http
            .request(method.parse().expect("method"), url)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json; odata=minimalmetadata")
                .body(b.to_string());
        } else if method == "POST" {
            req = req.header("content-length", "0");
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = (!text.is_empty()).then(|| serde_json::from_str(&text).expect("json body"));
        (status, headers, body)
    }

    async fn prelude(&mut self, steps: &[Step]) {
        for s in steps {
            self.advance_to(s.at);
            let (status, _, body) = self
                .send(s.method, &s.path_and_query, s.body.as_ref())
                .await;
            assert!(
                status < 300,
                "prelude {} {}: {status} {body:?}",
                s.method,
                s.path_and_query
            );
        }
    }

    async fn replay(&mut self, files: &[&str]) {
        let exchanges: Vec<Exchange> = files.iter().flat_map(|f| load(f)).collect();
        let t0 = exchanges.first().expect("entries").at;
        for x in &exchanges {
            self.advance_to((x.at - t0).as_seconds_f64());
            let (status, headers, body) = self
                .send(&x.method, &x.path_and_query, x.body.as_ref())
                .await;
            let what = format!("{}#{} {} {}", x.file, x.index, x.method, x.path_and_query);
            assert_eq!(
                status, x.status,
                "{what}: status\nsimulator: {body:?}\nrecorded: {:?}",
                x.response
            );
            self.compare_headers(&what, x, &headers);
            match (&x.response, &body) {
                (None, None) => {}
                (Some(r), Some(b)) => {
                    same_shape(&what, "", r, b);
                    if let (Some(e), Some(h)) = (b.get("eTag"), headers.get("etag")) {
                        assert_eq!(
                            e.as_str(),
                            h.to_str().ok(),
                            "{what}: body eTag = ETag header"
                        );
                    }
                }
                (r, b) => panic!("{what}: body recorded {r:?}, simulated {b:?}"),
            }
            self.compared += 1;
        }
    }

    fn compare_headers(&mut self, what: &str, x: &Exchange, got: &reqwest::header::HeaderMap) {
        let get = |n: &str| got.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        for name in [
            "etag",
            "last-modified",
            "dataserviceid",
            "location",
            "content-type",
            "dataserviceversion",
            "request-id",
        ] {
            let (rec, sim) = (x.headers.get(name), get(name));
            assert_eq!(
                rec.is_some(),
                sim.is_some(),
                "{what}: header {name}: recorded {rec:?}, simulated {sim:?}"
            );
            let (Some(rec), Some(sim)) = (rec, sim) else {
                continue;
            };
            match name {
                "dataserviceid" | "location" => {
                    assert_eq!(url_path(rec), url_path(&sim), "{what}: {name}");
                }
                "content-type" | "dataserviceversion" => assert_eq!(*rec, sim, "{what}: {name}"),
                "etag" => {
                    assert!(is_etag(&sim), "{what}: ETag format {sim}");
                    moves_alike(&mut self.etags, rec, &sim, &format!("{what}: ETag"));
                }
                "last-modified" => {
                    assert!(
                        OffsetDateTime::parse(&sim, &Rfc2822).is_ok() && sim.ends_with(" GMT"),
                        "{what}: Last-Modified format {sim}"
                    );
                    moves_alike(
                        &mut self.last_modified,
                        rec,
                        &sim,
                        &format!("{what}: Last-Modified"),
                    );
                }
                _ => {}
            }
        }
    }
}

/// Equal recorded values are equal simulated values, and a value new to the recording is
/// new in the simulator too.
fn moves_alike(seen: &mut HashMap<String, String>, rec: &str, sim: &str, what: &str) {
    match seen.get(rec) {
        Some(expected) => assert_eq!(
            expected, sim,
            "{what}: the recording keeps {rec}, the simulator moved to {sim}"
        ),
        None => {
            assert!(
                !seen.values().any(|v| v == sim),
                "{what}: the recording moves to {rec}, the simulator kept {sim}"
            );
            seen.insert(rec.to_string(), sim.to_string());
        }
    }
}

fn url_path(u: &str) -> &str {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

fn is_etag(s: &str) -> bool {
    s.len() > 2
        && s.starts_with("0x")
        && s[2..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
}

fn is_ts(s: &str) -> bool {
    s.len() >= 20
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && s.split('.').nth(1).is_none_or(|f| f.len() <= 8)
}

/// Same keys (recursively), kinds and formats; the state fields by value.
fn same_shape(what: &str, path: &str, rec: &Value, sim: &Value) {
    match (rec, sim) {
        (Value::Object(r), Value::Object(s)) => {
            let keys = |m: &serde_json::Map<String, Value>| -> Vec<String> {
                let mut k: Vec<String> = m
                    .keys()
                    .filter(|k| !NOT_MODELLED.contains(&k.as_str()))
                    .cloned()
                    .collect();
                k.sort();
                k
            };
            assert_eq!(
                keys(r),
                keys(s),
                "{what}: fields at {path:?}\nrecorded: {rec}\nsimulated: {sim}"
            );
            for (k, rv) in r {
                if NOT_MODELLED.contains(&k.as_str()) {
                    continue;
                }
                let child = format!("{path}/{k}");
                let sv = &s[k];
                if BY_VALUE.contains(&k.as_str()) && !rv.is_object() {
                    assert_eq!(rv, sv, "{what}: {child}");
                }
                same_shape(what, &child, rv, sv);
            }
        }
        (Value::Array(r), Value::Array(s)) => {
            assert_eq!(
                r.len(),
                s.len(),
                "{what}: length of {path}\nrecorded: {rec}\nsimulated: {sim}"
            );
            let by_value = path.ends_with("/values")
                || path.ends_with("/resizeErrors")
                || path.ends_with("/metadata");
            for (i, (a, b)) in r.iter().zip(s).enumerate() {
                if by_value {
                    assert_eq!(a, b, "{what}: {path}[{i}]");
                }
                same_shape(what, &format!("{path}[{i}]"), a, b);
            }
        }
        (Value::String(r), Value::String(s)) => {
            if is_ts(r) {
                assert!(
                    is_ts(s),
                    "{what}: {path}: timestamp format {s} (recorded {r})"
                );
            }
            if r.starts_with("0x") {
                assert!(is_etag(s), "{what}: {path}: ETag format {s}");
            }
            if path.ends_with("odata.metadata") {
                assert_eq!(r.split('#').nth(1), s.split('#').nth(1), "{what}: {path}");
            }
            if path.ends_with("/message/value") {
                let head = |m: &str| m.lines().next().unwrap_or("").to_string();
                assert_eq!(head(r), head(s), "{what}: {path}");
                let tail = |m: &str| {
                    m.lines()
                        .skip(1)
                        .map(|l| l.split(':').next().unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                };
                assert_eq!(tail(r), tail(s), "{what}: {path} (RequestId/Time lines)");
            }
        }
        (r, s) => assert_eq!(
            std::mem::discriminant(r),
            std::mem::discriminant(s),
            "{what}: {path}: {r} vs {s}"
        ),
    }
}

fn create_js_basic(at: f64) -> Step {
    let rec = load("js/pool_operations_test/recording_create_batch_pool_successfully.json");
    Step {
        at,
        method: "POST",
        path_and_query: "/pools?api-version=2025-06-01".into(),
        body: rec[0].body.clone(),
    }
}

const JS: &str = "js/pool_operations_test";
const JAVA_POOL: &str = "java/PoolTests.canRebootReimageRemoveNodesAndStopResize[1]";

#[test]
fn recorded_durations_lie_in_the_default_ranges() {
    let (r, d) = (recorded(), Timing::default());
    for (name, v, (lo, hi)) in [
        ("allocate", r.allocate.0, d.allocate),
        (
            "settle_after_allocate",
            r.settle_after_allocate.0,
            d.settle_after_allocate,
        ),
        ("creating", r.creating.0, d.creating),
        ("starting", r.starting.0, d.starting),
        (
            "start_task_overhead",
            r.start_task_overhead.0,
            d.start_task_overhead,
        ),
        ("leaving", r.leaving.0, d.leaving),
        ("stopping", r.stopping, (d.stopping, d.stopping)),
        ("noop_settle", r.noop_settle.0, d.noop_settle),
        ("pool_delete", r.pool_delete.0, d.pool_delete),
        ("rebooting", r.rebooting.0, d.rebooting),
        ("reimaging", r.reimaging.0, d.reimaging),
    ] {
        assert!(
            lo <= v && v <= hi,
            "{name}: recorded {v} outside the default {lo}..{hi}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_the_recorded_traffic() {
    let mut total = 0;

    // JS SDK, 2025-06-01: create a pool of 4 (still allocating 21 s later), PATCH its
    // metadata (a new ETag), GET it.
    let mut r = Replay::new().await;
    r.replay(&[
        &format!("{JS}/recording_create_batch_pool_successfully.json"),
        &format!("{JS}/recording_should_patch_pool_parameters_successfully.json"),
    ])
    .await;
    total += r.compared;

    // JS SDK: $select, startswith() filter with $select and $expand, maxresults=-5, HEAD.
    let mut r = Replay::new().await;
    r.prelude(&[create_js_basic(-52.0)]).await;
    r.replay(&[
        &format!("{JS}/recording_should_get_a_pool_reference_with_odata_successfully.json"),
        &format!("{JS}/recording_should_list_pools_according_to_filter.json"),
        &format!("{JS}/recording_should_fail_to_list_pools_with_invalid_max.json"),
        &format!("{JS}/recording_should_check_that_pool_exists_successfully.json"),
    ])
    .await;
    total += r.compared;

    // JS SDK: a new empty pool settles, is resized (a new ETag) and stopped at once: the
    // 202 of stopresize keeps the resize's ETag and Last-Modified.
    let mut r = Replay::new().await;
    r.prelude(&[Step {
        at: -0.1,
        method: "POST",
        path_and_query: "/pools?api-version=2025-06-01".into(),
        body: Some(json!({"id": "jssdkPool-369e2", "vmSize": "standard_a1_v2",
            "virtualMachineConfiguration": {"imageReference": {"publisher": "microsoftwindowsserver",
            "offer": "windowsserver", "sku": "2022-datacenter"}, "nodeAgentSKUId": "batch.node.windows amd64"}})),
    }])
    .await;
    r.replay(&[
        &format!("{JS}/recording_should_start_pool_resizing_successfully.json"),
        &format!("{JS}/recording_should_stop_pool_resizing_successfully.json"),
    ])
    .await;
    total += r.compared;

    // JS SDK: DELETE answers 202 without an ETag.
    let mut r = Replay::new().await;
    r.prelude(&[create_js_basic(-191.0)]).await;
    r.replay(&[&format!(
        "{JS}/recording_should_delete_a_pool_successfully.json"
    )])
    .await;
    total += r.compared;

    // Java SDK, 2024-07-01.20.0: resize `{}` is refused before the pool is looked up.
    let mut r = Replay::new().await;
    r.replay(&["java/BatchErrorTests.testResizeErrorCases[1].json"])
        .await;
    total += r.compared;

    // Java SDK, 2024-07-01.20.0: HEAD 404, create with 2 nodes, still resizing at 30 s,
    // steady with both at 61 s (and the 2024 shape: certificateReferences, no
    // jobDefaultOrder, currentNodeCommunicationMode once it has nodes).
    let mut r = Replay::new().await;
    r.replay(&[&format!("{JAVA_POOL}.create.json")]).await;
    total += r.compared;

    // Java SDK: steady with 1 node; resize to 2 (new ETag), stopresize (same ETag),
    // stopping, steady with ResizeStopped (same ETag); DELETE: deleting with its node,
    // targets 0, a new ETag, for 108 s; then 404.
    let mut r = Replay::new().await;
    let mut body = load(&format!("{JAVA_POOL}.create.json"))[1]
        .body
        .clone()
        .expect("create body");
    body["targetDedicatedNodes"] = json!(1);
    r.prelude(&[Step {
        at: -419.0,
        method: "POST",
        path_and_query: "/pools?api-version=2024-07-01.20.0".into(),
        body: Some(body),
    }])
    .await;
    r.replay(&[&format!("{JAVA_POOL}.stop-and-delete.json")])
        .await;
    total += r.compared;

    eprintln!("replayed {total} recorded exchanges");
    assert_eq!(total, 31, "every recorded exchange was replayed");
}
