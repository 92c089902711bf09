//! TCP listeners: TLS with client certificates, as dockerd's `--tlsverify` (berthd refuses TCP
//! without it: a plain TCP Docker API is root for anyone who can reach the port).
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `--tlscacert`, `--tlscert`, `--tlskey`.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub verify: bool,
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

fn certs(p: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let v: Vec<_> = CertificateDer::pem_file_iter(p)
        .with_context(|| format!("read {}", p.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not PEM certificates", p.display()))?;
    if v.is_empty() {
        bail!("{}: no certificate in it", p.display());
    }
    Ok(v)
}

/// The acceptor for `tcp://` listeners: the server's certificate and key, and client
/// certificates required and checked against the CA.
pub fn acceptor(f: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let (Some(ca), Some(cert), Some(key), true) = (&f.ca, &f.cert, &f.key, f.verify) else {
        bail!("a tcp:// listener needs TLS with client certificates (--tlsverify, --tlscacert, --tlscert, --tlskey): without them anyone reaching the port is root on this host");
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        roots
            .add(c)
            .with_context(|| format!("{}: bad CA certificate", ca.display()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .context("client certificate verifier")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: no PEM private key", key.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key)
        .context("server certificate and key")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
