//! Where a request runs: inside its interactive transaction when it names one, else on its
//! database (which a write creates). The services hand every statement here, so that choice
//! has one home.

use std::sync::Arc;

use sqlited_proto::v1::{ExecuteResponse, Statement};

use super::Engine;
use super::rows::QueryRows;
use super::transactions::Owner;
use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;
use crate::worker::classify::writes_on_empty_database;

impl Engine {
    /// Runs a statement returning rows on `database`, inside the transaction
    /// `transaction_id` of `owner` when it is not empty.
    pub async fn query(
        &self,
        database: &str,
        transaction_id: &str,
        owner: Owner<'_>,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        if !transaction_id.is_empty() {
            let tx = self.transactions().get(transaction_id, database, owner)?;
            return tx.query(statement, self.options().stream, cancel).await;
        }
        let db = match self.database(database, cancel).await {
            Err(Error::DatabaseNotFound(_))
                if self.creates_on_write()
                    && cancel.access() >= crate::auth::Access::Admin
                    && writes_on_empty_database(&statement.sql).await =>
            {
                // A write sent through Query (a DB-API cursor's CREATE TABLE) creates the
                // database like any write; for an admin only, as every creation.
                self.database_to_write(database, cancel).await?
            }
            other => other?,
        };
        db.query(statement, cancel).await
    }

    /// Runs a statement returning rows on `database`, refused if it writes (a client's
    /// `mode=ro`); never inside a transaction, and it creates nothing.
    pub async fn query_read_only(
        &self,
        database: &str,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        self.database(database, cancel)
            .await?
            .query_read_only(statement, cancel)
            .await
    }

    /// Runs one statement on `database`, inside the transaction `transaction_id` of `owner`
    /// when it is not empty.
    pub async fn execute(
        &self,
        database: &str,
        transaction_id: &str,
        owner: Owner<'_>,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<ExecuteResponse> {
        if !transaction_id.is_empty() {
            let tx = self.transactions().get(transaction_id, database, owner)?;
            return tx.execute(statement, cancel).await;
        }
        let db = self.database_to_write(database, cancel).await?;
        db.execute(statement, cancel).await
    }

    /// Runs `statements` on `database` all or nothing, inside the transaction
    /// `transaction_id` of `owner` when it is not empty.
    pub async fn execute_batch(
        &self,
        database: &str,
        transaction_id: &str,
        owner: Owner<'_>,
        statements: Vec<Statement>,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<ExecuteResponse>> {
        if !transaction_id.is_empty() {
            let tx = self.transactions().get(transaction_id, database, owner)?;
            return tx.execute_batch(statements, cancel).await;
        }
        let db = self.database_to_write(database, cancel).await?;
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        db.execute_batch(statements, cancel).await
    }
}
