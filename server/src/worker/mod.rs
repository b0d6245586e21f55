//! Workers: each owns one SQLite connection and runs the tasks handed to it, one at a time.
//!
//! The rest of the server sees only the [`Worker`] interface, so a worker may live on a
//! dedicated OS thread ([`thread`]) or in a child process ([`process`]). A deadpool
//! [`manager::WorkerManager`] creates, health-checks and replaces them.
//!
//! Layout:
//! - [`connections`]: a database's connections (writer, shared readers, pinned readers):
//!   the seam the engine uses, `submit(Target, job)`.
//! - [`readers`]: the readers sharing one queue of single reads.
//! - [`connection`]: opening a connection for a role (pragmas, authorizer) and closing it.
//! - [`safety`]: the SQLite settings and limits every connection gets, each with its reason.
//! - [`files`]: which files a connection may open (no symbolic or hard links).
//! - [`executor`]: running one task against a connection: execute, query, batch.
//! - [`group_commit`]: the writer's loop: many pending writes, one transaction, one fsync.
//! - [`kv`]: writes to persistent maps (the KeyValue service).
//! - [`transaction`]: an interactive transaction pinned to one worker.
//! - [`sandbox`]: what the SQLite authorizer lets a request do (sandbox and roles).
//! - [`reply`]: where a job's answer goes (a channel, or a function in a worker process).
//! - [`cancel`]: deadlines and cancellation that interrupt SQLite.
//! - [`thread`]: the worker on a dedicated OS thread.
//! - [`process`]: the worker in a child process (`--workers processes`).
//! - [`manager`]: the deadpool `Manager` over workers.

pub mod cancel;
pub mod connection;
pub mod connections;
#[cfg(test)]
mod core_tests;
pub mod executor;
pub mod files;
mod group_commit;
pub mod kv;
mod manager;
pub mod process;
mod readers;
pub mod reply;
pub mod safety;
pub mod sandbox;
mod thread;
pub mod transaction;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub use manager::WorkerKind;

use cancel::CancelToken;
use reply::{Reply, RowSink};
use sqlited_proto::v1::{ExecuteResponse, Statement};

/// What a worker's connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A read-only connection; a statement that writes is handed back with `NeedsWriter`.
    Reader,
    /// The one connection of a database that writes; it group-commits.
    Writer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
        })
    }
}

/// How result rows are cut into messages.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// At most this many rows in one message.
    pub rows_per_message: usize,
    /// A message is sent once its rows reach about this many bytes.
    pub bytes_per_message: usize,
    /// A single row larger than this is refused: no message could carry it.
    pub max_message_bytes: usize,
    /// The most rows one query may return (0: no cap); past it the query fails.
    pub max_rows: u64,
}

/// The result of one executed statement.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// What the client is told.
    pub response: ExecuteResponse,
    /// Whether the statement was read-only; the database remembers it to route the same SQL
    /// to a reader next time.
    pub read_only: bool,
}

/// One unit of work for a worker, with the channel its answer goes back on.
pub enum Job {
    /// Run one statement; rows it returns are discarded.
    Execute {
        statement: Statement,
        reply: Reply<Outcome>,
    },
    /// Run statements in one transaction, all or nothing.
    Batch {
        statements: Vec<Statement>,
        reply: Reply<Vec<ExecuteResponse>>,
    },
    /// Run one statement and stream its rows. The worker blocks when `sink` is full, so a
    /// slow client slows only its own statement. The stream ends when the worker drops `sink`.
    Query {
        statement: Statement,
        limits: StreamLimits,
        sink: RowSink,
    },
    /// Run an interactive transaction: the worker serves only it until it ends.
    Transaction(transaction::TxSession),
    /// A write to a persistent map, atomic and durable like a statement.
    Kv {
        write: kv::KvWrite,
        reply: Reply<kv::KvWritten>,
    },
    /// Run a maintenance statement of the server's own (checkpoint, optimize, VACUUM) outside
    /// any transaction; the answer is the integer columns of its first row, if any.
    Maintenance {
        sql: &'static str,
        reply: Reply<Vec<i64>>,
    },
}

/// The maintenance statements the server runs on a writer (`Job::Maintenance`).
pub mod maintenance {
    /// Moves the WAL's pages into the database and empties the WAL.
    pub const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
    /// Moves what it can of the WAL into the database without waiting on any reader, and
    /// leaves the WAL as it is: the only checkpoint a database Litestream replicates gets.
    pub const CHECKPOINT_PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
    /// Lets SQLite refresh the statistics its planner uses.
    pub const OPTIMIZE: &str = "PRAGMA optimize";
    /// Rebuilds the database file.
    pub const VACUUM: &str = "VACUUM";
    /// All of them, for a worker process to map a name back to its constant.
    pub const ALL: &[&str] = &[CHECKPOINT, CHECKPOINT_PASSIVE, OPTIMIZE, VACUUM];
}

/// Answers `task` with `err` without running it.
pub fn reply_error(task: Task, err: crate::error::Error) {
    match task.job {
        Job::Execute { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Job::Batch { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Job::Query { sink, .. } => sink.try_send(Err(err)),
        Job::Transaction(session) => {
            let _ = session.started.send(Err(err));
        }
        Job::Maintenance { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Job::Kv { reply, .. } => {
            let _ = reply.send(Err(err));
        }
    }
}

/// A job and what must stay alive while it runs.
pub struct Task {
    /// The work.
    pub job: Job,
    /// Dropped by the worker after the job is done: for a pooled reader, its pool object, so
    /// the reader goes back to the pool only once it is really free.
    pub lease: Option<Box<dyn Any + Send>>,
    /// Stops the job when its deadline passes or its client goes away.
    pub cancel: Arc<CancelToken>,
}

impl Task {
    /// A task with nothing to keep alive, stopped by `cancel`.
    pub fn new(job: Job, cancel: Arc<CancelToken>) -> Self {
        Self {
            job,
            lease: None,
            cancel,
        }
    }
}

/// Why a worker did not take a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Its queue is full.
    Full,
    /// It has stopped (crashed or closed).
    Stopped,
}

/// Offers `task` to a worker's own queue (`None`: the worker is closing).
#[allow(clippy::result_large_err)]
fn offer(
    queue: Option<&crossbeam_channel::Sender<Task>>,
    task: Task,
) -> std::result::Result<(), (Rejected, Task)> {
    let Some(queue) = queue else {
        return Err((Rejected::Stopped, task));
    };
    match queue.try_send(task) {
        Ok(()) => Ok(()),
        Err(crossbeam_channel::TrySendError::Full(task)) => Err((Rejected::Full, task)),
        Err(crossbeam_channel::TrySendError::Disconnected(task)) => Err((Rejected::Stopped, task)),
    }
}

/// One SQLite connection that runs tasks, wherever it lives.
pub trait Worker: Send + Sync {
    /// A number naming this worker in logs.
    fn id(&self) -> u64;
    /// Hands `task` to the worker without waiting; the answer comes on the task's channel.
    /// A refused task comes back with the reason.
    // The task travels back by value so a retry needs no allocation.
    #[allow(clippy::result_large_err)]
    fn submit(&self, task: Task) -> std::result::Result<(), (Rejected, Task)>;
    /// Whether the worker still runs tasks.
    fn is_alive(&self) -> bool;
}
