//! Per-request context: the deadline (the call's `grpc-timeout`, bounded by the server's
//! statement timeout), the principal of its token when auth is on, and the cancel token that
//! carries both to the worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;

use crate::auth::{Access, Principal};
use crate::engine::Engine;
use crate::engine::transactions::Owner;
use crate::error::{Error, Result};
use crate::name;
use crate::worker::cancel::{CancelOnDrop, CancelToken};

/// The session a request came on (`Database.Session` puts it in each frame's request's
/// extensions): its transactions are bound to it.
#[derive(Debug, Clone, Copy)]
pub struct SessionId(pub u64);

/// What a handler gives the engine to stop its work.
pub struct Context {
    /// Stops the request's statement at its deadline, or when the client goes away.
    pub cancel: Arc<CancelToken>,
    /// Cancels the token if the handler is dropped before it finishes.
    pub guard: CancelOnDrop,
    /// The request's id: the client's `x-request-id` if it sent a usable one, else a new one.
    /// It is in the request's log lines, its error details and its response metadata.
    pub request_id: String,
    /// The token the request authenticated with; `None` when auth is off.
    pub principal: Option<Arc<Principal>>,
    /// When the request arrived, for its end log.
    pub started: Instant,
    /// The session the request came on (`None` for a unary call): its transactions are
    /// bound to it.
    pub session: Option<u64>,
}

impl Context {
    /// The context of `request`, under the server's `statement_timeout`.
    pub fn new<T>(request: &tonic::Request<T>, statement_timeout: Option<Duration>) -> Self {
        let started = Instant::now();
        let metadata = request.metadata();
        let call = grpc_timeout(metadata);
        let timeout = match (call.map(stop_before), statement_timeout) {
            (Some(call), Some(server)) => Some(call.min(server)),
            (call, server) => call.or(server),
        };
        let answer_within = call.map(|c| c.saturating_sub(Duration::from_millis(1)));
        let cancel = CancelToken::new(timeout, answer_within);
        let guard = CancelOnDrop::new(&cancel);
        let request_id = super::request_id::request_id(
            metadata
                .get(super::request_id::HEADER)
                .and_then(|v| v.to_str().ok()),
        );
        cancel.set_request_id(&request_id);
        Self {
            cancel,
            guard,
            request_id,
            principal: request.extensions().get::<Arc<Principal>>().cloned(),
            started,
            session: request.extensions().get::<SessionId>().map(|s| s.0),
        }
    }

    /// Checks that the request may do `what`, which needs `needed` on `database`, and limits
    /// its statements to the access its token holds there. Without auth: admin everywhere.
    /// A database that does not exist yet is created only for admin, and only by a request
    /// that writes.
    pub fn authorize(
        &self,
        engine: &Engine,
        database: &str,
        needed: Access,
        what: &str,
    ) -> Result<()> {
        name::validate(database)?;
        let access = match &self.principal {
            None => Access::Admin,
            Some(principal) => principal.require(database, needed, what)?,
        };
        // A request that cannot write never creates the database; the engine answers
        // NOT_FOUND for it.
        if needed >= Access::Write && access < Access::Admin && !engine.exists(database) {
            return Err(Error::PermissionDenied(format!(
                "database {database:?} does not exist, and creating a database needs the admin \
                 role (the token's role is {access})"
            )));
        }
        self.cancel.set_access(access);
        Ok(())
    }

    /// For a request inside transaction `transaction_id` (none when empty): checks that the
    /// token still holds the role the transaction was begun with, which a reload of the
    /// credentials file (SIGHUP) may have taken away since. If it does not, the transaction
    /// is rolled back — nothing begun under the old role is committed — and the request is
    /// refused. Call it before [`Context::authorize`], which would refuse without rolling back.
    pub async fn keep_transaction_role(&self, engine: &Engine, transaction_id: &str) -> Result<()> {
        let Some(principal) = &self.principal else {
            return Ok(());
        };
        if transaction_id.is_empty() {
            return Ok(());
        }
        let transactions = engine.transactions();
        // An unknown id is for the request itself to report.
        let Some((database, needed)) = transactions.begun_with(transaction_id, self.owner()) else {
            return Ok(());
        };
        let what = format!("continuing transaction {transaction_id}");
        let Err(refused) = principal.require(&database, needed, &what) else {
            return Ok(());
        };
        // It may have ended meanwhile; either way it is over.
        let _ = transactions
            .end(transaction_id, false, &self.cancel, self.owner())
            .await;
        tracing::info!(token = %principal.name, transaction = transaction_id, database,
            "the token lost its role: transaction rolled back");
        Err(Error::PermissionDenied(format!(
            "{refused}; the transaction was rolled back and nothing in it was kept"
        )))
    }

    /// Who owns the transactions the request begins: its token, and its session if any.
    pub fn owner(&self) -> Owner<'_> {
        Owner {
            token: self.principal.as_ref().map(|p| p.name.as_str()),
            session: self.session,
        }
    }
}

/// Adds the request id to a response's metadata.
pub fn tag<T>(mut response: tonic::Response<T>, request_id: &str) -> tonic::Response<T> {
    if let Ok(value) = request_id.parse() {
        response.metadata_mut().insert("x-request-id", value);
    }
    response
}

/// tonic answers CANCELLED by itself when a call's `grpc-timeout` runs out; stopping the
/// statement a little earlier lets the server answer DEADLINE_EXCEEDED with what really
/// happened.
fn stop_before(timeout: Duration) -> Duration {
    let margin = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    timeout.saturating_sub(margin)
}

/// The `grpc-timeout` of a call: digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    crate::deadline::parse_grpc_timeout(value)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::deadline::parse_grpc_timeout;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }
}
