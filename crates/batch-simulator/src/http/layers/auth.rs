//! Authentication: every Batch call carries Shared Key or a bearer token this
//! simulator issued (verification itself is in `crate::auth`).
//!
//! It sees the path exactly as the client sent and signed it: the path is normalised
//! for routing only after this layer.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate;
use crate::http::state::SimulatorState;

pub(crate) async fn check(
    State(state): State<SimulatorState>,
    req: Request,
    next: Next,
) -> Response {
    let verdict = authenticate(
        req.method(),
        req.uri(),
        req.headers(),
        &state.account,
        &state.key,
        &state.tokens,
    );
    match verdict {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
