//! Who may do what: bearer tokens from a credentials file, each with a role per database.
//!
//! Auth is on whenever `--credentials` names a file. Every request but health checks must
//! carry `authorization: Bearer <token>`; [`layer`] turns a missing or unknown token into
//! UNAUTHENTICATED before any service sees the request, and hands the services the
//! [`Principal`] it stands for. Each service then asks the principal for the [`Access`] the
//! RPC needs on its database (PERMISSION_DENIED when it falls short), and the access travels
//! with the request down to SQLite's authorizer, which enforces it on every statement.
//!
//! Layout:
//! - [`access`]: `Access` (read, write, admin) and what each allows.
//! - [`credentials`]: the TOML credentials file, its validation and lookup by token.
//! - [`token`]: making tokens and hashing them (`sqlited token`).
//! - [`layer`]: the tower layer that authenticates every request, and rate limits per token.

pub mod access;
pub mod credentials;
pub mod layer;
pub mod token;

pub use access::{Access, Principal};
pub use credentials::{Credentials, CredentialsStore};
