//! Typed client for sqlited: SQLite databases on the network.
//!
//! Two faces over one gRPC channel:
//! - async: [`Database::connect`] (or [`Client::connect`] → [`Client::open`]) → [`Database`]
//!   with `execute`, `query` (a stream of [`Row`]s), `query_all`, `execute_batch`,
//!   `execute_many`;
//! - blocking, DB-API-like, for threaded programs: [`blocking::connect`] →
//!   [`blocking::Connection`] (`Send + Sync + Clone`) → [`blocking::Cursor`] with `execute`,
//!   `executemany`, `fetchone`, `fetchmany`, `fetchall`, `description`, `rowcount`,
//!   `lastrowid`.
//!
//! Layout:
//! - [`client`]: the async `Client`, `Database` and `Rows`.
//! - [`options`]: `ClientOptions`, how a client connects.
//! - `open`: `Client::open`/`open_with` and `Database::connect`: a database opened as
//!   sqlite3 opens a file, in an [`OpenMode`] (`rwc`, `rw`, `ro`).
//! - [`url`]: the URLs every client takes (`http://HOST[:PORT]/DATABASE?mode=…`), the default
//!   port, `OpenMode`.
//! - [`admin`]: `Admin`: databases and sizes, checkpoint, optimize, vacuum, verified backups.
//! - [`blocking`]: `Connection` (a runtime plus the async handle) and `Cursor`.
//! - [`value`]: `Value`, `ToValue`, `FromValue`.
//! - [`row`]: `Row`, `Column`, `RowIndex`.
//! - [`transaction`]: `Transaction` (rolls back on drop), `TransactionOptions`, and
//!   `Database::begin`/`begin_with`.
//! - [`params`]: `Params`, [`params!`] and [`named_params!`].
//! - [`statements`]: `Database::call` of exposed statements, `list_statements`.
//! - [`map`]: `PersistentMap<K, V>` and `RawMap`: persistent dictionaries.
//! - [`transport`]: the shared channel: TLS for `https://` URLs, the bearer token.
//! - [`error`]: `Error` with its PEP 249 [`ErrorKind`].

pub mod admin;
pub mod blocking;
pub mod client;
pub mod error;
pub mod map;
mod open;
pub mod options;
pub mod params;
pub mod row;
mod session;
pub mod statements;
pub mod transaction;
pub mod transport;
pub mod url;
pub mod value;

pub use admin::Admin;
pub use client::{Client, ClientOptions, Database, ExecuteResult, Rows};
pub use error::{Error, ErrorKind, Result};
pub use map::{PersistentMap, RawMap};
pub use params::Params;
pub use row::{Column, Row, RowIndex};
pub use transaction::{Transaction, TransactionMode, TransactionOptions};
pub use url::OpenMode;
pub use value::{FromValue, ToValue, Value};

/// The generated protocol types, for what this crate does not wrap.
pub use sqlited_proto as proto;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
