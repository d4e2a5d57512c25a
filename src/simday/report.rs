//! The day's results as a table (terminal and Markdown) and JSON; the charts are
//! [`super::chart`]'s.

use std::fmt::Write as _;

use serde::Serialize;

use super::config::{DayConfig, Run};
use super::metrics::{Metrics, Stats};

/// Everything one `simulate-day` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayReport {
    /// The day replayed.
    pub config: DayConfig,
    #[serde(with = "time::serde::rfc3339")]
    /// When it started.
    pub start: time::OffsetDateTime,
    /// The pipeline runs, the same for every strategy.
    pub runs: Vec<Run>,
    /// One result per strategy, in the table's order.
    pub strategies: Vec<StrategyReport>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
/// One strategy's day.
pub struct StrategyReport {
    /// Its name in the table.
    pub name: String,
    /// What it does, in one line.
    pub description: String,
    /// What it cost and how long pipelines waited.
    pub metrics: Metrics,
}

/// `45.2 s`, `4 m 05 s`, `5 h 32 m`: short, and exact enough to compare.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let whole = s.round() as u64;
        format!("{} m {:02} s", whole / 60, whole % 60)
    } else {
        let whole = (s / 60.0).round() as u64;
        format!("{} h {:02} m", whole / 60, whole % 60)
    }
}

fn stats(s: Option<Stats>) -> [String; 3] {
    match s {
        Some(s) => [duration(s.mean), duration(s.p95), duration(s.max)],
        None => ["-".into(), "-".into(), "-".into()],
    }
}

const HEADER: [&str; 11] = [
    "strategy",
    "billed node-min",
    "idle node-min",
    "boot node-min",
    "busy node-min",
    "to task: mean",
    "p95",
    "max",
    "not run",
    "killed/requeued",
    "Batch calls",
];

fn rows(report: &DayReport) -> Vec<[String; 11]> {
    report
        .strategies
        .iter()
        .map(|s| {
            let m = &s.metrics;
            let [mean, p95, max] = stats(m.time_to_task);
            [
                s.name.clone(),
                format!("{:.1}", m.billed_node_minutes),
                format!("{:.1}", m.idle_node_minutes),
                format!("{:.1}", m.boot_node_minutes),
                format!("{:.1}", m.busy_node_minutes),
                mean,
                p95,
                max,
                m.tasks_not_run.to_string(),
                m.tasks_killed_or_requeued.to_string(),
                m.batch_calls.to_string(),
            ]
        })
        .collect()
}

/// A plain table for the terminal.
pub fn text_table(report: &DayReport) -> String {
    let rows = rows(report);
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([HEADER[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(HEADER.to_vec());
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The same table in Markdown.
pub fn markdown_table(report: &DayReport) -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out.push_str(&format!(
        "|{}\n",
        HEADER
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    ));
    for r in rows(report) {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

/// The Markdown page `simulate-day` writes next to its JSON and chart.
pub fn markdown_page(report: &DayReport, day_chart: &str, busy_chart: &str) -> String {
    let c = &report.config;
    let mut out = String::from(
        "<!-- Written by `pool-resizer simulate-day`; run it again rather than editing. -->\n\n# A simulated day\n\n",
    );
    let _ = writeln!(
        out,
        "{} runs on {} from {} for {} minutes (seed {}), tasks of {}-{} minutes, {}, ADF polls its task every {} s.\n",
        report.runs.len(),
        c.date,
        c.start,
        c.length_minutes,
        c.seed,
        c.task_minutes[0],
        c.task_minutes[1],
        c.start_task_seconds.map_or_else(
            || "no start task".to_owned(),
            |s| format!("start task {s} s")
        ),
        c.adf_poll_seconds
    );
    out.push_str(&markdown_table(report));
    out.push_str("\n\"to task\": from the pipeline's start to its task running. Node-minutes: billed = boot + busy + idle.\n\n");
    let _ = writeln!(
        out,
        "![Billed nodes over the day, per strategy]({day_chart})\n\nThe busy hours, closer:\n\n![Billed nodes in the busy hours, per strategy]({busy_chart})\n"
    );
    out.push_str(
        "| strategy | what it does | after the node was ready: mean / max |\n|---|---|---:|\n",
    );
    for s in &report.strategies {
        let lag = match s.metrics.after_ready {
            Some(l) => format!("{} / {}", duration(l.mean), duration(l.max)),
            None => "-".into(),
        };
        let _ = writeln!(out, "| {} | {} | {} |", s.name, s.description, lag);
    }
    out.push_str("\n| run | starts | task |\n|---|---|---:|\n");
    for r in &report.runs {
        let t = r.arrival.time();
        let _ = writeln!(
            out,
            "| {} | {:02}:{:02}:{:02} | {} |",
            r.id,
            t.hour(),
            t.minute(),
            t.second(),
            duration(f64::from(r.task_seconds))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(45.24), "45.2 s");
        assert_eq!(duration(245.0), "4 m 05 s");
        assert_eq!(duration(19_920.0), "5 h 32 m");
    }
}
