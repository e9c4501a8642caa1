//! Consumer groups of streams, under the stream's version in `sub` (see `streams.rs` for the
//! entries):
//!
//! ```text
//! g | group                                  -> last id (16 B) | entries read i64 | pending u64 | consumers u64
//! p | glen u32 | group | id (16 B)           -> pending entry: delivery time u64 | delivery count u64 | consumer
//! c | glen u32 | group | consumer            -> consumer: seen time u64 | pending u64
//! q | glen u32 | group | clen u32 | consumer | id (16 B) -> (empty) the consumer's own pending list
//! ```
//!
//! Groups and consumers sort by name (the order Redis lists them in); both pending lists sort
//! by ID, so XPENDING's pages, XACK, XCLAIM and a consumer's history reads are seeks, never
//! scans of the stream.

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyspaceId};
use crate::engine::CF_SUB;
use crate::streams::{StreamEntry, StreamId, StreamSnapshot};
use crate::{Error, Result};

const TAG_GROUP: u8 = b'g';
const TAG_PEL: u8 = b'p';
const TAG_CONSUMER: u8 = b'c';
const TAG_CPEL: u8 = b'q';

/// `entries-read` unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Copy, Debug, Default)]
struct Group {
    last_id: StreamId,
    entries_read: i64,
    pending: u64,
    consumers: u64,
}

impl Group {
    fn decode(v: &[u8]) -> Option<Group> {
        if v.len() < 40 {
            return None;
        }
        Some(Group {
            last_id: StreamId::decode(&v[..16])?,
            entries_read: i64::from_be_bytes(v[16..24].try_into().ok()?),
            pending: u64::from_be_bytes(v[24..32].try_into().ok()?),
            consumers: u64::from_be_bytes(v[32..40].try_into().ok()?),
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.last_id.encode());
        out.extend_from_slice(&self.entries_read.to_be_bytes());
        out.extend_from_slice(&self.pending.to_be_bytes());
        out.extend_from_slice(&self.consumers.to_be_bytes());
        out
    }
}

/// A pending entry: delivered, not acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    pub id: StreamId,
    pub consumer: Bytes,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

fn decode_nack(id: StreamId, v: &[u8]) -> Option<Nack> {
    if v.len() < 16 {
        return None;
    }
    Some(Nack {
        id,
        delivery_time: u64::from_be_bytes(v[..8].try_into().ok()?),
        delivery_count: u64::from_be_bytes(v[8..16].try_into().ok()?),
        consumer: Bytes::copy_from_slice(&v[16..]),
    })
}

fn encode_nack(n: &Nack) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + n.consumer.len());
    out.extend_from_slice(&n.delivery_time.to_be_bytes());
    out.extend_from_slice(&n.delivery_count.to_be_bytes());
    out.extend_from_slice(&n.consumer);
    out
}

#[derive(Clone, Copy, Debug, Default)]
struct Consumer {
    seen_time: u64,
    pending: u64,
}

impl Consumer {
    fn decode(v: &[u8]) -> Option<Consumer> {
        if v.len() < 16 {
            return None;
        }
        Some(Consumer {
            seen_time: u64::from_be_bytes(v[..8].try_into().ok()?),
            pending: u64::from_be_bytes(v[8..16].try_into().ok()?),
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.seen_time.to_be_bytes());
        out.extend_from_slice(&self.pending.to_be_bytes());
        out
    }
}

/// What XREADGROUP and the claims hand out: an entry, or only its ID when the entry was
/// deleted since it was delivered (`fields == None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    pub id: StreamId,
    pub fields: Option<Vec<Bytes>>,
}

/// Where XREADGROUP reads.
#[derive(Clone, Copy, Debug)]
pub enum ReadFrom {
    /// `>`: entries never delivered to the group.
    New,
    /// The consumer's own pending entries after this ID.
    History(StreamId),
}

/// XREADGROUP's outcome for one stream.
#[derive(Debug)]
pub enum ReadGroup {
    /// No such group (or no stream).
    NoGroup,
    /// `>` with nothing new: nothing changed (the client may block).
    Nothing,
    /// What was handed out, and whether the consumer was created for it.
    Served(Vec<Delivered>, bool),
}

/// XAUTOCLAIM's outcome: where to go on from (0-0: the end), the entries claimed, and the
/// IDs whose entries were deleted (dropped from the pending list).
#[derive(Debug)]
pub struct AutoClaimed {
    pub cursor: StreamId,
    pub claimed: Vec<Delivered>,
    pub deleted: Vec<StreamId>,
    /// The consumer was created for the claims.
    pub consumer_created: bool,
}

/// XGROUP CREATE's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Created,
    Exists,
    NoStream,
}

/// XCLAIM's options (times absolute, resolved by the caller).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaimOpts {
    pub min_idle: u64,
    pub delivery_time: u64,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub justid: bool,
    pub last_id: Option<StreamId>,
}

/// A group as XINFO GROUPS shows it.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub name: Bytes,
    pub consumers: u64,
    pub pending: u64,
    pub last_id: StreamId,
    pub entries_read: i64,
    pub lag: Option<i64>,
}

/// A consumer as XINFO CONSUMERS shows it.
#[derive(Clone, Debug)]
pub struct ConsumerInfo {
    pub name: Bytes,
    pub pending: u64,
    pub seen_time: u64,
}

/// XPENDING's summary.
#[derive(Clone, Debug)]
pub struct PendingSummary {
    pub count: u64,
    pub bounds: Option<(StreamId, StreamId)>,
    pub consumers: Vec<(Bytes, u64)>,
}

fn len_prefixed(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + b.len());
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
    out
}

struct Keys<'k> {
    ks: KeyspaceId,
    key: &'k [u8],
    version: u64,
}

impl Keys<'_> {
    fn sub(&self, parts: &[&[u8]]) -> Vec<u8> {
        let member: Vec<u8> = parts.concat();
        encoding::sub_key(self.ks, self.key, self.version, &member)
    }
    fn group(&self, g: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_GROUP], g])
    }
    fn groups(&self) -> Vec<u8> {
        self.sub(&[&[TAG_GROUP]])
    }
    fn pel_prefix(&self, g: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_PEL], &len_prefixed(g)])
    }
    fn pel(&self, g: &[u8], id: StreamId) -> Vec<u8> {
        self.sub(&[&[TAG_PEL], &len_prefixed(g), &id.encode()])
    }
    fn consumer_prefix(&self, g: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_CONSUMER], &len_prefixed(g)])
    }
    fn consumer(&self, g: &[u8], c: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_CONSUMER], &len_prefixed(g), c])
    }
    fn cpel_group_prefix(&self, g: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_CPEL], &len_prefixed(g)])
    }
    fn cpel_prefix(&self, g: &[u8], c: &[u8]) -> Vec<u8> {
        self.sub(&[&[TAG_CPEL], &len_prefixed(g), &len_prefixed(c)])
    }
    fn cpel(&self, g: &[u8], c: &[u8], id: StreamId) -> Vec<u8> {
        self.sub(&[
            &[TAG_CPEL],
            &len_prefixed(g),
            &len_prefixed(c),
            &id.encode(),
        ])
    }
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("stream {what} does not decode"))
}

fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.extend_from_slice(&[0xff; 32]);
    end
}

/// A group being changed: its record, and the consumers and pending entries touched, written
/// back in one batch.
struct Work<'k> {
    k: Keys<'k>,
    group_name: Vec<u8>,
    group: Group,
    consumers: std::collections::HashMap<Vec<u8>, Consumer>,
    b: WriteBatch,
    /// A consumer was created (its `xgroup-createconsumer` event).
    consumer_created: bool,
}

impl Db<'_> {
    fn read_group(&self, k: &Keys<'_>, g: &[u8]) -> Result<Option<Group>> {
        match self.get_raw(CF_SUB, &k.group(g))? {
            Some(v) => Ok(Some(Group::decode(&v).ok_or_else(|| corrupt("group"))?)),
            None => Ok(None),
        }
    }

    fn read_consumer(&self, k: &Keys<'_>, g: &[u8], c: &[u8]) -> Result<Option<Consumer>> {
        match self.get_raw(CF_SUB, &k.consumer(g, c))? {
            Some(v) => Ok(Some(
                Consumer::decode(&v).ok_or_else(|| corrupt("consumer"))?,
            )),
            None => Ok(None),
        }
    }

    fn read_nack(&self, k: &Keys<'_>, g: &[u8], id: StreamId) -> Result<Option<Nack>> {
        match self.get_raw(CF_SUB, &k.pel(g, id))? {
            Some(v) => Ok(Some(
                decode_nack(id, &v).ok_or_else(|| corrupt("pending entry"))?,
            )),
            None => Ok(None),
        }
    }

    /// Prefix walk of `prefix` from `from` (a full key), until `f` says stop.
    fn walk_prefix(
        &self,
        prefix: &[u8],
        from: Option<Vec<u8>>,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut it = self.prefix_iter(CF_SUB, prefix)?;
        it.seek(from.unwrap_or_else(|| prefix.to_vec()));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(prefix) {
                break;
            }
            if !f(&k[prefix.len()..], v)? {
                break;
            }
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// The stream (and its group `g`) ready to change; `None` without a stream or group.
    /// `edges`: also find the first and last entries (lag, read counters, `>` reads).
    fn open_group<'k>(
        &self,
        ks: KeyspaceId,
        key: &'k [u8],
        g: &[u8],
        edges: bool,
    ) -> Result<Option<(StreamSnapshot, Work<'k>)>> {
        let Some(snap) = self.stream_snapshot(ks, key, edges)? else {
            return Ok(None);
        };
        let k = Keys {
            ks,
            key,
            version: snap.meta.version,
        };
        let Some(group) = self.read_group(&k, g)? else {
            return Ok(None);
        };
        Ok(Some((
            snap,
            Work {
                k,
                group_name: g.to_vec(),
                group,
                consumers: Default::default(),
                b: WriteBatch::default(),
                consumer_created: false,
            },
        )))
    }

    fn work_consumer(&self, w: &mut Work<'_>, c: &[u8], now: u64, create: bool) -> Result<bool> {
        if w.consumers.contains_key(c) {
            return Ok(true);
        }
        match self.read_consumer(&w.k, &w.group_name, c)? {
            Some(mut con) => {
                con.seen_time = now;
                w.consumers.insert(c.to_vec(), con);
                Ok(true)
            }
            None if create => {
                w.consumers.insert(
                    c.to_vec(),
                    Consumer {
                        seen_time: now,
                        pending: 0,
                    },
                );
                w.group.consumers += 1;
                w.consumer_created = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Writes a pending entry owned by `nack.consumer`, moving it from `previous` (its old
    /// owner, if any); counts follow.
    fn put_nack(&self, w: &mut Work<'_>, nack: &Nack, previous: Option<&[u8]>) -> Result<()> {
        let cf = self.cf(CF_SUB)?;
        let g = w.group_name.clone();
        match previous {
            None => w.group.pending += 1,
            Some(p) if p != nack.consumer.as_ref() => {
                w.b.delete_cf(cf, w.k.cpel(&g, p, nack.id));
                self.adjust_pending(w, p, -1)?;
            }
            Some(_) => {}
        }
        if previous != Some(nack.consumer.as_ref()) {
            w.b.put_cf(cf, w.k.cpel(&g, &nack.consumer, nack.id), []);
            self.adjust_pending(w, &nack.consumer.clone(), 1)?;
        }
        w.b.put_cf(cf, w.k.pel(&g, nack.id), encode_nack(nack));
        Ok(())
    }

    fn drop_nack(&self, w: &mut Work<'_>, nack: &Nack) -> Result<()> {
        let cf = self.cf(CF_SUB)?;
        let g = w.group_name.clone();
        w.b.delete_cf(cf, w.k.pel(&g, nack.id));
        w.b.delete_cf(cf, w.k.cpel(&g, &nack.consumer, nack.id));
        w.group.pending = w.group.pending.saturating_sub(1);
        self.adjust_pending(w, &nack.consumer.clone(), -1)
    }

    fn adjust_pending(&self, w: &mut Work<'_>, c: &[u8], delta: i64) -> Result<()> {
        if !w.consumers.contains_key(c) {
            let con = self
                .read_consumer(&w.k, &w.group_name, c)?
                .unwrap_or_default();
            w.consumers.insert(c.to_vec(), con);
        }
        if let Some(con) = w.consumers.get_mut(c) {
            con.pending = con.pending.saturating_add_signed(delta);
        }
        Ok(())
    }

    fn finish(&self, mut w: Work<'_>) -> Result<()> {
        let cf = self.cf(CF_SUB)?;
        for (c, con) in &w.consumers {
            w.b.put_cf(cf, w.k.consumer(&w.group_name, c), con.encode());
        }
        w.b.put_cf(cf, w.k.group(&w.group_name), w.group.encode());
        self.write(w.b)
    }

    /// The logical read counter of `id` (Redis's `streamEstimateDistanceFromFirstEverEntry`).
    fn estimate_read(snap: &StreamSnapshot, id: StreamId) -> i64 {
        if snap.entries_added == 0 {
            return 0;
        }
        if snap.meta.size == 0 && id <= snap.last_id {
            return snap.entries_added as i64;
        }
        if id == snap.last_id {
            return snap.entries_added as i64;
        } else if id > snap.last_id {
            return INVALID_ENTRIES_READ;
        }
        let first = snap.first_id.unwrap_or_default();
        if snap.max_deleted == StreamId::MIN || snap.max_deleted < first {
            if id < first {
                return (snap.entries_added - snap.meta.size) as i64;
            } else if id == first {
                return (snap.entries_added - snap.meta.size + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// Whether a deleted entry may lie at or after `start` (Redis's `streamRangeHasTombstones`
    /// with no end).
    fn tombstones_after(snap: &StreamSnapshot, start: StreamId) -> bool {
        if snap.meta.size == 0 || snap.max_deleted == StreamId::MIN {
            return false;
        }
        if snap.first_id.unwrap_or_default() > snap.max_deleted {
            return false;
        }
        start <= snap.max_deleted
    }

    fn lag(snap: &StreamSnapshot, g: &Group) -> Option<i64> {
        if snap.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !Self::tombstones_after(snap, g.last_id) {
            return Some(snap.entries_added as i64 - g.entries_read);
        }
        let read = Self::estimate_read(snap, g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| snap.entries_added as i64 - read)
    }

    /// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n] (`id: None` is `$`).
    pub fn xgroup_create(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        id: Option<StreamId>,
        mkstream: bool,
        entries_read: i64,
    ) -> Result<Created> {
        let _l = self.lock(&[(ks, key)]);
        let snap = match self.stream_snapshot(ks, key, false)? {
            Some(s) => s,
            None if mkstream => {
                self.create_empty_stream(ks, key)?;
                self.stream_snapshot(ks, key, false)?
                    .ok_or_else(|| corrupt("new stream"))?
            }
            None => return Ok(Created::NoStream),
        };
        let k = Keys {
            ks,
            key,
            version: snap.meta.version,
        };
        if self.read_group(&k, group)?.is_some() {
            return Ok(Created::Exists);
        }
        let g = Group {
            last_id: id.unwrap_or(snap.last_id),
            entries_read,
            pending: 0,
            consumers: 0,
        };
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SUB)?, k.group(group), g.encode());
        self.write(b)?;
        Ok(Created::Created)
    }

    /// XGROUP SETID key group id|$ [ENTRIESREAD n]: false without the group.
    pub fn xgroup_setid(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        id: Option<StreamId>,
        entries_read: i64,
    ) -> Result<bool> {
        let _l = self.lock(&[(ks, key)]);
        let Some((snap, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(false);
        };
        w.group.last_id = id.unwrap_or(snap.last_id);
        w.group.entries_read = entries_read;
        self.finish(w)?;
        Ok(true)
    }

    /// XGROUP DESTROY: whether the group existed.
    pub fn xgroup_destroy(&self, ks: KeyspaceId, key: &[u8], group: &[u8]) -> Result<bool> {
        let _l = self.lock(&[(ks, key)]);
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(false);
        };
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_SUB)?, w.k.group(group));
        for prefix in [
            w.k.pel_prefix(group),
            w.k.consumer_prefix(group),
            w.k.cpel_group_prefix(group),
        ] {
            self.delete_range(&mut b, CF_SUB, &prefix, &prefix_end(&prefix))?;
        }
        self.write(b)?;
        Ok(true)
    }

    /// XGROUP CREATECONSUMER: `None` without the group, else whether it was created.
    pub fn xgroup_createconsumer(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> Result<Option<bool>> {
        let _l = self.lock(&[(ks, key)]);
        let Some((_, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        if self.read_consumer(&w.k, group, consumer)?.is_some() {
            return Ok(Some(false));
        }
        let now = crate::engine::now_ms();
        self.work_consumer(&mut w, consumer, now, true)?;
        self.finish(w)?;
        Ok(Some(true))
    }

    /// XGROUP DELCONSUMER: `None` without the group, else the pending entries it had (they
    /// leave the group's pending list too).
    pub fn xgroup_delconsumer(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> Result<Option<u64>> {
        let _l = self.lock(&[(ks, key)]);
        let Some((_, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let Some(con) = self.read_consumer(&w.k, group, consumer)? else {
            return Ok(Some(0));
        };
        let cf = self.cf(CF_SUB)?;
        let mut ids = Vec::new();
        self.walk_prefix(&w.k.cpel_prefix(group, consumer), None, |rest, _| {
            ids.push(StreamId::decode(rest).ok_or_else(|| corrupt("consumer pending key"))?);
            Ok(true)
        })?;
        for id in &ids {
            w.b.delete_cf(cf, w.k.pel(group, *id));
            w.b.delete_cf(cf, w.k.cpel(group, consumer, *id));
        }
        w.group.pending = w.group.pending.saturating_sub(ids.len() as u64);
        w.group.consumers = w.group.consumers.saturating_sub(1);
        w.b.delete_cf(cf, w.k.consumer(group, consumer));
        let mut b = std::mem::take(&mut w.b);
        b.put_cf(cf, w.k.group(group), w.group.encode());
        self.write(b)?;
        Ok(Some(con.pending.max(ids.len() as u64)))
    }

    /// XREADGROUP on one stream.
    #[allow(clippy::too_many_arguments)]
    pub fn xreadgroup(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        from: ReadFrom,
        count: u64,
        noack: bool,
    ) -> Result<ReadGroup> {
        let _l = self.lock(&[(ks, key)]);
        let Some((snap, mut w)) = self.open_group(ks, key, group, true)? else {
            return Ok(ReadGroup::NoGroup);
        };
        let now = crate::engine::now_ms();
        let mut out = Vec::new();
        match from {
            ReadFrom::History(after) => {
                self.work_consumer(&mut w, consumer, now, true)?;
                let Some(start) = after.next() else {
                    let created = w.consumer_created;
                    self.finish(w)?;
                    return Ok(ReadGroup::Served(out, created));
                };
                let prefix = w.k.cpel_prefix(group, consumer);
                let mut from_key = prefix.clone();
                from_key.extend_from_slice(&start.encode());
                let mut ids = Vec::new();
                self.walk_prefix(&prefix, Some(from_key), |rest, _| {
                    ids.push(
                        StreamId::decode(rest).ok_or_else(|| corrupt("consumer pending key"))?,
                    );
                    Ok(count == 0 || (ids.len() as u64) < count)
                })?;
                for id in ids {
                    let entry = self.stream_entry(&snap, key, id)?;
                    if entry.is_some() {
                        if let Some(mut n) = self.read_nack(&w.k, group, id)? {
                            n.delivery_time = now;
                            n.delivery_count += 1;
                            let owner = n.consumer.clone();
                            self.put_nack(&mut w, &n, Some(&owner))?;
                        }
                    }
                    out.push(Delivered { id, fields: entry });
                }
            }
            ReadFrom::New => {
                let Some(top) = snap.last_live else {
                    return Ok(ReadGroup::Nothing);
                };
                if top <= w.group.last_id {
                    return Ok(ReadGroup::Nothing);
                }
                self.work_consumer(&mut w, consumer, now, true)?;
                let Some(start) = w.group.last_id.next() else {
                    return Ok(ReadGroup::Nothing);
                };
                let entries = self.xrange(ks, key, start, StreamId::MAX, count, false)?;
                // Entries past the group's position are normally not pending yet (unless an
                // XGROUP SETID moved it back): one seek of the pending list tells.
                let first_pending = match entries.first() {
                    Some(e) => {
                        let prefix = w.k.pel_prefix(group);
                        let mut from = prefix.clone();
                        from.extend_from_slice(&e.id.encode());
                        let mut found = None;
                        self.walk_prefix(&prefix, Some(from), |rest, _| {
                            found = StreamId::decode(rest);
                            Ok(false)
                        })?;
                        found
                    }
                    None => None,
                };
                let may_be_pending = |id: StreamId| first_pending.is_some_and(|p| p <= id);
                for StreamEntry { id, fields } in entries {
                    if id > w.group.last_id {
                        if w.group.entries_read != INVALID_ENTRIES_READ
                            && !Self::tombstones_after(&snap, id)
                        {
                            w.group.entries_read += 1;
                        } else if snap.entries_added > 0 {
                            w.group.entries_read = Self::estimate_read(&snap, id);
                        }
                        w.group.last_id = id;
                    }
                    if !noack {
                        let previous = if may_be_pending(id) {
                            self.read_nack(&w.k, group, id)?.map(|n| n.consumer)
                        } else {
                            None
                        };
                        let nack = Nack {
                            id,
                            consumer: Bytes::copy_from_slice(consumer),
                            delivery_time: now,
                            delivery_count: 1,
                        };
                        self.put_nack(&mut w, &nack, previous.as_deref())?;
                    }
                    out.push(Delivered {
                        id,
                        fields: Some(fields),
                    });
                }
            }
        }
        let created = w.consumer_created;
        self.finish(w)?;
        Ok(ReadGroup::Served(out, created))
    }

    /// XACK: how many of the IDs were pending (0 without the stream or group).
    pub fn xack(&self, ks: KeyspaceId, key: &[u8], group: &[u8], ids: &[StreamId]) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let Some((_, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(0);
        };
        let mut acked = 0;
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            if let Some(n) = self.read_nack(&w.k, group, *id)? {
                self.drop_nack(&mut w, &n)?;
                acked += 1;
            }
        }
        if acked == 0 {
            return Ok(0);
        }
        self.finish(w)?;
        Ok(acked)
    }

    /// XPENDING key group: `None` without the stream or group.
    pub fn xpending_summary(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
    ) -> Result<Option<PendingSummary>> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let prefix = w.k.pel_prefix(group);
        let mut first = None;
        self.walk_prefix(&prefix, None, |rest, _| {
            first = StreamId::decode(rest);
            Ok(false)
        })?;
        let mut last = None;
        if first.is_some() {
            let mut it = self.prefix_iter(CF_SUB, &prefix)?;
            it.seek_for_prev(prefix_end(&prefix));
            if let Some(k) = it.key() {
                if k.starts_with(&prefix) {
                    last = StreamId::decode(&k[prefix.len()..]);
                }
            }
            it.status()?;
        }
        let mut consumers = Vec::new();
        self.walk_prefix(&w.k.consumer_prefix(group), None, |name, v| {
            let con = Consumer::decode(v).ok_or_else(|| corrupt("consumer"))?;
            if con.pending > 0 {
                consumers.push((Bytes::copy_from_slice(name), con.pending));
            }
            Ok(true)
        })?;
        Ok(Some(PendingSummary {
            count: w.group.pending,
            bounds: first.zip(last),
            consumers,
        }))
    }

    /// XPENDING key group [IDLE ms] start end count [consumer]: `None` without the stream or
    /// group; an unknown consumer has none.
    #[allow(clippy::too_many_arguments)]
    pub fn xpending_range(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        (start, end): (StreamId, StreamId),
        count: u64,
        min_idle: u64,
        consumer: Option<&[u8]>,
    ) -> Result<Option<Vec<Nack>>> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let now = crate::engine::now_ms();
        let mut out = Vec::new();
        if count == 0 {
            return Ok(Some(out));
        }
        let (prefix, by_consumer) = match consumer {
            Some(c) => {
                if self.read_consumer(&w.k, group, c)?.is_none() {
                    return Ok(Some(out));
                }
                (w.k.cpel_prefix(group, c), true)
            }
            None => (w.k.pel_prefix(group), false),
        };
        let mut from = prefix.clone();
        from.extend_from_slice(&start.encode());
        self.walk_prefix(&prefix, Some(from), |rest, v| {
            let id = StreamId::decode(rest).ok_or_else(|| corrupt("pending key"))?;
            if id > end {
                return Ok(false);
            }
            let nack = if by_consumer {
                match self.read_nack(&w.k, group, id)? {
                    Some(n) => n,
                    None => return Ok(true),
                }
            } else {
                decode_nack(id, v).ok_or_else(|| corrupt("pending entry"))?
            };
            if min_idle > 0 && now.saturating_sub(nack.delivery_time) < min_idle {
                return Ok(true);
            }
            out.push(nack);
            Ok((out.len() as u64) < count)
        })?;
        Ok(Some(out))
    }

    /// Claims `id` for `consumer` as XCLAIM/XAUTOCLAIM do (the entry exists, `nack` is its
    /// pending entry or a new one).
    #[allow(clippy::too_many_arguments)]
    fn claim_one(
        &self,
        w: &mut Work<'_>,
        consumer: &[u8],
        mut nack: Nack,
        existed: bool,
        delivery_time: u64,
        retry: Option<u64>,
        justid: bool,
    ) -> Result<()> {
        let previous = existed.then(|| nack.consumer.clone());
        nack.delivery_time = delivery_time;
        match retry {
            Some(r) => nack.delivery_count = r,
            None if !justid => nack.delivery_count += 1,
            None => {}
        }
        nack.consumer = Bytes::copy_from_slice(consumer);
        self.put_nack(w, &nack, previous.as_deref())
    }

    /// XCLAIM: `None` without the stream or group; else what was claimed, and whether the
    /// consumer was created for it.
    pub fn xclaim(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        opts: &ClaimOpts,
    ) -> Result<Option<(Vec<Delivered>, bool)>> {
        let _l = self.lock(&[(ks, key)]);
        let Some((snap, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let now = crate::engine::now_ms();
        if let Some(l) = opts.last_id {
            if l > w.group.last_id {
                w.group.last_id = l;
            }
        }
        let mut out = Vec::new();
        let mut consumer_ready = false;
        for id in ids {
            let nack = self.read_nack(&w.k, group, *id)?;
            let entry = self.stream_entry(&snap, key, *id)?;
            let Some(fields) = entry else {
                if let Some(n) = nack {
                    self.drop_nack(&mut w, &n)?;
                }
                continue;
            };
            let (nack, existed) = match nack {
                Some(n) => (n, true),
                None if opts.force => (
                    Nack {
                        id: *id,
                        consumer: Bytes::new(),
                        delivery_time: now,
                        delivery_count: 1,
                    },
                    false,
                ),
                None => continue,
            };
            if existed
                && opts.min_idle > 0
                && now.saturating_sub(nack.delivery_time) < opts.min_idle
            {
                continue;
            }
            if !consumer_ready {
                self.work_consumer(&mut w, consumer, now, true)?;
                consumer_ready = true;
            }
            self.claim_one(
                &mut w,
                consumer,
                nack,
                existed,
                opts.delivery_time,
                opts.retry_count,
                opts.justid,
            )?;
            out.push(Delivered {
                id: *id,
                fields: (!opts.justid).then_some(fields),
            });
        }
        let created = w.consumer_created;
        self.finish(w)?;
        Ok(Some((out, created)))
    }

    /// XAUTOCLAIM: `None` without the stream or group; else the cursor, the entries claimed
    /// and the IDs whose entries were deleted (dropped from the pending list).
    #[allow(clippy::too_many_arguments)]
    pub fn xautoclaim(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        min_idle: u64,
        start: StreamId,
        count: u64,
        justid: bool,
    ) -> Result<Option<AutoClaimed>> {
        let _l = self.lock(&[(ks, key)]);
        let Some((snap, mut w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let now = crate::engine::now_ms();
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let prefix = w.k.pel_prefix(group);
        let mut from = prefix.clone();
        from.extend_from_slice(&start.encode());
        // The pending entries from `start`, in order, examined as they are read (never
        // gathered: COUNT may be large); the first one not examined is the cursor.
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut consumer_ready = false;
        let mut cursor = StreamId::MIN;
        self.walk_prefix(&prefix, Some(from), |rest, v| {
            let id = StreamId::decode(rest).ok_or_else(|| corrupt("pending key"))?;
            if attempts == 0 || left == 0 {
                cursor = id;
                return Ok(false);
            }
            attempts -= 1;
            let nack = decode_nack(id, v).ok_or_else(|| corrupt("pending entry"))?;
            let Some(fields) = self.stream_entry(&snap, key, id)? else {
                self.drop_nack(&mut w, &nack)?;
                deleted.push(id);
                left -= 1;
                return Ok(true);
            };
            if min_idle > 0 && now.saturating_sub(nack.delivery_time) < min_idle {
                return Ok(true);
            }
            if !consumer_ready {
                self.work_consumer(&mut w, consumer, now, true)?;
                consumer_ready = true;
            }
            self.claim_one(&mut w, consumer, nack, true, now, None, justid)?;
            claimed.push(Delivered {
                id,
                fields: (!justid).then_some(fields),
            });
            left -= 1;
            Ok(true)
        })?;
        let consumer_created = w.consumer_created;
        self.finish(w)?;
        Ok(Some(AutoClaimed {
            cursor,
            claimed,
            deleted,
            consumer_created,
        }))
    }

    /// A pending entry (the binlog's form of deliveries and claims).
    pub fn xpending_entry(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        id: StreamId,
    ) -> Result<Option<Nack>> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        self.read_nack(&w.k, group, id)
    }

    /// Pending entries by ID (`None` for an ID that is not pending; all `None` without the
    /// group): the binlog's form of deliveries and claims.
    pub fn xpending_entries(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        ids: &[StreamId],
    ) -> Result<Vec<Option<Nack>>> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(vec![None; ids.len()]);
        };
        ids.iter()
            .map(|id| self.read_nack(&w.k, group, *id))
            .collect()
    }

    /// A group's last delivered ID and entries-read counter.
    pub fn xgroup_position(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
    ) -> Result<Option<(StreamId, i64)>> {
        Ok(self
            .open_group(ks, key, group, false)?
            .map(|(_, w)| (w.group.last_id, w.group.entries_read)))
    }

    /// Whether a consumer exists in a group.
    pub fn xconsumer_exists(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> Result<bool> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(false);
        };
        Ok(self.read_consumer(&w.k, group, consumer)?.is_some())
    }

    /// XINFO GROUPS (empty without groups; `None` without the stream).
    pub fn xinfo_groups(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<Vec<GroupInfo>>> {
        let Some(snap) = self.stream_snapshot(ks, key, true)? else {
            return Ok(None);
        };
        let k = Keys {
            ks,
            key,
            version: snap.meta.version,
        };
        let mut out = Vec::new();
        self.walk_prefix(&k.groups(), None, |name, v| {
            let g = Group::decode(v).ok_or_else(|| corrupt("group"))?;
            out.push(GroupInfo {
                name: Bytes::copy_from_slice(name),
                consumers: g.consumers,
                pending: g.pending,
                last_id: g.last_id,
                entries_read: g.entries_read,
                lag: Self::lag(&snap, &g),
            });
            Ok(true)
        })?;
        Ok(Some(out))
    }

    /// XINFO CONSUMERS: `None` without the stream or group.
    pub fn xinfo_consumers(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
    ) -> Result<Option<Vec<ConsumerInfo>>> {
        let Some((_, w)) = self.open_group(ks, key, group, false)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        self.walk_prefix(&w.k.consumer_prefix(group), None, |name, v| {
            let con = Consumer::decode(v).ok_or_else(|| corrupt("consumer"))?;
            out.push(ConsumerInfo {
                name: Bytes::copy_from_slice(name),
                pending: con.pending,
                seen_time: con.seen_time,
            });
            Ok(true)
        })?;
        Ok(Some(out))
    }

    /// The first `count` (0: all) pending entries of a group, or of one of its consumers.
    pub fn xpending_first(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        group: &[u8],
        consumer: Option<&[u8]>,
        count: u64,
    ) -> Result<Vec<Nack>> {
        Ok(self
            .xpending_range(
                ks,
                key,
                group,
                (StreamId::MIN, StreamId::MAX),
                if count == 0 { u64::MAX } else { count },
                0,
                consumer,
            )?
            .unwrap_or_default())
    }

    /// The whole stream as DUMP serializes it (entries, counters, groups with their pending
    /// lists and consumers).
    pub(crate) fn stream_value(&self, ks: KeyspaceId, key: &[u8]) -> Result<rdb::StreamValue> {
        let pair = |id: StreamId| (id.ms, id.seq);
        let Some(snap) = self.stream_snapshot(ks, key, true)? else {
            return Ok(rdb::StreamValue::default());
        };
        let entries = self
            .xall(ks, key)?
            .into_iter()
            .map(|e| (pair(e.id), e.fields))
            .collect();
        let mut groups = Vec::new();
        for g in self.xinfo_groups(ks, key)?.unwrap_or_default() {
            let pending = self
                .xpending_first(ks, key, &g.name, None, 0)?
                .into_iter()
                .map(|n| (pair(n.id), n.delivery_time, n.delivery_count))
                .collect();
            let mut consumers = Vec::new();
            for c in self.xinfo_consumers(ks, key, &g.name)?.unwrap_or_default() {
                let own = self
                    .xpending_first(ks, key, &g.name, Some(&c.name), 0)?
                    .into_iter()
                    .map(|n| pair(n.id))
                    .collect();
                consumers.push(rdb::StreamConsumerValue {
                    name: c.name,
                    seen_time: c.seen_time,
                    pending: own,
                });
            }
            groups.push(rdb::StreamGroupValue {
                name: g.name,
                last_id: pair(g.last_id),
                entries_read: g.entries_read,
                pending,
                consumers,
            });
        }
        Ok(rdb::StreamValue {
            entries,
            last_id: pair(snap.last_id),
            first_id: snap.first_id.map(pair).unwrap_or_default(),
            max_deleted: pair(snap.max_deleted),
            entries_added: snap.entries_added,
            groups,
        })
    }

    /// Writes a whole stream (RESTORE) under `meta`'s new version.
    pub(crate) fn put_stream_value(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        mut meta: crate::encoding::Meta,
        v: &rdb::StreamValue,
    ) -> Result<()> {
        let id = |p: (u64, u64)| StreamId::new(p.0, p.1);
        let entries: Vec<(StreamId, Vec<Bytes>)> =
            v.entries.iter().map(|(i, f)| (id(*i), f.clone())).collect();
        let tail = self.put_stream_entries(b, ks, key, &meta, &entries)?;
        meta.size = entries.len() as u64;
        let k = Keys {
            ks,
            key,
            version: meta.version,
        };
        let cf = self.cf(CF_SUB)?;
        for g in &v.groups {
            let mut owners: std::collections::HashMap<StreamId, Bytes> = Default::default();
            for c in &g.consumers {
                for p in &c.pending {
                    owners.insert(id(*p), c.name.clone());
                }
                let con = Consumer {
                    seen_time: c.seen_time,
                    pending: c.pending.len() as u64,
                };
                b.put_cf(cf, k.consumer(&g.name, &c.name), con.encode());
                for p in &c.pending {
                    b.put_cf(cf, k.cpel(&g.name, &c.name, id(*p)), []);
                }
            }
            for (pid, time, count) in &g.pending {
                let nack = Nack {
                    id: id(*pid),
                    consumer: owners.get(&id(*pid)).cloned().unwrap_or_default(),
                    delivery_time: *time,
                    delivery_count: *count,
                };
                b.put_cf(cf, k.pel(&g.name, nack.id), encode_nack(&nack));
            }
            let group = Group {
                last_id: id(g.last_id),
                entries_read: g.entries_read,
                pending: g.pending.len() as u64,
                consumers: g.consumers.len() as u64,
            };
            b.put_cf(cf, k.group(&g.name), group.encode());
        }
        self.put_stream_state(
            b,
            ks,
            key,
            &meta,
            id(v.last_id),
            v.entries_added,
            id(v.max_deleted),
            tail,
        )
    }
}
