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

/// A shell for sqlited: type SQL ending with ';', or dot commands (.help).
///
/// Reads a script from standard input when it is not a terminal; exits non-zero if any
/// statement failed.
#[derive(Debug, Parser)]
#[command(name = "sqlited-cli", version)]
struct Args {
    /// The database: http://host:port/<database>.
    #[arg(default_value = "http://127.0.0.1:50051/main", env = "SQLITED_URL")]
    url: String,
    /// Run this SQL (or dot command) and exit; may be given several times.
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Output mode.
    #[arg(long, value_enum, default_value = "table")]
    mode: Mode,
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
    let mut shell = match Shell::connect(server, database, args.mode) {
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
