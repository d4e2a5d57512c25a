//! Log set-up for the two ways the binary runs.
//!
//! As a custom handler, the Functions host reads our stdout as Information
//! and stderr as Error (Warning when the line contains "warn"), one line per
//! event, and forwards both to Application Insights. So: plain text, no
//! colours, one event per line, info and below to stdout, warnings and
//! errors to stderr. `RUST_LOG` overrides the level (default `info`).

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Warnings only unless `RUST_LOG` says otherwise: for commands whose output is a
/// report (`simulate-day`), where the resizer's progress lines would drown it.
pub fn init_quiet_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn filter() -> EnvFilter {
    // azure_core's pipeline logs every failed try at info; our own lines say
    // what matters (and retries are expected), so keep it to warnings.
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,typespec_client_core=warn,azure_core=warn"))
}

/// Handler logs: stdout for info/debug, stderr for warn/error.
pub fn init_handler_logs() {
    let writer = std::io::stderr
        .with_max_level(Level::WARN)
        .or_else(std::io::stdout);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
}

/// Tool logs (simulator, CLI): everything to stderr, stdout stays for data.
pub fn init_stderr_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM (what the Functions host sends on shutdown).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
