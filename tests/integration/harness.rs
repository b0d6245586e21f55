//! Starting and stopping a real `sqlited` process for a test.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to start or stop before the test fails.
const BOUND: Duration = Duration::from_secs(60);

/// The `sqlited` binary: cargo's for the server package's own tests; for other packages'
/// tests (run by `cargo test --workspace`), the one cargo built beside them.
pub fn sqlited_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_sqlited") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = target.join("sqlited");
    assert!(
        path.exists(),
        "no sqlited binary at {}: run the whole suite (cargo test --workspace) or `cargo build --bin sqlited` first",
        path.display()
    );
    path
}

/// The hash `sqlited token hash` prints for `token`, for a credentials file.
pub fn token_hash(token: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(sqlited_binary())
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sqlited token hash");
    writeln!(child.stdin.take().expect("stdin"), "{token}").expect("write the token");
    let out = child.wait_with_output().expect("sqlited token hash");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("a hash is text")
        .trim()
        .to_string()
}

/// Where this test target's servers run their workers: the `integration-processes` target
/// runs the whole suite with `--workers processes`, the `integration` target with threads.
pub fn workers_mode() -> &'static str {
    if env!("CARGO_CRATE_NAME").ends_with("processes") {
        "processes"
    } else {
        "threads"
    }
}

/// The single value of a query's single row, e.g. `SELECT count(*) FROM t`.
pub async fn scalar<T: sqlited_client::FromValue>(db: &sqlited_client::Database, sql: &str) -> T {
    db.query_one(sql, ())
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .get(0)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// What a check of [`eventually`] answers: what it awaits has come (with its value), or
/// not yet (with the state it saw, for the failure's message). A `bool`, an `Option`, or a
/// `Result` whose error says what was seen instead.
pub trait Awaited {
    type Value;
    fn came(self) -> Result<Self::Value, String>;
}

impl Awaited for bool {
    type Value = ();
    fn came(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("not yet".into()) }
    }
}

impl<T> Awaited for Option<T> {
    type Value = T;
    fn came(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".into())
    }
}

impl<T, E: std::fmt::Display> Awaited for Result<T, E> {
    type Value = T;
    fn came(self) -> Result<T, String> {
        self.map_err(|seen| seen.to_string())
    }
}

/// The one way a test waits for something the server does in its own time (a log line, a
/// worker replaced, a pool back after its backoff, a replica caught up): runs `check` every
/// 20 ms until what it awaits has come, and gives its value; fails the test past `bound`,
/// naming `what` was awaited and the last state `check` saw. A check that needs no request
/// is `|| std::future::ready(…)`. (Elsewhere a test sleeps only for time that must pass, a
/// lease running out or a trickled request, and says so.)
pub async fn eventually<F, Fut>(
    bound: Duration,
    what: &str,
    mut check: F,
) -> <Fut::Output as Awaited>::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
    Fut::Output: Awaited,
{
    let waiting = Waiting::new(bound, what);
    loop {
        match check().await.came() {
            Ok(value) => return value,
            Err(seen) => waiting.not_yet(&seen),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime (the blocking client, the shell, a child
/// process): the same bound, interval and message, the check called on this thread.
pub fn eventually_blocking<A: Awaited>(
    bound: Duration,
    what: &str,
    mut check: impl FnMut() -> A,
) -> A::Value {
    let waiting = Waiting::new(bound, what);
    loop {
        match check().came() {
            Ok(value) => return value,
            Err(seen) => waiting.not_yet(&seen),
        }
        std::thread::sleep(POLL);
    }
}

/// The bound of one [`eventually`], and the failure past it.
struct Waiting<'a> {
    what: &'a str,
    bound: Duration,
    deadline: Instant,
}

impl<'a> Waiting<'a> {
    fn new(bound: Duration, what: &'a str) -> Self {
        Self {
            what,
            bound,
            deadline: Instant::now() + bound,
        }
    }

    /// Fails the test if the bound has passed; `seen` is the last state the check saw.
    fn not_yet(&self, seen: &str) {
        let Self { what, bound, .. } = self;
        assert!(
            Instant::now() < self.deadline,
            "{what}: not within {bound:?}; last seen: {seen}"
        );
    }
}

/// Reads a raw connection until the server closes it, which must happen within `bound` (a
/// connection an attacker holds open: silent, trickling, idle).
pub async fn closed_within(stream: &mut (impl tokio::io::AsyncRead + Unpin), bound: Duration) {
    let closed = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = tokio::io::AsyncReadExt::read(stream, &mut buf).await
            && n > 0
        {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open past {bound:?}"
    );
}

/// The ids of `acked` (writes the server acknowledged) that the table `acked` lacks: the
/// acknowledged writes a crash lost. At most the first ten, for the assertion's message.
pub async fn lost_acked<'a>(
    db: &sqlited_client::Database,
    acked: impl IntoIterator<Item = &'a i64>,
) -> Vec<i64> {
    let present: std::collections::HashSet<i64> = db
        .query_all("SELECT id FROM acked", ())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0).unwrap())
        .collect();
    acked
        .into_iter()
        .filter(|id| !present.contains(id))
        .take(10)
        .copied()
        .collect()
}

/// Writers inserting into table `acked` (created if missing) until a write fails, as a
/// durability test kills the server under them: what they had acknowledged, and when. The
/// ids of round `round` are distinct from every other round's.
pub struct AckedWriters {
    acked: std::sync::Arc<std::sync::Mutex<Vec<(i64, Instant)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl AckedWriters {
    pub async fn start(db: &sqlited_client::Database, writers: i64, round: i64) -> Self {
        db.execute(
            "CREATE TABLE IF NOT EXISTS acked (id INTEGER PRIMARY KEY, writer INTEGER)",
            (),
        )
        .await
        .unwrap();
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = (0..writers)
            .map(|writer| {
                let db = db.clone();
                let acked = std::sync::Arc::clone(&acked);
                tokio::spawn(async move {
                    for i in 0.. {
                        let id = round * 10_000_000 + writer * 100_000 + i;
                        let sql = "INSERT INTO acked VALUES (?, ?)";
                        match db.execute(sql, sqlited_client::params![id, writer]).await {
                            Ok(_) => acked.lock().unwrap().push((id, Instant::now())),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Self { acked, tasks }
    }

    /// Waits until `acks` writes are acknowledged, failing after `bound`.
    pub async fn wait_for(&self, acks: usize, bound: Duration) {
        let what = format!("{acks} writes acknowledged");
        eventually(bound, &what, || {
            let acked = self.acked.lock().unwrap().len();
            std::future::ready(match acked >= acks {
                true => Ok(()),
                false => Err(format!("{acked} so far")),
            })
        })
        .await
    }

    /// Waits (bounded) for every writer to stop, its server gone; what they acknowledged.
    pub async fn join(self) -> Vec<(i64, Instant)> {
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .unwrap()
                .unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

/// A running `sqlited`, killed when dropped.
pub struct Server {
    child: Child,
    /// What it announced: `127.0.0.1:PORT`, or `unix:PATH`.
    pub listening: String,
    pub data_dir: PathBuf,
    _temp: Option<TempDir>,
    /// The server's later stdout lines.
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// A server on a fresh temporary data directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server on a fresh temporary data directory with extra flags.
    pub fn start_with(args: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), args);
        server._temp = Some(temp);
        server
    }

    /// A server on `data_dir` (kept after the server stops), with extra flags.
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Self {
        Self::start_in_env(data_dir, args, &[])
    }

    /// A server on `data_dir` with extra flags and environment variables (`None` removes
    /// one from the server's environment).
    pub fn start_in_env(data_dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Self {
        Self::start_listening_env(data_dir, "127.0.0.1:0", args, env)
    }

    /// A server on `data_dir` listening on `listen` (`HOST:PORT` or `unix:PATH`).
    pub fn start_listening(data_dir: &Path, listen: &str, args: &[&str]) -> Self {
        Self::start_listening_env(data_dir, listen, args, &[])
    }

    /// A server on `data_dir` listening on `listen`, with extra flags and environment
    /// variables (`None` removes one from the server's environment).
    pub fn start_listening_env(
        data_dir: &Path,
        listen: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> Self {
        let log = File::options()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("server log");
        let mut command = Command::new(sqlited_binary());
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env("SQLITED_WORKERS", workers_mode())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start sqlited");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + BOUND;
        let listening = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => match line.strip_prefix("sqlited listening on ") {
                    Some(addr) => break Ok(addr.trim().to_string()),
                    None => continue,
                },
                Err(err) => break Err(err),
            }
        };
        let listening = match listening {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "sqlited did not report its address within {BOUND:?}; log:\n{}",
                    std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
                );
            }
        };
        Self {
            child,
            listening,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            lines: rx,
        }
    }

    /// The metrics address the server printed (started with `--metrics-listen`).
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        let deadline = Instant::now() + BOUND;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the server printed no metrics address");
            if let Some(addr) = line.strip_prefix("sqlited metrics on ") {
                return addr.trim().parse().expect("metrics address");
            }
        }
    }

    /// The HTTP gateway's address the server printed (started with `--http-listen`; read
    /// it after [`Server::metrics_addr`] when a test needs both, as the server prints them
    /// in that order).
    pub fn http_addr(&self) -> std::net::SocketAddr {
        let deadline = Instant::now() + BOUND;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the server printed no HTTP address");
            if let Some(addr) = line.strip_prefix("sqlited http on ") {
                return addr.trim().parse().expect("HTTP address");
            }
        }
    }

    /// The TCP address it listens on.
    ///
    /// # Panics
    /// For a server on a Unix socket.
    pub fn addr(&self) -> SocketAddr {
        self.listening
            .parse()
            .unwrap_or_else(|_| panic!("{} is not a TCP address", self.listening))
    }

    /// `http://127.0.0.1:PORT`, or `unix:PATH`.
    pub fn url(&self) -> String {
        if self.listening.starts_with("unix:") {
            self.listening.clone()
        } else {
            format!("http://{}", self.listening)
        }
    }

    /// `http://127.0.0.1:PORT/<database>` (or `unix:PATH?database=<database>`), for the
    /// blocking client; the database exists.
    pub fn db_url(&self, database: &str) -> String {
        self.ensure_database(database);
        if self.listening.starts_with("unix:") {
            format!("{}?database={database}", self.listening)
        } else {
            format!("http://{}/{database}", self.listening)
        }
    }

    /// The async client's handle on `database`, which exists (reads create nothing).
    pub async fn database(&self, database: &str) -> sqlited_client::Database {
        self.ensure_database(database);
        sqlited_client::Client::connect(&self.url())
            .await
            .expect("connect")
            .database(database)
    }

    /// Creates `database` unless it exists (Admin.CreateDatabase), so a test may begin with
    /// a read. Best effort: a server with credentials refuses it, and such tests make their
    /// databases with their own tokens. On a thread of its own, so it works from sync and
    /// async tests alike.
    pub fn ensure_database(&self, database: &str) {
        let url = self.url();
        let database = database.to_string();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(client) = sqlited_client::Client::connect(&url).await {
                    let _ = client.admin().create_database(&database, true).await;
                }
            });
        })
        .join()
        .expect("creating the test database");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the server process.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        eventually_blocking(BOUND, "sqlited to exit", || {
            child.try_wait().expect("wait").ok_or("still running")
        })
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// For [`eventually`]: whether the server's log so far satisfies `holds` (a line it
    /// awaits); if not, the log, for the failure's message.
    pub fn logged(&self, holds: impl FnOnce(&str) -> bool) -> Result<(), String> {
        let log = self.log();
        match holds(&log) {
            true => Ok(()),
            false => Err(format!("the log:\n{log}")),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sqlited restore` of `input` into `database` of `data_dir` (`--force` if `force`).
pub fn restore(data_dir: &Path, database: &str, input: &[u8], force: bool) -> std::process::Output {
    use std::io::Write;
    let mut command = Command::new(sqlited_binary());
    command
        .args(["restore", "--data-dir"])
        .arg(data_dir)
        .args(["--database", database]);
    if force {
        command.arg("--force");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sqlited restore");
    // A refused restore may exit before reading its input.
    let _ = child.stdin.take().expect("stdin").write_all(input);
    child.wait_with_output().expect("wait for sqlited restore")
}
