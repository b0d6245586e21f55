//! sqlited-bench: a pgbench-like load generator for sqlited.
//!
//! It drives one workload from N clients — async tasks or OS threads, as the seed's users
//! are — for a duration or a number of requests, and reports requests per second, latency
//! percentiles, errors by status and its own CPU use (client and server share the cores).
//! Besides a running server it can drive in-process baselines: sqlited's engine without gRPC,
//! deadpool-sqlite's `interact`, and rusqlite directly (the ceiling).
//!
//! Layout:
//! - `workload.rs`: the workloads and the data they need (`--init`).
//! - `target.rs`: the targets and how each runs one request.
//! - `report.rs`: latency statistics and the output lines.
//! - `http.rs`: the HTTP/JSON gateway as a target.
//! - `ceiling.rs`: the RPC ceiling (`--workload rpc-ceiling`): a health check, no SQL.

mod ceiling;
mod http;
mod report;
mod target;
mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use report::{Report, Tally, process_cpu};
use sqlited_client::{Client, blocking};
use target::{AsyncTarget, BlockingTarget};
use workload::{Op, Workload};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// A running sqlited at --url.
    Server,
    /// A running sqlited's HTTP/JSON gateway at --http-url (tasks; a connection per client).
    Http,
    /// sqlited's engine in this process (workers and routing, no gRPC), on --data-dir.
    Engine,
    /// deadpool-sqlite's interact in this process, on --data-dir.
    DeadpoolSqlite,
    /// rusqlite directly in this process, on --data-dir: the ceiling.
    Rusqlite,
}

/// How requests travel to a server (`--target server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Api {
    /// One unary gRPC call per request.
    Unary,
    /// Frames of one Database.Session stream per connection (the client's default).
    Session,
}

/// How clients run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Concurrent tokio tasks.
    Tasks,
    /// OS threads, each blocking on its requests.
    Threads,
}

/// pgbench-like load generator for sqlited.
#[derive(Debug, Parser)]
#[command(name = "sqlited-bench", version)]
struct Args {
    /// The workload.
    #[arg(long, value_enum, default_value = "point-select")]
    workload: Workload,
    /// What the requests go to.
    #[arg(long, value_enum, default_value = "server")]
    target: Target,
    /// Shorthand for `--target rusqlite`: the same workload on rusqlite in this process, the
    /// ceiling.
    #[arg(long, conflicts_with = "target")]
    in_process: bool,
    /// Tasks or threads.
    #[arg(long, value_enum, default_value = "tasks")]
    mode: Mode,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds to measure (after the warm-up), unless --requests is given.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Run exactly this many requests (no warm-up) and report the time they took.
    #[arg(long)]
    requests: Option<i64>,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// gRPC connections (HTTP/2 channels) the clients share, round-robin.
    #[arg(long, default_value_t = 1)]
    channels: usize,
    /// Unary calls, or a session per connection (`--target server`). Unary by default, so
    /// figures keep their meaning; the client library itself defaults to sessions.
    #[arg(long, value_enum, default_value = "unary")]
    api: Api,
    /// Requests each client keeps in flight (tasks mode): with `--api session`, pipelining
    /// — several requests sent before their answers are read. Latency is per request.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// The server, for --target server: `http://HOST:PORT` or `unix:PATH`.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    url: String,
    /// The HTTP gateway, for --target http.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http_url: String,
    /// The database.
    #[arg(long, default_value = "bench")]
    database: String,
    /// The token the clients send, for a server with --credentials (`bench/memory.py` runs
    /// its hostile clients with a read token). Prefer the environment variable: a flag shows
    /// in `ps`.
    #[arg(long, env = "SQLITED_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The data directory, for in-process targets.
    #[arg(long, default_value = "./bench-data")]
    data_dir: PathBuf,
    /// Reader connections of in-process pools (engine, deadpool-sqlite).
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// (Re)create the workload tables first.
    #[arg(long)]
    init: bool,
    /// A label copied into the output, for scripts.
    #[arg(long, default_value = "")]
    label: String,
    /// Worker threads of the load generator's own runtime (tasks mode).
    #[arg(long, default_value_t = 2)]
    runtime_threads: usize,
}

fn main() {
    let mut args = Args::parse();
    if args.in_process {
        args.target = Target::Rusqlite;
    }
    if let Err(err) = run(&args) {
        eprintln!("sqlited-bench: {err}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.runtime_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.data_dir).map_err(|e| e.to_string())?;
    let db_path = args.data_dir.join(format!("{}.db", args.database));
    if args.init {
        init(args, &runtime, &db_path)?;
    }
    let (mode, report) = match (args.target, args.mode) {
        (Target::Rusqlite, _) | (Target::Server, Mode::Threads) => {
            ("threads", run_threads(args, &db_path)?)
        }
        (_, Mode::Threads) => {
            return Err("--mode threads works with --target server or rusqlite".into());
        }
        (_, Mode::Tasks) => ("tasks", runtime.block_on(run_tasks(args, &db_path))?),
    };
    let mode = match (args.target, args.api, args.pipeline) {
        (Target::Server, Api::Unary, 0 | 1) => mode,
        (Target::Server, Api::Unary, _) => leak(format!("{mode}+pipeline{}", args.pipeline)),
        (Target::Server, Api::Session, 0 | 1) => leak(format!("{mode}+session")),
        (Target::Server, Api::Session, _) => {
            leak(format!("{mode}+session+pipeline{}", args.pipeline))
        }
        _ => mode,
    };
    Report { mode, ..report }.print();
    Ok(())
}

/// A label built once per run, for the report's static fields.
fn leak(label: String) -> &'static str {
    Box::leak(label.into_boxed_str())
}

/// The client options of `--api`.
fn client_options(args: &Args) -> sqlited_client::ClientOptions {
    let options = sqlited_client::ClientOptions::default().with_sessions(args.api == Api::Session);
    match &args.token {
        Some(token) => options.with_token(token.clone()),
        None => options,
    }
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Server => "sqlited",
        Target::Http => "sqlited-http",
        Target::Engine => "sqlited-engine",
        Target::DeadpoolSqlite => "deadpool-sqlite",
        Target::Rusqlite => "rusqlite",
    }
}

fn init(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
    db_path: &std::path::Path,
) -> Result<(), String> {
    let started = Instant::now();
    if matches!(args.target, Target::Server | Target::Http) {
        runtime.block_on(async {
            let db = Client::connect_with(&args.url, client_options(args))
                .await
                .map_err(|e| e.to_string())?
                .database(&args.database);
            for sql in workload::init_statements() {
                db.with_timeout(Some(Duration::from_secs(600)))
                    .execute(&sql, ())
                    .await
                    .map_err(|e| format!("{sql}: {e}"))?;
            }
            Ok::<_, String>(())
        })?;
    } else {
        let conn = target::open_rusqlite(db_path).map_err(|e| e.to_string())?;
        for sql in workload::init_statements() {
            conn.execute_batch(&sql)
                .map_err(|e| format!("{sql}: {e}"))?;
        }
    }
    eprintln!("initialised in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// When to stop, and whether a request counts.
struct Clock {
    warm_until: Instant,
    stop_at: Instant,
    /// Requests left in --requests mode.
    left: Option<AtomicI64>,
}

impl Clock {
    fn new(args: &Args) -> Self {
        let now = Instant::now();
        match args.requests {
            Some(n) => Self {
                warm_until: now,
                stop_at: now + Duration::from_secs(86_400),
                left: Some(AtomicI64::new(n)),
            },
            None => {
                let warm_until = now + Duration::from_secs_f64(args.warmup);
                Self {
                    warm_until,
                    stop_at: warm_until + Duration::from_secs_f64(args.duration),
                    left: None,
                }
            }
        }
    }

    /// Whether another request should start.
    fn another(&self) -> bool {
        match &self.left {
            Some(left) => left.fetch_sub(1, Ordering::Relaxed) > 0,
            None => Instant::now() < self.stop_at,
        }
    }

    fn measured_since(&self) -> Instant {
        self.warm_until
    }
}

fn record(tally: &mut Tally, clock: &Clock, started: Instant, result: Result<(), String>) {
    if started < clock.warm_until {
        return;
    }
    match result {
        Ok(()) => tally
            .latencies_us
            .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
        Err(kind) => *tally.errors.entry(kind).or_default() += 1,
    }
}

fn report(args: &Args, tally: Tally, elapsed: Duration, cpu: Duration) -> Report {
    Report {
        label: args.label.clone(),
        workload: args.workload.name(),
        target: target_name(args.target),
        mode: "",
        clients: args.clients,
        channels: if args.target == Target::Server {
            args.channels
        } else {
            0
        },
        elapsed,
        tally,
        client_cpu: cpu,
    }
}

async fn run_tasks(args: &Args, db_path: &std::path::Path) -> Result<Report, String> {
    let target = Arc::new(match args.target {
        Target::Server if args.workload == Workload::RpcCeiling => {
            AsyncTarget::Ceiling(ceiling::Ceiling::connect(&args.url, args.channels).await?)
        }
        Target::Server => {
            let mut dbs = Vec::new();
            for _ in 0..args.channels.max(1) {
                let client = Client::connect_with(&args.url, client_options(args))
                    .await
                    .map_err(|e| e.to_string())?;
                dbs.push(client.database(&args.database));
            }
            AsyncTarget::Server(dbs)
        }
        Target::Engine => {
            let config = sqlited::Config::parse_from([
                "sqlited",
                "--data-dir",
                &args.data_dir.display().to_string(),
                "--readers",
                &args.readers.to_string(),
            ]);
            let engine = sqlited::Engine::new(
                config.data_dir.clone(),
                true,
                config.database_options(),
                config.transaction_options(),
            );
            let db = engine
                .database(&args.database, &sqlited::CancelToken::none())
                .await
                .map_err(|e| e.to_string())?;
            AsyncTarget::Engine(db)
        }
        Target::DeadpoolSqlite => {
            let pool = deadpool_sqlite::Config::new(db_path)
                .builder(deadpool_sqlite::Runtime::Tokio1)
                .map_err(|e| e.to_string())?
                .max_size(args.readers.max(1))
                .build()
                .map_err(|e| e.to_string())?;
            AsyncTarget::Deadpool(pool)
        }
        Target::Http => AsyncTarget::Http(
            http::HttpTarget::connect(&args.http_url, &args.database, args.clients).await?,
        ),
        Target::Rusqlite => unreachable!("rusqlite runs on threads"),
    });
    let clock = Arc::new(Clock::new(args));
    let cpu_before = process_cpu();
    let mut handles = Vec::new();
    for client in 0..args.clients {
        let target = Arc::clone(&target);
        let clock = Arc::clone(&clock);
        let workload = args.workload;
        let depth = args.pipeline.max(1);
        handles.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(client as u64 + 1);
            let mut tally = Tally::default();
            // `depth` requests in flight: a new one starts as soon as one is answered.
            let mut in_flight = FuturesUnordered::new();
            loop {
                while in_flight.len() < depth && clock.another() {
                    let op: Op = workload.next(&mut rng);
                    let target = Arc::clone(&target);
                    in_flight.push(async move {
                        let started = Instant::now();
                        (started, target.call(client, &op).await)
                    });
                }
                let Some((started, result)) = in_flight.next().await else {
                    break;
                };
                record(&mut tally, &clock, started, result);
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for handle in handles {
        tally.merge(handle.await.map_err(|e| e.to_string())?);
    }
    let elapsed = clock.measured_since().elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    Ok(report(args, tally, elapsed, cpu))
}

fn run_threads(args: &Args, db_path: &std::path::Path) -> Result<Report, String> {
    let target = match args.target {
        Target::Server => {
            let url = if args.url.starts_with("unix:") {
                format!("{}?database={}", args.url, args.database)
            } else {
                format!("{}/{}", args.url.trim_end_matches('/'), args.database)
            };
            let mut conns = Vec::new();
            for _ in 0..args.channels.max(1) {
                conns.push(
                    blocking::connect_with(&url, client_options(args))
                        .map_err(|e| e.to_string())?,
                );
            }
            BlockingTarget::Server(conns)
        }
        Target::Rusqlite => BlockingTarget::Rusqlite {
            path: db_path.to_path_buf(),
            writer: Mutex::new(target::open_rusqlite(db_path).map_err(|e| e.to_string())?),
        },
        _ => unreachable!("checked by the caller"),
    };
    let clock = Clock::new(args);
    let cpu_before = process_cpu();
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.clients)
            .map(|client| {
                let target = &target;
                let clock = &clock;
                let workload = args.workload;
                scope.spawn(move || {
                    let handle = target.client(client);
                    let mut rng = fastrand::Rng::with_seed(client as u64 + 1);
                    let mut tally = Tally::default();
                    while clock.another() {
                        let op = workload.next(&mut rng);
                        let started = Instant::now();
                        let result = handle.call(&op);
                        record(&mut tally, clock, started, result);
                    }
                    tally
                })
            })
            .collect();
        for handle in handles {
            tally.merge(handle.join().expect("client thread"));
        }
    });
    let elapsed = clock.measured_since().elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    Ok(report(args, tally, elapsed, cpu))
}
