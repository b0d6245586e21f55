//! The HTTP/JSON gateway as a target (`--target http`): each client holds its own HTTP/1.1
//! keep-alive connection (HTTP/1.1 runs one request at a time per connection), sends the
//! workload's statement as JSON and parses the JSON answer, as a client of the gateway would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value as Json, json};
use sqlited_client::Value;
use tokio::sync::Mutex;

use crate::workload::Op;

/// One connection per client.
pub struct HttpTarget {
    base: String,
    host: String,
    connections: Vec<Mutex<SendRequest<Full<Bytes>>>>,
}

fn json_value(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(r) => json!(r),
        Value::Text(t) => json!(t),
        Value::Blob(_) => json!({"type": "blob", "base64": ""}),
    }
}

fn statement(sql: &str, params: &[Value]) -> Json {
    json!({"sql": sql, "params": params.iter().map(json_value).collect::<Vec<_>>()})
}

impl HttpTarget {
    /// `clients` connections to the gateway at `url` (`http://host:port`), for `database`.
    pub async fn connect(url: &str, database: &str, clients: usize) -> Result<Self, String> {
        let host = url
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or("--http-url must be http://host:port")?
            .to_string();
        let mut connections = Vec::with_capacity(clients);
        for _ in 0..clients.max(1) {
            let stream = tokio::net::TcpStream::connect(&host)
                .await
                .map_err(|e| format!("connect {host}: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            connections.push(Mutex::new(sender));
        }
        Ok(Self {
            base: format!("/v1/databases/{database}"),
            host,
            connections,
        })
    }

    /// Runs `op` on client `client`'s connection; the answer is read and parsed whole.
    pub async fn call(&self, client: usize, op: &Op) -> Result<(), String> {
        let (path, body) = match op {
            Op::Query(sql, params) => ("query", statement(sql, params)),
            Op::Execute(sql, params) => ("execute", statement(sql, params)),
            Op::Many(sql, sets) => (
                "batch",
                json!({"statements": sets.iter().map(|p| statement(sql, p)).collect::<Vec<_>>()}),
            ),
            Op::MapInsert(..) | Op::MapGet(..) | Op::Ceiling => {
                return Err("the kv workloads have no HTTP endpoint".into());
            }
        };
        let request = hyper::Request::post(format!("{}/{path}", self.base))
            .header("host", &self.host)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let mut sender = self.connections[client % self.connections.len()]
            .lock()
            .await;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        let answer: Json = serde_json::from_slice(&body).map_err(|e| format!("JSON: {e}"))?;
        if status != 200 {
            return Err(answer["error"]["code"]
                .as_str()
                .unwrap_or("HTTP error")
                .to_string());
        }
        std::hint::black_box(&answer["rows"]);
        Ok(())
    }
}
