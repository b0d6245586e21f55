//! What the server and a worker process say to each other over their socket: length-delimited
//! protobuf messages (a varint length, then the message), defined here with prost's derive
//! because they are the server's private business, not a public contract. Both ends are the
//! same binary, so the format needs no versioning.
//!
//! The server sends [`Hello`] once, then [`ToWorker`] messages; the worker answers [`Ready`]
//! once, then [`FromWorker`] messages, each naming the request it answers.

use std::io::{self, Read, Write};

use sqlited_proto::v1::QueryResponse;

pub use super::calls::{Answered, CallWork, QueryWork};
use crate::error::Error;
use crate::worker::Role;
use crate::worker::connection::Synchronous;
use crate::worker::job::Handled;
use crate::worker::reply::Streamed;
use crate::worker::transaction::{TxMode, TxStatus};

/// The largest message either side accepts: past it the stream is taken as corrupt.
pub const MAX_FRAME: usize = 1 << 30;

/// How the worker must open its connection and run; the first message it reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Hello {
    /// The worker's number, for logs.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(enumeration = "Role", tag = "2")]
    pub role: i32,
    /// The database file.
    #[prost(string, tag = "3")]
    pub path: String,
    #[prost(enumeration = "Synchronous", tag = "4")]
    pub synchronous: i32,
    #[prost(uint64, tag = "5")]
    pub busy_timeout_ms: u64,
    #[prost(uint64, tag = "6")]
    pub statement_cache: u64,
    #[prost(uint32, tag = "7")]
    pub cache_kib: u32,
    #[prost(bool, tag = "8")]
    pub sandbox: bool,
    /// Tasks that may wait in the worker's own queue.
    #[prost(uint64, tag = "9")]
    pub queue_depth: u64,
    #[prost(uint64, tag = "10")]
    pub max_group: u64,
    #[prost(uint64, tag = "11")]
    pub max_group_bytes: u64,
    /// The cap on the process's data segment, in bytes (0: none).
    #[prost(uint64, tag = "12")]
    pub memory_limit: u64,
    /// `SQLITE_LIMIT_LENGTH`: the largest value SQLite may build.
    #[prost(uint64, tag = "13")]
    pub max_value_bytes: u64,
    /// The cap on SQLite's heap in the process, in bytes (0: none), when lower than the one
    /// `memory_limit` implies.
    #[prost(uint64, tag = "14")]
    pub heap_limit: u64,
    /// Litestream replicates the database (`--replica-url`): see
    /// `ConnectionSettings::replicated`.
    #[prost(bool, tag = "15")]
    pub replicated: bool,
    /// The SQLite memory one request may add beyond the page cache, in bytes (0: no limit):
    /// `--request-memory-limit` on a reader.
    #[prost(uint64, tag = "16")]
    pub request_memory_limit: u64,
    /// The same on the writer: `--write-memory-limit`.
    #[prost(uint64, tag = "17")]
    pub write_memory_limit: u64,
    /// The bytes the client's statements in the statement cache may hold (0: no byte
    /// bound): `--statement-cache-memory`.
    #[prost(uint64, tag = "18")]
    pub statement_cache_bytes: u64,
}

/// The worker's first answer: its connection is open, or why not.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ready {
    #[prost(message, optional, tag = "1")]
    pub error: Option<WireError>,
}

/// One message from the server to a worker.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ToWorker {
    /// The request's number (for `Cancel`: the number of the request to stop).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// For work inside an interactive transaction: the number of its `Begin` (0: none).
    #[prost(uint64, tag = "2")]
    pub tx: u64,
    /// Milliseconds left before the request's deadline (0: no deadline).
    #[prost(uint64, tag = "3")]
    pub deadline_ms: u64,
    /// The deadline's full length, for error messages.
    #[prost(uint64, tag = "4")]
    pub timeout_ms: u64,
    /// What the request may do (`Access::as_u8`).
    #[prost(uint32, tag = "5")]
    pub access: u32,
    /// The request's id, for the worker's log lines.
    #[prost(string, tag = "6")]
    pub request_id: String,
    /// Whether the request may ATTACH other databases (`CancelToken::may_attach`).
    #[prost(bool, tag = "7")]
    pub may_attach: bool,
    #[prost(oneof = "Work", tags = "10, 12, 15, 16, 17, 18, 19")]
    pub work: Option<Work>,
}

/// What a [`ToWorker`] asks for.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Work {
    /// A request answered once (`Answer::Answered`).
    #[prost(message, tag = "10")]
    Call(CallWork),
    #[prost(message, tag = "12")]
    Query(QueryWork),
    #[prost(message, tag = "15")]
    Begin(BeginWork),
    #[prost(bool, tag = "16")]
    Commit(bool),
    #[prost(bool, tag = "17")]
    Rollback(bool),
    /// The transaction `tx` lost its client (the server is closing it): roll it back.
    #[prost(bool, tag = "18")]
    Abandon(bool),
    /// Stop the request `id`.
    #[prost(bool, tag = "19")]
    Cancel(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BeginWork {
    #[prost(enumeration = "TxMode", tag = "1")]
    pub mode: i32,
    #[prost(uint64, tag = "2")]
    pub lease_ms: u64,
    /// The transaction's id, for messages.
    #[prost(string, tag = "3")]
    pub tx_id: String,
}

/// One message from a worker to the server.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FromWorker {
    /// The request answered.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "Answer", tags = "10, 11, 13, 14, 21, 15, 18, 19, 20, 22")]
    pub answer: Option<Answer>,
}

/// What a [`FromWorker`] says. `Row`, `RowError` and `NeedsWriter` are parts of a query's
/// stream ([`Streamed`]), `Done` and `Error` for a `Begin` say how BEGIN went (`TxEnded`
/// follows later), `Group` and `WalFrames` are about no request; every other answer is the
/// request's last.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Answer {
    #[prost(message, tag = "10")]
    Error(WireError),
    /// A call's answer.
    #[prost(message, tag = "11")]
    Answered(Answered),
    #[prost(message, tag = "13")]
    Row(QueryResponse),
    #[prost(message, tag = "14")]
    RowError(WireError),
    /// A reader's refusal of a query that writes ([`Handled::NeedsWriter`]).
    #[prost(bool, tag = "21")]
    NeedsWriter(bool),
    /// The query's stream ended.
    #[prost(bool, tag = "15")]
    End(bool),
    /// BEGIN ran (for a `Begin`), or COMMIT/ROLLBACK succeeded.
    #[prost(bool, tag = "18")]
    Done(bool),
    /// The transaction begun by request `id` ended, with this status.
    #[prost(enumeration = "TxStatus", tag = "19")]
    TxEnded(i32),
    /// The writer took a group of this many requests from its queue (`id` is 0).
    #[prost(uint64, tag = "20")]
    Group(u64),
    /// The writer's COMMITs appended this many frames to the WAL (`id` is 0; replicated
    /// databases only).
    #[prost(uint64, tag = "22")]
    WalFrames(u64),
}

/// Which [`Error`] a [`WireError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
pub enum ErrorKind {
    Internal = 14,
    InvalidArgument = 0,
    DatabaseNotFound = 1,
    Sqlite = 2,
    ResourceExhausted = 3,
    Unavailable = 4,
    DeadlineExceeded = 5,
    Cancelled = 6,
    NoSuchTransaction = 7,
    TransactionEnded = 8,
    Violations = 9,
    StatementNotFound = 10,
    FailedPrecondition = 11,
    Unauthenticated = 12,
    PermissionDenied = 13,
    AlreadyExists = 16,
    UnavailableFor = 17,
}

/// An [`Error`], every variant with its fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireError {
    #[prost(enumeration = "ErrorKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, optional, tag = "3")]
    pub field: Option<String>,
    #[prost(int32, tag = "4")]
    pub code: i32,
    /// `retryable` or `aborted`, for the variants that have one.
    #[prost(bool, tag = "5")]
    pub flag: bool,
    #[prost(message, repeated, tag = "6")]
    pub violations: Vec<Violation>,
    /// `retry_after`, in milliseconds, for the variant that has one.
    #[prost(uint64, tag = "7")]
    pub retry_after_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Violation {
    #[prost(string, tag = "1")]
    pub field: String,
    #[prost(string, tag = "2")]
    pub message: String,
}

impl From<&Error> for WireError {
    fn from(err: &Error) -> Self {
        let mut wire = WireError::default();
        let (kind, message) = match err {
            Error::InvalidArgument { field, message } => {
                wire.field = Some(field.clone());
                (ErrorKind::InvalidArgument, message.clone())
            }
            Error::DatabaseNotFound(message) => (ErrorKind::DatabaseNotFound, message.clone()),
            Error::Sqlite {
                code,
                message,
                field,
            } => {
                wire.code = *code;
                wire.field = field.clone();
                (ErrorKind::Sqlite, message.clone())
            }
            Error::ResourceExhausted { message, retryable } => {
                wire.flag = *retryable;
                (ErrorKind::ResourceExhausted, message.clone())
            }
            Error::Unavailable(message) => (ErrorKind::Unavailable, message.clone()),
            Error::UnavailableFor {
                message,
                retry_after,
            } => {
                wire.retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
                (ErrorKind::UnavailableFor, message.clone())
            }
            Error::DeadlineExceeded(message) => (ErrorKind::DeadlineExceeded, message.clone()),
            Error::Cancelled(message) => (ErrorKind::Cancelled, message.clone()),
            Error::NoSuchTransaction { id } => (ErrorKind::NoSuchTransaction, id.clone()),
            Error::TransactionEnded { message, aborted } => {
                wire.flag = *aborted;
                (ErrorKind::TransactionEnded, message.clone())
            }
            Error::Violations {
                message,
                violations,
            } => {
                wire.violations = violations
                    .iter()
                    .map(|(field, message)| Violation {
                        field: field.clone(),
                        message: message.clone(),
                    })
                    .collect();
                (ErrorKind::Violations, message.clone())
            }
            Error::StatementNotFound(message) => (ErrorKind::StatementNotFound, message.clone()),
            Error::FailedPrecondition(message) => (ErrorKind::FailedPrecondition, message.clone()),
            Error::Unauthenticated(message) => (ErrorKind::Unauthenticated, message.clone()),
            Error::PermissionDenied(message) => (ErrorKind::PermissionDenied, message.clone()),
            Error::Internal(message) => (ErrorKind::Internal, message.clone()),
            Error::AlreadyExists(message) => (ErrorKind::AlreadyExists, message.clone()),
        };
        wire.kind = kind.into();
        wire.message = message;
        wire
    }
}

impl From<WireError> for Error {
    fn from(wire: WireError) -> Self {
        let WireError {
            kind,
            message,
            field,
            code,
            flag,
            violations,
            retry_after_ms,
        } = wire;
        match ErrorKind::try_from(kind).unwrap_or(ErrorKind::Internal) {
            ErrorKind::InvalidArgument => Error::InvalidArgument {
                field: field.unwrap_or_default(),
                message,
            },
            ErrorKind::DatabaseNotFound => Error::DatabaseNotFound(message),
            ErrorKind::Sqlite => Error::Sqlite {
                code,
                message,
                field,
            },
            ErrorKind::ResourceExhausted => Error::ResourceExhausted {
                message,
                retryable: flag,
            },
            ErrorKind::Unavailable => Error::Unavailable(message),
            ErrorKind::UnavailableFor => Error::UnavailableFor {
                message,
                retry_after: std::time::Duration::from_millis(retry_after_ms),
            },
            ErrorKind::DeadlineExceeded => Error::DeadlineExceeded(message),
            ErrorKind::Cancelled => Error::Cancelled(message),
            ErrorKind::NoSuchTransaction => Error::NoSuchTransaction { id: message },
            ErrorKind::TransactionEnded => Error::TransactionEnded {
                message,
                aborted: flag,
            },
            ErrorKind::Violations => Error::Violations {
                message,
                violations: violations
                    .into_iter()
                    .map(|v| (v.field, v.message))
                    .collect(),
            },
            ErrorKind::StatementNotFound => Error::StatementNotFound(message),
            ErrorKind::FailedPrecondition => Error::FailedPrecondition(message),
            ErrorKind::Unauthenticated => Error::Unauthenticated(message),
            ErrorKind::PermissionDenied => Error::PermissionDenied(message),
            ErrorKind::AlreadyExists => Error::AlreadyExists(message),
            ErrorKind::Internal => Error::Internal(message),
        }
    }
}

impl From<Streamed> for Answer {
    fn from(item: Streamed) -> Self {
        match item {
            Ok(Handled::Ran(row)) => Answer::Row(row),
            Ok(Handled::NeedsWriter) => Answer::NeedsWriter(true),
            Err(err) => Answer::RowError(WireError::from(&err)),
        }
    }
}

impl Answer {
    /// The item of a query's stream this answer is, if it is one.
    pub fn streamed(self) -> std::result::Result<Streamed, Answer> {
        match self {
            Answer::Row(row) => Ok(Ok(Handled::Ran(row))),
            Answer::NeedsWriter(_) => Ok(Ok(Handled::NeedsWriter)),
            Answer::RowError(err) => Ok(Err(err.into())),
            other => Err(other),
        }
    }
}

/// Writes `message` with its length in front.
pub fn write_frame(out: &mut impl Write, message: &impl prost::Message) -> io::Result<()> {
    out.write_all(&message.encode_length_delimited_to_vec())
}

/// Reads one message; `None` at a clean end of the stream.
pub fn read_frame<M: prost::Message + Default>(input: &mut impl Read) -> io::Result<Option<M>> {
    let mut length: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8];
        if input.read(&mut byte)? == 0 {
            if i == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        length |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a worker message of {length} bytes is past the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut buf = vec![0u8; length];
    input.read_exact(&mut buf)?;
    M::decode(buf.as_slice())
        .map(Some)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut bytes = Vec::new();
        let first = ToWorker {
            id: 7,
            work: Some(Work::Cancel(true)),
            ..ToWorker::default()
        };
        write_frame(&mut bytes, &first).unwrap();
        write_frame(&mut bytes, &ToWorker::default()).unwrap();
        let mut input = bytes.as_slice();
        assert_eq!(read_frame::<ToWorker>(&mut input).unwrap(), Some(first));
        assert_eq!(
            read_frame::<ToWorker>(&mut input).unwrap(),
            Some(ToWorker::default())
        );
        assert_eq!(read_frame::<ToWorker>(&mut input).unwrap(), None);
    }

    #[test]
    fn a_cut_frame_is_an_error() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &Hello::default()).unwrap();
        write_frame(
            &mut bytes,
            &Hello {
                path: "x".repeat(300),
                ..Hello::default()
            },
        )
        .unwrap();
        bytes.truncate(bytes.len() - 1);
        let mut input = bytes.as_slice();
        assert!(read_frame::<Hello>(&mut input).unwrap().is_some());
        assert!(read_frame::<Hello>(&mut input).is_err());
    }

    #[test]
    fn every_stream_item_survives_the_trip() {
        let items: [Streamed; 3] = [
            Ok(Handled::Ran(QueryResponse::default())),
            Ok(Handled::NeedsWriter),
            Err(Error::Internal("x".into())),
        ];
        for item in items {
            let before = format!("{item:?}");
            let mut bytes = Vec::new();
            let message = FromWorker {
                id: 3,
                answer: Some(Answer::from(item)),
            };
            write_frame(&mut bytes, &message).unwrap();
            let back = read_frame::<FromWorker>(&mut bytes.as_slice())
                .unwrap()
                .unwrap();
            assert_eq!(back, message);
            let back = back.answer.unwrap().streamed().unwrap();
            assert_eq!(format!("{back:?}"), before);
        }
        assert!(Answer::End(true).streamed().is_err());
    }

    #[test]
    fn every_error_survives_the_trip() {
        let errors = [
            Error::invalid("statement.sql", "empty"),
            Error::Sqlite {
                code: 1,
                message: "near x".into(),
                field: Some("statements[2]".into()),
            },
            Error::ResourceExhausted {
                message: "full".into(),
                retryable: true,
            },
            Error::TransactionEnded {
                message: "gone".into(),
                aborted: true,
            },
            Error::Violations {
                message: "2 bad".into(),
                violations: vec![("a".into(), "b".into())],
            },
            Error::PermissionDenied("no".into()),
        ];
        for err in errors {
            let back = Error::from(WireError::from(&err));
            assert_eq!(format!("{back:?}"), format!("{err:?}"));
        }
    }
}
