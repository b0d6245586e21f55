//! `sqlited healthcheck`: asks a running server over gRPC health checking whether it serves,
//! for container health checks and scripts — over TLS too (`https://` addresses), with a
//! client certificate when the server requires one, or over a Unix socket (`unix:PATH`).
//! The server-wide entries need no token; with auth on, the entry of one database needs a
//! token with a role on it.

use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How to reach a server that serves TLS.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// The CA (PEM) that signed the server's certificate; `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// A client certificate and key (PEM), for servers that require one (mutual TLS).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The name the server's certificate must carry, when not the address's host.
    pub domain: Option<String>,
}

impl Tls {
    fn config(&self) -> Result<ClientTlsConfig, String> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
        };
        let mut tls = ClientTlsConfig::new();
        tls = match &self.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        if let Some(domain) = &self.domain {
            tls = tls.domain_name(domain.clone());
        }
        Ok(tls)
    }
}

/// Checks `service` ("" for the whole server) at `addr`, sending `token` if given;
/// `Ok(true)` when it is SERVING.
///
/// # Errors
/// A message saying why the server could not be asked.
pub async fn check(
    addr: &str,
    service: &str,
    timeout: Duration,
    tls: &Tls,
    token: Option<&str>,
) -> Result<bool, String> {
    // No scheme: plaintext, as everywhere a URL is taken; `unix:PATH` is a Unix socket.
    let addr = &*if addr.contains("://") || addr.starts_with("unix:") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let ask = async {
        let mut endpoint = tonic::transport::Endpoint::from_shared(addr.to_string())
            .map_err(|err| format!("invalid address {addr:?}: {err}"))?;
        if addr.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls.config()?)
                .map_err(|err| format!("unusable TLS settings: {err}"))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|err| format!("cannot reach {addr}: {err}"))?;
        let mut client = HealthClient::new(channel);
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.to_string(),
        });
        if let Some(token) = token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| "the token is not a valid header value".to_string())?;
            request.metadata_mut().insert("authorization", value);
        }
        let response = client.check(request).await.map_err(|status| {
            format!("{addr} answered {:?}: {}", status.code(), status.message())
        })?;
        let status = response.into_inner().status;
        println!(
            "{}",
            ServingStatus::try_from(status)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN")
        );
        Ok(status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| format!("{addr} did not answer within {} ms", timeout.as_millis()))?
}
