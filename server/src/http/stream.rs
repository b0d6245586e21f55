//! A query's rows as an HTTP body: one JSON result, bounded by `--max-message-bytes`, or an
//! NDJSON stream (`Accept: application/x-ndjson`) that reads the next result message only
//! when hyper has written the last one. A client that stops reading stops the stream: the
//! worker waits on the full channel no longer than the request's deadline (the hardening
//! rule of `RowSink::send_within`), then the statement is stopped and its reader freed.
//!
//! NDJSON lines, in order: `{"columns":[{"name":…,"decl_type":…}]}`, then `{"row":[…]}` per
//! row, then `{"done":{"rows":N,"rows_affected":…,"last_insert_rowid":…}}` — or, in place of
//! `done`, `{"error":{…}}` (the error body of [`super::errors`]). A stream without either
//! last line was cut off.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde_json::json;
use sqlited_proto::v1::{Column, ExecuteResponse, QueryResponse, Value, value::Kind};
use tokio_stream::StreamExt;
use tonic::{Code, Status};

use super::values::OutRow;
use crate::service::observe::End;
use crate::service::response_stream::ResponseRows;

fn columns_json(columns: &[Column]) -> serde_json::Value {
    columns
        .iter()
        .map(|c| json!({"name": c.name, "decl_type": c.decl_type}))
        .collect()
}

fn integer(i: i64) -> serde_json::Value {
    super::values::to_json(&Value {
        kind: Some(Kind::Integer(i)),
    })
}

/// `rows_affected` and `last_insert_rowid` as JSON fields.
fn summary_json(summary: &ExecuteResponse) -> (serde_json::Value, serde_json::Value) {
    (
        integer(i64::try_from(summary.rows_affected).unwrap_or(i64::MAX)),
        integer(summary.last_insert_rowid),
    )
}

/// The JSON result of an Execute.
pub fn execute_result(response: &ExecuteResponse) -> serde_json::Value {
    let (affected, rowid) = summary_json(response);
    json!({"columns": [], "rows": [], "rows_affected": affected, "last_insert_rowid": rowid})
}

/// Every message of `rows` as one JSON result, or the first error; RESOURCE_EXHAUSTED once
/// the result passes `limit` bytes, so a large result cannot grow the server's memory.
pub async fn collect(mut rows: ResponseRows, limit: usize) -> Result<Vec<u8>, Status> {
    let mut out = Vec::with_capacity(256);
    let mut summary = ExecuteResponse::default();
    let mut first_row = true;
    while let Some(message) = rows.next().await {
        let message = message?;
        if out.is_empty() {
            // The first message carries the columns.
            out.extend_from_slice(b"{\"columns\":");
            out.extend_from_slice(columns_json(&message.columns).to_string().as_bytes());
            out.extend_from_slice(b",\"rows\":[");
        }
        for row in &message.rows {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            serde_json::to_writer(&mut out, &OutRow(row))
                .map_err(|err| Status::internal(format!("cannot write JSON: {err}")))?;
        }
        if out.len() > limit {
            return Err(crate::error::Error::ResourceExhausted {
                message: format!(
                    "the result is larger than this server sends in one answer \
                     (--max-message-bytes {limit}); ask for a stream (Accept: \
                     application/x-ndjson) or select fewer rows (LIMIT … OFFSET …)"
                ),
                retryable: false,
            }
            .into());
        }
        if let Some(s) = message.summary {
            summary = s;
        }
    }
    if out.is_empty() {
        out.extend_from_slice(b"{\"columns\":[],\"rows\":[");
    }
    let (affected, rowid) = summary_json(&summary);
    out.extend_from_slice(
        format!("],\"rows_affected\":{affected},\"last_insert_rowid\":{rowid}}}").as_bytes(),
    );
    Ok(out)
}

/// The NDJSON body of a query whose first message is `first`.
pub struct NdJson {
    rows: ResponseRows,
    first: Option<QueryResponse>,
    columns_sent: bool,
    count: u64,
    summary: ExecuteResponse,
    done: bool,
    request_id: String,
    end: End,
}

impl NdJson {
    /// The stream of `rows`, whose first message the caller read already (to answer an
    /// error before it with a status of its own); `end` records the request's metrics.
    pub fn new(
        rows: ResponseRows,
        first: Option<QueryResponse>,
        request_id: String,
        end: End,
    ) -> Self {
        Self {
            rows,
            first,
            columns_sent: false,
            count: 0,
            summary: ExecuteResponse::default(),
            done: false,
            request_id,
            end,
        }
    }

    fn lines(&mut self, message: QueryResponse) -> Bytes {
        let mut out = Vec::with_capacity(64 + message.rows.len() * 16);
        if !self.columns_sent {
            self.columns_sent = true;
            out.extend_from_slice(
                json!({"columns": columns_json(&message.columns)})
                    .to_string()
                    .as_bytes(),
            );
            out.push(b'\n');
        }
        for row in &message.rows {
            out.extend_from_slice(b"{\"row\":");
            if serde_json::to_writer(&mut out, &OutRow(row)).is_err() {
                out.extend_from_slice(b"null");
            }
            out.extend_from_slice(b"}\n");
        }
        self.count += message.rows.len() as u64;
        if let Some(summary) = message.summary {
            self.summary = summary;
        }
        Bytes::from(out)
    }

    fn last(&mut self) -> Bytes {
        let (affected, rowid) = summary_json(&self.summary);
        let mut out = Vec::new();
        if !self.columns_sent {
            self.columns_sent = true;
            out.extend_from_slice(b"{\"columns\":[]}\n");
        }
        out.extend_from_slice(
            format!(
                "{{\"done\":{{\"rows\":{},\"rows_affected\":{affected},\"last_insert_rowid\":{rowid}}}}}\n",
                self.count
            )
            .as_bytes(),
        );
        Bytes::from(out)
    }
}

impl Stream for NdJson {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(self.lines(first))));
        }
        match Pin::new(&mut self.rows).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(Ok(self.lines(message)))),
            Poll::Ready(Some(Err(status))) => {
                self.done = true;
                self.end.record(status.code());
                let mut line = super::errors::body(&status, &self.request_id).to_string();
                line.push('\n');
                Poll::Ready(Some(Ok(Bytes::from(line))))
            }
            Poll::Ready(None) => {
                self.done = true;
                self.end.record(Code::Ok);
                Poll::Ready(Some(Ok(self.last())))
            }
        }
    }
}
