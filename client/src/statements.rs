//! Exposed statements: [`Database::call`] runs a statement the server's operator declared,
//! by name, with named arguments ([`args!`](crate::args)) that the server checks before any
//! SQL runs; [`Database::list_statements`] shows what a server exposes.
//!
//! A call whose arguments break their declarations fails with a `ProgrammingError` whose
//! [`Error::violations`](crate::Error::violations) lists every argument at fault.

use std::collections::HashMap;

use sqlited_proto::v1::{CallRequest, ExposedStatement, ListStatementsRequest};

use crate::client::{Database, Rows};
use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;
use crate::row::Row;

impl Database {
    /// Runs the exposed statement `name` with `args` (`args!{"name" => "ann"}`), inside this
    /// handle's transaction if it has one; rows stream back as from `query`.
    ///
    /// # Errors
    /// `ProgrammingError` when the statement is unknown (NOT_FOUND) or arguments are wrong
    /// (every one listed by `violations()`), and the errors of `query`.
    pub async fn call(&self, name: &str, args: impl Into<Params>) -> Result<Rows> {
        let args = match args.into() {
            Params::None => HashMap::new(),
            Params::Named(pairs) => pairs
                .into_iter()
                .map(|(name, value)| {
                    let name = name
                        .strip_prefix([':', '@', '$'])
                        .unwrap_or(&name)
                        .to_string();
                    (name, value.into())
                })
                .collect(),
            Params::Positional(_) => {
                return Err(Error::new(
                    ErrorKind::Programming,
                    "exposed statements take named arguments: args!{\"name\" => value, …}",
                ));
            }
        };
        let request = CallRequest {
            database: self.name().to_string(),
            name: name.to_string(),
            args,
            transaction_id: self.transaction_id().unwrap_or_default().to_string(),
        };
        let stream = self
            .statements_rpc()
            .call(self.request(request))
            .await?
            .into_inner();
        Rows::start(stream).await
    }

    /// [`call`](Database::call), collecting every row.
    pub async fn call_all(&self, name: &str, args: impl Into<Params>) -> Result<Vec<Row>> {
        let mut rows = self.call(name, args).await?;
        let mut all = Vec::new();
        while let Some(row) = rows.next().await? {
            all.push(row);
        }
        Ok(all)
    }

    /// The statements this database exposes, with their parameters and checks.
    pub async fn list_statements(&self) -> Result<Vec<ExposedStatement>> {
        let request = ListStatementsRequest {
            database: self.name().to_string(),
        };
        Ok(self
            .statements_rpc()
            .list_statements(self.request(request))
            .await?
            .into_inner()
            .statements)
    }
}
