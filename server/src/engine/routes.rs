//! Which SQL texts read and which write. SQLite knows (`sqlite3_stmt_readonly`); the
//! database remembers its answer per SQL text so the next request goes straight to the
//! right connection.
//!
//! The memory outlives its requests, and the texts are the clients' to choose, so it is
//! bounded in bytes as well as in number: a text longer than [`LONGEST`] is never
//! remembered (its request takes the longer way: a read is tried on a reader first, an
//! Execute on the writer), and past [`MOST_BYTES`] of texts it starts over. Without that, many
//! distinct 250 KB statements held 4,096 × 250 KB per database.

use std::collections::HashMap;
use std::sync::Mutex;

/// The longest SQL text remembered, in bytes.
pub const LONGEST: usize = 16 << 10;
/// The most bytes of SQL text remembered per database.
pub const MOST_BYTES: usize = 2 << 20;

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
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    routes: HashMap<String, Route>,
    /// The bytes of the texts in `routes`.
    bytes: usize,
}

impl Routes {
    /// Remembers up to `capacity` SQL texts (and [`MOST_BYTES`] of them); past that it starts
    /// over.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            known: Mutex::new(Known::default()),
        }
    }

    /// The route learned for `sql`, if any.
    pub fn get(&self, sql: &str) -> Option<Route> {
        self.known
            .lock()
            .expect("routes poisoned")
            .routes
            .get(sql)
            .copied()
    }

    /// Remembers that `sql` takes `route` (unless the text is too long to keep).
    pub fn learn(&self, sql: &str, route: Route) {
        if sql.len() > LONGEST {
            return;
        }
        let mut known = self.known.lock().expect("routes poisoned");
        if let Some(kept) = known.routes.get_mut(sql) {
            *kept = route;
            return;
        }
        if known.routes.len() >= self.capacity || known.bytes + sql.len() > MOST_BYTES {
            known.routes.clear();
            known.routes.shrink_to(self.capacity.min(1024));
            known.bytes = 0;
        }
        known.bytes += sql.len();
        known.routes.insert(sql.to_string(), route);
    }

    /// The bytes of SQL text remembered.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.known.lock().expect("routes poisoned").bytes
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn routes_are_bounded_in_number_and_in_bytes() {
        let routes = Routes::new(4);
        for i in 0..10 {
            routes.learn(&format!("SELECT {i}"), Route::Read);
            assert!(routes.known.lock().unwrap().routes.len() <= 4);
        }
        assert_eq!(routes.get("SELECT 9"), Some(Route::Read));
        routes.learn("SELECT 9", Route::Write);
        assert_eq!(routes.get("SELECT 9"), Some(Route::Write), "learned again");

        let long = "x".repeat(LONGEST + 1);
        routes.learn(&long, Route::Read);
        assert_eq!(routes.get(&long), None, "too long to keep");

        let routes = Routes::new(4096);
        for i in 0..1000 {
            let sql = format!("{i:08} {}", "y".repeat(LONGEST - 9));
            routes.learn(&sql, Route::Read);
            assert!(routes.bytes() <= MOST_BYTES, "{} after {i}", routes.bytes());
            assert_eq!(routes.get(&sql), Some(Route::Read));
        }
    }
}
