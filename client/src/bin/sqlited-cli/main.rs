//! sqlited-cli: a shell for sqlited in the manner of sqlite3 and psql.
//!
//! Layout:
//! - `shell.rs`: the shell's state; SQL statements, transaction control, script batches.
//! - `dot.rs`: the dot commands; `dump.rs`: `.schema` and `.dump`; `import.rs`: `.import`.
//! - `control.rs`: what a statement is to the shell (BEGIN, COMMIT, SAVEPOINT, other SQL).
//! - `transaction.rs`: the open transaction and the keeper of its lease.
//! - `split.rs`: where statements end (`sqlite3_complete`).
//! - `output.rs`: the output modes, row by row; `sink.rs`: stdout or `.output FILE`;
//!   `pager.rs`: `$PAGER` for results taller than the screen.
//! - `literal.rs`: values as sqlite3 shows them and as SQL literals; `keywords.rs`.
//! - `complete.rs`: tab completion; `url.rs`: the URL and connection messages.

mod complete;
mod control;
mod dot;
mod dump;
mod import;
mod keywords;
mod literal;
mod output;
mod pager;
mod shell;
mod sink;
mod split;
mod transaction;
mod url;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use output::{Mode, Settings};
use shell::Shell;
use sqlited_client::ClientOptions;

/// A shell for sqlited: type SQL ending with ';', or dot commands (.help).
///
/// Reads a script from standard input when it is not a terminal; exits non-zero if any
/// statement failed.
#[derive(Debug, Parser)]
#[command(name = "sqlited-cli", version)]
struct Args {
    /// The server and database: http://HOST:PORT/DATABASE, https:// for TLS, or
    /// unix:/PATH/TO.sock?database=DATABASE for a server's Unix socket (the port defaults
    /// to sqlited's, 50051). The database is created if missing, as sqlite3 creates a file;
    /// ?mode=rw (&mode=rw after database=) refuses a missing one, ?mode=ro opens it read
    /// only. Without a database none is open (`.open NAME`).
    #[arg(default_value = "http://127.0.0.1:50051", env = "SQLITED_URL")]
    url: String,
    /// Run this SQL (or dot command) and exit; may be given several times.
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Output mode.
    #[arg(long, value_enum, default_value = "table")]
    mode: Mode,
    /// Stop a script at its first error (also `-bail`, as sqlite3 spells it).
    #[arg(long)]
    bail: bool,
    /// No column names in list, csv, quote, tabs and insert modes.
    #[arg(long)]
    no_header: bool,
    /// Never page results (by default one taller than the screen goes through $PAGER, or
    /// `less -FRX`, when standard output is a terminal).
    #[arg(long)]
    no_pager: bool,
    /// How long the shell renews the lease of an open transaction while nothing is typed
    /// (then the server's lease runs out and it rolls the transaction back).
    #[arg(long, default_value_t = 15 * 60 * 1000)]
    transaction_keepalive_ms: u64,
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
    // sqlite3's single-dash spellings.
    let args = Args::parse_from(std::env::args().map(|arg| match arg.as_str() {
        "-bail" => "--bail".to_string(),
        "-noheader" => "--no-header".to_string(),
        _ => arg,
    }));
    let (server, database, mode) = match url::parse(&args.url) {
        Ok(parts) => parts,
        Err(message) => {
            eprintln!("Error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut settings = Settings::new(args.mode);
    settings.headers = !args.no_header;
    let mut shell = match args.options().and_then(|options| {
        let database = database.as_deref().map(|name| (name, mode));
        Shell::connect(&server, database, settings, options)
    }) {
        Ok(shell) => shell,
        Err(err) => {
            eprintln!("Error: {}", url::explain(&server, &err.to_string()));
            return ExitCode::from(2);
        }
    };
    shell.bail = args.bail;
    shell.pager = !args.no_pager;
    shell.keepalive = std::time::Duration::from_millis(args.transaction_keepalive_ms);
    if !args.commands.is_empty() {
        for command in &args.commands {
            for line in command.split('\n') {
                shell.feed(line);
            }
            shell.finish();
            if shell.quit {
                break;
            }
        }
    } else if std::io::stdin().is_terminal() {
        interactive(&mut shell);
    } else {
        let mut input = std::io::stdin().lock();
        let mut line = Vec::new();
        // Lines end at \n only: a \r inside a quoted value is data.
        while !shell.quit {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            shell.feed(&String::from_utf8_lossy(&line));
        }
    }
    shell.close();
    if shell.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The prompt, with line editing, completion, and a history kept in ~/.sqlited_history
/// (saved after every line, so a killed shell loses none).
fn interactive(shell: &mut Shell) {
    shell.interactive();
    let history =
        std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".sqlited_history"));
    let names = complete::Names::default();
    let mut editor = match rustyline::Editor::<complete::Helper, _>::new() {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("Error: no line editor: {err}");
            return;
        }
    };
    editor.set_helper(Some(complete::Helper::new(names.clone())));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "sqlited-cli: connected to {}. Type .help for help, .quit to leave.",
        shell.database_name()
    );
    shell.schema_changed = true;
    while !shell.quit {
        if std::mem::take(&mut shell.schema_changed) {
            complete::reload(shell, &names);
        }
        let prompt = shell.prompt();
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history {
                        let _ = editor.save_history(path);
                    }
                }
                shell.failed = false;
                shell.feed(&line);
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                // As psql: Ctrl-C at a continuation prompt forgets the half-typed statement.
                shell.clear_pending();
            }
            Err(_) => break,
        }
    }
}
