//! Autoscale routes: `POST /pools/{id}/enableautoscale`, `disableautoscale` and
//! `evaluateautoscale`. The checks Batch makes on the body (formula syntax and length,
//! the interval's range) come before the pool lookup, as for the other pool actions.

use axum::http::{HeaderMap, StatusCode};

use super::conditional::{changed, check_conditions};
use super::extract::parse_body;
use super::listing::to_json;
use super::reply::{Answer, Reply};
use super::state::SimulatorState;
use crate::errors::ErrorReply;
use crate::wire::{EnableAutoScaleBody, EvaluateAutoScaleBody, WithMeta};
use crate::world::autoscale::{check_formula, check_interval};

/// `enableautoscale`: 200 with the pool's headers; the first evaluation happens now.
pub(super) fn enable(s: &SimulatorState, id: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
    let b: EnableAutoScaleBody = parse_body(body)?;
    if let Some(f) = &b.auto_scale_formula {
        check_formula(f)?;
    }
    if let Some(i) = &b.auto_scale_evaluation_interval {
        check_interval(i)?;
    }
    let mut w = s.lock_world();
    let p = w.pool_for_change(id)?;
    check_conditions(headers, &p.etag(), false)?;
    w.enable_autoscale(id, b.auto_scale_formula, b.auto_scale_evaluation_interval)?;
    changed(&w, &s.base_url, id, StatusCode::OK, None)
}

pub(super) fn disable(s: &SimulatorState, id: &str) -> Answer {
    let mut w = s.lock_world();
    w.disable_autoscale(id)?;
    changed(&w, &s.base_url, id, StatusCode::OK, None)
}

/// `evaluateautoscale`: 200 with an `AutoScaleRun`, its `error` set when the formula
/// failed while running (recorded: a formula error is not an HTTP error).
pub(super) fn evaluate(s: &SimulatorState, id: &str, body: &[u8]) -> Answer {
    let b: EvaluateAutoScaleBody = parse_body(body)?;
    let formula = b
        .auto_scale_formula
        .ok_or_else(|| ErrorReply::missing_property("autoScaleFormula"))?;
    check_formula(&formula)?;
    let w = s.lock_world();
    let run = w.evaluate_autoscale(id, &formula)?;
    let body = to_json(&WithMeta {
        metadata: format!(
            "{}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun",
            s.base_url
        ),
        inner: &run.to_wire(),
    })?;
    Ok(Reply::json(StatusCode::OK, body))
}
