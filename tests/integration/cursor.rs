//! The blocking DB-API surface: Connection, Cursor, description, rowcount, lastrowid, fetch*.

use sqlited_client::{ErrorKind, blocking, named_params, params};

use crate::harness::Server;

#[test]
fn cursor_follows_the_dbapi() {
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("dbapi")).unwrap();
    let mut cur = conn.cursor();
    cur.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)",
        (),
    )
    .unwrap();
    assert!(cur.description().is_none());

    cur.execute(
        "INSERT INTO people (name, age) VALUES (?, ?)",
        params!["Ada", 36],
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 1);
    assert_eq!(cur.lastrowid(), Some(1));
    cur.executemany(
        "INSERT INTO people (name, age) VALUES (:name, :age)",
        [("Grace", 45), ("Linus", 21), ("Barbara", 60)]
            .map(|(n, a)| named_params! { "name" => n, "age" => a }),
    )
    .unwrap();
    assert_eq!(cur.rowcount(), 3);
    assert_eq!(cur.lastrowid(), Some(4));

    cur.execute("UPDATE people SET age = age + 1 WHERE age > ?", params![40])
        .unwrap();
    assert_eq!(cur.rowcount(), 2);

    cur.execute("SELECT id, name, age FROM people ORDER BY id", ())
        .unwrap();
    let names: Vec<&str> = cur
        .description()
        .unwrap()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(names, ["id", "name", "age"]);
    assert_eq!(cur.rowcount(), -1);
    let first = cur.fetchone().unwrap().unwrap();
    assert_eq!(first.get::<String>("name").unwrap(), "Ada");
    cur.arraysize = 2;
    assert_eq!(cur.fetchmany(None).unwrap().len(), 2);
    let rest = cur.fetchall().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].get::<i64>("age").unwrap(), 61);
    assert!(cur.fetchone().unwrap().is_none());

    // Iterating a cursor yields its rows.
    let ages: Vec<i64> = conn
        .execute("SELECT age FROM people ORDER BY age", ())
        .unwrap()
        .map(|row| row.unwrap().get(0).unwrap())
        .collect();
    assert_eq!(ages, [21, 36, 46, 61]);

    // INSERT … RETURNING through a cursor: rows, then rowcount once they are read.
    cur.execute("INSERT INTO people (name) VALUES ('Ken') RETURNING id", ())
        .unwrap();
    assert_eq!(cur.fetchall().unwrap()[0].get::<i64>(0).unwrap(), 5);
    assert_eq!(cur.rowcount(), 1);
    assert_eq!(cur.lastrowid(), Some(5));

    let row = conn.query_one("SELECT count(*) FROM people", ()).unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 5);

    // Errors surface at execute.
    let err = cur.execute("SELECT * FROM nobody", ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming);

    cur.close();
    assert!(cur.execute("SELECT 1", ()).is_err());
    conn.close();
    let err = conn.cursor().execute("SELECT 1", ()).unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[test]
fn a_url_without_a_database_is_an_interface_error() {
    let server = Server::start();
    let err = blocking::connect(&server.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
}

#[tokio::test]
async fn the_blocking_client_works_from_spawn_blocking_in_async_code() {
    let server = Server::start();
    let url = server.db_url("inside");
    let conn = tokio::task::spawn_blocking(move || {
        let conn = blocking::connect(&url).unwrap();
        conn.execute("CREATE TABLE t (x)", ()).unwrap();
        conn
    })
    .await
    .unwrap();
    // Its async handle works in async code.
    conn.database()
        .execute("INSERT INTO t VALUES (1)", ())
        .await
        .unwrap();
    let count = tokio::task::spawn_blocking(move || {
        conn.query_one("SELECT count(*) FROM t", ())
            .unwrap()
            .get::<i64>(0)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(count, 1);
}
