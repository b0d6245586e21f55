//! Hardening of the operational surface: each test plays a client (or a stranger) who tries
//! what a rule forbids — maps around exposed_only or the write role, probing names through
//! health and metrics, colliding backups, names that read as options, a transaction that
//! outlives its role, leases past the ceiling, bodies that are not protobuf.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::{Buf, BufMut};
use sqlited_client::map::Condition;
use sqlited_client::proto::v1::admin_client::AdminClient;
use sqlited_client::proto::v1::BackupRequest;
use sqlited_client::{Client, ClientOptions, TransactionOptions};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{Server, eventually, eventually_blocking, sqlited_binary};

const ADMIN: &str = "sqlited_hostile-admin-token";
const WRITER: &str = "sqlited_hostile-writer-token";
const READER: &str = "sqlited_hostile-reader-token";

/// How long a poll for something the server does in the background may take.
const BOUND: Duration = Duration::from_secs(10);

/// A credentials file: admin everywhere, the writer's role on `app` as given, the reader
/// reading `app`.
fn write_credentials(path: &Path, writer_role: &str) {
    let hash = sqlited::token::hash_hex;
    let text = format!(
        "[[token]]\nname = \"admin\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"admin\" }}\n\n\
         [[token]]\nname = \"writer\"\nsha256 = \"{}\"\nroles = {{ app = \"{writer_role}\" }}\n\n\
         [[token]]\nname = \"reader\"\nsha256 = \"{}\"\nroles = {{ app = \"read\" }}\n",
        hash(ADMIN),
        hash(WRITER),
        hash(READER)
    );
    std::fs::write(path, text).unwrap();
}

/// A server with the credentials above (writer: `write`) in a temporary directory, plus
/// `args`; the directory also holds the credentials file.
struct AuthServer {
    server: Server,
    credentials: PathBuf,
    _dir: tempfile::TempDir,
}

fn auth_server(args: &[&str]) -> AuthServer {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.toml");
    write_credentials(&credentials, "write");
    let mut all = vec!["--credentials", credentials.to_str().unwrap()];
    all.extend_from_slice(args);
    AuthServer {
        server: Server::start_with(&all),
        credentials,
        _dir: dir,
    }
}

async fn client(server: &Server, token: &str) -> Client {
    Client::connect_with(&server.url(), ClientOptions::default().with_token(token))
        .await
        .unwrap()
}

fn code<T: std::fmt::Debug>(result: sqlited_client::Result<T>) -> Code {
    let err = result.expect_err("refused");
    err.status_code().unwrap_or_else(|| panic!("no status: {err}"))
}

/// The kv_ tables of `db`.
async fn map_tables(db: &sqlited_client::Database) -> Vec<String> {
    db.query_all(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'kv\\_%' ESCAPE '\\' \
         ORDER BY name",
        (),
    )
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0).unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_only_database_serves_only_the_maps_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let statements = dir.path().join("statements.toml");
    std::fs::write(
        &statements,
        "[databases.shop]\nexposed_only = true\nmaps = [\"carts\"]\n",
    )
    .unwrap();
    let server = Server::start_in(dir.path(), &["--statements", statements.to_str().unwrap()]);
    let client = Client::connect(&server.url()).await.unwrap();
    let shop = client.database("shop");
    let carts = shop.raw_map("carts");
    carts.set(b"k", b"v", Condition::Always).await.unwrap();
    assert_eq!(carts.get(b"k").await.unwrap().unwrap().value, b"v");
    let other = shop.raw_map("other");
    let err = other
        .set(b"k", b"v", Condition::IfAbsent)
        .await
        .expect_err("an undeclared map of an exposed-only database");
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    assert!(err.to_string().contains("maps = [\"other\"]"), "{err}");
    assert_eq!(code(other.get(b"k").await), Code::PermissionDenied);
    assert_eq!(code(other.len().await), Code::PermissionDenied);
    assert_eq!(code(other.page(None, 10).await), Code::PermissionDenied);
    assert_eq!(code(other.clear().await), Code::PermissionDenied);
    // A database that is not exposed-only keeps every map.
    let app = client.database("app").raw_map("anything");
    app.set(b"k", b"v", Condition::IfAbsent).await.unwrap();
    drop(server);

    // --exposed-only: no database declares a map here, so none is served.
    let server = Server::start_with(&["--exposed-only"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let map = client.database("app").raw_map("anything");
    assert_eq!(code(map.set(b"k", b"v", Condition::IfAbsent).await), Code::PermissionDenied);
    assert_eq!(code(map.contains(b"k").await), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_token_fills_maps_but_creates_only_declared_ones() {
    let dir = tempfile::tempdir().unwrap();
    let statements = dir.path().join("statements.toml");
    std::fs::write(&statements, "[databases.app]\nmaps = [\"sessions\"]\n").unwrap();
    let s = auth_server(&["--statements", statements.to_str().unwrap()]);
    let admin = client(&s.server, ADMIN).await.database("app");
    admin.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let writer = client(&s.server, WRITER).await.database("app");

    // Creating a map is a schema change: refused, saying what would do.
    let junk = writer.raw_map("junk");
    let err = junk
        .set(b"k", b"v", Condition::IfAbsent)
        .await
        .expect_err("a write token creating a map");
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    let message = err.to_string();
    assert!(message.contains("admin") && message.contains("maps = [\"junk\"]"), "{message}");
    assert_eq!(code(junk.set(b"k", b"v", Condition::Always).await), Code::PermissionDenied);
    // A compare-and-set against a version on a missing map fails as on an empty map.
    let cas = junk.set(b"k", b"v", Condition::IfVersion(3)).await.unwrap();
    assert!(!cas.applied, "{cas:?}");
    assert_eq!(
        code(writer.raw_map("junk2").set_many(vec![(b"k".to_vec(), b"v".to_vec())]).await),
        Code::PermissionDenied
    );
    // Reads and removals of missing maps answer as for empty ones, and create nothing.
    for name in ["gone1", "gone2", "gone3"] {
        let gone = writer.raw_map(name);
        assert_eq!(gone.delete(b"k").await.unwrap(), None);
        assert_eq!(gone.delete_many(vec![b"k".to_vec()]).await.unwrap(), 0);
        assert_eq!(gone.clear().await.unwrap(), 0);
        assert_eq!(gone.get(b"k").await.unwrap(), None);
        assert!(!gone.contains(b"k").await.unwrap());
        assert_eq!(gone.len().await.unwrap(), 0);
        assert!(gone.page(None, 10).await.unwrap().is_empty());
    }
    assert!(map_tables(&admin).await.is_empty(), "{:?}", map_tables(&admin).await);

    // A declared map the write token may create; any map admin may; an existing one takes
    // the write token's rows.
    let sessions = writer.raw_map("sessions");
    sessions.set(b"s1", b"alice", Condition::IfAbsent).await.unwrap();
    admin
        .raw_map("settings")
        .set(b"theme", b"dark", Condition::Always)
        .await
        .unwrap();
    writer
        .raw_map("settings")
        .set_many(vec![(b"lang".to_vec(), b"en".to_vec())])
        .await
        .unwrap();
    assert_eq!(writer.raw_map("settings").len().await.unwrap(), 2);
    assert_eq!(map_tables(&admin).await, ["kv_sessions", "kv_settings"]);
}

/// A channel to `server`, for the generated clients.
async fn channel(server: &Server) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The health of `service` as `token` (none: no token) sees it.
async fn health(
    server: &Server,
    service: &str,
    token: Option<&str>,
) -> Result<i32, tonic::Status> {
    let mut health = HealthClient::new(channel(server).await);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.into(),
    });
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    health.check(request).await.map(|r| r.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_no_database_names_to_callers_without_a_role() {
    let s = auth_server(&[]);
    let admin = client(&s.server, ADMIN).await;
    for name in ["app", "secret"] {
        admin.database(name).execute("SELECT 1", ()).await.unwrap();
    }
    let serving = Some(ServingStatus::Serving as i32);
    // The server-wide entries answer anyone.
    assert_eq!(health(&s.server, "", None).await.ok(), serving);
    assert_eq!(health(&s.server, "sqlited.v1.Database", None).await.ok(), serving);
    // A database's entry needs a token...
    let anonymous = health(&s.server, "sqlited.v1.Database/app", None).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    // ...with a role on it: an open database it may not see looks like one that does not exist.
    assert_eq!(health(&s.server, "sqlited.v1.Database/app", Some(READER)).await.ok(), serving);
    let hidden = health(&s.server, "sqlited.v1.Database/secret", Some(READER))
        .await
        .unwrap_err();
    let unknown = health(&s.server, "sqlited.v1.Database/nothing", Some(READER))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    assert_eq!(
        (hidden.code(), hidden.message()),
        (unknown.code(), unknown.message())
    );
    assert_eq!(health(&s.server, "sqlited.v1.Database/secret", Some(ADMIN)).await.ok(), serving);
    // Watch is screened the same way.
    let mut watch = HealthClient::new(channel(&s.server).await);
    let status = watch
        .watch(HealthCheckRequest {
            service: "sqlited.v1.Database/secret".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // The healthcheck subcommand: the server without a token, a database with one.
    let healthcheck = |service: &str, token: Option<&str>| {
        let mut command = Command::new(sqlited_binary());
        command.args(["healthcheck", "--addr", &s.server.url(), "--service", service]);
        command.env_remove("SQLITED_TOKEN");
        if let Some(token) = token {
            command.env("SQLITED_TOKEN", token);
        }
        command.output().unwrap().status.success()
    };
    assert!(healthcheck("", None));
    assert!(!healthcheck("sqlited.v1.Database/app", None));
    assert!(healthcheck("sqlited.v1.Database/app", Some(READER)));
}

/// The status line of GET /metrics at `addr`, sending `token` if given.
fn scrape_status(addr: std::net::SocketAddr, token: Option<&str>) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_only_scrapes_with_the_token_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "scrape-secret\n").unwrap();
    let server = Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-token-file",
        token_file.to_str().unwrap(),
    ]);
    let addr = server.metrics_addr();
    server.database("app").await.execute("SELECT 1", ()).await.unwrap();
    for token in [None, Some("wrong"), Some("scrape-secret2")] {
        let (status, body) = scrape_status(addr, token);
        assert!(status.contains(" 401 "), "{token:?}: {status}");
        assert!(!body.contains("app"), "{body}");
    }
    let (status, body) = scrape_status(addr, Some("scrape-secret"));
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("database=\"app\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_backups_sent_with_one_request_id_all_succeed() {
    let server = Server::start();
    let db = server.database("big").await;
    db.execute("CREATE TABLE t (x BLOB)", ()).await.unwrap();
    db.execute(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000) \
         INSERT INTO t SELECT randomblob(1000) FROM c",
        (),
    )
    .await
    .unwrap();
    let backup = |url: String| async move {
        let mut admin = AdminClient::connect(url).await.unwrap();
        let mut request = tonic::Request::new(BackupRequest {
            database: "big".into(),
        });
        request
            .metadata_mut()
            .insert("x-request-id", "same-id".parse().unwrap());
        let mut stream = admin.backup(request).await?.into_inner();
        let mut bytes = 0;
        let mut sha256 = String::new();
        while let Some(chunk) = stream.message().await? {
            bytes += chunk.data.len();
            sha256 = chunk.sha256;
        }
        Ok::<_, tonic::Status>((bytes, sha256))
    };
    let (a, b, c) = tokio::join!(
        backup(server.url()),
        backup(server.url()),
        backup(server.url())
    );
    for result in [a, b, c] {
        let (bytes, sha256) = result.expect("every backup succeeds");
        assert!(bytes > 3_000_000 && sha256.len() == 64, "{bytes} {sha256}");
    }
    // And every temporary file is gone.
    eventually(BOUND, "every temporary backup file gone", || {
        let left: Vec<_> = std::fs::read_dir(&server.data_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".backup-"))
            .collect();
        std::future::ready(match left.is_empty() {
            true => Ok(()),
            false => Err(format!("left behind: {left:?}")),
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_start_with_a_dash_are_refused_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(dir.path().join("-rf.db"))
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        .unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    for name in ["-rf", "--help"] {
        let err = client
            .database(name)
            .query_all("SELECT 1", ())
            .await
            .expect_err(name);
        assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{name}: {err}");
        assert!(err.to_string().contains("not start with '-'"), "{err}");
    }
    let map = client.database("app").raw_map("-x");
    assert_eq!(code(map.set(b"k", b"v", Condition::Always).await), Code::InvalidArgument);
    assert_eq!(code(map.get(b"k").await), Code::InvalidArgument);
    let listed = client.admin().list_databases().await.unwrap();
    assert!(listed.iter().all(|d| !d.name.starts_with('-')), "{listed:?}");
    assert!(!dir.path().join("--help.db").exists());
}

/// Rewrites the credentials with the writer's role on `app` and waits until the server has
/// reloaded them (one more "credentials reloaded" in its log).
fn reload_with_writer_role(s: &AuthServer, role: &str) {
    let reloads = |log: &str| log.matches("credentials reloaded").count();
    let before = reloads(&s.server.log());
    write_credentials(&s.credentials, role);
    s.server.signal(libc::SIGHUP);
    eventually_blocking(BOUND, "the credentials reloaded", || {
        s.server.logged(|log| reloads(log) > before)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_token_lost_its_role_is_rolled_back_not_committed() {
    let s = auth_server(&[]);
    let admin = client(&s.server, ADMIN).await.database("app");
    admin.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let writer = client(&s.server, WRITER).await.database("app");

    // Commit after the write role is gone.
    let tx = writer.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    reload_with_writer_role(&s, "read");
    let err = tx.commit().await.expect_err("commit without the write role");
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    assert!(err.to_string().contains("rolled back"), "{err}");
    // Rolled back: nothing kept, and the writer is free at once.
    let quick = admin.with_timeout(Some(Duration::from_secs(2)));
    quick.execute("INSERT INTO t VALUES (0)", ()).await.unwrap();

    // A statement after the write role is gone, and the commit after it.
    reload_with_writer_role(&s, "write");
    let tx = writer.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    reload_with_writer_role(&s, "read");
    assert_eq!(code(tx.query_all("SELECT x FROM t", ()).await), Code::PermissionDenied);
    assert!(tx.commit().await.is_err());
    quick.execute("INSERT INTO t VALUES (0)", ()).await.unwrap();
    let rows = admin.query_all("SELECT x FROM t", ()).await.unwrap();
    let values: Vec<i64> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(values, [0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_longer_than_a_minute_is_refused_by_default() {
    let server = Server::start();
    let db = server.database("app").await;
    let lease = |ms| TransactionOptions {
        lease: Some(Duration::from_millis(ms)),
        ..Default::default()
    };
    let err = db.begin_with(lease(60_001)).await.expect_err("past the ceiling");
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
    assert!(err.to_string().contains("--max-transaction-lease-ms 60000"), "{err}");
    let tx = db.begin_with(lease(60_000)).await.unwrap();
    assert_eq!(tx.lease(), Duration::from_secs(60));
    tx.rollback().await.unwrap();
}

/// A codec sending and receiving raw bytes, to put any body in a gRPC frame.
#[derive(Default)]
struct RawCodec;

struct Raw;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_protobuf_is_invalid_argument() {
    let server = Server::start();
    let channel = channel(&server).await;
    // Field 1, length-delimited, with a length far past the end; then a varint that never ends.
    let garbage = [vec![0x0a, 0xff, 0xff, 0x03, 1, 2], vec![0x08; 1], vec![0xff; 12]];
    for path in [
        "/sqlited.v1.Database/Execute",
        "/sqlited.v1.Database/Query",
        "/sqlited.v1.KeyValue/Get",
    ] {
        for body in &garbage {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            let status = grpc
                .unary(
                    tonic::Request::new(body.clone()),
                    http::uri::PathAndQuery::from_static(path),
                    RawCodec,
                )
                .await
                .expect_err("garbage accepted");
            assert_eq!(status.code(), Code::InvalidArgument, "{path} {body:?}: {status:?}");
            assert!(status.message().contains("protobuf"), "{status:?}");
        }
    }
}
