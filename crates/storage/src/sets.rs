//! Sets: a metadata record (type set, version, cardinality) and one empty-valued `sub` record
//! per member. SCARD is O(1), SISMEMBER one point lookup, DEL O(1).
//!
//! SRANDMEMBER seeks to a random position among the members: O(log N) for one member, not
//! perfectly uniform; with a count it reads the set (O(N)).
//!
//! SPOP pops members in member order (as Kvrocks does), not at random: popping at random
//! positions leaves deletion markers everywhere that later seeks must step over until
//! compaction (quadratic under a long SPOP loop). The set's metadata keeps a *pop watermark*
//! (its type-specific bytes): every member below it is gone, so the next SPOP seeks straight
//! past the markers. SADD of a member below the watermark lowers it.

use bytes::Bytes;
use rand::seq::SliceRandom;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::CF_SUB;
use crate::hashes::FieldPage;
use crate::Result;

/// Which combination of sets SINTER/SUNION/SDIFF compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Redis's sampling rule for SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a count: a
/// positive count gives distinct elements (at most all of them, in random order), a negative
/// one |count| elements that may repeat.
pub fn random_sample<T: Clone>(mut all: Vec<T>, count: i64) -> Vec<T> {
    use rand::Rng;
    if all.is_empty() || count == 0 {
        return Vec::new();
    }
    let mut rng = rand::rng();
    if count > 0 {
        all.shuffle(&mut rng);
        all.truncate(count as usize);
        all
    } else {
        (0..count.unsigned_abs())
            .map(|_| all[rng.random_range(0..all.len())].clone())
            .collect()
    }
}

/// Keeps the pop watermark's promise (no live member below it) when `member` is added.
fn lower_watermark(meta: &mut Meta, member: &[u8]) {
    if !meta.value.is_empty() && member < meta.value.as_ref() {
        meta.value = Bytes::copy_from_slice(member);
    }
}

impl Db<'_> {
    fn set_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>> {
        self.typed_meta(ks, key, now, KeyType::Set)
    }

    fn is_member(&self, ks: KeyspaceId, key: &[u8], version: u64, member: &[u8]) -> Result<bool> {
        Ok(self
            .get_raw(CF_SUB, &encoding::sub_key(ks, key, version, member))?
            .is_some())
    }

    fn members_of(&self, ks: KeyspaceId, key: &[u8], meta: &Meta) -> Result<Vec<Bytes>> {
        Ok(self
            .scan_members(ks, key, meta.version, None, usize::MAX, None)?
            .pairs
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// SADD: returns how many members were new.
    pub fn sadd(&self, ks: KeyspaceId, key: &[u8], members: &[Bytes]) -> Result<i64> {
        let _l = self.lock(&[(ks, key)]);
        let mut meta = match self.set_meta(ks, key, self.now_ms())? {
            Some(m) => m,
            None => self.new_collection(KeyType::Set),
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        let mut added = 0;
        let mut seen = std::collections::HashSet::new();
        for m in members {
            if seen.insert(m.clone()) && !self.is_member(ks, key, meta.version, m)? {
                b.put_cf(cf, encoding::sub_key(ks, key, meta.version, m), []);
                lower_watermark(&mut meta, m);
                added += 1;
            }
        }
        if added == 0 {
            return Ok(0);
        }
        meta.size += added as u64;
        self.put_meta(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(added)
    }

    /// SREM: returns how many members were removed; the set goes with its last member.
    pub fn srem(&self, ks: KeyspaceId, key: &[u8], members: &[Bytes]) -> Result<i64> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.set_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let mut b = WriteBatch::default();
        let removed = self.remove_members(&mut b, ks, key, &meta, members)?;
        if removed == 0 {
            return Ok(0);
        }
        meta.size = meta.size.saturating_sub(removed);
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(removed as i64)
    }

    fn remove_members(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        members: &[Bytes],
    ) -> Result<u64> {
        let cf = self.cf(CF_SUB)?;
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        for m in members {
            if seen.insert(m.clone()) && self.is_member(ks, key, meta.version, m)? {
                b.delete_cf(cf, encoding::sub_key(ks, key, meta.version, m));
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Writes the metadata, or deletes the key when the collection is empty.
    pub(crate) fn store_or_drop(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
    ) -> Result<()> {
        if meta.size == 0 {
            self.delete_meta(b, ks, key)
        } else {
            self.put_meta(b, ks, key, meta)
        }
    }

    pub fn sismember(&self, ks: KeyspaceId, key: &[u8], member: &[u8]) -> Result<bool> {
        match self.set_meta(ks, key, self.now_ms())? {
            None => Ok(false),
            Some(m) => self.is_member(ks, key, m.version, member),
        }
    }

    pub fn smismember(&self, ks: KeyspaceId, key: &[u8], members: &[Bytes]) -> Result<Vec<bool>> {
        let Some(m) = self.set_meta(ks, key, self.now_ms())? else {
            return Ok(vec![false; members.len()]);
        };
        members
            .iter()
            .map(|x| self.is_member(ks, key, m.version, x))
            .collect()
    }

    /// SMEMBERS, in member order.
    pub fn smembers(&self, ks: KeyspaceId, key: &[u8]) -> Result<Vec<Bytes>> {
        match self.set_meta(ks, key, self.now_ms())? {
            None => Ok(Vec::new()),
            Some(m) => self.members_of(ks, key, &m),
        }
    }

    /// SCARD: O(1).
    pub fn scard(&self, ks: KeyspaceId, key: &[u8]) -> Result<u64> {
        Ok(self
            .set_meta(ks, key, self.now_ms())?
            .map(|m| m.size)
            .unwrap_or(0))
    }

    /// One member at a random position (seek to random bytes within the set, wrap around).
    fn random_member(&self, ks: KeyspaceId, key: &[u8], meta: &Meta) -> Result<Option<Bytes>> {
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        let probe: [u8; 8] = rand::random();
        let mut start = prefix.clone();
        start.extend_from_slice(&probe[..(probe[0] as usize % 4) + 1]);
        it.seek(&start);
        if !it.key().is_some_and(|k| k.starts_with(&prefix)) {
            it.seek(&prefix);
        }
        it.status()?;
        Ok(it
            .key()
            .filter(|k| k.starts_with(&prefix))
            .map(|k| Bytes::copy_from_slice(&k[prefix.len()..])))
    }

    /// SRANDMEMBER: `count` None = one member (or None); positive = distinct members; negative
    /// = |count| members, possibly repeated.
    pub fn srandmember(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        count: Option<i64>,
    ) -> Result<Vec<Bytes>> {
        let Some(meta) = self.set_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        match count {
            None => Ok(self.random_member(ks, key, &meta)?.into_iter().collect()),
            Some(0) => Ok(Vec::new()),
            Some(c) => Ok(random_sample(self.members_of(ks, key, &meta)?, c)),
        }
    }

    /// SPOP: removes and returns `count` members (one when `count` is None), the lowest
    /// ones from the pop watermark on. O(count).
    pub fn spop(&self, ks: KeyspaceId, key: &[u8], count: Option<u64>) -> Result<Vec<Bytes>> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.set_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let n = count.unwrap_or(1).min(meta.size);
        if n == 0 {
            return Ok(Vec::new());
        }
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let mut start = prefix.clone();
        start.extend_from_slice(&meta.value);
        let mut chosen = Vec::with_capacity(n as usize);
        {
            let mut it = self.prefix_iter(CF_SUB, &prefix)?;
            it.seek(&start);
            while let Some(k) = it.key() {
                if chosen.len() as u64 >= n {
                    break;
                }
                chosen.push(Bytes::copy_from_slice(&k[prefix.len()..]));
                it.next();
            }
            it.status()?;
        }
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        for m in &chosen {
            b.delete_cf(cf, encoding::sub_key(ks, key, meta.version, m));
        }
        if let Some(last) = chosen.last() {
            let mut wm = last.to_vec();
            wm.push(0);
            meta.value = Bytes::from(wm);
        }
        meta.size = meta.size.saturating_sub(chosen.len() as u64);
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(chosen)
    }

    /// SMOVE: moves a member from one set to another; false if it was not in `src`.
    pub fn smove(&self, ks: KeyspaceId, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
        let _l = self.lock(&[(ks, src), (ks, dst)]);
        let now = self.now_ms();
        let src_meta = self.set_meta(ks, src, now)?;
        let dst_meta = self.set_meta(ks, dst, now)?;
        let Some(mut sm) = src_meta else {
            return Ok(false);
        };
        if !self.is_member(ks, src, sm.version, member)? {
            return Ok(false);
        }
        if src == dst {
            return Ok(true);
        }
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        b.delete_cf(cf, encoding::sub_key(ks, src, sm.version, member));
        sm.size -= 1;
        self.store_or_drop(&mut b, ks, src, &sm)?;
        let mut dm = dst_meta.unwrap_or_else(|| self.new_collection(KeyType::Set));
        if !self.is_member(ks, dst, dm.version, member)? {
            b.put_cf(cf, encoding::sub_key(ks, dst, dm.version, member), []);
            lower_watermark(&mut dm, member);
            dm.size += 1;
            self.put_meta(&mut b, ks, dst, &dm)?;
        }
        self.write(b)?;
        Ok(true)
    }

    /// SINTER / SUNION / SDIFF of the given keys (missing keys are empty sets).
    pub fn set_combine(&self, ks: KeyspaceId, op: SetOp, keys: &[Bytes]) -> Result<Vec<Bytes>> {
        let now = self.now_ms();
        let mut metas = Vec::with_capacity(keys.len());
        for k in keys {
            metas.push(self.set_meta(ks, k, now)?);
        }
        self.combine_with(ks, op, keys, &metas)
    }

    fn combine_with(
        &self,
        ks: KeyspaceId,
        op: SetOp,
        keys: &[Bytes],
        metas: &[Option<Meta>],
    ) -> Result<Vec<Bytes>> {
        use std::collections::BTreeSet;
        match op {
            SetOp::Union => {
                let mut out = BTreeSet::new();
                for (k, m) in keys.iter().zip(metas) {
                    if let Some(m) = m {
                        out.extend(self.members_of(ks, k, m)?);
                    }
                }
                Ok(out.into_iter().collect())
            }
            SetOp::Inter => {
                if metas.iter().any(Option::is_none) {
                    return Ok(Vec::new());
                }
                // Walk the smallest set, probe the others.
                let (small, _) = metas
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| m.as_ref().map(|m| (i, m.size)))
                    .min_by_key(|(_, s)| *s)
                    .unwrap_or((0, 0));
                let Some(sm) = &metas[small] else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                'member: for x in self.members_of(ks, &keys[small], sm)? {
                    for (i, (k, m)) in keys.iter().zip(metas).enumerate() {
                        if i == small {
                            continue;
                        }
                        if let Some(m) = m {
                            if !self.is_member(ks, k, m.version, &x)? {
                                continue 'member;
                            }
                        }
                    }
                    out.push(x);
                }
                Ok(out)
            }
            SetOp::Diff => {
                let Some(Some(first)) = metas.first() else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                'member: for x in self.members_of(ks, &keys[0], first)? {
                    for (k, m) in keys.iter().zip(metas).skip(1) {
                        if let Some(m) = m {
                            if self.is_member(ks, k, m.version, &x)? {
                                continue 'member;
                            }
                        }
                    }
                    out.push(x);
                }
                Ok(out)
            }
        }
    }

    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: replaces `dst` (of any type) with the result,
    /// atomically; returns its size.
    pub fn set_combine_store(
        &self,
        ks: KeyspaceId,
        op: SetOp,
        dst: &[u8],
        keys: &[Bytes],
    ) -> Result<u64> {
        let mut locked: Vec<(KeyspaceId, &[u8])> = keys.iter().map(|k| (ks, k.as_ref())).collect();
        locked.push((ks, dst));
        let _l = self.lock(&locked);
        let now = self.now_ms();
        let mut metas = Vec::with_capacity(keys.len());
        for k in keys {
            metas.push(self.set_meta(ks, k, now)?);
        }
        let members = self.combine_with(ks, op, keys, &metas)?;
        let mut b = WriteBatch::default();
        if members.is_empty() {
            self.delete_meta(&mut b, ks, dst)?;
        } else {
            let mut meta = self.new_collection(KeyType::Set);
            let cf = self.cf(CF_SUB)?;
            for m in &members {
                b.put_cf(cf, encoding::sub_key(ks, dst, meta.version, m), []);
            }
            meta.size = members.len() as u64;
            self.put_meta(&mut b, ks, dst, &meta)?;
        }
        self.write(b)?;
        Ok(members.len() as u64)
    }

    /// SSCAN: one page of members after `after`.
    pub fn sscan(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<FieldPage> {
        match self.set_meta(ks, key, self.now_ms())? {
            None => Ok(FieldPage {
                pairs: Vec::new(),
                next: None,
            }),
            Some(m) => self.scan_members(ks, key, m.version, after, count, pattern),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::test_storage as open;

    fn bs(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn members_and_algebra() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        assert_eq!(s.sadd(0, b"a", &bs(&["1", "2", "3", "3"])).unwrap(), 3);
        assert_eq!(s.sadd(0, b"b", &bs(&["2", "3", "4"])).unwrap(), 3);
        assert_eq!(s.scard(0, b"a").unwrap(), 3);
        assert_eq!(
            s.set_combine(0, SetOp::Inter, &bs(&["a", "b"])).unwrap(),
            bs(&["2", "3"])
        );
        assert_eq!(
            s.set_combine(0, SetOp::Union, &bs(&["a", "b"])).unwrap(),
            bs(&["1", "2", "3", "4"])
        );
        assert_eq!(
            s.set_combine(0, SetOp::Diff, &bs(&["a", "b"])).unwrap(),
            bs(&["1"])
        );
        assert_eq!(
            s.set_combine_store(0, SetOp::Union, b"a", &bs(&["a", "b"]))
                .unwrap(),
            4
        );
        assert_eq!(s.smembers(0, b"a").unwrap(), bs(&["1", "2", "3", "4"]));
        assert!(s.smove(0, b"a", b"c", b"1").unwrap());
        assert_eq!(s.smembers(0, b"c").unwrap(), bs(&["1"]));
        let popped = s.spop(0, b"c", None).unwrap();
        assert_eq!(popped, bs(&["1"]));
        assert_eq!(s.key_type(0, b"c").unwrap(), None);
        let popped = s.spop(0, b"a", Some(10)).unwrap();
        assert_eq!(popped.len(), 3);
        assert_eq!(s.scard(0, b"a").unwrap(), 0);
    }
}
