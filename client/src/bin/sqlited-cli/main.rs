//! sqlited-cli: a shell for sqlited in the manner of sqlite3 and psql.
//!
//! Layout:
//! - `shell.rs`: the shell's state, SQL and dot commands.
//! - `split.rs`: where statements end (`sqlite3_complete`).
//! - `output.rs`: table, csv, json and line output.

mod output;
mod shell;
mod split;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use output::Mode;
use shell::Shell;
use sqlited_client::ClientOptions;

/// A shell for sqlited: type SQL ending with ';', or dot commands (.help).
///
/// Reads a script from standard input when it is not a terminal; exits non-zero if any
/// statement failed.
#[derive(Debug, Parser)]
#[command(name = "sqlited-cli", version)]
struct Args {
    /// The database: http://host:port/<database>, or https:// for TLS.
    #[arg(default_value = "http://127.0.0.1:50051/main", env = "SQLITED_URL")]
    url: String,
    /// Run this SQL (or dot command) and exit; may be given several times.
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Output mode.
    #[arg(long, value_enum, default_value = "table")]
    mode: Mode,
    /// The token for a server run with --credentials (better given by the environment, so it
    /// stays out of the process list and shell history).
    #[arg(long, env = "SQLITED_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// For https:// URLs: the CA certificate (PEM) that signed the server's certificate
    /// (default: the system's trusted roots).
    #[arg(long, env = "SQLITED_CA")]
    ca: Option<std::path::PathBuf>,
    /// A client certificate (PEM) for servers that require mutual TLS; needs --key.
    #[arg(long, env = "SQLITED_CERT", requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, env = "SQLITED_KEY", requires = "cert")]
    key: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry, when not the URL's host.
    #[arg(long)]
    tls_domain: Option<String>,
}

impl Args {
    /// The client options these flags ask for.
    fn options(&self) -> Result<ClientOptions, sqlited_client::Error> {
        let mut options = ClientOptions {
            token: self.token.clone(),
            tls_domain: self.tls_domain.clone(),
            ..ClientOptions::default()
        };
        if let Some(ca) = &self.ca {
            options = options.with_ca_file(ca)?;
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            options = options.with_identity_files(cert, key)?;
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some((server, database)) = args
        .url
        .rsplit_once('/')
        .filter(|(s, d)| s.contains("://") && !d.is_empty())
    else {
        eprintln!("Error: the URL must name a database: http://host:port/<database>");
        return ExitCode::from(2);
    };
    let mut shell = match args
        .options()
        .and_then(|options| Shell::connect(server, database, args.mode, options))
    {
        Ok(shell) => shell,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(2);
        }
    };
    if !args.commands.is_empty() {
        for command in &args.commands {
            shell.feed(command);
            shell.finish();
        }
    } else if std::io::stdin().is_terminal() {
        interactive(&mut shell, database);
    } else {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            shell.feed(&line);
            if shell.quit {
                break;
            }
        }
        shell.finish();
    }
    if shell.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The prompt, with line editing and a history kept in ~/.sqlited_history.
fn interactive(shell: &mut Shell, database: &str) {
    let history =
        std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".sqlited_history"));
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("Error: no line editor: {err}");
            return;
        }
    };
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("sqlited-cli: connected to {database}. Type .help for help, .quit to leave.");
    while !shell.quit {
        let prompt = if shell.in_statement() {
            "   ...> ".to_string()
        } else {
            format!("{database}> ")
        };
        match editor.readline(&prompt) {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                shell.failed = false;
                shell.feed(&line);
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    shell.finish();
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
}
