//! Whether a file is a sound SQLite database ([`super::job::Call::CheckIntegrity`]): the
//! check every restore makes of a copy (from the replica, or a backup read from standard
//! input) before the copy takes a database's place.
//!
//! The file may be damaged or hostile, so it is opened only by a worker of its own
//! ([`check_file`]): with `--workers processes` a child process, whose crash fails the
//! check and nothing else. The server process never opens it, not even to read its header.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::connection::{ConnectionSettings, Sqlite, Synchronous};
use super::job::{Call, Job};
use super::manager::{WorkerKind, WorkerManager};
use super::supervision::Pool;
use super::thread::ThreadOptions;
use super::{Task, Worker};
use crate::error::{Error, Result};

/// What the check found. (Its own wire message too: a worker process answers it as is.)
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Verdict {
    /// Why the file is not a sound database, in words for the operator; `None`: it is.
    #[prost(string, optional, tag = "1")]
    pub problem: Option<String>,
}

impl Verdict {
    fn refused(problem: impl Into<String>) -> Self {
        Self {
            problem: Some(problem.into()),
        }
    }
}

/// Runs the check on `db`, a reader opened on the file: its header, then `PRAGMA
/// integrity_check`.
pub fn run(db: &Sqlite) -> Result<Verdict> {
    // SQLite takes an empty file for an empty database (and a file its open refused never
    // gets here): the header says whether it is one at all.
    let mut header = [0u8; 16];
    let path = db.conn().path().unwrap_or_default();
    if std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_err()
    {
        return Ok(Verdict::refused(
            "the backup is not a SQLite database (it is shorter than a header)",
        ));
    }
    if &header != b"SQLite format 3\0" {
        return Ok(Verdict::refused(
            "the backup is not a SQLite database (its header is wrong)",
        ));
    }
    // One row, "ok", or up to a hundred rows of problems.
    let checked = db.trusted(|| {
        let mut stmt = db.conn().prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map(|rows| rows.join("\n"))
    });
    Ok(match checked {
        Ok(verdict) if verdict == "ok" => Verdict::default(),
        Ok(verdict) => Verdict::refused(format!(
            "the backup fails PRAGMA integrity_check: {}",
            first_lines(&verdict, 3)
        )),
        Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::OutOfMemory) => {
            Verdict::refused(
                "the backup could not be checked: SQLite ran out of memory reading it (raise \
                 --sqlite-memory-limit, or --worker-memory-limit with worker processes)",
            )
        }
        Err(err) => Verdict::refused(format!("the backup is damaged: {err}")),
    })
}

/// The first `n` lines of SQLite's verdict (it lists up to a hundred problems, one a line),
/// and how many more there are.
fn first_lines(verdict: &str, n: usize) -> String {
    let lines: Vec<&str> = verdict.lines().map(str::trim).collect();
    let mut said = lines.iter().take(n).copied().collect::<Vec<_>>().join("; ");
    if lines.len() > n {
        said.push_str(&format!("; and {} more", lines.len() - n));
    }
    said
}

/// Checks the file `path` with a reader worker of `kind` of its own, started for this check
/// and stopped after it (through the restart budget of that path, like any worker), with a
/// page cache of `cache_kib`.
///
/// # Errors
/// Why the file is not a sound SQLite database, or why it could not be checked — a worker
/// that could not open it, or that died checking it.
pub async fn check_file(path: &Path, kind: WorkerKind, cache_kib: u32) -> Result<(), String> {
    let settings = Arc::new(ConnectionSettings {
        path: path.to_path_buf(),
        synchronous: Synchronous::Full,
        // Nobody else has the file open.
        busy_timeout: Duration::from_secs(5),
        statement_cache: 1,
        statement_cache_bytes: 0,
        cache_kib,
        sandbox: true,
        max_value_bytes: 1 << 20,
        replicated: false,
        request_memory: crate::memory::MemoryBudgets::default(),
    });
    let options = ThreadOptions {
        queue_depth: 1,
        max_group: 1,
        max_group_bytes: 0,
    };
    let worker = WorkerManager::new(Pool::Readers, settings, options, kind)
        .start()
        .await
        .map_err(|err| match err {
            // Opening reads the header already: the job's own check of it comes too late.
            Error::Sqlite { code, .. } if code & 0xff == rusqlite::ffi::SQLITE_NOTADB => {
                "the backup is not a SQLite database (SQLite reads no database in it)".into()
            }
            err => format!("the backup cannot be opened: {err}"),
        })?;
    let (reply, answer) = oneshot::channel();
    let job = Job::Call {
        call: Call::CheckIntegrity,
        reply: reply.into(),
    };
    let cancel = super::cancel::CancelToken::none();
    let checked = match worker.submit(Task::new(job, cancel)) {
        Ok(()) => match answer.await {
            Ok(answered) => answered.and_then(super::Answer::expect::<Verdict>),
            Err(_) => Err(Error::Unavailable(
                "the worker stopped without an answer".into(),
            )),
        },
        Err(_) => Err(Error::Unavailable(
            "the worker stopped before it took the check".into(),
        )),
    };
    close(worker).await;
    match checked {
        Ok(Verdict { problem: None }) => Ok(()),
        Ok(Verdict {
            problem: Some(problem),
        }) => Err(problem),
        Err(err) => Err(format!(
            "checking the backup failed, so it is taken for damaged: {err}"
        )),
    }
}

/// Stops `worker` and waits until its connection is closed (so no file of the checked copy
/// is held when it is moved into place): dropping a worker joins its thread or waits for
/// its process, off the async threads.
async fn close(worker: Arc<dyn Worker>) {
    let _ = tokio::task::spawn_blocking(move || drop(worker)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(bytes: &[u8]) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".restore-x-1.db");
        std::fs::write(&path, bytes).unwrap();
        check_file(&path, WorkerKind::Threads, 1024).await
    }

    #[tokio::test]
    async fn a_sound_database_passes_and_what_is_not_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sound = dir.path().join("sound.db");
        let conn = rusqlite::Connection::open(&sound).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 \
             FROM n WHERE i < 500) INSERT INTO t SELECT randomblob(300) FROM n;",
        )
        .unwrap();
        drop(conn);
        let bytes = std::fs::read(&sound).unwrap();
        assert_eq!(check(&bytes).await, Ok(()));

        // SQLite's open refuses most of these itself; an empty file it takes for an empty
        // database, which the header check refuses.
        let empty = check(b"").await.unwrap_err();
        assert!(empty.contains("shorter than a header"), "{empty}");
        for garbage in [&b"SQLite"[..], b"not a database at all", &[0u8; 4096]] {
            let refused = check(garbage).await.unwrap_err();
            assert!(refused.contains("not a SQLite database"), "{refused}");
        }
        // A sound header on a damaged body: a page overwritten past the first.
        let mut damaged = bytes.clone();
        let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        damaged[page + 8..page * 2].fill(0xAB);
        let refused = check(&damaged).await.unwrap_err();
        assert!(
            refused.starts_with("the backup fails PRAGMA integrity_check")
                || refused.starts_with("the backup is damaged"),
            "{refused}"
        );
        assert!(refused.lines().count() == 1, "{refused}");
    }
}
