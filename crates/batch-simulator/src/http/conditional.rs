//! What a pool's conditional requests share, whichever route serves them:
//! the ETag checks (`If-Match` / `If-None-Match`) and the answer to a change
//! with the pool's `ETag`, `Last-Modified` and `DataServiceId`. Its own file
//! so the pool routes and the autoscale routes both use it without
//! importing each other.

use axum::http::{HeaderMap, StatusCode};

use super::reply::{Answer, Reply, modified};
use crate::errors::ErrorReply;
use crate::world::World;

/// The answer to a change: `status` 200 or 202 as the service answers, the pool's
/// [`modified`] headers, and as `DataServiceId` the pool's URL, or the action's for the
/// POST actions (recorded for `resize` and `stopresize`: `.../pools/{id}/resize`).
pub(super) fn changed(
    w: &World,
    base: &str,
    id: &str,
    status: StatusCode,
    action: Option<&str>,
) -> Answer {
    let p = w.pools.get(id).ok_or_else(ErrorReply::pool_not_found)?;
    let url = match action {
        Some(a) => format!("{}/{a}", p.url(base)),
        None => p.url(base),
    };
    let mut headers = modified(p.last_modified);
    headers.push(("dataserviceid", url));
    Ok(Reply::empty(status).with_headers(headers))
}

/// `If-Match` / `If-None-Match` (the two the service honours that matter for ETags);
/// `If-(Un)Modified-Since` only count toward "one condition at most".
pub(super) fn check_conditions(
    headers: &HeaderMap,
    etag: &str,
    read: bool,
) -> Result<(), ErrorReply> {
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ];
    if names.iter().filter(|n| headers.contains_key(**n)).count() > 1 {
        return Err(ErrorReply::new(
            StatusCode::BAD_REQUEST,
            "MultipleConditionHeadersNotSupported",
            "Multiple condition headers are not supported.",
        ));
    }
    let val = |n: &str| {
        headers.get(n).and_then(|v| v.to_str().ok()).map(|s| {
            s.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        })
    };
    let failed = if read {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::PRECONDITION_FAILED
    };
    if let Some(m) = val("if-match")
        && m != "*"
        && !m.eq_ignore_ascii_case(etag)
    {
        return Err(ErrorReply::condition_not_met(
            StatusCode::PRECONDITION_FAILED,
        ));
    }
    if let Some(m) = val("if-none-match")
        && (m == "*" || m.eq_ignore_ascii_case(etag))
    {
        return Err(ErrorReply::condition_not_met(failed));
    }
    Ok(())
}
