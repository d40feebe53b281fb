//! A throwaway CA and server certificate, and the HTTPS accept loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Issues a CA and a leaf for localhost, 127.0.0.1 and `public_host`; writes the CA to
/// `cert_dir/cert.pem`. A separate CA because webpki refuses a leaf as its own trust anchor.
pub fn server_config(public_host: &str, cert_dir: &Path) -> anyhow::Result<(Arc<rustls::ServerConfig>, PathBuf)> {
    let (ca, ca_key, ca_path) = load_or_create_ca(cert_dir)?;

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !names.iter().any(|n| n == public_host) {
        names.push(public_host.to_owned());
    }
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(names).context("certificate names")?;
    leaf_params.distinguished_name.push(DnType::CommonName, public_host);
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

    // ring explicitly: the workspace also links aws-lc-rs, so there is no unambiguous default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), ca_path))
}

/// The sandbox CA: reused from `cert_dir` when it holds one (so a trust store made once, for
/// instance the local stack's, keeps working across sandbox restarts), else created there.
pub fn load_or_create_ca(cert_dir: &Path) -> anyhow::Result<(rcgen::Certificate, KeyPair, PathBuf)> {
    std::fs::create_dir_all(cert_dir).with_context(|| format!("creating {}", cert_dir.display()))?;
    let ca_path = cert_dir.join("cert.pem");
    let key_path = cert_dir.join("ca-key.pem");
    let existing = match (std::fs::read_to_string(&key_path), ca_path.exists()) {
        (Ok(pem), true) => Some(KeyPair::from_pem(&pem).context("reading the sandbox CA key")?),
        _ => None,
    };
    let fresh = existing.is_none();
    let ca_key = match existing {
        Some(k) => k,
        None => KeyPair::generate()?,
    };
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "zoom-sandbox local CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Same name and key as the trusted cert.pem, so leaves it signs chain to it.
    let ca = ca_params.self_signed(&ca_key)?;
    if fresh {
        std::fs::write(&key_path, ca_key.serialize_pem()).with_context(|| format!("writing {}", key_path.display()))?;
        std::fs::write(&ca_path, ca.pem()).with_context(|| format!("writing {}", ca_path.display()))?;
    }
    Ok((ca, ca_key, ca_path))
}

/// Serves until the task is aborted; dropping the JoinSet then aborts open connections.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let (acceptor, app) = (acceptor.clone(), app.clone());
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => return tracing::debug!(error = %e, "TLS handshake failed"),
            };
            let service = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
