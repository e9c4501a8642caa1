//! Transactions (MULTI/EXEC) and optimistic locking (WATCH).
//!
//! A transaction runs its commands on one thread while holding the engine's *gate*
//! exclusively: no other command that writes can run meanwhile, so no per-key locks are
//! needed inside it. The commands' batches are not written to RocksDB; they are folded into the
//! *overlay* of the transaction's write context (`cx`) (per column family: key → new value or deletion, plus range
//! deletions). Every read of the storage layer goes through [`Db::get_raw`],
//! [`Db::multi_get_raw`] and [`Db::iter`], which see the overlay on top of the
//! engine, so each command reads the writes of the commands before it. The commit writes the
//! net effect of the overlay as ONE `WriteBatch`: a crash leaves all of the transaction or
//! none of it.
//!
//! WATCH is optimistic: every write bumps a *modification counter* of each key it locked
//! (65,536 counters, hashed like the lock stripes), FLUSHDB/FLUSHALL bump flush epochs. A
//! [`WatchToken`] remembers the counter, the epochs and whether the key was live; EXEC checks
//! the tokens after taking the gate, so nothing can slip in between the check and the writes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::RwLockWriteGuard;

use rust_rocksdb::{
    DBPinnableSlice, DBRawIteratorWithThreadMode, WriteBatch, WriteBatchIteratorCf, DB,
};

use crate::cx::{Db, KeyLocks, WriteCx};
use crate::encoding::{self, KeyspaceId, Meta};
use crate::engine::{Storage, ALL_CFS, CF_META};
use crate::{Error, Result};

pub(crate) const NCF: usize = ALL_CFS.len();

/// Pending writes of a unit (transaction, key batch, single write), in its write context.
#[derive(Default)]
pub(crate) struct Overlay {
    /// Per column family (index into `ALL_CFS`): key → `Some(value)` written, `None` deleted.
    maps: [BTreeMap<Vec<u8>, Option<Vec<u8>>>; NCF],
    /// Per column family: ranges `[from, to)` deleted (keys written afterwards are in `maps`).
    ranges: [Vec<(Vec<u8>, Vec<u8>)>; NCF],
    /// Modification counters of the keys written, bumped at commit.
    touched: Vec<u32>,
    /// Keyspaces flushed (`None`: all of them), epochs bumped at commit.
    flushed: Vec<Option<KeyspaceId>>,
    /// SWAPDBs (logical keyspaces), applied to the map at commit.
    pub(crate) swaps: Vec<(KeyspaceId, KeyspaceId)>,
    /// A batch held an operation the overlay cannot represent.
    unsupported: bool,
    /// Batches folded in so far (did a command write anything?).
    pub(crate) writes: u64,
    /// The first batch, kept as it is until something needs the maps (a read, a second
    /// batch): a single-write command then commits its own batch without any copying.
    stash: Option<WriteBatch>,
    /// RocksDB's ids of the column families (to fold batches).
    ids: [u32; NCF],
}

/// What the overlay says about one key.
enum Lookup {
    /// Written or deleted in the transaction.
    Own(Option<Vec<u8>>),
    /// Not touched by the transaction: read the engine.
    Base,
}

fn in_ranges(ranges: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<usize> {
    ranges
        .iter()
        .position(|(from, to)| key >= from.as_slice() && key < to.as_slice())
}

impl Overlay {
    fn new(ids: [u32; NCF]) -> Overlay {
        Overlay {
            ids,
            ..Default::default()
        }
    }

    fn pristine(&self) -> bool {
        self.stash.is_none()
            && self.maps.iter().all(|m| m.is_empty())
            && self.ranges.iter().all(|r| r.is_empty())
    }

    /// Folds the stashed first batch into the maps.
    fn materialize(&mut self) {
        if let Some(b) = self.stash.take() {
            let ids = self.ids;
            b.iterate_cf(&mut Fold {
                overlay: self,
                ids: &ids,
            });
        }
    }

    fn lookup(&mut self, cf: usize, key: &[u8]) -> Lookup {
        self.materialize();
        if let Some(v) = self.maps[cf].get(key) {
            return Lookup::Own(v.clone());
        }
        if in_ranges(&self.ranges[cf], key).is_some() {
            return Lookup::Own(None);
        }
        Lookup::Base
    }

    pub(crate) fn delete_range(&mut self, cf: usize, from: &[u8], to: &[u8]) {
        self.materialize();
        let doomed: Vec<Vec<u8>> = self.maps[cf]
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.maps[cf].remove(&k);
        }
        self.ranges[cf].push((from.to_vec(), to.to_vec()));
    }

    pub(crate) fn note_flush(&mut self, ks: Option<KeyspaceId>) {
        self.flushed.push(ks);
    }

    /// The net effect as one batch: range deletions first, then the latest value of each key.
    fn take_batch(&mut self, storage: &Storage) -> Result<WriteBatch> {
        if let Some(b) = self.stash.take() {
            if self.pristine() {
                return Ok(b);
            }
            self.stash = Some(b);
            self.materialize();
        }
        let mut b = WriteBatch::default();
        for (i, name) in ALL_CFS.iter().enumerate() {
            let cf = storage.cf(name)?;
            for (from, to) in &self.ranges[i] {
                b.delete_range_cf(cf, from, to);
            }
            for (k, v) in &self.maps[i] {
                match v {
                    Some(v) => b.put_cf(cf, k, v),
                    None => b.delete_cf(cf, k),
                }
            }
        }
        Ok(b)
    }
}

/// Folds a command's batch into the overlay.
struct Fold<'a> {
    overlay: &'a mut Overlay,
    ids: &'a [u32; NCF],
}

impl Fold<'_> {
    fn idx(&mut self, cf_id: u32) -> Option<usize> {
        let i = self.ids.iter().position(|&id| id == cf_id);
        if i.is_none() {
            self.overlay.unsupported = true;
        }
        i
    }
}

impl WriteBatchIteratorCf for Fold<'_> {
    fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
        if let Some(i) = self.idx(cf_id) {
            self.overlay.maps[i].insert(key.to_vec(), Some(value.to_vec()));
        }
    }

    fn delete_cf(&mut self, cf_id: u32, key: &[u8]) {
        if let Some(i) = self.idx(cf_id) {
            self.overlay.maps[i].insert(key.to_vec(), None);
        }
    }

    fn merge_cf(&mut self, _cf_id: u32, _key: &[u8], _value: &[u8]) {
        self.overlay.unsupported = true;
    }
}

/// A value read from the engine (pinned in its cache) or from the overlay.
pub enum Val<'a> {
    Pinned(DBPinnableSlice<'a>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Val<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Val::Pinned(p) => p,
            Val::Owned(v) => v,
        }
    }
}

type RawIter<'a> = DBRawIteratorWithThreadMode<'a, DB>;

/// An iterator over a bounded range of one column family: the engine's, or the engine's
/// merged with the running transaction's overlay.
pub(crate) enum Iter<'a> {
    Db(RawIter<'a>),
    Merged(Box<Merged<'a>>),
}

impl Iter<'_> {
    pub fn seek(&mut self, k: impl AsRef<[u8]>) {
        let k = k.as_ref();
        match self {
            Iter::Db(it) => it.seek(k),
            Iter::Merged(m) => m.forward(Some(k), true),
        }
    }
    pub fn seek_for_prev(&mut self, k: impl AsRef<[u8]>) {
        let k = k.as_ref();
        match self {
            Iter::Db(it) => it.seek_for_prev(k),
            Iter::Merged(m) => m.backward(Some(k), true),
        }
    }
    pub fn seek_to_first(&mut self) {
        match self {
            Iter::Db(it) => it.seek_to_first(),
            Iter::Merged(m) => m.forward(None, true),
        }
    }
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn seek_to_last(&mut self) {
        match self {
            Iter::Db(it) => it.seek_to_last(),
            Iter::Merged(m) => m.backward(None, true),
        }
    }
    pub fn next(&mut self) {
        match self {
            Iter::Db(it) => it.next(),
            Iter::Merged(m) => {
                if let Some((k, _)) = m.cur.take() {
                    m.forward(Some(&k), false);
                }
            }
        }
    }
    pub fn prev(&mut self) {
        match self {
            Iter::Db(it) => it.prev(),
            Iter::Merged(m) => {
                if let Some((k, _)) = m.cur.take() {
                    m.backward(Some(&k), false);
                }
            }
        }
    }
    pub fn valid(&self) -> bool {
        match self {
            Iter::Db(it) => it.valid(),
            Iter::Merged(m) => m.cur.is_some(),
        }
    }
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Iter::Db(it) => it.key(),
            Iter::Merged(m) => m.cur.as_ref().map(|(k, _)| k.as_slice()),
        }
    }
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Iter::Db(it) => it.value(),
            Iter::Merged(m) => m.cur.as_ref().map(|(_, v)| v.as_slice()),
        }
    }
    pub fn status(&self) -> Result<()> {
        match self {
            Iter::Db(it) => it.status().map_err(Error::from),
            Iter::Merged(m) => m.base.status().map_err(Error::from),
        }
    }
}

/// The engine's iterator with the overlay's entries of the same range laid over it. Each step
/// re-seeks the engine iterator: transactions are short, simplicity wins here.
pub(crate) struct Merged<'a> {
    base: RawIter<'a>,
    /// The overlay's entries within the bounds, sorted.
    over: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Ranges deleted by the transaction: engine keys in them are hidden.
    hidden: Vec<(Vec<u8>, Vec<u8>)>,
    cur: Option<(Vec<u8>, Vec<u8>)>,
}

impl Merged<'_> {
    fn shadowed(&self, k: &[u8]) -> bool {
        self.over
            .binary_search_by(|(o, _)| o.as_slice().cmp(k))
            .is_ok()
    }

    /// Positions on the first visible key `>= from` (`> from` unless `inclusive`; the first
    /// key of all without `from`).
    fn forward(&mut self, from: Option<&[u8]>, inclusive: bool) {
        match from {
            Some(k) => {
                self.base.seek(k);
                if !inclusive && self.base.key() == Some(k) {
                    self.base.next();
                }
            }
            None => self.base.seek_to_first(),
        }
        while let Some(bk) = self.base.key() {
            if let Some(r) = in_ranges(&self.hidden, bk) {
                let end = self.hidden[r].1.clone();
                self.base.seek(&end);
            } else if self.shadowed(bk) {
                self.base.next();
            } else {
                break;
            }
        }
        let start = match from {
            None => 0,
            Some(k) => self.over.partition_point(|(o, _)| {
                if inclusive {
                    o.as_slice() < k
                } else {
                    o.as_slice() <= k
                }
            }),
        };
        let over = self.over[start..].iter().position(|(_, v)| v.is_some());
        self.settle(over.map(|i| start + i), true);
    }

    /// Positions on the last visible key `<= from` (`< from` unless `inclusive`; the last key
    /// of all without `from`).
    fn backward(&mut self, from: Option<&[u8]>, inclusive: bool) {
        match from {
            Some(k) => {
                self.base.seek_for_prev(k);
                if !inclusive && self.base.key() == Some(k) {
                    self.base.prev();
                }
            }
            None => self.base.seek_to_last(),
        }
        while let Some(bk) = self.base.key() {
            if let Some(r) = in_ranges(&self.hidden, bk) {
                let start = self.hidden[r].0.clone();
                self.base.seek_for_prev(&start);
                if self.base.key() == Some(start.as_slice()) {
                    self.base.prev();
                }
            } else if self.shadowed(bk) {
                self.base.prev();
            } else {
                break;
            }
        }
        let end = match from {
            None => self.over.len(),
            Some(k) => self.over.partition_point(|(o, _)| {
                if inclusive {
                    o.as_slice() <= k
                } else {
                    o.as_slice() < k
                }
            }),
        };
        let over = self.over[..end].iter().rposition(|(_, v)| v.is_some());
        self.settle(over, false);
    }

    /// Makes the current entry the nearer (in the walk's direction) of the engine iterator's
    /// entry and the overlay entry at `over`.
    fn settle(&mut self, over: Option<usize>, forward: bool) {
        let over = over.map(|i| {
            let (k, v) = &self.over[i];
            (k.clone(), v.clone().unwrap_or_default())
        });
        let base = self
            .base
            .key()
            .zip(self.base.value())
            .map(|(k, v)| (k.to_vec(), v.to_vec()));
        self.cur = match (base, over) {
            (Some(b), Some(o)) => Some(if (b.0 < o.0) == forward { b } else { o }),
            (b, o) => b.or(o),
        };
    }
}

/// Whether a watched key was there when WATCH ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    Absent,
    /// Its record was there but already expired (Redis: touching it later is no change).
    Stale,
    Live,
}

/// What WATCH remembers of one key.
#[derive(Clone, Debug)]
pub struct WatchToken {
    /// The database watched (logical) and where its data was (physical).
    logical: KeyspaceId,
    swaps: u64,
    ks: KeyspaceId,
    key: Vec<u8>,
    counter: u32,
    seen: u64,
    flush_ks: u64,
    flush_all: u64,
    presence: Presence,
}

/// A running unit (transaction or key batch): owns its write context (whose overlay collects
/// the writes) and holds the gate or the unit's key locks; dropping it without a commit
/// discards every pending write.
pub struct Txn<'a> {
    storage: &'a Storage,
    cx: WriteCx,
    /// `None` for a key batch (see [`Storage::begin_key_batch`]).
    _gate: Option<RwLockWriteGuard<'a, ()>>,
    _locks: Option<KeyLocks<'a>>,
}

impl Storage {
    /// Takes the gate exclusively: waits until no other command is writing, then keeps every
    /// other writer out until the guard is dropped.
    pub fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a transaction: waits until no other command is writing, then keeps every other
    /// writer out until the transaction ends.
    pub fn begin_txn(&self) -> Txn<'_> {
        let gate = self.exclusive();
        let cx = WriteCx::new();
        *cx.overlay.borrow_mut() = Some(Overlay::new(self.cf_ids));
        Txn {
            storage: self,
            cx,
            _gate: Some(gate),
            _locks: None,
        }
    }

    /// Starts a *key batch*: like a transaction (the writes of several commands collected
    /// and committed as one batch, each command reading the writes before it) but without
    /// the gate, under the locks `locks` of the only keys the commands touch (the commit
    /// bumps the modification counters of the keys each write locked, or of all of `locks`
    /// for a write that locked nothing).
    pub fn begin_key_batch<'a>(&'a self, locks: KeyLocks<'a>) -> Txn<'a> {
        let cx = WriteCx::new();
        *cx.overlay.borrow_mut() = Some(Overlay::new(self.cf_ids));
        cx.unit_held.borrow_mut().extend_from_slice(&locks.counters);
        Txn {
            storage: self,
            cx,
            _gate: None,
            _locks: Some(locks),
        }
    }

    /// WATCH of `key` in logical keyspace `logical`: remembers the key's state for
    /// [`Txn::intact`].
    pub fn watch(&self, logical: KeyspaceId, key: &[u8]) -> Result<WatchToken> {
        let swaps = self.swap_count(logical);
        let ks = self.committed_physical(logical);
        let counter = Self::counter_of(ks, key);
        let seen = self.mod_counters[counter as usize].load(Ordering::Acquire);
        let (flush_ks, flush_all) = self.flush_epochs(ks);
        let presence = self.presence(ks, key)?;
        Ok(WatchToken {
            logical,
            swaps,
            ks,
            key: key.to_vec(),
            counter,
            seen,
            flush_ks,
            flush_all,
            presence,
        })
    }

    /// Whether a key is there, in the engine (WATCH and EXEC's check read no overlay).
    fn presence(&self, ks: KeyspaceId, key: &[u8]) -> Result<Presence> {
        let raw = self
            .db
            .get_pinned_cf(self.cf(CF_META)?, encoding::meta_key(ks, key))?;
        Ok(match raw {
            None => Presence::Absent,
            Some(raw) => {
                if Meta::decode(&raw)?.is_expired(crate::engine::now_ms()) {
                    Presence::Stale
                } else {
                    Presence::Live
                }
            }
        })
    }
}

impl<'a> Db<'a> {
    /// Folds a batch into the running unit (called by [`Db::write`]).
    pub(crate) fn fold_into_txn(&self, batch: WriteBatch, touched: &[u32]) -> Result<()> {
        let bad = self.with_overlay(|o| {
            o.touched.extend_from_slice(touched);
            o.writes += 1;
            if o.pristine() {
                o.stash = Some(batch);
                return false;
            }
            o.materialize();
            let ids = o.ids;
            batch.iterate_cf(&mut Fold {
                overlay: o,
                ids: &ids,
            });
            o.unsupported
        });
        if bad == Some(true) {
            return Err(Error::Corrupt(
                "a write of this command cannot run inside a transaction".into(),
            ));
        }
        Ok(())
    }

    /// A value of one column family, as the running unit sees it.
    pub(crate) fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Val<'a>>> {
        if self.in_unit() {
            let i = crate::engine::cf_index(cf);
            if let Some(Lookup::Own(v)) = self.with_overlay(|o| o.lookup(i, key)) {
                return Ok(v.map(Val::Owned));
            }
        }
        let s = self.s;
        Ok(s.db.get_pinned_cf(s.cf(cf)?, key)?.map(Val::Pinned))
    }

    /// Many values of one column family in one batched lookup.
    pub(crate) fn multi_get_raw(
        &self,
        cf: &str,
        keys: &[Vec<u8>],
        sorted: bool,
    ) -> Result<Vec<Result<Option<Val<'a>>>>> {
        if self.in_unit() {
            return Ok(keys.iter().map(|k| self.get_raw(cf, k)).collect());
        }
        let s = self.s;
        Ok(s.db
            .batched_multi_get_cf(s.cf(cf)?, keys, sorted)
            .into_iter()
            .map(|r| r.map(|v| v.map(Val::Pinned)).map_err(Error::from))
            .collect())
    }

    /// An iterator over `[lower, upper)` of one column family, as the running transaction
    /// sees it. The bounds let RocksDB stop at the range's end instead of stepping over
    /// deletion markers beyond it (after many pops from one end of a list, say).
    pub(crate) fn iter(&self, cf: &str, lower: Vec<u8>, upper: Vec<u8>) -> Result<Iter<'a>> {
        let over = if self.in_unit() {
            let i = crate::engine::cf_index(cf);
            self.with_overlay(|o| {
                o.materialize();
                let over: Vec<(Vec<u8>, Option<Vec<u8>>)> = o.maps[i]
                    .range::<[u8], _>((
                        Bound::Included(lower.as_slice()),
                        Bound::Excluded(upper.as_slice()),
                    ))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (over, o.ranges[i].clone())
            })
        } else {
            None
        };
        let mut ro = rust_rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(lower);
        ro.set_iterate_upper_bound(upper);
        let s = self.s;
        let base = s.db.raw_iterator_cf_opt(s.cf(cf)?, ro);
        Ok(match over {
            Some((over, hidden)) if !over.is_empty() || !hidden.is_empty() => {
                Iter::Merged(Box::new(Merged {
                    base,
                    over,
                    hidden,
                    cur: None,
                }))
            }
            _ => Iter::Db(base),
        })
    }
}

impl Txn<'_> {
    /// Whether a watched key is untouched since WATCH (Redis's rules: a key that was live and
    /// has expired since counts as touched; a key that was already expired does not count
    /// as touched when it is merely deleted or flushed).
    pub fn intact(&self, t: &WatchToken) -> Result<bool> {
        let s = self.storage;
        let now = s.presence(t.ks, &t.key)?;
        if s.swap_count(t.logical) != t.swaps {
            // SWAPDB replaced the watched database: as in Redis, the key counts as touched
            // if it is there on either side of the swap.
            let swapped_in = s.presence(s.committed_physical(t.logical), &t.key)?;
            return Ok(now != Presence::Live && swapped_in != Presence::Live);
        }
        if s.mod_counters[t.counter as usize].load(Ordering::Acquire) != t.seen
            && !(t.presence == Presence::Stale && now != Presence::Live)
        {
            return Ok(false);
        }
        if t.presence == Presence::Live {
            if s.flush_epochs(t.ks) != (t.flush_ks, t.flush_all) {
                return Ok(false);
            }
            if now != Presence::Live {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The engine seen through this unit: reads see its pending writes, writes join them.
    pub fn db(&self) -> Db<'_> {
        self.storage.db(&self.cx)
    }

    /// Stops the expiry clock of this unit (records being applied, see
    /// [`WriteCx::freeze_clock`]).
    pub fn freeze_clock(&self) {
        self.cx.freeze_clock(true);
    }

    /// Writes the unit's net effect as one batch. On error nothing was written. Returns the
    /// write sequence to pass to [`Storage::wal_barrier`] before acknowledging it.
    pub fn commit(self) -> Result<u64> {
        self.finish(Vec::new(), None)
    }

    /// Like [`Txn::commit`], with the log records describing it (appended to the log first,
    /// atomically with the batch; see [`Storage::write_logged`]).
    pub fn commit_logged(self, records: Vec<Vec<u8>>) -> Result<u64> {
        self.finish(records, None)
    }

    /// Commits the effect of the log record at `offset`, written on commit lane `lane`, already
    /// in the log (replay).
    pub fn commit_replayed(self, offset: u64, lane: u8) -> Result<u64> {
        self.finish(Vec::new(), Some((offset, lane)))
    }

    fn finish(self, mut records: Vec<Vec<u8>>, at: Option<(u64, u8)>) -> Result<u64> {
        let Some(mut overlay) = self.cx.overlay.borrow_mut().take() else {
            return Ok(0);
        };
        let batch = overlay.take_batch(self.storage)?;
        // Records without any write (PUBLISH, logged for replicas) still take their offsets.
        if batch.is_empty() && at.is_none() && records.is_empty() {
            return Ok(0);
        }
        let seq = self
            .storage
            .write_logged(batch, &mut records, at, self.cx.lane)?;
        self.storage.bump(&overlay.touched);
        for ks in overlay.flushed {
            self.storage.bump_flush(ks);
        }
        self.storage.dbmap.apply(&overlay.swaps);
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::engine::test_storage;
    use crate::{End, SetCond, SetExpiry};

    fn set(s: &crate::Db<'_>, k: &[u8], v: &[u8]) {
        s.set(
            0,
            k,
            Bytes::copy_from_slice(v),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
    }

    #[test]
    fn transaction_reads_its_own_writes_and_commits_once() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        s.push(
            0,
            b"l",
            End::Right,
            &[Bytes::from("a"), Bytes::from("b")],
            false,
        )
        .unwrap();
        set(&s, b"gone", b"x");
        let txn = s.begin_txn();
        let t = txn.db();
        set(&t, b"k", b"v");
        assert_eq!(t.get(0, b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            s.get(0, b"k").unwrap(),
            None,
            "not visible outside before the commit"
        );
        t.push(0, b"l", End::Right, &[Bytes::from("c")], false)
            .unwrap();
        t.pop(0, b"l", End::Left, 1).unwrap();
        assert_eq!(
            t.lrange(0, b"l", 0, -1).unwrap(),
            vec![Bytes::from("b"), Bytes::from("c")]
        );
        t.del(0, &[Bytes::from("gone")]).unwrap();
        assert_eq!(t.get(0, b"gone").unwrap(), None);
        let seq_before = s.written_batches();
        txn.commit().unwrap();
        assert_eq!(s.written_batches(), seq_before + 1, "one batch per EXEC");
        assert_eq!(s.get(0, b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(s.get(0, b"gone").unwrap(), None);
        assert_eq!(
            s.lrange(0, b"l", 0, -1).unwrap(),
            vec![Bytes::from("b"), Bytes::from("c")]
        );
    }

    #[test]
    fn merged_iterator_walks_both_ways() {
        use crate::engine::CF_DEFAULT;
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let cf = s.cf(CF_DEFAULT).unwrap();
        for k in ["a", "c", "e", "g"] {
            s.db.put_cf(cf, format!("x{k}"), k).unwrap();
        }
        let txn = s.begin_txn();
        let s = txn.db();
        let mut b = rust_rocksdb::WriteBatch::default();
        b.put_cf(cf, "xb", "B");
        b.delete_cf(cf, "xc");
        b.put_cf(cf, "xe", "E");
        b.put_cf(cf, "xh", "H");
        s.write(b).unwrap();
        let collect = |forward: bool| {
            let mut it = s.iter(CF_DEFAULT, b"x".to_vec(), b"y".to_vec()).unwrap();
            let mut out = Vec::new();
            if forward {
                it.seek_to_first();
            } else {
                it.seek_to_last();
            }
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                out.push(format!(
                    "{}={}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ));
                if forward {
                    it.next()
                } else {
                    it.prev()
                }
            }
            it.status().unwrap();
            out.join(",")
        };
        assert_eq!(collect(true), "xa=a,xb=B,xe=E,xg=g,xh=H");
        assert_eq!(collect(false), "xh=H,xg=g,xe=E,xb=B,xa=a");
        let mut it = s.iter(CF_DEFAULT, b"x".to_vec(), b"y".to_vec()).unwrap();
        it.seek(b"xc");
        assert_eq!(it.key(), Some(&b"xe"[..]));
        it.seek_for_prev(b"xd");
        assert_eq!(it.key(), Some(&b"xb"[..]));
        assert!(it.valid());
    }

    #[test]
    fn dropped_transaction_writes_nothing() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        {
            let txn = s.begin_txn();
            set(&txn.db(), b"k", b"v");
        }
        assert_eq!(s.get(0, b"k").unwrap(), None);
    }

    #[test]
    fn flush_inside_transaction_hides_engine_keys_but_not_later_writes() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        set(&s, b"a", b"1");
        set(&s, b"b", b"2");
        let txn = s.begin_txn();
        let t = txn.db();
        set(&t, b"c", b"3");
        t.flushdb(0).unwrap();
        set(&t, b"d", b"4");
        assert_eq!(t.get(0, b"a").unwrap(), None);
        assert_eq!(t.get(0, b"c").unwrap(), None);
        assert_eq!(t.dbsize(0).unwrap().0, 1);
        txn.commit().unwrap();
        assert_eq!(s.dbsize(0).unwrap().0, 1);
        assert_eq!(s.get(0, b"d").unwrap().as_deref(), Some(&b"4"[..]));
    }

    #[test]
    fn watch_sees_writes_flushes_and_expiry() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        set(&s, b"k", b"v");
        let t = s.watch(0, b"k").unwrap();
        let other = s.watch(0, b"other").unwrap();
        {
            let txn = s.begin_txn();
            assert!(txn.intact(&t).unwrap());
        }
        set(&s, b"k", b"v");
        let txn = s.begin_txn();
        assert!(
            !txn.intact(&t).unwrap(),
            "a write of the same value touches"
        );
        assert!(txn.intact(&other).unwrap());
        drop(txn);
        let t = s.watch(0, b"k").unwrap();
        s.flushall().unwrap();
        let txn = s.begin_txn();
        assert!(!txn.intact(&t).unwrap(), "FLUSHALL touches a live key");
        assert!(
            txn.intact(&other).unwrap(),
            "FLUSHALL leaves absent keys alone"
        );
    }
}
