//! Database.Session through the raw stub, as a client in any language would use it:
//! pipelining, a query's rows in frames, transactions bound to the stream, a dropped stream,
//! the session's limits, the slow-consumer rule, auth.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::session_request::Request as Kind;
use sqlited_client::proto::v1::session_response::Response as Answer;
use sqlited_client::proto::v1::{
    BeginRequest, CommitRequest, ExecuteBatchRequest, ExecuteRequest, QueryRequest,
    SessionCancel, SessionMore, SessionRequest, SessionResponse, Statement,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::harness::{Server, eventually, scalar};

/// One open session: frames go in through `send`, answers come out of `answers`.
struct RawSession {
    requests: Option<mpsc::Sender<SessionRequest>>,
    answers: tonic::Streaming<SessionResponse>,
    headers: tonic::metadata::MetadataMap,
}

impl RawSession {
    async fn open(server: &Server, token: Option<&str>) -> Result<Self, tonic::Status> {
        let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
        let (requests, receiver) = mpsc::channel(1024);
        let mut call = tonic::Request::new(ReceiverStream::new(receiver));
        if let Some(token) = token {
            call.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let response = raw.session(call).await?;
        let headers = response.metadata().clone();
        Ok(Self {
            requests: Some(requests),
            answers: response.into_inner(),
            headers,
        })
    }

    async fn send(&self, request_id: u64, kind: Kind) {
        self.send_frame(SessionRequest {
            request_id,
            request: Some(kind),
            timeout_ms: 0,
        })
        .await;
    }

    async fn send_frame(&self, frame: SessionRequest) {
        self.requests
            .as_ref()
            .expect("the session's sending side is open")
            .send(frame)
            .await
            .unwrap();
    }

    /// The next frame; panics if the session ended.
    async fn next(&mut self) -> SessionResponse {
        tokio::time::timeout(Duration::from_secs(30), self.answers.message())
            .await
            .expect("an answer within 30 s")
            .unwrap()
            .expect("the session is still open")
    }

    /// The final answer of request `id`, skipping (and returning) others' frames.
    async fn answer_of(&mut self, id: u64) -> Answer {
        loop {
            let frame = self.next().await;
            if frame.request_id == id && is_final(&frame) {
                return frame.response.unwrap();
            }
        }
    }

    /// Closes the sending side: the server answers what is in flight, then ends.
    fn close(&mut self) {
        self.requests = None;
    }
}

fn is_final(frame: &SessionResponse) -> bool {
    match &frame.response {
        Some(Answer::Query(q)) => q.summary.is_some(),
        _ => true,
    }
}

fn statement(sql: &str) -> Option<Statement> {
    Some(Statement {
        sql: sql.into(),
        ..Default::default()
    })
}

fn execute(sql: &str) -> Kind {
    Kind::Execute(ExecuteRequest {
        database: "app".into(),
        statement: statement(sql),
        transaction_id: String::new(),
    })
}

fn execute_in(sql: &str, tx: &str) -> Kind {
    Kind::Execute(ExecuteRequest {
        database: "app".into(),
        statement: statement(sql),
        transaction_id: tx.into(),
    })
}

fn query(sql: &str) -> Kind {
    Kind::Query(QueryRequest {
        database: "app".into(),
        statement: statement(sql),
        ..Default::default()
    })
}

fn begin(lease_ms: u32) -> Kind {
    Kind::Begin(BeginRequest {
        database: "app".into(),
        lease_ms,
        ..Default::default()
    })
}

/// The code and message of an error answer; panics on another.
fn failure(answer: Answer) -> (Code, String) {
    match answer {
        Answer::Error(e) => (Code::from(e.code), e.message),
        other => panic!("expected an error, got {other:?}"),
    }
}

const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT x, randomblob(2000) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_by_id() {
    let server = Server::start();
    let mut s = RawSession::open(&server, None).await.unwrap();
    assert_eq!(s.headers.get("sqlited-session-max-in-flight").unwrap(), "128");
    assert_eq!(s.headers.get("sqlited-session-query-window").unwrap(), "4");
    assert_eq!(
        s.headers.get("sqlited-session-max-message-bytes").unwrap(),
        &(16 << 20).to_string()
    );
    assert!(s.headers.get("x-request-id").is_some());
    s.send(1, execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        .await;
    assert!(matches!(s.answer_of(1).await, Answer::Execute(_)));

    // Forty requests before reading any answer: inserts, batches and reads, interleaved.
    for i in 0..20u64 {
        s.send(100 + i, execute(&format!("INSERT INTO t (id, v) VALUES ({i}, 'v{i}')")))
            .await;
        s.send(200 + i, query(&format!("SELECT {i} AS n, 'x' || {i}")))
            .await;
    }
    s.send(
        300,
        Kind::ExecuteBatch(ExecuteBatchRequest {
            database: "app".into(),
            statements: vec![
                Statement {
                    sql: "INSERT INTO t (id, v) VALUES (1000, 'a')".into(),
                    ..Default::default()
                },
                Statement {
                    sql: "INSERT INTO t (id, v) VALUES (1001, 'b')".into(),
                    ..Default::default()
                },
            ],
            transaction_id: String::new(),
        }),
    )
    .await;
    let mut finals: HashMap<u64, Answer> = HashMap::new();
    while finals.len() < 41 {
        let frame = s.next().await;
        if is_final(&frame) {
            let id = frame.request_id;
            assert!(finals.insert(id, frame.response.unwrap()).is_none(), "{id} answered twice");
        }
    }
    for i in 0..20u64 {
        match &finals[&(100 + i)] {
            Answer::Execute(e) => assert_eq!(e.rows_affected, 1),
            other => panic!("{other:?}"),
        }
        match &finals[&(200 + i)] {
            Answer::Query(q) => {
                // A one-row result is one frame: columns, the row, the summary.
                assert_eq!(q.columns.len(), 2);
                assert_eq!(q.rows.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }
    match &finals[&300] {
        Answer::ExecuteBatch(b) => assert_eq!(b.results.len(), 2),
        other => panic!("{other:?}"),
    }
    // Closing the sending side ends the session with OK once everything is answered.
    s.close();
    let end = tokio::time::timeout(Duration::from_secs(30), s.answers.message());
    assert!(end.await.unwrap().unwrap().is_none());
    let db = server.database("app").await;
    let n: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(n, 22);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_query_comes_in_frames_within_its_window() {
    let server = Server::start_with(&["--rows-per-message", "100"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)", ())
        .await
        .unwrap();
    db.execute(
        "INSERT INTO t (pad) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
         WHERE x < 3000) SELECT randomblob(1000) FROM c",
        (),
    )
    .await
    .unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    s.send(7, query("SELECT id, pad FROM t ORDER BY id")).await;
    let (mut frames, mut rows, mut columns) = (0, 0, 0);
    loop {
        let frame = s.next().await;
        assert_eq!(frame.request_id, 7);
        let Some(Answer::Query(q)) = frame.response else {
            panic!("{frame:?}")
        };
        frames += 1;
        columns += q.columns.len();
        for row in &q.rows {
            assert_eq!(row.values.len(), 2);
        }
        rows += q.rows.len();
        if q.summary.is_some() {
            break;
        }
        // Acknowledge each frame as it is consumed, so the server sends the next.
        s.send(7, Kind::More(SessionMore { frames: 1 })).await;
    }
    assert_eq!(rows, 3000);
    assert_eq!(columns, 2, "the columns come on the first frame only");
    assert!(frames > 4, "{frames} frames: more than one window's worth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_not_acknowledged_is_stopped_at_its_deadline_and_the_session_goes_on() {
    let server = Server::start_with(&["--readers", "1", "--statement-timeout-ms", "1500"]);
    server.database("app").await.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    s.send(1, query(ENDLESS)).await;
    // Four frames come, then nothing more until they are acknowledged; at the deadline the
    // query fails alone, with the slow-consumer rule's error.
    let mut frames = 0;
    let ended = loop {
        let frame = s.next().await;
        match frame.response.unwrap() {
            Answer::Query(_) => frames += 1,
            other => break failure(other),
        }
    };
    assert_eq!(frames, 4);
    assert_eq!(ended.0, Code::DeadlineExceeded, "{}", ended.1);
    assert!(ended.1.contains("too slowly"), "{}", ended.1);
    // The one reader is free again, and the session still serves.
    s.send(2, query("SELECT 1")).await;
    assert!(matches!(s.answer_of(2).await, Answer::Query(_)));
    // A cancelled query ends with CANCELLED and frees its reader too.
    s.send(3, query(ENDLESS)).await;
    let first = s.next().await;
    assert_eq!(first.request_id, 3);
    s.send(3, Kind::Cancel(SessionCancel {})).await;
    let (code, message) = failure(s.answer_of(3).await);
    assert_eq!(code, Code::Cancelled, "{message}");
    s.send(4, query("SELECT 1")).await;
    assert!(matches!(s.answer_of(4).await, Answer::Query(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_bound_to_its_session() {
    let server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    s.send(1, begin(0)).await;
    let Answer::Begin(begun) = s.answer_of(1).await else {
        panic!()
    };
    let tx = begun.transaction_id;
    s.send(2, execute_in("INSERT INTO t VALUES (1)", &tx)).await;
    assert!(matches!(s.answer_of(2).await, Answer::Execute(_)));
    // Another session does not know it.
    let mut other = RawSession::open(&server, None).await.unwrap();
    other.send(1, execute_in("INSERT INTO t VALUES (2)", &tx)).await;
    let (code, message) = failure(other.answer_of(1).await);
    assert_eq!(code, Code::NotFound, "{message}");
    // A unary call of the same client may work in it (Statements.Call and KeyValue have no
    // session frames).
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    raw.execute(ExecuteRequest {
        database: "app".into(),
        statement: statement("INSERT INTO t VALUES (3)"),
        transaction_id: tx.clone(),
    })
    .await
    .unwrap();
    // Its own session commits it.
    s.send(
        3,
        Kind::Commit(CommitRequest {
            transaction_id: tx.clone(),
        }),
    )
    .await;
    assert!(matches!(s.answer_of(3).await, Answer::Commit(_)));
    let n: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_rolls_its_transaction_back_at_once() {
    let server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    // A write transaction with a long lease holds the writer…
    s.send(1, begin(60_000)).await;
    let Answer::Begin(begun) = s.answer_of(1).await else {
        panic!()
    };
    s.send(2, execute_in("INSERT INTO t VALUES (1)", &begun.transaction_id))
        .await;
    assert!(matches!(s.answer_of(2).await, Answer::Execute(_)));
    // …until the client goes away mid-transaction: then a write gets the writer at once, not
    // after the lease.
    drop(s);
    let quick = db.with_timeout(Some(Duration::from_millis(500)));
    let what = "the writer free once the session ended";
    eventually(Duration::from_secs(20), what, || async {
        let written = quick.execute("INSERT INTO t VALUES (2)", ()).await;
        if let Err(err) = &written {
            assert_eq!(err.status_code(), Some(Code::DeadlineExceeded), "{err}");
        }
        written
    })
    .await;
    let rows: Vec<i64> = db
        .query_all("SELECT x FROM t", ())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(rows, vec![2], "the session's insert was rolled back");
    assert!(server.log().contains("rolled back"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_fail_alone() {
    let server = Server::start_with(&["--session-max-in-flight", "2"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    // A unary transaction holds the writer, so the session's writes wait in flight.
    let held = db.begin().await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    assert_eq!(s.headers.get("sqlited-session-max-in-flight").unwrap(), "2");
    for id in 1..=3 {
        s.send(id, execute("INSERT INTO t VALUES (1)")).await;
    }
    let frame = s.next().await;
    assert_eq!(frame.request_id, 3);
    let (code, message) = failure(frame.response.unwrap());
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    assert!(message.contains("--session-max-in-flight"), "{message}");
    // An id already in flight, and a frame without a request, fail alone too.
    s.send(1, execute("INSERT INTO t VALUES (1)")).await;
    let (code, message) = failure(s.answer_of(1).await);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    s.send_frame(SessionRequest {
        request_id: 9,
        request: None,
        timeout_ms: 0,
    })
    .await;
    let (code, _) = failure(s.answer_of(9).await);
    assert_eq!(code, Code::InvalidArgument);
    held.rollback().await.unwrap();
    let mut done = 0;
    while done < 2 {
        let frame = s.next().await;
        assert!(matches!(frame.response, Some(Answer::Execute(_))), "{frame:?}");
        done += 1;
    }
    let n: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_has_its_session_ended_at_the_deadline() {
    let server = Server::start_with(&[
        "--readers",
        "1",
        "--statement-timeout-ms",
        "1500",
        "--session-max-buffered-bytes",
        "65536",
    ]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    // A query granted a huge window, whose answers the client does not read at all: they
    // fill the transport, then the session's buffer.
    s.send(1, query(ENDLESS)).await;
    s.send(1, Kind::More(SessionMore { frames: 1 << 20 })).await;
    // The reader is free again once the session gave up on its client (a read that waited
    // for it meanwhile may have reached its own deadline: poll).
    eventually(Duration::from_secs(20), "the reader free again", || async {
        let read = db.query_all("SELECT 1", ()).await;
        if let Err(err) = &read {
            assert_eq!(err.status_code(), Some(Code::DeadlineExceeded), "{err}");
        }
        read
    })
    .await;
    // Reading at last, the client learns why: its session was ended, or — when the worker's
    // own wait for the stream ran out first and the error found room — the query failed
    // alone. Either way with the slow-consumer rule's DEADLINE_EXCEEDED.
    let (code, message) = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), s.answers.message());
        match next.await.expect("an answer or the session's end") {
            Ok(Some(SessionResponse {
                response: Some(Answer::Error(e)),
                ..
            })) => break (Code::from(e.code), e.message),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the session ended without an error"),
            Err(status) => break (status.code(), status.message().to_string()),
        }
    };
    // (With worker processes the statement may be stopped by its deadline first.)
    assert_eq!(code, Code::DeadlineExceeded, "{message}");
    assert!(message.contains("too slowly") || message.contains("deadline"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_checks_the_token_of_each_request_as_unary_calls_do() {
    use crate::security::{READER, WRITER, credentials};
    let dir = tempfile::tempdir().unwrap();
    let file = credentials(dir.path(), "");
    let server = Server::start_with(&["--credentials", file.to_str().unwrap()]);
    // No token: the stream itself is refused.
    let err = RawSession::open(&server, None).await.err().unwrap();
    assert_eq!(err.code(), Code::Unauthenticated, "{}", err.message());
    let mut writer = RawSession::open(&server, Some(WRITER)).await.unwrap();
    writer.send(1, execute("CREATE TABLE t (x)")).await;
    let (code, message) = failure(writer.answer_of(1).await);
    assert_eq!(code, Code::PermissionDenied, "{message}");

    let admin = sqlited_client::Client::connect_with(
        &server.url(),
        sqlited_client::ClientOptions::default().with_token(crate::security::ADMIN),
    )
    .await
    .unwrap();
    admin
        .database("app")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap();
    writer.send(2, execute("INSERT INTO t VALUES (1)")).await;
    assert!(matches!(writer.answer_of(2).await, Answer::Execute(_)));
    // A reader reads, and is refused writes request by request: the session goes on.
    let mut reader = RawSession::open(&server, Some(READER)).await.unwrap();
    reader.send(1, execute("INSERT INTO t VALUES (2)")).await;
    let (code, message) = failure(reader.answer_of(1).await);
    assert_eq!(code, Code::PermissionDenied, "{message}");
    reader.send(2, query("SELECT count(*) FROM t")).await;
    match reader.answer_of(2).await {
        Answer::Query(q) => assert!(q.summary.is_some()),
        other => panic!("{other:?}"),
    }
    // A begin needs the write role as Begin does.
    reader.send(3, begin(0)).await;
    let (code, _) = failure(reader.answer_of(3).await);
    assert_eq!(code, Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_sessions_without_waiting_out_the_grace_period() {
    let mut server = Server::start_with(&["--shutdown-grace-secs", "60"]);
    server.database("app").await.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let mut s = RawSession::open(&server, None).await.unwrap();
    s.send(1, begin(0)).await;
    assert!(matches!(s.answer_of(1).await, Answer::Begin(_)));
    // An idle session with an open transaction does not hold the shutdown for its grace
    // period: it ends UNAVAILABLE, its transaction rolled back, and the server exits.
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), s.answers.message());
        match next.await.expect("the session ends") {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the session ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(status.message().contains("shutting down"), "{}", status.message());
    assert!(server.wait_exit().success());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the shutdown waited {:?} for an idle session",
        started.elapsed()
    );
}

/// A session's end in `sqlited_requests_total`: OK when its client closed its side, and OK
/// when the client disconnected with everything answered (a shell that exits does so, and
/// every such end used to count as CANCELLED); CANCELLED only when it left a request
/// running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_counts_as_ok_unless_its_client_left_a_request_running() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();

    // Half-closed: the server answers and ends the stream with OK.
    let mut closed = RawSession::open(&server, None).await.unwrap();
    closed.send(1, execute("INSERT INTO t VALUES (1)")).await;
    assert!(matches!(closed.answer_of(1).await, Answer::Execute(_)));
    closed.close();
    let end = tokio::time::timeout(Duration::from_secs(30), closed.answers.message()).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
    drop(closed);
    // Disconnected after its answer, as a process that exits.
    let mut left = RawSession::open(&server, None).await.unwrap();
    left.send(1, query("SELECT count(*) FROM t")).await;
    assert!(matches!(left.answer_of(1).await, Answer::Query(_)));
    drop(left);
    // Disconnected while a query still runs: that query was cancelled.
    let mut running = RawSession::open(&server, None).await.unwrap();
    running.send(1, query(ENDLESS)).await;
    assert_eq!(running.next().await.request_id, 1, "the query's first frame");
    drop(running);

    let addr = server.metrics_addr();
    let count = |code: &str| {
        crate::metrics::sample(
            addr,
            "sqlited_requests_total",
            &["rpc=\"Session\"", &format!("code=\"{code}\"")],
        )
        .unwrap_or(0.0)
    };
    eventually(Duration::from_secs(30), "three sessions counted", || {
        std::future::ready(count("OK") + count("CANCELLED") >= 3.0)
    })
    .await;
    assert_eq!((count("OK"), count("CANCELLED")), (2.0, 1.0));
}
