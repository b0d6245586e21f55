//! One database: a writer fed by a queue, readers fed by another, a deadpool of readers for
//! read-only transactions, and the routing between them.
//!
//! Reads run on readers in parallel. Writes queue for the one writer, which group-commits
//! them. A statement is routed by what SQLite says of it: an unknown `Execute` goes to the
//! writer (which runs anything), an unknown `Query` to a reader, which hands a writing
//! statement back so it runs on the writer.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool::managed::PoolError;
use sqlited_proto::v1::{ExecuteResponse, Statement};
use tokio::sync::{mpsc, oneshot};

use super::readers::Readers;
use super::routes::{Route, Routes};
use super::rows::QueryRows;
use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;
use crate::worker::connection::{ConnectionSettings, Synchronous};
use crate::worker::manager::{WorkerKind, WorkerManager, WorkerPool};
use crate::worker::thread::ThreadOptions;
use crate::worker::transaction::TxSession;
use crate::worker::{Job, Rejected, Role, StreamLimits, Task, Worker};

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
    /// The page cache of each connection, in KiB.
    pub cache_kib: u32,
    /// Whether the SQL sandbox is on.
    pub sandbox: bool,
    /// How query results are cut into messages.
    pub stream: StreamLimits,
    /// Where the workers run: threads or child processes.
    pub workers: WorkerKind,
}

/// One open database.
pub struct Database {
    name: String,
    /// Readers of single statements, sharing one queue.
    readers: Readers,
    /// Dedicated readers for read-only transactions, checked out for a transaction's life:
    /// created on demand, checked before reuse, replaced when dead.
    transaction_readers: WorkerPool,
    writer_manager: WorkerManager,
    /// The writer; replaced when it dies, taken at close. A std lock: held to clone the Arc.
    writer: RwLock<Option<Arc<dyn Worker>>>,
    /// Serialises replacing a dead writer.
    writer_restart: tokio::sync::Mutex<()>,
    routes: Routes,
    options: DatabaseOptions,
    /// The database file.
    path: PathBuf,
    /// The write-queue gauge, looked up once rather than on every write.
    write_queue: ::metrics::Gauge,
}

impl Database {
    /// Opens the database file `path` (creating it), starting its writer now and its readers
    /// as they are needed.
    pub async fn open(name: &str, path: PathBuf, options: DatabaseOptions) -> Result<Self> {
        let settings = Arc::new(ConnectionSettings {
            path,
            synchronous: options.synchronous,
            busy_timeout: options.busy_timeout,
            statement_cache: options.statement_cache,
            cache_kib: options.cache_kib,
            sandbox: options.sandbox,
            max_value_bytes: options.stream.max_message_bytes,
        });
        let writer_manager = WorkerManager::new(
            Role::Writer,
            Arc::clone(&settings),
            ThreadOptions {
                queue_depth: options.write_queue_depth,
                max_group: options.max_group,
                max_group_bytes: options.max_group_bytes,
            },
            options.workers.clone(),
        );
        // The writer opens first: it creates the file and turns on WAL mode for the readers.
        let writer: Arc<dyn Worker> = writer_manager.start().await?;
        let reader_manager = WorkerManager::new(
            Role::Reader,
            Arc::clone(&settings),
            ThreadOptions {
                queue_depth: 2,
                max_group: 1,
                max_group_bytes: 0,
            },
            options.workers.clone(),
        );
        let readers = Readers::start(
            name,
            WorkerManager::new(
                Role::Reader,
                Arc::clone(&settings),
                ThreadOptions {
                    queue_depth: 1,
                    max_group: 1,
                    max_group_bytes: 0,
                },
                options.workers.clone(),
            ),
            options.readers,
            options.read_queue_depth,
        )
        .await?;
        let transaction_readers = WorkerPool::builder(reader_manager)
            .max_size(options.readers.max(1))
            .build()
            .map_err(|err| Error::Internal(format!("cannot build the reader pool: {err}")))?;
        Ok(Self {
            name: name.to_string(),
            readers,
            transaction_readers,
            writer_manager,
            writer: RwLock::new(Some(writer)),
            writer_restart: tokio::sync::Mutex::new(()),
            routes: Routes::new(4096),
            options,
            path: settings.path.clone(),
            write_queue: ::metrics::gauge!(crate::metrics::names::WRITE_QUEUE, "database" => name.to_string()),
        })
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
            let (reply, answer) = oneshot::channel();
            self.submit_read(
                Job::Execute {
                    statement,
                    reply: reply.into(),
                },
                cancel,
            )
            .await?;
            return Ok(receive(answer, cancel).await?.response);
        }
        // Kept only while the route is unknown, to learn it from the answer.
        let unlearned = route.is_none().then(|| statement.sql.clone());
        let (reply, answer) = oneshot::channel();
        self.submit_write(
            Job::Execute {
                statement,
                reply: reply.into(),
            },
            cancel,
        )
        .await?;
        let outcome = receive(answer, cancel).await?;
        if let Some(sql) = unlearned {
            let learned = if outcome.read_only {
                Route::Read
            } else {
                Route::Write
            };
            self.routes.learn(&sql, learned);
        }
        Ok(outcome.response)
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs a maintenance statement on the writer between two group commits; returns the
    /// integer columns of its first row.
    pub async fn maintenance(
        &self,
        sql: &'static str,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<i64>> {
        let (reply, answer) = oneshot::channel();
        self.submit_write(
            Job::Maintenance {
                sql,
                reply: reply.into(),
            },
            cancel,
        )
        .await?;
        receive(answer, cancel).await
    }

    /// Writes a consistent snapshot of the database to `target`, a new empty file (`VACUUM
    /// INTO` on a connection of its own, in one read transaction, so reads and writes go on).
    pub async fn snapshot(&self, target: PathBuf) -> Result<u64> {
        let source = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open_with_flags(
                &source,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.execute("VACUUM INTO ?1", [target.to_string_lossy()])?;
            let bytes = std::fs::metadata(&target)
                .map_err(|err| Error::Internal(format!("cannot read the snapshot: {err}")))?
                .len();
            Ok(bytes)
        })
        .await
        .map_err(|err| Error::Internal(format!("the snapshot task failed: {err}")))?
    }

    /// Applies a write to a persistent map on the writer, inside its group commit.
    pub async fn kv_write(
        &self,
        write: crate::worker::kv::KvWrite,
        cancel: &Arc<CancelToken>,
    ) -> Result<crate::worker::kv::KvWritten> {
        let (reply, answer) = oneshot::channel();
        self.submit_write(
            Job::Kv {
                write,
                reply: reply.into(),
            },
            cancel,
        )
        .await?;
        receive(answer, cancel).await
    }

    /// Runs `statements` in one transaction on the writer: all or nothing.
    pub async fn execute_batch(
        &self,
        statements: Vec<Statement>,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<ExecuteResponse>> {
        let (reply, answer) = oneshot::channel();
        self.submit_write(
            Job::Batch {
                statements,
                reply: reply.into(),
            },
            cancel,
        )
        .await?;
        receive(answer, cancel).await
    }

    /// Runs one statement and streams its result messages.
    pub async fn query(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        let route = self.routes.get(&statement.sql);
        if route == Some(Route::Write) {
            return self.query_on_writer(statement, cancel).await;
        }
        // Kept only while the route is unknown, to send the statement on if it writes.
        let retry = route.is_none().then(|| statement.clone());
        let (sink, mut rest) = mpsc::channel(QUERY_CHANNEL);
        let limits = self.options.stream;
        let job = Job::Query {
            statement,
            limits,
            sink: sink.into(),
        };
        self.submit_read(job, cancel).await?;
        match cancel.wait(rest.recv()).await {
            Some(Err(Error::NeedsWriter)) => {
                let statement = retry.ok_or_else(|| {
                    Error::Internal("a statement known to read was refused by a reader".into())
                })?;
                self.routes.learn(&statement.sql, Route::Write);
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

    async fn query_on_writer(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        // Unbounded: the writer collects a writing query's rows (within --max-message-bytes)
        // before it commits, then hands them over without waiting for the client.
        let (sink, mut rest) = mpsc::unbounded_channel();
        let limits = self.options.stream;
        let job = Job::Query {
            statement,
            limits,
            sink: sink.into(),
        };
        self.submit_write(job, cancel).await?;
        match cancel.wait(rest.recv()).await {
            Some(first) => Ok(QueryRows::new(first, rest, cancel)),
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
        self.readers
            .submit(Task::new(job, Arc::clone(cancel)))
            .await
    }

    /// Hands a read-only transaction to a dedicated reader from the pool; the reader goes
    /// back to the pool when the transaction ends.
    async fn submit_pinned_read(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        let reader = match cancel
            .wait(async { Some(self.transaction_readers.get().await.map_err(pool_error)) })
            .await
        {
            Some(reader) => reader?,
            None => return Err(worker_lost()),
        };
        let worker = Arc::clone(&*reader);
        let task = Task {
            job,
            lease: Some(Box::new(reader)),
            cancel: Arc::clone(cancel),
        };
        worker.submit(task).map_err(|_| worker_lost())
    }

    /// Queues `job` for the writer, replacing the writer first if it has died.
    async fn submit_write(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        let mut task = Task::new(job, Arc::clone(cancel));
        for _ in 0..3 {
            let writer = self.writer().await?;
            match writer.submit(task) {
                Ok(()) => {
                    self.write_queue.increment(1);
                    return Ok(());
                }
                Err((Rejected::Full, _)) => {
                    return Err(Error::ResourceExhausted {
                        message: format!(
                            "the write queue of database {:?} is full ({} requests); retry \
                             shortly, or raise --write-queue-depth",
                            self.name, self.options.write_queue_depth
                        ),
                        retryable: true,
                    });
                }
                // The writer died between the liveness check and the send: the next round
                // starts a new one.
                Err((Rejected::Stopped, returned)) => task = returned,
            }
        }
        Err(worker_lost())
    }

    /// The live writer, restarted if it died.
    async fn writer(&self) -> Result<Arc<dyn Worker>> {
        if let Some(writer) = self.current_writer()?
            && writer.is_alive()
        {
            return Ok(writer);
        }
        let _restart = self.writer_restart.lock().await;
        if let Some(writer) = self.current_writer()?
            && writer.is_alive()
        {
            return Ok(writer);
        }
        tracing::warn!(database = %self.name, "the writer died; starting a new one");
        ::metrics::counter!(crate::metrics::names::WORKER_RESTARTS, "role" => "writer")
            .increment(1);
        let writer: Arc<dyn Worker> = self.writer_manager.start().await?;
        let mut slot = self.writer.write().expect("writer slot poisoned");
        if slot.is_none() {
            return Err(shutting_down());
        }
        *slot = Some(Arc::clone(&writer));
        Ok(writer)
    }

    fn current_writer(&self) -> Result<Option<Arc<dyn Worker>>> {
        let slot = self.writer.read().expect("writer slot poisoned");
        match &*slot {
            Some(writer) => Ok(Some(Arc::clone(writer))),
            None => Err(shutting_down()),
        }
    }

    /// Stops the readers, then the writer, which checkpoints the WAL as it closes.
    pub async fn close(&self) {
        let single_readers = self.readers.close().await;
        let readers = self.transaction_readers.clone();
        let writer = self.writer.write().expect("writer slot poisoned").take();
        // Dropping workers joins their threads: keep that off the async runtime.
        let _ = tokio::task::spawn_blocking(move || {
            drop(single_readers);
            readers.close();
            drop(writer);
        })
        .await;
    }
}

/// Waits for a worker's answer, not past the request's deadline.
async fn receive<T>(answer: oneshot::Receiver<Result<T>>, cancel: &CancelToken) -> Result<T> {
    cancel
        .wait(async { answer.await.ok() })
        .await
        .unwrap_or_else(|| Err(worker_lost()))
}

fn worker_lost() -> Error {
    Error::Unavailable(
        "the worker running this request stopped before answering; a write may or may not \
         have committed; retry"
            .into(),
    )
}

fn shutting_down() -> Error {
    Error::Unavailable("the server is shutting down; retry on another instance or later".into())
}

fn pool_error(err: PoolError<Error>) -> Error {
    match err {
        PoolError::Backend(err) => err,
        PoolError::Closed => shutting_down(),
        other => Error::Unavailable(format!("no reader available: {other}; retry")),
    }
}
