//! Workers that die or cannot start, with kill -9 and a database file briefly replaced by a
//! link: whatever waits for a kind of worker (the shared readers, the writer, the
//! transaction readers) is answered well before its deadline — UNAVAILABLE with a retry
//! delay while no worker of that kind can serve — and the kind comes back by itself once the
//! cause is gone. (Thread workers are tested the same way by the server's unit tests,
//! `worker/supervision_tests.rs`, and for a refused start in both kinds by
//! `hostile::resources`.)

use std::path::Path;
use std::time::{Duration, Instant};

use sqlited_client::{ClientOptions, Database, TransactionOptions, params};
use tokio::task::JoinHandle;
use tonic::Code;

use super::{cpu_ticks, kill, live_of};
use crate::harness::{Server, eventually, scalar};

/// The deadline of every request of these tests.
const DEADLINE: Duration = Duration::from_secs(30);
/// What "at once" means here: far below [`DEADLINE`].
const PROMPT: Duration = Duration::from_secs(5);
/// How long a kind of worker may take to come back once its cause is gone (its backoff
/// included).
const RECOVERY: Duration = Duration::from_secs(45);

/// Counts without end: keeps a worker busy until it is killed.
const ENDLESS: &str = "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                       SELECT x + 1 FROM c) SELECT x FROM c)";

/// A handle on `name` whose every request has a [`DEADLINE`].
async fn with_deadline(server: &Server, name: &str) -> Database {
    server.ensure_database(name);
    let options = ClientOptions {
        request_timeout: Some(DEADLINE),
        ..ClientOptions::default()
    };
    sqlited_client::Client::connect_with(&server.url(), options)
        .await
        .unwrap()
        .database(name)
}

type Pending = JoinHandle<Result<(), sqlited_client::Error>>;

fn read(db: &Database, sql: &'static str) -> Pending {
    let db = db.clone();
    tokio::spawn(async move { db.query_all(sql, ()).await.map(drop) })
}

fn write(db: &Database, x: i64) -> Pending {
    let db = db.clone();
    tokio::spawn(async move {
        db.execute("INSERT INTO t VALUES (?)", params![x])
            .await
            .map(drop)
    })
}

/// Its answer, which must come within [`PROMPT`].
async fn answer(pending: Pending, what: &str) -> Result<(), sqlited_client::Error> {
    tokio::time::timeout(PROMPT, pending)
        .await
        .unwrap_or_else(|_| {
            panic!("{what}: no answer within {PROMPT:?} (its deadline is {DEADLINE:?})")
        })
        .unwrap()
}

/// Starts `sql` on `db` and waits until worker `pid` runs it.
async fn busy(pid: u32, start: impl FnOnce() -> Pending) -> Pending {
    let before = cpu_ticks(pid);
    let pending = start();
    eventually(PROMPT, "the worker runs the endless statement", || {
        std::future::ready(cpu_ticks(pid) >= before + 10)
    })
    .await;
    pending
}

/// Queues requests made by `request` behind a busy worker until the queue is full (one is
/// refused RESOURCE_EXHAUSTED); the ones waiting. A request that is still unanswered after
/// a moment waits in the queue: nothing is served while the worker is busy.
async fn fill_queue(mut request: impl FnMut(i64) -> Pending) -> Vec<Pending> {
    let mut waiting = Vec::new();
    for i in 0..64 {
        let mut pending = request(i);
        match tokio::time::timeout(Duration::from_millis(200), &mut pending).await {
            Err(_) => waiting.push(pending),
            Ok(answer) => {
                let err = answer
                    .unwrap()
                    .expect_err("nothing is served while the worker is busy");
                assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
                assert!(!waiting.is_empty(), "the queue holds nothing");
                return waiting;
            }
        }
    }
    panic!("the queue never filled");
}

/// Whether `result` is the refusal of a full queue: a request [`fill_queue`] took for
/// waiting that was only slow to be refused.
fn refused_as_full(result: &Result<(), sqlited_client::Error>) -> bool {
    matches!(result, Err(err) if err.status_code() == Some(Code::ResourceExhausted))
}

/// Asserts `err` is the UNAVAILABLE of a kind of worker that cannot start now, with the
/// backoff's wait left as its RetryInfo delay (the message says it too, in ms).
fn assert_backoff(err: &sqlited_client::Error) {
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    let message = err.message();
    assert!(message.contains("times in a row"), "{err}");
    let said: u64 = message
        .split("the next start is in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {err}"));
    let hint = err.retry_after().expect("a retry delay").as_millis() as u64;
    assert!(
        hint + 1 >= said.max(50) && hint <= said.max(50) + 1,
        "retry delay {hint} ms for a wait of {said} ms: {err}"
    );
}

/// Kills the live workers of `pool` and waits until they are gone.
async fn kill_all(server: &Server, pool: &str) -> Vec<u32> {
    let pids = live_of(server, pool);
    assert!(!pids.is_empty(), "no live {pool}");
    for pid in &pids {
        kill(*pid);
    }
    eventually(PROMPT, "the killed workers end", || {
        let live = live_of(server, pool);
        std::future::ready(pids.iter().all(|pid| !live.contains(pid)))
    })
    .await;
    pids
}

/// Waits until one worker of `pool` runs; its pid.
async fn one_live(server: &Server, pool: &str) -> u32 {
    eventually(RECOVERY, &format!("a {pool} runs"), || {
        std::future::ready(live_of(server, pool).len() == 1)
    })
    .await;
    live_of(server, pool)[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_waiting_for_killed_readers_are_answered_at_once_and_the_readers_come_back() {
    let server = Server::start_with(&[
        "--workers",
        "processes",
        "--readers",
        "1",
        "--read-queue-depth",
        "4",
    ]);
    let db = with_deadline(&server, "queued").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    // Three kills in a row: the first reader is replaced at once, so what waited is served;
    // the next two fall in the restart backoff, so what waited is refused at once.
    for round in 0..3 {
        let reader = one_live(&server, "reader").await;
        let endless = busy(reader, || read(&db, ENDLESS)).await;
        let waiting = fill_queue(|_| read(&db, "SELECT x FROM t")).await;
        kill(reader);
        let err = answer(endless, "the killed query")
            .await
            .expect_err("its reader died");
        assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
        for pending in waiting {
            let answered = answer(pending, &format!("round {round}: a waiting read")).await;
            if refused_as_full(&answered) {
                continue;
            }
            match (round, answered) {
                (0, Ok(())) => {}
                (0, Err(err)) => assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}"),
                (_, Ok(())) => panic!("round {round}: served during the backoff"),
                (_, Err(err)) => assert_backoff(&err),
            }
        }
    }
    eventually(RECOVERY, "the readers come back by themselves", || async {
        db.query_all("SELECT x FROM t", ()).await.is_ok()
    })
    .await;
    // While the readers were down, writes went on: only reads wait for readers.
    db.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 2);
}

/// Replaces `NAME.db` of `dir` by a symbolic link to it, so no connection can open it (the
/// open ones keep their file); [`restore`] undoes it.
fn swap_for_link(dir: &Path, name: &str) {
    let path = dir.join(format!("{name}.db"));
    let moved = dir.join(format!("{name}.moved"));
    std::fs::rename(&path, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &path).unwrap();
}

fn restore(dir: &Path, name: &str) {
    let path = dir.join(format!("{name}.db"));
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(dir.join(format!("{name}.moved")), &path).unwrap();
}

/// Asserts `attempt`'s answers, each within [`PROMPT`], are UNAVAILABLE with a retry delay
/// and name the link as the reason — `times` in a row once the first does (a request that
/// reached the worker as it died may first fail as its own).
async fn refused_for_the_link<F, Fut>(what: &str, times: usize, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlited_client::Error>>,
{
    let refused = std::cell::Cell::new(0);
    let awaited = format!("{what} refused for the link {times} times");
    eventually(PROMPT, &awaited, || {
        let (attempt, refused) = (attempt(), &refused);
        async move {
            let started = Instant::now();
            let err = attempt.await.expect_err(what);
            assert!(started.elapsed() < PROMPT, "{what}: {err}");
            assert_eq!(err.status_code(), Some(Code::Unavailable), "{what}: {err}");
            assert!(err.retry_after().is_some(), "{what}: {err}");
            if !err.message().contains("symbolic link") {
                assert!(refused.get() == 0, "{what}: {err}");
                return Err(err.to_string());
            }
            assert!(
                !err.message().contains("/tmp"),
                "{what} names a path: {err}"
            );
            refused.set(refused.get() + 1);
            match refused.get() >= times {
                true => Ok(()),
                false => Err(format!("refused for the link {} times", refused.get())),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reopen_is_unavailable_at_once_and_the_next_good_one_serves_again() {
    let server = Server::start_with(&["--workers", "processes", "--readers", "2"]);
    let db = with_deadline(&server, "relink").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    swap_for_link(&server.data_dir, "relink");

    // The readers: killed while the file is a link, none can start again.
    kill_all(&server, "reader").await;
    refused_for_the_link("a read", 5, || async {
        db.query_all("SELECT x FROM t", ()).await.map(drop)
    })
    .await;
    // The writer, open already, goes on; killed, it cannot start again either.
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    kill_all(&server, "writer").await;
    refused_for_the_link("a write", 3, || async {
        db.execute("INSERT INTO t VALUES (2)", ()).await.map(drop)
    })
    .await;

    restore(&server.data_dir, "relink");
    eventually(RECOVERY, "the writer starts again", || async {
        db.execute("INSERT INTO t VALUES (3)", ()).await.is_ok()
    })
    .await;
    eventually(RECOVERY, "the readers come back by themselves", || async {
        db.query_all("SELECT x FROM t", ()).await.is_ok()
    })
    .await;
    eventually(RECOVERY, "both readers run again", || {
        std::future::ready(live_of(&server, "reader").len() == 2)
    })
    .await;
    let rows: Vec<i64> = db
        .query_all("SELECT x FROM t ORDER BY x", ())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0).unwrap())
        .collect();
    assert_eq!(rows, [1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_reader_killed_during_the_backoff_takes_the_readers_down_at_once() {
    let server = Server::start_with(&[
        "--workers",
        "processes",
        "--readers",
        "2",
        "--read-queue-depth",
        "4",
    ]);
    let db = with_deadline(&server, "backoff").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    swap_for_link(&server.data_dir, "backoff");
    let readers = live_of(&server, "reader");
    kill(readers[0]);
    // The other reader serves while no second one can start, the wait growing after each
    // failure: after the 7th, 3.2 s.
    let failures = || {
        super::plain(&server.log())
            .lines()
            .filter(|line| {
                line.contains("a worker could not start") && line.contains("role=reader")
            })
            .count()
    };
    // A read sent before the server saw the kill may still reach the dying reader; once the
    // supervisor has tried (and failed) to replace it, every read goes to the live one.
    eventually(RECOVERY, "the first failed start", || {
        std::future::ready(failures() >= 1)
    })
    .await;
    eventually(RECOVERY, "seven failed starts", || async {
        db.query_all("SELECT x FROM t", ()).await.unwrap();
        failures() >= 7
    })
    .await;
    // The last reader, killed during that wait, takes the readers down at once: what waited
    // for it is answered now, not when the wait is over.
    let endless = busy(readers[1], || read(&db, ENDLESS)).await;
    let waiting = fill_queue(|_| read(&db, "SELECT x FROM t")).await;
    kill(readers[1]);
    let killed = Instant::now();
    answer(endless, "the killed query").await.unwrap_err();
    for pending in waiting {
        let answered = answer(pending, "a waiting read").await;
        if !refused_as_full(&answered) {
            assert_backoff(&answered.unwrap_err());
        }
    }
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "answered {:?} after the kill, when the backoff's wait ended",
        killed.elapsed()
    );
    restore(&server.data_dir, "backoff");
    eventually(RECOVERY, "the readers come back by themselves", || async {
        db.query_all("SELECT x FROM t", ()).await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_for_a_killed_writer_are_answered_at_once_and_writes_resume() {
    let server = Server::start_with(&["--workers", "processes", "--write-queue-depth", "2"]);
    let db = with_deadline(&server, "queued").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let writer = one_live(&server, "writer").await;
    let endless = busy(writer, || {
        let db = db.clone();
        tokio::spawn(async move {
            db.execute(&format!("INSERT INTO t {ENDLESS}"), ())
                .await
                .map(drop)
        })
    })
    .await;
    // Some reached the worker process; the others wait in the writer's queue.
    let waiting = fill_queue(|i| write(&db, i)).await;
    kill(writer);
    let err = answer(endless, "the killed write")
        .await
        .expect_err("its writer died");
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    for pending in waiting {
        let answered = answer(pending, "a waiting write").await;
        if refused_as_full(&answered) {
            continue;
        }
        let err = answered.expect_err("its writer died");
        assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
        assert!(err.is_retryable(), "{err}");
    }
    db.execute("INSERT INTO t VALUES (-1)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_killed_in_a_row_are_refused_with_the_backoff_then_start_again() {
    let server = Server::start_with(&["--workers", "processes"]);
    let db = with_deadline(&server, "again").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    // Kill each new writer until a write falls in the backoff (the second death in a row
    // already calls for one; the waits double).
    let mut refusal = None;
    for x in 0..6 {
        one_live(&server, "writer").await;
        kill_all(&server, "writer").await;
        let answer = eventually(PROMPT, "a new writer or a refusal", || async {
            let started = Instant::now();
            match db.execute("INSERT INTO t VALUES (?)", params![x]).await {
                Ok(_) => Ok(None),
                Err(err) if err.message().contains("times in a row") => {
                    assert!(started.elapsed() < PROMPT, "{err}");
                    Ok(Some(err))
                }
                // The write that found the writer dying.
                Err(err) => {
                    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
                    Err(err)
                }
            }
        })
        .await;
        if answer.is_some() {
            refusal = answer;
            break;
        }
    }
    assert_backoff(&refusal.expect("a write refused during the backoff"));
    eventually(
        RECOVERY,
        "the writer starts again after its backoff",
        || async { db.execute("INSERT INTO t VALUES (100)", ()).await.is_ok() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_readers_killed_answer_their_waiting_commands_and_come_back() {
    let server = Server::start_with(&["--workers", "processes", "--readers", "2"]);
    let db = with_deadline(&server, "pinned").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let read_only = TransactionOptions {
        read_only: true,
        ..TransactionOptions::default()
    };
    // A command runs, another waits for it; the reader dies: both learn at once.
    let tx = db.begin_with(read_only).await.unwrap();
    let pinned = one_live(&server, "transaction-reader").await;
    let inside: Database = (*tx).clone();
    let endless = busy(pinned, || read(&inside, ENDLESS)).await;
    let next = read(&inside, "SELECT x FROM t");
    kill(pinned);
    for pending in [endless, next] {
        let err = answer(pending, "a command of the lost transaction")
            .await
            .expect_err("its reader died");
        assert_eq!(err.status_code(), Some(Code::Aborted), "{err}");
        assert!(err.message().contains("lost"), "{err}");
    }
    drop(tx);
    // Killed again and again: a new transaction is refused with the backoff, at once, while
    // single reads, on their own readers, go on; then transactions begin again.
    let mut refusal = None;
    for _ in 0..6 {
        match db.begin_with(read_only).await {
            Ok(tx) => {
                drop(tx);
                kill_all(&server, "transaction-reader").await;
            }
            Err(err) => {
                assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
                if err.message().contains("times in a row") {
                    refusal = Some(err);
                    break;
                }
            }
        }
    }
    assert_backoff(&refusal.expect("a transaction refused during the backoff"));
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 0);
    eventually(RECOVERY, "transactions begin again", || async {
        db.begin_with(read_only).await.is_ok()
    })
    .await;
}
