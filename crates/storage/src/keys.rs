//! Commands on keys of any type: DEL, EXISTS, TYPE, expiry, RENAME, COPY, KEYS, SCAN,
//! RANDOMKEY, DBSIZE, FLUSHDB, and the active expiry cycle.

use bytes::Bytes;
use rust_rocksdb::{ReadOptions, WriteBatch};

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::{CF_EXPIRE, CF_META, CF_SCORE, CF_SUB};
use crate::glob::glob_match;
use crate::{Error, Result};

/// Conditions of EXPIRE (Redis 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// One page of SCAN: keys, and the raw key to continue after (`None` when finished).
#[derive(Debug)]
pub struct ScanPage {
    pub keys: Vec<Bytes>,
    pub next: Option<Vec<u8>>,
}

impl Db<'_> {
    /// DEL / UNLINK: returns how many of the keys existed. O(1) per key whatever its size.
    pub fn del(&self, ks: KeyspaceId, keys: &[Bytes]) -> Result<i64> {
        let lk: Vec<(KeyspaceId, &[u8])> = keys.iter().map(|k| (ks, k.as_ref())).collect();
        let _l = self.lock(&lk);
        let now = self.now_ms();
        let mut b = WriteBatch::default();
        let mut n = 0;
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            if !seen.insert(k.clone()) {
                continue;
            }
            if self.get_meta(ks, k, now)?.is_some() {
                self.delete_meta(&mut b, ks, k)?;
                n += 1;
            }
        }
        self.write(b)?;
        Ok(n)
    }

    /// EXISTS / TOUCH: counts keys that exist (a key named twice counts twice).
    pub fn exists(&self, ks: KeyspaceId, keys: &[Bytes]) -> Result<i64> {
        let now = self.now_ms();
        let mut n = 0;
        for k in keys {
            if self.get_meta(ks, k, now)?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// TYPE.
    pub fn key_type(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<KeyType>> {
        Ok(self.get_meta(ks, key, self.now_ms())?.map(|m| m.ty))
    }

    /// PEXPIREAT with NX/XX/GT/LT. A time in the past deletes the key. Returns whether the
    /// expiry was set (or the key deleted).
    pub fn expire_at(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        at_ms: u64,
        cond: ExpireCond,
    ) -> Result<bool> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let Some(mut m) = self.get_meta(ks, key, now)? else {
            return Ok(false);
        };
        // A key without expiry has an infinite TTL for GT and LT.
        let ok = match cond {
            ExpireCond::Always => true,
            ExpireCond::Nx => m.expire_ms == 0,
            ExpireCond::Xx => m.expire_ms != 0,
            ExpireCond::Gt => m.expire_ms != 0 && at_ms > m.expire_ms,
            ExpireCond::Lt => m.expire_ms == 0 || at_ms < m.expire_ms,
        };
        if !ok {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        if at_ms <= now {
            self.delete_meta(&mut b, ks, key)?;
        } else {
            m.expire_ms = at_ms;
            self.put_meta(&mut b, ks, key, &m)?;
        }
        self.write(b)?;
        Ok(true)
    }

    /// The absolute expiry in ms: -2 if the key does not exist, -1 if it has no expiry.
    pub fn expire_time_ms(&self, ks: KeyspaceId, key: &[u8]) -> Result<i64> {
        Ok(match self.get_meta(ks, key, self.now_ms())? {
            None => -2,
            Some(m) if m.expire_ms == 0 => -1,
            Some(m) => m.expire_ms as i64,
        })
    }

    /// PTTL: remaining ms, -2 if absent, -1 without expiry.
    pub fn pttl(&self, ks: KeyspaceId, key: &[u8]) -> Result<i64> {
        let now = self.now_ms();
        Ok(match self.get_meta(ks, key, now)? {
            None => -2,
            Some(m) if m.expire_ms == 0 => -1,
            Some(m) => m.expire_ms.saturating_sub(now) as i64,
        })
    }

    /// PERSIST: returns whether an expiry was removed.
    pub fn persist(&self, ks: KeyspaceId, key: &[u8]) -> Result<bool> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut m) = self.get_meta(ks, key, self.now_ms())? else {
            return Ok(false);
        };
        if m.expire_ms == 0 {
            return Ok(false);
        }
        m.expire_ms = 0;
        let mut b = WriteBatch::default();
        self.put_meta(&mut b, ks, key, &m)?;
        self.write(b)?;
        Ok(true)
    }

    /// Adds to `batch` a copy of `meta` (of `src`) as `dst` in `dst_ks`. Collections get a new
    /// version and a copy of every member (RENAME and COPY of a collection are O(N), as in
    /// Kvrocks; DEL stays O(1)).
    fn copy_into(
        &self,
        batch: &mut WriteBatch,
        src_ks: KeyspaceId,
        src: &[u8],
        meta: &Meta,
        dst_ks: KeyspaceId,
        dst: &[u8],
    ) -> Result<()> {
        if meta.ty == KeyType::String {
            return self.put_meta(batch, dst_ks, dst, meta);
        }
        let new_version = self.next_version();
        for cf_name in [CF_SUB, CF_SCORE] {
            let cf = self.cf(cf_name)?;
            let prefix = encoding::sub_prefix(src_ks, src, meta.version);
            let new_prefix = encoding::sub_prefix(dst_ks, dst, new_version);
            let mut it = self.prefix_iter(cf_name, &prefix)?;
            it.seek(&prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(&prefix) {
                    break;
                }
                let mut nk = new_prefix.clone();
                nk.extend_from_slice(&k[prefix.len()..]);
                batch.put_cf(cf, nk, v);
                it.next();
            }
            it.status()?;
        }
        let mut m = meta.clone();
        m.version = new_version;
        self.put_meta(batch, dst_ks, dst, &m)
    }

    /// RENAME (`nx == false`) / RENAMENX. `NoSuchKey` if `src` is absent. Returns false when
    /// RENAMENX found `dst` existing.
    pub fn rename(&self, ks: KeyspaceId, src: &[u8], dst: &[u8], nx: bool) -> Result<bool> {
        let _l = self.lock(&[(ks, src), (ks, dst)]);
        let now = self.now_ms();
        let Some(meta) = self.get_meta(ks, src, now)? else {
            return Err(Error::NoSuchKey);
        };
        if src == dst {
            return Ok(!nx);
        }
        if nx && self.get_meta(ks, dst, now)?.is_some() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        self.copy_into(&mut b, ks, src, &meta, ks, dst)?;
        self.delete_meta(&mut b, ks, src)?;
        self.write(b)?;
        Ok(true)
    }

    /// MOVE key db: the key (value and TTL) to another keyspace, unless it exists there.
    /// Returns whether it moved; one batch, so no reader sees it in both or in neither.
    pub fn move_key(&self, src_ks: KeyspaceId, key: &[u8], dst_ks: KeyspaceId) -> Result<bool> {
        let _l = self.lock(&[(src_ks, key), (dst_ks, key)]);
        let now = self.now_ms();
        let Some(meta) = self.get_meta(src_ks, key, now)? else {
            return Ok(false);
        };
        if src_ks == dst_ks || self.get_meta(dst_ks, key, now)?.is_some() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        self.copy_into(&mut b, src_ks, key, &meta, dst_ks, key)?;
        self.delete_meta(&mut b, src_ks, key)?;
        self.write(b)?;
        Ok(true)
    }

    /// MEMORY USAGE: the bytes a key's records take in the engine before compression — its
    /// metadata record, plus its elements' records: all of them when `samples` is 0, else the
    /// first `samples` extrapolated to the element count (a sorted set's score index counted
    /// as one more record of the same size per member). `None` if the key does not exist.
    pub fn memory_usage(&self, ks: KeyspaceId, key: &[u8], samples: usize) -> Result<Option<u64>> {
        let Some(meta) = self.get_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let meta_bytes = (encoding::meta_key(ks, key).len() + meta.encode().len()) as u64;
        if meta.ty == KeyType::String {
            return Ok(Some(meta_bytes));
        }
        let prefix = encoding::sub_prefix(ks, key, meta.version);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        it.seek(&prefix);
        let (mut seen, mut bytes) = (0u64, 0u64);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) || (samples > 0 && seen >= samples as u64) {
                break;
            }
            seen += 1;
            bytes += (k.len() + v.len()) as u64;
            it.next();
        }
        it.status()?;
        let mut elements = if seen == 0 {
            0
        } else if seen < meta.size {
            bytes / seen * meta.size
        } else {
            bytes
        };
        if meta.ty == KeyType::ZSet {
            elements *= 2;
        }
        Ok(Some(meta_bytes + elements))
    }

    /// COPY src dst [DB n] [REPLACE]: returns whether it copied.
    pub fn copy(
        &self,
        src_ks: KeyspaceId,
        src: &[u8],
        dst_ks: KeyspaceId,
        dst: &[u8],
        replace: bool,
    ) -> Result<bool> {
        let _l = self.lock(&[(src_ks, src), (dst_ks, dst)]);
        let now = self.now_ms();
        let Some(meta) = self.get_meta(src_ks, src, now)? else {
            return Ok(false);
        };
        if src_ks == dst_ks && src == dst {
            return Ok(false);
        }
        if !replace && self.get_meta(dst_ks, dst, now)?.is_some() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        self.copy_into(&mut b, src_ks, src, &meta, dst_ks, dst)?;
        self.write(b)?;
        Ok(true)
    }

    fn keyspace_iter(&self, ks: KeyspaceId) -> Result<crate::txn::Iter<'_>> {
        self.iter(
            CF_META,
            encoding::keyspace_start(ks),
            encoding::keyspace_end(ks),
        )
    }

    /// One SCAN page: up to about `count` keys examined after `after`, filtered by pattern and
    /// type. Like Redis, a page may hold fewer keys than `count` (or none) before the end.
    pub fn scan(
        &self,
        ks: KeyspaceId,
        after: Option<&[u8]>,
        count: usize,
        pattern: Option<&[u8]>,
        ty: Option<KeyType>,
    ) -> Result<ScanPage> {
        let now = self.now_ms();
        let mut it = self.keyspace_iter(ks)?;
        match after {
            Some(a) => {
                let start = encoding::meta_key(ks, a);
                it.seek(&start);
                if it.key() == Some(start.as_slice()) {
                    it.next();
                }
            }
            None => it.seek_to_first(),
        }
        let mut keys = Vec::new();
        let mut examined = 0;
        let mut last: Option<Vec<u8>> = None;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if examined >= count.max(1) {
                return Ok(ScanPage { keys, next: last });
            }
            examined += 1;
            let user_key = &k[4..];
            last = Some(user_key.to_vec());
            let (kty, expire) = Meta::peek(v)?;
            let live = expire == 0 || expire > now;
            if live
                && ty.is_none_or(|t| t == kty)
                && pattern.is_none_or(|p| glob_match(p, user_key, false))
            {
                keys.push(Bytes::copy_from_slice(user_key));
            }
            it.next();
        }
        it.status()?;
        Ok(ScanPage { keys, next: None })
    }

    /// KEYS pattern.
    pub fn keys(&self, ks: KeyspaceId, pattern: &[u8]) -> Result<Vec<Bytes>> {
        let p = if pattern == b"*" { None } else { Some(pattern) };
        Ok(self.scan(ks, None, usize::MAX, p, None)?.keys)
    }

    /// DBSIZE: live keys of a keyspace. O(N) in keys (one pass over the metadata of this
    /// keyspace only), as in Kvrocks.
    pub fn dbsize(&self, ks: KeyspaceId) -> Result<(u64, u64)> {
        let now = self.now_ms();
        let mut it = self.keyspace_iter(ks)?;
        it.seek_to_first();
        let (mut n, mut with_ttl) = (0, 0);
        while let Some(v) = it.value() {
            let (_, expire) = Meta::peek(v)?;
            if expire == 0 {
                n += 1;
            } else if expire > now {
                n += 1;
                with_ttl += 1;
            }
            it.next();
        }
        it.status()?;
        Ok((n, with_ttl))
    }

    /// RANDOMKEY: seeks to a random position in the keyspace and returns the first live key
    /// from there (wrapping around). Not uniform, but O(log N).
    pub fn random_key(&self, ks: KeyspaceId) -> Result<Option<Bytes>> {
        let now = self.now_ms();
        let mut it = self.keyspace_iter(ks)?;
        for attempt in 0..8 {
            let probe: [u8; 8] = rand::random();
            if attempt < 7 {
                it.seek(encoding::meta_key(ks, &probe[..(attempt % 4) + 1]));
            } else {
                it.seek_to_first();
            }
            if !it.valid() {
                it.seek_to_first();
            }
            let mut steps = 0;
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let (_, expire) = Meta::peek(v)?;
                if expire == 0 || expire > now {
                    return Ok(Some(Bytes::copy_from_slice(&k[4..])));
                }
                steps += 1;
                if steps > 100 {
                    break;
                }
                it.next();
            }
            it.status()?;
        }
        Ok(None)
    }

    /// FLUSHDB: removes a keyspace with range deletions (O(1) in the number of keys).
    pub fn flushdb(&self, ks: KeyspaceId) -> Result<()> {
        self.flush_keyspaces(ks, ks + 1)
    }

    /// FLUSHALL: removes every keyspace.
    pub fn flushall(&self) -> Result<()> {
        let mut b = WriteBatch::default();
        for cf in [CF_META, CF_SUB, CF_SCORE, CF_EXPIRE] {
            self.delete_range(&mut b, cf, &[], &[0xffu8; 16])?;
        }
        self.write(b)?;
        self.note_flush(None);
        Ok(())
    }

    /// Active expiry, step 1: entries of the expiry index that are due (at most `max`).
    pub fn expiry_due(&self, max: usize) -> Result<Vec<Vec<u8>>> {
        let now = self.now_ms();
        let cf = self.cf(CF_EXPIRE)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound((now + 1).to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_cf_opt(cf, ro);
        it.seek_to_first();
        let mut entries = Vec::new();
        while let Some(k) = it.key() {
            if entries.len() >= max {
                break;
            }
            entries.push(k.to_vec());
            it.next();
        }
        it.status()?;
        Ok(entries)
    }

    /// The key an expiry index entry is about.
    pub fn expiry_entry_key(raw: &[u8]) -> Option<(KeyspaceId, &[u8])> {
        encoding::split_expire_key(raw).map(|(_, ks, key)| (ks, key))
    }

    /// Active expiry, step 2: drops one index entry and, if the key it names still expires
    /// then and that time has passed, deletes the key (returns whether it did). The caller
    /// may hold the key's lock; stale entries (the key was deleted, persisted or re-timed)
    /// just go.
    pub fn expire_entry(&self, raw: &[u8]) -> Result<bool> {
        let Some((at, ks, key)) = encoding::split_expire_key(raw) else {
            return Ok(false);
        };
        let now = self.now_ms();
        let _l = self.lock(&[(ks, key)]);
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_EXPIRE)?, raw);
        let current = self
            .get_raw(CF_META, &encoding::meta_key(ks, key))?
            .map(|v| Meta::peek(&v))
            .transpose()?;
        let mut deleted = false;
        if let Some((_, expire)) = current {
            if expire == at && expire <= now {
                self.delete_meta(&mut b, ks, key)?;
                deleted = true;
            }
        }
        self.write(b)?;
        Ok(deleted)
    }

    /// One round of active expiry: deletes up to `max` keys whose expiry has passed, using the
    /// expiry index. Returns the keys deleted (for `expired` notifications).
    pub fn expire_cycle(&self, max: usize) -> Result<Vec<(KeyspaceId, Vec<u8>)>> {
        let mut deleted = Vec::new();
        for raw in self.expiry_due(max)? {
            if self.expire_entry(&raw)? {
                if let Some((ks, key)) = Self::expiry_entry_key(&raw) {
                    deleted.push((ks, key.to_vec()));
                }
            }
        }
        Ok(deleted)
    }

    /// Deletes a key if it exists but has expired (a logged command found it so and logs the
    /// deletion); returns whether it did.
    pub fn delete_if_expired(&self, ks: KeyspaceId, key: &[u8]) -> Result<bool> {
        let Some(raw) = self.get_raw(CF_META, &encoding::meta_key(ks, key))? else {
            return Ok(false);
        };
        if !Meta::decode(&raw)?.is_expired(self.now_ms()) {
            return Ok(false);
        }
        drop(raw);
        let mut b = WriteBatch::default();
        self.delete_meta(&mut b, ks, key)?;
        self.write(b)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SetCond, SetExpiry};

    use crate::engine::test_storage as open;

    fn set(s: &crate::Db<'_>, ks: u32, k: &str, exp: SetExpiry) {
        s.set(
            ks,
            k.as_bytes(),
            Bytes::from("v"),
            SetCond::Always,
            exp,
            false,
        )
        .unwrap();
    }

    #[test]
    fn scan_pages_cover_everything_once() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        for i in 0..250 {
            set(&s, 3, &format!("key:{i}"), SetExpiry::Clear);
        }
        set(&s, 4, "other-db", SetExpiry::Clear);
        let mut all = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = s.scan(3, after.as_deref(), 10, None, None).unwrap();
            all.extend(page.keys);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 250);
        assert_eq!(s.dbsize(3).unwrap().0, 250);
        assert_eq!(s.keys(3, b"key:1?").unwrap().len(), 10);
    }

    #[test]
    fn active_expiry_deletes_and_skips_stale_hints() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let now = crate::now_ms();
        set(&s, 0, "gone", SetExpiry::At(now + 30));
        set(&s, 0, "persisted", SetExpiry::At(now + 30));
        assert!(s.persist(0, b"persisted").unwrap());
        set(&s, 0, "later", SetExpiry::At(now + 60_000));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(s.expire_cycle(100).unwrap().len(), 1);
        assert_eq!(s.dbsize(0).unwrap().0, 2);
        // The expired key's record is really gone, not just hidden.
        let raw =
            s.db.get_cf(s.cf(CF_META).unwrap(), encoding::meta_key(0, b"gone"))
                .unwrap();
        assert!(raw.is_none());
    }

    #[test]
    fn expire_conditions() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let now = crate::now_ms();
        set(&s, 0, "k", SetExpiry::Clear);
        assert!(!s.expire_at(0, b"k", now + 1000, ExpireCond::Gt).unwrap());
        assert!(s.expire_at(0, b"k", now + 1000, ExpireCond::Lt).unwrap());
        assert!(!s.expire_at(0, b"k", now + 500, ExpireCond::Nx).unwrap());
        assert!(s.expire_at(0, b"k", now + 2000, ExpireCond::Gt).unwrap());
        assert!(s.expire_at(0, b"k", 1, ExpireCond::Always).unwrap());
        assert_eq!(s.pttl(0, b"k").unwrap(), -2);
    }

    #[test]
    fn flushdb_only_touches_one_db() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        set(&s, 0, "a", SetExpiry::Clear);
        set(&s, 1, "b", SetExpiry::Clear);
        s.flushdb(0).unwrap();
        assert_eq!(s.dbsize(0).unwrap().0, 0);
        assert_eq!(s.dbsize(1).unwrap().0, 1);
        s.flushall().unwrap();
        assert_eq!(s.dbsize(1).unwrap().0, 0);
    }

    #[test]
    fn rename_and_copy() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        set(&s, 0, "a", SetExpiry::Clear);
        assert!(matches!(
            s.rename(0, b"zz", b"y", false),
            Err(Error::NoSuchKey)
        ));
        assert!(s.rename(0, b"a", b"b", false).unwrap());
        assert_eq!(
            s.exists(0, &[Bytes::from("a"), Bytes::from("b")]).unwrap(),
            1
        );
        assert!(s.copy(0, b"b", 5, b"b", false).unwrap());
        assert!(!s.copy(0, b"b", 5, b"b", false).unwrap());
        assert!(s.copy(0, b"b", 5, b"b", true).unwrap());
        assert_eq!(s.get(5, b"b").unwrap(), Some(Bytes::from("v")));
    }
}
