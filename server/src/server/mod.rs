//! The composition root: [`App::build`] makes the application from a [`Config`] — the data
//! directory's lock, Litestream, the engine, the statements, the services and their routes,
//! the HTTP gateway — and [`App::serve`] serves it on its [`Listeners`] until one shutdown
//! signal, then shuts it down in this order:
//!
//! 1. **Health**: every entry NOT_SERVING, while the ports still answer, so load balancers
//!    and orchestrators stop sending requests here first.
//! 2. **The [`Shutdown`] broadcast**: both ports stop accepting and tell each connection to
//!    go (HTTP/2 GOAWAY: requests already received are answered); every session ends at once
//!    with UNAVAILABLE "the server is shutting down", its transactions rolled back; the SIGHUP
//!    reloader stops.
//! 3. **Drain**: wait until every connection of both ports has closed, at most
//!    `--shutdown-grace-secs`; what is still running then fails in step 4.
//! 4. **The engine closes**: nothing opens any more, every interactive transaction is rolled
//!    back, each database's workers finish what they hold, its connections close (the WAL
//!    checkpointed: PASSIVE under Litestream) and it is unregistered from Litestream after
//!    its last sync.
//! 5. **Litestream stops.**
//! 6. Returning, the Unix socket's file (`--listen unix:`) is removed and the data
//!    directory's lock released.
//!
//! The `/metrics` endpoint answers until the process exits, so a scrape sees the drain.
//!
//! Layout:
//! - this file: [`App`], its building and its serving.
//! - [`listeners`]: binding the ports, the warnings about exposed ones, the lines that
//!   announce them.
//! - [`grpc`]: the tonic routes (one reflection builder for both versions) and each
//!   connection's stack.
//! - [`shutdown`]: the one signal.
//! - [`reload`]: SIGHUP reloads credentials and statements.

mod grpc;
mod listeners;
mod reload;
mod shutdown;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use listeners::Listeners;
use shutdown::Shutdown;

use crate::auth::CredentialsStore;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::listener::Listener;
use crate::replication::Replication;
use crate::service::database::DatabaseService;
use crate::service::health::{Health, HealthGate};
use crate::service::session::Sessions;
use crate::service::statements::StatementsService;
use crate::statements::StatementsStore;

/// The application, built and not serving yet.
pub struct App {
    config: Config,
    /// Held until the app is dropped: no second server, and no restore, on this directory.
    _lock: crate::lock::DataDirLock,
    /// Litestream's replication of every database (`--replica-url`).
    replication: Option<Arc<Replication>>,
    engine: Arc<Engine>,
    statements: Arc<StatementsStore>,
    credentials: Option<Arc<CredentialsStore>>,
    /// The health entries, turned NOT_SERVING first at shutdown.
    health: Health,
    /// Every gRPC service, before the server-wide layers.
    routes: tonic::service::Routes,
    tls: Option<TlsAcceptor>,
    /// The HTTP/JSON gateway (`--http-listen`).
    gateway: Option<Arc<crate::http::Gateway>>,
    /// The token `/metrics` asks for (`--metrics-token-file`).
    metrics_token: Option<[u8; 32]>,
    shutdown: Shutdown,
}

impl App {
    /// Builds everything `config` names: first what only reads files (credentials, TLS,
    /// CORS, the metrics token), so a mistake there changes nothing; then the data
    /// directory's lock, Litestream, the engine and the statements (verified against the
    /// databases); then the services.
    ///
    /// # Errors
    /// What cannot be used, and why. Whatever was started is stopped again then.
    pub async fn build(config: Config) -> Result<Self> {
        let credentials = match &config.credentials {
            Some(path) => Some(Arc::new(CredentialsStore::open(path.clone())?)),
            None => None,
        };
        let tls = crate::connections::tls::acceptor(&config)?;
        let cors = match config.http_listen {
            Some(_) => {
                Some(crate::http::Cors::parse(&config.http_cors_origins).map_err(Error::Internal)?)
            }
            None => None,
        };
        let metrics_token = match (&config.metrics_listen, &config.metrics_token_file) {
            (Some(_), Some(path)) => Some(crate::metrics::read_token(path)?),
            _ => None,
        };

        let lock = open_data_dir(&config)?;
        let replication = Replication::start(&config.replication, &config.data_dir).await?;
        let engine = Arc::new(
            Engine::new(
                config.data_dir.clone(),
                !config.no_create,
                config.database_options(),
                config.transaction_options(),
            )
            .with_replication(replication.clone()),
        );
        let statements = match StatementsStore::open(
            config.statements.clone(),
            Arc::clone(&engine),
            config.exposed_only,
        )
        .await
        {
            Ok(statements) => statements,
            Err(err) => {
                close(&engine, replication.as_deref()).await;
                return Err(err);
            }
        };

        let shutdown = Shutdown::new();
        let reporter = tonic_health::server::HealthReporter::new();
        let health = Health::start(reporter, Arc::clone(&engine), Arc::clone(&statements)).await;
        let health_gate = HealthGate::new(&health, credentials.is_some());
        if let Some(replication) = &replication {
            health.follow_replication(Arc::downgrade(replication));
        }
        let database = DatabaseService::new(
            Arc::clone(&engine),
            config.request_limits(),
            Arc::clone(&statements),
        )
        .with_sessions(Sessions::new(
            config.session_limits(),
            credentials.clone(),
            shutdown.subscribe(),
        ));
        let routes = grpc::routes(&config, &engine, &statements, database, health_gate)?;
        let gateway = cors.map(|cors| {
            Arc::new(
                crate::http::Gateway::new(
                    DatabaseService::new(
                        Arc::clone(&engine),
                        config.request_limits(),
                        Arc::clone(&statements),
                    ),
                    StatementsService::new(
                        Arc::clone(&engine),
                        Arc::clone(&statements),
                        config.statement_timeout(),
                    ),
                    Arc::clone(&statements),
                    Arc::clone(&engine),
                    credentials.clone(),
                    config.max_message_bytes,
                    cors,
                )
                .with_readiness(health.clone(), replication.clone()),
            )
        });
        Ok(Self {
            config,
            _lock: lock,
            replication,
            engine,
            statements,
            credentials,
            health,
            routes,
            tls,
            gateway,
            metrics_token,
            shutdown,
        })
    }

    /// Serves the app on `listeners` (bound from the same config) until `signal` completes,
    /// then shuts down in the order of the [module's doc](self).
    ///
    /// # Errors
    /// The metrics endpoint could not start; the app is shut down then too.
    pub async fn serve(self, listeners: Listeners, signal: impl Future<Output = ()>) -> Result<()> {
        let Listeners {
            grpc,
            http,
            metrics,
        } = listeners;
        let local = grpc.local();
        // Removes a Unix socket's file when serving returns.
        let Listener {
            socket,
            file: _socket_file,
        } = grpc;
        let metrics_bound = match metrics {
            Some(listener) => match self.serve_metrics(listener) {
                Ok(bound) => Some(bound),
                Err(err) => {
                    self.shut_down(Vec::new()).await;
                    return Err(err);
                }
            },
            None => None,
        };
        let limits = self.config.connection_limits();
        let mut ports = vec![tokio::spawn(grpc::serve(
            socket,
            limits.clone(),
            self.config.max_concurrent_requests_per_connection,
            self.tls.clone(),
            self.routes.clone(),
            self.credentials.clone(),
            self.shutdown.raised(),
        ))];
        let mut http_bound = None;
        if let (Some(listener), Some(gateway)) = (http, &self.gateway) {
            http_bound = listeners::bound(&listener, self.config.http_listen);
            ports.push(crate::http::serve(
                listener,
                Arc::clone(gateway),
                limits,
                self.shutdown.raised(),
            ));
        }
        tokio::spawn(reload::on_sighup(
            self.credentials.clone(),
            Arc::clone(&self.statements),
            self.shutdown.raised(),
        ));
        listeners::warn(&self.config, &local, http_bound);
        listeners::announce(&local, &self.config, metrics_bound, http_bound);

        signal.await;
        self.shut_down(ports).await;
        Ok(())
    }

    /// Steps 1 to 5 of the shutdown; `ports` are the accept loops' tasks, which end once
    /// every connection of their port has closed.
    async fn shut_down(&self, ports: Vec<tokio::task::JoinHandle<()>>) {
        let grace = self.config.shutdown_grace();
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        self.health.draining().await;
        self.shutdown.raise();
        let drained = tokio::time::timeout(grace, async {
            for port in ports {
                let _ = port.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "in-flight requests did not finish within the grace period; cancelling them"
            );
        }
        close(&self.engine, self.replication.as_deref()).await;
    }

    /// Serves `/metrics` on `listener`, with the engine's file sizes at each scrape; the
    /// bound address.
    fn serve_metrics(&self, listener: TcpListener) -> Result<std::net::SocketAddr> {
        let bound = listeners::bound(&listener, self.config.metrics_listen)
            .ok_or_else(|| Error::Internal("the metrics listener has no address".into()))?;
        if self.metrics_token.is_none() && !bound.ip().is_loopback() {
            tracing::warn!(%bound, "the metrics endpoint answers anyone who reaches it, \
                and its labels name every database: give --metrics-token-file");
        }
        let files = Arc::clone(&self.engine);
        let sizes: crate::metrics::Sizes = Arc::new(move || {
            if let Some(replication) = files.replication() {
                replication.sample_metrics();
            }
            let listed = files.list_databases().unwrap_or_default();
            listed
                .into_iter()
                .map(|db| crate::metrics::DatabaseSize {
                    name: db.name,
                    file_bytes: db.file_bytes,
                    wal_bytes: db.wal_bytes,
                })
                .collect()
        });
        crate::metrics::serve(listener, sizes, self.metrics_token)?;
        Ok(bound)
    }
}

/// Steps 4 and 5 of the shutdown: the engine closes (transactions rolled back, databases
/// checkpointed and unregistered), then Litestream stops.
async fn close(engine: &Engine, replication: Option<&Replication>) {
    engine.close().await;
    if let Some(replication) = replication {
        replication.stop().await;
    }
}

/// Creates the data directory if needed, takes its lock, and caps SQLite's heap before any
/// connection opens (the cap is SQLite's, for the whole process).
fn open_data_dir(config: &Config) -> Result<crate::lock::DataDirLock> {
    std::fs::create_dir_all(&config.data_dir).map_err(|err| {
        Error::Internal(format!(
            "cannot create the data directory {}: {err}",
            config.data_dir.display()
        ))
    })?;
    let lock = crate::lock::DataDirLock::acquire(&config.data_dir, "serve it")
        .map_err(Error::FailedPrecondition)?;
    if config.sqlite_memory_limit > 0 {
        crate::memory::limit_sqlite_heap(config.sqlite_memory_limit);
        tracing::info!(
            bytes = config.sqlite_memory_limit,
            "SQLite's heap is capped (--sqlite-memory-limit)"
        );
    }
    Ok(lock)
}
