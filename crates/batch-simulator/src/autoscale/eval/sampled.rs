//! The sampled variables' methods (`$CPUPercent.GetSample(...)`, `Count()`...):
//! what they read from the pool's history at the evaluation's now.

use time::OffsetDateTime;

use super::{Env, R, type_error};
use crate::autoscale::FormulaError;
use crate::autoscale::lexer::Pos;
use crate::autoscale::samples::{History, Metric, SAMPLE_PERIOD_SECS};
use crate::autoscale::value::Value;

impl Env<'_, '_> {
    pub(super) fn method(&self, m: Metric, name: &str, args: Vec<Value>, pos: Pos) -> R<Value> {
        let now = self.inputs.now;
        let history = self.inputs.history;
        match name {
            "GetSample" => {
                let picked = select(history, m, now, &args, pos, name)?;
                if let Some((window, Some(pct))) = picked.percent_check {
                    let have = sample_percent(picked.values.len(), window);
                    if have < pct {
                        return Err(FormulaError::eval(
                            pos,
                            format!(
                                "{}.GetSample: {have:.0}% of the samples are available, fewer than the {pct}% required",
                                m.name()
                            ),
                        ));
                    }
                }
                if picked.values.is_empty() {
                    return Err(FormulaError::eval(
                        pos,
                        format!(
                            "{}.GetSample: no samples are available for the requested range",
                            m.name()
                        ),
                    ));
                }
                Ok(Value::Vec(picked.values))
            }
            "GetSamplePercent" => {
                if args.is_empty() || args.len() > 2 {
                    return Err(FormulaError::eval(
                        pos,
                        "GetSamplePercent takes a start and an optional end",
                    ));
                }
                let picked = select(history, m, now, &args, pos, name)?;
                let window = picked.percent_check.map(|(w, _)| w).unwrap_or(0.0);
                Ok(Value::Double(sample_percent(picked.values.len(), window)))
            }
            "Count" => Ok(Value::Double(history.visible(now).count() as f64)),
            "GetSamplePeriod" => Ok(Value::Interval(SAMPLE_PERIOD_SECS as f64)),
            "HistoryBeginTime" => history
                .visible(now)
                .next()
                .map(|s| Value::Timestamp(s.at))
                .ok_or_else(|| FormulaError::eval(pos, format!("{}: no samples yet", m.name()))),
            _ => Err(FormulaError::eval(
                pos,
                format!("Undefined method: {}.{name}", m.name()),
            )),
        }
    }
}

/// Samples picked by `GetSample`'s arguments: newest first, and for a time range its
/// length (seconds) and the percentage the caller requires.
struct Picked {
    values: Vec<f64>,
    percent_check: Option<(f64, Option<f64>)>,
}

fn select(
    history: &History,
    m: Metric,
    now: OffsetDateTime,
    args: &[Value],
    pos: Pos,
    name: &str,
) -> R<Picked> {
    let bound = |v: &Value| -> R<OffsetDateTime> {
        match v {
            Value::Interval(s) => Ok(now - time::Duration::seconds_f64(*s)),
            Value::Timestamp(t) => Ok(*t),
            other => Err(type_error(pos, name, other)),
        }
    };
    let visible = || history.visible(now).rev();
    match args {
        [Value::Double(n)] if name == "GetSample" => {
            let n = n.max(0.0).floor() as usize;
            Ok(Picked {
                values: visible().take(n).map(|s| s.get(m)).collect(),
                percent_check: None,
            })
        }
        [first, rest @ ..] if rest.len() <= 2 => {
            let a = bound(first)?;
            let b = match rest.first() {
                Some(v) => bound(v)?,
                None => now,
            };
            let pct = match rest.get(1) {
                Some(Value::Double(p)) => Some(*p),
                Some(other) => return Err(type_error(pos, name, other)),
                None => None,
            };
            let (from, to) = if a <= b { (a, b) } else { (b, a) };
            let values = visible()
                .filter(|s| s.at >= from && s.at <= to)
                .map(|s| s.get(m))
                .collect();
            Ok(Picked {
                values,
                percent_check: Some(((to - from).as_seconds_f64(), pct)),
            })
        }
        _ => Err(FormulaError::eval(
            pos,
            format!(
                "{name} takes a count, or a start and an optional end and percentage, not {} argument(s)",
                args.len()
            ),
        )),
    }
}

/// How many of the samples a window of `window` seconds should hold are there, in percent.
fn sample_percent(have: usize, window: f64) -> f64 {
    let expected = (window / SAMPLE_PERIOD_SECS as f64).floor();
    if expected <= 0.0 {
        return if have > 0 { 100.0 } else { 0.0 };
    }
    (have as f64 / expected * 100.0).min(100.0)
}
