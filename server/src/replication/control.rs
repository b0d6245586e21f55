//! A client of Litestream's control socket (`socket: {enabled: true}` in its YAML): HTTP/1.1
//! over a Unix socket, one request per connection, JSON bodies.
//!
//! - `POST /register {path, replica_url}`: replicate a database from now on;
//! - `POST /unregister {path}`: stop (Litestream syncs what is left first);
//! - `POST /sync {path, wait: true, timeout}`: copy the WAL now and wait for the replica;
//!   answers `{txid, replicated_txid}`, Litestream's transaction ids (one per LTX file it
//!   wrote: a sync that copied several commits gives them one txid).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The largest answer read from the socket.
const MAX_ANSWER: usize = 1 << 20;

/// Litestream's position after a sync.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Synced {
    /// The newest transaction Litestream holds locally (it includes every commit that was in
    /// the WAL when the sync began).
    pub txid: u64,
    /// The newest transaction the replica holds.
    pub replicated_txid: u64,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
}

/// The control socket of one Litestream.
#[derive(Debug, Clone)]
pub struct Control {
    socket: PathBuf,
}

impl Control {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// Replicates the database `path` to `replica_url` from now on (a no-op if it is already).
    pub async fn register(&self, path: &Path, replica_url: &str) -> Result<(), String> {
        let body = serde_json::json!({"path": path, "replica_url": replica_url});
        self.call("POST", "/register", Some(body), Duration::from_secs(30))
            .await
            .map(drop)
    }

    /// Stops replicating `path`, after Litestream has synced what it had not yet, for at most
    /// `timeout` (whole seconds, at least one). Litestream forgets the database first, so
    /// even an unregistration whose last sync fails leaves no registration behind.
    pub async fn unregister(&self, path: &Path, timeout: Duration) -> Result<(), String> {
        let seconds = timeout.as_secs().max(1);
        let body = serde_json::json!({"path": path, "timeout": seconds});
        let answer_within = Duration::from_secs(seconds + 5);
        self.call("POST", "/unregister", Some(body), answer_within)
            .await
            .map(drop)
    }

    /// Has Litestream copy the WAL of `path` and wait for the replica, within `timeout`.
    pub async fn sync(&self, path: &Path, timeout: Duration) -> Result<Synced, String> {
        let seconds = timeout.as_secs().max(1);
        let body = serde_json::json!({"path": path, "wait": true, "timeout": seconds});
        let answer = self.call("POST", "/sync", Some(body), timeout).await?;
        serde_json::from_slice(&answer)
            .map_err(|err| format!("Litestream's answer to /sync is not understood: {err}"))
    }

    /// One request; the body of a 2xx answer, or why not.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let exchange = async {
            let mut stream = UnixStream::connect(&self.socket).await.map_err(|err| {
                format!(
                    "Litestream's control socket {} does not answer: {err}",
                    self.socket.display()
                )
            })?;
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: litestream\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|err| format!("writing to Litestream's control socket failed: {err}"))?;
            let mut answer = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut answer)
                .await
                .map_err(|err| format!("reading Litestream's answer failed: {err}"))?;
            parse(&answer, path)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "Litestream did not answer {path} within {} ms",
                    timeout.as_millis()
                ))
            })
    }
}

/// The body of an HTTP answer, or its error.
fn parse(answer: &[u8], path: &str) -> Result<Vec<u8>, String> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("Litestream's answer to {path} is cut short"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut body = answer[split + 4..].to_vec();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("Litestream's answer to {path} has no status"))?;
    if head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        body = unchunk(&body);
    }
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let reason = serde_json::from_slice::<Failure>(&body)
        .map(|f| f.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
    Err(format!("Litestream refused {path} ({status}): {reason}"))
}

/// The body of a chunked answer.
fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        body = &body[end + 2..];
        if size == 0 || size > body.len() {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_plain_or_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(plain, "/x").unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse(chunked, "/x").unwrap(), b"{}");
        let refused = b"HTTP/1.1 404 Not Found\r\n\r\n{\"error\":\"database not found\"}";
        assert_eq!(
            parse(refused, "/sync").unwrap_err(),
            "Litestream refused /sync (404): database not found"
        );
    }
}
