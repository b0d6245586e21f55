//! sqlited-cli against a real server, driven through its standard input and -c.

#[allow(dead_code)]
#[path = "../../tests/integration/harness.rs"]
mod harness;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use harness::Server;

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
    assert!(stdout.contains("id,name\n1,\"a,b\"\n2,c\n3,\n"), "{stdout}");
    assert!(stdout.contains("[{\"id\":1,\"name\":\"a,b\"}]"), "{stdout}");
    assert!(stdout.contains("n = 3"), "{stdout}");
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
    let mut hash = Command::new(harness::sqlited_binary())
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(hash.stdin.take().unwrap(), "{token}").unwrap();
    let hash = text(&hash.wait_with_output().unwrap().stdout);
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
    let url = format!("https://localhost:{}/shell", server.addr.port());
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
