//! Exposed statements: every check passing and failing, all violations at once, coercion,
//! unknown statements, exposed-only databases, bad files at start and on reload.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sqlited_client::{Client, ErrorKind, Value, args, params};
use tonic::Code;

use crate::harness::{Server, eventually, sqlited_binary};

const SCHEMA: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
    age INTEGER, score REAL, active INTEGER, joined TEXT, seen INTEGER, avatar BLOB, \
    email TEXT, plan TEXT)";

const STATEMENTS: &str = r#"
[databases.app.statements.add_user]
description = "Adds a user."
sql = """INSERT INTO users (name, age, score, active, joined, seen, avatar, email, plan)
         VALUES (:name, :age, :score, :active, :joined, :seen, :avatar, :email, :plan)"""
writes = true
params.name = { type = "text", min_length = 2, max_length = 8, regex = "[a-z]+" }
params.age = { type = "integer", min = 0, max = 150, coerce = true }
params.score = { type = "real", min = 0.0, max = 10.0, coerce = true, default = 5.0 }
params.active = { type = "bool", default = true }
params.joined = { type = "timestamp" }
params.seen = { type = "timestamp", store = "unix", nullable = true }
params.avatar = { type = "blob", max_length = 4, nullable = true }
params.email = { type = "text", nullable = true }
params.plan = { type = "text", one_of = ["free", "pro"], default = "free" }

[databases.app.statements.user_by_name]
sql = "SELECT name, age, score, active, joined, seen, plan FROM users WHERE name = :name"
params.name = { type = "text" }

[databases.locked]
exposed_only = true

[databases.locked.statements.count]
sql = "SELECT count(*) FROM t"
"#;

/// A data directory holding `app` and `locked` with their tables.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let app = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    app.execute_batch(SCHEMA).unwrap();
    let locked = rusqlite::Connection::open(dir.path().join("locked.db")).unwrap();
    locked.execute_batch("CREATE TABLE t (x)").unwrap();
    dir
}

fn start(dir: &Path, statements: &str) -> Server {
    let file = dir.join("statements.toml");
    std::fs::write(&file, statements).unwrap();
    Server::start_in(dir, &["--statements", file.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_checked_arguments() {
    let dir = data_dir();
    let server = start(dir.path(), STATEMENTS);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("app");
    // Everything right; text coerced where allowed; defaults fill the rest.
    let mut rows = db
        .call(
            "add_user",
            args! {"name" => "ann", "age" => "42", "joined" => "2026-11-26T10:30:00+01:00",
            "seen" => "1970-01-02", "avatar" => vec![1u8, 2], "email" => Value::Null},
        )
        .await
        .unwrap();
    while rows.next().await.unwrap().is_some() {}
    assert_eq!(rows.summary().unwrap().rows_affected, 1);
    let row = &db
        .call_all("user_by_name", args! {"name" => "ann"})
        .await
        .unwrap()[0];
    assert_eq!(row.get::<i64>(1).unwrap(), 42);
    assert_eq!(row.get::<f64>(2).unwrap(), 5.0);
    assert_eq!(row.get::<i64>(3).unwrap(), 1);
    assert_eq!(row.get::<String>(4).unwrap(), "2026-11-26T09:30:00Z");
    assert_eq!(row.get::<i64>(5).unwrap(), 86_400);
    assert_eq!(row.get::<String>(6).unwrap(), "free");
    // Unix seconds for a text-stored timestamp; a real from text; a bool from text.
    db.call_all(
        "add_user",
        args! {"name" => "bob", "age" => 7, "joined" => 0, "score" => "1.25",
        "active" => 0, "plan" => "pro"},
    )
    .await
    .unwrap();
    let bob = &db
        .call_all("user_by_name", args! {"name" => "bob"})
        .await
        .unwrap()[0];
    assert_eq!(bob.get::<String>(4).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(bob.get::<f64>(2).unwrap(), 1.25);

    // Every violation of one call, reported at once, field by field.
    let err = db
        .call_all(
            "add_user",
            args! {"name" => "X", "age" => 200, "score" => "spam", "active" => 5,
            "joined" => "yesterday", "avatar" => vec![0u8; 9], "plan" => "gold",
            "extra" => 1, "email" => 3},
        )
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
    assert_eq!(err.kind(), ErrorKind::Programming);
    let fields: Vec<&str> = err.violations().iter().map(|(f, _)| f.as_str()).collect();
    for field in [
        "args.name",
        "args.age",
        "args.score",
        "args.active",
        "args.joined",
        "args.avatar",
        "args.plan",
        "args.extra",
        "args.email",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    let why = |field: &str| {
        err.violations()
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, w)| w.clone())
            .unwrap()
    };
    assert!(
        why("args.name").contains("shorter than the minimum 2"),
        "{}",
        why("args.name")
    );
    assert!(why("args.age").contains("above the maximum 150"));
    assert!(why("args.score").contains("expected a real"));
    assert!(why("args.plan").contains("not one of"));
    assert!(why("args.joined").contains("ISO-8601"));
    assert!(why("args.email").contains("expected a text"));
    // Regex and a missing required argument; NULL where not nullable.
    let err = db
        .call_all("add_user", args! {"name" => "ABC", "age" => Value::Null})
        .await
        .unwrap_err();
    let fields: Vec<&str> = err.violations().iter().map(|(f, _)| f.as_str()).collect();
    // (Parameters are checked in name order.)
    assert_eq!(fields, ["args.age", "args.joined", "args.name"], "{err}");
    // Strict by default: text for an integer without coerce is refused.
    let err = db
        .call_all(
            "add_user",
            args! {"name" => "cy", "age" => 1, "joined" => 0, "active" => "1"},
        )
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].0, "args.active");
    // Nothing of the refused calls ran.
    assert_eq!(
        db.query_all("SELECT count(*) FROM users", ())
            .await
            .unwrap()[0]
            .get::<i64>(0)
            .unwrap(),
        2
    );
    // Unknown statements, positional arguments.
    let err = db.call_all("drop_all", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::NotFound));
    assert!(err.to_string().contains("add_user"), "{err}");
    assert!(db.call_all("add_user", params![1]).await.is_err());
    // Discovery.
    let listed = db.list_statements().await.unwrap();
    let add = listed.iter().find(|s| s.name == "add_user").unwrap();
    assert!(add.writes);
    assert_eq!(add.params.len(), 9);
    let name = add.params.iter().find(|p| p.name == "name").unwrap();
    assert_eq!((name.r#type.as_str(), name.max_length), ("text", Some(8)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_only_databases_refuse_raw_sql_but_take_calls_in_transactions() {
    let dir = data_dir();
    let server = start(dir.path(), STATEMENTS);
    let client = Client::connect(&server.url()).await.unwrap();
    let locked = client.database("locked");
    for result in [
        locked.execute("DELETE FROM t", ()).await.map(|_| ()),
        locked.query_all("SELECT * FROM t", ()).await.map(|_| ()),
        locked
            .execute_batch([("DELETE FROM t", ())])
            .await
            .map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
        assert!(err.to_string().contains("Call"), "{err}");
    }
    let count = locked.call_all("count", ()).await.unwrap();
    assert_eq!(count[0].get::<i64>(0).unwrap(), 0);
    // Calls inside a transaction, rolled back.
    let app = client.database("app");
    let tx = app.begin().await.unwrap();
    tx.call_all(
        "add_user",
        args! {"name" => "tx", "age" => 1, "joined" => 0},
    )
    .await
    .unwrap();
    assert_eq!(
        tx.call_all("user_by_name", args! {"name" => "tx"})
            .await
            .unwrap()
            .len(),
        1
    );
    tx.rollback().await.unwrap();
    assert!(
        app.call_all("user_by_name", args! {"name" => "tx"})
            .await
            .unwrap()
            .is_empty()
    );
    // With --exposed-only, every database refuses raw SQL.
    drop(server);
    let file = dir.path().join("statements.toml");
    let server = Server::start_in(
        dir.path(),
        &["--statements", file.to_str().unwrap(), "--exposed-only"],
    );
    let app = Client::connect(&server.url())
        .await
        .unwrap()
        .database("app");
    let err = app.query_all("SELECT 1", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::PermissionDenied));
    app.call_all("user_by_name", args! {"name" => "x"})
        .await
        .unwrap();
}

/// Starts sqlited on `dir` with `statements` and returns its stderr once it exits (it must).
fn failed_start(dir: &Path, statements: &str) -> String {
    let file = dir.join("bad.toml");
    std::fs::write(&file, statements).unwrap();
    let out = Command::new(sqlited_binary())
        .args(["--listen", "127.0.0.1:0", "--statements"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started with {statements}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_statements_file_stops_the_start_with_the_reason() {
    let dir = data_dir();
    let typo = STATEMENTS.replace("FROM users WHERE", "FROM usrs WHERE");
    let log = failed_start(dir.path(), &typo);
    assert!(
        log.contains("bad.toml")
            && log.contains("user_by_name")
            && log.contains("no such table: usrs"),
        "{log}"
    );
    let unused = STATEMENTS.replace(
        "params.name = { type = \"text\" }",
        "params.name = { type = \"text\" }\nparams.limit = { type = \"integer\" }",
    );
    let log = failed_start(dir.path(), &unused);
    assert!(
        log.contains("params.limit is declared but the SQL does not use :limit"),
        "{log}"
    );
    let undeclared = STATEMENTS.replace("params.name = { type = \"text\" }\n", "");
    let log = failed_start(dir.path(), &undeclared);
    assert!(log.contains("uses :name, which is not declared"), "{log}");
    let wrong_default = STATEMENTS.replace("default = \"free\"", "default = \"gold\"");
    let log = failed_start(dir.path(), &wrong_default);
    assert!(
        log.contains("default") && log.contains("not one of"),
        "{log}"
    );
    let lies = STATEMENTS.replace("writes = true\n", "");
    let log = failed_start(dir.path(), &lies);
    assert!(
        log.contains("the SQL writes but the statement says writes = false"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_swap_whole_files_and_keep_the_old_one_when_bad() {
    let dir = data_dir();
    let server = start(dir.path(), STATEMENTS);
    let client = Client::connect(&server.url()).await.unwrap();
    let app = client.database("app");
    let file = dir.path().join("statements.toml");
    let mut rpc =
        sqlited_client::proto::v1::statements_client::StatementsClient::connect(server.url())
            .await
            .unwrap();
    // A bad file by RPC: refused, the old statements stay.
    std::fs::write(&file, STATEMENTS.replace("FROM users", "FROM nowhere")).unwrap();
    let status = rpc
        .reload_statements(sqlited_client::proto::v1::ReloadStatementsRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "{status:?} {}",
        server.log()
    );
    assert!(status.message().contains("no such table: nowhere"));
    app.call_all("user_by_name", args! {"name" => "a"})
        .await
        .unwrap();
    // A bad file by SIGHUP: logged, the old statements stay.
    server.signal(libc::SIGHUP);
    eventually(Duration::from_secs(10), "the reload's refusal logged", || {
        std::future::ready(server.logged(|log| log.contains("the statements file was not reloaded")))
    })
    .await;
    app.call_all("user_by_name", args! {"name" => "a"})
        .await
        .unwrap();
    // A good file: a new statement appears, a removed one is gone.
    let renamed = STATEMENTS.replace("user_by_name", "find_user");
    std::fs::write(&file, renamed).unwrap();
    let reloaded = rpc
        .reload_statements(sqlited_client::proto::v1::ReloadStatementsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reloaded.statements, 3);
    app.call_all("find_user", args! {"name" => "a"})
        .await
        .unwrap();
    let err = app
        .call_all("user_by_name", args! {"name" => "a"})
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::NotFound));
}

#[test]
fn the_blocking_connection_calls_like_db_api_callproc() {
    let dir = data_dir();
    let server = start(dir.path(), STATEMENTS);
    let conn = sqlited_client::blocking::connect(&server.db_url("app")).unwrap();
    let mut cursor = conn.cursor();
    cursor
        .callproc(
            "add_user",
            args! {"name" => "dee", "age" => 30, "joined" => 0},
        )
        .unwrap();
    assert_eq!(cursor.rowcount(), 1);
    cursor
        .callproc("user_by_name", args! {"name" => "dee"})
        .unwrap();
    let row = cursor.fetchone().unwrap().unwrap();
    assert_eq!(row.get::<i64>(1).unwrap(), 30);
    let rows = conn.call("user_by_name", args! {"name" => "dee"}).unwrap();
    assert_eq!(rows.len(), 1);
    let err = conn
        .call("add_user", args! {"name" => "d", "age" => -1})
        .unwrap_err();
    assert_eq!(err.violations().len(), 3, "{err}");
}
