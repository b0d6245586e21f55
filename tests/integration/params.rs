//! Positional, numbered and named parameters.

use sqlited_client::{ErrorKind, Value, named_params, params};

use crate::harness::Server;

#[tokio::test]
async fn positional_numbered_and_named() {
    let server = Server::start();
    let db = server.database("params").await;
    let row = db
        .query_one("SELECT ?, ?", params![1, "two"])
        .await
        .unwrap();
    assert_eq!(row.values(), [Value::Integer(1), Value::Text("two".into())]);

    let row = db
        .query_one("SELECT ?2, ?1, ?2", params!["a", "b"])
        .await
        .unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "b");
    assert_eq!(row.get::<String>(1).unwrap(), "a");
    assert_eq!(row.get::<String>(2).unwrap(), "b");

    let row = db
        .query_one(
            "SELECT :a, @b, $c, :a",
            named_params! { ":a" => 1, "b" => 2, "$c" => 3 },
        )
        .await
        .unwrap();
    let ints: Vec<i64> = (0..4).map(|i| row.get(i).unwrap()).collect();
    assert_eq!(ints, [1, 2, 3, 1]);

    let row = db.query_one("SELECT ?", [None::<i64>]).await.unwrap();
    assert_eq!(row.value(0).unwrap(), &Value::Null);
}

#[tokio::test]
async fn parameter_mistakes_name_the_parameter() {
    let server = Server::start();
    let db = server.database("params").await;
    let err = db.query_all("SELECT ?, ?", params![1]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert_eq!(err.field(), Some("statement.params"));
    assert!(err.message().contains("2 positional values but 1"), "{err}");

    let err = db.query_all("SELECT ?", params![1, 2]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");

    let err = db
        .execute("SELECT :name", named_params! { "nmae" => 1 })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert!(err.message().contains(":name"), "{err}");

    let err = db
        .execute("SELECT :a", named_params! { "a" => 1, "b" => 2 })
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("statement.named_params[\"b\"]"), "{err}");
}
