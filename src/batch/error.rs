//! Errors of the Batch client: what went wrong talking to the service.

/// A failed Batch call, after the pipeline's retries.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The service answered with an error status. `code` is Batch's own
    /// (`PoolNotFound`, `PoolBeingResized`, ...); callers match on it.
    #[error("Batch answered {status} {code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// No answer: DNS, TCP, TLS, time-out, dropped connection.
    #[error("could not reach Batch: {0}")]
    Transport(String),
    /// No token: managed identity or developer credential failed.
    #[error("could not get a Microsoft Entra token for Batch: {0}")]
    Credential(String),
    /// An answer we could not read.
    #[error("Batch sent a response pool-resizer cannot read: {0}")]
    Decode(String),
}

impl BatchError {
    pub fn status(&self) -> Option<u16> {
        match self {
            BatchError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            BatchError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409: the pool's state forbids the call now (resizing, stopping,
    /// autoscale on, deleting). Re-read the pool and decide again.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 412: an `If-Match` ETag was stale.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    pub(crate) fn from_core(error: azure_core::Error) -> Self {
        use azure_core::error::ErrorKind;
        match error.kind() {
            ErrorKind::Credential => BatchError::Credential(error.to_string()),
            ErrorKind::DataConversion => BatchError::Decode(error.to_string()),
            _ => BatchError::Transport(error.to_string()),
        }
    }
}
