//! Keyspace notifications (`notify-keyspace-events`): after a write command succeeds, the
//! events it caused are published on `__keyspace@<db>__:<key>` (payload: the event) and
//! `__keyevent@<db>__:<event>` (payload: the key), filtered by the configured classes.
//!
//! Each write handler publishes the events of what it did, where it did it
//! (`Ctx::notify`, as Redis's `notifyKeyspaceEvent`), with Redis's event names and order:
//! nothing here matches command names or replies. Commands that remove a collection's last
//! element also emit `del`. Active expiry emits `expired`. `new` (class `n`, Redis 7.0) is
//! emitted for each key of a command that did not exist before it and does after, just
//! before the first event about it (or after the command's events). `keymiss` (class `m`) goes
//! out for each key a command reads that is not there, before anything else it does (see
//! [`key_misses`]). Not emitted: `evicted` (nothing is evicted). A replica publishes the
//! events of the records it applies, as a Redis replica does for the commands its master
//! sends.
//!
//! Events of commands that run inside a transaction or a key batch (EXEC, a pipelined run of
//! writes to one key, a record a replica applies) are held back until its engine batch
//! commits, and dropped if it fails: a subscriber that reads the key when it hears of the
//! event sees the write (other workers run meanwhile, unlike Redis's single thread). The
//! messages of PUBLISH commands in such a batch are held the same way ([`publish_message`]).

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use resp::Frame;

use crate::shared::Shared;

pub const KEYSPACE: u32 = 1;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
];

/// Parses a `notify-keyspace-events` value.
pub fn parse(s: &str) -> Result<u32, String> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            'n' => NEW,
            c => LETTERS
                .iter()
                .find(|(l, _)| *l == c)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?,
        };
    }
    Ok(f)
}

/// The canonical text of a flag set, as Redis prints it (`AKE`, `$hzK`, ...).
pub fn to_string(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (c, v) in LETTERS {
            if f & v != 0 {
                s.push(*c);
            }
        }
    }
    for (c, v) in [
        ('K', KEYSPACE),
        ('E', KEYEVENT),
        ('m', KEY_MISS),
        ('n', NEW),
    ] {
        if f & v != 0 {
            s.push(c);
        }
    }
    s
}

/// Messages held back while a unit (transaction, key batch, a write) is being built: a
/// session's, published only once the unit commits (a subscriber on another worker that
/// reads the key then sees the write), dropped if it does not.
/// (A mutex, never contended: only its session's thread uses it; the session must stay
/// `Sync` to be borrowed across awaits.)
#[derive(Default)]
pub struct Held(Mutex<Option<Vec<crate::pubsub::Prepared>>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<crate::pubsub::Prepared>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts holding; `false` if already holding (the outer hold publishes everything).
    pub fn begin(&self) -> bool {
        let mut h = self.lock();
        if h.is_some() {
            return false;
        }
        *h = Some(Vec::new());
        true
    }

    /// Ends the hold: the messages are published if the unit `committed`, else dropped.
    pub fn release(&self, shared: &Shared, committed: bool) {
        let held = self.lock().take().unwrap_or_default();
        if committed {
            for p in held {
                shared.pubsub.deliver(p);
            }
        }
    }

    /// Delivers a prepared message now, or once the unit being built commits (client-side
    /// caching invalidations of a transaction's writes).
    pub fn deliver_or_hold(&self, shared: &Shared, p: crate::pubsub::Prepared) {
        let mut h = self.lock();
        match h.as_mut() {
            Some(held) => held.push(p),
            None => {
                drop(h);
                shared.pubsub.deliver(p);
            }
        }
    }

    /// Publishes a message now, or once the unit being built commits; returns the number of
    /// receivers (resolved now, as PUBLISH's reply).
    pub fn publish(&self, shared: &Shared, ch: &Bytes, payload: &Bytes, shard: bool) -> i64 {
        let mut h = self.lock();
        let Some(held) = h.as_mut() else {
            drop(h);
            return shared.pubsub.publish(ch, payload, shard);
        };
        let p = shared.pubsub.prepare(ch, payload, shard);
        let n = p.receivers();
        held.push(p);
        n
    }
}

/// Where a command's events go: the server, the view the command wrote through (existence
/// checks, the logical database of a physical one) and the session's hold.
pub struct Emitter<'a> {
    pub shared: &'a Shared,
    pub view: &'a storage::Db<'a>,
    pub held: &'a Held,
}

/// Publishes one event if its class is enabled.
pub fn emit(w: &Emitter<'_>, class: u32, event: &str, db: u32, key: &[u8]) {
    let (shared, view) = (w.shared, w.view);
    let flags = shared.hot.notify_flags.load(Ordering::Relaxed);
    if flags & class == 0 {
        return;
    }
    // Published in the namespace of the keyspace, with the index of the database whose
    // data it holds (SWAPDB).
    let db = view.logical(db);
    let base = crate::namespace::base_of(db);
    let db = db - base;
    if flags & KEYSPACE != 0 {
        let mut ch = BytesMut::from(format!("__keyspace@{db}__:").as_bytes());
        ch.extend_from_slice(key);
        w.held.publish(
            shared,
            &crate::namespace::scope(base, &ch),
            &Bytes::copy_from_slice(event.as_bytes()),
            false,
        );
    }
    if flags & KEYEVENT != 0 {
        let ch = format!("__keyevent@{db}__:{event}");
        w.held.publish(
            shared,
            &crate::namespace::scope(base, ch.as_bytes()),
            &Bytes::copy_from_slice(key),
            false,
        );
    }
}

/// Whether any notification is enabled (the hooks cost nothing otherwise).
pub fn enabled(shared: &Shared) -> bool {
    let f = shared.hot.notify_flags.load(Ordering::Relaxed);
    f & (KEYSPACE | KEYEVENT) != 0 && f & !(KEYSPACE | KEYEVENT) != 0
}

/// With the `n` class: the keys of a write command that do not exist before it runs (those
/// that do after it get a `new` event, see [`crate::commands::Ctx::notify`]).
pub fn absent_keys(
    shared: &Shared,
    view: &storage::Db<'_>,
    db: u32,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) -> Vec<Bytes> {
    let mut absent: Vec<Bytes> = Vec::new();
    if shared.hot.notify_flags.load(Ordering::Relaxed) & NEW == 0 {
        return absent;
    }
    for p in crate::commands::key_positions(spec, args) {
        let k = &args[p];
        if !absent.contains(k) && view.exists(db, std::slice::from_ref(k)).unwrap_or(1) == 0 {
            absent.push(k.clone());
        }
    }
    absent
}

/// After a write command: `new` for each key it created that none of its events named (in
/// the order the command names them).
pub fn flush_new(shared: &Shared, view: &storage::Db<'_>, session: &mut crate::commands::Session) {
    let db = session.db;
    let w = Emitter {
        shared,
        view,
        held: &session.held,
    };
    for k in std::mem::take(&mut session.new_keys) {
        if view.exists(db, std::slice::from_ref(&k)).unwrap_or(0) > 0 {
            emit(&w, NEW, "new", db, &k);
        }
    }
}

/// With the `m` class: the keys `args` reads that do not exist, in argument order (a key
/// named twice, twice): each gets `keymiss` before the command's first event, or after it
/// unless it stopped at its arguments (`Ctx::notify`, `commands::call_in`), as Redis's read
/// lookups send it. Which keys a command
/// reads is data: every key of a read-only command (not OBJECT's or MEMORY's, which look
/// without notifying); of a write command the keys its key specs mark read-only (the sources
/// of a *STORE, COPY, SORT, BITOP), and all keys of GETDEL, GETEX, GETSET, SET ... GET and
/// PFMERGE, which read their keys first. XREAD looks each stream up twice (once to check it, once to
/// read), and so sends two, as Redis 7.0 does.
pub fn key_misses(
    shared: &Shared,
    view: &storage::Db<'_>,
    db: u32,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) -> Vec<Bytes> {
    if !key_misses_on(shared) || matches!(spec.name, "object" | "memory") {
        return Vec::new();
    }
    let all = spec.flags & crate::commands::flags::READONLY != 0
        || matches!(
            spec.name,
            "getdel" | "getex" | "getset" | "pfmerge" | "xack" | "xclaim" | "xautoclaim"
        )
        || (spec.name == "set" && args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")));
    let mut read: Vec<usize> = match crate::commands::keys_and_flags(spec, args) {
        Ok(keys) => keys
            .iter()
            .filter(|(_, f)| all || f.iter().any(|x| x == "RO"))
            .map(|(p, _)| *p)
            .collect(),
        // Key specs that cannot place the keys of this request (PFMERGE of a destination
        // alone): the table's positions.
        Err(_) if all => crate::commands::key_positions(spec, args),
        Err(_) => return Vec::new(),
    };
    if spec.name == "xread" {
        read.extend_from_slice(&read.clone());
    }
    read.into_iter()
        .filter_map(|p| args.get(p))
        .filter(|k| view.exists(db, std::slice::from_ref(*k)).unwrap_or(1) == 0)
        .cloned()
        .collect()
}

/// Whether a command's error reply means it stopped at its arguments, before reading any
/// key (then it sends no `keymiss`, as Redis parses before it looks up). Errors of a lookup
/// (WRONGTYPE, NOGROUP, "no such key") come after the keys were read.
/// The GEO searches read their key before their options (Redis's `georadiusGeneric`).
pub fn stopped_at_arguments(spec: &crate::commands::CommandSpec, reply: &Frame) -> bool {
    match reply {
        Frame::Error(e) => {
            e.starts_with("ERR ")
                && !e.starts_with("ERR no such key")
                && !(spec.name.starts_with("georadius") || spec.name.starts_with("geosearch"))
        }
        _ => false,
    }
}

/// Whether `keymiss` events are wanted (class `m`, and a channel kind).
pub fn key_misses_on(shared: &Shared) -> bool {
    let flags = shared.hot.notify_flags.load(Ordering::Relaxed);
    flags & KEY_MISS != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

/// One `keymiss` (a read that found no `key`), for a path that reads without a command
/// handler (the pipelined GET batch).
pub fn key_miss(shared: &Shared, view: &storage::Db<'_>, held: &Held, db: u32, key: &[u8]) {
    emit(
        &Emitter { shared, view, held },
        KEY_MISS,
        "keymiss",
        db,
        key,
    );
}
