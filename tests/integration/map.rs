//! PersistentMap: a HashMap-like dictionary that survives restarts and many threads.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlited_client::{ErrorKind, blocking};
use tonic::Code;

use crate::harness::{Server, eventually, scalar};

#[test]
fn the_map_api_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start_in(dir.path(), &[]);
        let conn = blocking::connect(&server.db_url("app")).unwrap();
        let map = conn.map::<String, Vec<u32>>("settings");
        assert!(map.is_empty().unwrap());
        assert_eq!(map.insert("a".into(), vec![1, 2]).unwrap(), None);
        assert_eq!(map.insert("a".into(), vec![3]).unwrap(), Some(vec![1, 2]));
        assert_eq!(map.get(&"a".into()).unwrap(), Some(vec![3]));
        assert_eq!(map.get(&"missing".into()).unwrap(), None);
        assert!(map.contains_key(&"a".into()).unwrap());
        assert_eq!(
            map.get_or_insert_with("b".into(), || vec![7]).unwrap(),
            vec![7]
        );
        assert_eq!(
            map.get_or_insert_with("b".into(), || vec![8]).unwrap(),
            vec![7]
        );
        assert_eq!(map.remove(&"b".into()).unwrap(), Some(vec![7]));
        assert_eq!(map.remove(&"b".into()).unwrap(), None);
        map.extend((0..2500u32).map(|i| (format!("k{i:05}"), vec![i])))
            .unwrap();
        assert_eq!(map.len().unwrap(), 2501);
        // Iteration pages through all of it lazily.
        let all: BTreeMap<String, Vec<u32>> = map.iter().map(Result::unwrap).collect();
        assert_eq!(all.len(), 2501);
        assert_eq!(all["k01234"], vec![1234]);
        assert_eq!(map.keys().count(), 2501);
        // Plain SQL still reads the map.
        let rows = conn
            .query_one("SELECT count(*) FROM \"kv_settings\"", ())
            .unwrap();
        assert_eq!(rows.get::<i64>(0).unwrap(), 2501);
        assert!(server.terminate().success());
    }
    let server = Server::start_in(dir.path(), &[]);
    let conn = blocking::connect(&server.db_url("app")).unwrap();
    let map = conn.map::<String, Vec<u32>>("settings");
    assert_eq!(map.len().unwrap(), 2501);
    assert_eq!(map.get(&"a".into()).unwrap(), Some(vec![3]));
    map.clear().unwrap();
    assert!(map.is_empty().unwrap());
}

#[test]
fn forty_threads_of_mixed_operations_match_a_model() {
    const THREADS: u32 = 40;
    const OPS: u32 = 60;
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("model")).unwrap();
    let map = conn.map::<(u32, u32), u64>("m");
    let models: Vec<HashMap<(u32, u32), u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let map = map.clone();
                scope.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(u64::from(t));
                    let mut model = HashMap::new();
                    for _ in 0..OPS {
                        let key = (t, rng.u32(0..10));
                        match rng.u8(0..4) {
                            0 | 1 => {
                                let value = rng.u64(..);
                                assert_eq!(
                                    map.insert(key, value).unwrap(),
                                    model.insert(key, value)
                                );
                            }
                            2 => assert_eq!(map.remove(&key).unwrap(), model.remove(&key)),
                            _ => assert_eq!(map.get(&key).unwrap(), model.get(&key).copied()),
                        }
                    }
                    model
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let expected: HashMap<(u32, u32), u64> = models.into_iter().flatten().collect();
    let actual: HashMap<(u32, u32), u64> = map.iter().map(Result::unwrap).collect();
    assert_eq!(actual, expected);
    assert_eq!(map.len().unwrap(), expected.len() as u64);
}

#[test]
fn concurrent_updates_lose_nothing() {
    const THREADS: u64 = 16;
    const EACH: u64 = 25;
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("counter")).unwrap();
    let map = conn.map::<String, u64>("c");
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let map = map.clone();
            scope.spawn(move || {
                for _ in 0..EACH {
                    map.update(&"hits".into(), |n| n.unwrap_or(0) + 1).unwrap();
                }
            });
        }
    });
    assert_eq!(map.get(&"hits".into()).unwrap(), Some(THREADS * EACH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_forty_inserting_tasks_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let client = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap();
    let map = client.database("durable").map::<u64, String>("entries");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for t in 0..40u64 {
        let map = map.clone();
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let key = t * 1_000_000 + i;
                if map.insert(key, format!("v{key}")).await.is_err() {
                    break;
                }
                acked.lock().unwrap().push(key);
            }
        }));
    }
    eventually(Duration::from_secs(20), "300 inserts acknowledged", || {
        std::future::ready(acked.lock().unwrap().len() >= 300)
    })
    .await;
    server.kill9();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
    let server = Server::start_in(dir.path(), &[]);
    let client = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap();
    let db = client.database("durable");
    let map = db.map::<u64, String>("entries");
    let acked: Vec<u64> = acked.lock().unwrap().clone();
    for key in &acked {
        assert_eq!(
            map.get(key).await.unwrap(),
            Some(format!("v{key}")),
            "lost {key}"
        );
    }
    assert_eq!(scalar::<String>(&db, "PRAGMA integrity_check").await, "ok");
}

#[tokio::test]
async fn bad_values_and_names_get_clear_errors() {
    let server = Server::start();
    let db = server.database("errs").await;
    let raw = db.raw_map("m");
    raw.set(b"\x01k", &[0xFF], sqlited_client::map::Condition::Always)
        .await
        .unwrap();
    let map = db.map::<String, String>("m");
    // The stored key decodes as the string "k"; its value is not a string.
    let err = map.get(&"k".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
    assert!(err.message().contains("0x016b"), "the key is named: {err}");

    let err = db
        .map::<String, String>("bad name")
        .get(&"k".into())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
    assert_eq!(err.field(), Some("map.map"));
}

#[test]
fn concurrent_inserts_travel_together_and_each_gets_its_own_previous_value() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let conn = blocking::connect(&server.db_url("app")).unwrap();
    const THREADS: u32 = 40;
    const ROUNDS: u32 = 50;
    // Every thread writes one shared key and one key of its own, each through a map handle
    // of its own (as `d = conn.map(..)` per thread would): they still share one batcher.
    let answers = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (conn, answers) = (&conn, &answers);
            scope.spawn(move || {
                let map = conn.map::<String, u32>("shared");
                for round in 0..ROUNDS {
                    let value = t * 1000 + round;
                    let previous = map.insert("hot".into(), value).unwrap();
                    answers.lock().unwrap().push((value, previous));
                    let own = map.insert(format!("own-{t}"), round).unwrap();
                    assert_eq!(own, round.checked_sub(1), "thread {t}'s own key");
                }
            });
        }
    });
    // The hot key's history is one chain: every value written was replaced exactly once,
    // except the last one, which is what the key holds; only the first insert saw nothing.
    let answers = answers.into_inner().unwrap();
    let map = conn.map::<String, u32>("shared");
    let last = map.get(&"hot".into()).unwrap().unwrap();
    let mut replaced: Vec<u32> = answers.iter().filter_map(|(_, p)| *p).collect();
    assert_eq!(answers.iter().filter(|(_, p)| p.is_none()).count(), 1);
    replaced.push(last);
    replaced.sort_unstable();
    let mut written: Vec<u32> = answers.iter().map(|(v, _)| *v).collect();
    written.sort_unstable();
    assert_eq!(replaced, written);
    assert_eq!(map.len().unwrap(), 1 + THREADS as u64);
    // Versions count every set of the key (postcard writes "hot" as its length, then bytes).
    let version = conn
        .query_one(
            "SELECT version FROM \"kv_shared\" WHERE key = ?",
            sqlited_client::params![b"\x03hot".to_vec()],
        )
        .unwrap();
    assert_eq!(version.get::<i64>(0).unwrap(), i64::from(THREADS * ROUNDS));

    // They went out many to a request.
    let inserts = f64::from(2 * THREADS * ROUNDS);
    let set_many = crate::metrics::sample(
        server.metrics_addr(),
        "sqlited_requests_total",
        &["rpc=\"SetMany\"", "code=\"OK\""],
    )
    .expect("SetMany was counted");
    assert!(
        set_many < inserts / 2.0,
        "{set_many} requests for {inserts} inserts"
    );
}

#[test]
fn a_refused_batch_is_retried_entry_by_entry() {
    // Batches are bounded by the client at 1 MiB; this server takes less per message, so
    // some batches of big values are refused whole and their entries retried alone.
    let server = Server::start_with(&["--max-message-bytes", "300000"]);
    let conn = blocking::connect(&server.db_url("app")).unwrap();
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..8usize {
            let (conn, results) = (&conn, &results);
            scope.spawn(move || {
                let map = conn.map::<String, Vec<u8>>("big");
                for round in 0..10 {
                    // One thread's values never fit; the others' fit one to a request.
                    let size = if t == 0 { 400_000 } else { 120_000 };
                    let key = format!("{t}-{round}");
                    let result = map.insert(key, vec![t as u8; size]);
                    results
                        .lock()
                        .unwrap()
                        .push((t, result.map_err(|e| e.status_code())));
                }
            });
        }
    });
    for (t, result) in results.into_inner().unwrap() {
        if t == 0 {
            assert_eq!(result.unwrap_err(), Some(Code::ResourceExhausted));
        } else {
            assert!(result.is_ok(), "thread {t}: {result:?}");
        }
    }
    assert_eq!(conn.map::<String, Vec<u8>>("big").len().unwrap(), 70);
}
