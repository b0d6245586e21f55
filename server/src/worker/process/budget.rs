//! The restart budget of one kind of worker (a database's writer, or its readers): a worker
//! process that dies soon after it started, or fails to start, makes the next start wait,
//! twice as long each time in a row, so a worker that cannot live does not spin — not even
//! across attempts to open its database, which share the budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A worker that lived less than this died "young": its death counts against the budget.
const YOUNG: Duration = Duration::from_secs(10);
/// The wait after the second young death in a row; it doubles with each further one.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between two starts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Every budget of the process, by database file and whether it is the writer's.
type Budgets = Mutex<HashMap<(PathBuf, bool), Arc<RestartBudget>>>;

/// Young deaths in a row, and when the next start may happen.
#[derive(Debug, Default)]
pub struct RestartBudget {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    young_deaths: u32,
    not_before: Option<Instant>,
}

impl RestartBudget {
    /// The budget of the `role` workers of the database file `path`, one per process and
    /// database (a few bytes each, kept for the server's life).
    pub fn of(path: &Path, role: crate::worker::Role) -> Arc<Self> {
        static BUDGETS: OnceLock<Budgets> = OnceLock::new();
        let key = (path.to_path_buf(), role == crate::worker::Role::Writer);
        let mut budgets = BUDGETS
            .get_or_init(Mutex::default)
            .lock()
            .expect("restart budgets poisoned");
        Arc::clone(budgets.entry(key).or_default())
    }

    /// Whether a worker may start now; if not, an UNAVAILABLE error saying when.
    pub fn check(&self, what: &str) -> Result<()> {
        let state = self.state.lock().expect("restart budget poisoned");
        match state.not_before {
            Some(at) if at > Instant::now() => Err(Error::Unavailable(format!(
                "the {what} worker process died {} times in a row soon after starting; the \
                 next start is in {} ms (the server's log says why they died; a \
                 --worker-memory-limit too small for the database is a common cause); retry \
                 later",
                state.young_deaths,
                at.saturating_duration_since(Instant::now()).as_millis()
            ))),
            _ => Ok(()),
        }
    }

    /// A worker failed to start.
    pub fn start_failed(&self) {
        self.died(Duration::ZERO);
    }

    /// A worker died after living `lived`.
    pub fn died(&self, lived: Duration) {
        let mut state = self.state.lock().expect("restart budget poisoned");
        if lived >= YOUNG {
            *state = State::default();
            return;
        }
        state.young_deaths += 1;
        state.not_before = wait(state.young_deaths).map(|wait| Instant::now() + wait);
    }
}

/// The wait after `deaths` young deaths in a row: none after the first.
fn wait(deaths: u32) -> Option<Duration> {
    let doublings = deaths.checked_sub(2)?;
    Some(
        FIRST_WAIT
            .saturating_mul(1 << doublings.min(16))
            .min(MAX_WAIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_second_young_death_and_are_capped() {
        assert_eq!(wait(1), None);
        assert_eq!(wait(2), Some(FIRST_WAIT));
        assert_eq!(wait(3), Some(FIRST_WAIT * 2));
        assert_eq!(wait(40), Some(MAX_WAIT));
    }

    #[test]
    fn young_deaths_close_the_budget_and_a_long_life_reopens_it() {
        let budget = RestartBudget::default();
        budget.died(Duration::from_secs(1));
        assert!(budget.check("writer").is_ok(), "one death restarts at once");
        budget.start_failed();
        let err = budget.check("writer").unwrap_err();
        assert!(err.to_string().contains("2 times in a row"), "{err}");
        budget.died(YOUNG);
        assert!(budget.check("writer").is_ok());
    }
}
