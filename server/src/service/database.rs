//! `sqlited.v1.Database`: Execute, Query and ExecuteBatch.

use std::sync::Arc;
use std::time::Instant;

use sqlited_proto::v1::database_server::Database as DatabaseRpc;
use sqlited_proto::v1::{
    ExecuteBatchRequest, ExecuteBatchResponse, ExecuteRequest, ExecuteResponse, QueryRequest,
    Statement,
};
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use super::response_rows::ResponseRows;
use super::statement_kind;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Bounds on what one request may ask.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// The most statements in one ExecuteBatch.
    pub max_batch_statements: usize,
}

/// The `Database` service over an [`Engine`].
pub struct DatabaseService {
    engine: Arc<Engine>,
    limits: RequestLimits,
}

impl DatabaseService {
    /// A service answering from `engine`.
    pub fn new(engine: Arc<Engine>, limits: RequestLimits) -> Self {
        Self { engine, limits }
    }
}

fn require_statement(statement: Option<Statement>) -> Result<Statement> {
    statement.ok_or_else(|| {
        Error::invalid(
            "statement",
            "the request has no statement; set statement.sql",
        )
    })
}

/// Logs the end of a unary call and turns its error into a status.
fn finish<T>(
    result: Result<T>,
    started: Instant,
    rows_affected: impl Fn(&T) -> u64,
) -> Result<Response<T>, Status> {
    let elapsed_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(response) => {
            tracing::debug!(rows = rows_affected(&response), elapsed_us, "ok");
            Ok(Response::new(response))
        }
        Err(err) => {
            tracing::info!(code = ?err.code(), error = %err, elapsed_us, "failed");
            Err(err.into())
        }
    }
}

#[tonic::async_trait]
impl DatabaseRpc for DatabaseService {
    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let kind = request
            .statement
            .as_ref()
            .map(|s| statement_kind(&s.sql))
            .unwrap_or_default();
        let span = info_span!("Execute", database = %request.database, kind = %kind);
        let result = async {
            let statement = require_statement(request.statement)?;
            let db = self.engine.database(&request.database).await?;
            db.execute(statement).await
        }
        .instrument(span.clone())
        .await;
        let _entered = span.enter();
        finish(result, started, |r| r.rows_affected)
    }

    type QueryStream = ResponseRows;

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let kind = request
            .statement
            .as_ref()
            .map(|s| statement_kind(&s.sql))
            .unwrap_or_default();
        let span = info_span!("Query", database = %request.database, kind = %kind);
        let result = async {
            let statement = require_statement(request.statement)?;
            let db = self.engine.database(&request.database).await?;
            db.query(statement).await
        }
        .instrument(span.clone())
        .await;
        match result {
            Ok(rows) => Ok(Response::new(ResponseRows::new(rows, span, started))),
            Err(err) => {
                tracing::info!(parent: &span, code = ?err.code(), error = %err, "failed");
                Err(err.into())
            }
        }
    }

    async fn execute_batch(
        &self,
        request: Request<ExecuteBatchRequest>,
    ) -> Result<Response<ExecuteBatchResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let span = info_span!("ExecuteBatch", database = %request.database, statements = request.statements.len());
        let limits = self.limits;
        let result = async {
            let db = self.engine.database(&request.database).await?;
            if request.statements.len() > limits.max_batch_statements {
                return Err(Error::invalid(
                    "statements",
                    format!(
                        "the batch has {} statements, more than this server takes in one request \
                         (--max-batch-statements {}); split it into several batches",
                        request.statements.len(),
                        limits.max_batch_statements
                    ),
                ));
            }
            if request.statements.is_empty() {
                return Ok(ExecuteBatchResponse::default());
            }
            let results = db.execute_batch(request.statements).await?;
            Ok(ExecuteBatchResponse { results })
        }
        .instrument(span.clone())
        .await;
        let _entered = span.enter();
        finish(result, started, |r| {
            r.results.iter().map(|x| x.rows_affected).sum()
        })
    }
}

#[cfg(test)]
mod test {
    use super::statement_kind;

    #[test]
    fn kinds() {
        assert_eq!(statement_kind("  select 1"), "SELECT");
        assert_eq!(statement_kind("-- hi\n /* x */ insert into t"), "INSERT");
        assert_eq!(statement_kind(""), "");
    }
}
