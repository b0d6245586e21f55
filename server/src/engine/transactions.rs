//! The registry of interactive transactions: ids, leases, bounds, and routing a request to
//! the worker its transaction is pinned to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Sender, TrySendError};
use std::time::Duration;

use sqlited_proto::v1::{ExecuteResponse, Statement};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::database::Database;
use super::rows::QueryRows;
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;
use crate::worker::job::{Answered, Query};
use crate::worker::transaction::{TxCommand, TxMode, TxSession, TxState};
use crate::worker::{Call, Job, Outcome, StreamLimits, Task};

/// How long an ended transaction is remembered, so a late request learns how it ended.
const REMEMBER_ENDED: Duration = Duration::from_secs(600);

/// Commands that may wait for a transaction's worker.
const COMMAND_QUEUE: usize = 16;

/// Bounds and defaults of interactive transactions.
#[derive(Debug, Clone)]
pub struct TransactionOptions {
    /// The idle lease of a transaction that does not ask for one.
    pub default_lease: Duration,
    /// The longest lease a client may ask for.
    pub max_lease: Duration,
    /// Open transactions on the whole server.
    pub max_open: usize,
    /// Open transactions per database.
    pub max_open_per_database: usize,
}

/// Who asks for a transaction: the token's name (auth on) and the session the request came
/// on, if any. A transaction belongs to the token that began it and, when begun on a
/// session, to no other session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The token's name; `None` when auth is off.
    pub token: Option<&'a str>,
    /// The session (`service::session`) the request came on; `None` for a unary call.
    pub session: Option<u64>,
}

/// One transaction as the registry knows it.
pub struct Tx {
    database: Arc<Database>,
    /// The token name that began it (auth on): only it may use or end the transaction.
    owner: Option<String>,
    /// The session it was begun on: no other session may use it, and the session's end
    /// rolls it back ([`Transactions::end_session`]).
    session: Option<u64>,
    /// The access it was begun with: write, or read for a read-only transaction. Its token
    /// must still hold it at every later request, the commit included.
    access: Access,
    commands: Sender<TxCommand>,
    state: Arc<TxState>,
}

/// Every open (and recently ended) transaction of the server.
pub struct Transactions {
    options: TransactionOptions,
    open: Arc<Semaphore>,
    /// std mutexes: held for a map operation, never across an await.
    per_database: Mutex<HashMap<String, Arc<Semaphore>>>,
    entries: Mutex<HashMap<String, Arc<Tx>>>,
    /// Transactions rolled back because their database was dropped, by id: their owner,
    /// their database and when; remembered as long as ended ones, so a late request is told
    /// ABORTED and why, not that the id is unknown.
    dropped: Mutex<HashMap<String, DroppedTx>>,
}

/// A transaction its database's drop rolled back: the token that began it, the database,
/// and when.
struct DroppedTx {
    owner: Option<String>,
    database: String,
    at: std::time::Instant,
}

impl Transactions {
    /// An empty registry.
    pub fn new(options: TransactionOptions) -> Self {
        Self {
            open: Arc::new(Semaphore::new(options.max_open)),
            options,
            per_database: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
            dropped: Mutex::new(HashMap::new()),
        }
    }

    /// Begins a transaction on `database`; returns its id and lease once BEGIN has run.
    pub async fn begin(
        &self,
        database: Arc<Database>,
        mode: TxMode,
        read_only: bool,
        lease: Option<Duration>,
        cancel: Arc<CancelToken>,
        owner: Owner<'_>,
    ) -> Result<(String, Duration)> {
        let lease = match lease {
            None => self.options.default_lease,
            Some(lease) if lease > self.options.max_lease => {
                return Err(Error::invalid(
                    "lease_ms",
                    format!(
                        "a lease of {} ms is longer than this server allows \
                         (--max-transaction-lease-ms {})",
                        lease.as_millis(),
                        self.options.max_lease.as_millis()
                    ),
                ));
            }
            Some(lease) => lease,
        };
        let permits = self.permits(database.name())?;
        self.forget_old();

        let id = new_id()?;
        let state = TxState::new(id.clone(), lease);
        let (commands, receiver) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let (started, started_rx) = oneshot::channel();
        let session = TxSession {
            mode,
            commands: receiver,
            started: started.into(),
            state: Arc::clone(&state),
            cancel: Arc::clone(&cancel),
            permits: Box::new((permits, OpenGauge::new())),
        };
        database.start_transaction(session, read_only).await?;
        match cancel.wait(async { started_rx.await.ok() }).await {
            Some(Ok(())) => {}
            Some(Err(err)) => return Err(err),
            None => {
                return Err(Error::Unavailable(
                    "the worker stopped while beginning the transaction; retry".into(),
                ));
            }
        }
        let tx = Arc::new(Tx {
            database,
            owner: owner.token.map(str::to_string),
            session: owner.session,
            access: if read_only {
                Access::Read
            } else {
                Access::Write
            },
            commands,
            state,
        });
        {
            let mut entries = self.entries.lock().expect("transactions poisoned");
            // A drop that began meanwhile rolled back the transactions it found, before
            // this one was here: it is refused instead (dropping it rolls it back), so no
            // transaction outlives its database.
            tx.database.refusal()?;
            entries.insert(id.clone(), tx);
        }
        tracing::debug!(transaction = %id, read_only, lease_ms = lease.as_millis() as u64, "transaction begun");
        Ok((id, lease))
    }

    fn permits(&self, database: &str) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let busy = |scope: String, flag: &str, max: usize| Error::ResourceExhausted {
            message: format!(
                "{max} transactions are open {scope}, the most allowed ({flag}); commit or roll \
                 back open transactions, or retry shortly"
            ),
            retryable: true,
        };
        let per_database = Arc::clone(
            self.per_database
                .lock()
                .expect("transactions poisoned")
                .entry(database.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.options.max_open_per_database))),
        );
        let on_database = per_database.try_acquire_owned().map_err(|_| {
            busy(
                format!("on database {database:?}"),
                "--max-transactions-per-database",
                self.options.max_open_per_database,
            )
        })?;
        let on_server = Arc::clone(&self.open).try_acquire_owned().map_err(|_| {
            busy(
                "on this server".into(),
                "--max-transactions",
                self.options.max_open,
            )
        })?;
        Ok((on_server, on_database))
    }

    /// Drops what is known of transactions that ended long ago.
    fn forget_old(&self) {
        self.entries
            .lock()
            .expect("transactions poisoned")
            .retain(|_, tx| tx.state.ended_for().is_none_or(|ago| ago < REMEMBER_ENDED));
        self.dropped
            .lock()
            .expect("transactions poisoned")
            .retain(|_, dropped| dropped.at.elapsed() < REMEMBER_ENDED);
    }

    /// The open transaction `id`, which must belong to `database` and to `owner`.
    pub fn get(&self, id: &str, database: &str, owner: Owner<'_>) -> Result<Arc<Tx>> {
        let tx = self.get_any(id, owner)?;
        if tx.database.name() != database {
            return Err(Error::invalid(
                "transaction_id",
                format!(
                    "transaction {id} belongs to database {:?}, not {database:?}",
                    tx.database.name()
                ),
            ));
        }
        Ok(tx)
    }

    /// The database of transaction `id` of `owner` and the access it was begun with; `None`
    /// when `owner` has no transaction `id`.
    pub fn begun_with(&self, id: &str, owner: Owner<'_>) -> Option<(String, Access)> {
        let tx = self.get_any(id, owner).ok()?;
        Some((tx.database.name().to_string(), tx.access))
    }

    /// The transaction `id` of `owner`; another token's (or another session's) transaction is
    /// as good as unknown.
    fn get_any(&self, id: &str, owner: Owner<'_>) -> Result<Arc<Tx>> {
        let found = self
            .entries
            .lock()
            .expect("transactions poisoned")
            .get(id)
            .filter(|tx| tx.owner.as_deref() == owner.token && tx.usable_from(owner.session))
            .cloned();
        found.ok_or_else(
            || match self.dropped.lock().expect("transactions poisoned").get(id) {
                Some(dropped) if dropped.owner.as_deref() == owner.token => {
                    Error::TransactionEnded {
                        message: format!(
                            "transaction {id} was rolled back because its database {:?} was \
                             dropped; nothing in it was kept",
                            dropped.database
                        ),
                        aborted: true,
                    }
                }
                _ => Error::NoSuchTransaction { id: id.to_string() },
            },
        )
    }

    /// Commits (`commit`) or rolls back transaction `id`.
    pub async fn end(
        &self,
        id: &str,
        commit: bool,
        cancel: &Arc<CancelToken>,
        owner: Owner<'_>,
    ) -> Result<()> {
        let tx = self.get_any(id, owner)?;
        let (reply, answer) = oneshot::channel();
        tx.send(if commit {
            TxCommand::Commit(reply.into())
        } else {
            TxCommand::Rollback(reply.into())
        })?;
        tx.receive(answer, cancel).await?;
        if commit && tx.access != Access::Read {
            // Under replication: in sync mode, answered once the replica holds the commit.
            tx.database.committed(cancel).await?;
        }
        Ok(())
    }

    /// Rolls back at once every open transaction begun on `session`, which ended: the
    /// registry forgets them, so their workers see their command queues close and roll back
    /// (after the statement running, if one is, which its cancelled request stops). No lease
    /// is waited out.
    pub fn end_session(&self, session: u64) {
        let ended: Vec<_> = {
            let mut entries = self.entries.lock().expect("transactions poisoned");
            let ids: Vec<String> = entries
                .iter()
                .filter(|(_, tx)| tx.session == Some(session))
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| entries.remove(&id))
                .collect()
        };
        for tx in ended.iter().filter(|tx| tx.state.ended_error().is_none()) {
            tracing::info!(transaction = %tx.state.id(), session,
                "the session ended with its transaction open: rolled back");
        }
    }

    /// Rolls back every open transaction of `database` (it is being dropped): their
    /// workers see their command queues close.
    pub fn close_database(&self, database: &str) {
        let ended: Vec<_> = {
            let mut entries = self.entries.lock().expect("transactions poisoned");
            let ids: Vec<String> = entries
                .iter()
                .filter(|(_, tx)| tx.database.name() == database)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| entries.remove(&id))
                .collect()
        };
        let now = std::time::Instant::now();
        let mut dropped = self.dropped.lock().expect("transactions poisoned");
        let mut open = 0;
        for tx in ended.iter().filter(|tx| tx.state.ended_error().is_none()) {
            open += 1;
            let entry = DroppedTx {
                owner: tx.owner.clone(),
                database: database.to_string(),
                at: now,
            };
            dropped.insert(tx.state.id().to_string(), entry);
        }
        if open > 0 {
            tracing::info!(database, open, "rolling back open transactions");
        }
    }

    /// Forgets every transaction: their workers roll them back and move on. For shutdown.
    pub fn close_all(&self) {
        let entries: Vec<_> = self
            .entries
            .lock()
            .expect("transactions poisoned")
            .drain()
            .collect();
        let open = entries
            .iter()
            .filter(|(_, tx)| tx.state.ended_error().is_none())
            .count();
        if open > 0 {
            tracing::info!(open, "rolling back open transactions");
        }
    }
}

impl Tx {
    /// Whether a request on `session` (`None`: a unary call) may use this transaction. One
    /// begun on a session is another session's as good as unknown; unary calls of its token
    /// may use it, for the services a session does not carry (Statements.Call, KeyValue).
    fn usable_from(&self, session: Option<u64>) -> bool {
        match (self.session, session) {
            (Some(bound), Some(asking)) => bound == asking,
            _ => true,
        }
    }

    fn send(&self, command: TxCommand) -> Result<()> {
        if let Some(err) = self.state.ended_error() {
            return Err(err);
        }
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::ResourceExhausted {
                message: format!(
                    "{COMMAND_QUEUE} requests are already waiting in this transaction; wait for \
                     their answers first"
                ),
                retryable: true,
            }),
            Err(TrySendError::Disconnected(_)) => Err(self.ended()),
        }
    }

    fn ended(&self) -> Error {
        self.state
            .ended_error()
            .unwrap_or_else(|| Error::TransactionEnded {
                message: format!(
                    "the worker running transaction {} stopped; the transaction is lost and \
                 nothing in it was kept; begin a new one",
                    self.state.id()
                ),
                aborted: true,
            })
    }

    async fn receive<T>(
        &self,
        answer: oneshot::Receiver<Result<T>>,
        cancel: &CancelToken,
    ) -> Result<T> {
        cancel
            .wait(async { answer.await.ok() })
            .await
            .unwrap_or_else(|| Err(self.ended()))
    }

    fn run(&self, job: Job, cancel: &Arc<CancelToken>) -> Result<()> {
        self.send(TxCommand::Run(Task::new(job, Arc::clone(cancel))))
    }

    /// Runs `call` inside the transaction and waits for its answer.
    async fn call<T: Answered>(&self, call: Call, cancel: &Arc<CancelToken>) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.run(
            Job::Call {
                call,
                reply: reply.into(),
            },
            cancel,
        )?;
        self.receive(answer, cancel).await?.expect()
    }

    /// Runs one statement inside the transaction.
    pub async fn execute(
        &self,
        statement: Statement,
        cancel: &Arc<CancelToken>,
    ) -> Result<ExecuteResponse> {
        let outcome: Outcome = self.call(Call::Execute(statement), cancel).await?;
        Ok(outcome.response)
    }

    /// Runs statements inside the transaction, all or nothing.
    pub async fn execute_batch(
        &self,
        statements: Vec<Statement>,
        cancel: &Arc<CancelToken>,
    ) -> Result<Vec<ExecuteResponse>> {
        self.call(Call::Batch(statements), cancel).await
    }

    /// Runs a query inside the transaction.
    pub async fn query(
        &self,
        statement: Statement,
        limits: StreamLimits,
        cancel: &Arc<CancelToken>,
    ) -> Result<QueryRows> {
        let (sink, mut rest) = mpsc::channel(2);
        self.run(
            Job::Query {
                query: Query::Sql(statement),
                limits,
                sink: sink.into(),
            },
            cancel,
        )?;
        match cancel.wait(rest.recv()).await {
            Some(first) => Ok(QueryRows::new(first, rest, cancel)),
            None => Err(self.ended()),
        }
    }
}

/// Counts a transaction in the open-transactions gauge while it lives.
struct OpenGauge;

impl OpenGauge {
    fn new() -> Self {
        ::metrics::gauge!(crate::metrics::names::OPEN_TRANSACTIONS).increment(1);
        Self
    }
}

impl Drop for OpenGauge {
    fn drop(&mut self) {
        ::metrics::gauge!(crate::metrics::names::OPEN_TRANSACTIONS).decrement(1);
    }
}

/// A fresh transaction id: 128 random bits from the OS, in hex. An id is the only key to a
/// transaction (any token with the role may use one it knows), so it must not be guessable.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| Error::Internal(format!("no randomness for a transaction id: {err}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
