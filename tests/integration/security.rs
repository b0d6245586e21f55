//! Security: tokens and roles, the SQL sandbox, symlinks, TLS and mutual TLS, limits. Each
//! test tries to break one rule.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlited_client::{Client, ClientOptions, ErrorKind, blocking, params};
use tonic::Code;

use crate::harness::{Server, eventually_blocking, scalar, sqlited_binary, token_hash as hash};

pub const ADMIN: &str = "sqlited_admin-token-for-tests";
pub const WRITER: &str = "sqlited_writer-token-for-tests";
pub const READER: &str = "sqlited_reader-token-for-tests";

/// A credentials file in `dir` with the three test tokens.
pub fn credentials(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("credentials.toml");
    let text = format!(
        "[[token]]\nname = \"admin\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"admin\" }}\n\n\
         [[token]]\nname = \"writer\"\nsha256 = \"{}\"\nroles = {{ app = \"write\", \"other_*\" = \"read\" }}\n\n\
         [[token]]\nname = \"reader\"\nsha256 = \"{}\"\nroles = {{ app = \"read\" }}\n{extra}",
        hash(ADMIN),
        hash(WRITER),
        hash(READER)
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn with_token(token: &str) -> ClientOptions {
    ClientOptions::default().with_token(token)
}

pub async fn connect(server: &Server, token: &str) -> Client {
    Client::connect_with(&server.url(), with_token(token))
        .await
        .unwrap()
}

fn code(err: sqlited_client::Error) -> Option<Code> {
    err.status_code()
}

/// A server with the test tokens' credentials file.
pub struct AuthServer {
    pub server: Server,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

/// A server started with `args`, with the three test tokens and `extra` credentials.
pub fn auth_server(extra: &str, args: &[&str]) -> AuthServer {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials(dir.path(), extra);
    let mut all = vec!["--credentials", file.to_str().unwrap()];
    all.extend_from_slice(args);
    AuthServer {
        server: Server::start_with(&all),
        _dir: dir,
        file,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_a_wrong_one_is_unauthenticated() {
    let s = auth_server("", &[]);
    let anonymous = Client::connect(&s.server.url()).await.unwrap();
    let err = anonymous
        .database("app")
        .execute("SELECT 1", ())
        .await
        .unwrap_err();
    assert_eq!(code(err.clone()), Some(Code::Unauthenticated), "{err}");
    assert!(err.to_string().contains("Bearer"), "{err}");
    let wrong = connect(&s.server, "sqlited_guess").await;
    let err = wrong
        .database("app")
        .query_all("SELECT 1", ())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(Code::Unauthenticated));
    assert!(wrong.admin().list_databases().await.is_err());
    // Health checks need no token, so orchestrators can probe.
    let status = Command::new(sqlited_binary())
        .args(["healthcheck", "--addr", &s.server.url()])
        .status()
        .unwrap();
    assert!(status.success());
    // The log names refusals but never a token.
    let log = s.server.log();
    assert!(log.contains("refused: unknown token"), "{log}");
    assert!(!log.contains("sqlited_guess"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_cannot_write_by_any_route() {
    let s = auth_server("", &[]);
    let admin = connect(&s.server, ADMIN).await.database("app");
    admin
        .execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y)", ())
        .await
        .unwrap();
    admin
        .execute(
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET y = 1; END",
            (),
        )
        .await
        .unwrap();
    admin
        .execute("INSERT INTO t VALUES (1, 0)", ())
        .await
        .unwrap();
    let reader = connect(&s.server, READER).await;
    let db = reader.database("app");
    assert_eq!(db.query_all("SELECT x FROM t", ()).await.unwrap().len(), 1);
    let denied = |result: Result<_, sqlited_client::Error>| {
        let err = result.expect_err("refused");
        assert_eq!(code(err.clone()), Some(Code::PermissionDenied), "{err}");
    };
    denied(
        db.execute("INSERT INTO t VALUES (2, 0)", ())
            .await
            .map(|_| ()),
    );
    denied(db.execute("SELECT 1", ()).await.map(|_| ()));
    denied(db.execute_batch([("SELECT 1", ())]).await.map(|_| ()));
    // Query routes: RETURNING, a CTE feeding a write, a write that would fire a trigger.
    denied(
        db.query_all("INSERT INTO t VALUES (3, 0) RETURNING x", ())
            .await
            .map(|_| ()),
    );
    denied(
        db.query_all(
            "WITH v(a) AS (SELECT 4) INSERT INTO t SELECT a, 0 FROM v RETURNING x",
            (),
        )
        .await
        .map(|_| ()),
    );
    denied(
        db.query_all("UPDATE t SET y = 2 RETURNING x", ())
            .await
            .map(|_| ()),
    );
    denied(
        db.query_all("DELETE FROM t RETURNING x", ())
            .await
            .map(|_| ()),
    );
    denied(db.begin().await.map(|_| ()));
    // A statement the admin had prepared (and cached) on the writer under a text that looks
    // like a read key is not reused for the reader, whose query the writer runs (the route of
    // that SQL is known to write).
    for sql in [
        "INSERT INTO t VALUES (9, 0)",
        "/*r*/INSERT INTO t VALUES (9, 0)",
        "/*r*/INSERT INTO t VALUES (9, 0) RETURNING x",
    ] {
        admin.query_all(sql, ()).await.unwrap();
        admin
            .execute("DELETE FROM t WHERE x = 9", ())
            .await
            .unwrap();
    }
    denied(
        db.query_all("INSERT INTO t VALUES (9, 0)", ())
            .await
            .map(|_| ()),
    );
    denied(
        db.query_all("INSERT INTO t VALUES (9, 0) RETURNING x", ())
            .await
            .map(|_| ()),
    );
    // A read-only transaction reads, and cannot write either.
    let tx = db
        .begin_with(sqlited_client::TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tx.query_all("SELECT x FROM t", ()).await.unwrap().len(), 1);
    denied(
        tx.query_all("INSERT INTO t VALUES (5, 0) RETURNING x", ())
            .await
            .map(|_| ()),
    );
    tx.rollback().await.unwrap();
    // Maps: reads yes, writes no.
    let map = db.raw_map("m");
    assert_eq!(map.len().await.unwrap(), 0);
    denied(
        map.set_many(vec![(b"k".to_vec(), b"v".to_vec())])
            .await
            .map(|_| ()),
    );
    denied(
        map.set(b"k", b"v", sqlited_client::map::Condition::Always)
            .await
            .map(|_| ()),
    );
    // Admin RPCs, and databases it holds no role on.
    let mut sink = Vec::new();
    denied(reader.admin().backup("app", &mut sink).await.map(|_| ()));
    denied(reader.admin().vacuum("app").await.map(|_| ()));
    denied(
        reader
            .database("other")
            .query_all("SELECT 1", ())
            .await
            .map(|_| ()),
    );
    let listed = reader.admin().list_databases().await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["app"]
    );
    // Nothing changed: the one row, as the admin's insert (and its trigger) left it.
    let rows = admin.query_all("SELECT x, y FROM t", ()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64>(1).unwrap(), 1);
    assert_eq!(
        admin.raw_map("m").len().await.unwrap(),
        0,
        "the map stayed empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_token_changes_rows_but_not_the_schema() {
    let s = auth_server("", &[]);
    let admin = connect(&s.server, ADMIN).await.database("app");
    admin.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let writer = connect(&s.server, WRITER).await;
    let db = writer.database("app");
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    // Rows of a map, once it exists (creating one is a schema change: see hostile_ops).
    admin
        .raw_map("m")
        .set_many(vec![(b"a".to_vec(), b"b".to_vec())])
        .await
        .unwrap();
    db.raw_map("m")
        .set_many(vec![(b"k".to_vec(), b"v".to_vec())])
        .await
        .unwrap();
    for ddl in [
        "CREATE TABLE u (x)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN y",
        "CREATE INDEX i ON t (x)",
        "CREATE TEMP TABLE tmp (x)",
        "PRAGMA user_version = 7",
    ] {
        let err = db.execute(ddl, ()).await.unwrap_err();
        assert_eq!(
            code(err.clone()),
            Some(Code::PermissionDenied),
            "{ddl}: {err}"
        );
    }
    admin.execute("PRAGMA user_version = 7", ()).await.unwrap();
    // A token with no admin role cannot create databases by naming them: a read finds
    // nothing, a write is refused.
    let err = writer
        .database("other_new")
        .query_all("SELECT 1", ())
        .await
        .unwrap_err();
    assert_eq!(code(err.clone()), Some(Code::NotFound), "{err}");
    let err = writer
        .database("other_new")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code(err.clone()), Some(Code::PermissionDenied), "{err}");
    // The whole message, word for word (it once carried a run of spaces).
    assert_eq!(
        err.message(),
        "token \"writer\" has the read role on database \"other_new\"; Execute needs the write \
         role (grant it in the credentials file)"
    );
    assert!(!s.server.data_dir.join("other_new.db").exists());
    // One token's transaction is invisible to another.
    let tx = db.begin().await.unwrap();
    let id = tx.transaction_id().unwrap().to_string();
    let mut rpc =
        sqlited_client::proto::v1::database_client::DatabaseClient::connect(s.server.url())
            .await
            .unwrap();
    let mut request = tonic::Request::new(sqlited_client::proto::v1::CommitRequest {
        transaction_id: id.clone(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let status = rpc.commit(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_keeps_sql_inside_its_database() {
    let server = Server::start();
    let db = server.database("app").await;
    let other = server.data_dir.join("app.db").to_string_lossy().into_owned();
    for (sql, params, lifted) in [
        ("ATTACH DATABASE '/etc/passwd' AS p", params![], true),
        // Named by a bound parameter, SQLite shows the authorizer no file name at all.
        ("ATTACH ?1 AS p", params![other.clone()], true),
        ("SELECT load_extension('/tmp/x.so')", params![], false),
        ("PRAGMA writable_schema = 1", params![], false),
        ("PRAGMA foreign_keys = OFF", params![], false),
        ("PRAGMA database_list", params![], true),
        ("PRAGMA journal_mode = DELETE", params![], false),
        ("PRAGMA recursive_triggers = ON", params![], true),
    ] {
        let err = db.query_all(sql, params).await.unwrap_err();
        assert_eq!(
            code(err.clone()),
            Some(Code::PermissionDenied),
            "{sql}: {err}"
        );
        // Each refusal says whether --unsafe-sql would lift it.
        assert_eq!(
            err.to_string().contains("--unsafe-sql") && !err.to_string().contains("even with"),
            lifted,
            "{sql}: {err}"
        );
    }
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for sql in [
        "PRAGMA table_info(t)",
        "PRAGMA foreign_keys",
        "PRAGMA integrity_check",
    ] {
        db.query_all(sql, ())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // A trusted deployment can lift it, for the data directory's databases.
    let unsafe_server = Server::start_with(&["--unsafe-sql"]);
    unsafe_server.ensure_database("side");
    let db = unsafe_server.database("app").await;
    let side = unsafe_server.data_dir.join("side.db");
    let attach = format!("ATTACH DATABASE '{}' AS side", side.display());
    db.execute(&attach, ()).await.unwrap();
}

/// Every virtual-table module compiled in, each with a table of it and reads of it.
const VIRTUAL_TABLES: &[(&str, &[&str], &[&str])] = &[
    (
        "rtree",
        &[
            "CREATE VIRTUAL TABLE rt USING rtree(id, x0, x1)",
            "INSERT INTO rt VALUES (1, 0, 5)",
        ],
        &["SELECT id FROM rt WHERE x0 < 1", "SELECT count(*) FROM rt"],
    ),
    (
        "rtree_i32",
        &[
            "CREATE VIRTUAL TABLE ri USING rtree_i32(id, x0, x1)",
            "INSERT INTO ri VALUES (1, 0, 5)",
        ],
        &["SELECT id FROM ri WHERE x1 > 4"],
    ),
    (
        "fts3",
        &[
            "CREATE VIRTUAL TABLE f3 USING fts3(body)",
            "INSERT INTO f3 VALUES ('hello world')",
        ],
        &["SELECT body FROM f3 WHERE f3 MATCH 'hello'"],
    ),
    (
        "fts4",
        &[
            "CREATE VIRTUAL TABLE f4 USING fts4(body)",
            "INSERT INTO f4 VALUES ('hello world')",
        ],
        &["SELECT snippet(f4) FROM f4 WHERE f4 MATCH 'world'"],
    ),
    (
        "fts4aux",
        &["CREATE VIRTUAL TABLE f4a USING fts4aux(f4)"],
        &["SELECT term FROM f4a"],
    ),
    (
        "fts5",
        &[
            "CREATE VIRTUAL TABLE f5 USING fts5(body)",
            "INSERT INTO f5 VALUES ('hello world')",
        ],
        &["SELECT highlight(f5, 0, '[', ']') FROM f5 WHERE f5 MATCH 'hello'"],
    ),
    (
        "fts5vocab",
        &["CREATE VIRTUAL TABLE f5v USING fts5vocab(f5, 'row')"],
        &["SELECT term FROM f5v"],
    ),
    (
        "fts3tokenize",
        &["CREATE VIRTUAL TABLE tok USING fts3tokenize(simple)"],
        &["SELECT token FROM tok WHERE input = 'two words'"],
    ),
    (
        "json_each",
        &[],
        &["SELECT value FROM json_each('[1, 2]')"],
    ),
    (
        "json_tree",
        &[],
        &["SELECT key FROM json_tree('{\"a\": [1]}')"],
    ),
    ("dbstat", &[], &["SELECT count(*) FROM dbstat"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_reads_every_virtual_table_module_and_no_token_writes_a_shadow_table() {
    let s = auth_server("", &[]);
    let admin = connect(&s.server, ADMIN).await.database("app");
    for (_, create, _) in VIRTUAL_TABLES {
        for sql in *create {
            admin
                .execute(sql, ())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    // The table covers every module this build has (geopoly, say, would need a row).
    let modules = admin.query_all("PRAGMA module_list", ()).await.unwrap();
    for module in modules {
        let name: String = module.get(0).unwrap();
        assert!(
            VIRTUAL_TABLES.iter().any(|(known, _, _)| *known == name),
            "module {name} has no read in VIRTUAL_TABLES"
        );
    }
    // The readers never touched these tables: the read token's statement is the first to
    // connect each (R-Tree prepares its own INSERT INTO rt_node then).
    let reader = connect(&s.server, READER).await.database("app");
    for (module, _, reads) in VIRTUAL_TABLES {
        for sql in *reads {
            reader
                .query_all(sql, ())
                .await
                .unwrap_or_else(|e| panic!("{module}: {sql}: {e}"));
        }
    }
    for check in ["PRAGMA integrity_check", "PRAGMA quick_check"] {
        assert_eq!(scalar::<String>(&reader, check).await, "ok", "{check}");
    }
    // In a read-only transaction, on a reader of its own.
    let tx = reader
        .begin_with(sqlited_client::TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    for (module, _, reads) in VIRTUAL_TABLES {
        for sql in *reads {
            tx.query_all(sql, ())
                .await
                .unwrap_or_else(|e| panic!("{module} in a transaction: {sql}: {e}"));
        }
    }
    let ok: String = tx
        .query_one("PRAGMA integrity_check", ())
        .await
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(ok, "ok");
    tx.rollback().await.unwrap();
    // The read token writes no virtual table; no token writes a shadow table.
    for sql in [
        "INSERT INTO rt VALUES (2, 0, 1)",
        "INSERT INTO f5 VALUES ('more')",
        "DELETE FROM f3",
    ] {
        let err = reader.query_all(sql, ()).await.unwrap_err();
        assert_eq!(code(err.clone()), Some(Code::PermissionDenied), "{sql}: {err}");
    }
    let writer = connect(&s.server, WRITER).await.database("app");
    for db in [&writer, &admin] {
        for sql in [
            "INSERT INTO rt_node VALUES (9, x'00')",
            "DELETE FROM rt_rowid",
            "UPDATE f3_segdir SET root = x'ff'",
            "DELETE FROM f4_content",
            "INSERT INTO f5_data VALUES (99, x'00')",
            "UPDATE f5_config SET v = 9",
        ] {
            let err = db.execute(sql, ()).await.unwrap_err();
            assert!(
                matches!(
                    code(err.clone()),
                    Some(Code::PermissionDenied | Code::InvalidArgument | Code::FailedPrecondition)
                ),
                "{sql}: {err}"
            );
        }
    }
    // The write token writes the virtual tables themselves (their modules write the shadow
    // tables), FTS3's merge setting included (it makes the %_stat table).
    for sql in [
        "INSERT INTO rt VALUES (3, 1, 2)",
        "INSERT INTO f3 VALUES ('three')",
        "INSERT INTO f3(f3) VALUES ('automerge=8')",
        "INSERT INTO f5 VALUES ('five')",
    ] {
        writer
            .execute(sql, ())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(
        scalar::<String>(&admin, "PRAGMA integrity_check").await,
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_in_the_data_dir_is_refused() {
    let server = Server::start();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("secret.db");
    {
        let conn = rusqlite_like_file(&target);
        drop(conn);
    }
    std::os::unix::fs::symlink(&target, server.data_dir.join("evil.db")).unwrap();
    let db = server.database("evil").await;
    let err = db.query_all("SELECT 1", ()).await.unwrap_err();
    assert_eq!(code(err.clone()), Some(Code::PermissionDenied), "{err}");
    // A link to a WAL is refused as well, when a write would create the database.
    std::os::unix::fs::symlink(&target, server.data_dir.join("walled.db-wal")).unwrap();
    let err = server
        .database("walled")
        .await
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(Code::PermissionDenied));
    let client = Client::connect(&server.url()).await.unwrap();
    let listed = client.admin().list_databases().await.unwrap();
    assert!(listed.iter().all(|d| d.name != "evil"));
}

/// Some bytes in a file, standing for a database outside the data directory.
fn rusqlite_like_file(path: &Path) -> std::fs::File {
    let file = std::fs::File::create(path).unwrap();
    std::fs::write(path, b"outside").unwrap();
    file
}

/// A CA and a certificate it signed for `names`, as PEM: (ca, cert, key).
fn certificates(
    names: &[&str],
) -> (
    String,
    String,
    String,
    rcgen::Issuer<'static, rcgen::KeyPair>,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem(), issuer)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_and_without_the_right_ca_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, issuer) = certificates(&["localhost"]);
    let (other_ca, ..) = certificates(&["localhost"]);
    let cert_file = write(dir.path(), "cert.pem", &cert);
    let key_file = write(dir.path(), "key.pem", &key);
    let server = Server::start_with(&["--tls-cert", &cert_file, "--tls-key", &key_file]);
    // Reads create nothing: the database the reads below use exists.
    std::fs::File::create(server.data_dir.join("app.db")).unwrap();
    let url = format!("https://localhost:{}", server.addr().port());
    let options = |ca: &str| ClientOptions {
        tls_ca_pem: Some(ca.as_bytes().to_vec()),
        ..ClientOptions::default()
    };
    let client = Client::connect_with(&url, options(&ca)).await.unwrap();
    assert_eq!(
        client
            .database("app")
            .query_all("SELECT 1", ())
            .await
            .unwrap()
            .len(),
        1
    );
    // The wrong CA, the system's roots, or plain text: no answer.
    for options in [options(&other_ca), ClientOptions::default()] {
        let refused = match Client::connect_with(&url, options).await {
            Err(_) => true,
            Ok(client) => client
                .database("app")
                .query_all("SELECT 1", ())
                .await
                .is_err(),
        };
        assert!(refused);
    }
    // The healthcheck subcommand speaks TLS with the CA; without it, it cannot verify.
    let healthcheck = |extra: &[&str]| {
        Command::new(sqlited_binary())
            .args(["healthcheck", "--addr", &url])
            .args(extra)
            .output()
            .unwrap()
            .status
            .success()
    };
    let ca_file = write(dir.path(), "ca.pem", &ca);
    assert!(healthcheck(&["--ca", &ca_file]));
    assert!(!healthcheck(&[]));
    let plain = format!("http://127.0.0.1:{}", server.addr().port());
    let refused = match Client::connect(&plain).await {
        Err(_) => true,
        Ok(client) => client
            .database("app")
            .query_all("SELECT 1", ())
            .await
            .is_err(),
    };
    assert!(refused);
    drop(server);

    // Mutual TLS: only a client certificate signed by the client CA gets in.
    let (client_ca, client_cert, client_key, _) = certificates(&["client"]);
    let client_ca_file = write(dir.path(), "client-ca.pem", &client_ca);
    let server = Server::start_with(&[
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
        "--tls-client-ca",
        &client_ca_file,
    ]);
    std::fs::File::create(server.data_dir.join("app.db")).unwrap();
    let url = format!("https://localhost:{}", server.addr().port());
    let attempt = |identity: Option<(String, String)>| {
        let url = url.clone();
        let ca = ca.clone();
        async move {
            let options = ClientOptions {
                tls_ca_pem: Some(ca.into_bytes()),
                tls_identity_pem: identity.map(|(c, k)| (c.into_bytes(), k.into_bytes())),
                ..ClientOptions::default()
            };
            match Client::connect_with(&url, options).await {
                Err(_) => false,
                Ok(client) => client
                    .database("app")
                    .query_all("SELECT 1", ())
                    .await
                    .is_ok(),
            }
        }
    };
    assert!(attempt(Some((client_cert.clone(), client_key.clone()))).await);
    assert!(!attempt(None).await);
    // Health checks of a mutual-TLS server present a client certificate too.
    let client_cert_file = write(dir.path(), "client.pem", &client_cert);
    let client_key_file = write(dir.path(), "client.key", &client_key);
    let ca_file = dir.path().join("ca.pem");
    let checked = Command::new(sqlited_binary())
        .args(["healthcheck", "--addr", &url, "--ca"])
        .arg(&ca_file)
        .args(["--cert", &client_cert_file, "--key", &client_key_file])
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    // A certificate from another CA (here: the server's CA) is refused.
    let wrong_key = rcgen::KeyPair::generate().unwrap();
    let wrong = rcgen::CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .signed_by(&wrong_key, &issuer)
        .unwrap();
    assert!(!attempt(Some((wrong.pem(), wrong_key.serialize_pem()))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_is_told_to_slow_down() {
    let limited = "sqlited_limited-token";
    let extra = format!(
        "\n[[token]]\nname = \"limited\"\nsha256 = \"{}\"\nroles = {{ app = \"read\" }}\nrequests_per_second = 5\n",
        hash(limited)
    );
    let s = auth_server(&extra, &[]);
    connect(&s.server, ADMIN)
        .await
        .database("app")
        .execute("SELECT 1", ())
        .await
        .unwrap();
    let db = connect(&s.server, limited).await.database("app");
    let mut refused = None;
    for _ in 0..50 {
        if let Err(err) = db.query_all("SELECT 1", ()).await {
            refused = Some(err);
            break;
        }
    }
    let err = refused.expect("the rate limit never answered");
    assert_eq!(code(err.clone()), Some(Code::ResourceExhausted), "{err}");
    assert!(err.is_retryable());
    // Other tokens are not slowed.
    let other = connect(&s.server, READER).await.database("app");
    other.query_all("SELECT 1", ()).await.unwrap();
}

#[test]
fn sighup_reloads_the_credentials_and_a_bad_file_keeps_the_old_ones() {
    let s = auth_server("", &[]);
    // The admin's connection creates the database, which the reader's may not.
    blocking::connect_with(&s.server.db_url("app"), with_token(ADMIN))
        .unwrap()
        .execute("CREATE TABLE t (x)", ())
        .unwrap();
    let reader = blocking::connect_with(&s.server.db_url("app"), with_token(READER)).unwrap();
    reader.query("SELECT 1", ()).unwrap();
    // A broken file is refused; the reader keeps working.
    std::fs::write(&s.file, "this is not toml [").unwrap();
    s.server.signal(libc::SIGHUP);
    let bound = Duration::from_secs(10);
    eventually_blocking(bound, "the reload's refusal logged", || {
        s.server.logged(|log| log.contains("was not reloaded"))
    });
    reader.query("SELECT 1", ()).unwrap();
    // Revoking the reader takes effect without a restart.
    let text = format!(
        "[[token]]\nname = \"admin\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"admin\" }}\n",
        hash(ADMIN)
    );
    std::fs::write(&s.file, text).unwrap();
    s.server.signal(libc::SIGHUP);
    eventually_blocking(bound, "the revoked token refused", || {
        match reader.query("SELECT 1", ()) {
            Err(err)
                if err.kind() == ErrorKind::Operational
                    || err.status_code() == Some(Code::Unauthenticated) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn listening_beyond_loopback_without_auth_or_tls_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(sqlited_binary())
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let warned = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.starts_with("WARNING") => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_does_not_come_in_time_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, _) = certificates(&["localhost"]);
    let cert_file = write(dir.path(), "cert.pem", &cert);
    let key_file = write(dir.path(), "key.pem", &key);
    let server = Server::start_with(&[
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
        "--handshake-timeout-ms",
        "300",
    ]);
    std::fs::File::create(server.data_dir.join("app.db")).unwrap();
    // A TCP connection that never starts its handshake, and one that stops halfway through
    // a ClientHello's record header.
    let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut halfway = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut halfway, &[0x16, 0x03, 0x01])
        .await
        .unwrap();
    crate::harness::closed_within(&mut silent, Duration::from_secs(15)).await;
    crate::harness::closed_within(&mut halfway, Duration::from_secs(15)).await;
    // A client that completes its handshake is served.
    let url = format!("https://localhost:{}", server.addr().port());
    let options = ClientOptions {
        tls_ca_pem: Some(ca.as_bytes().to_vec()),
        ..ClientOptions::default()
    };
    let client = Client::connect_with(&url, options).await.unwrap();
    assert!(client.database("app").query_all("SELECT 1", ()).await.is_ok());
}
