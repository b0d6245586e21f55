//! Data survives a restart; SIGTERM drains, checkpoints and exits 0.

use sqlited_client::params;

use crate::harness::{Server, eventually};

// Multi-threaded: the client's connection must keep running while the test blocks on the
// server's exit, or the server's graceful drain would wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start_in(dir.path(), &[]);
        let db = server.database("keep").await;
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)", ())
            .await
            .unwrap();
        db.execute_many(
            "INSERT INTO t VALUES (?, ?)",
            (0..100).map(|i| params![format!("k{i}"), i]),
        )
        .await
        .unwrap();
        let status = server.terminate();
        assert!(
            status.success(),
            "exit status {status:?}; log:\n{}",
            server.log()
        );
        assert!(server.log().contains("stopped cleanly"));
        assert!(
            server.log().contains("group commit sizes"),
            "{}",
            server.log()
        );
    }
    // A clean close checkpoints the WAL into the database file.
    let wal = dir.path().join("keep.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL left behind"
    );

    let mut server = Server::start_in(dir.path(), &[]);
    let db = server.database("keep").await;
    let row = db
        .query_one("SELECT count(*), sum(v) FROM t", ())
        .await
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 100);
    assert_eq!(row.get::<i64>(1).unwrap(), (0..100).sum::<i64>());
    assert!(server.terminate().success());
}

#[test]
fn sigterm_with_a_connected_client_exits_zero() {
    let mut server = Server::start();
    let conn = sqlited_client::blocking::connect(&server.db_url("busy")).unwrap();
    conn.execute("CREATE TABLE t (x)", ()).unwrap();
    conn.execute("INSERT INTO t VALUES (1)", ()).unwrap();
    let status = server.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        server.log()
    );
    // The connection now reports the server as gone, clearly.
    let err = conn.execute("SELECT 1", ()).unwrap_err();
    assert_eq!(err.kind(), sqlited_client::ErrorKind::Operational, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_does_not_stop_the_server() {
    let server = Server::start();
    let db = server.database("hup").await;
    db.execute("SELECT 1", ()).await.unwrap();
    server.signal(libc::SIGHUP);
    eventually(std::time::Duration::from_secs(10), "SIGHUP logged", || {
        std::future::ready(server.logged(|log| log.contains("SIGHUP received")))
    })
    .await;
    db.execute("SELECT 1", ()).await.unwrap();
}
