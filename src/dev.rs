//! `pool-resizer dev`: the handler and an embedded Batch simulator in one
//! process, so a newcomer can try every endpoint with curl and no Azure account.
//!
//! The simulator runs `time_scale` times faster than the wall clock and the
//! handler's clock is scaled to match, so a node's four-minute boot takes a
//! few seconds and the inline wait (180 s by default) keeps its proportion to it.
//!
//! What it prints is what the docs' local commands rely on
//! (`tests/integration/doc_commands.rs` runs them against it): the handler's address on
//! the first line, and one `export ...` line that points the CLI and curl at
//! the simulated account. That line survives a restart of `dev`: the CA it
//! names is kept in the user's cache directory ([`ca`]) and the simulator
//! takes port [`DEFAULT_SIMULATOR_PORT`] whenever it is free.

mod ca;

use crate::resizer::PollPolicy;
use crate::settings::{ScheduleDisabled, ScheduleSettings, Settings, SettingsError};
use batch_simulator::{self as simulator, SimulatorConfig};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The simulator's port when `--simulator-listen` is not given and it is
/// free: the same every start, so the export line a second terminal holds
/// still points at it after a restart. Next to the handler's 7071.
pub(crate) const DEFAULT_SIMULATOR_PORT: u16 = 7072;

#[derive(Debug, Clone, clap::Args)]
/// `dev`'s flags: where to listen, which pools the simulator starts with, how fast its time runs.
pub struct DevArgs {
    /// Where the handler listens (`func start` uses 7071 too; port 0 picks a
    /// free one, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7071")]
    pub(crate) listen: SocketAddr,
    /// Pools the simulator starts with (ready, 0 nodes).
    #[arg(long = "pool", default_values = ["adf-pool"])]
    pub(crate) pools: Vec<String>,
    /// Simulated seconds per real second, for the simulator and the handler's waits.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) time_scale: f64,
    /// Dedicated-core quota of the simulated account (Standard_A1_v2 = 1 core).
    #[arg(long, default_value_t = 20)]
    pub(crate) dedicated_core_quota: u32,
    /// Where the simulated Batch account listens [default: 127.0.0.1:7072,
    /// or a free port when that one is taken]. The export line names it.
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) simulator_listen: Option<SocketAddr>,
    /// Print the numbers telemetry sends to Application Insights (per pool:
    /// answers, time to answer and to ready, resizes, Batch calls, failures,
    /// nodes held by kind of holder), every 10 s when they changed and at stop.
    #[arg(long)]
    pub(crate) metrics: bool,
}

/// App settings `dev` takes from its own environment, as the Function App
/// takes them from its app settings, so what they change can be tried
/// locally: a window that is open now, another schedule pool, other limits,
/// other allowed pools (`ALLOWED_POOLS='*'` shows the 404 a missing pool
/// gets). The Batch account, credentials, CA and time scale stay `dev`'s
/// own, so an `export ...` line pasted from an earlier `dev` (or settings
/// for Azure) cannot point this one anywhere else.
pub(crate) const SETTINGS_FROM_ENV: &[&str] = &[
    "ALLOWED_POOLS",
    "SCALE_UP_SCHEDULE",
    "SCALE_DOWN_SCHEDULE",
    "SCHEDULE_RECONCILE_SCHEDULE",
    "SCHEDULE_POOL_ID",
    "SCHEDULE_DEDICATED_NODES",
    "SCHEDULE_LOW_PRIORITY_NODES",
    "TIMER_WAIT_SECONDS",
    "SCHEDULE_WINDOWS",
    "SCHEDULE_TIME_ZONE",
    "WEBSITE_TIME_ZONE",
    "DEFAULT_WAIT_SECONDS",
    "MAX_DEDICATED_NODES",
    "MAX_LOW_PRIORITY_NODES",
];

/// The body the Functions host posts to a timer's route: what the banner's
/// and the docs' timer curl sends.
pub(crate) const TIMER_PAYLOAD: &str =
    r#"{"Data":{"timer":{"IsPastDue":false,"ScheduleStatus":null}},"Metadata":{"sys":{}}}"#;

#[derive(Debug, thiserror::Error)]
/// Why `dev` could not start.
pub enum DevError {
    #[error(transparent)]
    /// The embedded simulator did not start.
    Simulator(#[from] simulator::SimulatorError),
    #[error(transparent)]
    /// The handler did not start.
    Startup(#[from] crate::app::StartupError),
    #[error("cannot listen on {0}: {1}")]
    /// The handler's port is taken.
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    /// The CA could not be kept in the user's cache directory.
    Ca(#[from] ca::CaError),
}

/// The handler's settings in `dev`: `own` (the simulated account) over the
/// [`SETTINGS_FROM_ENV`] that `env` holds; nothing else of `env` is read.
/// `ALLOWED_POOLS` is the one `dev` has a value of its own for (its pools)
/// that the environment may change.
pub(crate) fn dev_settings(
    own: &HashMap<&'static str, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, SettingsError> {
    Settings::from_env(|name| match own.get(name) {
        Some(value) if name == "ALLOWED_POOLS" => env(name).or_else(|| Some(value.clone())),
        Some(value) => Some(value.clone()),
        // dev plays the host, whose example settings carry the reconcile
        // schedule that local windows need.
        None if name == "SCHEDULE_RECONCILE_SCHEDULE" => {
            env(name).or_else(|| Some(crate::settings::EXAMPLE_RECONCILE_SCHEDULE.to_owned()))
        }
        None if SETTINGS_FROM_ENV.contains(&name) => env(name),
        None => None,
    })
}

/// A fresh random secret for this `dev` run's status URLs.
fn dev_status_url_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Serves the handler against an embedded simulator until `stop`: the newcomer's first command.
pub async fn run(args: DevArgs, stop: tokio_util::sync::CancellationToken) -> Result<(), DevError> {
    let ca = ca::DevCa::for_user(|name| std::env::var(name).ok())?;
    let ca_file = ca.file.clone();
    let config = |listen| SimulatorConfig {
        listen,
        time_scale: args.time_scale,
        pools: args.pools.clone(),
        dedicated_core_quota: args.dedicated_core_quota,
        ca: Some(ca.pair.clone()),
        ..SimulatorConfig::default()
    };
    let usual = SocketAddr::from(([127, 0, 0, 1], DEFAULT_SIMULATOR_PORT));
    let (sim, moved) = match args.simulator_listen {
        Some(listen) => (simulator::start(config(listen)).await?, false),
        None => match simulator::start(config(usual)).await {
            Ok(sim) => (sim, false),
            Err(simulator::SimulatorError::Bind { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                (simulator::start(config(any)).await?, true)
            }
            Err(e) => return Err(e.into()),
        },
    };
    let info = sim.ready_info().clone();
    let own = HashMap::from([
        ("BATCH_ACCOUNT_URL", info.endpoint.clone()),
        ("BATCH_POOL_ID", args.pools[0].clone()),
        ("BATCH_ACCOUNT_NAME", info.account.clone()),
        ("BATCH_ACCOUNT_KEY", info.key.clone()),
        ("BATCH_CA_FILE", ca_file.display().to_string()),
        ("POOL_RESIZER_TIME_SCALE", args.time_scale.to_string()),
        ("ALLOWED_POOLS", args.pools.join(",")),
        // One process, so a secret of its own is safe here (in Azure every
        // instance must share the app setting); never printed.
        ("STATUS_URL_SECRET", dev_status_url_secret()),
    ]);
    let settings = dev_settings(&own, |name| std::env::var(name).ok())
        .map_err(crate::app::StartupError::from)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| DevError::Listen(args.listen, e))?;
    let address = listener
        .local_addr()
        .map_err(|e| DevError::Listen(args.listen, e))?;
    let export = Export {
        ca_file: &ca_file,
        moved,
        kept: ca.kept,
    };
    print_welcome(address, &info, &args, &export, &settings.schedule);
    let printer = args.metrics.then(|| {
        tokio::spawn(crate::telemetry::metrics::print_every(
            std::time::Duration::from_secs(10),
            stop.clone(),
        ))
    });
    let result = crate::app::serve_handler(listener, settings, PollPolicy::default(), stop).await;
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    sim.shutdown().await;
    ca.release();
    Ok(result?)
}

/// `value` as one shell word: pasted into bash or zsh it stays one value,
/// whatever the temp directory's path holds.
fn shell_word(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// One line on the timers: the window as the handler judges it now, so a
/// reader knows what a firing will do before firing it.
fn describe_schedule(schedule: &Result<ScheduleSettings, ScheduleDisabled>) -> String {
    match schedule {
        // FORECAST_POOLS with no window: the reconcile runs, for those pools.
        Err(ScheduleDisabled(why)) if why == &[crate::settings::NO_WINDOW] => {
            format!("Timers: {}.", crate::settings::NO_WINDOW)
        }
        Err(disabled) => format!("Timers: {disabled}; every firing fails until it is fixed."),
        Ok(settings) => {
            let now = time::OffsetDateTime::now_utc();
            let judged = settings.at(now);
            let state = &judged.state;
            let edge = |label: &str, at: Option<time::OffsetDateTime>| match at {
                Some(at) => format!("{label} {}", crate::schedule::format_utc(at)),
                None => format!("never {label}"),
            };
            let (closed, try_open) = if settings.every_firing_closes() {
                (
                    "a firing releases the schedule's lease and shrinks the pool to what live leases need",
                    "SCHEDULE_WINDOWS='daily 00:00-24:00'",
                )
            } else {
                (
                    "a firing leaves the pool alone, but timer-scale-down releases the schedule's nodes",
                    "SCALE_UP_SCHEDULE='0 * * * * *' SCALE_DOWN_SCHEDULE='0 0 0 1 1 *'",
                )
            };
            let now_text = if state.open {
                format!(
                    "open now ({}): a firing holds {}+{} ready nodes",
                    edge("closes", state.next_down),
                    judged.dedicated,
                    judged.low_priority
                )
            } else {
                format!(
                    "closed now ({}): {closed} (to try an open window, start dev with \
                     {try_open}, see docs/schedules.md)",
                    edge("opens", state.next_up)
                )
            };
            let window = match &settings.windows {
                Some(windows) => format!("SCHEDULE_WINDOWS '{windows}' in {}", windows.zone_name()),
                None => format!(
                    "window from SCALE_UP_SCHEDULE '{}' to SCALE_DOWN_SCHEDULE '{}' (UTC)",
                    settings.window.up, settings.window.down
                ),
            };
            format!("Timers: {window}, {now_text}. Fire one as the host would:")
        }
    }
}

/// What the export line names and whether it outlives this run.
struct Export<'a> {
    ca_file: &'a std::path::Path,
    /// The simulator did not get its usual port.
    moved: bool,
    /// The CA is kept for the next run.
    kept: bool,
}

fn print_welcome(
    address: SocketAddr,
    info: &simulator::ReadyInfo,
    args: &DevArgs,
    export: &Export<'_>,
    schedule: &Result<ScheduleSettings, ScheduleDisabled>,
) {
    let base = format!("http://{address}/api");
    let pool = &args.pools[0];
    println!(
        "pool-resizer dev: handler on http://{address}, simulated Batch account '{}' at {} \
         (time x{}, pools: {})",
        info.account,
        info.endpoint,
        args.time_scale,
        args.pools.join(", ")
    );
    println!(
        "Try (function keys are not checked locally; in Azure add ?code=<key> or -H 'x-functions-key: <key>'):"
    );
    println!(
        "  curl -s -X POST {base}/scale-up -d '{{\"poolId\":\"{pool}\",\"dedicatedNodes\":1}}'"
    );
    println!("  curl -s '{base}/pool-status?poolId={pool}'");
    println!("  curl -s '{base}/pool-status?poolId={pool}&operation=scale-up&dedicatedNodes=1'");
    println!("  curl -s -X POST {base}/scale-down -d '{{\"poolId\":\"{pool}\"}}'");
    println!(
        "Times in answers (waitedSeconds, afterSeconds) are simulated seconds, {}x the wall clock.",
        args.time_scale
    );
    println!("{}", describe_schedule(schedule));
    if schedule.is_ok() {
        println!(
            "  curl -s -X POST http://{address}/timer-scale-up -H 'content-type: application/json' -d '{TIMER_PAYLOAD}'"
        );
    }
    // One line that points the CLI (and scripts) at this simulated account;
    // the key is the simulator's fixed, public development key.
    if export.moved {
        println!(
            "Port {DEFAULT_SIMULATOR_PORT} is taken (another dev still running?), so the simulated \
             account listens elsewhere this time: paste this export line again."
        );
    }
    let lasts = if export.kept && !export.moved {
        "; the line still works after dev restarts"
    } else {
        ""
    };
    println!("Point the CLI at it from another terminal (then: cargo run -q -- status){lasts}:");
    let ca = shell_word(&export.ca_file.display().to_string());
    println!(
        "  export BATCH_ACCOUNT_URL={} BATCH_ACCOUNT_NAME={} BATCH_ACCOUNT_KEY={} BATCH_CA_FILE={ca} POOL_RESIZER_TIME_SCALE={} BATCH_POOL_ID={}",
        shell_word(&info.endpoint),
        shell_word(&info.account),
        shell_word(&info.key),
        args.time_scale,
        shell_word(pool),
    );
    println!(
        "Simulator event log: curl -s --cacert {ca} {}/events",
        info.control_endpoint
    );
    println!("Stop with Ctrl-C.");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> HashMap<&'static str, String> {
        HashMap::from([
            ("BATCH_ACCOUNT_URL", "https://127.0.0.1:1".to_owned()),
            ("BATCH_POOL_ID", "adf-pool".to_owned()),
            ("BATCH_ACCOUNT_NAME", "devaccount".to_owned()),
            ("BATCH_ACCOUNT_KEY", simulator::DEV_KEY.to_owned()),
            ("ALLOWED_POOLS", "adf-pool".to_owned()),
        ])
    }

    fn environment(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn schedule_settings_come_from_the_environment() {
        let settings = dev_settings(
            &own(),
            environment(&[
                ("SCALE_UP_SCHEDULE", "0 * * * * *"),
                ("SCALE_DOWN_SCHEDULE", "0 0 0 1 1 *"),
                ("SCHEDULE_DEDICATED_NODES", "2"),
                ("TIMER_WAIT_SECONDS", "60"),
                ("DEFAULT_WAIT_SECONDS", "30"),
            ]),
        )
        .unwrap();
        let schedule = settings.schedule.unwrap();
        assert_eq!(schedule.window.up.as_str(), "0 * * * * *");
        assert_eq!(schedule.window.down.as_str(), "0 0 0 1 1 *");
        assert_eq!((schedule.dedicated, schedule.wait_seconds), (2, 60));
        assert_eq!(settings.default_wait_seconds, 30);
        let mid_year = time::macros::datetime!(2026-06-15 12:00:30 UTC);
        assert!(schedule.window.at(mid_year).open);
    }

    #[test]
    fn local_windows_come_from_the_environment_with_the_reconcile_dev_plays() {
        let settings = dev_settings(
            &own(),
            environment(&[
                ("SCHEDULE_WINDOWS", "daily 00:00-24:00 dedicated=2"),
                ("SCHEDULE_TIME_ZONE", "Europe/Brussels"),
            ]),
        )
        .unwrap();
        let schedule = settings.schedule.unwrap();
        assert!(
            schedule.reconcile.is_some(),
            "the example's, as the host has it"
        );
        let banner = describe_schedule(&Ok(schedule));
        assert!(
            banner.starts_with(
                "Timers: SCHEDULE_WINDOWS 'daily 00:00-24:00 dedicated=2' in Europe/Brussels, open now (never closes): a firing holds 2+0 ready nodes"
            ),
            "{banner}"
        );
    }

    #[test]
    fn a_bad_schedule_disables_the_timers_as_in_azure() {
        let settings = dev_settings(
            &own(),
            environment(&[("SCALE_UP_SCHEDULE", "every minute")]),
        )
        .unwrap();
        let disabled = settings.schedule.unwrap_err().to_string();
        assert!(disabled.contains("SCALE_UP_SCHEDULE"), "{disabled}");
        assert!(describe_schedule(&Err(ScheduleDisabled(vec![disabled]))).contains("fails"));
        let alone = ScheduleDisabled(vec![crate::settings::NO_WINDOW.to_owned()]);
        assert!(!describe_schedule(&Err(alone)).contains("fails"));
    }

    #[test]
    fn the_account_and_other_settings_stay_devs_own() {
        let settings = dev_settings(
            &own(),
            environment(&[
                (
                    "BATCH_ACCOUNT_URL",
                    "https://elsewhere.westeurope.batch.azure.com",
                ),
                ("BATCH_POOL_ID", "other"),
                ("POOL_RESIZER_TIME_SCALE", "1000"),
                ("WEBSITE_HOSTNAME", "example.azurewebsites.net"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.batch_account_url.as_str(), "https://127.0.0.1:1/");
        assert_eq!(settings.default_pool_id.unwrap().as_str(), "adf-pool");
        assert!(!settings.allowed_pools.allows(&"other".parse().unwrap()));
        assert_eq!(settings.time_scale, 1.0);
        assert_eq!(settings.public_host, None);
    }

    #[test]
    fn allowed_pools_come_from_the_environment_else_devs_pools() {
        let own_only = dev_settings(&own(), environment(&[])).unwrap();
        assert!(own_only.allowed_pools.allows(&"adf-pool".parse().unwrap()));
        assert!(!own_only.allowed_pools.allows(&"other".parse().unwrap()));
        let any = dev_settings(&own(), environment(&[("ALLOWED_POOLS", "*")])).unwrap();
        assert!(any.allowed_pools.allows(&"no-such-pool".parse().unwrap()));
    }

    #[test]
    fn the_export_line_quotes_what_a_shell_would_split() {
        assert_eq!(
            shell_word("/tmp/pool-resizer-dev-ca-1.pem"),
            "/tmp/pool-resizer-dev-ca-1.pem"
        );
        assert_eq!(
            shell_word("https://127.0.0.1:4433"),
            "https://127.0.0.1:4433"
        );
        assert_eq!(shell_word("cG9v+/IQ=="), "cG9v+/IQ==");
        assert_eq!(shell_word("/tmp/my dir/ca.pem"), "'/tmp/my dir/ca.pem'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
