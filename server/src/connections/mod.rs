//! Client connections, from accept to close, on the gRPC port and the HTTP gateway's alike.
//! Every connection-level resource is bounded in time and per client: a new connection has
//! `--handshake-timeout-ms` for its TLS handshake and HTTP/2 preface, an HTTP/1 request
//! `--header-read-timeout-ms` for its headers, an HTTP/2 connection answers a PING within
//! `--keepalive-timeout-ms`, and a connection with no request in flight for
//! `--idle-timeout-ms` is closed (GOAWAY). A request's body has `--body-read-timeout-ms` to
//! arrive, and bodies buffered are bounded in bytes per connection and per process. One client (an IP address over TCP, a user id over
//! a Unix socket) holds at most `--max-connections-per-client`; past it, its connection idle
//! the longest is closed to make room, and the new one is refused only when all are busy.
//!
//! tonic's and axum's own serving loops can close a connection only when the whole server
//! stops, so both ports are served here, with hyper, over the same services.
//!
//! Layout:
//! - [`settings`]: the flags, as [`Limits`].
//! - [`clients`]: connections per client, and the cap that evicts idle ones first.
//! - [`accept`]: accepting, and backing off while accepts fail (out of file descriptors).
//! - [`activity`]: the requests in flight on one connection (busy or idle since when), kept
//!   by a tower layer around the connection's service.
//! - [`bodies`]: each request's body bounded in time (`--body-read-timeout-ms`) and charged
//!   to the byte budgets; a body waiting on its client leaves its connection idle.
//! - [`budget`]: bytes of request bodies per connection and per process.
//! - [`framing`]: HTTP/1 request framing followed below hyper, to refuse requests whose
//!   length a proxy could read differently (request smuggling).
//! - [`singletons`]: headers a request may give only once, on both ports.
//! - [`io`]: an accepted stream of either kind, with or without TLS, and bytes read ahead.
//! - [`tls`]: the TLS acceptor from `--tls-cert`, `--tls-key` and `--tls-client-ca`.
//! - [`serve`]: the accept loop and each connection's task.

mod accept;
mod activity;
mod bodies;
mod budget;
mod clients;
mod framing;
mod io;
mod serve;
pub mod settings;
pub(crate) mod singletons;
pub(crate) mod tls;

pub(crate) use activity::Quiet;
pub(crate) use bodies::{Bounded, refusal};
pub(crate) use framing::Ambiguous;
pub(crate) use serve::{Protocol, serve};
pub use settings::{ConnectionArgs, Limits};
