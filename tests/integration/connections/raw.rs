//! Raw clients for the connection tests: gRPC calls over h2 whose headers and body the test
//! writes itself (a body stopped halfway, a header given twice), and HTTP/1 bytes on a
//! socket.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::SendStream;
use sqlited_client::proto::v1::{QueryRequest, Statement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to answer or close where its bound is far shorter.
pub const BOUND: Duration = Duration::from_secs(15);

/// One HTTP/2 connection; its driver runs on a task of its own (clones share it).
#[derive(Clone)]
pub struct H2 {
    send: SendRequest<Bytes>,
    _driver: std::sync::Arc<tokio::task::JoinHandle<()>>,
}

/// A call's answer: its grpc-status and grpc-message, or how its stream was reset.
#[derive(Debug)]
pub enum Answer {
    Status(String, String),
    Reset(String),
}

impl Answer {
    /// The grpc-status code (panics on a reset).
    pub fn code(&self) -> &str {
        match self {
            Self::Status(code, _) => code,
            Self::Reset(why) => panic!("the stream was reset: {why}"),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Status(_, message) => message,
            Self::Reset(why) => why,
        }
    }
}

impl H2 {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr).await.unwrap()
    }

    /// A new connection, or why there is none (refused, closed during the handshake).
    pub async fn try_connect(addr: SocketAddr) -> Result<Self, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (send, connection) = h2::client::handshake(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            send,
            _driver: std::sync::Arc::new(driver),
        })
    }

    /// Starts a call of `path` with the usual gRPC headers and `extra` (appended, so a name
    /// already there is given twice); its body is the test's to send.
    pub async fn call(
        &mut self,
        path: &str,
        extra: &[(&str, &str)],
    ) -> (SendStream<Bytes>, ResponseFuture) {
        self.try_call(path, extra).await.unwrap()
    }

    async fn try_call(
        &mut self,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<(SendStream<Bytes>, ResponseFuture), h2::Error> {
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("http://localhost{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let mut send = self.send.clone().ready().await?;
        let (response, body) = send.send_request(request.body(()).unwrap(), false)?;
        Ok((body, response))
    }

    /// A whole unary Query `SELECT 1` on `app`, with `extra` headers; its answer (a reset
    /// if the connection is gone).
    pub async fn query(&mut self, extra: &[(&str, &str)]) -> Answer {
        let (mut body, response) = match self.try_call(QUERY, extra).await {
            Ok(call) => call,
            Err(err) => return Answer::Reset(err.to_string()),
        };
        if let Err(err) = body.send_data(frame(&select_1()), true) {
            return Answer::Reset(err.to_string());
        }
        answer(response).await
    }
}

/// Sends `bytes` on `body` as the peer's flow control allows, then ends the stream.
pub async fn send_all(body: &mut SendStream<Bytes>, mut bytes: Bytes) {
    while !bytes.is_empty() {
        body.reserve_capacity(bytes.len());
        let granted = std::future::poll_fn(|cx| body.poll_capacity(cx))
            .await
            .expect("capacity")
            .unwrap();
        body.send_data(bytes.split_to(granted.min(bytes.len())), false)
            .unwrap();
    }
    body.send_data(Bytes::new(), true).unwrap();
}

/// The gRPC path of Database.Query.
pub const QUERY: &str = "/sqlited.v1.Database/Query";

/// `SELECT 1` on the database `app`.
pub fn select_1() -> QueryRequest {
    QueryRequest {
        database: "app".into(),
        statement: Some(Statement {
            sql: "SELECT 1".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `message` as a gRPC length-prefixed message.
pub fn frame(message: &impl prost::Message) -> Bytes {
    let encoded = message.encode_to_vec();
    prefix(encoded.len() as u32, &encoded)
}

/// A message prefix declaring `length` bytes, followed by `payload` (the start of them).
pub fn prefix(length: u32, payload: &[u8]) -> Bytes {
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(payload);
    Bytes::from(bytes)
}

/// The call's answer, within [`BOUND`]: its status from the headers (trailers-only) or the
/// trailers after its messages.
pub async fn answer(response: ResponseFuture) -> Answer {
    let answered = tokio::time::timeout(BOUND, async {
        let response = match response.await {
            Ok(response) => response,
            Err(err) => return Answer::Reset(err.to_string()),
        };
        let (parts, mut body) = response.into_parts();
        if let Some(answer) = status_of(&parts.headers) {
            return answer;
        }
        while let Some(data) = body.data().await {
            match data {
                Ok(data) => {
                    let _ = body.flow_control().release_capacity(data.len());
                }
                Err(err) => return Answer::Reset(err.to_string()),
            }
        }
        match body.trailers().await {
            Ok(Some(trailers)) => status_of(&trailers)
                .unwrap_or_else(|| Answer::Reset("trailers without a grpc-status".into())),
            Ok(None) => Answer::Reset("no trailers".into()),
            Err(err) => Answer::Reset(err.to_string()),
        }
    })
    .await;
    answered.unwrap_or_else(|_| panic!("no answer within {BOUND:?}"))
}

fn status_of(headers: &http::HeaderMap) -> Option<Answer> {
    let code = headers.get("grpc-status")?.to_str().unwrap().to_string();
    let message = headers
        .get("grpc-message")
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    Some(Answer::Status(code, message))
}

/// Sends `bytes` on a new connection to the gateway, and reads what comes back until the
/// server closes the connection, which must happen within [`BOUND`].
pub async fn http1_until_closed(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream).await
}

/// What `stream` reads until the server closes it, within [`BOUND`].
pub async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let closed = tokio::time::timeout(BOUND, stream.read_to_end(&mut read)).await;
    let text = String::from_utf8_lossy(&read).into_owned();
    assert!(
        closed.is_ok(),
        "the server kept the connection open past {BOUND:?}; read so far: {text}"
    );
    text
}

/// The head of a POST to the gateway's query endpoint of `app`, with `headers` (lines,
/// each ending in CRLF) after its own.
pub fn post_head(headers: &str) -> String {
    format!(
        "POST /v1/databases/app/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         {headers}\r\n"
    )
}
