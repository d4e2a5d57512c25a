//! The operator's CLI: `pool-resizer scale-up | scale-down | status`.
//!
//! Does what the HTTP triggers do, directly against Batch, on the same code
//! path: [`Settings::from_process_env`], [`crate::app::batch_client`] and the
//! [`Converger`]. So a script or an operator at a terminal can do by hand
//! what the pipeline does, and what works here works in the Function App.
//!
//! Exit codes (documented in `docs/cli.md`) tell scripts what happened
//! without parsing output: see [`Exit`].

mod progress;
mod summary;

use crate::app::StartupError;
use crate::batch::PoolId;
use crate::batch::error::{DEV_RESTARTED, is_loopback};
use crate::clock::Clock;
use crate::resizer::keep_warm::KeepWarm;
use crate::resizer::marks::Paused;
use crate::resizer::{Converger, LeaseId, Observed, Operation, Outcome, PollPolicy};
use crate::service::{LeaseRequest, ScaleRequest, Served, Service, StatusRequest};
use crate::settings::{ACCOUNT_URL_NOT_SET, Settings, SettingsError};
use progress::Progress;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The CLI has no 230 s front end in its way; this default covers a cold
/// pool with a start task (typically 5-10 min) with room to spare, and
/// matches Batch's own default resize timeout.
pub(crate) const DEFAULT_CLI_WAIT_SECONDS: u32 = 900;
/// Longest `--wait`: a day. More is a typo, not a plan.
pub(crate) const MAX_CLI_WAIT_SECONDS: u32 = 86_400;

/// How the command ended; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: the pool is where it was asked to be (or, for `status`, exists).
    Success = 0,
    /// 1: it cannot get there: pool not found, autoscale on, quota or
    /// allocation failure, start task failed, Batch refused or unreachable.
    Failed = 1,
    /// 2: bad command line or settings; nothing was sent to Batch.
    Usage = 2,
    /// 3: `--wait` ran out (or Ctrl-C) while the pool was still on its way;
    /// Batch carries on, run the command again to keep waiting.
    TimedOut = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Flags of `scale-up`: only what a scale-up reads.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleUpArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Dedicated nodes: at least this many ready (idle or running, start task succeeded).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) dedicated: u32,
    /// Low-priority/Spot nodes: at least this many ready.
    #[arg(long = "low-priority", value_name = "N", default_value_t = 0)]
    pub(crate) low_priority: u32,
    /// Wait at most this long for the nodes to be ready (0 looks and acts once).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CLI_WAIT_SECONDS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CLI_WAIT_SECONDS)))]
    pub(crate) wait: u32,
    /// Hold this lease, as a pipeline's `leaseId` does: a scale-down keeps its
    /// nodes until it is released or expires.
    #[arg(long, value_name = "ID")]
    pub(crate) lease: Option<String>,
    /// How long the lease lives (1-10080).
    #[arg(long = "lease-minutes", value_name = "MINUTES", requires = "lease",
          default_value_t = crate::resizer::lease::DEFAULT_LEASE_MINUTES,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::resizer::lease::MAX_LEASE_MINUTES)))]
    pub(crate) lease_minutes: u32,
    /// Let the lease go once its nodes stand idle this long (5-10080), as a
    /// pipeline's `leaseIdleMinutes` does: what ends the hold of a pipeline
    /// that fails before its scale-down.
    #[arg(long = "lease-idle-minutes", value_name = "MINUTES", requires = "lease",
          value_parser = clap::value_parser!(u32).range(i64::from(crate::resizer::lease::MIN_LEASE_IDLE_MINUTES)..=i64::from(crate::resizer::lease::MAX_LEASE_MINUTES)))]
    pub(crate) lease_idle_minutes: Option<u32>,
    /// Replace nodes whose start task failed or that went unusable, at most
    /// this many times (0-5; 0 fails at once).
    #[arg(long = "repair-attempts", value_name = "N",
          default_value_t = crate::resizer::want::DEFAULT_REPAIR_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::resizer::want::MAX_REPAIR_ATTEMPTS)))]
    pub(crate) repair_attempts: u32,
    /// When Spot (low-priority) nodes cannot be allocated, make up the
    /// difference with dedicated nodes (up to MAX_DEDICATED_NODES).
    #[arg(long = "fallback-to-dedicated")]
    pub(crate) fallback_to_dedicated: bool,
}

/// Flags of `scale-down`: only what a scale-down reads.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleDownArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Dedicated nodes: at most this many left.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) dedicated: u32,
    /// Low-priority/Spot nodes: at most this many left.
    #[arg(long = "low-priority", value_name = "N", default_value_t = 0)]
    pub(crate) low_priority: u32,
    /// Wait at most this long for the pool to get there (0 looks and acts once).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CLI_WAIT_SECONDS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CLI_WAIT_SECONDS)))]
    pub(crate) wait: u32,
    /// Release this lease (a pipeline's `leaseId`). Other pipelines' live
    /// leases are kept either way.
    #[arg(long, value_name = "ID")]
    pub(crate) lease: Option<String>,
    /// Go below what other pipelines' live leases need (they are listed in
    /// the answer). Without it a scale-down keeps their nodes.
    #[arg(long)]
    pub(crate) force: bool,
    /// Keep the released nodes warm this many minutes for the next pipeline
    /// (0-1440), or `auto`: as long as the pool's gaps say it bills no more
    /// than letting them go [default: KEEP_WARM_MINUTES, 0 = off].
    #[arg(long = "keep-warm-minutes", value_name = "MINUTES|auto")]
    pub(crate) keep_warm_minutes: Option<KeepWarm>,
}

/// What `scale-up` and `scale-down` asked, in one shape.
#[derive(Debug, Clone)]
pub struct ScaleArgs {
    common: CommonArgs,
    dedicated: u32,
    low_priority: u32,
    wait: u32,
    lease: Option<String>,
    lease_minutes: u32,
    lease_idle_minutes: Option<u32>,
    force: bool,
    repair_attempts: u32,
    keep_warm_minutes: Option<KeepWarm>,
    fallback_to_dedicated: bool,
}

impl From<ScaleUpArgs> for ScaleArgs {
    fn from(a: ScaleUpArgs) -> Self {
        ScaleArgs {
            common: a.common,
            dedicated: a.dedicated,
            low_priority: a.low_priority,
            wait: a.wait,
            lease: a.lease,
            lease_minutes: a.lease_minutes,
            lease_idle_minutes: a.lease_idle_minutes,
            force: false,
            repair_attempts: a.repair_attempts,
            keep_warm_minutes: None,
            fallback_to_dedicated: a.fallback_to_dedicated,
        }
    }
}

impl From<ScaleDownArgs> for ScaleArgs {
    fn from(a: ScaleDownArgs) -> Self {
        ScaleArgs {
            common: a.common,
            dedicated: a.dedicated,
            low_priority: a.low_priority,
            wait: a.wait,
            lease: a.lease,
            lease_minutes: crate::resizer::lease::DEFAULT_LEASE_MINUTES,
            lease_idle_minutes: None,
            force: a.force,
            repair_attempts: 0,
            keep_warm_minutes: a.keep_warm_minutes,
            fallback_to_dedicated: false,
        }
    }
}

/// Flags every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The pool (default: BATCH_POOL_ID).
    #[arg(long, value_name = "ID")]
    pub(crate) pool: Option<String>,
    /// Print the same JSON body the HTTP trigger answers with, on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress display on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// Any of the above, with the fix it most likely needs.
    #[error("{error}")]
    Fixable { error: Box<CliError>, fix: String },
}

impl CliError {
    fn with_fix(self, fix: impl Into<String>) -> Self {
        CliError::Fixable {
            error: Box::new(self),
            fix: fix.into(),
        }
    }

    fn exit(&self) -> Exit {
        match self {
            CliError::Fixable { error, .. } => error.exit(),
            // A key or CA file that does not work is a setting to fix, like
            // one that does not parse: nothing was sent to Batch either way.
            CliError::Settings(_)
            | CliError::Usage(_)
            | CliError::Startup(StartupError::Settings(_) | StartupError::Unusable(_)) => {
                Exit::Usage
            }
            CliError::Startup(_) => Exit::Failed,
        }
    }
}

/// Flags of `pause`.
#[derive(Debug, Clone, clap::Args)]
pub struct PauseArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Who pauses it, as every answer will show it (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub(crate) by: Option<String>,
    /// Why, shown with it.
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
}

/// What to run, once the command line is parsed.
#[derive(Debug, Clone)]
pub enum Command {
    /// `scale-up` or `scale-down`.
    Scale(Operation, ScaleArgs),
    /// `status`: a look, never a change.
    Status(CommonArgs),
    /// `pause`: leave the pool alone until unpaused.
    Pause(PauseArgs),
    /// `unpause`.
    Unpause(CommonArgs),
}

/// Runs a command to its end: prints the result, returns the exit code.
/// Cancelling `stop` (Ctrl-C/SIGTERM) ends the wait early, like `--wait`
/// running out.
pub async fn run(command: Command, stop: CancellationToken) -> ExitCode {
    init_logs();
    match execute(command, stop).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e}");
            if let CliError::Fixable { fix, .. } = &e {
                eprintln!("fix: {fix}");
            }
            e.exit().into()
        }
    }
}

async fn execute(command: Command, stop: CancellationToken) -> Result<Exit, CliError> {
    let settings = cli_settings()?;
    let common = match &command {
        Command::Scale(_, args) => &args.common,
        Command::Status(common) | Command::Unpause(common) => common,
        Command::Pause(args) => &args.common,
    };
    let pool_id = pool_id(common.pool.as_deref(), &settings)?;
    let request = match &command {
        Command::Scale(operation, args) => {
            Some(scale_request(*operation, args, pool_id.clone(), &settings)?)
        }
        _ => None,
    };
    let clock = Clock::scaled(settings.time_scale);
    let pause = pause_of(&command, clock.now_utc());
    let batch = batch_client(&settings)?;
    let progress = Progress::new(clock, common.quiet);
    let observer = |observed: &_, step: &_| progress.update(observed, step);
    let converger = Converger {
        batch: &batch,
        clock,
        policy: PollPolicy::default(),
        stop,
        progress: Some(&observer),
        looks: None,
    };
    let service = Service {
        converger,
        limits: settings.limits(),
        provision_deadline: settings.provision_deadline,
        waits: None,
    };
    let work = async {
        if let Some(paused) = pause {
            return Ok(service.pause(&pool_id, paused).await);
        }
        match &request {
            Some(request) => service
                .scale(request)
                .await
                .map_err(|over| CliError::Usage(over.to_string())),
            None => service
                .status(&StatusRequest {
                    pool_id: pool_id.clone(),
                    target: None,
                    lease: None,
                    resume: false,
                    fallback_to_dedicated: false,
                })
                .await
                .map_err(|over| CliError::Usage(over.to_string())),
        }
    };
    let result = work.await;
    progress.finish();
    let Served {
        want,
        result,
        not_written,
    } = result?;
    let out = summary::Summary {
        operation: command.operation(),
        want: &want,
        requested: request.as_ref().map(ScaleRequest::requested),
        not_written: &not_written,
    };
    let exit = match &result {
        Err(_) => Exit::Failed,
        Ok(report) => exit_of(report, request.is_none()),
    };
    if common.json {
        println!("{}", out.json(&result, exit));
    } else {
        println!("{}", out.plain(&result, exit));
    }
    Ok(exit)
}

impl Command {
    /// The operation's name, as the summary and the API spell it.
    fn operation(&self) -> &'static str {
        match self {
            Command::Scale(operation, _) => operation.as_str(),
            Command::Status(_) => "pool-status",
            Command::Pause(_) => "pause",
            Command::Unpause(_) => "unpause",
        }
    }
}

/// The settings from the environment; without an account URL, the fix says
/// where one comes from.
fn cli_settings() -> Result<Settings, CliError> {
    Settings::for_cli(|name| std::env::var(name).ok()).map_err(|e| {
        let no_account = e.0.iter().any(|p| p.starts_with(ACCOUNT_URL_NOT_SET));
        let e = CliError::from(e);
        if no_account {
            e.with_fix(
                "against `cargo run -- dev`, paste the export line it printed into this terminal; \
                 against Azure, export BATCH_ACCOUNT_URL=https://<account>.<region>.batch.azure.com \
                 and BATCH_POOL_ID (docs/cli.md)",
            )
        } else {
            e
        }
    })
}

/// The Batch client; a CA file it cannot use comes with the fix.
fn batch_client(settings: &Settings) -> Result<crate::batch::BatchClient, CliError> {
    crate::app::batch_client(settings).map_err(|e| {
        let ca_file = matches!(
            &e,
            StartupError::Unusable(unusable) if unusable.ca_file.is_some()
        ) || matches!(&e, StartupError::Transport(_));
        let e = CliError::from(e);
        match (ca_file, is_loopback(settings.batch_account_url.as_str())) {
            (true, true) => e.with_fix(format!(
                "{DEV_RESTARTED} (BATCH_CA_FILE names a CA file this simulator does not use)"
            )),
            (true, false) => e.with_fix(
                "set BATCH_CA_FILE to a readable PEM file with the CA to trust (a \
                 TLS-inspecting proxy's), or unset it",
            ),
            _ => e,
        }
    })
}

/// `pause` and `unpause`: the mark to write (`Some(None)` clears it);
/// `None` for the other commands.
fn pause_of(command: &Command, now: time::OffsetDateTime) -> Option<Option<Paused>> {
    match command {
        Command::Pause(args) => Some(Some(Paused {
            by: args
                .by
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "an operator".into()),
            since: now.replace_nanosecond(0).unwrap_or(now),
            reason: args.reason.clone(),
        })),
        Command::Unpause(_) => Some(None),
        _ => None,
    }
}

/// The exit code of a run that answered: a look (`status`) is a success
/// only when it saw the pool; a change, when it converged.
fn exit_of(report: &crate::resizer::Report, look: bool) -> Exit {
    match (&report.outcome, look, &report.last) {
        (_, true, Some(Observed::Missing)) => Exit::Failed,
        (_, true, None) => Exit::TimedOut,
        (_, true, Some(_)) | (Outcome::Converged, _, _) => Exit::Success,
        (Outcome::Failed(_), _, _) => Exit::Failed,
        (Outcome::Pending(_), _, _) => Exit::TimedOut,
    }
}

fn pool_id(flag: Option<&str>, settings: &Settings) -> Result<PoolId, CliError> {
    match flag {
        Some(raw) => raw
            .parse::<PoolId>()
            .map_err(|e| CliError::Usage(format!("--pool '{raw}': {e}"))),
        None => settings.default_pool_id.clone().ok_or_else(|| {
            CliError::Usage("--pool is required: no default pool is set (BATCH_POOL_ID)".into())
        }),
    }
}

/// The same defaults, limits and lease rules as the HTTP triggers, so a
/// leaked script cannot ask for more than a request could (`MAX_*_NODES`),
/// and a scale-down keeps other pipelines' leased nodes unless `--force`.
fn scale_request(
    operation: Operation,
    args: &ScaleArgs,
    pool_id: PoolId,
    settings: &Settings,
) -> Result<ScaleRequest, CliError> {
    let (dedicated, low_priority) = (args.dedicated, args.low_priority);
    settings
        .limits()
        .check(dedicated, low_priority, ("--dedicated", "--low-priority"))
        .map_err(|over| CliError::Usage(over.to_string()))?;
    let lease_id: Option<LeaseId> = match &args.lease {
        Some(raw) => {
            let id: LeaseId = raw
                .parse()
                .map_err(|e| CliError::Usage(format!("--lease '{raw}': {e}")))?;
            if id.is_reserved() {
                return Err(CliError::Usage(format!(
                    "--lease '{raw}' is reserved for the service's own leases"
                )));
            }
            Some(id)
        }
        None => None,
    };
    if args.force && args.keep_warm_minutes.is_some_and(|keep| !keep.is_off()) {
        return Err(CliError::Usage(
            "--keep-warm-minutes does not go with --force: force releases the nodes live leases \
             hold, keep-warm would hold them again"
                .into(),
        ));
    }
    Ok(ScaleRequest {
        operation,
        pool_id,
        dedicated,
        low_priority,
        wait: Duration::from_secs(args.wait.into()),
        lease: lease_id.map(|id| LeaseRequest {
            id,
            minutes: args.lease_minutes,
            idle_minutes: args.lease_idle_minutes,
        }),
        force: args.force,
        repair_attempts: args.repair_attempts,
        keep_warm: match operation {
            // A forced shrink keeps nothing warm, the app's default included.
            Operation::ScaleDown if args.force => KeepWarm::OFF,
            Operation::ScaleDown => args.keep_warm_minutes.unwrap_or(settings.keep_warm),
            Operation::ScaleUp => KeepWarm::OFF,
        },
        fallback_to_dedicated: args.fallback_to_dedicated,
    })
}

/// Warnings and errors only: the progress display is the CLI's info level.
/// `RUST_LOG` still overrides.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
