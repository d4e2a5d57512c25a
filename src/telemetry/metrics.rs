//! The instruments, what each answer adds to them, and a local [`Tally`] of
//! the same numbers (what `dev` prints).
//!
//! Names and attributes are the contract with the workbook and the KQL in
//! docs/telemetry.md (a test holds them to [`METRICS`] and [`DIMENSIONS`]).
//! Attributes are the operation, the pool id, the answer's status and codes,
//! and a holder *kind*: never a lease id, a key or a token.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every answer: `operation`, `pool`, `status`, `httpStatus`, `code`.
pub const ANSWERS: &str = "poolresizer.answers";
/// Seconds from request to answer (histogram).
pub const ANSWER_SECONDS: &str = "poolresizer.answer.seconds";
/// Seconds from a scale-up's first call to the answer that found its nodes
/// ready, through the status URLs followed on this instance (histogram).
pub const READY_SECONDS: &str = "poolresizer.ready.seconds";
/// Resizes sent to Batch.
pub const RESIZES: &str = "poolresizer.resizes";
/// Nodes removed (failed start tasks, unusable nodes).
pub const REMOVED_NODES: &str = "poolresizer.removed.nodes";
/// Calls to Batch an answer took.
pub const BATCH_CALLS: &str = "poolresizer.batch.calls";
/// Failed answers by `code` and `batchCode` (throttling: `BatchThrottled`).
pub const FAILURES: &str = "poolresizer.failures";
/// Nodes held, by `holder` kind, as last seen; sent every minute, so
/// the sum of its one-minute values is node-minutes.
pub const NODES_HELD: &str = "poolresizer.nodes.held";
/// The forecast's backtest as the reconcile last read it (`FORECAST_MODE`
/// not `off`): predicted arrivals a pipeline came for (`result` = `hit`),
/// nobody came for (`miss`), and arrivals none covered (`unforeseen`).
pub const FORECAST_ARRIVALS: &str = "poolresizer.forecast.arrivals";
/// Node-minutes the backtest's misses warmed for nobody.
pub const FORECAST_MISSED_NODE_MINUTES: &str = "poolresizer.forecast.missed.node.minutes";

/// Every Batch response (after the pipeline's quick retries) by `pool`,
/// `httpStatus` (`0`: no answer) and `code`: throttling is 429/503.
pub const BATCH_RESPONSES: &str = "poolresizer.batch.responses";

/// Every metric name the exporter writes.
pub const METRICS: &[&str] = &[
    ANSWERS,
    ANSWER_SECONDS,
    READY_SECONDS,
    RESIZES,
    REMOVED_NODES,
    BATCH_CALLS,
    FAILURES,
    NODES_HELD,
    FORECAST_ARRIVALS,
    FORECAST_MISSED_NODE_MINUTES,
    BATCH_RESPONSES,
];
/// Every attribute any of them carries (customDimensions / Properties).
pub const DIMENSIONS: &[&str] = &[
    "operation",
    "pool",
    "status",
    "httpStatus",
    "code",
    "batchCode",
    "holder",
    "result",
];

/// A holding not seen again for this long is no longer reported: the
/// reconcile timer looks at least every 15 minutes by default.
const HELD_STALE: Duration = Duration::from_secs(30 * 60);

/// What one answer says, read from the JSON body every route writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AnswerFacts {
    pub(crate) operation: String,
    pub(crate) pool: Option<String>,
    pub(crate) status: String,
    pub(crate) http_status: u16,
    pub(crate) code: Option<String>,
    pub(crate) batch_code: Option<String>,
    pub(crate) waited_seconds: f64,
    pub(crate) batch_calls: u64,
    pub(crate) resizes: u64,
    pub(crate) removed_nodes: u64,
    /// Nodes held per holder kind, when the answer shows the pool.
    pub(crate) held: Option<BTreeMap<&'static str, u64>>,
    pub(crate) answer_seconds: f64,
    /// A scale-up that is ready: seconds since its first call (set by
    /// [`crate::telemetry::observe`], which follows its status URLs).
    pub(crate) ready_seconds: Option<f64>,
}

/// The kind of a lease holder, read off an answer's `holders`: the
/// service's own lease ids by name (the wire's spelling, which
/// `resizer::lease`'s tests pin to its constants; telemetry reads answers
/// and imports nothing of the resizer), every pipeline's lease as `leases`
/// (its id is never reported).
pub(crate) fn holder_kind(holder: &str) -> &'static str {
    match holder {
        "schedule" => "schedule",
        "warm" => "keep-warm",
        "forecast" => "forecast",
        _ => "leases",
    }
}

impl AnswerFacts {
    /// Reads an answer body; `None` when it is not one (the readiness probe).
    pub(crate) fn from_body(
        http_status: u16,
        body: &Value,
        answer_seconds: f64,
    ) -> Option<AnswerFacts> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let status = text("status")?;
        let actions = body.get("actions").and_then(Value::as_array);
        let count = |kind: &str| {
            actions.map_or(0, |a| {
                a.iter()
                    .filter(|x| x.get("action").and_then(Value::as_str) == Some(kind))
                    .count() as u64
            })
        };
        let removed_nodes = actions.map_or(0, |a| {
            a.iter()
                .filter_map(|x| x.get("nodeIds").and_then(Value::as_array))
                .map(|ids| ids.len() as u64)
                .sum()
        });
        let error = body.get("error").filter(|e| e.is_object());
        let error_text = |key: &str| {
            error
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let held = body
            .get("pool")
            .filter(|p| p.get("exists").and_then(Value::as_bool) == Some(true))
            .map(held_of);
        Some(AnswerFacts {
            operation: text("operation").unwrap_or_else(|| "unknown".into()),
            pool: text("poolId"),
            status,
            http_status,
            code: error_text("code"),
            batch_code: error_text("batchCode"),
            waited_seconds: body
                .get("waitedSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            batch_calls: body.get("batchCalls").and_then(Value::as_u64).unwrap_or(0),
            resizes: count("resize"),
            removed_nodes,
            held,
            answer_seconds,
            ready_seconds: None,
        })
    }

    /// A timer firing's answer is the host's invocation shape (`Logs`), which
    /// names no pool: counted by its HTTP status only.
    pub(crate) fn of_timer(
        route: &str,
        http_status: u16,
        answer_seconds: f64,
    ) -> Option<AnswerFacts> {
        let operation = route
            .strip_prefix("/timer-")
            .map(|r| format!("timer-{r}"))?;
        let status = if (200..300).contains(&http_status) {
            "succeeded"
        } else {
            "failed"
        };
        Some(AnswerFacts {
            operation,
            status: status.into(),
            http_status,
            answer_seconds,
            ..AnswerFacts::default()
        })
    }

    pub(crate) fn is_scale_up(&self) -> bool {
        matches!(self.operation.as_str(), "scale-up" | "timer-scale-up")
    }
}

/// Nodes per holder kind in an answer's pool view (every kind, zeros too,
/// so a lease let go shows as 0 rather than as its last count).
fn held_of(pool: &Value) -> BTreeMap<&'static str, u64> {
    let mut held: BTreeMap<&'static str, u64> = ["leases", "schedule", "keep-warm", "forecast"]
        .into_iter()
        .map(|kind| (kind, 0))
        .collect();
    let nodes = |lease: &Value| {
        ["dedicated", "lowPriority"]
            .iter()
            .filter_map(|k| lease.get(*k).and_then(Value::as_u64))
            .sum::<u64>()
    };
    let mut warm_listed = false;
    for lease in pool
        .get("leases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = holder_kind(lease.get("holder").and_then(Value::as_str).unwrap_or(""));
        warm_listed |= kind == "keep-warm";
        *held.entry(kind).or_default() += nodes(lease);
    }
    if let Some(warm) = pool.get("keptWarm").filter(|w| w.is_object())
        && !warm_listed
    {
        *held.entry("keep-warm").or_default() += nodes(warm);
    }
    held
}

struct Instruments {
    answers: Counter<u64>,
    answer_seconds: Histogram<f64>,
    ready_seconds: Histogram<f64>,
    resizes: Counter<u64>,
    removed_nodes: Counter<u64>,
    batch_calls: Counter<u64>,
    failures: Counter<u64>,
    batch_responses: Counter<u64>,
    _held: ObservableGauge<u64>,
    _arrivals: ObservableGauge<u64>,
    _missed: ObservableGauge<f64>,
}

/// The forecast's last backtest per pool: hits, misses, unforeseen, missed node-minutes.
type Forecasts = HashMap<String, (u32, u32, u32, f64)>;

fn forecasts() -> &'static Mutex<Forecasts> {
    static FORECASTS: OnceLock<Mutex<Forecasts>> = OnceLock::new();
    FORECASTS.get_or_init(Default::default)
}

/// A forecast's backtest, as telemetry reports it (the resizer's
/// `Backtest`, copied field by field so telemetry stays a leaf).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForecastBacktest {
    pub(crate) hits: u32,
    pub(crate) misses: u32,
    pub(crate) unforeseen: u32,
    pub(crate) missed_node_minutes: f64,
}

/// What the reconcile's forecast step read: reported every minute until
/// the next reading replaces it.
pub(crate) fn forecast(pool: &str, backtest: ForecastBacktest) {
    let _ = instruments();
    let row = (
        backtest.hits,
        backtest.misses,
        backtest.unforeseen,
        backtest.missed_node_minutes,
    );
    forecasts()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pool.to_owned(), row);
    let tally = Tally::global();
    for (result, n) in [("hit", row.0), ("miss", row.1), ("unforeseen", row.2)] {
        tally.set(
            &format!("{FORECAST_ARRIVALS} pool={pool} result={result}"),
            f64::from(n),
        );
    }
    tally.set(
        &format!("{FORECAST_MISSED_NODE_MINUTES} pool={pool}"),
        row.3,
    );
}

/// Nodes held per (pool, holder kind), as last seen, and when.
type Held = HashMap<(String, &'static str), (u64, Instant)>;

fn held_map() -> &'static Mutex<Held> {
    static HELD: OnceLock<Mutex<Held>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter: Meter = opentelemetry::global::meter("pool-resizer");
        Instruments {
            answers: meter.u64_counter(ANSWERS).build(),
            answer_seconds: meter.f64_histogram(ANSWER_SECONDS).with_unit("s").build(),
            ready_seconds: meter.f64_histogram(READY_SECONDS).with_unit("s").build(),
            resizes: meter.u64_counter(RESIZES).build(),
            removed_nodes: meter.u64_counter(REMOVED_NODES).build(),
            batch_calls: meter.u64_counter(BATCH_CALLS).build(),
            failures: meter.u64_counter(FAILURES).build(),
            batch_responses: meter.u64_counter(BATCH_RESPONSES).build(),
            _held: meter
                .u64_observable_gauge(NODES_HELD)
                .with_callback(|observer| {
                    let now = Instant::now();
                    let mut held = held_map().lock().unwrap_or_else(|e| e.into_inner());
                    held.retain(|_, (_, seen)| now.duration_since(*seen) < HELD_STALE);
                    for ((pool, holder), (nodes, _)) in held.iter() {
                        observer.observe(
                            *nodes,
                            &[
                                KeyValue::new("pool", pool.clone()),
                                KeyValue::new("holder", *holder),
                            ],
                        );
                    }
                })
                .build(),
            _arrivals: meter
                .u64_observable_gauge(FORECAST_ARRIVALS)
                .with_callback(|observer| {
                    let rows = forecasts().lock().unwrap_or_else(|e| e.into_inner());
                    for (pool, (hits, misses, unforeseen, _)) in rows.iter() {
                        for (result, n) in
                            [("hit", hits), ("miss", misses), ("unforeseen", unforeseen)]
                        {
                            observer.observe(
                                u64::from(*n),
                                &[
                                    KeyValue::new("pool", pool.clone()),
                                    KeyValue::new("result", result),
                                ],
                            );
                        }
                    }
                })
                .build(),
            _missed: meter
                .f64_observable_gauge(FORECAST_MISSED_NODE_MINUTES)
                .with_callback(|observer| {
                    let rows = forecasts().lock().unwrap_or_else(|e| e.into_inner());
                    for (pool, (.., minutes)) in rows.iter() {
                        observer.observe(*minutes, &[KeyValue::new("pool", pool.clone())]);
                    }
                })
                .build(),
        }
    })
}

/// Counts one Batch call's outcome: the pool (`-` for account-wide calls),
/// the HTTP status (0 when no answer came) and Batch's error code (empty on
/// success). The Batch client reads these off the call, so telemetry never
/// sees a URL's query, a header or a body.
pub(crate) fn batch_call(pool: &str, status: u16, code: &str) {
    let (pool, code) = (pool.to_owned(), code.to_owned());
    instruments().batch_responses.add(
        1,
        &[
            KeyValue::new("pool", pool.clone()),
            KeyValue::new("httpStatus", i64::from(status)),
            KeyValue::new("code", code.clone()),
        ],
    );
    Tally::global().add(
        &format!("{BATCH_RESPONSES} pool={pool} httpStatus={status} code={code}"),
        1.0,
    );
}

/// Adds one answer to the instruments (no-ops while telemetry is off) and
/// to the local tally.
pub(crate) fn record(answer: &AnswerFacts) {
    let i = instruments();
    let pool = answer.pool.clone().unwrap_or_else(|| "-".into());
    let op = KeyValue::new("operation", answer.operation.clone());
    let on = [op.clone(), KeyValue::new("pool", pool.clone())];
    let mut answered = on.to_vec();
    answered.push(KeyValue::new("status", answer.status.clone()));
    answered.push(KeyValue::new("httpStatus", i64::from(answer.http_status)));
    answered.push(KeyValue::new(
        "code",
        answer.code.clone().unwrap_or_default(),
    ));
    i.answers.add(1, &answered);
    i.answer_seconds
        .record(answer.answer_seconds, &answered[..3]);
    let tally = Tally::global();
    let key = |name: &str, extra: &str| {
        format!("{name} operation={} pool={pool}{extra}", answer.operation)
    };
    tally.add(&key(ANSWERS, &format!(" status={}", answer.status)), 1.0);
    tally.add(&key(ANSWER_SECONDS, ""), answer.answer_seconds);
    if let Some(seconds) = answer.ready_seconds {
        // The answer may be a poll's (`operation-status`): the pool says it all.
        i.ready_seconds.record(seconds, &on[1..]);
        tally.add(&format!("{READY_SECONDS} pool={pool}"), seconds);
    }
    for (instrument, name, n) in [
        (&i.resizes, RESIZES, answer.resizes),
        (&i.removed_nodes, REMOVED_NODES, answer.removed_nodes),
        (&i.batch_calls, BATCH_CALLS, answer.batch_calls),
    ] {
        if n > 0 {
            instrument.add(n, &on);
            tally.add(&key(name, ""), n as f64);
        }
    }
    if let Some(code) = &answer.code {
        let mut failed = on.to_vec();
        failed.push(KeyValue::new("code", code.clone()));
        failed.push(KeyValue::new(
            "batchCode",
            answer.batch_code.clone().unwrap_or_default(),
        ));
        i.failures.add(1, &failed);
        tally.add(&key(FAILURES, &format!(" code={code}")), 1.0);
    }
    if let (Some(held), Some(pool)) = (&answer.held, &answer.pool) {
        record_held(pool, held);
    }
}

/// A pool a timer firing saw (`pool` is its answer-shaped view): its nodes
/// held, as an HTTP answer's pool would report them, so a pool only the
/// schedule and the reconcile look at still shows who holds its nodes.
pub(crate) fn pool_seen(pool: &str, view: &Value) {
    if view.get("exists").and_then(Value::as_bool) == Some(true) {
        record_held(pool, &held_of(view));
    }
}

fn record_held(pool: &str, held: &BTreeMap<&'static str, u64>) {
    let now = Instant::now();
    let tally = Tally::global();
    let mut map = held_map().lock().unwrap_or_else(|e| e.into_inner());
    for (kind, nodes) in held {
        map.insert((pool.to_owned(), kind), (*nodes, now));
        tally.set(
            &format!("{NODES_HELD} pool={pool} holder={kind}"),
            *nodes as f64,
        );
    }
}

/// The same numbers, kept in the process: count, sum, min and max per metric
/// and attributes (a gauge keeps its last value). What `dev` prints.
#[derive(Debug, Default)]
pub struct Tally {
    rows: Mutex<BTreeMap<String, Row>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Row {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Tally {
    /// The process's tally.
    pub fn global() -> &'static Tally {
        static TALLY: OnceLock<Tally> = OnceLock::new();
        TALLY.get_or_init(Tally::default)
    }

    fn add(&self, key: &str, value: f64) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let row = rows.entry(key.to_owned()).or_default();
        if row.count == 0 || value < row.min {
            row.min = value;
        }
        if row.count == 0 || value > row.max {
            row.max = value;
        }
        row.count += 1;
        row.sum += value;
    }

    fn set(&self, key: &str, value: f64) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.insert(
            key.to_owned(),
            Row {
                count: 1,
                sum: value,
                min: value,
                max: value,
            },
        );
    }

    /// One line per metric and attributes: `name attrs count=N sum=S min=A max=B`.
    pub fn lines(&self) -> Vec<String> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.iter()
            .map(|(key, r)| {
                format!(
                    "{key} count={} sum={} min={} max={}",
                    r.count,
                    round(r.sum),
                    round(r.min),
                    round(r.max)
                )
            })
            .collect()
    }
}

/// Prints the tally (`metrics: ` lines on stdout) every `period` when it
/// changed, and once more when `stop` is cancelled: `dev --metrics`.
#[cfg(feature = "simulator")]
pub(crate) async fn print_every(period: Duration, stop: tokio_util::sync::CancellationToken) {
    let mut shown = Vec::new();
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(period) => false,
        };
        let lines = Tally::global().lines();
        if lines != shown || (stopping && !lines.is_empty()) {
            for line in &lines {
                println!("metrics: {line}");
            }
            shown = lines;
        }
        if stopping {
            return;
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_body_gives_its_counts_and_holders_without_lease_ids() {
        let body = json!({
            "operation": "scale-up", "status": "succeeded", "poolId": "adf-pool",
            "actions": [
                {"action": "resize", "targetDedicatedNodes": 2, "targetLowPriorityNodes": 0, "afterSeconds": 0.1},
                {"action": "removeNodes", "nodeIds": ["a", "b"], "afterSeconds": 9.0}
            ],
            "pool": {"exists": true, "leases": [
                {"holder": "sha256:0123456789ab", "dedicated": 2, "lowPriority": 1},
                {"holder": "schedule", "dedicated": 1, "lowPriority": 0}
            ], "keptWarm": {"holder": "warm", "dedicated": 1, "lowPriority": 0}},
            "waitedSeconds": 312.5, "batchCalls": 7, "error": null
        });
        let answer = AnswerFacts::from_body(200, &body, 0.25).unwrap();
        assert_eq!(answer.resizes, 1);
        assert_eq!(answer.removed_nodes, 2);
        assert_eq!(answer.batch_calls, 7);
        assert_eq!(answer.code, None);
        let held = answer.held.unwrap();
        assert_eq!(held["leases"], 3);
        assert_eq!(held["schedule"], 1);
        assert_eq!(held["keep-warm"], 1);
        assert_eq!(held["forecast"], 0);
        assert!(AnswerFacts::from_body(200, &json!({"status": 1}), 0.0).is_none());
    }

    #[test]
    fn the_tally_keeps_count_sum_min_and_max() {
        let tally = Tally::default();
        tally.add("x", 2.0);
        tally.add("x", 5.0);
        tally.set("g", 3.0);
        tally.set("g", 1.0);
        assert_eq!(
            tally.lines(),
            ["g count=1 sum=1 min=1 max=1", "x count=2 sum=7 min=2 max=5"]
        );
    }
}
