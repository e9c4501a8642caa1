//! Typed effects: the deterministic form a write command reports of what it did, for its
//! binlog record (docs/binlog.md). A handler whose effect is not its own arguments (relative
//! TTLs, random choices, computed results, IDs it chose) says so with [`Ctx::log_as`] from
//! what it knows at that point; every other write is logged as given. The commit layer
//! (`commitlog::run_described`) never looks at command names.
//!
//! Keyspace events are effects too: a handler publishes each one where it made the change
//! ([`Ctx::notify`], as Redis's `notifyKeyspaceEvent`), with Redis's event names and order;
//! they are held with the unit's other messages until it commits (`notify::Held`).

use bytes::Bytes;

use super::Ctx;
use crate::notify;

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

impl Ctx<'_> {
    /// Publishes keyspace event `event` (of class `class`, see `notify`) about `key` in the
    /// selected database, if notifications of that class are on. A key the command created
    /// gets its `new` event first (class `n`).
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.session.db;
        self.notify_in(class, event, db, key);
    }

    /// [`Ctx::notify`] about a key of (physical) database `db`: MOVE's destination.
    pub fn notify_in(&mut self, class: u32, event: &str, db: u32, key: &[u8]) {
        if !notify::enabled(self.shared) {
            return;
        }
        // The keys it read and did not find were looked up before it changed anything.
        self.flush_key_misses();
        // Keys the command found expired (and deletes) were deleted before it changed
        // anything: their `expired` comes first, as Redis's lazy expiry sends it.
        self.notify_expired_seen();
        if db == self.session.db {
            self.created(key);
        }
        notify::emit(&self.emitter(), class, event, db, key);
    }

    /// The `new` event of `key` now, if the command created it and it was not sent yet.
    fn created(&mut self, key: &[u8]) {
        let Some(i) = self.session.new_keys.iter().position(|k| k[..] == *key) else {
            return;
        };
        let k = self.session.new_keys.swap_remove(i);
        if self.key_exists(&k) {
            let db = self.session.db;
            notify::emit(&self.emitter(), notify::NEW, "new", db, &k);
        }
    }

    /// The `new` event of `key`, added to (physical) database `db` even if a key of that
    /// name was there before (RENAME, COPY, RESTORE REPLACE and MOVE delete the old one and
    /// add theirs, as Redis's `dbAdd`).
    pub fn added_in(&mut self, db: u32, key: &[u8]) {
        if !notify::enabled(self.shared) {
            return;
        }
        self.notify_expired_seen();
        if db == self.session.db {
            if let Some(i) = self.session.new_keys.iter().position(|k| k[..] == *key) {
                self.session.new_keys.swap_remove(i);
            }
        }
        notify::emit(&self.emitter(), notify::NEW, "new", db, key);
    }

    /// [`Ctx::added_in`] the selected database.
    pub fn added(&mut self, key: &[u8]) {
        let db = self.session.db;
        self.added_in(db, key);
    }

    /// `del` if `key` no longer exists: a command that removed a collection's last element
    /// (or set an expiry in the past).
    pub fn notify_del_if_gone(&mut self, key: &[u8]) {
        if notify::enabled(self.shared) && !self.key_exists(key) {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// Whether `key` exists now, asked only when its events need it (before a command
    /// that may delete it).
    pub fn existed_for_events(&self, key: &[u8]) -> bool {
        self.notifying() && self.key_exists(key)
    }

    /// The events of a *STORE into `dst`: `event` if it stored a non-empty result, else
    /// `del` if it deleted the destination that `existed`.
    pub fn notify_stored(&mut self, class: u32, event: &str, dst: &[u8], len: u64, existed: bool) {
        if len > 0 {
            self.notify(class, event, dst);
        } else if existed {
            self.notify(notify::GENERIC, "del", dst);
        }
    }

    /// Whether `key` exists in the selected database, as the unit sees it now.
    pub fn key_exists(&self, key: &[u8]) -> bool {
        let now = self.db.now_ms();
        matches!(self.db.get_meta(self.session.db, key, now), Ok(Some(_)))
    }

    /// Whether any keyspace event would be published: handlers skip lookups made only for
    /// their events otherwise.
    pub fn notifying(&self) -> bool {
        notify::enabled(self.shared)
    }

    /// `expired` for each key the command found expired since the last event.
    pub fn notify_expired_seen(&mut self) {
        let from = self.session.expired_notified;
        let seen = self.db.expired_seen_from(from);
        if seen.is_empty() {
            return;
        }
        self.session.expired_notified = from + seen.len();
        for (ks, key) in seen {
            notify::emit(&self.emitter(), notify::EXPIRED, "expired", ks, &key);
        }
    }

    /// `keymiss` of the keys the command read and did not find (`notify::key_misses`), now.
    fn flush_key_misses(&mut self) {
        if self.session.pending_misses.is_empty() {
            return;
        }
        let db = self.session.db;
        for k in std::mem::take(&mut self.session.pending_misses) {
            notify::emit(&self.emitter(), notify::KEY_MISS, "keymiss", db, &k);
        }
    }

    /// `keymiss` of a key the command looked up on its own (SORT's BY and GET patterns),
    /// after those of its arguments.
    pub fn key_miss(&mut self, key: &[u8]) {
        if !notify::key_misses_on(self.shared) {
            return;
        }
        self.flush_key_misses();
        let db = self.session.db;
        notify::emit(&self.emitter(), notify::KEY_MISS, "keymiss", db, key);
    }

    fn emitter(&self) -> notify::Emitter<'_> {
        notify::Emitter {
            shared: self.shared,
            view: &self.db,
            held: &self.session.held,
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
