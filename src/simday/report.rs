//! The day's results as a table (terminal and Markdown) and JSON; the charts are
//! [`super::chart`]'s.

use std::fmt::Write as _;

use serde::Serialize;

use super::config::{DayConfig, Run};
use super::metrics::{Metrics, Stats};
use super::study::{
    DayTypeReport, Spread, StrategySummary, StudyReport, is_resizer, is_task_formula,
};

/// Everything one `simulate-day` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayReport {
    /// The day replayed.
    pub config: DayConfig,
    #[serde(with = "time::serde::rfc3339")]
    /// When the measured days started.
    pub start: time::OffsetDateTime,
    /// Minutes measured (from `start` to the end of the last day).
    pub minutes: f64,
    /// The measured pipeline runs, the same for every strategy.
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
    let r = |x: [f64; 2]| format!("{}-{}", x[0], x[1]);
    let _ = writeln!(
        out,
        "{} measured runs from {} {} ({} learning and {} measured day(s) of {} minutes, seed {}), tasks of {} minutes on {} node(s) each, {}. \
         Nodes: allocated in {} s, `creating` {} s, `starting` {} s, leaving {} s. \
         ADF: {} s per activity transition, {} s to submit a task, polls it every {} s; the Function App's cold start {} s after {} idle minutes.\n",
        report.runs.len(),
        c.date,
        c.start,
        c.learning_days,
        c.measured_days,
        c.length_minutes,
        c.seed,
        r(c.task_minutes),
        if c.nodes_per_run[0] == c.nodes_per_run[1] {
            c.nodes_per_run[0].to_string()
        } else {
            format!("{}-{}", c.nodes_per_run[0], c.nodes_per_run[1])
        },
        c.start_task_seconds.map_or_else(
            || "no start task".to_owned(),
            |s| format!("start task {s} s")
        ),
        r(c.allocate_seconds),
        r(c.creating_seconds),
        r(c.starting_seconds),
        r(c.leaving_seconds),
        r(c.activity_transition_seconds),
        r(c.task_submission_seconds),
        c.adf_poll_seconds,
        r(c.function_cold_start_seconds),
        c.function_idle_minutes
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

/// `162.3 (148.1-175.0)`: a mean and its range over the seeds.
fn spread(s: &Spread, decimals: usize) -> String {
    format!("{:.d$} ({:.d$}-{:.d$})", s.mean, s.min, s.max, d = decimals)
}

/// `4 m 26 s (3 m 50 s-5 m 02 s)`, or `-` when no task ran.
fn wait_spread(s: Option<Spread>) -> String {
    match s {
        Some(s) => format!(
            "{} ({}-{})",
            duration(s.mean),
            duration(s.min),
            duration(s.max)
        ),
        None => "-".into(),
    }
}

/// `$0.26`: money to the cent.
fn money(v: f64) -> String {
    format!("${v:.2}")
}

const STUDY_HEADER: [&str; 9] = [
    "strategy",
    "billed node-min/day: mean (range)",
    "$/day",
    "idle node-min/day",
    "to task: mean (range)",
    "to task p95: mean (range)",
    "not run",
    "Batch calls/day",
    "dominated by",
];

/// One day type's table: a row per strategy, means and ranges over the seeds.
pub fn study_table(day: &DayTypeReport) -> String {
    let mut out = format!("| {} |\n|---|", STUDY_HEADER.join(" | "));
    out.push_str(&"---:|".repeat(STUDY_HEADER.len() - 2));
    out.push_str("---|\n");
    for s in &day.strategies {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} of {} | {:.0} | {} |",
            s.name,
            spread(&s.billed, 1),
            money(s.cost.mean),
            spread(&s.idle, 1),
            wait_spread(s.mean_wait),
            wait_spread(s.p95_wait),
            s.not_run,
            s.runs,
            s.batch_calls,
            if s.dominated_by.is_empty() {
                "-".to_string()
            } else {
                s.dominated_by.join(", ")
            }
        );
    }
    out
}

/// The headline: per day type, pool-resizer (each setting) against the task-following
/// formulas that billed least and that made pipelines wait least.
pub fn study_headline(report: &StudyReport) -> String {
    let mut out = String::from(
        "| day type | strategy | billed node-min/day: mean (range) | $/day | to task: mean (range) | to task p95 (mean) | not run |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for day in &report.day_types {
        let mut rows: Vec<(&StrategySummary, &str)> = day
            .strategies
            .iter()
            .filter(|s| is_resizer(&s.name))
            .map(|s| (s, ""))
            .collect();
        let cheapest = day.cheapest_formula();
        let fastest = day.fastest_formula();
        match (cheapest, fastest) {
            (Some(c), Some(f)) if c.name == f.name => {
                rows.push((c, " (cheapest and fastest formula)"))
            }
            _ => {
                rows.extend(cheapest.map(|c| (c, " (cheapest formula)")));
                rows.extend(fastest.map(|f| (f, " (fastest formula)")));
            }
        }
        for (s, what) in rows {
            let _ = writeln!(
                out,
                "| {} | {}{} | {} | {} | {} | {} | {} of {} |",
                day.name,
                s.name,
                what,
                spread(&s.billed, 1),
                money(s.cost.mean),
                wait_spread(s.mean_wait),
                s.p95_wait.map_or("-".into(), |p| duration(p.mean)),
                s.not_run,
                s.runs
            );
        }
    }
    out
}

/// `+5.7 (-10.2 to +14.0)`: a signed mean difference and its range.
fn signed(s: &Spread, decimals: usize) -> String {
    format!(
        "{:+.d$} ({:+.d$} to {:+.d$})",
        s.mean,
        s.min,
        s.max,
        d = decimals
    )
}

/// `-2 m 40 s`: a signed duration.
fn signed_duration(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "+" };
    format!("{sign}{}", duration(seconds.abs()))
}

/// Per seed, pool-resizer's value minus `other`'s: billed, mean wait; and on how many
/// seeds pool-resizer's was lower.
fn paired(
    resizer: &StrategySummary,
    other: &StrategySummary,
) -> (Option<Spread>, usize, Option<Spread>, usize, usize) {
    let mut billed = Vec::new();
    let mut waits = Vec::new();
    for a in &resizer.seeds {
        let Some(b) = other.seeds.iter().find(|b| b.seed == a.seed) else {
            continue;
        };
        billed.push(a.billed - b.billed);
        if let (Some(x), Some(y)) = (a.mean_wait, b.mean_wait) {
            waits.push(x - y);
        }
    }
    (
        Spread::of(&billed),
        billed.iter().filter(|d| **d < 0.0).count(),
        Spread::of(&waits),
        waits.iter().filter(|d| **d < 0.0).count(),
        billed.len(),
    )
}

/// pool-resizer against every task-following formula that ran all the pipelines' work,
/// seed by seed (the same pipelines, the same simulator seed): the difference per
/// measured day, and on how many seeds pool-resizer came out lower.
pub fn study_paired(report: &StudyReport) -> String {
    let mut out = String::from(
        "| day type | pool-resizer minus | billed node-min/day: mean (range) | seeds it bills less | to task: mean (range) | seeds it waits less |\n|---|---|---:|---:|---:|---:|\n",
    );
    for day in &report.day_types {
        let Some(resizer) = day.strategy("pool-resizer") else {
            continue;
        };
        let others = day
            .strategies
            .iter()
            .filter(|s| is_task_formula(&s.name) && s.not_run == 0);
        for other in others {
            let (billed, cheaper, wait, faster, n) = paired(resizer, other);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} of {} | {} | {} of {} |",
                day.name,
                other.name,
                billed.map_or("-".into(), |b| signed(&b, 1)),
                cheaper,
                n,
                wait.map_or("-".into(), |w| format!(
                    "{} ({} to {})",
                    signed_duration(w.mean),
                    signed_duration(w.min),
                    signed_duration(w.max)
                )),
                faster,
                n
            );
        }
    }
    out
}

/// The Markdown page `simulate-study` writes next to its JSON and charts; `chart(day)`
/// names a day type's chart file.
pub fn study_page(report: &StudyReport, chart: &dyn Fn(&str) -> String) -> String {
    let mut out = String::from(
        "<!-- Written by `pool-resizer simulate-study`; run it again rather than editing. -->\n\n# A simulated study\n\n",
    );
    let seeds = match (report.seeds.first(), report.seeds.last()) {
        (Some(a), Some(b)) if report.seeds.len() > 1 => format!("seeds {a}-{b}"),
        (Some(a), _) => format!("seed {a}"),
        _ => "no seed".into(),
    };
    let _ = writeln!(
        out,
        "{} day types, {} ({} each), {} learning day(s) then {} measured day(s) per replay; per measured day, mean (range over the seeds). Money at ${:.3} per node-hour.\n",
        report.day_types.len(),
        seeds,
        report.seeds.len(),
        report.learning_days,
        report.measured_days,
        report.price_per_hour
    );
    out.push_str("## Headline\n\n");
    out.push_str(&study_headline(report));
    out.push_str("\nSeed by seed, pool-resizer against each formula that follows the tasks (negative: pool-resizer lower):\n\n");
    out.push_str(&study_paired(report));
    out.push('\n');
    for day in &report.day_types {
        let _ = writeln!(
            out,
            "## {}\n\n{} ({:.1} pipelines per day).\n",
            day.name, day.what, day.runs_per_day
        );
        out.push_str(&study_table(day));
        let _ = writeln!(
            out,
            "\n![Billed against mean time to task, {}]({})\n",
            day.name,
            chart(&day.name)
        );
    }
    out.push_str("## The strategies\n\n| strategy | what it does |\n|---|---|\n");
    if let Some(day) = report.day_types.first() {
        for s in &day.strategies {
            let _ = writeln!(out, "| {} | {} |", s.name, s.description);
        }
    }
    out
}

/// `text` (a doc citing the study) with every block between `<!-- study:KEY -->` and
/// `<!-- /study:KEY -->` rendered again from `report`: `headline`, `paired`, or a day
/// type's name for its table. An unknown key or an unclosed block is an error.
pub fn update_doc(text: &str, report: &StudyReport) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<!-- study:") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let open_end = from
            .find("-->")
            .ok_or_else(|| "an unclosed <!-- study: marker".to_string())?;
        let key = from["<!-- study:".len()..open_end].trim().to_string();
        let close = format!("<!-- /study:{key} -->");
        let close_at = from
            .find(&close)
            .ok_or_else(|| format!("no {close} after <!-- study:{key} -->"))?;
        let body = if key == "headline" {
            study_headline(report)
        } else if key == "paired" {
            study_paired(report)
        } else {
            let day = report
                .day_types
                .iter()
                .find(|d| d.name == key)
                .ok_or_else(|| format!("<!-- study:{key} -->: no such day type in the study"))?;
            study_table(day)
        };
        let _ = write!(out, "<!-- study:{key} -->\n{body}{close}");
        rest = &from[close_at + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simday::study::SeedResult;

    fn summary(name: &str, billed: [f64; 2], wait: [f64; 2]) -> StrategySummary {
        let seeds: Vec<SeedResult> = (0..2)
            .map(|i| SeedResult {
                seed: i as u64 + 1,
                billed: billed[i],
                idle: 1.0,
                mean_wait: Some(wait[i]),
                p95_wait: Some(wait[i]),
                not_run: 0,
                batch_calls: 0.0,
                failed: 0,
            })
            .collect();
        let spread = |v: [f64; 2]| Spread::of(&v).unwrap();
        StrategySummary {
            name: name.into(),
            description: String::new(),
            billed: spread(billed),
            cost: spread(billed),
            idle: spread([1.0, 1.0]),
            mean_wait: Some(spread(wait)),
            p95_wait: Some(spread(wait)),
            not_run: 0,
            runs: 4,
            batch_calls: 0.0,
            failed: 0,
            dominated_by: Vec::new(),
            seeds,
        }
    }

    fn study() -> StudyReport {
        StudyReport {
            seeds: vec![1, 2],
            learning_days: 0,
            measured_days: 1,
            price_per_hour: 0.1,
            day_types: vec![DayTypeReport {
                name: "sparse".into(),
                what: "a day".into(),
                config: DayConfig::default(),
                runs_per_day: 2.0,
                strategies: vec![
                    summary("pool-resizer", [100.0, 120.0], [300.0, 200.0]),
                    summary("active-tasks formula", [110.0, 110.0], [400.0, 100.0]),
                ],
            }],
        }
    }

    #[test]
    fn paired_differences_count_the_seeds_each_way() {
        let table = study_paired(&study());
        assert!(
            table.contains(
                "| sparse | active-tasks formula | +0.0 (-10.0 to +10.0) | 1 of 2 | +0.0 s (-100.0 s to +100.0 s) | 1 of 2 |"
            ),
            "{table}"
        );
        let headline = study_headline(&study());
        assert!(headline.contains("| sparse | active-tasks formula (cheapest and fastest formula) | 110.0 (110.0-110.0) |"), "{headline}");
    }

    #[test]
    fn a_doc_gets_its_marked_tables_rendered_again() {
        let report = study();
        let doc = "intro\n<!-- study:headline -->\nstale\n<!-- /study:headline -->\nmiddle\n<!-- study:sparse -->\n<!-- /study:sparse -->\nend\n";
        let updated = update_doc(doc, &report).unwrap();
        assert!(updated.starts_with("intro\n<!-- study:headline -->\n| day type |"));
        assert!(!updated.contains("stale"));
        assert!(updated.contains(&format!(
            "<!-- study:sparse -->\n{}<!-- /study:sparse -->\nend\n",
            study_table(&report.day_types[0])
        )));
        assert_eq!(
            update_doc(&updated, &report).unwrap(),
            updated,
            "idempotent"
        );
        assert!(update_doc("<!-- study:weekend -->\n<!-- /study:weekend -->", &report).is_err());
        assert!(update_doc("<!-- study:headline -->", &report).is_err());
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(45.24), "45.2 s");
        assert_eq!(duration(245.0), "4 m 05 s");
        assert_eq!(duration(19_920.0), "5 h 32 m");
    }
}
