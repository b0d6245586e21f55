//! The WAL frames a replicated database's writer appends, for the replication's lag in
//! frames: SQLite's WAL hook on the writer's connection counts them at each COMMIT, before
//! the write is answered, and hands them to the function its thread set (the database's
//! counter in this process, or the wire to the server from a worker process).
//!
//! Only a replicated writer sets the hook: it replaces SQLite's own auto-checkpoint hook,
//! which a replicated writer has turned off anyway (`wal_autocheckpoint=0`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::Connection;

/// Frames appended to a database's WAL since the server started.
#[derive(Debug, Default)]
pub struct WalFrames(AtomicU64);

impl WalFrames {
    /// The counter of the database file `path`, one per process and database (kept for the
    /// server's life, as the restart budgets are).
    pub fn of(path: &Path) -> Arc<Self> {
        static COUNTERS: OnceLock<Mutex<HashMap<PathBuf, Arc<WalFrames>>>> = OnceLock::new();
        let mut counters = COUNTERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Arc::clone(counters.entry(path.to_path_buf()).or_default())
    }

    pub fn add(&self, frames: u64) {
        self.0.fetch_add(frames, Ordering::Release);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// This thread's connection: the WAL's frames at its last COMMIT, and where new ones go.
struct Counting {
    last: i32,
    sink: Box<dyn Fn(u64)>,
}

thread_local! {
    static COUNTING: RefCell<Option<Counting>> = const { RefCell::new(None) };
}

/// Counts the frames each COMMIT of `conn` (this thread's writer) appends into `sink`.
pub fn count(conn: &Connection, sink: impl Fn(u64) + 'static) {
    COUNTING.with(|counting| {
        *counting.borrow_mut() = Some(Counting {
            last: 0,
            sink: Box::new(sink),
        });
    });
    conn.wal_hook(Some(committed));
}

/// SQLite's WAL hook: `frames` are in the WAL after this COMMIT. Fewer than at the last one
/// means the WAL started again from its beginning (after a complete checkpoint).
fn committed(_wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    COUNTING.with(|counting| {
        if let Some(counting) = counting.borrow_mut().as_mut() {
            let appended = if frames >= counting.last {
                frames - counting.last
            } else {
                frames
            };
            counting.last = frames;
            if appended > 0 {
                (counting.sink)(appended as u64);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_commit_adds_the_frames_it_appended() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("f.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0")
            .unwrap();
        let counter = WalFrames::of(&dir.path().join("f.db"));
        let sink = Arc::clone(&counter);
        count(&conn, move |n| sink.add(n));
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let after_create = counter.get();
        assert!(after_create > 0);
        for i in 0..5 {
            conn.execute("INSERT INTO t VALUES (?)", [i]).unwrap();
        }
        assert!(counter.get() >= after_create + 5, "{}", counter.get());
        // After a complete checkpoint the WAL starts again; frames still only add up.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let before = counter.get();
        conn.execute("INSERT INTO t VALUES (9)", []).unwrap();
        assert!(counter.get() > before);
    }
}
