//! Batch-shaped errors.
//!
//! Every failure the simulator answers looks like the service's `BatchError`:
//!
//! ```json
//! { "odata.metadata": "https://acct.region.batch.azure.com/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
//!   "code": "PoolNotFound",
//!   "message": { "lang": "en-US", "value": "The specified pool does not exist.\nRequestId:<guid>\nTime:<ts>" },
//!   "values": [ { "key": "HeaderName", "value": "Authorization" } ] }
//! ```
//!
//! Handlers return [`ErrorReply`]; the server turns it into that body (see `response.rs`)
//! once it knows the request id and the simulated time.

use axum::http::StatusCode;

/// The error reply to one request, as Batch would give it, before it is
/// rendered with the request id and time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ErrorReply {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) values: Vec<(String, String)>,
    /// `Retry-After` seconds (429/503).
    pub(crate) retry_after: Option<u64>,
}

impl ErrorReply {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            values: Vec::new(),
            retry_after: None,
        }
    }

    pub(crate) fn with_value(mut self, key: &str, value: impl Into<String>) -> Self {
        self.values.push((key.to_string(), value.into()));
        self
    }

    pub(crate) fn pool_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "PoolNotFound",
            "The specified pool does not exist.",
        )
    }

    pub(crate) fn node_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NodeNotFound",
            "The specified node does not exist.",
        )
    }

    pub(crate) fn job_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "JobNotFound",
            "The specified job does not exist.",
        )
    }

    pub(crate) fn task_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "TaskNotFound",
            "The specified task does not exist.",
        )
    }

    pub(crate) fn resource_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The specified resource does not exist.",
        )
    }

    pub(crate) fn pool_being_deleted() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "PoolBeingDeleted",
            "The specified pool has been marked for deletion and is being reclaimed.",
        )
    }

    pub(crate) fn pool_being_resized() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "PoolBeingResized",
            "The specified pool is currently being resized.",
        )
    }

    /// Manual resize of an autoscale pool. The real code is not recorded anywhere we could
    /// read; `OperationNotValidOnPool` (409) is the catalogue entry that fits best.
    pub(crate) fn autoscale_enabled() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "OperationNotValidOnPool",
            "The specified operation is not valid on a pool with autoscale enabled.",
        )
    }

    pub(crate) fn condition_not_met(status: StatusCode) -> Self {
        Self::new(
            status,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    pub(crate) fn missing_property(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
        )
        .with_value("PropertyName", name)
    }

    pub(crate) fn invalid_property(name: &str, value: impl Into<String>, reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPropertyValue",
            "The value provided for one of the properties in the request body is invalid.",
        )
        .with_value("PropertyName", name)
        .with_value("PropertyValue", value)
        .with_value("Reason", reason)
    }

    pub(crate) fn invalid_query(name: &str, value: &str, reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with_value("QueryParameterName", name)
        .with_value("QueryParameterValue", value)
        .with_value("Reason", reason)
    }

    pub(crate) fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "The specified Request Body is not syntactically valid.",
        )
        .with_value("Reason", detail)
    }

    pub(crate) fn missing_header(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredHeader",
            "An HTTP header that's mandatory for this request is not specified.",
        )
        .with_value("HeaderName", name)
    }

    pub(crate) fn auth_failed(detail: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        )
        .with_value("AuthenticationErrorDetail", detail)
    }

    pub(crate) fn unsupported_operation() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedRequestVerb",
            "The HTTP verb specified is not supported for this resource.",
        )
    }

    pub(crate) fn internal(code: &'static str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            if code == "OperationTimedOut" {
                "The operation could not be completed within the permitted time."
            } else {
                "The server encountered an internal error. Please retry the request."
            },
        )
    }

    pub(crate) fn server_busy(status: StatusCode, retry_after: u64) -> Self {
        let mut e = Self::new(
            status,
            "ServerBusy",
            "The server is currently unable to receive requests. Please retry your request.",
        );
        e.retry_after = Some(retry_after);
        e
    }
}

/// Errors from starting or running the simulator itself (not request errors).
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The listen address is taken (`pool-resizer dev` then tries any port).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why the OS refused it.
        source: std::io::Error,
    },
    /// The CA or server certificate could not be made.
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the certificates it was given.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The account key is not base64.
    #[error("invalid account key: {0}")]
    Key(String),
    /// A setting out of range (time scale, quota...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The CA file could not be written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}
