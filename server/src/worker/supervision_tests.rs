//! Unit tests of the supervision rule ([`super::supervision`]) with thread workers, through
//! the seam the engine uses (`Connections::submit`): a worker is killed by a job whose answer
//! panics on the worker's thread (the only way to end a thread worker from outside), and a
//! start is made to fail by replacing the database file with a symbolic link. Worker
//! processes are tested the same way, with kill -9, by the integration suite
//! (`tests/integration/workers.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlited_proto::v1::Statement;
use tokio::sync::oneshot;

use super::budget::RestartBudget;
use super::cancel::CancelToken;
use super::connection::test_settings;
use super::connections::{Connections, ConnectionsOptions, Target};
use super::job::{Answer, Call};
use super::manager::WorkerKind;
use super::reply::Reply;
use super::supervision::Pool;
use super::transaction::{TxCommand, TxMode, TxSession, TxState, TxStatus};
use super::{Job, Task};
use crate::error::{Error, Result};

/// Far shorter than the deadline a request would otherwise wait to (here: none).
const PROMPT: Duration = Duration::from_secs(5);
/// How long a pool may take to come back once the cause is gone.
const RECOVERY: Duration = Duration::from_secs(20);

async fn open(dir: &tempfile::TempDir) -> Connections {
    open_with(dir, 1).await
}

/// The connections of a database with `readers` shared readers, and a table `t`.
async fn open_with(dir: &tempfile::TempDir, readers: usize) -> Connections {
    let options = ConnectionsOptions {
        readers,
        read_queue_depth: 16,
        write_queue_depth: 16,
        max_group: 64,
        max_group_bytes: 1 << 20,
        workers: WorkerKind::Threads,
    };
    let connections = Connections::open("test", test_settings(dir.path()), options)
        .await
        .expect("the database opens");
    answered(write(&connections, "CREATE TABLE t (x)").await)
        .await
        .unwrap();
    connections
}

fn statement(sql: &str) -> Statement {
    Statement {
        sql: sql.into(),
        ..Default::default()
    }
}

/// An Execute of `sql`, and where its answer arrives.
fn execute(sql: &str) -> (Job, oneshot::Receiver<Result<Answer>>) {
    let (reply, answer) = oneshot::channel();
    let job = Job::Call {
        call: Call::Execute(statement(sql)),
        reply: reply.into(),
    };
    (job, answer)
}

/// The answer of a submitted job, or the submission's refusal.
type Pending = std::result::Result<oneshot::Receiver<Result<Answer>>, Error>;

async fn submit(connections: &Connections, target: Target, sql: &str) -> Pending {
    let (job, answer) = execute(sql);
    connections
        .submit(target, job, &CancelToken::none())
        .await
        .map(|()| answer)
}

async fn read(connections: &Connections) -> Pending {
    submit(connections, Target::AnyReader, "SELECT count(*) FROM t").await
}

async fn write(connections: &Connections, sql: &str) -> Pending {
    submit(connections, Target::Writer, sql).await
}

/// A read's answer, within [`PROMPT`].
async fn read_now(connections: &Connections) -> Result<Answer> {
    answered(read(connections).await).await
}

/// The job's answer (a refused submission as its error), failing the test if it takes
/// longer than [`PROMPT`].
async fn answered(pending: Pending) -> Result<Answer> {
    let answer = pending?;
    tokio::time::timeout(PROMPT, answer)
        .await
        .expect("answered promptly, not left waiting")
        .unwrap_or_else(|_| Err(Error::Unavailable("the answer was dropped".into())))
}

/// A job that kills its worker: its answer, on the worker's thread, waits for `release` and
/// then panics. `entered` fires once the worker is inside it.
struct Fatal {
    job: Option<Job>,
    entered: oneshot::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

fn fatal(sql: &str) -> Fatal {
    let (entered_tx, entered) = oneshot::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let job = Job::Call {
        call: Call::Execute(statement(sql)),
        reply: Reply::Call(Box::new(move |_| {
            let _ = entered_tx.send(());
            let _ = wait.recv();
            panic!("a test kills its worker");
        })),
    };
    Fatal {
        job: Some(job),
        entered,
        release,
    }
}

impl Fatal {
    /// Sends the job to `target` and waits until the worker runs it.
    async fn enter(&mut self, connections: &Connections, target: Target) {
        let job = self.job.take().expect("entered once");
        connections
            .submit(target, job, &CancelToken::none())
            .await
            .expect("the fatal job is taken");
        tokio::time::timeout(PROMPT, &mut self.entered)
            .await
            .expect("the worker runs the fatal job")
            .unwrap();
    }

    /// Lets the worker die.
    fn kill(self) {
        self.release.send(()).unwrap();
    }
}

/// Kills the worker `target` names, with nothing queued behind it.
async fn kill(connections: &Connections, target: Target) {
    let mut fatal = fatal("SELECT 1");
    fatal.enter(connections, target).await;
    fatal.kill();
}

/// Kills the only reader (the last one running) while three reads wait for it; the reads.
async fn kill_with_reads_queued(connections: &Connections) -> Vec<Pending> {
    let mut fatal = fatal("SELECT 1");
    fatal.enter(connections, Target::AnyReader).await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(read(connections).await);
    }
    fatal.kill();
    queued
}

/// Replaces the database file by a symbolic link to it, so that no connection can open it
/// (the ones open keep their file); [`restore`] undoes it.
fn swap_for_link(dir: &Path) {
    let path = dir.join("test.db");
    std::fs::rename(&path, dir.join("moved.db")).unwrap();
    std::os::unix::fs::symlink(dir.join("moved.db"), &path).unwrap();
}

fn restore(dir: &Path) {
    let path = dir.join("test.db");
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(dir.join("moved.db"), &path).unwrap();
}

/// Asserts `result` is the UNAVAILABLE of a worker that cannot start, saying `why`.
fn assert_cannot_start<T>(result: Result<T>, why: &str) {
    match result {
        Err(Error::UnavailableFor { message, .. }) => {
            assert!(message.contains(why), "{message}");
            assert!(
                !message.contains(std::env::temp_dir().to_str().unwrap()),
                "{message}"
            );
        }
        Err(other) => panic!("not UNAVAILABLE with a retry delay: {other:?}"),
        Ok(_) => panic!("served, though no worker can start"),
    }
}

/// Polls `attempt` until it is refused because no worker can start, for `why`: a worker
/// just killed may still take a request as it dies, which then fails as one that waited in
/// its queue — UNAVAILABLE too, and at once (and a transaction's reader, not handed back
/// yet, is still pinned). Fails the test past [`PROMPT`].
async fn until_cannot_start<T, F, Fut>(why: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + PROMPT;
    loop {
        match attempt().await {
            Err(Error::Unavailable(message)) if message.contains("nothing of it ran") => {}
            // The pinned reader of a transaction just lost is handed back as it dies; until
            // then a read-only BEGIN finds every pinnable reader taken (refused at once).
            Err(Error::ResourceExhausted {
                retryable: true, ..
            }) => tokio::time::sleep(Duration::from_millis(20)).await,
            other => return assert_cannot_start(other, why),
        }
        assert!(Instant::now() < deadline, "never refused for {why}");
    }
}

/// Polls `attempt` until it succeeds, failing the test past [`RECOVERY`].
async fn until_ok<T, F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + RECOVERY;
    loop {
        match attempt().await {
            Ok(_) => return,
            Err(err) => assert!(
                Instant::now() < deadline,
                "{what}: not back within {RECOVERY:?}: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_queued_for_a_reader_that_dies_are_served_by_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    let queued = kill_with_reads_queued(&connections).await;
    // Nothing else is sent: the supervisor, not a next request, starts the new reader.
    for pending in queued {
        answered(pending).await.expect("served by the new reader");
    }
    connections.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_refused_at_once_while_no_reader_can_start_and_served_once_one_can() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    swap_for_link(dir.path());
    let queued = kill_with_reads_queued(&connections).await;
    for pending in queued {
        assert_cannot_start(answered(pending).await, "symbolic link");
    }
    // New reads too, while the file is a link, however often they come.
    for _ in 0..5 {
        assert_cannot_start(read_now(&connections).await, "symbolic link");
    }
    // Writes go on meanwhile.
    answered(write(&connections, "INSERT INTO t VALUES (1)").await)
        .await
        .unwrap();
    restore(dir.path());
    until_ok("the readers", || read_now(&connections)).await;
    connections.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_killed_in_a_row_are_refused_during_the_backoff_then_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    kill(&connections, Target::AnyReader).await;
    // The first death restarts at once.
    until_ok("the first replacement", || read_now(&connections)).await;
    // The second in a row makes the next start wait: reads meanwhile are refused at once,
    // with the wait as their retry hint.
    kill(&connections, Target::AnyReader).await;
    let mut refused = None;
    let deadline = Instant::now() + PROMPT;
    while refused.is_none() && Instant::now() < deadline {
        if let Err(err) = read_now(&connections).await {
            refused = Some(err);
        }
    }
    match refused.expect("a read during the backoff is refused") {
        Error::UnavailableFor { message, .. } => {
            assert!(message.contains("2 times in a row"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    until_ok("the readers after the backoff", || read_now(&connections)).await;
    connections.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_reader_killed_during_the_backoff_takes_the_readers_down_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open_with(&dir, 2).await;
    swap_for_link(dir.path());
    kill(&connections, Target::AnyReader).await;
    // The other reader serves while the supervisor fails to start a second one, waiting
    // longer after each failure, until the wait is long.
    let budget = RestartBudget::of(&test_settings(dir.path()).path, Pool::Readers);
    let deadline = Instant::now() + RECOVERY;
    while budget
        .wait()
        .is_none_or(|wait| wait < Duration::from_secs(2))
    {
        read_now(&connections)
            .await
            .expect("the other reader serves");
        assert!(Instant::now() < deadline, "the backoff never grew");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed during that wait, the last reader takes the readers down at once: what waited
    // for it is answered now, not when the wait is over.
    let queued = kill_with_reads_queued(&connections).await;
    for pending in queued {
        let answer = tokio::time::timeout(Duration::from_secs(1), pending.unwrap())
            .await
            .expect("answered before the backoff ends")
            .unwrap();
        assert_cannot_start(answer, "times in a row");
    }
    restore(dir.path());
    until_ok("the readers", || read_now(&connections)).await;
    connections.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_for_a_writer_that_dies_fail_at_once_and_the_next_write_starts_another() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    let mut fatal = fatal("INSERT INTO t VALUES (0)");
    fatal.enter(&connections, Target::Writer).await;
    let mut queued = Vec::new();
    for i in 1..=3 {
        queued.push(write(&connections, &format!("INSERT INTO t VALUES ({i})")).await);
    }
    fatal.kill();
    for pending in queued {
        match answered(pending).await {
            Err(Error::Unavailable(message)) => {
                assert!(message.contains("nothing of it ran"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    answered(write(&connections, "INSERT INTO t VALUES (4)").await)
        .await
        .expect("a new writer");
    connections.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_cannot_start_is_unavailable_until_the_cause_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    swap_for_link(dir.path());
    kill(&connections, Target::Writer).await;
    let insert = "INSERT INTO t VALUES (1)";
    until_cannot_start("symbolic link", || async {
        answered(write(&connections, insert).await).await
    })
    .await;
    restore(dir.path());
    until_ok("the writer", || async {
        answered(write(&connections, insert).await).await
    })
    .await;
    connections.close().await;
}

/// Begins a read-only transaction on a pinned reader; its command channel and state.
async fn begin_read_only(
    connections: &Connections,
) -> Result<(crossbeam_channel::Sender<TxCommand>, Arc<TxState>)> {
    let (commands, receiver) = crossbeam_channel::bounded(4);
    let state = TxState::new("tx".into(), Duration::from_secs(60));
    let (started, started_answer) = oneshot::channel();
    let session = TxSession {
        mode: TxMode::Deferred,
        commands: receiver,
        started: started.into(),
        state: Arc::clone(&state),
        cancel: CancelToken::none(),
        permits: Box::new(()),
    };
    connections
        .submit(
            Target::PinnedReader,
            Job::Transaction(session),
            &CancelToken::none(),
        )
        .await?;
    tokio::time::timeout(PROMPT, started_answer)
        .await
        .expect("BEGIN answered promptly")
        .unwrap_or_else(|_| Err(Error::Unavailable("BEGIN was dropped".into())))?;
    Ok((commands, state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reader_that_dies_answers_its_waiting_commands_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let connections = open(&dir).await;
    let (commands, state) = begin_read_only(&connections).await.unwrap();
    let mut fatal = fatal("SELECT 1");
    commands
        .send(TxCommand::Run(Task::new(
            fatal.job.take().unwrap(),
            CancelToken::none(),
        )))
        .unwrap();
    tokio::time::timeout(PROMPT, &mut fatal.entered)
        .await
        .unwrap()
        .unwrap();
    let (job, waiting) = execute("SELECT count(*) FROM t");
    commands
        .send(TxCommand::Run(Task::new(job, CancelToken::none())))
        .unwrap();
    fatal.kill();
    match answered(Ok(waiting)).await {
        Err(Error::TransactionEnded { message, aborted }) => {
            assert!(aborted && message.contains("lost"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.status(), TxStatus::Lost);

    // The next read-only transaction gets a new reader; while none can start, BEGIN is
    // refused at once, and it comes back once the file does.
    swap_for_link(dir.path());
    until_cannot_start("symbolic link", || begin_read_only(&connections)).await;
    restore(dir.path());
    until_ok("the transaction readers", || begin_read_only(&connections)).await;
    connections.close().await;
}
