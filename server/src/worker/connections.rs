//! A database's connections: the one writer (restarted when it dies), the readers that share
//! one queue of single reads, and a deadpool of readers pinned by read-only transactions.
//!
//! This is the worker seam: the engine says *what* runs *where* ([`Target`]) and hands a job
//! over with [`Connections::submit`]; how workers are made (threads or processes), fed,
//! checked and replaced is known only here and below. Each of the three kinds of worker
//! follows the rule of [`super::supervision`]: the writer and the pinned readers start again
//! on the next request that needs one, the shared readers by their supervisor.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool::managed::{PoolError, Timeouts};

use super::cancel::CancelToken;
use super::connection::ConnectionSettings;
use super::job::Lease;
use super::manager::{WorkerKind, WorkerManager, WorkerPool};
use super::readers::Readers;
use super::supervision::Pool;
use super::thread::ThreadOptions;
use super::{Job, Rejected, Task, Worker};
use crate::error::{Error, Result};

/// Where a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The database's one writer, in its group commit.
    Writer,
    /// Whichever reader is free next.
    AnyReader,
    /// A reader of its own for the job's life (a read-only transaction), from the pool.
    PinnedReader,
}

/// How a database's connections are run.
#[derive(Debug, Clone)]
pub struct ConnectionsOptions {
    /// Reader connections for single reads (and the most pinned readers).
    pub readers: usize,
    /// Reads that may wait for a reader before RESOURCE_EXHAUSTED.
    pub read_queue_depth: usize,
    /// Writes that may wait for the writer before RESOURCE_EXHAUSTED.
    pub write_queue_depth: usize,
    /// The most write requests one group commit takes.
    pub max_group: usize,
    /// A group commit stops taking requests past about this many bytes of statements.
    pub max_group_bytes: usize,
    /// Where the workers run: threads or child processes.
    pub workers: WorkerKind,
}

/// The connections of one open database.
pub struct Connections {
    name: String,
    /// Readers of single statements, sharing one queue.
    readers: Readers,
    /// Dedicated readers for read-only transactions, checked out for a transaction's life:
    /// created on demand, checked before reuse, replaced when dead.
    pinned: WorkerPool,
    writer_manager: WorkerManager,
    /// The writer; replaced when it dies, taken at close. A std lock: held to clone the Arc.
    writer: RwLock<Option<Arc<dyn Worker>>>,
    /// Serialises replacing a dead writer.
    writer_restart: tokio::sync::Mutex<()>,
    write_queue_depth: usize,
    /// The write-queue gauge, looked up once rather than on every write; the writer's group
    /// commit takes back what is added here.
    write_queue: ::metrics::Gauge,
}

impl Connections {
    /// Opens the connections of database `name` on `settings.path`: the writer now (it
    /// creates the file and turns on WAL mode for the readers), then the shared readers;
    /// pinned readers as read-only transactions need them.
    pub async fn open(
        name: &str,
        settings: ConnectionSettings,
        options: ConnectionsOptions,
    ) -> Result<Self> {
        let settings = Arc::new(settings);
        // A writer's queue holds the waiting writes, and its group commit takes them in
        // groups. A pinned reader runs one transaction's commands, one at a time, with one
        // more queued; a shared reader takes from the common queue, so its own holds one.
        let manager = |pool, queue_depth, max_group, max_group_bytes| {
            WorkerManager::new(
                pool,
                Arc::clone(&settings),
                ThreadOptions {
                    queue_depth,
                    max_group,
                    max_group_bytes,
                },
                options.workers.clone(),
            )
        };
        let writer_manager = manager(
            Pool::Writer,
            options.write_queue_depth,
            options.max_group,
            options.max_group_bytes,
        );
        let writer: Arc<dyn Worker> = writer_manager.start().await?;
        let readers = Readers::start(
            name,
            manager(Pool::Readers, 1, 1, 0),
            options.readers,
            options.read_queue_depth,
        )
        .await?;
        let pinned = WorkerPool::builder(manager(Pool::TransactionReaders, 2, 1, 0))
            .max_size(options.readers.max(1))
            .build()
            .map_err(|err| Error::Internal(format!("cannot build the reader pool: {err}")))?;
        Ok(Self {
            name: name.to_string(),
            readers,
            pinned,
            writer_manager,
            writer: RwLock::new(Some(writer)),
            writer_restart: tokio::sync::Mutex::new(()),
            write_queue_depth: options.write_queue_depth,
            write_queue: ::metrics::gauge!(crate::metrics::names::WRITE_QUEUE, "database" => name.to_string()),
        })
    }

    /// Hands `job` to `target` without waiting for it to run; its answer comes on the job's
    /// own channel. A full queue is RESOURCE_EXHAUSTED with a retry hint.
    pub async fn submit(&self, target: Target, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        match target {
            Target::Writer => self.submit_write(Task::new(job, Arc::clone(cancel))).await,
            Target::AnyReader => self.readers.submit(Task::new(job, Arc::clone(cancel))),
            Target::PinnedReader => self.submit_pinned(job, cancel).await,
        }
    }

    /// Hands a read-only transaction (or a backup's snapshot) to a dedicated reader from the
    /// pool; the reader goes back to the pool when the transaction ends.
    ///
    /// A transaction that finds every reader pinned is refused at once: the readers are
    /// freed only by other transactions' ends, which may be as far off as their leases, so
    /// waiting would hold its Begin until its deadline for nothing. A snapshot (Admin.Backup)
    /// waits for one, within its deadline: it needs a reader only as long as the copy takes.
    async fn submit_pinned(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        let got = if matches!(job, Job::Transaction(_)) {
            let now = Timeouts {
                wait: Some(Duration::ZERO),
                ..Timeouts::default()
            };
            let got = async {
                Some(
                    self.pinned
                        .timeout_get(&now)
                        .await
                        .map_err(|err| match err {
                            PoolError::Timeout(_) => self.every_reader_pinned(),
                            other => pool_error(other),
                        }),
                )
            };
            cancel.wait(got).await
        } else {
            cancel
                .wait(async { Some(self.pinned.get().await.map_err(pool_error)) })
                .await
        };
        let reader = match got {
            Some(reader) => reader?,
            None => return Err(worker_lost()),
        };
        let worker = Arc::clone(&*reader);
        let task = Task {
            job,
            lease: Lease::Pooled(Box::new(reader)),
            cancel: Arc::clone(cancel),
        };
        worker.submit(task).map_err(|_| worker_lost())
    }

    /// The refusal of a read-only transaction when every reader it could pin is pinned.
    fn every_reader_pinned(&self) -> Error {
        Error::ResourceExhausted {
            message: format!(
                "all {} readers of database {:?} that read-only transactions may pin are \
                 pinned by open read-only transactions (--readers); commit or roll back one, \
                 or retry shortly",
                self.pinned.status().max_size,
                self.name
            ),
            retryable: true,
        }
    }

    /// Queues `task` for the writer, replacing the writer first if it has died. The task
    /// counts in the write-queue gauge until the writer (thread or process) lets it go.
    async fn submit_write(&self, mut task: Task) -> Result<()> {
        task.lease = Lease::Queued(QueuedWrite::new(&self.write_queue));
        for _ in 0..3 {
            let writer = self.writer().await?;
            match writer.submit(task) {
                Ok(()) => return Ok(()),
                Err((Rejected::Full, _)) => {
                    return Err(Error::ResourceExhausted {
                        message: format!(
                            "the write queue of database {:?} is full ({} requests); retry \
                             shortly, or raise --write-queue-depth",
                            self.name, self.write_queue_depth
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

    /// The live writer, restarted if it died; UNAVAILABLE with a retry hint if none can
    /// start (the next write tries again).
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
        let writer: Arc<dyn Worker> = self.writer_manager.replace().await?;
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
        let pinned = self.pinned.clone();
        let writer = self.writer.write().expect("writer slot poisoned").take();
        // Dropping workers joins their threads: keep that off the async runtime.
        let _ = tokio::task::spawn_blocking(move || {
            drop(single_readers);
            pinned.close();
            drop(writer);
        })
        .await;
    }
}

/// A write counted in its database's write-queue gauge while it lives: from its submission
/// until the writer drops it, answered (in a worker process too: the proxy holds it until
/// the answer is back). So the gauge is the server's own, whatever runs the writer.
pub struct QueuedWrite(::metrics::Gauge);

impl QueuedWrite {
    fn new(gauge: &::metrics::Gauge) -> Self {
        gauge.increment(1);
        Self(gauge.clone())
    }
}

impl Drop for QueuedWrite {
    fn drop(&mut self) {
        self.0.decrement(1);
    }
}

/// The error of a request whose worker stopped before answering.
pub fn worker_lost() -> Error {
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
