//! Wiring: from validated [`Settings`] to a ready [`BatchClient`].
//!
//! Kept apart from the Functions face so the CLI and tests build the client
//! the same way the handler does.

use crate::batch::credential::entra_credential;
use crate::batch::shared_key::{AccountKey, InvalidAccountKey};
use crate::batch::{BatchAuth, BatchClient, BatchClientOptions};
use crate::functions::connections::SHUTDOWN_GRACE;
use crate::https::{TransportError, https_client, read_ca_file};
use crate::settings::{AuthSettings, Settings};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
/// Why the handler could not start; each names the setting or file to fix.
pub enum StartupError {
    #[error(transparent)]
    /// An app setting is missing or does not parse.
    Settings(#[from] crate::settings::SettingsError),
    #[error(transparent)]
    /// The settings parse but cannot work together (a key that is not base64, an unreadable CA file).
    Unusable(#[from] UnusableSettings),
    #[error(transparent)]
    /// The HTTPS client could not be built (the CA in `BATCH_CA_FILE`).
    Transport(#[from] TransportError),
    #[error("cannot set up the Microsoft Entra credential: {0}")]
    /// The Entra credential (managed identity or developer tools) could not be set up.
    Credential(#[source] azure_core::Error),
    #[error("cannot listen on {address}: {source}")]
    /// The handler's port is taken or not allowed.
    Listen {
        /// What we tried to listen on.
        address: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Settings that parse but cannot work, found while building the client.
/// Both are looked at before either is reported, so one round of fixes is
/// enough, as with the settings' own problems; worded like those.
#[derive(Debug)]
pub struct UnusableSettings {
    pub(crate) ca_file: Option<TransportError>,
    pub(crate) account_key: Option<InvalidAccountKey>,
}

impl std::fmt::Display for UnusableSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut problems = Vec::new();
        if let Some(e) = &self.ca_file {
            problems.push(format!("BATCH_CA_FILE: {e}"));
        }
        if let Some(e) = &self.account_key {
            problems.push(e.to_string());
        }
        write!(f, "invalid settings: {}", problems.join("; "))
    }
}

impl std::error::Error for UnusableSettings {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match (&self.ca_file, &self.account_key) {
            (Some(e), _) => Some(e),
            (None, Some(e)) => Some(e),
            (None, None) => None,
        }
    }
}

/// The Batch client the settings describe; the keys and CA file are checked here, not when the settings are read.
pub fn batch_client(settings: &Settings) -> Result<BatchClient, StartupError> {
    let extra_roots = settings.ca_file.as_deref().map(read_ca_file).transpose();
    let account_key = match &settings.auth {
        AuthSettings::SharedKey { key, .. } => AccountKey::decode(key).map(Some),
        AuthSettings::Entra { .. } => Ok(None),
    };
    let (extra_roots, account_key) = match (extra_roots, account_key) {
        (Ok(roots), Ok(key)) => (roots.unwrap_or_default(), key),
        (roots, key) => {
            return Err(UnusableSettings {
                ca_file: roots.err(),
                account_key: key.err(),
            }
            .into());
        }
    };
    let http = https_client(&extra_roots, settings.ca_file.as_deref())?;
    let transport = Transport::new(Arc::new(http));
    let mut options = BatchClientOptions::default();
    options.client_options.transport = Some(transport.clone());
    let auth = match (&settings.auth, account_key) {
        (AuthSettings::SharedKey { account, .. }, Some(key)) => BatchAuth::SharedKey {
            account: account.clone(),
            key,
        },
        (AuthSettings::SharedKey { .. }, None) => {
            unreachable!("a Shared Key setting always decodes its key above")
        }
        (AuthSettings::Entra { kind, client_id }, _) => {
            // Token endpoints answer at once or not at all: a few quick
            // retries, then a clear credential error (502), rather than a
            // minute of retrying that the wait budget would cut to a 202.
            let credential_options = ClientOptions {
                transport: Some(transport),
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: azure_core::time::Duration::milliseconds(100),
                    max_retries: 3,
                    max_total_elapsed: azure_core::time::Duration::seconds(10),
                    max_delay: azure_core::time::Duration::seconds(2),
                }),
                ..ClientOptions::default()
            };
            let credential = entra_credential(*kind, client_id.as_deref(), credential_options)
                .map_err(StartupError::Credential)?;
            BatchAuth::Token {
                credential,
                mode: match kind {
                    crate::batch::credential::CredentialKind::ManagedIdentity => {
                        crate::batch::error::AuthMode::ManagedIdentity
                    }
                    crate::batch::credential::CredentialKind::DeveloperTools => {
                        crate::batch::error::AuthMode::DeveloperTools
                    }
                },
            }
        }
    };
    Ok(BatchClient::new(
        settings.batch_account_url.clone(),
        auth,
        options,
    ))
}

/// Runs the custom handler until `stop` is cancelled (SIGTERM/Ctrl-C):
/// binds the port the host gave, serves, and on shutdown ends open waits
/// early (they answer 202).
///
/// It binds loopback only: the host calls `127.0.0.1`, and function keys are
/// enforced by the host, so nothing else must reach this port directly.
pub async fn run_handler(
    settings: Settings,
    policy: crate::resizer::PollPolicy,
    stop: CancellationToken,
) -> Result<(), StartupError> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], settings.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartupError::Listen {
            address: address.to_string(),
            source,
        })?;
    serve_handler(listener, settings, policy, stop).await
}

/// Like [`run_handler`] on a listener the caller bound (tests, `dev`).
pub(crate) async fn serve_handler(
    listener: tokio::net::TcpListener,
    settings: Settings,
    policy: crate::resizer::PollPolicy,
    stop: CancellationToken,
) -> Result<(), StartupError> {
    // What the handler needs beyond what the CLI does, all said at once.
    let mut missing = Vec::new();
    if settings.allowed_pools.is_empty() {
        missing.push(crate::settings::AllowedPools::NONE_SET.to_owned());
    }
    if settings.status_url_secret.is_none() {
        missing.push(crate::settings::StatusUrlSecret::NOT_SET.to_owned());
    }
    if !missing.is_empty() {
        return Err(crate::settings::SettingsError(missing).into());
    }
    if settings.forecast_pools.alone.is_some() {
        tracing::info!("{}", crate::settings::NO_WINDOW);
    } else if let Err(disabled) = &settings.schedule {
        // Loud but not fatal: pipelines call the HTTP functions, which must
        // not go down for a timer setting. Each firing fails with the same words.
        tracing::warn!(
            "warning: {disabled}. The timer functions fail every firing until this is fixed; the HTTP functions are not affected"
        );
    }
    let batch = batch_client(&settings)?;
    let local = listener
        .local_addr()
        .map_err(|source| StartupError::Listen {
            address: "?".into(),
            source,
        })?;
    tracing::info!(
        address = %local,
        batch = %settings.batch_account_url,
        auth = ?settings.auth,
        default_pool = settings.default_pool_id.as_ref().map(|p| p.as_str()),
        time_scale = settings.time_scale,
        "pool-resizer handler listening"
    );
    let state = crate::functions::AppState::new(batch, settings, policy, stop.clone())?;
    let telemetry = crate::telemetry::Telemetry::start_from_env();
    let stopped_at = std::sync::Arc::new(std::sync::OnceLock::new());
    let mark = stopped_at.clone();
    let shutdown = async move {
        stop.cancelled().await;
        let _ = mark.set(tokio::time::Instant::now());
        tracing::info!("shutting down: open waits answer 202 with their status URL");
    };
    let served = crate::functions::serve(listener, state, shutdown).await;
    if let Some(telemetry) = telemetry {
        // What is left is sent within the server's own grace, counted from
        // the stop (at least a second, should the requests have taken it all).
        let now = tokio::time::Instant::now();
        let grace_ends = stopped_at.get().copied().unwrap_or(now) + SHUTDOWN_GRACE;
        telemetry
            .shutdown(grace_ends.max(now + Duration::from_secs(1)))
            .await;
    }
    served.map_err(|source| StartupError::Listen {
        address: local.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_and_a_bad_ca_file_are_reported_together() {
        let missing = std::env::temp_dir().join("pool-resizer-no-such-ca.pem");
        let key = "!!not-base64-secret!!";
        let settings = Settings::from_env(|name| {
            Some(match name {
                "BATCH_ACCOUNT_URL" => "https://a.b.batch.azure.com".to_owned(),
                "BATCH_ACCOUNT_NAME" => "acct".to_owned(),
                "BATCH_ACCOUNT_KEY" => key.to_owned(),
                "BATCH_CA_FILE" => missing.display().to_string(),
                "ALLOWED_POOLS" => "*".to_owned(),
                _ => return None,
            })
        })
        .expect("both parse: they are checked when the client is built");
        let err = batch_client(&settings).unwrap_err();
        assert!(matches!(err, StartupError::Unusable(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("invalid settings: BATCH_CA_FILE: cannot read the CA file"),
            "{text}"
        );
        assert!(
            text.contains("; BATCH_ACCOUNT_KEY is not valid base64 (copy it from"),
            "{text}"
        );
        assert!(!text.contains("not-base64-secret"), "{text}");
        let chain = crate::batch::error::cause_chain(&err);
        assert!(!chain.contains("not-base64-secret"), "{chain}");
    }
}
