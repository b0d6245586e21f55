//! What a request may leave on the connection it shares with the requests of other tokens,
//! and how the connection is put back when it ends.
//!
//! In the sandbox a request can change nothing that outlives it: ATTACH is refused, no
//! PRAGMA it may set is a setting of the connection, and TEMP objects live only inside an
//! interactive transaction, which drops them. With `--unsafe-sql` a request may attach the
//! data directory's other databases and set some of its connection's settings
//! ([`super::sandbox::pragmas::connection_settings`]); the authorizer notes each
//! ([`Leftovers`]) and the connection undoes them when the request ends — at once for
//! settings, and for attached databases as soon as no transaction holds them: after the
//! request on a reader, after the COMMIT of its group on the writer (which ends the group
//! there, so that no other request of the group sees them), after an interactive
//! transaction. Until then the connection runs no other request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use super::sandbox::pragmas;

/// What the running request changed on its connection that must not reach the next one.
/// Noted by the authorizer; read after every request, so an untouched connection costs two
/// atomic loads.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// It ran ATTACH or DETACH: every schema but `main` and `temp` is detached at its end.
    attached: AtomicBool,
    /// It set one of the connection settings.
    set: AtomicBool,
    /// The connection settings it set, restored at its end.
    settings: Mutex<Vec<&'static str>>,
}

impl Leftovers {
    /// The request attached (or detached) a database.
    pub fn note_attached(&self) {
        self.attached.store(true, Ordering::Relaxed);
    }

    /// The request set the connection setting `name`.
    pub fn note_setting(&self, name: &'static str) {
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        if !settings.contains(&name) {
            settings.push(name);
        }
        self.set.store(true, Ordering::Relaxed);
    }

    /// Whether a database may still be attached.
    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::Relaxed)
    }

    /// Every database was detached.
    pub fn detached(&self) {
        self.attached.store(false, Ordering::Relaxed);
    }

    /// The settings to restore, forgotten here.
    pub fn take_settings(&self) -> Vec<&'static str> {
        if !self.set.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut *self.settings.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The connection settings as the connection was opened, to restore them.
#[derive(Debug)]
pub struct Baseline(Vec<(&'static str, i64)>);

impl Baseline {
    /// Reads every connection setting a request may change.
    pub fn read(conn: &Connection) -> rusqlite::Result<Self> {
        let mut values = Vec::new();
        for name in pragmas::connection_settings() {
            let value = if name == "case_sensitive_like" {
                // It can be set but not read; SQLite's default, which the server keeps, is off.
                0
            } else {
                conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?
            };
            values.push((name, value));
        }
        Ok(Self(values))
    }

    /// Sets each of `names` back to its value at open.
    pub fn restore(&self, conn: &Connection, names: &[&'static str]) -> rusqlite::Result<()> {
        for (name, value) in self.0.iter().filter(|(name, _)| names.contains(name)) {
            conn.execute_batch(&format!("PRAGMA {name} = {value}"))?;
        }
        Ok(())
    }
}

/// Detaches every attached database (all schemas but `main` and `temp`).
pub fn detach_all(conn: &Connection) -> rusqlite::Result<()> {
    let attached: Vec<String> = conn
        .prepare("SELECT name FROM pragma_database_list WHERE name NOT IN ('main', 'temp')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in attached {
        conn.execute("DETACH DATABASE ?1", [name])?;
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn settings_and_attached_databases_are_undone() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("a.db")).unwrap();
        Connection::open(dir.path().join("b.db"))
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let baseline = Baseline::read(&conn).unwrap();
        conn.execute_batch("PRAGMA recursive_triggers = 1; PRAGMA cache_size = 77")
            .unwrap();
        conn.execute(
            "ATTACH ?1 AS b",
            [dir.path().join("b.db").to_string_lossy()],
        )
        .unwrap();
        baseline
            .restore(&conn, &["recursive_triggers", "cache_size"])
            .unwrap();
        detach_all(&conn).unwrap();
        let recursive: i64 = conn
            .query_row("PRAGMA recursive_triggers", [], |r| r.get(0))
            .unwrap();
        let cache: i64 = conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!((recursive, cache), (0, -2000));
        assert!(conn.prepare("SELECT * FROM b.t").is_err(), "b is detached");
    }
}
