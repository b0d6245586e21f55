//! The operator's handle: databases and sizes, checkpoint, optimize, vacuum, and backups
//! verified against their checksum.

use crate::transport::Transport;
use sha2::{Digest, Sha256};
use sqlited_proto::v1::admin_client::AdminClient;
use sqlited_proto::v1::{
    BackupRequest, CheckpointRequest, CreateDatabaseRequest, DropDatabaseRequest,
    ListDatabasesRequest, OptimizeRequest, VacuumRequest,
};

pub use sqlited_proto::v1::DatabaseInfo;

use crate::error::{Error, ErrorKind, Result};

/// The `Admin` service of a server, from [`Client::admin`](crate::Client::admin).
#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) rpc: AdminClient<Transport>,
}

impl Admin {
    /// Every database of the server's data directory, with its file sizes.
    pub async fn list_databases(&self) -> Result<Vec<DatabaseInfo>> {
        let response = self
            .rpc
            .clone()
            .list_databases(ListDatabasesRequest {})
            .await?;
        Ok(response.into_inner().databases)
    }

    /// Creates the empty database `database`, even on a server run with `--no-create`;
    /// returns whether it was created (false: it existed and `if_not_exists`).
    ///
    /// # Errors
    /// `IntegrityError` (ALREADY_EXISTS) when it exists and not `if_not_exists`.
    pub async fn create_database(&self, database: &str, if_not_exists: bool) -> Result<bool> {
        let request = CreateDatabaseRequest {
            database: database.into(),
            if_not_exists,
        };
        let response = self.rpc.clone().create_database(request).await?;
        Ok(response.into_inner().created)
    }

    /// Drops `database`: rolls back its transactions, closes its connections and removes its
    /// files; returns whether it was dropped (false: it did not exist and `if_exists`).
    ///
    /// # Errors
    /// `OperationalError` (NOT_FOUND) when it does not exist and not `if_exists`.
    pub async fn drop_database(&self, database: &str, if_exists: bool) -> Result<bool> {
        let request = DropDatabaseRequest {
            database: database.into(),
            if_exists,
        };
        let response = self.rpc.clone().drop_database(request).await?;
        Ok(response.into_inner().dropped)
    }

    /// Checkpoints and truncates the WAL of `database`; returns (frames in the WAL, frames
    /// copied into the database file).
    pub async fn checkpoint(&self, database: &str) -> Result<(i64, i64)> {
        let request = CheckpointRequest {
            database: database.into(),
        };
        let response = self.rpc.clone().checkpoint(request).await?.into_inner();
        Ok((response.wal_frames, response.checkpointed_frames))
    }

    /// Runs `PRAGMA optimize` on `database`.
    pub async fn optimize(&self, database: &str) -> Result<()> {
        let request = OptimizeRequest {
            database: database.into(),
        };
        self.rpc.clone().optimize(request).await?;
        Ok(())
    }

    /// Rebuilds `database` (VACUUM); returns its file size before and after.
    pub async fn vacuum(&self, database: &str) -> Result<(u64, u64)> {
        let request = VacuumRequest {
            database: database.into(),
        };
        let response = self.rpc.clone().vacuum(request).await?.into_inner();
        Ok((response.bytes_before, response.bytes_after))
    }

    /// Writes a consistent online backup of `database` to `out` (a complete SQLite file) and
    /// checks it against the server's SHA-256; returns its size.
    ///
    /// # Errors
    /// `DataError` when the bytes received do not match the checksum (the backup is unusable).
    pub async fn backup(&self, database: &str, out: &mut impl std::io::Write) -> Result<u64> {
        let request = BackupRequest {
            database: database.into(),
        };
        let mut stream = self.rpc.clone().backup(request).await?.into_inner();
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = stream.message().await? {
            hasher.update(&chunk.data);
            out.write_all(&chunk.data).map_err(|err| {
                Error::new(
                    ErrorKind::Interface,
                    format!("cannot write the backup: {err}"),
                )
            })?;
            written += chunk.data.len() as u64;
            if !chunk.sha256.is_empty() {
                let got = format!("{:x}", hasher.finalize());
                if got != chunk.sha256 || written != chunk.total_bytes {
                    return Err(Error::new(
                        ErrorKind::Data,
                        format!(
                            "the backup is corrupt: {written} bytes with SHA-256 {got}, the server \
                             sent {} bytes with {}",
                            chunk.total_bytes, chunk.sha256
                        ),
                    ));
                }
                out.flush().map_err(|err| {
                    Error::new(
                        ErrorKind::Interface,
                        format!("cannot write the backup: {err}"),
                    )
                })?;
                return Ok(written);
            }
        }
        Err(Error::new(
            ErrorKind::Operational,
            "the backup stream ended before its checksum; the backup is incomplete",
        ))
    }
}
