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
use super::job::{self, Answer, Call, Handled, Job, Lease, Place, Query, Task};
use super::reply::{Reply, RowSink, Sent};
use super::wal_frames::{self, WalFrames};
use crate::error::{Error, Result};

/// What the writer reports besides its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterReport {
    /// It took a group of this many requests from its queue.
    Group(usize),
    /// Its COMMITs appended this many frames to the WAL (replicated databases only; see
    /// [`super::wal_frames`]).
    WalFrames(u64),
}

/// Where the writer reports the size of each group it takes from its queue, and the frames
/// it appends to the WAL.
#[derive(Clone)]
pub enum GroupReport {
    /// Into the server's metrics of the database: its group-size histogram and its
    /// [`WalFrames`] counter.
    Metrics,
    /// To a function: a worker process passes them on to the server, which keeps the
    /// metrics.
    To(Arc<dyn Fn(WriterReport) + Send + Sync>),
}

impl GroupReport {
    /// Counts the frames the writer `db` of the database file `path` appends to its WAL,
    /// if the database is replicated (the replication's lag in frames).
    pub fn count_frames(&self, db: &Sqlite, path: &std::path::Path, replicated: bool) {
        if !replicated {
            return;
        }
        match self {
            Self::Metrics => {
                let frames = WalFrames::of(path);
                wal_frames::count(db.conn(), move |n| frames.add(n));
            }
            Self::To(report) => {
                let report = Arc::clone(report);
                wal_frames::count(db.conn(), move |n| report(WriterReport::WalFrames(n)));
            }
        }
    }
}

/// Serves the writer until every sender is gone. At most `max_group` requests and about
/// `max_bytes` of statements share one transaction.
pub fn serve(
    db: &Sqlite,
    tasks: crossbeam_channel::Receiver<Task>,
    max_group: usize,
    max_bytes: usize,
    path: &std::path::Path,
    report: &GroupReport,
) {
    let mut sizes = GroupSizes::default();
    let metrics = GroupMetrics::new(path);
    let record = |size: usize| match report {
        GroupReport::Metrics => metrics.record(size),
        GroupReport::To(report) => report(WriterReport::Group(size)),
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

/// The metrics a group commit moves: its size goes into the histogram, the frames its
/// COMMIT appended into the database's [`WalFrames`]. (The write-queue gauge is
/// [`super::connections`]'s: a write counts from its submission to its answer.)
pub struct GroupMetrics {
    size: ::metrics::Histogram,
    frames: Arc<WalFrames>,
}

impl GroupMetrics {
    /// The metrics of the database file `path`.
    pub fn new(path: &std::path::Path) -> Self {
        let database = super::thread::database_name(path);
        Self {
            size: ::metrics::histogram!(crate::metrics::names::GROUP_SIZE, "database" => database),
            frames: WalFrames::of(path),
        }
    }

    /// One group of `size` requests was taken from the queue.
    pub fn record(&self, size: usize) {
        self.size.record(size as f64);
    }

    /// The writer's COMMITs appended `frames` to the WAL.
    pub fn wal_frames(&self, frames: u64) {
        self.frames.add(frames);
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
        // A request before this group attached a database and could not let it go: each
        // request is refused until it can (`Sqlite::run_task`).
        let _ = db.settle();
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
            if db.holds_request_state() {
                // It attached a database (--unsafe-sql), which only the end of this
                // transaction lets go: the group ends here, so no other request sees it.
                break;
            }
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
        let _ = db.settle();
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
            Ok(Handled::Ran(Some(message))) => {
                db.internal("COMMIT").map(|()| Handled::Ran(Some(message)))
            }
            other => other,
        },
    };
    if !db.conn().is_autocommit() {
        let _ = db.internal("ROLLBACK");
    }
    let _ = db.settle();
    if last.is_ok() {
        for message in collected {
            if sink.send_within(Ok(Handled::Ran(message)), cancel) != Sent::Delivered {
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
