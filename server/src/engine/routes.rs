//! Which SQL texts read and which write. SQLite knows (`sqlite3_stmt_readonly`); the
//! database remembers its answer per SQL text so the next request goes straight to the
//! right connection.

use std::collections::HashMap;
use std::sync::Mutex;

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Read-only: any reader.
    Read,
    /// Writes: the writer.
    Write,
}

/// A bounded memory of routes by SQL text.
pub struct Routes {
    capacity: usize,
    /// A std mutex: held for one hash lookup, never across an await.
    known: Mutex<HashMap<String, Route>>,
}

impl Routes {
    /// Remembers up to `capacity` SQL texts; past that it starts over.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The route learned for `sql`, if any.
    pub fn get(&self, sql: &str) -> Option<Route> {
        self.known
            .lock()
            .expect("routes poisoned")
            .get(sql)
            .copied()
    }

    /// Remembers that `sql` takes `route`.
    pub fn learn(&self, sql: &str, route: Route) {
        let mut known = self.known.lock().expect("routes poisoned");
        if known.len() >= self.capacity && !known.contains_key(sql) {
            known.clear();
        }
        known.insert(sql.to_string(), route);
    }
}
