//! The RPC ceiling: `grpc.health.v1.Health/Check` against a running sqlited. It crosses the
//! same HTTP/2 connection, tonic and sqlited's layers (observe, auth, size limits) as every
//! other call, and touches no worker and no SQLite, so a workload's rate over this one is
//! the share of the bare RPC that the SQL path keeps.

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// One health client per channel, round robin over the clients.
pub struct Ceiling(Vec<HealthClient<Channel>>);

impl Ceiling {
    /// `channels` connections to `url` (`http://HOST:PORT` or `unix:PATH`).
    pub async fn connect(url: &str, channels: usize) -> Result<Self, String> {
        let url = sqlited_client::transport::with_scheme(url).into_owned();
        let mut clients = Vec::new();
        for _ in 0..channels.max(1) {
            let channel = Endpoint::from_shared(url.clone())
                .map_err(|e| format!("{url}: {e}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            clients.push(HealthClient::new(channel));
        }
        Ok(Self(clients))
    }

    /// One Check of the whole server, from client number `client`.
    pub async fn call(&self, client: usize) -> Result<(), String> {
        let mut health = self.0[client % self.0.len()].clone();
        health
            .check(HealthCheckRequest::default())
            .await
            .map(drop)
            .map_err(|status| format!("{:?}", status.code()))
    }
}
