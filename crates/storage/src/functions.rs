//! Function libraries (FUNCTION LOAD): the code of each library, per namespace, in the
//! `default` column family: `\x00strata:fn:<namespace base u32 BE><library name>` -> code.
//! Writes go through the running unit, so a FUNCTION command commits with its binlog record,
//! and a snapshot (full sync) carries the libraries with the data.

use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyspaceId};
use crate::engine::CF_DEFAULT;
use crate::Error;

const PREFIX: &[u8] = b"\x00strata:fn:";

fn ns_prefix(ns: KeyspaceId) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&ns.to_be_bytes());
    k
}

fn lib_key(ns: KeyspaceId, lib: &str) -> Vec<u8> {
    let mut k = ns_prefix(ns);
    k.extend_from_slice(lib.as_bytes());
    k
}

/// One stored library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLibrary {
    /// The namespace (keyspace id of its database 0) it belongs to.
    pub ns: KeyspaceId,
    pub name: String,
    pub code: Vec<u8>,
}

impl Db<'_> {
    /// The libraries of namespace `ns`, or of every namespace, by namespace and name.
    pub fn function_libraries(&self, ns: Option<KeyspaceId>) -> Result<Vec<StoredLibrary>, Error> {
        let prefix = ns.map_or_else(|| PREFIX.to_vec(), ns_prefix);
        let mut it = self.prefix_iter(CF_DEFAULT, &prefix)?;
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.len() < PREFIX.len() + 4 {
                return Err(Error::Corrupt("function library entry is malformed".into()));
            }
            out.push(StoredLibrary {
                ns: encoding::be_u32(&k[PREFIX.len()..PREFIX.len() + 4]),
                name: String::from_utf8_lossy(&k[PREFIX.len() + 4..]).into_owned(),
                code: v.to_vec(),
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Stores (or replaces) library `lib` of namespace `ns`.
    pub fn function_put(&self, ns: KeyspaceId, lib: &str, code: &[u8]) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_DEFAULT)?, lib_key(ns, lib), code);
        self.write(b)
    }

    /// Deletes library `lib` of namespace `ns`; whether it was there.
    pub fn function_delete(&self, ns: KeyspaceId, lib: &str) -> Result<bool, Error> {
        if self.get_raw(CF_DEFAULT, &lib_key(ns, lib))?.is_none() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_DEFAULT)?, lib_key(ns, lib));
        self.write(b)?;
        Ok(true)
    }

    /// Deletes every library of namespace `ns`.
    pub fn function_flush(&self, ns: KeyspaceId) -> Result<(), Error> {
        let libs = self.function_libraries(Some(ns))?;
        if libs.is_empty() {
            return Ok(());
        }
        let mut b = WriteBatch::default();
        let cf = self.cf(CF_DEFAULT)?;
        for l in libs {
            b.delete_cf(cf, lib_key(ns, &l.name));
        }
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::test_storage;
    use crate::WriteCx;

    #[test]
    fn libraries_are_kept_per_namespace() {
        let (_d, s) = test_storage();
        let cx = WriteCx::new();
        let db = s.db(&cx);
        db.function_put(0, "a", b"code a").unwrap();
        db.function_put(0, "b", b"code b").unwrap();
        db.function_put(16, "a", b"other ns").unwrap();
        let mine = db.function_libraries(Some(0)).unwrap();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].code, b"code a");
        assert_eq!(db.function_libraries(None).unwrap().len(), 3);
        assert!(db.function_delete(0, "a").unwrap());
        assert!(!db.function_delete(0, "a").unwrap());
        db.function_flush(0).unwrap();
        assert!(db.function_libraries(Some(0)).unwrap().is_empty());
        assert_eq!(
            db.function_libraries(Some(16)).unwrap()[0].code,
            b"other ns"
        );
    }
}
