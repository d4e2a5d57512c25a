//! The study's chart: one day type, every strategy's bill against its pipelines' wait.
//!
//! Eleven strategies on one plot: a colour each would need more colours than the eye
//! tells apart, so the marker's shape says the family (circle: pool-resizer's settings;
//! square: the autoscale formulas that follow tasks; triangle: fixed schedules and the
//! floor) and the colour the member. The legend stands beside the plot, not on it, so it
//! never hides a point; log axes are labelled at 1, 2 and 5 of each decade only.

use std::ops::Range;

use plotters::coord::combinators::LogCoord;
use plotters::prelude::*;

use super::ChartError;
use super::{COLOURS, X_AXIS, Y_AXIS};
use crate::simday::report::duration;
use crate::simday::study::{DayTypeReport, StrategySummary};

/// Width of the study chart, legend included.
const STUDY_WIDTH: u32 = 1100;
/// Height of the study chart.
const STUDY_HEIGHT: u32 = 560;
/// Width of the legend column right of the plot.
const LEGEND_WIDTH: u32 = 390;
/// A marker's radius, in pixels.
const MARK: i32 = 6;

/// Which family a strategy belongs to, told by its marker's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Resizer,
    Formula,
    Fixed,
}

impl Family {
    fn of(name: &str) -> Self {
        if name.starts_with("pool-resizer") {
            Family::Resizer
        } else if name.starts_with("schedule") || name.contains("floor") {
            Family::Fixed
        } else {
            Family::Formula
        }
    }
}

/// A strategy as drawn: its shape, its colour, whether filled (hollow: no task ran).
#[derive(Debug, Clone, Copy)]
struct Mark {
    family: Family,
    colour: RGBColor,
    filled: bool,
}

impl Mark {
    fn element<DB: DrawingBackend>(
        self,
        (x, y): (i32, i32),
    ) -> DynElement<'static, DB, (i32, i32)> {
        let style = if self.filled {
            self.colour.filled()
        } else {
            self.colour.stroke_width(2)
        };
        match self.family {
            Family::Resizer => Circle::new((x, y), MARK, style).into_dyn(),
            Family::Formula => Rectangle::new(
                [(x - MARK + 1, y - MARK + 1), (x + MARK - 1, y + MARK - 1)],
                style,
            )
            .into_dyn(),
            Family::Fixed => Polygon::new(
                vec![
                    (x, y - MARK - 1),
                    (x - MARK, y + MARK - 1),
                    (x + MARK, y + MARK - 1),
                ],
                style,
            )
            .into_dyn(),
        }
    }
}

/// Each strategy's mark: the colour counts within its family, in the table's order.
fn marks(day: &DayTypeReport) -> Vec<(Mark, &StrategySummary)> {
    let mut seen: Vec<Family> = Vec::new();
    day.strategies
        .iter()
        .map(|s| {
            let family = Family::of(&s.name);
            let nth = seen.iter().filter(|f| **f == family).count();
            seen.push(family);
            let mark = Mark {
                family,
                colour: COLOURS[nth % COLOURS.len()],
                filled: s.mean_wait.is_some(),
            };
            (mark, s)
        })
        .collect()
}

/// One day type of a study: each strategy's billed node-minutes per day (x) against its
/// mean time to task (y), both on log scales (the floor bills ten times what
/// pool-resizer does; a schedule that misses the pipelines makes them wait hours). A
/// point is the mean over the seeds, its whiskers the range. Strategies under which no
/// task ran have no point and say so in the legend.
pub fn study_day(day: &DayTypeReport) -> Result<String, ChartError> {
    let marks = marks(day);
    let (x, y) = study_ranges(marks.iter().map(|(_, s)| *s));
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (STUDY_WIDTH, STUDY_HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(
            &format!(
                "{}: billed against mean time to task ({:.1} pipelines a day)",
                day.name, day.runs_per_day
            ),
            ("sans-serif", 20).into_font().style(FontStyle::Bold),
        )?;
        let (plot, key) = root.split_horizontally(STUDY_WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(15)
            .x_label_area_size(X_AXIS)
            .y_label_area_size(Y_AXIS + 10)
            .build_cartesian_2d(x.log_scale(), y.log_scale())?;
        chart
            .configure_mesh()
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .light_line_style(WHITE)
            .x_desc("billed node-minutes per day (log scale)")
            .y_desc("mean time to task, minutes (log scale)")
            .x_labels(20)
            .y_labels(20)
            .x_label_formatter(&|v| log_label(*v))
            .y_label_formatter(&|v| log_label(*v))
            .label_style(("sans-serif", 14))
            .draw()?;
        for (mark, s) in &marks {
            draw_point(&mut chart, *mark, s)?;
        }
        draw_legend(&key, &marks)?;
        root.present()?;
    }
    svg.push('\n');
    Ok(svg)
}

/// The study chart: billed node-minutes (x) against minutes to task (y), both log.
type StudyChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// A log axis's label: 1, 2 and 5 of each decade, nothing between (their labels would
/// run into each other at the top of a decade).
fn log_label(v: f64) -> String {
    if !(v.is_finite() && v > 0.0) {
        return String::new();
    }
    let decade = 10f64.powf(v.log10().floor());
    let lead = v / decade;
    let shown = [1.0, 2.0, 5.0].iter().any(|m| (lead - m).abs() < 1e-6 * m);
    match (shown, v < 1.0) {
        (false, _) => String::new(),
        (true, true) => format!("{v:.1}"),
        (true, false) => format!("{v:.0}"),
    }
}

/// A value as the log scales draw it: at least 1, since 0 has no place on them.
fn at_least_one(v: f64) -> f64 {
    v.max(1.0)
}

/// The study chart's x (billed node-minutes) and y (minutes to task) ranges: every
/// strategy's whiskers with a margin, or defaults when there is nothing to show.
fn study_ranges<'s>(
    strategies: impl Iterator<Item = &'s StrategySummary> + Clone,
) -> (Range<f64>, Range<f64>) {
    let xs = strategies
        .clone()
        .flat_map(|s| [at_least_one(s.billed.min), at_least_one(s.billed.max)]);
    let ys = strategies
        .filter_map(|s| s.mean_wait)
        .flat_map(|w| [at_least_one(w.min) / 60.0, at_least_one(w.max) / 60.0]);
    let (x_lo, x_hi) = bounds(xs, 10.0, 1000.0);
    let (y_lo, y_hi) = bounds(ys, 0.1, 10.0);
    (x_lo / 1.3..x_hi * 1.3, y_lo / 1.5..y_hi * 1.5)
}

/// A strategy's legend line: its mean bill and mean time to task over the seeds.
fn point_label(s: &StrategySummary) -> String {
    match s.mean_wait {
        Some(w) => format!(
            "{}: {:.0} node-min, {}",
            s.name,
            s.billed.mean,
            duration(w.mean)
        ),
        None => format!("{}: {:.0} node-min, no task ran", s.name, s.billed.mean),
    }
}

/// One strategy on the study chart: its mean as a mark, its ranges over the seeds as
/// whiskers. A strategy under which no task ran has no time to task to place: the
/// legend alone shows it.
fn draw_point(
    chart: &mut StudyChart<'_, '_>,
    mark: Mark,
    s: &StrategySummary,
) -> Result<(), ChartError> {
    let Some(wait) = s.mean_wait else {
        return Ok(());
    };
    let x = at_least_one(s.billed.mean);
    let y = at_least_one(wait.mean) / 60.0;
    let whisker = mark.colour.stroke_width(2);
    chart.draw_series([
        PathElement::new(
            vec![
                (at_least_one(s.billed.min), y),
                (at_least_one(s.billed.max), y),
            ],
            whisker,
        ),
        PathElement::new(
            vec![
                (x, at_least_one(wait.min) / 60.0),
                (x, at_least_one(wait.max) / 60.0),
            ],
            whisker,
        ),
    ])?;
    chart.draw_series(std::iter::once(
        EmptyElement::at((x, y)) + mark.element((0, 0)),
    ))?;
    Ok(())
}

/// The legend, in its own column: each strategy's mark and line, in the table's order,
/// then what the shapes mean.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    marks: &[(Mark, &StrategySummary)],
) -> Result<(), ChartError> {
    const LINE: i32 = 24;
    let font = ("sans-serif", 13).into_font();
    let mut y = 40;
    for (mark, s) in marks {
        area.draw(&(EmptyElement::at((14, y)) + mark.element((0, 0))))?;
        area.draw(&Text::new(point_label(s), (30, y - 7), font.clone()))?;
        y += LINE;
    }
    y += LINE / 2;
    for line in [
        "circle: pool-resizer; square: a formula that follows",
        "tasks; triangle: a fixed schedule or the floor.",
        "Whiskers: the lowest and highest seed. Marks that",
        "coincide hide each other; the lines above list all.",
    ] {
        area.draw(&Text::new(
            line,
            (8, y),
            font.clone().color(&RGBColor(0x55, 0x55, 0x55)),
        ))?;
        y += LINE - 6;
    }
    Ok(())
}

/// The smallest and largest of `values`, or the defaults when there are none.
fn bounds(values: impl Iterator<Item = f64>, lo: f64, hi: f64) -> (f64, f64) {
    let v: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    if v.is_empty() {
        return (lo, hi);
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max.max(min * 1.01))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log axes say 1, 2 and 5 of each decade and nothing else: 999.99 and 1000 no
    /// longer print "1000" twice.
    #[test]
    fn log_labels_fall_on_one_two_and_five() {
        let shown: Vec<String> = [0.5, 1.0, 3.0, 20.0, 300.0, 500.0, 999.99, 1000.0]
            .iter()
            .map(|v| log_label(*v))
            .collect();
        assert_eq!(shown, ["0.5", "1", "", "20", "", "500", "", "1000"]);
    }

    #[test]
    fn families_are_told_by_name() {
        assert_eq!(Family::of("pool-resizer forecast"), Family::Resizer);
        assert_eq!(Family::of("schedule formula 08-18"), Family::Fixed);
        assert_eq!(Family::of("1-node floor"), Family::Fixed);
        assert_eq!(
            Family::of("Microsoft pending-tasks example"),
            Family::Formula
        );
        assert_eq!(Family::of("active-tasks formula"), Family::Formula);
    }
}
