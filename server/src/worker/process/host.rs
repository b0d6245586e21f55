//! The worker process's side (`sqlited worker`, started by the server, never by hand): it
//! reads [`Hello`] from its socket (standard input), caps its memory, opens its connection
//! in a thread worker — the very code a threads-mode server runs — and then turns each
//! [`ToWorker`] into a task for that worker. Each task answers through functions
//! ([`Reply::Call`], [`RowSink::Call`]) that write its [`FromWorker`] messages to the socket
//! from the worker's own thread: a request costs the process one thread hop, in.
//!
//! It exits when the server closes the socket: after finishing what it holds when the server
//! is closing it, at once (cancelling its statements) when the server died.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;

use super::wire::{self, Answer, FromWorker, Hello, Ready, ToWorker, WireError, Work};
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;
use crate::worker::connection::ConnectionSettings;
use crate::worker::group_commit::{GroupReport, WriterReport};
use crate::worker::reply::{CallSink, Reply, RowSink};
use crate::worker::thread::{TaskSource, ThreadOptions, ThreadWorker};
use crate::worker::transaction::{self, TxCommand, TxSession, TxState};
use crate::worker::{Job, Task, Worker, reply_error};

/// Commands that may wait in one transaction (the server's registry bounds them already).
const TX_COMMANDS: usize = 64;

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
    if hello.heap_limit > 0 {
        crate::memory::limit_sqlite_heap(hello.heap_limit);
    }
    serve(hello, socket, parent)
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

fn serve(hello: Hello, socket: UnixStream, parent: u32) -> u8 {
    let role = hello.role();
    let settings = Arc::new(ConnectionSettings {
        path: hello.path.clone().into(),
        synchronous: hello.synchronous(),
        busy_timeout: Duration::from_millis(hello.busy_timeout_ms),
        statement_cache: hello.statement_cache as usize,
        statement_cache_bytes: hello.statement_cache_bytes as usize,
        cache_kib: hello.cache_kib,
        sandbox: hello.sandbox,
        max_value_bytes: hello.max_value_bytes as usize,
        replicated: hello.replicated,
        request_memory: crate::memory::MemoryBudgets {
            reader: hello.request_memory_limit,
            writer: hello.write_memory_limit,
        },
    });
    let options = ThreadOptions {
        queue_depth: (hello.queue_depth as usize).max(1),
        max_group: (hello.max_group as usize).max(1),
        max_group_bytes: hello.max_group_bytes as usize,
    };
    let Ok(out_socket) = socket.try_clone() else {
        return 1;
    };
    let out = Arc::new(Out(Mutex::new(BufWriter::new(out_socket))));
    let groups = Arc::clone(&out);
    let report = GroupReport::To(Arc::new(move |report| {
        groups.send(
            0,
            match report {
                WriterReport::Group(size) => Answer::Group(size as u64),
                WriterReport::WalFrames(frames) => Answer::WalFrames(frames),
            },
        );
    }));
    // Opening waits on a oneshot: a small runtime for that alone.
    let opened = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|err| Error::Internal(format!("cannot start a runtime: {err}")))
        .and_then(|runtime| {
            runtime.block_on(ThreadWorker::spawn_reporting(
                hello.id,
                role,
                settings,
                options,
                TaskSource::Own,
                report,
                None,
            ))
        });
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

    let host = Host {
        worker,
        out,
        tokens: Arc::default(),
        transactions: Arc::default(),
    };
    let mut input = BufReader::new(socket);
    while let Ok(Some(message)) = wire::read_frame::<ToWorker>(&mut input) {
        host.handle(message);
    }
    if std::os::unix::process::parent_id() != parent {
        // The server died: nobody waits for these answers.
        for token in host.tokens.lock().expect("tokens poisoned").values() {
            token.cancel();
        }
    }
    // Ends the transactions (they roll back), then the worker's loop, which finishes its
    // queue and closes the connection.
    let Host {
        worker,
        transactions,
        ..
    } = host;
    transactions.lock().expect("transactions poisoned").clear();
    drop(worker);
    0
}

/// The socket's sending side, shared by whoever answers.
struct Out(Mutex<BufWriter<UnixStream>>);

impl Out {
    /// Writes the answer of request `id`; false once the server is gone.
    fn send(&self, id: u64, answer: Answer) -> bool {
        let message = FromWorker {
            id,
            answer: Some(answer),
        };
        let bytes = message.encode_length_delimited_to_vec();
        let mut out = self.0.lock().expect("socket poisoned");
        out.write_all(&bytes).and_then(|()| out.flush()).is_ok()
    }
}

/// A transaction open in this worker.
struct LocalTx {
    commands: crossbeam_channel::Sender<TxCommand>,
    state: Arc<TxState>,
}

type Tokens = Arc<Mutex<HashMap<u64, Arc<CancelToken>>>>;

struct Host {
    worker: ThreadWorker,
    out: Arc<Out>,
    /// The tokens of running requests, by request number, for `Cancel`.
    tokens: Tokens,
    /// Open transactions, by the number of their `Begin`.
    transactions: Arc<Mutex<HashMap<u64, LocalTx>>>,
}

fn error_answer(err: &Error) -> Answer {
    Answer::Error(WireError::from(err))
}

impl Host {
    /// A reply that writes the answer of request `id` (made by `answer` from a success) and
    /// forgets its token.
    fn reply<T: 'static>(
        &self,
        id: u64,
        answer: impl FnOnce(T) -> Answer + Send + 'static,
    ) -> Reply<T> {
        let out = Arc::clone(&self.out);
        let tokens = Arc::clone(&self.tokens);
        Reply::Call(Box::new(move |result: Result<T>| {
            tokens.lock().expect("tokens poisoned").remove(&id);
            let answer = match result {
                Ok(value) => answer(value),
                Err(err) => error_answer(&err),
            };
            out.send(id, answer);
        }))
    }

    fn handle(&self, message: ToWorker) {
        let ToWorker {
            id,
            tx,
            deadline_ms,
            timeout_ms,
            access,
            request_id,
            may_attach,
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
            Work::Commit(_) => {
                let reply = self.reply(id, |()| Answer::Done(true));
                self.to_transaction(tx, TxCommand::Commit(reply));
                return;
            }
            Work::Rollback(_) => {
                let reply = self.reply(id, |()| Answer::Done(true));
                self.to_transaction(tx, TxCommand::Rollback(reply));
                return;
            }
            other => other,
        };
        let ms = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        let cancel = CancelToken::resumed(ms(deadline_ms), ms(timeout_ms));
        cancel.set_access(Access::from_u8(access as u8));
        cancel.set_may_attach(may_attach);
        if !request_id.is_empty() {
            cancel.set_request_id(&request_id);
        }
        self.tokens
            .lock()
            .expect("tokens poisoned")
            .insert(id, Arc::clone(&cancel));
        let job = match self.job(id, work, &cancel) {
            Ok(job) => job,
            Err(err) => {
                self.tokens.lock().expect("tokens poisoned").remove(&id);
                self.out.send(id, error_answer(&err));
                return;
            }
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

    /// The job for `work`, answering through the socket.
    fn job(&self, id: u64, work: Work, cancel: &Arc<CancelToken>) -> Result<Job> {
        Ok(match work {
            Work::Call(call) => Job::Call {
                call: call.try_into()?,
                reply: self.reply(id, |answer: crate::worker::Answer| {
                    Answer::Answered(answer.into())
                }),
            },
            Work::Query(query) => {
                let (query, limits) = query.into_query()?;
                let out = Arc::clone(&self.out);
                let end = Arc::clone(&self.out);
                let tokens = Arc::clone(&self.tokens);
                let sink = CallSink::new(
                    move |item| out.send(id, Answer::from(item)),
                    move || {
                        tokens.lock().expect("tokens poisoned").remove(&id);
                        end.send(id, Answer::End(true));
                    },
                );
                Job::Query {
                    query,
                    limits,
                    sink: RowSink::Call(sink),
                }
            }
            Work::Begin(begin) => {
                let mode = begin.mode();
                let state = TxState::new(begin.tx_id, Duration::from_millis(begin.lease_ms));
                let (commands, receiver) = crossbeam_channel::bounded(TX_COMMANDS);
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
                // BEGIN's answer leaves the request open; the end closes it. Both are sent
                // by the worker's thread, in that order.
                let out = Arc::clone(&self.out);
                let started = Reply::Call(Box::new(move |result: Result<()>| {
                    let answer = match result {
                        Ok(()) => Answer::Done(true),
                        Err(err) => error_answer(&err),
                    };
                    out.send(id, answer);
                }));
                let ended = EndSignal {
                    id,
                    state: Arc::clone(&state),
                    out: Arc::clone(&self.out),
                    tokens: Arc::clone(&self.tokens),
                    transactions: Arc::clone(&self.transactions),
                };
                Job::Transaction(TxSession {
                    mode,
                    commands: receiver,
                    started,
                    state,
                    cancel: Arc::clone(cancel),
                    permits: Box::new(ended),
                })
            }
            Work::Commit(_) | Work::Rollback(_) | Work::Abandon(_) | Work::Cancel(_) => {
                return Err(Error::Internal("not a task".into()));
            }
        })
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
            Err(
                crossbeam_channel::TrySendError::Full(command)
                | crossbeam_channel::TrySendError::Disconnected(command),
            ) => transaction::refuse(command, &local.state),
        }
    }
}

/// Dropped when a transaction's session ends: tells the server how it ended.
struct EndSignal {
    id: u64,
    state: Arc<TxState>,
    out: Arc<Out>,
    tokens: Tokens,
    transactions: Arc<Mutex<HashMap<u64, LocalTx>>>,
}

impl Drop for EndSignal {
    fn drop(&mut self) {
        self.transactions
            .lock()
            .expect("transactions poisoned")
            .remove(&self.id);
        self.tokens
            .lock()
            .expect("tokens poisoned")
            .remove(&self.id);
        // As it stands; the server reads a session that never reached an end as aborted.
        let status = self.state.status();
        self.out.send(self.id, Answer::TxEnded(status.into()));
    }
}
