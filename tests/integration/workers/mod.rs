//! Worker processes (`--workers processes`) die alone: a killed reader fails only its query,
//! a killed writer loses no acknowledged write, and no worker outlives a killed server.
//! (Only in the `integration-processes` target: these servers run worker processes
//! whatever the target.)
//!
//! - [`recovery`]: what waits for workers that die or cannot start is answered at once, and
//!   each kind of worker comes back by itself.
//! - [`restore`]: a copy restored from the replica is opened only by a worker process.

mod recovery;
mod restore;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlited_client::params;
use tonic::Code;

use crate::harness::{Server, eventually, lost_acked, scalar};

const BOUND: Duration = Duration::from_secs(30);

/// The live worker processes of `role`, by the server's log.
fn live(server: &Server, role: &str) -> Vec<u32> {
    worker_processes(server)
        .into_iter()
        .filter(|(pid, r)| r == role && process_alive(*pid))
        .map(|(pid, _)| pid)
        .collect()
}

/// The live worker processes of one kind (`writer`, `reader` for the shared readers,
/// `transaction-reader`), by the server's log, oldest first.
fn live_of(server: &Server, pool: &str) -> Vec<u32> {
    plain(&server.log())
        .lines()
        .filter(|line| line.contains("worker process started"))
        .filter(|line| log_field(line, "pool").as_deref() == Some(pool))
        .filter_map(|line| log_field(line, "pid")?.parse().ok())
        .filter(|pid| process_alive(*pid))
        .collect()
}

/// The value of `name=` in a log line.
fn log_field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let value = &line[start..];
    Some(value[..value.find(' ').unwrap_or(value.len())].to_string())
}

fn kill(pid: u32) {
    // SAFETY: kill(2) on a worker process of the test's server.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_reader_fails_only_its_query_and_is_replaced() {
    let server = Server::start_with(&["--workers", "processes", "--readers", "1"]);
    let db = server.database("readers").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let readers = live(&server, "reader");
    assert_eq!(readers.len(), 1, "{:?}", worker_processes(&server));
    let reader = readers[0];

    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                   SELECT count(*) FROM c";
    let long = {
        let db = db.clone();
        tokio::spawn(async move { db.query_all(endless, ()).await })
    };
    // Kill it once it is busy with the query.
    let before = cpu_ticks(reader);
    eventually(BOUND, "the reader runs the query", || {
        std::future::ready(cpu_ticks(reader) >= before + 10)
    })
    .await;
    kill(reader);

    let err = tokio::time::timeout(BOUND, long)
        .await
        .expect("the query's answer")
        .unwrap()
        .expect_err("its worker died");
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(err.message().contains("died"), "{err}");

    // The next query on the database succeeds, on a new reader.
    let one: i64 = scalar(&db, "SELECT x FROM t").await;
    assert_eq!(one, 1);
    eventually(BOUND, "a new reader replaces the dead one", || {
        let readers = live(&server, "reader");
        std::future::ready(readers.len() == 1 && readers[0] != reader)
    })
    .await;
    assert!(!process_alive(reader));
    assert!(server.log().contains("worker process died"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_loses_no_acknowledged_write_and_writes_resume() {
    const WRITERS: i64 = 32;
    const WRITES: i64 = 150;
    let server = Server::start_with(&["--workers", "processes"]);
    let db = server.database("writes").await;
    db.execute("CREATE TABLE acked (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap();
    let writer = live(&server, "writer");
    assert_eq!(writer.len(), 1);
    let writer = writer[0];

    let acked = Arc::new(Mutex::new(Vec::new()));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked_after_kill = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        let acked = Arc::clone(&acked);
        let killed = Arc::clone(&killed);
        let after = Arc::clone(&acked_after_kill);
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..WRITES {
                let id = w * 100_000 + i;
                match db
                    .execute("INSERT INTO acked VALUES (?)", params![id])
                    .await
                {
                    Ok(_) => {
                        acked.lock().unwrap().push(id);
                        if killed.load(std::sync::atomic::Ordering::Acquire) {
                            after.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Err(err) => failures.push(err),
                }
            }
            failures
        }));
    }
    eventually(BOUND, "writes are acknowledged", || {
        std::future::ready(acked.lock().unwrap().len() >= 500)
    })
    .await;
    killed.store(true, std::sync::atomic::Ordering::Release);
    kill(writer);

    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(tokio::time::timeout(BOUND, task).await.unwrap().unwrap());
    }
    for err in &failures {
        assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    }
    assert!(
        acked_after_kill.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "writes resumed on a new writer"
    );
    let acked = acked.lock().unwrap().clone();
    let lost = lost_acked(&db, &acked).await;
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let new_writer = live(&server, "writer");
    assert_eq!(new_writer.len(), 1);
    assert_ne!(new_writer[0], writer);
    let check: String = scalar(&db, "PRAGMA integrity_check").await;
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_worker_dies_is_aborted() {
    let server = Server::start_with(&["--workers", "processes"]);
    let db = server.database("tx").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    kill(live(&server, "writer")[0]);
    let err = tx
        .commit()
        .await
        .expect_err("the transaction died with its worker");
    assert_eq!(err.status_code(), Some(Code::Aborted), "{err}");
    assert!(err.message().contains("lost"), "{err}");
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 0, "nothing of the lost transaction was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_outlives_a_killed_server() {
    let mut server = Server::start_with(&["--workers", "processes", "--readers", "2"]);
    let db = server.database("orphans").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let _: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    let workers: Vec<u32> = worker_processes(&server)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(workers.len(), 3, "a writer and two readers");
    assert!(workers.iter().all(|pid| process_alive(*pid)));
    server.kill9();
    eventually(BOUND, "every worker exits with its server", || {
        std::future::ready(workers.iter().all(|pid| !process_alive(*pid)))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hungry_query_fails_under_the_cap_and_the_worker_goes_on() {
    // No budget per request: the worker's own cap is what stops it.
    let server = Server::start_with(&[
        "--workers",
        "processes",
        "--worker-memory-limit",
        "96MiB",
        "--request-memory-limit",
        "0",
    ]);
    let db = server.database("hungry").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    // About 300 MB of one string: past the cap.
    let hungry = "SELECT length(group_concat(b)) FROM (WITH RECURSIVE c(x) AS \
                  (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000) \
                  SELECT randomblob(1000) AS b FROM c)";
    let err = db.query_all(hungry, ()).await.expect_err("over the cap");
    assert!(
        matches!(
            err.status_code(),
            Some(Code::ResourceExhausted | Code::Unavailable | Code::Internal)
        ),
        "{err}"
    );
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 0);
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    // The workers log through the server, tagged with their pid.
    assert!(
        plain(&server.log())
            .lines()
            .any(|line| line.contains("worker process ready") && line.contains("pid=")),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_start_is_not_restarted_in_a_loop() {
    // 1 MiB cannot hold a worker: every start fails.
    let server = Server::start_with(&["--workers", "processes", "--worker-memory-limit", "1MiB"]);
    let db = server.database("starved").await;
    let mut messages = Vec::new();
    for _ in 0..3 {
        let err = db
            .execute("CREATE TABLE t (x)", ())
            .await
            .expect_err("no worker can start");
        assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
        assert!(err.is_retryable(), "{err}");
        messages.push(err.message().to_string());
    }
    // The first two starts fail for real; the third comes within the backoff and is refused
    // without starting a process.
    assert!(
        messages[2].contains("times in a row") && messages[2].contains("--worker-memory-limit"),
        "{messages:?}"
    );
    assert!(worker_processes(&server).is_empty());
}

/// The worker processes the server started so far (by its log), as (pid, role), oldest
/// first.
fn worker_processes(server: &Server) -> Vec<(u32, String)> {
    plain(&server.log())
        .lines()
        .filter(|line| line.contains("worker process started"))
        .filter_map(|line| {
            let pid = log_field(line, "pid")?.parse().ok()?;
            Some((pid, log_field(line, "role")?))
        })
        .collect()
}

/// `text` without its terminal colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ … m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether process `pid` still runs (a zombie does not).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// CPU time process `pid` has used, in clock ticks (0 once it is gone).
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    // After the name: state, then fields 4.. of proc(5); utime and stime are 14 and 15.
    let fields: Vec<&str> = rest.split(' ').collect();
    let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Samples, on a thread of its own, the database files one process holds open
/// ([`open_database_files`]), from its start to [`Sampler::assert_none_seen`].
struct Sampler {
    seen: Arc<Mutex<std::collections::BTreeSet<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Sampler {
    /// Starts sampling the files of `dir` that the server process `pid` holds.
    fn start(pid: u32, dir: &std::path::Path) -> Self {
        let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (seen, stop, dir) = (Arc::clone(&seen), Arc::clone(&stop), dir.to_path_buf());
            std::thread::spawn(move || {
                let mut samples = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.lock().unwrap().extend(open_database_files(pid, &dir));
                    samples += 1;
                }
                samples
            })
        };
        Self { seen, stop, thread }
    }

    /// Stops sampling; fails if the process held any such file at any sample (or the
    /// sampler hardly ran).
    fn assert_none_seen(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = self.thread.join().unwrap();
        assert!(samples > 10, "the sampler ran {samples} times");
        let seen = self.seen.lock().unwrap();
        assert!(
            seen.is_empty(),
            "the server process opened {seen:?} itself (with --workers processes only the \
             workers may)"
        );
    }
}

/// The database files (`NAME.db`, `-wal`, `-shm`) of `dir` that process `pid` holds open,
/// and the copies restores make (`.restore-NAME-PID.db`).
fn open_database_files(pid: u32, dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.parent() == Some(dir))
        .filter_map(|target| Some(target.file_name()?.to_str()?.to_string()))
        .filter(|name| {
            (!name.starts_with('.') || name.starts_with(".restore-"))
                && (name.ends_with(".db") || name.ends_with(".db-wal") || name.ends_with(".db-shm"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_process_opens_no_database_file_itself() {
    // Backups and the statements file's checks run in the workers too: sampled all through
    // a start with statements, writes, reads, a backup and a reload, the server process
    // itself never holds a database file (its workers do). With thread workers the same
    // sampling sees app.db at once.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    let setup = rusqlite::Connection::open(data.join("app.db")).unwrap();
    setup
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO t SELECT randomblob(500) FROM n;",
        )
        .unwrap();
    drop(setup);
    let statements = data.join("statements.toml");
    std::fs::write(
        &statements,
        "[databases.app.statements.count]\nsql = \"SELECT count(*) FROM t\"\n",
    )
    .unwrap();
    let server = Server::start_in(
        &data,
        &[
            "--workers",
            "processes",
            "--statements",
            statements.to_str().unwrap(),
        ],
    );
    let sampler = Sampler::start(server.pid(), &data);
    let db = server.database("app").await;
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 20_001);
    let client = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap();
    let mut backup = Vec::new();
    let bytes = client.admin().backup("app", &mut backup).await.unwrap();
    assert!(bytes > 10_000_000, "{bytes}");
    server.signal(libc::SIGHUP);
    eventually(BOUND, "the statements reloaded", || {
        std::future::ready(server.log().contains("statements reloaded"))
    })
    .await;
    sampler.assert_none_seen();
    // And the workers do hold them: the check can see an open database file.
    let worker = worker_processes(&server)[0].0;
    assert!(!open_database_files(worker, &data).is_empty());
}
