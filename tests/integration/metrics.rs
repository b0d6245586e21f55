//! Prometheus metrics: scraped over HTTP and parsed as Prometheus text.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use sqlited_client::params;

use crate::harness::{Server, eventually};

/// GET /metrics over plain HTTP/1.0; the samples by `name{labels}`.
fn scrape(addr: std::net::SocketAddr) -> HashMap<String, f64> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    let mut samples = HashMap::new();
    for line in body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

/// The value of the first sample of `name` whose labels include all of `labels`.
pub fn sample(addr: std::net::SocketAddr, name: &str, labels: &[&str]) -> Option<f64> {
    find(&scrape(addr), name, labels).copied()
}

fn find<'a>(samples: &'a HashMap<String, f64>, name: &str, labels: &[&str]) -> Option<&'a f64> {
    samples
        .iter()
        .find(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_as_prometheus_text() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let addr = server.metrics_addr();
    let db = server.database("metered").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute_many("INSERT INTO t VALUES (?)", (0..50).map(|i| params![i]))
        .await
        .unwrap();
    for _ in 0..5 {
        db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    }
    assert_eq!(db.query_all("SELECT x FROM t", ()).await.unwrap().len(), 55);
    db.execute("SELEC", ()).await.unwrap_err();
    db.begin().await.unwrap().commit().await.unwrap();
    // The other services count too, streams until their end.
    let map = db.raw_map("counted");
    map.set_many((0..3u8).map(|i| (vec![i], vec![i])).collect())
        .await
        .unwrap();
    assert_eq!(map.page(None, 10).await.unwrap().len(), 3);
    db.raw_map("bad name!").len().await.unwrap_err();
    let client = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap();
    client.admin().list_databases().await.unwrap();
    let mut backup = Vec::new();
    client.admin().backup("metered", &mut backup).await.unwrap();

    // Sizes are sampled every few seconds: poll (bounded) until they appear.
    let samples = eventually(Duration::from_secs(20), "the database sizes", || {
        let samples = scrape(addr);
        let sized = find(
            &samples,
            "sqlited_database_bytes",
            &["database=\"metered\"", "file=\"db\""],
        )
        .is_some();
        std::future::ready(match sized {
            true => Ok(samples),
            false => Err(format!("{samples:?}")),
        })
    })
    .await;
    let ok_executes = find(
        &samples,
        "sqlited_requests_total",
        &[
            "service=\"sqlited.v1.Database\"",
            "rpc=\"Execute\"",
            "code=\"OK\"",
        ],
    )
    .unwrap();
    assert!(*ok_executes >= 6.0, "{ok_executes}");
    assert_eq!(
        find(
            &samples,
            "sqlited_requests_total",
            &["rpc=\"Execute\"", "code=\"INVALID_ARGUMENT\""]
        ),
        Some(&1.0)
    );
    assert!(
        find(
            &samples,
            "sqlited_request_duration_seconds_bucket",
            &["rpc=\"Query\""]
        )
        .is_some()
    );
    for (service, rpc, code) in [
        ("sqlited.v1.KeyValue", "SetMany", "OK"),
        ("sqlited.v1.KeyValue", "Scan", "OK"),
        ("sqlited.v1.KeyValue", "Len", "INVALID_ARGUMENT"),
        ("sqlited.v1.Admin", "ListDatabases", "OK"),
        ("sqlited.v1.Admin", "Backup", "OK"),
        ("sqlited.v1.Database", "Query", "OK"),
        ("sqlited.v1.Database", "Begin", "OK"),
        ("sqlited.v1.Database", "Commit", "OK"),
    ] {
        let labels = [
            format!("service=\"{service}\""),
            format!("rpc=\"{rpc}\""),
            format!("code=\"{code}\""),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert_eq!(
            find(&samples, "sqlited_requests_total", &labels),
            Some(&1.0),
            "{service}/{rpc} {code}"
        );
    }
    assert!(*find(&samples, "sqlited_rows_returned_total", &[]).unwrap() >= 55.0);
    assert!(
        *find(
            &samples,
            "sqlited_group_commit_size_count",
            &["database=\"metered\""]
        )
        .unwrap()
            >= 6.0
    );
    assert_eq!(
        find(
            &samples,
            "sqlited_write_queue_depth",
            &["database=\"metered\""]
        ),
        Some(&0.0)
    );
    assert_eq!(find(&samples, "sqlited_open_transactions", &[]), Some(&0.0));
    assert!(
        *find(
            &samples,
            "sqlited_database_bytes",
            &["database=\"metered\"", "file=\"db\""]
        )
        .unwrap()
            > 0.0
    );
}

/// The standard process metrics of Prometheus clients, for the server process.
#[test]
fn the_process_metrics_are_the_standard_ones() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let samples = scrape(server.metrics_addr());
    let value = |name: &str| {
        *find(&samples, name, &[]).unwrap_or_else(|| panic!("no {name} in {samples:?}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(started <= now + 1.0 && started > now - 600.0, "{started} vs {now}");
    assert!(value("process_cpu_seconds_total") >= 0.0);
    let resident = value("process_resident_memory_bytes");
    assert!(resident > 1e6, "{resident}");
    assert!(value("process_virtual_memory_bytes") >= resident);
    let fds = value("process_open_fds");
    assert!(fds >= 3.0 && fds <= value("process_max_fds"), "{fds}");
    // The runtime's threads at least, besides the main one.
    assert!(value("process_threads") >= 2.0);
    // The server's own pid: the figures are the server's, not the scraper's.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let threads: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((value("process_threads") - threads).abs() <= 8.0, "{threads}");
}
