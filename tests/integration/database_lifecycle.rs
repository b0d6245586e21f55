//! A database's lifecycle under races: many clients creating, using and dropping one name
//! at once get only answers they can act on, none naming a server path, and no database
//! ends corrupted.

use std::sync::{Arc, Mutex};

use sqlited_client::{Client, TransactionOptions, params};
use tonic::Code;

use crate::harness::{Server, scalar};

const CLIENTS: usize = 8;
/// Rounds per client.
pub const ROUNDS: usize = 15;

/// One answer a client got: which step, and the error.
pub type Failure = (&'static str, sqlited_client::Error);

/// Whether `err` is an answer a client can act on in a create/use/drop race: the name is
/// gone (NOT_FOUND), there already (ALREADY_EXISTS), the work was cut short (ABORTED), or
/// the server asks for a retry (UNAVAILABLE with a retry hint, or RESOURCE_EXHAUSTED with
/// one: a read-only Begin that finds every reader it could pin taken). A statement that ran
/// on a database re-created empty in between may also be told its table does not exist.
fn actionable(err: &sqlited_client::Error) -> bool {
    match err.status_code() {
        Some(Code::NotFound | Code::AlreadyExists | Code::Aborted) => true,
        Some(Code::Unavailable | Code::ResourceExhausted) => err.is_retryable(),
        Some(Code::InvalidArgument) => err.message().contains("no such table: t"),
        _ => false,
    }
}

/// Asserts every one of `failures` is [`actionable`] and names no spelling of the data
/// directory; then that `name` still works from scratch, its file passes the integrity
/// check, and, dropped, leaves no file behind.
pub async fn assert_sound(server: &Server, client: &Client, failures: &[Failure], name: &str) {
    let dirs = [
        server.data_dir.to_string_lossy().into_owned(),
        std::fs::canonicalize(&server.data_dir)
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    ];
    let wrong: Vec<String> = failures
        .iter()
        .filter(|(_, err)| !actionable(err) || dirs.iter().any(|d| err.message().contains(d)))
        .map(|(step, err)| format!("{step}: {:?} {err}", err.status_code()))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} failures cannot be acted on:\n{}",
        wrong.len(),
        failures.len(),
        wrong.join("\n")
    );
    still_sound(server, client, name).await;
}

/// Runs `CLIENTS` clients × `rounds` rounds of `round` on one name; every failure.
pub async fn race<F, Fut>(client: &Client, rounds: usize, round: F) -> Vec<Failure>
where
    F: Fn(Client, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<Failure>> + Send,
{
    let failures = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, round, failures) = (client.clone(), round.clone(), failures.clone());
            tokio::spawn(async move {
                for r in 0..rounds {
                    let failed = round(client.clone(), c * rounds + r).await;
                    failures.lock().unwrap().extend(failed);
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(std::time::Duration::from_secs(120), task)
            .await
            .expect("a racing client hung")
            .unwrap();
    }
    std::mem::take(&mut *failures.lock().unwrap())
}

/// After a race: the name still works from scratch, its file passes the integrity check,
/// and nothing but its own files is left of it.
async fn still_sound(server: &Server, client: &Client, name: &str) {
    client.admin().create_database(name, true).await.unwrap();
    let db = client.database(name);
    db.execute("CREATE TABLE IF NOT EXISTS t (x)", ())
        .await
        .unwrap();
    db.execute("INSERT INTO t VALUES (-1)", ()).await.unwrap();
    assert_eq!(
        scalar::<String>(&db, "PRAGMA integrity_check").await,
        "ok",
        "{name} is corrupted after the race"
    );
    assert!(scalar::<i64>(&db, "SELECT count(*) FROM t WHERE x = -1").await >= 1);
    assert!(client.admin().drop_database(name, false).await.unwrap());
    let left: Vec<_> = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains(name))
        .collect();
    assert!(left.is_empty(), "files left of a dropped {name}: {left:?}");
}

/// One client's round: create `name`, make its table, write, read, drop it.
pub async fn create_write_drop(client: Client, name: &'static str, i: usize) -> Vec<Failure> {
    let mut failed = Vec::new();
    let admin = client.admin();
    let db = client.database(name);
    if let Err(err) = admin.create_database(name, true).await {
        failed.push(("create", err));
    }
    if let Err(err) = db.execute("CREATE TABLE IF NOT EXISTS t (x)", ()).await {
        failed.push(("create table", err));
    }
    if let Err(err) = db.execute("INSERT INTO t VALUES (?)", params![i as i64]).await {
        failed.push(("insert", err));
    }
    if let Err(err) = db.query_all("SELECT count(*) FROM t", ()).await {
        failed.push(("select", err));
    }
    if let Err(err) = admin.drop_database(name, true).await {
        failed.push(("drop", err));
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_write_drop_racing_on_one_name_answer_only_actionable_codes() {
    let server = Server::start();
    let client = Client::connect(&server.url()).await.unwrap();
    let failures = race(&client, ROUNDS, |client, i| create_write_drop(client, "race", i)).await;
    assert_sound(&server, &client, &failures, "race").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_and_maintenance_racing_a_drop_answer_only_actionable_codes() {
    let server = Server::start();
    let client = Client::connect(&server.url()).await.unwrap();
    let failures = race(&client, ROUNDS, |client, i| async move {
        let mut failed = Vec::new();
        let admin = client.admin();
        let db = client.database("txrace");
        if let Err(err) = admin.create_database("txrace", true).await {
            failed.push(("create", err));
        }
        match i % 4 {
            0 => match db.begin().await {
                Ok(tx) => {
                    let ran = async {
                        tx.execute("CREATE TABLE IF NOT EXISTS t (x)", ()).await?;
                        tx.execute("INSERT INTO t VALUES (?)", params![i as i64])
                            .await?;
                        tx.commit().await
                    };
                    if let Err(err) = ran.await {
                        failed.push(("write transaction", err));
                    }
                }
                Err(err) => failed.push(("begin", err)),
            },
            1 => {
                let options = TransactionOptions {
                    read_only: true,
                    ..Default::default()
                };
                match db.begin_with(options).await {
                    Ok(tx) => {
                        if let Err(err) = tx.query_all("SELECT count(*) FROM sqlite_schema", ()).await
                        {
                            failed.push(("read transaction", err));
                        }
                        if let Err(err) = tx.commit().await {
                            failed.push(("read commit", err));
                        }
                    }
                    Err(err) => failed.push(("begin read-only", err)),
                }
            }
            2 => {
                if let Err(err) = admin.checkpoint("txrace").await {
                    failed.push(("checkpoint", err));
                }
                if let Err(err) = client.database("txrace").raw_map("m").len().await {
                    failed.push(("map read", err));
                }
            }
            _ => {
                let mut out = Vec::new();
                if let Err(err) = admin.backup("txrace", &mut out).await {
                    failed.push(("backup", err));
                }
            }
        }
        if let Err(err) = admin.drop_database("txrace", true).await {
            failed.push(("drop", err));
        }
        failed
    })
    .await;
    assert_sound(&server, &client, &failures, "txrace").await;
}
