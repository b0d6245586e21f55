//! Command-line flags and `SQLITED_*` environment variables → one [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::engine::DatabaseOptions;
use crate::worker::StreamLimits;
use crate::worker::connection::Synchronous;

/// sqlited: SQLite databases on the network, over gRPC.
///
/// Serves every `<name>.db` file of the data directory as database `name`. Each database has
/// one writer, which group-commits queued writes, and a pool of readers in WAL mode. Every
/// flag can also be set by the environment variable shown.
#[derive(Debug, Clone, Parser)]
#[command(name = "sqlited", version)]
pub struct Config {
    /// Address and port to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, env = "SQLITED_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Directory of the database files, created if missing.
    #[arg(long, env = "SQLITED_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Refuse (NOT_FOUND) databases that do not exist yet, instead of creating them.
    #[arg(long, env = "SQLITED_NO_CREATE")]
    pub no_create: bool,

    /// Reader connections per database (default: the number of cores).
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

    /// PRAGMA synchronous of each writer: full (an acknowledged write survives power loss),
    /// normal (survives a crash of sqlited, not always a power loss), extra, or off.
    #[arg(long, env = "SQLITED_SYNCHRONOUS", value_enum, default_value = "full")]
    pub synchronous: Synchronous,

    /// Milliseconds SQLite waits on a locked database before answering busy.
    #[arg(long, env = "SQLITED_BUSY_TIMEOUT_MS", default_value_t = 5000)]
    pub busy_timeout_ms: u64,

    /// Prepared statements cached per connection.
    #[arg(long, env = "SQLITED_STATEMENT_CACHE", default_value_t = 256)]
    pub statement_cache: usize,

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

    /// Seconds a shutdown (SIGTERM, SIGINT) waits for in-flight requests before it cancels
    /// them.
    #[arg(long, env = "SQLITED_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
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
            synchronous: self.synchronous,
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            statement_cache: self.statement_cache,
            stream: StreamLimits {
                rows_per_message: self.rows_per_message.max(1),
                bytes_per_message: self.bytes_per_message.max(1),
                // Room for the message's own framing around the rows.
                max_message_bytes: self.max_message_bytes.saturating_sub(1024).max(1024),
            },
        }
    }

    /// How long a shutdown waits for in-flight requests.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
