//! Every SQLite value through JSON and back, bit for bit, with its type.

use serde_json::{Value as Json, json};

use super::{sql, start};

/// Each value as sent, as SQLite's typeof() must see it, and as it must come back.
fn cases() -> Vec<(Json, &'static str, Json)> {
    let typed = |t: &str, v: &str| json!({"type": t, "value": v});
    vec![
        (json!(null), "null", json!(null)),
        (json!(0), "integer", json!(0)),
        (json!(42), "integer", json!(42)),
        (json!(-9007199254740991_i64), "integer", json!(-9007199254740991_i64)),
        (json!(9007199254740991_i64), "integer", json!(9007199254740991_i64)),
        // Past ±(2^53−1): typed on the way out, plain JSON integers accepted on the way in.
        (json!(9007199254740993_i64), "integer", typed("integer", "9007199254740993")),
        (json!(i64::MAX), "integer", typed("integer", "9223372036854775807")),
        (typed("integer", "-9223372036854775808"), "integer", typed("integer", "-9223372036854775808")),
        (json!(true), "integer", json!(1)),
        (json!(false), "integer", json!(0)),
        (json!(1.0), "real", json!(1.0)),
        (json!(0.1), "real", json!(0.1)),
        (json!(-2.5e-300), "real", json!(-2.5e-300)),
        (json!(f64::MAX), "real", json!(f64::MAX)),
        (json!(5e-324), "real", json!(5e-324)),
        (json!(0.0), "real", json!(0.0)),
        (typed("real", "-0.0"), "real", typed("real", "-0.0")),
        (typed("real", "inf"), "real", typed("real", "inf")),
        (typed("real", "-inf"), "real", typed("real", "-inf")),
        (typed("real", "1.5"), "real", json!(1.5)),
        (json!(""), "text", json!("")),
        (json!("é \" \\ \n \u{0} 😀"), "text", json!("é \" \\ \n \u{0} 😀")),
        (typed("text", "42"), "text", json!("42")),
        (json!({"type": "blob", "base64": ""}), "blob", json!({"type": "blob", "base64": ""})),
        (json!({"type": "blob", "base64": "AAH/"}), "blob", json!({"type": "blob", "base64": "AAH/"})),
        // Padding is optional on the way in, always there on the way out.
        (json!({"type": "blob", "base64": "AAE"}), "blob", json!({"type": "blob", "base64": "AAE="})),
        (json!({"type": "null"}), "null", json!(null)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_round_trips_with_its_type() {
    let (_server, addr) = start(&[]);
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE v (id INTEGER PRIMARY KEY, x ANY) STRICT"})).await.ok();
    let cases = cases();
    for (i, (sent, _, _)) in cases.iter().enumerate() {
        sql(addr, "app", "execute", json!({"sql": "INSERT INTO v VALUES (?, ?)", "params": [i, sent]})).await.ok();
    }
    let rows = sql(addr, "app", "query", json!({"sql": "SELECT x, typeof(x) FROM v ORDER BY id"})).await.ok();
    let rows = rows["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), cases.len());
    for ((sent, kind, back), row) in cases.iter().zip(&rows) {
        assert_eq!(row[1], *kind, "typeof of {sent}");
        assert_eq!(row[0], *back, "{sent} came back as {}", row[0]);
        if let (Some(a), Some(b)) = (row[0].as_f64(), back.as_f64()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{sent}");
        }
    }
    // The same values as parameters of a SELECT, and the exact bits of -0.0 and a blob.
    let echo = sql(addr, "app", "query", json!({"sql": "SELECT ?, 1/?, hex(?)", "params": [
        {"type": "real", "value": "-0.0"}, {"type": "real", "value": "-0.0"}, {"type": "blob", "base64": "3q2+7w=="}
    ]})).await.ok();
    assert_eq!(echo["rows"], json!([[{"type": "real", "value": "-0.0"}, null, "DEADBEEF"]]));
    // NaN is not a SQLite value: bound, it is NULL, as in SQLite.
    let nan = sql(addr, "app", "query", json!({"sql": "SELECT typeof(?)", "params": [{"type": "real", "value": "nan"}]})).await.ok();
    assert_eq!(nan["rows"], json!([["null"]]));
}
