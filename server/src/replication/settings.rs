//! The replication flags (`--replica-url` and the rest), flattened into the server's
//! [`crate::Config`], and what they mean per database.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// When a write is acknowledged under replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Once its COMMIT is on the local disk; Litestream copies it within about
    /// `--replication-interval-ms` (the RPO).
    Async,
    /// Once its COMMIT is on the local disk and a Litestream sync that started after it has
    /// put it in the replica (RPO 0, at the cost of one sync per group of writes).
    Sync,
}

/// Continuous replication of every database to object storage by a Litestream child.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicationArgs {
    /// Replicate every database with Litestream to this URL, database `NAME` under
    /// `URL/NAME`: `s3://bucket/prefix?endpoint=http://host:8333&region=us-east-1`, or
    /// `file:///path`. S3 credentials come from the environment (AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY). Off unless given.
    #[arg(long, env = "SQLITED_REPLICA_URL")]
    pub replica_url: Option<String>,

    /// The Litestream binary (0.5.x; found on PATH unless a path is given).
    #[arg(long, env = "SQLITED_LITESTREAM", default_value = "litestream")]
    pub litestream: PathBuf,

    /// The control socket sqlited and its Litestream talk through (default:
    /// `DATA_DIR/.litestream/control.sock`).
    #[arg(long, env = "SQLITED_LITESTREAM_SOCKET")]
    pub litestream_socket: Option<PathBuf>,

    /// `async` (acknowledge after the local COMMIT) or `sync` (also after the replica has
    /// it), for every database but those of --replication-override.
    #[arg(long, env = "SQLITED_REPLICATION", value_enum, default_value = "async")]
    pub replication: Mode,

    /// Per-database modes, comma-separated `NAME=sync` or `NAME=async`.
    #[arg(
        long,
        env = "SQLITED_REPLICATION_OVERRIDE",
        value_delimiter = ',',
        value_parser = parse_override
    )]
    pub replication_override: Vec<(String, Mode)>,

    /// In async mode, how often sqlited has Litestream copy a database that changed (the
    /// RPO, as measured in the README); Litestream's own 1 s monitor runs besides.
    #[arg(long, env = "SQLITED_REPLICATION_INTERVAL_MS", default_value_t = 1000)]
    pub replication_interval_ms: u64,

    /// In sync mode, how long a write waits for the replica before it is answered
    /// UNAVAILABLE (committed locally, not yet safe).
    #[arg(
        long,
        env = "SQLITED_REPLICATION_SYNC_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub replication_sync_timeout_ms: u64,

    /// A database whose syncs have failed for this long, or which has changes Litestream has
    /// not confirmed for this long, is NOT_SERVING in health checks.
    #[arg(long, env = "SQLITED_REPLICATION_UNHEALTHY_SECS", default_value_t = 30)]
    pub replication_unhealthy_secs: u64,

    /// Before opening a database that has no file, restore it from the replica (if the
    /// replica has it; else it is created as usual).
    #[arg(long, env = "SQLITED_RESTORE_IF_MISSING", requires = "replica_url")]
    pub restore_if_missing: bool,
}

fn parse_override(text: &str) -> Result<(String, Mode), String> {
    let (name, mode) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=sync or NAME=async"))?;
    crate::name::validate(name).map_err(|err| err.to_string())?;
    let mode = match mode {
        "sync" => Mode::Sync,
        "async" => Mode::Async,
        other => return Err(format!("{other:?} is neither sync nor async")),
    };
    Ok((name.to_string(), mode))
}

impl ReplicationArgs {
    /// The mode of database `name`.
    pub fn mode(&self, name: &str) -> Mode {
        self.replication_override
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(self.replication, |(_, mode)| *mode)
    }

    /// The control socket's path.
    pub fn socket(&self, data_dir: &Path) -> PathBuf {
        self.litestream_socket
            .clone()
            .unwrap_or_else(|| data_dir.join(".litestream").join("control.sock"))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.replication_interval_ms.max(10))
    }

    pub fn sync_timeout(&self) -> Duration {
        Duration::from_millis(self.replication_sync_timeout_ms.max(1))
    }

    pub fn unhealthy_after(&self) -> Duration {
        Duration::from_secs(self.replication_unhealthy_secs.max(1))
    }
}

/// The replica URL of database `name` under `base`: `NAME` appended to the URL's path,
/// before its query.
pub fn database_url(base: &str, name: &str) -> String {
    let (location, query) = match base.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (base, None),
    };
    let mut url = format!("{}/{name}", location.trim_end_matches('/'));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_replicates_under_the_base_path() {
        assert_eq!(
            database_url("s3://b/p?endpoint=http://h:1&region=r", "orders"),
            "s3://b/p/orders?endpoint=http://h:1&region=r"
        );
        assert_eq!(database_url("s3://b/", "x"), "s3://b/x");
        assert_eq!(database_url("file:///var/r", "x"), "file:///var/r/x");
    }

    #[test]
    fn overrides_name_their_database() {
        assert_eq!(parse_override("a=sync").unwrap(), ("a".into(), Mode::Sync));
        assert!(parse_override("a=later").is_err());
        assert!(parse_override("a").is_err());
    }
}
