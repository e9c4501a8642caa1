//! Hashes: a metadata record (type hash, version, field count) and one `sub` record per field
//! (`ks | keylen | key | version | field` → value). HLEN is O(1) from the metadata; HGET is
//! one point lookup; deleting the hash is O(1) (its fields become stale).

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::CF_SUB;
use crate::glob::glob_match;
use crate::{num, Error, Result};

/// One page of HSCAN: (field, value) pairs and the field to continue after.
#[derive(Debug)]
pub struct FieldPage {
    pub pairs: Vec<(Bytes, Bytes)>,
    pub next: Option<Vec<u8>>,
}

impl Db<'_> {
    /// The live metadata of a hash; `WrongType` for another type.
    fn hash_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>> {
        self.typed_meta(ks, key, now, KeyType::Hash)
    }

    fn field_get(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        field: &[u8],
    ) -> Result<Option<Bytes>> {
        Ok(self
            .get_raw(CF_SUB, &encoding::sub_key(ks, key, version, field))?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    pub(crate) fn new_collection(&self, ty: KeyType) -> Meta {
        Meta {
            ty,
            expire_ms: 0,
            version: self.next_version(),
            size: 0,
            value: Bytes::new(),
        }
    }

    /// HSET / HMSET (`nx == false`) and HSETNX (`nx == true`, one pair). Returns how many
    /// fields were added (not updated).
    pub fn hset(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        pairs: &[(Bytes, Bytes)],
        nx: bool,
    ) -> Result<i64> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let mut meta = match self.hash_meta(ks, key, now)? {
            Some(m) => m,
            None => self.new_collection(KeyType::Hash),
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        let mut added = 0;
        let mut seen = std::collections::HashSet::new();
        for (f, v) in pairs {
            let exists =
                !seen.insert(f.clone()) || self.field_get(ks, key, meta.version, f)?.is_some();
            if exists && nx {
                continue;
            }
            if !exists {
                added += 1;
            }
            b.put_cf(cf, encoding::sub_key(ks, key, meta.version, f), v);
        }
        if b.is_empty() {
            return Ok(0);
        }
        meta.size += added as u64;
        self.put_meta(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(added)
    }

    pub fn hget(&self, ks: KeyspaceId, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
        match self.hash_meta(ks, key, self.now_ms())? {
            None => Ok(None),
            Some(m) => self.field_get(ks, key, m.version, field),
        }
    }

    pub fn hmget(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        fields: &[Bytes],
    ) -> Result<Vec<Option<Bytes>>> {
        let Some(m) = self.hash_meta(ks, key, self.now_ms())? else {
            return Ok(vec![None; fields.len()]);
        };
        let raw: Vec<Vec<u8>> = fields
            .iter()
            .map(|f| encoding::sub_key(ks, key, m.version, f))
            .collect();
        self.multi_get_raw(CF_SUB, &raw, false)?
            .into_iter()
            .map(|r| Ok(r?.map(|v| Bytes::copy_from_slice(&v))))
            .collect()
    }

    /// HDEL: returns how many fields were removed; the hash goes when its last field does.
    pub fn hdel(&self, ks: KeyspaceId, key: &[u8], fields: &[Bytes]) -> Result<i64> {
        let _l = self.lock(&[(ks, key)]);
        let Some(mut meta) = self.hash_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        for f in fields {
            if seen.insert(f.clone()) && self.field_get(ks, key, meta.version, f)?.is_some() {
                b.delete_cf(cf, encoding::sub_key(ks, key, meta.version, f));
                removed += 1;
            }
        }
        if removed == 0 {
            return Ok(0);
        }
        meta.size = meta.size.saturating_sub(removed as u64);
        self.store_or_drop(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(removed)
    }

    /// HLEN: O(1) from the metadata.
    pub fn hlen(&self, ks: KeyspaceId, key: &[u8]) -> Result<u64> {
        Ok(self
            .hash_meta(ks, key, self.now_ms())?
            .map(|m| m.size)
            .unwrap_or(0))
    }

    /// Every (field, value) of a hash, in field order.
    pub fn hgetall(&self, ks: KeyspaceId, key: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
        let Some(m) = self.hash_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        Ok(self
            .scan_members(ks, key, m.version, None, usize::MAX, None)?
            .pairs)
    }

    pub(crate) fn scan_members(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        after: Option<&[u8]>,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<FieldPage> {
        let prefix = encoding::sub_prefix(ks, key, version);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        match after {
            Some(a) => {
                let mut start = prefix.clone();
                start.extend_from_slice(a);
                it.seek(&start);
                if it.key() == Some(start.as_slice()) {
                    it.next();
                }
            }
            None => it.seek(&prefix),
        }
        let mut pairs = Vec::new();
        let mut examined = 0usize;
        let mut last: Option<Vec<u8>> = None;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            if examined >= count.max(1) {
                return Ok(FieldPage { pairs, next: last });
            }
            examined += 1;
            let field = &k[prefix.len()..];
            last = Some(field.to_vec());
            if pattern.is_none_or(|p| glob_match(p, field, false)) {
                pairs.push((Bytes::copy_from_slice(field), Bytes::copy_from_slice(v)));
            }
            it.next();
        }
        it.status()?;
        Ok(FieldPage { pairs, next: None })
    }

    /// HSCAN: one page after `after` (None = start).
    pub fn hscan(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<FieldPage> {
        match self.hash_meta(ks, key, self.now_ms())? {
            None => Ok(FieldPage {
                pairs: Vec::new(),
                next: None,
            }),
            Some(m) => self.scan_members(ks, key, m.version, after, count, pattern),
        }
    }

    /// Read-modify-write of one field under the key's lock.
    fn hmodify<T>(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        field: &[u8],
        f: impl FnOnce(Option<&Bytes>) -> Result<(Bytes, T)>,
    ) -> Result<T> {
        let _l = self.lock(&[(ks, key)]);
        let mut meta = match self.hash_meta(ks, key, self.now_ms())? {
            Some(m) => m,
            None => self.new_collection(KeyType::Hash),
        };
        let current = self.field_get(ks, key, meta.version, field)?;
        let (new_value, out) = f(current.as_ref())?;
        let mut b = WriteBatch::default();
        if current.is_none() {
            meta.size += 1;
        }
        b.put_cf(
            self.cf(CF_SUB)?,
            encoding::sub_key(ks, key, meta.version, field),
            &new_value,
        );
        self.put_meta(&mut b, ks, key, &meta)?;
        self.write(b)?;
        Ok(out)
    }

    /// HINCRBY. `HashNotInteger` when the field holds something else.
    pub fn hincr_by(&self, ks: KeyspaceId, key: &[u8], field: &[u8], delta: i64) -> Result<i64> {
        self.hmodify(ks, key, field, |cur| {
            let n = match cur {
                None => 0,
                Some(v) => num::parse_i64(v).ok_or(Error::HashNotInteger)?,
            };
            let r = n.checked_add(delta).ok_or(Error::Overflow)?;
            Ok((Bytes::from(r.to_string()), r))
        })
    }

    /// HINCRBYFLOAT; returns the new value as stored.
    pub fn hincr_by_float(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        field: &[u8],
        delta: f64,
    ) -> Result<Bytes> {
        self.hmodify(ks, key, field, |cur| {
            let n = match cur {
                None => 0.0,
                Some(v) => num::parse_f64(v)
                    .filter(|f| f.is_finite())
                    .ok_or(Error::HashNotFloat)?,
            };
            let r = n + delta;
            if !r.is_finite() {
                return Err(Error::NanOrInfinity);
            }
            let s = Bytes::from(num::format_f64(r));
            Ok((s.clone(), s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::test_storage as open;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn fields_and_sizes() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        assert_eq!(
            s.hset(0, b"h", &[(b("a"), b("1")), (b("b"), b("2"))], false)
                .unwrap(),
            2
        );
        assert_eq!(
            s.hset(0, b"h", &[(b("a"), b("9")), (b("c"), b("3"))], false)
                .unwrap(),
            1
        );
        assert_eq!(s.hset(0, b"h", &[(b("a"), b("x"))], true).unwrap(), 0);
        assert_eq!(s.hlen(0, b"h").unwrap(), 3);
        assert_eq!(s.hget(0, b"h", b"a").unwrap(), Some(b("9")));
        assert_eq!(s.hdel(0, b"h", &[b("a"), b("a"), b("zz")]).unwrap(), 1);
        assert_eq!(
            s.hgetall(0, b"h").unwrap(),
            vec![(b("b"), b("2")), (b("c"), b("3"))]
        );
        assert_eq!(s.hdel(0, b"h", &[b("b"), b("c")]).unwrap(), 2);
        assert_eq!(
            s.key_type(0, b"h").unwrap(),
            None,
            "the last HDEL removes the hash"
        );
    }

    #[test]
    fn delete_is_o1_and_members_are_reclaimed() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let pairs: Vec<(Bytes, Bytes)> = (0..2000).map(|i| (b(&format!("f{i}")), b("v"))).collect();
        s.hset(0, b"big", &pairs, false).unwrap();
        assert_eq!(s.del(0, &[b("big")]).unwrap(), 1);
        // A new hash under the same name does not see the old fields.
        s.hset(0, b"big", &[(b("new"), b("1"))], false).unwrap();
        assert_eq!(s.hlen(0, b"big").unwrap(), 1);
        assert_eq!(s.hget(0, b"big", b"f1").unwrap(), None);
        s.flush_all().unwrap();
        s.compact_all().unwrap();
        let mut it = s.db.raw_iterator_cf(s.cf(CF_SUB).unwrap());
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        assert_eq!(n, 1, "stale fields are dropped by compaction");
    }

    #[test]
    fn counters_in_fields() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        assert_eq!(s.hincr_by(0, b"h", b"n", 5).unwrap(), 5);
        s.hset(0, b"h", &[(b("t"), b("text"))], false).unwrap();
        assert!(matches!(
            s.hincr_by(0, b"h", b"t", 1),
            Err(Error::HashNotInteger)
        ));
        assert!(matches!(
            s.hincr_by_float(0, b"h", b"t", 1.0),
            Err(Error::HashNotFloat)
        ));
        assert_eq!(s.hincr_by_float(0, b"h", b"f", 1.5).unwrap(), b("1.5"));
        s.set(
            0,
            b"str",
            b("x"),
            crate::SetCond::Always,
            crate::SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert!(matches!(s.hget(0, b"str", b"a"), Err(Error::WrongType)));
        assert!(matches!(s.get(0, b"h"), Err(Error::WrongType)));
    }
}
