//! Generations: each life of a database replicates to a path of its own.
//!
//! Database `NAME` replicates under `URL/NAME/GEN`, where `GEN` counts from `00000001`. A
//! database starts a new generation, the first one its replica does not hold yet, whenever
//! its file begins a new life: created, restored from the replica or from a backup, or
//! replicated for the first time. It never writes into the path it was restored from:
//! Litestream 0.5 replicating a restored file into that path skips data (litestream#781).
//!
//! The data directory records the generation each database replicates to, in
//! `.NAME.db-replica` beside its file, with the `--replica-url` it belongs to; a server
//! started again on the directory goes on in the same generation. A restore picks the
//! newest generation, or for `--timestamp` the newest one that had begun by then.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::settings::database_url;

/// One generation the replica holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    /// Its URL (`URL/NAME/GEN`).
    pub url: String,
    /// The times of its oldest and newest files, as Litestream dates them (RFC 3339, UTC).
    pub first: String,
    pub last: String,
    /// Its newest transaction.
    pub max_txid: u64,
}

/// The URL of generation `number` of the database whose replica URL is `database_url`.
pub fn url(database_url_: &str, number: u64) -> String {
    database_url(database_url_, &format!("{number:08}"))
}

/// Every generation the replica of `database_url` holds, oldest first, with the Litestream
/// `binary`, each listed within `timeout`. Generations are numbered without gaps: the
/// listing stops at the first one the replica does not hold. `abort` disconnecting (its
/// sender dropped: the database closed) stops it at once.
///
/// # Errors
/// Litestream could not list the replica (unreachable, refused); never an empty answer
/// then, so a store that is down is not taken for one that holds nothing.
pub fn list(
    binary: &Path,
    database_url_: &str,
    timeout: Duration,
    abort: &crossbeam_channel::Receiver<()>,
) -> Result<Vec<Generation>, String> {
    let mut generations = Vec::new();
    for number in 1.. {
        let url = url(database_url_, number);
        let files = files(binary, &url, timeout, abort)?;
        if files.is_empty() {
            break;
        }
        let first = files
            .iter()
            .map(|f| f.timestamp.clone())
            .min()
            .unwrap_or_default();
        let last = files
            .iter()
            .map(|f| f.timestamp.clone())
            .max()
            .unwrap_or_default();
        let max_txid = files
            .iter()
            .filter_map(|f| u64::from_str_radix(&f.max_txid, 16).ok())
            .max()
            .unwrap_or(0);
        generations.push(Generation {
            number,
            url,
            first,
            last,
            max_txid,
        });
    }
    Ok(generations)
}

/// The generation a database that begins a new life replicates to: the first one the
/// replica does not hold.
pub fn next(generations: &[Generation]) -> u64 {
    generations.last().map_or(1, |g| g.number + 1)
}

#[derive(serde::Deserialize)]
struct LtxFile {
    max_txid: String,
    timestamp: String,
}

/// The LTX files of every level under `url` (`litestream ltx -json -level all`).
fn files(
    binary: &Path,
    url: &str,
    timeout: Duration,
    abort: &crossbeam_channel::Receiver<()>,
) -> Result<Vec<LtxFile>, String> {
    let child = Command::new(binary)
        .args(["ltx", "-json", "-level", "all", url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| super::restore::cannot_run(binary, &err))?;
    let pid = child.id();
    // Its output is read while it runs (a long listing fills a pipe that nobody reads, and
    // Litestream would wait forever), by a thread that also reaps it.
    let (done, finished) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let refused = crossbeam_channel::select! {
        recv(finished) -> output => match output {
            Ok(output) => Ok(output),
            // Its thread ended without a word: the child is reaped, nothing to kill.
            Err(_) => return Err("Litestream's listing ended without an answer".into()),
        },
        recv(abort) -> _ => Err("the database closed".to_string()),
        default(timeout) => Err(format!(
            "Litestream did not list the replica {url} within {} ms",
            timeout.as_millis()
        )),
    };
    let output = match refused {
        Ok(output) => {
            output.map_err(|err| format!("reading Litestream's listing failed: {err}"))?
        }
        Err(why) => {
            // SAFETY: kill(2) of the child started above. The thread that reaps it is still
            // waiting for it (but for a listing that ends in this very instant, whose pid
            // cannot have been reused yet).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            return Err(why);
        }
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim().to_string();
        return Err(format!(
            "Litestream cannot list the replica {url} ({}): {said}",
            output.status
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("Litestream's listing of {url} is not understood: {err}"))
}

/// The file that records the generation of the database file `path`.
pub fn record_path(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}-replica"))
}

/// The generation the database file `path` replicates to under `base_url`, if the data
/// directory records one for that URL.
pub fn recorded(path: &Path, base_url: &str) -> Option<u64> {
    let text = std::fs::read_to_string(record_path(path)).ok()?;
    let mut lines = text.lines();
    let number = lines.next()?.trim().parse().ok()?;
    (lines.next()? == base_url).then_some(number)
}

/// Records that the database file `path` replicates to generation `number` under
/// `base_url` (written whole, by rename).
///
/// # Errors
/// The record could not be written.
pub fn record(path: &Path, base_url: &str, number: u64) -> Result<(), String> {
    let target = record_path(path);
    let temp = target.with_extension("tmp");
    std::fs::write(&temp, format!("{number}\n{base_url}\n"))
        .and_then(|()| std::fs::rename(&temp, &target))
        .map_err(|err| {
            format!(
                "cannot record the generation in {}: {err}",
                target.display()
            )
        })
}

/// Forgets the generation of the database file `path`: its next life starts a new one.
pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(record_path(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_numbered_paths_under_the_database() {
        assert_eq!(
            url("s3://b/p/orders?endpoint=http://h:1", 3),
            "s3://b/p/orders/00000003?endpoint=http://h:1"
        );
        assert_eq!(next(&[]), 1);
        let one = Generation {
            number: 1,
            url: String::new(),
            first: String::new(),
            last: String::new(),
            max_txid: 0,
        };
        assert_eq!(next(&[one]), 2);
    }

    #[test]
    fn the_record_belongs_to_one_replica_url() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orders.db");
        assert_eq!(recorded(&db, "file:///a"), None);
        record(&db, "file:///a", 4).unwrap();
        assert_eq!(recorded(&db, "file:///a"), Some(4));
        assert_eq!(recorded(&db, "file:///b"), None);
        assert!(record_path(&db).ends_with(".orders.db-replica"));
        forget(&db);
        assert_eq!(recorded(&db, "file:///a"), None);
    }
}
