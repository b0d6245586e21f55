//! Databases are made on purpose: reads create nothing, the first write creates, and
//! Admin.CreateDatabase / Admin.DropDatabase make and remove them.

use sqlited_client::proto::v1::admin_client::AdminClient;
use sqlited_client::proto::v1::{BeginRequest, DropDatabaseRequest};
use sqlited_client::{Client, TransactionOptions};
use tonic::Code;

use crate::harness::{Server, eventually, scalar};

fn code(err: sqlited_client::Error) -> Code {
    err.status_code()
        .unwrap_or_else(|| panic!("no status: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_a_missing_database_create_nothing() {
    let server = Server::start();
    // The raw client: the harness's handle would create the database.
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("typo");
    let err = db.query_all("SELECT 1", ()).await.unwrap_err();
    assert_eq!(code(err.clone()), Code::NotFound, "{err}");
    assert!(err.to_string().contains("\"typo\""), "{err}");
    let err = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    let err = db.raw_map("m").len().await.unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    let err = client.admin().checkpoint("typo").await.unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    assert!(!server.data_dir.join("typo.db").exists());
    assert!(
        client
            .admin()
            .list_databases()
            .await
            .unwrap()
            .iter()
            .all(|d| d.name != "typo")
    );

    // The first write creates it: Execute, or a writing statement through Query.
    client
        .database("by_execute")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap();
    assert!(server.data_dir.join("by_execute.db").exists());
    client
        .database("by_query")
        .query_all("CREATE TABLE t (x)", ())
        .await
        .unwrap();
    assert!(server.data_dir.join("by_query.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_database_makes_one_on_purpose_even_with_no_create() {
    let server = Server::start_with(&["--no-create"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let err = client
        .database("app")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code(err.clone()), Code::NotFound, "{err}");
    assert!(err.to_string().contains("--no-create"), "{err}");
    assert!(client.admin().create_database("app", false).await.unwrap());
    let err = client
        .admin()
        .create_database("app", false)
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::AlreadyExists);
    assert!(!client.admin().create_database("app", true).await.unwrap());
    let db = client.database("app");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 0);
    let err = client
        .admin()
        .create_database("../etc", true)
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_database_ends_its_transactions_and_removes_its_files() {
    let server = Server::start_with(&["--readers", "2"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = server.database("doomed").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 1);
    let open = db.begin().await.unwrap();
    open.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    let reading = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();

    assert!(client.admin().drop_database("doomed", false).await.unwrap());
    for suffix in ["db", "db-wal", "db-shm"] {
        let file = server.data_dir.join(format!("doomed.{suffix}"));
        assert!(!file.exists(), "{} is left", file.display());
    }
    // Its transactions ended with it; the database is gone for reads.
    let err = open.commit().await.unwrap_err();
    assert!(
        matches!(code(err.clone()), Code::NotFound | Code::Aborted | Code::FailedPrecondition),
        "{err}"
    );
    drop(reading);
    let err = client
        .database("doomed")
        .query_all("SELECT count(*) FROM t", ())
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    // Health forgets it (polled: the health entries follow the engine's events).
    let health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let bound = std::time::Duration::from_secs(10);
    eventually(bound, "health forgets the dropped database", || {
        let mut health = health.clone();
        async move {
            let answer = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "sqlited.v1.Database/doomed".into(),
                })
                .await;
            match answer {
                Err(status) if status.code() == Code::NotFound => Ok(()),
                other => Err(format!("health answers {other:?}")),
            }
        }
    })
    .await;
    // Dropping it again is NOT_FOUND, unless if_exists.
    let err = client
        .admin()
        .drop_database("doomed", false)
        .await
        .unwrap_err();
    assert_eq!(code(err), Code::NotFound);
    assert!(!client.admin().drop_database("doomed", true).await.unwrap());
    // A write makes a new, empty one: nothing of the old is left.
    let again = client.database("doomed");
    again.execute("CREATE TABLE t (x)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&again, "SELECT count(*) FROM t").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_creates_or_drops() {
    let dir = tempfile::tempdir().unwrap();
    let hash = |token: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(crate::harness::sqlited_binary())
            .args(["token", "hash"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    let file = dir.path().join("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[[token]]\nname = \"writer\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"write\" }}\n",
            hash("sqlited_writer-token")
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()]);
    let mut admin = AdminClient::connect(server.url()).await.unwrap();
    let mut request = tonic::Request::new(DropDatabaseRequest {
        database: "app".into(),
        if_exists: true,
    });
    request.metadata_mut().insert(
        "authorization",
        "Bearer sqlited_writer-token".parse().unwrap(),
    );
    let status = admin.drop_database(request).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // A write token's write transaction on a missing database: creating needs admin.
    let mut database =
        sqlited_client::proto::v1::database_client::DatabaseClient::connect(server.url())
            .await
            .unwrap();
    let mut begin = tonic::Request::new(BeginRequest {
        database: "app".into(),
        ..Default::default()
    });
    begin.metadata_mut().insert(
        "authorization",
        "Bearer sqlited_writer-token".parse().unwrap(),
    );
    let status = database.begin(begin).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // The whole message, word for word (it once carried a run of 18 spaces).
    assert_eq!(
        status.message(),
        "database \"app\" does not exist, and creating a database needs the admin role (the \
         token's role is write)"
    );
    assert!(!server.data_dir.join("app.db").exists());
}
