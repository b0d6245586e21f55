//! The blocking, DB-API-like client for threaded programs.
//!
//! A [`Connection`] owns a small tokio runtime and the async [`Database`] handle; every
//! method is one `block_on`. It is `Send + Sync + Clone`: share it between threads (all
//! clones use one HTTP/2 connection) and give each thread its own [`Cursor`].
//!
//! # Panics
//! Every blocking call panics when made from a task of an async runtime, as tokio forbids
//! blocking there: use the async [`Database`] in async code (or `spawn_blocking`).
//!
//! ```no_run
//! use sqlited_client::{blocking, params};
//!
//! let conn = blocking::connect("http://127.0.0.1:50051/app")?;
//! conn.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)", ())?;
//! let mut cur = conn.cursor();
//! cur.execute("INSERT INTO users (name) VALUES (?)", params!["Ada"])?;
//! println!("new id {:?}", cur.lastrowid());
//! cur.execute("SELECT id, name FROM users", ())?;
//! for row in cur.fetchall()? {
//!     println!("{} {}", row.get::<i64>(0)?, row.get::<String>("name")?);
//! }
//! # Ok::<(), sqlited_client::Error>(())
//! ```

mod cursor;
mod map;
mod transaction;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use cursor::Cursor;
pub use map::{Iter as MapIter, PersistentMap};
pub use transaction::Transaction;

use crate::client::{ClientOptions, Database, ExecuteResult};
use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;
use crate::row::Row;

/// Connects to the database named by `url`, `http://host:port/<database>`, and opens it as
/// sqlite3 opens a file: created if missing, unless the URL's `mode=` says `rw` (it must
/// exist) or `ro` (it must exist, and writes are refused); see
/// [`Database::connect`](crate::Database::connect) for the forms.
///
/// # Errors
/// `InterfaceError` for a URL without a database name, `OperationalError` when the server
/// cannot be reached, and those of [`Client::open_with`](crate::Client::open_with) (a
/// missing database in `rw`/`ro`, a token that may not create it).
pub fn connect(url: &str) -> Result<Connection> {
    connect_with(url, ClientOptions::default())
}

/// Connects with explicit [`ClientOptions`].
pub fn connect_with(url: &str, options: ClientOptions) -> Result<Connection> {
    // A malformed URL fails before a runtime is started for it.
    crate::url::parse(url)?.required_database()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sqlited-client")
        .enable_all()
        .build()
        .map_err(|err| {
            Error::new(
                ErrorKind::Interface,
                format!("cannot start the client runtime: {err}"),
            )
        })?;
    let db = runtime.block_on(Database::connect_with(url, options))?;
    Ok(Connection {
        shared: Arc::new(Shared {
            db,
            closed: AtomicBool::new(false),
            autocommit: AtomicBool::new(true),
            current: Mutex::new(None),
            runtime,
        }),
    })
}

/// What every clone of a connection shares. Field order matters: the database handle (and
/// its channel) drops before the runtime that drives it.
struct Shared {
    db: Database,
    closed: AtomicBool,
    /// DB-API autocommit: when false, the first statement opens a transaction that lasts
    /// until `commit()` or `rollback()`.
    autocommit: AtomicBool,
    /// The implicit transaction of manual mode. A std mutex: statements of one manual
    /// transaction run one after another anyway.
    current: Mutex<Option<crate::Transaction>>,
    runtime: tokio::runtime::Runtime,
}

impl Shared {
    /// Runs `future` to completion on the connection's runtime.
    ///
    /// # Panics
    /// When called from a task of an async runtime (tokio forbids blocking there); use the
    /// async [`Database`] (from [`Connection::database`]) in async code, or call the blocking
    /// client from `spawn_blocking`.
    fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        Ok(self.runtime.block_on(future))
    }

    /// The handle statements run on: the plain database, or in manual mode the implicit
    /// transaction, begun now if none is open.
    fn target(&self) -> Result<Database> {
        if self.autocommit.load(Ordering::Acquire) {
            return Ok(self.db.clone());
        }
        let mut current = self.current.lock().expect("transaction slot poisoned");
        if let Some(tx) = current.as_ref() {
            return Ok(Database::clone(tx));
        }
        let tx = self.block_on(self.db.begin())??;
        let db = Database::clone(&tx);
        *current = Some(tx);
        Ok(db)
    }

    /// Ends the implicit transaction, if one is open.
    fn end_current(&self, commit: bool) -> Result<()> {
        let tx = self
            .current
            .lock()
            .expect("transaction slot poisoned")
            .take();
        match tx {
            Some(tx) if commit => self.block_on(tx.commit())?,
            Some(tx) => self.block_on(tx.rollback())?,
            None => Ok(()),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let tx = self.current.get_mut().map(Option::take).unwrap_or_default();
        if let Some(tx) = tx
            && tokio::runtime::Handle::try_current().is_err()
        {
            let _ = self.runtime.block_on(tx.rollback());
        }
    }
}

/// A blocking connection to one database. `Send + Sync + Clone`.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    /// A new cursor.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Arc::clone(&self.shared), None)
    }

    /// The persistent map `name` of this connection's database (see
    /// [`crate::PersistentMap`] for the encoding).
    pub fn map<K, V>(&self, name: &str) -> PersistentMap<K, V>
    where
        K: serde::Serialize + serde::de::DeserializeOwned,
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        PersistentMap::new(Arc::clone(&self.shared), self.shared.db.map(name))
    }

    /// Begins an explicit transaction, rusqlite-style: it rolls back when dropped, and
    /// commits with [`Transaction::commit`]. It holds the database's writer until it ends.
    ///
    /// This is the way for threads sharing a connection: each gets its own transaction.
    pub fn transaction(&self) -> Result<Transaction> {
        self.transaction_with(crate::TransactionOptions::default())
    }

    /// Begins an explicit transaction with options (read-only, mode, lease).
    pub fn transaction_with(&self, options: crate::TransactionOptions) -> Result<Transaction> {
        let tx = self.shared.block_on(self.shared.db.begin_with(options))??;
        Ok(Transaction::new(Arc::clone(&self.shared), tx))
    }

    /// Whether every statement commits on its own (the default). See
    /// [`set_autocommit`](Self::set_autocommit).
    pub fn autocommit(&self) -> bool {
        self.shared.autocommit.load(Ordering::Acquire)
    }

    /// DB-API manual mode: with `false`, the first statement opens a transaction, as Python's
    /// sqlite3 does, and it lasts until [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback). The transaction belongs to the connection, so every clone
    /// and thread shares it, and it holds the database's writer; for one transaction per
    /// thread use [`transaction`](Self::transaction). Turning autocommit back on commits an
    /// open transaction.
    ///
    /// Autocommit is the default because a connection is shared by threads: one transaction
    /// spanning all of them would serialise them on the writer.
    pub fn set_autocommit(&self, autocommit: bool) -> Result<()> {
        if autocommit {
            self.shared.end_current(true)?;
        }
        self.shared.autocommit.store(autocommit, Ordering::Release);
        Ok(())
    }

    /// Commits the implicit transaction of manual mode; does nothing in autocommit mode or
    /// when none is open.
    pub fn commit(&self) -> Result<()> {
        self.shared.end_current(true)
    }

    /// Rolls back the implicit transaction of manual mode; does nothing when none is open.
    pub fn rollback(&self) -> Result<()> {
        self.shared.end_current(false)
    }

    /// Runs one statement on a new cursor and returns it, like `sqlite3.Connection.execute`.
    pub fn execute(&self, sql: &str, params: impl Into<Params>) -> Result<Cursor> {
        let mut cursor = self.cursor();
        cursor.execute(sql, params)?;
        Ok(cursor)
    }

    /// Runs `sql` once per parameter set in one transaction, on a new cursor.
    pub fn executemany<I, P>(&self, sql: &str, param_sets: I) -> Result<Cursor>
    where
        I: IntoIterator<Item = P>,
        P: Into<Params>,
    {
        let mut cursor = self.cursor();
        cursor.executemany(sql, param_sets)?;
        Ok(cursor)
    }

    /// Runs several statements in one transaction: all or nothing.
    pub fn execute_batch<I, S, P>(&self, statements: I) -> Result<Vec<ExecuteResult>>
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: Into<Params>,
    {
        self.shared
            .block_on(self.shared.target()?.execute_batch(statements))?
    }

    /// Runs a query and returns all its rows.
    pub fn query(&self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>> {
        self.shared
            .block_on(self.shared.target()?.query_all(sql, params))?
    }

    /// Calls the exposed statement `name` with `args` and collects its rows (see
    /// [`crate::statements`]).
    pub fn call(&self, name: &str, args: impl Into<Params>) -> Result<Vec<Row>> {
        self.shared
            .block_on(self.shared.target()?.call_all(name, args))?
    }

    /// Runs a query that returns exactly one row.
    pub fn query_one(&self, sql: &str, params: impl Into<Params>) -> Result<Row> {
        self.shared
            .block_on(self.shared.target()?.query_one(sql, params))?
    }

    /// Runs a query that returns at most one row.
    pub fn query_opt(&self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>> {
        self.shared
            .block_on(self.shared.target()?.query_opt(sql, params))?
    }

    /// The async handle on the same database, for code that has a runtime of its own.
    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// Closes the connection for every clone; later calls fail with an `InterfaceError`.
    pub fn close(&self) {
        let _ = self.shared.end_current(false);
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("database", &self.shared.db.name())
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Connection>();
        assert_send_sync::<crate::Client>();
        assert_send_sync::<crate::Database>();
        assert_send::<Cursor>();
        assert_send_sync::<PersistentMap<String, u64>>();
        assert_send_sync::<crate::PersistentMap<String, u64>>();
        assert_send_sync::<crate::RawMap>();
    }
}
