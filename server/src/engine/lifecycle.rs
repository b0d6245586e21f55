//! The life of each database name, as one state machine per name: opening it (with its
//! restore from the replica and its registration with Litestream), closing it and dropping
//! it are *transitions*, and a name's transitions run one at a time.
//!
//! ```text
//!             ┌──────────── Restoring ───┐ (--restore-if-missing, no file)
//!   Closed ───┴──────────── Opening ─────┴──▶ Open ──▶ Dropping ──▶ Closed (files gone)
//!     ▲                                        │
//!     └──────────────────── Closing ◀──────────┘ (shutdown)
//! ```
//!
//! A transition holds the name's *turn* (an async mutex) from its start to its end and runs
//! in a task of its own, so a client that goes away cannot leave it half done; whatever ends
//! a transition, the state it leaves is `Open` or `Closed`, never a transition's label. A
//! request that finds the name `Open` takes its database at once. One that finds a transition
//! running waits for the turn — at most [`TRANSITION_WAIT`], and not past its deadline — and
//! then acts on what it finds (opens the name, finds it open, or learns it is gone); if the
//! wait ends first, the answer is UNAVAILABLE with a retry hint naming the transition.
//!
//! A drop first refuses new requests (the name's state, then the database's own gate for
//! the requests that already hold it: UNAVAILABLE, nothing of them ran), rolls back the
//! database's transactions, lets what was handed to its workers finish, closes every
//! connection (the writer's thread or process is joined), unregisters it from Litestream, and
//! only then removes its files: no connection of an old database ever sees the files of a
//! new one under the same name.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, broadcast};

use super::database::{Closed, Database, DatabaseOptions};
use super::transactions::Transactions;
use crate::error::{Error, Result};
use crate::name;
use crate::replication::Replication;
use crate::worker::cancel::CancelToken;

/// The longest a request waits for another request's transition of its database (an open,
/// a restore, a drop) before it is answered UNAVAILABLE with a retry hint.
pub const TRANSITION_WAIT: Duration = Duration::from_secs(5);

/// Where a name is in its life.
#[derive(Clone)]
enum State {
    /// No connection open; its file may exist or not.
    Closed,
    /// Being restored from the replica before it opens (`--restore-if-missing`).
    Restoring,
    /// Its connections are starting.
    Opening,
    /// Serving.
    Open(Arc<Database>),
    /// Being closed: the server stops.
    Closing,
    /// Being dropped: its connections close, then its files go.
    Dropping,
}

impl State {
    /// What a request waiting on this state is told.
    fn doing(&self) -> &'static str {
        match self {
            Self::Restoring => "being restored from its replica",
            Self::Opening => "being opened",
            Self::Closing => "being closed",
            Self::Dropping => "being dropped",
            Self::Closed | Self::Open(_) => "in the middle of a change",
        }
    }
}

/// One name: its state, and the turn its transitions take.
struct Entry {
    state: State,
    /// Held across each transition. Every clone is taken under the registry's lock, so a
    /// count of one (plus the holder's guard) means no one waits for it.
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// Every database name of a data directory and the transitions between their states.
pub(super) struct Lifecycle {
    pub(super) data_dir: PathBuf,
    /// Whether a write creates a database that does not exist (not `--no-create`).
    pub(super) create: bool,
    pub(super) options: DatabaseOptions,
    pub(super) transactions: Transactions,
    /// Litestream's replication of every database (`--replica-url`), set once at start.
    pub(super) replication: OnceLock<Arc<Replication>>,
    /// The names in a state other than closed-and-forgotten. A std mutex: held for a map
    /// operation, never across an await.
    names: Mutex<HashMap<String, Entry>>,
    /// Raised at shutdown: nothing opens any more.
    shut: AtomicBool,
    /// Tells listeners (health reporting) the name of each database as it opens.
    pub(super) opened: broadcast::Sender<String>,
    /// And of each database dropped.
    pub(super) dropped: broadcast::Sender<String>,
}

/// A name's turn, held for one transition: while it is held, only its holder changes the
/// name's state. Dropped, it leaves the name `Open` or `Closed` (a transition cut short by
/// an error is closed), and forgets a closed name no one waits for.
struct Turn {
    lifecycle: Arc<Lifecycle>,
    name: String,
    _guard: OwnedMutexGuard<()>,
}

impl Turn {
    fn state(&self) -> State {
        self.lifecycle
            .names()
            .get(&self.name)
            .map_or(State::Closed, |entry| entry.state.clone())
    }

    fn set(&self, state: State) {
        if let Some(entry) = self.lifecycle.names().get_mut(&self.name) {
            entry.state = state;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut names = self.lifecycle.names();
        let Some(entry) = names.get_mut(&self.name) else {
            return;
        };
        if !matches!(entry.state, State::Open(_)) {
            entry.state = State::Closed;
            // The entry's Arc and this guard's: no one else waits. A read of a mistyped
            // name leaves nothing behind.
            if Arc::strong_count(&entry.turn) <= 2 {
                names.remove(&self.name);
            }
        }
    }
}

impl Lifecycle {
    pub(super) fn new(
        data_dir: PathBuf,
        create: bool,
        options: DatabaseOptions,
        transactions: Transactions,
    ) -> Self {
        Self {
            data_dir,
            create,
            options,
            transactions,
            replication: OnceLock::new(),
            names: Mutex::new(HashMap::new()),
            shut: AtomicBool::new(false),
            opened: broadcast::channel(256).0,
            dropped: broadcast::channel(256).0,
        }
    }

    fn names(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replication(&self) -> Option<&Arc<Replication>> {
        self.replication.get()
    }

    /// The database `name` if it is open now.
    pub(super) fn open_now(&self, name: &str) -> Option<Arc<Database>> {
        match &self.names().get(name)?.state {
            State::Open(db) => Some(Arc::clone(db)),
            _ => None,
        }
    }

    /// The names open now, sorted.
    pub(super) fn open_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .names()
            .iter()
            .filter(|(_, entry)| matches!(entry.state, State::Open(_)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The database `name`, opened first if it is closed (its file created when `create`).
    pub(super) async fn open(
        self: &Arc<Self>,
        name: &str,
        create: bool,
        cancel: &CancelToken,
    ) -> Result<Arc<Database>> {
        name::validate(name)?;
        if let Some(db) = self.open_now(name) {
            return Ok(db);
        }
        self.in_turn(name, cancel, move |lifecycle, turn| async move {
            lifecycle.open_in(&turn, create).await
        })
        .await
    }

    /// Creates database `name` (an admin's CreateDatabase, even with `--no-create`): true
    /// when it did not exist; ALREADY_EXISTS when it did, unless `if_not_exists`. Whether
    /// it exists is decided inside the turn, where no drop or open runs.
    pub(super) async fn create(
        self: &Arc<Self>,
        name: &str,
        if_not_exists: bool,
        cancel: &CancelToken,
    ) -> Result<bool> {
        self.in_turn(name, cancel, move |lifecycle, turn| async move {
            let existed = matches!(turn.state(), State::Open(_))
                || name::path(&lifecycle.data_dir, &turn.name).exists();
            if existed && !if_not_exists {
                return Err(Error::AlreadyExists(format!(
                    "database {:?} exists already; set if_not_exists to accept that",
                    turn.name
                )));
            }
            lifecycle.open_in(&turn, true).await?;
            Ok(!existed)
        })
        .await
    }

    /// Drops database `name`: true when it existed; NOT_FOUND when it did not, unless
    /// `if_exists`.
    pub(super) async fn drop(
        self: &Arc<Self>,
        name: &str,
        if_exists: bool,
        cancel: &CancelToken,
    ) -> Result<bool> {
        self.in_turn(name, cancel, move |lifecycle, turn| async move {
            lifecycle.drop_in(&turn, if_exists).await
        })
        .await
    }

    /// Closes every database (shutdown): once each name's running transition has ended;
    /// nothing opens afterwards.
    pub(super) async fn close_all(self: &Arc<Self>) {
        self.shut.store(true, Ordering::Release);
        // First end every transaction, so no worker waits on one while closing.
        self.transactions.close_all();
        let turns: Vec<(String, Arc<tokio::sync::Mutex<()>>)> = self
            .names()
            .iter()
            .map(|(name, entry)| (name.clone(), Arc::clone(&entry.turn)))
            .collect();
        for (name, turn) in turns {
            let turn = Turn {
                lifecycle: Arc::clone(self),
                _guard: turn.lock_owned().await,
                name,
            };
            if let State::Open(db) = turn.state() {
                turn.set(State::Closing);
                self.close_database(&turn.name, &db, Closed::ShuttingDown)
                    .await;
                tracing::info!(database = %turn.name, "database closed");
            }
        }
    }

    /// Waits for `name`'s turn: at most [`TRANSITION_WAIT`], and not past the request's
    /// deadline.
    async fn turn(self: &Arc<Self>, name: &str, cancel: &CancelToken) -> Result<Turn> {
        self.refuse_if_shut()?;
        let turn = Arc::clone(
            &self
                .names()
                .entry(name.to_string())
                .or_insert_with(|| Entry {
                    state: State::Closed,
                    turn: Arc::default(),
                })
                .turn,
        );
        let bound = cancel
            .remaining()
            .map_or(TRANSITION_WAIT, |left| left.min(TRANSITION_WAIT));
        match tokio::time::timeout(bound, turn.lock_owned()).await {
            Ok(guard) => Ok(Turn {
                lifecycle: Arc::clone(self),
                name: name.to_string(),
                _guard: guard,
            }),
            Err(_) if cancel.should_stop() => Err(cancel.deadline_error()),
            Err(_) => {
                let doing = self
                    .names()
                    .get(name)
                    .map_or("in the middle of a change", |entry| entry.state.doing());
                Err(Error::Unavailable(format!(
                    "database {name:?} is {doing}, which took longer than {} ms; retry shortly",
                    TRANSITION_WAIT.as_millis()
                )))
            }
        }
    }

    /// Takes `name`'s turn, then runs the transition `work` in a task of its own, so it
    /// ends whole even if the request that started it goes away; the request waits for it,
    /// not past its deadline.
    async fn in_turn<T, F, Fut>(
        self: &Arc<Self>,
        name: &str,
        cancel: &CancelToken,
        work: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Self>, Turn) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        name::validate(name)?;
        let turn = self.turn(name, cancel).await?;
        let task = tokio::spawn(work(Arc::clone(self), turn));
        match cancel.wait(async { task.await.ok() }).await {
            Some(result) => result,
            None => Err(Error::Internal(format!(
                "a change of database {name:?} (open, drop) failed unexpectedly; the server's \
                 log says why; retry"
            ))),
        }
    }

    fn refuse_if_shut(&self) -> Result<()> {
        if self.shut.load(Ordering::Acquire) {
            return Err(Error::Unavailable(
                "the server is shutting down; retry on another instance or later".into(),
            ));
        }
        Ok(())
    }

    /// Opens `turn`'s name unless it is open already (a request before this one opened it):
    /// restored first if it has no file and `--restore-if-missing`, created if `create`.
    async fn open_in(&self, turn: &Turn, create: bool) -> Result<Arc<Database>> {
        if let State::Open(db) = turn.state() {
            return Ok(db);
        }
        self.refuse_if_shut()?;
        let name = turn.name.as_str();
        let path = name::path(&self.data_dir, name);
        if !path.exists() && self.restores() {
            turn.set(State::Restoring);
            self.restore_if_missing(name).await?;
        }
        if !create && !path.exists() {
            return Err(Error::database_not_found(name, self.create));
        }
        turn.set(State::Opening);
        crate::worker::files::check_database(&path)?;
        let mut db = Database::open(name, path.clone(), self.options.clone()).await?;
        if let Some(replication) = self.replication() {
            db = db.with_replica(replication.attach(name, &path));
        }
        let db = Arc::new(db);
        turn.set(State::Open(Arc::clone(&db)));
        tracing::info!(database = name, "database opened");
        let _ = self.opened.send(name.to_string());
        Ok(db)
    }

    /// Drops `turn`'s name: closes it if it is open, then removes its files.
    async fn drop_in(&self, turn: &Turn, if_exists: bool) -> Result<bool> {
        let name = turn.name.as_str();
        let path = name::path(&self.data_dir, name);
        let open = match turn.state() {
            State::Open(db) => Some(db),
            _ => None,
        };
        if open.is_none() && !path.exists() {
            if if_exists {
                return Ok(false);
            }
            return Err(Error::DatabaseNotFound(format!(
                "database {name:?} does not exist; set if_exists to accept that"
            )));
        }
        turn.set(State::Dropping);
        if let Some(db) = open {
            self.close_database(name, &db, Closed::Dropped).await;
            tracing::info!(database = name, "database closed to be dropped");
        }
        if self.replication().is_some() {
            let _ = std::fs::remove_dir_all(crate::replication::restore::meta_dir(&path));
            crate::replication::generation::forget(&path);
        }
        for file in crate::worker::files::database_files(&path) {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::error!(database = name, file = %file.display(), error = %err, "cannot remove a file of a dropped database");
                    return Err(Error::Internal(format!(
                        "database {name:?} is closed but one of its files cannot be removed \
                         ({err}); dropping it again retries"
                    )));
                }
            }
        }
        turn.set(State::Closed);
        tracing::info!(database = name, "database dropped");
        let _ = self.dropped.send(name.to_string());
        Ok(true)
    }

    /// Closes open database `db`: refuses new requests with `why`, rolls back its
    /// transactions, lets what its workers hold finish, closes its connections, and
    /// unregisters it from Litestream.
    async fn close_database(&self, name: &str, db: &Database, why: Closed) {
        db.refuse(why);
        self.transactions.close_database(name);
        db.close().await;
        if let Some(replication) = self.replication() {
            replication.detach(name, why == Closed::ShuttingDown).await;
        }
    }

    /// Whether a database without a file is restored from the replica before it opens.
    fn restores(&self) -> bool {
        self.replication()
            .is_some_and(|r| r.args().restore_if_missing)
    }

    /// With `--restore-if-missing`, restores database `name` (which has no file) from its
    /// replica, if the replica has it. The file appears whole, by rename, or not at all.
    async fn restore_if_missing(&self, name: &str) -> Result<()> {
        let Some(replication) = self.replication().filter(|r| r.args().restore_if_missing) else {
            return Ok(());
        };
        let url = replication.url(name);
        // The copy is checked by a worker of the kind in use: with worker processes, a
        // damaged or hostile file from the object store is opened only in a child.
        let (workers, cache_kib) = (self.options.workers.clone(), self.options.cache_kib);
        let restored =
            crate::replication::restore::restore(
                &replication.args().litestream,
                &url,
                &self.data_dir,
                name,
                &crate::replication::restore::PointInTime::default(),
                |copy| async move {
                    crate::worker::integrity::check_file(&copy, workers, cache_kib).await
                },
            )
            .await;
        match restored {
            Ok(crate::replication::restore::Restored::Bytes { bytes, generation }) => {
                tracing::info!(
                    database = name,
                    bytes,
                    generation,
                    "restored from the replica (--restore-if-missing)"
                );
                Ok(())
            }
            Ok(crate::replication::restore::Restored::NotInReplica) => Ok(()),
            Err(err) => Err(Error::Unavailable(format!(
                "database {name:?} has no file and its restore from the replica failed: {err}"
            ))),
        }
    }
}
