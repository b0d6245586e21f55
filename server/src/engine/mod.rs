//! Databases and their read and write paths; knows nothing of gRPC.
//!
//! Layout:
//! - [`Engine`] (this file): the data directory's databases, as the services see them.
//! - [`lifecycle`]: one state machine per database name: open (restore, replication
//!   registration), close and drop as transitions that run one at a time.
//! - [`database`]: one database: its writer, its readers, routing between them.
//! - [`routes`]: which SQL texts read and which write, learned from SQLite.
//! - [`rows`]: the stream of a query's result messages.
//! - [`run`]: where a request runs: in its transaction, or on its database.
//! - [`transactions`]: interactive transactions: ids, leases, bounds.

pub mod database;
mod lifecycle;
pub mod routes;
pub mod rows;
mod run;
pub mod transactions;

use std::path::PathBuf;
use std::sync::Arc;

pub use database::{Database, DatabaseOptions};
pub use transactions::{TransactionOptions, Transactions};

use lifecycle::Lifecycle;

use crate::error::{Error, Result};
use crate::name;
use crate::replication::Replication;
use crate::worker::cancel::CancelToken;

/// Every database of one data directory, opened on first use.
pub struct Engine {
    /// The names, their states and transitions; shared with the tasks that run them.
    lifecycle: Arc<Lifecycle>,
}

/// One database file of the data directory, as [`Engine::list_databases`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFile {
    pub name: String,
    /// The size of `NAME.db`.
    pub file_bytes: u64,
    /// The size of `NAME.db-wal` (0 when there is none).
    pub wal_bytes: u64,
    /// Whether the server has it open now.
    pub open: bool,
}

impl Engine {
    /// An engine over `data_dir`, which must exist.
    pub fn new(
        data_dir: PathBuf,
        create: bool,
        options: DatabaseOptions,
        transactions: TransactionOptions,
    ) -> Self {
        crate::error::hide_path(&data_dir, true, "the data directory");
        Self {
            lifecycle: Arc::new(Lifecycle::new(
                data_dir,
                create,
                options,
                Transactions::new(transactions),
            )),
        }
    }

    /// The engine, registering each database with `replication` as it opens.
    pub fn with_replication(self, replication: Option<Arc<Replication>>) -> Self {
        if let Some(replication) = replication {
            let _ = self.lifecycle.replication.set(replication);
        }
        self
    }

    /// The replication of the databases, with `--replica-url`.
    pub fn replication(&self) -> Option<&Arc<Replication>> {
        self.lifecycle.replication.get()
    }

    /// The names of databases as they open from now on.
    pub fn subscribe_opened(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.lifecycle.opened.subscribe()
    }

    /// The names of databases as they are dropped from now on.
    pub fn subscribe_dropped(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.lifecycle.dropped.subscribe()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.lifecycle.data_dir
    }

    /// Whether a write creates a database that does not exist (not `--no-create`).
    fn creates_on_write(&self) -> bool {
        self.lifecycle.create
    }

    /// How every database is run.
    fn options(&self) -> &DatabaseOptions {
        &self.lifecycle.options
    }

    /// Every database file of the data directory, by name.
    pub fn list_databases(&self) -> Result<Vec<DatabaseFile>> {
        let open = self.open_databases();
        let data_dir = self.data_dir();
        let entries = std::fs::read_dir(data_dir).map_err(|err| {
            tracing::error!(data_dir = %data_dir.display(), error = %err, "cannot read the data directory");
            Error::Internal(format!("cannot read the data directory: {err}"))
        })?;
        let mut databases = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".db")) else {
                continue;
            };
            let path = name::path(data_dir, name);
            if name::validate(name).is_err() || crate::worker::files::check_database(&path).is_err()
            {
                continue;
            }
            let size = |path: std::path::PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
            let wal = path.with_extension("db-wal");
            databases.push(DatabaseFile {
                name: name.to_string(),
                file_bytes: size(path),
                wal_bytes: size(wal),
                open: open.iter().any(|o| o == name),
            });
        }
        databases.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(databases)
    }

    /// The names of the databases open now.
    pub fn open_databases(&self) -> Vec<String> {
        self.lifecycle.open_names()
    }

    /// The registry of interactive transactions.
    pub fn transactions(&self) -> &Transactions {
        &self.lifecycle.transactions
    }

    /// Whether database `name` (valid) is open or has a file. A hint for messages and
    /// roles: CreateDatabase and DropDatabase decide inside the name's transition.
    pub fn exists(&self, name: &str) -> bool {
        self.lifecycle.open_now(name).is_some() || name::path(self.data_dir(), name).exists()
    }

    /// The database called `name`, opening it on first use; NOT_FOUND if it has no file.
    /// For every request that cannot write: a read of a mistyped name creates nothing.
    /// A request arriving while the name is opened, restored or dropped waits for that,
    /// boundedly (UNAVAILABLE with a retry hint past the bound).
    pub async fn database(&self, name: &str, cancel: &CancelToken) -> Result<Arc<Database>> {
        self.lifecycle.open(name, false, cancel).await
    }

    /// The database called `name` for a request that writes: created on first use unless
    /// the server runs with `--no-create`.
    pub async fn database_to_write(
        &self,
        name: &str,
        cancel: &CancelToken,
    ) -> Result<Arc<Database>> {
        self.lifecycle
            .open(name, self.creates_on_write(), cancel)
            .await
    }

    /// Creates the database `name` (an admin's `Admin.CreateDatabase`, allowed even with
    /// `--no-create`): true when it was created, false when it existed and `if_not_exists`,
    /// ALREADY_EXISTS otherwise.
    pub async fn create_database(
        &self,
        name: &str,
        if_not_exists: bool,
        cancel: &CancelToken,
    ) -> Result<bool> {
        self.lifecycle.create(name, if_not_exists, cancel).await
    }

    /// Drops the database `name`: refuses new requests for it, rolls back its open
    /// transactions, closes every connection (after the work handed to them), unregisters
    /// it from Litestream, and removes its file, WAL and shared-memory file. True when it
    /// was dropped, false when it did not exist and `if_exists`, NOT_FOUND otherwise.
    pub async fn drop_database(
        &self,
        name: &str,
        if_exists: bool,
        cancel: &CancelToken,
    ) -> Result<bool> {
        self.lifecycle.drop(name, if_exists, cancel).await
    }

    /// Closes every database: waits for their workers to finish, checkpoints each WAL.
    /// Nothing opens afterwards.
    pub async fn close(&self) {
        self.lifecycle.close_all().await;
    }
}
