//! Order statistics for large sorted sets: ZRANK / ZREVRANK (and rank-based ranges) without
//! scanning the collection.
//!
//! A sorted set with at least [`INDEX_FROM`] members gets *fences* in the `rank` column family:
//! keys laid out like its score-index entries (`sub prefix | encoded score | member`), each
//! with the number of members from that fence up to the next one. The first fence is the bare
//! prefix (it covers everything below the second). The rank of a member is the sum of the
//! counts of the fences before its own, plus the members between its fence and itself: about
//! `N / BLOCK + 2 * BLOCK` steps instead of `N`.
//!
//! Maintenance: every batch that adds or removes score-index entries passes through
//! [`Storage::maintain_ranks`] (called by `Storage::write`, under the key locks): each entry's
//! fence count is adjusted in the same batch, so counts are exact at every commit. Blocks that
//! grow past `2 * BLOCK`, and large sets not indexed yet, are queued; the background task
//! ([`Storage::rank_maintenance`]) splits or builds them under the key lock. Fences of a deleted
//! or overwritten set carry its old version and are reclaimed by the compaction filter.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_rocksdb::{WriteBatch, WriteBatchIteratorCf};

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::{cf_index, CF_META, CF_RANK, CF_SCORE};
use crate::Result;

/// Target members per block.
pub const BLOCK: u64 = 1024;
/// A block is split when it holds more than this.
const SPLIT_AT: u64 = 2 * BLOCK;
/// Sorted sets smaller than this are not indexed (a scan of them is cheap).
pub const INDEX_FROM: u64 = 2048;

/// Fence keys of sorted sets, by sub prefix, in order (`None`: the set is not indexed).
/// Fences are only ever created by the background task (which refreshes the entry under the
/// key lock) and never deleted while the set lives (an empty block keeps a zero count), so a
/// cached list is exact; a missing entry is loaded from the engine. Bounded: cleared when full.
pub(crate) type FenceCache =
    std::sync::Mutex<HashMap<Vec<u8>, Option<std::sync::Arc<Vec<Vec<u8>>>>>>;
const FENCE_CACHE_MAX: usize = 100_000;

/// Length of the `ks | keylen | key | version` prefix of a sub/score/rank key.
fn prefix_len(raw: &[u8]) -> Option<usize> {
    let (_, key, _, _) = encoding::split_sub_key(raw)?;
    Some(8 + key.len() + 8)
}

fn count_of(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[derive(Default)]
struct Collect {
    score_id: u32,
    meta_id: u32,
    /// Score-index entries added (+1) or removed (-1), in batch order.
    ops: Vec<(Vec<u8>, i64)>,
    /// Sorted-set metadata written: (ks, key, version, size).
    metas: Vec<(KeyspaceId, Vec<u8>, u64, u64)>,
}

impl WriteBatchIteratorCf for Collect {
    fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
        if cf_id == self.score_id {
            self.ops.push((key.to_vec(), 1));
        } else if cf_id == self.meta_id {
            if let (Some((ks, k)), Ok(m)) = (encoding::split_meta_key(key), Meta::decode(value)) {
                if m.ty == KeyType::ZSet {
                    self.metas.push((ks, k.to_vec(), m.version, m.size));
                }
            }
        }
    }
    fn delete_cf(&mut self, cf_id: u32, key: &[u8]) {
        if cf_id == self.score_id {
            self.ops.push((key.to_vec(), -1));
        }
    }
    fn merge_cf(&mut self, _: u32, _: &[u8], _: &[u8]) {}
}

type Fences = Option<std::sync::Arc<Vec<Vec<u8>>>>;

impl Db<'_> {
    fn rank_key_exists(&self, k: &[u8]) -> Result<bool> {
        Ok(self.fences(k)?.is_some())
    }

    /// The fence keys of the set with `prefix` (cached).
    fn fences(&self, prefix: &[u8]) -> Result<Fences> {
        if let Some(f) = self
            .rank_fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(prefix)
        {
            return Ok(f.clone());
        }
        let loaded = self.load_fences(prefix)?;
        let mut cache = self.rank_fences.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= FENCE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(prefix.to_vec(), loaded.clone());
        Ok(loaded)
    }

    fn load_fences(&self, prefix: &[u8]) -> Result<Fences> {
        let mut keys = Vec::new();
        let mut it = self.prefix_iter(CF_RANK, prefix)?;
        it.seek(prefix);
        while let Some(k) = it.key() {
            keys.push(k.to_vec());
            it.next();
        }
        it.status()?;
        Ok((!keys.is_empty()).then(|| std::sync::Arc::new(keys)))
    }

    /// Re-reads the fences of a set after the background task changed them.
    fn refresh_fences(&self, prefix: &[u8]) -> Result<()> {
        let loaded = self.load_fences(prefix)?;
        self.rank_fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix.to_vec(), loaded);
        Ok(())
    }

    /// The fence covering score-index entry `entry` of the set with `prefix`.
    fn fence_of(&self, prefix: &[u8], entry: &[u8]) -> Result<Vec<u8>> {
        let Some(fences) = self.fences(prefix)? else {
            return Ok(prefix.to_vec());
        };
        let i = fences.partition_point(|f| f.as_slice() <= entry);
        Ok(fences
            .get(i.saturating_sub(1))
            .cloned()
            .unwrap_or_else(|| prefix.to_vec()))
    }

    /// Adjusts fence counts for the score-index entries `batch` adds or removes (see the
    /// module comment). Called with the key locks of the batch's sets held.
    pub(crate) fn maintain_ranks(&self, batch: &mut WriteBatch) -> Result<()> {
        if !self.cx.score_touched.replace(false) {
            return Ok(());
        }
        let mut c = Collect {
            score_id: self.cf_ids[cf_index(CF_SCORE)],
            meta_id: self.cf_ids[cf_index(CF_META)],
            ..Default::default()
        };
        batch.iterate_cf(&mut c);
        let mut indexed: HashMap<Vec<u8>, bool> = HashMap::new();
        let mut deltas: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (entry, d) in &c.ops {
            let Some(plen) = prefix_len(entry) else {
                continue;
            };
            let prefix = &entry[..plen];
            let is_indexed = match indexed.get(prefix) {
                Some(&x) => x,
                None => {
                    let x = self.rank_key_exists(prefix)?;
                    indexed.insert(prefix.to_vec(), x);
                    x
                }
            };
            if is_indexed {
                *deltas.entry(self.fence_of(prefix, entry)?).or_insert(0) += d;
            }
        }
        let rank_cf = self.cf(CF_RANK)?;
        let mut queue = BTreeSet::new();
        for (fence, d) in deltas {
            if d == 0 {
                continue;
            }
            let cur = self.get_raw(CF_RANK, &fence)?.map_or(0, |v| count_of(&v));
            let new = (cur as i64 + d).max(0) as u64;
            let plen = prefix_len(&fence).unwrap_or(fence.len());
            // An empty block keeps its fence (count 0): fences only change in the background.
            batch.put_cf(rank_cf, &fence, new.to_be_bytes());
            if new > SPLIT_AT {
                queue.insert(fence[..plen].to_vec());
            }
        }
        for (ks, key, version, size) in c.metas {
            let prefix = encoding::sub_prefix(ks, &key, version);
            if size >= INDEX_FROM && !indexed.get(&prefix).copied().unwrap_or(false) {
                queue.insert(prefix);
            }
        }
        if !queue.is_empty() {
            let mut q = self.rank_queue.lock().unwrap_or_else(|p| p.into_inner());
            q.extend(queue);
        }
        Ok(())
    }

    /// Background work: builds the index of large sets and splits oversized blocks, for up to
    /// `max` sets. Returns how many were processed.
    pub fn rank_maintenance(&self, max: usize) -> Result<usize> {
        let todo: Vec<Vec<u8>> = {
            let mut q = self.rank_queue.lock().unwrap_or_else(|p| p.into_inner());
            let items: Vec<Vec<u8>> = q.iter().take(max).cloned().collect();
            for i in &items {
                q.remove(i);
            }
            items
        };
        for prefix in &todo {
            self.reindex_blocks(prefix)?;
        }
        Ok(todo.len())
    }

    /// Builds or rebalances the fences of the set with `prefix` (if it still exists).
    fn reindex_blocks(&self, prefix: &[u8]) -> Result<()> {
        let Some((ks, key, version, _)) = encoding::split_sub_key(prefix) else {
            return Ok(());
        };
        let _l = self.lock(&[(ks, key)]);
        let Some(meta) = self.get_meta(ks, key, self.now_ms())? else {
            return Ok(());
        };
        if meta.ty != KeyType::ZSet || meta.version != version {
            return Ok(());
        }
        let mut b = WriteBatch::default();
        if !self.rank_key_exists(prefix)? {
            if meta.size < INDEX_FROM {
                return Ok(());
            }
            // Build: one pass over the set, a fence every BLOCK members.
            self.write_fences(&mut b, prefix, prefix, None, meta.size)?;
        } else {
            // Split every block over the limit.
            let mut fences = Vec::new();
            let mut it = self.prefix_iter(CF_RANK, prefix)?;
            it.seek(prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                fences.push((k.to_vec(), count_of(v)));
                it.next();
            }
            it.status()?;
            drop(it);
            for (i, (f, n)) in fences.iter().enumerate() {
                if *n > SPLIT_AT {
                    let next = fences.get(i + 1).map(|(k, _)| k.as_slice());
                    self.write_fences(&mut b, prefix, f, next, *n)?;
                }
            }
        }
        self.write(b)?;
        self.refresh_fences(prefix)
    }

    /// Writes fences over the block `[from, to)` (holding `n` members): `from` keeps the first
    /// BLOCK members, a new fence starts every BLOCK members after.
    fn write_fences(
        &self,
        b: &mut WriteBatch,
        prefix: &[u8],
        from: &[u8],
        to: Option<&[u8]>,
        n: u64,
    ) -> Result<()> {
        let rank_cf = self.cf(CF_RANK)?;
        let upper = to
            .map(|t| t.to_vec())
            .unwrap_or_else(|| crate::engine::prefix_successor(prefix));
        let lower = if from.len() > prefix.len() {
            from.to_vec()
        } else {
            prefix.to_vec()
        };
        let mut it = self.iter(CF_SCORE, lower, upper)?;
        it.seek_to_first();
        let mut current = from.to_vec();
        let mut count = 0u64;
        let mut seen = 0u64;
        while let Some(k) = it.key() {
            if count == BLOCK && n.saturating_sub(seen) > BLOCK / 2 {
                b.put_cf(rank_cf, &current, count.to_be_bytes());
                current = k.to_vec();
                count = 0;
            }
            count += 1;
            seen += 1;
            it.next();
        }
        it.status()?;
        b.put_cf(rank_cf, &current, count.to_be_bytes());
        Ok(())
    }

    /// The number of members ordered before score-index entry `target` of the set with
    /// `prefix`, using the fences; `None` if the set is not indexed.
    pub(crate) fn indexed_rank(&self, prefix: &[u8], target: &[u8]) -> Result<Option<u64>> {
        let Some(fences) = self.fences(prefix)? else {
            return Ok(None);
        };
        // Counts of the blocks before the target's own: point lookups (the newest count of a
        // fence is one lookup away, however often it was rewritten).
        let j = fences
            .partition_point(|f| f.as_slice() <= target)
            .saturating_sub(1);
        let mut steps = j as u64;
        let mut rank = 0u64;
        for c in self.multi_get_raw(CF_RANK, &fences[..j], true)? {
            rank += c?.map_or(0, |v| count_of(&v));
        }
        let fence = fences[j].clone();
        // Members between the fence and the target.
        let lower = if fence.len() > prefix.len() {
            fence
        } else {
            prefix.to_vec()
        };
        let mut it = self.iter(CF_SCORE, lower, target.to_vec())?;
        it.seek_to_first();
        while it.key().is_some() {
            rank += 1;
            steps += 1;
            it.next();
        }
        it.status()?;
        self.cx.rank_steps.set(steps);
        Ok(Some(rank))
    }

    /// Score-index entries at forward ranks `from..=to` of the set with `prefix`, found
    /// through the fences (no walk over the members before `from`); `None` if not indexed.
    pub(crate) fn indexed_range(
        &self,
        prefix: &[u8],
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        if from < BLOCK {
            return Ok(None);
        }
        let Some(fences) = self.fences(prefix)? else {
            return Ok(None);
        };
        let mut start = prefix.to_vec();
        let mut skip = from;
        let mut steps = 0u64;
        for (f, c) in fences
            .iter()
            .zip(self.multi_get_raw(CF_RANK, &fences, true)?)
        {
            let n = c?.map_or(0, |v| count_of(&v));
            steps += 1;
            start = f.clone();
            if skip < n {
                break;
            }
            skip -= n;
        }
        let mut out = Vec::new();
        let mut it = self.iter(CF_SCORE, start, crate::engine::prefix_successor(prefix))?;
        it.seek_to_first();
        let mut i = 0u64;
        while let Some(k) = it.key() {
            steps += 1;
            if i >= skip {
                out.push(k.to_vec());
                if out.len() as u64 > to - from {
                    break;
                }
            }
            i += 1;
            it.next();
        }
        it.status()?;
        self.cx.rank_steps.set(steps);
        Ok(Some(out))
    }

    /// Whether the set with `prefix` waits for indexing (tests).
    #[cfg(test)]
    pub(crate) fn rank_queued(&self) -> usize {
        self.rank_queue.lock().map(|q| q.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::engine::test_storage;
    use crate::ZaddFlags;

    fn naive_rank(s: &crate::Db<'_>, member: &[u8]) -> u64 {
        let all = s.zall(0, b"z").unwrap();
        all.iter().position(|(m, _)| m.as_ref() == member).unwrap() as u64
    }

    fn drain(s: &crate::Db<'_>) {
        while s.rank_queued() > 0 {
            s.rank_maintenance(16).unwrap();
        }
    }

    #[test]
    fn ranks_of_a_large_set_come_from_the_fences() {
        let (_d, s) = test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let n = 20_000u64;
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let pairs: Vec<(f64, Bytes)> = chunk
                .iter()
                .map(|&i| (i as f64, Bytes::from(format!("m{i:06}"))))
                .collect();
            s.zadd(0, b"z", ZaddFlags::default(), &pairs).unwrap();
        }
        assert!(s.rank_queued() > 0, "a large set is queued for indexing");
        drain(&s);
        for i in [0u64, 1, 1023, 1024, 5000, 12_345, n - 1] {
            let m = format!("m{i:06}");
            assert_eq!(s.zrank(0, b"z", m.as_bytes(), false).unwrap().unwrap().0, i);
            assert!(
                cx.rank_steps() < 2 * 2048 + 64,
                "rank walked {} entries",
                cx.rank_steps()
            );
            assert_eq!(
                s.zrank(0, b"z", m.as_bytes(), true).unwrap().unwrap().0,
                n - 1 - i
            );
        }
        // Updates keep the counts exact: removals, moves (new scores), inserts in one block.
        let gone: Vec<Bytes> = (0..n)
            .step_by(7)
            .map(|i| Bytes::from(format!("m{i:06}")))
            .collect();
        s.zrem(0, b"z", &gone).unwrap();
        let moved: Vec<(f64, Bytes)> = (1..n)
            .step_by(13)
            .map(|i| (-(i as f64), Bytes::from(format!("m{i:06}"))))
            .collect();
        s.zadd(0, b"z", ZaddFlags::default(), &moved).unwrap();
        let burst: Vec<(f64, Bytes)> = (0..5000)
            .map(|i| (100.5, Bytes::from(format!("burst{i:05}"))))
            .collect();
        s.zadd(0, b"z", ZaddFlags::default(), &burst).unwrap();
        drain(&s);
        for m in [
            "m000001",
            "m000014",
            "m010002",
            "burst00000",
            "burst04999",
            "m019999",
        ] {
            if let Some((r, _)) = s.zrank(0, b"z", m.as_bytes(), false).unwrap() {
                assert_eq!(r, naive_rank(&s, m.as_bytes()), "{m}");
            }
        }
        // Rank ranges far from either end jump through the fences.
        let all = s.zall(0, b"z").unwrap();
        let got = s.zrange_by_rank(0, b"z", 9000, 9004, false).unwrap();
        assert_eq!(got, all[9000..=9004].to_vec());
        assert!(cx.rank_steps() < 2 * 2048 + 64);
        let got = s.zrange_by_rank(0, b"z", 9000, 9004, true).unwrap();
        let mut want = all[all.len() - 9005..all.len() - 9000].to_vec();
        want.reverse();
        assert_eq!(got, want);
    }
}
