//! The worker process's side (`sqlited worker`, started by the server, never by hand): it
//! reads [`Hello`] from its socket (standard input), caps its memory, opens its connection
//! in a thread worker — the very code a threads-mode server runs — and then turns each
//! [`ToWorker`] into a task for that worker and each answer into a [`FromWorker`].
//!
//! It exits when the server closes the socket: after finishing what it holds when the server
//! is closing it, at once (cancelling its statements) when the server died.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::wire::{
    self, Answer, Batched, Executed, FromWorker, Hello, Integers, Ready, ToWorker, WireError, Work,
};
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::worker::Outcome;
use crate::worker::cancel::CancelToken;
use crate::worker::connection::{ConnectionSettings, Synchronous};
use crate::worker::group_commit::GroupReport;
use crate::worker::kv::KvWritten;
use crate::worker::thread::{TaskSource, ThreadOptions, ThreadWorker};
use crate::worker::transaction::{self, TxCommand, TxMode, TxSession, TxState, TxStatus};
use crate::worker::{Job, Role, StreamLimits, Task, Worker, reply_error};

/// Commands that may wait in one transaction (the server's registry bounds them already).
const TX_COMMANDS: usize = 64;
/// Encoded answers waiting for the socket; a query's rows wait here when the server is slow.
const ANSWERS: usize = 64;

/// Runs the worker process until the server closes its socket. Returns the exit code.
pub fn run() -> u8 {
    // SAFETY: the server starts this process with its socket as standard input, which
    // nothing else in the process uses.
    let socket = UnixStream::from(unsafe { OwnedFd::from_raw_fd(0) });
    let hello = match wire::read_frame::<Hello>(&mut &socket) {
        Ok(Some(hello)) => hello,
        _ => {
            eprintln!(
                "`sqlited worker` is started by the server (--workers processes) and speaks to \
                 it over its standard input; it is not run by hand"
            );
            return 2;
        }
    };
    let parent = std::os::unix::process::parent_id();
    if hello.memory_limit > 0 {
        limit_memory(hello.memory_limit);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the worker's runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(serve(hello, socket, parent))
}

/// Caps the data segment (setrlimit) and SQLite's heap a little below it, so a huge sort
/// fails with SQLITE_NOMEM before the process runs out.
fn limit_memory(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass; sqlite3_hard_heap_limit64 only sets a
    // process-wide number.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
            tracing::warn!(
                bytes,
                error = %std::io::Error::last_os_error(),
                "cannot cap the worker's memory"
            );
        }
        rusqlite::ffi::sqlite3_hard_heap_limit64((bytes / 4 * 3) as i64);
    }
}

async fn serve(hello: Hello, socket: UnixStream, parent: u32) -> u8 {
    let role = if hello.role == 1 {
        Role::Writer
    } else {
        Role::Reader
    };
    let settings = Arc::new(ConnectionSettings {
        path: hello.path.clone().into(),
        synchronous: match hello.synchronous {
            0 => Synchronous::Off,
            1 => Synchronous::Normal,
            3 => Synchronous::Extra,
            _ => Synchronous::Full,
        },
        busy_timeout: Duration::from_millis(hello.busy_timeout_ms),
        statement_cache: hello.statement_cache as usize,
        cache_kib: hello.cache_kib,
        sandbox: hello.sandbox,
    });
    let options = ThreadOptions {
        queue_depth: (hello.queue_depth as usize).max(1),
        max_group: (hello.max_group as usize).max(1),
        max_group_bytes: hello.max_group_bytes as usize,
    };
    let (answers, outgoing) = mpsc::channel::<Vec<u8>>(ANSWERS);
    let groups = answers.clone();
    let report = GroupReport::To(Arc::new(move |size| {
        let message = FromWorker {
            id: 0,
            answer: Some(Answer::Group(size as u64)),
        };
        let _ = groups.blocking_send(message.encode_length_delimited_to_vec());
    }));
    let opened =
        ThreadWorker::spawn_reporting(hello.id, role, settings, options, TaskSource::Own, report)
            .await;
    let ready = Ready {
        error: opened.as_ref().err().map(WireError::from),
    };
    if wire::write_frame(&mut &socket, &ready).is_err() {
        return 1;
    }
    let Ok(worker) = opened else {
        return 1;
    };
    tracing::info!(%role, "worker process ready");

    let Ok(out_socket) = socket.try_clone() else {
        return 1;
    };
    let writer = std::thread::spawn(move || write_answers(out_socket, outgoing));
    let host = Arc::new(Host {
        worker,
        answers,
        runtime: Handle::current(),
        tokens: Mutex::default(),
        transactions: Mutex::default(),
    });
    let reading = Arc::clone(&host);
    let reader = tokio::task::spawn_blocking(move || {
        let mut input = BufReader::new(socket);
        while let Ok(Some(message)) = wire::read_frame::<ToWorker>(&mut input) {
            reading.handle(message);
        }
    });
    let _ = reader.await;
    if std::os::unix::process::parent_id() != parent {
        // The server died: nobody waits for these answers.
        for token in host.tokens.lock().expect("tokens poisoned").values() {
            token.cancel();
        }
    }
    // Ends the transactions (they roll back) and the worker's loop, which finishes its queue.
    let Ok(host) = Arc::try_unwrap(host) else {
        return 1;
    };
    let Host {
        worker,
        answers,
        transactions,
        ..
    } = host;
    drop(transactions);
    drop(answers);
    let _ = tokio::task::spawn_blocking(move || drop(worker)).await;
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    0
}

/// Writes answers as they come, flushing when none is waiting.
fn write_answers(socket: UnixStream, mut outgoing: mpsc::Receiver<Vec<u8>>) {
    let mut out = BufWriter::new(socket);
    let mut broken = false;
    while let Some(frame) = outgoing.blocking_recv() {
        if broken {
            // The server is gone: drain, so nothing waits on a full channel.
            continue;
        }
        broken = out.write_all(&frame).is_err();
        if outgoing.is_empty() && !broken {
            broken = out.flush().is_err();
        }
    }
    let _ = out.flush();
}

/// A transaction open in this worker.
struct LocalTx {
    commands: SyncSender<TxCommand>,
    state: Arc<TxState>,
}

struct Host {
    worker: ThreadWorker,
    answers: mpsc::Sender<Vec<u8>>,
    runtime: Handle,
    /// The tokens of running requests, by request number, for `Cancel`.
    tokens: Mutex<HashMap<u64, Arc<CancelToken>>>,
    /// Open transactions, by the number of their `Begin`.
    transactions: Mutex<HashMap<u64, LocalTx>>,
}

/// Sends the answer of request `id`.
async fn send(answers: &mpsc::Sender<Vec<u8>>, id: u64, answer: Answer) {
    let message = FromWorker {
        id,
        answer: Some(answer),
    };
    let _ = answers.send(message.encode_length_delimited_to_vec()).await;
}

fn error_answer(err: &Error) -> Answer {
    Answer::Error(WireError::from(err))
}

impl Host {
    fn handle(self: &Arc<Self>, message: ToWorker) {
        let ToWorker {
            id,
            tx,
            deadline_ms,
            timeout_ms,
            access,
            request_id,
            work,
        } = message;
        let Some(work) = work else {
            return;
        };
        let work = match work {
            Work::Cancel(_) => {
                if let Some(token) = self.tokens.lock().expect("tokens poisoned").get(&id) {
                    token.cancel();
                }
                return;
            }
            Work::Abandon(_) => {
                self.transactions
                    .lock()
                    .expect("transactions poisoned")
                    .remove(&tx);
                return;
            }
            Work::Commit(_) | Work::Rollback(_) => {
                let (reply, answer) = oneshot::channel();
                let command = if matches!(work, Work::Commit(_)) {
                    TxCommand::Commit(reply)
                } else {
                    TxCommand::Rollback(reply)
                };
                self.to_transaction(tx, command);
                let answers = self.answers.clone();
                self.runtime.spawn(async move {
                    let answer = match answer.await {
                        Ok(Ok(())) => Answer::Done(true),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&Error::Internal("the transaction ended".into())),
                    };
                    send(&answers, id, answer).await;
                });
                return;
            }
            other => other,
        };
        let ms = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        let cancel = CancelToken::resumed(ms(deadline_ms), ms(timeout_ms));
        cancel.set_access(Access::from_u8(access as u8));
        if !request_id.is_empty() {
            cancel.set_request_id(&request_id);
        }
        self.tokens
            .lock()
            .expect("tokens poisoned")
            .insert(id, Arc::clone(&cancel));
        let Some(job) = self.job(id, work) else {
            return;
        };
        let task = Task::new(job, cancel);
        if tx != 0 {
            self.to_transaction(tx, TxCommand::Run(task));
        } else if let Err((_, task)) = self.worker.submit(task) {
            reply_error(
                task,
                Error::Unavailable("the worker process's queue is full; retry".into()),
            );
        }
    }

    /// The job for `work`, with a task on the runtime that sends its answers.
    fn job(self: &Arc<Self>, id: u64, work: Work) -> Option<Job> {
        let host = Arc::clone(self);
        let answers = self.answers.clone();
        let done = move || {
            host.tokens.lock().expect("tokens poisoned").remove(&id);
        };
        let job = match work {
            Work::Execute(statement) => {
                let (reply, answer) = oneshot::channel::<Result<Outcome>>();
                self.runtime.spawn(async move {
                    let answer = match answer.await {
                        Ok(Ok(outcome)) => Answer::Executed(Executed {
                            response: Some(outcome.response),
                            read_only: outcome.read_only,
                        }),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&lost()),
                    };
                    done();
                    send(&answers, id, answer).await;
                });
                Job::Execute { statement, reply }
            }
            Work::Batch(batch) => {
                let (reply, answer) = oneshot::channel();
                self.runtime.spawn(async move {
                    let answer = match answer.await {
                        Ok(Ok(responses)) => Answer::Batched(Batched { responses }),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&lost()),
                    };
                    done();
                    send(&answers, id, answer).await;
                });
                Job::Batch {
                    statements: batch.statements,
                    reply,
                }
            }
            Work::Query(query) => {
                let (sink, mut rows) = mpsc::channel(2);
                self.runtime.spawn(async move {
                    while let Some(item) = rows.recv().await {
                        let answer = match item {
                            Ok(row) => Answer::Row(row),
                            Err(err) => Answer::RowError(WireError::from(&err)),
                        };
                        send(&answers, id, answer).await;
                    }
                    done();
                    send(&answers, id, Answer::End(true)).await;
                });
                Job::Query {
                    statement: query.statement.unwrap_or_default(),
                    limits: StreamLimits {
                        rows_per_message: query.rows_per_message as usize,
                        bytes_per_message: query.bytes_per_message as usize,
                        max_message_bytes: query.max_message_bytes as usize,
                        max_rows: query.max_rows,
                    },
                    sink,
                }
            }
            Work::Kv(write) => {
                let (reply, answer) = oneshot::channel::<Result<KvWritten>>();
                self.runtime.spawn(async move {
                    let answer = match answer.await {
                        Ok(Ok(written)) => Answer::Kv(written.into()),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&lost()),
                    };
                    done();
                    send(&answers, id, answer).await;
                });
                Job::Kv {
                    write: write.into(),
                    reply,
                }
            }
            Work::Maintenance(sql) => {
                let Some(sql) = crate::worker::maintenance::ALL
                    .iter()
                    .find(|known| **known == sql)
                else {
                    done();
                    let err = Error::Internal(format!("unknown maintenance statement {sql:?}"));
                    self.runtime
                        .spawn(async move { send(&answers, id, error_answer(&err)).await });
                    return None;
                };
                let (reply, answer) = oneshot::channel();
                self.runtime.spawn(async move {
                    let answer = match answer.await {
                        Ok(Ok(values)) => Answer::Maintained(Integers { values }),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&lost()),
                    };
                    done();
                    send(&answers, id, answer).await;
                });
                Job::Maintenance { sql, reply }
            }
            Work::Begin(begin) => {
                let (started, started_answer) = oneshot::channel();
                let (ended, ended_answer) = oneshot::channel::<u8>();
                let state = TxState::new(begin.tx_id, Duration::from_millis(begin.lease_ms));
                let (commands, receiver) = sync_channel(TX_COMMANDS);
                self.transactions
                    .lock()
                    .expect("transactions poisoned")
                    .insert(
                        id,
                        LocalTx {
                            commands,
                            state: Arc::clone(&state),
                        },
                    );
                let host = Arc::clone(self);
                self.runtime.spawn(async move {
                    let answer = match started_answer.await {
                        Ok(Ok(())) => Answer::Done(true),
                        Ok(Err(err)) => error_answer(&err),
                        Err(_) => error_answer(&lost()),
                    };
                    send(&answers, id, answer).await;
                    let status = ended_answer.await.unwrap_or(TxStatus::Aborted as u8);
                    host.transactions
                        .lock()
                        .expect("transactions poisoned")
                        .remove(&id);
                    done();
                    send(&answers, id, Answer::TxEnded(u32::from(status))).await;
                });
                let token = self
                    .tokens
                    .lock()
                    .expect("tokens poisoned")
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(CancelToken::none);
                Job::Transaction(TxSession {
                    mode: match begin.mode {
                        1 => TxMode::Immediate,
                        2 => TxMode::Exclusive,
                        _ => TxMode::Deferred,
                    },
                    commands: receiver,
                    started,
                    state: Arc::clone(&state),
                    cancel: token,
                    permits: Box::new(EndSignal(Some(ended), state)),
                })
            }
            Work::Commit(_) | Work::Rollback(_) | Work::Abandon(_) | Work::Cancel(_) => {
                return None;
            }
        };
        Some(job)
    }

    /// Hands `command` to the transaction begun by request `tx`, or refuses it.
    fn to_transaction(&self, tx: u64, command: TxCommand) {
        let transactions = self.transactions.lock().expect("transactions poisoned");
        let Some(local) = transactions.get(&tx) else {
            drop(transactions);
            let err = Error::TransactionEnded {
                message: "the transaction already ended".into(),
                aborted: false,
            };
            match command {
                TxCommand::Run(task) => reply_error(task, err),
                TxCommand::Commit(reply) | TxCommand::Rollback(reply) => {
                    let _ = reply.send(Err(err));
                }
            }
            return;
        };
        match local.commands.try_send(command) {
            Ok(()) => {}
            Err(TrySendError::Full(command) | TrySendError::Disconnected(command)) => {
                transaction::refuse(command, &local.state)
            }
        }
    }
}

/// Dropped when a transaction's session ends: tells its answer task how it ended.
struct EndSignal(Option<oneshot::Sender<u8>>, Arc<TxState>);

impl Drop for EndSignal {
    fn drop(&mut self) {
        if let Some(ended) = self.0.take() {
            let _ = ended.send(self.1.status() as u8);
        }
    }
}

fn lost() -> Error {
    Error::Internal("the worker dropped the request without answering".into())
}
