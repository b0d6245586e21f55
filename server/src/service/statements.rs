//! `sqlited.v1.Statements`: exposed statements — Call with checked arguments, ListStatements,
//! ReloadStatements.
//!
//! A caller needs the read role on the database for a statement that reads and the write role
//! for one that writes. The SQL itself is the operator's, so it runs with admin access inside
//! the sandbox once the caller may call it.

use std::sync::Arc;
use std::time::Duration;

use sqlited_proto::v1::statements_server::Statements;
use sqlited_proto::v1::{
    CallRequest, ExposedStatement, ListStatementsRequest, ListStatementsResponse, Parameter,
    ReloadStatementsRequest, ReloadStatementsResponse, Statement,
};
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use super::context::Context;
use super::response_stream::ResponseRows;
use crate::auth::Access;
use crate::engine::Engine;
use crate::error::Error;
use crate::statements::{Exposed, StatementsStore, check};

/// The `Statements` service.
pub struct StatementsService {
    engine: Arc<Engine>,
    store: Arc<StatementsStore>,
    statement_timeout: Option<Duration>,
}

impl StatementsService {
    /// A service over `engine` serving the statements of `store`.
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<StatementsStore>,
        statement_timeout: Option<Duration>,
    ) -> Self {
        Self {
            engine,
            store,
            statement_timeout,
        }
    }
}

fn describe(
    database: &str,
    exposed_only: bool,
    unavailable: &str,
    statement: &Exposed,
) -> ExposedStatement {
    ExposedStatement {
        unavailable: unavailable.to_string(),
        database: database.to_string(),
        name: statement.name.clone(),
        sql: statement.sql.clone(),
        writes: statement.writes,
        description: statement.description.clone(),
        exposed_only,
        params: statement
            .params
            .iter()
            .map(|p| Parameter {
                name: p.name.clone(),
                r#type: p.kind.name().to_string(),
                nullable: p.nullable,
                default: p.default.clone(),
                coerce: p.coerce,
                min: p.min,
                max: p.max,
                min_length: p.min_length,
                max_length: p.max_length,
                regex: p.regex.as_ref().map(|(s, _)| s.clone()).unwrap_or_default(),
                one_of: p.one_of.clone(),
                description: p.description.clone(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl Statements for StatementsService {
    type CallStream = ResponseRows;

    async fn call(
        &self,
        request: Request<CallRequest>,
    ) -> Result<Response<Self::CallStream>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let request = request.into_inner();
        let span = info_span!("Call", request_id = %ctx.request_id, database = %request.database,
            statement = %request.name, tx = !request.transaction_id.is_empty());
        let result = async {
            ctx.keep_transaction_role(&self.engine, &request.transaction_id)
                .await?;
            ctx.authorize(&self.engine, &request.database, Access::Read, "Call")?;
            let statement = self
                .store
                .statement(&request.database, &request.name)
                .await?;
            if statement.writes {
                ctx.authorize(
                    &self.engine,
                    &request.database,
                    Access::Write,
                    &format!("{} (a statement that writes)", statement.name),
                )?;
            }
            let named_params =
                check::arguments(&statement, &request.args).map_err(|violations| {
                    Error::Violations {
                        message: format!(
                            "{} argument{} of {} {} wrong: {}",
                            violations.len(),
                            if violations.len() == 1 { "" } else { "s" },
                            statement.name,
                            if violations.len() == 1 { "is" } else { "are" },
                            violations
                                .iter()
                                .map(|(field, what)| format!("{field}: {what}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        violations,
                    }
                })?;
            // The operator's SQL: trusted, still inside the sandbox.
            ctx.cancel.set_access(Access::Admin);
            let sql = Statement {
                sql: statement.sql.clone(),
                named_params,
                ..Default::default()
            };
            let tx = &request.transaction_id;
            self.engine
                .query(&request.database, tx, ctx.owner(), sql, &ctx.cancel)
                .await
        }
        .instrument(span.clone())
        .await;
        ctx.stream(span, result, |m| m.rows.len() as u64)
    }

    async fn list_statements(
        &self,
        request: Request<ListStatementsRequest>,
    ) -> Result<Response<ListStatementsResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let only = &request.get_ref().database;
        let span = info_span!("ListStatements", request_id = %ctx.request_id, database = %only);
        let visible = |database: &str| {
            (only.is_empty() || database == only)
                && ctx
                    .principal
                    .as_ref()
                    .is_none_or(|p| p.access_to(database).is_some())
        };
        // Statements not callable yet are checked again first: their database or its tables
        // may exist now.
        let catalog = self.store.checked(visible).await;
        let statements = catalog
            .databases
            .iter()
            .filter(|(database, _)| visible(database))
            .flat_map(|(database, statements)| {
                let exposed_only = catalog.exposed_only(database);
                let unavailable = catalog.unavailable(database).unwrap_or_default();
                statements
                    .statements
                    .values()
                    .map(move |s| describe(database, exposed_only, &unavailable, s))
            })
            .collect();
        ctx.unary(&span, Ok(ListStatementsResponse { statements }), |r| {
            r.statements.len() as u64
        })
    }

    async fn reload_statements(
        &self,
        request: Request<ReloadStatementsRequest>,
    ) -> Result<Response<ReloadStatementsResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let span = info_span!("ReloadStatements", request_id = %ctx.request_id);
        let result = async {
            if let Some(principal) = &ctx.principal
                && principal.access_to("*") != Some(Access::Admin)
            {
                return Err(Error::PermissionDenied(format!(
                    "token {:?} may not reload the statements: that needs the admin role on \
                     every database (a \"*\" = \"admin\" grant)",
                    principal.name
                )));
            }
            // Every statement is prepared again, on a reader of its database.
            let statements = self.store.reload().await?;
            tracing::info!(statements, "statements reloaded");
            Ok(ReloadStatementsResponse {
                statements: u32::try_from(statements).unwrap_or(u32::MAX),
            })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |r| u64::from(r.statements))
    }
}
