//! Differential testing: the same sqllogictest scripts (`tests/differential/*.slt`) and
//! random scripts run through the real server, with the Rust client, and through SQLite
//! itself in process; every answer must be the same, bit for bit, or differ as [`known`]
//! documents.
//!
//! Layout:
//! - [`outcome`]: an answer both engines give (columns, rows, what changed, or an error),
//!   compared exactly.
//! - [`engines`]: the server through the client, and the reference SQLite connection.
//! - [`known`]: the deliberate differences, with their reasons (also in the README).
//! - [`runner`]: loads a script's records and runs each on both engines.
//! - [`random`]: a generator of random scripts, run for a bounded time, shrinking a failure.

mod engines;
mod known;
mod outcome;
mod random;
mod runner;

use std::path::{Path, PathBuf};

use sqlited_client::Client;

use crate::harness::Server;
use engines::{Reference, SERVER_ARGS};
use runner::{Pair, Tally};

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/differential");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_answers_as_sqlite_does() {
    let server = Server::start_with(SERVER_ARGS);
    let client = Client::connect(&server.url()).await.unwrap();
    let temp = tempfile::tempdir().unwrap();
    let files = scripts();
    assert!(!files.is_empty(), "no .slt scripts found");
    let mut report = Vec::new();
    let mut total = Tally::default();
    for file in &files {
        let name: String = file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let pair = Pair {
            server: {
                server.ensure_database(&name);
                client.database(&name)
            },
            reference: Reference::open(&temp.path().join(format!("{name}.db"))),
        };
        let mut tally = Tally::default();
        pair.run(&runner::load(file), &mut tally).await;
        total.compared += tally.compared;
        total.refused_as_documented += tally.refused_as_documented;
        total.unsendable_as_documented += tally.unsendable_as_documented;
        report.extend(tally.mismatches);
    }
    eprintln!(
        "differential: {} scripts, {} statements compared, {} refused and {} unsendable as documented",
        files.len(),
        total.compared,
        total.refused_as_documented,
        total.unsendable_as_documented
    );
    assert!(
        report.is_empty(),
        "{} differences from SQLite ({} workers):\n\n{}",
        report.len(),
        crate::harness::workers_mode(),
        report.join("\n\n")
    );
}

#[test]
fn the_readme_lists_every_deliberate_difference() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
        .unwrap();
    let whats = known::REFUSED
        .iter()
        .map(|r| (r.what, r.why))
        .chain(known::UNSENDABLE.iter().map(|u| (u.what, u.why)));
    for (what, why) in whats {
        assert!(!why.is_empty());
        assert!(readme.contains(what), "the README does not list {what:?}");
    }
}
