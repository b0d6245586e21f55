//! The server's ports, bound before anything else starts (a port in use fails before any
//! database opens), and what is said about them once the server serves: the warnings for
//! an exposed port and one machine-readable line each on stdout.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::{Config, WorkerMode};
use crate::error::{Error, Result};
use crate::listener::{Listen, Listener};

/// Every port the server serves.
pub struct Listeners {
    /// `--listen`: gRPC, over TCP or a Unix socket.
    pub grpc: Listener,
    /// `--http-listen`: the HTTP/JSON gateway.
    pub http: Option<TcpListener>,
    /// `--metrics-listen`: `/metrics`.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds the ports `config` names.
    ///
    /// # Errors
    /// A port that cannot be bound, or TLS asked for on a Unix socket.
    pub async fn bind(config: &Config) -> Result<Self> {
        if matches!(config.listen, Listen::Unix(_)) && config.tls_cert.is_some() {
            return Err(Error::FailedPrecondition(format!(
                "--tls-cert with --listen {}: a Unix socket is reached only on this host, \
                 through its file's permissions (--unix-socket-mode), and serves plaintext; \
                 drop the TLS flags or listen on TCP",
                config.listen
            )));
        }
        let grpc = Listener::bind(&config.listen, config.unix_socket_mode)
            .await
            .map_err(Error::FailedPrecondition)?;
        let http = match config.http_listen {
            Some(addr) => Some(bind(addr, "HTTP").await?),
            None => None,
        };
        let metrics = match config.metrics_listen {
            Some(addr) => Some(bind(addr, "metrics").await?),
            None => None,
        };
        Ok(Self {
            grpc,
            http,
            metrics,
        })
    }
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Internal(format!("cannot listen for {what} on {addr}: {err}")))
}

/// The address a TCP listener is bound to (the OS's choice for port 0).
pub fn bound(listener: &TcpListener, asked: Option<SocketAddr>) -> Option<SocketAddr> {
    listener.local_addr().ok().or(asked)
}

/// Loud warnings, said once at start, for a port anyone on the network can use to reach
/// every database, and for flags that do nothing in this configuration.
pub fn warn(config: &Config, grpc: &Listen, http: Option<SocketAddr>) {
    if let Listen::Tcp(addr) = grpc
        && !addr.ip().is_loopback()
        && config.credentials.is_none()
        && config.tls_cert.is_none()
    {
        loud(&format!(
            "WARNING: sqlited listens on {addr} with neither authentication (--credentials) nor TLS \
             (--tls-cert): anyone who can reach this address can read and change every database"
        ));
    }
    if let Some(bound) = http
        && !bound.ip().is_loopback()
    {
        if config.credentials.is_none() {
            loud(&format!(
                "WARNING: the HTTP gateway listens on {bound} without authentication \
                 (--credentials): anyone who can reach it can read and change every database"
            ));
        }
        tracing::warn!(%bound, "the HTTP gateway serves plain HTTP (no TLS): tokens cross the \
            network in clear text unless a TLS-terminating proxy is in front of it");
    }
    if config.worker_memory_limit > 0 && config.workers == WorkerMode::Threads {
        tracing::warn!(
            "--worker-memory-limit caps worker processes only; with --workers threads it is \
             ignored (add --workers processes to cap each connection's memory)"
        );
    }
}

/// In the log and on stderr, for a person starting the server by hand.
fn loud(warning: &str) {
    tracing::warn!("{warning}");
    eprintln!("{warning}");
}

/// Everything is loaded and checked: says where the server serves. One machine-readable line
/// per listener on stdout, so scripts and tests learn a port chosen by the OS — and know it is
/// ready.
pub fn announce(
    grpc: &Listen,
    config: &Config,
    metrics: Option<SocketAddr>,
    http: Option<SocketAddr>,
) {
    use std::io::Write;
    tracing::info!(addr = %grpc, data_dir = %config.data_dir.display(), "sqlited listening");
    if let Some(bound) = http {
        tracing::info!(%bound, "HTTP/JSON gateway at /v1 (OpenAPI: /v1/openapi.json)");
    }
    if let Some(bound) = metrics {
        tracing::info!(%bound, "metrics at /metrics");
    }
    println!("sqlited listening on {grpc}");
    if let Some(bound) = metrics {
        println!("sqlited metrics on {bound}");
    }
    if let Some(bound) = http {
        println!("sqlited http on {bound}");
    }
    let _ = std::io::stdout().flush();
}
