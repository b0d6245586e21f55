//! Every value type round-trips exactly.

use sqlited_client::{Value, params};

use crate::harness::Server;

fn samples() -> Vec<(Value, &'static str)> {
    vec![
        (Value::Null, "null"),
        (Value::Integer(0), "integer"),
        (Value::Integer(i64::MIN), "integer"),
        (Value::Integer(i64::MAX), "integer"),
        (Value::Real(1.5), "real"),
        (Value::Real(-1e-300), "real"),
        (Value::Real(f64::MAX), "real"),
        (Value::Real(f64::MIN_POSITIVE), "real"),
        (Value::Real(f64::INFINITY), "real"),
        (Value::Real(0.1 + 0.2), "real"),
        (Value::Text(String::new()), "text"),
        (Value::Text("héllo wörld ✓ 𝄞 日本語".into()), "text"),
        (Value::Text("nul\0inside".into()), "text"),
        (Value::Blob(Vec::new()), "blob"),
        (Value::Blob(vec![0, 0, 1, 0, 255]), "blob"),
        (Value::Blob((0..=255).collect()), "blob"),
    ]
}

#[tokio::test]
async fn every_value_round_trips_through_a_table() {
    let server = Server::start();
    let db = server.database("values").await;
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)", ())
        .await
        .unwrap();
    for (i, (value, _)) in samples().into_iter().enumerate() {
        db.execute(
            "INSERT INTO t (id, v) VALUES (?, ?)",
            vec![Value::Integer(i as i64), value],
        )
        .await
        .unwrap();
    }
    let rows = db
        .query_all("SELECT v, typeof(v) FROM t ORDER BY id", ())
        .await
        .unwrap();
    assert_eq!(rows.len(), samples().len());
    for (row, (value, type_name)) in rows.iter().zip(samples()) {
        assert_eq!(row.value(0).unwrap(), &value);
        assert_eq!(
            row.get::<String>(1).unwrap(),
            type_name,
            "storage class of {value:?}"
        );
    }
}

#[tokio::test]
async fn every_value_round_trips_as_a_parameter() {
    let server = Server::start();
    let db = server.database("echo").await;
    for (value, type_name) in samples() {
        let row = db
            .query_one("SELECT ?1, typeof(?1)", vec![value.clone()])
            .await
            .unwrap();
        assert_eq!(row.value(0).unwrap(), &value);
        assert_eq!(row.get::<String>(1).unwrap(), type_name);
    }
}

#[tokio::test]
async fn typed_reads_and_column_metadata() {
    let server = Server::start();
    let db = server.database("typed").await;
    db.execute(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB)",
        (),
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO p (name, score, data) VALUES (?, ?, ?)",
        params!["Ada", 9.5, vec![1u8, 2, 3]],
    )
    .await
    .unwrap();
    let row = db
        .query_one(
            "SELECT id, name, score, data, NULL AS nada, 1 + 1 AS two FROM p",
            (),
        )
        .await
        .unwrap();
    assert_eq!(row.get::<i64>("id").unwrap(), 1);
    assert_eq!(row.get::<i32>(0).unwrap(), 1);
    assert_eq!(row.get::<String>("name").unwrap(), "Ada");
    assert_eq!(row.get::<f64>("score").unwrap(), 9.5);
    assert_eq!(row.get::<Vec<u8>>("data").unwrap(), vec![1, 2, 3]);
    assert_eq!(row.get::<Option<i64>>("nada").unwrap(), None);
    assert_eq!(row.get::<u32>("two").unwrap(), 2);
    assert!(
        row.get::<i64>("name").is_err(),
        "TEXT read as i64 must fail"
    );
    assert!(row.get::<i64>("missing").is_err());
    assert!(row.get::<i64>(17).is_err());
    let types: Vec<Option<&str>> = row.columns().iter().map(|c| c.decl_type()).collect();
    assert_eq!(
        types,
        [
            Some("INTEGER"),
            Some("TEXT"),
            Some("REAL"),
            Some("BLOB"),
            None,
            None
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlites_math_functions_are_there() {
    // As in the sqlite3 shell and Python's sqlite3 (.cargo/config.toml builds them in).
    let server = Server::start();
    let db = server.database("math").await;
    let row = db
        .query_one(
            "SELECT floor(-2.5), ceil(2.1), sqrt(16.0), pow(2, 10), ln(1), mod(7, 3), pi() > 3.14",
            (),
        )
        .await
        .unwrap();
    assert_eq!(
        row.values(),
        &[
            Value::Real(-3.0),
            Value::Real(3.0),
            Value::Real(4.0),
            Value::Real(1024.0),
            Value::Real(0.0),
            Value::Real(1.0),
            Value::Integer(1),
        ]
    );
}
