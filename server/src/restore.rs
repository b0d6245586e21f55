//! `sqlited restore`: puts a backup (a complete SQLite file, as `Admin.Backup` streams it)
//! into the data directory, after checking it is a sound SQLite database — or, with
//! `--replica-url`, the database's latest or point-in-time state from its Litestream replica
//! ([`from_replica`]).
//!
//! The check is the server's own ([`crate::worker::integrity`]), run by a thread worker:
//! no server runs on the directory meanwhile (the restore holds its lock), so a file that
//! crashes SQLite takes down only this command, which has installed nothing by then (the
//! copy moves into place only once it passed).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::name;
use crate::replication::restore::Copy;
pub use crate::replication::restore::PointInTime;

/// The page cache the check reads the copy through: the server's default `--cache-mib`.
const CHECK_CACHE_KIB: u32 = 32 * 1024;

/// Restores the database `database` of `data_dir` from `input`; returns its size in bytes.
///
/// Refuses input that is not a SQLite file or fails `PRAGMA integrity_check`, an existing
/// database unless `force`, and a data directory a running server holds (its lock).
///
/// # Errors
/// A message saying what was refused and why; nothing in the data directory changed then.
pub async fn restore(
    data_dir: &Path,
    database: &str,
    force: bool,
    mut input: impl Read + Send + 'static,
) -> Result<u64, String> {
    let (_lock, target) = prepare(data_dir, database, force)?;
    let copy = Copy::new(data_dir, database);
    let temp = copy.path().to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::create(&temp)
            .map_err(|err| format!("cannot write {}: {err}", temp.display()))?;
        let bytes = std::io::copy(&mut input, &mut file)
            .map_err(|err| format!("reading the backup failed: {err}"))?;
        file.sync_all()
            .map_err(|err| format!("cannot sync {}: {err}", temp.display()))?;
        Ok::<_, String>(bytes)
    })
    .await
    .map_err(|err| format!("reading the backup failed: {err}"))??;
    check(copy.path().to_path_buf()).await?;
    copy.install(&target)?;
    Ok(bytes)
}

/// Restores the database `database` of `data_dir` from its replica under `base_url` (as
/// `--replica-url` names it) with the Litestream `binary`, at its latest state or at `at`.
///
/// Refuses an existing database unless `force`, a data directory a running server holds,
/// a replica with no copy of the database, and a restored file that fails
/// `PRAGMA integrity_check`.
///
/// # Errors
/// A message saying what was refused and why; nothing in the data directory changed then.
pub async fn from_replica(
    data_dir: &Path,
    database: &str,
    force: bool,
    binary: &Path,
    base_url: &str,
    at: &PointInTime,
) -> Result<u64, String> {
    use crate::replication::restore::{Restored, restore};
    crate::replication::preflight::check(base_url).map_err(|err| err.to_string())?;
    let (_lock, _) = prepare(data_dir, database, force)?;
    let url = crate::replication::settings::database_url(base_url, database);
    match restore(binary, &url, data_dir, database, at, check).await? {
        Restored::Bytes { bytes, .. } => Ok(bytes),
        Restored::NotInReplica => Err(format!(
            "the replica {url} holds no copy of database {database:?} (check --replica-url)"
        )),
    }
}

/// The integrity check of the copy `path`, by a thread worker (see the module's doc).
async fn check(path: PathBuf) -> Result<(), String> {
    crate::worker::integrity::check_file(&path, crate::worker::WorkerKind::Threads, CHECK_CACHE_KIB)
        .await
}

/// Checks the name, makes the data directory, takes its lock (no server, no other restore)
/// and refuses an existing database unless `force`; returns the lock and the target file.
fn prepare(
    data_dir: &Path,
    database: &str,
    force: bool,
) -> Result<(crate::lock::DataDirLock, std::path::PathBuf), String> {
    name::validate(database).map_err(|err| err.to_string())?;
    std::fs::create_dir_all(data_dir).map_err(|err| {
        format!(
            "cannot create the data directory {}: {err}",
            data_dir.display()
        )
    })?;
    let lock =
        crate::lock::DataDirLock::acquire(data_dir, &format!("restore {database:?} into it"))?;
    let target = name::path(data_dir, database);
    if target.exists() && !force {
        return Err(format!(
            "database {database:?} already exists ({}); stop the server and pass --force to replace it",
            target.display()
        ));
    }
    Ok((lock, target))
}
