//! The formula language's values and how the results string prints them.
//!
//! Batch's types are `double`, `doubleVec`, `timestamp`, `timeinterval` and `string`
//! (a `doubleVecList`, the argument list of the aggregate functions, is flattened where
//! it is read). A sampled service variable (`$PendingTasks`) is a value of its own here:
//! it can be passed around, but only its methods read it.

use time::OffsetDateTime;

use super::samples::Metric;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Double(f64),
    Vec(Vec<f64>),
    Timestamp(OffsetDateTime),
    /// Seconds (a `timeinterval`).
    Interval(f64),
    Str(String),
    Sampled(Metric),
}

impl Value {
    /// The type name messages use.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Double(_) => "double",
            Value::Vec(_) => "doubleVec",
            Value::Timestamp(_) => "timestamp",
            Value::Interval(_) => "timeinterval",
            Value::Str(_) => "string",
            Value::Sampled(_) => "sampled variable",
        }
    }

    /// As the results string of an `AutoScaleRun` shows it.
    pub(super) fn render(&self) -> String {
        match self {
            Value::Double(d) => render_double(*d),
            Value::Vec(v) => format!(
                "[{}]",
                v.iter()
                    .map(|d| render_double(*d))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Value::Timestamp(t) => render_timestamp(*t),
            Value::Interval(s) => render_interval(*s),
            Value::Str(s) => s.clone(),
            Value::Sampled(m) => m.name().to_string(),
        }
    }
}

/// Integers without a fraction (`3`, as recorded), others as short as they round-trip.
pub(super) fn render_double(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}

/// Milliseconds, `Z`: `2016-10-13T19:18:47.805Z`, as the documentation's results show.
pub(super) fn render_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// .NET `TimeSpan` style: `00:05:00`, `1.02:00:00`, `-00:00:30`.
pub(super) fn render_interval(secs: f64) -> String {
    let sign = if secs < 0.0 { "-" } else { "" };
    let total = secs.abs();
    let whole = total.trunc() as u64;
    let (days, rest) = (whole / 86_400, whole % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let frac = total.fract();
    let mut out = String::from(sign);
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0.0 {
        let digits = format!("{:07}", (frac * 1e7).round() as u64);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renders_like_the_service() {
        assert_eq!(Value::Double(3.0).render(), "3");
        assert_eq!(Value::Double(2.5).render(), "2.5");
        assert_eq!(Value::Vec(vec![1.0, 0.5]).render(), "[1,0.5]");
        assert_eq!(
            Value::Timestamp(datetime!(2016-10-13 19:18:47.805 UTC)).render(),
            "2016-10-13T19:18:47.805Z"
        );
        assert_eq!(Value::Interval(300.0).render(), "00:05:00");
        assert_eq!(Value::Interval(93_600.5).render(), "1.02:00:00.5");
        assert_eq!(Value::Str("requeue".into()).render(), "requeue");
    }
}
