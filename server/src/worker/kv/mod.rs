//! Persistent maps (the KeyValue service), all their SQL in one place: the table a map is,
//! its reads and its writes.
//!
//! A map is the table `"kv_<map>"` (key BLOB PRIMARY KEY, value BLOB, version INTEGER),
//! created by its first write. Map names are validated before they reach here, so the table
//! name can be written into the SQL text. A map that has no table yet is empty: a worker
//! checks for the table ([`exists`]) rather than reading SQLite's error text.
//!
//! Layout:
//! - [`read`]: Get, Contains, Len and Scan, run as queries on a reader.
//! - [`write`]: Set, Delete, SetMany, DeleteMany and Clear, run by the writer in its group
//!   commit.

pub mod read;
pub mod write;

pub use read::KvRead;
pub use write::{KvWrite, KvWritten, apply, bytes};

use super::connection::Sqlite;
use crate::error::Result;

/// The table of `map`.
pub fn table(map: &str) -> String {
    format!("\"kv_{map}\"")
}

/// Whether `map` has its table (SQLite's names ignore ASCII case, and so does this). The
/// server's own statement: run it past the authorizer ([`Sqlite::trusted`]).
pub fn exists(db: &Sqlite, map: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE";
    Ok(db
        .conn()
        .prepare_cached(sql)?
        .exists([format!("kv_{map}")])?)
}
