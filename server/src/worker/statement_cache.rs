//! What a connection's statement cache may keep of the client's statements: memory that
//! outlives the request, so no request's budget (`crate::memory`) covers it.
//!
//! rusqlite's cache is bounded by a count (`--statement-cache`), and a prepared statement's
//! size is the client's to choose: a SELECT with thousands of terms, or a large CTE, holds
//! megabytes. A client sending many distinct ones filled every connection's cache with them
//! (1,068 MiB of RSS with the default flags and 8 clients). So the cache is bounded in
//! bytes too (`--statement-cache-memory`), by SQLite's own figure for each statement
//! (`SQLITE_STMTSTATUS_MEMUSED`) plus its SQL text (the cache's key, on the Rust side):
//!
//! - a statement larger than an eighth of the bound is never kept: it is prepared each time
//!   it is sent, and finalized when it ends ([`Verdict::TooLarge`]);
//! - when the statements kept since the cache was last emptied pass the bound, the cache is
//!   emptied ([`Verdict::Full`]), and the freed memory handed back to the system.
//!
//! The ledger counts what was put back into the cache, by key; it cannot see rusqlite's
//! count-bounded LRU evict an entry, so it may count a statement that is gone. That only
//! empties the cache sooner, never later; and once the ledger names more statements than
//! the cache can hold, it empties the cache too, so the ledger stays as small as the cache.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasher;

/// A cached statement's size is at most this share of the bound.
const LARGEST_SHARE: usize = 8;

/// The byte bound of one connection's statement cache, and its ledger.
#[derive(Debug)]
pub struct CacheBound {
    /// The most bytes the kept statements may hold together (0: no byte bound).
    limit: usize,
    /// How many statements rusqlite's cache holds at most (`--statement-cache`).
    capacity: usize,
    /// The bytes of each statement put back into the cache since it was last emptied, by a
    /// hash of its key.
    kept: RefCell<HashMap<u64, usize>>,
    /// Their sum.
    total: Cell<usize>,
    hasher: std::collections::hash_map::RandomState,
}

/// What to do with a client's statement as it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Put it back into the cache.
    Keep,
    /// Finalize it: it is too large to keep.
    TooLarge,
    /// Put it back, then empty the cache: the kept statements passed the bound.
    Full,
}

impl CacheBound {
    /// The bound of a cache of `capacity` statements holding at most `limit` bytes.
    pub fn new(limit: usize, capacity: usize) -> Self {
        Self {
            limit,
            capacity,
            kept: RefCell::default(),
            total: Cell::new(0),
            hasher: Default::default(),
        }
    }

    /// The largest statement kept, in bytes (`usize::MAX`: no byte bound).
    pub fn largest(&self) -> usize {
        if self.limit == 0 {
            usize::MAX
        } else {
            self.limit / LARGEST_SHARE
        }
    }

    /// Judges the statement with cache key `key` and SQLite's size `memused`, as it ends.
    pub fn returning(&self, key: &str, memused: usize) -> Verdict {
        if self.limit == 0 {
            return Verdict::Keep;
        }
        let bytes = memused.saturating_add(key.len());
        if bytes > self.largest() {
            return Verdict::TooLarge;
        }
        let mut kept = self.kept.borrow_mut();
        let before = kept.insert(self.hasher.hash_one(key), bytes).unwrap_or(0);
        let total = self.total.get() - before + bytes;
        self.total.set(total);
        if total > self.limit || kept.len() > self.capacity {
            Verdict::Full
        } else {
            Verdict::Keep
        }
    }

    /// The cache was emptied: nothing is kept.
    pub fn emptied(&self) {
        self.kept.borrow_mut().clear();
        self.total.set(0);
    }

    /// The bytes the kept statements hold, as the ledger counts them.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total.get()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn large_statements_are_not_kept_and_the_kept_ones_stay_under_the_bound() {
        let bound = CacheBound::new(8 << 20, 256);
        assert_eq!(bound.returning("SELECT 1", 4_000), Verdict::Keep);
        assert_eq!(bound.returning("SELECT 1", 4_000), Verdict::Keep, "again");
        assert_eq!(bound.total(), 4_000 + 8, "counted once");
        assert_eq!(bound.returning("huge", 2 << 20), Verdict::TooLarge);
        assert_eq!(bound.total(), 4_008, "a statement not kept is not counted");
        let mut verdicts = Vec::new();
        for i in 0..16 {
            verdicts.push(bound.returning(&format!("big {i}"), 900 << 10));
        }
        let full = verdicts.iter().position(|v| *v == Verdict::Full).unwrap();
        assert_eq!(
            full, 9,
            "the tenth 900 KiB statement passes 8 MiB: {verdicts:?}"
        );
        bound.emptied();
        assert_eq!(bound.total(), 0);
        assert_eq!(bound.returning("SELECT 1", 4_000), Verdict::Keep);
    }

    #[test]
    fn more_statements_than_the_cache_holds_empty_it() {
        let bound = CacheBound::new(8 << 20, 4);
        for i in 0..4 {
            assert_eq!(bound.returning(&format!("s{i}"), 100), Verdict::Keep);
        }
        assert_eq!(bound.returning("s4", 100), Verdict::Full);
        let unbounded = CacheBound::new(0, 4);
        assert_eq!(unbounded.returning("s", usize::MAX / 2), Verdict::Keep);
        assert_eq!(unbounded.largest(), usize::MAX);
    }

    /// What SQLite says the connection's prepared statements hold
    /// (`SQLITE_DBSTATUS_STMT_USED`), cached ones included.
    fn statements_memory(db: &crate::worker::connection::Sqlite) -> usize {
        let (mut current, mut highest) = (0, 0);
        // SAFETY: the handle is the open connection's; the call only reads a counter.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                db.conn().handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_STMT_USED,
                &mut current,
                &mut highest,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        usize::try_from(current).unwrap()
    }

    /// A distinct statement of about `terms` terms (an IN list of as many integers).
    fn big_statement(id: usize, terms: usize) -> String {
        let list: Vec<String> = (0..terms).map(|i| (i * 7 + id).to_string()).collect();
        format!("SELECT {id} WHERE {id} IN ({})", list.join(","))
    }

    /// Runs `sql` as a client's query on `db`, and reads its rows.
    fn run(db: &crate::worker::connection::Sqlite, sql: &str) {
        let token = crate::worker::cancel::CancelToken::none();
        db.run_task(&token, || {
            let mut stmt = db.prepare(sql)?;
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn distinct_big_statements_do_not_stay_in_a_connections_memory() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::worker::connection::test_settings(dir.path());
        let limit = settings.statement_cache_bytes;
        use crate::worker::{Role, connection::Sqlite};
        let _writer = Sqlite::open(&settings, Role::Writer).unwrap();
        let db = Sqlite::open(&settings, Role::Reader).unwrap();
        run(&db, "SELECT 1");
        let idle = statements_memory(&db);
        // Statements too large to keep (over an eighth of the bound), then ones just under
        // it, far more of each than the bound holds; the cache's count (64) would keep
        // every one of them.
        for (terms, count) in [(40_000, 40), (2_000, 60)] {
            let mut most = 0;
            for id in 0..count {
                run(&db, &big_statement(id, terms));
                most = most.max(statements_memory(&db).saturating_sub(idle));
            }
            assert!(
                most <= limit,
                "{count} statements of {terms} terms left up to {most} bytes between \
                 requests (bound {limit})"
            );
        }
        // Small statements are kept: the second run of one prepares nothing.
        run(&db, "SELECT 2");
        let kept = statements_memory(&db);
        run(&db, "SELECT 2");
        assert_eq!(statements_memory(&db), kept);
    }
}
