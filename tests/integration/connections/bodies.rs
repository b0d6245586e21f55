//! Request bodies that never complete, on both ports: headers sent whole, then a body that
//! stops, never starts or trickles. Each is answered by --body-read-timeout-ms (or the
//! request's own deadline if sooner) — 408 and a closed connection on the gateway,
//! DEADLINE_EXCEEDED on the gRPC stream — and a connection that only waits for its body
//! counts as idle, so such connections make room at --max-connections-per-client.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::raw::{BOUND, H2, QUERY, answer, frame, http1_until_closed, post_head, prefix, select_1};
use crate::harness::{Server, eventually};

/// A server with both ports and `args`; its gRPC and gateway addresses.
fn start(args: &[&str]) -> (Server, SocketAddr) {
    let (server, http) = crate::gateway::start(args);
    server.ensure_database("app");
    (server, http)
}

/// Asserts the gateway's answer to a body that did not come: 408, the error naming the
/// flag, the connection closed (the answer was read until the close).
fn assert_timed_out(answer: &str, case: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{case}: {answer}");
    assert!(answer.contains("--body-read-timeout-ms"), "{case}: {answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{case}: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_bodies_that_do_not_arrive_are_answered_408_and_closed() {
    let (_server, addr) = start(&["--body-read-timeout-ms", "500"]);
    // A declared body that stops after 10 bytes, and one that never starts.
    let started = format!("{}{{\"sql\": \"S", post_head("Content-Length: 1000\r\n"));
    let answer = http1_until_closed(addr, started.as_bytes()).await;
    assert_timed_out(&answer, "stopped");
    let answer = http1_until_closed(addr, post_head("Content-Length: 1000\r\n").as_bytes()).await;
    assert_timed_out(&answer, "never started");
    // A chunked body trickled a byte of whitespace every 100 ms, without end: it is not
    // stalled, but not whole in time either.
    let mut trickled = TcpStream::connect(addr).await.unwrap();
    trickled
        .write_all(post_head("Transfer-Encoding: chunked\r\n").as_bytes())
        .await
        .unwrap();
    let (mut read, mut write) = trickled.into_split();
    let trickling = tokio::spawn(async move {
        while write.write_all(b"1\r\n \r\n").await.is_ok() {
            // The trickle's pace: time that must pass between two bytes.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(BOUND, read.read_to_end(&mut answer)).await;
    trickling.abort();
    assert!(closed.is_ok(), "a trickled body kept its connection open");
    assert_timed_out(&String::from_utf8_lossy(&answer), "trickled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_body_has_no_longer_than_its_request_deadline() {
    let (_server, addr) = start(&["--body-read-timeout-ms", "600000"]);
    let head = post_head("Content-Length: 1000\r\nx-request-timeout-ms: 300\r\n");
    let answer = http1_until_closed(addr, head.as_bytes()).await;
    assert_timed_out(&answer, "request deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bodies_that_do_not_arrive_end_deadline_exceeded() {
    let server = Server::start_with(&["--body-read-timeout-ms", "500"]);
    server.ensure_database("app");
    let mut h2 = H2::connect(server.addr()).await;
    // Headers only; a message declared 100 bytes long, 10 of them sent; a whole message
    // without the end of the stream. All on one connection.
    let (_nothing, never_started) = h2.call(QUERY, &[]).await;
    let (mut stopped, halfway) = h2.call(QUERY, &[]).await;
    stopped.send_data(prefix(100, &[0; 10]), false).unwrap();
    let (mut open, unended) = h2.call(QUERY, &[]).await;
    open.send_data(frame(&select_1()), false).unwrap();
    for (case, response) in [
        ("never started", never_started),
        ("halfway", halfway),
        ("not ended", unended),
    ] {
        let answer = answer(response).await;
        assert_eq!(answer.code(), "4", "{case}: {answer:?}");
        assert!(answer.message().contains("--body-read-timeout-ms"), "{case}: {answer:?}");
    }
    // Only those streams ended: the connection serves the next call.
    let served = h2.query(&[]).await;
    assert_eq!(served.code(), "0", "{served:?}");

    // A deadline sooner than the flag's bounds the body too.
    let (_nothing, response) = h2.call(QUERY, &[("grpc-timeout", "200m")]).await;
    assert_eq!(answer(response).await.code(), "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_may_pause_between_messages_but_not_within_one() {
    let server = Server::start_with(&["--body-read-timeout-ms", "300"]);
    server.ensure_database("app");
    // A message begun and not finished ends the stream.
    let mut h2 = H2::connect(server.addr()).await;
    let (mut session, response) = h2.call("/sqlited.v1.Database/Session", &[]).await;
    session.send_data(prefix(100, &[0; 3]), false).unwrap();
    let answer = answer(response).await;
    assert_eq!(answer.code(), "4", "{answer:?}");
    assert!(answer.message().contains("message of the stream"), "{answer:?}");
    let cut = || server.log().matches("message of the stream did not arrive").count();
    let cut_before = cut();
    // The real client's session, quiet between two queries for longer than the timeout,
    // goes on.
    let db = server.database("app").await;
    assert!(db.query_all("SELECT 1", ()).await.is_ok());
    // The pause: time that must pass, past the body timeout.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(db.query_all("SELECT 2", ()).await.is_ok());
    assert_eq!(cut(), cut_before, "a quiet session was cut");
}

/// A GET of the OpenAPI document on a new connection: its HTTP status, or why there was
/// none (the connection refused).
async fn openapi_status(addr: SocketAddr) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut read = Vec::new();
    let _ = tokio::time::timeout(BOUND, stream.read_to_end(&mut read)).await;
    let text = String::from_utf8_lossy(&read);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no answer: {text:?}"))
}

/// A whole Query on a new gRPC connection: its grpc-status, or why there was none.
async fn query_status(addr: SocketAddr) -> Result<String, String> {
    let mut h2 = H2::try_connect(addr).await?;
    match h2.query(&[]).await {
        super::raw::Answer::Status(code, _) => Ok(code),
        super::raw::Answer::Reset(why) => Err(why),
    }
}

/// Waits until one of `stalled` is closed by the server.
async fn one_closed(stalled: &mut [TcpStream]) {
    let reads = stalled.iter_mut().map(|stream| {
        Box::pin(async move {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        })
    });
    let closed = tokio::time::timeout(BOUND, futures_util::future::select_all(reads)).await;
    assert!(closed.is_ok(), "no connection waiting for its body made room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_for_their_bodies_make_room_at_the_cap() {
    let (server, http) = start(&[
        "--max-connections-per-client",
        "3",
        // Only the cap closes connections here (the body timeout's default, 30 s, is past
        // the test's bounds).
        "--handshake-timeout-ms",
        "600000",
        "--idle-timeout-ms",
        "0",
    ]);
    // The gateway: three requests whose bodies stop after a byte.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(http).await.unwrap();
        let head = format!("{}{{", post_head("Content-Length: 1000\r\n"));
        stream.write_all(head.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    let served = eventually(BOUND, "a fourth gateway connection served", || async {
        openapi_status(http).await.and_then(|status| {
            (status == 200).then_some(status).ok_or(format!("status {status}"))
        })
    })
    .await;
    assert_eq!(served, 200);
    one_closed(&mut stalled).await;

    // The gRPC port: three connections, each with a call whose message stops halfway.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut h2 = H2::connect(server.addr()).await;
        let (mut body, response) = h2.call(QUERY, &[]).await;
        body.send_data(prefix(100, &[0; 10]), false).unwrap();
        waiting.push((h2, body, response));
    }
    let code = eventually(BOUND, "a fourth gRPC connection served", || {
        query_status(server.addr())
    })
    .await;
    assert_eq!(code, "0");
}
