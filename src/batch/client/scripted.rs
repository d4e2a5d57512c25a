//! A scripted transport for the client's tests: plugged into the pipeline
//! through `ClientOptions::transport` (where production puts its reqwest
//! client), it answers from a queue and keeps every request as it went on
//! the wire, signed and with every header the policies added.

use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::{AsyncRawResponse, HttpClient, Request, StatusCode};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What the "service" does with the next request.
#[derive(Debug)]
pub(super) enum ScriptedReply {
    Response {
        status: StatusCode,
        headers: Headers,
        body: Vec<u8>,
    },
    /// No answer at all: the connection failed with this error.
    Fail(azure_core::Error),
}

impl ScriptedReply {
    pub(super) fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        ScriptedReply::Response {
            status: StatusCode::from(status),
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// The connection fails with an I/O error of `kind`, as reqwest reports it.
    pub(super) fn io_error(kind: std::io::ErrorKind) -> Self {
        ScriptedReply::Fail(azure_core::Error::with_error(
            azure_core::error::ErrorKind::Io,
            std::io::Error::new(kind, format!("{kind:?} by the scripted transport")),
            "failed to execute `reqwest` request",
        ))
    }

    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let ScriptedReply::Response { headers, .. } = &mut self {
            headers.insert(HeaderName::from_static(name), value.into());
        }
        self
    }
}

#[derive(Debug, Default)]
pub(super) struct Scripted {
    answers: Mutex<VecDeque<ScriptedReply>>,
    requests: Mutex<Vec<Request>>,
}

impl Scripted {
    pub(super) fn new(answers: impl IntoIterator<Item = ScriptedReply>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into_iter().collect()),
            requests: Mutex::default(),
        })
    }

    /// Every request sent so far, in order (retries included).
    pub(super) fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl HttpClient for Scripted {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        self.requests.lock().unwrap().push(request.clone());
        let next = self.answers.lock().unwrap().pop_front();
        match next {
            Some(ScriptedReply::Response {
                status,
                headers,
                body,
            }) => Ok(AsyncRawResponse::from_bytes(status, headers, body)),
            Some(ScriptedReply::Fail(error)) => Err(error),
            None => panic!(
                "no answer scripted for {:?} {}",
                request.method(),
                request.url()
            ),
        }
    }
}
