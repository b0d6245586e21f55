//! Each request's memory budget (`--request-memory-limit`, 24 MiB by default on readers;
//! `--write-memory-limit`, 256 MiB, on the writer): a read token's query that builds
//! temporary B-trees, sorts or strings past it fails alone with RESOURCE_EXHAUSTED naming the
//! flag, while the server goes on serving everyone else.

use std::time::Duration;

use sqlited_client::{Client, ClientOptions, Database, params};
use tonic::Code;

use super::code_of;
use crate::harness::{Server, eventually, scalar};
use crate::security::{ADMIN, READER, credentials};

/// `count` generated rows, each a 200-byte blob `b` and its number `x`: 60 MB for 300,000.
fn rows(count: u32) -> String {
    format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {count}), \
         r(x, b) AS (SELECT x, randomblob(200) FROM c)"
    )
}

/// Queries that each need about 60 MB of temporary data (a window partition of 40 MB),
/// with what each answers once it may have that much.
fn hungry() -> Vec<(&'static str, String, Option<i64>)> {
    let rows = rows(300_000);
    vec![
        (
            "a recursive CTE with UNION",
            "WITH RECURSIVE u(x, b) AS (SELECT 1, randomblob(200) UNION SELECT x + 1, \
             randomblob(200) FROM u WHERE x < 300000) SELECT count(*) FROM u"
                .into(),
            Some(300_000),
        ),
        (
            "DISTINCT",
            format!("{rows} SELECT count(*) FROM (SELECT DISTINCT b FROM r)"),
            Some(300_000),
        ),
        (
            "GROUP BY",
            format!("{rows} SELECT count(*) FROM (SELECT b, count(*) FROM r GROUP BY b)"),
            Some(300_000),
        ),
        (
            "ORDER BY",
            format!("{rows} SELECT x FROM (SELECT x, b FROM r ORDER BY b) LIMIT 1 OFFSET 299999"),
            None,
        ),
        (
            // Every row's value is the whole partition's: the budget stops it while it caches
            // the partition, long before it copies 40 MB into each of 20,000 rows.
            "a window group_concat",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
             SELECT count(g) FROM (SELECT group_concat(randomblob(2000)) OVER () AS g FROM c)"
                .into(),
            None,
        ),
    ]
}

/// A server with credentials; (server, reader's client, admin's client).
async fn server(args: &[&str]) -> (Server, tempfile::TempDir, Client, Client) {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials(dir.path(), "");
    let mut all = vec!["--credentials", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = Server::start_with(&all);
    let url = server.url();
    let connect = |token| Client::connect_with(&url, ClientOptions::default().with_token(token));
    let admin = connect(ADMIN).await.unwrap();
    let reader = connect(READER).await.unwrap();
    let app = admin.database("app");
    app.execute("CREATE TABLE t (x)", ()).await.unwrap();
    app.execute("INSERT INTO t VALUES (1), (2), (3)", ())
        .await
        .unwrap();
    (server, dir, reader, admin)
}

async fn normal_query_works(db: &Database) {
    let count: i64 = scalar(db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_memory_budget_fails_alone_naming_the_flag() {
    let (_server, _dir, reader, _admin) = server(&[]).await;
    let db = reader.database("app");
    // All at once, beside a client whose small queries must go on being answered.
    let running: Vec<_> = hungry()
        .into_iter()
        .map(|(what, sql, _)| {
            let db = db.clone();
            tokio::spawn(async move { (what, db.query_all(&sql, ()).await) })
        })
        .collect();
    // Meanwhile, again and again, the other client's queries are answered.
    eventually(Duration::from_secs(60), "the hungry queries stopped", || async {
        normal_query_works(&db).await;
        running.iter().all(|task| task.is_finished())
    })
    .await;
    for task in running {
        let (what, result) = task.await.unwrap();
        let err = result.expect_err(what);
        assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{what}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("24 MiB: --request-memory-limit"),
            "{what}: {message}"
        );
        assert!(!message.contains("--sqlite-memory-limit"), "{what}: {message}");
    }
    normal_query_works(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_request_memory_limit_lets_them_pass() {
    let (_server, _dir, reader, _admin) = server(&["--request-memory-limit", "256MiB"]).await;
    let db = reader.database("app");
    for (what, sql, answer) in hungry() {
        let Some(answer) = answer else { continue };
        let count: i64 = db
            .query_one(&sql, ())
            .await
            .unwrap_or_else(|err| panic!("{what}: {err}"))
            .get(0)
            .unwrap();
        assert_eq!(count, answer, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_one_request_and_its_temp_tables_share_the_budget() {
    // TEMP tables live in write transactions, on the writer, whose budget this lowers.
    let (_server, _dir, _reader, admin) = server(&["--write-memory-limit", "32MiB"]).await;
    let db = admin.database("app");
    let fill = |table: &str| {
        format!("CREATE TEMP TABLE {table} AS {} SELECT x, b FROM r", rows(100_000))
    };
    // 21 MB each: the second would take the transaction past 32 MiB.
    let tx = db.begin().await.unwrap();
    tx.execute(&fill("first"), ()).await.unwrap();
    let err = tx.execute(&fill("second"), ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    assert!(err.to_string().contains("32 MiB: --write-memory-limit"), "{err}");
    drop(tx);
    // The refusal left the worker sound, and each transaction has its own budget.
    for _ in 0..2 {
        let tx = db.begin().await.unwrap();
        tx.execute(&fill("first"), ()).await.unwrap();
        let rows: i64 = scalar(&tx, "SELECT count(*) FROM temp.first").await;
        assert_eq!(rows, 100_000);
        tx.rollback().await.unwrap();
    }
    normal_query_works(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_page_caches_and_the_servers_own_maintenance_fit() {
    // A page cache larger than a request's budget: it is bounded by --cache-mib, not by it.
    let (_server, _dir, reader, admin) = server(&["--cache-mib", "96"]).await;
    let db = admin.database("app");
    // A value as large as a message may carry: bound and built into its record by the
    // writer (twice its size), read back by a reader (once), each within its budget.
    let value = vec![7u8; 15 << 20];
    db.execute("CREATE TABLE big (v BLOB)", ()).await.unwrap();
    db.execute("INSERT INTO big VALUES (?)", params![value.clone()])
        .await
        .unwrap();
    let back: Vec<u8> = reader
        .database("app")
        .query_one("SELECT v FROM big", ())
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert!(back == value, "the value came back changed");
    // 60 MB of rows: VACUUM rebuilds them all in memory, under the process-wide cap only.
    db.execute(
        &format!("INSERT INTO big SELECT b FROM ({} SELECT b FROM r)", rows(300_000)),
        (),
    )
    .await
    .unwrap();
    // The writer's budget holds what a write needs: an UPDATE of every row journals each
    // page it changes (60 MB).
    let updated = db.execute("UPDATE big SET v = v", ()).await.unwrap();
    assert_eq!(updated.rows_affected, 300_001);
    // A reader reads it all into its cache (about 70 MB), one request.
    let bytes: i64 = scalar(&reader.database("app"), "SELECT sum(length(v)) FROM big").await;
    assert_eq!(bytes, (15 << 20) + 300_000 * 200);
    admin.admin().vacuum("app").await.unwrap();
    let rows: i64 = scalar(&db, "SELECT count(*) FROM big").await;
    assert_eq!(rows, 300_001);
}
