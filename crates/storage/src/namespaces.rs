//! The namespace registry (`docs/encoding.md`): named keyspaces created and dropped at run
//! time. Namespace number `n >= 1` owns the keyspace ids `FIRST_NAMESPACE_ID + (n - 1) * 16`
//! and the 15 after them (its databases 0-15); numbers are never reused, so a re-created name
//! starts empty. Entries live in the `default` column family:
//! `\x00strata:ns:<name>` -> `base u32 BE | token`, and `\x00strata:ns-next` -> `u32 BE`.
//! Writes go through the running transaction, so a NAMESPACE command commits with its binlog
//! record.

use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyspaceId, FIRST_NAMESPACE_ID};
use crate::engine::{CF_DEFAULT, CF_META, CF_RANK, CF_SCORE, CF_SUB};
use crate::Error;

/// Databases per namespace.
pub const NS_DATABASES: u32 = 16;

const PREFIX: &[u8] = b"\x00strata:ns:";
const NEXT: &[u8] = b"\x00strata:ns-next";

/// One registered namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsEntry {
    pub name: String,
    /// Keyspace id of its database 0.
    pub base: KeyspaceId,
    pub token: String,
}

fn entry_key(name: &str) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

impl Db<'_> {
    /// Every registered namespace, by name.
    pub fn namespaces(&self) -> Result<Vec<NsEntry>, Error> {
        let mut it = self.prefix_iter(CF_DEFAULT, PREFIX)?;
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if v.len() < 4 {
                return Err(Error::Corrupt("namespace entry is malformed".into()));
            }
            out.push(NsEntry {
                name: String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned(),
                base: encoding::be_u32(&v[..4]),
                token: String::from_utf8_lossy(&v[4..]).into_owned(),
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Registers `name` with a new, never used keyspace range; `None` if the name exists.
    pub fn namespace_add(&self, name: &str, token: &str) -> Result<Option<NsEntry>, Error> {
        if self.get_raw(CF_DEFAULT, &entry_key(name))?.is_some() {
            return Ok(None);
        }
        let next = match self.get_raw(CF_DEFAULT, NEXT)? {
            Some(v) if v.len() == 4 => encoding::be_u32(&v),
            Some(_) => return Err(Error::Corrupt("namespace counter is malformed".into())),
            None => 1,
        };
        let base = (next - 1)
            .checked_mul(NS_DATABASES)
            .and_then(|o| FIRST_NAMESPACE_ID.checked_add(o))
            .filter(|b| b.checked_add(NS_DATABASES).is_some())
            .ok_or_else(|| Error::Corrupt("no namespace ids left".into()))?;
        let mut value = base.to_be_bytes().to_vec();
        value.extend_from_slice(token.as_bytes());
        let mut b = WriteBatch::default();
        let cf = self.cf(CF_DEFAULT)?;
        b.put_cf(cf, entry_key(name), value);
        b.put_cf(cf, NEXT, (next + 1).to_be_bytes());
        self.write(b)?;
        Ok(Some(NsEntry {
            name: name.to_string(),
            base,
            token: token.to_string(),
        }))
    }

    /// Changes a namespace's token; `false` if there is no such namespace.
    pub fn namespace_set_token(&self, name: &str, token: &str) -> Result<bool, Error> {
        let Some(v) = self.get_raw(CF_DEFAULT, &entry_key(name))? else {
            return Ok(false);
        };
        let mut value = v[..4].to_vec();
        value.extend_from_slice(token.as_bytes());
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_DEFAULT)?, entry_key(name), value);
        self.write(b)?;
        Ok(true)
    }

    /// Drops a namespace: its entry, and all its data with range deletions (no scan; the
    /// space comes back at compaction). `None` if there is no such namespace.
    pub fn namespace_del(&self, name: &str) -> Result<Option<KeyspaceId>, Error> {
        let Some(v) = self.get_raw(CF_DEFAULT, &entry_key(name))? else {
            return Ok(None);
        };
        if v.len() < 4 {
            return Err(Error::Corrupt("namespace entry is malformed".into()));
        }
        let base = encoding::be_u32(&v[..4]);
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_DEFAULT)?, entry_key(name));
        self.write(b)?;
        self.flush_keyspaces(base, base + NS_DATABASES)?;
        // Its function libraries go with it.
        self.function_flush(base)?;
        Ok(Some(base))
    }

    /// Removes keyspaces `lo..hi` with range deletions (FLUSHALL of a namespace, its drop).
    pub fn flush_keyspaces(&self, lo: KeyspaceId, hi: KeyspaceId) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        for cf in [CF_META, CF_SUB, CF_SCORE, CF_RANK] {
            self.delete_range(
                &mut b,
                cf,
                &encoding::keyspace_start(lo),
                &encoding::keyspace_start(hi),
            )?;
        }
        self.write(b)?;
        for ks in lo..hi {
            self.note_flush(Some(ks));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_get_fresh_ranges_and_drop_removes_their_data() {
        let (_d, s) = crate::engine::test_storage();
        let cx = crate::WriteCx::new();
        let s = s.db(&cx);
        let a = s.namespace_add("a", "ta").unwrap().unwrap();
        assert_eq!(a.base, FIRST_NAMESPACE_ID);
        assert!(s.namespace_add("a", "x").unwrap().is_none());
        let b = s.namespace_add("b", "tb").unwrap().unwrap();
        assert_eq!(b.base, FIRST_NAMESPACE_ID + NS_DATABASES);
        let set = |ks, v: &'static [u8]| {
            s.set(
                ks,
                b"k",
                bytes::Bytes::from_static(v),
                crate::SetCond::Always,
                crate::SetExpiry::Clear,
                false,
            )
            .unwrap();
        };
        set(a.base, b"in-a");
        set(b.base + 3, b"in-b");
        assert_eq!(s.namespace_del("a").unwrap(), Some(a.base));
        assert_eq!(s.namespace_del("a").unwrap(), None);
        assert!(s.get(a.base, b"k").unwrap().is_none());
        assert_eq!(
            s.get(b.base + 3, b"k").unwrap().as_deref(),
            Some(&b"in-b"[..])
        );
        // Re-created: a new range, empty.
        let a2 = s.namespace_add("a", "ta2").unwrap().unwrap();
        assert_eq!(a2.base, FIRST_NAMESPACE_ID + 2 * NS_DATABASES);
        let names: Vec<String> = s
            .namespaces()
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
        assert!(s.namespace_set_token("b", "new").unwrap());
        assert_eq!(s.namespaces().unwrap()[1].token, "new");
    }
}
