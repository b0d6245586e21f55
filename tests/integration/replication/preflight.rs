//! What replication needs, checked before the server starts, and configuration errors met
//! at run time: a CA bundle that cannot be used (missing, not PEM, not certificates) or half
//! an access key stops the server before it serves, naming the variable and the fix; a good
//! CA bundle (Litestream 0.5 cannot take `AWS_CA_BUNDLE` itself) replicates, over HTTPS to a
//! store whose certificate only that bundle trusts; a bucket that does not exist makes the
//! database NOT_SERVING at once (and `/readyz` 503 with the reason), and each sync-mode
//! write answers at once with the fix.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlited_client::{Client, params};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::harness::{Server, eventually, eventually_blocking, sqlited_binary};
use crate::replication::store::{Store, caught_up, env, replica_url, restored_rows, tools};

/// The environment of the tests' replicated servers, with `extra` on top.
fn env_with<'a>(extra: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, Option<&'a str>)> {
    let mut all: Vec<(&str, Option<&str>)> = env().to_vec();
    all.push(("SSL_CERT_FILE", None));
    all.retain(|(name, _)| !extra.iter().any(|(e, _)| e == name));
    all.extend_from_slice(extra);
    all
}

/// Starts a replicated server that must refuse to start; its standard error.
fn refused(url: &str, extra: &[(&str, Option<&str>)]) -> String {
    let (litestream, _) = tools();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(sqlited_binary());
    for (name, value) in env_with(extra) {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command
        .args(["--listen", "127.0.0.1:0", "--replica-url", url])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--litestream")
        .arg(&litestream)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sqlited");
    let status = eventually_blocking(Duration::from_secs(30), "the server refusing to start", || {
        match child.try_wait() {
            Ok(Some(status)) => Ok(status),
            _ => Err("it still runs".to_string()),
        }
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A CA and a certificate it signed for 127.0.0.1, as PEM: (ca, cert, key).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn a_ca_bundle_that_cannot_be_used_stops_the_server_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let url = replica_url("preflight-refused");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let text = write(dir.path(), "text.pem", "this is not a certificate\n");
    let not_der = write(
        dir.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    for (variable, path, says) in [
        ("AWS_CA_BUNDLE", missing, "cannot be read"),
        ("AWS_CA_BUNDLE", text.as_str(), "not a CA bundle"),
        ("AWS_CA_BUNDLE", not_der.as_str(), "not an X.509"),
        ("SSL_CERT_FILE", missing, "cannot be read"),
    ] {
        let stderr = refused(&url, &[(variable, Some(path))]);
        assert!(stderr.contains(&format!("{variable}={path}")), "{stderr}");
        assert!(stderr.contains(says), "{variable}={path}: {stderr}");
        assert!(
            stderr.contains(&format!("set {variable} to a PEM file")),
            "{stderr}"
        );
    }
}

#[test]
fn half_an_access_key_stops_the_server() {
    let url = replica_url("preflight-keys");
    let stderr = refused(&url, &[("AWS_SECRET_ACCESS_KEY", None)]);
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        "{stderr}"
    );
    let stderr = refused("s3://?endpoint=http://127.0.0.1:1", &[]);
    assert!(stderr.contains("--replica-url") && stderr.contains("no bucket"), "{stderr}");
}

/// A replicated server (`--replication sync`) with `extra` in its environment; its data
/// directory is `dir`.
fn replicated_with(dir: &Path, url: &str, extra: &[(&str, Option<&str>)], args: &[&str]) -> Server {
    let (litestream, _) = tools();
    let litestream = litestream.to_string_lossy().into_owned();
    let mut all = vec!["--replica-url", url, "--litestream", &litestream];
    all.extend_from_slice(args);
    Server::start_in_env(dir, &all, &env_with(extra))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_ca_bundle_replicates_over_https_and_plain_http() {
    let (ca, cert, key) = certificates();
    let mut store = Store::with_tls(&cert, &key);
    store.start();
    let files = tempfile::tempdir().unwrap();
    let bundle = write(files.path(), "ca.pem", &ca);
    // Over HTTPS, a store only this bundle trusts; over HTTP, the system's bundle (set by
    // many base images), which Litestream 0.5 alone turns into a failure of every request.
    let https = store.https_url("preflight-https");
    let http = replica_url("preflight-http");
    let system = "/etc/ssl/certs/ca-certificates.crt";
    let mut cases = vec![(https.clone(), bundle.clone())];
    if Path::new(system).exists() {
        cases.push((http, system.to_string()));
    }
    for (url, bundle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let server = replicated_with(
            dir.path(),
            &url,
            &[("AWS_CA_BUNDLE", Some(&bundle))],
            &["--replication", "sync"],
        );
        let client = Client::connect(&server.url()).await.unwrap();
        let db = client.database("app");
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
            .await
            .unwrap_or_else(|err| panic!("{url} with {bundle}: {err}"));
        for id in 0..5 {
            db.execute("INSERT INTO t VALUES (?)", params![id])
                .await
                .unwrap_or_else(|err| panic!("{url} with {bundle}: {err}"));
        }
        caught_up(&client, "app").await;
        drop(server);
        if url == https {
            // The restore trusts the same bundle.
            let restored = {
                let target = tempfile::tempdir().unwrap();
                let (litestream, _) = tools();
                let mut command = Command::new(sqlited_binary());
                for (name, value) in env_with(&[("AWS_CA_BUNDLE", Some(&bundle))]) {
                    match value {
                        Some(value) => command.env(name, value),
                        None => command.env_remove(name),
                    };
                }
                let out = command
                    .args(["restore", "--replica-url", &url, "--database", "app"])
                    .arg("--litestream")
                    .arg(litestream)
                    .arg("--data-dir")
                    .arg(target.path())
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                crate::replication::store::count(&target.path().join("app.db"))
            };
            assert_eq!(restored, 5);
        } else {
            assert_eq!(restored_rows(&url, "app", &[]), 5);
        }
    }
    // Without the bundle, the store's certificate is not trusted: no replica. (Litestream
    // retries a TLS failure; the write is answered UNAVAILABLE within its sync timeout.)
    let dir = tempfile::tempdir().unwrap();
    let server = replicated_with(
        dir.path(),
        &store.https_url("preflight-untrusted"),
        &[],
        &["--replication", "sync", "--replication-sync-timeout-ms", "2000"],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let err = client
        .database("app")
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
}

/// The health of database `name`.
async fn health(server: &Server, name: &str) -> Result<ServingStatus, String> {
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .map_err(|err| err.to_string())?;
    let answer = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: format!("sqlited.v1.Database/{name}"),
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(answer.into_inner().status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_does_not_exist_is_not_serving_and_writes_say_the_fix_at_once() {
    let url = replica_url("preflight-bucket").replacen("s3://sqlited/", "s3://no-such-bucket/", 1);
    let dir = tempfile::tempdir().unwrap();
    // A sync timeout far longer than the test waits: an answer comes from the diagnosis,
    // not from the timeout.
    let server = replicated_with(
        dir.path(),
        &url,
        &[],
        &[
            "--replication",
            "sync",
            "--replication-sync-timeout-ms",
            "120000",
            "--http-listen",
            "127.0.0.1:0",
        ],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("app");
    let err = db
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    assert!(err.message().contains("not yet safe"), "{err}");
    assert!(err.message().contains("create the bucket"), "{err}");
    // Every later write answers at once with the same fix (not after the sync timeout).
    for id in 0..20 {
        let began = std::time::Instant::now();
        let err = db
            .execute("INSERT INTO t VALUES (?)", params![id])
            .await
            .unwrap_err();
        assert!(err.message().contains("NoSuchBucket"), "{err}");
        assert!(err.message().contains("create the bucket"), "{err}");
        assert!(began.elapsed() < Duration::from_secs(60), "{:?}", began.elapsed());
    }
    // Reads serve; health says NOT_SERVING (before --replication-unhealthy-secs, 30 s);
    // ListDatabases gives the reason with its fix.
    let rows = db.query_all("SELECT count(*) FROM t", ()).await.unwrap();
    assert_eq!(rows.len(), 1);
    eventually(Duration::from_secs(20), "app NOT_SERVING", || async {
        match health(&server, "app").await? {
            ServingStatus::NotServing => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let listed = client.admin().list_databases().await.unwrap();
    let status = listed
        .into_iter()
        .find(|d| d.name == "app")
        .and_then(|d| d.replication)
        .unwrap();
    assert!(status.error.contains("create the bucket"), "{status:?}");
    // The HTTP port's readiness says why, with the fix.
    let ready = crate::gateway::get(server.http_addr(), "/readyz").send().await;
    assert_eq!(ready.status, 503, "{}", String::from_utf8_lossy(&ready.body));
    let reasons = ready.json()["reasons"].to_string();
    assert!(reasons.contains("create the bucket"), "{reasons}");
    // Said once in the log, not once per write.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let warned = log.matches("a Litestream sync failed").count();
    assert!(warned <= 2, "{warned} warnings:\n{log}");
}
