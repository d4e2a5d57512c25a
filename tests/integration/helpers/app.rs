//! `spawn_app()`: a simulator in-process and the handler binary under the
//! host stand-in, wired together the way app settings wire them in Azure.
//! The one way a test gets a handler to talk to; `TestApp`'s methods are the
//! steps scenarios are told in ("scale up, to the end").

use super::batch;
use super::host::{FunctionsHost, HostResponse};
use batch_simulator::{EventKind, FaultSpec, Simulator, SimulatorConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Simulated seconds per real second, for the simulator and the handler alike.
pub(crate) const TIME_SCALE: f64 = 300.0;

/// App settings, as the Functions host passes them to the handler.
pub(crate) type Settings = HashMap<String, String>;

pub(crate) struct TestApp {
    pub sim: Simulator,
    pub host: FunctionsHost,
    pub settings: Settings,
}

/// A simulator with these pools and Batch's defaults otherwise.
pub(crate) fn pools(ids: &[&str]) -> SimulatorConfig {
    SimulatorConfig {
        pools: ids.iter().map(|p| p.to_string()).collect(),
        ..SimulatorConfig::default()
    }
}

/// The simulator of `config` at [`TIME_SCALE`], and the handler serving its
/// first pool (`adf-pool` when it has none) with Shared Key.
pub(crate) async fn spawn_app(config: SimulatorConfig) -> TestApp {
    spawn_app_with(config, |_, _| {}).await
}

/// [`spawn_app`] with the app settings changed before the handler starts:
/// another host name, a wrong key, a managed identity, schedules.
pub(crate) async fn spawn_app_with(
    config: SimulatorConfig,
    edit: impl FnOnce(&mut Settings, &Simulator),
) -> TestApp {
    let pool = config
        .pools
        .first()
        .cloned()
        .unwrap_or_else(|| "adf-pool".into());
    let sim = start_simulator(config).await;
    let mut settings = settings_for(&sim, &pool);
    edit(&mut settings, &sim);
    let host = FunctionsHost::start(&settings).await;
    TestApp {
        sim,
        host,
        settings,
    }
}

impl TestApp {
    /// Another handler instance on the same app settings: a second worker,
    /// or the one that takes over after a stop.
    pub(crate) async fn instance(&self) -> FunctionsHost {
        FunctionsHost::start(&self.settings).await
    }

    /// Another instance whose app settings differ by `edit`.
    pub(crate) async fn instance_with(&self, edit: impl FnOnce(&mut Settings)) -> FunctionsHost {
        let mut settings = self.settings.clone();
        edit(&mut settings);
        FunctionsHost::start(&settings).await
    }

    /// Scale-up with `body`, followed to its final answer as ADF does.
    pub(crate) async fn scale_up(&self, body: &str) -> HostResponse {
        self.host.scale_up(body).await
    }

    /// Scale-down with `body`, followed to its final answer as ADF does.
    pub(crate) async fn scale_down(&self, body: &str) -> HostResponse {
        self.host.scale_down(body).await
    }

    /// `GET /api/pool-status?poolId=<pool>`: a plain look.
    pub(crate) async fn pool_status(&self, pool: &str) -> HostResponse {
        self.host.pool_status(pool).await
    }

    /// Makes Batch misbehave: see `helpers::faults`.
    pub(crate) fn inject(&self, fault: FaultSpec) {
        self.sim.faults().inject(fault).expect("a valid fault");
    }

    /// Requests the simulator accepted; see [`accepted`].
    pub(crate) fn accepted(&self, method: &str, suffix: &str) -> usize {
        accepted(&self.sim, method, suffix)
    }

    /// Waits (10 s at most) until the simulator has accepted such a
    /// request: e.g. ("POST", "/resize"), the moment a resize is in.
    pub(crate) async fn until_accepted(&self, method: &str, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.accepted(method, suffix) == 0 {
            assert!(Instant::now() < deadline, "no {method} *{suffix} accepted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A signed client for arranging the world behind the handler's back.
    pub(crate) fn batch(&self) -> batch::Client {
        batch::Client::for_simulator(&self.sim)
    }

    /// "No running task was ever killed": a task leaving `running` for any
    /// reason but completion means a scale-down took its node from under it.
    pub(crate) fn killed_tasks(&self) -> Vec<String> {
        killed_tasks(&self.sim)
    }
}

/// The handler's app settings for talking to `sim` with Shared Key.
pub(crate) fn settings_for(sim: &Simulator, pool: &str) -> Settings {
    let info = sim.ready_info();
    let ca = ca_file(sim);
    HashMap::from([
        ("BATCH_ACCOUNT_URL".into(), info.endpoint.clone()),
        ("BATCH_POOL_ID".into(), pool.into()),
        ("BATCH_ACCOUNT_NAME".into(), info.account.clone()),
        ("BATCH_ACCOUNT_KEY".into(), info.key.clone()),
        ("BATCH_CA_FILE".into(), ca.display().to_string()),
        (
            "POOL_RESIZER_TIME_SCALE".into(),
            sim.ready_info().time_scale.to_string(),
        ),
        // Scenarios use several pools; ALLOWED_POOLS itself is tested in functions_edge.rs.
        ("ALLOWED_POOLS".into(), "*".into()),
        ("STATUS_URL_SECRET".into(), STATUS_URL_SECRET.into()),
    ])
}

/// What seals the test apps' status URLs: no log may show it.
pub(crate) const STATUS_URL_SECRET: &str = "test-status-url-secret-8c1d2e3f4a5b6c7d";

/// The account key of [`offline_settings`]: no log may show it.
pub(crate) const OFFLINE_ACCOUNT_KEY: &str = "c2VjcmV0LWtleS1kby1ub3QtbG9n";

/// App settings whose Batch is never reached (nothing listens on port 9):
/// for a handler whose every request here is refused before any Batch call.
pub(crate) fn offline_settings() -> Settings {
    HashMap::from([
        ("BATCH_ACCOUNT_URL".into(), "https://127.0.0.1:9".into()),
        ("BATCH_POOL_ID".into(), "adf-pool".into()),
        ("BATCH_ACCOUNT_NAME".into(), "devaccount".into()),
        ("BATCH_ACCOUNT_KEY".into(), OFFLINE_ACCOUNT_KEY.into()),
        ("STATUS_URL_SECRET".into(), STATUS_URL_SECRET.into()),
    ])
}

/// Settings for a system-assigned managed identity instead of Shared Key:
/// what App Service / Functions sets, pointing at the simulator's endpoint.
pub(crate) fn use_managed_identity(settings: &mut Settings, sim: &Simulator) {
    let info = sim.ready_info();
    settings.remove("BATCH_ACCOUNT_NAME");
    settings.remove("BATCH_ACCOUNT_KEY");
    settings.insert("IDENTITY_ENDPOINT".into(), info.identity_endpoint.clone());
    settings.insert("IDENTITY_HEADER".into(), info.identity_header.clone());
}

/// Every request that could change a pool (anything but GET and HEAD), as
/// `METHOD /path`: the witness that a refusal, a look or a forecast-only
/// firing changed nothing.
pub(crate) fn writes(sim: &Simulator) -> Vec<String> {
    sim.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Request { method, path, .. } if method != "GET" && method != "HEAD" => {
                Some(format!("{method} {path}"))
            }
            _ => None,
        })
        .collect()
}

/// Requests the simulator accepted (202) with `method` on a path ending in
/// `suffix`: e.g. ("POST", "/pools/p/resize") counts the resizes Batch took.
pub(crate) fn accepted(sim: &Simulator, method: &str, suffix: &str) -> usize {
    sim.events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Request { method: m, path, status: 202, .. } if m == method && path.ends_with(suffix)))
        .count()
}

/// Tasks that left `running` for any reason but completion, as
/// `"<task>: <reason>"`.
pub(crate) fn killed_tasks(sim: &Simulator) -> Vec<String> {
    sim.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Task {
                task_id,
                from,
                reason,
                ..
            } if from == "running" && reason != "completed" => Some(format!("{task_id}: {reason}")),
            _ => None,
        })
        .collect()
}

/// Writes the simulator's CA where `BATCH_CA_FILE` can point.
pub(crate) fn ca_file(sim: &Simulator) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sim-ca-{}.pem",
        sim.ready_info().endpoint.rsplit(':').next().unwrap_or("0")
    ));
    std::fs::write(&path, sim.ca_pem()).unwrap();
    path
}

pub(crate) async fn start_simulator(config: SimulatorConfig) -> Simulator {
    batch_simulator::start(SimulatorConfig {
        time_scale: TIME_SCALE,
        ..config
    })
    .await
    .expect("simulator starts")
}
