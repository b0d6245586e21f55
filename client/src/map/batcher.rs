//! Client-side group commit for single-key sets: while one `SetMany` is on its way, the sets
//! other threads and tasks make on the same map handle (and its clones) queue up, and go out
//! together as the next `SetMany` with `return_previous`, each caller getting its own answer.
//!
//! Nothing waits for company: a set made while fewer than [`MAX_IN_FLIGHT`] requests are out
//! leaves at once, so one caller alone sees the latency of a plain `Set`. Many callers share
//! each round trip and each commit, which is what lifts 40 threads far past one RPC each.
//! Durability is unchanged: every caller is answered after the server committed its entry.
//!
//! Every map handle of one [`Client`](crate::Client) (and its clones) for the same database
//! and map shares one batcher, so threads that each call `database.map("m")` batch too.
//! The batcher is a task on the runtime of the first set; a set made after that runtime is
//! gone falls back to a plain `Set`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::transport::{Transport, with_timeout};
use sqlited_proto::v1::key_value_client::KeyValueClient;
use sqlited_proto::v1::{Entry, MapRef, SetManyRequest, SetRequest, SetResponse};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tonic::{Code, Status};

use crate::error::Result;

/// Requests one map's batcher has on the wire at once. Measured with 40 threads (see
/// BENCHMARKS.md): 1 and 2 do best, more only splits the same callers into smaller batches
/// that the server then commits one by one; 2 lets a second batch leave while the first is
/// committing.
pub const MAX_IN_FLIGHT: usize = 2;
/// Entries per request at most.
pub const MAX_ENTRIES: usize = 512;
/// Key and value bytes per request at most (an entry larger than this goes alone).
pub const MAX_BYTES: usize = 1 << 20;

/// One caller's set, waiting for its batch.
struct Pending {
    key: Vec<u8>,
    value: Vec<u8>,
    /// The caller's deadline; a batch's request gets the longest of its callers'.
    timeout: Option<Duration>,
    reply: oneshot::Sender<Result<SetResponse, Status>>,
}

/// The queue of one map's sets.
#[derive(Debug, Default)]
pub struct Batcher {
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

/// The batchers of a client's maps, by database and map, alive while a handle holds them.
#[derive(Debug, Default)]
pub struct Batchers(Mutex<HashMap<(String, String), Weak<Batcher>>>);

impl Batchers {
    /// The batcher of `map` in `database`, shared with every live handle on it.
    pub fn get(&self, database: &str, map: &str) -> Arc<Batcher> {
        let mut batchers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (database.to_string(), map.to_string());
        if let Some(batcher) = batchers.get(&key).and_then(Weak::upgrade) {
            return batcher;
        }
        batchers.retain(|_, batcher| batcher.strong_count() > 0);
        let batcher = Arc::new(Batcher::default());
        batchers.insert(key, Arc::downgrade(&batcher));
        batcher
    }
}

impl Batcher {
    /// Sets `key` to `value` unconditionally, in a batch with whatever other sets are waiting.
    pub async fn set(
        self: &Arc<Self>,
        rpc: &KeyValueClient<Transport>,
        map: &MapRef,
        key: Vec<u8>,
        value: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<SetResponse> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(rpc.clone(), map.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            key,
            value,
            timeout,
            reply,
        };
        if let Err(mpsc::error::SendError(pending)) = queue.send(pending) {
            // The batcher's runtime has shut down: go alone.
            let (key, value) = (pending.key, pending.value);
            return Ok(set_one(rpc.clone(), map.clone(), key, value, timeout).await?);
        }
        let answer = async {
            match answer.await {
                Ok(answer) => Ok(answer?),
                Err(_) => Err(Status::unavailable(
                    "the map's write batcher stopped before answering (its runtime shut down); \
                     the entry may or may not be set",
                )
                .into()),
            }
        };
        match timeout {
            None => answer.await,
            Some(timeout) => tokio::time::timeout(timeout, answer)
                .await
                .unwrap_or_else(|_| {
                    Err(Status::deadline_exceeded(
                        "the insert's deadline passed before the server answered; the entry may \
                     or may not be set",
                    )
                    .into())
                }),
        }
    }
}

async fn set_one(
    mut rpc: KeyValueClient<Transport>,
    map: MapRef,
    key: Vec<u8>,
    value: Vec<u8>,
    timeout: Option<Duration>,
) -> Result<SetResponse, Status> {
    let request = SetRequest {
        map: Some(map),
        key,
        value,
        ..Default::default()
    };
    Ok(rpc.set(with_timeout(request, timeout)).await?.into_inner())
}

/// Takes waiting sets off `queue` in batches and sends each batch once a slot is free.
async fn run(
    rpc: KeyValueClient<Transport>,
    map: MapRef,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return, // every handle is gone
            },
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // While waiting for the slot, more sets queued up: take them along.
        let mut bytes = first.key.len() + first.value.len();
        let mut batch = vec![first];
        while batch.len() < MAX_ENTRIES {
            let Ok(next) = queue.try_recv() else { break };
            let size = next.key.len() + next.value.len();
            if bytes + size > MAX_BYTES {
                carried = Some(next);
                break;
            }
            bytes += size;
            batch.push(next);
        }
        let (rpc, map) = (rpc.clone(), map.clone());
        tokio::spawn(async move {
            send(rpc, map, batch).await;
            drop(slot);
        });
    }
}

/// Sends one batch and answers each caller.
async fn send(mut rpc: KeyValueClient<Transport>, map: MapRef, batch: Vec<Pending>) {
    // The longest deadline of the batch's callers, none if one of them has none.
    let timeout = batch
        .iter()
        .map(|p| p.timeout)
        .try_fold(Duration::ZERO, |longest, t| t.map(|t| longest.max(t)));
    let (entries, replies): (Vec<Entry>, Vec<_>) = batch
        .into_iter()
        .map(|p| {
            let entry = Entry {
                key: p.key,
                value: p.value,
                version: 0,
            };
            (entry, p.reply)
        })
        .unzip();
    let count = entries.len();
    let request = SetManyRequest {
        map: Some(map.clone()),
        entries: entries.clone(),
        return_previous: true,
    };
    match rpc.set_many(with_timeout(request, timeout)).await {
        Ok(response) => {
            let results = response.into_inner().results;
            if results.len() != count {
                let status = Status::internal(format!(
                    "the server answered {} results for {count} entries; is it older than \
                     this client (SetMany.return_previous)?",
                    results.len()
                ));
                for reply in replies {
                    let _ = reply.send(Err(status.clone()));
                }
                return;
            }
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        // A refusal of the whole request (one entry too large, say) applied nothing: let
        // each entry of a shared batch get its own answer.
        Err(status) if count > 1 && refused(&status) => {
            for (entry, reply) in entries.into_iter().zip(replies) {
                let answer =
                    set_one(rpc.clone(), map.clone(), entry.key, entry.value, timeout).await;
                let _ = reply.send(answer);
            }
        }
        Err(status) => {
            for reply in replies {
                let _ = reply.send(Err(status.clone()));
            }
        }
    }
}

/// Whether `status` means the request was refused before anything ran.
fn refused(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange
    )
}
