//! Databases and their read and write paths; knows nothing of gRPC.
//!
//! Layout:
//! - [`Engine`] (this file): the registry of open databases in the data directory.
//! - [`database`]: one database: its writer, its readers, routing between them.
//! - [`routes`]: which SQL texts read and which write, learned from SQLite.
//! - [`rows`]: the stream of a query's result messages.
//! - [`run`]: where a request runs: in its transaction, or on its database.
//! - [`transactions`]: interactive transactions: ids, leases, bounds.

pub mod database;
pub mod routes;
pub mod rows;
mod run;
pub mod transactions;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

pub use database::{Database, DatabaseOptions};
pub use transactions::{TransactionOptions, Transactions};

use crate::error::{Error, Result};
use crate::name;
use crate::replication::Replication;

/// Every database of one data directory, opened on first use.
pub struct Engine {
    data_dir: PathBuf,
    /// Whether a database that does not exist yet is created on first use.
    create: bool,
    options: DatabaseOptions,
    /// One cell per name, so two first requests for the same database open it once. A
    /// std mutex: it is held only to look up or insert a cell, never across an await.
    databases: Mutex<HashMap<String, Arc<OnceCell<Arc<Database>>>>>,
    /// Databases being dropped: refused until their files are gone, so no request reopens
    /// one half way. A std mutex, held for a set operation only.
    dropping: Mutex<HashSet<String>>,
    /// Open interactive transactions.
    transactions: Transactions,
    /// Tells listeners (health reporting) the name of each database as it opens.
    opened: tokio::sync::broadcast::Sender<String>,
    /// And of each database dropped.
    dropped: tokio::sync::broadcast::Sender<String>,
    /// Litestream's replication of every database (`--replica-url`).
    replication: Option<Arc<Replication>>,
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
        Self {
            data_dir,
            create,
            options,
            databases: Mutex::new(HashMap::new()),
            dropping: Mutex::new(HashSet::new()),
            transactions: Transactions::new(transactions),
            opened: tokio::sync::broadcast::channel(256).0,
            dropped: tokio::sync::broadcast::channel(256).0,
            replication: None,
        }
    }

    /// The engine, registering each database with `replication` as it opens.
    pub fn with_replication(mut self, replication: Option<Arc<Replication>>) -> Self {
        self.replication = replication;
        self
    }

    /// The replication of the databases, with `--replica-url`.
    pub fn replication(&self) -> Option<&Arc<Replication>> {
        self.replication.as_ref()
    }

    /// The names of databases as they open from now on.
    pub fn subscribe_opened(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.opened.subscribe()
    }

    /// The names of databases as they are dropped from now on.
    pub fn subscribe_dropped(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.dropped.subscribe()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Every database file of the data directory, by name.
    pub fn list_databases(&self) -> Result<Vec<DatabaseFile>> {
        let open = self.open_databases();
        let entries = std::fs::read_dir(&self.data_dir).map_err(|err| {
            Error::Internal(format!(
                "cannot read the data directory {}: {err}",
                self.data_dir.display()
            ))
        })?;
        let mut databases = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".db")) else {
                continue;
            };
            let path = name::path(&self.data_dir, name);
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
        let databases = self.databases.lock().expect("database registry poisoned");
        let mut names: Vec<String> = databases
            .iter()
            .filter(|(_, cell)| cell.initialized())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The registry of interactive transactions.
    pub fn transactions(&self) -> &Transactions {
        &self.transactions
    }

    /// Whether database `name` (valid) is open or has a file.
    pub fn exists(&self, name: &str) -> bool {
        let open = self
            .databases
            .lock()
            .expect("database registry poisoned")
            .get(name)
            .is_some_and(|cell| cell.initialized());
        open || name::path(&self.data_dir, name).exists()
    }

    /// The database called `name`, opening it on first use; NOT_FOUND if it has no file.
    /// For every request that cannot write: a read of a mistyped name creates nothing.
    pub async fn database(&self, name: &str) -> Result<Arc<Database>> {
        self.open(name, false).await
    }

    /// The database called `name` for a request that writes: created on first use unless
    /// the server runs with `--no-create`.
    pub async fn database_to_write(&self, name: &str) -> Result<Arc<Database>> {
        self.open(name, self.create).await
    }

    /// Creates the database `name` (an admin's `Admin.CreateDatabase`, allowed even with
    /// `--no-create`); false when it existed already.
    pub async fn create_database(&self, name: &str) -> Result<bool> {
        name::validate(name)?;
        let existed = self.exists(name);
        self.open(name, true).await?;
        Ok(!existed)
    }

    /// Drops the database `name`: rolls back its open transactions, closes every
    /// connection (waiting for the statements running on them), and removes its file, WAL
    /// and shared-memory file. False when it did not exist.
    pub async fn drop_database(&self, name: &str) -> Result<bool> {
        name::validate(name)?;
        if !self
            .dropping
            .lock()
            .expect("dropping set poisoned")
            .insert(name.to_string())
        {
            return Err(Error::FailedPrecondition(format!(
                "database {name:?} is being dropped already"
            )));
        }
        let result = self.drop_now(name).await;
        self.dropping
            .lock()
            .expect("dropping set poisoned")
            .remove(name);
        result
    }

    async fn drop_now(&self, name: &str) -> Result<bool> {
        let existed = self.exists(name);
        self.transactions.close_database(name);
        let cell = self
            .databases
            .lock()
            .expect("database registry poisoned")
            .remove(name);
        if let Some(db) = cell.as_ref().and_then(|cell| cell.get()) {
            db.close().await;
            if let Some(replication) = &self.replication {
                replication.detach(name).await;
            }
            tracing::info!(database = name, "database closed to be dropped");
        }
        if self.replication.is_some() {
            let path = name::path(&self.data_dir, name);
            let _ = std::fs::remove_dir_all(crate::replication::restore::meta_dir(&path));
            crate::replication::generation::forget(&path);
        }
        for file in crate::worker::files::database_files(&name::path(&self.data_dir, name)) {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(Error::Internal(format!(
                        "cannot remove {}: {err}",
                        file.display()
                    )));
                }
            }
        }
        if existed {
            tracing::info!(database = name, "database dropped");
            let _ = self.dropped.send(name.to_string());
        }
        Ok(existed)
    }

    /// Opens `name` on first use, creating its file when `create`.
    async fn open(&self, name: &str, create: bool) -> Result<Arc<Database>> {
        name::validate(name)?;
        if self
            .dropping
            .lock()
            .expect("dropping set poisoned")
            .contains(name)
        {
            return Err(Error::Unavailable(format!(
                "database {name:?} is being dropped; it exists again only once created anew"
            )));
        }
        let cell = {
            let mut databases = self.databases.lock().expect("database registry poisoned");
            if let Some(db) = databases.get(name).and_then(|cell| cell.get()) {
                return Ok(Arc::clone(db));
            }
            Arc::clone(databases.entry(name.to_string()).or_default())
        };
        let db = cell
            .get_or_try_init(|| async {
                let path = name::path(&self.data_dir, name);
                if !path.exists() {
                    self.restore_if_missing(name).await?;
                }
                if !create && !path.exists() {
                    return Err(Error::database_not_found(name, self.create));
                }
                crate::worker::files::check_database(&path)?;
                let mut db = Database::open(name, path.clone(), self.options.clone()).await?;
                if let Some(replication) = &self.replication {
                    db = db.with_replica(replication.attach(name, &path));
                }
                tracing::info!(database = name, "database opened");
                let _ = self.opened.send(name.to_string());
                Ok::<_, Error>(Arc::new(db))
            })
            .await?;
        Ok(Arc::clone(db))
    }

    /// With `--restore-if-missing`, restores database `name` (which has no file) from its
    /// replica, if the replica has it. The file appears whole, by rename, or not at all.
    async fn restore_if_missing(&self, name: &str) -> Result<()> {
        let Some(replication) = self
            .replication
            .as_ref()
            .filter(|r| r.args().restore_if_missing)
        else {
            return Ok(());
        };
        let binary = replication.args().litestream.clone();
        let url = replication.url(name);
        let data_dir = self.data_dir.clone();
        let database = name.to_string();
        let point = crate::replication::restore::PointInTime::default();
        let restored = tokio::task::spawn_blocking(move || {
            crate::replication::restore::restore(&binary, &url, &data_dir, &database, &point)
        })
        .await
        .map_err(|err| Error::Internal(format!("the restore task failed: {err}")))?;
        match restored {
            Ok(crate::replication::restore::Restored::Bytes { bytes, generation }) => {
                tracing::info!(
                    database = name,
                    bytes,
                    generation,
                    "restored from the replica (--restore-if-missing)"
                );
                Ok(())
            }
            Ok(crate::replication::restore::Restored::NotInReplica) => Ok(()),
            Err(err) => Err(Error::Unavailable(format!(
                "database {name:?} has no file and its restore from the replica failed: {err}"
            ))),
        }
    }

    /// Closes every database: waits for their workers to finish, checkpoints each WAL.
    pub async fn close(&self) {
        // First end every transaction, so no worker waits on one while closing.
        self.transactions.close_all();
        let cells: Vec<_> = {
            let mut databases = self.databases.lock().expect("database registry poisoned");
            databases.drain().collect()
        };
        for (name, cell) in cells {
            if let Some(db) = cell.get() {
                db.close().await;
                if let Some(replication) = &self.replication {
                    replication.detach(&name).await;
                }
                tracing::info!(database = %name, "database closed");
            }
        }
    }
}
