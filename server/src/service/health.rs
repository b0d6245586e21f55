//! Standard gRPC health checking: the overall server (`""`), the Database service, and one
//! entry per open database (`sqlited.v1.Database/<name>`), SERVING while up and NOT_SERVING
//! once the server starts draining.

use std::sync::Arc;

use sqlited_proto::v1::database_server::DatabaseServer;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::database::DatabaseService;
use crate::engine::Engine;

/// The health entry of database `name`.
pub fn database_entry(name: &str) -> String {
    format!("{}/{name}", DatabaseServer::<DatabaseService>::NAME)
}

/// Keeps the health entries in step with the engine.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    engine: Arc<Engine>,
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
        Self { reporter, engine }
    }

    /// Marks everything NOT_SERVING: the server is draining.
    pub async fn draining(&self) {
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
