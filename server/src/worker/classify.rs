//! Whether SQL writes, for a request to a database that does not exist yet (a write sent
//! through Query creates the database like any write; a read of a missing database is
//! NOT_FOUND). SQLite judges it on an empty in-memory database, where only statements that
//! need no table (CREATE, say) prepare at all.
//!
//! This is the one SQLite connection outside a database's workers: it holds no file and
//! prepares without running, on a blocking thread.

/// Whether `sql` writes, as SQLite judges it on an empty database; `false` when it does not
/// prepare there.
pub async fn writes_on_empty_database(sql: &str) -> bool {
    let sql = sql.to_string();
    tokio::task::spawn_blocking(move || {
        rusqlite::Connection::open_in_memory()
            .and_then(|conn| conn.prepare(&sql).map(|stmt| !stmt.readonly()))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}
