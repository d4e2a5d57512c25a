//! Request faults (see `crate::faults`): before the request is served, the rules that
//! match its method and path are consumed. Latency first (real time), then at most one
//! of: drop the connection, or answer with a canned error.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::faults::RequestFault;
use crate::http::layers::body::LIMIT;
use crate::http::reply::DropConnection;
use crate::http::state::SimulatorState;

pub(crate) async fn inject(
    State(state): State<SimulatorState>,
    req: Request,
    next: Next,
) -> Response {
    let mut canned = None;
    for f in state
        .faults
        .take_for(req.method().as_str(), req.uri().path())
    {
        match f {
            RequestFault::Delay(d) => tokio::time::sleep(d).await,
            RequestFault::Drop => {
                let mut r = Response::default();
                r.extensions_mut().insert(DropConnection);
                return r;
            }
            RequestFault::Respond(e) => canned = Some(e),
        }
    }
    match canned {
        Some(e) => {
            // Read the body all the same, so the connection stays usable.
            let _ = axum::body::to_bytes(req.into_body(), LIMIT).await;
            e.into_response()
        }
        None => next.run(req).await,
    }
}
