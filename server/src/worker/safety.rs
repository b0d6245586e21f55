//! What every connection turns off or bounds before it runs a client's SQL, and why.
//!
//! SQLite trusts its application: bound parameters, the schema and the SQL text are all
//! taken as the application's own. Here they come from the network, so every setting that
//! trusts them is reviewed below. The authorizer ([`super::sandbox`]) denies what no setting
//! covers, such as `fts3_tokenizer()` through bound parameters.

use std::ffi::c_int;

use rusqlite::Connection;
use rusqlite::ffi;

use super::connection::ConnectionSettings;
use crate::error::{Error, Result};

/// `SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION`, which rusqlite's `DbConfig` does not name.
const DBCONFIG_ENABLE_LOAD_EXTENSION: c_int = 1005;

/// Each `sqlite3_db_config` setting a connection gets: (op, name, on, why).
const SETTINGS: &[(c_int, &str, bool, &str)] = &[
    (
        ffi::SQLITE_DBCONFIG_DEFENSIVE,
        "DEFENSIVE",
        true,
        // A write token must never be able to corrupt the file: defensive mode refuses
        // writes to the shadow tables of FTS and R-Tree indexes, PRAGMA writable_schema,
        // journal_mode=OFF and the other ways of damaging a database with ordinary SQL.
        "ordinary SQL must not be able to corrupt the database",
    ),
    (
        ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        "TRUSTED_SCHEMA",
        false,
        // The schema is written by clients too (admin tokens; anyone who can place a file
        // in the data directory). Untrusted, SQLite runs only innocuous functions and
        // virtual tables from triggers, views, CHECK, DEFAULT, generated columns and
        // expression indexes, so a schema cannot make a reader call something dangerous.
        "a schema written by a client must not run unsafe functions for other clients",
    ),
    (
        ffi::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
        "ENABLE_FTS3_TOKENIZER",
        false,
        // The two-argument fts3_tokenizer() takes a raw C pointer. Off, SQLite refuses it
        // with literal arguments; bound parameters still pass, which the authorizer denies.
        "fts3_tokenizer() takes raw pointers",
    ),
    (
        DBCONFIG_ENABLE_LOAD_EXTENSION,
        "ENABLE_LOAD_EXTENSION",
        false,
        // The bundled SQLite is built with extension loading; a loaded library runs as the
        // server. sqlited loads none, so both the C API and load_extension() stay off.
        "an extension is native code running as the server",
    ),
    (
        ffi::SQLITE_DBCONFIG_WRITABLE_SCHEMA,
        "WRITABLE_SCHEMA",
        false,
        // Writing sqlite_schema by hand corrupts a database in one statement.
        "hand edits of sqlite_schema corrupt the database",
    ),
    (
        ffi::SQLITE_DBCONFIG_LEGACY_ALTER_TABLE,
        "LEGACY_ALTER_TABLE",
        false,
        // The legacy ALTER TABLE RENAME leaves triggers and views naming the old table.
        "the legacy rename leaves the schema inconsistent",
    ),
    (
        ffi::SQLITE_DBCONFIG_RESET_DATABASE,
        "RESET_DATABASE",
        false,
        // Only a VACUUM run by the application can wipe the file with this on.
        "nothing may wipe the database behind the server's back",
    ),
    (
        ffi::SQLITE_DBCONFIG_ENABLE_ATTACH_CREATE,
        "ENABLE_ATTACH_CREATE",
        false,
        // The sandbox refuses ATTACH; with --unsafe-sql it may name only an existing
        // database of the data directory (sandbox::attach). Off in both modes, so that no
        // name, checked or not, makes a file.
        "ATTACH must not create files",
    ),
    (
        ffi::SQLITE_DBCONFIG_ENABLE_ATTACH_WRITE,
        "ENABLE_ATTACH_WRITE",
        false,
        // An attached database is read-only: it is written only by its own writer, under
        // its own group commit, replication and roles.
        "ATTACH must not write files",
    ),
];

// Left at SQLite's defaults on purpose: ENABLE_TRIGGER, ENABLE_VIEW and DQS_DML/DQS_DDL
// (applications rely on them and every answer must be exactly SQLite's), ENABLE_FKEY (turned
// on by PRAGMA foreign_keys), NO_CKPT_ON_CLOSE (the close-time checkpoint is wanted),
// ENABLE_COMMENTS (the statement cache keys each access level by a leading comment). VACUUM,
// which the server runs for Admin.Vacuum and backups, lifts defensive mode and the ATTACH
// settings for its own copy only (SQLite does so inside sqlite3RunVacuum).

/// Applies [`SETTINGS`], the limits and the temp store to a freshly opened connection.
pub fn harden(conn: &Connection, settings: &ConnectionSettings) -> Result<()> {
    for &(op, name, on, why) in SETTINGS {
        set(conn, op, on).map_err(|err| {
            Error::Internal(format!(
                "cannot set SQLITE_DBCONFIG_{name}={on} ({why}): {err}"
            ))
        })?;
    }
    // A value that could never be sent is never built: zeroblob(1e9), printf('%.*c', 9e8,
    // 'x'), replace() and || doubling stop with SQLITE_TOOBIG at the message size instead
    // of allocating gigabytes (and running seconds inside one function call).
    let length = i32::try_from(settings.max_value_bytes)
        .unwrap_or(i32::MAX)
        .max(1024);
    set_limit(conn, ffi::SQLITE_LIMIT_LENGTH, length);
    // SQLITE_LIMIT_ATTACHED stays at SQLite's 10: VACUUM attaches its copy through the same
    // slots, the sandbox refuses ATTACH, and with --unsafe-sql a request's attached
    // databases (read-only, at most 10) are detached when it ends.
    // Sorts, temporary B-trees and statement journals go to memory, where they count
    // against the request's budget (--request-memory-limit) and SQLite's heap limit
    // (--sqlite-memory-limit, --worker-memory-limit): one ORDER BY over a cross join can no
    // longer fill the disk with temporary files.
    conn.execute_batch("PRAGMA temp_store=MEMORY")?;
    Ok(())
}

fn set_limit(conn: &Connection, limit: c_int, value: c_int) {
    // SAFETY: the handle is valid while `conn` lives; sqlite3_limit only sets a number
    // (clamped by SQLite to its compiled maximum).
    unsafe { ffi::sqlite3_limit(conn.handle(), limit, value) };
}

fn set(conn: &Connection, op: c_int, on: bool) -> std::result::Result<(), String> {
    let mut now: c_int = -1;
    // SAFETY: the handle is valid while `conn` lives; every op above takes (int, int*).
    let rc = unsafe { ffi::sqlite3_db_config(conn.handle(), op, c_int::from(on), &mut now) };
    if rc != ffi::SQLITE_OK {
        return Err(format!("result code {rc}"));
    }
    if now != c_int::from(on) {
        return Err(format!("it reads back as {now}"));
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn open() -> (Connection, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let settings = ConnectionSettings {
            max_value_bytes: 1 << 20,
            ..super::super::connection::test_settings(dir.path())
        };
        harden(&conn, &settings).unwrap();
        (conn, dir)
    }

    #[test]
    fn values_past_the_limit_are_never_built() {
        let (conn, _dir) = open();
        let err = conn
            .query_row("SELECT zeroblob(999000000)", [], |_| Ok(()))
            .unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::TooBig));
        let small: i64 = conn
            .query_row("SELECT length(zeroblob(1000))", [], |r| r.get(0))
            .unwrap();
        assert_eq!(small, 1000);
    }

    #[test]
    fn attach_neither_creates_nor_writes_files_in_either_mode() {
        for sandbox in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let conn = Connection::open(dir.path().join("t.db")).unwrap();
            let settings = ConnectionSettings {
                sandbox,
                ..super::super::connection::test_settings(dir.path())
            };
            harden(&conn, &settings).unwrap();
            let new = dir.path().join("new.db");
            let created = conn.execute("ATTACH ?1 AS n", [new.to_string_lossy()]);
            assert!(created.is_err(), "sandbox {sandbox}: {created:?}");
            assert!(!new.exists(), "sandbox {sandbox}: a file was made");
            let old = dir.path().join("old.db");
            Connection::open(&old)
                .unwrap()
                .execute_batch("CREATE TABLE t (x)")
                .unwrap();
            conn.execute("ATTACH ?1 AS o", [old.to_string_lossy()])
                .unwrap();
            let written = conn.execute("INSERT INTO o.t VALUES (1)", []);
            assert!(written.is_err(), "sandbox {sandbox}: {written:?}");
        }
    }

    #[test]
    fn shadow_tables_are_read_only() {
        let (conn, _dir) = open();
        conn.execute_batch("CREATE VIRTUAL TABLE ft USING fts4(x); INSERT INTO ft VALUES ('a')")
            .unwrap();
        assert!(conn.execute("DELETE FROM ft_content", []).is_err());
        assert!(
            conn.execute("UPDATE ft_docsize SET size = x'ffffff'", [])
                .is_err()
        );
    }
}
