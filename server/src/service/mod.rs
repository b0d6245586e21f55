//! gRPC services: thin layers that validate a request, call the engine and map errors.
//!
//! Layout:
//! - [`database`]: `sqlited.v1.Database` (Execute, Query, ExecuteBatch, Begin, Commit,
//!   Rollback).
//! - [`admin`]: `sqlited.v1.Admin` (ListDatabases, Checkpoint, Optimize, Vacuum, Backup).
//! - [`kv`]: `sqlited.v1.KeyValue`: persistent maps.
//! - [`health`]: gRPC health entries for the server and each open database.
//! - [`context`]: a request's deadline and the cancel token that carries it to SQLite.
//! - [`finish`]: the one way every RPC ends: logs, `x-request-id`, errors as statuses.
//! - [`observe`]: request counts and latencies of every RPC, for the metrics.
//! - [`oversize`]: oversized requests answered RESOURCE_EXHAUSTED.
//! - [`request_id`]: request ids, and the outermost layer that puts one on every answer.
//! - [`statements`]: `sqlited.v1.Statements` (Call, ListStatements, ReloadStatements).
//! - [`response_stream`]: a streaming RPC's response as tonic sends it, with its end log.
//! - [`session`]: `Database.Session`, many requests on one stream, answered by the
//!   `database` handlers.

pub mod admin;
pub mod context;
pub mod database;
pub mod finish;
pub mod health;
pub mod kv;
pub mod observe;
pub mod oversize;
pub mod request_id;
pub mod response_stream;
pub mod session;
pub mod statements;

/// The first keyword of `sql` in capitals (`SELECT`, `INSERT`, …), for logs.
pub fn statement_kind(sql: &str) -> String {
    let word = crate::sql::text::first_word(sql);
    word[..word.len().min(16)].to_ascii_uppercase()
}
