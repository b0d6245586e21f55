//! A connection told to close — idle past --idle-timeout-ms, or evicted at
//! --max-connections-per-client — is closed gracefully (GOAWAY), and dropped a second later
//! if its peer does not finish the close: a peer that never answers the GOAWAY's PING would
//! otherwise hold the connection, and its file descriptor, for as long as it likes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::raw::{Answer, BOUND, H2};
use crate::harness::{Server, closed_within, eventually};

/// A connection that sends the HTTP/2 preface and then only reads: it acknowledges nothing.
/// Returned once the server has sent its SETTINGS, so the connection is being served.
async fn deaf(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    stream
        .write_all(&[&preface[..], &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat())
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tokio::time::timeout(BOUND, stream.read_exact(&mut header))
        .await
        .expect("the server's SETTINGS")
        .unwrap();
    assert_eq!(header[3], 4, "the server's first frame is its SETTINGS");
    let length = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_connection_whose_peer_does_not_answer_is_dropped() {
    let server = Server::start_with(&[
        "--max-connections-per-client",
        "1",
        // Neither timeout closes the connection here, only the eviction.
        "--handshake-timeout-ms",
        "600000",
        "--idle-timeout-ms",
        "0",
    ]);
    server.ensure_database("app");
    let mut first = deaf(server.addr()).await;
    let code = eventually(BOUND, "a newcomer served in the deaf one's place", || async {
        match H2::try_connect(server.addr()).await?.query(&[]).await {
            Answer::Status(code, _) => Ok(code),
            Answer::Reset(why) => Err(why),
        }
    })
    .await;
    assert_eq!(code, "0");
    closed_within(&mut first, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_whose_peer_does_not_answer_is_dropped() {
    let server = Server::start_with(&[
        "--idle-timeout-ms",
        "300",
        "--handshake-timeout-ms",
        "600000",
        // No PINGs of keep-alive: only the close's own.
        "--keepalive-interval-ms",
        "0",
    ]);
    let mut idle = deaf(server.addr()).await;
    closed_within(&mut idle, BOUND).await;
}
