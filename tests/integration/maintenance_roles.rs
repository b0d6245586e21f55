//! ANALYZE, REINDEX and `PRAGMA optimize` (which runs ANALYZE as a statement of its own while
//! it steps) need the admin role, whatever statement runs them and wherever: a Query, an
//! Execute, a batch, an interactive transaction, a `pragma_*` function.

use sqlited_client::{Database, TransactionOptions, params};
use tonic::Code;

use crate::harness::scalar;
use crate::security::{ADMIN, READER, WRITER, auth_server, connect};

/// Each statement that runs ANALYZE or REINDEX.
const MAINTENANCE: &[&str] = &[
    "PRAGMA optimize",
    "PRAGMA optimize=0x10002",
    "PRAGMA main.optimize(0x10002)",
    "SELECT * FROM pragma_optimize",
    "ANALYZE",
    "ANALYZE t",
    "REINDEX",
    "REINDEX i",
];

/// Whether the planner's statistics exist: what ANALYZE leaves.
async fn analyzed(admin: &Database) -> bool {
    scalar::<i64>(
        admin,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'",
    )
    .await
        > 0
}

fn assert_needs_admin(sql: &str, how: &str, result: Result<(), sqlited_client::Error>) {
    let err = result.expect_err(&format!("{how} {sql} ran"));
    assert_eq!(
        err.status_code(),
        Some(Code::PermissionDenied),
        "{how} {sql}: {err}"
    );
    assert!(err.message().contains("admin role"), "{how} {sql}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_reindex_and_optimize_need_the_admin_role_however_they_are_run() {
    let s = auth_server("", &[]);
    let admin = connect(&s.server, ADMIN).await.database("app");
    admin
        .execute_batch([
            ("CREATE TABLE t (x, y)", params![]),
            ("CREATE INDEX i ON t (x)", params![]),
            (
                "WITH RECURSIVE c(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM c WHERE v < 1000) \
                 INSERT INTO t SELECT v % 10, v FROM c",
                params![],
            ),
        ])
        .await
        .unwrap();
    let writer = connect(&s.server, WRITER).await.database("app");
    let reader = connect(&s.server, READER).await.database("app");
    // The writer's connection used the index, so a bare optimize would analyze t.
    writer
        .execute("UPDATE t SET y = y WHERE x = 3", ())
        .await
        .unwrap();
    for sql in MAINTENANCE {
        for (token, db) in [("write", &writer), ("read", &reader)] {
            let how = format!("a {token} token's Query");
            assert_needs_admin(sql, &how, db.query_all(sql, ()).await.map(drop));
            let read_only = TransactionOptions {
                read_only: true,
                ..Default::default()
            };
            let tx = db.begin_with(read_only).await.unwrap();
            let how = format!("a {token} token's read-only transaction");
            assert_needs_admin(sql, &how, tx.query_all(sql, ()).await.map(drop));
            tx.rollback().await.unwrap();
        }
        let how = "a write token's Execute";
        assert_needs_admin(sql, how, writer.execute(sql, ()).await.map(drop));
        let how = "a write token's batch";
        let batch = [("UPDATE t SET y = y WHERE x = 4", params![]), (*sql, params![])];
        assert_needs_admin(sql, how, writer.execute_batch(batch).await.map(drop));
        let tx = writer.begin().await.unwrap();
        let how = "a write token's transaction";
        assert_needs_admin(sql, how, tx.execute(sql, ()).await.map(drop));
        tx.rollback().await.unwrap();
    }
    assert!(!analyzed(&admin).await, "no token but an admin's analyzed t");

    // An admin runs each of them.
    for sql in MAINTENANCE {
        admin
            .execute(sql, ())
            .await
            .unwrap_or_else(|err| panic!("an admin's {sql}: {err}"));
    }
    assert!(analyzed(&admin).await);
    // And the role is what the refusal names, not a write.
    let err = reader.query_all("PRAGMA optimize", ()).await.unwrap_err();
    assert!(!err.message().contains("write role"), "{err}");
}
