//! The writer's loop. It takes every write waiting in its queue, runs them in one
//! transaction, each request inside its own SAVEPOINT, and answers them all after one COMMIT:
//! one fsync for the whole group, and a request that fails rolls back alone.
//!
//! Nothing waits for a group to fill: a lone write runs as soon as it arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use sqlited_proto::v1::{ExecuteResponse, QueryResponse};

use super::connection::Sqlite;
use super::executor;
use super::reply::Sent;
use super::{Job, Outcome, Task};
use crate::error::{Error, Result};
use crate::sql::value::wire_size;

/// Where the writer reports the size of each group it takes from its queue.
#[derive(Clone)]
pub enum GroupReport {
    /// Into the server's metrics (write-queue depth, group sizes) of the database.
    Metrics,
    /// To a function: a worker process passes them on to the server, which keeps the metrics.
    To(Arc<dyn Fn(usize) + Send + Sync>),
}

/// Serves the writer until every sender is gone. At most `max_group` requests and about
/// `max_bytes` of statements share one transaction.
pub fn serve(
    db: &Sqlite,
    tasks: crossbeam_channel::Receiver<Task>,
    max_group: usize,
    max_bytes: usize,
    database: &str,
    report: &GroupReport,
) {
    let mut sizes = GroupSizes::default();
    let metrics = GroupMetrics::new(database);
    let record = |size: usize| match report {
        GroupReport::Metrics => metrics.record(size),
        GroupReport::To(report) => report(size),
    };
    while let Ok(first) = tasks.recv() {
        let mut bytes = task_bytes(&first);
        let mut group = vec![first];
        while group.len() < max_group && bytes < max_bytes {
            match tasks.try_recv() {
                Ok(task) => {
                    bytes += task_bytes(&task);
                    group.push(task);
                }
                Err(_) => break,
            }
        }
        record(group.len());
        sizes.record(group.len());
        run_group(db, group);
    }
    sizes.log_summary();
}

/// The metrics a group commit moves: the write queue empties by the group's size, and the
/// size goes into the histogram.
pub struct GroupMetrics {
    queued: ::metrics::Gauge,
    size: ::metrics::Histogram,
}

impl GroupMetrics {
    /// The metrics of `database`.
    pub fn new(database: &str) -> Self {
        Self {
            queued: ::metrics::gauge!(crate::metrics::names::WRITE_QUEUE, "database" => database.to_string()),
            size: ::metrics::histogram!(crate::metrics::names::GROUP_SIZE, "database" => database.to_string()),
        }
    }

    /// One group of `size` requests left the queue.
    pub fn record(&self, size: usize) {
        self.queued.decrement(size as f64);
        self.size.record(size as f64);
    }
}

/// About how many bytes of SQL and parameters a task carries.
fn task_bytes(task: &Task) -> usize {
    let statement = |s: &sqlited_proto::v1::Statement| {
        s.sql.len()
            + s.params
                .iter()
                .chain(s.named_params.values())
                .map(wire_size)
                .sum::<usize>()
    };
    match &task.job {
        Job::Execute { statement: s, .. } | Job::Query { statement: s, .. } => statement(s),
        Job::Batch { statements, .. } => statements.iter().map(statement).sum(),
        Job::Kv { write, .. } => super::kv::bytes(write),
        Job::Transaction(_) | Job::Maintenance { .. } => 0,
    }
}

/// The distribution of group sizes, in power-of-two buckets, for the logs.
#[derive(Default)]
struct GroupSizes {
    /// `buckets[k]` counts groups of 2^k to 2^(k+1)-1 requests.
    buckets: [u64; 16],
    groups: u64,
    requests: u64,
}

impl GroupSizes {
    /// Groups between two debug lines.
    const LOG_EVERY: u64 = 10_000;

    fn record(&mut self, size: usize) {
        let bucket = (usize::BITS - 1 - size.max(1).leading_zeros()) as usize;
        self.buckets[bucket.min(15)] += 1;
        self.groups += 1;
        self.requests += size as u64;
        if self.groups.is_multiple_of(Self::LOG_EVERY) {
            tracing::debug!(groups = self.groups, requests = self.requests, sizes = %self, "group commit sizes");
        }
    }

    fn log_summary(&self) {
        if self.groups > 0 {
            tracing::info!(
                groups = self.groups,
                requests = self.requests,
                mean = format!("{:.2}", self.requests as f64 / self.groups as f64),
                sizes = %self,
                "group commit sizes (requests per transaction: groups)"
            );
        }
    }
}

impl std::fmt::Display for GroupSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (k, count) in self.buckets.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (low, high) = (1u64 << k, (1u64 << (k + 1)) - 1);
            let sep = if first { "" } else { " " };
            first = false;
            if low == high {
                write!(f, "{sep}{low}:{count}")?;
            } else {
                write!(f, "{sep}{low}-{high}:{count}")?;
            }
        }
        Ok(())
    }
}

/// Runs one group. A query (`INSERT … RETURNING`) streams rows, so it runs in a transaction
/// of its own between the writes before and after it.
fn run_group(db: &Sqlite, group: Vec<Task>) {
    let size = group.len();
    let mut writes = VecDeque::with_capacity(size);
    for task in group {
        if matches!(task.job, Job::Query { .. }) {
            commit_writes(db, std::mem::take(&mut writes));
            run_query(db, task);
        } else if matches!(task.job, Job::Maintenance { .. }) {
            commit_writes(db, std::mem::take(&mut writes));
            if let Job::Maintenance { sql, reply } = task.job {
                let _ = reply.send(db.run_task(&task.cancel, || db.maintenance(sql)));
            }
        } else if matches!(task.job, Job::Transaction(_)) {
            commit_writes(db, std::mem::take(&mut writes));
            let Task { job, lease, .. } = task;
            if let Job::Transaction(session) = job {
                super::transaction::serve(db, session);
            }
            drop(lease);
        } else {
            writes.push_back(task);
        }
    }
    commit_writes(db, writes);
    tracing::trace!(size, "group done");
}

/// A write's result, held until its transaction commits.
enum Answer {
    Execute(Result<Outcome>),
    Batch(Result<Vec<ExecuteResponse>>),
    Kv(Result<super::kv::KvWritten>),
}

impl Answer {
    fn is_ok(&self) -> bool {
        match self {
            Answer::Execute(r) => r.is_ok(),
            Answer::Batch(r) => r.is_ok(),
            Answer::Kv(r) => r.is_ok(),
        }
    }
}

fn commit_writes(db: &Sqlite, mut queue: VecDeque<Task>) {
    while !queue.is_empty() {
        if let Err(err) = db.internal("BEGIN IMMEDIATE") {
            for task in queue {
                super::reply_error(task, err.clone());
            }
            return;
        }
        let savepoints = queue.len() > 1;
        let mut done: Vec<(Task, Answer)> = Vec::with_capacity(queue.len());
        let mut lost = false;
        while let Some(task) = queue.pop_front() {
            let answer = run_write(db, &task, savepoints);
            if db.conn().is_autocommit() {
                // The statement ended the transaction itself (INSERT OR ROLLBACK, a full
                // disk): the requests before it in this transaction are undone and were never
                // acknowledged, so they run again in a new one.
                deliver(task, answer);
                for (earlier, _) in std::mem::take(&mut done).into_iter().rev() {
                    queue.push_front(earlier);
                }
                lost = true;
                break;
            }
            done.push((task, answer));
        }
        if lost {
            continue;
        }
        let end = if done.iter().any(|(_, answer)| answer.is_ok()) {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        match db.internal(end) {
            Ok(()) => done
                .into_iter()
                .for_each(|(task, answer)| deliver(task, answer)),
            Err(err) => {
                tracing::error!(error = %err, "group commit failed; every request in it fails");
                if !db.conn().is_autocommit() {
                    let _ = db.internal("ROLLBACK");
                }
                for (task, _) in done {
                    super::reply_error(task, err.clone());
                }
            }
        }
    }
}

/// Runs one write inside the open transaction. A batch always gets a savepoint, so it is all
/// or nothing; a lone statement needs none, since the transaction is its own.
fn run_write(db: &Sqlite, task: &Task, savepoints: bool) -> Answer {
    let cancel = &task.cancel;
    match &task.job {
        Job::Execute { statement, .. } => Answer::Execute(in_savepoint(db, savepoints, || {
            db.run_task(cancel, || executor::execute(db, statement))
        })),
        Job::Batch { statements, .. } => Answer::Batch(in_savepoint(db, true, || {
            db.run_task(cancel, || executor::execute_all(db, statements))
        })),
        Job::Kv { write, .. } => Answer::Kv(in_savepoint(db, savepoints, || {
            db.run_task(cancel, || db.trusted(|| super::kv::apply(db, write)))
        })),
        Job::Query { .. } | Job::Transaction(_) | Job::Maintenance { .. } => {
            unreachable!("queries and transactions run on their own")
        }
    }
}

pub(super) fn in_savepoint<T>(
    db: &Sqlite,
    savepoint: bool,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if !savepoint {
        return work();
    }
    db.internal("SAVEPOINT request")?;
    let result = work();
    if !db.conn().is_autocommit() {
        let undo = if result.is_err() {
            "ROLLBACK TO request; RELEASE request"
        } else {
            "RELEASE request"
        };
        if let Err(err) = db.internal(undo) {
            tracing::error!(error = %err, "ending a request's savepoint failed");
        }
    }
    result
}

/// Runs a writing query (`INSERT … RETURNING`) in a transaction of its own. Its rows are
/// collected, up to `--max-message-bytes` in all, and sent only after COMMIT, to a sink that
/// never waits: the writer is free again at once, however slowly the client reads (a
/// client that stops reading would otherwise hold every write of the database).
fn run_query(db: &Sqlite, task: Task) {
    let Task { job, lease, cancel } = task;
    let Job::Query {
        statement,
        limits,
        sink,
    } = job
    else {
        unreachable!("run_query takes queries");
    };
    let mut collected = Vec::new();
    let mut bytes = 0;
    let mut collect = |message: QueryResponse| {
        bytes += prost::Message::encoded_len(&message);
        if bytes > limits.max_message_bytes {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "the statement's RETURNING rows take more than {} bytes; a writing \
                     statement's rows are collected before it commits, so they may take at \
                     most --max-message-bytes together. Return fewer or smaller columns, or \
                     write fewer rows per statement",
                    limits.max_message_bytes
                ),
                retryable: false,
            });
        }
        collected.push(message);
        Ok(true)
    };
    let last = match db.internal("BEGIN IMMEDIATE") {
        Err(err) => Err(err),
        Ok(()) => match db.run_task(&cancel, || {
            executor::stream_query(db, &statement, limits, &mut collect)
        }) {
            Ok(Some(message)) => db.internal("COMMIT").map(|()| Some(message)),
            other => other,
        },
    };
    if !db.conn().is_autocommit() {
        let _ = db.internal("ROLLBACK");
    }
    if last.is_ok() {
        for message in collected {
            if sink.send_within(Ok(message), &cancel) != Sent::Delivered {
                break;
            }
        }
    }
    executor::finish_query(&sink, last, &cancel);
    drop(lease);
}

fn deliver(task: Task, answer: Answer) {
    match (task.job, answer) {
        (Job::Execute { reply, .. }, Answer::Execute(result)) => {
            let _ = reply.send(result);
        }
        (Job::Batch { reply, .. }, Answer::Batch(result)) => {
            let _ = reply.send(result);
        }
        (Job::Kv { reply, .. }, Answer::Kv(result)) => {
            let _ = reply.send(result);
        }
        _ => unreachable!("answers match their jobs"),
    }
}

#[cfg(test)]
mod test {
    use super::GroupSizes;

    #[test]
    fn group_sizes_fall_in_power_of_two_buckets() {
        let mut sizes = GroupSizes::default();
        for size in [1, 1, 2, 3, 4, 7, 8, 256] {
            sizes.record(size);
        }
        assert_eq!(sizes.to_string(), "1:2 2-3:2 4-7:2 8-15:1 256-511:1");
        assert_eq!((sizes.groups, sizes.requests), (8, 282));
    }
}
