//! One database's replication: its registration with Litestream, the loop that has
//! Litestream sync it, and the barrier a synchronous write waits at.
//!
//! The barrier: a write that must be replicated calls [`Replica::confirm`] after its COMMIT
//! returned. It asks for the round after every round started so far, so the sync that
//! answers it started after its COMMIT, and that sync's WAL copy holds it; it is confirmed
//! when the replica holds the transaction the sync made (`replicated_txid >= txid`). Every
//! write that arrives while a round runs waits for the next one: one sync serves every
//! group committed before it started. Waiting is async; the writer thread never waits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, watch};

use super::control::{Control, Synced};
use super::diagnosis::{Misconfigured, diagnose};
use super::settings::Mode;
use crate::error::{Error, Result};
use crate::metrics::names::*;
use crate::worker::WalFrames;

/// How long the loop pauses after a failed sync before the next.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How long Litestream may take to copy what is left of a database that closes.
const LAST_SYNC: Duration = Duration::from_secs(30);

/// What a replica's loop has done, as ListDatabases and /metrics report it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub mode: Option<Mode>,
    /// Litestream has the database registered.
    pub registered: bool,
    /// The generation the database replicates to, and its URL (none yet while the replica
    /// cannot be listed to choose a new one).
    pub generation: Option<(u64, String)>,
    /// The newest transaction the replica holds (Litestream's txid).
    pub replica_txid: u64,
    /// The newest transaction Litestream holds locally.
    pub local_txid: u64,
    /// How long the oldest write the replica does not hold yet has waited (0: none waits).
    pub lag: Duration,
    /// Write requests committed locally that the replica does not hold yet.
    pub lag_writes: u64,
    /// WAL frames the writer appended that the replica does not hold yet.
    pub lag_frames: u64,
    /// Sync-mode writes that waited for the replica, and their mean and longest wait.
    pub sync_waits: u64,
    pub sync_wait_mean: Duration,
    pub sync_wait_max: Duration,
    /// When a sync last succeeded.
    pub last_sync: Option<SystemTime>,
    /// Syncs that failed since the database opened.
    pub sync_failures: u64,
    /// The last failure's reason, while syncs keep failing.
    pub failing: Option<String>,
    /// How long syncs have been failing.
    pub failing_for: Duration,
}

/// The newest round that ended.
#[derive(Debug, Clone, Default)]
struct Round {
    number: u64,
    /// The newest round that succeeded.
    last_ok: u64,
    error: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Rounds started.
    started: u64,
    /// The highest round a waiting write needs.
    wanted: u64,
    /// Writes no started round covers: when the oldest was, and how many.
    uncovered_since: Option<Instant>,
    uncovered: u64,
    /// Writes the replica does not hold yet: the oldest's time, and how many.
    unconfirmed_since: Option<Instant>,
    unconfirmed: u64,
    last_start: Option<Instant>,
    last_ok: Option<SystemTime>,
    failing_since: Option<Instant>,
    failure: Option<String>,
    /// The last failure, when it is a configuration error (retrying does not help).
    misconfigured: Option<Misconfigured>,
    /// The registration's and the sync's last failures logged: each is logged when it
    /// changes, not at every retry (a failing store is not a line per write).
    logged: [Option<String>; 2],
    failures: u64,
    registered: bool,
    synced: Option<Synced>,
    generation: Option<(u64, String)>,
    /// The writer's frames (its [`WalFrames`]) the replica holds: those appended before the
    /// last successful sync began.
    confirmed_frames: u64,
    sync_waits: u64,
    sync_wait_total: Duration,
    sync_wait_max: Duration,
}

/// Where a database replicates: its replica URL (`URL/NAME`, the generations under it), the
/// server's `--replica-url` and the Litestream binary that lists the generations.
pub(super) struct Location {
    pub database_url: String,
    pub base_url: String,
    pub binary: PathBuf,
}

/// The replication of one database.
pub struct Replica {
    name: String,
    path: PathBuf,
    location: Location,
    mode: Mode,
    /// The frames the database's writer appended to its WAL.
    frames: Arc<WalFrames>,
    control: Control,
    interval: Duration,
    timeout: Duration,
    /// std mutex: held for a few field updates, never across an await.
    inner: Mutex<Inner>,
    wake: Notify,
    rounds: watch::Sender<Round>,
    stop: watch::Sender<bool>,
    /// Orders registering and unregistering: a registration (the loop's, or the one after
    /// Litestream restarted) never lands after the database was unregistered.
    registration: tokio::sync::Mutex<()>,
    /// The loop's task, awaited by [`Replica::unregister`]: no round of a closed database
    /// runs on.
    looping: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Dropped by [`Replica::unregister`]: a listing of the replica in progress (which
    /// takes up to the sync timeout when the store does not answer) stops at once, its
    /// blocking thread with it.
    closing: Mutex<Option<crossbeam_channel::Sender<()>>>,
    closed: crossbeam_channel::Receiver<()>,
}

impl Replica {
    pub(super) fn new(
        name: &str,
        path: &Path,
        location: Location,
        mode: Mode,
        control: Control,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        let frames = WalFrames::of(path);
        let (closing, closed) = crossbeam_channel::bounded(0);
        // What came before was synced when the database last closed (or is not this
        // server's to count).
        let inner = Inner {
            confirmed_frames: frames.get(),
            ..Inner::default()
        };
        Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            location,
            mode,
            frames,
            control,
            interval,
            timeout,
            inner: Mutex::new(inner),
            wake: Notify::new(),
            rounds: watch::channel(Round::default()).0,
            stop: watch::channel(false).0,
            registration: tokio::sync::Mutex::new(()),
            looping: Mutex::new(None),
            closing: Mutex::new(Some(closing)),
            closed,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the database with Litestream (again, after Litestream restarted), to its
    /// generation: the one the data directory records, else a new one.
    pub(super) async fn register(&self) -> Result<()> {
        let _registration = self.registration.lock().await;
        if *self.stop.borrow() {
            return Err(Error::Unavailable(format!(
                "database {:?} is closed: it is not replicated any more",
                self.name
            )));
        }
        // Choosing the generation lists the replica, which takes up to the sync timeout when
        // the store does not answer: a close does not wait for that.
        let generation = tokio::select! {
            generation = self.generation() => generation,
            () = self.stopped() => Err("the database closed".into()),
        };
        let registered = match generation {
            Ok(url) => self.control.register(&self.path, &url).await.map(|()| url),
            Err(err) => Err(err),
        };
        let mut inner = self.lock();
        inner.registered = registered.is_ok();
        match registered {
            Ok(url) => {
                drop(inner);
                tracing::info!(database = %self.name, url = %url, mode = ?self.mode, "replicating");
                Ok(())
            }
            Err(err) => {
                // Logged when it changes, not at each retry.
                if first_time(&mut inner.logged[0], &err) {
                    match diagnose(&err) {
                        Some(found) => {
                            tracing::error!(database = %self.name, "cannot register the database with Litestream: {found}")
                        }
                        None => {
                            tracing::error!(database = %self.name, error = %err, "cannot register the database with Litestream")
                        }
                    }
                }
                inner.failing_since.get_or_insert_with(Instant::now);
                inner.misconfigured = diagnose(&err);
                inner.failure = Some(err.clone());
                Err(Error::Unavailable(format!(
                    "database {:?} cannot be replicated now: {err}",
                    self.name
                )))
            }
        }
    }

    /// The URL of the generation the database replicates to. Without a record in the data
    /// directory (a new file, a restored one, or one replicated for the first time) it is
    /// a new generation, the first the replica does not hold, recorded from now on.
    async fn generation(&self) -> Result<String, String> {
        if let Some((_, url)) = &self.lock().generation {
            return Ok(url.clone());
        }
        let location = &self.location;
        let number = match super::generation::recorded(&self.path, &location.base_url) {
            Some(number) => number,
            None => {
                let (binary, url) = (location.binary.clone(), location.database_url.clone());
                let (timeout, closed) = (self.timeout, self.closed.clone());
                let generations = tokio::task::spawn_blocking(move || {
                    super::generation::list(&binary, &url, timeout, &closed)
                })
                .await
                .map_err(|err| format!("listing the replica's generations failed: {err}"))?
                .map_err(|err| format!("cannot choose a generation of the replica: {err}"))?;
                let number = super::generation::next(&generations);
                super::generation::record(&self.path, &location.base_url, number)?;
                tracing::info!(database = %self.name, generation = number, "a new generation of the replica");
                number
            }
        };
        let url = super::generation::url(&location.database_url, number);
        self.lock().generation = Some((number, url.clone()));
        Ok(url)
    }

    /// Returns once [`Replica::unregister`] has begun.
    async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Starts the loop ([`Replica::run`]) in a task of its own.
    pub(super) fn start(self: &Arc<Self>) {
        let looping = Arc::clone(self);
        let task = tokio::spawn(async move { looping.run().await });
        *self.looping.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Stops the loop and waits for its round in progress to end, then has Litestream sync
    /// what is left and forget the database: once this returns, nothing of this server
    /// registers or syncs the file any more (a database created again under the name
    /// registers to a generation of its own).
    pub(super) async fn unregister(&self, last_sync: bool) {
        let _ = self.stop.send(true);
        self.wake.notify_one();
        drop(
            self.closing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let task = self
            .looping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let _registration = self.registration.lock().await;
        // Whether or not it thinks it registered: a registration whose answer was lost may
        // have taken effect.
        // The last sync gets Litestream's usual 30 s, unless the store is failing now (it
        // would fail all that time, and a shutdown closes the databases one by one) or the
        // database is about to be dropped.
        let failing = self.lock().failing_since.is_some();
        let timeout = if last_sync && !failing {
            LAST_SYNC
        } else {
            Duration::from_secs(1)
        };
        if let Err(err) = self.control.unregister(&self.path, timeout).await {
            tracing::warn!(database = %self.name, error = %err, "Litestream did not unregister the database");
        }
        self.lock().registered = false;
    }

    /// A write committed locally (async mode: the loop copies it within the interval).
    pub fn wrote(&self) {
        let mut inner = self.lock();
        note_write(&mut inner);
    }

    /// A write committed locally: in sync mode, returns once the replica holds it, or
    /// UNAVAILABLE past the sync timeout or the `within` left of the request's deadline,
    /// whichever comes first; in async mode at once.
    pub async fn confirm(&self, within: Option<Duration>) -> Result<()> {
        if self.mode == Mode::Async {
            self.wrote();
            return Ok(());
        }
        let unsafe_yet = |why: String| {
            Error::Unavailable(format!(
                "the write was committed on this server but the replica has not confirmed it \
                 ({why}): it may exist locally but is not yet safe from the loss of this \
                 machine; read it back before retrying a write that is not idempotent"
            ))
        };
        let (need, misconfigured) = {
            let mut inner = self.lock();
            note_write(&mut inner);
            inner.wanted = inner.started + 1;
            (inner.wanted, inner.misconfigured.clone())
        };
        self.wake.notify_one();
        // No sync can succeed until the configuration changes: said at once, not after the
        // sync timeout, and in words that name the fix. The loop keeps trying meanwhile.
        if let Some(misconfigured) = misconfigured {
            return Err(unsafe_yet(misconfigured.to_string()));
        }
        let began = Instant::now();
        let mut rounds = self.rounds.subscribe();
        // The request's deadline is the shorter bound: its answer must come before it.
        let (bound, by_deadline) = match within {
            Some(left) if left < self.timeout => (left, true),
            _ => (self.timeout, false),
        };
        let waited =
            tokio::time::timeout(bound, rounds.wait_for(|round| round.number >= need)).await;
        let wait = began.elapsed();
        metrics::histogram!(REPLICATION_SYNC_WAIT_SECONDS, "database" => self.name.clone())
            .record(wait.as_secs_f64());
        {
            let mut inner = self.lock();
            inner.sync_waits += 1;
            inner.sync_wait_total += wait;
            inner.sync_wait_max = inner.sync_wait_max.max(wait);
        }
        match waited {
            Ok(Ok(round)) if round.last_ok >= need => Ok(()),
            Ok(Ok(round)) => Err(unsafe_yet(
                match diagnose(round.error.as_deref().unwrap_or("")) {
                    Some(misconfigured) => misconfigured.to_string(),
                    None => round
                        .error
                        .clone()
                        .unwrap_or_else(|| "the sync failed".into()),
                },
            )),
            Ok(Err(_)) => Err(unsafe_yet("replication stopped".into())),
            Err(_) if by_deadline => Err(unsafe_yet(format!(
                "no sync confirmed it before the request's deadline ({} ms were left after \
                 the commit; the last sync error: {})",
                bound.as_millis(),
                self.lock()
                    .failure
                    .clone()
                    .unwrap_or_else(|| "none yet".into())
            ))),
            Err(_) => Err(unsafe_yet(format!(
                "no sync confirmed it within {} ms (--replication-sync-timeout-ms); the last \
                 sync error: {}",
                self.timeout.as_millis(),
                self.lock()
                    .failure
                    .clone()
                    .unwrap_or_else(|| "none yet".into())
            ))),
        }
    }

    /// The loop: a round when a write waits for one, or every interval while there are
    /// writes the replica lacks; until [`Replica::unregister`].
    pub(super) async fn run(&self) {
        let mut stop = self.stop.subscribe();
        let tick = self.interval.min(Duration::from_secs(1));
        // The first round registers the database. Registered or not, it is tracked: a
        // Litestream that is down registers it when it is back (or the next round does),
        // and health says so meanwhile.
        self.round().await;
        loop {
            if *stop.borrow() {
                return;
            }
            let due = {
                let inner = self.lock();
                let waiting = inner.wanted > inner.started;
                let interval_due = inner.uncovered_since.is_some()
                    && inner
                        .last_start
                        .is_none_or(|start| start.elapsed() >= self.interval);
                // A database not registered (its generation not chosen, Litestream down)
                // tries again each tick, writes or not.
                let unregistered = !inner.registered
                    && inner.last_start.is_none_or(|start| start.elapsed() >= tick);
                waiting || interval_due || unregistered
            };
            if !due {
                self.publish();
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let ok = self.round().await;
            self.publish();
            if !ok {
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// One sync; whether it succeeded. A database Litestream refused to register (or that
    /// it lost) is registered first.
    async fn round(&self) -> bool {
        let registered = if self.lock().registered {
            Ok(())
        } else {
            self.register().await.map_err(|err| err.to_string())
        };
        let frames = self.frames.get();
        let (number, covered, covered_since) = {
            let mut inner = self.lock();
            inner.started += 1;
            inner.last_start = Some(Instant::now());
            let covered = std::mem::take(&mut inner.uncovered);
            (inner.started, covered, inner.uncovered_since.take())
        };
        // A sync only copies and waits: one the database's close cuts short changes nothing.
        let outcome = match registered {
            Ok(()) => tokio::select! {
                synced = self.sync() => synced,
                () = self.stopped() => Err("the database closed during the sync".into()),
            },
            Err(err) => Err(err),
        };
        let mut inner = self.lock();
        let ok = outcome.is_ok();
        let error = match outcome {
            Ok(synced) => {
                inner.synced = Some(synced);
                inner.confirmed_frames = inner.confirmed_frames.max(frames);
                inner.last_ok = Some(SystemTime::now());
                inner.failing_since = None;
                inner.failure = None;
                inner.misconfigured = None;
                inner.logged = Default::default();
                inner.unconfirmed = inner.unconfirmed.saturating_sub(covered);
                // What is left unconfirmed came after this round began.
                inner.unconfirmed_since = inner.uncovered_since;
                None
            }
            Err(err) => {
                inner.failures += 1;
                metrics::counter!(REPLICATION_SYNC_FAILURES, "database" => self.name.clone())
                    .increment(1);
                inner.failing_since.get_or_insert_with(Instant::now);
                let repeated = !first_time(&mut inner.logged[1], &err);
                inner.misconfigured = diagnose(&err);
                inner.failure = Some(err.clone());
                // The writes it covered are still to copy.
                inner.uncovered += covered;
                inner.uncovered_since = match (covered_since, inner.uncovered_since) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // Said once per distinct failure: a failing store is not a line per write.
                if repeated {
                    tracing::debug!(database = %self.name, error = %err, "a Litestream sync failed again");
                } else {
                    tracing::warn!(database = %self.name, error = %err, "a Litestream sync failed");
                }
                Some(err)
            }
        };
        drop(inner);
        self.rounds.send_modify(|round| {
            round.number = number;
            if ok {
                round.last_ok = number;
            }
            round.error = error;
        });
        ok
    }

    /// One `/sync`, asked again while it answers a txid newer than the replica holds: that
    /// is Litestream's own monitor writing a newer transaction between the end of the sync
    /// and its answer. The next sync began after this one, so it still confirms every commit
    /// this one had to.
    async fn sync(&self) -> Result<Synced, String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.control.sync(&self.path, left).await? {
                synced if synced.replicated_txid >= synced.txid => return Ok(synced),
                synced if Instant::now() >= deadline => {
                    return Err(format!(
                        "the replica holds transaction {} of {}",
                        synced.replicated_txid, synced.txid
                    ));
                }
                _ => continue,
            }
        }
    }

    /// What the replica has done.
    pub fn status(&self) -> Status {
        let inner = self.lock();
        Status {
            mode: Some(self.mode),
            registered: inner.registered,
            generation: inner.generation.clone(),
            replica_txid: inner.synced.map_or(0, |s| s.replicated_txid),
            local_txid: inner.synced.map_or(0, |s| s.txid),
            lag: inner
                .unconfirmed_since
                .map_or(Duration::ZERO, |since| since.elapsed()),
            lag_writes: inner.unconfirmed,
            lag_frames: self.frames.get().saturating_sub(inner.confirmed_frames),
            sync_waits: inner.sync_waits,
            sync_wait_mean: inner
                .sync_wait_total
                .checked_div(inner.sync_waits.max(1) as u32)
                .unwrap_or_default(),
            sync_wait_max: inner.sync_wait_max,
            last_sync: inner.last_ok,
            sync_failures: inner.failures,
            failing: match &inner.misconfigured {
                Some(misconfigured) => Some(misconfigured.to_string()),
                None => inner.failure.clone(),
            },
            failing_for: inner
                .failing_since
                .map_or(Duration::ZERO, |since| since.elapsed()),
        }
    }

    /// Whether the replica keeps up: false once syncs have failed, or a write has waited
    /// for the replica, for longer than `bound`.
    /// A configuration error is unhealthy at once: waiting will not mend it.
    pub fn healthy(&self, bound: Duration) -> bool {
        if self.lock().misconfigured.is_some() {
            return false;
        }
        let status = self.status();
        status.failing_for <= bound && status.lag <= bound
    }

    /// Sets the database's gauges.
    pub(super) fn publish(&self) {
        let status = self.status();
        let db = self.name.clone();
        metrics::gauge!(REPLICA_TXID, "database" => db.clone()).set(status.replica_txid as f64);
        metrics::gauge!(REPLICATION_LAG_SECONDS, "database" => db.clone())
            .set(status.lag.as_secs_f64());
        metrics::gauge!(REPLICATION_LAG_WRITES, "database" => db.clone())
            .set(status.lag_writes as f64);
        metrics::gauge!(REPLICATION_LAG_FRAMES, "database" => db.clone())
            .set(status.lag_frames as f64);
        if let Some(at) = status
            .last_sync
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        {
            metrics::gauge!(REPLICATION_LAST_SYNC, "database" => db).set(at.as_secs_f64());
        }
    }
}

/// Whether `err` differs from the failure `logged` holds (which becomes `err`'s).
/// A configuration error counts as the same while its kind is (the store's answers differ
/// by their request ids).
fn first_time(logged: &mut Option<String>, err: &str) -> bool {
    let key = match diagnose(err) {
        Some(misconfigured) => misconfigured.what.to_string(),
        None => err.to_string(),
    };
    if logged.as_deref() == Some(key.as_str()) {
        return false;
    }
    *logged = Some(key);
    true
}

fn note_write(inner: &mut Inner) {
    let now = Instant::now();
    inner.uncovered_since.get_or_insert(now);
    inner.uncovered += 1;
    inner.unconfirmed_since.get_or_insert(now);
    inner.unconfirmed += 1;
}
