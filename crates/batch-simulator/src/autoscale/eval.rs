//! Running a parsed formula: statements in order, one environment of variables.
//!
//! The first error ends the run (Batch reports one error per run) and the targets then
//! stay as they were: a formula that fails never resizes the pool. The results string is
//! written either way, since the recorded failing run carries one.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::lexer::Pos;
use super::parser::{BinOp, Expr, Stmt};
use super::samples::{History, Metric};
use super::value::Value;
use super::{Formula, FormulaError};

mod functions;
mod operators;
mod sampled;

use operators::{binary, bool_value, truth, unary};

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
                let vals = self.eval_all(args)?;
                self.call(name, vals, *pos)
            }
            Expr::Method(target, name, args, pos) => {
                let t = self.eval(target)?;
                let vals = self.eval_all(args)?;
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
                timestamp_field(ts, name, *pos)
            }
        }
    }

    fn eval_all(&mut self, args: &[Expr]) -> R<Vec<Value>> {
        args.iter().map(|a| self.eval(a)).collect()
    }
}

/// `timestamp.year` and its siblings (`weekday`: 0 is Sunday).
fn timestamp_field(ts: OffsetDateTime, name: &str, pos: Pos) -> R<Value> {
    let v = match name {
        "year" => f64::from(ts.year()),
        "month" => f64::from(u8::from(ts.month())),
        "day" => f64::from(ts.day()),
        "weekday" => f64::from(ts.weekday().number_days_from_sunday()),
        "hour" => f64::from(ts.hour()),
        "minute" => f64::from(ts.minute()),
        "second" => f64::from(ts.second()),
        _ => {
            return Err(FormulaError::eval(
                pos,
                format!("A timestamp has no field {name}"),
            ));
        }
    };
    Ok(Value::Double(v))
}
