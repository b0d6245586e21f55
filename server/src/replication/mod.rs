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
//! - [`control`]: the client of Litestream's control socket (register, unregister, sync).
//! - [`replica`]: one database: its sync loop, the barrier sync writes wait at, its status.
//! - [`generation`]: each life of a database replicates to a path of its own
//!   (`URL/NAME/GEN`), recorded in the data directory.
//! - [`restore`]: a database back from the replica (`sqlited restore --replica-url`,
//!   `--restore-if-missing`).

pub mod control;
pub mod generation;
pub mod litestream;
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
}

impl Replication {
    /// Starts Litestream for `data_dir` and waits until its control socket answers; `None`
    /// without `--replica-url`.
    pub async fn start(args: &ReplicationArgs, data_dir: &Path) -> Result<Option<Arc<Self>>> {
        let Some(base_url) = args.replica_url.clone() else {
            return Ok(None);
        };
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
        let replication = Arc::new(Self {
            args: args.clone(),
            base_url,
            control: control::Control::new(socket),
            litestream,
            replicas: Mutex::new(HashMap::new()),
        });
        tokio::spawn(reregister(Arc::downgrade(&replication)));
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
