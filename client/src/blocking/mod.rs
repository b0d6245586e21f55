//! The blocking, DB-API-like client for threaded programs.
//!
//! A [`Connection`] owns a small tokio runtime and the async [`Database`] handle; every
//! method is one `block_on`. It is `Send + Sync + Clone`: share it between threads (all
//! clones use one HTTP/2 connection) and give each thread its own [`Cursor`].
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

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use cursor::Cursor;

use crate::client::{Client, ClientOptions, Database, ExecuteResult};
use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;
use crate::row::Row;

/// Connects to the database named by `url`: `http://host:port/<database>`.
///
/// # Errors
/// `InterfaceError` for a URL without a database name, `OperationalError` when the server
/// cannot be reached.
pub fn connect(url: &str) -> Result<Connection> {
    connect_with(url, ClientOptions::default())
}

/// Connects with explicit [`ClientOptions`].
pub fn connect_with(url: &str, options: ClientOptions) -> Result<Connection> {
    let (server, database) = split_url(url)?;
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
    let client = runtime.block_on(Client::connect_with(server, options))?;
    Ok(Connection {
        shared: Arc::new(Shared {
            db: client.database(database),
            closed: AtomicBool::new(false),
            runtime,
        }),
    })
}

/// `http://host:port/app` → (`http://host:port`, `app`).
fn split_url(url: &str) -> Result<(&str, &str)> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Interface,
            format!("invalid URL {url:?}: {why}; expected http://host:port/<database>"),
        )
    };
    let after_scheme = url
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| bad("no scheme"))?;
    let slash = url[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .ok_or_else(|| bad("no database name"))?;
    let database = url[slash + 1..].trim_end_matches('/');
    if database.is_empty() {
        return Err(bad("no database name"));
    }
    Ok((&url[..slash], database))
}

/// What every clone of a connection shares. Field order matters: the database handle (and
/// its channel) drops before the runtime that drives it.
struct Shared {
    db: Database,
    closed: AtomicBool,
    runtime: tokio::runtime::Runtime,
}

impl Shared {
    /// Runs `future` to completion on the connection's runtime.
    ///
    /// # Panics
    /// When called from inside an async runtime: use the async [`Database`] there.
    fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        Ok(self.runtime.block_on(future))
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
        Cursor::new(Arc::clone(&self.shared))
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
            .block_on(self.shared.db.execute_batch(statements))?
    }

    /// Runs a query and returns all its rows.
    pub fn query(&self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>> {
        self.shared
            .block_on(self.shared.db.query_all(sql, params))?
    }

    /// Runs a query that returns exactly one row.
    pub fn query_one(&self, sql: &str, params: impl Into<Params>) -> Result<Row> {
        self.shared
            .block_on(self.shared.db.query_one(sql, params))?
    }

    /// Runs a query that returns at most one row.
    pub fn query_opt(&self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>> {
        self.shared
            .block_on(self.shared.db.query_opt(sql, params))?
    }

    /// The async handle on the same database, for code that has a runtime of its own.
    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// Closes the connection for every clone; later calls fail with an `InterfaceError`.
    pub fn close(&self) {
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
    fn urls() {
        assert_eq!(split_url("http://h:1/app").unwrap(), ("http://h:1", "app"));
        assert_eq!(split_url("http://h:1/app/").unwrap(), ("http://h:1", "app"));
        for bad in ["http://h:1", "http://h:1/", "h:1/app"] {
            assert_eq!(
                split_url(bad).unwrap_err().kind(),
                ErrorKind::Interface,
                "{bad}"
            );
        }
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Connection>();
        assert_send_sync::<crate::Client>();
        assert_send_sync::<crate::Database>();
        assert_send::<Cursor>();
    }
}
