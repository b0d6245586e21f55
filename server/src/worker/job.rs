//! What a worker is asked to do: the one definition of a job, whichever worker runs it.
//!
//! A job is a [`Call`] answered once with an [`Answer`], a query whose rows stream, or an
//! interactive transaction. Every call is dispatched in one place ([`run`]); where it runs
//! ([`Place`]) decides only how it is wrapped (a savepoint in a group commit, the savepoint
//! gate in a transaction). A worker process maps calls and answers to its wire once
//! (`process::calls`), so a new kind of call is one variant here, one arm in [`run`] and one
//! in that mapping.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use sqlited_proto::v1::{ExecuteResponse, Statement};

use super::cancel::CancelToken;
use super::connection::Sqlite;
use super::connections::QueuedWrite;
use super::group_commit::in_savepoint;
use super::integrity::Verdict;
use super::kv::{KvRead, KvWrite, KvWritten};
use super::reply::{Reply, RowSink};
use super::transaction::TxSession;
use super::{Role, StreamLimits, executor};
use crate::error::{Error, Result};
use crate::sql::value::wire_size;

/// The result of one executed statement.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// What the client is told.
    pub response: ExecuteResponse,
    /// Whether the statement was read-only; the database remembers it to route the same SQL
    /// to a reader next time.
    pub read_only: bool,
}

/// What SQLite makes of one SQL text, prepared but not run ([`Call::Prepare`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Why it does not prepare (`None`: it does).
    pub error: Option<String>,
    /// Each placeholder's name as written (`:name`, `?2`), or `None` for a bare `?`.
    pub placeholders: Vec<Option<String>>,
    /// Whether it writes.
    pub writes: bool,
}

/// A request answered once.
#[derive(Debug)]
pub enum Call {
    /// Run one statement; rows it returns are discarded.
    Execute(Statement),
    /// Run statements in one transaction, all or nothing.
    Batch(Vec<Statement>),
    /// A write to a persistent map, atomic and durable like a statement.
    Kv(KvWrite),
    /// Run a maintenance statement of the server's own ([`super::maintenance`]) outside any
    /// transaction; the answer is the integer columns of its first row, if any.
    Maintenance(&'static str),
    /// Prepare SQL texts without running them (the statements file's checks), past the
    /// authorizer, as the server's own.
    Prepare(Vec<String>),
    /// Write a consistent snapshot of the database (`VACUUM INTO`) to a new, empty file;
    /// the answer is its size in bytes.
    Snapshot(PathBuf),
    /// Check that the connection's file is a sound SQLite database (a restored copy, on a
    /// reader of its own: [`super::integrity`]).
    CheckIntegrity,
}

/// What a connection makes of work it is handed: it ran it, or — a reader handed a statement
/// that writes — it ran nothing and leaves it to the writer. Not an error: the database
/// routes on it ([`crate::engine::Database`]). The writer always runs what it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled<T> {
    Ran(T),
    NeedsWriter,
}

impl<T> Handled<T> {
    /// The value, or `refusal` if the work was left to the writer.
    pub fn ran_or(self, refusal: impl FnOnce() -> Error) -> Result<T> {
        match self {
            Handled::Ran(value) => Ok(value),
            Handled::NeedsWriter => Err(refusal()),
        }
    }
}

/// What a [`Call`] answers, variant for variant, or that a reader left it to the writer.
#[derive(Debug)]
pub enum Answer {
    Executed(Outcome),
    Batched(Vec<ExecuteResponse>),
    Kv(KvWritten),
    Maintained(Vec<i64>),
    Prepared(Vec<Prepared>),
    Snapshot(u64),
    Checked(Verdict),
    /// A reader was handed a call only the writer may run, or a statement that writes.
    NeedsWriter,
}

impl<T> From<Handled<T>> for Answer
where
    T: Into<Answer>,
{
    fn from(handled: Handled<T>) -> Self {
        match handled {
            Handled::Ran(value) => value.into(),
            Handled::NeedsWriter => Answer::NeedsWriter,
        }
    }
}

/// The types an [`Answer`] carries, so a caller can ask for the one its call answers.
pub trait Answered: Sized {
    /// The value, if `answer` is of this kind; else `answer` back.
    fn take(answer: Answer) -> std::result::Result<Self, Answer>;
}

macro_rules! answered {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Answer {
            fn from(value: $ty) -> Self {
                Answer::$variant(value)
            }
        }

        impl Answered for $ty {
            fn take(answer: Answer) -> std::result::Result<Self, Answer> {
                match answer {
                    Answer::$variant(value) => Ok(value),
                    other => Err(other),
                }
            }
        }
    )*};
}

answered!(
    Executed(Outcome),
    Batched(Vec<ExecuteResponse>),
    Kv(KvWritten),
    Maintained(Vec<i64>),
    Prepared(Vec<Prepared>),
    Snapshot(u64),
    Checked(Verdict),
);

impl Answer {
    /// The value of the kind `T` the call answers; a worker that answered another kind, or
    /// a reader that left to the writer a call the database sent it as a read, is a bug,
    /// reported as INTERNAL rather than a panic.
    pub fn expect<T: Answered>(self) -> Result<T> {
        T::take(self).map_err(|other| match other {
            Answer::NeedsWriter => {
                Error::Internal("a reader was handed a call that writes, as if it read".into())
            }
            other => {
                let kind = format!("{other:?}");
                Error::Internal(format!(
                    "a worker answered with the wrong kind of answer ({})",
                    kind.split('(').next().unwrap_or_default()
                ))
            }
        })
    }
}

impl Call {
    /// Whether only the writer may run it (a reader answers [`Answer::NeedsWriter`]).
    pub fn needs_writer(&self) -> bool {
        matches!(self, Call::Batch(_) | Call::Kv(_) | Call::Maintenance(_))
    }

    /// Whether it joins the writer's group commit; the others run alone, between groups.
    pub fn joins_group(&self) -> bool {
        matches!(self, Call::Execute(_) | Call::Batch(_) | Call::Kv(_))
    }

    /// About how many bytes of SQL and parameters it carries (a group commit's budget).
    pub fn bytes(&self) -> usize {
        match self {
            Call::Execute(statement) => statement_bytes(statement),
            Call::Batch(statements) => statements.iter().map(statement_bytes).sum(),
            Call::Kv(write) => super::kv::bytes(write),
            Call::Prepare(sql) => sql.iter().map(String::len).sum(),
            Call::Maintenance(_) | Call::Snapshot(_) | Call::CheckIntegrity => 0,
        }
    }
}

/// About how many bytes of SQL and parameters `statement` carries.
pub fn statement_bytes(statement: &Statement) -> usize {
    statement.sql.len()
        + statement
            .params
            .iter()
            .chain(statement.named_params.values())
            .map(wire_size)
            .sum::<usize>()
}

/// Where a call runs, which decides how it is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On its own, outside any transaction (a reader, or the writer between groups).
    Alone,
    /// Inside the writer's group commit; `savepoints` when the group holds other requests,
    /// so that this one fails alone.
    Group { savepoints: bool },
    /// Inside an interactive transaction.
    Transaction,
}

/// Runs `call` on `db` as the task of `cancel`.
pub fn run(db: &Sqlite, call: &Call, cancel: &Arc<CancelToken>, place: Place) -> Result<Answer> {
    let savepoints = matches!(place, Place::Group { savepoints: true });
    match call {
        Call::Execute(statement) => {
            let run = || db.run_task(cancel, || executor::execute(db, statement));
            match place {
                // A lone statement may be SAVEPOINT, RELEASE or ROLLBACK TO: they nest
                // inside the transaction's BEGIN, so none of them can end it.
                Place::Transaction => db.with_savepoints(run),
                _ => in_savepoint(db, savepoints, run),
            }
            .map(Answer::from)
        }
        // A batch always gets a savepoint, so it is all or nothing.
        Call::Batch(statements) => in_savepoint(db, true, || {
            db.run_task(cancel, || executor::execute_all(db, statements))
        })
        .map(Answer::from),
        Call::Kv(write) => in_savepoint(db, savepoints, || {
            db.run_task(cancel, || db.trusted(|| super::kv::apply(db, write)))
        })
        .map(Answer::Kv),
        Call::Maintenance(_) | Call::Snapshot(_) | Call::CheckIntegrity
            if place == Place::Transaction =>
        {
            Err(Error::Internal(
                "maintenance does not run inside a transaction".into(),
            ))
        }
        // The server's own work, under the process-wide cap only: VACUUM rebuilds the whole
        // database in memory (temp_store=MEMORY).
        Call::Maintenance(sql) => db
            .run_task(cancel, || crate::memory::unbudgeted(|| db.maintenance(sql)))
            .map(Answer::Maintained),
        Call::Prepare(sql) => db
            .run_task(cancel, || Ok(executor::prepare_all(db, sql)))
            .map(Answer::Prepared),
        Call::Snapshot(target) => db
            .run_task(cancel, || {
                crate::memory::unbudgeted(|| executor::snapshot(db, target))
            })
            .map(Answer::Snapshot),
        // The server's own work too: the whole file is read, however large.
        Call::CheckIntegrity => db
            .run_task(cancel, || {
                crate::memory::unbudgeted(|| super::integrity::run(db))
            })
            .map(Answer::Checked),
    }
}

/// What a [`Job::Query`] reads.
#[derive(Debug, Clone)]
pub enum Query {
    /// A client's statement.
    Sql(Statement),
    /// A read of a persistent map (its SQL is the map's own; a map with no table is empty).
    Map(KvRead),
}

impl Query {
    /// About how many bytes of SQL and parameters it carries.
    pub fn bytes(&self) -> usize {
        match self {
            Query::Sql(statement) => statement_bytes(statement),
            Query::Map(read) => statement_bytes(&read.statement()),
        }
    }

    /// Runs it on `db`, handing its messages to `emit` ([`executor::stream_query`]).
    pub fn stream(
        &self,
        db: &Sqlite,
        limits: StreamLimits,
        emit: &mut dyn FnMut(sqlited_proto::v1::QueryResponse) -> Result<bool>,
    ) -> Result<Handled<Option<sqlited_proto::v1::QueryResponse>>> {
        match self {
            Query::Sql(statement) => executor::stream_query(db, statement, limits, emit),
            Query::Map(read) => super::kv::read::run(db, read, limits, emit),
        }
    }
}

/// One unit of work for a worker, with where its answer goes.
pub enum Job {
    /// A request answered once.
    Call { call: Call, reply: Reply<Answer> },
    /// Run a query and stream its rows. The worker blocks when `sink` is full, so a slow
    /// client slows only its own statement. The stream ends when the worker drops `sink`.
    Query {
        query: Query,
        limits: StreamLimits,
        sink: RowSink,
    },
    /// Run an interactive transaction: the worker serves only it until it ends.
    Transaction(TxSession),
}

impl Job {
    /// About how many bytes of SQL and parameters it carries.
    pub fn bytes(&self) -> usize {
        match self {
            Job::Call { call, .. } => call.bytes(),
            Job::Query { query, .. } => query.bytes(),
            Job::Transaction(_) => 0,
        }
    }

    /// Whether a connection of `role` can run it at all.
    pub fn runs_on(&self, role: Role) -> bool {
        match self {
            Job::Call { call, .. } => role == Role::Writer || !call.needs_writer(),
            Job::Query { .. } | Job::Transaction(_) => true,
        }
    }
}

/// Answers `task` with `err` without running it.
pub fn reply_error(task: Task, err: Error) {
    match task.job {
        Job::Call { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Job::Query { sink, .. } => sink.try_send(Err(err)),
        Job::Transaction(session) => {
            let _ = session.started.send(Err(err));
        }
    }
}

/// A job and what must stay alive while it runs.
pub struct Task {
    /// The work.
    pub job: Job,
    /// Dropped by the worker after the job is done.
    pub lease: Lease,
    /// Stops the job when its deadline passes or its client goes away.
    pub cancel: Arc<CancelToken>,
}

impl Task {
    /// A task with nothing to keep alive, stopped by `cancel`.
    pub fn new(job: Job, cancel: Arc<CancelToken>) -> Self {
        Self {
            job,
            lease: Lease::None,
            cancel,
        }
    }
}

/// What a task keeps alive until its worker lets it go.
pub enum Lease {
    /// Nothing.
    None,
    /// A pooled reader's pool object, so the reader goes back to the pool only once it is
    /// really free.
    Pooled(Box<dyn Any + Send>),
    /// A write's place in the write-queue gauge. Held inline, not boxed like a pool object:
    /// every write takes one, and an allocation per write shows in its instruction count.
    Queued(QueuedWrite),
}
