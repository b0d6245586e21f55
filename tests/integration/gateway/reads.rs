//! A curl user's habits (rqlite's): a read by GET (`?q=` and JSON parameters, the read
//! role, read-only), the databases a token may see, `/healthz` and `/readyz`, 405s that say
//! METHOD_NOT_ALLOWED, and `Accept` with CSV or 406.

use std::process::Command;

use serde_json::json;

use super::{get, post, sql, start};
use crate::harness::Server;
use crate::security::{ADMIN, READER, WRITER, credentials};

/// `GET /v1/databases/{db}/query` with the query string `query`.
fn read(addr: std::net::SocketAddr, db: &str, query: &str) -> super::Request<'static> {
    get(addr, &format!("/v1/databases/{db}/query?{query}"))
}

/// A database `app` with a table `t` holding values of every kind.
async fn with_rows(addr: std::net::SocketAddr) {
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (a, b)"}))
        .await
        .ok();
    sql(
        addr,
        "app",
        "execute",
        json!({"sql": "INSERT INTO t VALUES (1, ?), (2.5, ?), (NULL, ?)",
               "params": ["a,\"b\"", {"type": "blob", "base64": "AAEC"}, "two\nlines"]}),
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_by_get_with_parameters_runs_read_only() {
    let (_server, addr) = start(&[]);
    with_rows(addr).await;
    let positional = read(addr, "app", "q=SELECT+a+FROM+t+WHERE+a+%3E+%3F+ORDER+BY+a&p=1")
        .send()
        .await
        .ok();
    assert_eq!(positional["rows"], json!([[2.5]]));
    let named = read(addr, "app", "q=SELECT+b+FROM+t+WHERE+a+%3D+%3Aa&:a=1")
        .send()
        .await
        .ok();
    assert_eq!(named["rows"], json!([["a,\"b\""]]));
    let typed = read(
        addr,
        "app",
        "q=SELECT+a+FROM+t+WHERE+b+%3D+%3F&p=%7B%22type%22%3A%22blob%22%2C%22base64%22%3A%22AAEC%22%7D",
    )
    .send()
    .await
    .ok();
    assert_eq!(typed["rows"], json!([[2.5]]));
    // A text parameter is JSON: unquoted, it is refused, naming the parameter.
    let bare = read(addr, "app", "q=SELECT+%3F&p=ann").send().await;
    assert_eq!(bare.error(400)["fields"][0]["field"], "params[0]");
    let no_q = read(addr, "app", "p=1").send().await;
    assert_eq!(no_q.error(400)["fields"][0]["field"], "q");

    // A statement that writes is refused (405, use POST) and changes nothing.
    for writes in [
        "q=DELETE+FROM+t",
        "q=INSERT+INTO+t+VALUES+(9%2C+9)+RETURNING+a",
        "q=CREATE+TABLE+u+(x)",
    ] {
        let refused = read(addr, "app", writes).send().await;
        let error = refused.error(405);
        assert_eq!(error["reason"], "METHOD_NOT_ALLOWED", "{writes}: {error}");
        assert!(error["message"].as_str().unwrap().contains("POST"), "{error}");
        assert_eq!(refused.headers["allow"], "POST");
    }
    let count = read(addr, "app", "q=SELECT+count(*)+FROM+t").send().await.ok();
    assert_eq!(count["rows"], json!([[3]]));
    // A read creates nothing.
    let missing = read(addr, "nothing", "q=SELECT+1").send().await;
    assert_eq!(missing.error(404)["reason"], "DATABASE_NOT_FOUND");
    // NDJSON as for POST.
    let streamed = read(addr, "app", "q=SELECT+a+FROM+t")
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    assert_eq!(streamed.headers["content-type"], "application/x-ndjson");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_sees_the_databases_it_holds_a_role_on_and_reads_them_by_get() {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials(dir.path(), "");
    let server = Server::start_with(&[
        "--credentials",
        file.to_str().unwrap(),
        "--http-listen",
        "127.0.0.1:0",
    ]);
    let addr = server.http_addr();
    for db in ["app", "other_one", "secret"] {
        post(addr, &format!("/v1/databases/{db}/execute"), &json!({"sql": "CREATE TABLE t (x)"}))
            .token(ADMIN)
            .send()
            .await
            .ok();
    }
    let listed = |token: &'static str| async move {
        get(addr, "/v1/databases").token(token).send().await.ok()["databases"].clone()
    };
    assert_eq!(
        listed(ADMIN).await,
        json!([{"name": "app", "role": "admin"}, {"name": "other_one", "role": "admin"},
               {"name": "secret", "role": "admin"}])
    );
    assert_eq!(
        listed(WRITER).await,
        json!([{"name": "app", "role": "write"}, {"name": "other_one", "role": "read"}])
    );
    assert_eq!(listed(READER).await, json!([{"name": "app", "role": "read"}]));
    let anonymous = get(addr, "/v1/databases").send().await;
    assert_eq!(anonymous.error(401)["code"], "UNAUTHENTICATED");

    // The reader reads by GET (POST's query with a write would need the write role).
    let rows = read(addr, "app", "q=SELECT+count(*)+FROM+t").token(READER).send().await.ok();
    assert_eq!(rows["rows"], json!([[0]]));
    let other = read(addr, "secret", "q=SELECT+1").token(READER).send().await;
    assert_eq!(other.error(403)["code"], "PERMISSION_DENIED");

    // The probes need no token.
    assert_eq!(get(addr, "/healthz").send().await.ok(), json!({"status": "SERVING"}));
    assert_eq!(get(addr, "/readyz").send().await.ok(), json!({"status": "SERVING"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_405_with_allow_and_the_error_json() {
    let (_server, addr) = start(&[]);
    for (method, path, allow) in [
        ("DELETE", "/v1/databases/app/query", "GET,HEAD,POST"),
        ("GET", "/v1/databases/app/execute", "POST"),
        ("PUT", "/v1/databases", "GET,HEAD"),
        ("POST", "/healthz", "GET,HEAD"),
    ] {
        let reply = get(addr, path).method(method).send().await;
        let error = reply.error(405);
        assert_eq!(error["reason"], "METHOD_NOT_ALLOWED", "{method} {path}: {error}");
        assert_eq!(error["code"], "UNIMPLEMENTED", "{error}");
        assert_eq!(reply.headers["allow"], allow, "{method} {path}");
        assert_eq!(reply.headers["content-type"], "application/json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_gives_csv_json_or_406_never_json_silently() {
    let (_server, addr) = start(&[]);
    with_rows(addr).await;
    let csv = |accept: &'static str| {
        post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT a, b FROM t"}))
            .header("accept", accept)
    };
    let expected = "a,b\r\n1,\"a,\"\"b\"\"\"\r\n2.5,AAEC\r\n,\"two\nlines\"\r\n";
    for accept in [
        "text/csv",
        "text/*",
        "text/csv;q=0.9, application/json;q=0.5",
        "application/json;q=0.1, text/csv",
        "text/csv, */*",
    ] {
        let reply = csv(accept).send().await;
        assert_eq!(reply.status, 200, "{accept}");
        assert!(
            reply.headers["content-type"].to_str().unwrap().starts_with("text/csv"),
            "{accept}"
        );
        assert_eq!(String::from_utf8_lossy(&reply.body), expected, "{accept}");
    }
    for accept in ["*/*", "application/json, text/csv;q=0.5", "application/*"] {
        let reply = csv(accept).send().await;
        assert_eq!(reply.headers["content-type"], "application/json", "{accept}");
        reply.ok();
    }
    // A GET read and an exposed statement's rows as CSV too.
    let got = read(addr, "app", "q=SELECT+count(*)+AS+n+FROM+t")
        .header("accept", "text/csv")
        .send()
        .await;
    assert_eq!(String::from_utf8_lossy(&got.body), "n\r\n3\r\n");
    // Nothing acceptable: 406, and the statement did not run.
    let refused = post(addr, "/v1/databases/app/execute", &json!({"sql": "DELETE FROM t"}))
        .header("accept", "text/csv")
        .send()
        .await;
    let error = refused.error(406);
    assert!(error["message"].as_str().unwrap().contains("application/json"), "{error}");
    for (path, accept) in [
        ("/v1/databases", "text/csv"),
        ("/v1/openapi.json", "text/html"),
        ("/healthz", "text/plain"),
    ] {
        get(addr, path).header("accept", accept).send().await.error(406);
    }
    let html = csv("text/html").send().await;
    html.error(406);
    let count = read(addr, "app", "q=SELECT+count(*)+FROM+t").send().await.ok();
    assert_eq!(count["rows"], json!([[3]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reads_by_get_and_takes_csv() {
    let (_server, addr) = start(&[]);
    with_rows(addr).await;
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30"])
            .args(args)
            .output()
            .expect("curl is installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let base = format!("http://{addr}/v1/databases/app/query");
    let json = curl(&["-G", &base, "--data-urlencode", "q=SELECT a FROM t WHERE a >= ?", "--data-urlencode", "p=1"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["rows"], json!([[1], [2.5]]));
    let csv = curl(&["-G", &base, "-H", "Accept: text/csv", "--data-urlencode", "q=SELECT b FROM t WHERE a = :a", "--data-urlencode", ":a=1"]);
    assert_eq!(csv, "b\r\n\"a,\"\"b\"\"\"\r\n");
    let health = curl(&[&format!("http://{addr}/healthz")]);
    assert_eq!(health, r#"{"status":"SERVING"}"#);
}
