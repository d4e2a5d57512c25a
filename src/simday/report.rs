//! The day's results as a table (terminal and Markdown), JSON, and an SVG chart.
//!
//! The chart is hand-written SVG: one band per strategy with its billed nodes over the
//! day, under a band with the pipelines' runs. A plotting crate would bring a dependency
//! tree for a few dozen rectangles and paths.

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
        "{} runs on {} from {} for {} minutes (seed {}), tasks of {}-{} minutes, start task {} s, ADF polls its task every {} s.\n",
        report.runs.len(),
        c.date,
        c.start,
        c.length_minutes,
        c.seed,
        c.task_minutes[0],
        c.task_minutes[1],
        c.start_task_seconds,
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Nodes over the whole day, one band per strategy, pipelines on top.
pub fn svg_chart(report: &DayReport) -> String {
    svg_chart_between(report, 0.0, f64::from(report.config.length_minutes))
}

/// The busy part of the day: from a little before the first run to a little after the
/// last task could have ended, where the strategies' differences are minutes wide.
pub fn svg_chart_busy(report: &DayReport) -> String {
    let minute = |t: time::OffsetDateTime| (t - report.start).as_seconds_f64() / 60.0;
    let first = report
        .runs
        .first()
        .map(|r| minute(r.arrival))
        .unwrap_or(0.0);
    let last = report
        .runs
        .iter()
        .map(|r| minute(r.arrival) + f64::from(r.task_seconds) / 60.0)
        .fold(first, f64::max);
    let span = f64::from(report.config.length_minutes);
    svg_chart_between(report, (first - 15.0).max(0.0), (last + 30.0).min(span))
}

/// Nodes between minutes `from` and `to` of the day.
pub fn svg_chart_between(report: &DayReport, from: f64, to: f64) -> String {
    const LEFT: f64 = 190.0;
    const PLOT_W: f64 = 760.0;
    const BAND: f64 = 56.0;
    const GAP: f64 = 14.0;
    const TOP: f64 = 30.0;
    let span = (to - from).max(1.0);
    let x = |minute: f64| LEFT + PLOT_W * ((minute - from) / span).clamp(0.0, 1.0);
    let max_nodes = report
        .strategies
        .iter()
        .flat_map(|s| s.metrics.nodes.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(1)
        .max(1);
    let bands = report.strategies.len() + 1;
    let height = TOP + bands as f64 * (BAND + GAP) + 30.0;
    let width = LEFT + PLOT_W + 50.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">Billed nodes {} ({}, {} runs, seed {})</text>",
        if from <= 0.0 && to >= f64::from(report.config.length_minutes) {
            "over the day"
        } else {
            "in the busy hours"
        },
        report.config.date,
        report.runs.len(),
        report.config.seed
    );
    // Hour grid and labels.
    let start_minute = {
        let parts: Vec<u32> = report
            .config
            .start
            .split(':')
            .filter_map(|p| p.parse().ok())
            .collect();
        f64::from(parts.first().copied().unwrap_or(0) * 60 + parts.get(1).copied().unwrap_or(0))
    };
    let step = if span > 360.0 {
        120.0
    } else if span > 60.0 {
        30.0
    } else {
        10.0
    };
    let bottom = TOP + bands as f64 * (BAND + GAP);
    let mut m = from + (step - (start_minute + from) % step) % step;
    while m <= to {
        let gx = x(m);
        let clock = (start_minute + m) % 1440.0;
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\n<text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{:02}:{:02}</text>",
            bottom + 16.0,
            (clock / 60.0).floor() as u32,
            (clock % 60.0) as u32
        );
        m += step;
    }
    // The pipelines: each run from its start for its task's length.
    let y0 = TOP;
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">pipeline runs</text>",
        LEFT - 8.0,
        y0 + BAND / 2.0 + 4.0
    );
    let day_start = report.start;
    for (i, r) in report.runs.iter().enumerate() {
        let from = (r.arrival - day_start).as_seconds_f64() / 60.0;
        let to = from + f64::from(r.task_seconds) / 60.0;
        let lane = (i % 4) as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"9\" fill=\"#888\"><title>{} at {}</title></rect>",
            x(from),
            y0 + 8.0 + lane * 11.0,
            (x(to) - x(from)).max(1.5),
            r.id,
            r.arrival.time()
        );
    }
    const COLOURS: [&str; 6] = [
        "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    ];
    for (i, st) in report.strategies.iter().enumerate() {
        let top = TOP + (i + 1) as f64 * (BAND + GAP);
        let base = top + BAND;
        let y = |n: u32| base - BAND * f64::from(n) / f64::from(max_nodes);
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\" font-size=\"10\">{:.0} node-min billed</text>\n<line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#999\"/>",
            LEFT - 8.0,
            top + BAND / 2.0,
            escape(&st.name),
            LEFT - 8.0,
            top + BAND / 2.0 + 14.0,
            st.metrics.billed_node_minutes,
            LEFT + PLOT_W
        );
        let nodes = &st.metrics.nodes;
        let at_from = nodes
            .iter()
            .take_while(|(m, _)| *m <= from)
            .last()
            .map(|p| p.1)
            .unwrap_or(0);
        let mut d = format!(
            "M{:.1},{base:.1} L{:.1},{:.1}",
            x(from),
            x(from),
            y(at_from)
        );
        let mut last = at_from;
        for (minute, n) in nodes.iter().filter(|(m, _)| *m > from && *m < to) {
            let px = x(*minute);
            let _ = write!(d, " L{px:.1},{:.1} L{px:.1},{:.1}", y(last), y(*n));
            last = *n;
        }
        let _ = write!(d, " L{:.1},{:.1} L{:.1},{base:.1} Z", x(to), y(last), x(to));
        let _ = writeln!(
            s,
            "<path d=\"{d}\" fill=\"{colour}\" fill-opacity=\"0.35\" stroke=\"{colour}\" stroke-width=\"1.2\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\" font-size=\"10\">{max_nodes} node{}</text>",
            LEFT + PLOT_W + 4.0,
            top + 8.0,
            if max_nodes == 1 { "" } else { "s" }
        );
    }
    s.push_str("</svg>\n");
    s
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
