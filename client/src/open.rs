//! Opening a database as sqlite3 opens a file: [`Client::open`] and [`Client::open_with`]
//! ask the server's `Database.Open`, which creates a missing database in the default mode
//! (`rwc`) and refuses one in `rw` and `ro`, so a mistake (a mistyped name, a token that
//! may not create) shows at connect rather than at the first statement;
//! [`Database::connect`] takes a URL that names the server, the database and the mode.

use sqlited_proto::v1::OpenRequest;
use tonic::Code;

use crate::client::{Client, ClientOptions, Database};
use crate::error::{Error, ErrorKind, Result};
use crate::url::OpenMode;

impl Client {
    /// Opens the database `name` as `sqlite3.connect()` opens a file: created if it does
    /// not exist (mode `rwc`; see [`open_with`](Self::open_with)).
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub async fn open(&self, name: &str) -> Result<Database> {
        self.open_with(name, OpenMode::ReadWriteCreate).await
    }

    /// Opens the database `name` in `mode`: `rwc` creates it if missing, `rw` and `ro` need
    /// it to exist, and a handle opened `ro` refuses writes (see [`OpenMode`]).
    ///
    /// # Errors
    /// `OperationalError` (NOT_FOUND) for a missing database in `rw` or `ro`, or in `rwc` on
    /// a server run with `--no-create`; `ProgrammingError` (PERMISSION_DENIED) for a token
    /// with no role on it, or one that may not create it (creating needs the admin role);
    /// each message says what to do.
    pub async fn open_with(&self, name: &str, mode: OpenMode) -> Result<Database> {
        let database = self.database(name);
        let request = OpenRequest {
            database: name.to_string(),
            create: mode.creates(),
        };
        let (mut rpc, request) = self.database_rpc(request);
        rpc.open(request).await.map_err(|status| {
            if status.code() == Code::Unimplemented {
                Error::new(
                    ErrorKind::NotSupported,
                    "the server has no Database.Open (it is older than this client): upgrade \
                     it, or use Client::database, which opens nothing",
                )
            } else {
                Error::from(status)
            }
        })?;
        Ok(database.with_read_only(mode.is_read_only()))
    }
}

impl Database {
    /// Connects to the server of `url` and opens the database it names, in the mode its
    /// `mode=` says (`rwc` when none): `http://127.0.0.1:50051/app`,
    /// `127.0.0.1/app?mode=ro`, `unix:/run/sqlited.sock?database=app&mode=rw` (see
    /// [`crate::url`]).
    ///
    /// # Errors
    /// `InterfaceError` for a malformed URL or one that names no database,
    /// `OperationalError` when the server cannot be reached, and those of
    /// [`Client::open_with`].
    pub async fn connect(url: &str) -> Result<Database> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// [`connect`](Self::connect) with explicit [`ClientOptions`].
    pub async fn connect_with(url: &str, options: ClientOptions) -> Result<Database> {
        let target = crate::url::parse(url)?;
        let database = target.required_database()?;
        let client = Client::connect_with(&target.server, options).await?;
        client.open_with(database, target.mode).await
    }
}
