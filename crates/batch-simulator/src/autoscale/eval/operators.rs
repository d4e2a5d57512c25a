//! The operators: unary, arithmetic, comparison, and the timestamp and
//! timeinterval arithmetic Batch documents, element-wise on doubleVecs.

use super::{R, type_error};
use crate::autoscale::FormulaError;
use crate::autoscale::lexer::Pos;
use crate::autoscale::parser::{BinOp, UnOp};
use crate::autoscale::value::Value;

pub(super) fn bool_value(b: bool) -> Value {
    Value::Double(if b { 1.0 } else { 0.0 })
}

/// A condition: a double, true when not 0.
pub(super) fn truth(v: Value, pos: Pos, op: &str) -> R<bool> {
    match v {
        Value::Double(d) => Ok(d != 0.0),
        other => Err(type_error(pos, &format!("'{op}'"), &other)),
    }
}

pub(super) fn unary(op: UnOp, v: Value, pos: Pos) -> R<Value> {
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

pub(super) fn binary(op: BinOp, a: Value, b: Value, pos: Pos) -> R<Value> {
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
