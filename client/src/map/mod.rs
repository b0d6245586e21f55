//! Persistent maps: [`PersistentMap<K, V>`], a HashMap-like dictionary whose entries live in a
//! sqlited database and survive restarts, shared by every thread and process that opens it;
//! and [`RawMap`], the same over raw bytes.
//!
//! # Encoding
//! Keys and values are encoded with [postcard](https://docs.rs/postcard) 1.x, whose wire
//! format is stable across versions and compact (variable-length integers, length-prefixed
//! strings). Entries are ordered by their encoded key bytes: for strings that is byte order
//! after a length prefix, for integers the varint order — so iterate for completeness, not
//! for numeric order. For bytes as they are, use [`RawMap`].
//!
//! # Many writers
//! Unconditional sets (`insert`, `RawMap::set` with [`Condition::Always`]) made at the same
//! time by many threads or tasks on the same map of one [`Client`](crate::Client) travel
//! together, many to a request: see [`batcher`].
//!
//! Layout: this file has [`RawMap`], [`PersistentMap`] and [`MapIter`]; [`batcher`] the
//! client-side group commit of concurrent sets.

pub mod batcher;

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::transport::Transport;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlited_proto::v1::key_value_client::KeyValueClient;
use sqlited_proto::v1::{
    ClearRequest, ContainsRequest, DeleteManyRequest, DeleteRequest, Entry, GetRequest, LenRequest,
    MapRef, ScanRequest, SetManyRequest, SetRequest, SetResponse,
};

use crate::error::{Error, ErrorKind, Result};

/// Entries fetched per page when iterating.
const PAGE: u32 = 1000;

/// Compare-and-set attempts [`PersistentMap::update`] makes before giving up.
const MAX_ATTEMPTS: usize = 10_000;

/// A persistent map of bytes to bytes. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct RawMap {
    rpc: KeyValueClient<Transport>,
    map: MapRef,
    batcher: Arc<batcher::Batcher>,
    /// The deadline of each request (the client's `request_timeout`).
    timeout: Option<std::time::Duration>,
    /// The map of a database opened with `mode=ro`: writes are refused here.
    read_only: bool,
}

/// When a [`RawMap::set`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Always,
    /// Only if the key is absent.
    IfAbsent,
    /// Only if the key's current version is this one.
    IfVersion(i64),
}

impl RawMap {
    pub(crate) fn new(
        rpc: KeyValueClient<Transport>,
        batchers: &batcher::Batchers,
        database: &str,
        map: &str,
        timeout: Option<std::time::Duration>,
        read_only: bool,
    ) -> Self {
        Self {
            rpc,
            timeout,
            read_only,
            map: MapRef {
                database: database.into(),
                map: map.into(),
            },
            batcher: batchers.get(database, map),
        }
    }

    fn map(&self) -> Option<MapRef> {
        Some(self.map.clone())
    }

    /// Refuses a write to the map of a database opened with `mode=ro`.
    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(crate::Error::read_only(&format!(
                "a write to map {:?}",
                self.map.map
            )));
        }
        Ok(())
    }

    /// `message` with the handle's deadline (the client's `request_timeout`), if any.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        crate::transport::with_timeout(message, self.timeout)
    }

    /// The entry of `key`, with its version.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        let request = GetRequest {
            map: self.map(),
            key: key.to_vec(),
        };
        let response = self
            .rpc
            .clone()
            .get(self.request(request))
            .await?
            .into_inner();
        Ok(response.entry.filter(|_| response.found))
    }

    /// Sets `key` to `value` if `condition` holds; the response says whether it did and what
    /// the key held before. Unconditional sets made at the same time on this map through the
    /// same client are sent together (see [`batcher`]); each is durable when it returns.
    pub async fn set(&self, key: &[u8], value: &[u8], condition: Condition) -> Result<SetResponse> {
        self.writable()?;
        if condition == Condition::Always {
            return self
                .batcher
                .set(
                    &self.rpc,
                    &self.map,
                    key.to_vec(),
                    value.to_vec(),
                    self.timeout,
                )
                .await;
        }
        let request = SetRequest {
            map: self.map(),
            key: key.to_vec(),
            value: value.to_vec(),
            if_absent: condition == Condition::IfAbsent,
            if_version: match condition {
                Condition::IfVersion(v) => v,
                _ => 0,
            },
        };
        Ok(self
            .rpc
            .clone()
            .set(self.request(request))
            .await?
            .into_inner())
    }

    /// Removes `key`; returns what it held.
    pub async fn delete(&self, key: &[u8]) -> Result<Option<Entry>> {
        self.writable()?;
        let request = DeleteRequest {
            map: self.map(),
            key: key.to_vec(),
        };
        let response = self
            .rpc
            .clone()
            .delete(self.request(request))
            .await?
            .into_inner();
        Ok(response.previous.filter(|_| response.found))
    }

    /// Whether `key` is present.
    pub async fn contains(&self, key: &[u8]) -> Result<bool> {
        let request = ContainsRequest {
            map: self.map(),
            key: key.to_vec(),
        };
        Ok(self
            .rpc
            .clone()
            .contains(self.request(request))
            .await?
            .into_inner()
            .found)
    }

    /// The number of entries.
    pub async fn len(&self) -> Result<u64> {
        let request = LenRequest { map: self.map() };
        Ok(self
            .rpc
            .clone()
            .len(self.request(request))
            .await?
            .into_inner()
            .len)
    }

    /// Up to `limit` entries in key order, after `after` (exclusive) or from the first.
    pub async fn page(&self, after: Option<&[u8]>, limit: u32) -> Result<Vec<Entry>> {
        let request = ScanRequest {
            map: self.map(),
            start: after.map(<[u8]>::to_vec).unwrap_or_default(),
            start_exclusive: after.is_some(),
            limit,
            ..Default::default()
        };
        let mut stream = self
            .rpc
            .clone()
            .scan(self.request(request))
            .await?
            .into_inner();
        let mut entries = Vec::new();
        while let Some(message) = stream.message().await? {
            entries.extend(message.entries);
        }
        Ok(entries)
    }

    /// Sets many entries at once, atomically.
    pub async fn set_many(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<u64> {
        self.writable()?;
        let request = SetManyRequest {
            map: self.map(),
            entries: entries
                .into_iter()
                .map(|(key, value)| Entry {
                    key,
                    value,
                    version: 0,
                })
                .collect(),
            return_previous: false,
        };
        Ok(self
            .rpc
            .clone()
            .set_many(self.request(request))
            .await?
            .into_inner()
            .count)
    }

    /// Removes many keys at once, atomically; returns how many were present.
    pub async fn delete_many(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        self.writable()?;
        let request = DeleteManyRequest {
            map: self.map(),
            keys,
        };
        Ok(self
            .rpc
            .clone()
            .delete_many(self.request(request))
            .await?
            .into_inner()
            .removed)
    }

    /// Removes every entry; returns how many there were.
    pub async fn clear(&self) -> Result<u64> {
        self.writable()?;
        let request = ClearRequest { map: self.map() };
        Ok(self
            .rpc
            .clone()
            .clear(self.request(request))
            .await?
            .into_inner()
            .removed)
    }
}

/// A persistent, typed map: `K` to `V`, encoded with postcard. Cheap to clone; `Send + Sync`.
pub struct PersistentMap<K, V> {
    raw: RawMap,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for PersistentMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for PersistentMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentMap")
            .field("map", &self.raw.map)
            .finish()
    }
}

/// Encodes `value` for the map.
fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_allocvec(value)
        .map_err(|err| Error::new(ErrorKind::Data, format!("cannot encode the {what}: {err}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], key: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|err| {
        Error::new(
            ErrorKind::Data,
            format!(
                "the {what} of key {} does not decode as {}: {err}",
                hex(key),
                std::any::type_name::<T>()
            ),
        )
    })
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 32 {
        format!("0x{digits}…")
    } else {
        format!("0x{digits}")
    }
}

impl<K, V> PersistentMap<K, V> {
    pub(crate) fn new(raw: RawMap) -> Self {
        Self {
            raw,
            types: PhantomData,
        }
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> PersistentMap<K, V> {
    /// The same map over raw bytes.
    pub fn raw(&self) -> &RawMap {
        &self.raw
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// `DataError` naming the key when the stored value does not decode as `V`.
    pub async fn get(&self, key: &K) -> Result<Option<V>> {
        let key = encode(key, "key")?;
        match self.raw.get(&key).await? {
            Some(entry) => decode(&entry.value, &key, "value").map(Some),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub async fn insert(&self, key: K, value: V) -> Result<Option<V>> {
        let key = encode(&key, "key")?;
        let response = self
            .raw
            .set(&key, &encode(&value, "value")?, Condition::Always)
            .await?;
        match response.previous {
            Some(previous) => decode(&previous.value, &key, "value").map(Some),
            None => Ok(None),
        }
    }

    /// Removes `key`; returns its value.
    pub async fn remove(&self, key: &K) -> Result<Option<V>> {
        let key = encode(key, "key")?;
        match self.raw.delete(&key).await? {
            Some(previous) => decode(&previous.value, &key, "value").map(Some),
            None => Ok(None),
        }
    }

    /// Whether `key` is present.
    pub async fn contains_key(&self, key: &K) -> Result<bool> {
        self.raw.contains(&encode(key, "key")?).await
    }

    /// The number of entries.
    pub async fn len(&self) -> Result<u64> {
        self.raw.len().await
    }

    /// Whether the map has no entries.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.raw.len().await? == 0)
    }

    /// Removes every entry.
    pub async fn clear(&self) -> Result<()> {
        self.raw.clear().await.map(|_| ())
    }

    /// Inserts every entry of `entries`, atomically.
    pub async fn extend(&self, entries: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let entries = entries
            .into_iter()
            .map(|(k, v)| Ok((encode(&k, "key")?, encode(&v, "value")?)))
            .collect::<Result<Vec<_>>>()?;
        self.raw.set_many(entries).await.map(|_| ())
    }

    /// The value of `key`, inserting `make()` first if it is absent (atomically: of several
    /// callers racing, all get the value the first one inserted).
    pub async fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> Result<V> {
        let key = encode(&key, "key")?;
        if let Some(entry) = self.raw.get(&key).await? {
            return decode(&entry.value, &key, "value");
        }
        let value = make();
        let response = self
            .raw
            .set(&key, &encode(&value, "value")?, Condition::IfAbsent)
            .await?;
        match (response.applied, response.previous) {
            (false, Some(current)) => decode(&current.value, &key, "value"),
            _ => Ok(value),
        }
    }

    /// Replaces the value of `key` by `change(current)` with compare-and-set, retrying when
    /// another writer got there first, so concurrent updates never lose one another. `change`
    /// may run more than once. Returns the value stored.
    pub async fn update(&self, key: &K, mut change: impl FnMut(Option<V>) -> V) -> Result<V> {
        let key = encode(key, "key")?;
        let mut current = self.raw.get(&key).await?;
        for _ in 0..MAX_ATTEMPTS {
            let (old, condition) = match &current {
                Some(entry) => (
                    Some(decode(&entry.value, &key, "value")?),
                    Condition::IfVersion(entry.version),
                ),
                None => (None, Condition::IfAbsent),
            };
            let new = change(old);
            let response = self
                .raw
                .set(&key, &encode(&new, "value")?, condition)
                .await?;
            if response.applied {
                return Ok(new);
            }
            current = response.previous;
        }
        Err(Error::new(
            ErrorKind::Operational,
            format!(
                "update of key {} lost {MAX_ATTEMPTS} races in a row; try again",
                hex(&key)
            ),
        ))
    }

    /// Every entry, fetched lazily a page at a time.
    pub fn iter(&self) -> MapIter<K, V> {
        MapIter {
            raw: self.raw.clone(),
            buffered: VecDeque::new(),
            last: None,
            done: false,
            types: PhantomData,
        }
    }
}

/// The entries of a [`PersistentMap`], in encoded-key order, fetched a page at a time.
pub struct MapIter<K, V> {
    raw: RawMap,
    buffered: VecDeque<Entry>,
    last: Option<Vec<u8>>,
    done: bool,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: DeserializeOwned, V: DeserializeOwned> MapIter<K, V> {
    /// The next entry, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<(K, V)>> {
        if self.buffered.is_empty() && !self.done {
            let page = self.raw.page(self.last.as_deref(), PAGE).await?;
            self.done = page.len() < PAGE as usize;
            self.buffered.extend(page);
        }
        let Some(entry) = self.buffered.pop_front() else {
            return Ok(None);
        };
        let key = decode(&entry.key, &entry.key, "key")?;
        let value = decode(&entry.value, &entry.key, "value")?;
        self.last = Some(entry.key);
        Ok(Some((key, value)))
    }

    /// The next key, or `None` after the last.
    pub async fn next_key(&mut self) -> Result<Option<K>> {
        Ok(self.next().await?.map(|(k, _)| k))
    }
}
