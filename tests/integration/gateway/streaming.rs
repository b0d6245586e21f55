//! NDJSON: a million rows in bounded server memory, and a client that stops reading.

use http_body_util::BodyExt;
use serde_json::{Value as Json, json};

use super::{post, sql, start};

/// The server's resident memory, in KiB (VmRSS of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `n` rows of about 110 bytes of NDJSON each.
fn rows(n: u64) -> Json {
    json!({"sql": format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x, printf('%090d', x) FROM c")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_stream_in_bounded_memory() {
    // What is measured is memory, not speed: a debug build on a loaded machine may take
    // longer than the default statement timeout to send a million rows.
    let (server, addr) = start(&["--statement-timeout-ms", "600000"]);
    server.ensure_database("app");
    // Warm up: the first query opens the database and its connections.
    sql(addr, "app", "query", json!({"sql": "SELECT 1"})).await.ok();
    let before = rss_kib(server.pid());
    let response = post(addr, "/v1/databases/app/query", &rows(1_000_000))
        .header("accept", "application/x-ndjson")
        .open()
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut bytes, mut lines, mut frames, mut samples, mut peak) = (0u64, 0u64, 0u64, 0, before);
    let mut pending = Vec::new();
    let mut last = String::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("a body frame");
        let Some(data) = frame.data_ref() else { continue };
        bytes += data.len() as u64;
        pending.extend_from_slice(data);
        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = pending.drain(..=end).collect();
            for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                lines += 1;
                if lines == 2 {
                    assert_eq!(line, format!("{{\"row\":[1,\"{:090}\"]}}", 1).as_bytes());
                }
                if line.starts_with(b"{\"done\"") || line.starts_with(b"{\"error\"") {
                    last = String::from_utf8_lossy(line).into_owned();
                }
            }
        }
        frames += 1;
        if frames % 16 == 0 {
            samples += 1;
            peak = peak.max(rss_kib(server.pid()));
        }
    }
    assert_eq!(
        last,
        r#"{"done":{"rows":1000000,"rows_affected":0,"last_insert_rowid":0}}"#
    );
    assert_eq!(lines, 1_000_000 + 2);
    assert!(bytes > 100_000_000, "{bytes} bytes");
    // Over 100 MB went out; the server's memory grew by a small fraction of it.
    assert!(samples >= 10, "memory was sampled {samples} times only");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("streamed {bytes} bytes in {frames} frames; the server grew by {grown_mib} MiB");
    assert!(grown_mib < 48, "the server grew by {grown_mib} MiB while streaming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_stopped_at_its_deadline() {
    // One reader: while the stalled stream holds it, no other read runs.
    let (server, addr) = start(&["--readers", "1"]);
    server.ensure_database("app");
    let response = post(addr, "/v1/databases/app/query", &rows(1_000_000))
        .header("accept", "application/x-ndjson")
        .header("x-request-timeout-ms", "1500")
        .open()
        .await;
    assert_eq!(response.status(), 200);
    // Read nothing more. Another read gets the reader once the stalled query is stopped.
    let other = post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT 7"}))
        .send()
        .await;
    assert_eq!(other.ok()["rows"], json!([[7]]));
    // Reading on, the stream holds what was buffered, then says why it ended.
    let body = response.into_body().collect().await.expect("the body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    let lines: Vec<&str> = text.lines().collect();
    let last: Json = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "DEADLINE_EXCEEDED", "{last}");
    let message = last["error"]["message"].as_str().unwrap();
    // Blocked on the client, it read too slowly; on a loaded machine the deadline may come
    // while the statement still steps, before the channel filled.
    assert!(
        message.contains("too slowly") || message.contains("ran past its deadline"),
        "{last}"
    );
    // A SELECT wrote nothing: its message says nothing was rolled back.
    assert!(!message.contains("rolled back") && !message.contains("wrote"), "{last}");
    assert!(lines.len() < 1_000_000, "every row was sent: the client was not stalled");
}
