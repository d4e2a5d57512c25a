//! The telemetry's two settings, read here rather than in the crate's
//! [`crate::settings`]: telemetry is optional and never stops the handler, so
//! a problem with these is a warning (telemetry off), not a refusal to start.

use std::path::PathBuf;

/// Set by the platform (and the template) to the app's Application Insights
/// resource; without it nothing is exported.
pub(crate) const CONNECTION_STRING: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
/// Extra trusted CA certificates (PEM) for the ingestion endpoint: a
/// TLS-inspecting proxy's, or the tests' stand-in. Never turns checks off.
pub(crate) const CA_FILE: &str = "TELEMETRY_CA_FILE";

/// What the environment says about telemetry.
#[derive(Clone, Default)]
pub(crate) struct TelemetrySettings {
    /// Holds the instrumentation key: never printed (no `Debug`).
    pub(crate) connection_string: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for TelemetrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetrySettings")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<set>"),
            )
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl TelemetrySettings {
    /// From a lookup (the process environment, or a test's map); blank is unset.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            connection_string: set(CONNECTION_STRING),
            ca_file: set(CA_FILE).map(PathBuf::from),
        }
    }

    pub(crate) fn from_process_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_unset_and_debug_hides_the_connection_string() {
        let settings = TelemetrySettings::from_lookup(|name| match name {
            CONNECTION_STRING => Some("InstrumentationKey=secret-ikey".into()),
            _ => Some("  ".into()),
        });
        assert!(settings.ca_file.is_none());
        let shown = format!("{settings:?}");
        assert!(!shown.contains("secret-ikey"), "{shown}");
        assert!(
            TelemetrySettings::from_lookup(|_| None)
                .connection_string
                .is_none()
        );
    }
}
