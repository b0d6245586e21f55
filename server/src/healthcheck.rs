//! `sqlited healthcheck`: asks a running server over gRPC health checking whether it serves,
//! for container health checks and scripts.

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Checks `service` ("" for the whole server) at `addr`; `Ok(true)` when it is SERVING.
///
/// # Errors
/// A message saying why the server could not be asked.
pub async fn check(addr: &str, service: &str, timeout: Duration) -> Result<bool, String> {
    let ask = async {
        let channel = tonic::transport::Endpoint::from_shared(addr.to_string())
            .map_err(|err| format!("invalid address {addr:?}: {err}"))?
            .connect()
            .await
            .map_err(|err| format!("cannot reach {addr}: {err}"))?;
        let mut client = HealthClient::new(channel);
        let response = client
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map_err(|status| {
                format!("{addr} answered {:?}: {}", status.code(), status.message())
            })?;
        let status = response.into_inner().status;
        println!(
            "{}",
            ServingStatus::try_from(status)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN")
        );
        Ok(status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| format!("{addr} did not answer within {} ms", timeout.as_millis()))?
}
