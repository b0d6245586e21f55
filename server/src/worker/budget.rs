//! The restart budget of one kind of worker of a database (its writer, its shared readers,
//! or its transaction readers): a worker that fails to start, or dies soon after it started,
//! makes the next start wait, twice as long each time in a row, so a worker that cannot live
//! does not spin — not even across attempts to open its database, which share the budget.
//! Thread workers and worker processes alike (a thread's open fails too, on a file replaced
//! by a link, say).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::supervision::Pool;
use crate::error::{Error, Result};

/// A worker that lived less than this died "young": its death counts against the budget.
const YOUNG: Duration = Duration::from_secs(10);
/// The wait after the second young death in a row; it doubles with each further one.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between two starts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Every budget of the process, by database file and kind of worker.
type Budgets = Mutex<HashMap<(PathBuf, Pool), Arc<RestartBudget>>>;

/// Young deaths in a row, and when the next start may happen.
#[derive(Debug)]
pub struct RestartBudget {
    /// Whose budget, for messages: e.g. `the reader workers of database "app"`.
    whose: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    young_deaths: u32,
    not_before: Option<Instant>,
    /// Why the last start failed or the last worker died, for the refusal's message.
    last: Option<String>,
}

impl RestartBudget {
    /// The budget of the `pool` workers of the database file `path`, one per process and
    /// database (a few bytes each, kept for the server's life).
    pub fn of(path: &Path, pool: Pool) -> Arc<Self> {
        static BUDGETS: OnceLock<Budgets> = OnceLock::new();
        let mut budgets = BUDGETS
            .get_or_init(Mutex::default)
            .lock()
            .expect("restart budgets poisoned");
        Arc::clone(
            budgets
                .entry((path.to_path_buf(), pool))
                .or_insert_with(|| Arc::new(Self::new(pool, &super::thread::database_name(path)))),
        )
    }

    fn new(pool: Pool, database: &str) -> Self {
        Self {
            whose: format!("the {} workers of database {database:?}", pool.noun()),
            state: Mutex::default(),
        }
    }

    /// Whether a worker may start now; if not, UNAVAILABLE saying why and when, with the
    /// wait left as its retry hint.
    pub fn check(&self) -> Result<()> {
        let state = self.state.lock().expect("restart budget poisoned");
        let Some(wait) = left(&state) else {
            return Ok(());
        };
        Err(Error::UnavailableFor {
            message: format!(
                "{}; the next start is in {} ms (the server's log says why; a \
                 --worker-memory-limit too small for the database is a common cause); retry then",
                self.describe_state(&state),
                wait.as_millis().max(1)
            ),
            retry_after: wait,
        })
    }

    /// What went wrong so far, e.g. `the reader workers of database "app" failed to start
    /// or died soon after starting 3 times in a row (the last: …)`.
    pub fn describe(&self) -> String {
        self.describe_state(&self.state.lock().expect("restart budget poisoned"))
    }

    fn describe_state(&self, state: &State) -> String {
        let last = state
            .last
            .as_deref()
            .map(|last| format!(" (the last: {last})"))
            .unwrap_or_default();
        match state.young_deaths {
            0 => format!("{} could not start", self.whose),
            1 => format!(
                "{} failed to start or died soon after starting{last}",
                self.whose
            ),
            n => format!(
                "{} failed to start or died soon after starting {n} times in a row{last}",
                self.whose
            ),
        }
    }

    /// How long until the next start may happen; `None`: it may happen now.
    pub fn wait(&self) -> Option<Duration> {
        left(&self.state.lock().expect("restart budget poisoned"))
    }

    /// A worker failed to start, for `cause`.
    pub fn start_failed(&self, cause: &str) {
        self.died(Duration::ZERO, cause);
    }

    /// A worker died after living `lived`, for `cause`.
    pub fn died(&self, lived: Duration, cause: &str) {
        let mut state = self.state.lock().expect("restart budget poisoned");
        if lived >= YOUNG {
            *state = State::default();
            return;
        }
        state.young_deaths += 1;
        state.not_before = wait(state.young_deaths).map(|wait| Instant::now() + wait);
        state.last = Some(cause.to_string());
    }
}

/// The wait left before the next start, if any.
fn left(state: &State) -> Option<Duration> {
    let wait = state.not_before?.saturating_duration_since(Instant::now());
    (!wait.is_zero()).then_some(wait)
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
        let budget = RestartBudget::new(Pool::Writer, "app");
        budget.died(Duration::from_secs(1), "killed");
        assert!(budget.check().is_ok(), "one death restarts at once");
        assert_eq!(budget.wait(), None);
        budget.start_failed("app.db is a symbolic link");
        let err = budget.check().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("2 times in a row"), "{message}");
        assert!(
            message.contains("the writer workers of database \"app\""),
            "{message}"
        );
        assert!(message.contains("symbolic link"), "{message}");
        // The refusal's retry hint is the wait left.
        let Error::UnavailableFor { retry_after, .. } = err else {
            panic!("{err:?}");
        };
        assert!(retry_after > Duration::ZERO && retry_after <= FIRST_WAIT);
        assert!(budget.wait().is_some_and(|wait| wait <= FIRST_WAIT));
        budget.died(YOUNG, "killed");
        assert!(budget.check().is_ok());
    }
}
