//! The cap on SQLite's heap (`--sqlite-memory-limit`), the backstop behind each request's
//! budget: page caches and every request together.
//!
//! SQLite keeps one heap per process, so the cap is server-wide with thread workers (and
//! per worker process with `--workers processes`).

use rusqlite::ffi;

/// The smallest default cap: below it the page caches alone would not fit.
const MIN_DEFAULT: u64 = 256 << 20;

/// Caps SQLite's heap in this process at `bytes` (never raising a lower cap already set).
/// Page caches start giving memory back at three quarters of it (the soft limit), so the
/// hard cap is met by requests that truly need that much, not by caches.
pub fn limit_sqlite_heap(bytes: u64) {
    let wanted = i64::try_from(bytes).unwrap_or(i64::MAX);
    // SAFETY: these calls only read and set process-wide numbers inside SQLite; a negative
    // argument reads without changing.
    unsafe {
        let current = ffi::sqlite3_hard_heap_limit64(-1);
        let cap = if current > 0 {
            current.min(wanted)
        } else {
            wanted
        };
        ffi::sqlite3_hard_heap_limit64(cap);
        ffi::sqlite3_soft_heap_limit64(cap / 4 * 3);
    }
}

/// The default cap: a quarter of the memory this process may use (its cgroup's limit, or
/// the machine's memory), at least 256 MiB.
pub fn default_heap_limit() -> u64 {
    available_memory().map_or(1 << 30, |bytes| (bytes / 4).max(MIN_DEFAULT))
}

/// The memory this process may use: the lower of the machine's and its cgroup's limit.
fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|file| {
        std::fs::read_to_string(file)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    });
    match (total, cgroup) {
        (Some(total), Some(cgroup)) => Some(total.min(cgroup)),
        (total, cgroup) => total.or(cgroup),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_default_is_a_quarter_of_memory_and_at_least_the_minimum() {
        let limit = default_heap_limit();
        assert!(limit >= MIN_DEFAULT);
        if let Some(memory) = available_memory() {
            assert!(limit <= (memory / 4).max(MIN_DEFAULT));
        }
    }
}
