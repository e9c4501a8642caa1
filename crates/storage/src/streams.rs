//! Streams. A metadata record (type stream, version, length; last ID, entries added, largest
//! deleted ID in the type-specific bytes) and, under the stream's version in `sub`:
//!
//! ```text
//! e | id (ms u64 BE, seq u64 BE)  -> entry: node id (16 B) | field count u32 | (len u32 | bytes)*
//! n | node's first id (16 B)      -> node: live u64 | slots u64 | last id (16 B)
//! ```
//!
//! Entries are keyed by ID, so XADD, XLEN, XDEL and a page of XRANGE are a point write, the
//! metadata, a point delete and one seek. Nodes mirror Redis's radix-tree nodes (up to 100
//! entries each, deleted ones included, a new one when the tail is full): trimming with `~`
//! drops the same whole nodes Redis drops, as one range deletion each.

use std::fmt;

use bytes::Bytes;
use rust_rocksdb::WriteBatch;

use crate::cx::Db;
use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::engine::CF_SUB;
use crate::{Error, Result};

const TAG_ENTRY: u8 = b'e';
const TAG_NODE: u8 = b'n';
/// Entries per node (Redis's `stream-node-max-entries` default).
pub const NODE_MAX_ENTRIES: u64 = 100;

/// A stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Option<StreamId> {
        if b.len() < 16 {
            return None;
        }
        Some(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..16].try_into().ok()?),
        })
    }

    /// The next ID (`None` after the last possible one).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`None` before 0-0).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a stream write was refused (the server words the reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// XADD with an ID not above the stream's last one.
    IdNotGreater,
    /// The stream's last ID is the largest possible: nothing can be added.
    Exhausted,
    /// XSETID below the last ID.
    SetIdSmaller,
    /// XSETID ENTRIESADDED below the length.
    SetIdEntriesAdded,
}

/// The ID XADD asks for.
#[derive(Clone, Copy, Debug)]
pub enum AddId {
    /// `*`: from the clock (never backwards).
    Auto,
    /// `ms-*`: the sequence is chosen.
    Ms(u64),
    Exact(StreamId),
}

#[derive(Clone, Copy, Debug)]
pub enum TrimBy {
    MaxLen(u64),
    MinId(StreamId),
}

/// MAXLEN/MINID of XADD and XTRIM: `approx` (`~`) removes whole nodes only; `limit` bounds
/// the entries removed (0: no bound).
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    pub by: TrimBy,
    pub approx: bool,
    pub limit: u64,
}

/// An entry: its ID and fields and values, flat.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<Bytes>,
}

/// XINFO STREAM (without groups).
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub length: u64,
    pub nodes: u64,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub first: Option<StreamEntry>,
    pub last: Option<StreamEntry>,
}

/// The stream-wide state kept in the metadata's type-specific bytes: counters, and the last
/// node (so XADD appends without reading the node index).
#[derive(Clone, Copy, Debug)]
struct State {
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
    /// The last node, `None` when there is none (a new stream, or its last node went).
    tail: Option<Node>,
    /// Whether `tail` is known (a state written before it was kept is read without it).
    tail_known: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            last_id: StreamId::MIN,
            entries_added: 0,
            max_deleted: StreamId::MIN,
            tail: None,
            tail_known: true,
        }
    }
}

impl State {
    fn decode(v: &[u8]) -> State {
        if v.len() < 40 {
            return State::default();
        }
        let (tail, tail_known) = match v.len() {
            41 if v[40] == 0 => (None, true),
            89 if v[40] == 1 => {
                let node = StreamId::decode(&v[41..57]).and_then(|f| Node::decode(f, &v[57..89]));
                (node, node.is_some())
            }
            _ => (None, false),
        };
        State {
            last_id: StreamId::decode(&v[..16]).unwrap_or_default(),
            entries_added: u64::from_be_bytes(v[16..24].try_into().unwrap_or_default()),
            max_deleted: StreamId::decode(&v[24..40]).unwrap_or_default(),
            tail,
            tail_known,
        }
    }

    fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(89);
        out.extend_from_slice(&self.last_id.encode());
        out.extend_from_slice(&self.entries_added.to_be_bytes());
        out.extend_from_slice(&self.max_deleted.encode());
        match self.tail {
            Some(n) => {
                out.push(1);
                out.extend_from_slice(&n.first.encode());
                out.extend_from_slice(&n.encode());
            }
            None => out.push(0),
        }
        Bytes::from(out)
    }

    /// Keeps the tail in step with a node that changed (`None`: it was removed).
    fn node_changed(&mut self, first: StreamId, now: Option<Node>) {
        if self.tail.is_some_and(|t| t.first == first) {
            self.tail = now;
        }
    }
}

/// A node, as the crate's other modules hand it around.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamNode(Node);

/// A node: its first ID (the key), live entries, slots used (live and deleted), last ID.
#[derive(Clone, Copy, Debug)]
struct Node {
    first: StreamId,
    live: u64,
    slots: u64,
    last: StreamId,
}

impl Node {
    fn decode(first: StreamId, v: &[u8]) -> Option<Node> {
        if v.len() < 32 {
            return None;
        }
        Some(Node {
            first,
            live: u64::from_be_bytes(v[..8].try_into().ok()?),
            slots: u64::from_be_bytes(v[8..16].try_into().ok()?),
            last: StreamId::decode(&v[16..32])?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.live.to_be_bytes());
        out.extend_from_slice(&self.slots.to_be_bytes());
        out.extend_from_slice(&self.last.encode());
        out
    }
}

fn encode_entry(node: StreamId, fields: &[Bytes]) -> Vec<u8> {
    let len: usize = fields.iter().map(|f| f.len() + 4).sum();
    let mut out = Vec::with_capacity(20 + len);
    out.extend_from_slice(&node.encode());
    out.extend_from_slice(&((fields.len() / 2) as u32).to_be_bytes());
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn decode_entry(v: &[u8]) -> Option<(StreamId, Vec<Bytes>)> {
    let node = StreamId::decode(v)?;
    let pairs = u32::from_be_bytes(v.get(16..20)?.try_into().ok()?) as usize;
    // One copy of the record; the fields are slices of it.
    let all = Bytes::copy_from_slice(v.get(20..)?);
    let mut fields = Vec::with_capacity(pairs.min(1 << 16) * 2);
    let mut at = 0;
    for _ in 0..pairs * 2 {
        let len = u32::from_be_bytes(all.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        if at + len > all.len() {
            return None;
        }
        fields.push(all.slice(at..at + len));
        at += len;
    }
    Some((node, fields))
}

fn tagged(ks: KeyspaceId, key: &[u8], version: u64, tag: u8, id: StreamId) -> Vec<u8> {
    let mut m = [0u8; 17];
    m[0] = tag;
    m[1..].copy_from_slice(&id.encode());
    encoding::sub_key(ks, key, version, &m)
}

fn tag_prefix(ks: KeyspaceId, key: &[u8], version: u64, tag: u8) -> Vec<u8> {
    encoding::sub_key(ks, key, version, &[tag])
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("stream {what} does not decode"))
}

impl Db<'_> {
    fn stream_meta(&self, ks: KeyspaceId, key: &[u8], now: u64) -> Result<Option<(Meta, State)>> {
        Ok(self.typed_meta(ks, key, now, KeyType::Stream)?.map(|m| {
            let st = State::decode(&m.value);
            (m, st)
        }))
    }

    fn put_stream_meta(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        st: &State,
    ) -> Result<()> {
        let mut m = meta.clone();
        m.value = st.encode();
        self.put_meta(b, ks, key, &m)
    }

    /// The nodes of a stream from the first (or the last, `reverse`), until `f` says stop.
    fn walk_nodes(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        reverse: bool,
        mut f: impl FnMut(Node) -> bool,
    ) -> Result<()> {
        let prefix = tag_prefix(ks, key, version, TAG_NODE);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        if reverse {
            let mut upper = prefix.clone();
            upper.extend_from_slice(&[0xff; 17]);
            it.seek_for_prev(&upper);
        } else {
            it.seek(&prefix);
        }
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            let first = StreamId::decode(&k[prefix.len()..]).ok_or_else(|| corrupt("node key"))?;
            let node = Node::decode(first, v).ok_or_else(|| corrupt("node"))?;
            if !f(node) {
                break;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(())
    }

    /// Entries with `start <= id <= end` in order (or reverse order), until `f` says stop.
    fn walk_entries(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        version: u64,
        (start, end): (StreamId, StreamId),
        reverse: bool,
        mut f: impl FnMut(StreamId, StreamId, Vec<Bytes>) -> bool,
    ) -> Result<()> {
        if start > end {
            return Ok(());
        }
        let prefix = tag_prefix(ks, key, version, TAG_ENTRY);
        let mut it = self.prefix_iter(CF_SUB, &prefix)?;
        if reverse {
            it.seek_for_prev(tagged(ks, key, version, TAG_ENTRY, end));
        } else {
            it.seek(tagged(ks, key, version, TAG_ENTRY, start));
        }
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            let id = StreamId::decode(&k[prefix.len()..]).ok_or_else(|| corrupt("entry key"))?;
            if id < start || id > end {
                break;
            }
            let (node, fields) = decode_entry(v).ok_or_else(|| corrupt("entry"))?;
            if !f(id, node, fields) {
                break;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(())
    }

    /// XADD: the ID added, or `None` with NOMKSTREAM and no stream.
    pub fn xadd(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        id: AddId,
        fields: &[Bytes],
        nomkstream: bool,
        trim: Option<Trim>,
    ) -> Result<Option<StreamId>> {
        let _l = self.lock(&[(ks, key)]);
        let now = self.now_ms();
        let (mut meta, mut st) = match self.stream_meta(ks, key, now)? {
            Some(x) => x,
            None if nomkstream => return Ok(None),
            None => (self.new_collection(KeyType::Stream), State::default()),
        };
        if st.last_id == StreamId::MAX {
            return Err(Error::Stream(StreamError::Exhausted));
        }
        // IDs follow the wall clock (not the expiry clock, which replay stops).
        let wall = crate::engine::now_ms();
        let new = match id {
            AddId::Auto if wall > st.last_id.ms => StreamId::new(wall, 0),
            AddId::Auto => st.last_id.next().unwrap_or(StreamId::MIN),
            AddId::Ms(ms) if ms == st.last_id.ms => match st.last_id.seq.checked_add(1) {
                Some(seq) => StreamId::new(ms, seq),
                None => return Err(Error::Stream(StreamError::IdNotGreater)),
            },
            AddId::Ms(ms) => StreamId::new(ms, 0),
            AddId::Exact(i) => i,
        };
        if new <= st.last_id {
            return Err(Error::Stream(StreamError::IdNotGreater));
        }
        let mut tail = st.tail;
        if !st.tail_known {
            self.walk_nodes(ks, key, meta.version, true, |n| {
                tail = Some(n);
                false
            })?;
        }
        let node = match tail {
            Some(n) if n.slots < NODE_MAX_ENTRIES => Node {
                live: n.live + 1,
                slots: n.slots + 1,
                last: new,
                ..n
            },
            _ => Node {
                first: new,
                live: 1,
                slots: 1,
                last: new,
            },
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        b.put_cf(
            cf,
            tagged(ks, key, meta.version, TAG_NODE, node.first),
            node.encode(),
        );
        b.put_cf(
            cf,
            tagged(ks, key, meta.version, TAG_ENTRY, new),
            encode_entry(node.first, fields),
        );
        meta.size += 1;
        st.last_id = new;
        st.entries_added += 1;
        st.tail = Some(node);
        st.tail_known = true;
        self.put_stream_meta(&mut b, ks, key, &meta, &st)?;
        self.write(b)?;
        if let Some(t) = trim {
            self.trim_locked(ks, key, &t)?;
        }
        Ok(Some(new))
    }

    /// XTRIM: how many entries were removed.
    pub fn xtrim(&self, ks: KeyspaceId, key: &[u8], trim: &Trim) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        self.trim_locked(ks, key, trim)
    }

    fn trim_locked(&self, ks: KeyspaceId, key: &[u8], t: &Trim) -> Result<u64> {
        let Some((mut meta, mut st)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        let mut deleted = 0u64;
        let mut partial: Option<Node> = None;
        let mut whole: Vec<Node> = Vec::new();
        let mut length = meta.size;
        self.walk_nodes(ks, key, meta.version, false, |n| {
            if let TrimBy::MaxLen(max) = t.by {
                if length <= max {
                    return false;
                }
            }
            if t.limit > 0 && deleted + n.live > t.limit {
                return false;
            }
            let remove = match t.by {
                TrimBy::MaxLen(max) => length - n.live >= max,
                TrimBy::MinId(min) => n.last < min,
            };
            if remove {
                whole.push(n);
                length -= n.live;
                deleted += n.live;
                return true;
            }
            if !t.approx {
                partial = Some(n);
            }
            false
        })?;
        for n in &whole {
            let from = tagged(ks, key, meta.version, TAG_ENTRY, n.first);
            let to = match n.last.next() {
                Some(after) => tagged(ks, key, meta.version, TAG_ENTRY, after),
                None => {
                    let mut p = tag_prefix(ks, key, meta.version, TAG_ENTRY);
                    p.extend_from_slice(&[0xff; 17]);
                    p
                }
            };
            self.delete_range(&mut b, CF_SUB, &from, &to)?;
            b.delete_cf(cf, tagged(ks, key, meta.version, TAG_NODE, n.first));
            st.node_changed(n.first, None);
        }
        if let Some(mut n) = partial {
            // Entries within the node, from its first, until the bound is met.
            let mut gone = Vec::new();
            self.walk_entries(
                ks,
                key,
                meta.version,
                (n.first, n.last),
                false,
                |id, _, _| {
                    let stop = match t.by {
                        TrimBy::MaxLen(max) => length <= max,
                        TrimBy::MinId(min) => id >= min,
                    };
                    if stop {
                        return false;
                    }
                    gone.push(id);
                    length -= 1;
                    true
                },
            )?;
            for id in &gone {
                b.delete_cf(cf, tagged(ks, key, meta.version, TAG_ENTRY, *id));
            }
            n.live -= gone.len() as u64;
            deleted += gone.len() as u64;
            b.put_cf(
                cf,
                tagged(ks, key, meta.version, TAG_NODE, n.first),
                n.encode(),
            );
            st.node_changed(n.first, Some(n));
        }
        if deleted == 0 {
            return Ok(0);
        }
        meta.size = length;
        self.put_stream_meta(&mut b, ks, key, &meta, &st)?;
        self.write(b)?;
        Ok(deleted)
    }

    /// XDEL: how many of the IDs were entries.
    pub fn xdel(&self, ks: KeyspaceId, key: &[u8], ids: &[StreamId]) -> Result<u64> {
        let _l = self.lock(&[(ks, key)]);
        let Some((mut meta, mut st)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Ok(0);
        };
        let cf = self.cf(CF_SUB)?;
        let mut b = WriteBatch::default();
        let mut nodes: std::collections::HashMap<StreamId, Node> = Default::default();
        let mut seen = std::collections::HashSet::new();
        let mut deleted = 0u64;
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            let ek = tagged(ks, key, meta.version, TAG_ENTRY, *id);
            let Some(v) = self.get_raw(CF_SUB, &ek)? else {
                continue;
            };
            let (first, _) = decode_entry(&v).ok_or_else(|| corrupt("entry"))?;
            let node = match nodes.get(&first) {
                Some(n) => *n,
                None => {
                    let raw = self
                        .get_raw(CF_SUB, &tagged(ks, key, meta.version, TAG_NODE, first))?
                        .ok_or_else(|| corrupt("node of an entry"))?;
                    Node::decode(first, &raw).ok_or_else(|| corrupt("node"))?
                }
            };
            nodes.insert(
                first,
                Node {
                    live: node.live.saturating_sub(1),
                    ..node
                },
            );
            b.delete_cf(cf, ek);
            deleted += 1;
            if *id > st.max_deleted {
                st.max_deleted = *id;
            }
        }
        if deleted == 0 {
            return Ok(0);
        }
        for n in nodes.values() {
            let nk = tagged(ks, key, meta.version, TAG_NODE, n.first);
            if n.live == 0 {
                // As in Redis, a node whose last live entry goes is removed.
                b.delete_cf(cf, nk);
                st.node_changed(n.first, None);
            } else {
                b.put_cf(cf, nk, n.encode());
                st.node_changed(n.first, Some(*n));
            }
        }
        meta.size -= deleted;
        self.put_stream_meta(&mut b, ks, key, &meta, &st)?;
        self.write(b)?;
        Ok(deleted)
    }

    /// XLEN (0 for no stream).
    pub fn xlen(&self, ks: KeyspaceId, key: &[u8]) -> Result<u64> {
        Ok(self
            .stream_meta(ks, key, self.now_ms())?
            .map_or(0, |(m, _)| m.size))
    }

    /// Whether the stream exists (`WrongType` for another type).
    pub fn stream_exists(&self, ks: KeyspaceId, key: &[u8]) -> Result<bool> {
        Ok(self.stream_meta(ks, key, self.now_ms())?.is_some())
    }

    /// The stream's last ID (`None`: no stream).
    pub fn xlast_id(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<StreamId>> {
        Ok(self
            .stream_meta(ks, key, self.now_ms())?
            .map(|(_, st)| st.last_id))
    }

    /// XRANGE / XREVRANGE: entries with `start <= id <= end`, at most `count` (0: all).
    pub fn xrange(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        start: StreamId,
        end: StreamId,
        count: u64,
        reverse: bool,
    ) -> Result<Vec<StreamEntry>> {
        let Some((meta, _)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        self.walk_entries(
            ks,
            key,
            meta.version,
            (start, end),
            reverse,
            |id, _, fields| {
                out.push(StreamEntry { id, fields });
                count == 0 || (out.len() as u64) < count
            },
        )?;
        Ok(out)
    }

    /// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]. `NoSuchKey` without a stream.
    pub fn xsetid(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<()> {
        let _l = self.lock(&[(ks, key)]);
        let Some((meta, mut st)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Err(Error::NoSuchKey);
        };
        // The last ID cannot go below the last entry's; then ENTRIESADDED cannot be below
        // the length (both only checked when there are entries, as Redis).
        if meta.size > 0 {
            let mut top = None;
            self.walk_entries(
                ks,
                key,
                meta.version,
                (StreamId::MIN, StreamId::MAX),
                true,
                |id, _, _| {
                    top = Some(id);
                    false
                },
            )?;
            if top.is_some_and(|t| last < t) {
                return Err(Error::Stream(StreamError::SetIdSmaller));
            }
            if entries_added.is_some_and(|n| meta.size > n) {
                return Err(Error::Stream(StreamError::SetIdEntriesAdded));
            }
        }
        st.last_id = last;
        if let Some(n) = entries_added {
            st.entries_added = n;
        }
        if let Some(md) = max_deleted.filter(|m| *m != StreamId::MIN) {
            st.max_deleted = md;
        }
        let mut b = WriteBatch::default();
        self.put_stream_meta(&mut b, ks, key, &meta, &st)?;
        self.write(b)
    }

    /// XINFO STREAM (without groups). `None` without a stream.
    pub fn xinfo_stream(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<StreamInfo>> {
        let Some((meta, st)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let mut nodes = 0u64;
        self.walk_nodes(ks, key, meta.version, false, |_| {
            nodes += 1;
            true
        })?;
        let edge = |reverse: bool| -> Result<Option<StreamEntry>> {
            let mut e = None;
            self.walk_entries(
                ks,
                key,
                meta.version,
                (StreamId::MIN, StreamId::MAX),
                reverse,
                |id, _, fields| {
                    e = Some(StreamEntry { id, fields });
                    false
                },
            )?;
            Ok(e)
        };
        Ok(Some(StreamInfo {
            length: meta.size,
            nodes,
            last_id: st.last_id,
            max_deleted: st.max_deleted,
            entries_added: st.entries_added,
            first: edge(false)?,
            last: edge(true)?,
        }))
    }

    /// Every entry (DUMP-like reads, strata-sync).
    pub fn xall(&self, ks: KeyspaceId, key: &[u8]) -> Result<Vec<StreamEntry>> {
        self.xrange(ks, key, StreamId::MIN, StreamId::MAX, 0, false)
    }
}

/// A stream's state for consumer-group work: the metadata and counters, and its first and
/// last live entries.
#[derive(Clone, Debug)]
pub(crate) struct StreamSnapshot {
    pub ks: KeyspaceId,
    pub meta: Meta,
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted: StreamId,
    pub first_id: Option<StreamId>,
    pub last_live: Option<StreamId>,
}

impl Db<'_> {
    /// `edges`: also find the first and last live entries (two seeks); without, both are
    /// `None` and must not be read.
    pub(crate) fn stream_snapshot(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        edges: bool,
    ) -> Result<Option<StreamSnapshot>> {
        let Some((meta, st)) = self.stream_meta(ks, key, self.now_ms())? else {
            return Ok(None);
        };
        let edge = |reverse: bool| -> Result<Option<StreamId>> {
            let mut e = None;
            self.walk_entries(
                ks,
                key,
                meta.version,
                (StreamId::MIN, StreamId::MAX),
                reverse,
                |id, _, _| {
                    e = Some(id);
                    false
                },
            )?;
            Ok(e)
        };
        let (first_id, last_live) = if edges && meta.size > 0 {
            (edge(false)?, edge(true)?)
        } else {
            (None, None)
        };
        Ok(Some(StreamSnapshot {
            ks,
            last_id: st.last_id,
            entries_added: st.entries_added,
            max_deleted: st.max_deleted,
            first_id,
            last_live,
            meta,
        }))
    }

    /// One entry's fields, `None` if it is not in the stream.
    pub(crate) fn stream_entry(
        &self,
        snap: &StreamSnapshot,
        key: &[u8],
        id: StreamId,
    ) -> Result<Option<Vec<Bytes>>> {
        match self.get_raw(
            CF_SUB,
            &tagged(snap.ks, key, snap.meta.version, TAG_ENTRY, id),
        )? {
            Some(v) => Ok(Some(decode_entry(&v).ok_or_else(|| corrupt("entry"))?.1)),
            None => Ok(None),
        }
    }

    /// Entries of a new stream (RESTORE), in nodes of 100 as XADD would have made them.
    pub(crate) fn put_stream_entries(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        entries: &[(StreamId, Vec<Bytes>)],
    ) -> Result<Option<StreamNode>> {
        let cf = self.cf(CF_SUB)?;
        let mut last = None;
        for chunk in entries.chunks(NODE_MAX_ENTRIES as usize) {
            let node = Node {
                first: chunk[0].0,
                live: chunk.len() as u64,
                slots: chunk.len() as u64,
                last: chunk[chunk.len() - 1].0,
            };
            b.put_cf(
                cf,
                tagged(ks, key, meta.version, TAG_NODE, node.first),
                node.encode(),
            );
            for (id, fields) in chunk {
                b.put_cf(
                    cf,
                    tagged(ks, key, meta.version, TAG_ENTRY, *id),
                    encode_entry(node.first, fields),
                );
            }
            last = Some(StreamNode(node));
        }
        Ok(last)
    }

    /// The metadata of a stream with these counters.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_stream_state(
        &self,
        b: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
        last_id: StreamId,
        entries_added: u64,
        max_deleted: StreamId,
        tail: Option<StreamNode>,
    ) -> Result<()> {
        let st = State {
            last_id,
            entries_added,
            max_deleted,
            tail: tail.map(|t| t.0),
            tail_known: true,
        };
        self.put_stream_meta(b, ks, key, meta, &st)
    }

    /// An empty stream (XGROUP CREATE ... MKSTREAM).
    pub(crate) fn create_empty_stream(&self, ks: KeyspaceId, key: &[u8]) -> Result<()> {
        let meta = self.new_collection(KeyType::Stream);
        let mut b = WriteBatch::default();
        self.put_stream_meta(&mut b, ks, key, &meta, &State::default())?;
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_and_step() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        let e = StreamId::new(7, 9).encode();
        assert_eq!(StreamId::decode(&e), Some(StreamId::new(7, 9)));
        assert_eq!(StreamId::new(7, 9).to_string(), "7-9");
    }

    #[test]
    fn entries_round_trip() {
        let fields = vec![
            Bytes::from("f"),
            Bytes::from("v"),
            Bytes::new(),
            Bytes::from("x"),
        ];
        let enc = encode_entry(StreamId::new(3, 4), &fields);
        assert_eq!(decode_entry(&enc), Some((StreamId::new(3, 4), fields)));
        assert_eq!(decode_entry(&enc[..enc.len() - 1]), None);
    }
}
