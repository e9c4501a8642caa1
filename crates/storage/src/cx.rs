//! The write context: everything one command (or one atomic unit of commands) carries while it
//! works on the engine, passed explicitly instead of living in thread-locals.
//!
//! A [`WriteCx`] holds the transaction overlay (the pending writes of an EXEC, a key batch or
//! a single write, see `txn`), the modification counters of the keys it locked (a write bumps
//! them, for WATCH), the keys found expired, whether the expiry clock stands still (replay),
//! the commit lane and the last write sequence committed. A [`Db`] is a `Storage` seen through
//! one context: every Redis operation of this crate is a method of `Db`, so it reads its own
//! pending writes, joins the running batch and notes what it met, with nothing left behind on
//! the thread: dropping the context drops all of it (also when a command panics).

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{MutexGuard, RwLockReadGuard};

use rust_rocksdb::WriteBatch;

use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::{cf_index, prefix_successor, Storage, CF_META, LANES, LOCK_STRIPES};
use crate::txn::Overlay;
use crate::Error;

/// A key of a keyspace, owned.
pub type OwnedKey = (KeyspaceId, Vec<u8>);

static NEXT_LANE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's commit lane, chosen once (round-robin) and never changed: an identity,
    /// not state (threads of one process never contend for a lane unless there are more
    /// than [`LANES`] of them).
    static LANE: u8 = (NEXT_LANE.fetch_add(1, Ordering::Relaxed) % LANES as u64) as u8;
}

/// The state of one command's or one atomic unit's work on the engine (see the module
/// comment). Created by [`WriteCx::new`] (or by `Storage::begin_txn`/`begin_key_batch`, which
/// own one), used through [`Storage::db`].
pub struct WriteCx {
    /// The pending writes of the running unit; `None`: writes go straight to the engine.
    pub(crate) overlay: RefCell<Option<Overlay>>,
    /// Modification counters of the keys locked through this context: a write bumps them.
    pub(crate) held: RefCell<Vec<u32>>,
    /// Modification counters of a key batch's own keys (see `Storage::begin_key_batch`):
    /// bumped by a write of the unit that locked nothing itself. A write that locked its
    /// keys (every storage operation does) bumps only those: a run of pipelined writes to
    /// many keys must not fail a WATCH on a key of the run that none of them changed.
    pub(crate) unit_held: RefCell<Vec<u32>>,
    /// Replaying logged records: time stands still (nothing expires by itself; expiries
    /// arrive as explicit deletions in the log).
    frozen: Cell<bool>,
    /// Keys found expired by the running (logged) command, `None` when not collecting.
    expired: RefCell<Option<Vec<OwnedKey>>>,
    /// The batch being built adds or removes score-index entries (see `rank`).
    pub(crate) score_touched: Cell<bool>,
    /// Entries visited by the last rank lookup (tests check it stays small).
    pub(crate) rank_steps: Cell<u64>,
    /// The highest write sequence committed through this context (see
    /// [`Storage::wal_barrier`]).
    seq: Cell<u64>,
    pub(crate) lane: u8,
}

impl Default for WriteCx {
    fn default() -> Self {
        WriteCx::new()
    }
}

impl WriteCx {
    /// A context with no unit running, on this thread's commit lane.
    pub fn new() -> WriteCx {
        WriteCx {
            overlay: RefCell::new(None),
            held: RefCell::new(Vec::new()),
            unit_held: RefCell::new(Vec::new()),
            frozen: Cell::new(false),
            expired: RefCell::new(None),
            score_touched: Cell::new(false),
            rank_steps: Cell::new(0),
            seq: Cell::new(0),
            lane: LANE.with(|l| *l),
        }
    }

    /// Stops (`true`) or restarts the expiry clock of this context: while logged records are
    /// applied no key expires by itself, exactly as on the master the records came from,
    /// where every expiry that mattered was logged as a deletion.
    pub fn freeze_clock(&self, frozen: bool) {
        self.frozen.set(frozen);
    }

    /// The highest write sequence committed through this context (0: none); what the
    /// server passes to [`Storage::wal_barrier`] before replying.
    pub fn seq(&self) -> u64 {
        self.seq.get()
    }

    pub(crate) fn note_seq(&self, seq: u64) {
        self.seq.set(self.seq.get().max(seq));
    }

    /// Entries the last rank lookup through this context visited.
    pub fn rank_steps(&self) -> u64 {
        self.rank_steps.get()
    }
}

/// A `Storage` seen through one write context: the Redis operations of this crate are its
/// methods. Cheap to copy (two references).
#[derive(Clone, Copy)]
pub struct Db<'a> {
    pub(crate) s: &'a Storage,
    pub(crate) cx: &'a WriteCx,
}

impl Deref for Db<'_> {
    type Target = Storage;
    fn deref(&self) -> &Storage {
        self.s
    }
}

impl Storage {
    /// This engine seen through the write context `cx`.
    pub fn db<'a>(&'a self, cx: &'a WriteCx) -> Db<'a> {
        Db { s: self, cx }
    }
}

/// Held locks of one command; dropping it releases them (and forgets their counters).
pub struct KeyLocks<'a> {
    _gate: Option<RwLockReadGuard<'a, ()>>,
    _guards: Vec<MutexGuard<'a, ()>>,
    /// The context the counters were added to, and its counter list's length before.
    held: Option<(&'a WriteCx, usize)>,
    /// The counters of the locked keys (for a unit's own locks, see `begin_key_batch`).
    pub(crate) counters: Vec<u32>,
}

impl Drop for KeyLocks<'_> {
    fn drop(&mut self) {
        if let Some((cx, before)) = self.held {
            cx.held.borrow_mut().truncate(before);
        }
    }
}

impl Storage {
    /// Locks the given keys (any order, duplicates allowed) until the guard is dropped: the
    /// locks of an atomic unit (see `begin_key_batch`), taken with the shared gate.
    pub fn lock<'a, K: AsRef<[u8]>>(&'a self, keys: &[(KeyspaceId, K)]) -> KeyLocks<'a> {
        self.lock_stripes(keys, true, None)
    }

    fn lock_stripes<'a, K: AsRef<[u8]>>(
        &'a self,
        keys: &[(KeyspaceId, K)],
        gate: bool,
        held: Option<(&'a WriteCx, usize)>,
    ) -> KeyLocks<'a> {
        let counters = counters_of(keys);
        let gate = gate.then(|| self.gate.read().unwrap_or_else(|p| p.into_inner()));
        let mut stripes: Vec<usize> = counters
            .iter()
            .map(|&h| (h as u64 % LOCK_STRIPES as u64) as usize)
            .collect();
        // Ascending stripe order (not counter order): two commands can never wait on each
        // other's stripes.
        stripes.sort_unstable();
        stripes.dedup();
        let guards = stripes
            .into_iter()
            .map(|s| self.locks[s].lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        KeyLocks {
            _gate: gate,
            _guards: guards,
            held,
            counters,
        }
    }
}

fn counters_of<K: AsRef<[u8]>>(keys: &[(KeyspaceId, K)]) -> Vec<u32> {
    let mut c: Vec<u32> = keys
        .iter()
        .map(|(ks, k)| Storage::counter_of(*ks, k.as_ref()))
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// Collecting the keys a command finds expired, until [`ExpiredSeen::take`] or the guard is
/// dropped (also by a panic).
#[must_use]
pub struct ExpiredSeen<'a>(&'a WriteCx);

impl ExpiredSeen<'_> {
    /// The keys found expired since [`Db::collect_expired`]; stops collecting.
    pub fn take(self) -> Vec<OwnedKey> {
        self.0.expired.borrow_mut().take().unwrap_or_default()
    }
}

impl Drop for ExpiredSeen<'_> {
    fn drop(&mut self) {
        self.0.expired.borrow_mut().take();
    }
}

impl<'a> Db<'a> {
    /// The context this view writes through.
    pub fn cx(&self) -> &'a WriteCx {
        self.cx
    }

    /// The clock of expiries, in ms (0 while this context's clock is frozen, see
    /// [`WriteCx::freeze_clock`]).
    pub fn now_ms(&self) -> u64 {
        if self.cx.frozen.get() {
            0
        } else {
            crate::engine::now_ms()
        }
    }

    /// Whether an atomic unit (transaction, key batch, a logged write) collects the writes
    /// made through this view.
    pub fn in_unit(&self) -> bool {
        self.cx.overlay.borrow().is_some()
    }

    /// How many batches the running unit has collected (0 outside one): a command that leaves
    /// it unchanged wrote nothing.
    pub fn writes(&self) -> u64 {
        self.with_overlay(|o| o.writes).unwrap_or(0)
    }

    /// Runs `f` on the running unit's overlay, if there is one.
    pub(crate) fn with_overlay<R>(&self, f: impl FnOnce(&mut Overlay) -> R) -> Option<R> {
        self.cx.overlay.borrow_mut().as_mut().map(f)
    }

    /// Starts collecting the keys the commands run through this view find expired.
    pub fn collect_expired(&self) -> ExpiredSeen<'a> {
        *self.cx.expired.borrow_mut() = Some(Vec::new());
        ExpiredSeen(self.cx)
    }

    /// The keys found expired since [`Db::collect_expired`], from the `from`-th on (a
    /// command's `expired` events, published as they are met).
    pub fn expired_seen_from(&self, from: usize) -> Vec<OwnedKey> {
        match self.cx.expired.borrow().as_ref() {
            Some(v) if v.len() > from => v[from..].to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn note_expired(&self, ks: KeyspaceId, key: &[u8]) {
        if let Some(v) = self.cx.expired.borrow_mut().as_mut() {
            if !v.iter().any(|(k, x)| *k == ks && x == key) {
                v.push((ks, key.to_vec()));
            }
        }
    }

    /// Locks the given keys (any order, duplicates allowed) until the guard is dropped, and
    /// notes their counters: the writes made meanwhile bump them. Inside a unit the context
    /// already excludes every other writer of its keys: no lock is taken. The gate is taken
    /// once per context (a nested lock would wait behind a queued EXEC).
    pub fn lock<K: AsRef<[u8]>>(&self, keys: &[(KeyspaceId, K)]) -> KeyLocks<'a> {
        let counters = counters_of(keys);
        let before = {
            let mut h = self.cx.held.borrow_mut();
            let n = h.len();
            h.extend_from_slice(&counters);
            n
        };
        if self.in_unit() {
            return KeyLocks {
                _gate: None,
                _guards: Vec::new(),
                held: Some((self.cx, before)),
                counters: Vec::new(),
            };
        }
        self.s
            .lock_stripes(keys, before == 0, Some((self.cx, before)))
    }

    /// Commits one batch (or folds it into the running unit). Outside a unit the WAL record
    /// may still sit in RocksDB's buffer when this returns: whoever acknowledges the write
    /// must first pass [`Storage::wal_barrier`] with [`WriteCx::seq`]. Keeping the flush and
    /// the fsync out of the write lets one write(2) or one fsync cover the commands of many
    /// connections (group commit).
    pub fn write(&self, mut batch: WriteBatch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        self.maintain_ranks(&mut batch)?;
        if self.in_unit() {
            let held = self.cx.held.borrow();
            let touched = if held.is_empty() {
                self.cx.unit_held.borrow().clone()
            } else {
                held.clone()
            };
            drop(held);
            return self.fold_into_txn(batch, &touched);
        }
        let seq = self.s.write_direct(batch)?;
        self.cx.note_seq(seq);
        self.s.bump(&self.cx.held.borrow());
        Ok(())
    }

    /// Adds a range deletion to `batch`, or to the running unit.
    pub(crate) fn delete_range(
        &self,
        batch: &mut WriteBatch,
        cf: &str,
        from: &[u8],
        to: &[u8],
    ) -> Result<(), Error> {
        let i = cf_index(cf);
        if self.with_overlay(|o| o.delete_range(i, from, to)).is_none() {
            batch.delete_range_cf(self.cf(cf)?, from, to);
        }
        Ok(())
    }

    /// Records a flush for WATCH now, or at the running unit's commit.
    pub(crate) fn note_flush(&self, ks: Option<KeyspaceId>) {
        if self.with_overlay(|o| o.note_flush(ks)).is_none() {
            self.s.bump_flush(ks);
        }
    }

    /// An iterator over `[lower, upper)` of one column family. The bounds let RocksDB stop at
    /// the range's end instead of stepping over deletion markers beyond it (after many pops
    /// from one end of a list, say, the next key past the range is far away).
    pub(crate) fn bounded_iter(
        &self,
        cf: &str,
        lower: Vec<u8>,
        upper: Vec<u8>,
    ) -> Result<crate::txn::Iter<'a>, Error> {
        self.iter(cf, lower, upper)
    }

    /// Iterator over every key starting with `prefix`.
    pub(crate) fn prefix_iter(
        &self,
        cf: &str,
        prefix: &[u8],
    ) -> Result<crate::txn::Iter<'a>, Error> {
        self.bounded_iter(cf, prefix.to_vec(), prefix_successor(prefix))
    }

    /// Reads the live (not expired) metadata of a key.
    pub fn get_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>, Error> {
        let raw = self.get_raw(CF_META, &encoding::meta_key(ks, key))?;
        match raw {
            None => Ok(None),
            Some(raw) => {
                let m = Meta::decode(&raw)?;
                if m.is_expired(now) {
                    self.note_expired(ks, key);
                    Ok(None)
                } else {
                    Ok(Some(m))
                }
            }
        }
    }

    /// The live metadata of a key that must be of type `ty`: `WrongType` for another type.
    pub(crate) fn typed_meta(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        now: u64,
        ty: KeyType,
    ) -> Result<Option<Meta>, Error> {
        match self.get_meta(ks, key, now)? {
            Some(m) if m.ty != ty => Err(Error::WrongType),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::engine::test_storage;
    use crate::{SetCond, SetExpiry};

    fn set(db: &Db<'_>, k: &[u8], v: &str) {
        db.set(
            0,
            k,
            Bytes::copy_from_slice(v.as_bytes()),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
    }

    fn get(db: &Db<'_>, k: &[u8]) -> Option<Bytes> {
        db.get(0, k).unwrap()
    }

    /// A key whose lock stripe differs from `a`'s (two contexts on one thread must not wait
    /// on each other's stripe in this test).
    fn other_key(a: &[u8]) -> Vec<u8> {
        let stripe = |k: &[u8]| Storage::counter_of(0, k) as usize % LOCK_STRIPES;
        (0..)
            .map(|i| format!("b{i}").into_bytes())
            .find(|k| stripe(k) != stripe(a))
            .unwrap_or_default()
    }

    #[test]
    fn two_contexts_on_one_thread_are_independent() {
        let (_d, s) = test_storage();
        let b = other_key(b"a");
        let unit = s.begin_key_batch(s.lock(&[(0, b"a")]));
        set(&unit.db(), b"a", "pending");
        // Another client's command on the same thread: it neither sees the unit's pending
        // write nor joins its batch (it commits at once).
        let cx = WriteCx::new();
        let other = s.db(&cx);
        assert!(!other.in_unit());
        set(&other, &b, "committed");
        assert_eq!(get(&other, b"a"), None);
        assert_eq!(unit.db().writes(), 1, "the other write is not in the unit");
        assert!(
            cx.seq() > 0 || s.logged(),
            "the direct write has a sequence"
        );
        drop(unit);
        assert_eq!(get(&other, b"a"), None, "the dropped unit wrote nothing");
        assert_eq!(get(&other, &b).as_deref(), Some(&b"committed"[..]));
    }

    #[test]
    fn a_panic_inside_a_unit_leaves_nothing_behind_on_the_thread() {
        let (_d, s) = test_storage();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let unit = s.begin_txn();
            let db = unit.db();
            db.cx().freeze_clock(true);
            set(&db, b"k", "from the panicking unit");
            let _l = db.lock(&[(0, b"k")]);
            let _seen = db.collect_expired();
            panic!("a bug in the middle of a write");
        }));
        assert!(r.is_err());
        // The next write on this thread: not folded into a transaction, its clock running,
        // its locks free (the gate was released by the unwinding).
        let cx = WriteCx::new();
        let db = s.db(&cx);
        assert!(!db.in_unit());
        assert!(db.now_ms() > 0);
        assert_eq!(get(&db, b"k"), None);
        set(&db, b"k", "after");
        assert_eq!(get(&db, b"k").as_deref(), Some(&b"after"[..]));
        let unit = s.begin_txn();
        assert_eq!(unit.db().writes(), 0);
        assert!(unit.db().cx().held.borrow().is_empty());
        unit.commit().unwrap();
    }
}
