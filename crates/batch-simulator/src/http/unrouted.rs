//! What a Batch request that no handler takes gets: the service's answers for unknown
//! resources and for verbs a resource does not support.

use axum::extract::Request;
use axum::http::Method;

use super::extract::segments;
use crate::errors::ErrorReply;

/// 404 `ResourceNotFound` for paths outside `pools`, `jobs` and `nodecounts` (and for
/// an unknown pool action); 400 `UnsupportedRequestVerb` for a known resource asked
/// with the wrong verb.
pub(super) async fn not_routed(req: Request) -> ErrorReply {
    let segs = segments(req.uri().path());
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["pools", _, _] if req.method() == Method::POST => ErrorReply::resource_not_found(),
        ["pools", ..] | ["jobs", ..] | ["nodecounts"] => ErrorReply::unsupported_operation(),
        _ => ErrorReply::resource_not_found(),
    }
}
