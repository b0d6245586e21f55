//! The readers of one database: N reader workers taking single reads from one shared,
//! bounded queue.
//!
//! Whichever reader is free takes the next task, so under load a reader goes from one read to
//! the next without parking its thread; handing each read to a checked-out worker instead
//! costs two thread wake-ups per read (measured: point selects at 64 clients ran 1.6–1.8×
//! faster this way; the README gives the command). A reader that dies is replaced before the next read
//! is queued. Read-only transactions, which pin a reader for their life, use the database's
//! deadpool of dedicated readers instead, so they never starve single reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crossbeam_channel::{Sender, TrySendError};

use super::manager::WorkerManager;
use super::thread::TaskSource;
use super::{Task, Worker};
use crate::error::{Error, Result};

/// N readers over one queue.
pub struct Readers {
    /// `None` once closed. A std lock: read-locked for one `try_send`, written at close.
    queue: RwLock<Option<Sender<Task>>>,
    /// The running readers, for replacing dead ones and for close.
    workers: tokio::sync::Mutex<Vec<Arc<dyn Worker>>>,
    /// Raised by a reader thread that ends.
    exited: Arc<AtomicBool>,
    manager: WorkerManager,
    count: usize,
    depth: usize,
    database: String,
}

impl Readers {
    /// Starts `count` readers made by `manager`, sharing a queue of `depth` tasks.
    pub async fn start(
        database: &str,
        manager: WorkerManager,
        count: usize,
        depth: usize,
    ) -> Result<Self> {
        let (sender, tasks) = crossbeam_channel::bounded(depth.max(1));
        let exited = Arc::new(AtomicBool::new(false));
        let manager = manager.with_source(TaskSource::Shared {
            tasks,
            exited: Arc::clone(&exited),
        });
        let mut workers = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            workers.push(manager.start().await?);
        }
        Ok(Self {
            queue: RwLock::new(Some(sender)),
            workers: tokio::sync::Mutex::new(workers),
            exited,
            manager,
            count: count.max(1),
            depth,
            database: database.to_string(),
        })
    }

    /// Queues `task` for the next free reader.
    pub async fn submit(&self, task: Task) -> Result<()> {
        if self.exited.load(Ordering::Acquire) {
            self.replace_exited().await?;
        }
        let queue = self.queue.read().expect("reader queue poisoned");
        let Some(sender) = queue.as_ref() else {
            return Err(Error::Unavailable(
                "the server is shutting down; retry later".into(),
            ));
        };
        match sender.try_send(task) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::ResourceExhausted {
                message: format!(
                    "database {:?} has {} read requests waiting; retry shortly, or raise \
                     --read-queue-depth / --readers",
                    self.database, self.depth
                ),
                retryable: true,
            }),
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::Unavailable("no reader is running; retry".into()))
            }
        }
    }

    /// Replaces readers whose thread ended.
    async fn replace_exited(&self) -> Result<()> {
        let mut workers = self.workers.lock().await;
        if !self.exited.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        workers.retain(|w| w.is_alive());
        while workers.len() < self.count {
            tracing::warn!(database = %self.database, "a reader died; starting a new one");
            ::metrics::counter!(crate::metrics::names::WORKER_RESTARTS, "role" => "reader")
                .increment(1);
            workers.push(self.manager.start().await?);
        }
        Ok(())
    }

    /// Stops taking reads; the readers finish what is queued and end. Returns them, so the
    /// caller can wait for their threads off the async runtime.
    pub async fn close(&self) -> Vec<Arc<dyn Worker>> {
        self.queue.write().expect("reader queue poisoned").take();
        std::mem::take(&mut *self.workers.lock().await)
    }
}
