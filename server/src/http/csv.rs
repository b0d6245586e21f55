//! A query's rows as CSV (`Accept: text/csv`), RFC 4180: a header row of the column names,
//! then a record per row, CRLF after each; a field holding a comma, a double quote, CR or LF
//! is quoted, its quotes doubled. NULL is an empty field; an integer in decimal; a real as
//! in JSON (the shortest text that reads back as the same double; `Inf`, `-Inf` as SQLite
//! prints them); text as is; a blob as base64 (RFC 4648, standard alphabet, padded — the
//! encoding of JSON's `{"type": "blob", "base64": …}`). One answer, bounded by
//! `--max-message-bytes` as the JSON result is; NDJSON is the streaming format.

use base64::Engine as _;
use sqlited_proto::v1::value::Kind;
use sqlited_proto::v1::{Column, Value};
use tokio_stream::StreamExt;
use tonic::Status;

use crate::service::response_stream::ResponseRows;

/// Appends `field` to `out`, quoted when RFC 4180 requires it.
fn field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// The text of one value.
fn text(value: &Value) -> String {
    match &value.kind {
        None | Some(Kind::Null(_)) => String::new(),
        Some(Kind::Integer(i)) => i.to_string(),
        Some(Kind::Real(r)) if r.is_infinite() => if *r > 0.0 { "Inf" } else { "-Inf" }.to_string(),
        Some(Kind::Real(r)) => {
            serde_json::Number::from_f64(*r).map_or_else(|| r.to_string(), |n| n.to_string())
        }
        Some(Kind::Text(t)) => t.clone(),
        Some(Kind::Blob(b)) => base64::engine::general_purpose::STANDARD.encode(b),
    }
}

fn record<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = std::borrow::Cow<'a, str>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        field(out, &f);
    }
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, columns: &[Column]) {
    record(out, columns.iter().map(|c| c.name.as_str().into()));
}

/// Every message of `rows` as one CSV body, or the first error; RESOURCE_EXHAUSTED past
/// `limit` bytes.
pub async fn collect(mut rows: ResponseRows, limit: usize) -> Result<Vec<u8>, Status> {
    let mut out = Vec::with_capacity(256);
    let mut headed = false;
    while let Some(message) = rows.next().await {
        let message = message?;
        if !headed {
            header(&mut out, &message.columns);
            headed = true;
        }
        for row in &message.rows {
            record(&mut out, row.values.iter().map(|v| text(v).into()));
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
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: Kind) -> Value {
        Value { kind: Some(kind) }
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        let mut out = Vec::new();
        record(
            &mut out,
            ["plain", "a,b", "say \"hi\"", "two\nlines", ""]
                .into_iter()
                .map(Into::into),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn values_as_text() {
        assert_eq!(text(&Value { kind: None }), "");
        assert_eq!(text(&v(Kind::Integer(i64::MIN))), "-9223372036854775808");
        assert_eq!(text(&v(Kind::Real(0.1))), "0.1");
        assert_eq!(text(&v(Kind::Real(1.0))), "1.0");
        assert_eq!(text(&v(Kind::Real(f64::NEG_INFINITY))), "-Inf");
        assert_eq!(text(&v(Kind::Blob(vec![0, 1, 2]))), "AAEC");
    }
}
