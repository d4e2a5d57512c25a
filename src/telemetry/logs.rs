//! Log set-up for the ways the binary runs.
//!
//! As a custom handler, the Functions host reads our stdout as Information
//! and stderr as Error (Warning when the line contains "warn"), one line per
//! event, and forwards both to Application Insights. So: plain text, no
//! colours, one event per line, info and below to stdout, warnings and
//! errors to stderr. `RUST_LOG` overrides the level (default `info`).

use std::borrow::Cow;
use std::io;
use tokio_util::sync::CancellationToken;
use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
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
    // what matters (and retries are expected), so keep it to warnings. The
    // OpenTelemetry SDK's info lines are its set-up; its warnings (spans
    // dropped, exports failing) stay.
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "info,typespec_client_core=warn,azure_core=warn,opentelemetry=warn,opentelemetry_sdk=warn",
        )
    })
}

/// Text that came from outside (a caller, a timer payload, Batch) made fit
/// for a log line: control characters, line breaks first, are written as
/// escapes (`\n`, `\r`, `\u{1b}`...), so such text can neither end the
/// line and forge the next one, nor drive a terminal. Text without them is
/// returned as it is.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs(c) => escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Keeps every event on one line, whatever its text: the host turns each
/// line of our output into a log entry, so a line break inside an event
/// (outside text that some log line did not pass through [`escape`]) would
/// forge an entry. tracing-subscriber formats an event into one buffer and writes it
/// with one `write_all`, ending in its only intended `\n`; any other CR or
/// LF in it is written as `\r` / `\n`.
#[derive(Clone, Copy)]
struct OneLine<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = OneLineWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        OneLineWriter(self.0.make_writer_for(meta))
    }
}

struct OneLineWriter<W>(W);

impl<W: io::Write> io::Write for OneLineWriter<W> {
    fn write(&mut self, event: &[u8]) -> io::Result<usize> {
        let text = event.strip_suffix(b"\n").unwrap_or(event);
        if !text.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            self.0.write_all(event)?;
            return Ok(event.len());
        }
        let mut line = Vec::with_capacity(event.len() + 8);
        for &b in text {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        if text.len() < event.len() {
            line.push(b'\n');
        }
        self.0.write_all(&line)?;
        Ok(event.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Handler logs: stdout for info/debug, stderr for warn/error.
pub fn init_handler_logs() {
    let writer = OneLine(
        std::io::stderr
            .with_max_level(Level::WARN)
            .or_else(std::io::stdout),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn escape_leaves_plain_text_alone_and_writes_controls_as_escapes() {
        assert!(matches!(escape("pool 'adf-pool': ok é"), Cow::Borrowed(_)));
        assert_eq!(
            escape("last 2025\r\nERROR forged\u{1b}[31m\u{85}\u{2028}\tend"),
            "last 2025\\r\\nERROR forged\\u{1b}[31m\\u{85}\\u{2028}\\tend"
        );
    }

    #[test]
    fn an_event_is_written_on_one_line() {
        let mut out = Vec::new();
        let mut writer = OneLineWriter(&mut out);
        let event = b"INFO x: a\r\nERROR forged\n";
        assert_eq!(writer.write(event).unwrap(), event.len());
        writer.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INFO x: a\\r\\nERROR forged\nINFO plain\n"
        );
    }
}
