//! The server's side of a worker process: two threads per worker.
//!
//! The send thread takes tasks (from the worker's own queue or its database's shared reader
//! queue, never more than `limit` in flight), commands of open transactions, and cancellations,
//! and writes them to the socket. The receive thread reads the answers and hands each to the
//! channel its request waits on. When the worker dies, the receive thread fails every request
//! it held and every task waiting in its own queue, and the send thread every command
//! waiting for one of its transactions: UNAVAILABLE, or ABORTED for a transaction, which is
//! lost (rule 2 of [`crate::worker::supervision`]).

use std::any::Any;
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};
use tokio::sync::Notify;

use super::wire::{self, Answer, BeginWork, FromWorker, QueryWork, ToWorker, Work};
use crate::error::Error;
use crate::worker::cancel::CancelToken;
use crate::worker::group_commit::GroupMetrics;
use crate::worker::job::Lease;
use crate::worker::reply::{Reply, RowSink, Streamed};
use crate::worker::transaction::{self, TxCommand, TxSession, TxState, TxStatus};
use crate::worker::{Job, Task};

/// How often the send thread looks for requests to cancel.
const TICK: Duration = Duration::from_millis(20);
/// How long the send thread waits for the death of a worker it could not write to, before
/// it stops without failing its transactions' waiting commands.
const DEATH_BOUND: Duration = Duration::from_secs(5);

/// What a request waits on.
enum Waiting {
    /// A call's one answer.
    Call(Reply<crate::worker::Answer>),
    Query(RowSink),
    /// COMMIT or ROLLBACK.
    Unit(Reply<()>),
    Transaction(OpenTx),
}

/// A transaction running in the worker.
struct OpenTx {
    /// Answered when BEGIN has run; `None` after.
    started: Option<Reply<()>>,
    state: Arc<TxState>,
    /// Raised when it ended, so its command forwarder stops.
    ended: Arc<AtomicBool>,
    _permits: Box<dyn Any + Send>,
}

/// A request sent to the worker and not yet fully answered.
struct InFlight {
    waiting: Waiting,
    cancel: Arc<CancelToken>,
    /// Dropped when the request is done (a pooled worker's pool object).
    _lease: Lease,
    cancel_sent: bool,
    /// Whether it counts against the in-flight limit (tasks do; transaction commands don't).
    counts: bool,
    /// The transaction it runs in, if any: if the worker dies, it fails as that transaction.
    within: Option<Arc<TxState>>,
}

impl InFlight {
    /// Fails the request because worker `worker` died: as part of its lost transaction, if
    /// it ran inside one.
    fn fail(self, worker: u64) {
        let err = self
            .within
            .as_ref()
            .and_then(|state| state.ended_error())
            .unwrap_or_else(|| worker_died(worker));
        fail(self.waiting, err, &self.cancel);
    }
}

/// What other threads ask the send thread to do.
pub enum Outbound {
    /// A request finished: there may be room for another task.
    Wake,
}

/// A transaction running in the worker, whose commands the send thread forwards: it waits
/// on their channel beside its task queue, so no transaction needs a thread of its own.
struct Forwarded {
    /// The request that began it.
    tx: u64,
    state: Arc<TxState>,
    /// Raised by the receive thread when the worker says it ended.
    ended: Arc<AtomicBool>,
    commands: Receiver<TxCommand>,
}

/// Where a worker's tasks come from, as its death concerns them.
pub enum Feed {
    /// Its own queue (the far end), whose tasks fail with it.
    Own(Receiver<Task>),
    /// Its database's shared reader queue, which outlives it: its supervisor is notified.
    Shared(Arc<Notify>),
}

/// What both threads of one worker share.
pub struct Shared {
    pub id: u64,
    pending: Mutex<HashMap<u64, InFlight>>,
    in_flight: AtomicUsize,
    alive: AtomicBool,
    /// Raised once the server stopped sending work: an exit now is the expected one.
    pub closing: AtomicBool,
    feed: Feed,
    outbox: Sender<Outbound>,
    /// For a writer: the metrics its group commits move.
    groups: Option<GroupMetrics>,
}

impl Shared {
    pub fn new(
        id: u64,
        feed: Feed,
        groups: Option<GroupMetrics>,
    ) -> (Arc<Self>, Receiver<Outbound>) {
        let (outbox, outbound) = crossbeam_channel::unbounded();
        let shared = Arc::new(Self {
            id,
            pending: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            feed,
            outbox,
            groups,
        });
        (shared, outbound)
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The far end of the worker's own queue (`None` for a shared reader).
    pub fn own_queue(&self) -> Option<&Receiver<Task>> {
        match &self.feed {
            Feed::Own(queued) => Some(queued),
            Feed::Shared(_) => None,
        }
    }

    /// Records a request about to be sent; a dead worker hands it back to be failed.
    fn register(&self, id: u64, request: InFlight) -> std::result::Result<(), InFlight> {
        let mut pending = self.pending.lock().expect("pending requests poisoned");
        if !self.is_alive() {
            return Err(request);
        }
        if request.counts {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
        }
        pending.insert(id, request);
        Ok(())
    }

    fn finish(&self, request: &InFlight) {
        if request.counts {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let _ = self.outbox.send(Outbound::Wake);
        }
    }

    /// The worker is gone: fail everything it held, and what waits in its own queue.
    pub fn died(&self) {
        let requests: Vec<InFlight> = {
            let mut pending = self.pending.lock().expect("pending requests poisoned");
            // Its transactions are lost before the worker is seen dead, so the send thread,
            // once it sees that, refuses their waiting commands with the reason.
            for request in pending.values() {
                if let Waiting::Transaction(tx) = &request.waiting {
                    tx.lose();
                }
            }
            self.alive.store(false, Ordering::Release);
            pending.drain().map(|(_, request)| request).collect()
        };
        self.in_flight.store(0, Ordering::Release);
        let _ = self.outbox.send(Outbound::Wake);
        // Transactions first, so what ran inside them fails as part of a lost transaction.
        let (transactions, others): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .partition(|request| matches!(request.waiting, Waiting::Transaction(_)));
        for request in transactions.into_iter().chain(others) {
            request.fail(self.id);
        }
        match &self.feed {
            Feed::Own(queued) => crate::worker::fail_queued(queued),
            Feed::Shared(exits) => exits.notify_one(),
        }
    }
}

impl OpenTx {
    /// Marks the transaction lost with its worker, unless it had ended.
    fn lose(&self) {
        if !self.ended.load(Ordering::Acquire) {
            self.state.set(TxStatus::Lost);
            self.ended.store(true, Ordering::Release);
        }
    }
}

/// The error of a request whose worker process died under it.
fn worker_died(id: u64) -> Error {
    Error::Unavailable(format!(
        "worker process {id} died while running this request (killed, crashed, or over \
         --worker-memory-limit); the server started another: a read can be retried at once; a \
         write may or may not have committed"
    ))
}

/// Answers `waiting`, the request of `cancel`, with `err`.
fn fail(waiting: Waiting, err: Error, cancel: &Arc<CancelToken>) {
    match waiting {
        Waiting::Call(reply) => {
            let _ = reply.send(Err(err));
        }
        Waiting::Unit(reply) => {
            let _ = reply.send(Err(err));
        }
        // A client too slow for its deadline learns so from its token, not from this.
        Waiting::Query(_) if cancel.is_slow_reader() => {}
        Waiting::Query(sink) => match sink.channel() {
            // The stream's reader may be slow: never block the thread that fails the rest.
            Some(channel) => {
                let cancel = Arc::clone(cancel);
                std::thread::spawn(move || channel.send_within(Err(err), &cancel));
            }
            None => {
                sink.send_within(Err(err), cancel);
            }
        },
        Waiting::Transaction(mut tx) => {
            tx.lose();
            if let Some(started) = tx.started.take() {
                let _ = started.send(Err(tx.state.ended_error().unwrap_or(err)));
            }
        }
    }
}

/// The send thread: takes tasks from `tasks` (the worker's own queue or its database's
/// shared reader queue); runs until that closes or the worker dies, then shuts the
/// socket's sending side, so the worker finishes what it holds and exits.
pub fn send_loop(
    shared: Arc<Shared>,
    socket: UnixStream,
    tasks: Receiver<Task>,
    outbound: Receiver<Outbound>,
    limit: usize,
) {
    let never = crossbeam_channel::never();
    let mut out = BufWriter::new(&socket);
    let mut sender = Writer {
        shared: &shared,
        next_id: 1,
        forwarded: Vec::new(),
    };
    let mut last_scan = Instant::now();
    let mut broken = false;
    while shared.is_alive() {
        sender.forget_ended();
        let room = shared.in_flight.load(Ordering::Acquire) < limit.max(1);
        let source = if room { &tasks } else { &never };
        // The outbox, the task queue, then each open transaction's commands. What is taken
        // is held as `Received` until the Select (which borrows the channels) is gone.
        let mut select = Select::new();
        select.recv(&outbound);
        select.recv(source);
        for forwarded in &sender.forwarded {
            select.recv(&forwarded.commands);
        }
        let received = match select.select_timeout(TICK) {
            Err(_) => Received::Nothing,
            Ok(operation) => match operation.index() {
                0 => match operation.recv(&outbound) {
                    Ok(Outbound::Wake) => Received::Nothing,
                    Err(_) => break,
                },
                1 => match operation.recv(source) {
                    Ok(task) => Received::Task(task),
                    Err(_) => break,
                },
                i => Received::Command(
                    i - 2,
                    operation.recv(&sender.forwarded[i - 2].commands).ok(),
                ),
            },
        };
        drop(select);
        let written = match received {
            Received::Nothing => Ok(()),
            Received::Task(task) => sender.task(&mut out, task, None),
            Received::Command(index, command) => sender.forward(&mut out, index, command),
        };
        if written.and_then(|()| out.flush()).is_err() {
            // The receive thread sees the end of the stream and fails what is pending.
            broken = true;
            break;
        }
        if last_scan.elapsed() >= TICK {
            last_scan = Instant::now();
            if sender.cancel_stopped(&mut out).is_err() || out.flush().is_err() {
                break;
            }
        }
    }
    shared.closing.store(true, Ordering::Release);
    let _ = out.flush();
    let _ = socket.shutdown(std::net::Shutdown::Write);
    if broken {
        // A worker that stopped reading is dying: the receive thread is about to see it.
        let deadline = Instant::now() + DEATH_BOUND;
        while shared.is_alive() && Instant::now() < deadline {
            let _ = outbound.recv_timeout(TICK);
        }
    }
    if !shared.is_alive() {
        // Dead, so its transactions are marked lost: the commands still waiting for them
        // learn that now rather than at their deadline.
        for forwarded in &sender.forwarded {
            while let Ok(command) = forwarded.commands.try_recv() {
                transaction::refuse(command, &forwarded.state);
            }
        }
    }
}

/// What one turn of the send thread took.
enum Received {
    Nothing,
    Task(Task),
    /// A command of the `.0`th open transaction; `None`: its channel closed.
    Command(usize, Option<TxCommand>),
}

struct Writer<'a> {
    shared: &'a Shared,
    next_id: u64,
    /// The open transactions' command channels.
    forwarded: Vec<Forwarded>,
}

impl Writer<'_> {
    /// Sends `command` of the `index`th open transaction to the worker; `None`: its
    /// registry let it go (the server is shutting down), so the worker rolls it back.
    fn forward(
        &mut self,
        out: &mut impl Write,
        index: usize,
        command: Option<TxCommand>,
    ) -> std::io::Result<()> {
        let Some(command) = command else {
            let forwarded = self.forwarded.swap_remove(index);
            if forwarded.ended.load(Ordering::Acquire) {
                return Ok(());
            }
            return wire::write_frame(
                out,
                &ToWorker {
                    tx: forwarded.tx,
                    work: Some(Work::Abandon(true)),
                    ..ToWorker::default()
                },
            );
        };
        let Forwarded {
            tx, state, ended, ..
        } = &self.forwarded[index];
        let (tx, state) = (*tx, Arc::clone(state));
        if ended.load(Ordering::Acquire) {
            transaction::refuse(command, &state);
            return Ok(());
        }
        let within = Some((tx, state));
        match command {
            TxCommand::Run(task) => self.task(out, task, within),
            TxCommand::Commit(reply) => self.end(out, within, reply, Work::Commit(true)),
            TxCommand::Rollback(reply) => self.end(out, within, reply, Work::Rollback(true)),
        }
    }

    /// Stops forwarding for transactions that ended; commands still queued for one learn
    /// how it ended.
    fn forget_ended(&mut self) {
        self.forwarded.retain(|forwarded| {
            if !forwarded.ended.load(Ordering::Acquire) {
                return true;
            }
            while let Ok(command) = forwarded.commands.try_recv() {
                transaction::refuse(command, &forwarded.state);
            }
            false
        });
    }

    fn end(
        &mut self,
        out: &mut impl Write,
        within: Option<(u64, Arc<TxState>)>,
        reply: Reply<()>,
        work: Work,
    ) -> std::io::Result<()> {
        let id = self.take_id();
        let (tx, within) = within.unzip();
        let request = InFlight {
            waiting: Waiting::Unit(reply),
            cancel: CancelToken::none(),
            _lease: Lease::None,
            cancel_sent: false,
            counts: false,
            within,
        };
        if let Err(request) = self.shared.register(id, request) {
            request.fail(self.shared.id);
            return Ok(());
        }
        wire::write_frame(
            out,
            &ToWorker {
                id,
                tx: tx.unwrap_or(0),
                work: Some(work),
                ..ToWorker::default()
            },
        )
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one task: of the worker's queue (counted against the in-flight limit), or
    /// inside the transaction begun by request `within.0`.
    fn task(
        &mut self,
        out: &mut impl Write,
        task: Task,
        within: Option<(u64, Arc<TxState>)>,
    ) -> std::io::Result<()> {
        let counts = within.is_none();
        let (tx, within) = within.unzip();
        let tx = tx.unwrap_or(0);
        if task.cancel.should_stop() {
            // Stopped while it waited in the queue: it must not run (a thread worker would
            // refuse it the same way).
            let err = if task.cancel.is_cancelled() {
                Error::Cancelled("the client went away; the request was dropped".into())
            } else {
                task.cancel.deadline_error()
            };
            crate::worker::reply_error(task, err);
            return Ok(());
        }
        let Task { job, lease, cancel } = task;
        let id = self.take_id();
        let (work, waiting) = match job {
            Job::Call { call, reply } => (Work::Call(call.into()), Waiting::Call(reply)),
            Job::Query {
                query,
                limits,
                sink,
            } => (
                Work::Query(QueryWork::new(query, limits)),
                Waiting::Query(sink),
            ),
            Job::Transaction(session) => self.begin(id, session),
        };
        let message = ToWorker {
            id,
            tx,
            deadline_ms: cancel.remaining().map_or(0, |left| millis(left).max(1)),
            timeout_ms: cancel.timeout().map_or(0, millis),
            access: u32::from(cancel.access().as_u8()),
            request_id: cancel.request_id().unwrap_or_default().to_string(),
            may_attach: cancel.may_attach(),
            work: Some(work),
        };
        let request = InFlight {
            waiting,
            cancel,
            _lease: lease,
            cancel_sent: false,
            counts,
            within,
        };
        if let Err(request) = self.shared.register(id, request) {
            request.fail(self.shared.id);
            return Ok(());
        }
        wire::write_frame(out, &message)
    }

    /// Starts forwarding the session's commands; returns what to send and wait on.
    fn begin(&mut self, id: u64, session: TxSession) -> (Work, Waiting) {
        let TxSession {
            mode,
            commands,
            started,
            state,
            cancel: _,
            permits,
        } = session;
        let ended = Arc::new(AtomicBool::new(false));
        self.forwarded.push(Forwarded {
            tx: id,
            state: Arc::clone(&state),
            ended: Arc::clone(&ended),
            commands,
        });
        let work = Work::Begin(BeginWork {
            mode: mode.into(),
            lease_ms: millis(state.lease()),
            tx_id: state.id().to_string(),
        });
        let waiting = Waiting::Transaction(OpenTx {
            started: Some(started),
            state,
            ended,
            _permits: permits,
        });
        (work, waiting)
    }

    /// Tells the worker to stop requests whose client went away. (Deadlines the worker keeps
    /// itself: it has each request's own, so it reports them as deadlines.)
    fn cancel_stopped(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let stopped: Vec<u64> = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .expect("pending requests poisoned");
            pending
                .iter_mut()
                .filter(|(_, request)| {
                    !request.cancel_sent
                        && (request.cancel.is_cancelled() || request.cancel.is_slow_reader())
                })
                .map(|(id, request)| {
                    request.cancel_sent = true;
                    *id
                })
                .collect()
        };
        for id in stopped {
            wire::write_frame(
                out,
                &ToWorker {
                    id,
                    work: Some(Work::Cancel(true)),
                    ..ToWorker::default()
                },
            )?;
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The receive thread: delivers answers until the worker's stream ends; false if it broke
/// off in the middle of a message. The caller then fails what is left ([`Shared::died`]).
pub fn receive_loop(shared: &Shared, socket: UnixStream) -> bool {
    let mut input = BufReader::new(socket);
    loop {
        match wire::read_frame::<FromWorker>(&mut input) {
            Ok(Some(message)) => deliver(shared, message),
            Ok(None) => return true,
            Err(err) => {
                tracing::warn!(worker = shared.id, error = %err, "lost the worker process's stream");
                return false;
            }
        }
    }
}

fn deliver(shared: &Shared, message: FromWorker) {
    let FromWorker { id, answer } = message;
    let Some(answer) = answer else {
        return;
    };
    // Parts of a stream and transaction starts leave the request in place.
    let answer = match answer.streamed() {
        Ok(item) => return stream(shared, id, item),
        Err(answer) => answer,
    };
    match answer {
        Answer::Group(size) => {
            if let Some(groups) = &shared.groups {
                groups.record(size as usize);
            }
            return;
        }
        Answer::WalFrames(frames) => {
            if let Some(groups) = &shared.groups {
                groups.wal_frames(frames);
            }
            return;
        }
        Answer::Done(_) | Answer::Error(_) => {
            let mut pending = shared.pending.lock().expect("pending requests poisoned");
            if let Some(InFlight {
                waiting: Waiting::Transaction(tx),
                ..
            }) = pending.get_mut(&id)
            {
                let result = match answer {
                    Answer::Error(err) => Err(err.into()),
                    _ => Ok(()),
                };
                if let Some(started) = tx.started.take() {
                    let _ = started.send(result);
                }
                return;
            }
        }
        _ => {}
    }
    let Some(request) = shared
        .pending
        .lock()
        .expect("pending requests poisoned")
        .remove(&id)
    else {
        return;
    };
    shared.finish(&request);
    answer_request(request.waiting, answer, &request.cancel);
}

/// Passes one part of a query's stream to its reader, waiting while the reader is behind
/// (which makes the worker wait, as a thread worker would), but not past the request's
/// deadline: then the client is too slow, the send thread cancels its statement in the
/// worker, and the rest of its stream is read off the socket and dropped.
fn stream(shared: &Shared, id: u64, item: Streamed) {
    let (sink, cancel) = match shared
        .pending
        .lock()
        .expect("pending requests poisoned")
        .get(&id)
    {
        Some(InFlight {
            waiting: Waiting::Query(sink),
            cancel,
            ..
        }) => match sink.channel() {
            Some(channel) => (channel, Arc::clone(cancel)),
            None => return,
        },
        _ => return,
    };
    if !cancel.is_slow_reader() {
        sink.send_within(item, &cancel);
    }
}

fn answer_request(waiting: Waiting, answer: Answer, cancel: &Arc<CancelToken>) {
    match (waiting, answer) {
        (waiting, Answer::Error(err)) => fail(waiting, err.into(), cancel),
        (Waiting::Call(reply), Answer::Answered(answered)) => {
            let _ = reply.send(answered.try_into());
        }
        (Waiting::Query(_), Answer::End(_)) => {}
        (Waiting::Unit(reply), Answer::Done(_)) => {
            let _ = reply.send(Ok(()));
        }
        (Waiting::Transaction(mut tx), Answer::TxEnded(status)) => {
            let status = match TxStatus::try_from(status) {
                Ok(TxStatus::Starting | TxStatus::Open) | Err(_) => TxStatus::Aborted,
                Ok(ended) => ended,
            };
            tx.state.set(status);
            tx.ended.store(true, Ordering::Release);
            if let Some(started) = tx.started.take() {
                let err = tx
                    .state
                    .ended_error()
                    .unwrap_or_else(|| Error::Internal("the transaction ended".into()));
                let _ = started.send(Err(err));
            }
        }
        (waiting, other) => fail(
            waiting,
            Error::Internal(format!(
                "a worker process answered with the wrong kind of message ({other:?})"
            )),
            cancel,
        ),
    }
}
