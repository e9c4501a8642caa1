//! Bitmaps on string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD. Bits are numbered
//! from the most significant bit of the first byte, as in Redis.

use bytes::Bytes;

use crate::cx::Db;
use crate::encoding::{KeyType, KeyspaceId, Meta};
use crate::{Error, Result};

/// Highest bit offset + 1 (a 512 MB string).
pub const MAX_BITS: u64 = 1 << 32;

pub fn get_bit(v: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    match v.get(byte) {
        Some(b) => (b >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

fn set_bit(v: &mut [u8], offset: u64, bit: u8) {
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    if bit != 0 {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
}

/// Resolves Redis's inclusive `start..end` (negatives count from the end) over `len` units;
/// `None` for an empty range.
fn clamp_range(start: i64, end: i64, len: i64) -> Option<(i64, i64)> {
    let fix = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (fix(start), fix(end).min(len - 1));
    (len > 0 && s <= e).then_some((s, e))
}

/// BITCOUNT over `[start, end]` in bytes, or in bits with `bit_units`.
pub fn bitcount(v: &[u8], range: Option<(i64, i64, bool)>) -> i64 {
    // Both ends counted from the end with start after end: empty, before clamping (Redis
    // 7.0; clamped, both would become 0 and count the first unit).
    if let Some((start, end, _)) = range {
        if start < 0 && end < 0 && start > end {
            return 0;
        }
    }
    match range {
        None => v.iter().map(|b| b.count_ones() as i64).sum(),
        Some((start, end, false)) => match clamp_range(start, end, v.len() as i64) {
            None => 0,
            Some((s, e)) => v[s as usize..=e as usize]
                .iter()
                .map(|b| b.count_ones() as i64)
                .sum(),
        },
        Some((start, end, true)) => match clamp_range(start, end, v.len() as i64 * 8) {
            None => 0,
            Some((s, e)) => (s..=e).map(|i| get_bit(v, i as u64) as i64).sum(),
        },
    }
}

/// BITPOS: the first `bit` in the range, Redis's rules for "not found".
pub fn bitpos(v: &[u8], bit: u8, start: Option<i64>, end: Option<i64>, bit_units: bool) -> i64 {
    let units = if bit_units {
        v.len() as i64 * 8
    } else {
        v.len() as i64
    };
    let (s, e) = match clamp_range(start.unwrap_or(0), end.unwrap_or(-1), units) {
        Some(r) => r,
        None => return -1,
    };
    let (first_bit, last_bit) = if bit_units {
        (s, e)
    } else {
        (s * 8, e * 8 + 7)
    };
    for i in first_bit..=last_bit {
        if get_bit(v, i as u64) == bit {
            return i;
        }
    }
    // Looking for a clear bit without an explicit end: the string is virtually padded with
    // zeros on the right, so the answer is the first bit past the range.
    if bit == 0 && end.is_none() {
        last_bit + 1
    } else {
        -1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP's result over the source values (missing keys count as empty strings).
pub fn bitop(op: BitOp, srcs: &[Option<Bytes>]) -> Vec<u8> {
    let len = srcs
        .iter()
        .map(|s| s.as_ref().map_or(0, |b| b.len()))
        .max()
        .unwrap_or(0);
    let byte =
        |s: &Option<Bytes>, i: usize| s.as_ref().and_then(|b| b.get(i).copied()).unwrap_or(0);
    (0..len)
        .map(|i| match op {
            BitOp::Not => !byte(&srcs[0], i),
            BitOp::And => srcs.iter().fold(0xff, |acc, s| acc & byte(s, i)),
            BitOp::Or => srcs.iter().fold(0, |acc, s| acc | byte(s, i)),
            BitOp::Xor => srcs.iter().fold(0, |acc, s| acc ^ byte(s, i)),
        })
        .collect()
}

/// A BITFIELD integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldType {
    pub signed: bool,
    pub bits: u32,
}

impl FieldType {
    pub fn parse(s: &[u8]) -> Option<FieldType> {
        let (signed, rest) = match s.first()? {
            b'i' | b'I' => (true, &s[1..]),
            b'u' | b'U' => (false, &s[1..]),
            _ => return None,
        };
        let bits: u32 = std::str::from_utf8(rest).ok()?.parse().ok()?;
        let ok = if signed {
            (1..=64).contains(&bits)
        } else {
            (1..=63).contains(&bits)
        };
        ok.then_some(FieldType { signed, bits })
    }

    fn range(self) -> (i128, i128) {
        if self.signed {
            (-(1i128 << (self.bits - 1)), (1i128 << (self.bits - 1)) - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// Applies the overflow policy to a value; `None` when FAIL refuses it.
    fn fit(self, v: i128, overflow: Overflow) -> Option<i128> {
        let (min, max) = self.range();
        if (min..=max).contains(&v) {
            return Some(v);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat => Some(if v < min { min } else { max }),
            Overflow::Wrap => {
                let m = 1i128 << self.bits;
                let mut w = v.rem_euclid(m);
                if self.signed && w > max {
                    w -= m;
                }
                Some(w)
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation, with the overflow policy in force when it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub ty: FieldType,
    pub offset: u64,
    pub op: FieldOp,
    pub overflow: Overflow,
}

fn read_field(v: &[u8], ty: FieldType, offset: u64) -> i128 {
    let mut u: u64 = 0;
    for i in 0..ty.bits as u64 {
        u = (u << 1) | get_bit(v, offset + i) as u64;
    }
    if ty.signed && ty.bits < 64 && (u >> (ty.bits - 1)) & 1 == 1 {
        (u as i128) - (1i128 << ty.bits)
    } else if ty.signed && ty.bits == 64 {
        u as i64 as i128
    } else {
        u as i128
    }
}

fn write_field(v: &mut Vec<u8>, ty: FieldType, offset: u64, value: i128) {
    let need = (offset + ty.bits as u64).div_ceil(8) as usize;
    if v.len() < need {
        v.resize(need, 0);
    }
    let u = value as u64;
    for i in 0..ty.bits as u64 {
        let bit = ((u >> (ty.bits as u64 - 1 - i)) & 1) as u8;
        set_bit(v, offset + i, bit);
    }
}

/// Runs BITFIELD operations over a value; returns the new value if any operation wrote.
fn run_fields(cur: &[u8], fields: &[Field]) -> (Option<Vec<u8>>, Vec<Option<i64>>) {
    let mut v = cur.to_vec();
    let mut wrote = false;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let old = read_field(&v, f.ty, f.offset);
        match f.op {
            FieldOp::Get => out.push(Some(old as i64)),
            FieldOp::Set(x) => match f.ty.fit(x as i128, f.overflow) {
                Some(n) => {
                    write_field(&mut v, f.ty, f.offset, n);
                    wrote = true;
                    out.push(Some(old as i64));
                }
                None => out.push(None),
            },
            FieldOp::IncrBy(d) => match f.ty.fit(old + d as i128, f.overflow) {
                Some(n) => {
                    write_field(&mut v, f.ty, f.offset, n);
                    wrote = true;
                    out.push(Some(n as i64));
                }
                None => out.push(None),
            },
        }
    }
    (wrote.then_some(v), out)
}

impl Db<'_> {
    /// SETBIT: returns the previous bit.
    pub fn setbit(&self, ks: KeyspaceId, key: &[u8], offset: u64, bit: u8) -> Result<u8> {
        let need = (offset / 8 + 1) as usize;
        if need > self.max_value_len() {
            return Err(Error::TooLarge);
        }
        self.modify_string(ks, key, |cur| {
            let mut v = cur.map(|b| b.to_vec()).unwrap_or_default();
            if v.len() < need {
                v.resize(need, 0);
            }
            let old = get_bit(&v, offset);
            set_bit(&mut v, offset, bit);
            Ok((Bytes::from(v), old))
        })
    }

    /// The value of a string key for the read-only bit commands (`None`: no key).
    pub fn string_value(&self, ks: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .typed_meta(ks, key, self.now_ms(), KeyType::String)?
            .map(|m| m.value))
    }

    /// BITOP: stores the result in `dst` (deletes it when empty); returns its length.
    pub fn bitop(&self, ks: KeyspaceId, op: BitOp, dst: &[u8], srcs: &[Bytes]) -> Result<usize> {
        let mut lk: Vec<(KeyspaceId, &[u8])> = srcs.iter().map(|k| (ks, k.as_ref())).collect();
        lk.push((ks, dst));
        let _l = self.lock(&lk);
        let now = self.now_ms();
        let values = srcs
            .iter()
            .map(|k| {
                Ok(self
                    .typed_meta(ks, k, now, KeyType::String)?
                    .map(|m| m.value))
            })
            .collect::<Result<Vec<_>>>()?;
        let result = bitop(op, &values);
        let n = result.len();
        let mut b = rust_rocksdb::WriteBatch::default();
        if n == 0 {
            self.delete_meta(&mut b, ks, dst)?;
        } else {
            self.put_meta(&mut b, ks, dst, &Meta::string(Bytes::from(result), 0))?;
        }
        self.write(b)?;
        Ok(n)
    }

    /// BITFIELD / BITFIELD_RO: results per operation (`None`: refused by OVERFLOW FAIL).
    pub fn bitfield(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        fields: &[Field],
    ) -> Result<Vec<Option<i64>>> {
        let writes = fields.iter().any(|f| f.op != FieldOp::Get);
        if !writes {
            let cur = self.string_value(ks, key)?.unwrap_or_default();
            return Ok(run_fields(&cur, fields).1);
        }
        let max_end = fields
            .iter()
            .filter(|f| f.op != FieldOp::Get)
            .map(|f| (f.offset + f.ty.bits as u64).div_ceil(8) as usize)
            .max()
            .unwrap_or(0);
        if max_end > self.max_value_len() {
            return Err(Error::TooLarge);
        }
        self.update_string(ks, key, |cur| {
            let (new, out) = run_fields(cur.map_or(&[][..], |b| b.as_ref()), fields);
            Ok((new.map(Bytes::from), out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_wrap_saturate_and_fail() {
        let u8t = FieldType::parse(b"u8").unwrap();
        let i8t = FieldType::parse(b"i8").unwrap();
        assert_eq!(u8t.fit(300, Overflow::Wrap), Some(44));
        assert_eq!(u8t.fit(-1, Overflow::Wrap), Some(255));
        assert_eq!(u8t.fit(300, Overflow::Sat), Some(255));
        assert_eq!(i8t.fit(128, Overflow::Wrap), Some(-128));
        assert_eq!(i8t.fit(-200, Overflow::Sat), Some(-128));
        assert_eq!(i8t.fit(200, Overflow::Fail), None);
        let mut v = Vec::new();
        write_field(&mut v, i8t, 4, -2);
        assert_eq!(read_field(&v, i8t, 4), -2);
        assert_eq!(v, vec![0x0f, 0xe0]);
        let i64t = FieldType::parse(b"i64").unwrap();
        write_field(&mut v, i64t, 3, i64::MIN as i128);
        assert_eq!(read_field(&v, i64t, 3), i64::MIN as i128);
        assert!(FieldType::parse(b"u64").is_none());
    }

    #[test]
    fn bitpos_rules() {
        assert_eq!(bitpos(&[0xff, 0xf0], 0, None, None, false), 12);
        assert_eq!(bitpos(&[0xff], 0, None, None, false), 8);
        assert_eq!(bitpos(&[0xff], 0, Some(0), Some(-1), false), -1);
        assert_eq!(bitpos(&[0x00, 0x01], 1, Some(1), None, false), 15);
        assert_eq!(bitpos(&[0x00, 0x01], 1, Some(3), Some(10), true), -1);
        assert_eq!(bitcount(b"foobar", Some((1, 1, false))), 6);
        assert_eq!(bitcount(b"foobar", Some((5, 30, true))), 17);
    }
}
