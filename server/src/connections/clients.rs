//! Open connections per client, and `--max-connections-per-client`. A client at its cap that
//! opens one more gets it: the client's connection idle the longest (no request in flight) is
//! told to close, gracefully, and stops counting at once. Only when every one of them is busy
//! is the new connection refused. So connections that sit idle, or never finish their
//! handshake, cannot lock the client's address out (on loopback or behind a proxy, that
//! address is everyone's), and no request in flight is cut for a newcomer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::activity::Activity;

/// Who a connection is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Ip(IpAddr),
    Uid(u32),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Uid(uid) => write!(f, "uid {uid}"),
        }
    }
}

/// The open connections of each client on one port.
#[derive(Debug)]
pub struct Clients {
    /// 0: no limit (and nothing is counted).
    per_client: usize,
    /// A std mutex: held for a few comparisons at each accept and close, never across an
    /// await.
    open: Mutex<HashMap<Peer, Vec<Arc<Activity>>>>,
}

/// A connection admitted for its client; dropping it (the connection closed) frees its place.
pub struct Admitted {
    pub activity: Arc<Activity>,
    counted: Option<(Peer, Arc<Clients>)>,
}

impl Clients {
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            open: Mutex::default(),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<Peer, Vec<Arc<Activity>>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection of `peer` (unknown: not counted), evicting the client's
    /// connection idle the longest if it is at its cap; `None` when all of them are busy.
    pub fn admit(self: &Arc<Self>, peer: Option<Peer>) -> Option<Admitted> {
        let activity = Arc::new(Activity::new());
        let Some(peer) = peer.filter(|_| self.per_client > 0) else {
            return Some(Admitted {
                activity,
                counted: None,
            });
        };
        let mut open = self.open();
        let connections = open.entry(peer).or_default();
        if connections.len() >= self.per_client {
            let idlest = connections
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.idle_since().map(|since| (since, i)))
                .min();
            let Some((_, i)) = idlest else {
                tracing::warn!(client = %peer, limit = self.per_client,
                    "connection refused: the client has --max-connections-per-client open, \
                     each with a request in flight");
                return None;
            };
            let evicted = connections.swap_remove(i);
            evicted.evict();
            tracing::info!(client = %peer, limit = self.per_client,
                "closing the client's connection idle the longest to make room for a new one \
                 (--max-connections-per-client)");
        }
        connections.push(Arc::clone(&activity));
        Some(Admitted {
            activity,
            counted: Some((peer, Arc::clone(self))),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some((peer, clients)) = self.counted.take() else {
            return;
        };
        let mut open = clients.open();
        if let Some(connections) = open.get_mut(&peer) {
            // An evicted connection was taken out already.
            connections.retain(|c| !Arc::ptr_eq(c, &self.activity));
            if connections.is_empty() {
                open.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const PEER: Peer = Peer::Uid(1000);

    #[test]
    fn idle_connections_make_room_busy_ones_do_not() {
        let clients = Clients::new(2);
        let first = clients.admit(Some(PEER)).unwrap();
        let second = clients.admit(Some(PEER)).unwrap();
        // Both idle: the one idle the longest (the first) makes room.
        let third = clients.admit(Some(PEER)).unwrap();
        assert!(first.activity.is_evicted());
        assert!(!second.activity.is_evicted());
        // The evicted one no longer counts, and closing it frees nothing twice.
        drop(first);
        assert_eq!(clients.open()[&PEER].len(), 2);
        // Busy connections are never evicted: with both busy, a newcomer is refused.
        let busy = [second.activity.start(), third.activity.start()];
        assert!(clients.admit(Some(PEER)).is_none());
        assert!(!second.activity.is_evicted() && !third.activity.is_evicted());
        drop(busy);
        assert!(clients.admit(Some(PEER)).is_some());
        // Another client is counted apart, and no limit counts nothing.
        assert!(clients.admit(Some(Peer::Uid(1))).is_some());
        let unlimited = Clients::new(0);
        let kept: Vec<_> = (0..5)
            .map(|_| unlimited.admit(Some(PEER)).unwrap())
            .collect();
        assert!(kept.iter().all(|c| !c.activity.is_evicted()));
        assert!(unlimited.open().is_empty());
    }
}
