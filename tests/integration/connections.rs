//! Connections bounded in time and per client, on both ports, held with raw sockets as an
//! attacker would hold them: silent or trickling connections are closed at the handshake or
//! header timeout, idle ones are sent GOAWAY, unanswered PINGs close a connection, a busy one
//! outlives the idle timeout, and at --max-connections-per-client idle connections make room
//! while busy ones keep working.

mod bodies;
mod budget;
mod closing;
mod descriptors;
mod headers;
mod raw;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sqlited_client::Client;
use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::{QueryRequest, QueryResponse, Statement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Server, closed_within};

/// How long a test waits for the server to close a connection whose bound is far shorter.
const BOUND: Duration = Duration::from_secs(15);
/// The client's HTTP/2 connection preface, and an empty SETTINGS frame after it.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
/// HTTP/2 frame types.
const SETTINGS_FRAME: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;

/// Opens an HTTP/2 connection (preface, SETTINGS, and the ACK of the server's) and reads its
/// frames until the server closes it, within `bound`; answers PINGs if `pong`. The frames'
/// types and flags.
async fn h2_until_closed(addr: SocketAddr, pong: bool, bound: Duration) -> Vec<(u8, u8)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&[PREFACE, &SETTINGS].concat())
        .await
        .unwrap();
    let mut frames = Vec::new();
    let closed = tokio::time::timeout(bound, async {
        loop {
            let mut header = [0u8; 9];
            if stream.read_exact(&mut header).await.is_err() {
                return;
            }
            let length = usize::from(header[0]) << 16
                | usize::from(header[1]) << 8
                | usize::from(header[2]);
            let mut payload = vec![0u8; length];
            if stream.read_exact(&mut payload).await.is_err() {
                return;
            }
            let (kind, flags) = (header[3], header[4]);
            frames.push((kind, flags));
            let answer = match kind {
                SETTINGS_FRAME if flags & 1 == 0 => vec![0, 0, 0, SETTINGS_FRAME, 1, 0, 0, 0, 0],
                PING if pong && flags & 1 == 0 => [&[0, 0, 8, PING, 1, 0, 0, 0, 0][..], &payload].concat(),
                _ => continue,
            };
            // The server may be closing already.
            let _ = stream.write_all(&answer).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open past {bound:?}: {frames:?}"
    );
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_that_do_not_open_in_time_are_closed() {
    let server = Server::start_with(&["--handshake-timeout-ms", "300"]);
    server.ensure_database("app");
    // One sends nothing; one trickles the preface, a byte every 100 ms (2.4 s in all).
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let (mut trickled, mut trickling) = TcpStream::connect(server.addr())
        .await
        .unwrap()
        .into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for byte in PREFACE {
            if trickling.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    closed_within(&mut silent, BOUND).await;
    closed_within(&mut trickled, BOUND).await;
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "closed only once the trickled preface was whole"
    );
    writer.abort();
    // A client that opens at once is served.
    let db = server.database("app").await;
    assert!(db.query_all("SELECT 1", ()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_grpc_connections_are_sent_goaway_and_clients_reconnect() {
    let server = Server::start_with(&["--idle-timeout-ms", "300"]);
    server.ensure_database("app");
    // A connection that never sends a request (it answers PINGs, so only idleness counts).
    let frames = h2_until_closed(server.addr(), true, BOUND).await;
    assert!(frames.iter().any(|(kind, _)| *kind == GOAWAY), "{frames:?}");

    // The real client: its connection goes idle after a query; a probe opened after it goes
    // idle later, so once the probe is closed the client's connection is closing too. The
    // client's next query goes on a new connection.
    let db = server.database("app").await;
    assert!(db.query_all("SELECT 1", ()).await.is_ok());
    h2_until_closed(server.addr(), true, BOUND).await;
    assert!(after_a_close(&db, "SELECT 2").await);

    // A connection with a request in flight outlives the idle timeout: a query whose rows
    // are not read yet is read on once a probe opened after it was closed for idleness.
    let (_client, mut rows) = stalled_query(&server).await;
    h2_until_closed(server.addr(), true, BOUND).await;
    assert!(rows.message().await.unwrap().is_some(), "the busy stream was cut");
    // A Session with nothing in flight does not keep its connection: the client's session
    // was ended when its connection was, and the client opened another.
    assert!(after_a_close(&db, "SELECT 3").await);
}

/// Whether `sql` runs on `db` whose connection the server may be closing just now. A request
/// that meets the close is refused unread — UNAVAILABLE with a retry hint (its session ended),
/// or CANCELLED (its stream was opened on the closing connection) — and runs when retried,
/// on a new connection. Anything else fails.
async fn after_a_close(db: &sqlited_client::Database, sql: &str) -> bool {
    match db.query_all(sql, ()).await {
        Ok(_) => true,
        Err(err) => {
            let code = err.status_code();
            assert!(
                matches!(code, Some(tonic::Code::Unavailable | tonic::Code::Cancelled)),
                "{err:?}"
            );
            let retried = db.query_all(sql, ()).await;
            assert!(retried.is_ok(), "{err:?}, then {retried:?}");
            true
        }
    }
}

/// A connection of its own with a request in flight: a query whose rows are not read.
async fn stalled_query(
    server: &Server,
) -> (
    DatabaseClient<tonic::transport::Channel>,
    tonic::Streaming<QueryResponse>,
) {
    let mut client = DatabaseClient::connect(server.url()).await.unwrap();
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
               SELECT x, randomblob(2000) FROM c";
    let mut rows = client
        .query(QueryRequest {
            database: "app".into(),
            statement: Some(Statement {
                sql: sql.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rows.message().await.unwrap().is_some());
    (client, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_answer_pings_is_closed() {
    let server = Server::start_with(&[
        "--keepalive-interval-ms",
        "200",
        "--keepalive-timeout-ms",
        "200",
        // Only the PINGs close it.
        "--idle-timeout-ms",
        "0",
    ]);
    let frames = h2_until_closed(server.addr(), false, BOUND).await;
    assert!(
        frames.iter().any(|(kind, flags)| *kind == PING && flags & 1 == 0),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_connections_make_room_and_busy_ones_keep_working() {
    let server = Server::start_with(&[
        "--max-connections-per-client",
        "3",
        // Neither timeout does the work here: only the cap.
        "--handshake-timeout-ms",
        "600000",
        "--idle-timeout-ms",
        "0",
        // The stalled queries stay in flight for the whole test.
        "--statement-timeout-ms",
        "120000",
        "--readers",
        "4",
    ]);
    server.ensure_database("app");
    // Two busy connections and one that sends nothing: the cap is reached.
    let mut busy = vec![stalled_query(&server).await, stalled_query(&server).await];
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    // A newcomer is served: the silent connection made room, and is closed.
    let first = Client::connect(&server.url()).await.unwrap();
    assert!(first.database("app").query_all("SELECT 1", ()).await.is_ok());
    closed_within(&mut silent, BOUND).await;
    // Another: the first newcomer, idle between its requests (its Session quiet), makes room.
    let second = Client::connect(&server.url()).await.unwrap();
    assert!(second.database("app").query_all("SELECT 2", ()).await.is_ok());
    assert!(server.log().contains("--max-connections-per-client"));
    // With all three busy, one more is refused, and the busy ones go on.
    busy.push(stalled_query(&server).await);
    let refused = match Client::connect(&server.url()).await {
        Ok(client) => client.database("app").query_all("SELECT 1", ()).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a fourth connection was served while three were busy");
    assert!(server.log().contains("each with a request in flight"));
    for (_, rows) in &mut busy {
        assert!(rows.message().await.unwrap().is_some(), "a busy stream was cut");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_request_heads_must_arrive_within_the_header_timeout() {
    let (_server, addr) = crate::gateway::start(&["--header-read-timeout-ms", "300"]);
    // Silent.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Trickling headers, one line every 100 ms, without end.
    let (mut trickled, mut trickling) = TcpStream::connect(addr).await.unwrap().into_split();
    let writer = tokio::spawn(async move {
        let mut line = b"GET /v1/openapi.json HTTP/1.1\r\n".to_vec();
        for i in 0.. {
            if trickling.write_all(&line).await.is_err() {
                break;
            }
            line = format!("x-{i}: y\r\n").into_bytes();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    closed_within(&mut silent, BOUND).await;
    closed_within(&mut trickled, BOUND).await;
    writer.abort();
    // A kept-alive connection is answered, then closed if no next request comes in time.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut start = [0u8; 12];
    kept.read_exact(&mut start).await.unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");
    closed_within(&mut kept, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_connections_that_send_nothing_make_room_at_the_cap() {
    let (_server, addr) = crate::gateway::start(&[
        "--max-connections-per-client",
        "2",
        "--header-read-timeout-ms",
        "600000",
    ]);
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let served = crate::gateway::get(addr, "/v1/openapi.json").send().await;
    assert_eq!(served.status, 200);
    closed_within(&mut silent[0], BOUND).await;
}
