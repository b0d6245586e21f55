//! Unit tests of the SQLite core, on temporary files and real connections (no gRPC, no
//! threads of the server's): group commit, per-request savepoints, readers refusing writes,
//! the authorizer's refusals, and a transaction's lease.

use std::sync::Arc;
use std::time::Duration;

use sqlited_proto::v1::{ExecuteResponse, Statement};
use tokio::sync::oneshot;

use super::cancel::CancelToken;
use super::connection::{Sqlite, test_settings};
use super::job::{Answer, Answered, Call, Handled, Prepared};
use super::reply::Reply;
use super::transaction::{TxCommand, TxMode, TxSession, TxState, TxStatus};
use super::{Job, Outcome, Role, Task, executor, group_commit};
use crate::auth::Access;
use crate::error::{Error, Result};

pub(super) fn statement(sql: &str) -> Statement {
    Statement {
        sql: sql.into(),
        ..Default::default()
    }
}

fn writer(dir: &tempfile::TempDir) -> Sqlite {
    Sqlite::open(&test_settings(dir.path()), Role::Writer).expect("the writer opens")
}

fn reader(dir: &tempfile::TempDir) -> Sqlite {
    Sqlite::open(&test_settings(dir.path()), Role::Reader).expect("a reader opens")
}

/// An Execute task for `sql` with `access`, and where its answer arrives.
fn execute_as(sql: &str, access: Access) -> (Task, oneshot::Receiver<Result<Outcome>>) {
    let (reply, answer) = oneshot::channel();
    let cancel = CancelToken::none();
    cancel.set_access(access);
    (
        Task::new(call(Call::Execute(statement(sql)), reply), cancel),
        answer,
    )
}

fn execute(sql: &str) -> (Task, oneshot::Receiver<Result<Outcome>>) {
    execute_as(sql, Access::Admin)
}

fn batch(sqls: &[&str]) -> (Task, oneshot::Receiver<Result<Vec<ExecuteResponse>>>) {
    let (reply, answer) = oneshot::channel();
    let job = call(
        Call::Batch(sqls.iter().map(|sql| statement(sql)).collect()),
        reply,
    );
    (Task::new(job, CancelToken::none()), answer)
}

/// A job for `call` whose answer, of the kind `T` the call answers, goes to `reply`.
pub(super) fn call<T: Answered + Send + 'static>(
    call: Call,
    reply: oneshot::Sender<Result<T>>,
) -> Job {
    Job::Call {
        call,
        reply: Reply::Call(Box::new(move |result: Result<Answer>| {
            let _ = reply.send(result.and_then(Answer::expect));
        })),
    }
}

pub(super) fn answer<T>(mut receiver: oneshot::Receiver<Result<T>>) -> Result<T> {
    receiver
        .try_recv()
        .expect("answered before the group ended")
}

/// Creates the table `t (x)` through the writer's group commit.
fn create_table(db: &Sqlite) {
    let (create, created) = execute("CREATE TABLE t (x)");
    group(db, vec![create]);
    answer(created).unwrap();
}

/// Runs `tasks` as one group commit on `db`.
pub(super) fn group(db: &Sqlite, tasks: Vec<Task>) {
    let (sender, receiver) = crossbeam_channel::unbounded();
    for task in tasks {
        sender.send(task).unwrap();
    }
    drop(sender);
    group_commit::serve(
        db,
        receiver,
        1000,
        1 << 30,
        std::path::Path::new("test.db"),
        &group_commit::GroupReport::To(Arc::new(|_| {})),
    );
}

fn values(db: &Sqlite, sql: &str) -> Vec<i64> {
    let mut stmt = db.conn().prepare(sql).unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_failing_request_in_a_group_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    let (create, created) = execute("CREATE TABLE t (x INTEGER UNIQUE)");
    group(&db, vec![create]);
    answer(created).unwrap();

    let (one, one_done) = execute("INSERT INTO t VALUES (1)");
    let (dup, dup_done) = execute("INSERT INTO t VALUES (1)");
    let (two, two_done) = execute("INSERT INTO t VALUES (2)");
    let (bad_batch, bad_batch_done) =
        batch(&["INSERT INTO t VALUES (3)", "INSERT INTO t VALUES (2)"]);
    let (good_batch, good_batch_done) =
        batch(&["INSERT INTO t VALUES (4)", "INSERT INTO t VALUES (5)"]);
    group(&db, vec![one, dup, two, bad_batch, good_batch]);
    assert_eq!(answer(one_done).unwrap().response.rows_affected, 1);
    assert!(matches!(answer(dup_done), Err(Error::Sqlite { .. })));
    assert_eq!(answer(two_done).unwrap().response.rows_affected, 1);
    // A batch is all or nothing: its first INSERT is undone with its savepoint.
    assert!(answer(bad_batch_done).is_err());
    assert_eq!(answer(good_batch_done).unwrap().len(), 2);
    assert_eq!(values(&db, "SELECT x FROM t ORDER BY x"), vec![1, 2, 4, 5]);
    assert!(db.conn().is_autocommit(), "the group's transaction ended");
}

#[test]
fn a_statement_that_ends_the_transaction_itself_does_not_lose_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    let (create, created) = execute("CREATE TABLE t (x INTEGER UNIQUE)");
    group(&db, vec![create]);
    answer(created).unwrap();
    let (seed, seeded) = execute("INSERT INTO t VALUES (0)");
    group(&db, vec![seed]);
    answer(seeded).unwrap();

    // INSERT OR ROLLBACK on a duplicate rolls back the whole group's transaction: the
    // requests before it run again, and each is answered once, after its COMMIT.
    let (before, before_done) = execute("INSERT INTO t VALUES (1)");
    let (ender, ender_done) = execute("INSERT OR ROLLBACK INTO t VALUES (0)");
    let (after, after_done) = execute("INSERT INTO t VALUES (2)");
    group(&db, vec![before, ender, after]);
    assert!(answer(before_done).is_ok());
    assert!(answer(ender_done).is_err());
    assert!(answer(after_done).is_ok());
    assert_eq!(values(&db, "SELECT x FROM t ORDER BY x"), vec![0, 1, 2]);
}

#[test]
fn a_reader_hands_a_write_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    create_table(&db);
    let reader = reader(&dir);
    let token = CancelToken::none();
    let read = reader.run_task(&token, || {
        executor::execute(&reader, &statement("SELECT count(*) FROM t"))
    });
    assert!(matches!(
        read,
        Ok(Handled::Ran(Outcome {
            read_only: true,
            ..
        }))
    ));
    for write in [
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE u (y)",
        "DELETE FROM t",
    ] {
        let refused = reader.run_task(&token, || executor::execute(&reader, &statement(write)));
        assert!(
            matches!(refused, Ok(Handled::NeedsWriter)),
            "{write}: {refused:?}"
        );
    }
}

#[test]
fn the_authorizer_refuses_what_the_role_and_the_sandbox_forbid() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    create_table(&db);
    let cases = [
        ("INSERT INTO t VALUES (1)", Access::Read),
        ("CREATE TABLE u (y)", Access::Write),
        ("DROP TABLE t", Access::Write),
        ("ATTACH 'other.db' AS other", Access::Admin),
        ("PRAGMA writable_schema = 1", Access::Admin),
        ("SELECT fts3_tokenizer('simple')", Access::Admin),
        ("CREATE TEMP TABLE scratch (z)", Access::Admin),
    ];
    for (sql, access) in cases {
        let (task, done) = execute_as(sql, access);
        group(&db, vec![task]);
        let refused = answer(done);
        assert!(
            matches!(refused, Err(Error::PermissionDenied(_))),
            "{sql} as {access}: {refused:?}"
        );
    }
    let (transaction_control, done) = execute("BEGIN");
    group(&db, vec![transaction_control]);
    assert!(matches!(answer(done), Err(Error::InvalidArgument { .. })));
    assert_eq!(
        values(&db, "SELECT count(*) FROM sqlite_schema"),
        vec![1],
        "nothing was made"
    );
}

#[test]
fn an_idle_transaction_is_rolled_back_at_the_end_of_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    create_table(&db);

    let (commands, receiver) = crossbeam_channel::bounded(4);
    let state = TxState::new("tx".into(), Duration::from_millis(50));
    let (started, started_answer) = oneshot::channel();
    let session = TxSession {
        mode: TxMode::Immediate,
        commands: receiver,
        started: started.into(),
        state: Arc::clone(&state),
        cancel: CancelToken::none(),
        permits: Box::new(()),
    };
    let (insert, inserted) = execute("INSERT INTO t VALUES (1)");
    commands.send(TxCommand::Run(insert)).unwrap();
    // Runs the INSERT, then waits for a next command that never comes, for one lease.
    super::transaction::serve(&db, session);
    answer(started_answer).unwrap();
    answer(inserted).unwrap();
    assert_eq!(state.status(), TxStatus::Expired);
    assert!(db.conn().is_autocommit());
    assert_eq!(
        values(&db, "SELECT count(*) FROM t"),
        vec![0],
        "the INSERT was rolled back"
    );
}

#[test]
fn a_reader_prepares_without_running_and_says_what_each_statement_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    create_table(&db);
    let reader = reader(&dir);
    let sql = [
        "SELECT x FROM t WHERE x = :x",
        "INSERT INTO t VALUES (?)",
        "SELECT * FROM missing",
    ];
    let prepared = executor::prepare_all(&reader, &sql.map(String::from));
    assert_eq!(
        prepared[0],
        Prepared {
            error: None,
            placeholders: vec![Some(":x".into())],
            writes: false,
        }
    );
    assert_eq!(
        (prepared[1].writes, &prepared[1].placeholders),
        (true, &vec![None])
    );
    assert!(
        prepared[2]
            .error
            .as_deref()
            .is_some_and(|err| err.contains("no such table")),
        "{:?}",
        prepared[2]
    );
    // Nothing ran: the INSERT wrote no row.
    assert_eq!(values(&db, "SELECT count(*) FROM t"), vec![0]);
}

#[test]
fn a_reader_snapshots_the_database_and_refuses_the_writers_calls() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(&dir);
    let (create, created) = execute("CREATE TABLE t (x)");
    let (insert, inserted) = batch(&["INSERT INTO t VALUES (7)", "INSERT INTO t VALUES (8)"]);
    group(&db, vec![create, insert]);
    answer(created).unwrap();
    answer(inserted).unwrap();
    let reader = reader(&dir);
    let target = dir.path().join("snapshot.db");
    let bytes = executor::snapshot(&reader, &target).unwrap();
    assert_eq!(bytes, std::fs::metadata(&target).unwrap().len());
    let copy = rusqlite::Connection::open(&target).unwrap();
    let count: i64 = copy
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2);

    let (sender, receiver) = crossbeam_channel::unbounded();
    let (reply, refused) = oneshot::channel::<Result<Answer>>();
    let job = Job::Call {
        call: Call::Batch(vec![statement("DELETE FROM t")]),
        reply: reply.into(),
    };
    sender.send(Task::new(job, CancelToken::none())).unwrap();
    drop(sender);
    executor::serve_reader(&reader, || receiver.recv().ok());
    assert!(matches!(answer(refused), Ok(Answer::NeedsWriter)));
}
