//! The deadline headers of a request, read by the services and by `connections` (which
//! bounds a body by its request's deadline): gRPC's `grpc-timeout` and the gateway's
//! `x-request-timeout-ms`. A leaf: it imports nothing of the crate.

use std::time::Duration;

/// The HTTP gateway's deadline header: milliseconds.
pub const TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// A `grpc-timeout` value (1 to 8 digits and a unit, `H M S m u n`), as a duration.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
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
