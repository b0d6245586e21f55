//! Prometheus metrics on `--metrics-listen`: the `metrics` facade records them where things
//! happen, `metrics-exporter-prometheus` renders them, and a small axum router serves
//! `GET /metrics`. Without `--metrics-listen` no recorder is installed and recording costs
//! next to nothing. With `--metrics-token-file` a scrape must send that token as a bearer
//! token, or is answered 401: the labels name every database of the data directory.
//!
//! Every metric is listed in the README.
//!
//! Layout:
//! - [`names`]: the metrics' names, a leaf module for whatever records them.
//! - [`process`]: the standard `process_*` metrics, read from `/proc` at each scrape.
//! - this file: the exporter, and the scrape-time file sizes it is handed as a function.

pub mod names;
mod process;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::TcpListener;

use crate::auth::token;
use crate::error::{Error, Result};
use names::*;

/// How often the exporter's histograms are maintained.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The sizes of one database's files, as a scrape reports them.
pub struct DatabaseSize {
    pub name: String,
    pub file_bytes: u64,
    pub wal_bytes: u64,
}

/// What the exporter calls, off the async threads, at each scrape: the file sizes (it may
/// also set gauges of its own, as the replication's).
pub type Sizes = Arc<dyn Fn() -> Vec<DatabaseSize> + Send + Sync>;

/// Sets the file-size gauges of every database.
fn sample_sizes(sizes: &Sizes) {
    for db in sizes() {
        metrics::gauge!(DATABASE_BYTES, "database" => db.name.clone(), "file" => "db")
            .set(db.file_bytes as f64);
        metrics::gauge!(DATABASE_BYTES, "database" => db.name, "file" => "wal")
            .set(db.wal_bytes as f64);
    }
}

/// The SHA-256 of the token in `path` (`--metrics-token-file`), surrounding whitespace
/// trimmed; an unreadable or empty file stops the start.
pub fn read_token(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Error::Internal(format!(
            "cannot read the metrics token file {} (--metrics-token-file): {err}",
            path.display()
        ))
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Internal(format!(
            "the metrics token file {} (--metrics-token-file) is empty; put the token in it \
             (e.g. the output of `head -c 32 /dev/urandom | base64`)",
            path.display()
        )));
    }
    Ok(token::hash(text))
}

/// Whether a scrape's headers carry the token whose hash is `expected` (always, with none).
fn authorized(headers: &HeaderMap, expected: Option<&[u8; 32]>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    presented.is_some_and(|p| token::same(&token::hash(p), expected))
}

/// Installs the recorder and serves `/metrics` on `listener` for the life of the process;
/// with `token` (the hash of `--metrics-token-file`'s token) only to scrapes that send it.
pub fn serve(listener: TcpListener, sizes: Sizes, token: Option<[u8; 32]>) -> Result<()> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_SECONDS.into()),
            &[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(GROUP_SIZE.into()),
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(REPLICATION_SYNC_WAIT_SECONDS.into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
        })
        .map_err(|err| Error::Internal(format!("cannot configure metrics: {err}")))?
        .install_recorder()
        .map_err(|err| Error::Internal(format!("cannot install the metrics recorder: {err}")))?;
    describe();

    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            upkeep.run_upkeep();
            tokio::time::sleep(UPKEEP_EVERY).await;
        }
    });

    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let handle = handle.clone();
            let sizes = Arc::clone(&sizes);
            async move {
                if !authorized(&headers, token.as_ref()) {
                    return refused();
                }
                // File sizes and the process's figures are read at scrape time, off the
                // async threads.
                let process = tokio::task::spawn_blocking(move || {
                    sample_sizes(&sizes);
                    process::render(&process::read())
                })
                .await
                .unwrap_or_default();
                let mut text = handle.render();
                if !text.is_empty() && !text.ends_with("\n\n") {
                    text.push('\n');
                }
                text.push_str(&process);
                text.into_response()
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

/// The answer to a scrape without the right token.
fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"sqlited metrics\"")],
        "this metrics endpoint needs the token of --metrics-token-file: send \
         `Authorization: Bearer <token>` (Prometheus: authorization.credentials_file)\n",
    )
        .into_response()
}

fn describe() {
    describe_counter!(REQUESTS, "Requests by service, RPC and gRPC status code.");
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Request latency by service and RPC (a stream: until its end)."
    );
    describe_counter!(ROWS_RETURNED, "Rows streamed back by Query.");
    describe_gauge!(
        WRITE_QUEUE,
        "Write requests waiting for or held by a database's writer."
    );
    describe_histogram!(
        GROUP_SIZE,
        "Requests per group commit transaction, by database."
    );
    describe_gauge!(OPEN_TRANSACTIONS, "Interactive transactions open now.");
    describe_counter!(
        WORKER_RESTARTS,
        "Workers replaced after they died, by role."
    );
    describe_gauge!(
        DATABASE_BYTES,
        Unit::Bytes,
        "Size of each database file and of its WAL."
    );
    describe_gauge!(
        REPLICA_TXID,
        "The newest Litestream transaction the replica holds, by database."
    );
    describe_gauge!(
        REPLICATION_LAG_SECONDS,
        Unit::Seconds,
        "How long the oldest write the replica does not hold yet has waited, by database."
    );
    describe_gauge!(
        REPLICATION_LAG_WRITES,
        "Write requests committed locally that the replica does not hold yet, by database."
    );
    describe_gauge!(
        REPLICATION_LAG_FRAMES,
        "WAL frames the writer appended that the replica does not hold yet, by database."
    );
    describe_gauge!(
        REPLICATION_LAST_SYNC,
        Unit::Seconds,
        "When a Litestream sync of the database last succeeded (Unix time)."
    );
    describe_counter!(
        REPLICATION_SYNC_FAILURES,
        "Litestream syncs that failed, by database."
    );
    describe_histogram!(
        REPLICATION_SYNC_WAIT_SECONDS,
        Unit::Seconds,
        "How long a write waited for the replica in sync mode, by database."
    );
    describe_gauge!(
        LITESTREAM_UP,
        "1 while the Litestream child runs with its control socket answering."
    );
    describe_counter!(
        LITESTREAM_RESTARTS,
        "Times the Litestream child was started again after it died."
    );
}

/// Counts one finished request.
pub fn request(service: &'static str, rpc: &'static str, code: tonic::Code, elapsed: Duration) {
    metrics::counter!(REQUESTS, "service" => service, "rpc" => rpc, "code" => code_name(code))
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "service" => service, "rpc" => rpc)
        .record(elapsed.as_secs_f64());
}

/// The name of a gRPC code, as in metrics labels and the HTTP gateway's error bodies.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
