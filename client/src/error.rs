//! The client's one error type: opaque, with a PEP 249-shaped [`ErrorKind`] and the details
//! the server sent (SQLite result code, the field at fault, whether a retry can help).

use std::fmt;
use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt;

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SQLite's result code for a write to a read-only database.
const SQLITE_READONLY: i32 = 8;

/// The PEP 249 class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Misuse of the client itself: a bad URL, a closed connection.
    Interface,
    /// Not the SQL's fault: the server is unreachable, busy, shutting down, or a bound was
    /// reached; often worth a retry.
    Operational,
    /// A constraint refused the change (UNIQUE, NOT NULL, CHECK, FOREIGN KEY).
    Integrity,
    /// The SQL or its parameters are wrong: syntax, unknown table, parameter count.
    Programming,
    /// A value does not fit: wrong type for a STRICT column, too big, a failed conversion.
    Data,
    /// The server does not offer what was asked.
    NotSupported,
    /// A fault inside the server or the client.
    Internal,
}

impl ErrorKind {
    /// The PEP 249 class name, e.g. `IntegrityError`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Interface => "InterfaceError",
            ErrorKind::Operational => "OperationalError",
            ErrorKind::Integrity => "IntegrityError",
            ErrorKind::Programming => "ProgrammingError",
            ErrorKind::Data => "DataError",
            ErrorKind::NotSupported => "NotSupportedError",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// Whether PEP 249 files this kind under `DatabaseError` (all but `InterfaceError`).
    pub fn is_database_error(self) -> bool {
        self != ErrorKind::Interface
    }
}

/// An error from sqlited or from the client. Opaque and one pointer wide; ask it questions.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<Code>,
    reason: Option<String>,
    sqlite_code: Option<i32>,
    field: Option<String>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    /// Every field at fault, with what is wrong (BadRequest's field violations).
    violations: Vec<(String, String)>,
}

impl Error {
    /// An error of `kind` raised by the client itself.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            message: message.into(),
            status: None,
            reason: None,
            sqlite_code: None,
            field: None,
            retry_after: None,
            request_id: None,
            violations: Vec::new(),
        }))
    }

    /// SQLite's refusal of a write to a database opened read-only (`SQLITE_READONLY`),
    /// which a handle opened with `mode=ro` gives for `what` without asking the server: the
    /// requests that exist to write (batches, map writes).
    pub(crate) fn read_only(what: &str) -> Self {
        let mut err = Self::new(
            ErrorKind::Operational,
            format!(
                "attempt to write a readonly database: {what} writes, and the database was \
                 opened with mode=ro"
            ),
        );
        err.0.reason = Some("SQLITE_READONLY".into());
        err.0.sqlite_code = Some(SQLITE_READONLY);
        err
    }

    /// The error for using a closed connection.
    pub(crate) fn closed() -> Self {
        Self::new(ErrorKind::Interface, "the connection is closed")
    }

    /// The PEP 249 class.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message, as the server or client wrote it.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The gRPC status code, when the error came from a call.
    pub fn status_code(&self) -> Option<Code> {
        self.0.status
    }

    /// The server's machine-readable reason, e.g. `SQLITE_CONSTRAINT_UNIQUE`.
    pub fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// SQLite's extended result code, when SQLite raised the error.
    pub fn sqlite_code(&self) -> Option<i32> {
        self.0.sqlite_code
    }

    /// The request field at fault, e.g. `statement.params` or `statements[2].sql`.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// Every request field at fault with what is wrong there — for a `call`, one entry per
    /// argument (`args.<name>`); empty when the server named none.
    pub fn violations(&self) -> &[(String, String)] {
        &self.0.violations
    }

    /// The id the server gave the request, to find it in the server's log.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// Whether the same request may succeed if sent again later.
    pub fn is_retryable(&self) -> bool {
        self.0.retry_after.is_some()
    }

    /// How long the server suggests waiting before a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Whether the error is the use of a closed connection.
    pub fn is_closed(&self) -> bool {
        self.0.kind == ErrorKind::Interface && self.0.message == "the connection is closed"
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.kind.name(), self.0.message)?;
        if let Some(reason) = &self.0.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        // tonic's own timer for the call's deadline answers CANCELLED "Timeout expired":
        // that is a deadline exceeded, on this side of the wire.
        let status = if status.code() == Code::Cancelled && status.message() == "Timeout expired" {
            tonic::Status::deadline_exceeded(
                "the call's deadline passed before the server answered",
            )
        } else {
            status
        };
        let details = status.get_error_details();
        let info = details.error_info();
        let reason = info.map(|i| i.reason.clone());
        let sqlite_code = info
            .and_then(|i| i.metadata.get("sqlite_code"))
            .and_then(|c| c.parse().ok());
        let violations: Vec<(String, String)> = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| (v.field.clone(), v.description.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let field = violations.first().map(|(field, _)| field.clone());
        let mut retry_after = details
            .retry_info()
            .map(|r| r.retry_delay.unwrap_or_default());
        if retry_after.is_none() && info.is_none() && status.code() == Code::Unavailable {
            // Unavailable without details comes from the transport: the server is unreachable.
            retry_after = Some(Duration::from_millis(100));
        }
        let kind = kind_of(status.code(), reason.as_deref());
        let request_id = info.and_then(|i| i.metadata.get("request_id")).cloned();
        let message = match status.code() {
            Code::Unavailable | Code::Unknown => explain_tls(status.message().to_string()),
            _ => status.message().to_string(),
        };
        Self(Box::new(Inner {
            kind,
            message,
            status: Some(status.code()),
            reason,
            sqlite_code,
            field,
            retry_after,
            request_id,
            violations,
        }))
    }
}

impl From<tonic::transport::Error> for Error {
    fn from(err: tonic::transport::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Self::new(
            ErrorKind::Operational,
            format!("cannot reach the server: {}", explain_tls(message)),
        )
    }
}

/// A TLS handshake answered by a plaintext server reads as "corrupt message": say so.
fn explain_tls(message: String) -> String {
    if message.contains("corrupt message") || message.contains("InvalidContentType") {
        format!(
            "the server is not using TLS (an https:// URL met a plaintext server): use http:// \
             ({message})"
        )
    } else {
        message
    }
}

fn kind_of(code: Code, reason: Option<&str>) -> ErrorKind {
    let reason = reason.unwrap_or_default();
    match code {
        Code::InvalidArgument => match reason {
            "SQLITE_MISMATCH" | "SQLITE_TOOBIG" | "SQLITE_CONSTRAINT_DATATYPE" => ErrorKind::Data,
            _ => ErrorKind::Programming,
        },
        // A value larger than the server may build (--max-message-bytes): PEP 249's DataError,
        // as sqlite3 raises for "string or blob too big".
        Code::ResourceExhausted if reason == "SQLITE_TOOBIG" => ErrorKind::Data,
        Code::AlreadyExists => ErrorKind::Integrity,
        Code::FailedPrecondition if reason.starts_with("SQLITE_CONSTRAINT") => ErrorKind::Integrity,
        Code::OutOfRange => ErrorKind::Data,
        Code::PermissionDenied => ErrorKind::Programming,
        Code::NotFound if reason == "STATEMENT_NOT_FOUND" => ErrorKind::Programming,
        Code::Unimplemented => ErrorKind::NotSupported,
        Code::Internal | Code::Unknown | Code::DataLoss => ErrorKind::Internal,
        _ => ErrorKind::Operational,
    }
}
