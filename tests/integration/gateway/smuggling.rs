//! Requests a proxy in front of the gateway could read differently — the ways to smuggle a
//! request past it — are refused with 400: an ambiguous length (Content-Length with
//! Transfer-Encoding, several lengths, an encoding other than chunked) and a JSON key given
//! twice, at any depth of any body.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{post, sql, start};

/// Sends `bytes` on a new connection and reads what comes back until the server closes it.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut read))
        .await
        .expect("the server closes the connection after refusing it")
        .unwrap();
    String::from_utf8_lossy(&read).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_whose_length_a_proxy_could_read_differently_are_refused() {
    let (server, addr) = start(&[]);
    server.ensure_database("app");
    let body = r#"{"sql":"SELECT 1"}"#;
    let n = body.len();
    let chunked = format!("{n:x}\r\n{body}\r\n0\r\n\r\n");
    let cases = [
        (
            format!("Content-Length: {n}\r\nTransfer-Encoding: chunked"),
            chunked.clone(),
            "both Content-Length and Transfer-Encoding",
        ),
        (
            format!("Transfer-Encoding: chunked\r\nContent-Length: {n}"),
            chunked.clone(),
            "both Content-Length and Transfer-Encoding",
        ),
        (
            format!("Content-Length: {n}\r\nContent-Length: {n}"),
            body.to_string(),
            "several Content-Length",
        ),
        (
            // hyper refuses this one itself, with a bare 400.
            format!("Content-Length: {n}, {n}"),
            body.to_string(),
            "",
        ),
        (
            "Transfer-Encoding: gzip, chunked".to_string(),
            chunked.clone(),
            "not just chunked",
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked".to_string(),
            chunked.clone(),
            "several Transfer-Encoding",
        ),
    ];
    for (headers, ambiguous_body, why) in cases {
        // After a clean request on the same connection: the framing is followed across
        // requests, not only in a connection's first.
        let head = "POST /v1/databases/app/query HTTP/1.1\r\nHost: x\r\n\
                    Content-Type: application/json\r\n";
        let stream = format!(
            "{head}Content-Length: {n}\r\n\r\n{body}{head}{headers}\r\n\r\n{ambiguous_body}"
        );
        let text = exchange(addr, stream.as_bytes()).await;
        let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), 2, "{headers}: {text}");
        assert!(answers[0].starts_with("200"), "{headers}: {text}");
        let refused = answers[1];
        assert!(refused.starts_with("400"), "{headers}: {text}");
        assert!(
            refused.to_ascii_lowercase().contains("connection: close"),
            "{headers}: {text}"
        );
        assert!(
            why.is_empty() || (refused.contains(why) && refused.contains("INVALID_ARGUMENT")),
            "{headers}: {text}"
        );
    }
    // A plain chunked body, and a plain length, are served.
    let plain = format!(
        "POST /v1/databases/app/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{chunked}"
    );
    assert!(exchange(addr, plain.as_bytes()).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_that_give_a_key_twice_are_refused_at_every_depth() {
    let (server, addr) = start(&[]);
    server.ensure_database("app");
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (x)"}))
        .await
        .ok();
    let cases = [
        (
            "query",
            r#"{"sql":"SELECT 1","sql":"INSERT INTO t VALUES (1) RETURNING x"}"#,
            "the body's object",
        ),
        (
            "execute",
            r#"{"sql":"INSERT INTO t VALUES (:a)","params":{":a":1,":a":2}}"#,
            "the object at params",
        ),
        (
            // The same key once unescaped.
            "batch",
            r#"{"statements":[{"sql":"SELECT 1"},{"sql":"SELECT 2","s\u0071l":"INSERT INTO t VALUES (3)"}]}"#,
            "the object at statements[1]",
        ),
        (
            "execute",
            r#"{"sql":"INSERT INTO t VALUES (?)","params":[{"type":"integer","value":"4","value":"5"}]}"#,
            "the object at params[0]",
        ),
    ];
    for (what, body, at) in cases {
        let reply = post(addr, &format!("/v1/databases/app/{what}"), &json!({}))
            .raw_body(body.as_bytes().to_vec())
            .send()
            .await;
        let error = reply.error(400);
        assert_eq!(error["code"], "INVALID_ARGUMENT", "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("given twice") && message.contains(at), "{body}: {message}");
    }
    // None of them ran.
    let count = sql(addr, "app", "query", json!({"sql": "SELECT count(*) FROM t"})).await;
    assert_eq!(count.ok()["rows"], json!([[0]]));
}
