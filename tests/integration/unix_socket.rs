//! `--listen unix:PATH`: the server on a Unix domain socket — the clients' `unix:` URLs, the
//! health check, the socket's mode, the per-user connection limit, and the rule for a file
//! already at the path (a stale socket is replaced; a live one, or a file that is not a
//! socket, is refused and left alone).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlited_client::Client;

use crate::harness::{Server, sqlited_binary, workers_mode};

/// Runs `sqlited --listen unix:SOCKET` on `data_dir` expecting it to refuse to start; its
/// output, once it has exited (bounded).
fn refused(data_dir: &Path, socket: &Path, args: &[&str]) -> Output {
    let child = Command::new(sqlited_binary())
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("SQLITED_WORKERS", workers_mode())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sqlited");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(output) => output.expect("wait for sqlited"),
        Err(_) => {
            // SAFETY: killing the child this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("sqlited started on {} instead of refusing", socket.display());
        }
    }
}

fn healthcheck(addr: &str) -> Output {
    Command::new(sqlited_binary())
        .args(["healthcheck", "--addr", addr])
        .output()
        .expect("run sqlited healthcheck")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("the socket").permissions().mode() & 0o777
}

#[tokio::test]
async fn clients_and_the_health_check_reach_the_server_on_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sqlited.sock");
    let listen = format!("unix:{}", socket.display());
    let server = Server::start_listening(dir.path(), &listen, &[]);
    assert_eq!(server.listening, listen, "the announce line names the socket");
    assert_eq!(mode(&socket), 0o660, "owner and group may connect, no one else");

    // The async client: `unix:PATH`, and `unix://PATH` alike.
    let client = Client::connect(&listen).await.expect("connect over the socket");
    client.admin().create_database("app", true).await.unwrap();
    let db = client.database("app");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (?)", [7]).await.unwrap();
    let again = Client::connect(&format!("unix://{}", socket.display()))
        .await
        .unwrap()
        .database("app");
    assert_eq!(crate::harness::scalar::<i64>(&again, "SELECT x FROM t").await, 7);

    // The blocking client names the database in the query.
    let url = server.db_url("app");
    assert_eq!(url, format!("{listen}?database=app"));
    let sum: i64 = std::thread::spawn(move || {
        let conn = sqlited_client::blocking::connect(&url).expect("blocking connect");
        conn.execute("INSERT INTO t VALUES (35)", ()).unwrap();
        conn.query_one("SELECT sum(x) FROM t", ())
            .unwrap()
            .get(0)
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(sum, 42);
    let bad = sqlited_client::blocking::connect(&listen).unwrap_err();
    assert!(bad.to_string().contains("?database="), "{bad}");

    let health = healthcheck(&listen);
    assert!(health.status.success(), "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "SERVING");

    // The clients' connections close on this runtime while the server drains: wait for the
    // server off it.
    drop((client, db, again));
    let stopped = tokio::task::spawn_blocking(move || { let mut server = server; server.terminate() })
        .await
        .unwrap();
    assert!(stopped.success());
    assert!(!socket.exists(), "the socket is removed when the server stops");
    let health = healthcheck(&listen);
    assert!(!health.status.success(), "{health:?}");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_or_another_file_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sqlited.sock");
    let listen = format!("unix:{}", socket.display());
    // A socket nothing accepts on: what a server that died leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let data = dir.path().join("one");
    std::fs::create_dir(&data).unwrap();
    let mut server = Server::start_listening(&data, &listen, &[]);
    assert!(server.log().contains("removing a stale Unix socket"));

    // A second server (on another data directory) may not take the live server's socket.
    let other = dir.path().join("two");
    let out = refused(&other, &socket, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a server is listening on it"), "{stderr}");
    assert!(healthcheck(&listen).status.success(), "the live server still serves");

    // Killed, the server leaves its socket; the next one replaces it.
    server.kill9();
    assert!(socket.exists(), "SIGKILL leaves the socket behind");
    let mut server = Server::start_listening(&data, &listen, &[]);
    assert!(healthcheck(&listen).status.success());
    assert!(server.terminate().success());

    // A file that is not a socket is never removed.
    std::fs::write(&socket, "precious").unwrap();
    let out = refused(&other, &socket, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[test]
fn the_socket_mode_is_configurable_and_tls_is_refused_on_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sqlited.sock");
    let listen = format!("unix:{}", socket.display());
    let mut server = Server::start_listening(dir.path(), &listen, &["--unix-socket-mode", "600"]);
    assert_eq!(mode(&socket), 0o600);
    assert!(server.terminate().success());

    let out = refused(
        &dir.path().join("tls"),
        &socket,
        &["--tls-cert", "cert.pem", "--tls-key", "key.pem"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let log = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(log.contains("serves plaintext"), "{log}");
}

#[tokio::test]
async fn connections_are_counted_per_user_on_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sqlited.sock");
    let listen = format!("unix:{}", socket.display());
    let server =
        Server::start_listening(dir.path(), &listen, &["--max-connections-per-client", "1"]);
    let first = Client::connect(&listen).await.unwrap();
    first.admin().create_database("app", true).await.unwrap();
    // The same user's second connection is served: the first, idle, makes room (its client
    // reconnects when it is used again).
    let second = Client::connect(&listen).await.unwrap();
    assert!(second.database("app").query_all("SELECT 1", ()).await.is_ok());
    let log = server.log();
    assert!(log.contains("uid") && log.contains("--max-connections-per-client"), "{log}");
}
