//! A hostile client: each test sends what an attacker would (raw stubs where the typed client
//! would refuse to), and checks that the server neither crashes, nor stalls other clients, nor
//! builds what it cannot send, nor reaches files outside its data directory.
//!
//! - [`sql`]: SQL that SQLite would trust from its application (fts3_tokenizer, shadow tables,
//!   TEMP objects).
//! - [`streams`]: clients that stop reading their results.
//! - [`resources`]: memory, temporary storage, files and links, the close-time checkpoint.
//! - [`budget`]: each request's memory budget (`--request-memory-limit`).
//! - [`cached`]: the memory that outlives a request, in the statement cache
//!   (`--statement-cache-memory`).

mod budget;
mod cached;
mod resources;
mod sql;
mod streams;

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::value::Kind;
use sqlited_client::proto::v1::{QueryRequest, Statement, Value};
use tonic::Code;

use crate::harness::Server;

pub fn text(s: &str) -> Value {
    Value {
        kind: Some(Kind::Text(s.into())),
    }
}

pub fn blob(bytes: &[u8]) -> Value {
    Value {
        kind: Some(Kind::Blob(bytes.to_vec())),
    }
}

pub fn query(database: &str, sql: &str, params: Vec<Value>) -> QueryRequest {
    QueryRequest {
        database: database.into(),
        statement: Some(Statement {
            sql: sql.into(),
            params,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The status of the first message of a raw Query (or of the call itself).
pub async fn raw_query_status(server: &Server, request: QueryRequest) -> Result<(), tonic::Status> {
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let mut stream = raw.query(request).await?.into_inner();
    while stream.message().await?.is_some() {}
    Ok(())
}

pub fn code_of(err: sqlited_client::Error) -> Code {
    err.status_code()
        .unwrap_or_else(|| panic!("no status in {err}"))
}

