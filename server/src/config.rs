//! Command-line flags and `SQLITED_*` environment variables → one [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::engine::{DatabaseOptions, TransactionOptions};
use crate::worker::StreamLimits;
use crate::worker::WorkerKind;
use crate::worker::connection::Synchronous;
use crate::worker::process::ProcessOptions;

/// sqlited: SQLite databases on the network, over gRPC.
///
/// Serves every `<name>.db` file of the data directory as database `name`. Each database has
/// one writer, which group-commits queued writes, and a pool of readers in WAL mode. Every
/// flag can also be set by the environment variable shown.
#[derive(Debug, Clone, Parser)]
#[command(name = "sqlited", version)]
pub struct Config {
    /// Where to listen: `HOST:PORT` (port 0 picks a free one), or `unix:PATH` for a Unix
    /// domain socket, the fast way for clients on the same host. The chosen address is
    /// printed on stdout as `sqlited listening on ADDR`. A socket file left by a server that
    /// died is replaced; one a live server answers on, or a file that is not a socket, is
    /// refused. The socket is removed when the server stops.
    #[arg(long, env = "SQLITED_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: crate::listener::Listen,

    /// The permission bits of the `--listen unix:PATH` socket, in octal. Connecting needs
    /// write permission, so the default 660 lets the server's user and group in, no one
    /// else; the directory's permissions also apply.
    #[arg(long, env = "SQLITED_UNIX_SOCKET_MODE", default_value = "660",
        value_parser = crate::listener::parse_mode)]
    pub unix_socket_mode: u32,

    /// Directory of the database files, created if missing.
    #[arg(long, env = "SQLITED_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Serve Prometheus metrics at http://ADDR/metrics (off unless given; port 0 picks a free
    /// one, printed on stdout as `sqlited metrics on ADDR`).
    #[arg(long, env = "SQLITED_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// A file holding the token every scrape of --metrics-listen must send as
    /// `Authorization: Bearer <token>` (else 401). Without it the metrics, database names
    /// included, answer anyone who reaches the address. Read at start; a file (a mounted
    /// secret) keeps the token out of `ps` and the environment.
    #[arg(long, env = "SQLITED_METRICS_TOKEN_FILE", requires = "metrics_listen")]
    pub metrics_token_file: Option<PathBuf>,

    /// Serve the HTTP/JSON gateway (SQL, transactions, exposed statements, OpenAPI at
    /// /v1/openapi.json) on this address; off unless given. Port 0 picks a free one, printed
    /// on stdout as `sqlited http on ADDR`. Same tokens, roles and limits as gRPC.
    #[arg(long, env = "SQLITED_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// Browser origins allowed to call the HTTP gateway (CORS), comma-separated, e.g.
    /// `https://app.example.com`; `*` for any. None by default: a request with an `Origin`
    /// header is refused (403).
    #[arg(
        long,
        env = "SQLITED_HTTP_CORS_ORIGINS",
        value_delimiter = ',',
        requires = "http_listen"
    )]
    pub http_cors_origins: Vec<String>,

    /// Refuse (NOT_FOUND) databases that do not exist yet, instead of creating them.
    #[arg(long, env = "SQLITED_NO_CREATE")]
    pub no_create: bool,

    /// Reader connections per database (default: the number of cores). Read-only
    /// transactions pin readers of their own, at most this many per database: a Begin past
    /// it is refused at once with RESOURCE_EXHAUSTED and a retry hint.
    #[arg(long, env = "SQLITED_READERS", default_value_t = default_readers())]
    pub readers: usize,

    /// Read requests per database that may wait for a free reader; more are refused with
    /// RESOURCE_EXHAUSTED and a retry hint.
    #[arg(long, env = "SQLITED_READ_QUEUE_DEPTH", default_value_t = 1024)]
    pub read_queue_depth: usize,

    /// Write requests per database that may wait for the writer; more are refused with
    /// RESOURCE_EXHAUSTED and a retry hint.
    #[arg(long, env = "SQLITED_WRITE_QUEUE_DEPTH", default_value_t = 4096)]
    pub write_queue_depth: usize,

    /// The most write requests committed together in one transaction (group commit).
    #[arg(long, env = "SQLITED_GROUP_COMMIT_MAX", default_value_t = 256)]
    pub group_commit_max: usize,

    /// A group commit stops taking requests once they hold about this many bytes of SQL and
    /// parameters (a single larger request still runs, alone).
    #[arg(long, env = "SQLITED_GROUP_COMMIT_MAX_BYTES", default_value_t = 16 << 20)]
    pub group_commit_max_bytes: usize,

    /// PRAGMA synchronous of each writer: full (an acknowledged write survives power loss),
    /// normal (survives a crash of sqlited, not always a power loss), extra, or off.
    #[arg(long, env = "SQLITED_SYNCHRONOUS", default_value = "full",
        value_parser = synchronous_values())]
    pub synchronous: Synchronous,

    /// Milliseconds SQLite waits on a locked database before answering busy.
    #[arg(long, env = "SQLITED_BUSY_TIMEOUT_MS", default_value_t = 5000)]
    pub busy_timeout_ms: u64,

    /// Prepared statements cached per connection (see also --statement-cache-memory).
    #[arg(long, env = "SQLITED_STATEMENT_CACHE", default_value_t = 256)]
    pub statement_cache: usize,

    /// The most memory the prepared statements cached by one connection may hold together,
    /// e.g. `8MiB` (a bare number is MiB): a cached statement outlives its request, so no
    /// request's budget covers it. A statement larger than an eighth of this (SQLite's size
    /// of the compiled statement, plus its SQL text) is never cached: it is prepared each
    /// time it is sent; past the bound the connection empties its cache. 0: bounded by
    /// --statement-cache alone.
    #[arg(long, env = "SQLITED_STATEMENT_CACHE_MEMORY", default_value = "8MiB", value_parser = parse_size)]
    pub statement_cache_memory: u64,

    /// The page cache of each SQLite connection, in MiB: a connection keeps up to this much
    /// of its database in memory, the writer included, so updates spread over a large table
    /// do not read their pages back from the file.
    #[arg(long, env = "SQLITED_CACHE_MIB", default_value_t = 32)]
    pub cache_mib: u32,

    /// The most rows in one Query response message.
    #[arg(long, env = "SQLITED_ROWS_PER_MESSAGE", default_value_t = 1000)]
    pub rows_per_message: usize,

    /// A Query response message is sent once its rows reach about this many bytes.
    #[arg(long, env = "SQLITED_BYTES_PER_MESSAGE", default_value_t = 1 << 20)]
    pub bytes_per_message: usize,

    /// The largest message accepted or sent, in bytes; a bigger request is refused, and so is
    /// a result row that would not fit in one message.
    #[arg(long, env = "SQLITED_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,

    /// The most statements in one ExecuteBatch request.
    #[arg(long, env = "SQLITED_MAX_BATCH_STATEMENTS", default_value_t = 100_000)]
    pub max_batch_statements: usize,

    /// Milliseconds a request may run before its statement is interrupted (DEADLINE_EXCEEDED);
    /// a shorter gRPC deadline of the call wins. 0: no server-side limit.
    #[arg(long, env = "SQLITED_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub statement_timeout_ms: u64,

    /// The idle lease of a transaction, in milliseconds, unless the client asks for another:
    /// idle longer, it is rolled back and the writer is free again.
    #[arg(long, env = "SQLITED_TRANSACTION_LEASE_MS", default_value_t = 30_000)]
    pub transaction_lease_ms: u64,

    /// The longest idle lease a client may ask for, in milliseconds. It bounds how long an
    /// abandoned write transaction holds the writer (every write of its database waits);
    /// the lease is renewed by every statement, so only a pause between two statements
    /// needs to fit in it.
    #[arg(
        long,
        env = "SQLITED_MAX_TRANSACTION_LEASE_MS",
        default_value_t = 60_000
    )]
    pub max_transaction_lease_ms: u64,

    /// Open transactions on the whole server; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "SQLITED_MAX_TRANSACTIONS", default_value_t = 1024)]
    pub max_transactions: usize,

    /// Open transactions per database; more are refused with RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "SQLITED_MAX_TRANSACTIONS_PER_DATABASE",
        default_value_t = 256
    )]
    pub max_transactions_per_database: usize,

    /// The longest SQL text accepted, in bytes.
    #[arg(long, env = "SQLITED_MAX_SQL_BYTES", default_value_t = 1 << 20)]
    pub max_sql_bytes: usize,

    /// The most parameter values in one statement.
    #[arg(long, env = "SQLITED_MAX_PARAMS", default_value_t = 32_766)]
    pub max_params: usize,

    /// The most rows one Query may return; past it the query fails with RESOURCE_EXHAUSTED
    /// (never a silent truncation). 0: no cap.
    #[arg(long, env = "SQLITED_MAX_ROWS_PER_QUERY", default_value_t = 0)]
    pub max_rows_per_query: u64,

    /// Concurrent requests per client connection; more are refused at once with
    /// RESOURCE_EXHAUSTED (open more connections, or send fewer at a time).
    #[arg(
        long,
        env = "SQLITED_MAX_CONCURRENT_REQUESTS_PER_CONNECTION",
        default_value_t = 1024
    )]
    pub max_concurrent_requests_per_connection: usize,

    /// Requests one Session stream may have in flight (sent, not yet fully answered); one
    /// more fails with RESOURCE_EXHAUSTED. Clients read it from the session's response
    /// headers and pipeline no deeper.
    #[arg(long, env = "SQLITED_SESSION_MAX_IN_FLIGHT", default_value_t = 128)]
    pub session_max_in_flight: usize,

    /// Bytes of answers one Session stream may hold for a client that does not read them;
    /// a request whose answer cannot enter before its deadline ends the session
    /// (DEADLINE_EXCEEDED).
    #[arg(long, env = "SQLITED_SESSION_MAX_BUFFERED_BYTES", default_value_t = 8 << 20)]
    pub session_max_buffered_bytes: usize,

    /// Log lines as text for people (human) or one JSON object per line for log shippers.
    #[arg(long, env = "SQLITED_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Seconds a shutdown (SIGTERM, SIGINT) waits for in-flight requests before it cancels
    /// them.
    #[arg(long, env = "SQLITED_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// The credentials file (TOML): tokens by name, stored as SHA-256 hashes, with a role per
    /// database. Given, every request but health checks needs `authorization: Bearer <token>`.
    /// Reloaded on SIGHUP. See `sqlited token new`.
    #[arg(long, env = "SQLITED_CREDENTIALS")]
    pub credentials: Option<PathBuf>,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "SQLITED_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "SQLITED_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM): mutual TLS. Needs --tls-cert.
    #[arg(long, env = "SQLITED_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Lift the SQL sandbox for trusted clients: ATTACH (read-only) of the data directory's
    /// other databases by a token with a "*" grant, any PRAGMA read, and the connection
    /// settings a request may set for itself (restored when it ends). Roles still apply.
    #[arg(long, env = "SQLITED_UNSAFE_SQL")]
    pub unsafe_sql: bool,

    /// The statements file (TOML): named, typed statements clients may Call. Checked against
    /// every database at start (a bad file stops the start); reloaded on SIGHUP.
    #[arg(long, env = "SQLITED_STATEMENTS")]
    pub statements: Option<PathBuf>,

    /// Every database serves only exposed statements: Execute, Query and ExecuteBatch are
    /// refused (PERMISSION_DENIED). A database can also say so in the statements file.
    #[arg(long, env = "SQLITED_EXPOSED_ONLY")]
    pub exposed_only: bool,

    /// Open connections one client may hold (an IP address; a user id on a Unix socket), on
    /// each port. At the cap, a new connection closes the client's connection idle the longest
    /// (no request in flight: gracefully, with GOAWAY); it is refused only when every one has
    /// a request in flight. 0: no limit.
    #[arg(
        long,
        env = "SQLITED_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256
    )]
    pub max_connections_per_client: usize,

    /// Where SQLite connections live: `threads` (a dedicated OS thread each, the default) or
    /// `processes` (a child process each, the writer's too): a worker that crashes, leaks or
    /// is killed then fails only its own requests, and is replaced.
    #[arg(long, env = "SQLITED_WORKERS", value_enum, default_value = "threads")]
    pub workers: WorkerMode,

    /// With --workers processes: the memory cap of each worker process (its data segment,
    /// setrlimit), e.g. `512MiB`, `2GiB`; a bare number is MiB. SQLite's own heap is capped
    /// a quarter below it, so a huge sort fails with SQLITE_NOMEM instead of killing the
    /// worker. 0: no cap.
    #[arg(long, env = "SQLITED_WORKER_MEMORY_LIMIT", default_value = "0", value_parser = parse_size)]
    pub worker_memory_limit: u64,

    /// The cap on all of SQLite's memory, the backstop behind --request-memory-limit, e.g.
    /// `2GiB` (a bare number is MiB): page caches, sorts, temporary tables and the values
    /// queries build, every request together. With thread workers it holds for the
    /// whole server, with worker processes for each worker. A request past it fails with
    /// RESOURCE_EXHAUSTED and the server goes on. `auto`: a quarter of the memory the server
    /// may use (its cgroup limit, or the machine's), at least 256 MiB. 0: no cap.
    #[arg(long, env = "SQLITED_SQLITE_MEMORY_LIMIT", default_value = "auto", value_parser = parse_memory_limit)]
    pub sqlite_memory_limit: u64,

    /// What one request on a reader — a read, a read-only transaction — may take of SQLite's
    /// memory beyond its connection's page cache (--cache-mib), e.g. `64MiB` (a bare number is
    /// MiB): sorts, temporary B-trees (DISTINCT, UNION, GROUP BY, window partitions) and the
    /// values it builds or reads (the default holds the largest value a message can carry,
    /// and 8 such requests at once stay near 200 MiB). A read-only transaction is one request. A request past it fails with
    /// RESOURCE_EXHAUSTED naming this flag, and the server goes on; Vacuum and backups answer
    /// to --sqlite-memory-limit only. 0: no limit but --sqlite-memory-limit.
    #[arg(long, env = "SQLITED_REQUEST_MEMORY_LIMIT", default_value = "24MiB", value_parser = parse_size)]
    pub request_memory_limit: u64,

    /// The same for each request a database's writer runs — writes, write transactions (one
    /// request, with their TEMP tables), schema changes — e.g. `1GiB`: larger by default, as a
    /// database has one writer running one request at a time, and writes need it (a value
    /// written costs about twice its size; an UPDATE's statement journal holds the old content
    /// of every page it changes; CREATE INDEX sorts the whole index in memory). Only write and
    /// admin tokens reach the writer. 0: no limit but --sqlite-memory-limit.
    #[arg(long, env = "SQLITED_WRITE_MEMORY_LIMIT", default_value = "256MiB", value_parser = parse_size)]
    pub write_memory_limit: u64,

    /// Continuous replication with Litestream (`--replica-url` and the flags after it).
    #[command(flatten)]
    pub replication: crate::replication::ReplicationArgs,

    /// Connections bounded in time (`--handshake-timeout-ms` and the flags after it).
    #[command(flatten)]
    pub connections: crate::connections::ConnectionArgs,
}

/// `auto` or a size, for `--sqlite-memory-limit`.
fn parse_memory_limit(text: &str) -> Result<u64, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(crate::memory::default_heap_limit());
    }
    parse_size(text)
}

/// Where workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerMode {
    /// A dedicated OS thread of the server per connection.
    Threads,
    /// A child process per connection (`sqlited worker`).
    Processes,
}

/// A size in bytes from `512MiB`, `512M`, `2GiB`, `64KiB` or a bare number of MiB.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; write e.g. 512MiB or 2GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" | "mb" | "mib" => 20,
        "k" | "kb" | "kib" => 10,
        "g" | "gb" | "gib" => 30,
        "b" => 0,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use KiB, MiB or GiB (e.g. 512MiB)"
            ));
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text for people.
    Human,
    /// One JSON object per line.
    Json,
}

fn default_readers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Config {
    /// How every database is run.
    pub fn database_options(&self) -> DatabaseOptions {
        DatabaseOptions {
            readers: self.readers.max(1),
            read_queue_depth: self.read_queue_depth,
            write_queue_depth: self.write_queue_depth.max(1),
            max_group: self.group_commit_max.max(1),
            max_group_bytes: self.group_commit_max_bytes.max(1),
            synchronous: self.synchronous,
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            statement_cache: self.statement_cache,
            statement_cache_bytes: usize::try_from(self.statement_cache_memory)
                .unwrap_or(usize::MAX),
            cache_kib: self.cache_mib.clamp(1, 1 << 20) * 1024,
            sandbox: !self.unsafe_sql,
            stream: StreamLimits {
                rows_per_message: self.rows_per_message.max(1),
                bytes_per_message: self.bytes_per_message.max(1),
                // Room for the message's own framing around the rows.
                max_message_bytes: self.max_message_bytes.saturating_sub(1024).max(1024),
                max_rows: self.max_rows_per_query,
            },
            workers: self.worker_kind(),
            replicated: self.replication.replica_url.is_some(),
            request_memory: crate::memory::MemoryBudgets {
                reader: self.request_memory_limit,
                writer: self.write_memory_limit,
            },
        }
    }

    /// Where workers run, with what a worker process needs.
    fn worker_kind(&self) -> WorkerKind {
        match self.workers {
            WorkerMode::Threads => WorkerKind::Threads,
            WorkerMode::Processes => WorkerKind::Processes(Arc::new(ProcessOptions {
                // The running binary itself, even if its file was replaced by an upgrade since
                // it started: a worker must speak exactly this binary's protocol.
                program: PathBuf::from("/proc/self/exe"),
                memory_limit: self.worker_memory_limit,
                heap_limit: self.sqlite_memory_limit,
            })),
        }
    }

    /// Bounds and defaults of interactive transactions.
    pub fn transaction_options(&self) -> TransactionOptions {
        TransactionOptions {
            default_lease: Duration::from_millis(self.transaction_lease_ms.max(1)),
            max_lease: Duration::from_millis(
                self.max_transaction_lease_ms.max(self.transaction_lease_ms),
            ),
            max_open: self.max_transactions,
            max_open_per_database: self.max_transactions_per_database,
        }
    }

    /// Bounds on what one request may ask, for every service (gRPC and HTTP alike).
    pub fn request_limits(&self) -> crate::service::database::RequestLimits {
        crate::service::database::RequestLimits {
            max_batch_statements: self.max_batch_statements,
            max_sql_bytes: self.max_sql_bytes,
            max_params: self.max_params,
            statement_timeout: self.statement_timeout(),
        }
    }

    /// The limits of each Session stream.
    pub fn session_limits(&self) -> crate::service::session::SessionLimits {
        crate::service::session::SessionLimits {
            max_in_flight: self.session_max_in_flight.max(1),
            max_buffered_bytes: self.session_max_buffered_bytes.max(64 << 10),
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// The server's own limit on a request's run time.
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout_ms > 0).then(|| Duration::from_millis(self.statement_timeout_ms))
    }

    /// The bounds of every connection, on the gRPC port and the HTTP gateway's.
    pub fn connection_limits(&self) -> crate::connections::Limits {
        self.connections
            .limits(self.max_connections_per_client, self.max_message_bytes)
    }

    /// How long a shutdown waits for in-flight requests.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// `--synchronous`'s values, listed in `--help` and parsed into the worker's [`Synchronous`].
fn synchronous_values() -> impl clap::builder::TypedValueParser<Value = Synchronous> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["off", "normal", "full", "extra"]).map(|value| {
        value
            .parse::<Synchronous>()
            .expect("one of the listed values")
    })
}
