//! The two engines every script runs on: the real server through the Rust client, and an
//! in-process SQLite connection (rusqlite, the same bundled SQLite) on its own file,
//! configured as the server configures its connections where that changes an answer.

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ffi};
use sqlited_client::Database;

use super::outcome::{Answer, Cell, Column, Outcome};

/// The servers of this suite run with `--max-message-bytes` this small, so that values near
/// the bound are cheap to build.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The server's SQLITE_LIMIT_LENGTH for [`MAX_MESSAGE_BYTES`]: a KiB less, for the
/// message's own framing (`max_value_bytes` in the server's config).
pub const MAX_VALUE_BYTES: usize = MAX_MESSAGE_BYTES - 1024;

/// The flags of every server of this suite: small messages, and four readers, so that a
/// statement cached on one reader meets a schema changed by the writer.
pub const SERVER_ARGS: &[&str] = &["--max-message-bytes", "1048576", "--readers", "4"];

/// Whether the statement returns its rows (a `query` record) or only what it changed (a
/// `statement` record): the server's `Query` and `Execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Query,
    Execute,
}

/// Runs `sql` on the server.
pub async fn on_server(db: &Database, sql: &str, mode: Mode) -> Answer {
    match mode {
        Mode::Execute => match db.execute(sql, ()).await {
            Ok(result) => Answer::Ran(Outcome {
                rows_affected: result.rows_affected,
                last_insert_rowid: result.last_insert_rowid,
                ..Outcome::default()
            }),
            Err(err) => Answer::Failed(err.into()),
        },
        Mode::Query => {
            let mut rows = match db.query(sql, ()).await {
                Ok(rows) => rows,
                Err(err) => return Answer::Failed(err.into()),
            };
            let columns = rows
                .columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_owned(),
                    decl_type: c.decl_type().map(str::to_owned),
                })
                .collect();
            let mut cells = Vec::new();
            loop {
                match rows.next().await {
                    Ok(Some(row)) => cells.push(row.values().iter().map(Cell::from_client).collect()),
                    Ok(None) => break,
                    Err(err) => return Answer::Failed(err.into()),
                }
            }
            let summary = rows.summary().unwrap_or_default();
            Answer::Ran(Outcome {
                columns,
                rows: cells,
                rows_affected: summary.rows_affected,
                last_insert_rowid: summary.last_insert_rowid,
            })
        }
    }
}

/// SQLite itself, on one connection.
pub struct Reference {
    conn: Connection,
}

impl Reference {
    /// Opens (creating) the database at `path` as the server opens its writer: WAL,
    /// foreign keys on, defensive, an untrusted schema and the same SQLITE_LIMIT_LENGTH.
    pub fn open(path: &Path) -> Self {
        let conn = Connection::open(path).expect("open the reference database");
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("PRAGMA foreign_keys=ON").unwrap();
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .unwrap();
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
            .unwrap();
        // SAFETY: the handle is valid while `conn` lives; sqlite3_limit only sets a number.
        unsafe {
            ffi::sqlite3_limit(
                conn.handle(),
                ffi::SQLITE_LIMIT_LENGTH,
                MAX_VALUE_BYTES as i32,
            )
        };
        Self { conn }
    }

    /// Runs `sql`, prepared afresh: no statement cache to go stale. `rows_affected` and
    /// `last_insert_rowid` are the statement's, as the server reports them (see `known`).
    pub fn run(&self, sql: &str, mode: Mode) -> Answer {
        match self.try_run(sql) {
            Ok(mut outcome) => {
                if mode == Mode::Execute {
                    outcome.columns.clear();
                    outcome.rows.clear();
                }
                Answer::Ran(outcome)
            }
            Err(err) => Answer::Failed(err.into()),
        }
    }

    fn try_run(&self, sql: &str) -> rusqlite::Result<Outcome> {
        let before = self.conn.total_changes();
        let mut stmt = self.conn.prepare(sql)?;
        let read_only = stmt.readonly();
        let columns = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                decl_type: c.decl_type().map(str::to_owned),
            })
            .collect();
        let count = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut cells = Vec::new();
        while let Some(row) = rows.next()? {
            cells.push(
                (0..count)
                    .map(|i| Cell::from_sqlite(row.get_ref_unwrap(i)))
                    .collect(),
            );
        }
        drop(rows);
        let changed = self.conn.total_changes() != before;
        Ok(Outcome {
            columns,
            rows: cells,
            rows_affected: if changed { self.conn.changes() } else { 0 },
            last_insert_rowid: if read_only {
                0
            } else {
                self.conn.last_insert_rowid()
            },
        })
    }
}
