//! `sqlited.v1.KeyValue`: persistent maps. Reads are SQL on the readers; writes go to the
//! writer's group commit as one atomic job each.
//!
//! A map is a table, so making one is a schema change: the first write to a new map needs
//! the admin role, unless the statements file declares the map (`maps = [...]`), which lets a
//! write token create it. Reads and removals of a map that does not exist answer as for an
//! empty one and create nothing. A database that serves only exposed statements serves only
//! its declared maps.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use sqlited_proto::v1::key_value_server::KeyValue;
use sqlited_proto::v1::{
    ClearRequest, ClearResponse, ContainsRequest, ContainsResponse, DeleteManyRequest,
    DeleteManyResponse, DeleteRequest, DeleteResponse, GetRequest, GetResponse, LenRequest,
    LenResponse, MapRef, Row, ScanRequest, ScanResponse, SetManyRequest, SetManyResponse,
    SetRequest, SetResponse,
};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};
use tracing::{Instrument, Span, debug_span};

use super::context::Context;
use super::response_stream::ResponseStream;
use crate::auth::Access;
use crate::engine::{Database, Engine};
use crate::error::{Error, Result};
use crate::name;
use crate::statements::StatementsStore;
use crate::worker::kv::{KvRead, KvWrite, KvWritten, read};

/// The `KeyValue` service over an [`Engine`].
pub struct KeyValueService {
    engine: Arc<Engine>,
    /// The statements file in force: which databases are exposed-only, which maps declared.
    statements: Arc<StatementsStore>,
    statement_timeout: Option<Duration>,
}

impl KeyValueService {
    /// A service over `engine`, following the map declarations of `statements`.
    pub fn new(
        engine: Arc<Engine>,
        statements: Arc<StatementsStore>,
        statement_timeout: Option<Duration>,
    ) -> Self {
        Self {
            engine,
            statements,
            statement_timeout,
        }
    }

    /// The database and validated map name of a request, once `ctx` may do `needed` there;
    /// the flag says whether a write may create the map if it is missing.
    async fn open(
        &self,
        ctx: &Context,
        map: Option<MapRef>,
        needed: Access,
    ) -> Result<(Arc<Database>, String, bool)> {
        let map = map.ok_or_else(|| {
            Error::invalid(
                "map",
                "the request names no map; set map.database and map.map",
            )
        })?;
        name::validate_map(&map.map)?;
        let what = if needed == Access::Read {
            "reading a map"
        } else {
            "writing a map"
        };
        ctx.authorize(&self.engine, &map.database, needed, what)?;
        let catalog = self.statements.current();
        let declared = catalog.declares_map(&map.database, &map.map);
        if catalog.exposed_only(&map.database) && !declared {
            return Err(Error::PermissionDenied(format!(
                "database {:?} serves only exposed statements, and map {:?} is not one of the \
                 maps the statements file declares for it; declare it there (maps = [\"{}\"] \
                 under [databases.{}]) to serve it",
                map.database, map.map, map.map, map.database
            )));
        }
        // Authorized: the cancel token now carries the access held on the database.
        let may_create = declared || ctx.cancel.access() >= Access::Admin;
        let db = if needed == Access::Read {
            self.engine.database(&map.database, &ctx.cancel).await?
        } else {
            self.engine
                .database_to_write(&map.database, &ctx.cancel)
                .await?
        };
        Ok((db, map.map, may_create))
    }

    /// Applies the write `make(map name, may create it)` to the map of a request.
    async fn write(
        &self,
        ctx: &Context,
        map: Option<MapRef>,
        make: impl FnOnce(String, bool) -> KvWrite,
    ) -> Result<KvWritten> {
        let (db, map, may_create) = self.open(ctx, map, Access::Write).await?;
        db.kv_write(make(map, may_create), &ctx.cancel).await
    }

    /// Runs a read of a map and returns its rows; a map never written is empty.
    async fn read(&self, db: &Database, read: KvRead, ctx: &Context) -> Result<Vec<Row>> {
        let mut rows = db.kv_read(read, &ctx.cancel).await?;
        let mut all = Vec::new();
        while let Some(message) = rows.next().await {
            all.extend(message?.rows);
        }
        Ok(all)
    }
}

/// The smallest key greater than every key starting with `prefix` (None: there is none).
fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A map's entries in pages, as a Scan reads them.
type ScanEntries = Pin<Box<dyn Stream<Item = Result<ScanResponse>> + Send>>;

/// Awaits `$work` in `$span`, wrapped only when the span is logged. Wrapping moves the whole
/// future into `Instrumented` (a copy of its state, which cost a map write more than the
/// disabled span itself in #18's proof); unwrapped, it is built in place.
macro_rules! within {
    ($span:expr, $work:expr) => {
        if $span.is_disabled() {
            $work.await
        } else {
            $work.instrument($span.clone()).await
        }
    };
}

/// The span of a key-value request: its RPC, request id and map. It is at debug level: a map
/// operation is small and frequent (a `PersistentDict` assignment), and formatting an
/// info-level span's fields cost about a tenth of its server time; a failure is still logged
/// at info, with its request id.
fn span(rpc: &str, ctx: &Context, map: Option<&MapRef>) -> Span {
    let (database, map) = map.map_or(("", ""), |m| (m.database.as_str(), m.map.as_str()));
    debug_span!("KeyValue", rpc, request_id = %ctx.request_id, database, map)
}

#[tonic::async_trait]
impl KeyValue for KeyValueService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let request = request.into_inner();
        let span = span("Get", &ctx, request.map.as_ref());
        let result = async {
            let (db, map, _) = self.open(&ctx, request.map, Access::Read).await?;
            let get = KvRead::Get {
                map,
                key: request.key.clone(),
            };
            let rows = self.read(&db, get, &ctx).await?;
            Ok(match rows.first() {
                Some(row) => GetResponse {
                    found: true,
                    entry: Some(read::got(request.key, row)),
                },
                None => GetResponse::default(),
            })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn set(&self, request: Request<SetRequest>) -> Result<Response<SetResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let r = request.into_inner();
        let span = span("Set", &ctx, r.map.as_ref());
        let written = within!(
            span,
            self.write(&ctx, r.map, |map, may_create| KvWrite::Set {
                map,
                key: r.key,
                value: r.value,
                if_absent: r.if_absent,
                if_version: r.if_version,
                may_create,
            })
        );
        let result = written.map(|w| SetResponse {
            applied: w.applied,
            previous: w.previous,
            version: w.version,
        });
        ctx.unary(&span, result, |_| 0)
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let r = request.into_inner();
        let span = span("Delete", &ctx, r.map.as_ref());
        let written = within!(
            span,
            self.write(&ctx, r.map, |map, _| KvWrite::Delete { map, key: r.key })
        );
        let result = written.map(|w| DeleteResponse {
            found: w.applied,
            previous: w.previous,
        });
        ctx.unary(&span, result, |_| 0)
    }

    async fn contains(
        &self,
        request: Request<ContainsRequest>,
    ) -> Result<Response<ContainsResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let request = request.into_inner();
        let span = span("Contains", &ctx, request.map.as_ref());
        let result = async {
            let (db, map, _) = self.open(&ctx, request.map, Access::Read).await?;
            let contains = KvRead::Contains {
                map,
                key: request.key,
            };
            let rows = self.read(&db, contains, &ctx).await?;
            Ok(ContainsResponse {
                found: !rows.is_empty(),
            })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    async fn len(&self, request: Request<LenRequest>) -> Result<Response<LenResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let request = request.into_inner();
        let span = span("Len", &ctx, request.map.as_ref());
        let result = async {
            let (db, map, _) = self.open(&ctx, request.map, Access::Read).await?;
            let rows = self.read(&db, KvRead::Len { map }, &ctx).await?;
            let len = rows.first().map_or(0, read::counted);
            Ok(LenResponse { len })
        }
        .instrument(span.clone())
        .await;
        ctx.unary(&span, result, |_| 0)
    }

    type ScanStream = ResponseStream<ScanEntries, ScanResponse>;

    async fn scan(
        &self,
        request: Request<ScanRequest>,
    ) -> Result<Response<Self::ScanStream>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let request = request.into_inner();
        let span = span("Scan", &ctx, request.map.as_ref());
        let result = async {
            let (db, map, _) = self.open(&ctx, request.map, Access::Read).await?;
            let mut lower = (!request.start.is_empty())
                .then(|| (request.start.clone(), request.start_exclusive));
            let mut upper = (!request.end.is_empty()).then(|| request.end.clone());
            if !request.prefix.is_empty() {
                if lower
                    .as_ref()
                    .is_none_or(|(start, _)| *start < request.prefix)
                {
                    lower = Some((request.prefix.clone(), false));
                }
                if let Some(end) = after_prefix(&request.prefix)
                    && upper.as_ref().is_none_or(|u| end < *u)
                {
                    upper = Some(end);
                }
            }
            let scan = KvRead::Scan {
                map,
                lower,
                upper,
                limit: u64::from(request.limit),
            };
            db.kv_read(scan, &ctx.cancel).await
        }
        .instrument(span.clone())
        .await;
        let entries = result.map(|rows| -> ScanEntries {
            Box::pin(rows.map(|message| {
                message.map(|m| ScanResponse {
                    entries: m.rows.iter().map(read::scanned).collect(),
                })
            }))
        });
        ctx.stream(span, entries, |m| m.entries.len() as u64)
    }

    async fn set_many(
        &self,
        request: Request<SetManyRequest>,
    ) -> Result<Response<SetManyResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let r = request.into_inner();
        let span = span("SetMany", &ctx, r.map.as_ref());
        let (entries, return_previous) = (r.entries, r.return_previous);
        let written = within!(
            span,
            self.write(&ctx, r.map, |map, may_create| KvWrite::SetMany {
                map,
                entries,
                return_previous,
                may_create,
            })
        );
        let result = written.map(|w| SetManyResponse {
            count: w.count,
            results: w
                .results
                .into_iter()
                .map(|(previous, version)| SetResponse {
                    applied: true,
                    previous,
                    version,
                })
                .collect(),
        });
        ctx.unary(&span, result, |_| 0)
    }

    async fn delete_many(
        &self,
        request: Request<DeleteManyRequest>,
    ) -> Result<Response<DeleteManyResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let r = request.into_inner();
        let span = span("DeleteMany", &ctx, r.map.as_ref());
        let keys = r.keys;
        let written = within!(
            span,
            self.write(&ctx, r.map, |map, _| KvWrite::DeleteMany { map, keys })
        );
        let result = written.map(|w| DeleteManyResponse { removed: w.count });
        ctx.unary(&span, result, |r| r.removed)
    }

    async fn clear(
        &self,
        request: Request<ClearRequest>,
    ) -> Result<Response<ClearResponse>, Status> {
        let ctx = Context::new(&request, self.statement_timeout);
        let r = request.into_inner();
        let span = span("Clear", &ctx, r.map.as_ref());
        let written = within!(
            span,
            self.write(&ctx, r.map, |map, _| KvWrite::Clear { map })
        );
        let result = written.map(|w| ClearResponse { removed: w.count });
        ctx.unary(&span, result, |r| r.removed)
    }
}

#[cfg(test)]
mod test {
    use super::after_prefix;

    #[test]
    fn prefix_bounds() {
        assert_eq!(after_prefix(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(after_prefix(&[1, 255]), Some(vec![2]));
        assert_eq!(after_prefix(&[255, 255]), None);
    }
}
