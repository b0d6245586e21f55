//! Random scripts from a small grammar (proptest strategies) over three tables whose
//! schema the scripts themselves change: values of every type and edge, expressions,
//! writes, queries, ALTER TABLE, DROP and CREATE, views. Run for a bounded time (a few
//! seconds; `SQLITED_DIFF_SECONDS` for longer), a failing script is shrunk to a minimal one.

use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sqlited_client::Client;

use super::engines::{Mode, Reference, SERVER_ARGS};
use super::runner::{Expect, Pair, Step, Tally};
use crate::harness::Server;

const TABLES: &[&str] = &["t0", "t1", "t2"];
const COLUMNS: &[&str] = &["a", "b", "c", "d", "e"];
const TYPES: &[&str] = &["", " INTEGER", " REAL", " TEXT", " BLOB", " NUMERIC", " ANY"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    proptest::sample::select(items)
}

fn literal() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just("NULL".to_string()),
        Just("''".to_string()),
        Just("x''".to_string()),
        Just("0".to_string()),
        Just("-0.0".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("9223372036854775808".to_string()),
        Just("1e308".to_string()),
        Just("1e999".to_string()),
        Just("-1e999".to_string()),
        Just("4.9e-324".to_string()),
        Just("'10'".to_string()),
        Just("' 7 '".to_string()),
        Just("'1e3'".to_string()),
        Just("'héllo 𝄞'".to_string()),
        Just("'ABC'".to_string()),
        Just("'abc  '".to_string()),
        Just("x'00ff10'".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        (-100i64..100).prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "[a-zA-Z0-9 é']{0,6}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![literal(), pick(COLUMNS).prop_map(str::to_string)];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                pick(&[
                    "+", "-", "*", "/", "%", "||", "=", "<", "<>", ">=", "AND", "OR", "IS",
                    "IS NOT", "&", "<<", "COLLATE NOCASE =", "COLLATE RTRIM ="
                ]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                pick(&[
                    "typeof", "abs", "length", "hex", "upper", "lower", "quote", "round",
                    "unicode", "trim", "sign", "json_quote", "octet_length", "-", "NOT "
                ]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), pick(&["INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC"]))
                .prop_map(|(a, t)| format!("CAST({a} AS {t})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("coalesce({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("nullif({a}, {b})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(a, b, c)| format!("CASE WHEN {a} THEN {b} ELSE {c} END")),
        ]
    })
}

fn statement() -> impl Strategy<Value = (String, bool)> {
    let table = pick(TABLES);
    let column = pick(COLUMNS);
    let sql = prop_oneof![
        3 => (table.clone(), vec((column.clone(), pick(TYPES)), 1..4), any::<bool>())
            .prop_map(|(t, cols, strict)| {
                let mut names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
                names.dedup();
                let cols: Vec<String> = cols
                    .iter()
                    .map(|(c, ty)| {
                        let ty = if strict && ty.is_empty() { " ANY" } else { ty };
                        format!("{c}{ty}")
                    })
                    .collect();
                let strict = if strict { " STRICT" } else { "" };
                format!("CREATE TABLE {t}({}){strict}", cols.join(", "))
            }),
        6 => (table.clone(), vec(literal(), 1..4))
            .prop_map(|(t, values)| format!("INSERT INTO {t} VALUES ({})", values.join(", "))),
        3 => (table.clone(), column.clone(), expression())
            .prop_map(|(t, c, e)| format!("INSERT INTO {t}({c}) VALUES ({e}) RETURNING *")),
        2 => (table.clone(), column.clone(), expression(), expression())
            .prop_map(|(t, c, e, w)| format!("UPDATE {t} SET {c} = {e} WHERE {w}")),
        1 => (table.clone(), expression())
            .prop_map(|(t, w)| format!("DELETE FROM {t} WHERE {w}")),
        6 => table.clone().prop_map(|t| format!("SELECT * FROM {t}")),
        4 => (vec(expression(), 1..4), table.clone(), expression()).prop_map(|(es, t, w)| {
            format!("SELECT {} FROM {t} WHERE {w}", es.join(", "))
        }),
        3 => vec(expression(), 1..4).prop_map(|es| format!("SELECT {}", es.join(", "))),
        2 => (pick(&["count(*)", "sum", "total", "min", "max", "avg", "group_concat"]), column.clone(), table.clone())
            .prop_map(|(f, c, t)| if f.ends_with(')') {
                format!("SELECT {f} FROM {t}")
            } else {
                format!("SELECT {f}({c}) FROM {t}")
            }),
        2 => (table.clone(), column.clone(), pick(TYPES))
            .prop_map(|(t, c, ty)| format!("ALTER TABLE {t} ADD COLUMN {c}{ty}")),
        1 => (table.clone(), column.clone())
            .prop_map(|(t, c)| format!("ALTER TABLE {t} DROP COLUMN {c}")),
        1 => (table.clone(), column.clone(), column.clone())
            .prop_map(|(t, a, b)| format!("ALTER TABLE {t} RENAME COLUMN {a} TO {b}")),
        1 => table.clone().prop_map(|t| format!("DROP TABLE {t}")),
        1 => (table.clone(), expression())
            .prop_map(|(t, e)| format!("CREATE VIEW v_{t} AS SELECT *, {e} AS x FROM {t}")),
        1 => table.clone().prop_map(|t| format!("DROP VIEW v_{t}")),
        2 => table.clone().prop_map(|t| format!("SELECT * FROM v_{t}")),
    ];
    (sql, prop::bool::weighted(0.7))
}

fn script() -> impl Strategy<Value = Vec<(String, bool)>> {
    vec(statement(), 1..40)
}

fn steps(script: &[(String, bool)]) -> Vec<Step> {
    script
        .iter()
        .enumerate()
        .map(|(i, (sql, query))| Step {
            at: format!("random:{}", i + 1),
            sql: sql.clone(),
            mode: if *query { Mode::Query } else { Mode::Execute },
            sorted: false,
            expect: Expect::Anything,
        })
        .collect()
}

#[test]
fn random_scripts_answer_as_sqlite_does() {
    let seconds: u64 = std::env::var("SQLITED_DIFF_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start_with(SERVER_ARGS);
    let client = runtime.block_on(Client::connect(&server.url())).unwrap();
    let temp = tempfile::tempdir().unwrap();
    // One database of each engine for every run, emptied before each: the statement caches
    // stay warm across runs (where stale statements hide), and no run waits for new workers.
    let pair = Pair {
        server: {
            server.ensure_database("random");
            client.database("random")
        },
        reference: Reference::open(&temp.path().join("random.db")),
    };
    let reset: Vec<(String, bool)> = TABLES
        .iter()
        .flat_map(|t| {
            [
                (format!("DROP VIEW IF EXISTS v_{t}"), false),
                (format!("DROP TABLE IF EXISTS {t}"), false),
            ]
        })
        .collect();
    let mut runs = 0usize;
    // The first difference of one script (after the reset, which must agree as well).
    let mut differs = |script: &[(String, bool)]| -> Option<String> {
        runs += 1;
        let mut tally = Tally::default();
        runtime.block_on(async {
            for step in steps(&reset).into_iter().chain(steps(script)) {
                if let Some(mismatch) = pair.step(&step, &mut tally).await {
                    return Some(format!("{}: {}\n{mismatch}", step.at, step.sql));
                }
            }
            None
        })
    };
    let strategy = script();
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut cases = 0;
    while Instant::now() < deadline {
        cases += 1;
        let mut tree = strategy.new_tree(&mut runner).unwrap();
        let Some(mut failure) = differs(&tree.current()) else {
            continue;
        };
        // Shrink as proptest's own runner does: simplify while it still fails, step back
        // (complicate) when a simplification passes.
        let mut minimal = tree.current();
        let shrink_deadline = Instant::now() + Duration::from_secs(20);
        if tree.simplify() {
            while Instant::now() < shrink_deadline {
                let still_fails = match differs(&tree.current()) {
                    Some(found) => {
                        failure = found;
                        minimal = tree.current();
                        true
                    }
                    None => false,
                };
                let stepped = if still_fails {
                    tree.simplify()
                } else {
                    tree.complicate()
                };
                if !stepped {
                    break;
                }
            }
        }
        let script: Vec<String> = minimal
            .iter()
            .map(|(sql, query)| format!("{} {sql}", if *query { "query:  " } else { "execute:" }))
            .collect();
        panic!(
            "a random script answers differently from SQLite ({} workers); minimal script:\n{}\n\n{failure}",
            crate::harness::workers_mode(),
            script.join("\n")
        );
    }
    eprintln!("differential: {cases} random scripts ({runs} runs) in {seconds}s");
}
