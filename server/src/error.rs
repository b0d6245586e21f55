//! The one error type of the server, and its mapping to `tonic::Status` with the standard
//! rich error model (ErrorInfo, BadRequest, RetryInfo). No status names a path of the
//! server: whatever an error's message says (SQLite's own "unable to open database file:
//! PATH" included), the data directory's path is taken out of it on the way to the client
//! ([`hide_path`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::sql::codes;

/// The `domain` of every ErrorInfo the server sends.
pub const ERROR_DOMAIN: &str = "sqlited";

/// How long a client should wait before retrying a request refused for load.
const RETRY_AFTER: Duration = Duration::from_millis(50);

/// `Result` with the server's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong serving a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A request field is missing or malformed; `field` is its path in the request.
    #[error("{message}")]
    InvalidArgument {
        /// Path of the field at fault, e.g. `statement.params[2]`.
        field: String,
        /// What is wrong and what to send instead.
        message: String,
    },

    /// The named database does not exist, and this request does not create it; the message
    /// says what would ([`Error::database_not_found`]).
    #[error("{0}")]
    DatabaseNotFound(String),

    /// What the request would create exists already.
    #[error("{0}")]
    AlreadyExists(String),

    /// SQLite refused or failed the statement.
    #[error("{message}")]
    Sqlite {
        /// SQLite's extended result code.
        code: i32,
        /// SQLite's message, sometimes with our advice appended.
        message: String,
        /// The request field the statement came from, when there are several.
        field: Option<String>,
    },

    /// A bound was reached; the request may succeed later or with smaller input.
    #[error("{message}")]
    ResourceExhausted {
        /// Which bound, and the flag that sets it.
        message: String,
        /// Whether the same request may succeed later (load) or never will (size).
        retryable: bool,
    },

    /// The server cannot serve the request now (worker gone, shutting down).
    #[error("{0}")]
    Unavailable(String),

    /// The server cannot serve the request for a while it knows: no worker of the kind the
    /// request needs can start before its restart backoff ends. UNAVAILABLE, with that wait
    /// as the RetryInfo delay (never shorter than the usual one).
    #[error("{message}")]
    UnavailableFor {
        /// Why, and when the server tries again.
        message: String,
        /// How long until a worker may start.
        retry_after: Duration,
    },

    /// The request ran past its deadline and was stopped.
    #[error("{0}")]
    DeadlineExceeded(String),

    /// The client went away; the request was stopped.
    #[error("{0}")]
    Cancelled(String),

    /// No transaction has this id.
    #[error(
        "no open transaction {id:?} on this server: it never existed, or it ended and was forgotten; begin a new one"
    )]
    NoSuchTransaction {
        /// The id asked for.
        id: String,
    },

    /// The transaction ended; `aborted` when the server or SQLite ended it rather than the
    /// client (lease expired, rolled back by an error).
    #[error("{message}")]
    TransactionEnded {
        /// How it ended and what to do.
        message: String,
        /// Whether it was ended for the client (ABORTED) rather than by it (FAILED_PRECONDITION).
        aborted: bool,
    },

    /// Several request fields are wrong at once (the arguments of a Call): every one of them
    /// is reported, as `(field, what is wrong)`.
    #[error("{message}")]
    Violations {
        /// A summary naming how many and which.
        message: String,
        violations: Vec<(String, String)>,
    },

    /// No exposed statement has this name.
    #[error("{0}")]
    StatementNotFound(String),

    /// The request cannot be served in the server's present state (nothing to reload, a
    /// reload refused).
    #[error("{0}")]
    FailedPrecondition(String),

    /// The request carries no valid token (auth is on).
    #[error("{0}")]
    Unauthenticated(String),

    /// The token's role does not allow this, or the SQL sandbox forbids it.
    #[error("{0}")]
    PermissionDenied(String),

    /// A fault of the server, not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Places this error in the request field `prefix` (e.g. `statements[3]`), so a client
    /// of a batch learns which statement failed.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::InvalidArgument { field, message } => Self::InvalidArgument {
                field: join_field(prefix, &field),
                message: format!("{prefix}: {message}"),
            },
            Self::Sqlite {
                code,
                message,
                field,
            } => Self::Sqlite {
                code,
                message: format!("{prefix}: {message}"),
                field: Some(join_field(prefix, field.as_deref().unwrap_or(""))),
            },
            other => other,
        }
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        self.class().0
    }

    /// The `ErrorInfo` reason: SQLite's code name for a SQLite error, else the kind's own.
    pub fn reason(&self) -> Cow<'static, str> {
        self.class().1
    }

    /// The one classification table: each kind's gRPC code and reason.
    fn class(&self) -> (Code, Cow<'static, str>) {
        let (code, reason) = match self {
            Self::Sqlite { code, .. } => {
                return (codes::grpc_code(*code), codes::name(*code).into());
            }
            Self::InvalidArgument { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT"),
            Self::Violations { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT"),
            Self::DatabaseNotFound(_) => (Code::NotFound, "DATABASE_NOT_FOUND"),
            Self::NoSuchTransaction { .. } => (Code::NotFound, "TRANSACTION_NOT_FOUND"),
            Self::StatementNotFound(_) => (Code::NotFound, "STATEMENT_NOT_FOUND"),
            Self::AlreadyExists(_) => (Code::AlreadyExists, "ALREADY_EXISTS"),
            Self::ResourceExhausted { .. } => (Code::ResourceExhausted, "LIMIT_EXCEEDED"),
            Self::Unavailable(_) | Self::UnavailableFor { .. } => {
                (Code::Unavailable, "UNAVAILABLE")
            }
            Self::DeadlineExceeded(_) => (Code::DeadlineExceeded, "DEADLINE_EXCEEDED"),
            Self::Cancelled(_) => (Code::Cancelled, "CANCELLED"),
            Self::TransactionEnded { aborted: true, .. } => (Code::Aborted, "TRANSACTION_ABORTED"),
            Self::TransactionEnded { aborted: false, .. } => {
                (Code::FailedPrecondition, "TRANSACTION_ENDED")
            }
            Self::FailedPrecondition(_) => (Code::FailedPrecondition, "FAILED_PRECONDITION"),
            Self::Unauthenticated(_) => (Code::Unauthenticated, "UNAUTHENTICATED"),
            Self::PermissionDenied(_) => (Code::PermissionDenied, "PERMISSION_DENIED"),
            Self::Internal(_) => (Code::Internal, "INTERNAL"),
        };
        (code, reason.into())
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Sqlite { code, .. } if codes::is_transient(*code) => Some(RETRY_AFTER),
            Self::ResourceExhausted {
                retryable: true, ..
            }
            | Self::Unavailable(_) => Some(RETRY_AFTER),
            Self::UnavailableFor { retry_after, .. } => Some((*retry_after).max(RETRY_AFTER)),
            _ => None,
        }
    }
}

impl Error {
    /// [`Error::DatabaseNotFound`] for a request that does not create `name`; `creatable`:
    /// a write would (the server runs without `--no-create`).
    pub fn database_not_found(name: &str, creatable: bool) -> Self {
        Self::DatabaseNotFound(database_not_found(name, creatable))
    }
}

/// The message of [`Error::database_not_found`].
fn database_not_found(name: &str, creatable: bool) -> String {
    if creatable {
        format!(
            "database {name:?} does not exist: reads create nothing. A write (Execute, \
             ExecuteBatch, a write transaction, a map write) creates it, and so does \
             Admin.CreateDatabase; check the name"
        )
    } else {
        format!(
            "database {name:?} does not exist, and this server creates no database on first \
             write (--no-create): an admin creates it with Admin.CreateDatabase"
        )
    }
}

/// `statements[3]` + `statement.sql` → `statements[3].sql`: inside a batch the statement
/// is the element itself.
fn join_field(prefix: &str, field: &str) -> String {
    let field = field.strip_prefix("statement").unwrap_or(field);
    let field = field.strip_prefix('.').unwrap_or(field);
    if field.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(e, message) => Self::Sqlite {
                code: e.extended_code,
                message: message.unwrap_or_else(|| e.to_string()),
                field: None,
            },
            rusqlite::Error::MultipleStatement => Self::invalid(
                "statement.sql",
                "the SQL text holds more than one statement; send one statement per request \
                 (ExecuteBatch runs several in one transaction)",
            ),
            rusqlite::Error::InvalidParameterCount(given, expected) => Self::invalid(
                "statement.params",
                format!("the statement has {expected} parameters but {given} values were given"),
            ),
            rusqlite::Error::NulError(_) => {
                Self::invalid("statement.sql", "the SQL text contains a NUL character")
            }
            rusqlite::Error::SqlInputError {
                error, msg, offset, ..
            } => Self::Sqlite {
                code: error.extended_code,
                message: format!("{msg} (at byte {offset} of the SQL text)"),
                field: Some("statement.sql".into()),
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A path of the server no client may learn, in one of its spellings, and what a message
/// says instead.
struct Hidden {
    form: String,
    /// A directory: `DIR/race.db` reads `race.db`; a file: its whole path is replaced.
    dir: bool,
    instead: &'static str,
}

/// Every [`Hidden`] path, longest spelling first (so `/a/b` goes before its prefix `/a`
/// could leave `/b` behind). A std lock: written a few times at start, read once per
/// error answer.
static HIDDEN: RwLock<Vec<Hidden>> = RwLock::new(Vec::new());

/// Keeps `path` — the data directory (`dir`), or a file of the server's such as the
/// statements file — out of every status and every reported error from now on: each
/// mention, as given, absolute or canonical, reads `instead` ("the data directory"); a
/// file inside a hidden directory is named by its file name alone.
pub fn hide_path(path: &Path, dir: bool, instead: &'static str) {
    let mut forms = vec![path.to_string_lossy().into_owned()];
    if let Ok(canonical) = std::fs::canonicalize(path) {
        forms.push(canonical.to_string_lossy().into_owned());
    }
    if path.is_relative()
        && let Ok(cwd) = std::env::current_dir()
    {
        forms.push(cwd.join(path).to_string_lossy().into_owned());
    }
    let mut hidden = HIDDEN.write().unwrap_or_else(|p| p.into_inner());
    for form in forms {
        let form = form.trim_end_matches('/').to_string();
        if !form.is_empty() && !hidden.iter().any(|h| h.form == form) {
            hidden.push(Hidden { form, dir, instead });
        }
    }
    hidden.sort_by_key(|h| std::cmp::Reverse(h.form.len()));
}

/// `message` without the paths [`hide_path`] names: for what the server reports besides
/// its statuses (a replica's last error in ListDatabases).
pub fn without_paths(message: &str) -> Cow<'_, str> {
    let hidden = HIDDEN.read().unwrap_or_else(|p| p.into_inner());
    let mut message = Cow::Borrowed(message);
    for Hidden { form, dir, instead } in hidden.iter() {
        if !message.contains(form.as_str()) {
            continue;
        }
        let mut replaced = message.into_owned();
        if *dir {
            replaced = replaced.replace(&format!("{form}/"), "");
        }
        // A relative directory alone may be any word ("data"): only its files go.
        if !*dir || form.starts_with('/') {
            replaced = replaced.replace(form.as_str(), instead);
        }
        message = Cow::Owned(replaced);
    }
    message
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        err.into_status(None)
    }
}

impl Error {
    /// The status for this error; `request_id` goes into its ErrorInfo and its
    /// `x-request-id` metadata, so a client's report can be found in the server's log.
    pub fn into_status(self, request_id: Option<&str>) -> Status {
        let err = self;
        let code = err.code();
        let mut metadata = HashMap::new();
        if let Some(id) = request_id {
            metadata.insert("request_id".to_string(), id.to_string());
        }
        if let Error::Sqlite { code, .. } = &err {
            metadata.insert("sqlite_code".to_string(), code.to_string());
        }
        let retry = err.retry_after();
        metadata.insert("retryable".to_string(), retry.is_some().to_string());
        let mut details = ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, metadata);
        if let Some(delay) = retry {
            details.set_retry_info(Some(delay));
        }
        let mut violation = |field: &str, message: &str| {
            details.add_bad_request_violation(field, without_paths(message));
        };
        match &err {
            Error::InvalidArgument { field, message } => violation(field, message),
            Error::Violations { violations, .. } => {
                for (field, message) in violations {
                    violation(field, message);
                }
            }
            Error::Sqlite {
                field: Some(field),
                message,
                ..
            } => violation(field, message),
            _ => {}
        }
        let message = without_paths(&err.to_string()).into_owned();
        let mut status = Status::with_error_details(code, message, details);
        // In its metadata too, as on every successful response.
        if let Some(value) = request_id.and_then(|id| id.parse().ok()) {
            status.metadata_mut().insert("x-request-id", value);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_paths_leave_no_status() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let file = dir.path().join("statements.toml");
        std::fs::write(&file, "").unwrap();
        hide_path(&data, true, "the data directory");
        hide_path(&file, false, "the statements file");
        let data = data.display().to_string();
        let cases = [
            (
                format!("unable to open database file: {data}/app.db"),
                "unable to open database file: app.db",
            ),
            (
                format!("cannot read the data directory {data}: gone"),
                "cannot read the data directory the data directory: gone",
            ),
            (
                format!("{}: line 3", file.display()),
                "the statements file: line 3",
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(without_paths(&message), expected);
            let status = Error::Internal(message.clone()).into_status(None);
            assert!(!status.message().contains(&data), "{status:?}");
            let status = Error::invalid("statement.sql", message).into_status(None);
            let details = status.get_error_details();
            let violation = &details.bad_request().unwrap().field_violations[0];
            assert!(!violation.description.contains(&data), "{violation:?}");
        }
        // A message naming none is left as it is.
        assert!(matches!(
            without_paths("no such table: t"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_relative_directory_hides_only_its_files() {
        hide_path(
            Path::new("sqlited-test-relative"),
            true,
            "the data directory",
        );
        assert_eq!(
            without_paths("sqlited-test-relative/x.db: unable to open; sqlited-test-relative"),
            "x.db: unable to open; sqlited-test-relative"
        );
    }
}
