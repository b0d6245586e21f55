//! How a database's workers are kept serving: one rule for each kind of worker — the writer,
//! the shared readers, the transaction readers — whatever runs them (threads or processes).
//!
//! 1. **Every start passes the kind's restart budget** ([`super::budget`]): a failed start
//!    or a death soon after one makes the next start wait, doubling from the second in a
//!    row. Once the database is open, a start that fails or is held back is UNAVAILABLE for
//!    the request that wanted it, saying why, with the wait left as its RetryInfo delay
//!    ([`cannot_start`]); and a failure never leaves a kind of worker that nobody starts
//!    again (rule 4).
//! 2. **A worker that dies fails at once what it held and what waited in its own queue**
//!    (UNAVAILABLE; ABORTED for a transaction, which is lost): [`super::fail_queued`], called
//!    by the thread worker's exit guard and by a worker process's proxy when it sees the end.
//! 3. **While no worker of a kind can serve, nothing waits for one**: requests already
//!    queued for that kind and new ones are answered at once, UNAVAILABLE with the wait left
//!    as RetryInfo ([`readers_down`]), never left to their deadline.
//! 4. **A kind comes back by itself.** The writer and the transaction readers each have a
//!    queue of their own, which dies with them, so nothing waits for a new one: the next
//!    request that needs one starts it (`Connections::writer`, the pinned readers' deadpool
//!    `create`). The shared readers' queue outlives them, so their supervisor task
//!    ([`super::readers`]) starts a new reader as soon as one dies, and after a failure again
//!    as soon as the budget allows; reads queued while a start is under way wait for it.

use std::time::Duration;

use super::Role;
use super::budget::RestartBudget;
use crate::error::Error;

/// A kind of worker of a database, each supervised by its rule and with a restart budget of
/// its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The one writer.
    Writer,
    /// The readers sharing one queue of single reads.
    Readers,
    /// The readers pinned by read-only transactions.
    TransactionReaders,
}

impl Pool {
    /// The role of this kind's connections.
    pub fn role(self) -> Role {
        match self {
            Pool::Writer => Role::Writer,
            Pool::Readers | Pool::TransactionReaders => Role::Reader,
        }
    }

    /// The kind as the restart metric's `role` label names it.
    pub fn label(self) -> &'static str {
        match self {
            Pool::Writer => "writer",
            Pool::Readers => "reader",
            Pool::TransactionReaders => "transaction-reader",
        }
    }

    /// The kind in a sentence.
    pub fn noun(self) -> &'static str {
        match self {
            Pool::Writer => "writer",
            Pool::Readers => "reader",
            Pool::TransactionReaders => "transaction reader",
        }
    }
}

/// The error of a request whose worker could not start (`cause`) on an open database:
/// UNAVAILABLE, with the budget's wait as the retry hint. The budget's own refusal says
/// all this already and passes as it is.
pub fn cannot_start(pool: Pool, database: &str, cause: Error, budget: &RestartBudget) -> Error {
    if matches!(cause, Error::UnavailableFor { .. }) {
        return cause;
    }
    let wait = budget.wait();
    Error::UnavailableFor {
        message: format!(
            "no {} of database {database:?} could start ({cause}); {}",
            pool.noun(),
            when(wait)
        ),
        retry_after: wait.unwrap_or_default(),
    }
}

/// The error of a read while no shared reader of `database` can serve: UNAVAILABLE, saying
/// why by the budget's account, with its wait as the retry hint.
pub fn readers_down(database: &str, budget: &RestartBudget) -> Error {
    let wait = budget.wait();
    Error::UnavailableFor {
        message: format!(
            "no reader of database {database:?} is running: {}; the server starts one by \
             itself, {}",
            budget.describe(),
            when(wait)
        ),
        retry_after: wait.unwrap_or_default(),
    }
}

/// When the next start may happen, and what the client should do.
fn when(wait: Option<Duration>) -> String {
    match wait {
        Some(wait) => format!(
            "the next start is in {} ms; retry then",
            wait.as_millis().max(1)
        ),
        None => "the next start may happen now; retry shortly".into(),
    }
}
