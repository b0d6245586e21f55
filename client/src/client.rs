//! The async client: [`Client`] holds one HTTP/2 channel; [`Database`] runs SQL against one
//! database over it; [`Rows`] streams a query's rows.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

pub use crate::options::ClientOptions;
use crate::session::{SessionRows, Sessions};
use crate::transport::Transport;
use sqlited_proto::v1::database_client::DatabaseClient;
use sqlited_proto::v1::key_value_client::KeyValueClient;
use sqlited_proto::v1::session_request::Request as Kind;
use sqlited_proto::v1::session_response::Response as Answer;
use sqlited_proto::v1::statements_client::StatementsClient;
use sqlited_proto::v1::{self as proto, ExecuteBatchRequest, ExecuteRequest, QueryRequest};
use tonic::Streaming;

use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;
use crate::row::{Column, Row};

/// A connection to one sqlited server. Cheap to clone; clones share the HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct Client {
    rpc: DatabaseClient<Transport>,
    kv: KeyValueClient<Transport>,
    statements: StatementsClient<Transport>,
    admin: crate::admin::Admin,
    timeout: Option<Duration>,
    batchers: Arc<crate::map::batcher::Batchers>,
    /// The client's session, when sessions are on.
    sessions: Option<Arc<Sessions>>,
}

impl Client {
    /// Connects to the server at `url`, e.g. `http://127.0.0.1:50051`.
    ///
    /// # Errors
    /// `InterfaceError` for a malformed URL, `OperationalError` when the server cannot be
    /// reached.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects with explicit [`ClientOptions`].
    pub async fn connect_with(url: &str, options: ClientOptions) -> Result<Self> {
        let channel = crate::transport::connect(url, &options).await?;
        let rpc = DatabaseClient::new(channel.clone())
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(usize::MAX);
        let sessions = options
            .sessions
            .then(|| Arc::new(Sessions::new(rpc.clone(), options.session_depth)));
        let kv = KeyValueClient::new(channel.clone())
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(usize::MAX);
        let statements = StatementsClient::new(channel.clone())
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(usize::MAX);
        let admin = crate::admin::Admin {
            rpc: sqlited_proto::v1::admin_client::AdminClient::new(channel)
                .max_decoding_message_size(options.max_message_bytes),
        };
        Ok(Self {
            rpc,
            kv,
            statements,
            admin,
            timeout: options.request_timeout,
            batchers: Arc::default(),
            sessions,
        })
    }

    /// The server's Admin service: databases and sizes, maintenance, backups.
    pub fn admin(&self) -> crate::admin::Admin {
        self.admin.clone()
    }

    /// A handle on the database `name`, checked by nothing: the server answers its first
    /// request, a read of a missing database with NOT_FOUND, a write by creating it (for an
    /// admin, unless the server runs with `--no-create`). [`Client::open`] opens it as
    /// sqlite3 opens a file instead.
    pub fn database(&self, name: &str) -> Database {
        Database {
            rpc: self.rpc.clone(),
            kv: self.kv.clone(),
            statements: self.statements.clone(),
            name: name.into(),
            transaction_id: None,
            timeout: self.timeout,
            batchers: Arc::clone(&self.batchers),
            sessions: self.sessions.clone(),
            read_only: false,
        }
    }

    /// The Database stub, with the client's deadline for `message`.
    pub(crate) fn database_rpc<T>(
        &self,
        message: T,
    ) -> (DatabaseClient<Transport>, tonic::Request<T>) {
        (
            self.rpc.clone(),
            crate::transport::with_timeout(message, self.timeout),
        )
    }
}

/// An answer of the wrong kind for the request: a server bug.
fn unexpected(answer: Answer) -> Error {
    let kind = match answer {
        Answer::Execute(_) => "execute",
        Answer::Query(_) => "query",
        Answer::ExecuteBatch(_) => "execute_batch",
        Answer::Begin(_) => "begin",
        Answer::Commit(_) => "commit",
        Answer::Rollback(_) => "rollback",
        Answer::Error(_) => "error",
    };
    Error::new(
        ErrorKind::Internal,
        format!("the server answered the session request with a {kind} frame"),
    )
}

fn too_many_or_few(n: usize, expected: &str) -> Error {
    Error::new(
        ErrorKind::Programming,
        format!("the query returned {n} rows where {expected} was expected"),
    )
}

/// What a statement changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecuteResult {
    /// Rows inserted, updated or deleted.
    pub rows_affected: u64,
    /// The rowid of the row an INSERT added (0 when the statement inserted none).
    pub last_insert_rowid: i64,
}

impl From<proto::ExecuteResponse> for ExecuteResult {
    fn from(response: proto::ExecuteResponse) -> Self {
        Self {
            rows_affected: response.rows_affected,
            last_insert_rowid: response.last_insert_rowid,
        }
    }
}

/// One database of a server. Cheap to clone; `Send + Sync`.
///
/// A handle got from [`Transaction`](crate::Transaction) (by `Deref`) runs everything inside
/// that transaction.
#[derive(Debug, Clone)]
pub struct Database {
    rpc: DatabaseClient<Transport>,
    kv: KeyValueClient<Transport>,
    statements: StatementsClient<Transport>,
    name: Arc<str>,
    transaction_id: Option<Arc<str>>,
    timeout: Option<Duration>,
    batchers: Arc<crate::map::batcher::Batchers>,
    /// The client's session, when sessions are on.
    sessions: Option<Arc<Sessions>>,
    /// Opened with `mode=ro` ([`Client::open_with`]): writes are refused.
    read_only: bool,
}

impl Database {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The persistent map `name` of this database, keys and values as raw bytes.
    pub fn raw_map(&self, name: &str) -> crate::map::RawMap {
        crate::map::RawMap::new(
            self.kv.clone(),
            &self.batchers,
            &self.name,
            name,
            self.timeout,
            self.read_only,
        )
    }

    /// The persistent map `name` of this database, keys `K` and values `V` encoded with
    /// postcard (see [`PersistentMap`](crate::PersistentMap)).
    pub fn map<K, V>(&self, name: &str) -> crate::map::PersistentMap<K, V> {
        crate::map::PersistentMap::new(self.raw_map(name))
    }

    /// The transaction this handle runs in, if any.
    pub fn transaction_id(&self) -> Option<&str> {
        self.transaction_id.as_deref()
    }

    /// Whether the database was opened with `mode=ro`: every statement is sent read-only
    /// (one that writes fails with "attempt to write a readonly database"), transactions are
    /// read-only, and batches and map writes are refused by the client.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The same handle, read-only if `read_only`.
    pub(crate) fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Whether a statement outside a transaction goes read-only (see
    /// [`is_read_only`](Self::is_read_only)); a read-only handle's transactions are read-only
    /// themselves.
    fn sends_read_only(&self) -> bool {
        self.read_only && self.transaction_id.is_none()
    }

    /// The same handle with another deadline for each request (`None`: none of its own).
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Database {
        Database {
            timeout,
            ..self.clone()
        }
    }

    /// The Statements stub (see [`crate::statements`]).
    pub(crate) fn statements_rpc(&self) -> StatementsClient<Transport> {
        self.statements.clone()
    }

    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        crate::transport::with_timeout(message, self.timeout)
    }

    /// Runs `kind` on the client's session; `None` when it has none (sessions off, or a
    /// server without them): then the caller makes the unary call.
    async fn on_session(&self, kind: Kind) -> Option<Result<Answer>> {
        let sessions = self.sessions.as_ref()?;
        let answer = sessions.call(kind, self.timeout).await?;
        Some(answer.map_err(Error::from))
    }

    fn tx(&self) -> String {
        self.transaction_id
            .as_deref()
            .unwrap_or_default()
            .to_string()
    }

    /// Begins a transaction on the server (the BEGIN of [`Database::begin_with`]): the handle
    /// inside it, and its lease.
    pub(crate) async fn begin_on_server(
        &self,
        mode: i32,
        read_only: bool,
        lease: Option<Duration>,
    ) -> Result<(Database, Duration)> {
        if self.transaction_id.is_some() {
            return Err(Error::new(
                ErrorKind::Programming,
                "this handle is already inside a transaction; SQLite has no nested transactions",
            ));
        }
        let request = proto::BeginRequest {
            database: self.name.to_string(),
            mode,
            read_only: read_only || self.read_only,
            lease_ms: lease.map_or(0, |l| u32::try_from(l.as_millis()).unwrap_or(u32::MAX)),
        };
        let response = match self.on_session(Kind::Begin(request.clone())).await {
            Some(answer) => match answer? {
                Answer::Begin(response) => response,
                other => return Err(unexpected(other)),
            },
            None => self
                .rpc
                .clone()
                .begin(self.request(request))
                .await?
                .into_inner(),
        };
        let db = Database {
            transaction_id: Some(response.transaction_id.into()),
            ..self.clone()
        };
        Ok((db, Duration::from_millis(u64::from(response.lease_ms))))
    }

    pub(crate) async fn end(&self, commit: bool) -> Result<()> {
        let transaction_id = self.tx();
        let kind = if commit {
            Kind::Commit(proto::CommitRequest {
                transaction_id: transaction_id.clone(),
            })
        } else {
            Kind::Rollback(proto::RollbackRequest {
                transaction_id: transaction_id.clone(),
            })
        };
        if let Some(answer) = self.on_session(kind).await {
            return match answer? {
                Answer::Commit(_) | Answer::Rollback(_) => Ok(()),
                other => Err(unexpected(other)),
            };
        }
        let mut rpc = self.rpc.clone();
        if commit {
            rpc.commit(self.request(proto::CommitRequest { transaction_id }))
                .await?;
        } else {
            rpc.rollback(self.request(proto::RollbackRequest { transaction_id }))
                .await?;
        }
        Ok(())
    }

    /// Runs one statement and reports what it changed; rows it returns are discarded.
    ///
    /// # Errors
    /// `ProgrammingError` for bad SQL or parameters, `IntegrityError` for a constraint, and
    /// the others as [`ErrorKind`] describes.
    pub async fn execute(&self, sql: &str, params: impl Into<Params>) -> Result<ExecuteResult> {
        if self.sends_read_only() {
            // Execute has no read-only form: a read-only Query, its rows read and dropped.
            let mut rows = self.query(sql, params).await?;
            while rows.next().await?.is_some() {}
            return Ok(rows.summary().unwrap_or_default());
        }
        let request = ExecuteRequest {
            database: self.name.to_string(),
            statement: Some(params.into().into_statement(sql)),
            transaction_id: self.tx(),
        };
        if let Some(answer) = self.on_session(Kind::Execute(request.clone())).await {
            return match answer? {
                Answer::Execute(response) => Ok(response.into()),
                other => Err(unexpected(other)),
            };
        }
        let response = self.rpc.clone().execute(self.request(request)).await?;
        Ok(response.into_inner().into())
    }

    /// Runs one statement and streams its rows.
    pub async fn query(&self, sql: &str, params: impl Into<Params>) -> Result<Rows> {
        let request = QueryRequest {
            database: self.name.to_string(),
            statement: Some(params.into().into_statement(sql)),
            transaction_id: self.tx(),
            read_only: self.sends_read_only(),
        };
        if let Some(sessions) = &self.sessions
            && let Some(rows) = sessions
                .query(Kind::Query(request.clone()), self.timeout)
                .await
        {
            return Rows::start(Source::Session(rows?)).await;
        }
        let stream = self
            .rpc
            .clone()
            .query(self.request(request))
            .await?
            .into_inner();
        Rows::start(stream).await
    }

    /// Runs one statement and collects every row.
    pub async fn query_all(&self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>> {
        let mut rows = self.query(sql, params).await?;
        let mut all = Vec::new();
        while let Some(row) = rows.next().await? {
            all.push(row);
        }
        Ok(all)
    }

    /// Runs one statement that must return exactly one row.
    ///
    /// # Errors
    /// `ProgrammingError` if it returns no row or more than one.
    pub async fn query_one(&self, sql: &str, params: impl Into<Params>) -> Result<Row> {
        self.at_most_one(sql, params, "exactly one")
            .await?
            .ok_or_else(|| too_many_or_few(0, "exactly one"))
    }

    /// Runs one statement that returns at most one row.
    pub async fn query_opt(&self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>> {
        self.at_most_one(sql, params, "at most one").await
    }

    async fn at_most_one(
        &self,
        sql: &str,
        params: impl Into<Params>,
        expected: &str,
    ) -> Result<Option<Row>> {
        let mut rows = self.query_all(sql, params).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(too_many_or_few(n, expected)),
        }
    }

    /// Runs several statements in one transaction: all take effect or none does. The error
    /// of a failing statement names it (`statements[i]`).
    pub async fn execute_batch<I, S, P>(&self, statements: I) -> Result<Vec<ExecuteResult>>
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: Into<Params>,
    {
        if self.sends_read_only() {
            return Err(Error::read_only(
                "a batch (ExecuteBatch runs on the writer)",
            ));
        }
        let statements = statements
            .into_iter()
            .map(|(sql, params)| params.into().into_statement(sql.as_ref()))
            .collect();
        let request = ExecuteBatchRequest {
            database: self.name.to_string(),
            statements,
            transaction_id: self.tx(),
        };
        let response = match self.on_session(Kind::ExecuteBatch(request.clone())).await {
            Some(answer) => match answer? {
                Answer::ExecuteBatch(response) => response,
                other => return Err(unexpected(other)),
            },
            None => self
                .rpc
                .clone()
                .execute_batch(self.request(request))
                .await?
                .into_inner(),
        };
        Ok(response.results.into_iter().map(Into::into).collect())
    }

    /// Runs `sql` once per parameter set, all in one transaction (prepared once on the
    /// server).
    pub async fn execute_many<I, P>(&self, sql: &str, param_sets: I) -> Result<Vec<ExecuteResult>>
    where
        I: IntoIterator<Item = P>,
        P: Into<Params>,
    {
        self.execute_batch(param_sets.into_iter().map(|params| (sql, params)))
            .await
    }
}

/// A query's rows, fetched from the server as they are read.
#[derive(Debug)]
pub struct Rows {
    columns: Arc<[Column]>,
    stream: Source,
    buffered: VecDeque<proto::Row>,
    summary: Option<ExecuteResult>,
    done: bool,
}

impl Rows {
    /// Reads the first message, which carries the columns (and any error SQLite raised
    /// before the first row).
    pub(crate) async fn start(stream: impl Into<Source>) -> Result<Self> {
        let mut stream = stream.into();
        let first = stream.message().await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                "the server ended the query without a result",
            )
        })?;
        let columns: Arc<[Column]> = first.columns.into_iter().map(Column::from_proto).collect();
        let mut rows = Self {
            columns,
            stream,
            buffered: first.rows.into(),
            summary: None,
            done: false,
        };
        if let Some(summary) = first.summary {
            rows.summary = Some(summary.into());
        }
        Ok(rows)
    }

    /// The result columns (empty for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// What the statement changed; known once the last row has been read.
    pub fn summary(&self) -> Option<ExecuteResult> {
        self.summary
    }

    /// The next row, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Row>> {
        loop {
            if let Some(row) = self.buffered.pop_front() {
                let values = row.values.into_iter().map(Into::into).collect();
                return Ok(Some(Row::new(Arc::clone(&self.columns), values)));
            }
            if self.done {
                return Ok(None);
            }
            match self.stream.message().await? {
                Some(message) => {
                    self.buffered.extend(message.rows);
                    if let Some(summary) = message.summary {
                        self.summary = Some(summary.into());
                    }
                }
                None => self.done = true,
            }
        }
    }
}

/// Where a query's messages come from: a unary Query call's stream, or frames of the
/// client's session.
#[derive(Debug)]
pub(crate) enum Source {
    Unary(Streaming<proto::QueryResponse>),
    Session(SessionRows),
}

impl Source {
    async fn message(&mut self) -> Result<Option<proto::QueryResponse>, tonic::Status> {
        match self {
            Source::Unary(stream) => stream.message().await,
            Source::Session(rows) => rows.message().await,
        }
    }
}

impl From<Streaming<proto::QueryResponse>> for Source {
    fn from(stream: Streaming<proto::QueryResponse>) -> Self {
        Source::Unary(stream)
    }
}
