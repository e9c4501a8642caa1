//! Typed effects: the deterministic form a write command reports of what it did, for its
//! binlog record (docs/binlog.md). A handler whose effect is not its own arguments (relative
//! TTLs, random choices, computed results, IDs it chose) says so with [`Ctx::log_as`] from
//! what it knows at that point; every other write is logged as given. The commit layer
//! (`commitlog::run_described`) never looks at command names.

use bytes::Bytes;

use super::Ctx;

pub type Logged = Vec<Vec<Bytes>>;

pub(crate) fn cmd(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

impl Ctx<'_> {
    /// Whether this command's writes are being described into records now (a logged unit
    /// on a master): effects are only computed then, never on replay or a replica.
    pub fn describing(&self) -> bool {
        self.session.sink.is_some() && !self.session.replaying
    }

    /// Reports the command's deterministic form (`effect` sees the unit's state after the
    /// command, and the physical database): logged instead of its arguments if it wrote.
    pub fn log_as(&mut self, effect: impl FnOnce(&storage::Db<'_>, u32) -> Logged) {
        if self.describing() {
            let cmds = effect(&self.db, self.session.db);
            self.session.logged_as = Some(cmds);
        }
    }
}

/// A string value with the expiry its key has now (SET with EX/PX/EXAT/PXAT/KEEPTTL,
/// SETEX, PSETEX): the absolute expiry it got, or a deletion if it was already past.
pub fn value_with_expiry(db: &storage::Db<'_>, ks: u32, key: &[u8], value: &[u8]) -> Logged {
    match db.get_meta(ks, key, db.now_ms()).ok().flatten() {
        None => vec![cmd(&[b"DEL", key])],
        Some(m) if m.expire_ms != 0 => vec![cmd(&[
            b"SET",
            key,
            value,
            b"PXAT",
            m.expire_ms.to_string().as_bytes(),
        ])],
        Some(_) => vec![cmd(&[b"SET", key, value])],
    }
}

/// The expiry a key has now (EXPIRE & co., GETEX): absolute, removed, or the key deleted.
pub fn expiry_of(db: &storage::Db<'_>, ks: u32, key: &[u8]) -> Logged {
    match db.get_meta(ks, key, db.now_ms()).ok().flatten() {
        None => vec![cmd(&[b"DEL", key])],
        Some(m) if m.expire_ms != 0 => vec![cmd(&[
            b"PEXPIREAT",
            key,
            m.expire_ms.to_string().as_bytes(),
        ])],
        Some(_) => vec![cmd(&[b"PERSIST", key])],
    }
}

/// RESTORE: the payload with the absolute expiry it got (or the deletion an expired TTL with
/// REPLACE made); IDLETIME/FREQ have no effect to replay.
pub fn restored(db: &storage::Db<'_>, ks: u32, key: &[u8], payload: &[u8]) -> Logged {
    match db.get_meta(ks, key, db.now_ms()).ok().flatten() {
        None => vec![cmd(&[b"DEL", key])],
        Some(m) => vec![cmd(&[
            b"RESTORE",
            key,
            m.expire_ms.to_string().as_bytes(),
            payload,
            b"REPLACE",
            b"ABSTTL",
        ])],
    }
}
