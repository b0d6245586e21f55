//! sqlited: SQLite databases on the network, over gRPC.
//!
//! A request travels: service (validate) → [`engine::Engine`] (which database) →
//! [`engine::Database`] (read or write) → a worker's SQLite connection → rows stream back
//! through a bounded channel.
//!
//! Layout:
//! - `main.rs`: parse the config, start tracing, bind, run until a signal.
//! - [`auth`]: tokens, roles and the layer that authenticates every request.
//! - [`listener`]: `--listen`: a TCP address or a Unix socket, bound safely.
//! - [`connections`]: accepted connections, counted per client (address or user id).
//! - [`config`]: flags and `SQLITED_*` environment variables → one [`config::Config`].
//! - [`server`]: the tonic router (Database, health, reflection), serving, graceful shutdown.
//! - [`http`]: the HTTP/JSON gateway (`--http-listen`) over the same services, and its
//!   OpenAPI document.
//! - [`healthcheck`]: the `sqlited healthcheck` subcommand's client.
//! - [`integrity`]: whether a file is a sound SQLite database, checked before a restore.
//! - [`restore`]: the `sqlited restore` subcommand: a backup back into the data directory.
//! - [`replication`]: continuous replication with a supervised Litestream child
//!   (`--replica-url`), the sync mode's barrier, restores from the replica.
//! - [`name`]: what a database name may be, and the file it names (a leaf: the engine,
//!   replication, restore and the services all use it).
//! - [`lock`]: the data directory's lock: one server (or restore) at a time.
//! - [`service`]: one file per gRPC service; thin: validate, call the engine, map errors.
//! - [`engine`]: the registry of databases, routing, the reader pool and the writer queue.
//! - [`worker`]: workers owning one connection each: thread workers, worker processes
//!   (`--workers processes`), the deadpool manager, the executor and the writer's group commit.
//! - [`statements`]: exposed statements: the statements file, argument checks.
//! - [`sql`]: values, parameter binding and result codes between proto and rusqlite.
//! - [`metrics`]: Prometheus metrics on `--metrics-listen`.
//! - [`memory`]: the cap on SQLite's heap (`--sqlite-memory-limit`).
//! - [`error`]: the one error type and its mapping to `tonic::Status`.

pub mod auth;
pub mod config;
pub(crate) mod connections;
pub mod engine;
pub mod error;
pub mod healthcheck;
pub mod http;
pub(crate) mod integrity;
pub mod listener;
pub(crate) mod lock;
pub(crate) mod memory;
pub(crate) mod metrics;
pub mod name;
pub mod replication;
pub mod restore;
pub mod server;
pub(crate) mod service;
pub(crate) mod sql;
pub(crate) mod statements;
pub mod worker;

pub use config::Config;
pub use error::{Error, Result};
