//! TLS: a certificate authority and a leaf certificate for the loopback names.
//!
//! Each start signs a leaf for `127.0.0.1`, `::1` and `localhost` with a CA
//! ("pool-resizer simulator CA"): a fresh one, or the one given
//! ([`crate::SimulatorConfig::ca`]), so a CA file a client was given earlier
//! keeps working across restarts (`pool-resizer dev` keeps its CA that way).
//! Either CA may vouch for the loopback names only (name constraints), so a
//! CA file added to the wrong trust store, or a CA key read off a disk,
//! cannot impersonate any other host. Clients trust the CA (written with
//! `--ca-file`, or `Simulator::ca_pem`); they never need to turn certificate
//! verification off. Only the `ring` provider is used.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::errors::SimulatorError;

/// A CA to sign the simulator's certificate with: its certificate (what
/// clients trust) and its private key, both PEM.
#[derive(Clone)]
pub struct CaPair {
    /// The CA certificate, PEM: what a client's CA file holds.
    pub cert_pem: String,
    /// The CA's private key, PKCS#8 PEM. Keep it readable by its owner only.
    pub key_pem: String,
}

impl std::fmt::Debug for CaPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPair").finish_non_exhaustive()
    }
}

impl CaPair {
    /// A new CA, valid for the loopback names only.
    pub fn generate() -> Result<Self, SimulatorError> {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(CaPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A CA kept from earlier, checked: the key parses, and the certificate
    /// is one PEM certificate that carries the key's public half.
    pub fn from_pem(cert_pem: String, key_pem: String) -> Result<Self, SimulatorError> {
        let key = KeyPair::from_pem(&key_pem)?;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| SimulatorError::Config(format!("the CA certificate: {e}")))?;
        let public = key.public_key_raw();
        if !cert.windows(public.len()).any(|w| w == public) {
            return Err(SimulatorError::Config(
                "the CA certificate is not the CA key's".into(),
            ));
        }
        Ok(CaPair { cert_pem, key_pem })
    }
}

/// The CA's parameters: the same every time, so a leaf signed with a CA key
/// kept from earlier names the issuer its certificate names.
fn ca_params() -> Result<CertificateParams, SimulatorError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "pool-resizer simulator CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 0], [255, 0, 0, 0])),
            GeneralSubtree::IpAddress(CidrSubnet::V6(
                std::net::Ipv6Addr::LOCALHOST.octets(),
                [0xff; 16],
            )),
        ],
        excluded_subtrees: Vec::new(),
    });
    Ok(params)
}

/// The generated material.
pub(crate) struct Certs {
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

/// Sign a leaf with `ca` (a fresh CA when `None`) and build a rustls server
/// config (HTTP/1.1 via ALPN).
pub(crate) fn generate(ca: Option<&CaPair>) -> Result<Certs, SimulatorError> {
    let ca = match ca {
        Some(ca) => ca.clone(),
        None => CaPair::generate()?,
    };
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())
        .map_err(|e| SimulatorError::Config(format!("the CA certificate: {e}")))?;
    let issuer = Issuer::new(ca_params()?, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = dn;
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

    let chain = vec![CertificateDer::from(leaf.der().to_vec()), ca_der];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Certs {
        ca_pem: ca.cert_pem,
        server_config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_ca_is_checked_against_its_key() {
        let ca = CaPair::generate().unwrap();
        let kept = CaPair::from_pem(ca.cert_pem.clone(), ca.key_pem.clone()).unwrap();
        assert!(generate(Some(&kept)).unwrap().ca_pem == ca.cert_pem);
        let other = CaPair::generate().unwrap();
        assert!(CaPair::from_pem(ca.cert_pem.clone(), other.key_pem).is_err());
        assert!(CaPair::from_pem("not a certificate".into(), ca.key_pem).is_err());
    }
}
