//! The blocking persistent map: the async [`PersistentMap`](crate::PersistentMap) with each
//! method one `block_on`.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Shared;
use crate::error::Result;

/// A persistent, typed map for threaded programs. `Clone + Send + Sync`; every clone and
/// thread shares the connection.
pub struct PersistentMap<K, V> {
    shared: Arc<Shared>,
    map: crate::PersistentMap<K, V>,
}

impl<K, V> Clone for PersistentMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            map: self.map.clone(),
        }
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> PersistentMap<K, V> {
    pub(super) fn new(shared: Arc<Shared>, map: crate::PersistentMap<K, V>) -> Self {
        Self { shared, map }
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.shared.block_on(self.map.get(key))?
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>> {
        self.shared.block_on(self.map.insert(key, value))?
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &K) -> Result<Option<V>> {
        self.shared.block_on(self.map.remove(key))?
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> Result<bool> {
        self.shared.block_on(self.map.contains_key(key))?
    }

    /// The number of entries.
    pub fn len(&self) -> Result<u64> {
        self.shared.block_on(self.map.len())?
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        self.shared.block_on(self.map.is_empty())?
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<()> {
        self.shared.block_on(self.map.clear())?
    }

    /// Inserts every entry of `entries`, atomically.
    pub fn extend(&self, entries: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        self.shared.block_on(self.map.extend(entries))?
    }

    /// The value of `key`, inserting `make()` first if it is absent.
    pub fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> Result<V> {
        self.shared
            .block_on(self.map.get_or_insert_with(key, make))?
    }

    /// Replaces the value of `key` by `change(current)` with compare-and-set; concurrent
    /// updates never lose one another. Returns the value stored.
    pub fn update(&self, key: &K, change: impl FnMut(Option<V>) -> V) -> Result<V> {
        self.shared.block_on(self.map.update(key, change))?
    }

    /// Every entry, fetched lazily a page at a time.
    pub fn iter(&self) -> Iter<K, V> {
        Iter {
            shared: Arc::clone(&self.shared),
            inner: self.map.iter(),
        }
    }

    /// Every key, fetched lazily a page at a time.
    pub fn keys(&self) -> impl Iterator<Item = Result<K>> {
        self.iter().map(|entry| entry.map(|(k, _)| k))
    }
}

/// The entries of a blocking [`PersistentMap`].
pub struct Iter<K, V> {
    shared: Arc<Shared>,
    inner: crate::map::MapIter<K, V>,
}

impl<K: DeserializeOwned, V: DeserializeOwned> Iterator for Iter<K, V> {
    type Item = Result<(K, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.shared.block_on(self.inner.next()) {
            Ok(result) => result.transpose(),
            Err(err) => Some(Err(err)),
        }
    }
}
