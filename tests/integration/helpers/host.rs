//! A stand-in for the Azure Functions host, driven by the repo's own
//! `host.json` and `function.json` files.
//!
//! It does what the Functions host (v4) does to a custom handler, as its
//! source and the custom-handler documentation describe: starts the executable named in
//! `host.json` with its arguments and `FUNCTIONS_CUSTOMHANDLER_PORT`, probes
//! `/` every 25 ms until anything answers, enforces `authLevel: function`
//! keys, routes public `/api/<route>` requests to the function whose
//! `function.json` declares that route and method, forwards them unchanged
//! (query, `code` included) with the host's extra headers, and posts
//! non-HTTP (timer) invocations as `POST /<FunctionName>` JSON payloads.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub(crate) const FUNCTION_KEY: &str = "test-function-key-3f9a7c1e";
const HOST_VERSION: &str = "4.1037.0.0";

/// One function folder.
#[derive(Debug, Clone)]
pub(crate) struct FunctionManifest {
    pub name: String,
    pub bindings: Vec<Value>,
}

impl FunctionManifest {
    pub(crate) fn trigger(&self) -> &Value {
        self.bindings
            .iter()
            .find(|b| {
                b["direction"] == "in" && b["type"].as_str().is_some_and(|t| t.ends_with("Trigger"))
            })
            .unwrap_or_else(|| panic!("{} has no trigger binding", self.name))
    }

    pub(crate) fn trigger_type(&self) -> &str {
        self.trigger()["type"].as_str().unwrap()
    }

    /// HTTP and forwarding apply only with exactly one httpTrigger in and one http out.
    pub(crate) fn is_forwarded_http(&self) -> bool {
        let ins: Vec<_> = self
            .bindings
            .iter()
            .filter(|b| b["direction"] == "in")
            .collect();
        let outs: Vec<_> = self
            .bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .collect();
        ins.len() == 1
            && ins[0]["type"] == "httpTrigger"
            && outs.len() == 1
            && outs[0]["type"] == "http"
    }
}

/// host.json plus every function.json under the app root.
#[derive(Debug, Clone)]
pub(crate) struct AppManifest {
    pub root: PathBuf,
    pub host: Value,
    pub functions: Vec<FunctionManifest>,
}

impl AppManifest {
    pub(crate) fn load(root: &Path) -> Self {
        let host: Value =
            serde_json::from_slice(&std::fs::read(root.join("host.json")).expect("host.json"))
                .expect("host.json is JSON");
        let mut functions = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let manifest = path.join("function.json");
            if path.is_dir() && manifest.exists() {
                let json: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
                functions.push(FunctionManifest {
                    name: path.file_name().unwrap().to_string_lossy().into_owned(),
                    bindings: json["bindings"].as_array().cloned().unwrap_or_default(),
                });
            }
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            root: root.to_owned(),
            host,
            functions,
        }
    }

    pub(crate) fn repo() -> Self {
        Self::load(Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    pub(crate) fn route_prefix(&self) -> String {
        self.host["extensions"]["http"]["routePrefix"]
            .as_str()
            .unwrap_or("api")
            .to_owned()
    }

    pub(crate) fn function(&self, name: &str) -> &FunctionManifest {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    /// The HTTP function serving `method` on public `path`, as the host routes.
    fn http_function(&self, method: &str, path: &str) -> Option<&FunctionManifest> {
        let prefix = format!("/{}/", self.route_prefix());
        let route = path.strip_prefix(&prefix)?;
        self.functions.iter().find(|f| {
            let trigger = f.trigger();
            trigger["type"] == "httpTrigger"
                && trigger["route"].as_str().unwrap_or(&f.name) == route
                && trigger["methods"].as_array().is_none_or(|methods| {
                    methods
                        .iter()
                        .any(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case(method)))
                })
        })
    }
}

pub(crate) struct HostResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The `X-Azure-Functions-InvocationId` the host sent (empty when the
    /// host answered itself).
    pub invocation_id: String,
}

impl HostResponse {
    /// The host's own refusal (no function, no key): no body.
    fn from_host(status: u16) -> Self {
        HostResponse {
            status,
            headers: Default::default(),
            body: Value::Null,
            invocation_id: String::new(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) enum Key {
    Query,
    Header,
    None,
}

pub(crate) struct FunctionsHost {
    pub manifest: AppManifest,
    child: Child,
    port: u16,
    http: reqwest::Client,
    logs: Arc<Mutex<Vec<String>>>,
    /// As deployed on Linux: the front end's host (`DISGUISED-HOST`), which
    /// the host puts in `Host`, and `X-Forwarded-Proto: https`. `None`:
    /// Core Tools on loopback, `Host: 127.0.0.1:<port>`.
    public_host: Option<String>,
}

impl FunctionsHost {
    /// Starts the handler as the host would, with the app settings `env`.
    pub(crate) async fn start(env: &HashMap<String, String>) -> Self {
        let manifest = AppManifest::repo();
        let description = &manifest.host["customHandler"]["description"];
        assert_eq!(
            description["defaultExecutablePath"], "pool-resizer",
            "host.json must start our binary"
        );
        let arguments: Vec<String> = description["arguments"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(
            manifest.host["customHandler"]["enableForwardingHttpRequest"],
            true
        );

        // Like the host, pick a free port and hand it to the handler. The
        // port is free only when picked: another test may bind it first, so
        // a handler that could not listen is started again on another one.
        for attempt in 1.. {
            let mut host = Self::spawn(manifest.clone(), &arguments, env);
            match host.wait_ready().await {
                Ready::Listening => return host,
                Ready::PortTaken if attempt < 5 => continue,
                Ready::PortTaken | Ready::Exited => panic!(
                    "the handler exited before it was ready; logs:\n{}",
                    host.logs().join("\n")
                ),
            }
        }
        unreachable!()
    }

    /// Starts the handler with settings it must refuse: waits for it to
    /// exit and returns its exit code and everything it wrote.
    pub(crate) async fn start_expecting_exit(
        env: &HashMap<String, String>,
    ) -> (Option<i32>, String) {
        let manifest = AppManifest::repo();
        let arguments: Vec<String> = manifest.host["customHandler"]["description"]["arguments"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let mut host = Self::spawn(manifest, &arguments, env);
        let code = host.wait_exit().await;
        // Let the readers catch its last lines.
        tokio::time::sleep(Duration::from_millis(200)).await;
        (code, host.logs().join("\n"))
    }

    fn spawn(manifest: AppManifest, arguments: &[String], env: &HashMap<String, String>) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pool-resizer"));
        command
            .args(arguments)
            .current_dir(&manifest.root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env(
                "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
                uuid::Uuid::new_v4().to_string(),
            )
            .env("FUNCTIONS_APP_ROOT_PATH", &manifest.root)
            .env("RUST_LOG", "info")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the handler");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for (stream, tag) in [
            (
                Box::new(child.stdout.take().unwrap())
                    as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                "stdout",
            ),
            (Box::new(child.stderr.take().unwrap()), "stderr"),
        ] {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(format!("[{tag}] {line}"));
                }
            });
        }
        Self {
            manifest,
            child,
            port,
            http: plain_client(),
            logs,
            public_host: env.get("WEBSITE_HOSTNAME").cloned(),
        }
    }

    /// The host's readiness loop (any HTTP answer on `/` means ready), and
    /// the handler's own word that it listens: an answer alone could come
    /// from another test's process that took the port first.
    async fn wait_ready(&mut self) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut exited = false;
        loop {
            let logs = self.logs();
            if logs.iter().any(|l| l.contains("cannot listen on")) {
                return Ready::PortTaken;
            }
            if logs
                .iter()
                .any(|l| l.contains("pool-resizer handler listening"))
                && self.http.get(self.url("/")).send().await.is_ok()
            {
                return Ready::Listening;
            }
            if exited {
                // Its last lines were read by now: they said nothing of the port.
                return Ready::Exited;
            }
            exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited {
                // Let the readers catch its last lines before judging why.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "handler not ready in 30 s; logs:\n{}",
                logs.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path_and_query)
    }

    /// A public request, e.g. `("POST", "/api/scale-up?poolId=p", Some(body))`.
    pub(crate) async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        key: Key,
    ) -> HostResponse {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let Some(function) = self.manifest.http_function(method, path) else {
            return HostResponse::from_host(404);
        };
        let level = function.trigger()["authLevel"]
            .as_str()
            .unwrap_or("function");
        let mut query = query.to_owned();
        let mut extra_key_header = None;
        // The host takes the key from `?code=` as readily as from the header.
        let query_key = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned());
        match (key, query_key) {
            (Key::None, Some(given)) if level != "anonymous" && given != FUNCTION_KEY => {
                return HostResponse::from_host(401);
            }
            (Key::None, Some(_)) => {}
            (key, _) => match key {
                Key::Query => {
                    if !query.is_empty() {
                        query.push('&');
                    }
                    query.push_str(&format!("code={FUNCTION_KEY}"));
                }
                Key::Header => extra_key_header = Some(FUNCTION_KEY),
                Key::None if level != "anonymous" => {
                    return HostResponse::from_host(401);
                }
                Key::None => {}
            },
        }
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        // The host forwards every header, Host included; on Linux it has set
        // Host from DISGUISED-HOST and passes the front end's scheme on.
        let host_header = self
            .public_host
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.port));
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(&target))
            .header("Host", host_header);
        if self.public_host.is_some() {
            request = request.header("X-Forwarded-Proto", "https");
        }
        let mut request = request
            .header("X-Azure-Functions-HostVersion", HOST_VERSION)
            .header("X-Azure-Functions-InvocationId", &invocation_id)
            .header(
                "User-Agent",
                format!("curl/8.5.0 Azure-Functions-Host/{HOST_VERSION}"),
            );
        if let Some(key) = extra_key_header {
            request = request.header("x-functions-key", key);
        }
        if let Some(body) = body.filter(|b| !b.is_empty()) {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.expect("handler answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "handler answered non-JSON ({status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        if path != "/" {
            super::schema::assert_answer(&body);
        }
        HostResponse {
            status,
            headers,
            body,
            invocation_id,
        }
    }

    /// One `POST` and its first answer, a 202 left unfollowed. Scenarios
    /// call [`TestApp::scale_up`](super::app::TestApp::scale_up) and
    /// friends, which follow a 202 to the final answer as ADF does; this is
    /// for what they cannot say: the first answer itself (a 202, a refusal
    /// before any wait), routes beside scale-up/down, many callers at once,
    /// a request cut by a signal mid-wait.
    pub(crate) async fn post(&self, path_and_query: &str, body: &str) -> HostResponse {
        self.request("POST", path_and_query, Some(body), Key::Query)
            .await
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> HostResponse {
        self.request("GET", path_and_query, None, Key::Query).await
    }

    /// Follows a `Location` URL as ADF's poller does: a GET of exactly that
    /// URL, re-sending no header (no key header either), so the URL must
    /// authenticate on its own. Its host must be the one the app is served as.
    pub(crate) async fn follow(&self, location: &str) -> HostResponse {
        let (authority, path) = location
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|r| r.find('/').map(|i| (&r[..i], &r[i..])))
            .expect("absolute URL");
        let expected = self
            .public_host
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.port));
        assert_eq!(
            authority, expected,
            "Location names the app's own host: {location}"
        );
        self.request("GET", path, None, Key::None).await
    }

    /// Follows 202 + `Location` the way an ADF Web activity does, until the
    /// answer is final; checks every 202 carries `Location`, `Retry-After`
    /// and the same URL in its body.
    pub(crate) async fn until_final(&self, first: HostResponse) -> HostResponse {
        let mut response = first;
        let deadline = Instant::now() + Duration::from_secs(30);
        while response.status == 202 {
            let location = response
                .header("location")
                .expect("202 carries Location")
                .to_owned();
            assert_eq!(
                response.body["statusUrl"],
                location.as_str(),
                "body carries the same URL"
            );
            assert!(
                response.header("retry-after").is_some(),
                "202 carries Retry-After"
            );
            assert!(
                Instant::now() < deadline,
                "still 202 after 30 s: {}",
                response.body
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
            response = self.follow(&location).await;
        }
        response
    }

    /// Scale-up with `body`, followed to its final answer as ADF does.
    pub(crate) async fn scale_up(&self, body: &str) -> HostResponse {
        let first = self.post("/api/scale-up", body).await;
        self.until_final(first).await
    }

    /// Scale-down with `body`, followed to its final answer as ADF does.
    pub(crate) async fn scale_down(&self, body: &str) -> HostResponse {
        let first = self.post("/api/scale-down", body).await;
        self.until_final(first).await
    }

    /// `GET /api/pool-status?poolId=<pool>`: a plain look, which never acts.
    pub(crate) async fn pool_status(&self, pool: &str) -> HostResponse {
        self.get(&format!("/api/pool-status?poolId={pool}")).await
    }

    /// A timer function firing on schedule: not past due, no monitor
    /// status. Returns the status and the invocation's JSON answer.
    pub(crate) async fn fire(&self, function_name: &str) -> (u16, Value) {
        let (status, _, answer) = self
            .invoke(function_name, &timer_payload(function_name, false, None))
            .await;
        (status, answer)
    }

    /// A non-HTTP invocation: `POST /<FunctionName>` with `Data` and `Metadata`.
    pub(crate) async fn invoke(
        &self,
        function_name: &str,
        payload: &Value,
    ) -> (u16, Option<String>, Value) {
        let function = self.manifest.function(function_name);
        assert!(
            !function.is_forwarded_http(),
            "{function_name} is forwarded HTTP, not an invocation"
        );
        let (status, content_type, bytes) = self
            .invoke_raw(function_name, &serde_json::to_vec(payload).unwrap())
            .await;
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Everything the handler wrote, `[stdout] ...` / `[stderr] ...` per line.
    pub(crate) fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the handler writes a line `matches`, waiting for it a little:
    /// its stdout and stderr are read by tasks of their own, so a line
    /// written just before an answer may reach us just after it.
    pub(crate) async fn logged(&self, matches: impl Fn(&str) -> bool) -> bool {
        let logs = self
            .logs_once(|logs| logs.iter().any(|line| matches(line)))
            .await;
        logs.iter().any(|line| matches(line))
    }

    /// The handler's lines once `done` holds of them (or after a few
    /// seconds, for the assertion that follows to say what is missing).
    pub(crate) async fn logs_once(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..500 {
            let logs = self.logs();
            if done(&logs) {
                return logs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.logs()
    }

    /// SIGTERM, as the host does on shutdown; returns the exit code.
    pub(crate) async fn terminate(&mut self) -> Option<i32> {
        self.sigterm();
        self.wait_exit().await
    }

    /// SIGKILL: what a crashed or recycled worker looks like.
    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM without waiting: for what happens while the handler stops.
    pub(crate) fn sigterm(&self) {
        let pid = self.child.id().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
    }

    /// Waits (20 s at most) for the handler to exit; returns the exit code.
    pub(crate) async fn wait_exit(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits")
            .unwrap();
        status.code()
    }
}

/// reqwest with only `rustls-no-provider` needs a process-wide provider
/// even for plain HTTP; tests use ring, like the production client.
pub(crate) fn plain_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// How a handler start ended.
enum Ready {
    Listening,
    /// Another process bound the port between our pick and the handler's.
    PortTaken,
    Exited,
}

/// A port free now (bound, then let go).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// Timer invocations (timers.rs).
impl FunctionsHost {
    /// `POST /<FunctionName>` with any bytes, as the host posts an
    /// invocation: for malformed payloads.
    pub(crate) async fn invoke_raw(
        &self,
        function_name: &str,
        body: &[u8],
    ) -> (u16, Option<String>, Vec<u8>) {
        let response = self
            .http
            .post(self.url(&format!("/{function_name}")))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("X-Azure-Functions-HostVersion", HOST_VERSION)
            .header(
                "X-Azure-Functions-InvocationId",
                uuid::Uuid::new_v4().to_string(),
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("handler answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            status,
            content_type,
            response.bytes().await.unwrap().to_vec(),
        )
    }
}

/// A timer invocation as the host sends it (binding `timer`): `Data.timer` is
/// the serialised `TimerInfo`, `Metadata.sys` the system binding data.
/// `schedule_status: None` sends `null`, as with `useMonitor: false`.
pub(crate) fn timer_payload(
    function_name: &str,
    is_past_due: bool,
    schedule_status: Option<(&str, &str)>,
) -> Value {
    let status = match schedule_status {
        Some((last, next)) => serde_json::json!({"Last": last, "Next": next, "LastUpdated": last}),
        None => Value::Null,
    };
    serde_json::json!({
        "Data": { "timer": {
            "Schedule": { "AdjustForDST": true },
            "ScheduleStatus": status,
            "IsPastDue": is_past_due,
        } },
        "Metadata": { "sys": {
            "MethodName": function_name,
            "UtcNow": "2025-03-03T06:00:00.0123456Z",
            "RandGuid": uuid::Uuid::new_v4().to_string(),
        } },
    })
}
