//! The shell's open transaction: a server-side interactive transaction whose idle lease is
//! renewed in the background while the user types, so a person thinking at the prompt does
//! not lose it — for at most a keep-alive bound ([`MAX_IDLE`] unless
//! `--transaction-keepalive-ms` says otherwise), so a forgotten shell does not hold the
//! database's writer for ever.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlited_client::{Database, Error, Transaction, TransactionMode, TransactionOptions};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// How long the shell keeps a transaction alive for a user who types nothing, by default.
pub const MAX_IDLE: Duration = Duration::from_secs(15 * 60);

/// An open transaction and its lease keeper.
pub struct OpenTransaction {
    tx: Option<Transaction>,
    /// The savepoints open in it, outermost first (the server keeps them; the shell follows
    /// along to know which RELEASE ends the transaction).
    pub savepoints: Vec<String>,
    /// Whether a `SAVEPOINT` outside a transaction began it: releasing that outermost
    /// savepoint commits, as in SQLite.
    pub begun_by_savepoint: bool,
    /// Milliseconds after `started` of the last statement, for the idle bound.
    last_used: Arc<AtomicU64>,
    started: Instant,
    /// Why the lease keeper found the transaction gone, if it did.
    lost: Arc<Mutex<Option<String>>>,
    keeper: JoinHandle<()>,
}

impl OpenTransaction {
    /// Begins a transaction on `db` and starts renewing its lease.
    pub fn begin(
        runtime: &Runtime,
        db: &Database,
        mode: TransactionMode,
        begun_by_savepoint: bool,
        max_idle: Duration,
    ) -> Result<Self, Error> {
        let options = TransactionOptions {
            mode,
            ..TransactionOptions::default()
        };
        let tx = runtime.block_on(db.begin_with(options))?;
        let last_used = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(Mutex::new(None));
        let started = Instant::now();
        let keeper = runtime.spawn(keep_alive(
            Database::clone(&tx),
            tx.lease(),
            max_idle,
            started,
            Arc::clone(&last_used),
            Arc::clone(&lost),
        ));
        Ok(Self {
            tx: Some(tx),
            savepoints: Vec::new(),
            begun_by_savepoint,
            last_used,
            started,
            lost,
            keeper,
        })
    }

    /// The handle statements of the transaction run on; marks the transaction used.
    pub fn db(&self) -> Database {
        self.last_used
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        Database::clone(self.tx.as_ref().expect("open until ended"))
    }

    /// Why the transaction is gone (its lease ran out), if the lease keeper found it so.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Commits (`true`) or rolls back.
    pub fn end(mut self, runtime: &Runtime, commit: bool) -> Result<(), Error> {
        self.keeper.abort();
        let tx = self.tx.take().expect("open until ended");
        if commit {
            runtime.block_on(tx.commit())
        } else {
            runtime.block_on(tx.rollback())
        }
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Sends a trivial statement into the transaction every third of its lease while it is
/// idle, until `max_idle` without a statement or until the server says it is gone.
async fn keep_alive(
    db: Database,
    lease: Duration,
    max_idle: Duration,
    started: Instant,
    last_used: Arc<AtomicU64>,
    lost: Arc<Mutex<Option<String>>>,
) {
    let every = (lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let idle = started
            .elapsed()
            .saturating_sub(Duration::from_millis(last_used.load(Ordering::Relaxed)));
        if idle > max_idle {
            return;
        }
        if let Err(err) = db.query_all("SELECT 1", ()).await
            && err.status_code() == Some(tonic::Code::Aborted)
        {
            *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.message().to_string());
            return;
        }
    }
}
