//! The readers of one database: N reader workers taking single reads from one shared,
//! bounded queue, and the task that keeps them running.
//!
//! Whichever reader is free takes the next task, so under load a reader goes from one read to
//! the next without parking its thread; handing each read to a checked-out worker instead
//! costs two thread wake-ups per read (measured: point selects at 64 clients ran 1.6–1.8×
//! faster this way; the README gives the command). Read-only transactions, which pin a reader
//! for their life, use the database's deadpool of dedicated readers instead, so they never
//! starve single reads.
//!
//! The queue outlives its readers, so nothing a read does would notice that they are gone:
//! a supervisor task does (rules 3 and 4 of [`super::supervision`]). A reader that ends
//! notifies it; it starts a new one at once, or as soon as the restart budget allows.
//! Reads queued while a start is under way wait for it; once a start has failed (or the
//! budget holds it back) and no reader is left, the queue is emptied and new reads are
//! refused — UNAVAILABLE, with the wait left as RetryInfo — until a reader runs again.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::manager::WorkerManager;
use super::thread::TaskSource;
use super::{Task, Worker, reply_error, supervision};
use crate::error::{Error, Result};

/// The shortest pause between two failed starts, should the budget ask for none.
const MIN_PAUSE: Duration = Duration::from_millis(10);

/// N readers over one queue.
pub struct Readers {
    pool: Arc<Pool>,
    /// The supervisor task; taken at close.
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

/// What the readers and their supervisor share.
struct Pool {
    /// What a read finds at the queue's door. A std lock: read-locked for one `try_send`,
    /// written when the readers go down or come back, and at close.
    gate: RwLock<Gate>,
    /// The queue's far end, to empty it when no reader can serve.
    queued: Receiver<Task>,
    /// The running readers. A std lock, never held across an await: taken by the supervisor
    /// and by close.
    workers: Mutex<Vec<Arc<dyn Worker>>>,
    /// Notified by a reader that ends, however it ends.
    exits: Arc<Notify>,
    manager: WorkerManager,
    count: usize,
    depth: usize,
    database: String,
}

/// The queue's door.
struct Gate {
    /// `None` once closed.
    sender: Option<Sender<Task>>,
    /// Raised while no reader can serve: reads are refused.
    down: bool,
}

impl Readers {
    /// Starts `count` readers made by `manager`, sharing a queue of `depth` tasks, and their
    /// supervisor.
    pub async fn start(
        database: &str,
        manager: WorkerManager,
        count: usize,
        depth: usize,
    ) -> Result<Self> {
        let (sender, queued) = crossbeam_channel::bounded(depth.max(1));
        let exits = Arc::new(Notify::new());
        let manager = manager.with_source(TaskSource::Shared {
            tasks: queued.clone(),
            exits: Arc::clone(&exits),
        });
        let count = count.max(1);
        let mut workers = Vec::with_capacity(count);
        for _ in 0..count {
            workers.push(manager.start().await?);
        }
        let pool = Arc::new(Pool {
            gate: RwLock::new(Gate {
                sender: Some(sender),
                down: false,
            }),
            queued,
            workers: Mutex::new(workers),
            exits,
            manager,
            count,
            depth,
            database: database.to_string(),
        });
        let supervisor = tokio::spawn(supervise(Arc::clone(&pool)));
        Ok(Self {
            pool,
            supervisor: Mutex::new(Some(supervisor)),
        })
    }

    /// Queues `task` for the next free reader; refuses it at once while no reader can serve.
    pub fn submit(&self, task: Task) -> Result<()> {
        let pool = &self.pool;
        let gate = pool.gate.read().expect("reader queue poisoned");
        let Some(sender) = gate.sender.as_ref() else {
            return Err(Error::Unavailable(
                "the server is shutting down; retry later".into(),
            ));
        };
        if gate.down {
            return Err(pool.down());
        }
        match sender.try_send(task) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::ResourceExhausted {
                message: format!(
                    "database {:?} has {} read requests waiting; retry shortly, or raise \
                     --read-queue-depth / --readers",
                    pool.database, pool.depth
                ),
                retryable: true,
            }),
            // The pool holds the far end: not while it lives.
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::Unavailable("no reader is running; retry".into()))
            }
        }
    }

    /// Stops taking reads and stops the supervisor; the readers finish what is queued and
    /// end. Returns them, so the caller can wait for their threads off the async runtime.
    pub async fn close(&self) -> Vec<Arc<dyn Worker>> {
        self.pool
            .gate
            .write()
            .expect("reader queue poisoned")
            .sender = None;
        let supervisor = self
            .supervisor
            .lock()
            .expect("reader supervisor poisoned")
            .take();
        if let Some(supervisor) = supervisor {
            supervisor.abort();
            // Ended at its next await: no reader it starts can be missed below.
            let _ = supervisor.await;
        }
        std::mem::take(&mut *self.pool.workers.lock().expect("readers poisoned"))
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        if let Some(supervisor) = self
            .supervisor
            .get_mut()
            .ok()
            .and_then(|supervisor| supervisor.take())
        {
            supervisor.abort();
        }
    }
}

/// The supervisor: after each reader's end, brings the readers back to their number.
async fn supervise(pool: Arc<Pool>) {
    loop {
        pool.exits.notified().await;
        pool.restore().await;
    }
}

impl Pool {
    /// Starts readers until `count` run, waiting out the budget after each failed start.
    async fn restore(&self) {
        loop {
            if self.forget_dead() >= self.count {
                return;
            }
            match self.manager.replace().await {
                Ok(worker) => {
                    self.workers.lock().expect("readers poisoned").push(worker);
                    self.gate.write().expect("reader queue poisoned").down = false;
                }
                Err(_) => {
                    if self.forget_dead() == 0 {
                        self.go_down();
                    }
                    // Until the budget allows the next start — or until another reader ends:
                    // if it was the last, the readers go down now, not when the wait is over.
                    let pause = self.manager.budget().wait().unwrap_or_default();
                    tokio::select! {
                        () = tokio::time::sleep(pause.max(MIN_PAUSE)) => {}
                        () = self.exits.notified() => {}
                    }
                }
            }
        }
    }

    /// Lets go of the readers that ended; how many still run.
    fn forget_dead(&self) -> usize {
        let dead: Vec<Arc<dyn Worker>> = {
            let mut workers = self.workers.lock().expect("readers poisoned");
            let (alive, dead) = std::mem::take(&mut *workers)
                .into_iter()
                .partition(|worker| worker.is_alive());
            *workers = alive;
            dead
        };
        if !dead.is_empty() {
            // Dropping a worker joins its threads: off the async runtime.
            tokio::task::spawn_blocking(move || drop(dead));
        }
        self.workers.lock().expect("readers poisoned").len()
    }

    /// No reader runs and none could start: refuses new reads and answers those queued, at
    /// once.
    fn go_down(&self) {
        {
            let mut gate = self.gate.write().expect("reader queue poisoned");
            if gate.sender.is_none() || gate.down {
                return;
            }
            gate.down = true;
        }
        let err = self.down();
        tracing::warn!(database = %self.database, error = %err,
            "no reader can serve; reads are refused until one starts");
        while let Ok(task) = self.queued.try_recv() {
            reply_error(task, err.clone());
        }
    }

    /// The error of a read while no reader can serve.
    fn down(&self) -> Error {
        supervision::readers_down(&self.database, self.manager.budget())
    }
}
