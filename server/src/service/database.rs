//! `sqlited.v1.Database`: Open, Execute, Query, ExecuteBatch, and the transaction RPCs.

use std::sync::Arc;
use std::time::Duration;

use sqlited_proto::v1::begin_request::Mode;
use sqlited_proto::v1::database_server::Database as DatabaseRpc;
use sqlited_proto::v1::{
    BeginRequest, BeginResponse, CommitRequest, CommitResponse, ExecuteBatchRequest,
    ExecuteBatchResponse, ExecuteRequest, ExecuteResponse, OpenRequest, OpenResponse, QueryRequest,
    RollbackRequest, RollbackResponse, SessionRequest, Statement,
};
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info_span};

use super::context::Context;
use super::response_stream::ResponseRows;
use super::session::{Outgoing, Sessions};
use super::statement_kind;
use crate::auth::Access;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::statements::StatementsStore;
use crate::worker::transaction::TxMode;

/// Bounds on what one request may ask.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// The most statements in one ExecuteBatch.
    pub max_batch_statements: usize,
    /// The longest SQL text, in bytes.
    pub max_sql_bytes: usize,
    /// The most parameter values in one statement.
    pub max_params: usize,
    /// The server's limit on a request's run time.
    pub statement_timeout: Option<Duration>,
}

/// The `Database` service over an [`Engine`]. Cheap to clone: a session holds a clone.
#[derive(Clone)]
pub struct DatabaseService {
    engine: Arc<Engine>,
    limits: RequestLimits,
    statements: Arc<StatementsStore>,
    /// Serves the Session RPC when set ([`DatabaseService::with_sessions`]).
    sessions: Option<Arc<Sessions>>,
}

impl DatabaseService {
    /// A service answering from `engine`; databases `statements` marks exposed-only refuse
    /// raw SQL.
    pub fn new(
        engine: Arc<Engine>,
        limits: RequestLimits,
        statements: Arc<StatementsStore>,
    ) -> Self {
        Self {
            engine,
            limits,
            statements,
            sessions: None,
        }
    }

    /// This service serving the Session RPC too. Without it (the HTTP gateway's service),
    /// Session answers UNIMPLEMENTED.
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = Some(Arc::new(sessions));
        self
    }

    /// The engine it answers from.
    pub(super) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The server's limit on a request's run time.
    pub(super) fn statement_timeout(&self) -> Option<Duration> {
        self.limits.statement_timeout
    }

    /// Refuses raw SQL on a database that serves only exposed statements. Else, with
    /// `--unsafe-sql`, the request's statements may ATTACH the data directory's other
    /// databases only if its token may read every database and none is exposed-only: an
    /// attached database is read without a role check of its own.
    fn raw_sql_allowed(&self, ctx: &Context, database: &str, rpc: &str) -> Result<()> {
        let catalog = self.statements.current();
        if catalog.exposed_only(database) {
            return Err(Error::PermissionDenied(format!(
                "database {database:?} serves only exposed statements: {rpc} is refused; use \
                 Statements.Call (ListStatements shows what there is)"
            )));
        }
        let reads_all = ctx
            .principal
            .as_ref()
            .is_none_or(|principal| principal.reads_every_database());
        ctx.cancel
            .set_may_attach(reads_all && !catalog.any_exposed_only());
        Ok(())
    }

    fn context<T>(&self, request: &Request<T>) -> Context {
        Context::new(request, self.limits.statement_timeout)
    }

    /// Checks one statement against the request bounds.
    fn check(&self, statement: &Statement, field: &str) -> Result<()> {
        if statement.sql.len() > self.limits.max_sql_bytes {
            return Err(Error::invalid(
                format!("{field}.sql"),
                format!(
                    "the SQL text is {} bytes, more than this server takes (--max-sql-bytes {})",
                    statement.sql.len(),
                    self.limits.max_sql_bytes
                ),
            ));
        }
        let params = statement.params.len() + statement.named_params.len();
        if params > self.limits.max_params {
            return Err(Error::invalid(
                format!("{field}.params"),
                format!(
                    "the statement has {params} parameter values, more than this server takes \
                     (--max-params {})",
                    self.limits.max_params
                ),
            ));
        }
        Ok(())
    }

    /// Commit (`commit`) or Rollback: ends transaction `id`.
    async fn end_transaction<T: Default>(
        &self,
        ctx: Context,
        id: &str,
        commit: bool,
    ) -> Result<Response<T>, Status> {
        let span = info_span!(
            "EndTransaction",
            request_id = %ctx.request_id, transaction = %id, commit);
        let result = async {
            if commit {
                ctx.keep_transaction_role(&self.engine, id).await?;
            }
            self.engine
                .transactions()
                .end(id, commit, &ctx.cancel, ctx.owner())
                .await
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result.map(|()| T::default()), |_| 0)
    }

    fn statement(&self, statement: Option<Statement>) -> Result<Statement> {
        let statement = statement.ok_or_else(|| {
            Error::invalid(
                "statement",
                "the request has no statement; set statement.sql",
            )
        })?;
        self.check(&statement, "statement")?;
        Ok(statement)
    }
}

fn kind_of(statement: &Option<Statement>) -> String {
    statement
        .as_ref()
        .map(|s| statement_kind(&s.sql))
        .unwrap_or_default()
}

#[tonic::async_trait]
impl DatabaseRpc for DatabaseService {
    async fn open(&self, request: Request<OpenRequest>) -> Result<Response<OpenResponse>, Status> {
        let ctx = self.context(&request);
        let OpenRequest { database, create } = request.into_inner();
        let span = info_span!("Open", request_id = %ctx.request_id, database, create);
        let result = async {
            ctx.authorize(&self.engine, &database, Access::Read, "Open")?;
            if self.engine.exists(&database) {
                self.engine.database(&database, &ctx.cancel).await?;
                return Ok(OpenResponse { created: false });
            }
            if !create {
                return Err(Error::DatabaseNotFound(format!(
                    "database {database:?} does not exist, and it was opened without create (a \
                     client's mode=rw or mode=ro), which creates nothing: check the name, or \
                     create it (mode=rwc, the clients' default, or Admin.CreateDatabase)"
                )));
            }
            let role = ctx.cancel.access();
            if role < Access::Admin {
                return Err(Error::PermissionDenied(format!(
                    "database {database:?} does not exist, and creating a database needs the \
                     admin role (this token has the {role} role on it): ask an admin to create \
                     it (Admin.CreateDatabase), or connect with an admin token"
                )));
            }
            // As a first write creates it: not on a server run with --no-create.
            self.engine
                .database_to_write(&database, &ctx.cancel)
                .await?;
            tracing::info!("database created by Open");
            Ok(OpenResponse { created: true })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let ctx = self.context(&request);
        let request = request.into_inner();
        let span = info_span!(
            "Execute",
            request_id = %ctx.request_id, database = %request.database, kind = %kind_of(&request.statement),
            tx = !request.transaction_id.is_empty());
        let result = async {
            ctx.keep_transaction_role(&self.engine, &request.transaction_id)
                .await?;
            ctx.authorize(&self.engine, &request.database, Access::Write, "Execute")?;
            self.raw_sql_allowed(&ctx, &request.database, "Execute")?;
            let statement = self.statement(request.statement)?;
            let tx = &request.transaction_id;
            self.engine
                .execute(&request.database, tx, ctx.owner(), statement, &ctx.cancel)
                .await
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |r| r.rows_affected)
    }

    type QueryStream = ResponseRows;

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let ctx = self.context(&request);
        let request = request.into_inner();
        let span = info_span!(
            "Query",
            request_id = %ctx.request_id, database = %request.database, kind = %kind_of(&request.statement),
            tx = !request.transaction_id.is_empty());
        let result = async {
            ctx.keep_transaction_role(&self.engine, &request.transaction_id)
                .await?;
            ctx.authorize(&self.engine, &request.database, Access::Read, "Query")?;
            self.raw_sql_allowed(&ctx, &request.database, "Query")?;
            let statement = self.statement(request.statement)?;
            let tx = &request.transaction_id;
            if request.read_only {
                if !tx.is_empty() {
                    return Err(Error::invalid(
                        "read_only",
                        "read_only is for a statement outside a transaction; inside one, begin \
                         the transaction read_only instead",
                    ));
                }
                return self
                    .engine
                    .query_read_only(&request.database, statement, &ctx.cancel)
                    .await;
            }
            self.engine
                .query(&request.database, tx, ctx.owner(), statement, &ctx.cancel)
                .await
        }
        .instrument(span.clone())
        .await;
        ctx.stream(span, result, |m| m.rows.len() as u64)
    }

    async fn execute_batch(
        &self,
        request: Request<ExecuteBatchRequest>,
    ) -> Result<Response<ExecuteBatchResponse>, Status> {
        let ctx = self.context(&request);
        let request = request.into_inner();
        let span = info_span!(
            "ExecuteBatch",
            request_id = %ctx.request_id, database = %request.database, statements = request.statements.len(),
            tx = !request.transaction_id.is_empty());
        let limits = self.limits;
        let result = async {
            ctx.keep_transaction_role(&self.engine, &request.transaction_id)
                .await?;
            ctx.authorize(
                &self.engine,
                &request.database,
                Access::Write,
                "ExecuteBatch",
            )?;
            self.raw_sql_allowed(&ctx, &request.database, "ExecuteBatch")?;
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
            for (i, statement) in request.statements.iter().enumerate() {
                self.check(statement, &format!("statements[{i}]"))?;
            }
            let tx = &request.transaction_id;
            let results = self
                .engine
                .execute_batch(
                    &request.database,
                    tx,
                    ctx.owner(),
                    request.statements,
                    &ctx.cancel,
                )
                .await?;
            Ok(ExecuteBatchResponse { results })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |r| {
            r.results.iter().map(|x| x.rows_affected).sum()
        })
    }

    async fn begin(
        &self,
        request: Request<BeginRequest>,
    ) -> Result<Response<BeginResponse>, Status> {
        let ctx = self.context(&request);
        let request = request.into_inner();
        let span = info_span!(
            "Begin",
            request_id = %ctx.request_id, database = %request.database, read_only = request.read_only);
        let result = async {
            let mode = match Mode::try_from(request.mode) {
                Ok(Mode::Deferred) => TxMode::Deferred,
                Ok(Mode::Immediate) => TxMode::Immediate,
                Ok(Mode::Exclusive) => TxMode::Exclusive,
                Err(_) => {
                    return Err(Error::invalid(
                        "mode",
                        format!(
                            "unknown mode {}; use DEFERRED, IMMEDIATE or EXCLUSIVE",
                            request.mode
                        ),
                    ));
                }
            };
            let (needed, what) = if request.read_only {
                (Access::Read, "a read-only transaction")
            } else {
                (Access::Write, "a write transaction")
            };
            ctx.authorize(&self.engine, &request.database, needed, what)?;
            let lease =
                (request.lease_ms > 0).then(|| Duration::from_millis(u64::from(request.lease_ms)));
            let db = if request.read_only {
                self.engine.database(&request.database, &ctx.cancel).await?
            } else {
                self.engine
                    .database_to_write(&request.database, &ctx.cancel)
                    .await?
            };
            let (id, lease) = self
                .engine
                .transactions()
                .begin(
                    db,
                    mode,
                    request.read_only,
                    lease,
                    Arc::clone(&ctx.cancel),
                    ctx.owner(),
                )
                .await?;
            Ok(BeginResponse {
                transaction_id: id,
                lease_ms: u32::try_from(lease.as_millis()).unwrap_or(u32::MAX),
            })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let ctx = self.context(&request);
        self.end_transaction(ctx, &request.get_ref().transaction_id, true)
            .await
    }

    async fn rollback(
        &self,
        request: Request<RollbackRequest>,
    ) -> Result<Response<RollbackResponse>, Status> {
        let ctx = self.context(&request);
        self.end_transaction(ctx, &request.get_ref().transaction_id, false)
            .await
    }

    type SessionStream = Outgoing;

    async fn session(
        &self,
        request: Request<Streaming<SessionRequest>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        match &self.sessions {
            Some(sessions) => super::session::open(self, sessions, request),
            None => Err(Status::unimplemented(
                "sessions are served over gRPC only; send one request per call here",
            )),
        }
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
