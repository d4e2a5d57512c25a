//! The HTTP face: one axum [`Router`] per resource, the layers every call passes, and the
//! TLS listener.
//!
//! ```text
//! /_simulator/...   control::routes                     (no layers)
//! everything else   envelope -> faults -> body          (layers, see `layers`)
//!   /msi/token        identity::token
//!   Batch routes      api_version -> auth -> normalise path -> pools | nodes | jobs
//!                     (nothing matched: unrouted::not_routed)
//! ```
//!
//! The Batch routes are wrapped as one service rather than layered route by route, so
//! the api-version and auth checks run before routing: an unknown path without
//! credentials is refused for its credentials, as the service does, and the router
//! matches the normalised path while auth checks the signed one.
//!
//! | file | job |
//! |---|---|
//! | [`pools`], [`nodes`], [`jobs`] | the Batch resources |
//! | [`autoscale`] | a pool's autoscale actions |
//! | [`control`], [`identity`] | `/_simulator`, `/msi/token` |
//! | [`layers`] | envelope, faults, body, api-version, auth |
//! | [`extract`], [`listing`], [`reply`] | reading requests; answering GETs (one entity or a page); answers and errors |
//! | [`state`] | what handlers share |
//! | [`mod@serve`] | TLS accept loop; drops connections on request |

mod autoscale;
mod conditional;
mod control;
mod extract;
mod identity;
mod jobs;
mod layers;
mod listing;
mod nodes;
mod pools;
mod reply;
mod serve;
mod state;
mod unrouted;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::any;
use tower::ServiceBuilder;

pub(crate) use layers::api_version::API_VERSION;
pub(crate) use serve::serve;
pub(crate) use state::{Shared, SimulatorState};

/// The whole simulator as one router.
pub(crate) fn router(state: SimulatorState) -> Router {
    let batch = Router::new()
        .merge(pools::routes())
        .merge(nodes::routes())
        .merge(jobs::routes())
        .fallback(unrouted::not_routed)
        .method_not_allowed_fallback(unrouted::not_routed)
        // The body layer already read and capped the body.
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());
    let batch = ServiceBuilder::new()
        .layer(from_fn(layers::api_version::check))
        .layer(from_fn_with_state(state.clone(), layers::auth::check))
        .map_request(extract::normalize_path)
        .service(batch);
    let control = ServiceBuilder::new()
        .map_request(control::trim_trailing_slashes)
        .service(control::routes(state.clone()));
    Router::new()
        .route("/msi/token", any(identity::token))
        .fallback_service(batch)
        // Router layers: the last added runs first.
        .layer(from_fn(layers::body::read))
        .layer(from_fn_with_state(state.clone(), layers::faults::inject))
        .layer(from_fn_with_state(state.clone(), layers::envelope::wrap))
        .nest_service("/_simulator", control)
        .with_state(state)
}
