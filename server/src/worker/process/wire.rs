//! What the server and a worker process say to each other over their socket: length-delimited
//! protobuf messages (a varint length, then the message), defined here with prost's derive
//! because they are the server's private business, not a public contract. Both ends are the
//! same binary, so the format needs no versioning.
//!
//! The server sends [`Hello`] once, then [`ToWorker`] messages; the worker answers [`Ready`]
//! once, then [`FromWorker`] messages, each naming the request it answers.

use std::io::{self, Read, Write};

use sqlited_proto::v1::{Entry, ExecuteResponse, QueryResponse, Statement};

use crate::error::Error;
use crate::worker::kv::{KvWrite, KvWritten};

/// The largest message either side accepts: past it the stream is taken as corrupt.
pub const MAX_FRAME: usize = 1 << 30;

/// How the worker must open its connection and run; the first message it reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Hello {
    /// The worker's number, for logs.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// 0: reader, 1: writer.
    #[prost(uint32, tag = "2")]
    pub role: u32,
    /// The database file.
    #[prost(string, tag = "3")]
    pub path: String,
    /// `Synchronous` as its position: off, normal, full, extra.
    #[prost(uint32, tag = "4")]
    pub synchronous: u32,
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
    #[prost(oneof = "Work", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19")]
    pub work: Option<Work>,
}

/// What a [`ToWorker`] asks for.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Work {
    #[prost(message, tag = "10")]
    Execute(Statement),
    #[prost(message, tag = "11")]
    Batch(Statements),
    #[prost(message, tag = "12")]
    Query(QueryWork),
    #[prost(message, tag = "13")]
    Kv(KvWork),
    #[prost(string, tag = "14")]
    Maintenance(String),
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
pub struct Statements {
    #[prost(message, repeated, tag = "1")]
    pub statements: Vec<Statement>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryWork {
    #[prost(message, optional, tag = "1")]
    pub statement: Option<Statement>,
    #[prost(uint64, tag = "2")]
    pub rows_per_message: u64,
    #[prost(uint64, tag = "3")]
    pub bytes_per_message: u64,
    #[prost(uint64, tag = "4")]
    pub max_message_bytes: u64,
    #[prost(uint64, tag = "5")]
    pub max_rows: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BeginWork {
    /// 0: deferred, 1: immediate, 2: exclusive.
    #[prost(uint32, tag = "1")]
    pub mode: u32,
    #[prost(uint64, tag = "2")]
    pub lease_ms: u64,
    /// The transaction's id, for messages.
    #[prost(string, tag = "3")]
    pub tx_id: String,
}

/// A [`KvWrite`]: `op` says which, and the fields it uses are set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvWork {
    /// 0: set, 1: delete, 2: set many, 3: delete many, 4: clear.
    #[prost(uint32, tag = "1")]
    pub op: u32,
    #[prost(string, tag = "2")]
    pub map: String,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub value: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub if_absent: bool,
    #[prost(int64, tag = "6")]
    pub if_version: i64,
    #[prost(message, repeated, tag = "7")]
    pub entries: Vec<Entry>,
    #[prost(bool, tag = "8")]
    pub return_previous: bool,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub keys: Vec<Vec<u8>>,
    #[prost(bool, tag = "10")]
    pub may_create: bool,
}

/// One message from a worker to the server.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FromWorker {
    /// The request answered.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "Answer", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20")]
    pub answer: Option<Answer>,
}

/// What a [`FromWorker`] says. `Row` and `RowError` are parts of a query's stream, `Done`
/// and `Error` for a `Begin` say how BEGIN went (`TxEnded` follows later), `Group` is about
/// no request; every other answer is the request's last.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Answer {
    #[prost(message, tag = "10")]
    Error(WireError),
    #[prost(message, tag = "11")]
    Executed(Executed),
    #[prost(message, tag = "12")]
    Batched(Batched),
    #[prost(message, tag = "13")]
    Row(QueryResponse),
    #[prost(message, tag = "14")]
    RowError(WireError),
    /// The query's stream ended.
    #[prost(bool, tag = "15")]
    End(bool),
    #[prost(message, tag = "16")]
    Kv(KvDone),
    #[prost(message, tag = "17")]
    Maintained(Integers),
    /// BEGIN ran (for a `Begin`), or COMMIT/ROLLBACK succeeded.
    #[prost(bool, tag = "18")]
    Done(bool),
    /// The transaction begun by request `id` ended, with this `TxStatus`.
    #[prost(uint32, tag = "19")]
    TxEnded(u32),
    /// The writer took a group of this many requests from its queue (`id` is 0).
    #[prost(uint64, tag = "20")]
    Group(u64),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Executed {
    #[prost(message, optional, tag = "1")]
    pub response: Option<ExecuteResponse>,
    #[prost(bool, tag = "2")]
    pub read_only: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Batched {
    #[prost(message, repeated, tag = "1")]
    pub responses: Vec<ExecuteResponse>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Integers {
    #[prost(int64, repeated, tag = "1")]
    pub values: Vec<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KvDone {
    #[prost(bool, tag = "1")]
    pub applied: bool,
    #[prost(message, optional, tag = "2")]
    pub previous: Option<Entry>,
    #[prost(int64, tag = "3")]
    pub version: i64,
    #[prost(uint64, tag = "4")]
    pub count: u64,
    #[prost(message, repeated, tag = "5")]
    pub results: Vec<KvResult>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KvResult {
    #[prost(message, optional, tag = "1")]
    pub previous: Option<Entry>,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// An [`Error`], every variant with its fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireError {
    #[prost(uint32, tag = "1")]
    pub kind: u32,
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
                (0, message.clone())
            }
            Error::DatabaseNotFound(message) => (1, message.clone()),
            Error::Sqlite {
                code,
                message,
                field,
            } => {
                wire.code = *code;
                wire.field = field.clone();
                (2, message.clone())
            }
            Error::ResourceExhausted { message, retryable } => {
                wire.flag = *retryable;
                (3, message.clone())
            }
            Error::Unavailable(message) => (4, message.clone()),
            Error::DeadlineExceeded(message) => (5, message.clone()),
            Error::Cancelled(message) => (6, message.clone()),
            Error::NoSuchTransaction { id } => (7, id.clone()),
            Error::TransactionEnded { message, aborted } => {
                wire.flag = *aborted;
                (8, message.clone())
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
                (9, message.clone())
            }
            Error::StatementNotFound(message) => (10, message.clone()),
            Error::FailedPrecondition(message) => (11, message.clone()),
            Error::Unauthenticated(message) => (12, message.clone()),
            Error::PermissionDenied(message) => (13, message.clone()),
            Error::Internal(message) => (14, message.clone()),
            Error::NeedsWriter => (15, String::new()),
            Error::AlreadyExists(message) => (16, message.clone()),
        };
        wire.kind = kind;
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
        } = wire;
        match kind {
            0 => Error::InvalidArgument {
                field: field.unwrap_or_default(),
                message,
            },
            1 => Error::DatabaseNotFound(message),
            2 => Error::Sqlite {
                code,
                message,
                field,
            },
            3 => Error::ResourceExhausted {
                message,
                retryable: flag,
            },
            4 => Error::Unavailable(message),
            5 => Error::DeadlineExceeded(message),
            6 => Error::Cancelled(message),
            7 => Error::NoSuchTransaction { id: message },
            8 => Error::TransactionEnded {
                message,
                aborted: flag,
            },
            9 => Error::Violations {
                message,
                violations: violations
                    .into_iter()
                    .map(|v| (v.field, v.message))
                    .collect(),
            },
            10 => Error::StatementNotFound(message),
            11 => Error::FailedPrecondition(message),
            12 => Error::Unauthenticated(message),
            13 => Error::PermissionDenied(message),
            15 => Error::NeedsWriter,
            16 => Error::AlreadyExists(message),
            _ => Error::Internal(message),
        }
    }
}

impl From<KvWrite> for KvWork {
    fn from(write: KvWrite) -> Self {
        let mut work = KvWork::default();
        match write {
            KvWrite::Set {
                map,
                key,
                value,
                if_absent,
                if_version,
                may_create,
            } => {
                work.op = 0;
                work.may_create = may_create;
                work.map = map;
                work.key = key;
                work.value = value;
                work.if_absent = if_absent;
                work.if_version = if_version;
            }
            KvWrite::Delete { map, key } => {
                work.op = 1;
                work.map = map;
                work.key = key;
            }
            KvWrite::SetMany {
                map,
                entries,
                return_previous,
                may_create,
            } => {
                work.op = 2;
                work.may_create = may_create;
                work.map = map;
                work.entries = entries;
                work.return_previous = return_previous;
            }
            KvWrite::DeleteMany { map, keys } => {
                work.op = 3;
                work.map = map;
                work.keys = keys;
            }
            KvWrite::Clear { map } => {
                work.op = 4;
                work.map = map;
            }
        }
        work
    }
}

impl From<KvWork> for KvWrite {
    fn from(work: KvWork) -> Self {
        let KvWork {
            op,
            map,
            key,
            value,
            if_absent,
            if_version,
            entries,
            return_previous,
            keys,
            may_create,
        } = work;
        match op {
            0 => KvWrite::Set {
                map,
                key,
                value,
                if_absent,
                if_version,
                may_create,
            },
            1 => KvWrite::Delete { map, key },
            2 => KvWrite::SetMany {
                map,
                entries,
                return_previous,
                may_create,
            },
            3 => KvWrite::DeleteMany { map, keys },
            _ => KvWrite::Clear { map },
        }
    }
}

impl From<KvWritten> for KvDone {
    fn from(written: KvWritten) -> Self {
        KvDone {
            applied: written.applied,
            previous: written.previous,
            version: written.version,
            count: written.count,
            results: written
                .results
                .into_iter()
                .map(|(previous, version)| KvResult { previous, version })
                .collect(),
        }
    }
}

impl From<KvDone> for KvWritten {
    fn from(done: KvDone) -> Self {
        KvWritten {
            applied: done.applied,
            previous: done.previous,
            version: done.version,
            count: done.count,
            results: done
                .results
                .into_iter()
                .map(|r| (r.previous, r.version))
                .collect(),
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
            work: Some(Work::Maintenance("PRAGMA optimize".into())),
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
            Error::NeedsWriter,
            Error::PermissionDenied("no".into()),
        ];
        for err in errors {
            let back = Error::from(WireError::from(&err));
            assert_eq!(format!("{back:?}"), format!("{err:?}"));
        }
    }
}
