//! The writer's loop. It takes every write waiting in its queue, runs them in one
//! transaction, each request inside its own SAVEPOINT, and answers them all after one COMMIT:
//! one fsync for the whole group, and a request that fails rolls back alone.
//!
//! Nothing waits for a group to fill: a lone write runs as soon as it arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use sqlited_proto::v1::QueryResponse;

use super::StreamLimits;
use super::cancel::CancelToken;
use super::connection::Sqlite;
use super::executor;
use super::job::{self, Answer, Call, Job, Lease, Place, Query, Task};
use super::reply::{Reply, RowSink, Sent};
use crate::error::{Error, Result};

/// Where the writer reports the size of each group it takes from its queue.
#[derive(Clone)]
pub enum GroupReport {
    /// Into the server's group-size histogram of the database.
    Metrics,
    /// To a function: a worker process passes them on to the server, which keeps the
    /// histogram.
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
        let mut bytes = first.job.bytes();
        let mut group = vec![first];
        while group.len() < max_group && bytes < max_bytes {
            match tasks.try_recv() {
                Ok(task) => {
                    bytes += task.job.bytes();
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

/// The metric a group commit moves: its size goes into the histogram. (The write-queue
/// gauge is [`super::connections`]'s: a write counts from its submission to its answer.)
pub struct GroupMetrics {
    size: ::metrics::Histogram,
}

impl GroupMetrics {
    /// The metrics of `database`.
    pub fn new(database: &str) -> Self {
        Self {
            size: ::metrics::histogram!(crate::metrics::names::GROUP_SIZE, "database" => database.to_string()),
        }
    }

    /// One group of `size` requests was taken from the queue.
    pub fn record(&self, size: usize) {
        self.size.record(size as f64);
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
/// of its own between the writes before and after it; a call that joins no group
/// (maintenance, a snapshot) and a transaction run alone there too.
fn run_group(db: &Sqlite, group: Vec<Task>) {
    let size = group.len();
    let mut writes = VecDeque::with_capacity(size);
    for task in group {
        let Task { job, lease, cancel } = task;
        match job {
            Job::Call { call, reply } if call.joins_group() => writes.push_back(Pending {
                call,
                reply,
                cancel,
                _lease: lease,
            }),
            Job::Call { call, reply } => {
                commit_writes(db, std::mem::take(&mut writes));
                let _ = reply.send(job::run(db, &call, &cancel, Place::Alone));
                drop(lease);
            }
            Job::Query {
                query,
                limits,
                sink,
            } => {
                commit_writes(db, std::mem::take(&mut writes));
                run_query(db, &query, limits, &sink, &cancel);
                drop(lease);
            }
            Job::Transaction(session) => {
                commit_writes(db, std::mem::take(&mut writes));
                super::transaction::serve(db, session);
                drop(lease);
            }
        }
    }
    commit_writes(db, writes);
    tracing::trace!(size, "group done");
}

/// A write of the group, waiting for its turn and then for its COMMIT.
struct Pending {
    call: Call,
    reply: Reply<Answer>,
    cancel: Arc<CancelToken>,
    /// Kept until the write is answered.
    _lease: Lease,
}

fn commit_writes(db: &Sqlite, mut queue: VecDeque<Pending>) {
    while !queue.is_empty() {
        if let Err(err) = db.internal("BEGIN IMMEDIATE") {
            for write in queue {
                let _ = write.reply.send(Err(err.clone()));
            }
            return;
        }
        let place = Place::Group {
            savepoints: queue.len() > 1,
        };
        let mut done: Vec<(Pending, Result<Answer>)> = Vec::with_capacity(queue.len());
        let mut lost = false;
        while let Some(write) = queue.pop_front() {
            let answer = job::run(db, &write.call, &write.cancel, place);
            if db.conn().is_autocommit() {
                // The statement ended the transaction itself (INSERT OR ROLLBACK, a full
                // disk): the requests before it in this transaction are undone and were never
                // acknowledged, so they run again in a new one.
                let _ = write.reply.send(answer);
                for (earlier, _) in std::mem::take(&mut done).into_iter().rev() {
                    queue.push_front(earlier);
                }
                lost = true;
                break;
            }
            done.push((write, answer));
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
            Ok(()) => done.into_iter().for_each(|(write, answer)| {
                let _ = write.reply.send(answer);
            }),
            Err(err) => {
                tracing::error!(error = %err, "group commit failed; every request in it fails");
                if !db.conn().is_autocommit() {
                    let _ = db.internal("ROLLBACK");
                }
                for (write, _) in done {
                    let _ = write.reply.send(Err(err.clone()));
                }
            }
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
fn run_query(
    db: &Sqlite,
    query: &Query,
    limits: StreamLimits,
    sink: &RowSink,
    cancel: &Arc<CancelToken>,
) {
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
        Ok(()) => match db.run_task(cancel, || query.stream(db, limits, &mut collect)) {
            Ok(Some(message)) => db.internal("COMMIT").map(|()| Some(message)),
            other => other,
        },
    };
    if !db.conn().is_autocommit() {
        let _ = db.internal("ROLLBACK");
    }
    if last.is_ok() {
        for message in collected {
            if sink.send_within(Ok(message), cancel) != Sent::Delivered {
                break;
            }
        }
    }
    executor::finish_query(sink, last, cancel);
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
