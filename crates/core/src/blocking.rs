//! Blocking pops: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP.
//!
//! Each blocking command is its non-blocking twin (LMPOP, LMOVE, ZMPOP, ...) plus a wait. The
//! twin is tried under the registry lock; if nothing is there the client is registered, in
//! arrival order, under every key it waits for, and its connection awaits a one-shot reply
//! (or its timeout, its disconnection, CLIENT UNBLOCK, shutdown). No polling: a write command
//! that names a key with waiters *serves* them on its own thread right after it ran, in
//! FIFO order per key — it runs each waiter's twin on the waiter's behalf and hands it the
//! reply — before the writer's own reply leaves. An element pushed to a key with waiters
//! thus goes to the client that has waited longest, as in Redis.
//!
//! Lock order: registry, then the storage's key locks. Inside EXEC (which holds the storage
//! gate) a blocking command never takes the registry lock: it runs the twin and answers nil.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use resp::{Frame, Protocol};
use tokio::sync::oneshot;

use crate::clients::ClientEntry;
use crate::commands::{self, parse_int, Ctx, Session, TABLE};
use crate::shared::Shared;

/// How the twin's reply becomes the blocking command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// LMPOP `[key, [value]]` → BLPOP `[key, value]`.
    KeyValue,
    /// ZMPOP `[key, [[member, score]]]` → BZPOPMIN `[key, member, score]`.
    KeyMemberScore,
    /// The twin's reply as it is; nothing there is a null array (BLMPOP, BZMPOP).
    Array,
    /// The twin's reply as it is; nothing there is a null bulk (BLMOVE, BRPOPLPUSH).
    Bulk,
    /// XREADGROUP: as `Array`, and a waiter whose stream or group goes is woken with
    /// Redis's error.
    StreamGroup,
}

impl Shape {
    /// What a timed-out client gets: a null array for every blocking command (Redis 7.0).
    pub fn timeout_reply(self) -> Frame {
        Frame::NullArray
    }

    /// What the command answers inside EXEC when nothing is there (its twin's empty reply).
    fn empty_reply(self) -> Frame {
        match self {
            Shape::Bulk => Frame::Null,
            _ => Frame::NullArray,
        }
    }
}

/// A parsed blocking command.
#[derive(Clone, Debug)]
pub struct Request {
    /// `None`: wait forever.
    pub timeout: Option<Duration>,
    /// The non-blocking twin, ready to run.
    pub twin: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub shape: Shape,
    /// What runs the twin (default: the twin command's handler).
    pub serve: Option<commands::Handler>,
}

/// What a connection awaits while blocked.
pub struct Wait {
    pub id: u64,
    pub rx: oneshot::Receiver<Served>,
    pub timeout: Option<Duration>,
    pub shape: Shape,
}

/// A reply handed to a blocked client, with the write sequence it must wait for (its pop
/// was committed by another thread).
pub struct Served {
    pub reply: Frame,
    pub wal_seq: u64,
}

struct Waiter {
    client: Arc<ClientEntry>,
    /// The database waited on (logical: SWAPDB may move its data meanwhile).
    db: u32,
    proto: Protocol,
    req: Request,
    tx: oneshot::Sender<Served>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    waiters: HashMap<u64, Waiter>,
    /// (logical db, key) → waiter ids in arrival order.
    by_key: HashMap<(u32, Bytes), VecDeque<u64>>,
}

impl Registry {
    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.req.keys {
            let slot = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(w)
    }
}

/// Every blocked client of the server.
#[derive(Default)]
pub struct Blocked {
    reg: Mutex<Registry>,
    count: AtomicUsize,
}

impl Blocked {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops waiting (timeout, disconnection): the waiter is gone from every key.
    pub fn cancel(&self, id: u64) {
        let mut reg = self.lock();
        if reg.remove(id).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// CLIENT UNBLOCK: answers a blocked client now, with `error` or as if it timed out.
    /// False if it is not blocked.
    pub fn unblock(&self, client_id: u64, error: Option<Frame>) -> bool {
        let mut reg = self.lock();
        let Some(id) = reg
            .waiters
            .iter()
            .find(|(_, w)| w.client.id == client_id)
            .map(|(&id, _)| id)
        else {
            return false;
        };
        if let Some(w) = reg.remove(id) {
            self.count.fetch_sub(1, Ordering::Relaxed);
            let reply = error.unwrap_or_else(|| w.req.shape.timeout_reply());
            let _ = w.tx.send(Served { reply, wal_seq: 0 });
        }
        true
    }
}

/// A timeout in seconds (decimals allowed), as Redis reads it: converted to whole
/// milliseconds, so anything under 1 ms means "forever"; values whose milliseconds do not fit
/// a signed 64-bit integer (including `inf`) are "negative", as the C conversion makes them.
fn parse_timeout(b: &[u8]) -> Result<Option<Duration>, Frame> {
    let secs: f64 = std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.is_empty() && !s.starts_with(char::is_whitespace))
        .and_then(|s| s.parse().ok())
        .filter(|v: &f64| !v.is_nan())
        .ok_or_else(|| Frame::error("ERR timeout is not a float or out of range"))?;
    let ms = secs * 1000.0;
    if !(ms > -9.2e18 && ms < 9.2e18) || ms <= -1.0 {
        return Err(Frame::error("ERR timeout is negative"));
    }
    let ms = ms as i64;
    if ms > i64::MAX - storage::now_ms() as i64 {
        return Err(Frame::error("ERR timeout is out of range"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// Parses a blocking command (arity was checked centrally).
pub fn parse(args: &[Bytes]) -> Result<Request, Frame> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let last = args.len() - 1;
    Ok(match name.as_str() {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let timeout = parse_timeout(&args[last])?;
            let keys = args[1..last].to_vec();
            let (twin_name, end, shape) = match name.as_str() {
                "blpop" => ("lmpop", "left", Shape::KeyValue),
                "brpop" => ("lmpop", "right", Shape::KeyValue),
                "bzpopmin" => ("zmpop", "min", Shape::KeyMemberScore),
                _ => ("zmpop", "max", Shape::KeyMemberScore),
            };
            let mut twin = vec![b(twin_name), b(&keys.len().to_string())];
            twin.extend(keys.iter().cloned());
            twin.push(b(end));
            Request {
                timeout,
                twin,
                keys,
                shape,
                serve: None,
            }
        }
        "blmove" | "brpoplpush" => {
            let timeout = parse_timeout(&args[last])?;
            let twin = if name == "blmove" {
                vec![
                    b("lmove"),
                    args[1].clone(),
                    args[2].clone(),
                    args[3].clone(),
                    args[4].clone(),
                ]
            } else {
                vec![b("rpoplpush"), args[1].clone(), args[2].clone()]
            };
            Request {
                timeout,
                twin,
                keys: vec![args[1].clone()],
                shape: Shape::Bulk,
                serve: None,
            }
        }
        _ => {
            // BLMPOP / BZMPOP timeout numkeys key [key ...] LEFT|RIGHT|MIN|MAX [COUNT n]
            let timeout = parse_timeout(&args[1])?;
            let numkeys = match parse_int(&args[2]) {
                Ok(n) if n > 0 => n as usize,
                _ => return Err(Frame::error("ERR numkeys should be greater than 0")),
            };
            if args.len() < 3 + numkeys + 1 {
                return Err(commands::syntax_error());
            }
            let mut twin = vec![b(if name == "blmpop" { "lmpop" } else { "zmpop" })];
            twin.extend(args[2..].iter().cloned());
            Request {
                timeout,
                twin,
                keys: args[3..3 + numkeys].to_vec(),
                shape: Shape::Array,
                serve: None,
            }
        }
    })
}

/// Runs the twin: `Ok(Some(reply))` served, `Ok(None)` nothing there yet, `Err` an error
/// reply (wrong type, syntax).
/// `db`: the view the blocking command runs through (its EXEC's unit, or a context of its own).
fn attempt(
    shared: &Shared,
    session: &mut Session,
    db: storage::Db<'_>,
    req: &Request,
) -> Result<Option<Frame>, Frame> {
    let Some(idx) = commands::lookup(&req.twin[0]) else {
        return Err(Frame::error("ERR internal: no twin command"));
    };
    // The twin's handler publishes its events (`Ctx::notify`); `new` as for any write.
    let notifying = crate::notify::enabled(shared);
    if notifying {
        session.resolve_db(&db);
        session.new_keys =
            crate::notify::absent_keys(shared, &db, session.db, &TABLE[idx], &req.twin);
    }
    let reply = crate::commitlog::run_write(shared, session, db, idx, &req.twin, |session, db| {
        let mut ctx = Ctx {
            shared,
            session,
            db,
        };
        (req.serve.unwrap_or(TABLE[idx].handler))(&mut ctx, &req.twin)
    });
    if notifying {
        if !reply.is_error() {
            crate::notify::flush_new(shared, &db, session);
        }
        session.new_keys.clear();
    }
    match reply {
        Frame::Null | Frame::NullArray => Ok(None),
        Frame::Error(_) => Err(reply),
        other => Ok(Some(reshape(req.shape, other))),
    }
}

/// SWAPDB of logical databases `dbs`: every key a client waits for in them, to serve those
/// the swapped-in data makes ready (as Redis does after a swap).
fn keys_in(shared: &Shared, dbs: &[u32]) -> Vec<(u32, Bytes)> {
    if shared.blocked.count() == 0 {
        return Vec::new();
    }
    let reg = shared.blocked.lock();
    reg.by_key
        .keys()
        .filter(|(db, _)| dbs.contains(db))
        .cloned()
        .collect()
}

fn reshape(shape: Shape, reply: Frame) -> Frame {
    let Frame::Array(mut outer) = reply else {
        return reply;
    };
    match shape {
        Shape::KeyValue | Shape::KeyMemberScore if outer.len() == 2 => {
            let inner = outer.pop();
            let key = outer.pop().unwrap_or(Frame::Null);
            let mut out = vec![key];
            if let Some(Frame::Array(mut items)) = inner {
                match (shape, items.pop()) {
                    (Shape::KeyValue, Some(v)) => out.push(v),
                    (_, Some(Frame::Array(pair))) => out.extend(pair),
                    _ => {}
                }
            }
            Frame::Array(out)
        }
        _ => Frame::Array(outer),
    }
}

/// The handler of every blocking command: serve now, or register and let the connection wait.
pub fn handler(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let req = match parse(args) {
        Ok(r) => r,
        Err(f) => return f,
    };
    block_on(ctx, req)
}

/// Runs `req`'s twin once, without waiting: its reply, or its empty reply.
pub fn run_now(ctx: &mut Ctx<'_>, req: &Request) -> Frame {
    match attempt(ctx.shared, ctx.session, ctx.db, req) {
        Ok(Some(f)) | Err(f) => f,
        Ok(None) => req.shape.empty_reply(),
    }
}

/// Serves `req` now (its twin finds something), or registers the client under its keys and
/// lets the connection wait. The twin is tried again under the registry lock, so a write
/// between an earlier try and the registration cannot be missed.
pub fn block_on(ctx: &mut Ctx<'_>, req: Request) -> Frame {
    if ctx.session.in_exec {
        // Inside a transaction nothing can arrive meanwhile: answer now, like Redis.
        return match attempt(ctx.shared, ctx.session, ctx.db, &req) {
            Ok(Some(f)) | Err(f) => f,
            Ok(None) => req.shape.empty_reply(),
        };
    }
    let shared = ctx.shared;
    let mut reg = shared.blocked.lock();
    match attempt(shared, ctx.session, ctx.db, &req) {
        Ok(Some(f)) | Err(f) => return f,
        Ok(None) => {}
    }
    let (tx, rx) = oneshot::channel();
    reg.next += 1;
    let id = reg.next;
    for k in &req.keys {
        let q = reg.by_key.entry((ctx.session.ldb, k.clone())).or_default();
        if !q.contains(&id) {
            q.push_back(id);
        }
    }
    let shape = req.shape;
    let timeout = req.timeout;
    reg.waiters.insert(
        id,
        Waiter {
            client: ctx.session.client.clone(),
            db: ctx.session.ldb,
            proto: ctx.session.proto,
            req,
            tx,
        },
    );
    shared.blocked.count.fetch_add(1, Ordering::Relaxed);
    ctx.session.wait = Some(Wait {
        id,
        rx,
        timeout,
        shape,
    });
    // Not sent: the connection replaces it with what the wait yields.
    Frame::Null
}

/// After a write naming `keys` (with their logical databases): serves the clients blocked on them,
/// oldest first. Keys that receive data from a served client (BLMOVE's destination) are
/// served in turn.
pub fn signal(shared: &Shared, keys: impl IntoIterator<Item = (u32, Bytes)>) {
    if shared.blocked.count() == 0 {
        return;
    }
    let mut reg = shared.blocked.lock();
    let mut ready: VecDeque<(u32, Bytes)> = keys
        .into_iter()
        .filter(|k| reg.by_key.contains_key(k))
        .collect();
    while let Some(slot) = ready.pop_front() {
        let ids: Vec<u64> = reg
            .by_key
            .get(&slot)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let Some(w) = reg.waiters.get(&id) else {
                continue;
            };
            let (client, db, proto, req) = (w.client.clone(), w.db, w.proto, w.req.clone());
            if w.tx.is_closed() {
                // Its connection is gone: never pop on behalf of nobody.
                reg.remove(id);
                shared.blocked.count.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let mut session = Session::new(client, true, crate::access::internal());
            let engine = shared.storage();
            let cx = storage::WriteCx::new();
            session.select_db(&engine.db(&cx), db);
            session.proto = proto;
            let served = match attempt(shared, &mut session, engine.db(&cx), &req) {
                Ok(Some(f)) => f,
                // BLMOVE / BRPOPLPUSH whose source holds a list but whose destination holds
                // another type: woken with the error, the element stays (Redis 7.0).
                Err(e) if req.shape == Shape::Bulk && source_is_list(shared, session.db, &req) => e,
                // XREADGROUP whose stream or group went: woken with Redis's error.
                Err(_) if req.shape == Shape::StreamGroup => {
                    stream_gone(shared, session.db, &slot.1)
                }
                // Nothing for this one (or the key now holds another type: keep waiting,
                // as Redis 7.0 does).
                Ok(None) | Err(_) => continue,
            };
            let served_error = served.is_error();
            if let Some(w) = reg.remove(id) {
                shared.blocked.count.fetch_sub(1, Ordering::Relaxed);
                let _ = w.tx.send(Served {
                    reply: served,
                    wal_seq: session.wal_seq.max(cx.seq()),
                });
                if req.shape == Shape::Bulk && !served_error {
                    // BLMOVE / BRPOPLPUSH pushed to their destination.
                    let dst = (w.db, req.twin[2].clone());
                    if reg.by_key.contains_key(&dst) {
                        ready.push_back(dst);
                    }
                }
            }
        }
    }
}

/// What a blocked XREADGROUP gets when its twin fails: its stream is gone (deleted, or now
/// another type), or its group is.
fn stream_gone(shared: &Shared, db: u32, key: &Bytes) -> Frame {
    let engine = shared.storage();
    let cx = storage::WriteCx::new();
    match engine.db(&cx).key_type(db, key) {
        Ok(Some(storage::KeyType::Stream)) => {
            Frame::error("NOGROUP the consumer group this client was blocked on no longer exists")
        }
        _ => Frame::error("UNBLOCKED the stream key no longer exists"),
    }
}

/// Whether the source of a BLMOVE / BRPOPLPUSH holds a list (its twin's error then came from
/// the destination).
fn source_is_list(shared: &Shared, db: u32, req: &Request) -> bool {
    matches!(
        shared
            .storage()
            .db(&storage::WriteCx::new())
            .key_type(db, &req.twin[1]),
        Ok(Some(storage::KeyType::List))
    )
}

/// The keys a write command may have made ready: every argument (cheap, and right for
/// commands whose keys follow a count), checked only while someone is blocked. `db` is the
/// logical database (`Session::ldb`).
fn candidate_keys(db: u32, args: &[Bytes]) -> impl Iterator<Item = (u32, Bytes)> + '_ {
    args.iter().skip(1).map(move |a| (db, a.clone()))
}

/// The keys a write that succeeded may have made ready: [`candidate_keys`], or for SWAPDB
/// every waited-for key of the two databases.
pub fn woken_by(shared: &Shared, db: u32, args: &[Bytes]) -> Vec<(u32, Bytes)> {
    if args[0].eq_ignore_ascii_case(b"swapdb") {
        let base = crate::namespace::base_of(db);
        let dbs: Vec<u32> = args[1..]
            .iter()
            .filter_map(|a| std::str::from_utf8(a).ok()?.parse::<u32>().ok())
            .map(|n| base + n)
            .collect();
        return keys_in(shared, &dbs);
    }
    candidate_keys(db, args).collect()
}
