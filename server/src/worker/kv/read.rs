//! Reads of persistent maps. Each is a query on a reader, its SQL built here, its rows
//! streamed like any query's. A map that has no table yet reads as empty: the worker checks
//! for the table first ([`run`]) instead of failing on "no such table".

use sqlited_proto::v1::value::Kind;
use sqlited_proto::v1::{Entry, ExecuteResponse, QueryResponse, Row, Statement, Value};

use super::{exists, table};
use crate::error::Result;
use crate::worker::StreamLimits;
use crate::worker::connection::Sqlite;
use crate::worker::executor;
use crate::worker::job::Handled;

/// A read of the map `map`.
#[derive(Debug, Clone, PartialEq)]
pub enum KvRead {
    /// The value and version of `key`: one row, or none.
    Get { map: String, key: Vec<u8> },
    /// One row if `key` is there.
    Contains { map: String, key: Vec<u8> },
    /// One row: the number of entries.
    Len { map: String },
    /// Entries in key order, as (key, value, version) rows: from `lower` (the key, and
    /// whether it is excluded) up to `upper` (excluded), at most `limit` (0: all).
    Scan {
        map: String,
        lower: Option<(Vec<u8>, bool)>,
        upper: Option<Vec<u8>>,
        limit: u64,
    },
}

impl KvRead {
    /// The map read.
    pub fn map(&self) -> &str {
        match self {
            KvRead::Get { map, .. }
            | KvRead::Contains { map, .. }
            | KvRead::Len { map }
            | KvRead::Scan { map, .. } => map,
        }
    }

    /// The statement that reads it.
    pub fn statement(&self) -> Statement {
        let table = table(self.map());
        let (sql, params) = match self {
            KvRead::Get { key, .. } => (
                format!("SELECT value, version FROM {table} WHERE key = ?1"),
                vec![blob(key.clone())],
            ),
            KvRead::Contains { key, .. } => (
                format!("SELECT 1 FROM {table} WHERE key = ?1"),
                vec![blob(key.clone())],
            ),
            KvRead::Len { .. } => (format!("SELECT count(*) FROM {table}"), Vec::new()),
            KvRead::Scan {
                lower,
                upper,
                limit,
                ..
            } => {
                let mut sql = format!("SELECT key, value, version FROM {table}");
                let mut params = Vec::new();
                let mut clauses = Vec::new();
                if let Some((start, exclusive)) = lower {
                    params.push(blob(start.clone()));
                    let op = if *exclusive { ">" } else { ">=" };
                    clauses.push(format!("key {op} ?{}", params.len()));
                }
                if let Some(end) = upper {
                    params.push(blob(end.clone()));
                    clauses.push(format!("key < ?{}", params.len()));
                }
                if !clauses.is_empty() {
                    sql.push_str(" WHERE ");
                    sql.push_str(&clauses.join(" AND "));
                }
                sql.push_str(" ORDER BY key");
                if *limit > 0 {
                    sql.push_str(&format!(" LIMIT {limit}"));
                }
                (sql, params)
            }
        };
        Statement {
            sql,
            params,
            ..Statement::default()
        }
    }
}

/// Runs `read` on `db` as [`executor::stream_query`] runs a statement; a map with no table
/// answers no rows.
pub fn run(
    db: &Sqlite,
    read: &KvRead,
    limits: StreamLimits,
    emit: &mut dyn FnMut(QueryResponse) -> Result<bool>,
) -> Result<Handled<Option<QueryResponse>>> {
    if !db.trusted(|| exists(db, read.map()))? {
        return Ok(Handled::Ran(Some(QueryResponse {
            summary: Some(ExecuteResponse::default()),
            ..QueryResponse::default()
        })));
    }
    executor::stream_query(db, &read.statement(), limits, emit)
}

/// The entry of `key` from a Get's row (value, version).
pub fn got(key: Vec<u8>, row: &Row) -> Entry {
    Entry {
        key,
        value: bytes_of(row.values.first()),
        version: int_of(row.values.get(1)),
    }
}

/// The entry of a Scan's row (key, value, version).
pub fn scanned(row: &Row) -> Entry {
    Entry {
        key: bytes_of(row.values.first()),
        value: bytes_of(row.values.get(1)),
        version: int_of(row.values.get(2)),
    }
}

/// The count of a Len's row.
pub fn counted(row: &Row) -> u64 {
    u64::try_from(int_of(row.values.first())).unwrap_or_default()
}

fn blob(bytes: Vec<u8>) -> Value {
    Value {
        kind: Some(Kind::Blob(bytes)),
    }
}

fn bytes_of(value: Option<&Value>) -> Vec<u8> {
    match value.and_then(|v| v.kind.as_ref()) {
        Some(Kind::Blob(b)) => b.clone(),
        Some(Kind::Text(t)) => t.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

fn int_of(value: Option<&Value>) -> i64 {
    match value.and_then(|v| v.kind.as_ref()) {
        Some(Kind::Integer(i)) => *i,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_reads_its_bounds_in_key_order() {
        let scan = KvRead::Scan {
            map: "m".into(),
            lower: Some((b"a".to_vec(), true)),
            upper: Some(b"b".to_vec()),
            limit: 10,
        };
        let statement = scan.statement();
        assert_eq!(
            statement.sql,
            "SELECT key, value, version FROM \"kv_m\" WHERE key > ?1 AND key < ?2 ORDER BY key LIMIT 10"
        );
        assert_eq!(statement.params.len(), 2);
        let all = KvRead::Scan {
            map: "m".into(),
            lower: None,
            upper: None,
            limit: 0,
        };
        assert_eq!(
            all.statement().sql,
            "SELECT key, value, version FROM \"kv_m\" ORDER BY key"
        );
    }
}
