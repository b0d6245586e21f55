//! The deadpool `Manager` over workers: it creates a worker for a role and, before a pooled
//! worker is handed out again, checks that it is still alive; a dead one is replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use super::connection::ConnectionSettings;
use super::process::budget::RestartBudget;
use super::process::{ProcessOptions, ProcessWorker};
use super::thread::{TaskSource, ThreadOptions, ThreadWorker};
use super::{Role, Worker};
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

/// Creates and checks the workers of one database for one role.
pub struct WorkerManager {
    role: Role,
    settings: Arc<ConnectionSettings>,
    options: ThreadOptions,
    source: TaskSource,
    kind: WorkerKind,
    /// The restart budget of this database's workers of this role: shared by every manager
    /// for them, across reopenings of the database too.
    budget: Arc<RestartBudget>,
}

/// A pool of reader workers.
pub type WorkerPool = managed::Pool<WorkerManager>;

impl WorkerManager {
    /// A manager of `role` workers on the database `settings.path`.
    pub fn new(
        role: Role,
        settings: Arc<ConnectionSettings>,
        options: ThreadOptions,
        kind: WorkerKind,
    ) -> Self {
        let budget = RestartBudget::of(&settings.path, role);
        Self {
            role,
            settings,
            options,
            source: TaskSource::Own,
            kind,
            budget,
        }
    }

    /// The same manager, for workers that take their tasks from `source`.
    pub fn with_source(mut self, source: TaskSource) -> Self {
        self.source = source;
        self
    }

    /// Starts one worker.
    pub async fn start(&self) -> Result<Arc<dyn Worker>, Error> {
        let id = NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed);
        let settings = Arc::clone(&self.settings);
        let source = self.source.clone();
        let worker: Arc<dyn Worker> = match &self.kind {
            WorkerKind::Threads => {
                Arc::new(ThreadWorker::spawn(id, self.role, settings, self.options, source).await?)
            }
            WorkerKind::Processes(process) => {
                self.budget.check(&self.role.to_string())?;
                let started = ProcessWorker::spawn(
                    id,
                    self.role,
                    settings,
                    self.options,
                    source,
                    Arc::clone(process),
                    Arc::clone(&self.budget),
                )
                .await;
                match started {
                    Ok(worker) => Arc::new(worker),
                    Err(err) => {
                        self.budget.start_failed();
                        return Err(err);
                    }
                }
            }
        };
        tracing::debug!(worker = id, role = %self.role, path = %self.settings.path.display(), "worker started");
        Ok(worker)
    }
}

impl managed::Manager for WorkerManager {
    type Type = Arc<dyn Worker>;
    type Error = Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        self.start().await
    }

    async fn recycle(&self, worker: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if worker.is_alive() {
            Ok(())
        } else {
            tracing::warn!(worker = worker.id(), role = %self.role, "worker died; replacing it");
            ::metrics::counter!(crate::metrics::names::WORKER_RESTARTS, "role" => "transaction-reader")
                .increment(1);
            Err(RecycleError::message("worker stopped"))
        }
    }
}
