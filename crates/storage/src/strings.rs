//! String values: GET/SET and friends. A string lives entirely in its metadata record
//! (`type | expire | value`), so a GET is one point lookup.

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{KeyType, KeyspaceId, Meta};
use crate::{num, Error, Result};

/// The NX / XX condition of SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCond {
    Always,
    /// Only if the key does not exist.
    Nx,
    /// Only if the key exists.
    Xx,
}

/// What SET does with the expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetExpiry {
    /// Remove any expiry (plain SET).
    Clear,
    /// Keep the current expiry (KEEPTTL).
    Keep,
    /// Absolute unix time in ms. A time in the past stores nothing and deletes the key.
    At(u64),
}

#[derive(Debug, PartialEq)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX/XX prevented it).
    pub written: bool,
    /// The previous string value, when asked for (`SET ... GET`, `GETSET`).
    pub old: Option<Bytes>,
}

impl Db<'_> {
    fn string_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<Meta>> {
        self.typed_meta(ks, key, now, KeyType::String)
    }

    /// GET: the string value, `None` if absent, `WrongType` for other types.
    pub fn get(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.string_meta(ks, key, self.now_ms())?.map(|m| m.value))
    }

    /// MGET: values in order; absent keys and keys of other types are `None`.
    pub fn mget(&self, ks: KeyspaceId, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let now = self.now_ms();
        let raw_keys: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| crate::encoding::meta_key(ks, k))
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for r in self.multi_get_raw(crate::engine::CF_META, &raw_keys, false)? {
            out.push(match r? {
                None => None,
                Some(raw) => {
                    let m = Meta::decode(&raw)?;
                    if m.ty == KeyType::String && !m.is_expired(now) {
                        Some(m.value)
                    } else {
                        None
                    }
                }
            });
        }
        Ok(out)
    }

    /// GET of many keys in one batched engine lookup (pipelined GETs): per key the value,
    /// `None`, or `WrongType`, exactly as [`Storage::get`] would answer.
    pub fn get_many(&self, ks: KeyspaceId, keys: &[Bytes]) -> Result<Vec<Result<Option<Bytes>>>> {
        let now = self.now_ms();
        let raw_keys: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| crate::encoding::meta_key(ks, k))
            .collect();
        Ok(self
            .multi_get_raw(crate::engine::CF_META, &raw_keys, false)?
            .into_iter()
            .map(|r| match r? {
                None => Ok(None),
                Some(raw) => {
                    let m = Meta::decode(&raw)?;
                    if m.is_expired(now) {
                        Ok(None)
                    } else if m.ty != KeyType::String {
                        Err(Error::WrongType)
                    } else {
                        Ok(Some(m.value))
                    }
                }
            })
            .collect())
    }

    /// SET with all its options. `want_old` returns the previous value (SET ... GET).
    pub fn set(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        value: Bytes,
        cond: SetCond,
        expiry: SetExpiry,
        want_old: bool,
    ) -> Result<SetOutcome> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let needs_read = want_old || cond != SetCond::Always || expiry == SetExpiry::Keep;
        let current = if needs_read {
            self.get_meta(ks, key, now)?
        } else {
            None
        };
        if want_old {
            if let Some(m) = &current {
                if m.ty != KeyType::String {
                    return Err(Error::WrongType);
                }
            }
        }
        let old = if want_old {
            current.as_ref().map(|m| m.value.clone())
        } else {
            None
        };
        let allowed = match cond {
            SetCond::Always => true,
            SetCond::Nx => current.is_none(),
            SetCond::Xx => current.is_some(),
        };
        if !allowed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        let expire_ms = match expiry {
            SetExpiry::Clear => 0,
            SetExpiry::Keep => current.as_ref().map(|m| m.expire_ms).unwrap_or(0),
            SetExpiry::At(t) => t,
        };
        let mut b = WriteBatch::default();
        if expire_ms != 0 && expire_ms <= now {
            self.delete_meta(&mut b, ks, key)?;
        } else {
            self.put_meta(&mut b, ks, key, &Meta::string(value, expire_ms))?;
        }
        self.write(b)?;
        Ok(SetOutcome { written: true, old })
    }

    /// MSET (`nx == false`) or MSETNX (`nx == true`), as one atomic batch. Returns false when
    /// MSETNX found an existing key and wrote nothing.
    pub fn mset(&self, ks: KeyspaceId, pairs: &[(Bytes, Bytes)], nx: bool) -> Result<bool> {
        let keys: Vec<(KeyspaceId, &[u8])> = pairs.iter().map(|(k, _)| (ks, k.as_ref())).collect();
        let _l = self.lock(&keys);
        let now = self.now_ms();
        if nx {
            for (k, _) in pairs {
                if self.get_meta(ks, k, now)?.is_some() {
                    return Ok(false);
                }
            }
        }
        let mut b = WriteBatch::default();
        for (k, v) in pairs {
            self.put_meta(&mut b, ks, k, &Meta::string(v.clone(), 0))?;
        }
        self.write(b)?;
        Ok(true)
    }

    /// GETDEL.
    pub fn getdel(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        let _l = self.lock(&[(ks, key)]);
        let Some(m) = self.string_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let mut b = WriteBatch::default();
        self.delete_meta(&mut b, ks, key)?;
        self.write(b)?;
        Ok(Some(m.value))
    }

    /// GETEX: returns the value and changes the expiry (`None` = leave it, `Some(Clear)` =
    /// PERSIST, `Some(At(t))` = set it; a past time deletes the key).
    pub fn getex(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        expiry: Option<SetExpiry>,
    ) -> Result<Option<Bytes>> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let Some(mut m) = self.string_meta(ks, key, now)? else {
            return Ok(None);
        };
        let value = m.value.clone();
        let new_expire = match expiry {
            None | Some(SetExpiry::Keep) => return Ok(Some(value)),
            Some(SetExpiry::Clear) => 0,
            Some(SetExpiry::At(t)) => t,
        };
        if new_expire == m.expire_ms {
            return Ok(Some(value));
        }
        let mut b = WriteBatch::default();
        if new_expire != 0 && new_expire <= now {
            self.delete_meta(&mut b, ks, key)?;
        } else {
            m.expire_ms = new_expire;
            self.put_meta(&mut b, ks, key, &m)?;
        }
        self.write(b)?;
        Ok(Some(value))
    }

    /// Read-modify-write of a string value under the key's lock. `f` gets the current value
    /// (empty when absent) and returns the new value and a result; the expiry is kept.
    pub(crate) fn modify_string<T>(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        f: impl FnOnce(Option<&Bytes>) -> Result<(Bytes, T)>,
    ) -> Result<T> {
        self.update_string(ks, key, |cur| f(cur).map(|(v, out)| (Some(v), out)))
    }

    /// Read-modify-write of a string under its lock, keeping its expiry; `f` returns the new
    /// value, or `None` to leave the key untouched (nothing is written).
    pub(crate) fn update_string<T>(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        f: impl FnOnce(Option<&Bytes>) -> Result<(Option<Bytes>, T)>,
    ) -> Result<T> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let current = self.string_meta(ks, key, now)?;
        let (new_value, out) = f(current.as_ref().map(|m| &m.value))?;
        if let Some(v) = new_value {
            let expire_ms = current.map(|m| m.expire_ms).unwrap_or(0);
            let mut b = WriteBatch::default();
            self.put_meta(&mut b, ks, key, &Meta::string(v, expire_ms))?;
            self.write(b)?;
        }
        Ok(out)
    }

    /// INCRBY / DECRBY / INCR / DECR.
    pub fn incr_by(&self, ks: KeyspaceId, key: &[u8], delta: i64) -> Result<i64> {
        self.modify_string(ks, key, |cur| {
            let n = match cur {
                None => 0,
                Some(v) => num::parse_i64(v).ok_or(Error::NotInteger)?,
            };
            let r = n.checked_add(delta).ok_or(Error::Overflow)?;
            Ok((Bytes::from(r.to_string()), r))
        })
    }

    /// INCRBYFLOAT; returns the new value as stored.
    pub fn incr_by_float(&self, ks: KeyspaceId, key: &[u8], delta: f64) -> Result<Bytes> {
        self.modify_string(ks, key, |cur| {
            let n = match cur {
                None => 0.0,
                Some(v) => num::parse_f64(v)
                    .filter(|f| f.is_finite())
                    .ok_or(Error::NotFloat)?,
            };
            let r = n + delta;
            if !r.is_finite() {
                return Err(Error::NanOrInfinity);
            }
            let s = Bytes::from(num::format_f64(r));
            Ok((s.clone(), s))
        })
    }

    /// APPEND; returns the new length.
    pub fn append(&self, ks: KeyspaceId, key: &[u8], suffix: &[u8]) -> Result<usize> {
        let max = self.max_value_len();
        self.modify_string(ks, key, |cur| {
            let cur = cur.map(|b| b.as_ref()).unwrap_or(b"");
            if cur.len() + suffix.len() > max {
                return Err(Error::TooLarge);
            }
            let mut v = Vec::with_capacity(cur.len() + suffix.len());
            v.extend_from_slice(cur);
            v.extend_from_slice(suffix);
            let n = v.len();
            Ok((Bytes::from(v), n))
        })
    }

    /// STRLEN.
    pub fn strlen(&self, ks: KeyspaceId, key: &[u8]) -> Result<usize> {
        Ok(self.get(ks, key)?.map(|v| v.len()).unwrap_or(0))
    }

    /// GETRANGE with Redis's index rules (negative counts from the end, clamped).
    pub fn getrange(&self, ks: KeyspaceId, key: &[u8], start: i64, end: i64) -> Result<Bytes> {
        let Some(v) = self.get(ks, key)? else {
            return Ok(Bytes::new());
        };
        let len = v.len() as i64;
        if len == 0 || (start < 0 && end < 0 && start > end) {
            return Ok(Bytes::new());
        }
        let mut s = if start < 0 { len + start } else { start };
        let mut e = if end < 0 { len + end } else { end };
        if s < 0 {
            s = 0;
        }
        if e < 0 {
            e = 0;
        }
        if e >= len {
            e = len - 1;
        }
        if s > e || s >= len {
            return Ok(Bytes::new());
        }
        Ok(v.slice(s as usize..=e as usize))
    }

    /// SETRANGE; returns the new length. An empty `value` never creates the key.
    pub fn setrange(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        offset: usize,
        value: &[u8],
    ) -> Result<usize> {
        let max = self.max_value_len();
        if value.is_empty() {
            return self.strlen(ks, key);
        }
        if offset.saturating_add(value.len()) > max {
            return Err(Error::TooLarge);
        }
        self.modify_string(ks, key, |cur| {
            let cur = cur.map(|b| b.as_ref()).unwrap_or(b"");
            let mut v = cur.to_vec();
            if v.len() < offset + value.len() {
                v.resize(offset + value.len(), 0);
            }
            v[offset..offset + value.len()].copy_from_slice(value);
            let n = v.len();
            Ok((Bytes::from(v), n))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::test_storage as open;

    #[test]
    fn set_get_and_conditions() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let set = |k: &str, v: &str, c| {
            s.set(
                0,
                k.as_bytes(),
                Bytes::from(v.to_string()),
                c,
                SetExpiry::Clear,
                true,
            )
            .unwrap()
        };
        assert!(!set("a", "1", SetCond::Xx).written);
        assert!(set("a", "1", SetCond::Nx).written);
        assert!(!set("a", "2", SetCond::Nx).written);
        let o = set("a", "3", SetCond::Always);
        assert_eq!(o.old, Some(Bytes::from("1")));
        assert_eq!(s.get(0, b"a").unwrap(), Some(Bytes::from("3")));
        assert_eq!(s.get(1, b"a").unwrap(), None, "databases are separate");
    }

    #[test]
    fn incr_rules() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        assert_eq!(s.incr_by(0, b"n", 5).unwrap(), 5);
        assert_eq!(s.incr_by(0, b"n", -7).unwrap(), -2);
        s.set(
            0,
            b"m",
            Bytes::from("9223372036854775807"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert!(matches!(s.incr_by(0, b"m", 1), Err(Error::Overflow)));
        s.set(
            0,
            b"x",
            Bytes::from("abc"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert!(matches!(s.incr_by(0, b"x", 1), Err(Error::NotInteger)));
        assert_eq!(s.incr_by_float(0, b"f", 10.5).unwrap(), Bytes::from("10.5"));
        assert_eq!(s.incr_by_float(0, b"f", 0.1).unwrap(), Bytes::from("10.6"));
    }

    #[test]
    fn ranges() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        s.set(
            0,
            b"k",
            Bytes::from("Hello World"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert_eq!(s.getrange(0, b"k", 0, 4).unwrap(), Bytes::from("Hello"));
        assert_eq!(s.getrange(0, b"k", -5, -1).unwrap(), Bytes::from("World"));
        assert_eq!(s.getrange(0, b"k", 5, 2).unwrap(), Bytes::new());
        assert_eq!(s.setrange(0, b"k", 6, b"Redis").unwrap(), 11);
        assert_eq!(s.get(0, b"k").unwrap(), Some(Bytes::from("Hello Redis")));
        assert_eq!(s.setrange(0, b"z", 3, b"x").unwrap(), 4);
        assert_eq!(s.get(0, b"z").unwrap(), Some(Bytes::from(&b"\0\0\0x"[..])));
    }

    #[test]
    fn past_expiry_deletes() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        s.set(
            0,
            b"k",
            Bytes::from("v"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        s.set(
            0,
            b"k",
            Bytes::from("v"),
            SetCond::Always,
            SetExpiry::At(1),
            false,
        )
        .unwrap();
        assert_eq!(s.get(0, b"k").unwrap(), None);
    }

    #[test]
    fn string_commands_on_other_types_are_wrongtype() {
        let (_d, s) = open();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let meta = Meta {
            ty: KeyType::Hash,
            expire_ms: 0,
            version: s.next_version(),
            size: 1,
            value: Bytes::new(),
        };
        let mut b = WriteBatch::default();
        s.put_meta(&mut b, 0, b"h", &meta).unwrap();
        s.write(b).unwrap();
        assert!(matches!(s.get(0, b"h"), Err(Error::WrongType)));
        assert!(matches!(s.incr_by(0, b"h", 1), Err(Error::WrongType)));
        assert!(matches!(s.append(0, b"h", b"x"), Err(Error::WrongType)));
        assert!(matches!(s.getdel(0, b"h"), Err(Error::WrongType)));
        assert!(matches!(
            s.set(
                0,
                b"h",
                Bytes::from("v"),
                SetCond::Always,
                SetExpiry::Clear,
                true
            ),
            Err(Error::WrongType)
        ));
        assert_eq!(s.mget(0, &[Bytes::from("h")]).unwrap(), vec![None]);
        let many = s
            .get_many(0, &[Bytes::from("h"), Bytes::from("nope")])
            .unwrap();
        assert!(matches!(many[0], Err(Error::WrongType)));
        assert!(matches!(many[1], Ok(None)));
        // A plain SET replaces a key of any type (its members become stale).
        s.set(
            0,
            b"h",
            Bytes::from("v"),
            SetCond::Always,
            SetExpiry::Clear,
            false,
        )
        .unwrap();
        assert_eq!(s.get(0, b"h").unwrap(), Some(Bytes::from("v")));
    }
}
