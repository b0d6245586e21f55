//! Workers: each owns one SQLite connection and runs the tasks handed to it, one at a time.
//!
//! The rest of the server sees only the [`Worker`] interface, so a worker may live on a
//! dedicated OS thread ([`thread`]) or in a child process ([`process`]). A deadpool
//! [`manager::WorkerManager`] creates, health-checks and replaces them.
//!
//! Layout:
//! - [`connections`]: a database's connections (writer, shared readers, pinned readers):
//!   the seam the engine uses, `submit(Target, job)`.
//! - [`supervision`]: the rule that keeps each kind of worker serving: what a request sees
//!   when workers die or cannot start, and who starts them again.
//! - [`budget`]: the restart backoff of each kind of worker of a database.
//! - [`readers`]: the readers sharing one queue of single reads, and their supervisor.
//! - [`connection`]: opening a connection for a role (pragmas, authorizer) and closing it.
//! - [`statement_cache`]: what a connection's statement cache may keep of the client's
//!   statements, in bytes (no statement too large, no more than the bound together).
//! - [`safety`]: the SQLite settings and limits every connection gets, each with its reason.
//! - [`files`]: which files a connection may open (no symbolic or hard links).
//! - [`integrity`]: whether a restored copy is a sound SQLite database, checked by a worker
//!   of its own.
//! - [`job`]: the one definition of a job (a call answered once, a query, a transaction)
//!   and the one place a call is dispatched.
//! - [`executor`]: running one statement, batch or query against a connection; prepare
//!   checks and snapshots.
//! - [`group_commit`]: the writer's loop: many pending writes, one transaction, one fsync.
//! - [`wal_frames`]: the frames a replicated writer appends to the WAL (its lag in frames).
//! - [`kv`]: writes to persistent maps (the KeyValue service).
//! - [`transaction`]: an interactive transaction pinned to one worker.
//! - [`sandbox`]: what the SQLite authorizer lets a request do (sandbox and roles; its
//!   PRAGMAs, and the files ATTACH may name with `--unsafe-sql`).
//! - [`request_state`]: what a request may leave on a shared connection (`--unsafe-sql`:
//!   attached databases, connection settings), undone when it ends.
//! - [`schema_probe`]: refusing, when it is created, a view, trigger or DEFAULT that calls a
//!   function no schema may call.
//! - [`reply`]: where a job's answer goes (a channel, or a function in a worker process).
//! - [`cancel`]: deadlines and cancellation that interrupt SQLite.
//! - [`classify`]: whether SQL for a database not yet created writes.
//! - [`thread`]: the worker on a dedicated OS thread.
//! - [`process`]: the worker in a child process (`--workers processes`).
//! - [`manager`]: starting one kind of worker through its budget; the deadpool `Manager`.

pub mod budget;
pub mod cancel;
pub mod classify;
pub mod connection;
pub mod connections;
#[cfg(test)]
mod core_tests;
pub mod executor;
pub mod files;
mod group_commit;
pub mod integrity;
pub mod job;
pub mod kv;
mod manager;
pub mod process;
mod readers;
pub mod reply;
mod request_state;
pub mod safety;
pub mod sandbox;
#[cfg(test)]
mod sandbox_tests;
mod schema_probe;
mod statement_cache;
pub mod supervision;
#[cfg(test)]
mod supervision_tests;
mod thread;
pub mod transaction;
pub mod wal_frames;

use std::fmt;

use crate::error::Error;

pub use job::{Answer, Call, Job, Outcome, Task, reply_error};
pub use manager::WorkerKind;
pub use wal_frames::WalFrames;

/// What a worker's connection is for. (A prost enumeration: a worker process is told its
/// role in its `Hello`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, prost::Enumeration)]
pub enum Role {
    /// A read-only connection; a statement that writes it leaves to the writer
    /// ([`job::Handled::NeedsWriter`]).
    Reader = 0,
    /// The one connection of a database that writes; it group-commits.
    Writer = 1,
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

/// The maintenance statements the server runs on a writer (`Call::Maintenance`).
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

/// Why a worker did not take a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Its queue is full.
    Full,
    /// It has stopped (crashed or closed).
    Stopped,
}

/// Offers `task` to a worker's own queue (`queue` `None`: the worker is closing). A worker
/// found dead refuses it, so the caller may try another; one that died just as the task
/// went in may have emptied its queue before the task arrived (rule 2 of [`supervision`]),
/// so the queue is emptied again here: whatever waits in a dead worker's queue is failed,
/// never left to its deadline.
#[allow(clippy::result_large_err)]
fn offer(
    queue: Option<&crossbeam_channel::Sender<Task>>,
    queued: &crossbeam_channel::Receiver<Task>,
    alive: impl Fn() -> bool,
    task: Task,
) -> std::result::Result<(), (Rejected, Task)> {
    let Some(queue) = queue else {
        return Err((Rejected::Stopped, task));
    };
    if !alive() {
        return Err((Rejected::Stopped, task));
    }
    match queue.try_send(task) {
        Ok(()) => {
            if !alive() {
                fail_queued(queued);
            }
            Ok(())
        }
        Err(crossbeam_channel::TrySendError::Full(task)) => Err((Rejected::Full, task)),
        Err(crossbeam_channel::TrySendError::Disconnected(task)) => Err((Rejected::Stopped, task)),
    }
}

/// Fails every task waiting in the own queue of a worker that died: none of them ran.
pub fn fail_queued(queued: &crossbeam_channel::Receiver<Task>) {
    while let Ok(task) = queued.try_recv() {
        reply_error(
            task,
            Error::Unavailable(
                "the worker this request waited for stopped before running it (nothing of it \
                 ran); retry"
                    .into(),
            ),
        );
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
