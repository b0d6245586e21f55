//! Per-request context: the deadline (the call's `grpc-timeout`, bounded by the server's
//! statement timeout) and the cancel token that carries it to the worker.

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::MetadataMap;

use crate::worker::cancel::{CancelOnDrop, CancelToken};

/// What a handler gives the engine to stop its work.
pub struct Context {
    /// Stops the request's statement at its deadline, or when the client goes away.
    pub cancel: Arc<CancelToken>,
    /// Cancels the token if the handler is dropped before it finishes.
    pub guard: CancelOnDrop,
}

impl Context {
    /// The context of a request with `metadata`, under the server's `statement_timeout`.
    pub fn new(metadata: &MetadataMap, statement_timeout: Option<Duration>) -> Self {
        let call = grpc_timeout(metadata);
        let timeout = match (call.map(stop_before), statement_timeout) {
            (Some(call), Some(server)) => Some(call.min(server)),
            (call, server) => call.or(server),
        };
        let answer_within = call.map(|c| c.saturating_sub(Duration::from_millis(1)));
        let cancel = CancelToken::new(timeout, answer_within);
        let guard = CancelOnDrop::new(&cancel);
        Self { cancel, guard }
    }
}

/// tonic answers CANCELLED by itself when a call's `grpc-timeout` runs out; stopping the
/// statement a little earlier lets the server answer DEADLINE_EXCEEDED with what really
/// happened.
fn stop_before(timeout: Duration) -> Duration {
    let margin = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    timeout.saturating_sub(margin)
}

/// The `grpc-timeout` of a call: digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(value)
}

fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }
}
