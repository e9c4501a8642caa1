//! SWAPDB: which keyspace holds the data of each database.
//!
//! A client selects a *logical* keyspace (database `n` of its namespace is `base + n`); the
//! data of that database lives in a *physical* keyspace, the `ks` of every stored key. They
//! are the same until SWAPDB exchanges two databases: it swaps their physical keyspaces in
//! this map (O(1), no key is touched). The map holds only the entries that differ from the
//! identity, persisted in the `default` column family as `\0strata:dbmap:` + logical id (u32
//! BE) → physical id (u32 BE), written in the SWAPDB's own batch (so it travels with
//! checkpoints, snapshots and full syncs, and replay rebuilds it record by record).
//!
//! A swap inside a transaction is pending until the commit: the thread running it already
//! resolves through it (the commands after SWAPDB in the same EXEC see the swapped
//! databases), every other thread sees it once the batch is in the engine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use rust_rocksdb::WriteBatch;

use crate::cx::{Db, WriteCx};
use crate::encoding::{be_u32, KeyspaceId};
use crate::engine::{Storage, CF_DEFAULT};
use crate::{Error, Result};

const PREFIX: &[u8] = b"\x00strata:dbmap:";

fn map_key(logical: KeyspaceId) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&logical.to_be_bytes());
    k
}

#[derive(Default)]
pub(crate) struct DbMap {
    /// Some entry differs from the identity (the common case, none, costs one load).
    swapped: AtomicBool,
    /// Logical → physical, non-identity entries only.
    map: RwLock<HashMap<KeyspaceId, KeyspaceId>>,
    /// How many swaps each logical keyspace took part in (WATCH compares them).
    swaps: RwLock<HashMap<KeyspaceId, u64>>,
}

impl DbMap {
    fn committed(&self, logical: KeyspaceId) -> KeyspaceId {
        if !self.swapped.load(Ordering::Acquire) {
            return logical;
        }
        let m = self.map.read().unwrap_or_else(|p| p.into_inner());
        m.get(&logical).copied().unwrap_or(logical)
    }

    fn committed_inverse(&self, physical: KeyspaceId) -> KeyspaceId {
        if !self.swapped.load(Ordering::Acquire) {
            return physical;
        }
        let m = self.map.read().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .find(|(_, &p)| p == physical)
            .map_or(physical, |(&l, _)| l)
    }

    /// Applies committed swaps (at the commit of their batch).
    pub(crate) fn apply(&self, swaps: &[(KeyspaceId, KeyspaceId)]) {
        if swaps.is_empty() {
            return;
        }
        let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
        let mut counts = self.swaps.write().unwrap_or_else(|p| p.into_inner());
        for &(a, b) in swaps {
            let pa = m.get(&a).copied().unwrap_or(a);
            let pb = m.get(&b).copied().unwrap_or(b);
            for (l, p) in [(a, pb), (b, pa)] {
                if l == p {
                    m.remove(&l);
                } else {
                    m.insert(l, p);
                }
                *counts.entry(l).or_default() += 1;
            }
        }
        self.swapped.store(!m.is_empty(), Ordering::Release);
    }

    pub(crate) fn load(&self, entries: impl IntoIterator<Item = (KeyspaceId, KeyspaceId)>) {
        let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
        m.clear();
        m.extend(entries.into_iter().filter(|(l, p)| l != p));
        self.swapped.store(!m.is_empty(), Ordering::Release);
    }

    fn swap_count(&self, logical: KeyspaceId) -> u64 {
        let c = self.swaps.read().unwrap_or_else(|p| p.into_inner());
        c.get(&logical).copied().unwrap_or(0)
    }
}

fn swap_id(x: KeyspaceId, (a, b): (KeyspaceId, KeyspaceId)) -> KeyspaceId {
    if x == a {
        b
    } else if x == b {
        a
    } else {
        x
    }
}

impl Storage {
    /// The physical keyspace holding the data of logical keyspace `logical` (database
    /// `n` of a namespace with base `b` is logical `b + n`), as committed (a unit's view,
    /// with its own pending swaps, is [`Db::physical`]).
    pub fn committed_physical(&self, logical: KeyspaceId) -> KeyspaceId {
        self.dbmap.committed(logical)
    }

    /// How many committed swaps logical keyspace `logical` took part in.
    pub fn swap_count(&self, logical: KeyspaceId) -> u64 {
        self.dbmap.swap_count(logical)
    }
}

impl Db<'_> {
    /// Swaps pending in the running unit, oldest first.
    fn pending(&self) -> Vec<(KeyspaceId, KeyspaceId)> {
        self.with_overlay(|o| o.swaps.clone()).unwrap_or_default()
    }

    /// The physical keyspace holding the data of logical keyspace `logical` (database
    /// `n` of a namespace with base `b` is logical `b + n`), as this unit sees it.
    pub fn physical(&self, logical: KeyspaceId) -> KeyspaceId {
        let mut l = logical;
        // A swap pending here: newest first, then the committed map.
        for s in self.pending().into_iter().rev() {
            l = swap_id(l, s);
        }
        self.dbmap.committed(l)
    }

    /// The logical keyspace (the database clients select) whose data physical keyspace
    /// `physical` holds, as this unit sees it.
    pub fn logical(&self, physical: KeyspaceId) -> KeyspaceId {
        let mut l = self.dbmap.committed_inverse(physical);
        for s in self.pending() {
            l = swap_id(l, s);
        }
        l
    }

    /// SWAPDB: logical keyspaces `a` and `b` exchange their data (their physical keyspaces),
    /// in the running unit (or in a transaction of its own).
    pub fn swap_keyspaces(&self, a: KeyspaceId, b: KeyspaceId) -> Result<()> {
        if !self.in_unit() {
            let txn = self.begin_txn();
            txn.db().swap_keyspaces(a, b)?;
            let seq = txn.commit()?;
            self.cx.note_seq(seq);
            return Ok(());
        }
        let (pa, pb) = (self.physical(a), self.physical(b));
        let cf = self.cf(CF_DEFAULT)?;
        let mut batch = WriteBatch::default();
        for (l, p) in [(a, pb), (b, pa)] {
            if l == p {
                batch.delete_cf(cf, map_key(l));
            } else {
                batch.put_cf(cf, map_key(l), p.to_be_bytes());
            }
        }
        self.write(batch)?;
        self.with_overlay(|o| o.swaps.push((a, b)));
        Ok(())
    }
}

impl Storage {
    /// Reads the persisted map (at open).
    pub(crate) fn load_dbmap(&self) -> Result<()> {
        let mut upper = PREFIX.to_vec();
        upper.push(0xff);
        let cx = WriteCx::new();
        let mut it = self.db(&cx).iter(CF_DEFAULT, PREFIX.to_vec(), upper)?;
        it.seek_to_first();
        let mut entries = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.len() != PREFIX.len() + 4 || v.len() != 4 {
                return Err(Error::Corrupt("a database map entry is malformed".into()));
            }
            entries.push((be_u32(&k[PREFIX.len()..]), be_u32(v)));
            it.next();
        }
        it.status()?;
        self.dbmap.load(entries);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::engine::test_storage;
    use crate::{SetCond, SetExpiry};

    #[test]
    fn swaps_resolve_in_the_transaction_and_after_the_commit() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        s.set(
            0,
            b"k",
            Bytes::from("zero"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert_eq!((s.physical(0), s.physical(1)), (0, 1));
        let txn = s.begin_txn();
        let t = txn.db();
        t.swap_keyspaces(0, 1).unwrap();
        assert_eq!(
            (t.physical(0), t.physical(1)),
            (1, 0),
            "its own unit sees it"
        );
        assert_eq!((s.physical(0), s.physical(1)), (0, 1), "others do not yet");
        assert_eq!(t.logical(0), 1);
        t.swap_keyspaces(1, 2).unwrap();
        assert_eq!(
            (t.physical(0), t.physical(1), t.physical(2)),
            (1, 2, 0),
            "swaps compose in order"
        );
        assert_eq!((t.logical(0), t.logical(1), t.logical(2)), (2, 0, 1));
        txn.commit().unwrap();
        assert_eq!((s.physical(0), s.physical(1), s.physical(2)), (1, 2, 0));
        assert_eq!(s.swap_count(1), 2);
        assert_eq!(
            s.get(s.physical(2), b"k").unwrap().as_deref(),
            Some(&b"zero"[..])
        );
        // Dropped without a commit: nothing changes.
        {
            let txn = s.begin_txn();
            txn.db().swap_keyspaces(0, 2).unwrap();
        }
        assert_eq!(s.physical(0), 1);
        // Swapping back to the identity leaves no entry.
        s.swap_keyspaces(1, 2).unwrap();
        s.swap_keyspaces(0, 1).unwrap();
        assert_eq!((s.physical(0), s.physical(1), s.physical(2)), (0, 1, 2));
        assert!(!s.dbmap.swapped.load(std::sync::atomic::Ordering::Acquire));
    }

    #[test]
    fn the_map_survives_reopening() {
        let (d, s) = test_storage();
        let cx = crate::WriteCx::new();
        s.db(&cx).swap_keyspaces(3, 5).unwrap();
        drop(s);
        let s = crate::Storage::open(&crate::StorageOptions::new(d.path())).unwrap();
        let s = s.db(&cx);
        assert_eq!((s.physical(3), s.physical(5), s.logical(3)), (5, 3, 5));
        drop(d);
    }
}
