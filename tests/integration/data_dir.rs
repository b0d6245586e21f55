//! One server per data directory, and no restore under a running one: the directory's lock.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Server, eventually_blocking, restore, scalar, sqlited_binary};

/// A small, sound SQLite file holding `t(x)` with the row `marker`.
fn backup_file(marker: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (x)").unwrap();
    conn.execute("INSERT INTO t VALUES (?)", [marker]).unwrap();
    drop(conn);
    std::fs::read(path).unwrap()
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start_in(dir.path(), &[]);
    let mut second = Command::new(sqlited_binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let awaited = "the second server on the same data directory to exit";
    let status = eventually_blocking(Duration::from_secs(30), awaited, || {
        second.try_wait().unwrap().ok_or("still running")
    });
    assert!(!status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut log).unwrap();
    let holder = format!("process {}", first.pid());
    assert!(log.contains("in use by a running sqlited"), "{log}");
    assert!(log.contains(&holder), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_data_directory_a_server_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES ('live')", ()).await.unwrap();

    let out = restore(dir.path(), "app", &backup_file("restored"), true);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("process {}", server.pid())), "{stderr}");
    // The live database was not touched: the server keeps serving and keeping its writes.
    db.execute("INSERT INTO t VALUES ('after')", ()).await.unwrap();
    drop(db);
    assert!(server.terminate().success());
    let again = Server::start_in(dir.path(), &[]);
    let db = again.database("app").await;
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 2);
    drop(db);
    drop(again);

    // Stopped, the directory can be restored into.
    let out = restore(dir.path(), "app", &backup_file("restored"), true);
    assert!(out.status.success(), "{out:?}");
    let server = Server::start_in(dir.path(), &[]);
    let db = server.database("app").await;
    assert_eq!(scalar::<String>(&db, "SELECT x FROM t").await, "restored");
}

/// `sqlited restore --help` once said a running server's directory could take a restore
/// under a name the server did not have open; the lock refuses every name, and the help
/// says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_held_directory_for_a_name_the_server_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    server.database("app").await.execute("CREATE TABLE t (x)", ()).await.unwrap();

    let out = restore(dir.path(), "other", &backup_file("restored"), false);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("process {}", server.pid())), "{stderr}");
    assert!(!dir.path().join("other.db").exists());

    // The subcommand's help and the top-level list of commands alike.
    for args in [&["restore", "--help"][..], &["--help"], &["-h"], &["help", "restore"]] {
        let help = help(args);
        assert!(help.contains("Stop the server first"), "{args:?}: {help}");
        assert!(!help.contains("does not have open"), "{args:?}: {help}");
        assert!(!help.contains("has not open"), "{args:?}: {help}");
    }
}

/// What `sqlited ARGS` prints on stdout.
fn help(args: &[&str]) -> String {
    let out = Command::new(sqlited_binary()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The help says what the server does with the bounds this round changed: read-only
/// transactions past --readers are refused at once, and the statement cache is bounded in
/// bytes too.
#[test]
fn the_help_describes_the_bounds_as_they_behave() {
    let help = help(&["--help"]);
    let flag = |name: &str| {
        let start = help
            .find(&format!("--{name} <"))
            .unwrap_or_else(|| panic!("--{name} in {help}"));
        let end = help[start + 2..].find("\n      --").map_or(help.len(), |e| start + 2 + e);
        help[start..end].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let readers = flag("readers");
    assert!(readers.contains("Read-only transactions pin readers"), "{readers}");
    assert!(readers.contains("RESOURCE_EXHAUSTED"), "{readers}");
    let cache = flag("statement-cache");
    assert!(cache.contains("--statement-cache-memory"), "{cache}");
    let memory = flag("statement-cache-memory");
    assert!(memory.contains("never cached"), "{memory}");
    assert!(memory.contains("[default: 8MiB]"), "{memory}");
}
