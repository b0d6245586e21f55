//! The DB-API cursor: execute a statement, then fetch its rows lazily.

use std::sync::Arc;

use super::Shared;
use crate::client::{Database, ExecuteResult, Rows};
use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;
use crate::row::{Column, Row};

/// Runs statements and fetches their rows, as PEP 249 describes. Rows come from the server
/// in batches as they are fetched, so a large result never sits whole in memory.
///
/// A cursor is `Send`: give each thread its own (they share the connection).
pub struct Cursor {
    shared: Arc<Shared>,
    /// The transaction handle of a cursor made by a [`Transaction`](super::Transaction).
    bound: Option<Database>,
    /// How many rows [`fetchmany(None)`](Self::fetchmany) fetches. Default 1.
    pub arraysize: usize,
    rows: Option<Rows>,
    exhausted: bool,
    rowcount: i64,
    lastrowid: Option<i64>,
    closed: bool,
}

impl Cursor {
    pub(super) fn new(shared: Arc<Shared>, bound: Option<Database>) -> Self {
        Self {
            shared,
            bound,
            arraysize: 1,
            rows: None,
            exhausted: false,
            rowcount: -1,
            lastrowid: None,
            closed: false,
        }
    }

    fn db(&self) -> Result<Database> {
        match &self.bound {
            Some(db) => Ok(db.clone()),
            None => self.shared.target(),
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::new(ErrorKind::Programming, "the cursor is closed"));
        }
        Ok(())
    }

    /// Runs one statement. Its rows, if any, are fetched with `fetch*` or by iterating.
    ///
    /// # Errors
    /// Whatever the server reports for the statement (see [`ErrorKind`]).
    pub fn execute(&mut self, sql: &str, params: impl Into<Params>) -> Result<&mut Self> {
        self.check_open()?;
        self.rows = None;
        self.exhausted = false;
        self.rowcount = -1;
        let db = self.db()?;
        let rows = self.shared.block_on(db.query(sql, params))??;
        self.take(rows)
    }

    /// Calls the exposed statement `name` with `args` (`args!{"name" => "ann"}`), DB-API's
    /// `callproc`: its rows are then fetched as after `execute`. Wrong arguments fail with
    /// every one listed by `Error::violations`.
    pub fn callproc(&mut self, name: &str, args: impl Into<Params>) -> Result<&mut Self> {
        self.check_open()?;
        self.rows = None;
        self.exhausted = false;
        self.rowcount = -1;
        let db = self.db()?;
        let rows = self.shared.block_on(db.call(name, args))??;
        self.take(rows)
    }

    /// Holds the result of `execute` or `callproc`.
    fn take(&mut self, mut rows: crate::Rows) -> Result<&mut Self> {
        if rows.columns().is_empty() {
            // No result set (INSERT, UPDATE, CREATE, …): read the summary now.
            while self.shared.block_on(rows.next())??.is_some() {}
            self.apply(rows.summary());
            self.exhausted = true;
        } else {
            self.rows = Some(rows);
        }
        Ok(self)
    }

    /// Runs `sql` once per parameter set, all in one transaction. `rowcount` is the total of
    /// rows changed.
    pub fn executemany<I, P>(&mut self, sql: &str, param_sets: I) -> Result<&mut Self>
    where
        I: IntoIterator<Item = P>,
        P: Into<Params>,
    {
        self.check_open()?;
        self.rows = None;
        self.exhausted = true;
        self.rowcount = -1;
        let db = self.db()?;
        let results = self.shared.block_on(db.execute_many(sql, param_sets))??;
        self.rowcount = results.iter().map(|r| r.rows_affected as i64).sum();
        if let Some(last) = results.iter().rev().find(|r| r.last_insert_rowid != 0) {
            self.lastrowid = Some(last.last_insert_rowid);
        }
        Ok(self)
    }

    fn apply(&mut self, summary: Option<ExecuteResult>) {
        if let Some(summary) = summary {
            self.rowcount = summary.rows_affected as i64;
            if summary.last_insert_rowid != 0 {
                self.lastrowid = Some(summary.last_insert_rowid);
            }
        }
    }

    /// The next row, or `None` when there are no more (or the statement returns none).
    pub fn fetchone(&mut self) -> Result<Option<Row>> {
        self.check_open()?;
        if self.exhausted {
            return Ok(None);
        }
        let Some(rows) = self.rows.as_mut() else {
            return Ok(None);
        };
        match self.shared.block_on(rows.next())? {
            Ok(Some(row)) => Ok(Some(row)),
            Ok(None) => {
                self.exhausted = true;
                let summary = rows.summary();
                if summary.is_some_and(|s| s.rows_affected > 0) {
                    self.apply(summary);
                }
                Ok(None)
            }
            Err(err) => {
                self.exhausted = true;
                Err(err)
            }
        }
    }

    /// Up to `size` more rows (`None`: [`arraysize`](Self::arraysize)); fewer at the end.
    pub fn fetchmany(&mut self, size: impl Into<Option<usize>>) -> Result<Vec<Row>> {
        let size = size.into().unwrap_or(self.arraysize);
        let mut rows = Vec::with_capacity(size.min(1024));
        while rows.len() < size {
            match self.fetchone()? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }

    /// Every remaining row.
    pub fn fetchall(&mut self) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        while let Some(row) = self.fetchone()? {
            rows.push(row);
        }
        Ok(rows)
    }

    /// The columns of the last statement's result; `None` when it returns no rows.
    pub fn description(&self) -> Option<&[Column]> {
        self.rows
            .as_ref()
            .map(Rows::columns)
            .filter(|c| !c.is_empty())
    }

    /// Rows changed by the last statement (the total for `executemany`); -1 for a query
    /// until its rows are all fetched, and for a query that changes nothing.
    pub fn rowcount(&self) -> i64 {
        self.rowcount
    }

    /// The rowid of the last row inserted through this cursor, if any.
    pub fn lastrowid(&self) -> Option<i64> {
        self.lastrowid
    }

    /// Closes the cursor: its pending rows are dropped and later calls fail.
    pub fn close(&mut self) {
        self.rows = None;
        self.closed = true;
    }
}

impl Iterator for Cursor {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fetchone().transpose()
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("rowcount", &self.rowcount)
            .field("lastrowid", &self.lastrowid)
            .field("arraysize", &self.arraysize)
            .finish_non_exhaustive()
    }
}
