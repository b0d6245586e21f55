//! The `sqlited` binary: parse the command line, start tracing, then serve until
//! SIGTERM/SIGINT — or run a subcommand (`healthcheck`, `restore`, `token`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use sqlited::Config;
use sqlited::config::LogFormat;
use sqlited::server::{App, Listeners};
use tracing_subscriber::EnvFilter;

/// sqlited: SQLite databases on the network, over gRPC.
///
/// Serves every `<name>.db` file of the data directory as database `name`. Each database has
/// one writer, which group-commits queued writes, and readers in WAL mode. Every flag can also
/// be set by the environment variable shown.
#[derive(Debug, Parser)]
#[command(name = "sqlited", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Asks a running server whether it is serving; exits 0 if SERVING, 1 otherwise (for
    /// container health checks).
    Healthcheck {
        /// The server's address: `http://HOST:PORT`, `https://HOST:PORT`, or `unix:PATH` for
        /// a server started with `--listen unix:PATH`.
        #[arg(
            long,
            env = "SQLITED_HEALTHCHECK_ADDR",
            default_value = "http://127.0.0.1:50051"
        )]
        addr: String,
        /// The health entry to ask about: "" for the whole server, `sqlited.v1.Database`, or
        /// `sqlited.v1.Database/<name>` for one open database (with --credentials on the
        /// server: needs --token).
        #[arg(long, default_value = "")]
        service: String,
        /// Milliseconds to wait for the answer.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// For https:// addresses: the CA (PEM) of the server's certificate (default: the
        /// system's roots).
        #[arg(long, env = "SQLITED_HEALTHCHECK_CA")]
        ca: Option<std::path::PathBuf>,
        /// A client certificate (PEM), for servers run with --tls-client-ca; needs --key.
        #[arg(long, env = "SQLITED_HEALTHCHECK_CERT", requires = "key")]
        cert: Option<std::path::PathBuf>,
        /// The private key (PEM) of --cert.
        #[arg(long, env = "SQLITED_HEALTHCHECK_KEY", requires = "cert")]
        key: Option<std::path::PathBuf>,
        /// The name the server's certificate must carry, when not the address's host.
        #[arg(long)]
        tls_domain: Option<String>,
        /// A token, for the entry of one database on a server with --credentials (the
        /// server-wide entries need none). Prefer the environment variable: a flag shows in
        /// `ps`.
        #[arg(long, env = "SQLITED_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Restores a database into the data directory, after checking it passes `PRAGMA
    /// integrity_check`: a backup (as `Admin.Backup` streams it) read from standard input, or
    /// with --replica-url its latest (or --timestamp / --txid) state from its Litestream
    /// replica. Stop the server first: a data directory a running server holds (its lock,
    /// `.sqlited.lock`) is refused, whatever the database's name.
    Restore {
        /// The data directory.
        #[arg(long, env = "SQLITED_DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
        /// The name of the database to restore.
        #[arg(long)]
        database: String,
        /// Replace an existing database of that name.
        #[arg(long)]
        force: bool,
        /// Restore from the Litestream replica under this URL (the server's --replica-url)
        /// instead of standard input.
        #[arg(long, env = "SQLITED_REPLICA_URL")]
        replica_url: Option<String>,
        /// The state at this time (RFC 3339, e.g. `2026-12-01T15:04:05Z`) instead of the latest.
        #[arg(long, requires = "replica_url", conflicts_with = "txid")]
        timestamp: Option<String>,
        /// The state at this Litestream transaction (the `replica_txid` ListDatabases and
        /// /metrics report) instead of the latest.
        #[arg(long, requires = "replica_url")]
        txid: Option<u64>,
        /// Restore from this generation of the replica (`URL/NAME/GEN`; ListDatabases
        /// reports the one a database replicates to) instead of the newest, or with
        /// --timestamp the one live then.
        #[arg(long, requires = "replica_url")]
        generation: Option<u64>,
        /// The Litestream binary.
        #[arg(long, env = "SQLITED_LITESTREAM", default_value = "litestream")]
        litestream: std::path::PathBuf,
    },
    /// Makes tokens for the credentials file (--credentials).
    #[command(subcommand)]
    Token(TokenCommand),
    /// A worker process of a server run with --workers processes; started by the server only.
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Prints a new random token (give it to the client; it is shown only now) and the entry
    /// to add to the credentials file, which holds only its hash.
    New {
        /// The token's name in the credentials file and in logs.
        #[arg(long)]
        name: String,
        /// Its role on every database (`read`, `write`, `admin`); edit `roles` to narrow it.
        #[arg(long, default_value = "read")]
        role: String,
    },
    /// Reads a token from standard input and prints the hash to store for it.
    Hash,
}

/// What `sqlited --version` prints after the name: the binary's version, the gRPC package it
/// serves and the SQLite linked in (its runtime version, not the headers'), for bug reports.
fn long_version() -> String {
    format!(
        "{}\nproto package: {}\nSQLite: {}",
        env!("CARGO_PKG_VERSION"),
        sqlited_proto::PACKAGE,
        rusqlite::version()
    )
}

fn main() -> ExitCode {
    // Before anything can initialize SQLite: each request's memory budget needs SQLite's
    // allocator wrapped, in the server and in every worker process alike.
    if let Err(err) = sqlited::install_sqlite_allocator() {
        eprintln!("sqlited: {err}");
        return ExitCode::FAILURE;
    }
    // `-V` stays one line; `--version` adds the proto package and SQLite's version. Leaked
    // once: clap takes a `&'static str`, and the process lives as long.
    let command = Cli::command().long_version(long_version().leak() as &str);
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|err| err.exit());
    if let Some(Command::Worker) = cli.command {
        // A worker process: plain lines on stderr, which the server relays into its log.
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .without_time()
            .init();
        return ExitCode::from(sqlited::run_worker_process());
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(err) => {
            eprintln!("sqlited: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Healthcheck {
            addr,
            service,
            timeout_ms,
            ca,
            cert,
            key,
            tls_domain,
            token,
        }) => {
            let tls = sqlited::healthcheck::Tls {
                ca,
                identity: cert.zip(key),
                domain: tls_domain,
            };
            let timeout = Duration::from_millis(timeout_ms);
            healthcheck(&addr, &service, timeout, &tls, token.as_deref()).await
        }
        Some(Command::Restore {
            data_dir,
            database,
            force,
            replica_url,
            timestamp,
            txid,
            generation,
            litestream,
        }) => match match replica_url {
            Some(url) => {
                sqlited::restore::from_replica(
                    &data_dir,
                    &database,
                    force,
                    &litestream,
                    &url,
                    &sqlited::restore::PointInTime {
                        timestamp,
                        txid,
                        generation,
                    },
                )
                .await
            }
            None => sqlited::restore::restore(&data_dir, &database, force, std::io::stdin()).await,
        } {
            Ok(bytes) => {
                println!(
                    "restored {database} ({bytes} bytes) into {}",
                    data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("sqlited restore: {err}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Token(command)) => token(command),
        Some(Command::Worker) => ExitCode::FAILURE,
        None => serve(cli.serve).await,
    }
}

fn token(command: TokenCommand) -> ExitCode {
    use sqlited::{Access, token};
    match command {
        TokenCommand::New { name, role } => {
            if Access::parse(&role).is_none() {
                eprintln!("sqlited token new: --role must be read, write or admin");
                return ExitCode::FAILURE;
            }
            let value = match token::generate() {
                Ok(value) => value,
                Err(err) => {
                    eprintln!("sqlited token new: {err}");
                    return ExitCode::FAILURE;
                }
            };
            println!("token: {value}");
            println!();
            println!("# add to the credentials file:");
            println!("[[token]]");
            println!("name = {name:?}");
            println!("sha256 = \"{}\"", token::hash_hex(&value));
            println!("roles = {{ \"*\" = {role:?} }}");
            ExitCode::SUCCESS
        }
        TokenCommand::Hash => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() || line.trim().is_empty() {
                eprintln!("sqlited token hash: give the token on standard input");
                return ExitCode::FAILURE;
            }
            println!("{}", token::hash_hex(line.trim()));
            ExitCode::SUCCESS
        }
    }
}

async fn healthcheck(
    addr: &str,
    service: &str,
    timeout: Duration,
    tls: &sqlited::healthcheck::Tls,
    token: Option<&str>,
) -> ExitCode {
    match sqlited::healthcheck::check(addr, service, timeout, tls, token).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("sqlited healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal (and not under NO_COLOR): escape codes in a
    // log file or journal are noise, and formatting them costs every logged request.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}

/// Binds the ports, builds the app, serves it until SIGTERM or SIGINT, then shuts it down.
async fn serve(config: Config) -> ExitCode {
    init_tracing(config.log_format);
    // The handlers first, so a signal sent as soon as the server announces itself is not
    // fatal; the ports before the app, so one in use fails before any database opens.
    let signal = shutdown_signal();
    let served = async {
        let listeners = Listeners::bind(&config).await?;
        App::build(config).await?.serve(listeners, signal).await
    };
    match served.await {
        Ok(()) => {
            tracing::info!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "sqlited stopped with an error");
            eprintln!("sqlited: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on the first SIGTERM or SIGINT. The handlers are installed now, before the
/// server announces itself, so a signal sent as soon as it is listening is not fatal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install the SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}
