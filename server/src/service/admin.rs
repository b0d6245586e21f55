//! `sqlited.v1.Admin`: the databases and their sizes, maintenance, and online backups.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use sqlited_proto::v1::admin_server::Admin;
use sqlited_proto::v1::{
    BackupChunk, BackupRequest, CheckpointRequest, CheckpointResponse, CreateDatabaseRequest,
    CreateDatabaseResponse, DatabaseInfo, DropDatabaseRequest, DropDatabaseResponse,
    ListDatabasesRequest, ListDatabasesResponse, OptimizeRequest, OptimizeResponse,
    ReplicationStatus, VacuumRequest, VacuumResponse,
};
use tokio::io::AsyncReadExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use super::context::Context;
use super::response_stream::ResponseStream;
use crate::auth::Access;
use crate::engine::Engine;
use crate::error::Error;
use crate::worker::maintenance;

/// Bytes per backup chunk.
const CHUNK: usize = 1 << 20;

/// The `Admin` service over an [`Engine`].
pub struct AdminService {
    engine: Arc<Engine>,
    statement_timeout: Option<std::time::Duration>,
}

impl AdminService {
    /// A service over `engine`.
    pub fn new(engine: Arc<Engine>, statement_timeout: Option<std::time::Duration>) -> Self {
        Self {
            engine,
            statement_timeout,
        }
    }

    /// Runs a maintenance statement on `database`'s writer.
    async fn maintain(
        &self,
        ctx: &Context,
        database: &str,
        sql: &'static str,
    ) -> Result<Vec<i64>, Error> {
        ctx.authorize(&self.engine, database, Access::Admin, sql)?;
        let db = self.engine.database(database, &ctx.cancel).await?;
        db.maintenance(sql, &ctx.cancel).await
    }

    /// The checkpoint Checkpoint and Vacuum run: TRUNCATE, or PASSIVE under Litestream (a
    /// TRUNCATE waits the busy timeout on its read transaction, stalling every write).
    fn checkpoint(&self) -> &'static str {
        if self.engine.replication().is_some() {
            maintenance::CHECKPOINT_PASSIVE
        } else {
            maintenance::CHECKPOINT
        }
    }

    /// The replication status ListDatabases reports for an open database.
    fn replication_status(&self, name: &str) -> Option<ReplicationStatus> {
        let status = self.engine.replication()?.status(name)?;
        let since_epoch = |t: std::time::SystemTime| {
            t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        };
        Some(ReplicationStatus {
            synchronous: status.mode == Some(crate::replication::Mode::Sync),
            registered: status.registered,
            replica_txid: status.replica_txid,
            local_txid: status.local_txid,
            lag_ms: status.lag.as_millis() as u64,
            lag_writes: status.lag_writes,
            last_sync_unix_ms: status.last_sync.map_or(0, since_epoch),
            sync_failures: status.sync_failures,
            error: status
                .failing
                .map(|error| crate::error::without_paths(&error).into_owned())
                .unwrap_or_default(),
            failing_ms: status.failing_for.as_millis() as u64,
            lag_frames: status.lag_frames,
            generation: status.generation.as_ref().map_or(0, |(number, _)| *number),
            replica_url: status.generation.map(|(_, url)| url).unwrap_or_default(),
            sync_waits: status.sync_waits,
            sync_wait_mean_ms: status.sync_wait_mean.as_secs_f64() * 1e3,
            sync_wait_max_ms: status.sync_wait_max.as_secs_f64() * 1e3,
        })
    }
}

/// Deletes a backup's temporary file when the backup ends, however it ends.
struct TempFile(PathBuf);

impl TempFile {
    /// A new, empty file for a snapshot of `database` in `dir`. The server names it (a
    /// counter and 64 random bits), never the client: two backups that sent the same
    /// `x-request-id` once shared a name, and one's clean-up deleted the other's snapshot.
    /// `create_new` makes sure no two backups ever write to, or delete, one file; `VACUUM
    /// INTO` accepts the empty file.
    async fn create(dir: &Path, database: &str) -> Result<Self, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut last = None;
        for _ in 0..3 {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|err| {
                Error::Internal(format!("no randomness for a backup's file name: {err}"))
            })?;
            let path = dir.join(format!(
                ".backup-{database}-{}-{:016x}.db",
                NEXT.fetch_add(1, Ordering::Relaxed),
                u64::from_le_bytes(random)
            ));
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(_) => return Ok(Self(path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last = Some(err),
                Err(err) => {
                    last = Some(err);
                    break;
                }
            }
        }
        let why = last.map_or_else(String::new, |err| err.to_string());
        tracing::error!(data_dir = %dir.display(), error = %why, "cannot create a backup's temporary file");
        Err(Error::Internal(format!(
            "cannot create a temporary file for the backup in the data directory: {why}"
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_database(
        &self,
        request: Request<CreateDatabaseRequest>,
    ) -> Result<Response<CreateDatabaseResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let CreateDatabaseRequest {
            database,
            if_not_exists,
        } = request.into_inner();
        let span = info_span!("CreateDatabase", request_id = %ctx.request_id, database);
        let result = async {
            ctx.authorize(&self.engine, &database, Access::Admin, "CreateDatabase")?;
            let created = self
                .engine
                .create_database(&database, if_not_exists, &ctx.cancel)
                .await?;
            tracing::info!(created, "CreateDatabase");
            Ok(CreateDatabaseResponse { created })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn drop_database(
        &self,
        request: Request<DropDatabaseRequest>,
    ) -> Result<Response<DropDatabaseResponse>, Status> {
        // Closing waits for the statements running on the database: no deadline of ours.
        let ctx = Context::new(&request, None);
        let DropDatabaseRequest {
            database,
            if_exists,
        } = request.into_inner();
        let span = info_span!("DropDatabase", request_id = %ctx.request_id, database);
        let result = async {
            ctx.authorize(&self.engine, &database, Access::Admin, "DropDatabase")?;
            let dropped = self
                .engine
                .drop_database(&database, if_exists, &ctx.cancel)
                .await?;
            tracing::info!(dropped, "DropDatabase");
            Ok(DropDatabaseResponse { dropped })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn list_databases(
        &self,
        request: Request<ListDatabasesRequest>,
    ) -> Result<Response<ListDatabasesResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let span = info_span!("ListDatabases", request_id = %ctx.request_id);
        // With auth, a token sees the databases it holds a role on.
        let visible = |name: &str| {
            ctx.principal
                .as_ref()
                .is_none_or(|p| p.access_to(name).is_some())
        };
        let result = self.engine.list_databases().map(|files| {
            let databases = files
                .into_iter()
                .filter(|file| visible(&file.name))
                .map(|file| DatabaseInfo {
                    replication: self.replication_status(&file.name),
                    name: file.name,
                    file_bytes: file.file_bytes,
                    wal_bytes: file.wal_bytes,
                    open: file.open,
                })
                .collect();
            ListDatabasesResponse { databases }
        });
        ctx.unary(&span, result, |r| r.databases.len() as u64)
    }

    async fn checkpoint(
        &self,
        request: Request<CheckpointRequest>,
    ) -> Result<Response<CheckpointResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let database = &request.get_ref().database;
        let span = info_span!("Checkpoint", request_id = %ctx.request_id, database);
        let result = self
            .maintain(&ctx, database, self.checkpoint())
            .instrument(span.clone())
            .await
            .map(|row| {
                // wal_checkpoint answers (busy, frames in the WAL, frames checkpointed).
                let frames = |i: usize| row.get(i).copied().unwrap_or_default();
                CheckpointResponse {
                    wal_frames: frames(1),
                    checkpointed_frames: frames(2),
                }
            });
        ctx.unary(&span, result, |_| 0)
    }

    async fn optimize(
        &self,
        request: Request<OptimizeRequest>,
    ) -> Result<Response<OptimizeResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let database = &request.get_ref().database;
        let span = info_span!("Optimize", request_id = %ctx.request_id, database);
        let result = self
            .maintain(&ctx, database, maintenance::OPTIMIZE)
            .instrument(span.clone())
            .await
            .map(|_| OptimizeResponse {});
        ctx.unary(&span, result, |_| 0)
    }

    async fn vacuum(
        &self,
        request: Request<VacuumRequest>,
    ) -> Result<Response<VacuumResponse>, Status> {
        // VACUUM may take long: only the call's own deadline bounds it.
        let ctx = Context::new(&request, None);
        let database = &request.get_ref().database;
        let span = info_span!("Vacuum", request_id = %ctx.request_id, database);
        let size = |engine: &Engine| {
            engine
                .list_databases()
                .ok()
                .and_then(|dbs| dbs.into_iter().find(|d| d.name == *database))
                .map_or(0, |d| d.file_bytes)
        };
        let result = async {
            let bytes_before = size(&self.engine);
            self.maintain(&ctx, database, maintenance::VACUUM).await?;
            // In WAL mode the rebuilt pages sit in the WAL until a checkpoint moves them home
            // (under Litestream a PASSIVE one: the WAL is not truncated, Litestream's own
            // checkpoints finish the work once it has copied the pages).
            self.maintain(&ctx, database, self.checkpoint()).await?;
            Ok(VacuumResponse {
                bytes_before,
                bytes_after: size(&self.engine),
            })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    type BackupStream = ResponseStream<ReceiverStream<Result<BackupChunk, Error>>, BackupChunk>;

    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let ctx = Context::new(&request, None);
        let database = request.into_inner().database;
        let span = info_span!("Backup", request_id = %ctx.request_id, database);
        let result = async {
            ctx.authorize(&self.engine, &database, Access::Admin, "Backup")?;
            let db = self.engine.database(&database, &ctx.cancel).await?;
            let temp = TempFile::create(self.engine.data_dir(), &database).await?;
            let started = std::time::Instant::now();
            let total = db.snapshot(temp.0.clone(), &ctx.cancel).await?;
            tracing::info!(
                bytes = total,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "backup snapshot taken; streaming it"
            );
            let file = tokio::fs::File::open(&temp.0)
                .await
                .map_err(|err| Error::Internal(format!("cannot open the snapshot: {err}")))?;
            let (sender, receiver) = tokio::sync::mpsc::channel(2);
            tokio::spawn(send_snapshot(temp, file, sender));
            Ok(ReceiverStream::new(receiver))
        }
        .instrument(span.clone())
        .await;
        // The chunks of a backup count as no rows.
        ctx.stream(span, result, |_| 0)
    }
}

/// Streams the snapshot `file` in chunks, the last with the SHA-256 of the whole; the
/// temporary file goes when it is sent, or when the client stops reading.
async fn send_snapshot(
    temp: TempFile,
    mut file: tokio::fs::File,
    sender: tokio::sync::mpsc::Sender<Result<BackupChunk, Error>>,
) {
    let _temp = temp;
    let mut hasher = Sha256::new();
    let mut sent = 0u64;
    loop {
        let mut data = vec![0; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match file.read(&mut data[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) => {
                    let err = Error::Internal(format!("reading the snapshot failed: {err}"));
                    let _ = sender.send(Err(err)).await;
                    return;
                }
            }
        }
        data.truncate(filled);
        hasher.update(&data);
        sent += filled as u64;
        let last = filled < CHUNK;
        let chunk = BackupChunk {
            data,
            sha256: if last {
                format!("{:x}", hasher.clone().finalize())
            } else {
                String::new()
            },
            total_bytes: if last { sent } else { 0 },
        };
        if sender.send(Ok(chunk)).await.is_err() || last {
            break;
        }
    }
}
