//! The HTTPS client under the Batch pipeline and the telemetry export, and
//! the certificates it trusts.
//!
//! We build our own `reqwest` client instead of taking azure_core's default so
//! that (1) TLS is rustls with the `ring` provider (no C toolchain, static musl
//! builds work), (2) the roots are Mozilla's bundle compiled in (the Functions
//! Linux image and a scratch container alike), plus (3) any extra CAs from
//! `BATCH_CA_FILE`: the local simulator's, or a TLS-inspecting corporate proxy's.
//! Certificate checks are never turned off.

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, pem::PemObject};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read the CA file {path}: {source}")]
    ReadCaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {path} holds no PEM certificate")]
    NoCertificates { path: PathBuf },
    #[error("the CA file {path} holds a certificate rustls refuses: {source}")]
    BadCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot build the HTTPS client: {0}")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Reads every PEM certificate in `path`; a file with none is an error, since
/// a CA file that trusts nothing is surely a mistake.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let bytes = std::fs::read(path).map_err(|source| TransportError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certificates.is_empty() {
        return Err(TransportError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// An HTTPS client trusting the public roots plus `extra_roots`.
pub(crate) fn https_client(
    extra_roots: &[CertificateDer<'static>],
    extra_roots_origin: Option<&Path>,
) -> Result<reqwest::Client, TransportError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for certificate in extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|source| TransportError::BadCertificate {
                path: extra_roots_origin.map(Path::to_owned).unwrap_or_default(),
                source,
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Build(e.into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| TransportError::Build(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        assert!(matches!(
            read_ca_file(&path),
            Err(TransportError::NoCertificates { .. })
        ));
        assert!(matches!(
            read_ca_file(&dir.join("missing.pem")),
            Err(TransportError::ReadCaFile { .. })
        ));
    }

    #[test]
    fn builds_with_public_roots_only() {
        https_client(&[], None).unwrap();
    }
}
