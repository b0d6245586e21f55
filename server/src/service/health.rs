//! Standard gRPC health checking: the overall server (`""`), the Database service, and one
//! entry per database (`sqlited.v1.Database/<name>`), SERVING while up and NOT_SERVING
//! once the server starts draining.
//!
//! A database has an entry once it is open, and every database the statements file names
//! has one from the start: NOT_SERVING while it does not exist or its exposed statements do
//! not check out against it yet (the file's statements are not callable: a first deploy
//! before the application created the database and its tables), SERVING once they do.
//! A database whose replication has been failing is NOT_SERVING too. [`Health::update`] is
//! the one place an entry's status is decided.
//!
//! The server-wide entries answer anyone, token or not: orchestrators probe them. With auth
//! on, a per-database entry would tell anyone which databases exist (SERVING for an open one,
//! NOT_FOUND for the rest), so [`HealthGate`] answers it only to a token: without one it is
//! UNAUTHENTICATED, and to a token with no role on that database it answers exactly as for a
//! database that does not exist.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlited_proto::v1::database_server::DatabaseServer;
use tokio::sync::broadcast::error::RecvError;
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
use crate::statements::StatementsStore;

/// The health entry of database `name`.
pub fn database_entry(name: &str) -> String {
    format!("{}/{name}", DatabaseServer::<DatabaseService>::NAME)
}

/// Keeps the health entries in step with the engine, the statements and the replication.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    engine: Arc<Engine>,
    statements: Arc<StatementsStore>,
    /// Raised once the server drains: nothing turns an entry SERVING again.
    draining: Arc<AtomicBool>,
    /// The databases whose replication has been failing past `--replication-unhealthy-secs`.
    /// A std mutex, held for a set operation only.
    unhealthy: Arc<Mutex<HashSet<String>>>,
}

impl Health {
    /// Marks the server serving, each database the statements file names as it stands, and
    /// each database serving as it opens.
    pub async fn start(
        reporter: HealthReporter,
        engine: Arc<Engine>,
        statements: Arc<StatementsStore>,
    ) -> Self {
        reporter
            .set_serving::<DatabaseServer<DatabaseService>>()
            .await;
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        let health = Self {
            reporter,
            engine,
            statements,
            draining: Arc::default(),
            unhealthy: Arc::default(),
        };
        let mut catalogs = health.statements.subscribe();
        let first = named(&catalogs.borrow_and_update());
        for name in &first {
            health.update(name).await;
        }
        // The statements file's databases: at each reload or check, those it names now and
        // those it named before.
        let follower = health.clone();
        tokio::spawn(async move {
            let mut before = first;
            while catalogs.changed().await.is_ok() {
                let now = named(&catalogs.borrow_and_update());
                for name in before.union(&now) {
                    follower.update(name).await;
                }
                before = now;
            }
        });
        // Each database as it opens, and as it is dropped (no entry any more, NOT_FOUND as
        // for one never opened, unless the statements file names it).
        for mut events in [
            health.engine.subscribe_opened(),
            health.engine.subscribe_dropped(),
        ] {
            let follower = health.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(name) => follower.update(&name).await,
                        Err(RecvError::Lagged(_)) => follower.update_all().await,
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        health
    }

    /// Sets the entry of database `name` from what holds now: NOT_SERVING while draining,
    /// while its replication fails, or while the statements file names it and it does not
    /// exist or its statements do not check out; else SERVING if it is open or named, and
    /// no entry otherwise.
    pub async fn update(&self, name: &str) {
        let entry = database_entry(name);
        let catalog = self.statements.current();
        let named = catalog.databases.get(name);
        let open = self.engine.open_databases().iter().any(|o| o == name);
        let status = if self.draining.load(Ordering::Relaxed)
            || self
                .unhealthy
                .lock()
                .expect("health set poisoned")
                .contains(name)
        {
            ServingStatus::NotServing
        } else if let Some(named) = named {
            if named.unavailable.is_some() || !self.engine.exists(name) {
                ServingStatus::NotServing
            } else {
                ServingStatus::Serving
            }
        } else if open {
            ServingStatus::Serving
        } else {
            let mut reporter = self.reporter.clone();
            reporter.clear_service_status(&entry).await;
            return;
        };
        self.reporter.set_service_status(entry, status).await;
    }

    /// [`Health::update`] for every database open or named by the statements file.
    async fn update_all(&self) {
        let mut names = named(&self.statements.current());
        names.extend(self.engine.open_databases());
        for name in names {
            self.update(&name).await;
        }
    }

    /// Before a check of `service`: a database the statements file names has its entry
    /// brought up to date, its statements checked again first if they were not callable
    /// (its tables may exist now), so the answer is current.
    async fn refresh(&self, service: &str) {
        let Some(name) = service.strip_prefix(&database_entry("")) else {
            return;
        };
        let Some(unavailable) = self
            .statements
            .current()
            .databases
            .get(name)
            .map(|d| d.unavailable.is_some())
        else {
            return;
        };
        if unavailable {
            self.statements.check(name).await;
        }
        self.update(name).await;
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
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(replication) = replication.upgrade() else {
                    return;
                };
                if health.draining.load(Ordering::Relaxed) {
                    return;
                }
                let now = replication.health();
                let mut changed = Vec::new();
                {
                    let mut unhealthy = health.unhealthy.lock().expect("health set poisoned");
                    // A database closed or dropped meanwhile starts afresh when it opens again.
                    unhealthy.retain(|name: &String| now.iter().any(|(open, _)| open == name));
                    for (name, healthy) in now {
                        if healthy {
                            if unhealthy.remove(&name) {
                                tracing::info!(database = %name, "replication keeps up again: SERVING");
                                changed.push(name);
                            }
                        } else if unhealthy.insert(name.clone()) {
                            tracing::error!(database = %name, "replication is misconfigured, or has been failing past --replication-unhealthy-secs: NOT_SERVING");
                            changed.push(name);
                        }
                    }
                }
                for name in changed {
                    health.update(&name).await;
                }
            }
        });
    }

    /// Whether the server drains (shutting down): nothing is SERVING any more.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks everything NOT_SERVING: the server is draining.
    pub async fn draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.reporter
            .set_not_serving::<DatabaseServer<DatabaseService>>()
            .await;
        self.reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        self.update_all().await;
    }
}

/// The databases a catalog names.
fn named(catalog: &crate::statements::Catalog) -> BTreeSet<String> {
    catalog.databases.keys().cloned().collect()
}

/// The `grpc.health.v1.Health` service clients reach: tonic-health's, with the per-database
/// entries kept from callers who hold no role on the database (auth on).
pub struct HealthGate {
    inner: HealthService,
    /// The entries' keeper, asked to bring a database's entry up to date before a check.
    health: Health,
    /// Whether auth is on (`--credentials`); off, every entry answers everyone.
    auth: bool,
}

impl HealthGate {
    /// The service answering from the entries `health` keeps.
    pub fn new(health: &Health, auth: bool) -> Self {
        Self {
            inner: HealthService::from_health_reporter(health.reporter.clone()),
            health: health.clone(),
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
            Ok(request) => {
                self.health.refresh(&request.get_ref().service).await;
                self.inner.check(request).await
            }
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
