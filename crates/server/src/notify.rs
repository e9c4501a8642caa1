//! Keyspace notifications (`notify-keyspace-events`): after a write command succeeds, the
//! events it caused are published on `__keyspace@<db>__:<key>` (payload: the event) and
//! `__keyevent@<db>__:<event>` (payload: the key), filtered by the configured classes.
//!
//! Events are derived from each command and its reply, with Redis's event names. Commands
//! that remove a collection's last element also emit `del`. Active expiry emits `expired`.
//! `new` (class `n`, Redis 7.0) is emitted before a command's own events for each of its keys
//! that did not exist before it and does after. Not emitted: `evicted` (nothing is evicted),
//! `keymiss`.
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

/// State taken before a command runs, for events that depend on it.
#[derive(Default)]
pub struct Before {
    /// DEL/UNLINK: the keys that existed; *STORE, SORT STORE: the destination, if it existed.
    existing: Vec<Bytes>,
    /// With `n`: the command's keys that did not exist (a `new` event if they do after).
    absent: Vec<Bytes>,
    /// XADD with a trimming option: the stream's length before (it trimmed if the length
    /// after is not one more).
    len: Option<u64>,
    /// XGROUP DELCONSUMER: whether the consumer existed (the event is only for a deletion).
    existed: bool,
}

pub fn before(
    shared: &Shared,
    view: &storage::Db<'_>,
    db: u32,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) -> Option<Before> {
    let mut b = before_command(view, db, spec.name, args);
    if shared.hot.notify_flags.load(Ordering::Relaxed) & NEW != 0 {
        let mut absent: Vec<Bytes> = Vec::new();
        for p in crate::commands::key_positions(spec, args) {
            let k = &args[p];
            if !absent.contains(k) && view.exists(db, std::slice::from_ref(k)).unwrap_or(1) == 0 {
                absent.push(k.clone());
            }
        }
        b.get_or_insert_with(Before::default).absent = absent;
    }
    b
}

fn before_command(view: &storage::Db<'_>, db: u32, name: &str, args: &[Bytes]) -> Option<Before> {
    match name {
        "del" | "unlink" => {
            let mut existing = Vec::new();
            for k in &args[1..] {
                if !existing.contains(k)
                    && view.exists(db, std::slice::from_ref(k)).unwrap_or(0) > 0
                {
                    existing.push(k.clone());
                }
            }
            Some(Before {
                existing,
                ..Default::default()
            })
        }
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zrangestore" | "bitop" | "sort" => {
            let dst = match name {
                "bitop" => &args[2],
                "sort" => {
                    let i = args.iter().position(|a| a.eq_ignore_ascii_case(b"store"))?;
                    args.get(i + 1)?
                }
                _ => &args[1],
            };
            let existed = view.exists(db, std::slice::from_ref(dst)).unwrap_or(0) > 0;
            Some(Before {
                existing: if existed {
                    vec![dst.clone()]
                } else {
                    Vec::new()
                },
                ..Default::default()
            })
        }
        "xgroup" if args.len() == 5 && args[1].eq_ignore_ascii_case(b"delconsumer") => {
            Some(Before {
                existed: view
                    .xconsumer_exists(db, &args[2], &args[3], &args[4])
                    .unwrap_or(false),
                ..Default::default()
            })
        }
        "xadd" if crate::commands::streams::add_trims(args) => Some(Before {
            len: view.xlen(db, &args[1]).ok(),
            ..Default::default()
        }),
        "georadius" | "georadiusbymember" | "geosearchstore" => {
            let dst = crate::commands::geo::store_key(args)?;
            let existed = view.exists(db, std::slice::from_ref(dst)).unwrap_or(0) > 0;
            Some(Before {
                existing: if existed {
                    vec![dst.clone()]
                } else {
                    Vec::new()
                },
                ..Default::default()
            })
        }
        _ => None,
    }
}

fn positive(reply: &Frame) -> bool {
    match reply {
        Frame::Integer(n) => *n > 0,
        Frame::Null | Frame::NullArray | Frame::Error(_) => false,
        Frame::Array(v) => !v.is_empty(),
        _ => true,
    }
}

/// Emits `del` if a command emptied (and so removed) `key`.
fn del_if_gone(w: &Emitter<'_>, db: u32, key: &Bytes) {
    if w.view.exists(db, std::slice::from_ref(key)).unwrap_or(1) == 0 {
        emit(w, GENERIC, "del", db, key);
    }
}

fn has_flag(args: &[Bytes], from: usize, flag: &str) -> bool {
    args.iter()
        .skip(from)
        .any(|a| a.eq_ignore_ascii_case(flag.as_bytes()))
}

/// Emits the events of a write command that succeeded.
pub fn after(
    w: &Emitter<'_>,
    db: u32,
    name: &str,
    args: &[Bytes],
    reply: &Frame,
    before: Option<Before>,
) {
    let view = w.view;
    // `new` for the keys the command created, each just before the first event about it (as
    // Redis emits it when the key is added); the rest after the command's events.
    let created: Vec<Bytes> = before
        .as_ref()
        .map(|b| {
            b.absent
                .iter()
                .filter(|k| view.exists(db, std::slice::from_ref(*k)).unwrap_or(0) > 0)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let pending = std::cell::RefCell::new(created);
    let ev = |class: u32, event: &str, k: &Bytes| {
        let first = {
            let mut p = pending.borrow_mut();
            p.iter().position(|x| x == k).map(|i| p.remove(i))
        };
        if let Some(k) = first {
            emit(w, NEW, "new", db, &k);
        }
        emit(w, class, event, db, k)
    };
    let flush_new = || {
        for k in pending.take() {
            emit(w, NEW, "new", db, &k);
        }
    };
    if matches!(name, "rename" | "renamenx") {
        // The destination is added before the source goes: its `new` comes first.
        flush_new();
    }
    events_of(w, db, name, args, reply, before, &ev);
    flush_new();
}

/// The events of one command (see [`after`]), sent through `ev`.
fn events_of(
    w: &Emitter<'_>,
    db: u32,
    name: &str,
    args: &[Bytes],
    reply: &Frame,
    before: Option<Before>,
    ev: &dyn Fn(u32, &str, &Bytes),
) {
    let view = w.view;
    let key = || args.get(1).cloned().unwrap_or_default();
    let ok = positive(reply);
    match name {
        "set" => {
            // With NX/XX the reply tells whether it set: OK/nil, or with GET the old value
            // (NX sets only when there was none, XX only when there was one).
            let get = has_flag(args, 3, "get");
            let set = if has_flag(args, 3, "nx") {
                if get {
                    matches!(reply, Frame::Null)
                } else {
                    ok
                }
            } else if has_flag(args, 3, "xx") {
                ok
            } else {
                true
            };
            if set {
                ev(STRING, "set", &key());
                if ["ex", "px", "exat", "pxat"]
                    .iter()
                    .any(|f| has_flag(args, 3, f))
                {
                    ev(GENERIC, "expire", &key());
                }
            }
        }
        "setnx" if ok => ev(STRING, "set", &key()),
        "setex" | "psetex" => {
            ev(STRING, "set", &key());
            ev(GENERIC, "expire", &key());
        }
        "getset" => ev(STRING, "set", &key()),
        "mset" => args[1..]
            .iter()
            .step_by(2)
            .for_each(|k| ev(STRING, "set", k)),
        "msetnx" if ok => args[1..]
            .iter()
            .step_by(2)
            .for_each(|k| ev(STRING, "set", k)),
        "append" => ev(STRING, "append", &key()),
        "setrange" => ev(STRING, "setrange", &key()),
        "incr" | "decr" | "incrby" | "decrby" => ev(STRING, "incrby", &key()),
        "incrbyfloat" => ev(STRING, "incrbyfloat", &key()),
        "getdel" if ok => ev(GENERIC, "del", &key()),
        "getex" if ok => {
            if has_flag(args, 2, "persist") {
                ev(GENERIC, "persist", &key());
            } else if args.len() > 2 {
                ev(GENERIC, "expire", &key());
            }
        }
        "del" | "unlink" => {
            for k in before.map(|b| b.existing).unwrap_or_default() {
                ev(GENERIC, "del", &k);
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" if ok => {
            if view.exists(db, &[key()]).unwrap_or(1) == 0 {
                ev(GENERIC, "del", &key());
            } else {
                ev(GENERIC, "expire", &key());
            }
        }
        "persist" if ok => ev(GENERIC, "persist", &key()),
        "rename" | "renamenx" if ok => {
            ev(GENERIC, "rename_from", &key());
            ev(GENERIC, "rename_to", &args[2]);
        }
        "copy" if ok => ev(GENERIC, "copy_to", &args[2]),
        "restore" | "restore-asking" if ok && view.exists(db, &[key()]).unwrap_or(0) == 1 => {
            ev(GENERIC, "restore", &key())
        }
        "move" if ok => {
            ev(GENERIC, "move_from", &key());
            if let Some(to) = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            {
                // Database indexes are relative to the client's namespace; `emit` takes
                // where the data is.
                let to = view.physical(crate::namespace::base_of(db) + to);
                emit(w, GENERIC, "move_to", to, &key());
            }
        }
        "lpush" | "lpushx" if ok => ev(LIST, "lpush", &key()),
        "rpush" | "rpushx" if ok => ev(LIST, "rpush", &key()),
        "lpop" | "rpop" if ok => {
            ev(LIST, name, &key());
            del_if_gone(w, db, &key());
        }
        "linsert" if ok => ev(LIST, "linsert", &key()),
        "lset" => ev(LIST, "lset", &key()),
        "lrem" if ok => {
            ev(LIST, "lrem", &key());
            del_if_gone(w, db, &key());
        }
        "ltrim" => {
            ev(LIST, "ltrim", &key());
            del_if_gone(w, db, &key());
        }
        "lmove" | "rpoplpush" if ok => {
            let from_left = name == "lmove" && args[3].eq_ignore_ascii_case(b"left");
            let to_left = name == "rpoplpush" || args[4].eq_ignore_ascii_case(b"left");
            // Redis notifies the push before the pop.
            ev(LIST, if to_left { "lpush" } else { "rpush" }, &args[2]);
            ev(LIST, if from_left { "lpop" } else { "rpop" }, &key());
            del_if_gone(w, db, &key());
        }
        "lmpop" | "zmpop" if ok => {
            if let Frame::Array(v) = reply {
                if let Some(Frame::Bulk(k)) = v.first() {
                    let event = match (
                        name,
                        args.iter().rev().any(|a| {
                            a.eq_ignore_ascii_case(b"left") || a.eq_ignore_ascii_case(b"min")
                        }),
                    ) {
                        ("lmpop", true) => "lpop",
                        ("lmpop", false) => "rpop",
                        (_, true) => "zpopmin",
                        _ => "zpopmax",
                    };
                    ev(if name == "lmpop" { LIST } else { ZSET }, event, k);
                    del_if_gone(w, db, k);
                }
            }
        }
        "sadd" if ok => ev(SET, "sadd", &key()),
        "srem" if ok => {
            ev(SET, "srem", &key());
            del_if_gone(w, db, &key());
        }
        "spop" if ok => {
            ev(SET, "spop", &key());
            del_if_gone(w, db, &key());
        }
        "smove" if ok => {
            ev(SET, "srem", &key());
            ev(SET, "sadd", &args[2]);
            del_if_gone(w, db, &key());
        }
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zrangestore" => {
            let class = if name.starts_with('s') { SET } else { ZSET };
            if ok {
                ev(class, name, &key());
            } else if before.is_some_and(|b| !b.existing.is_empty()) {
                ev(GENERIC, "del", &key());
            }
        }
        "hset" | "hmset" => ev(HASH, "hset", &key()),
        "hsetnx" if ok => ev(HASH, "hset", &key()),
        "hdel" if ok => {
            ev(HASH, "hdel", &key());
            del_if_gone(w, db, &key());
        }
        "hincrby" => ev(HASH, "hincrby", &key()),
        "hincrbyfloat" => ev(HASH, "hincrbyfloat", &key()),
        "zadd" => {
            let incr = has_flag(args, 2, "incr");
            if !matches!(reply, Frame::Null) {
                ev(ZSET, if incr { "zincr" } else { "zadd" }, &key());
            }
        }
        "zincrby" => ev(ZSET, "zincr", &key()),
        "geoadd" => ev(ZSET, "zadd", &key()),
        "xadd" if matches!(reply, Frame::Bulk(_)) => {
            ev(STREAM, "xadd", &key());
            let before = before.and_then(|b| b.len);
            if let Some(len) = before {
                if view.xlen(db, &key()).unwrap_or(len + 1) < len + 1 {
                    ev(STREAM, "xtrim", &key());
                }
            }
        }
        "xtrim" if ok => ev(STREAM, "xtrim", &key()),
        "xdel" if ok => ev(STREAM, "xdel", &key()),
        "xsetid" if !reply.is_error() => ev(STREAM, "xsetid", &key()),
        "xgroup" if args.len() >= 3 => {
            let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
            let stream_key = &args[2];
            match (sub.as_str(), reply) {
                ("create", Frame::Simple(_)) => ev(STREAM, "xgroup-create", stream_key),
                ("setid", Frame::Simple(_)) => ev(STREAM, "xgroup-setid", stream_key),
                ("destroy", Frame::Integer(1)) => ev(STREAM, "xgroup-destroy", stream_key),
                ("createconsumer", Frame::Integer(1)) => {
                    ev(STREAM, "xgroup-createconsumer", stream_key)
                }
                ("delconsumer", Frame::Integer(_))
                    if before.as_ref().is_some_and(|b| b.existed) =>
                {
                    ev(STREAM, "xgroup-delconsumer", stream_key)
                }
                _ => {}
            }
        }
        "georadius" | "georadiusbymember" | "geosearchstore" => {
            if let Some(dst) = crate::commands::geo::store_key(args) {
                let event = if name == "geosearchstore" {
                    "geosearchstore"
                } else {
                    "georadiusstore"
                };
                if ok {
                    ev(ZSET, event, dst);
                } else if before.is_some_and(|b| !b.existing.is_empty()) {
                    ev(GENERIC, "del", dst);
                }
            }
        }
        "zrem" if ok => {
            ev(ZSET, "zrem", &key());
            del_if_gone(w, db, &key());
        }
        "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" if ok => {
            ev(ZSET, name, &key());
            del_if_gone(w, db, &key());
        }
        "zpopmin" | "zpopmax" if ok => {
            ev(ZSET, name, &key());
            del_if_gone(w, db, &key());
        }
        "setbit" => ev(STRING, "setbit", &key()),
        "bitop" => {
            if view.exists(db, &[args[2].clone()]).unwrap_or(1) > 0 {
                ev(STRING, "set", &args[2]);
            } else if before.is_some_and(|b| !b.existing.is_empty()) {
                ev(GENERIC, "del", &args[2]);
            }
        }
        "bitfield" if has_flag(args, 2, "set") || has_flag(args, 2, "incrby") => {
            ev(STRING, "setbit", &key())
        }
        "pfadd" if ok => ev(STRING, "pfadd", &key()),
        "pfmerge" => ev(STRING, "pfadd", &key()),
        "sort" => {
            if let Some(i) = args.iter().position(|a| a.eq_ignore_ascii_case(b"store")) {
                if let Some(dst) = args.get(i + 1) {
                    if ok {
                        ev(LIST, "sortstore", dst);
                    } else if before.is_some_and(|b| !b.existing.is_empty()) {
                        ev(GENERIC, "del", dst);
                    }
                }
            }
        }
        _ => {}
    }
}
