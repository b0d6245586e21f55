//! Continuous replication to object storage by Litestream (`--replica-url`).
//!
//! sqlited starts Litestream as a child it configures and supervises, registers each
//! database with it on open and unregisters it on close, and cooperates with it: the writer
//! never checkpoints on its own (`wal_autocheckpoint=0`), every checkpoint sqlited runs is
//! PASSIVE (a TRUNCATE or RESTART would wait on Litestream's read transaction and stall
//! every write for the busy timeout), and no client touches Litestream's `_litestream_*`
//! tables. In sync mode a write is answered only once the replica holds it.
//!
//! Layout:
//! - [`settings`]: the flags, and each database's replica URL and mode.
//! - [`litestream`]: the child process: its configuration, start, restarts, stop.
//! - [`preflight`]: what is checked before Litestream starts (the CA bundle, the access
//!   key, the URL; the server refuses to start on what can never work), the probe of the
//!   store, and the environment every Litestream process gets.
//! - [`diagnosis`]: Litestream's failures that are configuration, each with its fix.
//! - [`control`]: the client of Litestream's control socket (register, unregister, sync).
//! - [`replica`]: one database: its sync loop, the barrier sync writes wait at, its status.
//! - [`generation`]: each life of a database replicates to a path of its own
//!   (`URL/NAME/GEN`), recorded in the data directory.
//! - [`restore`]: a database back from the replica (`sqlited restore --replica-url`,
//!   `--restore-if-missing`).

pub mod control;
pub mod diagnosis;
pub mod generation;
pub mod litestream;
pub mod preflight;
pub mod replica;
pub mod restore;
pub mod settings;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use replica::{Replica, Status};
pub use settings::{Mode, ReplicationArgs};

use crate::error::{Error, Result};

/// The replication of every database of one server.
pub struct Replication {
    args: ReplicationArgs,
    base_url: String,
    control: control::Control,
    litestream: litestream::Litestream,
    /// The databases registered now. A std mutex, held for a map operation only.
    replicas: Mutex<HashMap<String, Arc<Replica>>>,
    /// What the probe of the store found: `None` while it has not answered yet, then the
    /// last answer until one succeeds. A std mutex, held to read or set it.
    store: Mutex<Option<Result<(), String>>>,
    /// Dropped by [`Replication::stop`]: a probe in progress ends at once.
    probing: Mutex<Option<crossbeam_channel::Sender<()>>>,
    stopped_probing: crossbeam_channel::Receiver<()>,
}

/// The pauses between probes of a store that failed one.
const PROBE_PAUSES: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

impl Replication {
    /// Starts Litestream for `data_dir` and waits until its control socket answers; `None`
    /// without `--replica-url`.
    pub async fn start(args: &ReplicationArgs, data_dir: &Path) -> Result<Option<Arc<Self>>> {
        let Some(base_url) = args.replica_url.clone() else {
            return Ok(None);
        };
        preflight::check(&base_url)?;
        let socket = args.socket(data_dir);
        crate::error::hide_path(&socket, false, "Litestream's control socket");
        let litestream = litestream::Litestream::start(
            &args.litestream,
            &litestream::state_dir(data_dir),
            &socket,
        )?;
        if !litestream.wait_ready().await {
            litestream.stop().await;
            return Err(Error::Unavailable(format!(
                "Litestream did not open its control socket {}; its log lines above say why",
                socket.display()
            )));
        }
        let (probing, stopped_probing) = crossbeam_channel::bounded(0);
        let replication = Arc::new(Self {
            args: args.clone(),
            base_url,
            control: control::Control::new(socket),
            litestream,
            replicas: Mutex::new(HashMap::new()),
            store: Mutex::new(None),
            probing: Mutex::new(Some(probing)),
            stopped_probing,
        });
        tokio::spawn(reregister(Arc::downgrade(&replication)));
        tokio::spawn(probe(Arc::downgrade(&replication)));
        if let Some(bundle) = preflight::describe() {
            tracing::info!(bundle, "Litestream trusts the CA bundle (as SSL_CERT_FILE)");
        }
        tracing::info!(
            url = %replication.base_url,
            mode = ?args.replication,
            "replicating every database with Litestream"
        );
        Ok(Some(replication))
    }

    fn replicas(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Replica>>> {
        self.replicas.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The replica URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        settings::database_url(&self.base_url, name)
    }

    pub fn args(&self) -> &ReplicationArgs {
        &self.args
    }

    /// Starts replicating database `name` (file `path`, just opened): its loop registers it
    /// with Litestream, in its generation, and syncs it from then on. The database serves
    /// meanwhile; a write in sync mode waits for the replica all the same.
    pub fn attach(&self, name: &str, path: &Path) -> Arc<Replica> {
        let location = replica::Location {
            database_url: self.url(name),
            base_url: self.base_url.clone(),
            binary: self.args.litestream.clone(),
        };
        let replica = Arc::new(Replica::new(
            name,
            path,
            location,
            self.args.mode(name),
            self.control.clone(),
            self.args.interval(),
            self.args.sync_timeout(),
        ));
        self.replicas()
            .insert(name.to_string(), Arc::clone(&replica));
        replica.start();
        replica
    }

    /// Unregisters database `name`, closed: `last_sync` when Litestream should first copy
    /// what the replica lacks (a close at shutdown), not when the database is about to be
    /// dropped.
    pub async fn detach(&self, name: &str, last_sync: bool) {
        let replica = self.replicas().remove(name);
        if let Some(replica) = replica {
            replica.unregister(last_sync).await;
        }
    }

    /// The status of database `name`'s replica, if it is open.
    pub fn status(&self, name: &str) -> Option<Status> {
        self.replicas().get(name).map(|r| r.status())
    }

    /// Each open database and whether its replication keeps up (see
    /// `--replication-unhealthy-secs`); all unhealthy while Litestream is down for longer.
    pub fn health(&self) -> Vec<(String, bool)> {
        let bound = self.args.unhealthy_after();
        self.replicas()
            .iter()
            .map(|(name, replica)| (name.clone(), replica.healthy(bound)))
            .collect()
    }

    /// Whether replication can serve now: `Err` with each reason while Litestream is down,
    /// the store has not answered the probe (or refused it), or a database's replication
    /// is unhealthy (see [`Replication::health`]).
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        if !self.litestream.up() {
            reasons.push("Litestream is not running (it is being restarted)".to_string());
        }
        match &*self.store.lock().unwrap_or_else(|p| p.into_inner()) {
            None => reasons.push("the replica store has not answered yet".to_string()),
            Some(Err(err)) => reasons.push(err.clone()),
            Some(Ok(())) => {}
        }
        let bound = self.args.unhealthy_after();
        let mut replicas: Vec<Arc<Replica>> = self.replicas().values().cloned().collect();
        replicas.sort_by(|a, b| a.name().cmp(b.name()));
        for replica in replicas {
            if !replica.healthy(bound) {
                let status = replica.status();
                let why = status
                    .failing
                    .unwrap_or_else(|| format!("lagging for {} s", status.lag.as_secs()));
                reasons.push(format!("database {:?}: {why}", replica.name()));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// Whether Litestream runs now, and how many times it was restarted.
    pub fn litestream(&self) -> (bool, u64) {
        (self.litestream.up(), self.litestream.restarts())
    }

    /// Sets the replication metrics, at each scrape: Litestream's state, and each
    /// database's position and lag.
    pub fn sample_metrics(&self) {
        use crate::metrics::names::{LITESTREAM_RESTARTS, LITESTREAM_UP};
        metrics::gauge!(LITESTREAM_UP).set(if self.litestream.up() { 1.0 } else { 0.0 });
        metrics::counter!(LITESTREAM_RESTARTS).absolute(self.litestream.restarts());
        let replicas: Vec<Arc<Replica>> = self.replicas().values().cloned().collect();
        for replica in replicas {
            replica.publish();
        }
    }

    /// Unregisters every database left (Litestream syncs each first), then stops Litestream.
    pub async fn stop(&self) {
        drop(
            self.probing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let names: Vec<String> = self.replicas().keys().cloned().collect();
        for name in names {
            self.detach(&name, true).await;
        }
        self.litestream.stop().await;
    }

    /// How long a write waits for the replica in sync mode.
    pub fn sync_timeout(&self) -> Duration {
        self.args.sync_timeout()
    }
}

/// Probes the store until it answers once (see [`preflight::probe`]), saying in the log
/// what is wrong meanwhile — a configuration error with its fix — once per distinct
/// answer.
async fn probe(replication: std::sync::Weak<Replication>) {
    let mut pause = PROBE_PAUSES.0;
    loop {
        let Some(target) = replication.upgrade() else {
            return;
        };
        let (binary, url) = (target.args.litestream.clone(), target.base_url.clone());
        let abort = target.stopped_probing.clone();
        if target
            .probing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return;
        }
        let timeout = target.args.sync_timeout().max(Duration::from_secs(5));
        drop(target);
        let answer = preflight::probe(&binary, &url, timeout, abort).await;
        let Some(target) = replication.upgrade() else {
            return;
        };
        let answer = answer.map_err(|err| match diagnosis::diagnose(&err) {
            Some(misconfigured) => misconfigured.to_string(),
            None => format!(
                "the replica store does not answer now ({err}); replication is NOT_SERVING \
                 until it does"
            ),
        });
        let ok = answer.is_ok();
        {
            let mut store = target.store.lock().unwrap_or_else(|p| p.into_inner());
            if store.as_ref() != Some(&answer) {
                match &answer {
                    Ok(()) => tracing::info!(url = %target.base_url, "the replica store answers"),
                    Err(err) => tracing::error!(url = %target.base_url, "{err}"),
                }
            }
            *store = Some(answer);
        }
        drop(target);
        if ok {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(PROBE_PAUSES.1);
    }
}

/// Registers every database again each time a new Litestream child is ready.
async fn reregister(replication: std::sync::Weak<Replication>) {
    let Some(mut generations) = replication.upgrade().map(|r| r.litestream.generations()) else {
        return;
    };
    generations.borrow_and_update();
    while generations.changed().await.is_ok() {
        let Some(replication) = replication.upgrade() else {
            return;
        };
        let replicas: Vec<Arc<Replica>> = replication.replicas().values().cloned().collect();
        for replica in replicas {
            if replica.register().await.is_ok() {
                tracing::info!(
                    database = replica.name(),
                    "registered again with the restarted Litestream"
                );
            }
        }
    }
}
