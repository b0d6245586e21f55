//! An interactive transaction on a worker: the worker runs BEGIN, then only this
//! transaction's commands until COMMIT, ROLLBACK, or its idle lease runs out. On the writer,
//! other writes wait in the queue meanwhile — never longer than one lease.

use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::any::Any;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::ffi;

use super::cancel::CancelToken;
use super::connection::Sqlite;
use super::group_commit::in_savepoint;
use super::job::{self, Answer, Handled, Job, Place, Task};
use super::reply::Reply;
use super::{Role, executor};
use crate::error::{Error, Result};

/// How BEGIN takes its locks (on the writer; a read-only transaction is always deferred).
/// A prost enumeration, as a worker process is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, prost::Enumeration)]
pub enum TxMode {
    Deferred = 0,
    Immediate = 1,
    Exclusive = 2,
}

/// Where a transaction is in its life. A prost enumeration, as a worker process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, prost::Enumeration)]
#[repr(u8)]
pub enum TxStatus {
    Starting = 0,
    Open = 1,
    Committed = 2,
    RolledBack = 3,
    Expired = 4,
    Aborted = 5,
    /// Its worker died (a worker process was killed or crashed, a worker thread panicked):
    /// SQLite rolled it back.
    Lost = 6,
}

impl TxStatus {
    /// The status numbered `n` (as `TxStatus as u8`).
    pub fn from_u8(n: u8) -> Self {
        match n {
            0 => TxStatus::Starting,
            1 => TxStatus::Open,
            2 => TxStatus::Committed,
            3 => TxStatus::RolledBack,
            4 => TxStatus::Expired,
            5 => TxStatus::Aborted,
            _ => TxStatus::Lost,
        }
    }
}

/// A transaction's status, shared by its worker and the registry.
#[derive(Debug)]
pub struct TxState {
    id: String,
    status: AtomicU8,
    /// Milliseconds since the process's first transaction when it ended (0: not ended).
    ended_ms: AtomicU64,
    lease: Duration,
}

fn clock() -> &'static Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now)
}

impl TxState {
    /// The state of a transaction `id` about to start.
    pub fn new(id: String, lease: Duration) -> Arc<Self> {
        clock();
        Arc::new(Self {
            id,
            status: AtomicU8::new(TxStatus::Starting as u8),
            ended_ms: AtomicU64::new(0),
            lease,
        })
    }

    /// The transaction's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The idle lease.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The current status.
    pub fn status(&self) -> TxStatus {
        TxStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Records how far the transaction got; an end status also records when.
    pub fn set(&self, status: TxStatus) {
        if !matches!(status, TxStatus::Starting | TxStatus::Open) {
            let now = clock().elapsed().as_millis() as u64;
            self.ended_ms.store(now.max(1), Ordering::Release);
        }
        self.status.store(status as u8, Ordering::Release);
    }

    /// How long ago the transaction ended, if it has.
    pub fn ended_for(&self) -> Option<Duration> {
        match self.ended_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(clock().elapsed().saturating_sub(Duration::from_millis(ms))),
        }
    }

    /// The error for a request that reaches this transaction after it ended; `None` while
    /// it is open.
    pub fn ended_error(&self) -> Option<Error> {
        let id = &self.id;
        let (message, aborted) = match self.status() {
            TxStatus::Starting | TxStatus::Open => return None,
            TxStatus::Committed => (format!("transaction {id} was already committed"), false),
            TxStatus::RolledBack => (format!("transaction {id} was already rolled back"), false),
            TxStatus::Expired => (
                format!(
                    "transaction {id} expired: it was idle longer than its lease ({} ms) and was \
                     rolled back; begin a new transaction (and ask for a longer lease_ms if needed)",
                    self.lease.as_millis()
                ),
                true,
            ),
            TxStatus::Aborted => (
                format!(
                    "transaction {id} was rolled back by SQLite after an error, an interrupted \
                     statement or a failed commit; nothing in it was kept; begin a new one"
                ),
                true,
            ),
            TxStatus::Lost => (
                format!(
                    "transaction {id} was lost: the worker running it died (killed or crashed), \
                     and SQLite rolled it back; nothing in it was kept; begin a new one"
                ),
                true,
            ),
        };
        Some(Error::TransactionEnded { message, aborted })
    }
}

/// What a client sends into an open transaction.
pub enum TxCommand {
    /// Run a statement, query or batch inside the transaction.
    Run(Task),
    /// COMMIT and end.
    Commit(Reply<()>),
    /// ROLLBACK and end.
    Rollback(Reply<()>),
}

/// Everything a worker needs to run one transaction.
pub struct TxSession {
    pub mode: TxMode,
    pub commands: Receiver<TxCommand>,
    /// Answered once BEGIN has run (or failed).
    pub started: Reply<()>,
    pub state: Arc<TxState>,
    /// Stops the session before BEGIN if the Begin request gave up waiting.
    pub cancel: Arc<CancelToken>,
    /// Released when the session ends: the open-transaction permits.
    pub permits: Box<dyn Any + Send>,
}

/// Runs one transaction to its end.
pub fn serve(db: &Sqlite, session: TxSession) {
    let TxSession {
        mode,
        commands,
        started,
        state,
        cancel,
        permits,
    } = session;
    // Released before Commit or Rollback is answered, so a client that begins its next
    // transaction at once finds the slot free (a worker process's is its end signal, which
    // then reaches the server before the answer does).
    let mut permits = Some(permits);
    // One budget for the whole transaction: its TEMP tables live from statement to statement.
    let _budget = db.request_budget();
    let begun = db.run_task(&cancel, || begin(db, mode));
    if let Err(err) = begun {
        state.set(TxStatus::Aborted);
        let _ = started.send(Err(err));
        return;
    }
    state.set(TxStatus::Open);
    let _lost = LostOnPanic {
        state: &state,
        commands: &commands,
    };
    db.begin_interactive();
    if started.send(Ok(())).is_err() {
        // The Begin request is gone: nobody knows this transaction's id.
        let _ = db.internal("ROLLBACK");
        state.set(TxStatus::RolledBack);
        db.end_interactive();
        return;
    }
    loop {
        match commands.recv_timeout(state.lease) {
            Ok(TxCommand::Run(task)) => {
                run(db, task);
                if db.conn().is_autocommit() {
                    state.set(TxStatus::Aborted);
                    break;
                }
            }
            Ok(TxCommand::Commit(reply)) => match db.internal("COMMIT") {
                Ok(()) => {
                    state.set(TxStatus::Committed);
                    drop(permits.take());
                    let _ = reply.send(Ok(()));
                    break;
                }
                Err(err) => {
                    let ended = db.conn().is_autocommit();
                    let _ = reply.send(Err(err));
                    if ended {
                        state.set(TxStatus::Aborted);
                        break;
                    }
                }
            },
            Ok(TxCommand::Rollback(reply)) => {
                let result = db.internal("ROLLBACK");
                state.set(TxStatus::RolledBack);
                drop(permits.take());
                let _ = reply.send(result);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(transaction = %state.id, lease_ms = state.lease.as_millis() as u64,
                    "transaction idle past its lease; rolling it back");
                let _ = db.internal("ROLLBACK");
                state.set(TxStatus::Expired);
                break;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The registry dropped it: the server is shutting down.
                let _ = db.internal("ROLLBACK");
                state.set(TxStatus::RolledBack);
                break;
            }
        }
    }
    if !db.conn().is_autocommit() {
        let _ = db.internal("ROLLBACK");
    }
    db.end_interactive();
    // Commands that arrived after the end learn how it ended.
    while let Ok(command) = commands.try_recv() {
        refuse(command, &state);
    }
    drop(permits);
}

/// Marks the transaction lost if its worker thread panics inside it, and answers the
/// commands waiting for it (rule 2 of [`super::supervision`]): its connection goes with the
/// thread, and SQLite rolls it back.
struct LostOnPanic<'a> {
    state: &'a TxState,
    commands: &'a Receiver<TxCommand>,
}

impl Drop for LostOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.state.set(TxStatus::Lost);
            while let Ok(command) = self.commands.try_recv() {
                refuse(command, self.state);
            }
        }
    }
}

fn begin(db: &Sqlite, mode: TxMode) -> Result<()> {
    let sql = match (db.role(), mode) {
        (Role::Reader, _) | (Role::Writer, TxMode::Deferred) => "BEGIN DEFERRED",
        (Role::Writer, TxMode::Immediate) => "BEGIN IMMEDIATE",
        (Role::Writer, TxMode::Exclusive) => "BEGIN EXCLUSIVE",
    };
    db.internal(sql)?;
    if db.role() == Role::Reader {
        // Read now, so the snapshot is taken at BEGIN rather than at the first statement.
        db.conn()
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    }
    Ok(())
}

/// What a read-only transaction's client is told of a statement that writes.
fn read_only_refusal() -> Error {
    Error::Sqlite {
        code: ffi::SQLITE_READONLY,
        message: "attempt to write a readonly database: this transaction is read-only and \
                  the statement writes; begin a transaction without read_only to write"
            .into(),
        field: Some("statement.sql".into()),
    }
}

fn run(db: &Sqlite, task: Task) {
    let Task { job, lease, cancel } = task;
    match job {
        Job::Call { call, reply } => {
            let result = match job::run(db, &call, &cancel, Place::Transaction) {
                Ok(Answer::NeedsWriter) => Err(read_only_refusal()),
                other => other,
            };
            let _ = reply.send(result);
        }
        Job::Query {
            query,
            limits,
            sink,
        } => {
            // A savepoint on the writer: a statement stopped half way (its client read too
            // slowly, say) undoes what it wrote, and only that.
            let last = in_savepoint(db, db.role() == Role::Writer, || {
                db.run_task(&cancel, || {
                    query.stream(db, limits, &mut executor::to_sink(&sink, &cancel))
                })
            });
            let last = last.and_then(|handled| handled.ran_or(read_only_refusal));
            executor::finish_query(&sink, last.map(Handled::Ran), &cancel);
        }
        Job::Transaction(session) => {
            let _ = session.started.send(Err(Error::Internal(
                "a transaction cannot start inside another".into(),
            )));
        }
    }
    drop(lease);
}

/// Answers a command that reached a transaction after it ended.
pub fn refuse(command: TxCommand, state: &TxState) {
    let err = state
        .ended_error()
        .unwrap_or_else(|| Error::Internal("transaction ended".into()));
    match command {
        TxCommand::Run(task) => super::reply_error(task, err),
        TxCommand::Commit(reply) | TxCommand::Rollback(reply) => {
            let _ = reply.send(Err(err));
        }
    }
}
