//! The sandbox on real connections: what one request leaves on a shared connection never
//! reaches the next (`--unsafe-sql`), virtual tables read with the read role, and schema
//! objects that could never be used refused when they are created.

use std::sync::Arc;

use sqlited_proto::v1::{ExecuteResponse, Statement};
use tokio::sync::oneshot;

use super::cancel::CancelToken;
use super::connection::{ConnectionSettings, Sqlite, test_settings};
use super::core_tests::{self, answer, group, statement};
use super::job::{Answered, Call, Handled};
use super::{Outcome, Role, Task, executor};
use crate::auth::Access;
use crate::error::{Error, Result};

/// The settings of `--unsafe-sql`.
fn unsafe_settings(dir: &tempfile::TempDir) -> ConnectionSettings {
    ConnectionSettings {
        sandbox: false,
        ..test_settings(dir.path())
    }
}

/// A token with `access`, allowed to ATTACH if `may_attach`.
fn token(access: Access, may_attach: bool) -> Arc<CancelToken> {
    let cancel = CancelToken::none();
    cancel.set_access(access);
    cancel.set_may_attach(may_attach);
    cancel
}

/// A task for `call` run with `cancel`, and where its answer (of kind `T`) arrives.
fn task<T: Answered + Send + 'static>(
    call: Call,
    cancel: Arc<CancelToken>,
) -> (Task, oneshot::Receiver<Result<T>>) {
    let (reply, answer) = oneshot::channel();
    (Task::new(core_tests::call(call, reply), cancel), answer)
}

/// Runs `sql` on `db` as a lone statement of a task with `cancel`.
fn run(db: &Sqlite, cancel: &Arc<CancelToken>, sql: &str) -> Result<Handled<Outcome>> {
    db.run_task(cancel, || executor::execute(db, &statement(sql)))
}

fn values(db: &Sqlite, sql: &str) -> Vec<i64> {
    db.trusted(|| {
        let mut stmt = db.conn().prepare(sql).unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    })
}

/// A second database of the data directory, `other.db`, with a table `secret`; the SQL that
/// attaches it.
fn other_database(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE secret (x); INSERT INTO secret VALUES (42)")
        .unwrap();
    format!("ATTACH '{}' AS o", path.display())
}

#[test]
fn what_a_request_attaches_or_sets_does_not_reach_the_next_request_of_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = Sqlite::open(&unsafe_settings(&dir), Role::Writer).unwrap();
    let attach = other_database(&dir);
    let admin = || token(Access::Admin, true);
    let writer = || token(Access::Write, false);
    let (create, created) =
        task::<Outcome>(Call::Execute(statement("CREATE TABLE t (x)")), admin());
    group(&db, vec![create]);
    answer(created).unwrap();

    // One group: an admin attaches and sets LIKE to be case sensitive; then another token's
    // writes, which must see neither.
    let (attaching, attached) = task::<Vec<ExecuteResponse>>(
        Call::Batch(vec![
            statement(&attach),
            statement("INSERT INTO t SELECT x FROM o.secret"),
            statement("PRAGMA case_sensitive_like = ON"),
            statement("INSERT INTO t SELECT 'a' LIKE 'A'"),
        ]),
        admin(),
    );
    let (like, liked) = task::<Outcome>(
        Call::Execute(statement("INSERT INTO t SELECT 'a' LIKE 'A'")),
        writer(),
    );
    let (peek, peeked) = task::<Outcome>(
        Call::Execute(statement("INSERT INTO t SELECT x FROM o.secret")),
        writer(),
    );
    group(&db, vec![attaching, like, peek]);
    answer(attached).unwrap();
    answer(liked).unwrap();
    let err = answer(peeked).unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    assert_eq!(
        values(&db, "SELECT x FROM t ORDER BY rowid"),
        vec![42, 0, 1]
    );
    assert_eq!(
        values(&db, "SELECT count(*) FROM pragma_database_list"),
        vec![1],
        "only main is left"
    );
}

#[test]
fn what_a_request_attaches_or_sets_on_a_reader_is_gone_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Sqlite::open(&unsafe_settings(&dir), Role::Writer).unwrap();
    let attach = other_database(&dir);
    let reader = Sqlite::open(&unsafe_settings(&dir), Role::Reader).unwrap();
    let admin = token(Access::Admin, true);
    run(&reader, &admin, &attach).unwrap();
    run(&reader, &admin, "PRAGMA recursive_triggers = ON").unwrap();
    let other = token(Access::Read, false);
    let err = reader
        .run_task(&other, || {
            executor::execute(&reader, &statement("SELECT * FROM o.secret"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    assert_eq!(values(&reader, "PRAGMA recursive_triggers"), vec![0]);
    // The same ATTACH, from the statement cache, by a token that may not attach.
    let err = run(&reader, &other, &attach).unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied(why) if why.contains("\"*\"")),
        "{err:?}"
    );
    drop(writer);
}

#[test]
fn attach_names_only_existing_databases_of_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = Sqlite::open(&unsafe_settings(&dir), Role::Writer).unwrap();
    let db = Sqlite::open(&unsafe_settings(&dir), Role::Reader).unwrap();
    let admin = token(Access::Admin, true);
    let outside = tempfile::tempdir().unwrap();
    let new_inside = dir.path().join("new.db");
    let new_outside = outside.path().join("new.db");
    for sql in [
        format!("ATTACH '{}' AS n", new_inside.display()),
        format!("ATTACH '{}' AS n", new_outside.display()),
        format!("ATTACH 'file:{}?mode=rwc' AS n", new_inside.display()),
        "ATTACH ':memory:' AS n".into(),
        "ATTACH '' AS n".into(),
    ] {
        let err = run(&db, &admin, &sql).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{sql}: {err:?}");
    }
    assert!(
        !new_inside.exists() && !new_outside.exists(),
        "no file made"
    );
    // A file named by a bound parameter cannot be checked, so it is refused, in the sandbox
    // too.
    let bound = Statement {
        sql: "ATTACH ?1 AS n".into(),
        params: vec![sqlited_proto::v1::Value {
            kind: Some(sqlited_proto::v1::value::Kind::Text(
                dir.path().join("test.db").to_string_lossy().into_owned(),
            )),
        }],
        ..Default::default()
    };
    let sandboxed = Sqlite::open(&test_settings(dir.path()), Role::Reader).unwrap();
    for db in [&db, &sandboxed] {
        let err = db
            .run_task(&admin, || executor::execute(db, &bound))
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    }
}

#[test]
fn a_read_token_reads_every_virtual_table_on_a_fresh_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = Sqlite::open(&test_settings(dir.path()), Role::Writer).unwrap();
    let (create, created) = task::<Vec<ExecuteResponse>>(
        Call::Batch(
            [
                "CREATE VIRTUAL TABLE rt USING rtree(id, x0, x1)",
                "INSERT INTO rt VALUES (1, 0, 5)",
                "CREATE VIRTUAL TABLE f5 USING fts5(body)",
                "INSERT INTO f5 VALUES ('hello')",
            ]
            .map(statement)
            .to_vec(),
        ),
        token(Access::Admin, false),
    );
    group(&db, vec![create]);
    answer(created).unwrap();
    // A reader that never connected the tables: the first statement to use them, a read
    // token's, connects them (R-Tree prepares its INSERT INTO rt_node then).
    let reader = Sqlite::open(&test_settings(dir.path()), Role::Reader).unwrap();
    let read = token(Access::Read, false);
    for sql in [
        "SELECT * FROM rt WHERE x0 < 1",
        "SELECT * FROM f5 WHERE f5 MATCH 'hello'",
        "PRAGMA integrity_check",
    ] {
        run(&reader, &read, sql).unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    for write in ["INSERT INTO rt VALUES (2, 0, 1)", "DELETE FROM f5"] {
        let err = run(&reader, &read, write).unwrap_err();
        assert!(
            matches!(err, Error::PermissionDenied(_)),
            "{write}: {err:?}"
        );
    }
}

#[test]
fn schema_objects_that_call_refused_functions_are_refused_when_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = Sqlite::open(&test_settings(dir.path()), Role::Writer).unwrap();
    let admin = || token(Access::Admin, false);
    let (create, created) =
        task::<Outcome>(Call::Execute(statement("CREATE TABLE t (x, y)")), admin());
    group(&db, vec![create]);
    answer(created).unwrap();
    let refused = [
        "CREATE VIEW v AS SELECT fts3_tokenizer('simple') AS p",
        "CREATE VIEW v AS SELECT load_extension('x')",
        "CREATE TABLE d (x DEFAULT (fts3_tokenizer('simple')))",
        "CREATE TRIGGER tr AFTER UPDATE OF y ON t BEGIN SELECT fts3_tokenizer('simple'); END",
        "CREATE TRIGGER tr BEFORE DELETE ON t WHEN fts3_tokenizer('simple') BEGIN SELECT 1; END",
        "CREATE TABLE c (x CHECK (fts3_tokenizer('simple') IS NOT NULL))",
        "CREATE TABLE g (x, y AS (fts3_tokenizer('simple')))",
        "CREATE INDEX i ON t (fts3_tokenizer('simple'))",
        "ALTER TABLE t ADD COLUMN z AS (fts3_tokenizer('simple'))",
    ];
    for sql in refused {
        // Twice: the second comes from the statement cache, if it were kept there.
        for _ in 0..2 {
            let (create, created) = task::<Outcome>(Call::Execute(statement(sql)), admin());
            group(&db, vec![create]);
            let err = answer(created).unwrap_err();
            // ALTER TABLE's own check says "unsafe use of fts3_tokenizer()" (SQLITE_ERROR).
            assert!(
                matches!(err, Error::PermissionDenied(_)) || sql.starts_with("ALTER"),
                "{sql}: {err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains("fts3_tokenizer") || message.contains("load_extension"),
                "{sql}: {message}"
            );
        }
    }
    assert_eq!(
        values(&db, "SELECT count(*) FROM sqlite_schema"),
        vec![1],
        "only t was made"
    );
    assert_eq!(
        values(&db, "SELECT count(*) FROM pragma_table_info('t')"),
        vec![2]
    );
    // Objects that may be used are made, and so is one SQLite allows before its table exists.
    for sql in [
        "CREATE VIEW ok AS SELECT hex(x) FROM t",
        "CREATE VIEW later AS SELECT fts3_tokenizer('simple') FROM not_yet",
        "CREATE TABLE d (x DEFAULT (hex('a')))",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET y = upper(new.x); END",
    ] {
        let (create, created) = task::<Outcome>(Call::Execute(statement(sql)), admin());
        group(&db, vec![create]);
        answer(created).unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    // Inside an interactive transaction the refused object is undone, the transaction goes on.
    db.internal("BEGIN IMMEDIATE").unwrap();
    db.begin_interactive();
    let refused = db.run_task(&admin(), || {
        executor::execute(
            &db,
            &statement("CREATE VIEW v AS SELECT fts3_tokenizer('x')"),
        )
    });
    assert!(
        matches!(refused, Err(Error::PermissionDenied(_))),
        "{refused:?}"
    );
    assert!(!db.conn().is_autocommit());
    db.internal("COMMIT").unwrap();
    db.end_interactive();
    assert_eq!(
        values(&db, "SELECT count(*) FROM sqlite_schema WHERE name = 'v'"),
        vec![0]
    );
}

#[test]
fn vacuum_is_answered_with_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = Sqlite::open(&test_settings(dir.path()), Role::Writer).unwrap();
    for sql in ["VACUUM", "  /* x */ vacuum main", "VACUUM INTO 'copy.db'"] {
        let (vacuum, done) =
            task::<Outcome>(Call::Execute(statement(sql)), token(Access::Admin, false));
        group(&db, vec![vacuum]);
        let err = answer(done).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{sql}: {err:?}"
        );
        assert!(err.to_string().contains("Admin.Vacuum"), "{err}");
    }
    assert!(!dir.path().join("copy.db").exists());
}
