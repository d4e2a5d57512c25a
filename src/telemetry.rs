//! Log set-up for the two ways the binary runs.
//!
//! As a custom handler, the Functions host reads our stdout as Information
//! and stderr as Error (Warning when the line contains "warn"), one line per
//! event, and forwards both to Application Insights. So: plain text, no
//! colours, one event per line, info and below to stdout, warnings and
//! errors to stderr. `RUST_LOG` overrides the level (default `info`).

use tokio_util::sync::CancellationToken;
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

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

/// A token cancelled on Ctrl-C or SIGTERM (what the Functions host sends on
/// shutdown). A token rather than a future or a `watch<bool>`: the server,
/// every open wait and the CLI each wait on it or ask it, from one clone,
/// with no channel to keep alive. Call inside the runtime: a task watches
/// the signals.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let on_signal = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    token
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
