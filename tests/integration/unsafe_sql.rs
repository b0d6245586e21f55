//! `--unsafe-sql`: what it lifts (ATTACH of the data directory's databases, PRAGMAs that set
//! the request's own connection) and what still holds — no file made or written, no
//! database reached without a role on it, and nothing one request changes on a connection
//! it shares reaching another request, on the readers and on the writer.

use sqlited_client::params;
use tonic::Code;

use crate::harness::Server;
use crate::security::{ADMIN, READER, WRITER, auth_server, connect};

fn code(err: &sqlited_client::Error) -> Code {
    err.status_code()
        .unwrap_or_else(|| panic!("no status in {err}"))
}

/// `ATTACH 'DATA_DIR/NAME.db' AS alias`.
fn attach(server: &Server, name: &str, alias: &str) -> String {
    let path = server.data_dir.join(format!("{name}.db"));
    format!("ATTACH '{}' AS {alias}", path.display())
}

fn assert_no_such_table(result: Result<Vec<sqlited_client::Row>, sqlited_client::Error>) {
    let err = result.expect_err("the attached database is gone");
    assert!(err.to_string().contains("no such table"), "{err}");
}

// One reader, so that a later request runs on the very connection an earlier one used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_request_attaches_or_sets_does_not_outlive_it() {
    let s = auth_server("", &["--unsafe-sql", "--readers", "1"]);
    let admin = connect(&s.server, ADMIN).await;
    let secret = admin.database("secret");
    secret
        .execute("CREATE TABLE s (v TEXT)", ())
        .await
        .unwrap();
    secret
        .execute("INSERT INTO s VALUES ('hidden')", ())
        .await
        .unwrap();
    let app = admin.database("app");
    app.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let reader = connect(&s.server, READER).await.database("app");
    let writer = connect(&s.server, WRITER).await.database("app");
    let attach = attach(&s.server, "secret", "s");

    // On the reader: the admin's ATTACH (a Query, read-only) is gone for the next request,
    // the admin's own and another token's.
    let rows = app.query_all(&attach, ()).await.unwrap();
    assert!(rows.is_empty());
    assert_no_such_table(app.query_all("SELECT v FROM s.s", ()).await);
    assert_no_such_table(reader.query_all("SELECT v FROM s.s", ()).await);

    // On the writer: a batch attaches and reads; the next write, another token's, does not
    // see it.
    app.execute_batch([
        (attach.as_str(), params![]),
        ("INSERT INTO t SELECT length(v) FROM s.s", params![]),
    ])
    .await
    .unwrap();
    assert_no_such_table(
        writer
            .query_all("INSERT INTO t SELECT v FROM s.s RETURNING x", ())
            .await,
    );
    // And inside a write transaction it lasts until the transaction ends, no longer.
    let tx = app.begin().await.unwrap();
    tx.execute(&attach, ()).await.unwrap();
    let rows = tx.query_all("SELECT v FROM s.s", ()).await.unwrap();
    assert_eq!(rows.len(), 1);
    tx.commit().await.unwrap();
    assert_no_such_table(
        writer
            .query_all("INSERT INTO t SELECT v FROM s.s RETURNING x", ())
            .await,
    );

    // Settings: set by one request, as they were for the next.
    app.query_all("PRAGMA recursive_triggers = ON", ())
        .await
        .unwrap();
    let on: i64 = reader
        .query_one("PRAGMA recursive_triggers", ())
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(on, 0, "the reader's setting was restored");
    app.execute("PRAGMA case_sensitive_like = ON", ())
        .await
        .unwrap();
    let like: i64 = writer
        .query_one("INSERT INTO t SELECT 'a' LIKE 'A' RETURNING x", ())
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(like, 1, "the writer's LIKE is case-insensitive again");

    // A token without a role on every database cannot attach at all.
    for token in [&writer, &reader] {
        let err = token.query_all(&attach, ()).await.unwrap_err();
        assert_eq!(code(&err), Code::PermissionDenied, "{err}");
        assert!(err.to_string().contains("\"*\""), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_names_only_existing_databases_of_the_data_directory_and_never_writes() {
    let server = Server::start_with(&["--unsafe-sql"]);
    let other = server.database("other").await;
    other
        .execute("CREATE TABLE o (v)", ())
        .await
        .unwrap();
    let db = server.database("app").await;
    let outside = tempfile::tempdir().unwrap();
    let foreign = outside.path().join("foreign.db");
    rusqlite_file(&foreign);
    let data = &server.data_dir;
    let refused = [
        format!("ATTACH '{}' AS n", data.join("new.db").display()),
        format!("ATTACH '{}' AS n", outside.path().join("new.db").display()),
        format!("ATTACH '{}' AS n", foreign.display()),
        format!("ATTACH 'file:{}?mode=rwc' AS n", data.join("uri.db").display()),
        format!("ATTACH '{}' AS n", data.join(".sqlited.lock").display()),
        "ATTACH ':memory:' AS n".into(),
        "ATTACH '' AS n".into(),
    ];
    for sql in &refused {
        for result in [
            db.execute(sql, ()).await.map(drop),
            db.query_all(sql, ()).await.map(drop),
        ] {
            let err = result.expect_err(sql);
            assert_eq!(code(&err), Code::PermissionDenied, "{sql}: {err}");
            assert!(
                !err.to_string().contains(&*data.to_string_lossy()),
                "a server path in {err}"
            );
        }
    }
    // A file named by a bound parameter cannot be checked.
    let bound = data.join("other.db").to_string_lossy().into_owned();
    let err = db
        .query_all("ATTACH ?1 AS n", params![bound])
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::PermissionDenied, "{err}");
    for made in ["new.db", "uri.db"] {
        assert!(!data.join(made).exists(), "{made} was made");
    }
    assert!(!outside.path().join("new.db").exists());
    // Another database of the data directory is attached read-only.
    let attach = format!("ATTACH '{}' AS other", data.join("other.db").display());
    let err = db
        .execute_batch([
            (attach.as_str(), params![]),
            ("INSERT INTO other.o VALUES (1)", params![]),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    let rows = other.query_all("SELECT * FROM o", ()).await.unwrap();
    assert!(rows.is_empty(), "nothing was written through the attachment");
}

// The path is judged as written: its directory must be the data directory itself, with no
// `..`, no symbolic link on the way and no URI, so that what is checked is what SQLite opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_refuses_every_path_that_leaves_the_data_directory_or_hides_its_way() {
    let server = Server::start_with(&["--unsafe-sql"]);
    let other = server.database("other").await;
    other.execute("CREATE TABLE o (v)", ()).await.unwrap();
    let db = server.database("app").await;
    let outside = tempfile::tempdir().unwrap();
    rusqlite_file(&outside.path().join("x.db"));
    rusqlite_file(&outside.path().join("other.db"));
    let data = &server.data_dir;
    let link = |target: &std::path::Path, name: &str| {
        std::os::unix::fs::symlink(target, data.join(name)).unwrap();
    };
    link(outside.path(), "away");
    link(data, "itself");
    link(&outside.path().join("x.db"), "x.db");
    link(&data.join("other.db"), "alias.db");
    let under = |path: &str| data.join(path).display().to_string();
    let dir_name = data.file_name().unwrap().to_string_lossy().into_owned();
    let refused = [
        ("a directory linked outside", under("away/x.db")),
        ("a directory linked outside, then ..", under("away/../x.db")),
        ("a directory linked to itself", under("itself/other.db")),
        ("a file linked outside", under("x.db")),
        ("a file linked inside", under("alias.db")),
        ("..", under(&format!("../{dir_name}/other.db"))),
        (".. out", under("../x.db")),
        ("an absolute path outside", outside.path().join("x.db").display().to_string()),
        ("a URI", format!("file:{}?mode=ro", under("other.db"))),
        ("a URI with a VFS", format!("file:{}?vfs=unix-none", under("other.db"))),
        ("an immutable URI", format!("file://{}?immutable=1", under("other.db"))),
        ("a relative name", "other.db".to_string()),
    ];
    for (what, path) in &refused {
        let sql = format!("ATTACH '{path}' AS n");
        for result in [
            db.execute(&sql, ()).await.map(drop),
            db.query_all(&sql, ()).await.map(drop),
        ] {
            let err = result.expect_err(what);
            assert_eq!(code(&err), Code::PermissionDenied, "{what}: {err}");
            assert!(
                err.message()
                    .contains("ATTACH may name only databases of the data directory"),
                "{what}: {err}"
            );
            assert!(
                !err.message().contains(&*data.to_string_lossy()),
                "{what}: a server path in {err}"
            );
        }
    }
    // The database itself, by its path in the data directory, is attached.
    let sql = format!("ATTACH '{}' AS other", under("other.db"));
    let rows = db
        .execute_batch([(sql.as_str(), params![]), ("SELECT * FROM other.o", params![])])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pragmas_that_would_outlive_the_request_are_refused_with_why() {
    let server = Server::start_with(&["--unsafe-sql"]);
    let db = server.database("app").await;
    for (sql, why) in [
        ("PRAGMA journal_mode = DELETE", "WAL"),
        ("PRAGMA synchronous = OFF", "--synchronous"),
        ("PRAGMA foreign_keys = OFF", "defer_foreign_keys"),
        ("PRAGMA trusted_schema = ON", "safety"),
        ("PRAGMA temp_store = FILE", "memory"),
        ("PRAGMA soft_heap_limit = 0", "process"),
        ("PRAGMA wal_checkpoint", "Admin.Checkpoint"),
        ("PRAGMA no_such_setting = 1", "restores"),
    ] {
        let err = db.execute(sql, ()).await.unwrap_err();
        assert_eq!(code(&err), Code::PermissionDenied, "{sql}: {err}");
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
    // Reads of any PRAGMA are the unsafe mode's.
    let rows = db.query_all("PRAGMA database_list", ()).await.unwrap();
    assert_eq!(rows.len(), 1);
}

/// Makes an SQLite database at `path`, outside the server.
fn rusqlite_file(path: &std::path::Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("CREATE TABLE f (x)")
        .unwrap();
}
