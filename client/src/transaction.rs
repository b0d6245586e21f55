//! Interactive transactions, rusqlite-style: [`Transaction`] rolls back when dropped and
//! commits only by [`commit`](Transaction::commit), which consumes it.

use std::ops::Deref;
use std::time::Duration;

use crate::client::Database;
use crate::error::Result;

/// How BEGIN takes its locks on the writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(i32)]
pub enum TransactionMode {
    /// Locks taken by the first write (SQLite's default).
    #[default]
    Deferred = 0,
    /// The write lock taken at BEGIN.
    Immediate = 1,
    /// Like immediate, in WAL mode.
    Exclusive = 2,
}

/// Options of [`Database::begin_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TransactionOptions {
    /// The BEGIN mode (write transactions only).
    pub mode: TransactionMode,
    /// A read-only transaction: one consistent snapshot, on a reader; writes are refused.
    pub read_only: bool,
    /// The idle lease to ask for; `None`: the server's default.
    pub lease: Option<Duration>,
}

/// An open transaction. Everything run through it (it derefs to a [`Database`] handle)
/// happens inside it. Dropped without [`commit`](Self::commit), it rolls back.
#[derive(Debug)]
pub struct Transaction {
    db: Database,
    lease: Duration,
    open: bool,
}

impl Database {
    /// Begins a transaction with the default options: a write transaction with the
    /// server's default lease. See [`begin_with`](Self::begin_with).
    pub async fn begin(&self) -> Result<Transaction> {
        self.begin_with(TransactionOptions::default()).await
    }

    /// Begins a transaction. A write transaction holds the database's writer until it ends
    /// (other writes wait); a read-only one reads one snapshot and holds up nobody. Either
    /// is rolled back by the server if idle longer than its lease. On a handle opened with
    /// `mode=ro` every transaction is read-only.
    ///
    /// # Errors
    /// `ProgrammingError` inside a transaction already; `OperationalError` with
    /// `RESOURCE_EXHAUSTED` when too many transactions are open.
    pub async fn begin_with(&self, options: TransactionOptions) -> Result<Transaction> {
        let (db, lease) = self
            .begin_on_server(options.mode as i32, options.read_only, options.lease)
            .await?;
        Ok(Transaction::new(db, lease))
    }
}

impl Transaction {
    pub(crate) fn new(db: Database, lease: Duration) -> Self {
        Self {
            db,
            lease,
            open: true,
        }
    }

    /// The transaction's id on the server.
    pub fn id(&self) -> &str {
        self.db.transaction_id().unwrap_or_default()
    }

    /// The idle lease the server granted.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Commits.
    ///
    /// # Errors
    /// `OperationalError` (ABORTED) if the server already rolled the transaction back, for
    /// example because its lease ran out; nothing of it was kept then. A commit SQLite
    /// refuses (a deferred foreign key still unresolved, say) leaves a transaction open on
    /// the server, which no handle could finish: it is rolled back before the error returns,
    /// so it does not hold the writer until its lease runs out.
    pub async fn commit(mut self) -> Result<()> {
        self.open = false;
        let result = self.db.end(true).await;
        if result.is_err() {
            let _ = self.db.end(false).await;
        }
        result
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.db.end(false).await
    }
}

impl Deref for Transaction {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.db
    }
}

impl Drop for Transaction {
    /// Rolls back in the background if a runtime is at hand; otherwise the server's lease
    /// rolls it back.
    fn drop(&mut self) {
        if self.open
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let db = self.db.clone();
            runtime.spawn(async move {
                let _ = db.end(false).await;
            });
        }
    }
}
