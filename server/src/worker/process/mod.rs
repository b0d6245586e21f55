//! Workers in child processes (`--workers processes`): the same connection code as a thread
//! worker, run by `sqlited worker` in a process of its own, so a worker that crashes, leaks
//! or runs away takes down only its own requests, and its memory can be capped.
//!
//! The server and the worker speak length-delimited protobuf over a socketpair that is the
//! worker's standard input. The worker exits when that socket closes — also when the server
//! is killed, so no worker outlives it.
//!
//! Layout:
//! - [`wire`]: the messages and their framing.
//! - [`calls`]: a job's call and answer on the wire, mapped once each way.
//! - [`proxy`]: the server's two threads per worker: requests out, answers in.
//! - [`host`]: the worker process's side.
//!
//! A process's failed start and its death count against its kind's restart budget
//! ([`super::budget`]), as a thread worker's do.

mod calls;
pub mod host;
pub mod proxy;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::budget::RestartBudget;
use super::connection::ConnectionSettings;
use super::group_commit::GroupMetrics;
use super::supervision::Pool;
use super::thread::{TaskSource, ThreadOptions};
use super::{Rejected, Role, Task, Worker};
use crate::error::{Error, Result};
use proxy::Shared;
use wire::{Hello, Ready};

/// How long a new worker process may take to open its connection.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing waits for a worker process to finish before killing it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a worker process whose stream ended may take to exit before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How worker processes are started; set from the command line.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The `sqlited` binary to run as `sqlited worker`: `/proc/self/exe`, the running one.
    pub program: PathBuf,
    /// The cap on each worker's data segment, in bytes (0: none).
    pub memory_limit: u64,
    /// The cap on each worker's SQLite heap, in bytes (0: none): `--sqlite-memory-limit`.
    pub heap_limit: u64,
}

/// A worker whose connection lives in a child process.
pub struct ProcessWorker {
    id: u64,
    pid: u32,
    /// The worker's own queue (`None` for a reader on its database's shared queue, and once
    /// dropping: closing it ends the send thread, which closes the socket).
    sender: Option<Sender<Task>>,
    shared: Arc<Shared>,
    /// Ends after the process exited and was reaped.
    receiver: Option<JoinHandle<()>>,
    finished: crossbeam_channel::Receiver<()>,
}

impl ProcessWorker {
    /// Starts the process and waits until its connection is open.
    pub async fn spawn(
        id: u64,
        pool: Pool,
        settings: Arc<ConnectionSettings>,
        options: ThreadOptions,
        source: TaskSource,
        process: Arc<ProcessOptions>,
        budget: Arc<RestartBudget>,
    ) -> Result<Self> {
        tokio::task::spawn_blocking(move || {
            Self::start(id, pool, &settings, options, source, &process, budget)
        })
        .await
        .map_err(|err| Error::Internal(format!("starting a worker process failed: {err}")))?
    }

    fn start(
        id: u64,
        pool: Pool,
        settings: &ConnectionSettings,
        options: ThreadOptions,
        source: TaskSource,
        process: &ProcessOptions,
        budget: Arc<RestartBudget>,
    ) -> Result<Self> {
        let role = pool.role();
        let cannot = |what: &str, err: std::io::Error| {
            Error::Unavailable(format!(
                "cannot start a worker process ({what}: {err}); retry shortly"
            ))
        };
        // Both ends are close-on-exec: the child gets its end as standard input only, so
        // no other worker holds it open and the child sees the end when the server dies.
        let (ours, theirs) = UnixStream::pair().map_err(|err| cannot("socketpair", err))?;
        let mut command = Command::new(&process.program);
        command
            // Shown by ps as `sqlited worker`, whatever the program's path.
            .arg0("sqlited")
            .arg("worker")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Fewer malloc arenas: less address space per thread under a memory cap.
            .env("MALLOC_ARENA_MAX", "2");
        let spawned = command.spawn();
        // Closes our copy of the child's end.
        drop(command);
        let mut child =
            spawned.map_err(|err| cannot(&process.program.display().to_string(), err))?;
        let pid = child.id();
        if let Some(stderr) = child.stderr.take() {
            relay_stderr(id, pid, stderr);
        }
        if let Err(err) = handshake(&ours, id, role, settings, options, process) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
        tracing::info!(worker = id, pid, %role, pool = %pool.label(), path = %settings.path.display(),
            "worker process started");

        let (tasks, feed, sender) = match source {
            TaskSource::Own => {
                let (sender, tasks) = crossbeam_channel::bounded(options.queue_depth.max(1));
                let feed = proxy::Feed::Own(tasks.clone());
                (tasks, feed, Some(sender))
            }
            TaskSource::Shared { tasks, exits } => (tasks, proxy::Feed::Shared(exits), None),
        };
        let groups = (role == Role::Writer).then(|| GroupMetrics::new(&settings.path));
        let (shared, outbound) = Shared::new(id, feed, groups);
        let send_socket = ours.try_clone().map_err(|err| cannot("socket", err))?;
        let send_shared = Arc::clone(&shared);
        let limit = options.queue_depth;
        std::thread::Builder::new()
            .name(format!("sqlited-proxy-{id}"))
            .spawn(move || proxy::send_loop(send_shared, send_socket, tasks, outbound, limit))
            .map_err(|err| cannot("thread", err))?;
        let (finish, finished) = crossbeam_channel::bounded(1);
        let receive_shared = Arc::clone(&shared);
        let started = Instant::now();
        let receiver = std::thread::Builder::new()
            .name(format!("sqlited-answers-{id}"))
            .spawn(move || {
                let broken = !proxy::receive_loop(&receive_shared, ours);
                // The death counts against the budget before anyone sees the worker dead,
                // so whoever starts the next one finds the backoff it calls for.
                reap(
                    id,
                    pid,
                    child,
                    broken,
                    &receive_shared,
                    &budget,
                    started.elapsed(),
                );
                receive_shared.died();
                let _ = finish.send(());
            })
            .map_err(|err| cannot("thread", err))?;
        Ok(Self {
            id,
            pid,
            sender,
            shared,
            receiver: Some(receiver),
            finished,
        })
    }
}

/// Sends [`Hello`] and waits for [`Ready`].
fn handshake(
    socket: &UnixStream,
    id: u64,
    role: Role,
    settings: &ConnectionSettings,
    options: ThreadOptions,
    process: &ProcessOptions,
) -> Result<()> {
    let hello = Hello {
        id,
        role: role.into(),
        path: settings.path.to_string_lossy().into_owned(),
        synchronous: settings.synchronous.into(),
        busy_timeout_ms: settings.busy_timeout.as_millis() as u64,
        statement_cache: settings.statement_cache as u64,
        statement_cache_bytes: settings.statement_cache_bytes as u64,
        cache_kib: settings.cache_kib,
        sandbox: settings.sandbox,
        queue_depth: options.queue_depth as u64,
        max_group: options.max_group as u64,
        max_group_bytes: options.max_group_bytes as u64,
        memory_limit: process.memory_limit,
        max_value_bytes: settings.max_value_bytes as u64,
        heap_limit: process.heap_limit,
        replicated: settings.replicated,
        request_memory_limit: settings.request_memory.reader,
        write_memory_limit: settings.request_memory.writer,
    };
    let failed = |err: std::io::Error| {
        Error::Unavailable(format!(
            "worker process {id} failed to start ({err}); its log lines say why; retry shortly"
        ))
    };
    wire::write_frame(&mut &*socket, &hello).map_err(failed)?;
    socket
        .set_read_timeout(Some(START_TIMEOUT))
        .map_err(failed)?;
    let ready = wire::read_frame::<Ready>(&mut &*socket)
        .map_err(failed)?
        .ok_or_else(|| failed(std::io::ErrorKind::UnexpectedEof.into()))?;
    socket.set_read_timeout(None).map_err(failed)?;
    match ready.error {
        Some(err) => Err(err.into()),
        None => Ok(()),
    }
}

/// Waits for the process, whose stream ended (`broken`: in the middle of a message, so it is
/// killed first), says how it ended, and counts an unexpected end against `budget`.
fn reap(
    id: u64,
    pid: u32,
    mut child: Child,
    broken: bool,
    shared: &Shared,
    budget: &RestartBudget,
    lived: Duration,
) {
    if broken {
        let _ = child.kill();
    }
    // A process whose stream ended is exiting: it gets a moment to, not forever.
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let status = child.wait();
    if shared.closing.load(Ordering::Acquire) && status.as_ref().is_ok_and(|s| s.success()) {
        tracing::debug!(worker = id, pid, "worker process exited");
        return;
    }
    let status = match status {
        Ok(status) => status.to_string(),
        Err(err) => err.to_string(),
    };
    tracing::warn!(worker = id, pid, %status, lived_ms = lived.as_millis() as u64,
        "worker process died; its requests failed and a new one starts");
    budget.died(
        lived,
        &format!(
            "a worker process died ({status}) {} ms after it started",
            lived.as_millis()
        ),
    );
}

/// Passes the worker's standard error to the server's log, one event a line, at the level
/// the worker logged it.
fn relay_stderr(id: u64, pid: u32, stderr: std::process::ChildStderr) {
    let relay = move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let trimmed = line.trim_start();
            let (level, message) = trimmed.split_once(' ').unwrap_or(("", trimmed));
            let message = message.trim_start();
            match level {
                "ERROR" => tracing::error!(worker = id, pid, "{message}"),
                "WARN" => tracing::warn!(worker = id, pid, "{message}"),
                "INFO" => tracing::info!(worker = id, pid, "{message}"),
                "DEBUG" => tracing::debug!(worker = id, pid, "{message}"),
                "TRACE" => tracing::trace!(worker = id, pid, "{message}"),
                // A panic message, or anything else written past tracing.
                _ => tracing::warn!(worker = id, pid, "{trimmed}"),
            }
        }
    };
    if let Err(err) = std::thread::Builder::new()
        .name(format!("sqlited-stderr-{id}"))
        .spawn(relay)
    {
        tracing::warn!(worker = id, error = %err, "cannot relay a worker process's log");
    }
}

impl Worker for ProcessWorker {
    fn id(&self) -> u64 {
        self.id
    }

    #[allow(clippy::result_large_err)]
    fn submit(&self, task: Task) -> std::result::Result<(), (Rejected, Task)> {
        let shared = &self.shared;
        match shared.own_queue() {
            Some(queued) => super::offer(self.sender.as_ref(), queued, || shared.is_alive(), task),
            None => Err((Rejected::Stopped, task)),
        }
    }

    fn is_alive(&self) -> bool {
        self.shared.is_alive()
    }
}

impl Drop for ProcessWorker {
    /// Closes the worker's queue, so the process finishes its work and exits, and waits for
    /// that (killing it past a bound), unless this is the worker's own answer thread.
    fn drop(&mut self) {
        self.sender.take();
        let Some(receiver) = self.receiver.take() else {
            return;
        };
        if receiver.thread().id() == std::thread::current().id() {
            return;
        }
        if self.finished.recv_timeout(CLOSE_TIMEOUT).is_err() {
            tracing::warn!(
                worker = self.id,
                pid = self.pid,
                "worker process did not exit in time; killing it"
            );
            // SAFETY: kill(2) with a pid we started and have not reaped.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = receiver.join();
    }
}
