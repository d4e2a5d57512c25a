//! A tiny Batch client over real HTTPS (reqwest + rustls/ring trusting the
//! simulator's CA) with its *own* Shared Key signer, so tests do not reuse the
//! simulator's verification code to produce signatures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use batch_simulator::{Simulator, SimulatorConfig, start};
use hmac::{Hmac, Mac};
use reqwest::Method;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use sha2::Sha256;

pub(crate) struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub(crate) fn header(&self, n: &str) -> Option<String> {
        self.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub(crate) fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }
}

pub(crate) enum Auth {
    Key,
    WrongKey,
    None,
    Bearer(String),
}

pub(crate) struct Client {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub account: String,
    pub key: Vec<u8>,
}

pub(crate) fn http_client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("pem")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .build()
        .expect("client")
}

pub(crate) async fn sim(scale: f64, pools: &[&str]) -> (Simulator, Client) {
    sim_with(SimulatorConfig {
        time_scale: scale,
        pools: pools.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await
}

pub(crate) async fn sim_with(cfg: SimulatorConfig) -> (Simulator, Client) {
    let s = start(cfg).await.expect("start");
    let c = Client::for_simulator(&s);
    (s, c)
}

fn rfc1123_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    const D: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        D[t.weekday().number_days_from_monday() as usize],
        t.day(),
        M[u8::from(t.month()) as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Independent Shared Key signer (Python SDK rules).
fn sign(
    key: &[u8],
    account: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
) -> String {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut s = format!("{method}\n");
    for h in [
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    ] {
        s.push_str(&get(h));
        s.push('\n');
    }
    let mut ocp: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("ocp-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    ocp.sort();
    for (k, v) in ocp {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&format!("/{account}{path}"));
    let mut q: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    q.sort();
    for (k, v) in q {
        s.push_str(&format!("\n{k}:{v}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac");
    mac.update(s.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

impl Client {
    /// Signs with `sim`'s account key and trusts its CA.
    pub(crate) fn for_simulator(sim: &Simulator) -> Self {
        let info = sim.ready_info();
        Client {
            http: http_client(sim.ca_pem()),
            endpoint: info.endpoint.clone(),
            account: info.account.clone(),
            key: STANDARD.decode(&info.key).expect("key"),
        }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.endpoint, path_and_query)
    }

    /// `path_and_query` without api-version; it is appended unless `raw` is set.
    pub(crate) async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path_and_query, body, &[], Auth::Key)
            .await
    }

    pub(crate) async fn call_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
        auth: Auth,
    ) -> Resp {
        let pq =
            if path_and_query.contains("api-version=") || path_and_query.contains("noapiversion") {
                path_and_query.replace("noapiversion", "")
            } else if path_and_query.contains('?') {
                format!("{path_and_query}&api-version=2025-06-01")
            } else {
                format!("{path_and_query}?api-version=2025-06-01")
            };
        let (path, query) = pq.split_once('?').unwrap_or((pq.as_str(), ""));
        let body_bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers: Vec<(String, String)> = vec![("ocp-date".into(), rfc1123_now())];
        if method != "GET" && method != "HEAD" && method != "DELETE" || !body_bytes.is_empty() {
            headers.push((
                "content-type".into(),
                "application/json; odata=minimalmetadata".into(),
            ));
            headers.push(("content-length".into(), body_bytes.len().to_string()));
        }
        for (k, v) in extra {
            headers.push((k.to_string(), v.to_string()));
        }
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(m, self.url(&pq));
        for (k, v) in &headers {
            if k != "content-length" {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        match auth {
            Auth::Key => {
                let sig = sign(&self.key, &self.account, method, path, query, &headers);
                rb = rb.header("authorization", format!("SharedKey {}:{sig}", self.account));
            }
            Auth::WrongKey => {
                let sig = sign(b"not the key", &self.account, method, path, query, &headers);
                rb = rb.header("authorization", format!("SharedKey {}:{sig}", self.account));
            }
            Auth::None => {}
            Auth::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
        }
        if !body_bytes.is_empty() || (method != "GET" && method != "HEAD" && method != "DELETE") {
            rb = rb.body(body_bytes);
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// `POST /pools/{pool}/resize` with `body`.
    pub(crate) async fn resize(&self, pool: &str, body: Value) -> Resp {
        self.call("POST", &format!("/pools/{pool}/resize"), Some(body))
            .await
    }

    /// `POST /jobs`: job `job` on `pool`.
    pub(crate) async fn add_job(&self, job: &str, pool: &str) -> Resp {
        let body = serde_json::json!({"id": job, "poolInfo": {"poolId": pool}});
        self.call("POST", "/jobs", Some(body)).await
    }

    /// `POST /jobs/{job}/tasks`: task `task` running `command_line`.
    pub(crate) async fn add_task(&self, job: &str, task: &str, command_line: &str) -> Resp {
        let body = serde_json::json!({"id": task, "commandLine": command_line});
        self.call("POST", &format!("/jobs/{job}/tasks"), Some(body))
            .await
    }

    pub(crate) async fn pool(&self, id: &str) -> Value {
        let r = self.call("GET", &format!("/pools/{id}"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body
    }

    pub(crate) async fn nodes(&self, id: &str) -> Vec<Value> {
        let r = self.call("GET", &format!("/pools/{id}/nodes"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["value"].as_array().cloned().unwrap_or_default()
    }

    pub(crate) async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, self.url(&format!("/_simulator{path}")));
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = rb.send().await.expect("send");
        serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null)
    }

    pub(crate) async fn create_pool(&self, id: &str, extra: Value) {
        let mut body = serde_json::json!({
            "id": id,
            "vmSize": "Standard_A1_v2",
            "virtualMachineConfiguration": {
                "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts", "version": "latest"},
                "nodeAgentSKUId": "batch.node.ubuntu 22.04"
            },
            "startTask": {"commandLine": "/bin/bash -c \"sleep 30\"", "waitForSuccess": true},
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.call("POST", "/pools", Some(body)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    /// Poll until `pred(pool)` holds (bounded).
    pub(crate) async fn wait_pool(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(what, || self.pool(id), pred).await
    }

    pub(crate) async fn wait_nodes(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        wait_until(what, || self.nodes(id), |n: &Vec<Value>| pred(n)).await
    }
}

/// Looks every 20 ms until what it sees satisfies `pred` (10 s at most).
async fn wait_until<T: serde::Serialize, F: Future<Output = T>>(
    what: &str,
    look: impl Fn() -> F,
    pred: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = look().await;
        if pred(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            serde_json::to_string(&seen).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn steady(p: &Value) -> bool {
    p["allocationState"] == "steady"
}

pub(crate) fn all_in(nodes: &[Value], state: &str, n: usize) -> bool {
    nodes.len() == n && nodes.iter().all(|x| x["state"] == state)
}
