//! sqlited-cli against a real server, driven through its standard input and -c.

#[allow(dead_code)]
#[path = "../../tests/integration/harness.rs"]
mod harness;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use harness::{Server, eventually_blocking};

/// How long the shell may take to show what a test awaits.
const SHELL_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

fn cli(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlited-cli"))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sqlited-cli");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_script_on_stdin_with_every_output_mode() {
    let server = Server::start();
    let url = server.db_url("shell");
    let script = "\
CREATE TABLE t (
  id INTEGER PRIMARY KEY,
  name TEXT
);
INSERT INTO t (name) VALUES ('a,b'), ('c'); INSERT INTO t (name) VALUES (NULL);
.mode csv
SELECT id, name FROM t ORDER BY id;
.mode json
SELECT id, name FROM t WHERE id = 1;
.mode line
SELECT count(*) AS n FROM t;
.mode table
SELECT name FROM t WHERE id = 2;
.tables
.schema t
.timer on
SELECT 1;
";
    let out = cli(&[&url], script);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("id,name\r\n1,\"a,b\"\r\n2,c\r\n3,\r\n"),
        "{stdout}"
    );
    assert!(stdout.contains("[{\"id\":1,\"name\":\"a,b\"}]"), "{stdout}");
    assert!(stdout.contains("    n = 3"), "{stdout}");
    assert!(
        stdout.contains("| name |\n") && stdout.contains("| c    |"),
        "{stdout}"
    );
    assert!(stdout.contains("\nt\n"), ".tables: {stdout}");
    assert!(stdout.contains("CREATE TABLE t ("), ".schema: {stdout}");
    assert!(stdout.contains("Run Time: real"), "{stdout}");
}

#[test]
fn errors_show_their_kind_and_code_and_set_the_exit_code() {
    let server = Server::start();
    let url = server.db_url("errs");
    let out = cli(&[&url], "SELEC 1;\nSELECT 2;\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ProgrammingError")
            && stderr.contains("SQLITE_ERROR")
            && stderr.contains("code 1"),
        "{stderr}"
    );
    // It went on after the error.
    assert!(text(&out.stdout).contains("| 2 |"), "{out:?}");

    let out = cli(&[&url, "-c", "SELECT 40 + 2 AS answer"], "");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("| 42     |"), "{out:?}");

    let out = cli(&[&url, "-c", ".nonsense"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(".help"), "{out:?}");

    let out = cli(&["http://127.0.0.1:1/x", "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn read_backup_and_databases() {
    let server = Server::start();
    let url = server.db_url("files");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("setup.sql");
    std::fs::write(
        &script,
        "CREATE TABLE k (v);\nINSERT INTO k VALUES (1), (2);\n",
    )
    .unwrap();
    let backup = dir.path().join("files.db");
    let commands = format!(
        ".read {}\nSELECT sum(v) AS total FROM k;\n.backup {}\n.databases\n",
        script.display(),
        backup.display()
    );
    let out = cli(&[&url, "--mode", "csv"], &commands);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("total\n3\n"), "{stdout}");
    assert!(stdout.contains("backed up files"), "{stdout}");
    assert!(
        stdout.contains("name,file_bytes,wal_bytes,open\nfiles,"),
        "{stdout}"
    );
    let header = std::fs::read(&backup).unwrap();
    assert_eq!(&header[..16], b"SQLite format 3\0");
}

#[test]
fn connects_with_a_token_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A CA and a server certificate for localhost.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(path("ca.pem"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    // A token with the admin role, hashed the way `sqlited token hash` does.
    let token = "sqlited_cli-test-token";
    let hash = harness::token_hash(token);
    std::fs::write(
        path("credentials.toml"),
        format!(
            "[[token]]\nname = \"cli\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"admin\" }}\n",
            hash.trim()
        ),
    )
    .unwrap();
    let server = Server::start_with(&[
        "--tls-cert",
        &path("cert.pem"),
        "--tls-key",
        &path("key.pem"),
        "--credentials",
        &path("credentials.toml"),
    ]);
    // Reads create nothing: the database the statement reads exists.
    std::fs::File::create(server.data_dir.join("shell.db")).unwrap();
    let url = format!("https://localhost:{}/shell", server.addr().port());
    let ca = path("ca.pem");
    let out = cli(
        &[
            &url,
            "--ca",
            &ca,
            "--token",
            token,
            "-c",
            "SELECT 40 + 2 AS n;",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("42"), "{out:?}");
    // Without the token: refused, with the reason and a failing exit code.
    let out = cli(&[&url, "--ca", &ca, "-c", "SELECT 1;"], "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("token"), "{out:?}");
}

/// Runs sqlite3 (installed by .ci/run) on the database file `db` with `input` on stdin.
fn sqlite3(db: &std::path::Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlite3 is needed for this test (apt-get install -y sqlite3; .ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sqlite3 {args:?}: {out:?}");
    text(&out.stdout)
}

/// Every table of `db` with its rows (as SQL literals, in rowid order), and the schema.
fn contents(db: &std::path::Path) -> Vec<(String, String)> {
    let tables = sqlite3(
        db,
        &[],
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name;",
    );
    let mut all: Vec<(String, String)> = tables
        .lines()
        .map(|table| {
            let rows = sqlite3(
                db,
                &["-cmd", ".mode quote"],
                &format!("SELECT * FROM \"{table}\" ORDER BY rowid;"),
            );
            (table.to_string(), rows)
        })
        .collect();
    let schema = sqlite3(
        db,
        &["-cmd", ".mode quote"],
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name;",
    );
    all.push(("schema".into(), schema));
    all
}

#[test]
fn a_sqlite3_dump_loads_and_dumps_back_the_same_database() {
    let server = Server::start();
    let url = server.db_url("roundtrip");
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.db");
    let mut build = String::from(
        "CREATE TABLE author(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE book(id INTEGER PRIMARY KEY, author INTEGER REFERENCES author(id), title TEXT,
  price REAL, cover BLOB, note TEXT);
CREATE TABLE \"odd name\"(\"select\" TEXT, x);
CREATE TABLE log(what TEXT);
CREATE INDEX book_title ON book(title);
CREATE VIEW priced AS SELECT title, price FROM book WHERE price IS NOT NULL;
CREATE TRIGGER book_added AFTER INSERT ON book BEGIN
  INSERT INTO log VALUES ('added ' || new.title);
END;
INSERT INTO author(name) VALUES ('Ada'), ('O''Brien');
INSERT INTO book VALUES (1, 1, 'It''s \"quoted\"', 1.0, X'00ff10', 'line one
line two'), (2, 2, 'cr' || char(13) || char(10) || 'lf', 0.1 + 0.2, X'', NULL),
  (3, NULL, '', 1e300, NULL, 'back\\slash \\n literal'), (4, 1, 'pi', 3.141592653589793, zeroblob(3), -0.0),
  (5, 2, 'tiny', 2.5e-7, X'CAFE', 9007199254740993);
INSERT INTO \"odd name\" VALUES ('a', 1), (NULL, 2.5);
CREATE TABLE node(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node(id));
INSERT INTO node VALUES (1, 3), (2, 1), (3, NULL);
",
    );
    for i in 0..2000 {
        build.push_str(&format!(
            "INSERT INTO log VALUES ('row {i} with ''quotes'' and, commas');\n"
        ));
    }
    // One transaction: 2,000 autocommitted INSERTs would be 2,000 fsyncs.
    sqlite3(&original, &[], &format!("BEGIN;\n{build}COMMIT;\n"));
    let dump = sqlite3(&original, &[".dump"], "");
    assert!(
        dump.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;"),
        "{dump}"
    );

    let started = std::time::Instant::now();
    let out = cli(&[&url], &dump);
    let took = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stderr).contains("foreign_keys=OFF skipped"),
        "{out:?}"
    );
    // One transaction in batches: well under a second for 2,000 rows (a debug build on a
    // shared machine gets some slack).
    assert!(
        took < std::time::Duration::from_secs(2),
        "loading took {took:?}"
    );

    let out = cli(&[&url, "-c", ".dump"], "");
    assert!(out.status.success(), "{out:?}");
    let ours = text(&out.stdout);
    let copy = dir.path().join("copy.db");
    sqlite3(&copy, &[], &ours);
    assert_eq!(contents(&copy), contents(&original), "our dump:\n{ours}");
    // The trigger came back and works.
    let log = sqlite3(
        &copy,
        &[],
        "INSERT INTO book(id, title) VALUES (9, 'new'); SELECT what FROM log WHERE what = 'added new';",
    );
    assert_eq!(log, "added new\n");

    // .schema replays too: tables first.
    let out = cli(&[&url, "-c", ".schema"], "");
    let schema = text(&out.stdout);
    let table = schema.find("CREATE TABLE log").unwrap();
    assert!(table < schema.find("CREATE VIEW").unwrap(), "{schema}");
    assert!(table < schema.find("CREATE TRIGGER").unwrap(), "{schema}");
    assert!(table < schema.find("CREATE INDEX").unwrap(), "{schema}");
    let replayed = dir.path().join("schema.db");
    sqlite3(&replayed, &[], &schema);
    // .dump of one table only.
    let out = cli(&[&url, "-c", ".dump author"], "");
    let one = text(&out.stdout);
    assert!(
        one.contains("INSERT INTO author VALUES(2,'O''Brien');"),
        "{one}"
    );
    assert!(!one.contains("CREATE TABLE book"), "{one}");
}

#[test]
fn a_dump_that_fails_half_way_leaves_nothing_behind() {
    let server = Server::start();
    let url = server.db_url("halfway");
    let mut dump = String::from(
        "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n",
    );
    for i in 0..1500 {
        dump.push_str(&format!("INSERT INTO t VALUES({i},'v{i}');\n"));
    }
    dump.push_str("INSERT INTO t VALUES(7,'duplicate');\n");
    for i in 1500..1600 {
        dump.push_str(&format!("INSERT INTO t VALUES({i},'v{i}');\n"));
    }
    dump.push_str("CREATE INDEX tv ON t(v);\nCOMMIT;\nSELECT 'after' AS marker;\n");
    let out = cli(&[&url, "--mode", "list"], &dump);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("UNIQUE constraint failed"), "{stderr}");
    assert!(
        stderr.contains("INSERT INTO t VALUES(7,'duplicate');"),
        "{stderr}"
    );
    assert!(stderr.contains("rolled back"), "{stderr}");
    // Without .bail the script goes on after the failed transaction.
    assert!(text(&out.stdout).contains("after"), "{out:?}");
    let out = cli(&[&url, "-c", ".tables"], "");
    assert_eq!(text(&out.stdout), "", "nothing may be left: {out:?}");

    // With -bail (sqlite3's spelling) it stops at the first error.
    let out = cli(&[&url, "-bail", "--mode", "list"], &dump);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!text(&out.stdout).contains("after"), "{out:?}");
    let out = cli(&[&url, "-c", ".tables"], "");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn shell_transactions_commit_and_roll_back() {
    let server = Server::start();
    let url = server.db_url("tx");
    let script = "\
CREATE TABLE t(v);
BEGIN;
INSERT INTO t VALUES ('rolled back');
SELECT count(*) AS inside FROM t;
ROLLBACK;
BEGIN IMMEDIATE TRANSACTION;
INSERT INTO t VALUES ('kept');
UPDATE t SET v = v || '!';
END;
SAVEPOINT outer_sp;
INSERT INTO t VALUES ('released');
RELEASE outer_sp;
SAVEPOINT sp;
INSERT INTO t VALUES ('undone');
ROLLBACK TO sp;
INSERT INTO t VALUES ('after rollback to');
RELEASE SAVEPOINT sp;
SELECT group_concat(v, '|') AS v FROM t;
";
    let out = cli(&[&url, "--mode", "list"], script);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("inside\n1\n"), "{stdout}");
    assert!(
        stdout.contains("v\nkept!|released|after rollback to\n"),
        "{stdout}"
    );
    // Savepoints nest inside a transaction, on the server; ROLLBACK TO keeps the savepoint
    // and the transaction, RELEASE of an inner one keeps the transaction.
    let script = "\
BEGIN;
INSERT INTO t VALUES ('n1');
SAVEPOINT a;
INSERT INTO t VALUES ('undone');
SAVEPOINT b;
INSERT INTO t VALUES ('undone too');
ROLLBACK TO a;
SAVEPOINT c;
INSERT INTO t VALUES ('n2');
RELEASE c;
RELEASE a;
SELECT count(*) AS inside FROM t;
COMMIT;
SAVEPOINT outer_sp;
SAVEPOINT Inner_SP;
INSERT INTO t VALUES ('undone three');
ROLLBACK TO outer_sp;
SAVEPOINT outer_sp;
INSERT INTO t VALUES ('n3');
RELEASE OUTER_SP;
INSERT INTO t VALUES ('n4');
RELEASE outer_sp;
SELECT group_concat(v, '|') AS v FROM t WHERE v LIKE 'n_' OR v LIKE 'undone%';
";
    let out = cli(&[&url, "--mode", "list"], script);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("inside\n5\n"), "{stdout}");
    assert!(stdout.contains("v\nn1|n2|n3|n4\n"), "{stdout}");
    // The last RELEASE ended the transaction that the first SAVEPOINT began.
    let out = cli(&[&url, "--mode", "list"], "RELEASE outer_sp;\n");
    assert!(
        text(&out.stderr).contains("no such savepoint: outer_sp"),
        "{out:?}"
    );
    let out = cli(
        &[&url, "--mode", "list", "-c", "SELECT count(*) FROM t"],
        "",
    );
    assert_eq!(text(&out.stdout), "count(*)\n7\n");
    let out = cli(
        &[&url, "--mode", "list"],
        "DELETE FROM t WHERE v LIKE 'n_';\n",
    );
    assert!(out.status.success(), "{out:?}");
    // A failure in a script's transaction rolls it back whole, and the rest of it is
    // skipped up to its COMMIT.
    let out = cli(
        &[&url, "--mode", "list"],
        "BEGIN;\nINSERT INTO t VALUES ('no');\nRELEASE never_made;\nINSERT INTO t VALUES ('skipped');\nCOMMIT;\nCOMMIT;\nSELECT count(*) AS n FROM t;\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no such savepoint: never_made"), "{stderr}");
    assert!(
        stderr.contains("cannot commit - no transaction is active"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("n\n3\n"), "{out:?}");
    // Begun by a SAVEPOINT, the skipped transaction ends at that savepoint's RELEASE.
    let out = cli(
        &[&url, "--mode", "list"],
        "SAVEPOINT s;\nINSERT INTO t VALUES ('no');\nINSERT INTO nowhere VALUES (1);\nRELEASE s;\nSELECT count(*) AS n FROM t;\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stdout).contains("n\n3\n"), "{out:?}");
    assert!(!text(&out.stderr).contains("no such savepoint"), "{out:?}");
    // A transaction left open at the end of the input is rolled back.
    let out = cli(&[&url], "BEGIN;\nINSERT INTO t VALUES ('dangling');\n");
    assert!(text(&out.stderr).contains("rolled back"), "{out:?}");
    let out = cli(
        &[&url, "--mode", "list", "-c", "SELECT count(*) FROM t"],
        "",
    );
    assert_eq!(text(&out.stdout), "count(*)\n3\n");
}

#[test]
fn import_reads_quoted_csv_in_one_transaction() {
    let server = Server::start();
    let url = server.db_url("import");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "name,\"quote, with comma\",n\r\nAda,\"She said \"\"hi\"\"\",1\r\n\"Grace\nHopper\",,2\r\nshort\r\n",
    )
    .unwrap();
    let commands = format!(
        ".import --csv {} people\n.mode quote\nSELECT * FROM people;\n.import --skip 1 {} people\nSELECT count(*) FROM people;\n",
        csv.display(),
        csv.display()
    );
    let out = cli(&[&url], &commands);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "'name','quote, with comma','n'\n'Ada','She said \"hi\"','1'\n'Grace\nHopper','','2'\n'short',NULL,NULL\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("'count(*)'\n6\n"), "{stdout}");
    assert!(
        text(&out.stderr).contains("expected 3 columns but found 1"),
        "{out:?}"
    );
    // A failing import (a NOT NULL column) keeps nothing of it.
    std::fs::write(&csv, "a\nb\n\n").unwrap();
    let out = cli(
        &[&url, "--mode", "list"],
        &format!(
            "CREATE TABLE strict_t(v TEXT NOT NULL CHECK (v <> ''));\n.import {} strict_t\nSELECT count(*) AS n FROM strict_t;\n",
            csv.display()
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stdout).contains("n\n0\n"), "{out:?}");
    // Inside a script's transaction it fails that transaction, as a statement would.
    let out = cli(
        &[&url, "--mode", "list"],
        &format!(
            "BEGIN;\nINSERT INTO strict_t VALUES ('gone');\n.import {} strict_t\nCOMMIT;\nSELECT count(*) AS n FROM strict_t;\n",
            csv.display()
        ),
    );
    assert!(
        text(&out.stderr).contains("nothing was imported"),
        "{out:?}"
    );
    assert!(
        text(&out.stderr).contains("the transaction was rolled back"),
        "{out:?}"
    );
    assert!(text(&out.stdout).contains("n\n0\n"), "{out:?}");
}

#[test]
fn every_output_mode_matches_sqlite3() {
    // The golden files are sqlite3's own output (3.40) for the same query.
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let server = Server::start();
    let url = server.db_url("modes");
    let setup = std::fs::read_to_string(format!("{golden}/modes.sql")).unwrap();
    assert!(cli(&[&url], &setup).status.success());
    let query = "SELECT * FROM t ORDER BY rowid";
    for mode in [
        "list", "column", "box", "markdown", "insert", "quote", "csv", "json", "line", "table",
        "tabs",
    ] {
        let out = cli(&[&url, "-c", &format!(".mode {mode}"), "-c", query], "");
        let expected = std::fs::read_to_string(format!("{golden}/{mode}.txt")).unwrap();
        assert_eq!(text(&out.stdout), expected, "mode {mode}");
    }
    let out = cli(
        &[
            &url,
            "-c",
            ".mode list",
            "-c",
            ".nullvalue NULL",
            "-c",
            ".headers off",
            "-c",
            ".separator ; ~",
            "-c",
            query,
        ],
        "",
    );
    let expected =
        std::fs::read_to_string(format!("{golden}/list-nullvalue-separator.txt")).unwrap();
    assert_eq!(text(&out.stdout), expected);
    let out = cli(&[&url, "-c", ".mode json", "-c", ".mode"], "");
    assert_eq!(text(&out.stdout), "current output mode: json\n");
    // .once sends one result to a file; .changes counts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("once.txt");
    let out = cli(
        &[&url, "--mode", "list"],
        &format!(
            ".once {}\nSELECT 1 AS a;\nSELECT 2 AS b;\n.changes on\nUPDATE t SET r = r;\n.print done\n",
            file.display()
        ),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a\n1\n");
    assert_eq!(
        text(&out.stdout),
        "b\n2\nchanges: 6   total_changes: 6\ndone\n",
        "{out:?}"
    );
}

#[test]
fn url_mistakes_say_what_to_do() {
    // Two databases in one URL: refused, not silently the last one.
    let out = cli(&["http://127.0.0.1:50551/a/b", "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("one word"), "{out:?}");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let out = cli(&[&format!("http://{addr}/app"), "-c", "SELECT 1"], "");
    assert!(
        text(&out.stderr).contains(&format!(
            "no sqlited at {addr} (connection refused): is the server running?"
        )),
        "{out:?}"
    );
    let server = Server::start();
    let out = cli(
        &[&format!("https://{}/app", server.addr()), "-c", "SELECT 1"],
        "",
    );
    assert!(
        text(&out.stderr).contains("the server is not using TLS: use http://"),
        "{out:?}"
    );
    // No database named: none is created, and SQL says how to open one.
    let out = cli(&[&server.url(), "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(".open NAME"), "{out:?}");
    server.ensure_database("other");
    // No scheme: plaintext http://, as everywhere a URL is taken.
    let out = cli(
        &[&format!("{}/other", server.addr()), "-c", "SELECT 6 AS n"],
        "",
    );
    assert!(text(&out.stdout).contains("| 6 |"), "{out:?}");
    let out = cli(
        &[&server.url(), "-c", ".open other", "-c", "SELECT 7 AS n"],
        "",
    );
    assert!(text(&out.stdout).contains("| 7 |"), "{out:?}");
}

/// A shell under tmux: a pseudo-terminal, so it is interactive, and keys sent for real.
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        // Tests run in parallel in one process: each shell has its own session.
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("sqlited-cli-test-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "200",
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux is needed for this test (apt-get install -y tmux; .ci/run does)");
        assert!(status.success());
        Self { session }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().unwrap();
        text(&out.stdout)
    }

    /// Types `keys` literally (a trailing space keeps tmux from reading a final `;` as its
    /// own command separator), then Enter if asked.
    fn type_line(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", &self.session, "-l", &format!("{keys} ")]);
        self.tmux(&["send-keys", "-t", &self.session, "Enter"]);
    }

    fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", &self.session, key]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.session])
    }

    fn cursor_line(&self) -> usize {
        self.tmux(&["display", "-p", "-t", &self.session, "#{cursor_y}"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Polls until `done` holds for the screen, for at most [`SHELL_BOUND`]; the screen.
    fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        eventually_blocking(SHELL_BOUND, what, || {
            let screen = self.screen();
            match done(&screen) {
                true => Ok(screen),
                false => Err(format!("the screen:\n{screen}")),
            }
        })
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn ctrl_c_stops_the_statement_and_keeps_the_shell() {
    // One reader: the statement after the interrupted one finds it free only if the server
    // really stopped the first (else it would wait for the 30 s statement timeout).
    let server = Server::start_with(&["--readers", "1"]);
    let home = tempfile::tempdir().unwrap();
    let shell = Tmux::start(&format!(
        "env HOME={} {} {}",
        home.path().display(),
        env!("CARGO_BIN_EXE_sqlited-cli"),
        server.db_url("ctrlc")
    ));
    shell.wait("the prompt", |s| s.contains("ctrlc>"));
    let line = shell.cursor_line();
    shell.type_line(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;",
    );
    // The line was accepted (the cursor left it): the statement is running.
    shell.wait("the line accepted", |_| shell.cursor_line() != line);
    // Keys go only to a prompt that is drawn: sent while a statement runs or the line
    // editor restarts, they reach a terminal that is not in its mode.
    shell.key("C-c");
    shell.wait("interrupted", |s| {
        s.contains("interrupted") && at_prompt("ctrlc>")(s)
    });
    shell.type_line("SELECT 6 * 7 AS answer;");
    shell.wait("the next statement's answer", |s| s.contains("| 42     |"));
    // History is on disk already, before the shell ends.
    let history = std::fs::read_to_string(home.path().join(".sqlited_history")).unwrap();
    assert!(history.contains("SELECT 6 * 7 AS answer;"), "{history}");

    // Ctrl-C at a continuation prompt forgets the half-typed statement.
    shell.wait("the prompt", at_prompt("ctrlc>"));
    shell.type_line("SELECT 'forgotten'");
    shell.wait("the continuation prompt", at_prompt("...>"));
    shell.key("C-c");
    shell.wait("a fresh prompt", at_prompt("ctrlc>"));
    shell.type_line("SELECT 'fresh' AS v;");
    let screen = shell.wait("the fresh statement", |s| s.contains("| fresh |"));
    assert!(!screen.contains("Error"), "{screen}");

    // The prompt shows an open transaction.
    shell.wait("the prompt", at_prompt("ctrlc>"));
    shell.type_line("BEGIN;");
    shell.wait("the transaction prompt", |s| {
        s.contains("ctrlc (transaction)>")
    });
    // A failed .import inside it is undone alone (a savepoint of its own); what the
    // transaction wrote before stays, and the transaction stays open.
    let csv = home.path().join("bad.csv");
    std::fs::write(&csv, "a\nb\n\n").unwrap();
    let prompt = "ctrlc (transaction)>";
    let done = |line: &str, next_prompt: &str| {
        shell.type_line(line);
        shell.wait(line, |s| s.contains(line) && at_prompt(next_prompt)(s))
    };
    done("CREATE TABLE imp(v TEXT NOT NULL CHECK (v <> ''));", prompt);
    done("INSERT INTO imp VALUES ('kept');", prompt);
    let screen = done(&format!(".import {} imp", csv.display()), prompt);
    assert!(screen.contains("nothing was imported"), "{screen}");
    let screen = done("SELECT group_concat(v, '+') AS g FROM imp;", prompt);
    assert!(screen.contains("| kept |"), "{screen}");
    done("ROLLBACK;", "ctrlc>");
    shell.type_line("\\q");
    wait_for("\\q to leave", || !shell.alive());
}

/// A check that the screen ends with `prompt`, drawn and waiting for keys.
fn at_prompt(prompt: &str) -> impl Fn(&str) -> bool + '_ {
    move |s: &str| s.trim_end().lines().last().map(str::trim) == Some(prompt)
}

/// Polls until `done` holds, for at most [`SHELL_BOUND`].
fn wait_for(what: &str, done: impl Fn() -> bool) {
    eventually_blocking(SHELL_BOUND, what, done)
}

/// The screen's last line that is not blank: the prompt, when the shell waits for input.
fn last_line(screen: &str) -> &str {
    screen
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .trim_end()
}

/// A shell under tmux on `url`, with `env` (`NAME=value …`) and `args` added.
fn shell_in_tmux(home: &std::path::Path, env: &str, url: &str, args: &str) -> Tmux {
    Tmux::start(&format!(
        "exec env HOME={} {env} {} {url} {args}",
        home.display(),
        env!("CARGO_BIN_EXE_sqlited-cli"),
    ))
}

/// 100 rows: 105 lines in table mode, taller than the 50-line tmux window.
const HUNDRED_ROWS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT x FROM c;";

#[test]
fn a_result_taller_than_the_screen_goes_through_the_pager() {
    let server = Server::start_with(&["--readers", "1"]);
    server.ensure_database("paged");
    let url = server.db_url("paged");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("paged.txt");
    let read = || std::fs::read_to_string(&record).unwrap_or_default();
    // The pager records what it was given, then ends: the shell waits for it, then goes on.
    let pager = format!("PAGER='cat >> {}'", record.display());
    let shell = shell_in_tmux(dir.path(), &pager, &url, "");
    shell.wait("the prompt", |s| s.contains("paged>"));
    shell.type_line(HUNDRED_ROWS);
    wait_for("the pager", || read().contains("(100 rows)"));
    let paged = read();
    assert!(paged.starts_with("+-----+\n|  x  |\n"), "{paged}");
    assert!(paged.contains("| 100 |\n+-----+\n(100 rows)\n"), "{paged}");
    // A result that fits is printed as it is, with its row count.
    shell.wait("the prompt", at_prompt("paged>"));
    shell.type_line("SELECT 'short' AS marker;");
    let screen = shell.wait("the short result", |s| {
        s.contains("| short  |\n+--------+\n(1 row)")
    });
    assert!(
        !screen.contains("| 100 |"),
        "the long one went to the pager: {screen}"
    );
    assert_eq!(read(), paged, "the short result was paged");
    // .pager off: the long result is printed too.
    shell.wait("the prompt", at_prompt("paged>"));
    shell.type_line(".pager off");
    shell.wait(".pager off", |s| {
        s.contains(".pager off") && at_prompt("paged>")(s)
    });
    shell.type_line(HUNDRED_ROWS);
    shell.wait("the unpaged result", |s| s.contains("(100 rows)"));
    assert_eq!(read(), paged, "paged with .pager off");

    // A pager left before the end (head takes 3 lines) stops the result, here an endless
    // one: rows streamed into it, and the server stopped the statement (with one reader,
    // the next statement would wait for it).
    let record_head = dir.path().join("head.txt");
    let pager = format!("PAGER='head -n 3 > {}'", record_head.display());
    let shell = shell_in_tmux(dir.path(), &pager, &url, "--mode list");
    shell.wait("the prompt", |s| s.contains("paged>"));
    shell.type_line(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;",
    );
    shell.wait("the prompt after the pager", |s| {
        s.contains("FROM c;") && at_prompt("paged>")(s)
    });
    shell.type_line("SELECT 'next' AS marker;");
    let screen = shell.wait("the next statement", |s| {
        s.contains("marker\nnext\n(1 row)")
    });
    assert!(!screen.contains("Error"), "{screen}");
    assert_eq!(std::fs::read_to_string(&record_head).unwrap(), "x\n1\n2\n");

    // --no-pager: never.
    let shell = shell_in_tmux(dir.path(), &pager, &url, "--no-pager");
    shell.wait("the prompt", |s| s.contains("paged>"));
    std::fs::remove_file(&record_head).unwrap();
    shell.type_line(HUNDRED_ROWS);
    shell.wait("the result", |s| s.contains("| 100 |\n+-----+\n(100 rows)"));
    assert!(!record_head.exists(), "paged with --no-pager");
}

#[test]
fn tab_completes_names_fetched_from_the_server() {
    let server = Server::start();
    let url = server.db_url("names");
    let out = cli(&[&url, "-c", "CREATE TABLE widgets(id, width_mm)"], "");
    assert!(out.status.success(), "{out:?}");
    let home = tempfile::tempdir().unwrap();
    let shell = shell_in_tmux(home.path(), "", &url, "");
    shell.wait("the prompt", |s| s.contains("names>"));
    shell.tmux(&["send-keys", "-t", &shell.session, "-l", "SELECT width"]);
    shell.key("Tab");
    shell.tmux(&["send-keys", "-t", &shell.session, "-l", " FROM widg"]);
    shell.key("Tab");
    shell.wait("the completed names", |s| {
        s.contains("SELECT width_mm FROM widgets")
    });
    // A table made in the shell is offered next.
    shell.key("C-u");
    shell.type_line("CREATE TABLE gadgets(g);");
    // Keys sent while the statement runs are lost: the next line waits for the prompt.
    shell.wait("the CREATE", |s| {
        s.contains("CREATE TABLE gadgets(g);") && last_line(s) == "names>"
    });
    shell.tmux(&[
        "send-keys",
        "-t",
        &shell.session,
        "-l",
        "SELECT * FROM gadg",
    ]);
    shell.key("Tab");
    shell.wait("the new table", |s| s.contains("SELECT * FROM gadgets"));
}

#[test]
fn an_open_transaction_outlives_its_lease_and_an_expired_one_is_reported() {
    let server = Server::start_with(&[
        "--transaction-lease-ms",
        "1000",
        "--max-transaction-lease-ms",
        "1000",
    ]);
    let url = server.db_url("lease");
    let out = cli(&[&url, "-c", "CREATE TABLE t(v)"], "");
    assert!(out.status.success(), "{out:?}");
    let home = tempfile::tempdir().unwrap();
    let shell = shell_in_tmux(home.path(), "", &url, "--mode list");
    shell.wait("the prompt", |s| s.contains("lease>"));
    shell.type_line("BEGIN;");
    // Keys typed while a statement runs are lost when rustyline takes the terminal back, so
    // each line waits for the prompt.
    shell.wait("the BEGIN", |s| last_line(s) == "lease (transaction)>");
    shell.type_line("INSERT INTO t VALUES ('kept');");
    shell.wait("the transaction prompt", |s| {
        s.contains("INSERT INTO t VALUES ('kept');") && last_line(s) == "lease (transaction)>"
    });
    // The subject of the test is time passing: three leases of a user who types nothing.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    shell.type_line("COMMIT;");
    shell.wait("the COMMIT", |s| {
        s.contains("COMMIT;") && last_line(s) == "lease>"
    });
    shell.type_line("SELECT group_concat(v) AS v FROM t;");
    let screen = shell.wait("the committed row", |s| s.contains("v\nkept\n(1 row)"));
    assert!(!screen.contains("Error"), "{screen}");

    // A shell that stops renewing (here after 2 s idle) loses its transaction: the server
    // rolls it back and frees the writer, and the shell says so at its next statement.
    let shell = shell_in_tmux(
        home.path(),
        "",
        &url,
        "--mode list --transaction-keepalive-ms 2000",
    );
    shell.wait("the prompt", |s| s.contains("lease>"));
    shell.type_line("BEGIN;");
    shell.wait("the BEGIN", |s| last_line(s) == "lease (transaction)>");
    shell.type_line("INSERT INTO t VALUES ('lost');");
    shell.wait("the transaction prompt", |s| {
        s.contains("INSERT INTO t VALUES ('lost');") && last_line(s) == "lease (transaction)>"
    });
    // Another writer waits for the writer, which is free once the lease has run out.
    let out = cli(&[&url, "-c", "INSERT INTO t VALUES ('other')"], "");
    assert!(out.status.success(), "{out:?}\n{}", server.log());
    // The next statement finds the transaction gone: it says so, and runs nothing.
    shell.type_line("SELECT group_concat(v) AS v FROM t;");
    let screen = shell.wait("the report", |s| {
        s.contains("the transaction is over") && last_line(s) == "lease>"
    });
    assert!(
        screen.contains("expired: it was idle longer than its lease (1000 ms) and was rolled back"),
        "{screen}"
    );
    // Outside a transaction again: what the other writer wrote, and nothing of the lost one.
    shell.type_line("SELECT group_concat(v) AS v FROM t;");
    // Waited for with the prompt after them: the rows alone may show before it is drawn.
    shell.wait("the rows and the prompt", |s| {
        s.contains("v\nkept,other\n(1 row)") && last_line(s) == "lease>"
    });
}

#[test]
fn a_unix_socket_url_names_the_server_and_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sqlited.sock");
    let listen = format!("unix:{}", socket.display());
    let server = Server::start_listening(dir.path(), &listen, &[]);
    let url = server.db_url("shell");
    assert_eq!(url, format!("{listen}?database=shell"));
    let out = cli(&[&url, "-c", "SELECT 6 * 7 AS answer"], "");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("| 42     |"), "{out:?}");
    // No database named: none is open, and `.open` opens one on the same socket.
    let out = cli(&[&listen], ".open shell\nSELECT 1 AS one;\n");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("| 1   |"), "{out:?}");

    let missing = format!("unix:{}", dir.path().join("nothing.sock").display());
    let out = cli(&[&missing, "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("no such socket"), "{out:?}");
    let out = cli(&[&format!("{listen}?db=shell"), "-c", "SELECT 1"], "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("?database=NAME"), "{out:?}");
}

/// Litestream's tables (which a replicating server refuses to every client) are left out of
/// the listings and the dump, with what hangs off them; the user's tables are not.
#[test]
fn listings_and_dumps_leave_out_litestreams_tables() {
    let dir = tempfile::tempdir().unwrap();
    sqlite3(
        &dir.path().join("kept.db"),
        &[],
        "PRAGMA journal_mode=WAL;
         CREATE TABLE t (x); INSERT INTO t VALUES (1); CREATE INDEX t_x ON t (x);
         CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER);
         CREATE TABLE _litestream_lock (id INTEGER);
         CREATE INDEX litestream_seq_idx ON _litestream_seq (seq);
         CREATE TABLE litestream_notes (y);",
    );
    let server = Server::start_in(dir.path(), &[]);
    let out = cli(
        &[&server.db_url("kept")],
        ".tables\n.indexes\n.schema\n.dump\n",
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("_litestream_"), "{stdout}");
    assert!(!stdout.contains("litestream_seq_idx"), "{stdout}");
    for kept in [
        "t_x",
        "CREATE TABLE t (x)",
        "INSERT INTO t VALUES(1)",
        "litestream_notes",
    ] {
        assert!(stdout.contains(kept), "{kept} missing: {stdout}");
    }
}

/// A transfer between two accounts, as a script: all of it or none of it.
const TRANSFER: &str = "\
BEGIN;
UPDATE acct SET balance = balance - 10 WHERE id = 1;
UPDATE acct SET balance = balance + 10 WHERE id = 2;
COMMIT;
";

/// Creates `database` with the accounts 1 (100) and 2 (0), through the shell.
fn accounts(url: &str) {
    let out = cli(
        &[url],
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER);\n\
         INSERT INTO acct VALUES (1, 100), (2, 0);\n",
    );
    assert!(out.status.success(), "{out:?}");
}

/// The balances, `1:100,2:0`.
fn balances(url: &str) -> String {
    let out = cli(
        &[
            url,
            "--mode",
            "list",
            "--no-header",
            "-c",
            "SELECT group_concat(id || ':' || balance) FROM (SELECT * FROM acct ORDER BY id)",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    text(&out.stdout).trim().to_string()
}

/// Asserts that a script's refused BEGIN failed its whole transaction: the refusal is
/// reported, the transaction's statements are skipped (none runs, so no COMMIT finds "no
/// transaction is active"), and what follows its end runs.
fn begin_refused(out: &Output, refusal: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(refusal), "{stderr}");
    assert!(
        stderr.contains("the transaction did not begin, so its statements are skipped"),
        "{stderr}"
    );
    assert!(!stderr.contains("no transaction is active"), "{stderr}");
    assert_eq!(errors(&stderr), 1, "one error, the BEGIN's: {stderr}");
    assert!(text(&out.stdout).contains("after"), "{out:?}");
}

/// How many errors the shell reported.
fn errors(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|line| line.starts_with("Error: "))
        .count()
}

/// Holds a read-only transaction open on `url` (it counts against the transaction limits
/// and holds up no writer).
fn hold_a_transaction(
    url: &str,
) -> (
    sqlited_client::blocking::Connection,
    sqlited_client::blocking::Transaction,
) {
    let conn = sqlited_client::blocking::connect(url).unwrap();
    let options = sqlited_client::TransactionOptions {
        read_only: true,
        ..Default::default()
    };
    let tx = conn.transaction_with(options).unwrap();
    (conn, tx)
}

#[test]
fn a_refused_begin_fails_its_whole_transaction_at_the_transaction_limits() {
    for limit in ["--max-transactions", "--max-transactions-per-database"] {
        let server = Server::start_with(&[limit, "1"]);
        let url = server.db_url("bank");
        accounts(&url);
        let held = hold_a_transaction(&url);
        let script = format!("{TRANSFER}.print after\n");
        let out = cli(&[&url, "--mode", "list"], &script);
        begin_refused(&out, &format!("({limit})"));
        // Begun by a SAVEPOINT, it is skipped up to that savepoint's RELEASE.
        let script = "SAVEPOINT s;\nUPDATE acct SET balance = 0;\nRELEASE s;\n.print after\n";
        let out = cli(&[&url, "--mode", "list"], script);
        begin_refused(&out, &format!("({limit})"));
        drop(held);
        assert_eq!(balances(&url), "1:100,2:0", "{limit}");
        // Once a transaction may begin, the same script commits whole.
        let out = cli(&[&url], TRANSFER);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(balances(&url), "1:90,2:10", "{limit}");
    }
}

#[test]
fn a_refused_begin_fails_its_whole_transaction_for_a_role_too_low() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.toml");
    let hash = harness::token_hash;
    std::fs::write(
        &credentials,
        format!(
            "[[token]]\nname = \"admin\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"admin\" }}\n\n\
             [[token]]\nname = \"reader\"\nsha256 = \"{}\"\nroles = {{ bank = \"read\" }}\n",
            hash("sqlited_admin-token-cli"),
            hash("sqlited_reader-token-cli")
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--credentials", credentials.to_str().unwrap()]);
    let url = format!("{}/bank", server.url());
    let as_token = |token: &str, script: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sqlited-cli"))
            .args([url.as_str(), "--mode", "list"])
            .env("HOME", std::env::temp_dir())
            .env("SQLITED_TOKEN", token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = as_token(
        "sqlited_admin-token-cli",
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER);\n\
         INSERT INTO acct VALUES (1, 100), (2, 0);\n",
    );
    assert!(out.status.success(), "{out:?}");
    let out = as_token(
        "sqlited_reader-token-cli",
        &format!("{TRANSFER}.print after\n"),
    );
    begin_refused(&out, "a write transaction needs the write role");
}

#[test]
fn a_refused_begin_fails_its_whole_transaction_when_no_database_opens() {
    let server = Server::start();
    let url = server.db_url("bank");
    accounts(&url);
    // mode=rw refuses the missing database: none is open, not still `bank`, so the
    // script's BEGIN is refused and its UPDATEs cannot reach `bank`.
    let script = format!(".open missing?mode=rw\n{TRANSFER}.print after\n");
    let out = cli(&[&url, "--mode", "list"], &script);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("no database is open"), "{stderr}");
    assert!(
        stderr.contains("the transaction did not begin, so its statements are skipped"),
        "{stderr}"
    );
    assert!(!stderr.contains("no transaction is active"), "{stderr}");
    assert!(text(&out.stdout).contains("after"), "{out:?}");
    assert!(!server.data_dir.join("missing.db").exists());
    assert_eq!(balances(&url), "1:100,2:0");
}

#[test]
fn a_refused_begin_fails_its_whole_transaction_when_the_database_is_gone() {
    // With --no-create, BEGIN of a database dropped since the shell opened it is NOT_FOUND.
    let server = Server::start_with(&["--no-create"]);
    let url = server.db_url("bank");
    accounts(&url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlited-cli"))
        .args([url.as_str(), "--mode", "list"])
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    stdin.write_all(b"SELECT 'ready';\n").unwrap();
    let first = received
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the shell's first answer");
    assert_eq!(first, "'ready'");
    assert_eq!(
        received
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap(),
        "ready"
    );
    let admin = url.rsplit_once('/').unwrap().0.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let client = sqlited_client::Client::connect(&admin).await.unwrap();
                assert!(client.admin().drop_database("bank", false).await.unwrap());
            })
    })
    .join()
    .unwrap();
    stdin
        .write_all(format!("{TRANSFER}.print after\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let rest: Vec<String> = received.iter().collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("DATABASE_NOT_FOUND"), "{stderr}");
    assert!(
        stderr.contains("the transaction did not begin, so its statements are skipped"),
        "{stderr}"
    );
    assert!(!stderr.contains("no transaction is active"), "{stderr}");
    // One error: the BEGIN's (the UPDATEs were skipped, not refused one by one).
    assert_eq!(errors(&stderr), 1, "{stderr}");
    assert!(rest.contains(&"after".to_string()), "{rest:?}");
}

#[test]
fn a_refused_begin_fails_its_whole_transaction_past_its_deadline() {
    let server = Server::start();
    let url = server.db_url("bank");
    accounts(&url);
    // A write transaction holds the writer: the shell's BEGIN waits for it past .timeout.
    let conn = sqlited_client::blocking::connect(&url).unwrap();
    let tx = conn.transaction().unwrap();
    let script = format!(".timeout 300\n{TRANSFER}.print after\n");
    let out = cli(&[&url, "--mode", "list"], &script);
    begin_refused(&out, "DEADLINE_EXCEEDED");
    tx.rollback().unwrap();
    assert_eq!(balances(&url), "1:100,2:0");
}

#[test]
fn a_refused_begin_is_reported_at_the_prompt() {
    let server = Server::start_with(&["--max-transactions", "1"]);
    let url = server.db_url("bank");
    accounts(&url);
    let held = hold_a_transaction(&url);
    let home = tempfile::tempdir().unwrap();
    let shell = shell_in_tmux(home.path(), "", &url, "--mode list");
    shell.wait("the prompt", |s| s.contains("bank>"));
    shell.type_line("BEGIN;");
    let screen = shell.wait("the refusal", |s| {
        s.contains("no transaction is open: the statements that follow run on their own")
            && last_line(s) == "bank>"
    });
    assert!(screen.contains("(--max-transactions)"), "{screen}");
    drop(held);
}

#[test]
fn the_shell_creates_a_missing_database_as_sqlite3_creates_a_file() {
    let server = Server::start();
    // A fresh server, and a database nobody made: the URL's, then .open's; .import into it.
    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv.path(), "name,qty\napple,3\npear,5\n").unwrap();
    let import = format!(".import --csv {} fruit", csv.path().display());
    let out = cli(
        &[
            &format!("{}/fresh", server.url()),
            "--mode",
            "list",
            "-c",
            &import,
            "-c",
            "SELECT sum(qty) AS n FROM fruit",
            "-c",
            ".open other",
            "-c",
            "SELECT 1 AS one",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("n\n8\n"), "{out:?}");
    assert!(text(&out.stdout).contains("one\n1\n"), "{out:?}");
    assert!(server.data_dir.join("fresh.db").exists());
    assert!(server.data_dir.join("other.db").exists());
    // mode=rw and mode=ro refuse a missing one at connect, and create nothing.
    for mode in ["rw", "ro"] {
        let out = cli(
            &[
                &format!("{}/nothing?mode={mode}", server.url()),
                "-c",
                "SELECT 1",
            ],
            "",
        );
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(text(&out.stderr).contains("does not exist"), "{out:?}");
    }
    assert!(!server.data_dir.join("nothing.db").exists());
    // mode=ro: reads, and SQLite's refusal of a write.
    let out = cli(
        &[
            &format!("{}/fresh?mode=ro", server.url()),
            "--mode",
            "list",
            "-c",
            "SELECT count(*) AS n FROM fruit",
            "-c",
            "DELETE FROM fruit",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stdout).contains("n\n2\n"), "{out:?}");
    assert!(
        text(&out.stderr).contains("attempt to write a readonly database"),
        "{out:?}"
    );
    let out = cli(
        &[
            &server.url(),
            "-c",
            ".open --readonly fresh",
            "-c",
            "DELETE FROM fruit",
        ],
        "",
    );
    assert!(text(&out.stderr).contains("SQLITE_READONLY"), "{out:?}");
}

#[test]
fn a_file_name_or_a_host_that_does_not_resolve_says_the_shell_wants_a_url() {
    // The sqlite3 reflex: `sqlited-cli app.db`.
    let out = cli(&["app.db", "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("connect to a sqlited server"), "{stderr}");
    assert!(stderr.contains("http://HOST:PORT/DATABASE"), "{stderr}");
    assert!(
        stderr.contains("sqlite3 app.db .dump | sqlited-cli"),
        "{stderr}"
    );
    // A word that is no host (.invalid never resolves, RFC 6761).
    let out = cli(&["app.invalid", "-c", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no host \"app.invalid\""), "{stderr}");
    assert!(stderr.contains("http://HOST:PORT/DATABASE"), "{stderr}");
}
