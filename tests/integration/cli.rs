//! The operator CLI against the in-process Batch simulator, through the real
//! binary: exit codes, `--json` bodies, and plain progress lines when stderr
//! is not a terminal. Time runs 200x faster on both sides, so a cold pool is
//! ready in a couple of real seconds.

use batch_simulator::{Simulator, SimulatorConfig, start};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Command;

const SCALE: f64 = 200.0;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        let body = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        });
        crate::helpers::schema::assert_answer(&body);
        body
    }
}

async fn simulator(name: &str, config: SimulatorConfig) -> (Simulator, PathBuf) {
    let sim = start(SimulatorConfig {
        time_scale: SCALE,
        pools: vec!["p".into()],
        ..config
    })
    .await
    .expect("simulator starts");
    let ca = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-ca.pem"));
    std::fs::write(&ca, sim.ca_pem()).expect("write CA");
    (sim, ca)
}

/// Runs the binary with only the settings given (nothing inherited).
async fn cli(sim: Option<(&Simulator, &PathBuf)>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pool-resizer"));
    command.args(args).env_clear().kill_on_drop(true);
    if let Some((sim, ca)) = sim {
        let info = sim.ready_info();
        command
            .env("BATCH_ACCOUNT_URL", &info.endpoint)
            .env("BATCH_ACCOUNT_NAME", &info.account)
            .env("BATCH_ACCOUNT_KEY", &info.key)
            .env("BATCH_CA_FILE", ca)
            .env("POOL_RESIZER_TIME_SCALE", SCALE.to_string());
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the CLI finishes within 60 s")
        .expect("the CLI runs");
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_then_down_succeed_with_http_shaped_json() {
    let (sim, ca) = simulator("updown", SimulatorConfig::default()).await;
    let up = cli(
        Some((&sim, &ca)),
        &[
            "scale-up",
            "--pool",
            "p",
            "--dedicated",
            "1",
            "--wait",
            "600",
            "--json",
        ],
    )
    .await;
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    let body = up.json();
    assert_eq!(body["operation"], "scale-up");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["poolId"], "p");
    assert_eq!(body["requested"]["dedicatedNodes"], 1);
    assert_eq!(body["requested"]["waitSeconds"], 600);
    assert_eq!(body["pool"]["readyDedicatedNodes"], 1);
    assert_eq!(body["actions"][0]["action"], "resize");
    assert!(body["statusUrl"].is_null() && body["error"].is_null());
    for key in ["waitedSeconds", "batchCalls", "waitingFor"] {
        assert!(body.get(key).is_some(), "{key} missing: {body}");
    }
    // Not a terminal: plain lines, one per change, no carriage returns.
    assert!(!up.stderr.contains('\r'), "{:?}", up.stderr);
    let lines: Vec<&str> = up.stderr.lines().collect();
    assert!(lines.len() >= 2, "progress lines: {:?}", up.stderr);
    assert!(lines.iter().all(|l| l.contains("allocation=")), "{lines:?}");
    assert!(lines.last().unwrap().ends_with("| done"), "{lines:?}");
    assert!(up.stderr.contains("idle=1"), "{lines:?}");

    let down = cli(
        Some((&sim, &ca)),
        &["scale-down", "--pool", "p", "--wait", "600"],
    )
    .await;
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    assert!(
        down.stdout.starts_with("scale-down p: succeeded after "),
        "{}",
        down.stdout
    );
    assert!(
        down.stdout.contains("target=0+0 current=0+0"),
        "{}",
        down.stdout
    );

    let status = cli(Some((&sim, &ca)), &["status", "--pool", "p", "--quiet"]).await;
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status.stdout.starts_with("pool-status p: succeeded"),
        "{}",
        status.stdout
    );
    assert!(status.stderr.is_empty(), "--quiet: {:?}", status.stderr);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_1_with_the_error_code() {
    let (sim, ca) = simulator("fail", SimulatorConfig::default()).await;
    let missing = cli(Some((&sim, &ca)), &["scale-up", "--pool", "nope", "--json"]).await;
    assert_eq!(missing.code, 1, "{}\n{}", missing.stdout, missing.stderr);
    let body = missing.json();
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "PoolNotFound");
    assert_eq!(body["pool"]["exists"], false);

    let status = cli(Some((&sim, &ca)), &["status", "--pool", "nope", "--json"]).await;
    assert_eq!(status.code, 1, "{}\n{}", status.stdout, status.stderr);
    assert_eq!(status.json()["error"]["code"], "PoolNotFound");
    sim.shutdown().await;

    let (sim, ca) = simulator(
        "quota",
        SimulatorConfig {
            dedicated_core_quota: 0,
            ..SimulatorConfig::default()
        },
    )
    .await;
    let quota = cli(
        Some((&sim, &ca)),
        &["scale-up", "--pool", "p", "--wait", "600", "--json"],
    )
    .await;
    assert_eq!(quota.code, 1, "{}\n{}", quota.stdout, quota.stderr);
    let body = quota.json();
    assert_eq!(body["error"]["code"], "ResizeFailed", "{body}");
    assert!(body["error"]["batchCode"].is_string(), "{body}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_wait_exits_3_and_says_what_it_waits_for() {
    let (sim, ca) = simulator("timeout", SimulatorConfig::default()).await;
    let run = cli(
        Some((&sim, &ca)),
        &[
            "scale-up",
            "--pool",
            "p",
            "--dedicated",
            "2",
            "--wait",
            "0",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let body = run.json();
    assert_eq!(body["status"], "inProgress");
    assert!(body["waitingFor"].is_string(), "{body}");
    assert_eq!(body["actions"][0]["targetDedicatedNodes"], 2, "{body}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_usage_exits_2_before_calling_batch() {
    let (sim, ca) = simulator("usage", SimulatorConfig::default()).await;
    let cases: &[&[&str]] = &[
        &["scale-up", "--pool", "p", "--dedicated", "many"],
        &["scale-up", "--pool", "p", "--dedicated", "11"], // above MAX_DEDICATED_NODES (10)
        &["scale-up", "--pool", "bad/pool"],
        &["scale-up", "--wait", "100000", "--pool", "p"],
        &["scale-up"], // no --pool and no BATCH_POOL_ID
        &[
            "scale-down",
            "--pool",
            "p",
            "--force",
            "--keep-warm-minutes",
            "5",
        ],
        // Under 5 minutes, and without a lease to lapse.
        &[
            "scale-up",
            "--pool",
            "p",
            "--lease",
            "run-a",
            "--lease-idle-minutes",
            "2",
        ],
        &["scale-up", "--pool", "p", "--lease-idle-minutes", "15"],
        &["resize"],
    ];
    for args in cases {
        let run = cli(Some((&sim, &ca)), args).await;
        assert_eq!(run.code, 2, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    let status = cli(Some((&sim, &ca)), &["status", "--pool", "p", "--json"]).await;
    assert_eq!(
        status.json()["pool"]["targetDedicatedNodes"],
        0,
        "nothing may have resized the pool"
    );
    // No settings at all: a usage error that names what is missing.
    let run = cli(None, &["status", "--pool", "p"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("BATCH_ACCOUNT_URL"), "{}", run.stderr);
    sim.shutdown().await;
}

/// Runs the binary with exactly `env` (nothing inherited, not even PATH).
async fn cli_with(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pool-resizer"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the CLI finishes within 60 s")
        .expect("the CLI runs");
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The second terminal before the export line: `status` says to paste it,
/// and nothing about the schedule, which the CLI does not run.
#[tokio::test]
async fn without_devs_export_line_status_says_to_paste_it() {
    let run = cli_with(&[], &["status"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("BATCH_ACCOUNT_URL is not set"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("fix: against `cargo run -- dev`, paste the export line it printed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.to_lowercase().contains("schedule"),
        "a status call has nothing to do with the schedule: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pool_gets_a_fix_line() {
    let (sim, ca) = simulator("missing", SimulatorConfig::default()).await;
    for args in [
        &["status", "--pool", "nope"][..],
        &["scale-up", "--pool", "nope"],
    ] {
        let run = cli(Some((&sim, &ca)), args).await;
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("PoolNotFound"), "{}", run.stdout);
        assert!(
            run.stdout.contains("\nfix: check the pool id"),
            "{args:?}: {}",
            run.stdout
        );
    }
    sim.shutdown().await;
}

/// Retries take time: the result line says how long, not "after 0s".
/// And a local endpoint that refuses points at dev having restarted.
#[tokio::test]
async fn a_refused_local_endpoint_says_how_long_and_that_dev_may_have_restarted() {
    let url = format!("https://127.0.0.1:{}", closed_port());
    let env = [
        ("BATCH_ACCOUNT_URL", url.as_str()),
        ("BATCH_ACCOUNT_NAME", "devaccount"),
        ("BATCH_ACCOUNT_KEY", batch_simulator::DEV_KEY),
    ];
    let run = cli_with(&env, &["status", "--pool", "p", "--json"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let body = run.json();
    assert_eq!(body["error"]["code"], "BatchUnavailable", "{body}");
    let waited = body["waitedSeconds"].as_f64().unwrap();
    assert!(waited > 0.0, "the retries took time: {body}");
    let hint = body["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("dev restarted? paste the new export line it printed"),
        "{hint}"
    );
    let plain = cli_with(&env, &["status", "--pool", "p"]).await;
    assert!(
        !plain.stdout.contains("failed after 0s"),
        "{}",
        plain.stdout
    );
}

/// An https:// URL that names a plain-HTTP server (the handler's own port,
/// say) is that, not a certificate problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_endpoint_is_reported_as_plain_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let url = format!("https://127.0.0.1:{port}");
    let env = [
        ("BATCH_ACCOUNT_URL", url.as_str()),
        ("BATCH_ACCOUNT_NAME", "devaccount"),
        ("BATCH_ACCOUNT_KEY", batch_simulator::DEV_KEY),
    ];
    let run = cli_with(&env, &["status", "--pool", "p"]).await;
    server.abort();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("BatchUnavailable")
            && run.stdout.contains("answered in plain HTTP, not HTTPS"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fix: ") && run.stdout.contains("serves plain HTTP"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("certificate"), "{}", run.stdout);
}

/// Without `az` (and without the export line's key), the result line names
/// the cause, not only a WARN line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_az_the_result_line_says_az_is_not_on_path() {
    let (sim, ca) = simulator("no-az", SimulatorConfig::default()).await;
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let env = [
        ("BATCH_ACCOUNT_URL", sim.ready_info().endpoint.as_str()),
        ("BATCH_CA_FILE", ca.to_str().unwrap()),
        ("PATH", empty.to_str().unwrap()),
    ];
    let run = cli_with(&env, &["status", "--pool", "p"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let result = run.stdout.lines().next().unwrap_or_default();
    assert!(
        result.contains("BatchAuthenticationFailed") && result.contains("az not found on PATH"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fix: the Azure CLI (az) is not on PATH: install it and run `az login`"),
        "{}",
        run.stdout
    );
    sim.shutdown().await;
}

/// The export line of a dev that has gone (or of an older dev): its CA
/// file missing, or not the CA this simulator's certificate is signed with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_from_another_dev_says_dev_restarted() {
    let (sim, _) = simulator("restarted", SimulatorConfig::default()).await;
    let (other, other_ca) = simulator("restarted-other", SimulatorConfig::default()).await;
    let info = sim.ready_info();
    let gone = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-no-such-ca.pem");
    let mut env = vec![
        ("BATCH_ACCOUNT_URL", info.endpoint.as_str()),
        ("BATCH_ACCOUNT_NAME", info.account.as_str()),
        ("BATCH_ACCOUNT_KEY", info.key.as_str()),
        ("BATCH_CA_FILE", gone.to_str().unwrap()),
    ];
    let missing = cli_with(&env, &["status", "--pool", "p"]).await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("cannot read the CA file")
            && missing
                .stderr
                .contains("fix: dev restarted? paste the new export line it printed"),
        "{}",
        missing.stderr
    );
    env[3].1 = other_ca.to_str().unwrap();
    let untrusted = cli_with(&env, &["status", "--pool", "p"]).await;
    assert_eq!(untrusted.code, 1, "{}", untrusted.stdout);
    assert!(
        untrusted.stdout.contains("BatchTlsFailed")
            && untrusted
                .stdout
                .contains("dev restarted? paste the new export line it printed"),
        "{}",
        untrusted.stdout
    );
    other.shutdown().await;
    sim.shutdown().await;
}

/// Each command's help lists its own flags, each default once.
#[tokio::test]
async fn scale_up_and_scale_down_help_list_their_own_flags() {
    let up = cli(None, &["scale-up", "--help"]).await.stdout;
    let down = cli(None, &["scale-down", "--help"]).await.stdout;
    for only_down in ["--force", "--keep-warm-minutes"] {
        assert!(!up.contains(only_down), "scale-up --help: {up}");
        assert!(down.contains(only_down), "scale-down --help: {down}");
    }
    for only_up in [
        "--lease-minutes",
        "--lease-idle-minutes",
        "--repair-attempts",
        "--fallback-to-dedicated",
    ] {
        assert!(!down.contains(only_up), "scale-down --help: {down}");
        assert!(up.contains(only_up), "scale-up --help: {up}");
    }
    for line in up.lines().chain(down.lines()) {
        assert!(
            !(line.contains("(default") && line.contains("[default")),
            "a default said twice: {line}"
        );
    }
    assert!(
        up.contains("--wait <SECONDS>") && up.contains("[default: 900]"),
        "{up}"
    );
}
