//! Lists: a metadata record (type list, version, length, then `head u64 | tail u64`) and one
//! `sub` record per item keyed by its position (`u64` big-endian, starting at 2^63 so both
//! ends can grow). Pushes and pops at either end, LLEN, LINDEX and LSET are O(1) point
//! operations; LRANGE is one range scan; LREM and LINSERT rewrite the list under a new version
//! (O(N), as their Redis counterparts are O(N)).

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, be_u64, KeyType, KeyspaceId, Meta};
use crate::engine::CF_SUB;
use crate::{Error, Result};

const MID: u64 = 1 << 63;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

fn bounds(meta: &Meta) -> (u64, u64) {
    if meta.value.len() >= 16 {
        (be_u64(&meta.value[..8]), be_u64(&meta.value[8..16]))
    } else {
        (MID, MID)
    }
}

fn set_bounds(meta: &mut Meta, head: u64, tail: u64) {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&head.to_be_bytes());
    v.extend_from_slice(&tail.to_be_bytes());
    meta.value = Bytes::from(v);
    meta.size = tail - head;
}

/// Redis's normalisation of a start/stop range over `len` items; None if empty.
pub fn normalize_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || s >= len || e < 0 {
        return None;
    }
    Some((s as u64, e as u64))
}

impl Db<'_> {
    pub(crate) fn list_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>> {
        self.typed_meta(ks, key, now, KeyType::List)
    }

    fn new_list(&self) -> Meta {
        let mut m = self.new_collection(KeyType::List);
        set_bounds(&mut m, MID, MID);
        m
    }

    fn item_key(ks: KeyspaceId, key: &[u8], meta: &Meta, pos: u64) -> Vec<u8> {
        encoding::sub_key(ks, key, meta.version, &pos.to_be_bytes())
    }

    fn item(&self, ks: KeyspaceId, key: &[u8], meta: &Meta, pos: u64) -> Result<Option<Bytes>> {
        Ok(self
            .get_raw(CF_SUB, &Self::item_key(ks, key, meta, pos))?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    /// Items `from..=to` (offsets from the head), in order, with one range scan.
    fn items(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        from: u64,
        to: u64,
    ) -> Result<Vec<Bytes>> {
        let (head, _) = bounds(meta);
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let end = Self::item_key(ks, key, meta, head + to);
        let mut it = self.bounded_iter(
            CF_SUB,
            Self::item_key(ks, key, meta, head + from),
            crate::engine::prefix_successor(&end),
        )?;
        it.seek(Self::item_key(ks, key, meta, head + from));
        // One buffer for all the items, sliced: one allocation per range instead of one per
        // item (LRANGE's cost was mostly allocations and copies).
        let mut buf = bytes::BytesMut::new();
        let mut spans = Vec::with_capacity((to - from + 1).min(4096) as usize);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) || k > end.as_slice() {
                break;
            }
            spans.push((buf.len(), buf.len() + v.len()));
            buf.extend_from_slice(v);
            it.next();
        }
        it.status()?;
        let all = buf.freeze();
        Ok(spans.into_iter().map(|(a, b)| all.slice(a..b)).collect())
    }

    fn all_items(&self, ks: KeyspaceId, key: &[u8], meta: &Meta) -> Result<Vec<Bytes>> {
        if meta.size == 0 {
            return Ok(Vec::new());
        }
        self.items(ks, key, meta, 0, meta.size - 1)
    }

    /// Replaces the list with `items` under a new version (keeps the expiry).
    pub(crate) fn rewrite_list(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        old: &Meta,
        items: &[Bytes],
    ) -> Result<()> {
        let mut meta = self.new_list();
        meta.expire_ms = old.expire_ms;
        let cf = self.cf(CF_SUB)?;
        for (i, v) in items.iter().enumerate() {
            b.put_cf(cf, Self::item_key(ks, key, &meta, MID + i as u64), v);
        }
        set_bounds(&mut meta, MID, MID + items.len() as u64);
        self.store_or_drop(b, ks, key, &meta)
    }

    /// Adds pushes of `values` at `end` to `b`, updating `meta`.
    fn push_into(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &mut Meta,
        end: End,
        values: &[Bytes],
    ) -> Result<()> {
        let cf = self.cf(CF_SUB)?;
        let (mut head, mut tail) = bounds(meta);
        for v in values {
            match end {
                End::Left => {
                    head -= 1;
                    b.put_cf(cf, Self::item_key(ks, key, meta, head), v);
                }
                End::Right => {
                    b.put_cf(cf, Self::item_key(ks, key, meta, tail), v);
                    tail += 1;
                }
            }
        }
        set_bounds(meta, head, tail);
        Ok(())
    }

    /// LPUSH/RPUSH (`only_existing` = LPUSHX/RPUSHX). Returns the new length (0 when the
    /// X variant found no list).
    pub fn push(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        end: End,
        values: &[Bytes],
        only_existing: bool,
    ) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let mut meta = match self.list_meta(ks, key, self.now_ms())? {
            Some(m) => m,
            None if only_existing => return Ok(0),
            None => self.new_list(),
        };
        let mut b = WriteBatch::default();
        self.push_into(&mut b, ks, key, &mut meta, end, values)?;
        self.put_meta(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(meta.size)
    }

    /// Replaces whatever `key` holds with a list of `items` (deleted when empty), in one
    /// batch: SORT ... STORE. Returns the length.
    pub fn list_replace(&self, ks: KeyspaceId, key: &[u8], items: &[Bytes]) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let mut b = WriteBatch::default();
        if items.is_empty() {
            self.delete_meta(&mut b, ks, key)?;
            self.write(b)?;
            return Ok(0);
        }
        let mut meta = self.new_list();
        self.push_into(&mut b, ks, key, &mut meta, End::Right, items)?;
        self.put_meta(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(meta.size)
    }

    /// The elements SORT works on: a list's items in order, a set's members, a sorted set's
    /// members by score. `None` for a missing key; `WrongType` for strings and hashes.
    pub fn sort_source(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<(KeyType, Vec<Bytes>)>> {
        let Some(meta) = self.get_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let items = match meta.ty {
            KeyType::List => self.lrange(ks, key, 0, -1)?,
            KeyType::Set => self.smembers(ks, key)?,
            KeyType::ZSet => self.zall(ks, key)?.into_iter().map(|(m, _)| m).collect(),
            _ => return Err(Error::WrongType),
        };
        Ok(Some((meta.ty, items)))
    }

    /// Adds pops of up to `count` items from `end` to `b`, updating `meta`.
    fn pop_from(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &mut Meta,
        end: End,
        count: u64,
    ) -> Result<Vec<Bytes>> {
        let n = count.min(meta.size);
        if n == 0 {
            return Ok(Vec::new());
        }
        let (head, tail) = bounds(meta);
        let cf = self.cf(CF_SUB)?;
        let mut out = if n <= 16 {
            // Positions are known: point lookups are cheaper than creating an iterator.
            let first = match end {
                End::Left => head,
                End::Right => tail - n,
            };
            let keys: Vec<Vec<u8>> = (first..first + n)
                .map(|p| Self::item_key(ks, key, meta, p))
                .collect();
            let mut v = Vec::with_capacity(n as usize);
            for r in self.multi_get_raw(CF_SUB, &keys, true)? {
                match r? {
                    Some(x) => v.push(Bytes::copy_from_slice(&x)),
                    None => return Err(Error::Corrupt("list item missing".into())),
                }
            }
            v
        } else {
            match end {
                End::Left => self.items(ks, key, meta, 0, n - 1)?,
                End::Right => self.items(ks, key, meta, meta.size - n, meta.size - 1)?,
            }
        };
        let (from, new_head, new_tail) = match end {
            End::Left => (head, head + n, tail),
            End::Right => (tail - n, head, tail - n),
        };
        for pos in from..from + n {
            b.delete_cf(cf, Self::item_key(ks, key, meta, pos));
        }
        if end == End::Right {
            out.reverse();
        }
        set_bounds(meta, new_head, new_tail);
        Ok(out)
    }

    /// LPOP/RPOP: up to `count` items; None when the list does not exist.
    pub fn pop(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        end: End,
        count: u64,
    ) -> Result<Option<Vec<Bytes>>> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let mut b = WriteBatch::default();
        let out = self.pop_from(&mut b, ks, key, &mut meta, end, count)?;
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(Some(out))
    }

    /// LLEN: O(1).
    pub fn llen(&self, ks: KeyspaceId, key: &[u8]) -> Result<u64> {
        Ok(self
            .list_meta(ks, key, self.now_ms())?
            .map(|m| m.size)
            .unwrap_or(0))
    }

    fn position(meta: &Meta, index: i64) -> Option<u64> {
        let len = meta.size as i64;
        let i = if index < 0 { len + index } else { index };
        if i < 0 || i >= len {
            return None;
        }
        Some(bounds(meta).0 + i as u64)
    }

    /// LINDEX: one point lookup.
    pub fn lindex(&self, ks: KeyspaceId, key: &[u8], index: i64) -> Result<Option<Bytes>> {
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        match Self::position(&meta, index) {
            None => Ok(None),
            Some(p) => self.item(ks, key, &meta, p),
        }
    }

    /// LSET: `NoSuchKey` without a list, `IndexOutOfRange` outside it.
    pub fn lset(&self, ks: KeyspaceId, key: &[u8], index: i64, value: Bytes) -> Result<()> {
        let _l = self.lock(&[(ks, key)]);
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Err(Error::NoSuchKey);
        };
        let Some(p) = Self::position(&meta, index) else {
            return Err(Error::IndexOutOfRange);
        };
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SUB)?, Self::item_key(ks, key, &meta, p), &value);
        self.write(b)
    }

    /// LRANGE.
    pub fn lrange(&self, ks: KeyspaceId, key: &[u8], start: i64, stop: i64) -> Result<Vec<Bytes>> {
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        match normalize_range(start, stop, meta.size) {
            None => Ok(Vec::new()),
            Some((s, e)) => self.items(ks, key, &meta, s, e),
        }
    }

    /// LTRIM: deletes the items outside the range (O(removed)).
    pub fn ltrim(&self, ks: KeyspaceId, key: &[u8], start: i64, stop: i64) -> Result<()> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(());
        };
        let (head, tail) = bounds(&meta);
        let (keep_from, keep_to) = match normalize_range(start, stop, meta.size) {
            None => (tail, tail), // keep nothing
            Some((s, e)) => (head + s, head + e + 1),
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        for pos in (head..keep_from).chain(keep_to..tail) {
            b.delete_cf(cf, Self::item_key(ks, key, &meta, pos));
        }
        set_bounds(&mut meta, keep_from, keep_to.max(keep_from));
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)
    }

    /// LREM: removes up to |count| items equal to `value` (from the head if count ≥ 0, from
    /// the tail if negative; all if 0). Returns how many.
    pub fn lrem(&self, ks: KeyspaceId, key: &[u8], count: i64, value: &[u8]) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let mut items = self.all_items(ks, key, &meta)?;
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut removed = 0u64;
        if count < 0 {
            items.reverse();
        }
        items.retain(|v| {
            if removed < limit && v.as_ref() == value {
                removed += 1;
                false
            } else {
                true
            }
        });
        if count < 0 {
            items.reverse();
        }
        if removed > 0 {
            let mut b = WriteBatch::default();
            self.rewrite_list(&mut b, ks, key, &meta, &items)?;
            self.write(b)?;
        }
        Ok(removed)
    }

    /// LINSERT: -1 if the pivot is not found, 0 if there is no list, else the new length.
    pub fn linsert(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        before: bool,
        pivot: &[u8],
        value: Bytes,
    ) -> Result<i64> {
        let _l = self.lock(&[(ks, key)]);
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let mut items = self.all_items(ks, key, &meta)?;
        let Some(i) = items.iter().position(|v| v.as_ref() == pivot) else {
            return Ok(-1);
        };
        items.insert(if before { i } else { i + 1 }, value);
        let mut b = WriteBatch::default();
        self.rewrite_list(&mut b, ks, key, &meta, &items)?;
        self.write(b)?;
        Ok(items.len() as i64)
    }

    /// LPOS: positions of `value`; `rank` (non-zero) picks the n-th match from the head
    /// (negative: from the tail), `count` how many (0 = all), `maxlen` how many items to
    /// look at (0 = all).
    pub fn lpos(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        value: &[u8],
        rank: i64,
        count: u64,
        maxlen: u64,
    ) -> Result<Vec<u64>> {
        let Some(meta) = self.list_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let items = self.all_items(ks, key, &meta)?;
        let n = items.len();
        let limit = if maxlen == 0 {
            n
        } else {
            (maxlen as usize).min(n)
        };
        let mut skip = rank.unsigned_abs() - 1;
        let mut out = Vec::new();
        let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
            Box::new(0..limit)
        } else {
            Box::new((n - limit..n).rev())
        };
        for i in order {
            if items[i].as_ref() == value {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                out.push(i as u64);
                if count != 0 && out.len() as u64 >= count {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// LMOVE / RPOPLPUSH: pops from `src` at `from`, pushes to `dst` at `to`, atomically.
    pub fn lmove(
        &self,
        ks: KeyspaceId,
        src: &[u8],
        dst: &[u8],
        from: End,
        to: End,
    ) -> Result<Option<Bytes>> {
        let _l = self.lock(&[(ks, src), (ks, dst)]);
        let now = self.now_ms();
        let Some(mut sm) = self.list_meta(ks, src, now)? else {
            return Ok(None);
        };
        let dst_meta = self.list_meta(ks, dst, now)?;
        let mut b = WriteBatch::default();
        let popped = self.pop_from(&mut b, ks, src, &mut sm, from, 1)?;
        let Some(v) = popped.into_iter().next() else {
            return Ok(None);
        };
        if src == dst {
            // The same list: pop and push on one metadata record.
            self.push_into(&mut b, ks, dst, &mut sm, to, std::slice::from_ref(&v))?;
            self.put_meta(&mut b, ks, dst, &sm)?;
        } else {
            self.store_or_drop(&mut b, ks, src, &sm)?;
            let mut dm = dst_meta.unwrap_or_else(|| self.new_list());
            self.push_into(&mut b, ks, dst, &mut dm, to, std::slice::from_ref(&v))?;
            self.put_meta(&mut b, ks, dst, &dm)?;
        }
        self.write(b)?;
        Ok(Some(v))
    }

    /// LMPOP: pops up to `count` items from the first non-empty list among `keys`.
    pub fn lmpop(
        &self,
        ks: KeyspaceId,
        keys: &[Bytes],
        end: End,
        count: u64,
    ) -> Result<Option<(Bytes, Vec<Bytes>)>> {
        let lk: Vec<(KeyspaceId, &[u8])> = keys.iter().map(|k| (ks, k.as_ref())).collect();
        let _l = self.lock(&lk);
        let now = self.now_ms();
        for k in keys {
            let Some(mut meta) = self.list_meta(ks, k, now)? else {
                continue;
            };
            let mut b = WriteBatch::default();
            let out = self.pop_from(&mut b, ks, k, &mut meta, end, count)?;
            self.store_or_drop(&mut b, ks, k, &meta)?;
            self.write(b)?;
            return Ok(Some((k.clone(), out)));
        }
        Ok(None)
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
    fn both_ends_and_ranges() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        assert_eq!(
            s.push(0, b"l", End::Right, &bs(&["b", "c"]), false)
                .unwrap(),
            2
        );
        assert_eq!(
            s.push(0, b"l", End::Left, &bs(&["a", "z"]), false).unwrap(),
            4
        );
        assert_eq!(s.lrange(0, b"l", 0, -1).unwrap(), bs(&["z", "a", "b", "c"]));
        assert_eq!(s.lindex(0, b"l", -1).unwrap(), Some(Bytes::from("c")));
        assert_eq!(
            s.pop(0, b"l", End::Right, 2).unwrap(),
            Some(bs(&["c", "b"]))
        );
        s.ltrim(0, b"l", 1, -1).unwrap();
        assert_eq!(s.lrange(0, b"l", 0, -1).unwrap(), bs(&["a"]));
        assert_eq!(s.pop(0, b"l", End::Left, 5).unwrap(), Some(bs(&["a"])));
        assert_eq!(s.key_type(0, b"l").unwrap(), None);
    }
}
