//! Sorted sets: a metadata record (type zset, version, cardinality), one `sub` record per
//! member (`… | member` → encoded score) and one `score` record per member
//! (`… | encoded score | member` → ∅). ZSCORE is a point lookup, ZCARD O(1); score ranges seek
//! into the `score` index; lex ranges walk the `sub` records, which are in member order.
//!
//! The zset's type-specific metadata bytes hold two *pop watermarks* over the score index
//! (`encoded score | member`): every entry below the low one and at or above the high one is
//! deleted, so ZPOPMIN/ZPOPMAX and walks from either end seek straight past the deletion
//! markers of earlier pops instead of stepping over them. ZADD outside them moves them.
//!
//! Known gap: ZRANK and ZCOUNT count entries (O(rank) / O(M)); an order-statistics index is
//! future work.

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, decode_score, encode_score, KeyType, KeyspaceId, Meta};
use crate::engine::{CF_SCORE, CF_SUB};
use crate::{Error, Result};

/// Members with their scores, as range queries return them.
pub type Scored = Vec<(Bytes, f64)>;

/// ZUNION / ZINTER / ZDIFF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZOp {
    Union,
    Inter,
    Diff,
}

/// How ZUNION/ZINTER combine the scores of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(agg: Aggregate, a: f64, b: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let r = a + b;
            // +inf + -inf: Redis uses 0.
            if r.is_nan() {
                0.0
            } else {
                r
            }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

/// One end of a score range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// One end of a lex range: `-`, `+`, `[member`, `(member`.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

/// ZADD flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZaddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What ZADD did.
#[derive(Debug, Default)]
pub struct ZaddOutcome {
    pub added: u64,
    pub changed: u64,
    /// With INCR: the new score, or None when a condition prevented the update.
    pub score: Option<f64>,
}

impl ScoreBound {
    fn admits_low(&self, s: f64) -> bool {
        if self.exclusive {
            s > self.value
        } else {
            s >= self.value
        }
    }
    fn admits_high(&self, s: f64) -> bool {
        if self.exclusive {
            s < self.value
        } else {
            s <= self.value
        }
    }
}

impl LexBound {
    fn admits_low(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(b) => m >= b.as_ref(),
            LexBound::Exclusive(b) => m > b.as_ref(),
        }
    }
    fn admits_high(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => m <= b.as_ref(),
            LexBound::Exclusive(b) => m < b.as_ref(),
        }
    }
}

fn score_suffix(score: f64, member: &[u8]) -> Vec<u8> {
    let mut v = encode_score(score).to_vec();
    v.extend_from_slice(member);
    v
}

/// The pop watermarks of a zset: every score-index entry below `low` and every entry at or
/// above `high` is deleted (an empty mark means none). Stored as the metadata's type-specific
/// bytes: `low_len u32 BE | low | high`.
fn marks(meta: &Meta) -> (Vec<u8>, Vec<u8>) {
    let v = &meta.value;
    if v.len() < 4 {
        return (Vec::new(), Vec::new());
    }
    let n = (encoding::be_u32(&v[..4]) as usize).min(v.len() - 4);
    (v[4..4 + n].to_vec(), v[4 + n..].to_vec())
}

fn set_marks(meta: &mut Meta, low: &[u8], high: &[u8]) {
    if low.is_empty() && high.is_empty() {
        meta.value = Bytes::new();
        return;
    }
    let mut v = (low.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(low);
    v.extend_from_slice(high);
    meta.value = Bytes::from(v);
}

/// Keeps the watermarks' promise when an index entry is added.
fn note_entry(meta: &mut Meta, score: f64, member: &[u8]) {
    let (mut low, mut high) = marks(meta);
    if low.is_empty() && high.is_empty() {
        return;
    }
    let suffix = score_suffix(score, member);
    if !low.is_empty() && suffix < low {
        low = suffix.clone();
    }
    if !high.is_empty() && suffix >= high {
        high = suffix;
        high.push(0);
    }
    set_marks(meta, &low, &high);
}

fn score_key(ks: KeyspaceId, key: &[u8], version: u64, score: f64, member: &[u8]) -> Vec<u8> {
    let mut k = encoding::sub_prefix(ks, key, version);
    k.extend_from_slice(&encode_score(score));
    k.extend_from_slice(member);
    k
}

impl Db<'_> {
    fn zset_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>> {
        self.typed_meta(ks, key, now, KeyType::ZSet)
    }

    fn member_score(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) -> Result<Option<f64>> {
        Ok(self
            .get_raw(CF_SUB, &encoding::sub_key(ks, key, version, member))?
            .filter(|v| v.len() == 8)
            .map(|v| decode_score(&v)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_member(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        member: &[u8],
        old: Option<f64>,
        score: f64,
    ) -> Result<()> {
        self.cx.score_touched.set(true);
        if let Some(o) = old {
            b.delete_cf(self.cf(CF_SCORE)?, score_key(ks, key, version, o, member));
        }
        b.put_cf(
            self.cf(CF_SUB)?,
            encoding::sub_key(ks, key, version, member),
            encode_score(score),
        );
        b.put_cf(
            self.cf(CF_SCORE)?,
            score_key(ks, key, version, score, member),
            [],
        );
        Ok(())
    }

    fn del_member(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        member: &[u8],
        score: f64,
    ) -> Result<()> {
        self.cx.score_touched.set(true);
        b.delete_cf(
            self.cf(CF_SUB)?,
            encoding::sub_key(ks, key, version, member),
        );
        b.delete_cf(
            self.cf(CF_SCORE)?,
            score_key(ks, key, version, score, member),
        );
        Ok(())
    }

    /// ZADD / ZINCRBY.
    pub fn zadd(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        flags: ZaddFlags,
        pairs: &[(f64, Bytes)],
    ) -> Result<ZaddOutcome> {
        let _l = self.lock(&[(ks, key)]);
        let existing = self.zset_meta(ks, key, self.now_ms())?;
        if existing.is_none() && flags.xx {
            return Ok(ZaddOutcome::default());
        }
        let mut meta = existing.unwrap_or_else(|| self.new_collection(KeyType::ZSet));
        let mut out = ZaddOutcome::default();
        let mut b = WriteBatch::default();
        // Later pairs for the same member see earlier ones (as Redis applies them in order).
        let mut pending: std::collections::HashMap<Bytes, Option<f64>> = Default::default();
        for (score, member) in pairs {
            let old = match pending.get(member) {
                Some(s) => *s,
                None => self.member_score(ks, key, meta.version, member)?,
            };
            let mut new = *score;
            match old {
                None => {
                    if flags.xx {
                        continue;
                    }
                    if new.is_nan() {
                        return Err(Error::ScoreNaN);
                    }
                    self.put_member(&mut b, ks, key, meta.version, member, None, new)?;
                    note_entry(&mut meta, new, member);
                    pending.insert(member.clone(), Some(new));
                    out.added += 1;
                    meta.size += 1;
                    out.score = Some(new);
                }
                Some(o) => {
                    if flags.nx {
                        continue;
                    }
                    if flags.incr {
                        new += o;
                        if new.is_nan() {
                            return Err(Error::ScoreNaN);
                        }
                    }
                    if (flags.gt && new <= o) || (flags.lt && new >= o) {
                        continue;
                    }
                    out.score = Some(new);
                    if new != o {
                        self.put_member(&mut b, ks, key, meta.version, member, Some(o), new)?;
                        note_entry(&mut meta, new, member);
                        pending.insert(member.clone(), Some(new));
                        out.changed += 1;
                    }
                }
            }
        }
        if !b.is_empty() {
            self.put_meta(&mut b, ks, key, &meta)?;
            self.write(b)?;
        }
        Ok(out)
    }

    /// ZREM: returns how many members were removed.
    pub fn zrem(&self, ks: KeyspaceId, key: &[u8], members: &[Bytes]) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let mut b = WriteBatch::default();
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        for m in members {
            if !seen.insert(m.clone()) {
                continue;
            }
            if let Some(s) = self.member_score(ks, key, meta.version, m)? {
                self.del_member(&mut b, ks, key, meta.version, m, s)?;
                removed += 1;
            }
        }
        if removed > 0 {
            meta.size -= removed;
            self.store_or_drop(&mut b, ks, key, &meta)?;
            self.write(b)?;
        }
        Ok(removed)
    }

    pub fn zcard(&self, ks: KeyspaceId, key: &[u8]) -> Result<u64> {
        Ok(self
            .zset_meta(ks, key, self.now_ms())?
            .map(|m| m.size)
            .unwrap_or(0))
    }

    pub fn zscore(&self, ks: KeyspaceId, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
        match self.zset_meta(ks, key, self.now_ms())? {
            None => Ok(None),
            Some(m) => self.member_score(ks, key, m.version, member),
        }
    }

    pub fn zmscore(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        members: &[Bytes],
    ) -> Result<Vec<Option<f64>>> {
        let Some(m) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(vec![None; members.len()]);
        };
        members
            .iter()
            .map(|x| self.member_score(ks, key, m.version, x))
            .collect()
    }

    /// Walks the score index of a zset in order (or reverse), calling `f(member, score)`
    /// until it returns false. `from_score` positions the walk (forward: first entry with
    /// score ≥ it; reverse: last entry with score ≤ it).
    fn walk_scores(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        reverse: bool,
        from_score: Option<f64>,
        mut f: impl FnMut(&[u8], f64) -> bool,
    ) -> Result<()> {
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let mut it = self.prefix_iter(CF_SCORE, &prefix)?;
        if reverse {
            let mut upper = prefix.clone();
            match from_score {
                Some(s) if s < f64::INFINITY => {
                    let next = u64::from_be_bytes(encode_score(s)) + 1;
                    upper.extend_from_slice(&next.to_be_bytes());
                }
                _ => upper.extend_from_slice(&[0xff; 9]),
            }
            let (_, high) = marks(meta);
            if !high.is_empty() {
                let mut h = prefix.clone();
                h.extend_from_slice(&high);
                upper = upper.min(h);
            }
            it.seek_for_prev(&upper);
        } else {
            let mut start = prefix.clone();
            if let Some(s) = from_score {
                start.extend_from_slice(&encode_score(s));
            }
            let mut low = prefix.clone();
            low.extend_from_slice(&marks(meta).0);
            it.seek(start.max(low));
        }
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) || k.len() < prefix.len() + 8 {
                break;
            }
            let score = decode_score(&k[prefix.len()..prefix.len() + 8]);
            let member = &k[prefix.len() + 8..];
            let skip_out_of_range = reverse && from_score.is_some_and(|s| score > s);
            if !skip_out_of_range && !f(member, score) {
                break;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(())
    }

    /// ZRANK / ZREVRANK: O(N / BLOCK + BLOCK) with the rank fences of a large set, O(rank)
    /// for a small one.
    pub fn zrank(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        member: &[u8],
        reverse: bool,
    ) -> Result<Option<(u64, f64)>> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let Some(score) = self.member_score(ks, key, meta.version, member)? else {
            return Ok(None);
        };
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let target = score_key(ks, key, meta.version, score, member);
        if let Some(r) = self.indexed_rank(&prefix, &target)? {
            let r = if reverse {
                meta.size.saturating_sub(1 + r)
            } else {
                r
            };
            return Ok(Some((r, score)));
        }
        if meta.size >= crate::rank::INDEX_FROM {
            // Large but not indexed yet (just grown, or the queue was lost in a restart).
            self.rank_queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(prefix);
        }
        let mut rank = 0u64;
        self.walk_scores(ks, key, &meta, reverse, None, |m, s| {
            if m == member && s == score {
                return false;
            }
            rank += 1;
            true
        })?;
        Ok(Some((rank, score)))
    }

    /// Members by rank range (after Redis's normalisation).
    pub fn zrange_by_rank(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        start: i64,
        stop: i64,
        reverse: bool,
    ) -> Result<Vec<(Bytes, f64)>> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let Some((s, e)) = crate::lists::normalize_range(start, stop, meta.size) else {
            return Ok(Vec::new());
        };
        // Far from the walk's start: jump there through the rank fences.
        let (fs, fe) = if reverse {
            (meta.size - 1 - e, meta.size - 1 - s)
        } else {
            (s, e)
        };
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        if let Some(entries) = self.indexed_range(&prefix, fs, fe)? {
            let mut out: Vec<(Bytes, f64)> = entries
                .iter()
                .filter(|k| k.len() >= prefix.len() + 8)
                .map(|k| {
                    (
                        Bytes::copy_from_slice(&k[prefix.len() + 8..]),
                        decode_score(&k[prefix.len()..prefix.len() + 8]),
                    )
                })
                .collect();
            if reverse {
                out.reverse();
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        let mut i = 0u64;
        self.walk_scores(ks, key, &meta, reverse, None, |m, sc| {
            if i >= s {
                out.push((Bytes::copy_from_slice(m), sc));
            }
            i += 1;
            i <= e
        })?;
        Ok(out)
    }

    /// Members with `min ≤ score ≤ max` (bounds may be exclusive); `reverse` walks from max.
    /// `offset`/`count` as LIMIT (count < 0 = all).
    #[allow(clippy::too_many_arguments)]
    pub fn zrange_by_score(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        min: ScoreBound,
        max: ScoreBound,
        reverse: bool,
        offset: u64,
        count: i64,
    ) -> Result<Vec<(Bytes, f64)>> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut skipped = 0u64;
        let from = if reverse { max.value } else { min.value };
        self.walk_scores(ks, key, &meta, reverse, Some(from), |m, s| {
            let (inside_start, inside_end) = if reverse {
                (max.admits_high(s), min.admits_low(s))
            } else {
                (min.admits_low(s), max.admits_high(s))
            };
            if !inside_end {
                return false;
            }
            if !inside_start {
                return true;
            }
            if skipped < offset {
                skipped += 1;
                return true;
            }
            if count >= 0 && out.len() as i64 >= count {
                return false;
            }
            out.push((Bytes::copy_from_slice(m), s));
            true
        })?;
        Ok(out)
    }

    /// Hands `f` the members with `min <= score < max`, in score order, until it returns
    /// false (GEO searches scan cells this way: one seek, nothing outside the range read).
    /// A missing key has no members; a key of another type is an error.
    pub fn zscan_scores(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        min: f64,
        max: f64,
        mut f: impl FnMut(&[u8], f64) -> bool,
    ) -> Result<()> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(());
        };
        self.walk_scores(ks, key, &meta, false, Some(min), |m, s| {
            if s < min {
                return true;
            }
            s < max && f(m, s)
        })
    }

    /// Members between lex bounds (assumes equal scores, as Redis does), in member order.
    #[allow(clippy::too_many_arguments)]
    pub fn zrange_by_lex(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        min: &LexBound,
        max: &LexBound,
        reverse: bool,
        offset: u64,
        count: i64,
    ) -> Result<Vec<(Bytes, f64)>> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        if reverse {
            match max {
                LexBound::Inclusive(b) | LexBound::Exclusive(b) => {
                    let mut upper = prefix.clone();
                    upper.extend_from_slice(b);
                    it.seek_for_prev(&upper);
                }
                _ => it.seek_for_prev(encoding::sub_prefix(ks, key, meta.version + 1)),
            }
        } else {
            let mut start = prefix.clone();
            if let LexBound::Inclusive(b) | LexBound::Exclusive(b) = min {
                start.extend_from_slice(b);
            }
            it.seek(&start);
        }
        let mut out = Vec::new();
        let mut skipped = 0u64;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            let m = &k[prefix.len()..];
            let (inside_start, inside_end) = if reverse {
                (max.admits_high(m), min.admits_low(m))
            } else {
                (min.admits_low(m), max.admits_high(m))
            };
            if !inside_end {
                break;
            }
            if inside_start {
                if skipped < offset {
                    skipped += 1;
                } else if count >= 0 && out.len() as i64 >= count {
                    break;
                } else if v.len() == 8 {
                    out.push((Bytes::copy_from_slice(m), decode_score(v)));
                }
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(out)
    }

    /// Removes the given members (found by a range query) and returns them.
    pub fn zremove_found(&self, ks: KeyspaceId, key: &[u8], found: &[(Bytes, f64)]) -> Result<u64> {
        if found.is_empty() {
            return Ok(0);
        }
        let Some(mut meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let mut b = WriteBatch::default();
        for (m, s) in found {
            self.del_member(&mut b, ks, key, meta.version, m, *s)?;
        }
        meta.size = meta.size.saturating_sub(found.len() as u64);
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(found.len() as u64)
    }

    /// Runs a range query and removes its result atomically (ZREMRANGEBY*, ZPOPMIN/MAX).
    pub fn zrange_remove(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        query: impl FnOnce(&Db<'_>) -> Result<Vec<(Bytes, f64)>>,
    ) -> Result<Vec<(Bytes, f64)>> {
        let _l = self.lock(&[(ks, key)]);
        let found = query(self)?;
        self.zremove_found(ks, key, &found)?;
        Ok(found)
    }

    /// ZPOPMIN (`max == false`) / ZPOPMAX: removes and returns the `n` lowest (highest)
    /// members and moves the matching watermark past them.
    pub fn zpop(&self, ks: KeyspaceId, key: &[u8], n: u64, max: bool) -> Result<Scored> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        if n > 0 {
            self.walk_scores(ks, key, &meta, max, None, |m, s| {
                found.push((Bytes::copy_from_slice(m), s));
                (found.len() as u64) < n
            })?;
        }
        if found.is_empty() {
            return Ok(found);
        }
        let mut b = WriteBatch::default();
        for (m, s) in &found {
            self.del_member(&mut b, ks, key, meta.version, m, *s)?;
        }
        if let Some((m, s)) = found.last() {
            let (mut low, mut high) = marks(&meta);
            let mut wm = score_suffix(*s, m);
            if max {
                high = wm;
            } else {
                wm.push(0);
                low = wm;
            }
            set_marks(&mut meta, &low, &high);
        }
        meta.size = meta.size.saturating_sub(found.len() as u64);
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(found)
    }

    /// Every member of a zset, or of a set (score 1), for the zset algebra; None if absent.
    fn scored_members(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Scored>> {
        let Some(meta) = self.get_meta(ks, key, now)? else {
            return Ok(None);
        };
        let page = self.scan_members(ks, key, meta.version, None, usize::MAX, None)?;
        match meta.ty {
            KeyType::ZSet => Ok(Some(
                page.pairs
                    .into_iter()
                    .filter(|(_, v)| v.len() == 8)
                    .map(|(m, v)| (m, decode_score(&v)))
                    .collect(),
            )),
            KeyType::Set => Ok(Some(
                page.pairs.into_iter().map(|(m, _)| (m, 1.0)).collect(),
            )),
            _ => Err(Error::WrongType),
        }
    }

    /// Every member with its score, in score order (ZRANDMEMBER reads the whole zset).
    pub fn zall(&self, ks: KeyspaceId, key: &[u8]) -> Result<Scored> {
        let Some(meta) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
        self.walk_scores(ks, key, &meta, false, None, |m, s| {
            out.push((Bytes::copy_from_slice(m), s));
            true
        })?;
        Ok(out)
    }

    /// ZMPOP: pops up to `count` from the first non-empty zset among `keys`.
    pub fn zmpop(
        &self,
        ks: KeyspaceId,
        keys: &[Bytes],
        max: bool,
        count: u64,
    ) -> Result<Option<(Bytes, Scored)>> {
        for k in keys {
            if self.zset_meta(ks, k, self.now_ms())?.is_none() {
                continue;
            }
            let popped = self.zpop(ks, k, count, max)?;
            if !popped.is_empty() {
                return Ok(Some((k.clone(), popped)));
            }
        }
        Ok(None)
    }

    /// ZUNION / ZINTER / ZDIFF of zsets (sets count as zsets with score 1), sorted by score
    /// then member. O(total size).
    pub fn zcombine(
        &self,
        ks: KeyspaceId,
        op: ZOp,
        keys: &[Bytes],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<Scored> {
        let now = self.now_ms();
        let mut inputs = Vec::with_capacity(keys.len());
        for k in keys {
            inputs.push(self.scored_members(ks, k, now)?);
        }
        let weight = |i: usize, s: f64| {
            let w = weights.get(i).copied().unwrap_or(1.0);
            let r = s * w;
            if r.is_nan() {
                0.0
            } else {
                r
            }
        };
        let mut acc: std::collections::BTreeMap<Bytes, f64> = Default::default();
        match op {
            ZOp::Union => {
                for (i, input) in inputs.iter().enumerate() {
                    for (m, s) in input.iter().flatten() {
                        let v = weight(i, *s);
                        acc.entry(m.clone())
                            .and_modify(|x| *x = aggregate(agg, *x, v))
                            .or_insert(v);
                    }
                }
            }
            ZOp::Inter => {
                if inputs.iter().any(Option::is_none) {
                    return Ok(Vec::new());
                }
                if let Some(Some(first)) = inputs.first() {
                    for (m, s) in first {
                        acc.insert(m.clone(), weight(0, *s));
                    }
                }
                for (i, input) in inputs.iter().enumerate().skip(1) {
                    let here: std::collections::HashMap<&Bytes, f64> =
                        input.iter().flatten().map(|(m, s)| (m, *s)).collect();
                    acc.retain(|m, x| match here.get(m) {
                        Some(s) => {
                            *x = aggregate(agg, *x, weight(i, *s));
                            true
                        }
                        None => false,
                    });
                }
            }
            ZOp::Diff => {
                if let Some(Some(first)) = inputs.first() {
                    for (m, s) in first {
                        acc.insert(m.clone(), *s);
                    }
                }
                for input in inputs.iter().skip(1).flatten() {
                    for (m, _) in input {
                        acc.remove(m);
                    }
                }
            }
        }
        let mut out: Scored = acc.into_iter().collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: computes and replaces `dst` atomically.
    #[allow(clippy::too_many_arguments)]
    pub fn zcombine_store(
        &self,
        ks: KeyspaceId,
        op: ZOp,
        dst: &[u8],
        keys: &[Bytes],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<u64> {
        let mut locked: Vec<(KeyspaceId, &[u8])> = keys.iter().map(|k| (ks, k.as_ref())).collect();
        locked.push((ks, dst));
        let _l = self.lock(&locked);
        let result = self.zcombine(ks, op, keys, weights, agg)?;
        self.zstore_locked(ks, dst, &result)
    }

    /// Replaces `dst` with a zset of the given members (ZRANGESTORE); returns its size.
    pub fn zstore(&self, ks: KeyspaceId, dst: &[u8], members: &[(Bytes, f64)]) -> Result<u64> {
        let _l = self.lock(&[(ks, dst)]);
        self.zstore_locked(ks, dst, members)
    }

    fn zstore_locked(&self, ks: KeyspaceId, dst: &[u8], members: &[(Bytes, f64)]) -> Result<u64> {
        let mut b = WriteBatch::default();
        if members.is_empty() {
            self.delete_meta(&mut b, ks, dst)?;
        } else {
            let mut meta = self.new_collection(KeyType::ZSet);
            for (m, s) in members {
                self.put_member(&mut b, ks, dst, meta.version, m, None, *s)?;
            }
            meta.size = members.len() as u64;
            self.put_meta(&mut b, ks, dst, &meta)?;
        }
        self.write(b)?;
        Ok(members.len() as u64)
    }

    /// ZSCAN page: (member, encoded score) pairs in member order.
    pub fn zscan(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<(Scored, Option<Vec<u8>>)> {
        let Some(m) = self.zset_meta(ks, key, self.now_ms())? else {
            return Ok((Vec::new(), None));
        };
        let page = self.scan_members(ks, key, m.version, after, count, pattern)?;
        Ok((
            page.pairs
                .into_iter()
                .filter(|(_, v)| v.len() == 8)
                .map(|(k, v)| (k, decode_score(&v)))
                .collect(),
            page.next,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::test_storage as open;

    fn incl(v: f64) -> ScoreBound {
        ScoreBound {
            value: v,
            exclusive: false,
        }
    }

    #[test]
    fn order_with_negative_and_infinite_scores() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let pairs: Vec<(f64, Bytes)> = [
            (-1.5, "neg"),
            (f64::INFINITY, "inf"),
            (0.0, "zero"),
            (f64::NEG_INFINITY, "ninf"),
            (2.0, "b"),
            (2.0, "a"),
        ]
        .iter()
        .map(|(sc, m)| (*sc, Bytes::from(*m)))
        .collect();
        assert_eq!(
            s.zadd(0, b"z", ZaddFlags::default(), &pairs).unwrap().added,
            6
        );
        let all: Vec<Bytes> = s
            .zrange_by_rank(0, b"z", 0, -1, false)
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(
            all,
            ["ninf", "neg", "zero", "a", "b", "inf"]
                .map(Bytes::from)
                .to_vec()
        );
        let rev = s
            .zrange_by_score(0, b"z", incl(-2.0), incl(2.0), true, 0, -1)
            .unwrap();
        let rev: Vec<Bytes> = rev.into_iter().map(|(m, _)| m).collect();
        assert_eq!(rev, ["b", "a", "zero", "neg"].map(Bytes::from).to_vec());
        assert_eq!(s.zrank(0, b"z", b"zero", false).unwrap(), Some((2, 0.0)));
        assert_eq!(s.zrank(0, b"z", b"zero", true).unwrap(), Some((3, 0.0)));
        // Updating a score moves the member in the index.
        s.zadd(0, b"z", ZaddFlags::default(), &[(-10.0, Bytes::from("b"))])
            .unwrap();
        assert_eq!(
            s.zrange_by_rank(0, b"z", 0, 1, false).unwrap()[1].0,
            Bytes::from("b")
        );
        assert_eq!(s.zcard(0, b"z").unwrap(), 6);
    }

    #[test]
    fn pops_from_both_ends_with_adds_in_between() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let pairs: Vec<(f64, Bytes)> = (0..100)
            .map(|i| (i as f64, Bytes::from(format!("m{i:03}"))))
            .collect();
        s.zadd(0, b"z", ZaddFlags::default(), &pairs).unwrap();
        assert_eq!(s.zpop(0, b"z", 10, false).unwrap().last().unwrap().1, 9.0);
        assert_eq!(s.zpop(0, b"z", 10, true).unwrap().last().unwrap().1, 90.0);
        // New entries beyond either watermark must stay visible.
        s.zadd(
            0,
            b"z",
            ZaddFlags::default(),
            &[(-5.0, Bytes::from("low")), (500.0, Bytes::from("high"))],
        )
        .unwrap();
        let all = s.zrange_by_rank(0, b"z", 0, -1, false).unwrap();
        assert_eq!(all.len(), 82);
        assert_eq!(all[0].0, Bytes::from("low"));
        assert_eq!(all[81].0, Bytes::from("high"));
        let rev = s.zrange_by_rank(0, b"z", 0, 1, true).unwrap();
        assert_eq!(rev[0].0, Bytes::from("high"));
        assert_eq!(rev[1].1, 89.0);
        assert_eq!(s.zpop(0, b"z", 1, true).unwrap()[0].0, Bytes::from("high"));
        assert_eq!(s.zpop(0, b"z", 1, false).unwrap()[0].0, Bytes::from("low"));
        assert_eq!(s.zcard(0, b"z").unwrap(), 80);
    }
}
