//! The layers every data-plane request passes, outermost first:
//!
//! | layer | does | answers itself with |
//! |---|---|---|
//! | [`envelope`] | request id, Batch headers, renders errors, one `request` event | — |
//! | [`faults`] | injected latency, dropped connections, canned errors | the canned error |
//! | [`body`] | reads the body (4 MiB at most) so handlers get bytes | 413 `RequestBodyTooLarge` |
//! | [`api_version`] | Batch routes only: a published `api-version` | 400 |
//! | [`auth`] | Batch routes only: Shared Key or bearer token | 400 / 401 / 403 |
//!
//! The order is the service's: a throttled request is throttled whatever its
//! credentials, and a request without api-version fails before its signature is
//! checked. The token endpoint (`/msi/token`) sits between `body` and `api_version`: it
//! can be faulted, but has neither api-version nor Batch auth. The control surface
//! (`/_simulator`) has none of these layers.

pub(super) mod api_version;
pub(super) mod auth;
pub(super) mod body;
pub(super) mod envelope;
pub(super) mod faults;
