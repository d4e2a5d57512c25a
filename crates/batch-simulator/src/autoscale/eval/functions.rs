//! The built-in functions (`avg`, `percentile`, `rand`, `time`...): what a
//! call does once its arguments are values.

use time::OffsetDateTime;

use super::{Env, R, type_error};
use crate::autoscale::FormulaError;
use crate::autoscale::lexer::Pos;
use crate::autoscale::value::Value;

impl Env<'_, '_> {
    pub(super) fn call(&mut self, name: &str, args: Vec<Value>, pos: Pos) -> R<Value> {
        let arity = |n: usize| -> R<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(FormulaError::eval(
                    pos,
                    format!("{name} takes {n} argument(s), not {}", args.len()),
                ))
            }
        };
        match name {
            "avg" | "len" | "max" | "min" | "norm" | "range" | "std" | "sum" => {
                let xs = flatten(&args, name, pos)?;
                aggregate(name, &xs, pos)
            }
            "ceil" | "floor" | "round" | "lg" | "ln" | "log" => {
                let f = rounding(name);
                match args.as_slice() {
                    [Value::Double(d)] => Ok(Value::Double(f(*d))),
                    _ => {
                        let xs = flatten(&args, name, pos)?;
                        Ok(Value::Vec(xs.into_iter().map(f).collect()))
                    }
                }
            }
            "percentile" => {
                arity(2)?;
                let xs = flatten(&args[..1], name, pos)?;
                let Value::Double(p) = args[1] else {
                    return Err(type_error(pos, "percentile's second argument", &args[1]));
                };
                percentile(&xs, p, pos)
            }
            "val" => {
                arity(2)?;
                let xs = flatten(&args[..1], name, pos)?;
                let Value::Double(i) = args[1] else {
                    return Err(type_error(pos, "val's second argument", &args[1]));
                };
                val(&xs, i, pos)
            }
            "rand" => {
                arity(0)?;
                Ok(Value::Double(self.next_random()))
            }
            "stop" => {
                arity(0)?;
                self.stopped = true;
                Ok(Value::Double(0.0))
            }
            "time" => match args.as_slice() {
                [] => Ok(Value::Timestamp(self.inputs.now)),
                [Value::Str(s)] if s.is_empty() => Ok(Value::Timestamp(self.inputs.now)),
                [Value::Str(s)] => {
                    OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
                        .map(Value::Timestamp)
                        .map_err(|_| {
                            FormulaError::eval(pos, format!("time: not a date and time: {s}"))
                        })
                }
                [other] => Err(type_error(pos, "time", other)),
                _ => arity(1).map(|_| Value::Double(0.0)),
            },
            _ => Err(FormulaError::eval(
                pos,
                format!("Undefined function: {name}"),
            )),
        }
    }

    /// xorshift64*: deterministic per evaluation, good enough for a coin toss.
    fn next_random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The functions that map each element: `ceil`, `floor`, `round`, `lg`, `ln`, `log`.
fn rounding(name: &str) -> fn(f64) -> f64 {
    match name {
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "round" => f64::round,
        "lg" => f64::log2,
        "ln" => f64::ln,
        _ => f64::log10,
    }
}

/// `val(list, i)`: the element at a whole, in-range index.
fn val(xs: &[f64], i: f64, pos: Pos) -> R<Value> {
    if i < 0.0 || i.fract() != 0.0 || i as usize >= xs.len() {
        return Err(FormulaError::eval(
            pos,
            format!("val: index {i} is out of range for {} elements", xs.len()),
        ));
    }
    Ok(Value::Double(xs[i as usize]))
}

/// A `doubleVecList`: doubles and doubleVecs, flattened.
fn flatten(args: &[Value], name: &str, pos: Pos) -> R<Vec<f64>> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::Double(d) => out.push(*d),
            Value::Vec(v) => out.extend_from_slice(v),
            Value::Sampled(m) => {
                return Err(FormulaError::eval(
                    pos,
                    format!(
                        "{name} cannot read {} directly: use {}.GetSample(...)",
                        m.name(),
                        m.name()
                    ),
                ));
            }
            other => return Err(type_error(pos, name, other)),
        }
    }
    Ok(out)
}

fn aggregate(name: &str, xs: &[f64], pos: Pos) -> R<Value> {
    if name == "len" {
        return Ok(Value::Double(xs.len() as f64));
    }
    if name == "sum" {
        return Ok(Value::Double(xs.iter().sum()));
    }
    if name == "norm" {
        return Ok(Value::Double(xs.iter().map(|x| x * x).sum::<f64>().sqrt()));
    }
    if xs.is_empty() {
        return Err(FormulaError::eval(pos, format!("{name} of an empty list")));
    }
    let n = xs.len() as f64;
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = xs.iter().sum::<f64>() / n;
    Ok(Value::Double(match name {
        "avg" => mean,
        "max" => max,
        "min" => min,
        "range" => max - min,
        // The sample standard deviation, as documented; one value has none: 0.
        _ if xs.len() < 2 => 0.0,
        _ => (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    }))
}

/// Linear interpolation between the closest ranks.
fn percentile(xs: &[f64], p: f64, pos: Pos) -> R<Value> {
    if xs.is_empty() {
        return Err(FormulaError::eval(pos, "percentile of an empty list"));
    }
    if !(0.0..=100.0).contains(&p) {
        return Err(FormulaError::eval(
            pos,
            format!("percentile: {p} is not between 0 and 100"),
        ));
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Ok(Value::Double(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)))
}
