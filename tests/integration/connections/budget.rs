//! The bytes of request bodies the server holds, bounded per connection and per process:
//! bodies that declare more than is left (a gRPC message's length prefix, an HTTP
//! Content-Length) are refused at once — RESOURCE_EXHAUSTED naming the flag, or 503 with
//! Retry-After — while the bodies that hold the budget are still arriving; the budget is
//! handed back when they go.

use std::net::SocketAddr;

use sqlited_client::proto::v1::{QueryRequest, Statement};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::raw::{
    Answer,    BOUND, H2, QUERY, answer, frame, http1_until_closed, post_head, prefix, send_all,
};
use crate::harness::{Server, eventually};

/// A whole query whose SQL is padded with a comment to about `bytes` bytes.
fn padded_query(bytes: usize) -> QueryRequest {
    QueryRequest {
        database: "app".into(),
        statement: Some(Statement {
            sql: format!("SELECT 1 -- {}", "x".repeat(bytes)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts a call on `h2` whose message declares `length` bytes and sends 10 of them; kept
/// open by the returned parts.
async fn holding(h2: &mut H2, length: u32, extra: &[(&str, &str)]) -> Held {
    let (mut body, response) = h2.call(QUERY, extra).await;
    body.send_data(prefix(length, &[0; 10]), false).unwrap();
    (body, response)
}

type Held = (h2::SendStream<bytes::Bytes>, h2::client::ResponseFuture);

/// A call on `holder` that holds `held` bytes, and a call on `prober` of `probe` bytes
/// refused behind it: the probe's answer, and the holder's call, kept open. The two race to
/// the server (each stream has a task of its own), so a probe charged first — it ends by
/// its deadline, and the holder is the one refused — is tried again with a new holder.
async fn refused_behind(holder: &mut H2, prober: &mut H2, held: u32, probe: u32) -> (Answer, Held) {
    for _ in 0..5 {
        let holding = holding(holder, held, &[]).await;
        let (_body, response) = holding_probe(prober, probe).await;
        let answer = answer(response).await;
        if answer.code() != "4" {
            return (answer, holding);
        }
    }
    panic!("the probe was charged before the holder five times");
}

async fn holding_probe(h2: &mut H2, length: u32) -> Held {
    holding(h2, length, &[("grpc-timeout", "3S")]).await
}

fn stalled_server(args: &[&str]) -> Server {
    let mut all = vec!["--body-read-timeout-ms", "600000"];
    all.extend_from_slice(args);
    let server = Server::start_with(&all);
    server.ensure_database("app");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_holds_no_more_than_its_body_budget() {
    let server = stalled_server(&["--max-body-bytes-per-connection", "1MiB"]);
    let mut h2 = H2::connect(server.addr()).await;
    let mut same = h2.clone();
    // The same connection's next body does not fit with it: refused before it is sent.
    let (refused, _held) = refused_behind(&mut h2, &mut same, 800_000, 400_000).await;
    assert_eq!(refused.code(), "8", "{refused:?}");
    assert!(
        refused.message().contains("--max-body-bytes-per-connection"),
        "{refused:?}"
    );
    // Another connection has its own budget: a 400 kB request is served.
    let mut other = H2::connect(server.addr()).await;
    let (mut body, response) = other.call(QUERY, &[]).await;
    send_all(&mut body, frame(&padded_query(400_000))).await;
    assert_eq!(answer(response).await.code(), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_no_more_than_its_body_budget_and_gets_it_back() {
    let server = stalled_server(&["--max-body-bytes-in-flight", "1MiB", "--http-listen", "127.0.0.1:0"]);
    let http = server.http_addr();
    let mut first = H2::connect(server.addr()).await;
    // Another connection's body, then the gateway's, do not fit with it.
    let mut second = H2::connect(server.addr()).await;
    let (refused, held) = refused_behind(&mut first, &mut second, 800_000, 400_000).await;
    assert_eq!(refused.code(), "8", "{refused:?}");
    assert!(refused.message().contains("--max-body-bytes-in-flight"), "{refused:?}");
    let head = post_head("Content-Length: 400000\r\n");
    let answer_503 = http1_until_closed(http, head.as_bytes()).await;
    assert!(answer_503.starts_with("HTTP/1.1 503"), "{answer_503}");
    assert!(answer_503.to_ascii_lowercase().contains("retry-after: "), "{answer_503}");
    assert!(answer_503.contains("--max-body-bytes-in-flight"), "{answer_503}");
    // The holder goes: its bytes are handed back, and a 400 kB body is served.
    drop(held);
    drop(first);
    let body = format!("{{\"sql\": \"SELECT 1\"}}{}", " ".repeat(400_000));
    let served = eventually(BOUND, "a large body served once the budget is back", || {
        let body = body.clone();
        async move { gateway_post(http, &body).await }
    })
    .await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

/// `body` posted to the gateway's query endpoint; the answer, or the refusal as an error.
async fn gateway_post(addr: SocketAddr, body: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let head = post_head(&format!(
        "Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    ));
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let answer = super::raw::read_until_closed(&mut stream).await;
    if answer.starts_with("HTTP/1.1 503") {
        Err(answer)
    } else {
        Ok(answer)
    }
}
