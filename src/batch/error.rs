//! Errors of the Batch client: what went wrong talking to the service, kept
//! precise enough that the answer can name the cause and the fix.
//!
//! Two questions matter to everyone above this layer:
//! - **Is Batch busy or gone?** Throttling (429/503), a server hiccup
//!   (500/502/504, 408) or a slow answer is *busy*: the caller waits, as
//!   `Retry-After` asks, and tries again ([`BatchError::busy`]). A refused
//!   connection, an unknown host, an untrusted certificate or refused
//!   credentials will not fix themselves while we wait: those end the call at
//!   once with a cause and a hint ([`BatchError::hint`]).
//! - **What do I tell the user?** Every variant carries the URL tried and
//!   keeps its source error, so logs show the whole chain ([`cause_chain`]).

use azure_core::http::StatusCode;
use std::error::Error as StdError;
use std::time::Duration;

/// What a CLI behind `cargo run -- dev` is told when dev's account cannot be
/// used as its export line says: the likely cause, and the fix.
pub(crate) const DEV_RESTARTED: &str = "dev restarted? paste the new export line it printed";

/// How the client proves who it is; decides which fix a refusal points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMode {
    SharedKey,
    ManagedIdentity,
    DeveloperTools,
}

/// A failed Batch call, after the pipeline's quick retries.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// The service answered with an error status. `code` is Batch's own
    /// (`PoolNotFound`, `PoolBeingResized`, ...); callers match on it.
    #[error("{url} answered {status} {code}: {message}")]
    Service {
        status: StatusCode,
        code: String,
        message: String,
        request_id: Option<String>,
        /// `Retry-After` of a 429/503, as the service asked.
        retry_after: Option<Duration>,
        url: String,
        auth: AuthMode,
    },
    /// No answer at all: refused, reset, DNS, TLS, time-out.
    #[error("cannot reach Batch at {url}: {problem}")]
    Unreachable {
        url: String,
        problem: Unreachable,
        #[source]
        source: Box<azure_core::Error>,
    },
    /// No token: the managed identity endpoint or the developer login failed.
    #[error("cannot get a Microsoft Entra token for Batch ({problem}): {summary}")]
    Credential {
        problem: CredentialProblem,
        /// The credential's own words, on one line.
        summary: String,
        auth: AuthMode,
        #[source]
        source: Box<azure_core::Error>,
    },
    /// An answer we could not read. `source` is the parser's error when
    /// there was one; a paging loop or a foreign `odata.nextLink` has none.
    #[error("Batch sent a response pool-resizer cannot read ({url}): {detail}")]
    Decode {
        url: String,
        detail: String,
        #[source]
        source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    },
    /// Our optimistic writes kept losing to other writers.
    #[error("gave up after {attempts} conflicting metadata writes to {url}")]
    Contended { url: String, attempts: u32 },
}

/// Why a connection gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unreachable {
    Refused,
    /// The connection dropped mid-request (reset, closed, broken pipe).
    Dropped,
    Dns,
    /// The TLS handshake failed; rustls's reason, e.g. `invalid peer certificate: UnknownIssuer`.
    Tls(String),
    /// The server answered the TLS handshake in plain HTTP: the URL names a
    /// port that serves `http://` (the handler itself, say), not Batch.
    PlainHttp,
    TimedOut,
    Other(String),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreachable::Refused => f.write_str("connection refused"),
            Unreachable::Dropped => f.write_str("connection dropped before an answer"),
            Unreachable::Dns => f.write_str("the host name does not resolve"),
            Unreachable::Tls(reason) => write!(f, "TLS handshake failed: {reason}"),
            Unreachable::PlainHttp => {
                f.write_str("the server answered in plain HTTP, not HTTPS (no TLS)")
            }
            Unreachable::TimedOut => f.write_str("no answer in time"),
            Unreachable::Other(what) => f.write_str(what),
        }
    }
}

/// Why no token came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialProblem {
    /// The identity endpoint answered with a refusal (4xx), or no developer
    /// login exists: nothing changes until someone fixes the identity.
    Refused,
    /// The identity endpoint is down, unreachable or answering 5xx: an
    /// outage of the identity service, usually transient.
    Outage,
}

impl std::fmt::Display for CredentialProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialProblem::Refused => "refused",
            CredentialProblem::Outage => "identity endpoint unavailable",
        })
    }
}

/// How long a busy Batch asked us to wait (`None`: it did not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy {
    pub retry_after: Option<Duration>,
}

impl BatchError {
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            BatchError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Batch's own error code, when it answered with one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            BatchError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The URL the failed call went to.
    pub(crate) fn url(&self) -> Option<&str> {
        match self {
            BatchError::Service { url, .. }
            | BatchError::Unreachable { url, .. }
            | BatchError::Decode { url, .. }
            | BatchError::Contended { url, .. } => Some(url),
            BatchError::Credential { .. } => None,
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NotFound)
    }

    /// 409: the pool's state forbids the call now (resizing, stopping,
    /// autoscale on, deleting). Re-read the pool and decide again.
    pub(crate) fn is_conflict(&self) -> bool {
        self.status() == Some(StatusCode::Conflict)
    }

    /// 412: an `If-Match` ETag was stale.
    pub(crate) fn is_precondition_failed(&self) -> bool {
        self.status() == Some(StatusCode::PreconditionFailed)
    }

    /// The connection dropped before an answer: transient once, a Batch we
    /// cannot reach when it keeps happening (the caller counts).
    pub(crate) fn is_dropped(&self) -> bool {
        matches!(
            self,
            BatchError::Unreachable {
                problem: Unreachable::Dropped,
                ..
            }
        )
    }

    /// `Some` when Batch is there but busy or slow: throttled (429, 503),
    /// a transient server error (500, 502, 504), a request time-out (408),
    /// or no answer in time. Waiting is the answer, not failure.
    pub(crate) fn busy(&self) -> Option<Busy> {
        match self {
            BatchError::Service {
                status:
                    StatusCode::RequestTimeout
                    | StatusCode::TooManyRequests
                    | StatusCode::InternalServerError
                    | StatusCode::BadGateway
                    | StatusCode::ServiceUnavailable
                    | StatusCode::GatewayTimeout,
                retry_after,
                ..
            } => Some(Busy {
                retry_after: *retry_after,
            }),
            BatchError::Unreachable {
                problem: Unreachable::TimedOut,
                ..
            } => Some(Busy { retry_after: None }),
            _ => None,
        }
    }

    /// What to do about it, in words, naming the setting or command that
    /// fixes it. `None` when the message says it all.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            BatchError::Unreachable { problem, url, .. } => Some(unreachable_hint(problem, url)),
            BatchError::Service {
                status: status @ (StatusCode::Unauthorized | StatusCode::Forbidden),
                auth,
                ..
            } => Some(refused_hint(*auth, *status).to_owned()),
            BatchError::Credential {
                problem,
                auth,
                summary,
                ..
            } => Some(credential_hint(problem, *auth, summary).to_owned()),
            BatchError::Service { .. }
            | BatchError::Decode { .. }
            | BatchError::Contended { .. } => None,
        }
    }

    /// Classifies an error from the `azure_core` pipeline (after its quick
    /// retries) for a call to `url`.
    pub(crate) fn from_core(error: azure_core::Error, url: &str, auth: AuthMode) -> Self {
        use azure_core::error::ErrorKind;
        match error.kind() {
            ErrorKind::Credential => BatchError::Credential {
                problem: credential_problem(&error),
                summary: credential_summary(&error),
                auth,
                source: Box::new(error),
            },
            ErrorKind::DataConversion => BatchError::Decode {
                url: url.to_owned(),
                detail: error.to_string(),
                source: Some(Box::new(error)),
            },
            _ => BatchError::Unreachable {
                url: url.to_owned(),
                problem: unreachable(&error),
                source: Box::new(error),
            },
        }
    }
}

/// Whether `url` names this machine: a local simulator (`dev`'s, or
/// `pool-resizer simulator`), never Batch in Azure.
pub(crate) fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Words of the credential's error chain that say nothing of the cause.
const GENERIC_CREDENTIAL_WORDS: &[&str] =
    &["non-transport error occurred which will not be retried"];

/// The credential's whole chain, on one line, without the wrappers that say
/// nothing: the cause ("az not found on PATH") is deep inside it.
fn credential_summary(error: &azure_core::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain(error) {
        let text = one_line(&cause.to_string());
        if GENERIC_CREDENTIAL_WORDS.contains(&text.as_str())
            || parts.iter().any(|p| p.contains(&text))
        {
            continue;
        }
        parts.push(text);
    }
    if parts.is_empty() {
        one_line(&error.to_string())
    } else {
        parts.join(": ")
    }
}

/// `scheme://host:port` of a URL, for messages.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_owned())
}

/// Every error in the chain, outermost first, joined with `: ` (repeats
/// dropped: wrappers often repeat their source's words).
pub(crate) fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in chain(error) {
        let text = one_line(&cause.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The error and its sources, looking inside `std::io::Error` wrappers too
/// (their `source()` skips the error they wrap, e.g. rustls's).
fn chain<'e>(error: &'e (dyn StdError + 'static)) -> Vec<&'e (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        out.push(current);
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    out
}

fn unreachable(error: &azure_core::Error) -> Unreachable {
    let causes = chain(error);
    for cause in &causes {
        match cause.downcast_ref::<rustls::Error>() {
            // An HTTP answer read as a TLS record: "HTTP/1.1 400" is no content type.
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                return Unreachable::PlainHttp;
            }
            Some(tls) => return Unreachable::Tls(tls.to_string()),
            None => {}
        }
    }
    for cause in &causes {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            match io.kind() {
                Io::ConnectionRefused => return Unreachable::Refused,
                Io::ConnectionReset
                | Io::ConnectionAborted
                | Io::BrokenPipe
                | Io::UnexpectedEof
                | Io::NotConnected => return Unreachable::Dropped,
                Io::TimedOut => return Unreachable::TimedOut,
                _ => {}
            }
        }
        if let Some(reqwest) = cause.downcast_ref::<reqwest::Error>()
            && reqwest.is_timeout()
        {
            return Unreachable::TimedOut;
        }
    }
    let words = cause_chain(error);
    if words.contains("dns error") {
        Unreachable::Dns
    } else if words.contains("connection closed")
        || words.contains("IncompleteMessage")
        || words.contains("incomplete message")
    {
        Unreachable::Dropped
    } else {
        Unreachable::Other(words)
    }
}

/// A token endpoint that answered 4xx refused us; one that answered 5xx or
/// 429, or could not be reached, is having an outage.
fn credential_problem(error: &azure_core::Error) -> CredentialProblem {
    use azure_core::error::ErrorKind;
    for cause in chain(error) {
        if let Some(core) = cause.downcast_ref::<azure_core::Error>() {
            match core.kind() {
                ErrorKind::HttpResponse { status, .. } => {
                    return if u16::from(*status) >= 500
                        || matches!(
                            status,
                            StatusCode::TooManyRequests | StatusCode::RequestTimeout
                        ) {
                        CredentialProblem::Outage
                    } else {
                        CredentialProblem::Refused
                    };
                }
                ErrorKind::Io | ErrorKind::Connection => return CredentialProblem::Outage,
                _ => {}
            }
        }
    }
    CredentialProblem::Refused
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What to do when Batch could not be reached at `url`.
fn unreachable_hint(problem: &Unreachable, url: &str) -> String {
    match problem {
        Unreachable::Tls(_) if is_loopback(url) => format!(
            "the certificate of {} is not trusted: {DEV_RESTARTED} (it sets \
             BATCH_CA_FILE); for `pool-resizer simulator`, set BATCH_CA_FILE to the \
             caFile it printed. Certificate checks are never turned off",
            origin(url)
        ),
        Unreachable::Tls(_) => format!(
            "the certificate of {} is not trusted: for the local simulator set \
             BATCH_CA_FILE to the CA file it printed (caFile); behind a TLS-inspecting \
             proxy set BATCH_CA_FILE to the proxy's CA (PEM). Certificate checks are \
             never turned off",
            origin(url)
        ),
        Unreachable::PlainHttp => format!(
            "{} serves plain HTTP, and Batch is HTTPS: BATCH_ACCOUNT_URL names another \
             server (the handler's http://127.0.0.1:7071, say); set it to the Batch \
             account's https:// URL, locally the one in the export line dev printed",
            origin(url)
        ),
        Unreachable::Refused if is_loopback(url) => format!(
            "nothing accepts connections at {}: is `cargo run -- dev` still running? \
             {DEV_RESTARTED}; otherwise check BATCH_ACCOUNT_URL (for `pool-resizer \
             simulator`, the endpoint it printed)",
            origin(url)
        ),
        Unreachable::Refused => format!(
            "nothing accepts connections at {}: check BATCH_ACCOUNT_URL \
             (https://<account>.<region>.batch.azure.com), or start the simulator \
             (pool-resizer simulator) and use the endpoint it printed",
            origin(url)
        ),
        Unreachable::Dns => format!(
            "the host of {} does not resolve: check the account name and region in \
             BATCH_ACCOUNT_URL, and the app's DNS / private endpoint",
            origin(url)
        ),
        Unreachable::Dropped | Unreachable::Other(_) | Unreachable::TimedOut => format!(
            "check that {} is Batch's account URL (BATCH_ACCOUNT_URL) and that the \
             network path to it is open",
            origin(url)
        ),
    }
}

/// What to do when Batch refused who we are (401) or what we may do (403).
fn refused_hint(auth: AuthMode, status: StatusCode) -> &'static str {
    match (auth, status) {
        (AuthMode::SharedKey, _) => {
            "Batch refused the Shared Key signature: check \
             BATCH_ACCOUNT_NAME and BATCH_ACCOUNT_KEY (the account's primary or \
             secondary key) and that the account allows Shared Key"
        }
        (_, StatusCode::Unauthorized) => {
            "Batch refused the Microsoft Entra token: check that the \
             identity belongs to the Batch account's tenant and that the account \
             allows Entra ID authentication"
        }
        (AuthMode::ManagedIdentity, _) => {
            "the managed identity lacks permission: \
             check the managed identity's role on the Batch account (it needs \
             Microsoft.Batch/batchAccounts/pools/read and pools/write; infra/ \
             assigns such a role)"
        }
        (AuthMode::DeveloperTools, _) => {
            "your signed-in account lacks permission: \
             ask for a role on the Batch account with pools/read and pools/write, \
             or use Shared Key (BATCH_ACCOUNT_NAME, BATCH_ACCOUNT_KEY)"
        }
    }
}

/// What to do when no token could be had.
fn credential_hint(problem: &CredentialProblem, auth: AuthMode, summary: &str) -> &'static str {
    match (problem, auth) {
        (CredentialProblem::Outage, _) => {
            "the identity endpoint did not give a \
             token (an identity-service outage, usually transient): try again in a \
             minute; if it lasts, check the Function App's managed identity"
        }
        (CredentialProblem::Refused, AuthMode::DeveloperTools)
            if summary.contains("az not found on PATH") =>
        {
            "the Azure CLI (az) is not on PATH: install it and run `az login`, or set \
             BATCH_ACCOUNT_NAME and BATCH_ACCOUNT_KEY for Shared Key (against \
             `cargo run -- dev`: paste the export line it printed)"
        }
        (CredentialProblem::Refused, AuthMode::DeveloperTools) => {
            "run `az login` \
             (or `azd auth login`), or set BATCH_ACCOUNT_NAME and BATCH_ACCOUNT_KEY \
             for Shared Key"
        }
        (CredentialProblem::Refused, _) => {
            "check the managed identity: enabled on \
             the Function App, and AZURE_CLIENT_ID naming a user-assigned identity \
             attached to it (or unset for the system-assigned one)"
        }
    }
}

#[cfg(test)]
mod tests;
