//! The HTTP/JSON gateway (`--http-listen`), against the real binary: a small HTTP/1.1
//! client over hyper, and curl. One file per concern.

mod auth;
mod curl;
mod limits;
mod openapi;
mod reads;
mod smuggling;
mod sql;
mod statements;
mod streaming;
mod transactions;
mod values;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;

use crate::harness::Server;

/// A server with the gateway on a free port, and extra flags.
pub fn start(args: &[&str]) -> (Server, SocketAddr) {
    let mut all = vec!["--http-listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Server::start_with(&all);
    let addr = server.http_addr();
    (server, addr)
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    /// The error body's `error.code`, asserting the HTTP status.
    pub fn error(&self, status: u16) -> Json {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        let json = self.json();
        assert!(json["error"]["code"].is_string(), "{json}");
        json["error"].clone()
    }

    /// The JSON body of a 200 answer.
    pub fn ok(&self) -> Json {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        self.json()
    }
}

/// A request to the gateway at `addr`.
pub struct Request<'a> {
    addr: SocketAddr,
    method: &'a str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

pub fn get(addr: SocketAddr, path: &str) -> Request<'static> {
    Request {
        addr,
        method: "GET",
        path: path.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

pub fn post(addr: SocketAddr, path: &str, body: &Json) -> Request<'static> {
    Request {
        addr,
        method: "POST",
        path: path.to_string(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

impl<'a> Request<'a> {
    pub fn method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Sends it on a new connection; the answer's head, its body still to read.
    pub async fn open(self) -> hyper::Response<Incoming> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the gateway");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header("host", self.addr.to_string());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(http_body_util::Full::new(Bytes::from(self.body)))
            .expect("a request");
        sender.send_request(request).await.expect("an answer")
    }

    /// Sends it and reads the whole answer.
    pub async fn send(self) -> Reply {
        let response = self.open().await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// `POST /v1/databases/{db}/{what}` with `body`.
pub async fn sql(addr: SocketAddr, db: &str, what: &str, body: Json) -> Reply {
    post(addr, &format!("/v1/databases/{db}/{what}"), &body)
        .send()
        .await
}
