//! The server's binlog: one logical record per write command, appended before the engine batch
//! that carries the record's offset (design and format in `docs/binlog.md`).
//!
//! - [`run_write`] wraps every write command: it locks the command's keys (or takes the
//!   engine's gate for commands whose keys are not all named), collects the command's writes
//!   in a key batch, describes the command as deterministic commands (relative TTLs made
//!   absolute, SPOP as SREM, INCRBYFLOAT as SET, expired keys it met as DEL) and commits
//!   record and batch together. Inside EXEC (one record for the whole transaction) and
//!   pipelined key batches (one record per command) the wrapper only describes; the outer
//!   level commits.
//! - [`replay`] re-applies at start-up the records the engine does not hold yet (those after
//!   its applied offset), with the expiry clock stopped, exactly as they ran.
//! - [`Log`] is the binlog behind the storage's `CommitLog`, with retention and leases.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp::Frame;

use crate::commands::{self, flags, Ctx, Session, TABLE};
use crate::shared::Shared;

pub use ::binlog::record::{
    decode, encode, encode_void, LoggedCommand, Payload, KIND_COMMANDS, KIND_VOID,
};

// ---- the log behind the engine ----

/// Retention and lease settings (from the config, changeable at run time).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub retention: ::binlog::Retention,
    pub lease_ttl: Duration,
}

/// The binlog of this server: the writer (behind a mutex held only to append), the synced
/// offset, and the engine offset known to be flushed to SST files.
pub struct Log {
    inner: Mutex<::binlog::Binlog>,
    dir: Mutex<PathBuf>,
    segment_bytes: u64,
    /// Ranges of records voided since start (their engine write failed): a feeder sends
    /// them as void records.
    voided: Mutex<Vec<(u64, u64)>>,
    /// Tests (`DEBUG FAILPOINT binlog-eio 1`): the next append fails with EIO.
    pub inject_eio: std::sync::atomic::AtomicBool,
    /// Every record at or below this offset has its effect in SST files (not only in
    /// memtables): purging it cannot lose data at a crash.
    pub persisted: AtomicU64,
    pub synced: AtomicU64,
}

fn to_io(e: ::binlog::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Log {
    /// Opens the binlog in `dir`; a new log starts right after the engine's last offset.
    /// `floor`: every record at or below it is in the engine; `max_applied`: the highest
    /// offset in the engine.
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        floor: u64,
        max_applied: u64,
    ) -> Result<Log, String> {
        let mut opts = ::binlog::Options::new(dir);
        opts.segment_bytes = segment_bytes.max(4096);
        let b = ::binlog::Binlog::open(opts, max_applied + 1).map_err(|e| e.to_string())?;
        let last = b.next_offset().saturating_sub(1);
        if last < max_applied {
            return Err(format!(
                "the binlog in {} ends at offset {last} but the data holds writes up to offset {max_applied}: \
                 records are missing (move the binlog directory away to start a new log from the data)",
                dir.display()
            ));
        }
        if b.first_offset() > floor + 1 {
            return Err(format!(
                "the binlog in {} starts at offset {} but the data needs it from offset {}",
                dir.display(),
                b.first_offset(),
                floor + 1
            ));
        }
        Ok(Log {
            inner: Mutex::new(b),
            dir: Mutex::new(dir.to_path_buf()),
            segment_bytes,
            voided: Mutex::new(Vec::new()),
            inject_eio: Default::default(),
            persisted: AtomicU64::new(floor),
            synced: AtomicU64::new(last),
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ::binlog::Binlog> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the record at `offset` was voided (see [`Log::note_void`]).
    pub fn is_void(&self, offset: u64) -> bool {
        self.voided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|&(f, l)| f <= offset && offset <= l)
    }

    pub fn note_void(&self, first: u64, last: u64) {
        self.voided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((first, last));
    }

    /// A new, empty binlog in `dir` whose first record will be `start` (a full sync's).
    pub fn create(&self, dir: &Path, start: u64) -> Result<::binlog::Binlog, String> {
        let mut opts = ::binlog::Options::new(dir);
        opts.segment_bytes = self.segment_bytes.max(4096);
        let mut b = ::binlog::Binlog::open(opts, start).map_err(|e| e.to_string())?;
        if b.next_offset() != start {
            return Err(format!("new binlog in {} is not empty", dir.display()));
        }
        b.sync().map_err(|e| e.to_string())?;
        Ok(b)
    }

    /// Switches to `binlog` (created by [`Log::create`]) after a full sync installed an
    /// engine holding every record up to `offset`.
    pub fn replace(&self, binlog: ::binlog::Binlog, dir: PathBuf, offset: u64) {
        *self.lock() = binlog;
        *self.dir.lock().unwrap_or_else(|p| p.into_inner()) = dir;
        self.voided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.persisted.store(offset, Ordering::Release);
        self.synced.store(offset, Ordering::Release);
    }

    /// Removes old segments: those beyond the retention limits, and with `up_to` every segment
    /// entirely below it, never one a lease or crash recovery needs. Returns the number removed.
    pub fn purge(
        &self,
        storage: &storage::Storage,
        retention: ::binlog::Retention,
        up_to: Option<u64>,
    ) -> Result<usize, String> {
        let wanted = self.lock().purge_wanted(retention, up_to);
        let Some(end) = wanted else {
            return Ok(0);
        };
        // Records whose effect is still only in memtables are needed to recover from a crash:
        // flush the engine first if the purge would reach them.
        if end > self.persisted.load(Ordering::Acquire) + 1 {
            let applied = storage.flush_memtables().map_err(|e| e.to_string())?;
            self.persisted.fetch_max(applied, Ordering::AcqRel);
        }
        let floor = self.persisted.load(Ordering::Acquire) + 1;
        self.lock()
            .purge(retention, up_to, floor)
            .map_err(|e| e.to_string())
    }
}

impl storage::CommitLog for Log {
    fn append(&self, lane: u8, records: &mut [Vec<u8>]) -> std::io::Result<u64> {
        if self.inject_eio.swap(false, Ordering::AcqRel) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        for r in records.iter_mut() {
            if let Some(b) = r.get_mut(1) {
                *b = lane;
            }
        }
        self.lock().append_batch(records).map_err(to_io)
    }

    fn void(&self, lane: u8, first: u64, last: u64) -> std::io::Result<()> {
        self.note_void(first, last);
        self.lock()
            .append(&encode_void(lane, first, last))
            .map(|_| ())
            .map_err(to_io)
    }

    fn flush(&self) -> std::io::Result<u64> {
        self.lock().flush().map_err(to_io)
    }

    fn sync(&self) -> std::io::Result<u64> {
        let (file, upto) = self.lock().sync_handle().map_err(to_io)?;
        file.sync_data()?;
        self.synced.fetch_max(upto, Ordering::AcqRel);
        Ok(upto)
    }
}

// ---- describing commands ----

/// Records being built by an EXEC (one record) or a key batch (one per command): owned by
/// the session that runs them (`Session::sink`), so nothing is left behind on the thread
/// when a command panics.
pub struct Sink {
    records: Vec<Vec<LoggedCommand>>,
    one_record: bool,
}

impl Sink {
    /// Starts collecting (EXEC: `one_record`; key batch: one per command).
    pub fn new(one_record: bool) -> Sink {
        Sink {
            records: Vec::new(),
            one_record,
        }
    }

    /// The records collected, encoded.
    pub fn encode(self) -> Vec<Vec<u8>> {
        self.records
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| encode(r))
            .collect()
    }

    /// With `one_record`: what is described from now on goes into a new record (a pipelined
    /// run of scripts committed as one unit keeps one record per script).
    pub fn seal(&mut self) {
        if self.one_record && self.records.last().is_some_and(|r| !r.is_empty()) {
            self.records.push(Vec::new());
        }
    }

    fn push(&mut self, cmds: Vec<LoggedCommand>) {
        if cmds.is_empty() {
            return;
        }
        if self.one_record {
            if self.records.is_empty() {
                self.records.push(Vec::new());
            }
            if let Some(r) = self.records.last_mut() {
                r.extend(cmds);
            }
        } else {
            self.records.push(cmds);
        }
    }
}

/// Runs `f` as the command `idx`/`args` and describes it into the session's records
/// (`Session::sink`): the expired keys it met (deleted, and logged as DEL before it), then its
/// deterministic form if it wrote anything.
fn run_described(
    shared: &Shared,
    session: &mut Session,
    db: storage::Db<'_>,
    idx: usize,
    args: &[Bytes],
    f: impl FnOnce(&mut Session, storage::Db<'_>) -> Frame,
) -> Frame {
    let seen = db.collect_expired();
    if crate::notify::enabled(shared) {
        // Every key the command names is looked up first, as Redis's lookups expire them:
        // one found expired gets `expired` before the command's events, also for a write
        // that reads nothing (SET).
        let now = db.now_ms();
        for p in commands::key_positions(&TABLE[idx], args) {
            let _ = db.get_meta(session.db, &args[p], now);
        }
    }
    let before = db.writes();
    session.logged_as = None;
    session.expired_notified = 0;
    let reply = f(session, db);
    // What the command reported of itself (`Ctx::log_as`), else its arguments as given.
    let logged = session.logged_as.take();
    if shared.failpoints.take("write-panic") {
        // Tests: a bug that panics in the middle of a write (records, key locks, the
        // transaction and held events are all live here).
        panic!("fail point write-panic");
    }
    // PUBLISH writes nothing but is logged for the replicas' subscribers.
    let wrote = db.writes() != before || TABLE[idx].flags & flags::MAY_REPLICATE != 0;
    let expired = seen.take();
    if crate::notify::enabled(shared) {
        // `expired` of those met after the command's last event (the others had theirs).
        let w = crate::notify::Emitter {
            shared,
            view: &db,
            held: &session.held,
        };
        for (eks, key) in expired.iter().skip(session.expired_notified) {
            crate::notify::emit(&w, crate::notify::EXPIRED, "expired", *eks, key);
        }
    }
    let mut cmds: Vec<LoggedCommand> = Vec::new();
    for (eks, key) in expired {
        // Still expired (the command did not re-create it): delete it for real, as the
        // logged DEL will on replay.
        if let Err(e) = db.delete_if_expired(eks, &key) {
            tracing::error!(error = %e, "deleting an expired key failed");
        }
        cmds.push((
            db.logical(eks),
            vec![Bytes::from_static(b"DEL"), Bytes::from(key)],
        ));
    }
    if wrote {
        // Records name the database the client selected (logical): replay and replicas
        // resolve it through their own map, which SWAPDB records change at the same points.
        match logged {
            Some(effect) => cmds.extend(effect.into_iter().map(|c| (session.ldb, c))),
            None => cmds.push((session.ldb, args.to_vec())),
        }
    }
    if let Some(sink) = session.sink.as_mut() {
        sink.push(cmds);
    }
    reply
}

/// Runs a write command with its binlog record: see the module comment. `f` runs the command
/// through the view it is given. `db` is the view the command was called with: the unit it
/// is part of (then it only describes itself into the unit's records), or a context of its
/// own (then it runs as a unit of its own, on the same engine).
pub fn run_write(
    shared: &Shared,
    session: &mut Session,
    db: storage::Db<'_>,
    idx: usize,
    args: &[Bytes],
    f: impl FnOnce(&mut Session, storage::Db<'_>) -> Frame,
) -> Frame {
    if session.replaying {
        return f(session, db);
    }
    let storage: &storage::Storage = &db;
    // With `binlog no` nothing is described (RocksDB's WAL holds the batch), but the write
    // still runs as a unit: under its keys' locks, re-checking where its database is.
    let described = storage.logged();
    if crate::replication::is_replica(shared) {
        if shared.hot.replica_read_only.load(Ordering::Relaxed) {
            // Checked as a master, but the server became a replica since (REPLICAOF,
            // FAILOVER): refused, never applied as a write no master will have.
            return Frame::error("READONLY You can't write against a read only replica.");
        }
        // A writable replica (replica-read-only no): local writes are neither logged nor
        // replicated (the log's offsets are the master's), as in Redis.
        return f(session, db);
    }
    if db.in_unit() {
        if !described || session.sink.is_none() {
            return f(session, db);
        }
        return run_described(shared, session, db, idx, args, f);
    }
    let spec = &TABLE[idx];
    let positions = commands::key_positions(spec, args);
    // PUBLISH has no key and needs no gate: it only takes its place in the log.
    let unit = if (positions.is_empty() && spec.flags & flags::MAY_REPLICATE == 0)
        || spec.runs_alone(args)
    {
        Unit::Alone
    } else {
        Unit::Keys(
            positions
                .iter()
                .filter_map(|&i| args.get(i).map(|k| k.as_ref()))
                .collect(),
        )
    };
    let commit = Commit::Logged { one_record: false };
    let unit = run_unit(
        shared,
        storage,
        session,
        unit,
        commit,
        "",
        |session, txn| {
            if crate::replication::is_replica(shared) {
                // The role changed while this write waited for its locks: a replica's role is
                // set under the exclusive gate, so a write that holds the gate sees it.
                return Some(Frame::error(
                    "READONLY You can't write against a read only replica.",
                ));
            }
            if !described {
                return Some(f(session, txn.db()));
            }
            Some(run_described(shared, session, txn.db(), idx, args, f))
        },
    );
    match unit {
        Ok(reply) => reply.unwrap_or(Frame::Null),
        Err(e) => commands::storage_error(e),
    }
}

/// Where an atomic unit of several commands runs (see [`run_unit`]).
pub enum Unit<'k> {
    /// Alone, under the engine's exclusive gate (EXEC; scripts; writes of keys they do not
    /// name).
    Alone,
    /// Under the locks of the keys (of the selected database) every command touches: one
    /// write, or a pipelined run of writes to one key (a key batch).
    Keys(Vec<&'k [u8]>),
}

/// How an atomic unit is committed.
pub enum Commit {
    /// With the records its commands described (`one_record`: a single record for all, as
    /// EXEC; else one per command), appended to the binlog first.
    Logged { one_record: bool },
    /// As the effect of record `offset`, already in the log (replay, a replica's stream).
    Replayed { offset: u64, lane: u8 },
}

/// Runs several commands as ONE atomic unit on engine `storage`: `body` runs them on
/// `session` (through `commands::call`, whose writes describe themselves into the session's
/// records, or by their handlers when records are applied); their writes are committed as
/// one engine batch (see [`Commit`]), and their keyspace events and invalidations go out
/// only once it is committed. `body` returning `None` abandons the unit: nothing it did is
/// written or published (EXEC whose WATCH failed). `fail_point` pauses before the commit
/// (tests). The begin → hold → describe → commit → release sequence lives here only: single
/// writes, key batches, EXEC, replay and a replica's records all go through it.
pub fn run_unit<T>(
    shared: &Shared,
    storage: &storage::Storage,
    session: &mut Session,
    unit: Unit<'_>,
    commit: Commit,
    fail_point: &str,
    body: impl FnOnce(&mut Session, &storage::Txn<'_>) -> Option<T>,
) -> Result<Option<T>, storage::Error> {
    let txn = match unit {
        Unit::Alone => {
            let txn = storage.begin_txn();
            // Nothing can move a database while the gate is held.
            session.resolve_db(&txn.db());
            txn
        }
        Unit::Keys(keys) => loop {
            let db = storage.committed_physical(session.ldb);
            let locked: Vec<(u32, &[u8])> = keys.iter().map(|&k| (db, k)).collect();
            let txn = storage.begin_key_batch(storage.lock(&locked));
            // SWAPDB (exclusive gate) cannot run while the locks are held: unless it moved the
            // database while they were awaited, every command of the unit resolves here.
            if storage.committed_physical(session.ldb) == db {
                session.db = db;
                break txn;
            }
        },
    };
    if let Commit::Replayed { .. } = commit {
        // Applying logged records: no key expires by itself (every expiry that mattered
        // was logged as a deletion).
        txn.freeze_clock();
    }
    if let Commit::Logged { one_record } = commit {
        session.sink = Some(Sink::new(one_record));
    }
    let holding = session.held.begin();
    let out = body(session, &txn);
    let records = session.sink.take().map(Sink::encode).unwrap_or_default();
    let Some(out) = out else {
        if holding {
            session.held.release(shared, false);
        }
        return Ok(None);
    };
    shared.failpoints.hit(fail_point);
    let committed = match commit {
        Commit::Logged { .. } => txn.commit_logged(records),
        Commit::Replayed { offset, lane } => txn.commit_replayed(offset, lane),
    };
    if holding {
        session.held.release(shared, committed.is_ok());
    }
    let seq = committed?;
    session.wal_seq = session.wal_seq.max(seq);
    Ok(Some(out))
}

/// The retention policy from the config.
pub fn policy(shared: &Shared) -> Policy {
    shared.with_config(|c| Policy {
        retention: ::binlog::Retention {
            max_segments: c.get_u64("binlog-max-segments") as usize,
            max_bytes: c.get_u64("binlog-max-size"),
            max_age: Duration::from_secs(c.get_u64("binlog-max-age")),
        },
        lease_ttl: Duration::from_secs(c.get_u64("binlog-lease-timeout")),
    })
}

/// Purges by the configured retention (and below `up_to`, the admin purge).
pub fn purge(shared: &Shared, up_to: Option<u64>) -> Result<usize, String> {
    let Some(log) = shared.binlog.get() else {
        return Ok(0);
    };
    log.purge(&shared.storage(), policy(shared).retention, up_to)
}

/// Bounds crash recovery: when more than `binlog-recovery-max-records` records may have their
/// effect only in memtables, flush them (a restart then replays at most about that many).
pub fn bound_recovery(shared: &Shared) -> Result<(), String> {
    let Some(log) = shared.binlog.get() else {
        return Ok(());
    };
    let max = shared.with_config(|c| c.get_u64("binlog-recovery-max-records"));
    let applied = shared.storage().max_applied();
    if max == 0 || applied <= log.persisted.load(Ordering::Acquire) + max {
        return Ok(());
    }
    let t = Instant::now();
    let floor = shared
        .storage()
        .flush_memtables()
        .map_err(|e| e.to_string())?;
    log.persisted.fetch_max(floor, Ordering::AcqRel);
    tracing::info!(
        floor,
        took_ms = t.elapsed().as_millis() as u64,
        "memtables flushed to bound crash recovery"
    );
    Ok(())
}

/// Active expiry of one due index entry, logged as `DEL key` when it deletes the key.
pub fn expire_entry(shared: &Shared, raw: &[u8]) -> Result<Option<(u32, Vec<u8>)>, storage::Error> {
    let storage = &shared.storage();
    let Some((ks, key)) = storage::Db::expiry_entry_key(raw) else {
        return Ok(None);
    };
    // `expired` goes out under the key's lock, before a write waiting for it can publish
    // anything about the key (a reader who hears of it finds the key gone either way: it is
    // expired).
    let expired = |view: &storage::Db<'_>| {
        let held = crate::notify::Held::default();
        let w = crate::notify::Emitter {
            shared,
            view,
            held: &held,
        };
        crate::notify::emit(&w, crate::notify::EXPIRED, "expired", ks, key);
    };
    if !storage.logged() {
        let cx = storage::WriteCx::new();
        let view = storage.db(&cx);
        let deleted = view.expire_entry(raw)?;
        if deleted {
            expired(&view);
        }
        return Ok(deleted.then(|| (ks, key.to_vec())));
    }
    let txn = storage.begin_key_batch(storage.lock(&[(ks, key)]));
    let deleted = txn.db().expire_entry(raw)?;
    let records = if deleted {
        expired(&txn.db());
        vec![encode(&[(ks, commands::effects::cmd(&[b"DEL", key]))])]
    } else {
        Vec::new()
    };
    txn.commit_logged(records)?;
    Ok(deleted.then(|| (ks, key.to_vec())))
}

/// Re-applies the records the engine does not hold (start-up recovery): from the floor on,
/// every record whose lane's applied offset is below it, in offset order, except void ones.
/// Returns how many records were replayed.
pub fn replay(shared: &Arc<Shared>, log: &Log) -> Result<u64, String> {
    let storage = &shared.storage();
    let from = storage.applied_offset() + 1;
    let read_all = || -> Result<Vec<::binlog::Record>, String> {
        let mut reader = log.lock().reader(from).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
            out.push(r);
        }
        Ok(out)
    };
    let records = read_all()?;
    let mut decoded = Vec::with_capacity(records.len());
    let mut void = Vec::new();
    for rec in &records {
        let p = decode(&rec.payload)
            .map_err(|e| format!("binlog record {} cannot be decoded: {e}", rec.offset))?;
        if let Payload::Void { first, last, .. } = &p {
            void.push((*first, *last));
        }
        decoded.push((rec.offset, p));
    }
    drop(records);
    for &(f, l) in &void {
        log.note_void(f, l);
    }
    let result = with_replay_session(shared, |session| {
        let mut n = 0u64;
        for (offset, p) in decoded {
            let Payload::Commands { lane, cmds } = p else {
                continue;
            };
            if offset <= storage.lane_applied(lane)
                || void.iter().any(|&(f, l)| f <= offset && offset <= l)
            {
                continue;
            }
            apply_commands(shared, storage, session, offset, lane, cmds, || Ok(()))?;
            n += 1;
        }
        Ok(n)
    });
    if result.is_ok() {
        storage.mark_recovered(log.lock().next_offset().saturating_sub(1));
    }
    result
}

/// Runs `f` with a session for applying records: nothing is logged again and the expiry
/// clock is stopped (no key expires by itself: every expiry that mattered was logged).
pub fn with_replay_session<T>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut Session) -> Result<T, String>,
) -> Result<T, String> {
    let client = shared.clients.register(
        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
    );
    let mut session = Session::new(client.clone(), true, crate::access::internal());
    // Nothing is logged again, and units run with their expiry clock stopped.
    session.replaying = true;
    let result = f(&mut session);
    shared.clients.unregister(client.id);
    result
}

/// Applies the commands of record `offset` (from `lane`) atomically, as they ran. `before`
/// runs once no other writer can run (a replica logs the record there, and stops if it
/// was promoted meanwhile).
pub fn apply_commands(
    shared: &Shared,
    storage: &storage::Storage,
    session: &mut Session,
    offset: u64,
    lane: u8,
    cmds: Vec<LoggedCommand>,
    before: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let names: Vec<Bytes> = cmds.iter().map(|(_, a)| a[0].clone()).collect();
    let mut failed = None;
    let replayed = Commit::Replayed { offset, lane };
    let unit = run_unit(
        shared,
        storage,
        session,
        Unit::Alone,
        replayed,
        "",
        |session, txn| {
            if let Err(e) = before() {
                failed = Some(e);
                return None;
            }
            for (ks, args) in cmds {
                let Some(idx) = commands::lookup(&args[0]) else {
                    failed = Some(format!(
                        "binlog record {offset} holds an unknown command '{}'",
                        String::from_utf8_lossy(&args[0])
                    ));
                    return None;
                };
                let db = txn.db();
                session.select_db(&db, ks);
                let mut ctx = Ctx {
                    shared,
                    session: &mut *session,
                    db,
                };
                let reply = (TABLE[idx].handler)(&mut ctx, &args);
                if let Frame::Error(e) = &reply {
                    tracing::debug!(offset, error = %e, "replayed command failed as it did when logged");
                }
            }
            Some(())
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    unit.map_err(|e| format!("cannot apply binlog record {offset}: {e}"))?;
    for n in names {
        crate::namespace::after_commit(shared, &n);
    }
    Ok(())
}

/// Group commit for `appendfsync always`: one thread fsyncs whatever has been written when
/// asked, while the next commands gather; every connection waiting for an offset the fsync
/// covered is woken at once (no thread or lock per waiter).
pub struct Syncer {
    want: Mutex<u64>,
    cv: std::sync::Condvar,
    /// (highest sequence synced, number of failed syncs so far).
    done: tokio::sync::watch::Sender<(u64, u64)>,
    /// Group commits done, and the microseconds they took (INFO).
    pub syncs: AtomicU64,
    pub sync_us: AtomicU64,
    /// Every fsync of the write-ahead log (group commits and `everysec`'s), in seconds
    /// (`strata_fsync_duration_seconds` on /metrics).
    pub latency: prometheus_client::metrics::histogram::Histogram,
}

/// The fsync histogram's buckets: 50 us to about 3.3 s, doubling.
fn fsync_buckets() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(
        prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 17),
    )
}

impl Default for Syncer {
    fn default() -> Self {
        Syncer {
            want: Mutex::new(0),
            cv: std::sync::Condvar::new(),
            done: tokio::sync::watch::channel((0, 0)).0,
            syncs: AtomicU64::new(0),
            sync_us: AtomicU64::new(0),
            latency: fsync_buckets(),
        }
    }
}

impl Syncer {
    /// Starts the sync thread; it ends at shutdown.
    pub fn start(shared: Arc<Shared>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("strata-fsync".into())
            .spawn(move || {
                let me = &shared.syncer;
                let mut failures = 0u64;
                loop {
                    {
                        let mut want = me.want.lock().unwrap_or_else(|p| p.into_inner());
                        while *want <= shared.storage().synced_seq() {
                            if shared.shutdown.is_cancelled() {
                                return;
                            }
                            want = me
                                .cv
                                .wait_timeout(want, Duration::from_millis(100))
                                .map(|(g, _)| g)
                                .unwrap_or_else(|p| p.into_inner().0);
                        }
                    }
                    let t = Instant::now();
                    let synced = shared.storage().sync_wal();
                    me.syncs.fetch_add(1, Ordering::Relaxed);
                    me.sync_us
                        .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                    me.latency.observe(t.elapsed().as_secs_f64());
                    if let Err(e) = synced {
                        failures += 1;
                        tracing::error!(error = %e, "fsync failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    me.done
                        .send_replace((shared.storage().synced_seq(), failures));
                }
            })
            .map(|_| ())
    }

    /// Waits until every write up to `seq` is fsync'd; `false` if a sync failed meanwhile
    /// (the writes must not be acknowledged).
    pub async fn wait(&self, seq: u64) -> bool {
        let mut rx = self.done.subscribe();
        let failures = rx.borrow().1;
        {
            let mut want = self.want.lock().unwrap_or_else(|p| p.into_inner());
            if *want < seq {
                *want = seq;
            }
        }
        self.cv.notify_one();
        let reached = match rx
            .wait_for(|(synced, f)| *synced >= seq || *f != failures)
            .await
        {
            Ok(v) => v.0 >= seq,
            Err(_) => false,
        };
        reached
    }
}

/// When a pause point was last reached (tests): `DEBUG FAILPOINT name ms` makes the named
/// point sleep that long once.
pub struct FailPoints {
    points: Mutex<Vec<(String, u64)>>,
    /// Whether any point is armed: points on hot paths cost one load otherwise.
    armed: std::sync::atomic::AtomicBool,
}

impl Default for FailPoints {
    fn default() -> Self {
        FailPoints {
            points: Mutex::new(Vec::new()),
            armed: Default::default(),
        }
    }
}

impl FailPoints {
    pub fn set(&self, name: &str, ms: u64) {
        let mut p = self.points.lock().unwrap_or_else(|p| p.into_inner());
        p.retain(|(n, _)| n != name);
        if ms > 0 {
            p.push((name.to_string(), ms));
        }
        self.armed.store(!p.is_empty(), Ordering::Release);
    }

    /// Whether the named point is armed (disarming it): for points that do something other
    /// than sleep (`syncfile-corrupt-chunk`).
    pub fn take(&self, name: &str) -> bool {
        if !self.armed.load(Ordering::Acquire) {
            return false;
        }
        let mut p = self.points.lock().unwrap_or_else(|p| p.into_inner());
        match p.iter().position(|(n, _)| n == name) {
            Some(i) => {
                p.remove(i);
                true
            }
            None => false,
        }
    }

    /// Sleeps at the named point if armed (once), logging it.
    pub fn hit(&self, name: &str) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let ms = {
            let mut p = self.points.lock().unwrap_or_else(|p| p.into_inner());
            let found = p.iter().position(|(n, _)| n == name);
            found.map(|i| p.remove(i).1)
        };
        if let Some(ms) = ms {
            tracing::warn!(point = name, ms, "fail point: pausing");
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(ms));
            tracing::warn!(
                point = name,
                took_ms = start.elapsed().as_millis() as u64,
                "fail point: resuming"
            );
        }
    }
}
