//! A cached statement answers with the columns SQLite runs it with now: after every kind of
//! schema change, on every reader that cached it, in transactions and through exposed
//! statements (and, in the processes target, in worker processes).

use sqlited_client::{Database, TransactionOptions, Value, args};

use crate::harness::Server;

/// How often the same text runs before a change: more than the readers, so each caches it.
const WARM: usize = 8;

/// Column names and declared types, and the rows, of `sql` as the server answers it.
async fn answer(db: &Database, sql: &str) -> (Vec<(String, String)>, Vec<Vec<Value>>) {
    let mut rows = db
        .query(sql, ())
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    let mut values = Vec::new();
    while let Some(row) = rows.next().await.unwrap_or_else(|err| panic!("{sql}: {err}")) {
        values.push(row.values().to_vec());
    }
    let columns = rows
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.decl_type().unwrap_or("").to_string()))
        .collect();
    (columns, values)
}

fn names(columns: &[(String, String)]) -> Vec<&str> {
    columns.iter().map(|(name, _)| name.as_str()).collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// Runs `SELECT * FROM t1` often enough to be cached everywhere, applies `change`, and checks
/// that every reader, a read-only transaction and the writer answer with `columns` and `row`.
async fn check(db: &Database, setup: &str, change: &str, columns: &[&str], row: Vec<Value>) {
    db.execute("DROP VIEW IF EXISTS v1", ()).await.unwrap();
    db.execute("DROP TABLE IF EXISTS t1", ()).await.unwrap();
    for sql in setup.split(';').filter(|s| !s.trim().is_empty()) {
        db.execute(sql, ()).await.unwrap();
    }
    let target = if setup.contains("VIEW") { "v1" } else { "t1" };
    let select = format!("SELECT * FROM {target}");
    for _ in 0..WARM {
        answer(db, &select).await;
    }
    let tx = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    answer(&tx, &select).await;
    tx.commit().await.unwrap();

    for sql in change.split(';').filter(|s| !s.trim().is_empty()) {
        db.execute(sql, ()).await.unwrap();
    }
    for i in 0..WARM {
        let (got, rows) = answer(db, &select).await;
        assert_eq!(names(&got), columns, "after {change:?}, read {i}");
        assert_eq!(rows, vec![row.clone()], "after {change:?}, read {i}");
    }
    let tx = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let (got, rows) = answer(&tx, &select).await;
    assert_eq!(names(&got), columns, "after {change:?}, in a read-only transaction");
    assert_eq!(rows, vec![row.clone()]);
    tx.commit().await.unwrap();
    let tx = db.begin().await.unwrap();
    let (got, rows) = answer(&tx, &select).await;
    assert_eq!(names(&got), columns, "after {change:?}, in a write transaction");
    assert_eq!(rows, vec![row]);
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_change_shows_in_cached_statements() {
    let server = Server::start_with(&["--readers", "3"]);
    let db = server.database("schema").await;
    let base = "CREATE TABLE t1 (a INTEGER, b TEXT); INSERT INTO t1 VALUES (1, 'two')";
    check(
        &db,
        base,
        "ALTER TABLE t1 ADD COLUMN c REAL DEFAULT 3.5",
        &["a", "b", "c"],
        vec![Value::Integer(1), text("two"), Value::Real(3.5)],
    )
    .await;
    check(
        &db,
        base,
        "ALTER TABLE t1 DROP COLUMN b",
        &["a"],
        vec![Value::Integer(1)],
    )
    .await;
    check(
        &db,
        base,
        "ALTER TABLE t1 RENAME COLUMN b TO renamed",
        &["a", "renamed"],
        vec![Value::Integer(1), text("two")],
    )
    .await;
    check(
        &db,
        base,
        "DROP TABLE t1; CREATE TABLE t1 (x, y, z, w); INSERT INTO t1 VALUES (1, 2, 3, 4)",
        &["x", "y", "z", "w"],
        (1..=4).map(Value::Integer).collect(),
    )
    .await;
    check(
        &db,
        base,
        "DROP TABLE t1; CREATE TABLE t1 (x); INSERT INTO t1 VALUES ('only')",
        &["x"],
        vec![text("only")],
    )
    .await;
    check(
        &db,
        "CREATE TABLE t1 (a, b); INSERT INTO t1 VALUES (1, 2); CREATE VIEW v1 AS SELECT a FROM t1",
        "DROP VIEW v1; CREATE VIEW v1 AS SELECT b, a, a + b AS s FROM t1",
        &["b", "a", "s"],
        vec![Value::Integer(2), Value::Integer(1), Value::Integer(3)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_types_follow_the_schema_too() {
    let server = Server::start_with(&["--readers", "2"]);
    let db = server.database("types").await;
    db.execute("CREATE TABLE t (a INTEGER)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    for _ in 0..WARM {
        answer(&db, "SELECT * FROM t").await;
    }
    db.execute("DROP TABLE t", ()).await.unwrap();
    db.execute("CREATE TABLE t (a TEXT)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES ('x')", ()).await.unwrap();
    for _ in 0..WARM {
        let (columns, rows) = answer(&db, "SELECT * FROM t").await;
        assert_eq!(columns, vec![("a".to_string(), "TEXT".to_string())]);
        assert_eq!(rows, vec![vec![text("x")]]);
    }
    // An empty result tells the new columns as well.
    db.execute("DELETE FROM t", ()).await.unwrap();
    db.execute("ALTER TABLE t ADD COLUMN b BLOB", ())
        .await
        .unwrap();
    for _ in 0..WARM {
        let (columns, rows) = answer(&db, "SELECT * FROM t").await;
        assert_eq!(names(&columns), vec!["a", "b"]);
        assert!(rows.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_statements_follow_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE t1 (a, b); INSERT INTO t1 VALUES (1, 2)")
        .unwrap();
    drop(conn);
    let file = dir.path().join("statements.toml");
    std::fs::write(
        &file,
        "[databases.app.statements.all]\nsql = \"SELECT * FROM t1\"\n",
    )
    .unwrap();
    let server = Server::start_in(
        dir.path(),
        &["--statements", file.to_str().unwrap(), "--readers", "2"],
    );
    let db = server.database("app").await;
    for _ in 0..WARM {
        db.call_all("all", args! {}).await.unwrap();
    }
    db.execute("ALTER TABLE t1 ADD COLUMN c DEFAULT 'new'", ())
        .await
        .unwrap();
    for _ in 0..WARM {
        let rows = db.call_all("all", args! {}).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), 3);
        assert_eq!(rows[0].columns()[2].name(), "c");
        assert_eq!(rows[0].get::<String>(2).unwrap(), "new");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pragmas_answer_from_the_current_schema() {
    // One reader, which has read the schema before the change.
    let server = Server::start_with(&["--readers", "1"]);
    let db = server.database("pragmas").await;
    db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap();
    for sql in ["PRAGMA table_info(p)", "PRAGMA index_info(ix)", "SELECT * FROM p"] {
        db.query_all(sql, ()).await.unwrap();
    }
    db.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id), data TEXT)", ())
        .await
        .unwrap();
    db.execute("CREATE INDEX ix ON c (data)", ()).await.unwrap();
    // Each PRAGMA, and the same one again (cached), as SQLite's one connection answers them.
    for _ in 0..2 {
        let (_, rows) = answer(&db, "PRAGMA index_info(ix)").await;
        assert_eq!(rows.len(), 1, "index_info: {rows:?}");
        assert_eq!(rows[0][2], text("data"));
        let (_, rows) = answer(&db, "PRAGMA foreign_key_list(c)").await;
        assert_eq!(rows.len(), 1, "foreign_key_list: {rows:?}");
        let (_, rows) = answer(&db, "PRAGMA table_info(c)").await;
        assert_eq!(rows.len(), 3, "table_info: {rows:?}");
        let (_, rows) = answer(&db, "PRAGMA index_list(c)").await;
        assert_eq!(rows.len(), 1, "index_list: {rows:?}");
    }
    db.execute("DROP INDEX ix", ()).await.unwrap();
    let (_, rows) = answer(&db, "PRAGMA index_info(ix)").await;
    assert!(rows.is_empty(), "a dropped index: {rows:?}");
}
