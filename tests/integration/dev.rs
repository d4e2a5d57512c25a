//! `cargo run -- dev` as a newcomer meets it: restarted while a second
//! terminal holds its export line, and started with the settings the docs
//! show (`ALLOWED_POOLS`, to see the 404 and 403 the API answers).
//!
//! Each dev here gets its own cache directory (`XDG_CACHE_HOME`) and a
//! simulator port picked free at run time, so nothing is shared with a
//! reader's own dev or another test.

use crate::helpers::host::free_port;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Dev {
    child: Child,
    port: u16,
    export_line: String,
    banner: String,
    /// What dev printed after its banner, and whether it has closed stdout.
    output: std::sync::Arc<std::sync::Mutex<(Vec<String>, bool)>>,
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dev-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts dev as a reader would, with `env` (and a home for its CA) only,
/// and reads its banner up to "Stop with Ctrl-C".
async fn start_dev(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Dev {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .args(["dev", "--listen", "127.0.0.1:0", "--time-scale", "600"])
        .args(args)
        .env_clear()
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("HOME", home)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Stop with Ctrl-C") {
                return true;
            }
        }
        false
    };
    let complete = tokio::time::timeout(Duration::from_secs(30), read).await;
    assert!(matches!(complete, Ok(true)), "dev's banner:\n{banner}");
    let port = banner
        .split("handler on http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no handler address:\n{banner}"));
    let export_line = banner
        .lines()
        .find(|l| l.trim_start().starts_with("export "))
        .unwrap_or_else(|| panic!("no export line:\n{banner}"))
        .trim()
        .to_owned();
    // Keep reading so dev never blocks on a full pipe.
    let output = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), false)));
    let kept = output.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().unwrap().0.push(line);
        }
        kept.lock().unwrap().1 = true;
    });
    Dev {
        child,
        port,
        export_line,
        banner,
        output,
    }
}

impl Dev {
    /// SIGTERM, as Ctrl-C would; dev must end on its own.
    async fn stop(mut self) {
        let pid = self.child.id().expect("dev is running").to_string();
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &pid])
            .status()
            .await;
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("dev stops within 15 s")
            .unwrap();
        assert!(status.success(), "{status:?}");
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "-d", body])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .await
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("a status line");
        let body: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        crate::helpers::schema::assert_answer(&body);
        (status.trim().parse().unwrap(), body)
    }
}

/// Runs `cargo run -q -- ARGS` as the second terminal would: after the
/// export line, with nothing else in its environment.
async fn after_export(export_line: &str, args: &str) -> std::process::Output {
    let script = format!("{export_line}\n\"$0\" {args}", export_line = export_line);
    Command::new("bash")
        .args(["-c", &script, env!("CARGO_BIN_EXE_pool-resizer")])
        .env_clear()
        .output()
        .await
        .expect("bash runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_line_survives_a_restart_of_dev() {
    let home = scratch("restart");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--simulator-listen", listen.as_str()];
    let first = start_dev(&home, &[], &args).await;
    assert!(
        first
            .banner
            .contains("the line still works after dev restarts"),
        "{}",
        first.banner
    );
    let export_line = first.export_line.clone();
    assert!(
        export_line.contains(&format!("BATCH_ACCOUNT_URL=https://127.0.0.1:{port}"))
            && export_line.contains("/cache/pool-resizer/dev-ca/ca.pem"),
        "{export_line}"
    );
    first.stop().await;

    // Restarted (docs/schedules.md does it with other settings): the line
    // the second terminal holds is the same, and still works.
    let second = start_dev(&home, &[("SCALE_UP_SCHEDULE", "0 * * * * *")], &args).await;
    assert_eq!(second.export_line, export_line);
    let status = after_export(&export_line, "status --quiet").await;
    assert!(
        status.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    second.stop().await;

    // Its CA stays for the next run, readable by its owner only.
    let key = home.join("cache/pool-resizer/dev-ca/ca-key.pem");
    assert!(key.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

/// With no home to keep a CA in, dev makes one for the run and removes it;
/// an export line that names it then says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_ca_file_says_dev_restarted() {
    let tmp = scratch("gone");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--simulator-listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut export_line = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("dev's banner in time")
        .unwrap()
    {
        if line.trim_start().starts_with("export ") {
            export_line = Some(line.trim().to_owned());
        }
        if line.starts_with("Stop with Ctrl-C") {
            break;
        }
    }
    let export_line = export_line.expect("an export line");
    assert!(export_line.contains(tmp.to_str().unwrap()), "{export_line}");
    let dev = Dev {
        child,
        port: 0,
        export_line: export_line.clone(),
        banner: String::new(),
        output: Default::default(),
    };
    dev.stop().await;
    let status = after_export(&export_line, "status").await;
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the CA file")
            && stderr.contains("fix: dev restarted? paste the new export line it printed"),
        "{stderr}"
    );
}

/// dev honours ALLOWED_POOLS from its environment, so the API's 404 and
/// 403 can be seen locally, each with a hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_honours_allowed_pools() {
    let home = scratch("allowed");
    let listen = format!("127.0.0.1:{}", free_port());
    let dev = start_dev(
        &home,
        &[("ALLOWED_POOLS", "adf-pool,no-such-pool")],
        &["--simulator-listen", &listen],
    )
    .await;
    let (status, body) = dev
        .post("/api/scale-up", r#"{"poolId":"no-such-pool"}"#)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "PoolNotFound");
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.starts_with("check the pool id")),
        "{body}"
    );
    let (status, body) = dev.post("/api/scale-up", r#"{"poolId":"other"}"#).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "PoolNotAllowed");
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("add 'other' to ALLOWED_POOLS")),
        "{body}"
    );
    dev.stop().await;
}

/// `dev --metrics` prints what telemetry would send, per pool, at Ctrl-C
/// at the latest.
#[tokio::test]
async fn dev_metrics_prints_the_numbers_telemetry_sends() {
    let home = scratch("metrics");
    let listen = format!("127.0.0.1:{}", free_port());
    let dev = start_dev(&home, &[], &["--simulator-listen", &listen, "--metrics"]).await;
    let (status, body) = dev.post("/api/scale-down", "{}").await;
    assert_eq!(status, 200, "{body}");
    let output = dev.output.clone();
    dev.stop().await;
    // dev has exited: its last lines are in the pipe until the reader ends.
    while !output.lock().unwrap().1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let printed = output.lock().unwrap().0.join("\n");
    for line in [
        "metrics: poolresizer.answers operation=scale-down pool=adf-pool status=succeeded count=1",
        "metrics: poolresizer.answer.seconds operation=scale-down pool=adf-pool count=1",
    ] {
        assert!(printed.contains(line), "no {line:?} in:\n{printed}");
    }
}
