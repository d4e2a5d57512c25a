//! Reads the whole body before anything looks at it, so handlers take plain bytes and a
//! body over 4 MiB is refused the same way on every route: 413 `RequestBodyTooLarge`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::ErrorReply;

/// The largest request body read.
pub(crate) const LIMIT: usize = 4 << 20;

pub(crate) async fn read(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, LIMIT).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ErrorReply::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large.",
        )
        .into_response(),
    }
}
