//! A hostile client: each test sends what an attacker would (raw stubs where the typed client
//! would refuse to), and checks that the server neither crashes, nor stalls other clients, nor
//! builds what it cannot send, nor reaches files outside its data directory.

use std::time::{Duration, Instant};

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::value::Kind;
use sqlited_client::proto::v1::{QueryRequest, Statement, Value};
use sqlited_client::{TransactionOptions, params};
use tonic::Code;

use crate::harness::{Server, scalar};

fn text(s: &str) -> Value {
    Value {
        kind: Some(Kind::Text(s.into())),
    }
}

fn blob(bytes: &[u8]) -> Value {
    Value {
        kind: Some(Kind::Blob(bytes.to_vec())),
    }
}

fn query(database: &str, sql: &str, params: Vec<Value>) -> QueryRequest {
    QueryRequest {
        database: database.into(),
        statement: Some(Statement {
            sql: sql.into(),
            params,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The status of the first message of a raw Query (or of the call itself).
async fn raw_query_status(server: &Server, request: QueryRequest) -> Result<(), tonic::Status> {
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let mut stream = raw.query(request).await?.into_inner();
    while stream.message().await?.is_some() {}
    Ok(())
}

fn code_of(err: sqlited_client::Error) -> Code {
    err.status_code()
        .unwrap_or_else(|| panic!("no status in {err}"))
}

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
    let view = db
        .execute("CREATE VIEW leak AS SELECT fts3_tokenizer('simple') AS p", ())
        .await;
    if view.is_ok() {
        // Refused by SQLite itself: an untrusted schema may not call it.
        let err = db.query_all("SELECT * FROM leak", ()).await.unwrap_err();
        assert!(err.to_string().contains("fts3_tokenizer"), "{err}");
    }
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

/// Opens a Query of an endless result on its own connection, reads one message and
/// returns the stream unread after it.
async fn stalled_query(
    server: &Server,
    sql: &str,
) -> tonic::Streaming<sqlited_client::proto::v1::QueryResponse> {
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let mut stream = raw
        .query(query("app", sql, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    stream
}

/// Reads what is left of `stream` and returns how it ended.
async fn drain(
    mut stream: tonic::Streaming<sqlited_client::proto::v1::QueryResponse>,
) -> (Code, String) {
    loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => return (Code::Ok, String::new()),
            Err(status) => return (status.code(), status.message().to_string()),
        }
    }
}

const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT x, randomblob(2000) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_do_not_hold_the_readers() {
    let server = Server::start_with(&["--readers", "2", "--statement-timeout-ms", "1500"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();

    // As many stalled streams as readers, and one more for good measure.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stalled_query(&server, ENDLESS).await);
    }
    // Other reads get their answer: the stalled statements were stopped at their deadline.
    let patient = db.with_timeout(Some(Duration::from_secs(20)));
    for _ in 0..5 {
        let one: i64 = scalar(&patient, "SELECT x FROM t").await;
        assert_eq!(one, 1);
    }
    // A stalled client that reads again learns why its result stopped: it read too slowly
    // (or, for the one that waited for a reader, its deadline came while it ran).
    let mut slow = 0;
    for stream in stalled {
        let (code, message) = drain(stream).await;
        assert_eq!(code, Code::DeadlineExceeded, "{message}");
        slow += usize::from(message.contains("slowly"));
    }
    assert!(slow >= 2, "{slow} streams said the client read too slowly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writing_query_that_is_not_read_does_not_hold_the_writer() {
    let server = Server::start_with(&["--statement-timeout-ms", "60000"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)", ())
        .await
        .unwrap();
    // About 8 MB of RETURNING rows: far more than the stream's buffers hold.
    let insert = "INSERT INTO t (pad) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                  FROM c WHERE x < 4000) SELECT randomblob(2000) FROM c RETURNING id, pad";
    let stalled = stalled_query(&server, insert).await;

    // The writer is free for other writes and transactions at once (before the fix, they
    // waited for the stalled client for the whole statement timeout).
    let quick = db.with_timeout(Some(Duration::from_secs(10)));
    quick.execute("INSERT INTO t (pad) VALUES (x'00')", ()).await.unwrap();
    let tx = quick.begin().await.unwrap();
    tx.execute("INSERT INTO t (pad) VALUES (x'01')", ())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let rows: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 4002, "the stalled insert committed before its rows were read");
    // Its client gets every row when it reads at last.
    assert_eq!(drain(stalled).await.0, Code::Ok);

    // RETURNING rows are collected before the commit within --max-message-bytes: past it
    // the statement fails whole and writes nothing.
    let huge = "INSERT INTO t (pad) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                FROM c WHERE x < 20000) SELECT randomblob(2000) FROM c RETURNING pad";
    let err = db.query_all(huge, ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    assert!(err.to_string().contains("RETURNING"), "{err}");
    let rows: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 4002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_query_inside_a_transaction_is_stopped_at_its_deadline() {
    let server = Server::start_with(&["--statement-timeout-ms", "1500"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    let mut rows = tx.query(ENDLESS, ()).await.unwrap();
    assert!(rows.next().await.unwrap().is_some());
    // Not reading on: the next statement of the transaction runs once the stalled one is
    // stopped at its deadline (before the fix it waited for the reader forever).
    let patient = tx.with_timeout(Some(Duration::from_secs(20)));
    patient
        .execute("INSERT INTO t VALUES (1)", ())
        .await
        .unwrap();
    let ended = loop {
        match rows.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("an endless query ended without an error"),
            Err(err) => break err,
        }
    };
    assert_eq!(code_of(ended.clone()), Code::DeadlineExceeded, "{ended}");
    assert!(ended.to_string().contains("slowly"), "{ended}");
    tx.commit().await.unwrap();
    let one: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(one, 1);
}

/// The server's peak resident memory so far, in bytes (VmHWM).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_larger_than_a_message_are_never_built() {
    let server = Server::start();
    let db = server.database("app").await;
    let started = Instant::now();
    for sql in [
        "SELECT zeroblob(999000000)",
        "SELECT replace(hex(zeroblob(100000000)), '0', 'ab')",
        "SELECT printf('%.*c', 900000000, 'x')",
        "SELECT length(randomblob(500000000))",
        "WITH RECURSIVE d(s, n) AS (SELECT 'xxxxxxxx', 0 UNION ALL SELECT s || s, n + 1 FROM d \
         WHERE n < 40) SELECT length(s) FROM d",
    ] {
        let err = db.query_all(sql, ()).await.unwrap_err();
        assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{sql}: {err}");
        assert!(err.to_string().contains("--max-message-bytes"), "{sql}: {err}");
    }
    // Each stopped at the message size (16 MiB), long before gigabytes were built.
    assert!(
        peak_rss(server.pid()) < 512 << 20,
        "peak RSS {} MiB after {:?}",
        peak_rss(server.pid()) >> 20,
        started.elapsed()
    );
    let one: i64 = scalar(&db, "SELECT 1").await;
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_and_temporary_data_count_against_the_memory_limit() {
    let server = Server::start_with(&["--sqlite-memory-limit", "64MiB"]);
    let db = server.database("app").await;
    // A sort of ~200 MB: with temporary data in files it would spill to disk and succeed;
    // in memory, under the cap, it fails and the server goes on.
    let sort = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) \
                SELECT x, randomblob(1000) AS b FROM c ORDER BY b";
    let err = db.query_all(sort, ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
    let temp = "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                FROM c WHERE x < 10) SELECT x FROM c";
    db.execute(temp, ()).await.unwrap();
    let one: i64 = scalar(&db, "SELECT count(*) FROM big").await;
    assert_eq!(one, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_into_the_data_directory_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    // An empty file: SQLite would take it as a new database and write to it.
    let secret = outside.path().join("secret.db");
    std::fs::File::create(&secret).unwrap();
    let server = Server::start();
    std::fs::hard_link(&secret, server.data_dir.join("evil.db")).unwrap();

    let evil = server.database("evil").await;
    let err = evil
        .execute("CREATE TABLE stolen (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    assert!(err.to_string().contains("hard link"), "{err}");
    let listed = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap()
        .admin()
        .list_databases()
        .await
        .unwrap();
    assert!(
        listed.iter().all(|d| d.name != "evil"),
        "a hard link is listed: {listed:?}"
    );
    assert_eq!(std::fs::metadata(&secret).unwrap().len(), 0, "the outside file was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_swapped_in_after_the_first_open_are_refused_by_later_connections() {
    for kind in ["symlink", "hard link"] {
        let outside = tempfile::tempdir().unwrap();
        let server = Server::start();
        let db = server.database("app").await;
        db.execute("CREATE TABLE t (x)", ()).await.unwrap();
        db.execute("INSERT INTO t VALUES ('inside')", ()).await.unwrap();

        // Swap app.db for a link to a file outside, while the database is open.
        let path = server.data_dir.join("app.db");
        let secret = outside.path().join("secret.db");
        std::fs::copy(&path, &secret).unwrap();
        std::fs::remove_file(&path).unwrap();
        if kind == "symlink" {
            std::os::unix::fs::symlink(&secret, &path).unwrap();
        } else {
            std::fs::hard_link(&secret, &path).unwrap();
        }
        // A read-only transaction opens a new reader connection.
        let err = db
            .begin_with(TransactionOptions {
                read_only: true,
                ..Default::default()
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("{kind}: a read-only transaction opened through a link"));
        assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{kind}: {err}");
    }
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
    db.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    let err = tx
        .query_all("SELECT * FROM temp.scratch", ())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_checkpoints_the_wal_without_complaint() {
    let mut server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for i in 0..20 {
        db.execute("INSERT INTO t VALUES (?)", params![i])
            .await
            .unwrap();
    }
    drop(db);
    assert!(server.terminate().success());
    let log = server.log();
    assert!(!log.contains("checkpoint at close failed"), "{log}");
    let wal = server.data_dir.join("app.db-wal");
    let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(size, 0, "the WAL holds {size} bytes after a clean stop");
}
