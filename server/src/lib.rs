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
//! - [`connections`]: both ports' connections from accept to close: bounded in time, counted per
//!   client (address or user id), idle ones evicted first at the cap.
//! - [`config`]: flags and `SQLITED_*` environment variables → one [`config::Config`].
//! - [`server`]: the composition root: the app built from a [`Config`], served on its
//!   listeners until one shutdown signal, and shut down in a documented order.
//! - [`http`]: the HTTP/JSON gateway (`--http-listen`) over the same services, and its
//!   OpenAPI document.
//! - [`healthcheck`]: the `sqlited healthcheck` subcommand's client.
//! - [`restore`]: the `sqlited restore` subcommand: a backup back into the data directory.
//! - [`replication`]: continuous replication with a supervised Litestream child
//!   (`--replica-url`), the sync mode's barrier, restores from the replica.
//! - [`name`]: what a database name may be, and the file it names (a leaf: the engine,
//!   replication, restore and the services all use it).
//! - [`deadline`]: the deadline headers (`grpc-timeout`, `x-request-timeout-ms`), a leaf.
//! - [`lock`]: the data directory's lock: one server (or restore) at a time.
//! - [`service`]: one file per gRPC service; thin: validate, call the engine, map errors.
//! - [`engine`]: the registry of databases, routing, the reader pool and the writer queue.
//! - [`worker`]: workers owning one connection each: thread workers, worker processes
//!   (`--workers processes`), the deadpool manager, the executor and the writer's group commit.
//! - [`statements`]: exposed statements: the statements file, argument checks.
//! - [`sql`]: values, parameter binding and result codes between proto and rusqlite.
//! - [`metrics`]: Prometheus metrics on `--metrics-listen`.
//! - [`memory`]: SQLite's memory: each request's budget (`--request-memory-limit`, through
//!   SQLite's allocator wrapped) and the process-wide cap (`--sqlite-memory-limit`).
//! - [`error`]: the one error type and its mapping to `tonic::Status`.

pub(crate) mod auth;
pub mod config;
pub(crate) mod connections;
pub(crate) mod deadline;
pub(crate) mod engine;
pub(crate) mod error;
pub mod healthcheck;
pub(crate) mod http;
pub mod listener;
pub(crate) mod lock;
pub(crate) mod memory;
pub(crate) mod metrics;
pub(crate) mod name;
pub(crate) mod replication;
pub mod restore;
pub mod server;
pub(crate) mod service;
pub(crate) mod sql;
pub(crate) mod statements;
pub(crate) mod worker;

// The public face: the modules above that are `pub` are the binary's (`main.rs`) front doors;
// the rest is the crate's own, and only what the binary, the benchmark (`bench/`), the fuzz
// targets (`fuzz/`) and the integration tests use is re-exported here.
pub use auth::Access;
pub use config::Config;
pub use engine::{Database, Engine};
pub use error::{Error, Result};
/// Puts SQLite's memory accounting in place: the binary's first act (see [`memory`]).
pub use memory::install as install_sqlite_allocator;
pub use worker::cancel::CancelToken;
/// The `sqlited worker` subcommand: a worker process's main loop.
pub use worker::process::host::run as run_worker_process;

/// Tokens, for `sqlited token` and the tests' credentials files.
pub mod token {
    pub use crate::auth::token::{generate, hash_hex};
}

/// What the fuzz targets (`fuzz/`) drive directly, below the services: a worker's connection
/// and its executor, the HTTP gateway's decoders, the name and credentials parsers.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::auth::Credentials;
    pub use crate::worker::Role;
    pub use crate::worker::connection::{ConnectionSettings, Sqlite, Synchronous};

    pub mod executor {
        pub use crate::worker::executor::execute;
    }

    pub mod name {
        pub use crate::name::validate;
    }

    pub mod body {
        pub use crate::http::body::{
            batch, call_args, flag, object, query_args, statement, u32_field,
        };
    }

    pub mod values {
        pub use crate::http::values::{Out, from_json};
    }
}
