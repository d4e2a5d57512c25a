//! How answers are made: [`Reply`] for success, [`ErrorReply`] for failure, and the markers
//! that tell the outer layers what to do with a response.
//!
//! A handler or layer that fails returns the [`ErrorReply`] as a response *unrendered*: the
//! error rides in the response's extensions and the envelope layer renders the Batch
//! error body, because only it knows the request id the body must quote. So errors are
//! rendered in one place, whichever layer produced them.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;

use time::OffsetDateTime;

use crate::clock::{etag_for, format_rfc1123, format_ts};
use crate::errors::ErrorReply;

/// JSON content type exactly as the service sends it.
pub(super) const JSON_CT: &str = "application/json; odata=minimalmetadata";

/// What a handler returns; an error is rendered by the envelope layer (see above).
pub(super) type Answer = Result<Reply, ErrorReply>;

/// A successful Batch answer: status, extra headers, optional JSON body.
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, body: String) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(super) fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// `201 Created` for a new resource at `url`: its [`modified`] headers, and `url` as
    /// both `DataServiceId` and `Location`.
    pub(super) fn created(url: String, last_modified: OffsetDateTime) -> Self {
        let mut headers = modified(last_modified);
        headers.push(("dataserviceid", url.clone()));
        headers.push(("location", url));
        Reply::empty(StatusCode::CREATED).with_headers(headers)
    }

    pub(super) fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers = headers;
        self
    }
}

/// `ETag` and `Last-Modified` of a resource. Batch derives the ETag from the
/// modification time, so the two always move together and one function makes both.
pub(super) fn modified(last_modified: OffsetDateTime) -> Vec<(&'static str, String)> {
    vec![
        ("etag", etag_for(last_modified)),
        ("last-modified", format_rfc1123(last_modified)),
    ]
}

impl IntoResponse for Reply {
    fn into_response(self) -> axum::response::Response {
        let mut b = Response::builder().status(self.status);
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                b = b.header(*k, v);
            }
        }
        let body = match self.body {
            Some(s) => {
                b = b.header("content-type", JSON_CT);
                Body::from(s)
            }
            None => Body::empty(),
        };
        b.body(body)
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// An error on its way to the envelope layer, which renders it.
#[derive(Clone)]
pub(super) struct Unrendered(pub ErrorReply);

impl IntoResponse for ErrorReply {
    fn into_response(self) -> axum::response::Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(Unrendered(self));
        r
    }
}

/// A response that is not Batch's (the token endpoint): no Batch headers added.
#[derive(Clone, Copy)]
pub(super) struct Bare;

/// Close the connection instead of answering (the `drop` fault).
#[derive(Clone, Copy)]
pub(super) struct DropConnection;

/// Render a Batch error body:
///
/// ```json
/// { "odata.metadata": "<base>/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
///   "code": "PoolNotFound",
///   "message": { "lang": "en-US", "value": "The specified pool does not exist.\nRequestId:<id>\nTime:<ts>" },
///   "values": [ { "key": "...", "value": "..." } ] }
/// ```
///
/// `Retry-After` when the error has one; a 304 carries no body.
pub(super) fn render_error(
    base_url: &str,
    now: time::OffsetDateTime,
    e: &ErrorReply,
    request_id: &str,
) -> Reply {
    #[derive(serde::Serialize)]
    struct Msg {
        lang: &'static str,
        value: String,
    }
    #[derive(serde::Serialize)]
    struct Kv<'a> {
        key: &'a str,
        value: &'a str,
    }
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        #[serde(rename = "odata.metadata")]
        metadata: String,
        code: &'a str,
        message: Msg,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        values: Vec<Kv<'a>>,
    }
    let body = ErrorBody {
        metadata: format!(
            "{base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
        ),
        code: e.code,
        message: Msg {
            lang: "en-US",
            value: format!(
                "{}\nRequestId:{}\nTime:{}",
                e.message,
                request_id,
                format_ts(now)
            ),
        },
        values: e
            .values
            .iter()
            .map(|(k, v)| Kv { key: k, value: v })
            .collect(),
    };
    let mut headers = Vec::new();
    if let Some(s) = e.retry_after {
        headers.push(("retry-after", s.to_string()));
    }
    Reply {
        status: e.status,
        headers,
        body: (e.status != StatusCode::NOT_MODIFIED)
            .then(|| serde_json::to_string(&body).unwrap_or_default()),
    }
}
