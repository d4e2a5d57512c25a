//! Running a parsed formula: statements in order, one environment of variables.
//!
//! The first error ends the run (Batch reports one error per run) and the targets then
//! stay as they were: a formula that fails never resizes the pool. The results string is
//! written either way, since the recorded failing run carries one.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::lexer::Pos;
use super::parser::{BinOp, Expr, Stmt, UnOp};
use super::samples::{History, Metric, SAMPLE_PERIOD_SECS};
use super::value::Value;
use super::{Formula, FormulaError};

/// What a formula can read about its pool at the moment of evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Inputs<'a> {
    pub now: OffsetDateTime,
    pub current_dedicated: u32,
    pub current_low_priority: u32,
    pub target_dedicated: u32,
    pub target_low_priority: u32,
    pub task_slots_per_node: u32,
    pub history: &'a History,
    /// Seeds `rand()`, so one seed gives one history.
    pub seed: u64,
}

/// What one run left: the targets (unchanged when it failed), the results string, the error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    pub target_dedicated: u32,
    pub target_low_priority: u32,
    /// `requeue`, `terminate`, `taskcompletion` or `retaineddata`.
    pub node_deallocation_option: String,
    /// `$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;...`
    pub results: String,
    pub error: Option<FormulaError>,
}

const DEALLOC: [&str; 4] = ["requeue", "terminate", "taskcompletion", "retaineddata"];

const TARGET_DEDICATED: &str = "$TargetDedicatedNodes";
const TARGET_LOW: &str = "$TargetLowPriorityNodes";
const DEALLOC_VAR: &str = "$NodeDeallocationOption";

fn interval_constant(name: &str) -> Option<f64> {
    Some(match name {
        "TimeInterval_Zero" => 0.0,
        "TimeInterval_100ns" => 1e-7,
        "TimeInterval_Microsecond" => 1e-6,
        "TimeInterval_Millisecond" => 1e-3,
        "TimeInterval_Second" => 1.0,
        "TimeInterval_Minute" => 60.0,
        "TimeInterval_Hour" => 3600.0,
        "TimeInterval_Day" => 86_400.0,
        "TimeInterval_Week" => 7.0 * 86_400.0,
        "TimeInterval_Year" => 365.0 * 86_400.0,
        _ => return None,
    })
}

/// Run `formula` against `inputs`.
pub(crate) fn evaluate(formula: &Formula, inputs: &Inputs<'_>) -> Evaluation {
    let mut env = Env {
        inputs,
        target_dedicated: Value::Double(f64::from(inputs.target_dedicated)),
        target_low: Value::Double(f64::from(inputs.target_low_priority)),
        dealloc: Value::Str("requeue".into()),
        vars: BTreeMap::new(),
        rng: inputs.seed ^ 0x9E37_79B9_7F4A_7C15,
        stopped: false,
    };
    let error = env.run(&formula.statements).err();
    let (mut dedicated, mut low) = (inputs.target_dedicated, inputs.target_low_priority);
    let mut dealloc = "requeue".to_string();
    let mut error = error;
    if error.is_none() {
        match env.targets() {
            Ok((d, l, o)) => (dedicated, low, dealloc) = (d, l, o),
            Err(e) => error = Some(e),
        }
    }
    Evaluation {
        target_dedicated: dedicated,
        target_low_priority: low,
        node_deallocation_option: dealloc,
        results: env.results(),
        error,
    }
}

struct Env<'a, 'b> {
    inputs: &'a Inputs<'b>,
    target_dedicated: Value,
    target_low: Value,
    dealloc: Value,
    /// User variables, by name (sorted: the order the results list them in).
    vars: BTreeMap<String, Value>,
    rng: u64,
    stopped: bool,
}

type R<T> = Result<T, FormulaError>;

fn type_error(pos: Pos, what: &str, v: &Value) -> FormulaError {
    FormulaError::eval(pos, format!("{what} cannot take a {}", v.type_name()))
}

impl Env<'_, '_> {
    fn run(&mut self, stmts: &[Stmt]) -> R<()> {
        for s in stmts {
            match s {
                Stmt::Assign(name, pos, e) => {
                    let v = self.eval(e)?;
                    self.assign(name, *pos, v)?;
                }
                Stmt::Expr(e, _) => {
                    self.eval(e)?;
                }
            }
            if self.stopped {
                break;
            }
        }
        Ok(())
    }

    fn assign(&mut self, name: &str, pos: Pos, v: Value) -> R<()> {
        match name {
            TARGET_DEDICATED | "$TargetDedicated" => {
                self.target_dedicated = self.node_count(name, pos, v)?;
            }
            TARGET_LOW => self.target_low = self.node_count(name, pos, v)?,
            DEALLOC_VAR => match &v {
                Value::Str(s) if DEALLOC.contains(&s.to_ascii_lowercase().as_str()) => {
                    self.dealloc = Value::Str(s.to_ascii_lowercase());
                }
                other => {
                    return Err(FormulaError::eval(
                        pos,
                        format!(
                            "$NodeDeallocationOption must be requeue, terminate, taskcompletion or retaineddata, not {}",
                            other.render()
                        ),
                    ));
                }
            },
            "$CurrentDedicatedNodes" | "$CurrentLowPriorityNodes" | "$TaskSlotsPerNode" => {
                return Err(FormulaError::eval(
                    pos,
                    format!("Cannot assign to read-only variable: {name}"),
                ));
            }
            _ if Metric::from_name(name).is_some() => {
                return Err(FormulaError::eval(
                    pos,
                    format!("Cannot assign to read-only variable: {name}"),
                ));
            }
            _ => {
                self.vars.insert(name.to_string(), v);
            }
        }
        Ok(())
    }

    /// A target must be a non-negative double (a doubleVec of one element will do).
    fn node_count(&self, name: &str, pos: Pos, v: Value) -> R<Value> {
        let d = match &v {
            Value::Double(d) => *d,
            Value::Vec(x) if x.len() == 1 => x[0],
            other => return Err(type_error(pos, name, other)),
        };
        if !d.is_finite() || d < 0.0 {
            return Err(FormulaError::eval(
                pos,
                format!("{name} must be a non-negative number, not {}", v.render()),
            ));
        }
        Ok(Value::Double(d))
    }

    fn targets(&self) -> R<(u32, u32, String)> {
        let count = |v: &Value| match v {
            Value::Double(d) => d.floor().min(f64::from(u32::MAX)) as u32,
            _ => 0,
        };
        let dealloc = match &self.dealloc {
            Value::Str(s) => s.clone(),
            _ => "requeue".into(),
        };
        Ok((
            count(&self.target_dedicated),
            count(&self.target_low),
            dealloc,
        ))
    }

    fn results(&self) -> String {
        let mut parts = vec![
            format!("{TARGET_DEDICATED}={}", self.target_dedicated.render()),
            format!("{TARGET_LOW}={}", self.target_low.render()),
            format!("{DEALLOC_VAR}={}", self.dealloc.render()),
        ];
        for (k, v) in &self.vars {
            parts.push(format!("{k}={}", v.render()));
        }
        parts.join(";")
    }

    fn lookup(&self, name: &str, pos: Pos) -> R<Value> {
        let i = self.inputs;
        Ok(match name {
            TARGET_DEDICATED | "$TargetDedicated" => self.target_dedicated.clone(),
            TARGET_LOW => self.target_low.clone(),
            DEALLOC_VAR => self.dealloc.clone(),
            "$CurrentDedicatedNodes" => Value::Double(f64::from(i.current_dedicated)),
            "$CurrentLowPriorityNodes" => Value::Double(f64::from(i.current_low_priority)),
            "$TaskSlotsPerNode" => Value::Double(f64::from(i.task_slots_per_node)),
            _ => {
                if let Some(v) = self.vars.get(name) {
                    v.clone()
                } else if let Some(m) = Metric::from_name(name) {
                    Value::Sampled(m)
                } else if let Some(s) = interval_constant(name) {
                    Value::Interval(s)
                } else if DEALLOC.contains(&name) {
                    Value::Str(name.to_string())
                } else {
                    return Err(FormulaError::eval(pos, format!("Undefined symbol: {name}")));
                }
            }
        })
    }

    fn eval(&mut self, e: &Expr) -> R<Value> {
        match e {
            Expr::Num(n) => Ok(Value::Double(*n)),
            Expr::Str(s) => Ok(Value::Str(s.clone())),
            Expr::Name(n, pos) => self.lookup(n, *pos),
            Expr::Unary(op, x, pos) => {
                let v = self.eval(x)?;
                unary(*op, v, *pos)
            }
            Expr::Binary(BinOp::And, a, b, pos) => {
                let a = truth(self.eval(a)?, *pos, "&&")?;
                if !a {
                    return Ok(Value::Double(0.0));
                }
                Ok(bool_value(truth(self.eval(b)?, *pos, "&&")?))
            }
            Expr::Binary(BinOp::Or, a, b, pos) => {
                let a = truth(self.eval(a)?, *pos, "||")?;
                if a {
                    return Ok(Value::Double(1.0));
                }
                Ok(bool_value(truth(self.eval(b)?, *pos, "||")?))
            }
            Expr::Binary(op, a, b, pos) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                binary(*op, a, b, *pos)
            }
            Expr::Ternary(c, yes, no, pos) => {
                if truth(self.eval(c)?, *pos, "?:")? {
                    self.eval(yes)
                } else {
                    self.eval(no)
                }
            }
            Expr::Call(name, args, pos) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                self.call(name, vals, *pos)
            }
            Expr::Method(target, name, args, pos) => {
                let t = self.eval(target)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                let Value::Sampled(m) = t else {
                    return Err(FormulaError::eval(
                        *pos,
                        format!("A {} has no method {name}", t.type_name()),
                    ));
                };
                self.method(m, name, vals, *pos)
            }
            Expr::Field(target, name, pos) => {
                let t = self.eval(target)?;
                let Value::Timestamp(ts) = t else {
                    return Err(FormulaError::eval(
                        *pos,
                        format!("A {} has no field {name}", t.type_name()),
                    ));
                };
                let v = match name.as_str() {
                    "year" => f64::from(ts.year()),
                    "month" => f64::from(u8::from(ts.month())),
                    "day" => f64::from(ts.day()),
                    "weekday" => f64::from(ts.weekday().number_days_from_sunday()),
                    "hour" => f64::from(ts.hour()),
                    "minute" => f64::from(ts.minute()),
                    "second" => f64::from(ts.second()),
                    _ => {
                        return Err(FormulaError::eval(
                            *pos,
                            format!("A timestamp has no field {name}"),
                        ));
                    }
                };
                Ok(Value::Double(v))
            }
        }
    }

    fn call(&mut self, name: &str, args: Vec<Value>, pos: Pos) -> R<Value> {
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
                let f: fn(f64) -> f64 = match name {
                    "ceil" => f64::ceil,
                    "floor" => f64::floor,
                    "round" => f64::round,
                    "lg" => f64::log2,
                    "ln" => f64::ln,
                    _ => f64::log10,
                };
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
                if i < 0.0 || i.fract() != 0.0 || i as usize >= xs.len() {
                    return Err(FormulaError::eval(
                        pos,
                        format!("val: index {i} is out of range for {} elements", xs.len()),
                    ));
                }
                Ok(Value::Double(xs[i as usize]))
            }
            "rand" => {
                arity(0)?;
                // xorshift64*: deterministic per evaluation, good enough for a coin toss.
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
                Ok(Value::Double((x >> 11) as f64 / (1u64 << 53) as f64))
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

    fn method(&self, m: Metric, name: &str, args: Vec<Value>, pos: Pos) -> R<Value> {
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

fn bool_value(b: bool) -> Value {
    Value::Double(if b { 1.0 } else { 0.0 })
}

/// A condition: a double, true when not 0.
fn truth(v: Value, pos: Pos, op: &str) -> R<bool> {
    match v {
        Value::Double(d) => Ok(d != 0.0),
        other => Err(type_error(pos, &format!("'{op}'"), &other)),
    }
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

fn unary(op: UnOp, v: Value, pos: Pos) -> R<Value> {
    match (op, v) {
        (UnOp::Neg, Value::Double(d)) => Ok(Value::Double(-d)),
        (UnOp::Neg, Value::Vec(x)) => Ok(Value::Vec(x.into_iter().map(|d| -d).collect())),
        (UnOp::Neg, Value::Interval(s)) => Ok(Value::Interval(-s)),
        (UnOp::Not, Value::Double(d)) => Ok(bool_value(d == 0.0)),
        (UnOp::Not, Value::Vec(x)) => Ok(Value::Vec(
            x.into_iter()
                .map(|d| if d == 0.0 { 1.0 } else { 0.0 })
                .collect(),
        )),
        (op, other) => Err(type_error(
            pos,
            if op == UnOp::Neg { "'-'" } else { "'!'" },
            &other,
        )),
    }
}

fn op_symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::And => "&&",
        BinOp::Or => "||",
    }
}

fn arith(op: BinOp, a: f64, b: f64, pos: Pos) -> R<f64> {
    Ok(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => {
            if b == 0.0 {
                return Err(FormulaError::eval(pos, "Division by zero"));
            }
            a / b
        }
        BinOp::Lt => f64::from(u8::from(a < b)),
        BinOp::Le => f64::from(u8::from(a <= b)),
        BinOp::Gt => f64::from(u8::from(a > b)),
        BinOp::Ge => f64::from(u8::from(a >= b)),
        BinOp::Eq => f64::from(u8::from(a == b)),
        BinOp::Ne => f64::from(u8::from(a != b)),
        BinOp::And => f64::from(u8::from(a != 0.0 && b != 0.0)),
        BinOp::Or => f64::from(u8::from(a != 0.0 || b != 0.0)),
    })
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
    )
}

fn binary(op: BinOp, a: Value, b: Value, pos: Pos) -> R<Value> {
    use Value::*;
    let mismatch = |a: &Value, b: &Value| {
        FormulaError::eval(
            pos,
            format!(
                "Invalid operands for '{}': {} and {}",
                op_symbol(op),
                a.type_name(),
                b.type_name()
            ),
        )
    };
    match (&a, &b) {
        (Double(x), Double(y)) => Ok(Double(arith(op, *x, *y, pos)?)),
        (Vec(x), Double(y)) if !is_comparison(op) => Ok(Vec(x
            .iter()
            .map(|d| arith(op, *d, *y, pos))
            .collect::<R<_>>()?)),
        (Double(x), Vec(y)) if !is_comparison(op) => Ok(Vec(y
            .iter()
            .map(|d| arith(op, *x, *d, pos))
            .collect::<R<_>>()?)),
        (Vec(x), Vec(y)) if !is_comparison(op) && x.len() == y.len() => Ok(Vec(x
            .iter()
            .zip(y)
            .map(|(p, q)| arith(op, *p, *q, pos))
            .collect::<R<_>>()?)),
        (Interval(x), Interval(y)) => match op {
            BinOp::Add => Ok(Interval(x + y)),
            BinOp::Sub => Ok(Interval(x - y)),
            BinOp::Div => Ok(Double(arith(op, *x, *y, pos)?)),
            _ if is_comparison(op) => Ok(Double(arith(op, *x, *y, pos)?)),
            _ => Err(mismatch(&a, &b)),
        },
        (Interval(x), Double(y)) if matches!(op, BinOp::Mul | BinOp::Div) => {
            Ok(Interval(arith(op, *x, *y, pos)?))
        }
        (Double(x), Interval(y)) if op == BinOp::Mul => Ok(Interval(x * y)),
        (Timestamp(t), Interval(s)) if matches!(op, BinOp::Add | BinOp::Sub) => {
            let d = time::Duration::seconds_f64(*s);
            Ok(Timestamp(if op == BinOp::Add { *t + d } else { *t - d }))
        }
        (Interval(s), Timestamp(t)) if op == BinOp::Add => {
            Ok(Timestamp(*t + time::Duration::seconds_f64(*s)))
        }
        (Timestamp(x), Timestamp(y)) if op == BinOp::Sub => {
            Ok(Interval((*x - *y).as_seconds_f64()))
        }
        (Timestamp(x), Timestamp(y)) if is_comparison(op) => {
            let (x, y) = (
                x.unix_timestamp_nanos() as f64,
                y.unix_timestamp_nanos() as f64,
            );
            Ok(Double(arith(op, x, y, pos)?))
        }
        (Str(x), Str(y)) if matches!(op, BinOp::Eq | BinOp::Ne) => {
            let same = x.eq_ignore_ascii_case(y);
            Ok(bool_value(if op == BinOp::Eq { same } else { !same }))
        }
        (Sampled(m), _) | (_, Sampled(m)) => Err(FormulaError::eval(
            pos,
            format!(
                "{} cannot be used directly: use {}.GetSample(...)",
                m.name(),
                m.name()
            ),
        )),
        _ => Err(mismatch(&a, &b)),
    }
}
