//! The Azure Functions face: what the Functions host (and ADF, and curl) sees.
//!
//! The host starts this binary as a *custom handler* and forwards HTTP
//! requests unchanged to `http://127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT`
//! (`enableForwardingHttpRequest`), paths included (`/api/scale-up`). It
//! probes `/` until anything answers. Handlers here are thin: parse the
//! request into a [`Want`](crate::resizer::Want), run the resizer, map the
//! report to a status code and the JSON body of [`crate::report`]; the
//! work itself is the [`crate::service`]'s, which the CLI and timers share. Timer
//! firings arrive as invocation payloads instead ([`timer`]).

pub(crate) mod connections;
pub(crate) mod error;
pub(crate) mod handlers;
pub(crate) mod params;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod status_url;
pub(crate) mod timer;

pub use connections::{ServerLimits, serve_with_limits};
pub use server::{router, serve};
pub use state::AppState;
