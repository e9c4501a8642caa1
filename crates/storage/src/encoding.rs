//! Byte layouts of everything Strata stores. This is the only module that knows them;
//! `docs/encoding.md` draws the same layouts. On-disk enum values are explicit and never
//! renumbered.
//!
//! Column families:
//! * `default` — server records (format version).
//! * `meta`    — one metadata record per user key: `ks | user_key` → `type | expire | ...`.
//! * `sub`     — members of collections: `ks | keylen | user_key | version | sub_key` → value.
//! * `score`   — sorted-set score index: `ks | keylen | user_key | version | score | member` → ∅.
//! * `expire`  — expiry index (hints): `expire_ms | ks | user_key` → ∅.

use bytes::Bytes;

use crate::Error;

/// Format version written at creation and checked at open.
pub const FORMAT_VERSION: u32 = 1;
/// Key of the format-version record in the `default` column family.
pub const FORMAT_KEY: &[u8] = b"\x00strata:format-version";

/// A keyspace id: databases 0..=15 (`SELECT`) are ids 0..=15; named namespaces get ids from
/// [`FIRST_NAMESPACE_ID`] upwards.
pub type KeyspaceId = u32;
pub const FIRST_NAMESPACE_ID: KeyspaceId = 1024;

/// Type tag of a key. Values are on disk: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyType {
    String = 1,
    Hash = 2,
    List = 3,
    Set = 4,
    ZSet = 5,
    Stream = 6,
}

impl KeyType {
    pub fn from_u8(b: u8) -> Option<KeyType> {
        Some(match b {
            1 => KeyType::String,
            2 => KeyType::Hash,
            3 => KeyType::List,
            4 => KeyType::Set,
            5 => KeyType::ZSet,
            6 => KeyType::Stream,
            _ => return None,
        })
    }

    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Hash => "hash",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::ZSet => "zset",
            KeyType::Stream => "stream",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<KeyType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => KeyType::String,
            b"hash" => KeyType::Hash,
            b"list" => KeyType::List,
            b"set" => KeyType::Set,
            b"zset" => KeyType::ZSet,
            b"stream" => KeyType::Stream,
            _ => return None,
        })
    }
}

/// Decoded metadata record.
///
/// ```text
/// string:     type u8 | expire_ms u64 BE | value bytes...
/// collection: type u8 | expire_ms u64 BE | version u64 BE | size u64 BE | type-specific...
/// ```
/// `expire_ms == 0` means no expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub ty: KeyType,
    pub expire_ms: u64,
    /// Version tagging the sub-keys of a collection (0 for strings).
    pub version: u64,
    /// Element count of a collection (the length for strings is `value.len()`).
    pub size: u64,
    /// String payload, or type-specific trailing bytes of a collection (list head/tail).
    pub value: Bytes,
}

const META_HEADER: usize = 1 + 8;
const COLLECTION_HEADER: usize = META_HEADER + 8 + 8;

impl Meta {
    pub fn string(value: Bytes, expire_ms: u64) -> Meta {
        Meta {
            ty: KeyType::String,
            expire_ms,
            version: 0,
            size: 0,
            value,
        }
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_ms != 0 && self.expire_ms <= now_ms
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(COLLECTION_HEADER + self.value.len());
        out.push(self.ty as u8);
        out.extend_from_slice(&self.expire_ms.to_be_bytes());
        if self.ty != KeyType::String {
            out.extend_from_slice(&self.version.to_be_bytes());
            out.extend_from_slice(&self.size.to_be_bytes());
        }
        out.extend_from_slice(&self.value);
        out
    }

    pub fn decode(raw: &[u8]) -> Result<Meta, Error> {
        if raw.len() < META_HEADER {
            return Err(Error::Corrupt("metadata record too short".into()));
        }
        let ty = KeyType::from_u8(raw[0])
            .ok_or_else(|| Error::Corrupt(format!("unknown key type {}", raw[0])))?;
        let expire_ms = be_u64(&raw[1..9]);
        if ty == KeyType::String {
            return Ok(Meta::string(Bytes::copy_from_slice(&raw[9..]), expire_ms));
        }
        if raw.len() < COLLECTION_HEADER {
            return Err(Error::Corrupt("collection metadata too short".into()));
        }
        Ok(Meta {
            ty,
            expire_ms,
            version: be_u64(&raw[9..17]),
            size: be_u64(&raw[17..25]),
            value: Bytes::copy_from_slice(&raw[25..]),
        })
    }

    /// Reads only the type and expiry (no copy of the payload).
    pub fn peek(raw: &[u8]) -> Result<(KeyType, u64), Error> {
        if raw.len() < META_HEADER {
            return Err(Error::Corrupt("metadata record too short".into()));
        }
        let ty = KeyType::from_u8(raw[0])
            .ok_or_else(|| Error::Corrupt(format!("unknown key type {}", raw[0])))?;
        Ok((ty, be_u64(&raw[1..9])))
    }
}

pub fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

pub fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// `meta` key: `ks u32 BE | user_key`.
pub fn meta_key(ks: KeyspaceId, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len());
    out.extend_from_slice(&ks.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Splits a `meta` key into keyspace and user key.
pub fn split_meta_key(raw: &[u8]) -> Option<(KeyspaceId, &[u8])> {
    if raw.len() < 4 {
        return None;
    }
    Some((be_u32(&raw[..4]), &raw[4..]))
}

/// First key of a keyspace's range in `meta`, `sub` and `score`.
pub fn keyspace_start(ks: KeyspaceId) -> Vec<u8> {
    ks.to_be_bytes().to_vec()
}

/// Exclusive end of a keyspace's range (the next keyspace's start). Id `u32::MAX` is reserved
/// and never allocated, so the fallback value is never used as a bound.
pub fn keyspace_end(ks: KeyspaceId) -> Vec<u8> {
    match ks.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        None => vec![0xff; 5],
    }
}

/// Prefix of all sub-keys of one version of one collection:
/// `ks u32 BE | keylen u32 BE | user_key | version u64 BE`.
pub fn sub_prefix(ks: KeyspaceId, key: &[u8], version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.len());
    out.extend_from_slice(&ks.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// A full sub-key: the prefix followed by the member bytes.
pub fn sub_key(ks: KeyspaceId, key: &[u8], version: u64, member: &[u8]) -> Vec<u8> {
    let mut out = sub_prefix(ks, key, version);
    out.extend_from_slice(member);
    out
}

/// Parses a `sub`/`score` key into (keyspace, user key, version, rest).
pub fn split_sub_key(raw: &[u8]) -> Option<(KeyspaceId, &[u8], u64, &[u8])> {
    if raw.len() < 8 {
        return None;
    }
    let ks = be_u32(&raw[..4]);
    let klen = be_u32(&raw[4..8]) as usize;
    let rest = &raw[8..];
    if rest.len() < klen + 8 {
        return None;
    }
    let key = &rest[..klen];
    let version = be_u64(&rest[klen..klen + 8]);
    Some((ks, key, version, &rest[klen + 8..]))
}

/// `expire` index key: `expire_ms u64 BE | ks u32 BE | user_key`.
pub fn expire_key(expire_ms: u64, ks: KeyspaceId, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + key.len());
    out.extend_from_slice(&expire_ms.to_be_bytes());
    out.extend_from_slice(&ks.to_be_bytes());
    out.extend_from_slice(key);
    out
}

pub fn split_expire_key(raw: &[u8]) -> Option<(u64, KeyspaceId, &[u8])> {
    if raw.len() < 12 {
        return None;
    }
    Some((be_u64(&raw[..8]), be_u32(&raw[8..12]), &raw[12..]))
}

/// Encodes a sorted-set score so that byte order equals numeric order (negative numbers,
/// -inf and +inf included): flip all bits of negatives, flip only the sign bit of positives.
pub fn encode_score(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score }; // -0.0 sorts as 0.0
    let bits = score.to_bits();
    let enc = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    enc.to_be_bytes()
}

pub fn decode_score(b: &[u8]) -> f64 {
    let enc = be_u64(b);
    let bits = if enc >> 63 == 1 {
        enc & !(1 << 63)
    } else {
        !enc
    };
    f64::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let m = Meta::string(Bytes::from("hello"), 123);
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        let h = Meta {
            ty: KeyType::Hash,
            expire_ms: 0,
            version: 77,
            size: 3,
            value: Bytes::new(),
        };
        assert_eq!(Meta::decode(&h.encode()).unwrap(), h);
        assert!(Meta::decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Meta::decode(&[1, 0]).is_err());
    }

    #[test]
    fn keyspace_ranges_nest() {
        assert_eq!(keyspace_end(0), vec![0, 0, 0, 1]);
        assert!(meta_key(3, b"\xff\xff") < keyspace_end(3));
        assert!(meta_key(4, b"") >= keyspace_end(3));
        assert_eq!(keyspace_end(u32::MAX), vec![0xff; 5]);
    }

    #[test]
    fn sub_key_round_trip() {
        let k = sub_key(2, b"user", 9, b"field");
        let (ks, key, ver, rest) = split_sub_key(&k).unwrap();
        assert_eq!((ks, key, ver, rest), (2, &b"user"[..], 9, &b"field"[..]));
    }

    #[test]
    fn score_order_is_numeric_order() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -1e-300,
            0.0,
            1e-300,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(
                encode_score(w[0]) < encode_score(w[1]),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        for s in scores {
            assert_eq!(decode_score(&encode_score(s)), s);
        }
        assert_eq!(encode_score(-0.0), encode_score(0.0));
    }
}
