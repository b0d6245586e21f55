//! Exposed statements of databases that do not exist yet, seen from the front: health, the
//! OpenAPI document and ListStatements (thread workers only: what is checked is in front of
//! the worker seam; the statements' checks themselves run in both kinds in `statements`).

use std::time::Duration;

use sqlited_client::{Client, args};
use tonic::Code;

use crate::harness::Server;

/// A statements file naming databases that do not exist yet (a first deploy) starts the
/// server: their statements are listed as unavailable, with the reason, in ListStatements
/// and the OpenAPI document, their health entries are NOT_SERVING, and they are checked and
/// served once the database and its tables exist; a drop makes them wait again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_of_a_database_not_created_yet_wait_for_it() {
    use tonic_health::pb::health_check_response::ServingStatus;

    const FILE: &str = r#"
[databases.shop.statements.add_user]
sql = "INSERT INTO users (name) VALUES (:name)"
writes = true
params.name = { type = "text" }

[databases.shop.statements.users]
sql = "SELECT name FROM users ORDER BY name"

[databases.cache]
maps = ["sessions"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statements.toml");
    std::fs::write(&file, FILE).unwrap();
    let server = Server::start_in(
        dir.path(),
        &["--statements", file.to_str().unwrap(), "--http-listen", "127.0.0.1:0"],
    );
    let http = server.http_addr();
    let client = Client::connect(&server.url()).await.unwrap();
    let shop = client.database("shop");
    let health = crate::ops::health(&server).await;
    let status = |service: &'static str| {
        let mut health = health.clone();
        async move { crate::ops::status(&mut health, service).await }
    };
    let serving = Ok(ServingStatus::Serving as i32);
    let not_serving = Ok(ServingStatus::NotServing as i32);
    assert_eq!(status("").await, serving);
    assert_eq!(status("sqlited.v1.Database/shop").await, not_serving);
    assert_eq!(status("sqlited.v1.Database/cache").await, not_serving);

    let reasons = |listed: Vec<sqlited_client::proto::v1::ExposedStatement>| {
        listed
            .into_iter()
            .map(|s| (s.name, s.unavailable))
            .collect::<Vec<_>>()
    };
    let listed = reasons(shop.list_statements().await.unwrap());
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|(_, why)| why.contains("does not exist yet")),
        "{listed:?}"
    );
    let err = shop.call_all("users", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::NotFound), "{err}");
    assert!(err.to_string().contains("cannot be called yet"), "{err}");
    let document = crate::gateway::get(http, "/v1/openapi.json")
        .send()
        .await
        .ok();
    let users = &document["paths"]["/v1/databases/shop/call/users"]["get"];
    assert!(
        users["x-sqlited-unavailable"]
            .as_str()
            .is_some_and(|why| why.contains("does not exist yet")),
        "{users}"
    );

    // Created, but without its tables: still not callable, now with SQLite's reason.
    client.admin().create_database("shop", false).await.unwrap();
    let err = shop.call_all("users", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::FailedPrecondition), "{err}");
    assert!(err.to_string().contains("no such table: users"), "{err}");
    assert_eq!(status("sqlited.v1.Database/shop").await, not_serving);

    // Its tables made: checked at the next call, and served.
    shop.execute("CREATE TABLE users (name TEXT)", ())
        .await
        .unwrap();
    shop.call_all("add_user", args! {"name" => "ann"})
        .await
        .unwrap();
    assert_eq!(shop.call_all("users", ()).await.unwrap().len(), 1);
    let listed = reasons(shop.list_statements().await.unwrap());
    assert!(listed.iter().all(|(_, why)| why.is_empty()), "{listed:?}");
    assert_eq!(status("sqlited.v1.Database/shop").await, serving);
    let document = crate::gateway::get(http, "/v1/openapi.json")
        .send()
        .await
        .ok();
    let users = &document["paths"]["/v1/databases/shop/call/users"]["get"];
    assert!(users.get("x-sqlited-unavailable").is_none(), "{users}");

    // The database of maps only is SERVING once it exists.
    client.admin().create_database("cache", false).await.unwrap();
    assert_eq!(status("sqlited.v1.Database/cache").await, serving);

    // Dropped: its statements wait for it again.
    client.admin().drop_database("shop", false).await.unwrap();
    let err = shop.call_all("users", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::NotFound), "{err}");
    assert_eq!(status("sqlited.v1.Database/shop").await, not_serving);
    // Created again with its table (as a restore would bring it): served once it opens.
    shop.execute("CREATE TABLE users (name TEXT)", ())
        .await
        .unwrap();
    crate::harness::eventually(Duration::from_secs(20), "shop SERVING", || async {
        status("sqlited.v1.Database/shop").await == serving
    })
    .await;
    assert_eq!(shop.call_all("users", ()).await.unwrap().len(), 0);
}
