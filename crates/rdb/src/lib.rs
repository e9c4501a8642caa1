//! DUMP / RESTORE payloads in Redis's serialization format: the object encodings of RDB
//! version 10 (Redis 7.0), followed by the 2-byte RDB version and a CRC64 of everything
//! before it.
//!
//! [`dump`] encodes a value the way Redis 7.0 encodes the same value (same encoding choices
//! for the same limits: integers, LZF for strings over 20 bytes, listpacks for small hashes,
//! sorted sets and lists, intsets for small integer sets), so payloads compare byte for byte
//! where Redis's own order is deterministic. [`load`] reads every encoding Redis 7.0 accepts
//! for the types this server has (also the ziplist, zipmap and linked encodings of older
//! RDB versions). Nothing here panics on bad input: every malformed payload is an `Error`.

mod crc64;
pub mod lzf;
pub mod packed;

pub use crc64::crc64;

use bytes::Bytes;

/// The RDB version written into payloads (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

/// A key's value, as the storage layer reads and writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(Bytes),
    /// Elements head to tail.
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    /// Field, value pairs.
    Hash(Vec<(Bytes, Bytes)>),
    /// Member, score pairs, in score order (then member).
    ZSet(Vec<(Bytes, f64)>),
    Stream(Box<StreamValue>),
}

/// A stream ID: (milliseconds, sequence).
pub type Id = (u64, u64);

/// A whole stream: its entries, counters and consumer groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamValue {
    /// Entries in ID order, with their fields and values alternating.
    pub entries: Vec<(Id, Vec<Bytes>)>,
    pub last_id: Id,
    pub first_id: Id,
    pub max_deleted: Id,
    pub entries_added: u64,
    pub groups: Vec<StreamGroupValue>,
}

/// A consumer group: its position, pending entries (ID, delivery time, delivery count),
/// consumers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamGroupValue {
    pub name: Bytes,
    pub last_id: Id,
    /// -1: unknown.
    pub entries_read: i64,
    pub pending: Vec<(Id, u64, u64)>,
    pub consumers: Vec<StreamConsumerValue>,
}

/// A consumer: its last activity and the IDs of its pending entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamConsumerValue {
    pub name: Bytes,
    pub seen_time: u64,
    pub pending: Vec<Id>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Too short, an RDB version newer than ours, or a CRC that does not match.
    #[error("ERR DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The object inside does not decode (or is a type this server does not have).
    #[error("ERR Bad data format")]
    Format,
}

/// Encoding thresholds (Redis's `*-max-listpack-*`, `set-max-intset-entries`,
/// `list-max-listpack-size`); the defaults are Redis 7.0's.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    /// Negative: a node size class (-1 = 4 KB ... -5 = 64 KB); positive: entries per node.
    pub list_max_listpack_size: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
        }
    }
}

// RDB object types.
const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_HASH_ZIPMAP: u8 = 9;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_STREAM_LISTPACKS: u8 = 15;
const T_STREAM_LISTPACKS_2: u8 = 19;

/// Entries per listpack node of a stream (Redis's `stream-node-max-entries` default).
const STREAM_NODE_ENTRIES: usize = 100;

fn id_bytes(id: Id) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.0.to_be_bytes());
    out[8..].copy_from_slice(&id.1.to_be_bytes());
    out
}

/// A stream as Redis 7.0 saves one (`RDB_TYPE_STREAM_LISTPACKS_2`): listpack nodes of up to
/// 100 entries keyed by their first ID (each a master entry of the first entry's fields, then
/// the entries as deltas from it), the counters, then every group with its pending list and
/// consumers.
fn encode_stream(out: &mut Vec<u8>, v: &StreamValue) {
    let nodes: Vec<&[(Id, Vec<Bytes>)]> = v.entries.chunks(STREAM_NODE_ENTRIES).collect();
    put_len(out, nodes.len() as u64);
    for node in nodes {
        let master = node[0].0;
        let master_fields: Vec<&Bytes> = node[0].1.iter().step_by(2).collect();
        let mut items: Vec<Vec<u8>> = Vec::new();
        let int = |v: i64| v.to_string().into_bytes();
        items.push(int(node.len() as i64));
        items.push(int(0));
        items.push(int(master_fields.len() as i64));
        items.extend(master_fields.iter().map(|f| f.to_vec()));
        items.push(int(0));
        for (id, fields) in node {
            let names: Vec<&Bytes> = fields.iter().step_by(2).collect();
            let same = names == master_fields;
            let n = fields.len() / 2;
            items.push(int(if same { 2 } else { 0 }));
            items.push(int(id.0.wrapping_sub(master.0) as i64));
            items.push(int(id.1.wrapping_sub(master.1) as i64));
            if same {
                items.extend(fields.iter().skip(1).step_by(2).map(|x| x.to_vec()));
                items.push(int(n as i64 + 3));
            } else {
                items.push(int(n as i64));
                items.extend(fields.iter().map(|x| x.to_vec()));
                items.push(int(2 * n as i64 + 4));
            }
        }
        put_string(out, &id_bytes(master));
        put_string(out, &packed::listpack(items.iter().map(|x| x.as_slice())));
    }
    put_len(out, v.entries.len() as u64);
    for n in [
        v.last_id.0,
        v.last_id.1,
        v.first_id.0,
        v.first_id.1,
        v.max_deleted.0,
        v.max_deleted.1,
        v.entries_added,
    ] {
        put_len(out, n);
    }
    put_len(out, v.groups.len() as u64);
    for g in &v.groups {
        put_string(out, &g.name);
        put_len(out, g.last_id.0);
        put_len(out, g.last_id.1);
        put_len(out, g.entries_read as u64);
        put_len(out, g.pending.len() as u64);
        for (id, time, count) in &g.pending {
            out.extend_from_slice(&id_bytes(*id));
            out.extend_from_slice(&time.to_le_bytes());
            put_len(out, *count);
        }
        put_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            put_string(out, &c.name);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            put_len(out, c.pending.len() as u64);
            for id in &c.pending {
                out.extend_from_slice(&id_bytes(*id));
            }
        }
    }
}

// ---- writing ----

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A string as Redis's `rdbSaveRawString` writes it: short canonical integers in an integer
/// encoding, strings over 20 bytes LZF-compressed when that saves at least 4 bytes.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = packed::canonical_int(s) {
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[0xc0, v as u8]);
                return;
            } else if let Ok(v) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            } else if let Ok(v) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(z) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            put_len(out, z.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&z);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Redis's `d2string`: integers in a safe range as integers, others as `%.17g`.
pub fn format_score(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if v > -4503599627370495.0 && v < 4503599627370496.0 && v == (v as i64) as f64 {
        return (v as i64).to_string();
    }
    format_g17(v)
}

/// C's `%.17g`.
fn format_g17(v: f64) -> String {
    let e = format!("{v:.16e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let m = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.')
        } else {
            mantissa
        };
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    }
}

fn is_int_member(s: &[u8]) -> Option<i64> {
    packed::canonical_int(s)
}

/// The quicklist node size limit of `list-max-listpack-size`.
fn node_fits(limit: i64, node_bytes: usize, entry: &[u8], count: usize) -> bool {
    if limit >= 0 {
        let max = limit.max(1) as usize;
        // Positive fills are bounded by count, and by 8 KB of safety.
        return count < max && node_bytes + entry.len() + 8 <= 8192;
    }
    let class = (-limit).clamp(1, 5) as u32;
    let max_size = 4096usize << (class - 1);
    node_bytes + entry.len() + 8 <= max_size
}

/// The object type byte and the encoded object, as Redis 7.0 encodes `value`.
fn encode_object(value: &Value, limits: &Limits) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    match value {
        Value::String(s) => {
            put_string(&mut out, s);
            (T_STRING, out)
        }
        Value::List(items) => {
            // Quicklist of listpack nodes, filled as RPUSH fills them.
            let mut nodes: Vec<Vec<&[u8]>> = Vec::new();
            let mut node_bytes = 0usize;
            for it in items {
                let fits = nodes.last().is_some_and(|n| {
                    node_fits(limits.list_max_listpack_size, node_bytes, it, n.len())
                });
                if !fits {
                    nodes.push(Vec::new());
                    node_bytes = 7;
                }
                node_bytes += packed::listpack_entry_size(it);
                if let Some(n) = nodes.last_mut() {
                    n.push(it);
                }
            }
            put_len(&mut out, nodes.len() as u64);
            for n in nodes {
                put_len(&mut out, 2); // QUICKLIST_NODE_CONTAINER_PACKED
                put_string(&mut out, &packed::listpack(n));
            }
            (T_LIST_QUICKLIST_2, out)
        }
        Value::Set(members) => {
            let ints: Option<Vec<i64>> = members.iter().map(|m| is_int_member(m)).collect();
            match ints {
                Some(mut v) if v.len() <= limits.set_max_intset_entries => {
                    v.sort_unstable();
                    v.dedup();
                    put_string(&mut out, &packed::intset(&v));
                    (T_SET_INTSET, out)
                }
                _ => {
                    put_len(&mut out, members.len() as u64);
                    for m in members {
                        put_string(&mut out, m);
                    }
                    (T_SET, out)
                }
            }
        }
        Value::Hash(pairs) => {
            let small = pairs.len() <= limits.hash_max_listpack_entries
                && pairs.iter().all(|(f, v)| {
                    f.len() <= limits.hash_max_listpack_value
                        && v.len() <= limits.hash_max_listpack_value
                });
            if small {
                let lp = packed::listpack(pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]));
                put_string(&mut out, &lp);
                (T_HASH_LISTPACK, out)
            } else {
                put_len(&mut out, pairs.len() as u64);
                for (f, v) in pairs {
                    put_string(&mut out, f);
                    put_string(&mut out, v);
                }
                (T_HASH, out)
            }
        }
        Value::ZSet(members) => {
            let small = members.len() <= limits.zset_max_listpack_entries
                && members
                    .iter()
                    .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
            if small {
                let scores: Vec<String> = members.iter().map(|(_, s)| format_score(*s)).collect();
                let lp = packed::listpack(
                    members
                        .iter()
                        .zip(scores.iter())
                        .flat_map(|((m, _), s)| [&m[..], s.as_bytes()]),
                );
                put_string(&mut out, &lp);
                (T_ZSET_LISTPACK, out)
            } else {
                // The skiplist from its tail: highest score first; scores as binary doubles.
                put_len(&mut out, members.len() as u64);
                for (m, s) in members.iter().rev() {
                    put_string(&mut out, m);
                    out.extend_from_slice(&s.to_le_bytes());
                }
                (T_ZSET_2, out)
            }
        }
        Value::Stream(v) => {
            encode_stream(&mut out, v);
            (T_STREAM_LISTPACKS_2, out)
        }
    }
}

/// The DUMP payload of a value: type, object, RDB version, CRC64.
pub fn dump(value: &Value, limits: &Limits) -> Vec<u8> {
    let (ty, obj) = encode_object(value, limits);
    let mut out = Vec::with_capacity(obj.len() + 11);
    out.push(ty);
    out.extend_from_slice(&obj);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// RDB opcode of a function library (Redis 7.0's `RDB_OPCODE_FUNCTION2`).
const OPCODE_FUNCTION2: u8 = 245;

/// FUNCTION DUMP's payload: each library's code after the function opcode, then the RDB
/// version and the CRC64, as Redis 7.0 writes it.
pub fn dump_functions<C: AsRef<[u8]>>(codes: &[C]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in codes {
        out.push(OPCODE_FUNCTION2);
        put_string(&mut out, c.as_ref());
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION DUMP payload (version and CRC checked).
pub fn load_functions(payload: &[u8]) -> Result<Vec<Bytes>, Error> {
    if payload.len() < 10 {
        return Err(Error::VersionOrChecksum);
    }
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n - 8..]);
    if version > RDB_VERSION || crc64(0, &payload[..n - 8]) != u64::from_le_bytes(crc) {
        return Err(Error::VersionOrChecksum);
    }
    let mut r = Reader {
        b: &payload[..n - 10],
        pos: 0,
    };
    let mut out = Vec::new();
    while r.pos < r.b.len() {
        if r.byte()? != OPCODE_FUNCTION2 {
            return Err(Error::Format);
        }
        out.push(r.string()?);
    }
    Ok(out)
}

// ---- reading ----

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

/// A length or a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        let v = *self.b.get(self.pos).ok_or(Error::Format)?;
        self.pos += 1;
        Ok(v)
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::Format)?;
        let end = self.pos.checked_add(n).ok_or(Error::Format)?;
        let s = self.b.get(self.pos..end).ok_or(Error::Format)?;
        self.pos = end;
        Ok(s)
    }

    fn len_or_enc(&mut self) -> Result<Len, Error> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as u64),
            1 => Len::Plain((((first & 0x3f) as u64) << 8) | self.byte()? as u64),
            2 => match first {
                0x80 => {
                    let b = self.bytes(4)?;
                    Len::Plain(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
                }
                0x81 => {
                    let b = self.bytes(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Len::Plain(u64::from_be_bytes(a))
                }
                _ => return Err(Error::Format),
            },
            _ => Len::Encoded(first & 0x3f),
        })
    }

    fn len(&mut self) -> Result<u64, Error> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(Error::Format),
        }
    }

    /// A count of elements: each takes at least one byte, so a count past the bytes left is
    /// malformed (and never allocates).
    fn count(&mut self, min_bytes_each: usize) -> Result<usize, Error> {
        let n = self.len()?;
        let left = (self.b.len() - self.pos) as u64;
        if n.saturating_mul(min_bytes_each as u64) > left {
            return Err(Error::Format);
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<Bytes, Error> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(Bytes::copy_from_slice(self.bytes(n)?)),
            Len::Encoded(0) => Ok(Bytes::from((self.byte()? as i8).to_string())),
            Len::Encoded(1) => {
                let b = self.bytes(2)?;
                Ok(Bytes::from(i16::from_le_bytes([b[0], b[1]]).to_string()))
            }
            Len::Encoded(2) => {
                let b = self.bytes(4)?;
                Ok(Bytes::from(
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string(),
                ))
            }
            Len::Encoded(3) => {
                let clen = self.len()?;
                let ulen = self.len()?;
                // LZF expands at most ~ 264/3 times per byte: a bigger claim is malformed.
                if ulen > clen.saturating_mul(100).saturating_add(64) || ulen > 1 << 32 {
                    return Err(Error::Format);
                }
                let z = self.bytes(clen)?;
                lzf::decompress(z, ulen as usize)
                    .map(Bytes::from)
                    .ok_or(Error::Format)
            }
            Len::Encoded(_) => Err(Error::Format),
        }
    }

    /// A score of the old ZSET type: a length byte then ASCII (253 nan, 254 +inf, 255 -inf).
    fn text_double(&mut self) -> Result<f64, Error> {
        let n = self.byte()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => std::str::from_utf8(self.bytes(n as u64)?)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or(Error::Format),
        }
    }

    fn binary_double(&mut self) -> Result<f64, Error> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
}

fn parse_score(s: &[u8]) -> Result<f64, Error> {
    let t = std::str::from_utf8(s).map_err(|_| Error::Format)?;
    let v = match t {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => t.parse::<f64>().map_err(|_| Error::Format)?,
    };
    if v.is_nan() {
        return Err(Error::Format);
    }
    Ok(v)
}

fn pairs(items: Vec<Bytes>) -> Result<Vec<(Bytes, Bytes)>, Error> {
    if !items.len().is_multiple_of(2) {
        return Err(Error::Format);
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn zset_from_pairs(items: Vec<Bytes>) -> Result<Value, Error> {
    let mut out = Vec::with_capacity(items.len() / 2);
    for (m, s) in pairs(items)? {
        out.push((m, parse_score(&s)?));
    }
    Ok(Value::ZSet(out))
}

/// The old zipmap hash encoding (RDB version < 4 era): `zmlen`, then entries of
/// len field len free value, ending with 0xff.
fn read_zipmap(b: &[u8]) -> Result<Vec<(Bytes, Bytes)>, Error> {
    let mut pos = 1usize;
    let mut out = Vec::new();
    let len_at = |pos: &mut usize| -> Result<Option<usize>, Error> {
        let first = *b.get(*pos).ok_or(Error::Format)?;
        *pos += 1;
        match first {
            0xff => Ok(None),
            254 => {
                let v = b.get(*pos..*pos + 4).ok_or(Error::Format)?;
                *pos += 4;
                Ok(Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize))
            }
            253 => Err(Error::Format),
            n => Ok(Some(n as usize)),
        }
    };
    while let Some(flen) = len_at(&mut pos)? {
        let f = b.get(pos..pos + flen).ok_or(Error::Format)?;
        pos += flen;
        let vlen = len_at(&mut pos)?.ok_or(Error::Format)?;
        let free = *b.get(pos).ok_or(Error::Format)? as usize;
        pos += 1;
        let v = b.get(pos..pos + vlen).ok_or(Error::Format)?;
        pos += vlen + free;
        out.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
    }
    Ok(out)
}

fn load_object(ty: u8, r: &mut Reader<'_>) -> Result<Value, Error> {
    let v = match ty {
        T_STRING => Value::String(r.string()?),
        T_LIST => {
            let n = r.count(1)?;
            Value::List((0..n).map(|_| r.string()).collect::<Result<_, _>>()?)
        }
        T_SET => {
            let n = r.count(1)?;
            Value::Set((0..n).map(|_| r.string()).collect::<Result<_, _>>()?)
        }
        T_ZSET | T_ZSET_2 => {
            let n = r.count(if ty == T_ZSET { 2 } else { 9 })?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let s = if ty == T_ZSET {
                    r.text_double()?
                } else {
                    r.binary_double()?
                };
                if s.is_nan() {
                    return Err(Error::Format);
                }
                out.push((m, s));
            }
            Value::ZSet(out)
        }
        T_HASH => {
            let n = r.count(2)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push((r.string()?, r.string()?));
            }
            Value::Hash(out)
        }
        T_HASH_ZIPMAP => Value::Hash(read_zipmap(&r.string()?)?),
        T_LIST_ZIPLIST => Value::List(packed::read_ziplist(&r.string()?)?),
        T_SET_INTSET => Value::Set(packed::read_intset(&r.string()?)?),
        T_ZSET_ZIPLIST => zset_from_pairs(packed::read_ziplist(&r.string()?)?)?,
        T_HASH_ZIPLIST => Value::Hash(pairs(packed::read_ziplist(&r.string()?)?)?),
        T_HASH_LISTPACK => Value::Hash(pairs(packed::read_listpack(&r.string()?)?)?),
        T_ZSET_LISTPACK => zset_from_pairs(packed::read_listpack(&r.string()?)?)?,
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if ty == T_LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    2
                };
                let blob = r.string()?;
                match (ty, container) {
                    (T_LIST_QUICKLIST, _) => items.extend(packed::read_ziplist(&blob)?),
                    (_, 1) => items.push(blob), // a plain node: one element
                    (_, 2) => {
                        let node = packed::read_listpack(&blob)?;
                        if node.is_empty() {
                            return Err(Error::Format);
                        }
                        items.extend(node);
                    }
                    _ => return Err(Error::Format),
                }
            }
            Value::List(items)
        }
        T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 => {
            return Ok(Value::Stream(Box::new(load_stream(
                r,
                ty == T_STREAM_LISTPACKS_2,
            )?)))
        }
        // Modules and anything newer: not a type of this server.
        _ => return Err(Error::Format),
    };
    // Redis refuses empty collections in a payload.
    let empty = match &v {
        Value::String(_) => false,
        Value::List(x) | Value::Set(x) => x.is_empty(),
        Value::Hash(x) => x.is_empty(),
        Value::ZSet(x) => x.is_empty(),
        Value::Stream(_) => false,
    };
    if empty {
        return Err(Error::Format);
    }
    Ok(v)
}

fn int_item(b: &Bytes) -> Result<i64, Error> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(Error::Format)
}

fn raw_id(r: &mut Reader<'_>) -> Result<Id, Error> {
    let b = r.bytes(16)?;
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    Ok((u64::from_be_bytes(ms), u64::from_be_bytes(seq)))
}

fn ms_time(r: &mut Reader<'_>) -> Result<u64, Error> {
    let b = r.bytes(8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

/// One listpack node of a stream: its live entries (deleted ones skipped).
fn read_stream_node(master: Id, lp: &[u8], out: &mut Vec<(Id, Vec<Bytes>)>) -> Result<(), Error> {
    let items = packed::read_listpack(lp)?;
    let mut it = items.iter();
    let mut next = || it.next().ok_or(Error::Format);
    let count = int_item(next()?)?;
    let deleted = int_item(next()?)?;
    let nfields = int_item(next()?)?;
    if count < 0 || deleted < 0 || !(0..=1 << 20).contains(&nfields) {
        return Err(Error::Format);
    }
    let mut master_fields = Vec::with_capacity(nfields as usize);
    for _ in 0..nfields {
        master_fields.push(next()?.clone());
    }
    if int_item(next()?)? != 0 {
        return Err(Error::Format);
    }
    let mut live = 0;
    for _ in 0..count + deleted {
        let flags = int_item(next()?)?;
        let ms = master.0.wrapping_add(int_item(next()?)? as u64);
        let seq = master.1.wrapping_add(int_item(next()?)? as u64);
        let mut fields = Vec::new();
        if flags & 2 != 0 {
            for f in &master_fields {
                fields.push(f.clone());
                fields.push(next()?.clone());
            }
        } else {
            let n = int_item(next()?)?;
            if !(0..=1 << 20).contains(&n) {
                return Err(Error::Format);
            }
            for _ in 0..n * 2 {
                fields.push(next()?.clone());
            }
        }
        let _lp_count = int_item(next()?)?;
        if flags & 1 == 0 {
            if out.last().is_some_and(|(last, _)| *last >= (ms, seq)) {
                return Err(Error::Format);
            }
            out.push(((ms, seq), fields));
            live += 1;
        }
    }
    if live != count || next().is_ok() {
        return Err(Error::Format);
    }
    Ok(())
}

fn load_stream(r: &mut Reader<'_>, v2: bool) -> Result<StreamValue, Error> {
    let mut v = StreamValue::default();
    let nodes = r.count(2)?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(Error::Format);
        }
        let mut k = Reader { b: &key, pos: 0 };
        let master = raw_id(&mut k)?;
        let lp = r.string()?;
        read_stream_node(master, &lp, &mut v.entries)?;
    }
    let length = r.len()?;
    if length != v.entries.len() as u64 {
        return Err(Error::Format);
    }
    v.last_id = (r.len()?, r.len()?);
    if v2 {
        v.first_id = (r.len()?, r.len()?);
        v.max_deleted = (r.len()?, r.len()?);
        v.entries_added = r.len()?;
    } else {
        v.first_id = v.entries.first().map(|e| e.0).unwrap_or_default();
        v.entries_added = length;
    }
    if v.entries.last().is_some_and(|(id, _)| *id > v.last_id) {
        return Err(Error::Format);
    }
    let groups = r.count(1)?;
    for _ in 0..groups {
        let mut held = std::collections::HashSet::new();
        let mut g = StreamGroupValue {
            name: r.string()?,
            last_id: (r.len()?, r.len()?),
            entries_read: -1,
            ..Default::default()
        };
        if v2 {
            g.entries_read = r.len()? as i64;
        }
        let pel = r.count(17)?;
        for _ in 0..pel {
            let id = raw_id(r)?;
            let time = ms_time(r)?;
            let count = r.len()?;
            if !held.insert(id) {
                return Err(Error::Format);
            }
            g.pending.push((id, time, count));
        }
        let consumers = r.count(9)?;
        for _ in 0..consumers {
            let mut c = StreamConsumerValue {
                name: r.string()?,
                seen_time: ms_time(r)?,
                pending: Vec::new(),
            };
            let n = r.count(16)?;
            for _ in 0..n {
                let id = raw_id(r)?;
                // Every entry a consumer holds is in its group's pending list.
                if !held.remove(&id) {
                    return Err(Error::Format);
                }
                c.pending.push(id);
            }
            g.consumers.push(c);
        }
        v.groups.push(g);
    }
    if r.pos != r.b.len() {
        return Err(Error::Format);
    }
    Ok(v)
}

/// Checks a payload's version and CRC, then decodes its object.
pub fn load(payload: &[u8]) -> Result<Value, Error> {
    load_with(payload, true)
}

/// [`load`], with the CRC check optional (`DEBUG SET-SKIP-CHECKSUM-VALIDATION`).
pub fn load_with(payload: &[u8], check_crc: bool) -> Result<Value, Error> {
    if payload.len() < 10 {
        return Err(Error::VersionOrChecksum);
    }
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    if version > RDB_VERSION {
        return Err(Error::VersionOrChecksum);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n - 8..]);
    let crc = u64::from_le_bytes(crc);
    if check_crc && crc64(0, &payload[..n - 8]) != crc {
        return Err(Error::VersionOrChecksum);
    }
    let body = &payload[..n - 10];
    let mut r = Reader { b: body, pos: 0 };
    let ty = r.byte()?;
    let v = load_object(ty, &mut r)?;
    Ok(dedup(v))
}

/// Sets and hashes keep the first of repeated members/fields, sorted sets the last score
/// (as loading them into Redis's dictionaries would).
fn dedup(v: Value) -> Value {
    match v {
        Value::Set(m) => {
            let mut seen = std::collections::HashSet::new();
            Value::Set(m.into_iter().filter(|x| seen.insert(x.clone())).collect())
        }
        Value::Hash(p) => {
            let mut seen = std::collections::HashSet::new();
            Value::Hash(
                p.into_iter()
                    .filter(|(f, _)| seen.insert(f.clone()))
                    .collect(),
            )
        }
        Value::ZSet(p) => {
            let mut last: std::collections::HashMap<Bytes, f64> = Default::default();
            for (m, s) in &p {
                last.insert(m.clone(), *s);
            }
            let mut out: Vec<(Bytes, f64)> = last.into_iter().collect();
            out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            Value::ZSet(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn strings_use_redis_s_encodings() {
        let d = |s: &str| dump(&Value::String(b(s)), &Limits::default());
        // "1" as an 8-bit integer: type 0, 0xc0 0x01, version 10, crc.
        assert_eq!(&d("1")[..5], &[0, 0xc0, 1, 10, 0]);
        assert_eq!(&d("-200")[..4], &[0, 0xc1, 0x38, 0xff]);
        assert_eq!(&d("hello")[..6], &[0, 5, b'h', b'e', b'l', b'l']);
        assert_eq!(d("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")[1], 0xc3);
    }

    /// Payloads that Debian's redis-server 7.0.15 returned for the same values.
    #[test]
    fn payloads_equal_redis_s_byte_for_byte() {
        let l = Limits::default();
        let cases: Vec<(Value, &[u8])> = vec![
            (
                Value::String(b("0123456789abcdefghij0123456789abcdefghij")),
                &[
                    0, 195, 25, 40, 20, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100,
                    101, 102, 103, 104, 105, 106, 48, 224, 10, 19, 10, 0, 175, 131, 253, 189, 26,
                    65, 185, 148,
                ],
            ),
            (Value::String(b("1")), b"\x00\xc0\x01\n\x00&x\xe7\xb6\xd1\x01\x11\xfc"),
            (
                Value::String(Bytes::from(vec![b'a'; 40])),
                b"\x00\xc3\t(\x01aa\xe0\x1b\x00\x01aa\n\x00\xcf\t/\xaa\xae%\x83\x1d",
            ),
            (
                Value::List(vec![b("a"), b("1"), b("-5")]),
                b"\x12\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81a\x02\x01\x01\xdf\xfb\x02\xff\n\x00\xaf7@;\x85\xfeU9",
            ),
            (
                Value::ZSet(vec![(b("a"), 1.0), (b("b"), 2.5)]),
                b"\x11\x14\x14\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x832.5\x04\xff\n\x00\xd4Ln\xa4\xf6D\xd9\xd7",
            ),
            (
                Value::Set(vec![b("1"), b("2"), b("300000")]),
                b"\x0b\x14\x04\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\xe0\x93\x04\x00\n\x00t/3HHlj9",
            ),
            (
                Value::Hash(vec![(b("f"), b("v")), (b("n"), b("12"))]),
                b"\x10\x12\x12\x00\x00\x00\x04\x00\x81f\x02\x81v\x02\x81n\x02\x0c\x01\xff\n\x00\x016\x94\x81\xd3[\x89t",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(dump(&v, &l), want.to_vec(), "{v:?}");
            assert_eq!(load(want).expect("loads"), v);
        }
    }

    #[test]
    fn every_type_round_trips() {
        let big_hash: Vec<(Bytes, Bytes)> = (0..300)
            .map(|i| (b(&format!("f{i}")), b(&format!("v{i}"))))
            .collect();
        let big_zset: Vec<(Bytes, f64)> = (0..300)
            .map(|i| (b(&format!("m{i:04}")), i as f64 / 3.0))
            .collect();
        let long_list: Vec<Bytes> = (0..5000).map(|i| b(&format!("item-{i}"))).collect();
        let values = vec![
            Value::String(b("x")),
            Value::String(Bytes::from(vec![b'z'; 1000])),
            Value::List(vec![
                b("a"),
                b("1"),
                b("-5"),
                b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            ]),
            Value::List(long_list),
            Value::Set(vec![b("1"), b("2"), b("300000")]),
            Value::Set(vec![b("a"), b("b")]),
            Value::Hash(vec![(b("f"), b("v")), (b("n"), b("12"))]),
            Value::Hash(big_hash),
            Value::ZSet(vec![(b("a"), 1.0), (b("b"), 2.5), (b("c"), f64::INFINITY)]),
            Value::ZSet(big_zset),
        ];
        for v in values {
            let p = dump(&v, &Limits::default());
            let mut back = load(&p).expect("loads");
            if let (Value::Set(a), Value::Set(bb)) = (&v, &mut back) {
                let mut a = a.clone();
                a.sort();
                bb.sort();
                assert_eq!(&a, bb);
                continue;
            }
            assert_eq!(back, v);
        }
    }

    #[test]
    fn function_payloads_equal_redis_s_and_round_trip() {
        // FUNCTION DUMP of Debian's redis-server 7.0.15 with this one library loaded.
        let code = "#!lua name=one\nredis.register_function('only', function() return 1 end)";
        let redis: &[u8] = b"\xf5@G#!lua name=one\nredis.register_function('only', function() return 1 end)\n\x00\x8df&Q\xde\xf3}\x98";
        assert_eq!(dump_functions(&[code]), redis);
        assert_eq!(load_functions(redis).unwrap(), vec![b(code)]);
        let two = dump_functions(&["a".repeat(100), "b".to_string()]);
        assert_eq!(
            load_functions(&two).unwrap(),
            vec![b(&"a".repeat(100)), b("b")]
        );
        assert!(load_functions(b"bogus").is_err());
        let mut bad = two.clone();
        bad[3] ^= 1;
        assert!(load_functions(&bad).is_err());
    }

    #[test]
    fn bad_payloads_are_errors_never_panics() {
        let good = dump(
            &Value::Hash(vec![(b("field"), b("value")), (b("n"), b("1"))]),
            &Limits::default(),
        );
        assert_eq!(load(&good[..5]), Err(Error::VersionOrChecksum));
        let mut flipped = good.clone();
        flipped[3] ^= 0xff;
        assert_eq!(load(&flipped), Err(Error::VersionOrChecksum));
        let mut newer = good.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        assert_eq!(load(&newer), Err(Error::VersionOrChecksum));
        // Random bodies with a valid trailer: decoded or refused, never a panic.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.random_range(0..64);
            let mut body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if !body.is_empty() {
                body[0] %= 20;
            }
            body.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(0, &body);
            body.extend_from_slice(&crc.to_le_bytes());
            let _ = load(&body);
        }
    }

    #[test]
    fn scores_print_as_d2string() {
        assert_eq!(format_score(1.0), "1");
        assert_eq!(format_score(-3.0), "-3");
        assert_eq!(format_score(1.5), "1.5");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(1e300), "1.0000000000000001e+300");
        assert_eq!(format_score(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_score(f64::INFINITY), "inf");
        assert_eq!(format_score(-0.0), "-0");
        assert_eq!(format_score(4503599627370496.0), "4503599627370496");
    }
}
