//! A job's payload on a worker process's socket — a [`Call`] and its [`Answer`], a [`Query`]
//! and its limits: the messages, and the one mapping each way. A new kind of call adds a
//! variant to each oneof here and an arm to each conversion; nothing else in `process/`
//! names the kinds.

use std::path::PathBuf;

use sqlited_proto::v1::{Entry, ExecuteResponse, Statement};

use crate::error::{Error, Result};
use crate::worker::StreamLimits;
use crate::worker::integrity::Verdict;
use crate::worker::job::{Answer, Call, Outcome, Prepared, Query};
use crate::worker::kv::{KvRead, KvWrite, KvWritten};
use crate::worker::maintenance;

/// A [`Call`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct CallWork {
    #[prost(oneof = "CallKind", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub call: Option<CallKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum CallKind {
    #[prost(message, tag = "1")]
    Execute(Statement),
    #[prost(message, tag = "2")]
    Batch(Statements),
    #[prost(message, tag = "3")]
    Kv(KvWork),
    /// One of [`maintenance::ALL`], by its text.
    #[prost(string, tag = "4")]
    Maintenance(String),
    #[prost(message, tag = "5")]
    Prepare(Texts),
    /// The snapshot's path.
    #[prost(string, tag = "6")]
    Snapshot(String),
    /// Always true: the call carries nothing.
    #[prost(bool, tag = "7")]
    CheckIntegrity(bool),
}

/// An [`Answer`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Answered {
    #[prost(oneof = "AnswerKind", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub answer: Option<AnswerKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum AnswerKind {
    #[prost(message, tag = "1")]
    Executed(Executed),
    #[prost(message, tag = "2")]
    Batched(Batched),
    #[prost(message, tag = "3")]
    Kv(KvDone),
    #[prost(message, tag = "4")]
    Maintained(Integers),
    #[prost(message, tag = "5")]
    Prepared(PreparedList),
    /// The snapshot's size in bytes.
    #[prost(uint64, tag = "6")]
    Snapshot(u64),
    #[prost(bool, tag = "7")]
    NeedsWriter(bool),
    #[prost(message, tag = "8")]
    Checked(Verdict),
}

/// A [`Query`] and how its rows are cut into messages: `statement` or `map` is set.
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
    #[prost(message, optional, tag = "6")]
    pub map: Option<KvReadWork>,
}

/// Which [`KvRead`] a [`KvReadWork`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
pub enum KvReadOp {
    Get = 0,
    Contains = 1,
    Len = 2,
    Scan = 3,
}

/// A [`KvRead`]: `op` says which, and the fields it uses are set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvReadWork {
    #[prost(enumeration = "KvReadOp", tag = "1")]
    pub op: i32,
    #[prost(string, tag = "2")]
    pub map: String,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub lower: Option<Vec<u8>>,
    #[prost(bool, tag = "5")]
    pub lower_exclusive: bool,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub upper: Option<Vec<u8>>,
    #[prost(uint64, tag = "7")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Statements {
    #[prost(message, repeated, tag = "1")]
    pub statements: Vec<Statement>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Texts {
    #[prost(string, repeated, tag = "1")]
    pub texts: Vec<String>,
}

/// Which [`KvWrite`] a [`KvWork`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
pub enum KvOp {
    Set = 0,
    Delete = 1,
    SetMany = 2,
    DeleteMany = 3,
    Clear = 4,
}

/// A [`KvWrite`]: `op` says which, and the fields it uses are set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvWork {
    #[prost(enumeration = "KvOp", tag = "1")]
    pub op: i32,
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct PreparedList {
    #[prost(message, repeated, tag = "1")]
    pub prepared: Vec<PreparedWork>,
}

/// A [`Prepared`]; a bare `?` placeholder is the empty string (a named one never is).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreparedWork {
    #[prost(string, optional, tag = "1")]
    pub error: Option<String>,
    #[prost(string, repeated, tag = "2")]
    pub placeholders: Vec<String>,
    #[prost(bool, tag = "3")]
    pub writes: bool,
}

impl From<Call> for CallWork {
    fn from(call: Call) -> Self {
        let call = match call {
            Call::Execute(statement) => CallKind::Execute(statement),
            Call::Batch(statements) => CallKind::Batch(Statements { statements }),
            Call::Kv(write) => CallKind::Kv(write.into()),
            Call::Maintenance(sql) => CallKind::Maintenance(sql.to_string()),
            Call::Prepare(texts) => CallKind::Prepare(Texts { texts }),
            Call::Snapshot(path) => CallKind::Snapshot(path.to_string_lossy().into_owned()),
            Call::CheckIntegrity => CallKind::CheckIntegrity(true),
        };
        CallWork { call: Some(call) }
    }
}

impl TryFrom<CallWork> for Call {
    type Error = Error;

    fn try_from(work: CallWork) -> Result<Self> {
        Ok(match work.call {
            None => return Err(Error::Internal("a call with no kind".into())),
            Some(CallKind::Execute(statement)) => Call::Execute(statement),
            Some(CallKind::Batch(batch)) => Call::Batch(batch.statements),
            Some(CallKind::Kv(write)) => Call::Kv(write.try_into()?),
            Some(CallKind::Maintenance(sql)) => Call::Maintenance(
                maintenance::ALL
                    .iter()
                    .find(|known| **known == sql)
                    .ok_or_else(|| {
                        Error::Internal(format!("unknown maintenance statement {sql:?}"))
                    })?,
            ),
            Some(CallKind::Prepare(texts)) => Call::Prepare(texts.texts),
            Some(CallKind::Snapshot(path)) => Call::Snapshot(PathBuf::from(path)),
            Some(CallKind::CheckIntegrity(_)) => Call::CheckIntegrity,
        })
    }
}

impl From<Answer> for Answered {
    fn from(answer: Answer) -> Self {
        let answer = match answer {
            Answer::Executed(outcome) => AnswerKind::Executed(Executed {
                response: Some(outcome.response),
                read_only: outcome.read_only,
            }),
            Answer::Batched(responses) => AnswerKind::Batched(Batched { responses }),
            Answer::Kv(written) => AnswerKind::Kv(written.into()),
            Answer::Maintained(values) => AnswerKind::Maintained(Integers { values }),
            Answer::Prepared(prepared) => AnswerKind::Prepared(PreparedList {
                prepared: prepared.into_iter().map(PreparedWork::from).collect(),
            }),
            Answer::Snapshot(bytes) => AnswerKind::Snapshot(bytes),
            Answer::NeedsWriter => AnswerKind::NeedsWriter(true),
            Answer::Checked(verdict) => AnswerKind::Checked(verdict),
        };
        Answered {
            answer: Some(answer),
        }
    }
}

impl TryFrom<Answered> for Answer {
    type Error = Error;

    fn try_from(answered: Answered) -> Result<Self> {
        Ok(match answered.answer {
            None => return Err(Error::Internal("an answer with no kind".into())),
            Some(AnswerKind::Executed(done)) => Answer::Executed(Outcome {
                response: done.response.unwrap_or_default(),
                read_only: done.read_only,
            }),
            Some(AnswerKind::Batched(done)) => Answer::Batched(done.responses),
            Some(AnswerKind::Kv(done)) => Answer::Kv(done.into()),
            Some(AnswerKind::Maintained(done)) => Answer::Maintained(done.values),
            Some(AnswerKind::Prepared(list)) => Answer::Prepared(
                list.prepared
                    .into_iter()
                    .map(|p| Prepared {
                        error: p.error,
                        placeholders: p
                            .placeholders
                            .into_iter()
                            .map(|name| (!name.is_empty()).then_some(name))
                            .collect(),
                        writes: p.writes,
                    })
                    .collect(),
            ),
            Some(AnswerKind::Snapshot(bytes)) => Answer::Snapshot(bytes),
            Some(AnswerKind::NeedsWriter(_)) => Answer::NeedsWriter,
            Some(AnswerKind::Checked(verdict)) => Answer::Checked(verdict),
        })
    }
}

impl QueryWork {
    /// `query`, cut into messages by `limits`.
    pub fn new(query: Query, limits: StreamLimits) -> Self {
        let mut work = QueryWork {
            rows_per_message: limits.rows_per_message as u64,
            bytes_per_message: limits.bytes_per_message as u64,
            max_message_bytes: limits.max_message_bytes as u64,
            max_rows: limits.max_rows,
            ..QueryWork::default()
        };
        match query {
            Query::Sql(statement) => work.statement = Some(statement),
            Query::Map(read) => work.map = Some(read.into()),
        }
        work
    }

    /// The query and its limits.
    pub fn into_query(self) -> Result<(Query, StreamLimits)> {
        let limits = StreamLimits {
            rows_per_message: self.rows_per_message as usize,
            bytes_per_message: self.bytes_per_message as usize,
            max_message_bytes: self.max_message_bytes as usize,
            max_rows: self.max_rows,
        };
        let query = match (self.statement, self.map) {
            (_, Some(read)) => Query::Map(read.try_into()?),
            (Some(statement), None) => Query::Sql(statement),
            (None, None) => return Err(Error::Internal("a query with nothing to run".into())),
        };
        Ok((query, limits))
    }
}

impl From<KvRead> for KvReadWork {
    fn from(read: KvRead) -> Self {
        match read {
            KvRead::Get { map, key } => KvReadWork {
                op: KvReadOp::Get.into(),
                map,
                key,
                ..KvReadWork::default()
            },
            KvRead::Contains { map, key } => KvReadWork {
                op: KvReadOp::Contains.into(),
                map,
                key,
                ..KvReadWork::default()
            },
            KvRead::Len { map } => KvReadWork {
                op: KvReadOp::Len.into(),
                map,
                ..KvReadWork::default()
            },
            KvRead::Scan {
                map,
                lower,
                upper,
                limit,
            } => {
                let (lower, lower_exclusive) = lower.unzip();
                KvReadWork {
                    op: KvReadOp::Scan.into(),
                    map,
                    lower,
                    lower_exclusive: lower_exclusive.unwrap_or(false),
                    upper,
                    limit,
                    ..KvReadWork::default()
                }
            }
        }
    }
}

impl TryFrom<KvReadWork> for KvRead {
    type Error = Error;

    fn try_from(work: KvReadWork) -> Result<Self> {
        let op = KvReadOp::try_from(work.op)
            .map_err(|_| Error::Internal(format!("unknown map read {}", work.op)))?;
        let KvReadWork {
            map,
            key,
            lower,
            lower_exclusive,
            upper,
            limit,
            ..
        } = work;
        Ok(match op {
            KvReadOp::Get => KvRead::Get { map, key },
            KvReadOp::Contains => KvRead::Contains { map, key },
            KvReadOp::Len => KvRead::Len { map },
            KvReadOp::Scan => KvRead::Scan {
                map,
                lower: lower.map(|key| (key, lower_exclusive)),
                upper,
                limit,
            },
        })
    }
}

impl From<Prepared> for PreparedWork {
    fn from(prepared: Prepared) -> Self {
        PreparedWork {
            error: prepared.error,
            placeholders: prepared
                .placeholders
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
            writes: prepared.writes,
        }
    }
}

impl From<KvWrite> for KvWork {
    fn from(write: KvWrite) -> Self {
        let mut work = KvWork::default();
        let op = match write {
            KvWrite::Set {
                map,
                key,
                value,
                if_absent,
                if_version,
                may_create,
            } => {
                work.may_create = may_create;
                work.map = map;
                work.key = key;
                work.value = value;
                work.if_absent = if_absent;
                work.if_version = if_version;
                KvOp::Set
            }
            KvWrite::Delete { map, key } => {
                work.map = map;
                work.key = key;
                KvOp::Delete
            }
            KvWrite::SetMany {
                map,
                entries,
                return_previous,
                may_create,
            } => {
                work.may_create = may_create;
                work.map = map;
                work.entries = entries;
                work.return_previous = return_previous;
                KvOp::SetMany
            }
            KvWrite::DeleteMany { map, keys } => {
                work.map = map;
                work.keys = keys;
                KvOp::DeleteMany
            }
            KvWrite::Clear { map } => {
                work.map = map;
                KvOp::Clear
            }
        };
        work.op = op.into();
        work
    }
}

impl TryFrom<KvWork> for KvWrite {
    type Error = Error;

    fn try_from(work: KvWork) -> Result<Self> {
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
        let op = KvOp::try_from(op)
            .map_err(|_| Error::Internal(format!("unknown map operation {op}")))?;
        Ok(match op {
            KvOp::Set => KvWrite::Set {
                map,
                key,
                value,
                if_absent,
                if_version,
                may_create,
            },
            KvOp::Delete => KvWrite::Delete { map, key },
            KvOp::SetMany => KvWrite::SetMany {
                map,
                entries,
                return_previous,
                may_create,
            },
            KvOp::DeleteMany => KvWrite::DeleteMany { map, keys },
            KvOp::Clear => KvWrite::Clear { map },
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_survives_the_trip() {
        let calls = [
            Call::Execute(Statement {
                sql: "SELECT 1".into(),
                ..Statement::default()
            }),
            Call::Batch(vec![Statement::default(); 2]),
            Call::Kv(KvWrite::Clear { map: "m".into() }),
            Call::Maintenance(maintenance::OPTIMIZE),
            Call::Prepare(vec!["SELECT :a".into()]),
            Call::Snapshot("/tmp/x.db".into()),
            Call::CheckIntegrity,
        ];
        for call in calls {
            let before = format!("{call:?}");
            let back = Call::try_from(CallWork::from(call)).unwrap();
            assert_eq!(format!("{back:?}"), before);
        }
    }

    #[test]
    fn every_query_survives_the_trip() {
        let limits = StreamLimits {
            rows_per_message: 10,
            bytes_per_message: 100,
            max_message_bytes: 1000,
            max_rows: 5,
        };
        let queries = [
            Query::Sql(Statement {
                sql: "SELECT 1".into(),
                ..Statement::default()
            }),
            Query::Map(KvRead::Get {
                map: "m".into(),
                key: b"k".to_vec(),
            }),
            Query::Map(KvRead::Contains {
                map: "m".into(),
                key: Vec::new(),
            }),
            Query::Map(KvRead::Len { map: "m".into() }),
            Query::Map(KvRead::Scan {
                map: "m".into(),
                lower: Some((Vec::new(), true)),
                upper: Some(b"z".to_vec()),
                limit: 3,
            }),
            Query::Map(KvRead::Scan {
                map: "m".into(),
                lower: None,
                upper: None,
                limit: 0,
            }),
        ];
        for query in queries {
            let before = format!("{query:?}");
            let (back, back_limits) = QueryWork::new(query, limits).into_query().unwrap();
            assert_eq!(format!("{back:?}"), before);
            assert_eq!(format!("{back_limits:?}"), format!("{limits:?}"));
        }
    }

    #[test]
    fn every_answer_survives_the_trip() {
        let answers = [
            Answer::Executed(Outcome::default()),
            Answer::Batched(vec![ExecuteResponse::default()]),
            Answer::Kv(KvWritten::default()),
            Answer::Maintained(vec![1, 2]),
            Answer::Prepared(vec![Prepared {
                error: None,
                placeholders: vec![Some(":a".into()), None],
                writes: true,
            }]),
            Answer::Snapshot(4096),
            Answer::NeedsWriter,
            Answer::Checked(Verdict::default()),
            Answer::Checked(Verdict {
                problem: Some("damaged".into()),
            }),
        ];
        for answer in answers {
            let before = format!("{answer:?}");
            let back = Answer::try_from(Answered::from(answer)).unwrap();
            assert_eq!(format!("{back:?}"), before);
        }
    }
}
