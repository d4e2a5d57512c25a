//! `spawn_app()`: a simulator in-process and the handler binary under the
//! host stand-in, wired together the way app settings wire them in Azure.

use super::host::FunctionsHost;
use batch_simulator::{Simulator, SimulatorConfig};
use std::collections::HashMap;
use std::path::PathBuf;

/// Simulated seconds per real second, for the simulator and the handler alike.
pub const TIME_SCALE: f64 = 300.0;

pub struct TestApp {
    pub sim: Simulator,
    pub host: FunctionsHost,
    pub settings: HashMap<String, String>,
}

/// The handler's app settings for talking to `sim` with Shared Key.
pub fn settings_for(sim: &Simulator, pool: &str) -> HashMap<String, String> {
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
    ])
}

/// Requests the simulator accepted (202) with `method` on a path ending in
/// `suffix`: e.g. ("POST", "/pools/p/resize") counts the resizes Batch took.
pub fn accepted(sim: &Simulator, method: &str, suffix: &str) -> usize {
    sim.events()
        .iter()
        .filter(|e| matches!(&e.kind, batch_simulator::EventKind::Request { method: m, path, status: 202, .. } if m == method && path.ends_with(suffix)))
        .count()
}

/// Writes the simulator's CA where `BATCH_CA_FILE` can point.
pub fn ca_file(sim: &Simulator) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sim-ca-{}.pem",
        sim.ready_info().endpoint.rsplit(':').next().unwrap_or("0")
    ));
    std::fs::write(&path, sim.ca_pem()).unwrap();
    path
}

pub async fn start_simulator(config: SimulatorConfig) -> Simulator {
    batch_simulator::start(SimulatorConfig {
        time_scale: TIME_SCALE,
        ..config
    })
    .await
    .expect("simulator starts")
}

pub async fn spawn_app(config: SimulatorConfig) -> TestApp {
    let pool = config
        .pools
        .first()
        .cloned()
        .unwrap_or_else(|| "adf-pool".into());
    let sim = start_simulator(config).await;
    let settings = settings_for(&sim, &pool);
    let host = FunctionsHost::start(&settings).await;
    TestApp {
        sim,
        host,
        settings,
    }
}
