//! Builds the tonic router over an [`Engine`] — the Database service, gRPC health checking and
//! server reflection (v1 and v1alpha) — serves it, and shuts down gracefully: report
//! NOT_SERVING, stop accepting, let in-flight requests finish (bounded by the grace period),
//! then close every database so each WAL is checkpointed. With `--http-listen` it also
//! serves the HTTP/JSON gateway ([`crate::http`]) over the same engine, statements and
//! credentials, stopped with the gRPC server.

use std::future::Future;
use std::sync::Arc;

use sqlited_proto::v1::database_server::DatabaseServer;
use tokio::net::TcpListener;

use crate::auth::CredentialsStore;
use crate::auth::layer::AuthLayer;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::listener::{Listen, Listener};
use crate::service::admin::AdminService;
use crate::service::database::DatabaseService;
use crate::service::health::{Health, HealthGate};
use crate::service::kv::KeyValueService;
use crate::service::session::Sessions;
use crate::service::statements::StatementsService;
use crate::statements::StatementsStore;
use sqlited_proto::v1::admin_server::AdminServer;
use sqlited_proto::v1::key_value_server::KeyValueServer;
use sqlited_proto::v1::statements_server::StatementsServer;

/// Serves `config` on `listener` until `shutdown` completes, then drains and closes; a Unix
/// socket's file is removed on return.
pub async fn run(
    config: Config,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let local = listener.local();
    let Listener {
        socket,
        file: _socket_file,
    } = listener;
    if matches!(local, Listen::Unix(_)) && config.tls_cert.is_some() {
        return Err(Error::FailedPrecondition(format!(
            "--tls-cert with --listen {local}: a Unix socket is reached only on this host, \
             through its file's permissions (--unix-socket-mode), and serves plaintext; drop \
             the TLS flags or listen on TCP"
        )));
    }
    // Held until the server returns: no second server, and no restore, on this directory.
    let _lock = open_data_dir(&config)?;
    let replication =
        crate::replication::Replication::start(&config.replication, &config.data_dir).await?;
    let engine = Arc::new(
        Engine::new(
            config.data_dir.clone(),
            !config.no_create,
            config.database_options(),
            config.transaction_options(),
        )
        .with_replication(replication.clone()),
    );
    let statements = StatementsStore::open(
        config.statements.clone(),
        Arc::clone(&engine),
        config.exposed_only,
    )
    .await?;
    let credentials = match &config.credentials {
        Some(path) => Some(Arc::new(CredentialsStore::open(path.clone())?)),
        None => None,
    };
    // Turns true when shutdown begins: sessions stop taking requests and end.
    let (draining, draining_rx) = tokio::sync::watch::channel(false);
    let service = DatabaseService::new(
        Arc::clone(&engine),
        config.request_limits(),
        Arc::clone(&statements),
    )
    .with_sessions(Sessions::new(
        config.session_limits(),
        credentials.clone(),
        draining_rx,
    ));
    let metrics_bound = match config.metrics_listen {
        Some(addr) => Some(start_metrics(&config, addr, &engine).await?),
        None => None,
    };
    let reporter = tonic_health::server::HealthReporter::new();
    let health = Health::start(reporter, Arc::clone(&engine), Arc::clone(&statements)).await;
    let health_service = tonic_health::pb::health_server::HealthServer::new(HealthGate::new(
        &health,
        config.credentials.is_some(),
    ));
    if let Some(replication) = &replication {
        health.follow_replication(Arc::downgrade(replication));
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sqlited_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|err| Error::Internal(format!("cannot build reflection: {err}")))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sqlited_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|err| Error::Internal(format!("cannot build reflection: {err}")))?;
    let database = DatabaseServer::new(service)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let (http_stop, http_stopped) = tokio::sync::watch::channel(false);
    let http_bound = match config.http_listen {
        Some(addr) => Some(
            serve_http(
                &config,
                addr,
                &engine,
                &statements,
                credentials.clone(),
                http_stopped,
            )
            .await?,
        ),
        None => None,
    };
    tokio::spawn(reload_on_sighup(
        credentials.clone(),
        Arc::clone(&statements),
    ));
    let tls = crate::connections::tls::acceptor(&config)?;
    warn_if_exposed(&config, &local);
    warn_about_ignored_flags(&config);
    announce(&local, &config, metrics_bound, http_bound);

    let routes = tonic::service::Routes::new(database)
        .add_service(AdminServer::new(AdminService::new(
            Arc::clone(&engine),
            config.statement_timeout(),
        )))
        .add_service(
            KeyValueServer::new(KeyValueService::new(
                Arc::clone(&engine),
                Arc::clone(&statements),
                config.statement_timeout(),
            ))
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes),
        )
        .add_service(
            StatementsServer::new(StatementsService::new(
                Arc::clone(&engine),
                Arc::clone(&statements),
                config.statement_timeout(),
            ))
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .prepare();
    let services = tower::ServiceBuilder::new()
        .layer(crate::service::observe::ObserveLayer)
        .layer(AuthLayer::new(credentials))
        .layer(crate::service::oversize::layer())
        .service(routes);
    let per_connection = config.max_concurrent_requests_per_connection.max(1);
    // Each connection's own stack, as tonic's server builds it: an error a layer returns
    // (load shedding's refusal) becomes a status; past the connection's limit a request is
    // refused at once (RESOURCE_EXHAUSTED) rather than queued unboundedly.
    let connection_services = move || {
        tower::ServiceBuilder::new()
            .layer(tonic::service::RecoverErrorLayer::new())
            .load_shed()
            .concurrency_limit(per_connection)
            .map_request(|request: http::Request<hyper::body::Incoming>| {
                request.map(tonic::body::Body::new)
            })
            .service(services.clone())
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = crate::connections::serve(
        socket,
        crate::connections::Protocol::Grpc(tls),
        config.connection_limits(),
        connection_services,
        async {
            let _ = stop_rx.await;
        },
    );
    tokio::pin!(serve);
    let grace = config.shutdown_grace();
    let signalled_then_grace = async {
        shutdown.await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        health.draining().await;
        let _ = draining.send(true);
        let _ = stop_tx.send(());
        let _ = http_stop.send(true);
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = &mut serve => {}
        () = signalled_then_grace => {
            tracing::warn!("in-flight requests did not finish within the grace period; cancelling them");
        }
    }
    engine.close().await;
    if let Some(replication) = &replication {
        replication.stop().await;
    }
    Ok(())
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

/// Binds `addr` and serves `/metrics` there, with the engine's file sizes at each scrape;
/// the bound address.
async fn start_metrics(
    config: &Config,
    addr: std::net::SocketAddr,
    engine: &Arc<Engine>,
) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Internal(format!("cannot listen for metrics on {addr}: {err}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let token = match &config.metrics_token_file {
        Some(path) => Some(crate::metrics::read_token(path)?),
        None => {
            if !bound.ip().is_loopback() {
                tracing::warn!(%bound, "the metrics endpoint answers anyone who reaches it, \
                    and its labels name every database: give --metrics-token-file");
            }
            None
        }
    };
    let files = Arc::clone(engine);
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
    crate::metrics::serve(listener, sizes, token)?;
    tracing::info!(%bound, "metrics at /metrics");
    Ok(bound)
}

/// Flags that do nothing in this configuration, said once at start.
fn warn_about_ignored_flags(config: &Config) {
    if config.worker_memory_limit > 0 && config.workers == crate::config::WorkerMode::Threads {
        tracing::warn!(
            "--worker-memory-limit caps worker processes only; with --workers threads it is \
             ignored (add --workers processes to cap each connection's memory)"
        );
    }
}

/// Everything is loaded and checked: says where the server serves. One machine-readable line
/// per listener on stdout, so scripts and tests learn a port chosen by the OS — and know it is
/// ready.
fn announce(
    addr: &Listen,
    config: &Config,
    metrics: Option<std::net::SocketAddr>,
    http: Option<std::net::SocketAddr>,
) {
    use std::io::Write;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "sqlited listening");
    println!("sqlited listening on {addr}");
    if let Some(bound) = metrics {
        println!("sqlited metrics on {bound}");
    }
    if let Some(bound) = http {
        println!("sqlited http on {bound}");
    }
    let _ = std::io::stdout().flush();
}

/// Binds `addr` and serves the HTTP/JSON gateway there until `stopped` turns true, over the
/// same engine, statements and credentials as the gRPC services; the bound address.
async fn serve_http(
    config: &Config,
    addr: std::net::SocketAddr,
    engine: &Arc<Engine>,
    statements: &Arc<StatementsStore>,
    credentials: Option<Arc<CredentialsStore>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<std::net::SocketAddr> {
    let cors = crate::http::Cors::parse(&config.http_cors_origins).map_err(Error::Internal)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Internal(format!("cannot listen for HTTP on {addr}: {err}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    if !bound.ip().is_loopback() {
        if config.credentials.is_none() {
            let warning = format!(
                "WARNING: the HTTP gateway listens on {bound} without authentication \
                 (--credentials): anyone who can reach it can read and change every database"
            );
            tracing::warn!("{warning}");
            eprintln!("{warning}");
        }
        tracing::warn!(%bound, "the HTTP gateway serves plain HTTP (no TLS): tokens cross the \
            network in clear text unless a TLS-terminating proxy is in front of it");
    }
    let gateway = Arc::new(crate::http::Gateway::new(
        DatabaseService::new(
            Arc::clone(engine),
            config.request_limits(),
            Arc::clone(statements),
        ),
        StatementsService::new(
            Arc::clone(engine),
            Arc::clone(statements),
            config.statement_timeout(),
        ),
        Arc::clone(statements),
        Arc::clone(engine),
        credentials,
        config.max_message_bytes,
        cors,
    ));
    crate::http::serve(listener, gateway, config.connection_limits(), async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    tracing::info!(%bound, "HTTP/JSON gateway at /v1 (OpenAPI: /v1/openapi.json)");
    Ok(bound)
}

/// A loud warning when anyone on the network can reach every database in clear text (a
/// Unix socket is reached only through its file's permissions).
fn warn_if_exposed(config: &Config, bound: &Listen) {
    let Listen::Tcp(addr) = bound else { return };
    if !addr.ip().is_loopback() && config.credentials.is_none() && config.tls_cert.is_none() {
        let warning = format!(
            "WARNING: sqlited listens on {addr} with neither authentication (--credentials) nor TLS \
             (--tls-cert): anyone who can reach this address can read and change every database"
        );
        tracing::warn!("{warning}");
        eprintln!("{warning}");
    }
}

/// SIGHUP reloads the credentials and statements files (those in use) without dropping
/// connections; the handler also keeps SIGHUP from ending the process.
async fn reload_on_sighup(
    credentials: Option<Arc<CredentialsStore>>,
    statements: Arc<StatementsStore>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler");
        return;
    };
    while hup.recv().await.is_some() {
        // Reading the credentials file: off the async threads. (The statements are
        // prepared by the workers.)
        let tokens = credentials.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(store) = &tokens {
                store.reload();
            }
        })
        .await;
        if statements.has_file() {
            // A refusal is logged by reload itself.
            let _ = statements.reload().await;
        }
        if credentials.is_none() && !statements.has_file() {
            tracing::info!(
                "SIGHUP received: nothing to reload (no --credentials, no --statements); still serving"
            );
        }
    }
}
