//! Whether a file is a sound SQLite database: the check every restore makes (a backup read
//! from standard input, a copy restored from the replica) before it replaces anything. A
//! leaf: it opens the file read-only on a stopped data directory, outside any worker.

use std::io::Read;
use std::path::Path;

/// Checks that `path` is a SQLite database that passes `PRAGMA integrity_check`.
pub fn check(path: &Path) -> Result<(), String> {
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|_| {
            "the backup is not a SQLite database (it is shorter than a header)".to_string()
        })?;
    if &header != b"SQLite format 3\0" {
        return Err("the backup is not a SQLite database (its header is wrong)".into());
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|err| format!("the backup cannot be opened: {err}"))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|err| format!("the backup is damaged: {err}"))?;
    if verdict != "ok" {
        return Err(format!(
            "the backup fails PRAGMA integrity_check: {verdict}"
        ));
    }
    Ok(())
}
