//! A worker on a dedicated OS thread: the thread owns the connection, so blocking SQLite
//! calls never run on the async runtime, and a request costs one channel hop each way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{Notify, oneshot};

use super::budget::RestartBudget;
use super::connection::{ConnectionSettings, Sqlite};
use super::group_commit::{self, GroupReport};
use super::{Rejected, Role, Task, Worker, executor};
use crate::error::{Error, Result};

/// How a thread worker takes work.
#[derive(Debug, Clone, Copy)]
pub struct ThreadOptions {
    /// Tasks that may wait in the worker's queue.
    pub queue_depth: usize,
    /// For the writer: the most requests one group commit takes.
    pub max_group: usize,
    /// For the writer: a group commit stops taking requests past about this many bytes.
    pub max_group_bytes: usize,
}

/// A worker whose connection lives on its own OS thread.
pub struct ThreadWorker {
    id: u64,
    /// `None` only while dropping: dropping the sender ends the thread's loop.
    sender: Option<crossbeam_channel::Sender<Task>>,
    /// The far end of its own queue, to fail what waits there if the thread dies.
    queued: crossbeam_channel::Receiver<Task>,
    /// Cleared by the thread when it ends, however it ends.
    alive: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Runs when the worker thread ends, even by a panic: tells a restart budget of a death by
/// panic (first, so whoever sees the worker dead finds the backoff it calls for), clears
/// `alive`, fails what waits in the worker's own queue (rule 2 of [`super::supervision`]),
/// and notifies `exits`, if given.
struct ExitGuard {
    alive: Arc<AtomicBool>,
    queued: crossbeam_channel::Receiver<Task>,
    budget: Option<(Arc<RestartBudget>, Instant)>,
    exits: Option<Arc<Notify>>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some((budget, started)) = &self.budget
        {
            budget.died(started.elapsed(), "its thread panicked");
        }
        self.alive.store(false, Ordering::Release);
        super::fail_queued(&self.queued);
        if let Some(exits) = &self.exits {
            exits.notify_one();
        }
    }
}

/// Where a worker takes its tasks from.
#[derive(Clone)]
pub enum TaskSource {
    /// Its own queue, filled through [`Worker::submit`].
    Own,
    /// A queue shared with the other readers of its database: whichever reader is free takes
    /// the next task, so under load a reader goes from one task to the next without parking.
    /// `exits` is notified when the worker ends, so the database's supervisor replaces it.
    Shared {
        tasks: crossbeam_channel::Receiver<Task>,
        exits: Arc<Notify>,
    },
}

impl ThreadWorker {
    /// Starts the thread and waits until its connection is open. A death by panic counts
    /// against `budget`.
    pub async fn spawn(
        id: u64,
        role: Role,
        settings: Arc<ConnectionSettings>,
        options: ThreadOptions,
        source: TaskSource,
        budget: Arc<RestartBudget>,
    ) -> Result<Self> {
        Self::spawn_reporting(
            id,
            role,
            settings,
            options,
            source,
            GroupReport::Metrics,
            Some(budget),
        )
        .await
    }

    /// [`spawn`](Self::spawn), with a writer reporting its group sizes to `report` (and no
    /// budget in a worker process, whose death its server counts).
    pub async fn spawn_reporting(
        id: u64,
        role: Role,
        settings: Arc<ConnectionSettings>,
        options: ThreadOptions,
        source: TaskSource,
        report: GroupReport,
        budget: Option<Arc<RestartBudget>>,
    ) -> Result<Self> {
        let (sender, tasks) = crossbeam_channel::bounded::<Task>(options.queue_depth.max(1));
        let (opened, opened_rx) = oneshot::channel::<Result<()>>();
        let alive = Arc::new(AtomicBool::new(true));
        let exits = match &source {
            TaskSource::Own => None,
            TaskSource::Shared { exits, .. } => Some(Arc::clone(exits)),
        };
        let mut guard = ExitGuard {
            alive: Arc::clone(&alive),
            queued: tasks.clone(),
            budget: None,
            exits,
        };
        let queued = tasks.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sqlited-{role}-{id}"))
            .spawn(move || {
                // Everything SQLite allocates on this thread is this connection's; the
                // account outlives the connection, which is closed before it drops.
                let _memory = crate::memory::ThreadAccount::open();
                let db = match Sqlite::open(&settings, role) {
                    Ok(db) => {
                        // Only a worker that opened can die: a failed open is the
                        // manager's to count.
                        guard.budget = budget.map(|budget| (budget, Instant::now()));
                        let _ = opened.send(Ok(()));
                        db
                    }
                    Err(err) => {
                        // A worker that never ran: nobody waits to hear it ended.
                        guard.exits = None;
                        drop(guard);
                        let _ = opened.send(Err(err));
                        return;
                    }
                };
                let _guard = guard;
                match (role, source) {
                    (Role::Reader, TaskSource::Shared { tasks: shared, .. }) => {
                        executor::serve_reader(&db, || shared.recv().ok())
                    }
                    (Role::Reader, TaskSource::Own) => {
                        executor::serve_reader(&db, || tasks.recv().ok())
                    }
                    (Role::Writer, _) => {
                        report.count_frames(&db, &settings.path, settings.replicated);
                        group_commit::serve(
                            &db,
                            tasks,
                            options.max_group,
                            options.max_group_bytes,
                            &settings.path,
                            &report,
                        )
                    }
                }
                db.close();
                tracing::debug!(worker = id, %role, "worker stopped");
            })
            .map_err(|err| Error::Unavailable(format!("cannot start a worker thread: {err}")))?;
        let worker = Self {
            id,
            sender: Some(sender),
            queued,
            alive,
            thread: Some(thread),
        };
        match opened_rx.await {
            Ok(Ok(())) => Ok(worker),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(Error::Internal(
                "a worker thread died while opening its connection".into(),
            )),
        }
    }
}

/// The database a file holds: its name without `.db`, for metric labels.
pub fn database_name(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Worker for ThreadWorker {
    fn id(&self) -> u64 {
        self.id
    }

    #[allow(clippy::result_large_err)]
    fn submit(&self, task: Task) -> std::result::Result<(), (Rejected, Task)> {
        super::offer(self.sender.as_ref(), &self.queued, || self.is_alive(), task)
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

impl Drop for ThreadWorker {
    /// Ends the thread's loop and waits for it to close its connection, unless this is the
    /// worker's own thread (a pooled reader is returned from inside its last task).
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
