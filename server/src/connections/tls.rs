//! The gRPC port's TLS: the acceptor built from `--tls-cert`, `--tls-key` and, for mutual TLS,
//! `--tls-client-ca`, offering HTTP/2 by ALPN as gRPC requires. The handshake itself runs in
//! the connection's task, under its handshake deadline ([`super::serve`]).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

use crate::config::Config;
use crate::error::{Error, Result};

/// The acceptor for `config`'s TLS flags; `None` without `--tls-cert`.
pub fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let unusable = |err: &dyn std::fmt::Display| {
        Error::Internal(format!("the TLS configuration is unusable: {err}"))
    };
    let chain = certificates(&read(cert, "TLS certificate (--tls-cert)")?)
        .map_err(|err| unusable(&format!("--tls-cert: {err}")))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key, "TLS key (--tls-key)")?)
        .map_err(|err| unusable(&format!("--tls-key holds no usable private key ({err})")))?;
    let builder = ServerConfig::builder();
    let builder = match &config.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let cas = certificates(&read(ca, "client CA (--tls-client-ca)")?)
                .map_err(|err| unusable(&format!("--tls-client-ca: {err}")))?;
            roots.add_parsable_certificates(cas);
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|err| unusable(&format!("--tls-client-ca: {err}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut tls = builder
        .with_single_cert(chain, key)
        .map_err(|err| unusable(&err))?;
    tls.alpn_protocols.push(b"h2".to_vec());
    tracing::info!(mutual = config.tls_client_ca.is_some(), "TLS on");
    Ok(Some(TlsAcceptor::from(Arc::new(tls))))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|err| Error::Internal(format!("cannot read the {what} {}: {err}", path.display())))
}

/// The PEM certificates of `pem`: at least one, all well-formed.
pub(crate) fn certificates(
    pem: &[u8],
) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|err| format!("not PEM certificates ({err})"))?;
    if chain.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(chain)
}
