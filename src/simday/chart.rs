//! The day's charts: each strategy's billed nodes over the day as a step line, one panel
//! per strategy under a strip with the pipeline runs, as SVG.
//!
//! Drawn with [plotters] rather than by hand: issue #15 asked for a plotting crate, and it
//! lays out the axes, ticks, grid and legends from the data's ranges, where hand-written SVG
//! computed every coordinate itself. Only its SVG backend and area series are built, without
//! `ttf`: the SVG backend writes text as `<text>` that the viewer's fonts draw, so plotters
//! sizes labels with its own estimate and links no font library (no fontconfig, no
//! freetype). It comes with the `simulator` feature only; the deployed build has no
//! plotters.
//!
//! The output is a function of the report alone (integer pixel coordinates, drawn in the
//! report's order): the same day gives the same bytes, so the committed `docs/` charts change
//! only when the day does.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::report::{DayReport, StrategyReport};

mod study;
pub use study::study_day;

/// Width of the SVG, in pixels.
const WIDTH: u32 = 1000;
/// Height of the title above the panels.
const TITLE: u32 = 40;
/// Height of the pipeline-runs strip.
const RUNS: u32 = 80;
/// Height of one strategy's panel.
const PANEL: u32 = 90;
/// Room under the last panel for the time labels and the axis name.
const X_AXIS: u32 = 45;
/// Room left of the panels for the node counts and the axis name.
const Y_AXIS: u32 = 55;
/// Lanes the runs strip spreads overlapping runs over.
const LANES: usize = 4;
/// One colour per strategy, in the table's order (ColorBrewer Dark2).
pub(super) const COLOURS: [RGBColor; 8] = [
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xe6, 0xab, 0x02),
    RGBColor(0xa6, 0x76, 0x1d),
    RGBColor(0x66, 0x66, 0x66),
];
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// Why a chart could not be drawn: plotters' error, as text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChartError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self(e.to_string())
    }
}

/// Nodes over the whole day.
pub fn day(report: &DayReport) -> Result<String, ChartError> {
    between(report, 0.0, report.minutes)
}

/// The busy part of the day: from a little before the first run to a little after the
/// last task could have ended, where the strategies' differences are minutes wide.
pub fn busy_hours(report: &DayReport) -> Result<String, ChartError> {
    let first = report
        .runs
        .first()
        .map(|r| minute_of(report, r.arrival))
        .unwrap_or(0.0);
    let last = report
        .runs
        .iter()
        .map(|r| minute_of(report, r.arrival) + f64::from(r.task_seconds) / 60.0)
        .fold(first, f64::max);
    between(
        report,
        (first - 15.0).max(0.0),
        (last + 30.0).min(report.minutes),
    )
}

/// Nodes between minutes `from` and `to` of the day.
pub fn between(report: &DayReport, from: f64, to: f64) -> Result<String, ChartError> {
    let to = to.max(from + 1.0);
    let clock = Clock::of(report);
    let max_nodes = most_nodes(report);
    let n = report.strategies.len() as u32;
    let height = TITLE + RUNS + n * PANEL + X_AXIS;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        // The title, the runs strip, then one panel per strategy; the last panel also
        // holds the time axis.
        let mut breaks = vec![TITLE, TITLE + RUNS];
        breaks.extend((1..n).map(|i| TITLE + RUNS + i * PANEL));
        let areas = root.split_by_breakpoints::<u32, u32, _, _>([], breaks);
        let [title_area, runs_area, panels @ ..] = areas.as_slice() else {
            return Err(ChartError("no room for the chart".into()));
        };
        title_area.titled(
            &day_title(report, from, to),
            ("sans-serif", 20).into_font().style(FontStyle::Bold),
        )?;
        let time = || Axis::time(&clock, from, to);
        draw_runs(runs_area, report, time(), from, to)?;
        for (i, (strategy, area)) in report.strategies.iter().zip(panels).enumerate() {
            let panel = Panel {
                colour: COLOURS[i % COLOURS.len()],
                last: i + 1 == report.strategies.len(),
                max_nodes,
            };
            panel.draw(area, strategy, time(), from, to)?;
        }
        root.present()?;
    }
    svg.push('\n');
    Ok(svg)
}

/// A drawing area of the SVG being written.
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The most nodes any strategy billed at once (at least 1): every panel shares this
/// scale, so their heights compare.
fn most_nodes(report: &DayReport) -> u32 {
    report
        .strategies
        .iter()
        .flat_map(|s| s.metrics.nodes.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(1)
        .max(1)
}

/// The day chart's title: which span, which day, how many runs, which seed.
fn day_title(report: &DayReport, from: f64, to: f64) -> String {
    let whole_day = from <= 0.0 && to >= report.minutes;
    format!(
        "Billed nodes {} ({} UTC, {} runs, seed {})",
        if whole_day {
            "over the day"
        } else {
            "in the busy hours"
        },
        report.config.date,
        report.runs.len(),
        report.config.seed
    )
}

/// The runs strip: each run from its start for its task's length, in lanes so overlaps
/// show.
fn draw_runs(
    area: &Area<'_>,
    report: &DayReport,
    time: Axis,
    from: f64,
    to: f64,
) -> Result<(), ChartError> {
    let mut chart = ChartBuilder::on(area)
        .margin_right(20)
        .margin_top(5)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(time, Axis::counts(LANES as f64 * 1.5, 0))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .draw()?;
    chart
        .draw_series(report.runs.iter().enumerate().filter_map(|(i, r)| {
            let start = minute_of(report, r.arrival);
            let end = start + f64::from(r.task_seconds) / 60.0;
            let lane = (i % LANES) as f64;
            (end > from && start < to).then(|| {
                Rectangle::new(
                    [(start.max(from), lane + 0.15), (end.min(to), lane + 0.85)],
                    GREY.filled(),
                )
            })
        }))?
        .label("pipeline runs: each from its start for its task's length")
        .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], GREY.filled()));
    legend(&mut chart)
}

/// How one strategy's panel looks: its colour, whether it carries the time axis (the
/// last one does), the node scale all panels share.
struct Panel {
    colour: RGBColor,
    last: bool,
    max_nodes: u32,
}

impl Panel {
    /// The strategy's billed nodes as a filled step line, its total in the legend.
    fn draw(
        &self,
        area: &Area<'_>,
        strategy: &StrategyReport,
        time: Axis,
        from: f64,
        to: f64,
    ) -> Result<(), ChartError> {
        let colour = self.colour;
        // Headroom above the top count, for the legend.
        let top = f64::from(self.max_nodes) * 1.6;
        let mut chart = ChartBuilder::on(area)
            .margin_right(20)
            .margin_top(5)
            .x_label_area_size(if self.last { X_AXIS } else { 0 })
            .y_label_area_size(Y_AXIS)
            .build_cartesian_2d(time, Axis::counts(top, self.max_nodes))?;
        let mut mesh = chart.configure_mesh();
        mesh.bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .y_desc("nodes")
            .label_style(("sans-serif", 14));
        if self.last {
            mesh.x_desc("time of day (UTC)");
        }
        mesh.draw()?;
        chart
            .draw_series(
                AreaSeries::new(
                    steps(&strategy.metrics.nodes, from, to),
                    0.0,
                    colour.mix(0.3),
                )
                .border_style(colour.stroke_width(2)),
            )?
            .label(format!(
                "{}: {:.0} node-min billed over the day",
                strategy.name, strategy.metrics.billed_node_minutes
            ))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 4), (x + 16, y + 4)], colour.mix(0.3).filled())
            });
        legend(&mut chart)
    }
}

/// The legend in the panel's top left corner, over the headroom its y range leaves.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(4)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .draw()?;
    Ok(())
}

/// `nodes` (the count from each change on) as a step line from `from` to `to`: the count
/// at `from`, a vertical at each change in between, the last count until `to`.
fn steps(nodes: &[(f64, u32)], from: f64, to: f64) -> Vec<(f64, f64)> {
    let at_from = nodes
        .iter()
        .take_while(|(m, _)| *m <= from)
        .last()
        .map_or(0, |p| p.1);
    let mut points = vec![(from, f64::from(at_from))];
    let mut last = at_from;
    for &(m, n) in nodes.iter().filter(|(m, _)| *m > from && *m < to) {
        points.push((m, f64::from(last)));
        points.push((m, f64::from(n)));
        last = n;
    }
    points.push((to, f64::from(last)));
    points
}

fn minute_of(report: &DayReport, t: time::OffsetDateTime) -> f64 {
    (t - report.start).as_seconds_f64() / 60.0
}

/// Minutes of the day against the wall clock: the day's start time, in minutes after
/// midnight.
#[derive(Debug, Clone, Copy)]
struct Clock(f64);

impl Clock {
    fn of(report: &DayReport) -> Self {
        let t = report.start.time();
        Self(f64::from(u32::from(t.hour()) * 60 + u32::from(t.minute())))
    }

    /// `HH:MM` at `minute` of the day; a midnight that ends the axis is `24:00`.
    fn hhmm(&self, minute: f64, axis_end: bool) -> String {
        let at = (self.0 + minute).round();
        let m = match at.rem_euclid(1440.0) as u32 {
            0 if axis_end && at > 0.0 => 1440,
            m => m,
        };
        format!("{:02}:{:02}", m / 60, m % 60)
    }

    /// Ticks on every two hours, hour, half hour or ten minutes of the clock, by the span.
    fn ticks(&self, from: f64, to: f64) -> Vec<f64> {
        let span = to - from;
        let step = if span > 720.0 {
            120.0
        } else if span > 180.0 {
            60.0
        } else if span > 60.0 {
            30.0
        } else {
            10.0
        };
        let mut m = from + (step - (self.0 + from).rem_euclid(step)) % step;
        let mut ticks = Vec::new();
        while m <= to + 1e-9 {
            ticks.push(m);
            m += step;
        }
        ticks
    }
}

/// A linear axis with the ticks and labels this chart picks, where plotters' own would
/// fall on round numbers of minutes rather than the clock's hours: plotters' `f64` axis for
/// the mapping, our key points and labels. Grid lines on the ticks only.
struct Axis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
    /// `Some(clock)`: minutes of the day, labelled `HH:MM`; `None`: counts.
    clock: Option<Clock>,
}

impl Axis {
    /// Minutes `from` to `to` of the day.
    fn time(clock: &Clock, from: f64, to: f64) -> Self {
        Self {
            linear: (from..to).into(),
            ticks: clock.ticks(from, to),
            clock: Some(*clock),
        }
    }

    /// Counts from 0 to `top`, ticked at each whole number up to `max` (none when 0).
    fn counts(top: f64, max: u32) -> Self {
        Self {
            linear: (0.0..top).into(),
            ticks: if max == 0 {
                Vec::new()
            } else {
                (0..=max).map(f64::from).collect()
            },
            clock: None,
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // plotters asks once for light lines (any weight), once for bold ones and labels.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        match &self.clock {
            Some(clock) => clock.hhmm(*value, *value >= self.linear.range().end),
            None => format!("{value:.0}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_each_count_until_the_next_change() {
        let nodes = [(0.0, 0), (10.0, 1), (20.0, 0), (30.0, 1)];
        assert_eq!(
            steps(&nodes, 5.0, 25.0),
            [
                (5.0, 0.0),
                (10.0, 0.0),
                (10.0, 1.0),
                (20.0, 1.0),
                (20.0, 0.0),
                (25.0, 0.0)
            ]
        );
        assert_eq!(steps(&nodes, 30.0, 40.0), [(30.0, 1.0), (40.0, 1.0)]);
    }

    #[test]
    fn ticks_fall_on_the_clock() {
        let clock = Clock(8.0 * 60.0);
        assert_eq!(clock.ticks(5.0, 60.0), [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        assert_eq!(clock.hhmm(10.0, false), "08:10");
        assert_eq!(Clock(0.0).ticks(0.0, 1440.0).len(), 13);
        assert_eq!(Clock(0.0).hhmm(0.0, false), "00:00");
        assert_eq!(Clock(0.0).hhmm(1440.0, true), "24:00");
        assert_eq!(Clock(600.0).hhmm(840.0, false), "00:00");
        assert_eq!(Clock(600.0).hhmm(1439.6, true), "10:00");
    }
}
