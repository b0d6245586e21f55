//! The manager of one kind of worker of a database ([`Pool`]): it starts workers through the
//! kind's restart budget — thread workers and worker processes alike — and, as deadpool's
//! `Manager` for the transaction readers, checks that a pooled worker is still alive before
//! it is handed out again; a dead one is replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use super::Worker;
use super::budget::RestartBudget;
use super::connection::ConnectionSettings;
use super::process::{ProcessOptions, ProcessWorker};
use super::supervision::{self, Pool};
use super::thread::{TaskSource, ThreadOptions, ThreadWorker, database_name};
use crate::error::Error;

/// Where workers run (`--workers`).
#[derive(Debug, Clone, Default)]
pub enum WorkerKind {
    /// Each on a dedicated OS thread of the server (the default).
    #[default]
    Threads,
    /// Each in a child process of its own.
    Processes(Arc<ProcessOptions>),
}

/// Numbers workers across the whole server, for logs.
static NEXT_WORKER_ID: AtomicU64 = AtomicU64::new(1);

/// Creates and checks the workers of one kind of one database.
pub struct WorkerManager {
    pool: Pool,
    settings: Arc<ConnectionSettings>,
    options: ThreadOptions,
    source: TaskSource,
    kind: WorkerKind,
    /// The restart budget of this database's workers of this kind: shared by every manager
    /// for them, across reopenings of the database too.
    budget: Arc<RestartBudget>,
    /// The database's name, for messages.
    database: String,
}

/// A pool of reader workers.
pub type WorkerPool = managed::Pool<WorkerManager>;

impl WorkerManager {
    /// A manager of `pool` workers on the database `settings.path`.
    pub fn new(
        pool: Pool,
        settings: Arc<ConnectionSettings>,
        options: ThreadOptions,
        kind: WorkerKind,
    ) -> Self {
        let budget = RestartBudget::of(&settings.path, pool);
        let database = database_name(&settings.path);
        Self {
            pool,
            settings,
            options,
            source: TaskSource::Own,
            kind,
            budget,
            database,
        }
    }

    /// The same manager, for workers that take their tasks from `source`.
    pub fn with_source(mut self, source: TaskSource) -> Self {
        self.source = source;
        self
    }

    /// The restart budget of these workers.
    pub fn budget(&self) -> &RestartBudget {
        &self.budget
    }

    /// Starts one worker as its database opens, if the budget allows: a failure is the
    /// start's own error (a link refused, a file SQLite cannot open), for the open to report.
    pub async fn start(&self) -> Result<Arc<dyn Worker>, Error> {
        self.budget.check()?;
        let id = NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed);
        let role = self.pool.role();
        let settings = Arc::clone(&self.settings);
        let source = self.source.clone();
        let budget = Arc::clone(&self.budget);
        let started = match &self.kind {
            WorkerKind::Threads => {
                ThreadWorker::spawn(id, role, settings, self.options, source, budget)
                    .await
                    .map(|worker| Arc::new(worker) as Arc<dyn Worker>)
            }
            WorkerKind::Processes(process) => ProcessWorker::spawn(
                id,
                self.pool,
                settings,
                self.options,
                source,
                Arc::clone(process),
                budget,
            )
            .await
            .map(|worker| Arc::new(worker) as Arc<dyn Worker>),
        };
        match started {
            Ok(worker) => {
                tracing::debug!(worker = id, %role, path = %self.settings.path.display(), "worker started");
                Ok(worker)
            }
            Err(err) => {
                self.budget.start_failed(&err.to_string());
                Err(err)
            }
        }
    }

    /// Starts one worker for the database, open already: whatever stops it is UNAVAILABLE,
    /// with the budget's wait as the retry hint (rule 1 of [`supervision`]).
    pub async fn start_serving(&self) -> Result<Arc<dyn Worker>, Error> {
        // Refused by the budget: said often while it lasts, so not logged each time.
        self.budget.check()?;
        self.start().await.map_err(|err| {
            tracing::warn!(database = %self.database, role = %self.pool.label(), error = %err,
                "a worker could not start");
            supervision::cannot_start(self.pool, &self.database, err, &self.budget)
        })
    }

    /// Starts a worker in the place of one that died: [`start_serving`](Self::start_serving),
    /// logged and, once it runs, counted.
    pub async fn replace(&self) -> Result<Arc<dyn Worker>, Error> {
        self.budget.check()?;
        tracing::warn!(database = %self.database, role = %self.pool.label(),
            "a worker died; starting a new one");
        let worker = self.start_serving().await?;
        ::metrics::counter!(crate::metrics::names::WORKER_RESTARTS, "role" => self.pool.label())
            .increment(1);
        Ok(worker)
    }
}

impl managed::Manager for WorkerManager {
    type Type = Arc<dyn Worker>;
    type Error = Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        self.start_serving().await
    }

    async fn recycle(&self, worker: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if worker.is_alive() {
            Ok(())
        } else {
            tracing::warn!(worker = worker.id(), role = %self.pool.label(), "worker died; replacing it");
            ::metrics::counter!(crate::metrics::names::WORKER_RESTARTS, "role" => self.pool.label())
                .increment(1);
            Err(RecycleError::message("worker stopped"))
        }
    }
}
