//! Accepting a connection, and what to do when accepting fails. A port out of file
//! descriptors (EMFILE, ENFILE) or of kernel memory fails every accept at once while the
//! waiting connection stays queued, so retrying at once would spin; the loop backs off
//! instead — 10 ms, doubling to 1 s — and logs the first failure of a run and then one a
//! minute, not each retry. Connections already open keep being served meanwhile, and each
//! that closes frees a descriptor for the next accept.

use std::io;
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::server::TcpConnectInfo;

use super::clients::Peer;
use super::io::Stream;
use crate::listener::Socket;

/// The first wait after a failed accept, and the longest.
const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_secs(1);
/// While accepts keep failing, one log line per this long.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// An accepted connection: its stream, its client and its addresses.
pub struct Accepted {
    pub stream: Stream,
    pub peer: Option<Peer>,
    pub addresses: TcpConnectInfo,
}

/// The next connection of `socket`.
pub async fn accept(socket: &Socket) -> io::Result<Accepted> {
    match socket {
        Socket::Tcp(listener) => {
            let (stream, remote) = listener.accept().await?;
            if let Err(err) = stream.set_nodelay(true) {
                tracing::warn!(error = %err, "cannot set TCP_NODELAY");
            }
            let addresses = TcpConnectInfo {
                local_addr: stream.local_addr().ok(),
                remote_addr: Some(remote),
            };
            Ok(Accepted {
                stream: Stream::Tcp(stream),
                peer: Some(Peer::Ip(remote.ip())),
                addresses,
            })
        }
        Socket::Unix(listener) => {
            let (stream, _) = listener.accept().await?;
            let peer = stream.peer_cred().ok().map(|c| Peer::Uid(c.uid()));
            let addresses = TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            };
            Ok(Accepted {
                stream: Stream::Unix(stream),
                peer,
                addresses,
            })
        }
    }
}

/// The accept loop's state across failures.
#[derive(Debug, Default)]
pub struct Backoff {
    /// Failures since the last accepted connection.
    failures: u64,
    wait: Duration,
    logged: Option<Instant>,
}

impl Backoff {
    /// A connection was accepted: the run of failures, if any, is over.
    pub fn accepted(&mut self) {
        if self.failures > 0 && self.logged.is_some() {
            tracing::info!(
                failures = self.failures,
                "accepting connections again after failed accepts"
            );
        }
        *self = Self::default();
    }

    /// Accepting failed with `err`: waits before the next try (nothing for a client that
    /// gave up before it was accepted).
    pub async fn failed(&mut self, err: &io::Error) {
        if let Some(wait) = self.note(err, Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts a failure at `now`, logging it if the last line is old; the wait.
    fn note(&mut self, err: &io::Error, now: Instant) -> Option<Duration> {
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        ) {
            return None;
        }
        let wait = self.next_wait();
        if self.logged.is_none_or(|at| now >= at + LOG_EVERY) {
            let descriptors = matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
            tracing::warn!(
                error = %err,
                failures = self.failures,
                "cannot accept connections{}; retrying with backoff (up to {LONGEST_WAIT:?}) \
                 while open ones are served",
                if descriptors {
                    ": out of file descriptors (raise `ulimit -n`, or lower \
                     --max-connections-per-client)"
                } else {
                    ""
                }
            );
            self.logged = Some(now);
        }
        Some(wait)
    }

    /// Counts a failure; the wait before the next accept.
    fn next_wait(&mut self) -> Duration {
        self.failures += 1;
        self.wait = if self.wait.is_zero() {
            FIRST_WAIT
        } else {
            (self.wait * 2).min(LONGEST_WAIT)
        };
        self.wait
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn waits_double_up_to_a_second_and_start_again_after_an_accept() {
        let mut backoff = Backoff::default();
        let waits: Vec<_> = (0..10).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.accepted();
        assert_eq!(backoff.next_wait(), FIRST_WAIT);
    }

    #[test]
    fn out_of_descriptors_is_logged_once_a_minute_and_aborts_cost_nothing() {
        let mut backoff = Backoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let start = Instant::now();
        assert_eq!(backoff.note(&emfile, start), Some(FIRST_WAIT));
        for i in 1..100 {
            backoff.note(&emfile, start + Duration::from_millis(i * 500));
            assert_eq!(
                backoff.logged,
                Some(start),
                "logged again after {i} failures"
            );
        }
        backoff.note(&emfile, start + LOG_EVERY);
        assert_eq!(backoff.logged, Some(start + LOG_EVERY));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.note(&aborted, start), None);
        assert_eq!(backoff.failures, 101);
    }
}
