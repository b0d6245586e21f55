//! How a [`Client`](crate::Client) connects: [`ClientOptions`] (limits, deadlines, the
//! token, TLS, sessions).

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// How the client connects.
#[derive(Clone)]
pub struct ClientOptions {
    /// The largest response message accepted, in bytes (the server's own bound is
    /// `--max-message-bytes`, 16 MiB by default).
    pub max_message_bytes: usize,
    /// How long establishing the connection may take.
    pub connect_timeout: Duration,
    /// The deadline of every request (sent as `grpc-timeout`; the server stops the statement
    /// and answers DEADLINE_EXCEEDED when it passes). `None`: only the server's own limit.
    pub request_timeout: Option<Duration>,
    /// The token sent as `authorization: Bearer <token>` with every request; a server run
    /// with `--credentials` needs one.
    pub token: Option<String>,
    /// For `https://` URLs: the CA (PEM) that signed the server's certificate. `None`: the
    /// system's trusted roots.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// For servers that require client certificates (mutual TLS): certificate and key, PEM.
    pub tls_identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate must carry, when not the URL's host.
    pub tls_domain: Option<String>,
    /// Send SQL requests (Execute, Query, ExecuteBatch, Begin, Commit, Rollback) as frames
    /// of one `Database.Session` stream per client, which saves an HTTP/2 stream per
    /// request and lets concurrent callers pipeline. `false`: one unary call per request.
    /// A server without sessions (UNIMPLEMENTED) gets unary calls either way.
    pub sessions: bool,
    /// The most requests a client keeps in flight on its session; callers beyond it wait
    /// their turn. The server's `--session-max-in-flight` caps it.
    pub session_depth: usize,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("max_message_bytes", &self.max_message_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca_pem", &self.tls_ca_pem.is_some())
            .field("tls_identity_pem", &self.tls_identity_pem.is_some())
            .field("tls_domain", &self.tls_domain)
            .field("sessions", &self.sessions)
            .field("session_depth", &self.session_depth)
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
            request_timeout: None,
            token: None,
            tls_ca_pem: None,
            tls_identity_pem: None,
            tls_domain: None,
            sessions: true,
            session_depth: 64,
        }
    }
}

impl ClientOptions {
    /// These options with sessions on or off (see [`ClientOptions::sessions`]).
    pub fn with_sessions(mut self, sessions: bool) -> Self {
        self.sessions = sessions;
        self
    }

    /// These options with `token` sent on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// These options trusting the CA certificate in the PEM file `path` (for `https://`).
    ///
    /// # Errors
    /// `InterfaceError` when the file cannot be read.
    pub fn with_ca_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        self.tls_ca_pem = Some(read_pem(path.as_ref(), "CA certificate")?);
        Ok(self)
    }

    /// These options presenting the client certificate and key in the PEM files given
    /// (mutual TLS).
    ///
    /// # Errors
    /// `InterfaceError` when a file cannot be read.
    pub fn with_identity_files(
        mut self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self> {
        self.tls_identity_pem = Some((
            read_pem(cert.as_ref(), "client certificate")?,
            read_pem(key.as_ref(), "client key")?,
        ));
        Ok(self)
    }
}

fn read_pem(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|err| {
        Error::new(
            ErrorKind::Interface,
            format!("cannot read the {what} {}: {err}", path.display()),
        )
    })
}
