//! Operations: gRPC health (and the healthcheck subcommand), server reflection, request ids,
//! JSON logs.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{Server, eventually};

/// How long the server may take to log or report what a test awaits.
const BOUND: Duration = Duration::from_secs(10);

/// A health client of `server`.
pub async fn health(server: &Server) -> HealthClient<tonic::transport::Channel> {
    HealthClient::new(
        tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    )
}

/// The status of the health entry `service`, or the code of the refusal.
pub async fn status(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<i32, Code> {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status)
        .map_err(|s| s.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_server_each_database_and_draining() {
    let mut server = Server::start_with(&["--shutdown-grace-secs", "2"]);
    let mut client = health(&server).await;
    let serving = ServingStatus::Serving as i32;
    assert_eq!(status(&mut client, "").await, Ok(serving));
    assert_eq!(
        status(&mut client, "sqlited.v1.Database").await,
        Ok(serving)
    );
    assert_eq!(
        status(&mut client, "sqlited.v1.Database/app").await,
        Err(Code::NotFound)
    );

    server
        .database("app")
        .await
        .execute("SELECT 1", ())
        .await
        .unwrap();
    eventually(BOUND, "the database reports SERVING", || {
        let mut client = client.clone();
        async move {
            match status(&mut client, "sqlited.v1.Database/app").await {
                Ok(status) if status == serving => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;

    let mut watch = client
        .watch(HealthCheckRequest {
            service: "sqlited.v1.Database/app".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().status, serving);
    let terminated = tokio::task::spawn_blocking(move || server.terminate());
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap();
    assert_eq!(
        next.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    assert!(terminated.await.unwrap().success());
}

#[test]
fn the_healthcheck_subcommand_exits_by_status() {
    let server = Server::start();
    let run = |addr: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sqlited"))
            .args(["healthcheck", "--addr", addr, "--timeout-ms", "5000"])
            .output()
            .unwrap()
    };
    let ok = run(&server.url());
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "SERVING");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let down = run(&dead);
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("cannot reach"),
        "{down:?}"
    );
}

#[tokio::test]
async fn reflection_lists_every_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = Server::start();
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "sqlited.v1.Database",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn errors_carry_the_request_id_of_the_log() {
    let server = Server::start();
    let db = server.database("ids").await;
    let err = db.execute("SELEC 1", ()).await.unwrap_err();
    let id = err.request_id().expect("a request id").to_string();
    assert!(!id.is_empty());
    // The log line of the failure names the same request.
    eventually(BOUND, &format!("request id {id} in the log"), || {
        std::future::ready(server.logged(|log| log.contains(&id)))
    })
    .await;

    // So does a key-value request's (its span is at debug level; the failure line names
    // the request itself), and a log written to a file has no colour codes.
    let mut kv = sqlited_client::proto::v1::key_value_client::KeyValueClient::connect(server.url())
        .await
        .unwrap();
    let err = kv
        .get(sqlited_client::proto::v1::GetRequest {
            map: Some(sqlited_client::proto::v1::MapRef {
                database: "ids".into(),
                map: "no such/map".into(),
            }),
            key: b"k".to_vec(),
        })
        .await
        .unwrap_err();
    let kv_id = err
        .metadata()
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap()
        .to_string();
    let awaited = format!("request id {kv_id} on a failure line of the log");
    eventually(BOUND, &awaited, || {
        std::future::ready(server.logged(|log| {
            log.lines().any(|l| l.contains(&kv_id) && l.contains("failed"))
        }))
    })
    .await;
    assert!(!server.log().contains('\u{1b}'), "{}", server.log());

    // A client's own x-request-id is kept.
    let mut raw = sqlited_client::proto::v1::database_client::DatabaseClient::connect(server.url())
        .await
        .unwrap();
    let mut request = tonic::Request::new(sqlited_client::proto::v1::ExecuteRequest {
        database: "ids".into(),
        statement: Some(sqlited_client::proto::v1::Statement {
            sql: "SELECT 1".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-request-id", "my-trace-42".parse().unwrap());
    let response = raw.execute(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "my-trace-42"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let server = Server::start_with(&["--log-format", "json"]);
    server
        .database("json")
        .await
        .execute("SELEC", ())
        .await
        .unwrap_err();
    eventually(BOUND, "a failure logged", || {
        std::future::ready(server.logged(|log| log.contains("failed")))
    })
    .await;
    for line in server.log().lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
        assert!(line.contains("\"level\""), "{line}");
    }
}
