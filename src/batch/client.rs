//! `BatchClient`: the handful of Batch data-plane calls pool-resizer makes.
//!
//! Shaped like the azure-sdk-for-rust clients: a client struct holding an
//! `azure_core` [`Pipeline`], an options struct, one async method per call.
//! The pipeline brings a `client-request-id` per call, the user agent, and
//! a few *quick* retries of what a second try usually fixes (a dropped
//! connection, 500/502/504/408), all within about two seconds. Throttling
//! (429/503) is not retried here: it comes back at once as a
//! [`BatchError::busy`] with its `Retry-After`, because only the caller knows
//! how much of its wait budget is left to spend on waiting. The auth policy
//! (bearer token or Shared Key) runs per try.

use super::error::{AuthMode, BatchError};
use super::models::{ErrorBody, MetadataItem, Node, Page, Pool, ResizePool};
use super::pool_id::PoolId;
use super::shared_key::{AccountKey, SharedKeyPolicy};
use azure_core::credentials::TokenCredential;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, PipelineOptions,
    PipelineSendOptions, RawResponse, Request, RetryOptions, StatusCode, Url,
    headers::HeaderName,
    policies::{ClientRequestIdPolicy, Policy, auth::BearerTokenAuthorizationPolicy},
};
use serde::Serialize;
use std::sync::Arc;

/// The data-plane version every call uses.
pub(crate) const API_VERSION: &str = "2025-06-01";
/// Entra scope of the Batch data plane (the double slash is right).
pub(crate) const BATCH_SCOPE: &str = "https://batch.core.windows.net//.default";
const JSON_CONTENT_TYPE: &str = "application/json; odata=minimalmetadata";

/// Fields the resizer reads; `$select` keeps pool GETs small.
const POOL_SELECT: &str = "id,eTag,lastModified,state,allocationState,allocationStateTransitionTime,vmSize,resizeTimeout,currentDedicatedNodes,currentLowPriorityNodes,targetDedicatedNodes,targetLowPriorityNodes,enableAutoScale,autoScaleFormula,resizeErrors,metadata,taskSlotsPerNode";
const NODE_SELECT: &str = "id,state,stateTransitionTime,allocationTime,lastBootTime,isDedicated,runningTasksCount,runningTaskSlotsCount,schedulingState,startTaskInfo,errors";
/// A pool has at most a few thousand nodes; more pages than this means a loop.
const MAX_PAGES: usize = 100;

/// How the client proves who it is.
#[derive(Clone)]
pub(crate) enum BatchAuth {
    /// Account name and key (full access; RBAC does not apply).
    SharedKey { account: String, key: AccountKey },
    /// Microsoft Entra ID: a managed identity in Azure, developer tools locally.
    Token {
        credential: Arc<dyn TokenCredential>,
        /// Which credential it is: decides the fix an error points to.
        mode: AuthMode,
    },
}

impl std::fmt::Debug for BatchAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchAuth::SharedKey { account, .. } => write!(f, "SharedKey({account})"),
            BatchAuth::Token { mode, .. } => write!(f, "EntraToken({mode:?})"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BatchClientOptions {
    /// Transport, retry and telemetry settings of the pipeline.
    pub(crate) client_options: ClientOptions,
}

impl Default for BatchClientOptions {
    fn default() -> Self {
        Self {
            client_options: ClientOptions {
                // Quick: a refused connection or an untrusted certificate
                // must become an error in seconds, not a minute of retrying.
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: azure_core::time::Duration::milliseconds(200),
                    max_retries: 2,
                    max_total_elapsed: azure_core::time::Duration::seconds(3),
                    max_delay: azure_core::time::Duration::seconds(1),
                }),
                ..ClientOptions::default()
            },
        }
    }
}

#[derive(Debug, Clone)]
/// The Batch data-plane client: one account, one `azure_core` pipeline (auth, retries, TLS). Cheap to clone.
pub struct BatchClient {
    endpoint: Url,
    pipeline: Pipeline,
    auth_mode: AuthMode,
}

/// Statuses the pipeline retries at once. Not 429/503: those say "wait",
/// and the caller waits on its own budget (see the module docs).
const QUICK_RETRY_STATUSES: &[StatusCode] = &[
    StatusCode::RequestTimeout,
    StatusCode::InternalServerError,
    StatusCode::BadGateway,
    StatusCode::GatewayTimeout,
];

impl BatchClient {
    /// `endpoint` is the account URL, e.g. `https://acct.westeurope.batch.azure.com`.
    pub(crate) fn new(endpoint: Url, auth: BatchAuth, options: BatchClientOptions) -> Self {
        let (auth_policy, auth_mode): (Arc<dyn Policy>, AuthMode) = match auth {
            BatchAuth::SharedKey { account, key } => (
                Arc::new(SharedKeyPolicy::new(account, key)),
                AuthMode::SharedKey,
            ),
            BatchAuth::Token { credential, mode } => (
                Arc::new(BearerTokenAuthorizationPolicy::new(
                    credential,
                    [BATCH_SCOPE],
                )),
                mode,
            ),
        };
        let request_id: Arc<dyn Policy> =
            Arc::new(ClientRequestIdPolicy::with_header_name("client-request-id"));
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options.client_options,
            vec![request_id],
            vec![auth_policy],
            Some(PipelineOptions {
                retry_status_codes: QUICK_RETRY_STATUSES.to_vec(),
                ..PipelineOptions::default()
            }),
        );
        Self {
            endpoint,
            pipeline,
            auth_mode,
        }
    }

    /// `GET /pools/{id}` with the fields the resizer reads. The ETag comes
    /// from the body, or from the header when `$select` left it out.
    pub(crate) async fn get_pool(&self, pool_id: &PoolId) -> Result<Pool, BatchError> {
        let url = self.url(&["pools", pool_id.as_str()], &[("$select", POOL_SELECT)]);
        let response = self.send(Request::new(url.clone(), Method::Get)).await?;
        let etag = header(&response, "etag");
        let mut pool: Pool = decode(&response, &url)?;
        if pool.e_tag.is_none() {
            pool.e_tag = etag;
        }
        Ok(pool)
    }

    /// `GET /pools/{id}/nodes`, every page, optionally filtered
    /// (e.g. `state eq 'starttaskfailed'`).
    pub(crate) async fn list_nodes(
        &self,
        pool_id: &PoolId,
        filter: Option<&str>,
    ) -> Result<Vec<Node>, BatchError> {
        let mut query = vec![("$select", NODE_SELECT)];
        if let Some(filter) = filter {
            query.push(("$filter", filter));
        }
        let mut url = self.url(&["pools", pool_id.as_str(), "nodes"], &query);
        let mut nodes = Vec::new();
        for _ in 0..MAX_PAGES {
            let page_url = url.clone();
            let response = self.send(Request::new(url, Method::Get)).await?;
            let page: Page<Node> = decode(&response, &page_url)?;
            nodes.extend(page.value);
            match page.next_link {
                Some(next) => url = self.same_origin(&next)?,
                None => return Ok(nodes),
            }
        }
        Err(BatchError::Decode {
            url: self.endpoint.to_string(),
            detail: format!("the node list of {pool_id} did not end after {MAX_PAGES} pages"),
            source: None,
        })
    }

    /// `POST /pools/{id}/resize` (202, no body). With `if_match`, Batch
    /// refuses (412) if the pool changed since that ETag was read.
    pub(crate) async fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        let url = self.url(&["pools", pool_id.as_str(), "resize"], &[]);
        let mut request = Request::new(url, Method::Post);
        set_if_match(&mut request, if_match);
        set_json(&mut request, body);
        self.send(request).await.map(drop)
    }

    /// `POST /pools/{id}/removenodes` (202): the named nodes leave once their
    /// running tasks finish (`taskcompletion`), and the pool's target drops
    /// by as many. Used to replace nodes that bill but never take a task.
    pub(crate) async fn remove_nodes(
        &self,
        pool_id: &PoolId,
        node_ids: &[String],
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct RemoveNodes<'a> {
            node_list: &'a [String],
            node_deallocation_option: &'static str,
        }
        let url = self.url(&["pools", pool_id.as_str(), "removenodes"], &[]);
        let mut request = Request::new(url, Method::Post);
        set_if_match(&mut request, if_match);
        set_json(
            &mut request,
            &RemoveNodes {
                node_list: node_ids,
                node_deallocation_option: "taskcompletion",
            },
        );
        self.send(request).await.map(drop)
    }

    /// `POST /pools/{id}/stopresize` (202). The pool keeps the nodes it has.
    pub(crate) async fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        let url = self.url(&["pools", pool_id.as_str(), "stopresize"], &[]);
        let mut request = Request::new(url, Method::Post);
        set_if_match(&mut request, if_match);
        self.send(request).await.map(drop)
    }

    /// `PATCH /pools/{id}` replacing the whole metadata list, guarded by
    /// `If-Match` so concurrent writers cannot overwrite each other (412).
    pub(crate) async fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> Result<(), BatchError> {
        #[derive(Serialize)]
        struct Patch<'a> {
            metadata: &'a [MetadataItem],
        }
        let url = self.url(&["pools", pool_id.as_str()], &[]);
        let mut request = Request::new(url, Method::Patch);
        set_if_match(&mut request, if_match);
        set_json(&mut request, &Patch { metadata });
        self.send(request).await.map(drop)
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.endpoint.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut path = url
                .path_segments_mut()
                .expect("an https URL always has a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", API_VERSION);
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    /// Paging links must point back at our account: never send credentials
    /// to a host a response body named.
    fn same_origin(&self, link: &str) -> Result<Url, BatchError> {
        let bad = |detail: String, source: Option<url::ParseError>| BatchError::Decode {
            url: self.endpoint.to_string(),
            detail,
            source: source.map(|e| e.into()),
        };
        let url = Url::parse(link).map_err(|e| bad(format!("bad odata.nextLink: {e}"), Some(e)))?;
        if url.origin() != self.endpoint.origin() {
            return Err(bad(
                "odata.nextLink points away from the Batch account".to_owned(),
                None,
            ));
        }
        Ok(url)
    }

    /// One call, counted by pool, status and code for telemetry.
    async fn send(&self, request: Request) -> Result<RawResponse, BatchError> {
        let pool = pool_in_path(request.url());
        let result = self.send_once(request).await;
        let (status, code) = match &result {
            Ok(response) => (u16::from(response.status()), ""),
            Err(error) => (
                error.status().map_or(0, u16::from),
                error.code().unwrap_or("Unreachable"),
            ),
        };
        crate::telemetry::metrics::batch_call(&pool, status, code);
        result
    }

    async fn send_once(&self, mut request: Request) -> Result<RawResponse, BatchError> {
        let ctx = Context::new();
        let url = without_query(request.url());
        let response = self
            .pipeline
            .send(
                &ctx,
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| BatchError::from_core(e, &url, self.auth_mode))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: ErrorBody = serde_json::from_slice(response.body()).unwrap_or_default();
        let mut message = body.described();
        if message.is_empty() {
            // Not a Batch error body (a proxy's HTML page, a gateway's text):
            // its opening words are still the best clue to what went wrong.
            message = body_excerpt(response.body());
        }
        Err(BatchError::Service {
            status,
            message,
            code: body.code.unwrap_or_else(|| format!("Http{status}")),
            request_id: header(&response, "request-id"),
            retry_after: retry_after(&response),
            url,
            auth: self.auth_mode,
        })
    }
}

/// The first words of a body that is not a Batch error: tags and runs of
/// white space dropped, at most 160 characters.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => plain.push(' '),
            c => plain.push(c),
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(160) {
        Some((cut, _)) => format!("{}...", &joined[..cut]),
        None => joined,
    }
}

/// The URL without its query, for messages: short, and the same for every
/// api-version and `$select`.
fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// `Retry-After` as seconds or an HTTP date (RFC 7231), the forms Batch uses.
fn retry_after(response: &RawResponse) -> Option<std::time::Duration> {
    let value = header(response, "retry-after")?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let at = azure_core::time::parse_rfc7231(value.trim()).ok()?;
    let wait = at - azure_core::time::OffsetDateTime::now_utc();
    Some(std::time::Duration::try_from(wait).unwrap_or_default())
}

fn set_if_match(request: &mut Request, etag: Option<&str>) {
    if let Some(etag) = etag {
        request.insert_header(HeaderName::from_static("if-match"), etag.to_owned());
    }
}

fn set_json<T: Serialize>(request: &mut Request, body: &T) {
    let bytes =
        serde_json::to_vec(body).expect("request bodies are plain structs that always serialize");
    request.insert_header(HeaderName::from_static("content-type"), JSON_CONTENT_TYPE);
    request.set_body(bytes);
}

fn header(response: &RawResponse, name: &'static str) -> Option<String> {
    response
        .headers()
        .get_optional_str(&HeaderName::from_static(name))
        .map(str::to_owned)
}

fn decode<T: serde::de::DeserializeOwned>(
    response: &RawResponse,
    url: &Url,
) -> Result<T, BatchError> {
    serde_json::from_slice(response.body()).map_err(|e| BatchError::Decode {
        url: without_query(url),
        detail: e.to_string(),
        source: Some(Box::new(e)),
    })
}

#[cfg(test)]
mod scripted;
#[cfg(test)]
mod tests;

/// The pool a call is about: the path's `/pools/{id}`, decoded; `-` for
/// account-wide calls.
fn pool_in_path(url: &url::Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.find(|x| *x == "pools").and_then(|_| s.next()))
        .map(|p| {
            url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map_or_else(|| p.to_owned(), |(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| "-".into())
}
