//! One database: the routing of its requests between its writer and its readers (the
//! connections themselves are [`Connections`], behind the worker seam).
//!
//! Reads run on readers in parallel. Writes queue for the one writer, which group-commits
//! them. A statement is routed by what SQLite says of it: an unknown `Execute` goes to the
//! writer (which runs anything), an unknown `Query` to a reader, which hands a writing
//! statement back so it runs on the writer.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlited_proto::v1::{ExecuteResponse, Statement};
use tokio::sync::{mpsc, oneshot};

use super::routes::{Route, Routes};
use super::rows::QueryRows;
use crate::error::{Error, Result};
use crate::worker::WorkerKind;
use crate::worker::cancel::CancelToken;
use crate::worker::connection::{ConnectionSettings, Synchronous};
use crate::worker::connections::{Connections, ConnectionsOptions, Target, worker_lost};
use crate::worker::job::{Answered, Handled, Prepared, Query};
use crate::worker::kv::KvRead;
use crate::worker::reply::Streamed;
use crate::worker::transaction::TxSession;
use crate::worker::{Call, Job, Outcome, StreamLimits};

/// Result messages a query may have in flight between its worker and its client.
const QUERY_CHANNEL: usize = 2;

/// How every database of a server is run; set from the command line.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Reader connections per database.
    pub readers: usize,
    /// Read requests that may wait for a reader, per database, before RESOURCE_EXHAUSTED.
    pub read_queue_depth: usize,
    /// Write requests that may wait for the writer, per database, before RESOURCE_EXHAUSTED.
    pub write_queue_depth: usize,
    /// The most write requests one group commit takes.
    pub max_group: usize,
    /// A group commit stops taking requests past about this many bytes of statements.
    pub max_group_bytes: usize,
    /// `PRAGMA synchronous` of the writer.
    pub synchronous: Synchronous,
    /// How long SQLite waits on a lock before SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// Prepared statements cached per connection.
    pub statement_cache: usize,
    /// The bytes the client's statements cached per connection may hold (0: no byte bound).
    pub statement_cache_bytes: usize,
    /// The page cache of each connection, in KiB.
    pub cache_kib: u32,
    /// Whether the SQL sandbox is on.
    pub sandbox: bool,
    /// How query results are cut into messages.
    pub stream: StreamLimits,
    /// Where the workers run: threads or child processes.
    pub workers: WorkerKind,
    /// Litestream replicates every database (`--replica-url`).
    pub replicated: bool,
    /// The SQLite memory one request may add beyond the page cache, on a reader and on the
    /// writer.
    pub request_memory: crate::memory::MemoryBudgets,
}

/// Why a database takes no more requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// An admin dropped it.
    Dropped,
    /// The server stops.
    ShuttingDown,
}

impl Closed {
    /// The answer to a request that reached database `name` after it closed: nothing of
    /// the request ran.
    fn error(self, name: &str) -> Error {
        match self {
            Self::Dropped => Error::Unavailable(format!(
                "database {name:?} was dropped while this request was on its way to it; \
                 nothing of the request ran. Retry: a read finds it gone, a write creates it \
                 anew (unless --no-create)"
            )),
            Self::ShuttingDown => Error::Unavailable(
                "the server is shutting down; retry on another instance or later".into(),
            ),
        }
    }
}

/// One open database.
pub struct Database {
    name: String,
    connections: Connections,
    /// Set once the database takes no more requests ([`Database::refuse`]).
    refused: OnceLock<Closed>,
    /// Held shared while a request is handed to a worker, exclusively once by
    /// [`Database::close`]: so no worker is fed, or started to replace a dead one, after
    /// the connections closed (a reader started then would open the file of a database
    /// dropped, or of the next one under its name).
    gate: tokio::sync::RwLock<()>,
    routes: Routes,
    options: DatabaseOptions,
    /// The database file.
    path: PathBuf,
    /// Its replication, with `--replica-url`: each write tells it (and, in sync mode, waits
    /// for the replica) once committed.
    replica: Option<Arc<crate::replication::Replica>>,
}

impl Database {
    /// Opens the database file `path` (creating it), starting its writer now and its readers
    /// as they are needed.
    pub async fn open(name: &str, path: PathBuf, options: DatabaseOptions) -> Result<Self> {
        let settings = ConnectionSettings {
            path: path.clone(),
            synchronous: options.synchronous,
            busy_timeout: options.busy_timeout,
            statement_cache: options.statement_cache,
            statement_cache_bytes: options.statement_cache_bytes,
            cache_kib: options.cache_kib,
            sandbox: options.sandbox,
            max_value_bytes: options.stream.max_message_bytes,
            replicated: options.replicated,
            request_memory: options.request_memory,
        };
        let connections = Connections::open(
            name,
            settings,
            ConnectionsOptions {
                readers: options.readers,
                read_queue_depth: options.read_queue_depth,
                write_queue_depth: options.write_queue_depth,
                max_group: options.max_group,
                max_group_bytes: options.max_group_bytes,
                workers: options.workers.clone(),
            },
        )
        .await?;
        Ok(Self {
            name: name.to_string(),
            connections,
            refused: OnceLock::new(),
            gate: tokio::sync::RwLock::new(()),
            routes: Routes::new(4096),
            options,
            path,
            replica: None,
        })
    }

    /// The database, replicated by `replica` from now on.
    pub fn with_replica(mut self, replica: Arc<crate::replication::Replica>) -> Self {
        self.replica = Some(replica);
        self
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Called once a write is committed locally: in sync mode, returns only once the replica
    /// holds it (UNAVAILABLE if it does not within the sync timeout, or before the request's
    /// deadline).
    async fn replicated(&self, cancel: &CancelToken) -> Result<()> {
        match &self.replica {
            Some(replica) => replica.confirm(cancel.remaining()).await,
            None => Ok(()),
        }
    }

    /// Says that a write was committed through a path the engine does not see the end of
    /// (an interactive transaction's COMMIT), and waits for it as [`Self::replicated`].
    pub async fn committed(&self, cancel: &CancelToken) -> Result<()> {
        self.replicated(cancel).await
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs one statement, on a reader if it is known to be read-only, else on the writer.
    pub async fn execute(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<ExecuteResponse> {
        let route = self.routes.get(&statement.sql);
        if route == Some(Route::Read) {
            let outcome: Outcome = self
                .call(Target::AnyReader, Call::Execute(statement), cancel)
                .await?;
            return Ok(outcome.response);
        }
        // Kept only while the route is unknown, to learn it from the answer.
        let unlearned = route.is_none().then(|| statement.sql.clone());
        let outcome: Outcome = self
            .call(Target::Writer, Call::Execute(statement), cancel)
            .await?;
        if let Some(sql) = unlearned {
            let learned = if outcome.read_only {
                Route::Read
            } else {
                Route::Write
            };
            self.routes.learn(&sql, learned);
        }
        if !outcome.read_only {
            self.replicated(cancel).await?;
        }
        Ok(outcome.response)
    }

    /// Runs a maintenance statement on the writer between two group commits; returns the
    /// integer columns of its first row.
    pub async fn maintenance(
        &self,
        sql: &'static str,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<i64>> {
        self.call(Target::Writer, Call::Maintenance(sql), cancel)
            .await
    }

    /// Writes a consistent snapshot of the database to `target`, a new empty file (`VACUUM
    /// INTO` on a reader of its own, in one read transaction, so reads and writes go on);
    /// returns its size in bytes.
    pub async fn snapshot(&self, target: PathBuf, cancel: &Arc<CancelToken>) -> Result<u64> {
        self.call(Target::PinnedReader, Call::Snapshot(target), cancel)
            .await
    }

    /// Prepares each of `sql` without running it, on a reader: what SQLite makes of it.
    pub async fn prepare(
        &self,
        sql: Vec<String>,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<Prepared>> {
        self.call(Target::AnyReader, Call::Prepare(sql), cancel)
            .await
    }

    /// Applies a write to a persistent map on the writer, inside its group commit.
    pub async fn kv_write(
        &self,
        write: crate::worker::kv::KvWrite,
        cancel: &Arc<CancelToken>,
    ) -> Result<crate::worker::kv::KvWritten> {
        let written = self.call(Target::Writer, Call::Kv(write), cancel).await?;
        self.replicated(cancel).await?;
        Ok(written)
    }

    /// Runs `statements` in one transaction on the writer: all or nothing.
    pub async fn execute_batch(
        &self,
        statements: Vec<Statement>,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<ExecuteResponse>> {
        let responses = self
            .call(Target::Writer, Call::Batch(statements), cancel)
            .await?;
        self.replicated(cancel).await?;
        Ok(responses)
    }

    /// Hands `call` to `target` and waits for its answer, not past the request's deadline.
    async fn call<T: Answered>(
        &self,
        target: Target,
        call: Call,
        cancel: &Arc<CancelToken>,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        if matches!(target, Target::Writer) {
            cancel.note_write();
        }
        let job = Job::Call {
            call,
            reply: reply.into(),
        };
        self.submit(target, job, cancel).await?;
        cancel
            .wait(async { answer.await.ok() })
            .await
            .unwrap_or_else(|| Err(worker_lost()))?
            .expect()
    }

    /// Runs one statement and streams its result messages.
    pub async fn query(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        self.query_routed(statement, cancel, false).await
    }

    /// Runs one statement that must not write (a client's `mode=ro`): a statement that
    /// writes is refused as SQLite refuses a write to a database opened read-only, and
    /// nothing reaches the writer.
    pub async fn query_read_only(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        self.query_routed(statement, cancel, true).await
    }

    /// A query on a reader, handed on to the writer if it writes — or refused there when
    /// `read_only`.
    async fn query_routed(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
        read_only: bool,
    ) -> Result<QueryRows> {
        let route = self.routes.get(&statement.sql);
        if route == Some(Route::Write) {
            if read_only {
                return Err(read_only_refusal());
            }
            return self.query_on_writer(statement, cancel).await;
        }
        // Kept only while the route is unknown, to send the statement on if it writes.
        let retry = route.is_none().then(|| statement.clone());
        let (sink, mut rest) = mpsc::channel(QUERY_CHANNEL);
        let limits = self.options.stream;
        let job = Job::Query {
            query: Query::Sql(statement),
            limits,
            sink: sink.into(),
        };
        self.submit_read(job, cancel).await?;
        match cancel.wait(rest.recv()).await {
            Some(Ok(Handled::NeedsWriter)) => {
                let statement = retry.ok_or_else(|| {
                    Error::Internal("a statement known to read was refused by a reader".into())
                })?;
                self.routes.learn(&statement.sql, Route::Write);
                if read_only {
                    return Err(read_only_refusal());
                }
                self.query_on_writer(statement, cancel).await
            }
            Some(first) => {
                // Only a statement that ran is known to read: one that failed to prepare (no
                // such table yet) may write once the schema lets it.
                if let (Some(statement), Ok(_)) = (retry, &first) {
                    self.routes.learn(&statement.sql, Route::Read);
                }
                Ok(QueryRows::new(first, rest, cancel))
            }
            None => Err(worker_lost()),
        }
    }

    /// Reads a persistent map, on a reader; a map never written reads as empty.
    pub async fn kv_read(&self, read: KvRead, cancel: &Arc<CancelToken>) -> Result<QueryRows> {
        let (sink, rest) = mpsc::channel(QUERY_CHANNEL);
        let job = Job::Query {
            query: Query::Map(read),
            limits: self.options.stream,
            sink: sink.into(),
        };
        self.submit(Target::AnyReader, job, cancel).await?;
        self.rows(rest, cancel).await
    }

    /// The stream of a query's messages, once its first has come.
    async fn rows(
        &self,
        mut rest: mpsc::Receiver<Streamed>,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        match cancel.wait(rest.recv()).await {
            Some(first) => Ok(QueryRows::new(first, rest, cancel)),
            None => Err(worker_lost()),
        }
    }

    async fn query_on_writer(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        // Unbounded: the writer collects a writing query's rows (within --max-message-bytes)
        // before it commits, then hands them over without waiting for the client.
        let (sink, mut rest) = mpsc::unbounded_channel();
        cancel.note_write();
        let limits = self.options.stream;
        let job = Job::Query {
            query: Query::Sql(statement),
            limits,
            sink: sink.into(),
        };
        self.submit_write(job, cancel).await?;
        match cancel.wait(rest.recv()).await {
            // The writer sends a writing query's first message after its COMMIT.
            Some(first) => {
                if first.is_ok() {
                    self.replicated(cancel).await?;
                }
                Ok(QueryRows::new(first, rest, cancel))
            }
            None => Err(worker_lost()),
        }
    }

    /// Starts an interactive transaction: on the writer, or on a reader (pinned until the
    /// transaction ends) when `read_only`. Returns once the session is queued; its `started`
    /// channel says when BEGIN ran.
    pub async fn start_transaction(&self, session: TxSession, read_only: bool) -> Result<()> {
        let cancel = Arc::clone(&session.cancel);
        let job = Job::Transaction(session);
        if read_only {
            self.submit_pinned_read(job, &cancel).await
        } else {
            self.submit_write(job, &cancel).await
        }
    }

    /// Queues `job` for the next free reader.
    async fn submit_read(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        self.submit(Target::AnyReader, job, cancel).await
    }

    /// Hands a read-only transaction to a reader of its own.
    async fn submit_pinned_read(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        self.submit(Target::PinnedReader, job, cancel).await
    }

    /// Queues `job` for the writer.
    async fn submit_write(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        self.submit(Target::Writer, job, cancel).await
    }

    /// Hands `job` to `target`, unless the database was closed: every hand-over to a
    /// worker passes here.
    async fn submit(&self, target: Target, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        let _open = self.gate.read().await;
        self.refusal()?;
        self.connections.submit(target, job, cancel).await
    }

    /// The answer to a request for this database, if it takes no more.
    pub fn refusal(&self) -> Result<()> {
        match self.refused.get() {
            Some(why) => Err(why.error(&self.name)),
            None => Ok(()),
        }
    }

    /// Takes no more requests from now on: each is answered as `why` says (the work handed
    /// to the workers already runs to its end).
    pub fn refuse(&self, why: Closed) {
        let _ = self.refused.set(why);
    }

    /// Refuses new requests (if not yet), waits for the hand-overs in progress, then stops
    /// the readers and the writer (after the work queued for them), which checkpoints the
    /// WAL as it closes.
    pub async fn close(&self) {
        self.refuse(Closed::ShuttingDown);
        let _closing = self.gate.write().await;
        self.connections.close().await;
    }
}

/// What a read-only request that writes is told: SQLite's own words for a write to a
/// database opened read-only (SQLITE_READONLY), as sqlite3's `mode=ro` gives.
fn read_only_refusal() -> Error {
    Error::Sqlite {
        code: rusqlite::ffi::SQLITE_READONLY,
        message: "attempt to write a readonly database: the statement writes, and the request \
                  is read_only (a client opened the database with mode=ro)"
            .into(),
        field: Some("statement.sql".into()),
    }
}
