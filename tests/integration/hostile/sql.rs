//! SQL that SQLite trusts from its application, sent by a client instead.

use sqlited_client::params;
use tonic::Code;

use super::{blob, code_of, query, raw_query_status, text};
use crate::harness::{Server, scalar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fts3_tokenizer_is_refused_through_bound_parameters_and_everywhere_else() {
    let server = Server::start();
    let db = server.database("fts").await;
    db.execute("CREATE VIRTUAL TABLE docs USING fts3(body)", ())
        .await
        .unwrap();
    db.execute("INSERT INTO docs VALUES ('hello world')", ())
        .await
        .unwrap();

    // The address leak and the pointer write, with bound parameters, by an admin (no
    // credentials: every request is admin).
    let leak = raw_query_status(
        &server,
        query("fts", "SELECT hex(fts3_tokenizer(?1))", vec![text("simple")]),
    )
    .await
    .unwrap_err();
    assert_eq!(leak.code(), Code::PermissionDenied, "{leak:?}");
    assert!(leak.message().contains("fts3_tokenizer"), "{leak:?}");
    let poke = raw_query_status(
        &server,
        query(
            "fts",
            "SELECT fts3_tokenizer(?1, ?2)",
            vec![text("simple"), blob(&0x4141_4141_4141_4141u64.to_le_bytes())],
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(poke.code(), Code::PermissionDenied, "{poke:?}");

    // Other routes to the same function: Execute, a view, inside a transaction.
    let err = db
        .execute("SELECT fts3_tokenizer(?, ?)", params!["simple", vec![0u8; 8]])
        .await
        .unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    let tx = db.begin().await.unwrap();
    let err = tx
        .execute("SELECT fts3_tokenizer(?, ?)", params!["simple", vec![0u8; 8]])
        .await
        .unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    tx.rollback().await.unwrap();

    // The server is alive and FTS still works.
    let hits: i64 = scalar(&db, "SELECT count(*) FROM docs WHERE docs MATCH 'hello'").await;
    assert_eq!(hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_object_that_calls_a_refused_function_is_refused_when_created() {
    let server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x, y)", ()).await.unwrap();
    // SQLite checks CHECK, generated columns and index expressions at CREATE, views,
    // triggers and DEFAULTs only when they are used: every kind is refused at CREATE.
    let objects = [
        "CREATE VIEW leak AS SELECT fts3_tokenizer('simple') AS p",
        "CREATE VIEW ext AS SELECT load_extension('/tmp/x.so')",
        "CREATE TABLE d (x DEFAULT (fts3_tokenizer('simple')))",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT fts3_tokenizer('simple'); END",
        "CREATE TRIGGER tw AFTER UPDATE OF y ON t WHEN fts3_tokenizer('simple') BEGIN SELECT 1; END",
        "CREATE TABLE c (x CHECK (fts3_tokenizer('simple') IS NOT NULL))",
        "CREATE TABLE g (x, y AS (fts3_tokenizer('simple')))",
        "CREATE INDEX i ON t (fts3_tokenizer('simple'))",
    ];
    for sql in objects {
        let refusals = [
            db.execute(sql, ()).await.map(drop),
            db.execute_batch([(sql, ())]).await.map(drop),
            db.query_all(sql, ()).await.map(drop),
        ];
        for refused in refusals {
            let err = refused.expect_err(sql);
            assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{sql}: {err}");
            let message = err.to_string();
            assert!(
                message.contains("fts3_tokenizer") || message.contains("load_extension"),
                "{sql}: {message}"
            );
        }
    }
    // Inside a transaction: refused, undone, and the transaction goes on.
    let tx = db.begin().await.unwrap();
    let err = tx.execute(objects[0], ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    tx.execute("INSERT INTO t VALUES (1, 2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    let made: i64 = scalar(&db, "SELECT count(*) FROM sqlite_schema").await;
    assert_eq!(made, 1, "only t exists");
    let rows: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 1);
    // Objects that may be used are made as before.
    for sql in [
        "CREATE VIEW v AS SELECT hex(x) FROM t",
        "CREATE TABLE d (x DEFAULT (lower('A')))",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET y = 3; END",
    ] {
        db.execute(sql, ())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_cannot_run_inside_a_transaction_say_what_to_use() {
    let server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for (sql, instead) in [
        ("VACUUM", "Admin.Vacuum"),
        ("vacuum main", "Admin.Vacuum"),
        ("VACUUM INTO '/tmp/sqlited-vacuum-copy.db'", "Admin.Backup"),
    ] {
        let mut refusals = vec![
            db.execute(sql, ()).await.map(drop),
            db.query_all(sql, ()).await.map(drop),
            db.execute_batch([(sql, ())]).await.map(drop),
        ];
        let tx = db.begin().await.unwrap();
        refusals.push(tx.execute(sql, ()).await.map(drop));
        tx.rollback().await.unwrap();
        for refused in refusals {
            let err = refused.expect_err(sql);
            assert_eq!(code_of(err.clone()), Code::InvalidArgument, "{sql}: {err}");
            assert!(err.to_string().contains(instead), "{sql}: {err}");
            assert!(!err.to_string().contains("from within"), "{sql}: {err}");
        }
    }
    assert!(!std::path::Path::new("/tmp/sqlited-vacuum-copy.db").exists());
    // PRAGMAs SQLite cannot change inside a transaction say why, and what to do instead.
    for (sql, why) in [
        ("PRAGMA journal_mode = DELETE", "WAL"),
        ("PRAGMA synchronous = OFF", "--synchronous"),
        ("PRAGMA foreign_keys = OFF", "defer_foreign_keys"),
        ("PRAGMA auto_vacuum = FULL", "Admin.Vacuum"),
    ] {
        let err = db.execute(sql, ()).await.unwrap_err();
        assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{sql}: {err}");
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    // The maintenance call does what VACUUM would.
    let client = sqlited_client::Client::connect(&server.url()).await.unwrap();
    client.admin().vacuum("app").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_tables_cannot_be_written_so_an_index_cannot_be_corrupted() {
    let server = Server::start();
    let db = server.database("fts").await;
    db.execute("CREATE VIRTUAL TABLE ft USING fts4(body)", ())
        .await
        .unwrap();
    db.execute("INSERT INTO ft VALUES ('alpha beta'), ('gamma')", ())
        .await
        .unwrap();
    for sql in [
        "UPDATE ft_docsize SET size = x'ffffff'",
        "DELETE FROM ft_content",
        "INSERT INTO ft_segdir VALUES (0, 0, 0, 0, 0, x'00')",
    ] {
        let err = db.execute(sql, ()).await.unwrap_err();
        assert!(
            matches!(
                code_of(err.clone()),
                Code::PermissionDenied | Code::InvalidArgument | Code::FailedPrecondition
            ),
            "{sql}: {err}"
        );
    }
    let hits: i64 = scalar(&db, "SELECT count(*) FROM ft WHERE ft MATCH 'alpha'").await;
    assert_eq!(hits, 1);
    let check: String = scalar(&db, "PRAGMA integrity_check").await;
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_objects_live_only_inside_an_interactive_transaction() {
    let server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for sql in [
        "CREATE TEMP TABLE scratch (x)",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TEMP TRIGGER spy AFTER INSERT ON t BEGIN SELECT 1; END",
        "CREATE TABLE temp.scratch (x)",
    ] {
        let err = db
            .execute(sql, ())
            .await
            .expect_err(sql);
        assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{sql}: {err}");
        assert!(err.to_string().contains("TEMP"), "{sql}: {err}");
        assert!(!err.to_string().contains("  "), "a run of spaces: {err}");
    }
    // Inside a transaction they work, and are gone once it ends.
    let tx = db.begin().await.unwrap();
    tx.execute("CREATE TEMP TABLE scratch (x)", ()).await.unwrap();
    tx.execute("CREATE TEMP TRIGGER copy AFTER INSERT ON t BEGIN INSERT INTO scratch VALUES (new.x); END", ())
        .await
        .unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let copied: i64 = tx
        .query_one("SELECT count(*) FROM scratch", ())
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(copied, 1);
    tx.commit().await.unwrap();
    // The same text prepared inside the transaction is not reused outside it.
    let err = db
        .execute("CREATE TEMP TABLE scratch (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    db.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    let err = tx
        .query_all("SELECT * FROM temp.scratch", ())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    tx.rollback().await.unwrap();
}

