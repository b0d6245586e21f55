//! Running one statement, one batch or one query against a worker's connection; preparing
//! SQL to check it, and snapshots.
//!
//! Transactions are the caller's business: a reader runs each statement on its own, the
//! writer wraps them in its group commit.

use std::path::Path;

use sqlited_proto::v1::{Column, ExecuteResponse, QueryResponse, Row, Statement};

use super::cancel::CancelToken;
use super::connection::Sqlite;
use super::group_commit::in_savepoint;
use super::job::{self, Answer, Handled, Job, Outcome, Place, Prepared, Task};
use super::reply::{RowSink, Sent};
use super::schema_probe::{self, SchemaObject};
use super::{Role, StreamLimits};
use crate::error::{Error, Result};
use crate::sql::bind::bind;
use crate::sql::value::{from_sqlite, wire_size_ref};

/// Serves a reader: one task at a time from `next`, until it has no more.
pub fn serve_reader(db: &Sqlite, mut next: impl FnMut() -> Option<Task>) {
    while let Some(Task { job, lease, cancel }) = next() {
        match job {
            Job::Call { call, reply } if call.needs_writer() => {
                let _ = reply.send(Ok(Answer::NeedsWriter));
            }
            Job::Call { call, reply } => {
                let _ = reply.send(job::run(db, &call, &cancel, Place::Alone));
            }
            Job::Query {
                query,
                limits,
                sink,
            } => {
                let last = db.run_task(&cancel, || {
                    query.stream(db, limits, &mut to_sink(&sink, &cancel))
                });
                finish_query(&sink, last, &cancel);
            }
            Job::Transaction(session) => super::transaction::serve(db, session),
        }
        drop(lease);
    }
}

/// Prepares each of `sql` as the server's own (past the authorizer, never cached), and
/// says what SQLite makes of it.
pub fn prepare_all(db: &Sqlite, sql: &[String]) -> Vec<Prepared> {
    sql.iter()
        .map(|sql| {
            db.trusted(|| match db.conn().prepare(sql) {
                Err(err) => Prepared {
                    error: Some(err.to_string()),
                    ..Prepared::default()
                },
                Ok(stmt) => Prepared {
                    error: None,
                    placeholders: (1..=stmt.parameter_count())
                        .map(|i| stmt.parameter_name(i).map(str::to_string))
                        .collect(),
                    writes: !stmt.readonly(),
                },
            })
        })
        .collect()
}

/// Writes a consistent snapshot of the database to `target`, a new empty file, with
/// `VACUUM INTO` (one read transaction: reads and writes go on meanwhile); returns its size.
pub fn snapshot(db: &Sqlite, target: &Path) -> Result<u64> {
    db.trusted(|| {
        db.conn()
            .execute("VACUUM INTO ?1", [target.to_string_lossy()])
    })?;
    let bytes = std::fs::metadata(target)
        .map_err(|err| Error::Internal(format!("cannot read the snapshot: {err}")))?
        .len();
    Ok(bytes)
}

/// Runs one statement and reads past any rows it returns; a reader runs none that writes.
pub fn execute(db: &Sqlite, statement: &Statement) -> Result<Handled<Outcome>> {
    let before = total_changes(db);
    let mut stmt = db.prepare(&statement.sql)?;
    let read_only = stmt.readonly();
    if !read_only && db.role() == Role::Reader {
        return Ok(Handled::NeedsWriter);
    }
    if !read_only {
        db.note_write();
    }
    bind(&mut stmt, &statement.params, &statement.named_params)?;
    let creates = std::mem::take(&mut stmt.creates);
    checked_schema(db, &creates, || {
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        Ok(())
    })?;
    // A read-only statement changed nothing and inserted nothing, whichever connection ran
    // it (the writer, while its route is unknown, holds the last rowid of other requests).
    let response = if read_only {
        ExecuteResponse::default()
    } else {
        summary(db, before)
    };
    Ok(Handled::Ran(Outcome {
        response,
        read_only,
    }))
}

/// Runs `statements` in order, stopping at the first error, which names its statement, or
/// at the first that writes, on a reader.
pub fn execute_all(db: &Sqlite, statements: &[Statement]) -> Result<Handled<Vec<ExecuteResponse>>> {
    let mut responses = Vec::with_capacity(statements.len());
    for (i, statement) in statements.iter().enumerate() {
        match execute(db, statement).map_err(|err| err.within(&format!("statements[{i}]")))? {
            Handled::Ran(outcome) => responses.push(outcome.response),
            Handled::NeedsWriter => return Ok(Handled::NeedsWriter),
        }
    }
    Ok(Handled::Ran(responses))
}

/// Passes a query's messages to `sink` as [`stream_query`] cuts them: `Ok(false)` once
/// nobody reads, an error once the client reads too slowly for the request's deadline.
pub fn to_sink<'a>(
    sink: &'a RowSink,
    cancel: &'a CancelToken,
) -> impl FnMut(QueryResponse) -> Result<bool> + 'a {
    move |message| match sink.send_within(Ok(Handled::Ran(message)), cancel) {
        Sent::Delivered => Ok(true),
        Sent::Gone => Ok(false),
        Sent::TooSlow => Err(cancel.slow_reader_error()),
    }
}

/// Runs a query and hands its messages, cut by `limits`, to `emit` (which answers whether
/// anybody still reads), and returns the last message (remaining rows and the summary)
/// unsent, so the writer can commit before sending it. `None` means the client went away.
/// A reader runs no statement that writes.
pub fn stream_query(
    db: &Sqlite,
    statement: &Statement,
    limits: StreamLimits,
    emit: &mut dyn FnMut(QueryResponse) -> Result<bool>,
) -> Result<Handled<Option<QueryResponse>>> {
    let before = total_changes(db);
    let mut stmt = db.prepare(&statement.sql)?;
    let read_only = stmt.readonly();
    if !read_only && db.role() == Role::Reader {
        return Ok(Handled::NeedsWriter);
    }
    if !read_only {
        db.note_write();
    }
    bind(&mut stmt, &statement.params, &statement.named_params)?;
    let creates = std::mem::take(&mut stmt.creates);
    let Some(mut message) = checked_schema(db, &creates, || stream_rows(&mut stmt, limits, emit))?
    else {
        return Ok(Handled::Ran(None));
    };
    message.summary = Some(if read_only {
        ExecuteResponse::default()
    } else {
        summary(db, before)
    });
    Ok(Handled::Ran(Some(message)))
}

/// Runs `run`, the steps of a client's statement that creates or alters the schema objects
/// `creates` (none: it runs as it is), inside a savepoint of the server's, and refuses it —
/// undoing it — if one of them could never be used ([`schema_probe`]).
fn checked_schema<T>(
    db: &Sqlite,
    creates: &[SchemaObject],
    run: impl FnOnce() -> Result<T>,
) -> Result<T> {
    in_savepoint(db, !creates.is_empty(), || {
        let value = run()?;
        schema_probe::check(db, creates)?;
        Ok(value)
    })
}

/// Steps `stmt` to its end, handing full messages to `emit`; returns the last message
/// (remaining rows, and the columns), or `None` if the client went away.
fn stream_rows(
    stmt: &mut rusqlite::Statement<'_>,
    limits: StreamLimits,
    emit: &mut dyn FnMut(QueryResponse) -> Result<bool>,
) -> Result<Option<QueryResponse>> {
    // The columns are read after the first step, never before: a cached statement that
    // SQLite re-prepares after a schema change has its new columns only once it has run.
    let mut message = QueryResponse::default();
    let mut column_count = 0;
    let mut bytes = 0;
    let mut count: u64 = 0;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        if count == 0 {
            message.columns = describe(row.as_ref());
            column_count = message.columns.len();
        }
        count += 1;
        if limits.max_rows > 0 && count > limits.max_rows {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "the query returns more than {} rows (--max-rows-per-query); add a LIMIT, \
                     or page through the result with WHERE on a key",
                    limits.max_rows
                ),
                retryable: false,
            });
        }
        let mut values = Vec::with_capacity(column_count);
        let mut row_bytes = 4;
        for i in 0..column_count {
            let value = row.get_ref(i)?;
            // Sized before it is copied: a row too large to send is never copied whole.
            row_bytes += wire_size_ref(value);
            if row_bytes > limits.max_message_bytes {
                return Err(Error::ResourceExhausted {
                    message: format!(
                        "a result row takes more than {} bytes, more than one message may \
                         carry (--max-message-bytes); select fewer or smaller columns",
                        limits.max_message_bytes
                    ),
                    retryable: false,
                });
            }
            // The column's name is looked up only for an error message.
            values.push(from_sqlite(value, || {
                row.as_ref().column_name(i).unwrap_or_default().to_string()
            })?);
        }
        if !message.rows.is_empty() && bytes + row_bytes > limits.bytes_per_message {
            if !emit(std::mem::take(&mut message))? {
                return Ok(None);
            }
            bytes = 0;
        }
        message.rows.push(Row { values });
        bytes += row_bytes;
        if message.rows.len() >= limits.rows_per_message {
            if !emit(std::mem::take(&mut message))? {
                return Ok(None);
            }
            bytes = 0;
        }
    }
    drop(rows);
    if count == 0 {
        message.columns = describe(stmt);
    }
    Ok(Some(message))
}

/// The result columns of `stmt` as it stands (after its first step: see [`stream_query`]).
fn describe(stmt: &rusqlite::Statement<'_>) -> Vec<Column> {
    stmt.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            decl_type: c.decl_type().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Sends the end of a query: its last message, a reader's refusal of a statement that
/// writes, or its error. The error of a client that reads too slowly is not waited on: its
/// stream ends with it all the same ([`crate::engine::rows::QueryRows`] reads it from the
/// token).
pub fn finish_query(
    sink: &RowSink,
    last: Result<Handled<Option<QueryResponse>>>,
    cancel: &CancelToken,
) {
    match last {
        Ok(Handled::Ran(Some(message))) => {
            sink.send_within(Ok(Handled::Ran(message)), cancel);
        }
        Ok(Handled::Ran(None)) => {}
        Ok(Handled::NeedsWriter) => {
            sink.send_within(Ok(Handled::NeedsWriter), cancel);
        }
        Err(err) if cancel.is_slow_reader() => sink.try_send(Err(err)),
        Err(err) => {
            sink.send_within(Err(err), cancel);
        }
    }
}

fn total_changes(db: &Sqlite) -> u64 {
    db.conn().total_changes()
}

/// What the statement just run changed. `changes()` keeps the count of the last
/// INSERT/UPDATE/DELETE, so a statement that changed nothing (CREATE, a SELECT) reports 0.
fn summary(db: &Sqlite, total_before: u64) -> ExecuteResponse {
    if total_changes(db) == total_before {
        return ExecuteResponse {
            rows_affected: 0,
            last_insert_rowid: db.conn().last_insert_rowid(),
        };
    }
    ExecuteResponse {
        rows_affected: db.conn().changes(),
        last_insert_rowid: db.conn().last_insert_rowid(),
    }
}
