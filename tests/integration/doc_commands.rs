//! The docs' local commands, run the way a newcomer runs them: against
//! `cargo run -- dev`, pasted into a second terminal.
//!
//! A command in a doc that nobody runs drifts: a port, a pool or a time scale
//! changes in one file and not in the next, and pasting them together gives
//! `PoolNotFound`, a silent hang or `command not found`. So every shell block
//! that targets the local dev server is marked in its fence, and this test
//! runs it, word for word but for the port:
//!
//! - ```` ```sh dev ````: starts the dev server (`[NAME=value ...] cargo run -- dev
//!   [flags]`). Not run itself; the `local` blocks after it in the same doc
//!   run against a dev started with its settings and flags (the README's
//!   first block when the doc has none).
//! - ```` ```sh local ````: commands for a second terminal. Run with bash
//!   (`set -eo pipefail`, a clean environment) against that dev, started on a
//!   free port with `--time-scale 600` so waits take a fraction of a second;
//!   `7071` in `127.0.0.1:7071` / `localhost:7071` becomes that port.
//! - ```` ```sh local after-export ````: the same, after the `export ...` line
//!   that dev printed, as the reader was told to paste it (the block's first
//!   line must say so).
//! - ```` ```sh local errors ````: a block that shows mistakes on purpose:
//!   every answer it prints must be an error, and carry a hint.
//! - ```` ```sh core-tools ````: for `func start`; not run (no Functions host here).
//!
//! `cargo run -q -- <command>` in a block runs the binary this `cargo test`
//! built: a `cargo` on the blocks' PATH takes exactly that form and refuses
//! any other, so nothing is rebuilt inside the test and a block cannot start
//! a second server. Each block gets its own dev, so blocks do not depend on
//! each other's leftovers, and they run side by side.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Every doc a newcomer reads; blocks are taken in this order.
const DOCS: &[&str] = &[
    "README.md",
    "docs/api.md",
    "docs/settings.md",
    "docs/operations.md",
    "docs/architecture.md",
    "docs/cli.md",
    "docs/simulator.md",
    "docs/schedules.md",
    "docs/deploy.md",
    "docs/benchmarks.md",
    "docs/cost.md",
];

/// Docs that must keep at least one block the test runs, so a lost marker
/// cannot quietly turn the check off.
const DOCS_WITH_LOCAL_BLOCKS: &[&str] = &[
    "README.md",
    "docs/api.md",
    "docs/cli.md",
    "docs/simulator.md",
    "docs/schedules.md",
];

/// Fast enough that a node's boot (3-5 simulated minutes) takes under half
/// a second, slow enough that the CLI's default 900 s wait is 1.5 s of a
/// loaded machine's time.
const TIME_SCALE: &str = "600";
const SHELLS: &[&str] = &["sh", "bash", "shell"];
const MARKERS: &[&str] = &["dev", "local", "after-export", "errors", "core-tools"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone)]
struct Block {
    doc: &'static str,
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string's words: the language, then markers.
    words: Vec<String>,
    /// The body, without the fence's indentation (blocks inside list items).
    text: String,
}

impl Block {
    fn is_shell(&self) -> bool {
        self.words
            .first()
            .is_some_and(|lang| SHELLS.contains(&lang.as_str()))
    }

    fn has(&self, marker: &str) -> bool {
        self.is_shell() && self.words.iter().skip(1).any(|w| w == marker)
    }

    fn at(&self) -> String {
        format!("{}:{}", self.doc, self.line)
    }

    /// The lines that are not comments or blank, trimmed.
    fn commands(&self) -> Vec<String> {
        self.text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }
}

fn blocks(doc: &'static str) -> Vec<Block> {
    let path = repo().join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, Vec<String>, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let words = info.split_whitespace().map(str::to_owned).collect();
                    open = Some((n + 1, indent, words, String::new()));
                }
            }
            Some((start, fence_indent, words, mut body)) => {
                if trimmed.trim_end() == "```" {
                    out.push(Block {
                        doc,
                        line: start,
                        words,
                        text: body,
                    });
                } else {
                    let strip = indent.min(fence_indent);
                    body.push_str(&line[strip..]);
                    body.push('\n');
                    open = Some((start, fence_indent, words, body));
                }
            }
        }
    }
    assert!(open.is_none(), "{doc}: a code fence is never closed");
    out
}

fn all_blocks() -> Vec<Block> {
    DOCS.iter().flat_map(|doc| blocks(doc)).collect()
}

/// Splits a shell line into words: quotes and backslashes as bash reads
/// them, a `#` at the start of a word ends the line. Enough for the one-line
/// dev commands the docs show.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// How a `dev` block starts the server: its environment and its flags.
#[derive(Debug, Clone)]
struct DevCommand {
    from: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

fn dev_command(block: &Block) -> DevCommand {
    for line in block.commands() {
        let words = shell_words(&line);
        let assignments = words
            .iter()
            .take_while(|w| {
                w.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                })
            })
            .count();
        let rest = &words[assignments..];
        if rest.len() >= 4 && rest[..4] == ["cargo", "run", "--", "dev"] {
            let args = rest[4..].to_vec();
            assert!(
                !args
                    .iter()
                    .any(|a| ["--listen", "--simulator-listen", "--time-scale"]
                        .iter()
                        .any(|own| a.starts_with(own))),
                "{}: the test chooses --listen, --simulator-listen and --time-scale itself",
                block.at()
            );
            let env = words[..assignments]
                .iter()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            return DevCommand {
                from: block.at(),
                env,
                args,
            };
        }
    }
    panic!(
        "{}: a `dev` block needs a `[NAME=value ...] cargo run -- dev [flags]` line",
        block.at()
    );
}

/// Each `local` block with the dev command it runs against.
fn local_blocks() -> Vec<(Block, DevCommand)> {
    let readme_dev = blocks("README.md")
        .into_iter()
        .find(|b| b.has("dev"))
        .map(|b| dev_command(&b))
        .expect("the README has a `sh dev` block");
    let mut out = Vec::new();
    for doc in DOCS {
        let mut dev = readme_dev.clone();
        for block in blocks(doc) {
            if block.has("dev") {
                dev = dev_command(&block);
            } else if block.has("local") {
                out.push((block, dev.clone()));
            }
        }
    }
    out
}

/// Output that dev or a block printed, kept for the failure message.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn drain(&self, mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static) {
        let into = self.0.clone();
        tokio::spawn(async move {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = from.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
    }
}

struct Dev {
    child: Child,
    port: u16,
    export_line: String,
    output: Captured,
}

/// Starts the built binary as the doc's dev command would, on a free port,
/// and reads its banner: the handler's address and the `export ...` line.
async fn start_dev(command: &DevCommand, tmp: &Path) -> Dev {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .arg("dev")
        .args(&command.args)
        .args(["--listen", "127.0.0.1:0", "--time-scale", TIME_SCALE])
        // Not dev's usual 7072: a reader's own dev may hold it.
        .args(["--simulator-listen", "127.0.0.1:0"])
        .env_clear()
        // dev writes its CA file to the temp directory: keep it in target/.
        .env("TMPDIR", tmp)
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let output = Captured::default();
    output.drain(child.stderr.take().unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port = None;
    let mut export_line = None;
    let banner = async {
        while let Some(line) = lines.next_line().await.expect("dev's stdout") {
            output.0.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix("pool-resizer dev: handler on http://127.0.0.1:")
            {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                port = digits.parse::<u16>().ok();
            } else if line.trim_start().starts_with("export ") {
                export_line = Some(line.trim().to_owned());
            } else if line.starts_with("Stop with Ctrl-C") {
                return true;
            }
        }
        false
    };
    let complete = tokio::time::timeout(Duration::from_secs(30), banner).await;
    let (Ok(true), Some(port), Some(export_line)) = (complete, port, export_line) else {
        panic!(
            "dev ({}) did not print its address, export line and 'Stop with Ctrl-C' within 30 s:\n{}",
            command.from,
            output.text()
        );
    };
    output.drain(lines.into_inner().into_inner());
    Dev {
        child,
        port,
        export_line,
        output,
    }
}

impl Dev {
    /// SIGTERM, as Ctrl-C would: dev must stop on its own and cleanly.
    async fn stop(mut self) -> Result<(), String> {
        let pid = self.child.id().expect("dev is running").to_string();
        // The shell's `kill` builtin: no dependency for one signal.
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &pid])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            other => Err(format!("dev did not stop cleanly on SIGTERM: {other:?}")),
        }
    }
}

/// A `cargo` for the blocks: `cargo run -q -- ARGS` runs the built binary.
fn cargo_shim(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = env!("CARGO_BIN_EXE_pool-resizer");
    assert!(!bin.contains('\''), "binary path with a quote: {bin}");
    std::fs::create_dir_all(dir).unwrap();
    let shim = dir.join("cargo");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\n\
             # tests/integration/doc_commands.rs: the docs' `cargo run -q -- ARGS`, on the binary cargo test built.\n\
             if [ \"$1\" = run ] && [ \"$2\" = -q ] && [ \"$3\" = -- ]; then shift 3; exec '{bin}' \"$@\"; fi\n\
             echo \"doc_commands: a local block may run 'cargo run -q -- ...' only, not: cargo $*\" >&2\n\
             exit 97\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.to_owned()
}

/// The JSON values a block printed. A line that starts with `{` must start
/// one or more JSON values, which may span lines (`--json` is pretty) or
/// share one (curl prints no newline); other lines (the CLI's one-line
/// summaries) are left alone.
fn json_values(stdout: &str) -> Result<Vec<Value>, String> {
    let mut values = Vec::new();
    let mut consumed = 0;
    let mut line_start = 0;
    for line in stdout.split_inclusive('\n') {
        let at = line_start;
        line_start += line.len();
        if at < consumed || !line.trim_start().starts_with('{') {
            continue;
        }
        let mut stream = serde_json::Deserializer::from_str(&stdout[at..]).into_iter::<Value>();
        let mut end = at;
        loop {
            match stream.next() {
                Some(Ok(value)) => {
                    values.push(value);
                    end = at + stream.byte_offset();
                }
                // Text after the last answer is fine (a summary line), a
                // cut or broken answer is not.
                Some(Err(e)) if end == at || stdout[end..].trim_start().starts_with('{') => {
                    return Err(format!("not JSON ({e}): {}", line.trim_end()));
                }
                _ => break,
            }
        }
        consumed = end;
    }
    Ok(values)
}

/// Why an answer is not what a newcomer should see after pasting a doc.
fn bad_answer(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    if let Some(error) = object.get("error").filter(|e| !e.is_null()) {
        return Some(format!("an error answer: {error}"));
    }
    if object.get("status").and_then(Value::as_str) == Some("failed") {
        return Some("status: failed".into());
    }
    if object.contains_key("code") && object.contains_key("message") {
        return Some(format!("a Batch error: {value}"));
    }
    let logs = object.get("Logs").and_then(Value::as_array);
    if let Some(failed) = logs
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|line| line.starts_with("FAILED"))
    {
        return Some(format!("a failed timer firing: {failed}"));
    }
    None
}

/// Runs one block against its own dev; `Err` says everything needed to fix it.
async fn run_block(
    block: Block,
    dev_command: DevCommand,
    tmp: PathBuf,
    path: String,
) -> Result<Duration, String> {
    let started = Instant::now();
    std::fs::create_dir_all(&tmp).unwrap();
    let dev = start_dev(&dev_command, &tmp).await;
    let port = dev.port.to_string();
    let body = block
        .text
        .replace("127.0.0.1:7071", &format!("127.0.0.1:{port}"))
        .replace("localhost:7071", &format!("localhost:{port}"));
    let mut script = String::from("set -eo pipefail\n");
    if block.has("after-export") {
        script.push_str(&dev.export_line);
        script.push('\n');
    }
    script.push_str(&body);
    let run = Command::new("bash")
        .args(["-c", &script])
        .current_dir(repo())
        .env_clear()
        .env("PATH", &path)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let outcome = tokio::time::timeout(Duration::from_secs(60), run).await;
    let dev_output = dev.output.clone();
    let stopped = dev.stop().await;
    let describe = |problem: String, stdout: &str, stderr: &str| {
        format!(
            "{} (against dev from {}): {problem}\n--- block as run:\n{body}--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- dev:\n{}",
            block.at(),
            dev_command.from,
            dev_output.text()
        )
    };
    let output = match outcome {
        Err(_) => return Err(describe("still running after 60 s".into(), "", "")),
        Ok(output) => output.expect("bash runs"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let fail = |problem: String| Err(describe(problem, &stdout, &stderr));
    if !output.status.success() {
        return fail(format!("exited with {}", output.status));
    }
    if stderr.contains("command not found") {
        return fail("a command was not found".into());
    }
    let values = match json_values(&stdout) {
        Ok(values) => values,
        Err(e) => return fail(e),
    };
    let curls = block
        .commands()
        .iter()
        .filter(|c| c.starts_with("curl "))
        .count();
    if values.len() < curls {
        return fail(format!(
            "{curls} curl command(s) but {} JSON answer(s)",
            values.len()
        ));
    }
    if block.has("errors") {
        let unhelpful = values.iter().find(|v| {
            v["error"]["code"].as_str().is_none() || v["error"]["hint"].as_str().is_none()
        });
        if let Some(value) = unhelpful {
            return fail(format!(
                "a mistake shown without an error and a hint: {value}"
            ));
        }
    } else if let Some(bad) = values.iter().find_map(bad_answer) {
        return fail(bad);
    }
    if let Err(e) = stopped {
        return fail(e);
    }
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_doc_blocks_run_against_dev() {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc-commands");
    let _ = std::fs::remove_dir_all(&work);
    let shim = cargo_shim(&work.join("bin"));
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let blocks = local_blocks();
    assert!(blocks.len() >= 5, "local blocks found: {blocks:#?}");
    let started = Instant::now();
    let runs = blocks.into_iter().enumerate().map(|(n, (block, dev))| {
        let at = block.at();
        let run = run_block(block, dev, work.join(format!("block-{n}")), path.clone());
        async move { (at, run.await) }
    });
    let results = futures::future::join_all(runs).await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().cloned())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for (at, took) in &results {
        eprintln!("{at}: ran in {:.1} s", took.as_ref().unwrap().as_secs_f64());
    }
    eprintln!("all local blocks: {:.1} s", started.elapsed().as_secs_f64());
}

/// The markers are what decides what runs, so they are checked too: a block
/// that talks to the local server but is not marked would never run.
#[test]
fn blocks_that_target_the_dev_server_are_marked() {
    let mut problems = Vec::new();
    for block in all_blocks().iter().filter(|b| b.is_shell()) {
        let marked = MARKERS.iter().any(|m| block.has(m));
        if block.text.contains(":7071") && !marked {
            problems.push(format!(
                "{}: talks to port 7071 but is not marked `sh local` (or `sh dev`, `sh core-tools`)",
                block.at()
            ));
        }
        for word in block.words.iter().skip(1) {
            if !MARKERS.contains(&word.as_str()) {
                problems.push(format!("{}: unknown marker `{word}`", block.at()));
            }
        }
        for marker in ["after-export", "errors"] {
            if block.has(marker) && !block.has("local") {
                problems.push(format!("{}: `{marker}` without `local`", block.at()));
            }
        }
        if block.has("after-export") {
            let first = block.text.lines().next().unwrap_or("");
            if !(first.starts_with('#') && first.contains("export")) {
                problems.push(format!(
                    "{}: starts with '{first}', not a comment telling the reader to paste dev's export line",
                    block.at()
                ));
            }
        }
        for command in block.commands() {
            let first = shell_words(&command).into_iter().next().unwrap_or_default();
            if first == "pool-resizer" {
                problems.push(format!(
                    "{}: `{command}`: pool-resizer is not on PATH after a clone; write `cargo run -q -- ...`",
                    block.at()
                ));
            }
        }
    }
    for doc in DOCS_WITH_LOCAL_BLOCKS {
        if !blocks(doc).iter().any(|b| b.has("local")) {
            problems.push(format!("{doc}: no `sh local` block left"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README opens with the two commands a newcomer types first, and CI
/// runs the second one word for word.
#[test]
fn the_readme_starts_with_dev_then_the_test_command_ci_runs() {
    let first = blocks("README.md")
        .into_iter()
        .find(Block::is_shell)
        .expect("a shell block in the README");
    let commands: Vec<String> = first
        .commands()
        .iter()
        .map(|c| shell_words(c).join(" "))
        .collect();
    assert_eq!(
        commands.get(..2),
        Some(&["cargo run -- dev".to_owned(), "cargo test".to_owned()][..]),
        "{}",
        first.text
    );
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        ".ci/run no longer runs `cargo test`"
    );
}

#[test]
fn json_values_reads_curl_and_cli_output() {
    let out = "{\"a\":1}{\"b\":2}\nstatus adf-pool: succeeded\n{\n  \"c\": 3\n}\n";
    let values = json_values(out).unwrap();
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(json_values("{ not json\n").is_err());
    assert_eq!(
        json_values("scale-up adf-pool: done {x}\n").unwrap().len(),
        0
    );
    assert!(
        json_values("{\"a\":1}{\"b\":\n").is_err(),
        "a cut second answer"
    );
    assert_eq!(json_values("{\"a\":1} done\n").unwrap().len(), 1);
}

#[test]
fn shell_words_reads_quotes_as_bash_does() {
    assert_eq!(
        shell_words(r#"SCALE_UP_SCHEDULE='0 * * * * *' A="b c" cargo run -- dev  # comment"#),
        [
            "SCALE_UP_SCHEDULE=0 * * * * *",
            "A=b c",
            "cargo",
            "run",
            "--",
            "dev"
        ]
    );
    assert_eq!(shell_words(r"a\ b 'it''s' x#y"), ["a b", "its", "x#y"]);
}

/// A doc that starts dev its own way (the schedules' open window, the API's
/// allowed pools) gets that dev for its blocks; the others get the README's
/// plain `cargo run -- dev`.
#[test]
fn local_blocks_run_against_the_dev_their_doc_starts() {
    let blocks = local_blocks();
    for (block, dev) in &blocks {
        if block.doc == "docs/api.md" {
            assert!(
                dev.env.iter().any(|(k, _)| k == "ALLOWED_POOLS"),
                "{}: {dev:?}",
                block.at()
            );
        } else if block.doc == "docs/schedules.md" {
            assert!(
                dev.env
                    .iter()
                    .any(|(k, v)| k == "SCALE_UP_SCHEDULE" && v == "0 * * * * *"),
                "{}: {dev:?}",
                block.at()
            );
        } else {
            assert!(
                dev.env.is_empty() && dev.args.is_empty() && dev.from.starts_with("README.md:"),
                "{}: {dev:?}",
                block.at()
            );
        }
    }
}
