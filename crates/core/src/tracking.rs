//! Client-side caching (CLIENT TRACKING), as Redis 7.0 does it.
//!
//! Default mode: the keys a tracking client reads (read-only commands, or only after
//! `CLIENT CACHING yes` with OPTIN, or unless `CLIENT CACHING no` with OPTOUT) are remembered
//! in a table key → client ids; the next write to such a key sends those clients one
//! invalidation and forgets the key. BCAST mode: nothing is remembered; every write to a key
//! under one of the client's prefixes (all keys without PREFIX) is sent. Invalidations go to
//! the client itself as a RESP3 `invalidate` push, or to its REDIRECT client subscribed to
//! `__redis__:invalidate` (a message whose payload is the array of keys); a RESP2 client
//! without redirection gets nothing, as in Redis. A flush sends a null (every key).
//!
//! Keys are tracked by name across databases, as in Redis, scoped by namespace (a client sees
//! invalidations of its own namespace's keys only). Invalidations are queued in the same
//! per-client mailboxes as Pub/Sub messages (same output-buffer limits); those of an EXEC or a
//! key batch once its engine batch commits (none if it fails), like keyspace events.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::notify::Held;
use crate::pubsub::Mailbox;
use crate::shared::Shared;

/// A client's CLIENT TRACKING settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// Client id invalidations are redirected to (0: none).
    pub redirect: u64,
    /// BCAST prefixes (scoped by namespace); empty means every key.
    pub prefixes: Vec<Bytes>,
}

struct Tracked {
    settings: Settings,
    /// The client's own mailbox (RESP3 without redirection), if it has one.
    own: Option<Arc<Mailbox>>,
    /// The namespace scope of its keys (see `namespace::scope`).
    scope: Bytes,
}

#[derive(Default)]
struct Inner {
    /// Scoped key → ids of the clients that read it (default mode).
    keys: HashMap<Bytes, HashSet<u64>>,
    clients: HashMap<u64, Tracked>,
}

#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    count: AtomicUsize,
}

impl Tracking {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tracking clients (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Keys remembered in the table (INFO `tracking_total_keys`).
    pub fn keys(&self) -> usize {
        self.lock().keys.len()
    }

    /// BCAST prefixes registered (INFO `tracking_total_prefixes`).
    pub fn prefixes(&self) -> usize {
        self.lock()
            .clients
            .values()
            .filter(|t| t.settings.bcast)
            .map(|t| t.settings.prefixes.len().max(1))
            .sum()
    }

    pub fn enable(&self, id: u64, settings: Settings, own: Option<Arc<Mailbox>>, scope: Bytes) {
        let mut g = self.lock();
        if g.clients
            .insert(
                id,
                Tracked {
                    settings,
                    own,
                    scope,
                },
            )
            .is_none()
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// CLIENT TRACKING OFF, RESET, disconnection. Its entries in the key table are dropped
    /// lazily (skipped when met).
    pub fn disable(&self, id: u64) {
        if self.lock().clients.remove(&id).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn settings(&self, id: u64) -> Option<Settings> {
        self.lock().clients.get(&id).map(|t| t.settings.clone())
    }

    /// Remembers that client `id` read these (scoped) keys, unless its mode says not to: BCAST
    /// remembers nothing, OPTIN only after `CLIENT CACHING yes`, OPTOUT unless after
    /// `CLIENT CACHING no` (`caching`: given for this command).
    pub fn remember(&self, id: u64, caching: bool, keys: impl IntoIterator<Item = Bytes>) {
        let mut g = self.lock();
        let Some(t) = g.clients.get(&id).map(|t| &t.settings) else {
            return;
        };
        if t.bcast || (t.optin && !caching) || (t.optout && caching) {
            return;
        }
        for k in keys {
            g.keys.entry(k).or_default().insert(id);
        }
    }

    /// A write by client `writer` (0: the server itself) changed these scoped keys: every
    /// client tracking one of them is sent its invalidation.
    /// Messages go out through `held` (after the commit of the unit being built, if any).
    pub fn invalidate(&self, shared: &Shared, held: &Held, writer: u64, keys: &[Bytes]) {
        if self.clients() == 0 || keys.is_empty() {
            return;
        }
        // (client id, keys to send (unscoped) in the order met, BCAST).
        let mut out: Vec<(u64, Vec<Bytes>, bool)> = Vec::new();
        let mut push = |id: u64, key: &Bytes, bcast: bool| {
            let k = crate::namespace::unscope(key);
            match out.iter_mut().find(|(c, _, b)| *c == id && *b == bcast) {
                Some((_, v, _)) => v.push(k),
                None => out.push((id, vec![k], bcast)),
            }
        };
        {
            let mut g = self.lock();
            for key in keys {
                if let Some(ids) = g.keys.remove(key) {
                    for id in ids {
                        let skip = g.clients.get(&id).is_none_or(|t| {
                            t.settings.bcast || (t.settings.noloop && id == writer)
                        });
                        if !skip {
                            push(id, key, false);
                        }
                    }
                }
                for (id, t) in &g.clients {
                    if !t.settings.bcast || (t.settings.noloop && *id == writer) {
                        continue;
                    }
                    if crate::namespace::scope_of(key) != &t.scope[..] {
                        continue;
                    }
                    let matches = t.settings.prefixes.is_empty()
                        || t.settings.prefixes.iter().any(|p| key.starts_with(p));
                    if matches {
                        push(*id, key, true);
                    }
                }
            }
        }
        for (id, keys, bcast) in out {
            if bcast {
                // BCAST: the keys of one write in one message.
                self.send(shared, held, id, Some(keys));
            } else {
                // Default mode: one message per key, as Redis signals each key.
                for k in keys {
                    self.send(shared, held, id, Some(vec![k]));
                }
            }
        }
    }

    /// A flush: every tracking client of that namespace scope is told all its keys are gone
    /// (a null invalidation), and the key table of the scope is cleared.
    pub fn invalidate_all(&self, shared: &Shared, held: &Held, scope: &[u8]) {
        if self.clients() == 0 {
            return;
        }
        let ids: Vec<u64> = {
            let mut g = self.lock();
            g.keys.retain(|k, _| crate::namespace::scope_of(k) != scope);
            g.clients
                .iter()
                .filter(|(_, t)| &t.scope[..] == scope)
                .map(|(id, _)| *id)
                .collect()
        };
        for id in ids {
            self.send(shared, held, id, None);
        }
    }

    fn send(&self, shared: &Shared, held: &Held, id: u64, keys: Option<Vec<Bytes>>) {
        let (redirect, own, scope) = {
            let g = self.lock();
            let Some(t) = g.clients.get(&id) else {
                return;
            };
            (t.settings.redirect, t.own.clone(), t.scope.clone())
        };
        let target = if redirect != 0 {
            // The redirect client receives it if it listens on `__redis__:invalidate`.
            let mut ch = scope.to_vec();
            ch.extend_from_slice(b"__redis__:invalidate");
            shared.pubsub.subscriber_of(&ch, redirect)
        } else {
            own
        };
        if let Some(mb) = target {
            // Inside a transaction or key batch: sent once its engine batch commits.
            held.deliver_or_hold(shared, crate::pubsub::Prepared::invalidation(mb, keys));
        }
    }
}
