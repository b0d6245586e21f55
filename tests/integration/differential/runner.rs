//! The one runner: each step of a script goes to the server and to SQLite, and the two
//! answers must be the same (or differ as [`super::known`] documents). What a script's
//! records expect (`statement ok`, `statement error`, `statement count N`, a query's types
//! and results when given) is checked against SQLite's answer as well.

use std::path::Path;

use sqllogictest::{
    DefaultColumnType, QueryExpect, Record, SortMode, StatementExpect, parse_file,
};
use sqlited_client::Database;

use super::engines::{Mode, Reference, on_server};
use super::known::{REFUSED, UNSENDABLE};
use super::outcome::Answer;

/// One statement of a script and what its record expects.
#[derive(Debug, Clone)]
pub struct Step {
    /// `file:line`, for the report.
    pub at: String,
    pub sql: String,
    pub mode: Mode,
    pub sorted: bool,
    pub expect: Expect,
}

/// What the script says the statement answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Anything,
    Ok,
    Error,
    Count(u64),
    Rows { types: String, results: Vec<String> },
}

/// The steps of an `.slt` file (its `include`s followed; comments and control records
/// skipped: no engine here needs them).
pub fn load(path: &Path) -> Vec<Step> {
    let records = parse_file::<DefaultColumnType>(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let mut steps = Vec::new();
    for record in records {
        match record {
            Record::Statement {
                loc, sql, expected, ..
            } => steps.push(Step {
                at: loc.to_string(),
                sql,
                mode: Mode::Execute,
                sorted: false,
                expect: match expected {
                    StatementExpect::Ok => Expect::Ok,
                    StatementExpect::Count(n) => Expect::Count(n),
                    StatementExpect::Error(_) => Expect::Error,
                },
            }),
            Record::Query {
                loc, sql, expected, ..
            } => {
                let (sorted, expect) = match expected {
                    QueryExpect::Results {
                        types,
                        sort_mode,
                        results,
                        ..
                    } => (
                        matches!(sort_mode, Some(SortMode::RowSort)),
                        if results.is_empty() {
                            Expect::Anything
                        } else {
                            Expect::Rows {
                                types: types.iter().map(sqllogictest::ColumnType::to_char).collect(),
                                results,
                            }
                        },
                    ),
                    QueryExpect::Error(_) => (false, Expect::Error),
                };
                steps.push(Step {
                    at: loc.to_string(),
                    sql,
                    mode: Mode::Query,
                    sorted,
                    expect,
                });
            }
            _ => {}
        }
    }
    steps
}

/// The two engines of one script: a database of the server, and SQLite on its own file.
pub struct Pair {
    pub server: Database,
    pub reference: Reference,
}

/// What the runner counted over a script.
#[derive(Debug, Default)]
pub struct Tally {
    pub compared: usize,
    pub refused_as_documented: usize,
    pub unsendable_as_documented: usize,
    /// Every difference (and every broken expectation), in order.
    pub mismatches: Vec<String>,
}

impl Pair {
    /// Runs every step, going on after a mismatch so that one report shows them all.
    pub async fn run(&self, steps: &[Step], tally: &mut Tally) {
        for step in steps {
            if let Some(mismatch) = self.step(step, tally).await {
                tally.mismatches.push(format!("{}: {}\n{mismatch}", step.at, step.sql));
            }
        }
    }

    /// One step: `None` when both engines agree (and agree with the script).
    pub async fn step(&self, step: &Step, tally: &mut Tally) -> Option<String> {
        if let Some(refused) = REFUSED.iter().find(|r| (r.matches)(&step.sql)) {
            let server = on_server(&self.server, &step.sql, step.mode).await;
            match &server {
                Answer::Failed(failure) if failure.status == Some(refused.status) => {
                    tally.refused_as_documented += 1;
                    return None;
                }
                Answer::Failed(failure) => {
                    return Some(format!(
                        "  the server refused {} with {:?}, documented as {:?}: {}",
                        refused.what, failure.status, refused.status, failure.message
                    ));
                }
                Answer::Ran(_) => {
                    let reference = self.reference.run(&step.sql, step.mode);
                    return self.compare(step, server, reference, tally);
                }
            }
        }
        let server = on_server(&self.server, &step.sql, step.mode).await;
        let reference = self.reference.run(&step.sql, step.mode);
        self.compare(step, server, reference, tally)
    }

    fn compare(
        &self,
        step: &Step,
        server: Answer,
        reference: Answer,
        tally: &mut Tally,
    ) -> Option<String> {
        tally.compared += 1;
        let (server, reference) = if step.sorted {
            (server.sorted(), reference.sorted())
        } else {
            (server, reference)
        };
        if let (Answer::Failed(failure), Answer::Ran(outcome)) = (&server, &reference)
            && let Some(unsendable) = UNSENDABLE
                .iter()
                .find(|u| (u.matches)(outcome) && failure.status == Some(u.status))
        {
            tally.unsendable_as_documented += 1;
            let _ = unsendable;
            return check_expectation(&step.expect, &reference);
        }
        if server != reference {
            return Some(format!(
                "  server:    {}\n  reference: {}",
                describe(&server),
                describe(&reference)
            ));
        }
        check_expectation(&step.expect, &reference)
    }
}

fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Ran(outcome) => format!("{outcome:?}"),
        Answer::Failed(failure) => format!(
            "error code {:?} (status {:?}): {}",
            failure.sqlite_code, failure.status, failure.message
        ),
    }
}

/// Whether SQLite's answer is what the script's record says.
fn check_expectation(expect: &Expect, reference: &Answer) -> Option<String> {
    let wrong = |what: String| Some(format!("  the script expects {what}; SQLite answered {}", describe(reference)));
    match (expect, reference) {
        (Expect::Anything, _) => None,
        (Expect::Error, Answer::Failed(_)) => None,
        (Expect::Error, Answer::Ran(_)) => wrong("an error".into()),
        (_, Answer::Failed(_)) => wrong("success".into()),
        (Expect::Ok, Answer::Ran(_)) => None,
        (Expect::Count(n), Answer::Ran(outcome)) => {
            (outcome.rows_affected != *n).then(|| wrong(format!("{n} rows affected")))?
        }
        (Expect::Rows { types, results }, Answer::Ran(outcome)) => {
            let fits = types.len() == outcome.columns.len()
                && outcome.rows.iter().all(|row| {
                    row.iter().zip(types.chars()).all(|(cell, t)| {
                        t == '?' || cell.type_char().is_none_or(|c| c == t)
                    })
                });
            let lines: Vec<String> = outcome
                .rows
                .iter()
                .map(|row| row.iter().map(|c| c.slt()).collect::<Vec<_>>().join(" "))
                .collect();
            let expected: Vec<String> = results
                .iter()
                .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            (!fits || lines != expected)
                .then(|| wrong(format!("types {types} and rows {expected:?} (got {lines:?})")))?
        }
    }
}
