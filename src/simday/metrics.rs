//! From the simulator's event log to the numbers of the table.
//!
//! Everything is read from what the simulated Batch recorded (node and task state
//! changes, stamped at the simulated moment they happened), not from what the callers
//! believe, so every strategy is measured by the same ruler.

use std::collections::BTreeMap;

use batch_simulator::{Event, EventKind};
use serde::Serialize;
use time::OffsetDateTime;

use super::config::Run;

/// Mean, 95th percentile and maximum, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Stats {
    /// The mean.
    pub mean: f64,
    /// The 95th percentile (nearest rank).
    pub p95: f64,
    /// The largest value.
    pub max: f64,
}

impl Stats {
    /// `None` when there is nothing to describe.
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        Some(Stats {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p95: v[rank],
            max: v[v.len() - 1],
        })
    }
}

/// One run as the day saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// The run's name.
    pub id: String,
    /// Seconds from the pipeline's start to its task running; `None`: it never ran that day.
    pub time_to_task: Option<f64>,
    /// Seconds from the node being ready (idle), or from the pipeline's start if the node
    /// was ready before, to the task running: what the strategy itself adds to a boot.
    pub after_ready: Option<f64>,
    /// What failed in the pipeline's own activities, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The day's numbers for one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Node-minutes billed: every minute a VM exists, from allocation until it is gone.
    pub billed_node_minutes: f64,
    /// ... of which booting (`creating`, `starting`, `waitingforstarttask`).
    pub boot_node_minutes: f64,
    /// ... of which running a task.
    pub busy_node_minutes: f64,
    /// ... of which neither: idle, leaving the pool. Billed for nothing.
    pub idle_node_minutes: f64,
    /// Seconds from each pipeline's start to its task running.
    pub time_to_task: Option<Stats>,
    /// Seconds the strategy added after a node was ready.
    pub after_ready: Option<Stats>,
    /// Tasks that ran that day.
    pub tasks_run: usize,
    /// Tasks that never ran that day.
    pub tasks_not_run: usize,
    /// Task runs cut short: requeued or terminated with their node, or lost with it.
    pub tasks_killed_or_requeued: usize,
    /// Requests the strategy made of Batch.
    pub batch_calls: u64,
    /// Pipeline activities and timer firings that failed (0 in a sound replay).
    pub failed_activities: usize,
    /// Nodes billed over the day: (minutes since the start of the day, count) at each change.
    pub nodes: Vec<(f64, u32)>,
    /// Each run as the day saw it.
    pub runs: Vec<RunResult>,
}

fn minutes(d: time::Duration) -> f64 {
    d.as_seconds_f64() / 60.0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Boot,
    Busy,
    Idle,
}

fn phase(state: &str) -> Phase {
    match state {
        "creating" | "starting" | "waitingforstarttask" => Phase::Boot,
        "running" => Phase::Busy,
        _ => Phase::Idle,
    }
}

/// Measure the span `[start, end]` of the log, for `runs` (the measured ones).
pub fn measure(
    events: &[Event],
    runs: &[Run],
    errors: &BTreeMap<String, String>,
    start: OffsetDateTime,
    end: OffsetDateTime,
    batch_calls: u64,
) -> Metrics {
    let log = Log::read(events, start, end);
    let results: Vec<RunResult> = runs
        .iter()
        .map(|r| log.run_result(r, errors.get(&r.id).cloned()))
        .collect();
    let waits: Vec<f64> = results.iter().filter_map(|r| r.time_to_task).collect();
    let lags: Vec<f64> = results.iter().filter_map(|r| r.after_ready).collect();
    Metrics {
        billed_node_minutes: log.boot + log.busy + log.idle,
        boot_node_minutes: log.boot,
        busy_node_minutes: log.busy,
        idle_node_minutes: log.idle,
        time_to_task: Stats::of(&waits),
        after_ready: Stats::of(&lags),
        tasks_run: waits.len(),
        tasks_not_run: runs.len() - waits.len(),
        tasks_killed_or_requeued: log.killed,
        batch_calls,
        failed_activities: errors.len(),
        nodes: node_counts(log.changes, start, end),
        runs: results,
    }
}

/// What one pass over the event log gathers, clipped to the measured span.
struct Log<'e> {
    /// The measured span.
    start: OffsetDateTime,
    end: OffsetDateTime,
    /// Node-minutes in each phase.
    boot: f64,
    busy: f64,
    idle: f64,
    /// A node appearing (+1) or gone (-1), when.
    changes: Vec<(OffsetDateTime, i32)>,
    /// When each node became idle, each time: the last one before a task started is
    /// when that task could have started.
    ready_at: BTreeMap<&'e str, Vec<OffsetDateTime>>,
    /// When each task first ran, and on which node.
    task_start: BTreeMap<&'e str, (OffsetDateTime, Option<&'e str>)>,
    /// Task runs cut short within the span.
    killed: usize,
}

impl<'e> Log<'e> {
    fn read(events: &'e [Event], start: OffsetDateTime, end: OffsetDateTime) -> Self {
        let mut log = Log {
            start,
            end,
            boot: 0.0,
            busy: 0.0,
            idle: 0.0,
            changes: Vec::new(),
            ready_at: BTreeMap::new(),
            task_start: BTreeMap::new(),
            killed: 0,
        };
        // Each node's state since when, until its next change.
        let mut open: BTreeMap<&str, (&str, OffsetDateTime)> = BTreeMap::new();
        for e in events {
            match &e.kind {
                EventKind::Node { node_id, to, .. } => {
                    if let Some((state, since)) = open.remove(node_id.as_str()) {
                        log.add(state, since, e.at);
                    } else {
                        log.changes.push((e.at, 1));
                    }
                    if to == "removed" {
                        log.changes.push((e.at, -1));
                    } else {
                        if to == "idle" {
                            log.ready_at.entry(node_id.as_str()).or_default().push(e.at);
                        }
                        open.insert(node_id.as_str(), (to.as_str(), e.at));
                    }
                }
                EventKind::Task {
                    task_id,
                    node_id,
                    to,
                    reason,
                    ..
                } => {
                    if to == "running" {
                        log.task_start
                            .entry(task_id.as_str())
                            .or_insert((e.at, node_id.as_deref()));
                    }
                    if e.at >= start
                        && e.at <= end
                        && matches!(reason.as_str(), "requeued" | "terminated" | "nodeFailed")
                    {
                        log.killed += 1;
                    }
                }
                _ => {}
            }
        }
        for (state, since) in open.values() {
            log.add(state, *since, end);
        }
        log
    }

    /// A node in `state` from `from` to `to`: its minutes within the span, to its phase.
    fn add(&mut self, state: &str, from: OffsetDateTime, to: OffsetDateTime) {
        let clip = |t: OffsetDateTime| t.clamp(self.start, self.end);
        let m = minutes(clip(to) - clip(from));
        match phase(state) {
            Phase::Boot => self.boot += m,
            Phase::Busy => self.busy += m,
            Phase::Idle => self.idle += m,
        }
    }

    /// How `run` fared: when its work ran (its last task's start, within the span), and
    /// how long after its node was ready.
    fn run_result(&self, r: &Run, error: Option<String>) -> RunResult {
        // A pipeline's work runs once all its tasks run: its last task's start.
        let starts: Option<Vec<(OffsetDateTime, Option<&str>)>> = r
            .task_ids()
            .iter()
            .map(|id| {
                self.task_start
                    .get(id.as_str())
                    .filter(|(t, _)| *t <= self.end)
                    .copied()
            })
            .collect();
        let started = starts.and_then(|s| s.into_iter().max_by_key(|(t, _)| *t));
        RunResult {
            id: r.id.clone(),
            time_to_task: started.map(|(t, _)| (t - r.arrival).as_seconds_f64()),
            after_ready: started.map(|(t, node)| {
                let ready = node
                    .and_then(|n| self.ready_at.get(n))
                    .and_then(|times| times.iter().rev().find(|at| **at <= t))
                    .copied()
                    .unwrap_or(r.arrival)
                    .max(r.arrival);
                (t - ready).as_seconds_f64().max(0.0)
            }),
            error,
        }
    }
}

/// The billed node count over the span, from the log's `changes`: (minutes since
/// `start`, count) at each change, one point a minute value (the last change wins),
/// from minute 0 to the span's end.
fn node_counts(
    mut changes: Vec<(OffsetDateTime, i32)>,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Vec<(f64, u32)> {
    let mut nodes = Vec::new();
    let mut count = 0i32;
    changes.sort_by_key(|c| c.0);
    for (at, delta) in changes {
        count += delta;
        let at = at.clamp(start, end);
        let point = (minutes(at - start), count.max(0) as u32);
        match nodes.last_mut() {
            Some((m, c)) if *m == point.0 => *c = point.1,
            _ => nodes.push(point),
        }
    }
    if nodes.first().is_none_or(|(m, _)| *m > 0.0) {
        nodes.insert(0, (0.0, 0));
    }
    let last = nodes.last().map(|(_, c)| *c).unwrap_or(0);
    nodes.push((minutes(end - start), last));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn node(at: OffsetDateTime, id: &str, to: &str) -> Event {
        Event {
            seq: 0,
            at,
            kind: EventKind::Node {
                pool_id: "p".into(),
                node_id: id.into(),
                from: None,
                to: to.into(),
            },
        }
    }

    fn task(at: OffsetDateTime, id: &str, to: &str, reason: &str) -> Event {
        Event {
            seq: 0,
            at,
            kind: EventKind::Task {
                job_id: "adf".into(),
                task_id: id.into(),
                node_id: Some("n".into()),
                from: "active".into(),
                to: to.into(),
                reason: reason.into(),
            },
        }
    }

    fn run(id: &str, arrival: OffsetDateTime, nodes: u32) -> Run {
        Run {
            id: id.into(),
            day: 0,
            measured: true,
            arrival,
            task_seconds: 600,
            nodes,
            overheads: Default::default(),
        }
    }

    #[test]
    fn a_pipeline_of_several_tasks_waits_for_its_last() {
        let t0 = datetime!(2026-02-02 10:00 UTC);
        let m = |x: i64| t0 + time::Duration::minutes(x);
        let events = vec![
            task(m(4), "run-01-t1", "running", "scheduled"),
            task(m(6), "run-01-t2", "running", "scheduled"),
            task(m(5), "run-02-t1", "running", "scheduled"),
        ];
        let runs = vec![run("run-01", m(0), 2), run("run-02", m(0), 2)];
        let x = measure(&events, &runs, &BTreeMap::new(), t0, m(30), 0);
        assert_eq!(x.runs[0].time_to_task, Some(360.0));
        assert_eq!(x.runs[1].time_to_task, None, "one of its tasks never ran");
        assert_eq!((x.tasks_run, x.tasks_not_run), (1, 1));
    }

    #[test]
    fn splits_billed_time_and_measures_waits() {
        let t0 = datetime!(2026-02-02 10:00 UTC);
        let m = |x: i64| t0 + time::Duration::minutes(x);
        let events = vec![
            node(m(1), "n", "creating"),
            node(m(4), "n", "idle"),
            task(m(5), "run-01", "running", "scheduled"),
            node(m(5), "n", "running"),
            task(m(15), "run-01", "completed", "completed"),
            node(m(15), "n", "idle"),
            node(m(16), "n", "leavingpool"),
            node(m(17), "n", "removed"),
        ];
        let runs = vec![
            run("run-01", m(0) + time::Duration::seconds(30), 1),
            run("run-02", m(20), 1),
        ];
        let x = measure(&events, &runs, &BTreeMap::new(), t0, m(30), 9);
        assert_eq!(
            (
                x.billed_node_minutes,
                x.boot_node_minutes,
                x.busy_node_minutes,
                x.idle_node_minutes
            ),
            (16.0, 3.0, 10.0, 3.0)
        );
        assert_eq!(x.nodes, vec![(0.0, 0), (1.0, 1), (17.0, 0), (30.0, 0)]);
        assert_eq!(x.runs[0].time_to_task, Some(270.0));
        assert_eq!(x.runs[0].after_ready, Some(60.0));
        assert_eq!((x.tasks_run, x.tasks_not_run, x.batch_calls), (1, 1, 9));
    }

    #[test]
    fn a_node_older_than_the_day_counts_from_the_start() {
        let t0 = datetime!(2026-02-02 0:00 UTC);
        let events = vec![
            node(t0 - time::Duration::minutes(20), "n", "creating"),
            node(t0 - time::Duration::minutes(15), "n", "idle"),
        ];
        let x = measure(
            &events,
            &[],
            &BTreeMap::new(),
            t0,
            t0 + time::Duration::hours(1),
            1,
        );
        assert_eq!((x.billed_node_minutes, x.idle_node_minutes), (60.0, 60.0));
        assert_eq!(x.nodes, vec![(0.0, 1), (60.0, 1)]);
    }

    #[test]
    fn node_counts_start_at_the_span_and_keep_one_point_a_minute() {
        let t0 = datetime!(2026-02-02 10:00 UTC);
        let at = |m: i64| t0 + time::Duration::minutes(m);
        let changes = vec![(at(10), -1), (at(5), 1), (at(-10), 1), (at(5), 1)];
        assert_eq!(
            node_counts(changes, t0, at(60)),
            [(0.0, 1), (5.0, 3), (10.0, 2), (60.0, 2)]
        );
        assert_eq!(node_counts(Vec::new(), t0, at(60)), [(0.0, 0), (60.0, 0)]);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(
            Stats::of(&v),
            Some(Stats {
                mean: 10.5,
                p95: 19.0,
                max: 20.0
            })
        );
        assert_eq!(Stats::of(&[]), None);
    }
}
