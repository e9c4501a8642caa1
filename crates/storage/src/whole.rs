//! Whole values of keys, for DUMP and RESTORE: a key read as one [`rdb::Value`], and a value
//! written as one key in one batch.

use bytes::Bytes;
use rdb::Value;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::CF_SUB;
use crate::{Error, Result};

impl Db<'_> {
    /// The value and expiry (unix ms, 0 = none) of a key, `None` if it does not exist.
    pub fn read_value(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<(Value, u64)>> {
        let Some(meta) = self.get_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let v = match meta.ty {
            KeyType::String => Value::String(meta.value.clone()),
            KeyType::Hash => Value::Hash(self.hgetall(ks, key)?),
            KeyType::List => Value::List(self.lrange(ks, key, 0, -1)?),
            KeyType::Set => Value::Set(self.smembers(ks, key)?),
            KeyType::ZSet => Value::ZSet(self.zall(ks, key)?),
            KeyType::Stream => Value::Stream(Box::new(self.stream_value(ks, key)?)),
        };
        Ok(Some((v, meta.expire_ms)))
    }

    /// RESTORE: writes `value` as `key` with the given expiry (unix ms, 0 = none) in one
    /// batch. Returns false, writing nothing, if the key exists and `replace` is false.
    pub fn restore_value(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        value: &Value,
        expire_ms: u64,
        replace: bool,
    ) -> Result<bool> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let exists = self.get_meta(ks, key, now)?.is_some();
        if exists && !replace {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        if exists {
            // The old sub-keys become stale with the old version, as on DEL.
            self.delete_meta(&mut b, ks, key)?;
        }
        match value {
            Value::String(s) => {
                self.put_meta(&mut b, ks, key, &Meta::string(s.clone(), expire_ms))?;
            }
            Value::List(items) => {
                let mut old = self.new_collection(KeyType::List);
                old.expire_ms = expire_ms;
                self.rewrite_list(&mut b, ks, key, &old, items)?;
            }
            Value::Set(members) => {
                let mut meta = self.new_collection(KeyType::Set);
                meta.expire_ms = expire_ms;
                let cf = self.cf(CF_SUB)?;
                let mut seen = std::collections::HashSet::new();
                for m in members {
                    if seen.insert(m.clone()) {
                        b.put_cf(cf, encoding::sub_key(ks, key, meta.version, m), []);
                    }
                }
                meta.size = seen.len() as u64;
                self.store_or_drop(&mut b, ks, key, &meta)?;
            }
            Value::Hash(pairs) => {
                let mut meta = self.new_collection(KeyType::Hash);
                meta.expire_ms = expire_ms;
                let cf = self.cf(CF_SUB)?;
                let mut seen = std::collections::HashSet::new();
                for (f, v) in pairs {
                    if seen.insert(f.clone()) {
                        b.put_cf(cf, encoding::sub_key(ks, key, meta.version, f), v);
                    }
                }
                meta.size = seen.len() as u64;
                self.store_or_drop(&mut b, ks, key, &meta)?;
            }
            Value::ZSet(members) => {
                let mut meta = self.new_collection(KeyType::ZSet);
                meta.expire_ms = expire_ms;
                let mut seen: std::collections::HashMap<Bytes, f64> = Default::default();
                for (m, s) in members {
                    if s.is_nan() {
                        return Err(Error::ScoreNaN);
                    }
                    seen.insert(m.clone(), *s);
                }
                for (m, s) in &seen {
                    self.put_member(&mut b, ks, key, meta.version, m, None, *s)?;
                }
                meta.size = seen.len() as u64;
                self.store_or_drop(&mut b, ks, key, &meta)?;
            }
            Value::Stream(v) => {
                let mut meta = self.new_collection(KeyType::Stream);
                meta.expire_ms = expire_ms;
                self.put_stream_value(&mut b, ks, key, meta, v)?;
            }
        }
        self.write(b)?;
        Ok(true)
    }
}
