//! A loopback HTTPS stand-in of Application Insights' ingestion endpoint
//! (`POST /v2/track`, gzip JSON envelopes), with its own CA for the handler's
//! `TELEMETRY_CA_FILE`. It keeps every envelope it gets; it can also be slow
//! (never answer) or refuse (503), as ingestion does when it is in trouble.

use flate2::read::GzDecoder;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// How the stand-in answers an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 200, every item accepted.
    Accept,
    /// Reads the upload, never answers.
    Hang,
    /// 503, retry later.
    Refuse,
}

pub(crate) struct Ingestion {
    pub port: u16,
    pub ca_file: PathBuf,
    /// Every envelope received, decoded.
    envelopes: Arc<Mutex<Vec<Value>>>,
    /// Every upload's raw JSON text, for looking for secrets.
    raw: Arc<Mutex<Vec<String>>>,
    uploads: Arc<AtomicUsize>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Ingestion {
    pub(crate) async fn start(mode: Mode) -> Ingestion {
        let (ca_pem, config) = certificates();
        let dir = std::env::temp_dir().join(format!("ingestion-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let envelopes = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let uploads = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (envelopes_, raw_, uploads_) = (envelopes.clone(), raw.clone(), uploads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let (envelopes, raw, uploads) =
                    (envelopes_.clone(), raw_.clone(), uploads_.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let (envelopes, raw, uploads) =
                            (envelopes.clone(), raw.clone(), uploads.clone());
                        async move {
                            let text = body_text(request).await;
                            uploads.fetch_add(1, Ordering::SeqCst);
                            let items: Vec<Value> = text
                                .lines()
                                .flat_map(|line| match serde_json::from_str::<Value>(line) {
                                    Ok(Value::Array(items)) => items,
                                    Ok(item) => vec![item],
                                    Err(_) => Vec::new(),
                                })
                                .collect();
                            let n = items.len();
                            raw.lock().unwrap().push(text);
                            match mode {
                                Mode::Accept => envelopes.lock().unwrap().extend(items),
                                Mode::Hang => std::future::pending::<()>().await,
                                Mode::Refuse => {}
                            }
                            let (status, body) = match mode {
                                Mode::Refuse => (503, String::new()),
                                _ => (
                                    200,
                                    format!(
                                        r#"{{"itemsReceived":{n},"itemsAccepted":{n},"errors":[]}}"#
                                    ),
                                ),
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(axum::body::Body::from(body))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ingestion {
            port,
            ca_file,
            envelopes,
            raw,
            uploads,
            _dir: TempDir(dir),
        }
    }

    /// A connection string whose ingestion endpoint is this stand-in.
    pub(crate) fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=https://127.0.0.1:{}/",
            self.port
        )
    }

    pub(crate) fn envelopes(&self) -> Vec<Value> {
        self.envelopes.lock().unwrap().clone()
    }

    /// Every upload's JSON, as sent (after gzip).
    pub(crate) fn raw(&self) -> String {
        self.raw.lock().unwrap().join("\n")
    }

    pub(crate) fn uploads(&self) -> usize {
        self.uploads.load(Ordering::SeqCst)
    }
}

/// The stand-in's instrumentation key: envelopes carry it as `iKey` (that is
/// how ingestion routes them), and nowhere else.
pub(crate) const INSTRUMENTATION_KEY: &str = "00000000-1111-2222-3333-444444444444";

async fn body_text(request: hyper::Request<Incoming>) -> String {
    let gzip = request
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let bytes = axum::body::to_bytes(axum::body::Body::new(request.into_body()), 16 << 20)
        .await
        .unwrap();
    if gzip {
        let mut text = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A CA and a leaf for 127.0.0.1 it signed: the CA's PEM and the server's config.
fn certificates() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ingestion stand-in CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let chain = vec![
        CertificateDer::from(leaf.der().to_vec()),
        CertificateDer::from(ca.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), Arc::new(config))
}
