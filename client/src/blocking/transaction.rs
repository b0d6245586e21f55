//! The blocking transaction: rolls back when dropped, commits with `commit(self)`.

use std::sync::Arc;

use super::{Cursor, Shared};
use crate::client::ExecuteResult;
use crate::error::Result;
use crate::params::Params;
use crate::row::Row;

/// An open transaction of a blocking [`Connection`](super::Connection). Everything run
/// through it happens inside it; dropped without [`commit`](Self::commit), it rolls back.
pub struct Transaction {
    shared: Arc<Shared>,
    /// `None` once committed or rolled back.
    tx: Option<crate::Transaction>,
}

impl Transaction {
    pub(super) fn new(shared: Arc<Shared>, tx: crate::Transaction) -> Self {
        Self {
            shared,
            tx: Some(tx),
        }
    }

    fn tx(&self) -> &crate::Transaction {
        self.tx
            .as_ref()
            .expect("a transaction is open until commit or rollback consumes it")
    }

    /// The transaction's id on the server.
    pub fn id(&self) -> &str {
        self.tx().id()
    }

    /// A cursor whose statements run inside this transaction.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(
            Arc::clone(&self.shared),
            Some(crate::Database::clone(self.tx())),
        )
    }

    /// Runs one statement inside the transaction.
    pub fn execute(&self, sql: &str, params: impl Into<Params>) -> Result<ExecuteResult> {
        self.shared.block_on(self.tx().execute(sql, params))?
    }

    /// Runs `sql` once per parameter set inside the transaction.
    pub fn execute_many<I, P>(&self, sql: &str, param_sets: I) -> Result<Vec<ExecuteResult>>
    where
        I: IntoIterator<Item = P>,
        P: Into<Params>,
    {
        self.shared
            .block_on(self.tx().execute_many(sql, param_sets))?
    }

    /// Runs a query inside the transaction and returns all its rows.
    pub fn query(&self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>> {
        self.shared.block_on(self.tx().query_all(sql, params))?
    }

    /// Runs a query that returns exactly one row.
    pub fn query_one(&self, sql: &str, params: impl Into<Params>) -> Result<Row> {
        self.shared.block_on(self.tx().query_one(sql, params))?
    }

    /// Commits.
    ///
    /// # Errors
    /// An `OperationalError` (ABORTED) if the server already rolled it back, e.g. because
    /// its lease ran out; nothing of it was kept then.
    pub fn commit(mut self) -> Result<()> {
        let tx = self.tx.take().expect("open");
        self.shared.block_on(tx.commit())?
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        let tx = self.tx.take().expect("open");
        self.shared.block_on(tx.rollback())?
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take()
            && tokio::runtime::Handle::try_current().is_err()
        {
            let _ = self.shared.block_on(tx.rollback());
        }
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.tx.as_ref().map(|t| t.id()))
            .finish()
    }
}
