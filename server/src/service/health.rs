//! Standard gRPC health checking: the overall server (`""`), the Database service, and one
//! entry per open database (`sqlited.v1.Database/<name>`), SERVING while up and NOT_SERVING
//! once the server starts draining.
//!
//! The server-wide entries answer anyone, token or not: orchestrators probe them. With auth
//! on, a per-database entry would tell anyone which databases exist (SERVING for an open one,
//! NOT_FOUND for the rest), so [`HealthGate`] answers it only to a token: without one it is
//! UNAUTHENTICATED, and to a token with no role on that database it answers exactly as for a
//! database that does not exist.

use std::sync::Arc;

use sqlited_proto::v1::database_server::DatabaseServer;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::Health as HealthRpc;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService, WatchStream};

use super::context::{Context, tag};
use super::database::DatabaseService;
use crate::auth::Principal;
use crate::engine::Engine;
use crate::error::Error;

/// The health entry of database `name`.
pub fn database_entry(name: &str) -> String {
    format!("{}/{name}", DatabaseServer::<DatabaseService>::NAME)
}

/// Keeps the health entries in step with the engine.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    engine: Arc<Engine>,
    /// Raised once the server drains: nothing turns an entry SERVING again.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Health {
    /// Marks the server serving, and each database serving as it opens.
    pub async fn start(reporter: HealthReporter, engine: Arc<Engine>) -> Self {
        reporter
            .set_serving::<DatabaseServer<DatabaseService>>()
            .await;
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        let mut opened = engine.subscribe_opened();
        let follower = reporter.clone();
        tokio::spawn(async move {
            while let Ok(name) = opened.recv().await {
                follower
                    .set_service_status(database_entry(&name), ServingStatus::Serving)
                    .await;
            }
        });
        // A dropped database has no entry any more: NOT_FOUND, as for one never opened.
        let mut dropped = engine.subscribe_dropped();
        let mut follower = reporter.clone();
        tokio::spawn(async move {
            while let Ok(name) = dropped.recv().await {
                follower.clear_service_status(&database_entry(&name)).await;
            }
        });
        Self {
            reporter,
            engine,
            draining: Arc::default(),
        }
    }

    /// Keeps each replicated database's entry NOT_SERVING while its replication has been
    /// failing (or lagging) for longer than `--replication-unhealthy-secs`, checked every
    /// second, SERVING again once it keeps up.
    pub fn follow_replication(
        &self,
        replication: std::sync::Weak<crate::replication::Replication>,
    ) {
        let health = self.clone();
        tokio::spawn(async move {
            let mut unhealthy = std::collections::HashSet::new();
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(replication) = replication.upgrade() else {
                    return;
                };
                if health.draining.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let now = replication.health();
                // A database closed or dropped meanwhile starts afresh when it opens again.
                unhealthy.retain(|name: &String| now.iter().any(|(open, _)| open == name));
                for (name, healthy) in now {
                    let status = if healthy {
                        if !unhealthy.remove(&name) {
                            continue;
                        }
                        tracing::info!(database = %name, "replication keeps up again: SERVING");
                        ServingStatus::Serving
                    } else {
                        if !unhealthy.insert(name.clone()) {
                            continue;
                        }
                        tracing::error!(database = %name, "replication has been failing past --replication-unhealthy-secs: NOT_SERVING");
                        ServingStatus::NotServing
                    };
                    health
                        .reporter
                        .set_service_status(database_entry(&name), status)
                        .await;
                }
            }
        });
    }

    /// Marks everything NOT_SERVING: the server is draining.
    pub async fn draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.reporter
            .set_not_serving::<DatabaseServer<DatabaseService>>()
            .await;
        self.reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in self.engine.open_databases() {
            self.reporter
                .set_service_status(database_entry(&name), ServingStatus::NotServing)
                .await;
        }
    }
}

/// The `grpc.health.v1.Health` service clients reach: tonic-health's, with the per-database
/// entries kept from callers who hold no role on the database (auth on).
pub struct HealthGate {
    inner: HealthService,
    /// Whether auth is on (`--credentials`); off, every entry answers everyone.
    auth: bool,
}

impl HealthGate {
    /// The service answering from `reporter`'s entries.
    pub fn new(reporter: &HealthReporter, auth: bool) -> Self {
        Self {
            inner: HealthService::from_health_reporter(reporter.clone()),
            auth,
        }
    }

    /// The request to answer: a per-database entry the caller may not see becomes one that
    /// is never registered, so it is answered exactly as an unknown database would be.
    fn screen(
        &self,
        mut request: Request<HealthCheckRequest>,
    ) -> Result<Request<HealthCheckRequest>, Status> {
        if !self.auth {
            return Ok(request);
        }
        let entry = database_entry("");
        let Some(database) = request.get_ref().service.strip_prefix(&entry) else {
            return Ok(request);
        };
        let Some(principal) = request.extensions().get::<Arc<Principal>>() else {
            return Err(Error::Unauthenticated(
                "the health of a single database is answered only to a token with a role on it \
                 (send `authorization: Bearer <token>`, e.g. sqlited healthcheck --token); the \
                 server-wide entry \"\" needs none"
                    .into(),
            )
            .into());
        };
        if principal.access_to(database).is_none() {
            request.get_mut().service = entry;
        }
        Ok(request)
    }
}

#[tonic::async_trait]
impl HealthRpc for HealthGate {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let ctx = Context::new(&request, None);
        let answer = match self.screen(request) {
            Ok(request) => self.inner.check(request).await,
            Err(status) => Err(status),
        };
        tagged(ctx, answer)
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let ctx = Context::new(&request, None);
        let answer = match self.screen(request) {
            Ok(request) => self.inner.watch(request).await,
            Err(status) => Err(status),
        };
        tagged(ctx, answer)
    }
}

/// tonic-health's answer with the request id, as every other RPC's: on the response, or on
/// the status of a refusal.
fn tagged<T>(ctx: Context, answer: Result<Response<T>, Status>) -> Result<Response<T>, Status> {
    ctx.guard.disarm();
    match answer {
        Ok(response) => Ok(tag(response, &ctx.request_id)),
        Err(mut status) => {
            if let Ok(value) = ctx.request_id.parse() {
                status.metadata_mut().insert("x-request-id", value);
            }
            Err(status)
        }
    }
}
