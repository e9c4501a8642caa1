//! HyperLogLog (PFADD PFCOUNT PFMERGE) on string values, with Redis's parameters: 16,384
//! six-bit registers, MurmurHash64A with Redis's seed, and Redis's (Ertl's) estimator, so the
//! estimates are the ones Redis gives for the same elements.
//!
//! Values are written in Redis's *dense* layout ("HYLL", encoding 0, three zero bytes, an
//! 8-byte cardinality cache marked invalid, 12,288 bytes of packed registers). Redis's sparse
//! layout is read too (a value copied from Redis works); it is never written.

use bytes::Bytes;

use crate::cx::Db;
use crate::encoding::{KeyType, KeyspaceId, Meta};
use crate::{Error, Result};

const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
const SEED: u64 = 0xadc8_3b19;

pub type Registers = Vec<u8>;

/// Redis's MurmurHash64A.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate().rev() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it proposes for it.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn wrong_hll() -> Error {
    Error::NotHll
}

/// A valid header whose sparse body is damaged (bad opcodes, too few or too many
/// registers): Redis's INVALIDOBJ.
fn corrupt_hll() -> Error {
    Error::CorruptHll
}

/// Decodes a stored HyperLogLog (dense or sparse) into one byte per register.
pub fn decode(v: &[u8]) -> Result<Registers> {
    if v.len() < HDR || &v[..4] != b"HYLL" || v[4] > 1 {
        return Err(wrong_hll());
    }
    let mut regs = vec![0u8; REGISTERS];
    if v[4] == 0 {
        if v.len() != DENSE_SIZE {
            return Err(wrong_hll());
        }
        let p = &v[HDR..];
        for (i, r) in regs.iter_mut().enumerate() {
            let bit = i * BITS;
            let (byte, fb) = (bit / 8, bit % 8);
            let b0 = p[byte] as u16;
            let b1 = p.get(byte + 1).copied().unwrap_or(0) as u16;
            *r = (((b0 >> fb) | (b1 << (8 - fb))) as u8) & REGISTER_MAX;
        }
        return Ok(regs);
    }
    // Sparse: ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx.
    let mut idx = 0usize;
    let mut i = HDR;
    while i < v.len() {
        let op = v[i];
        if op & 0xc0 == 0 {
            idx += (op & 0x3f) as usize + 1;
            i += 1;
        } else if op & 0xc0 == 0x40 {
            let n = ((((op & 0x3f) as usize) << 8)
                | *v.get(i + 1).ok_or_else(corrupt_hll)? as usize)
                + 1;
            idx += n;
            i += 2;
        } else {
            let val = ((op >> 2) & 0x1f) + 1;
            let n = (op & 0x3) as usize + 1;
            if idx + n > REGISTERS {
                return Err(corrupt_hll());
            }
            regs[idx..idx + n].iter_mut().for_each(|r| *r = val);
            idx += n;
            i += 1;
        }
        if idx > REGISTERS {
            return Err(corrupt_hll());
        }
    }
    if idx != REGISTERS {
        return Err(corrupt_hll());
    }
    Ok(regs)
}

/// A sparse HyperLogLog's opcodes as Redis's `PFDEBUG DECODE` shows them (`Z:n` for both zero
/// runs, `v:value,run`); stops at the first malformed opcode.
pub fn describe_sparse(v: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = HDR;
    while i < v.len() {
        let op = v[i];
        if op & 0xc0 == 0 {
            out.push(format!("Z:{}", (op & 0x3f) as usize + 1));
            i += 1;
        } else if op & 0xc0 == 0x40 {
            let Some(&lo) = v.get(i + 1) else { break };
            out.push(format!(
                "Z:{}",
                ((((op & 0x3f) as usize) << 8) | lo as usize) + 1
            ));
            i += 2;
        } else {
            out.push(format!("v:{},{}", ((op >> 2) & 0x1f) + 1, (op & 0x3) + 1));
            i += 1;
        }
    }
    out.join(" ")
}

/// Encodes registers in the dense layout (cardinality cache marked invalid).
pub fn encode(regs: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; DENSE_SIZE];
    v[..4].copy_from_slice(b"HYLL");
    v[15] = 0x80;
    let p = &mut v[HDR..];
    for (i, &r) in regs.iter().enumerate() {
        let bit = i * BITS;
        let (byte, fb) = (bit / 8, bit % 8);
        let val = (r & REGISTER_MAX) as u16;
        p[byte] |= (val << fb) as u8;
        if fb > 8 - BITS {
            p[byte + 1] |= (val >> (8 - fb)) as u8;
        }
    }
    v
}

/// Adds elements; true if a register changed.
pub fn add(regs: &mut [u8], elements: &[Bytes]) -> bool {
    let mut changed = false;
    for e in elements {
        let (i, count) = pattern(e);
        if count > regs[i] {
            regs[i] = count;
            changed = true;
        }
    }
    changed
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate (Redis's `hllCount`).
pub fn count(regs: &[u8]) -> u64 {
    let m = REGISTERS as f64;
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[r as usize] += 1;
    }
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    (ALPHA_INF * m * m / z).round() as u64
}

impl Db<'_> {
    /// The registers of a HyperLogLog key (`None`: no key).
    fn hll_registers(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        now: u64,
    ) -> Result<Option<(Registers, u64)>> {
        match self.typed_meta(ks, key, now, KeyType::String)? {
            None => Ok(None),
            Some(m) => Ok(Some((decode(&m.value)?, m.expire_ms))),
        }
    }

    /// PFADD: true if the estimate may have changed (a register changed or the key was made).
    pub fn pfadd(&self, ks: KeyspaceId, key: &[u8], elements: &[Bytes]) -> Result<bool> {
        self.update_string(ks, key, |cur| {
            let (mut regs, created) = match cur {
                Some(v) => (decode(v)?, false),
                None => (vec![0u8; REGISTERS], true),
            };
            let changed = add(&mut regs, elements) || created;
            Ok((changed.then(|| Bytes::from(encode(&regs))), changed))
        })
    }

    /// PFCOUNT: the estimate for the union of the keys.
    pub fn pfcount(&self, ks: KeyspaceId, keys: &[Bytes]) -> Result<u64> {
        let now = self.now_ms();
        let mut union = vec![0u8; REGISTERS];
        for k in keys {
            if let Some((regs, _)) = self.hll_registers(ks, k, now)? {
                union
                    .iter_mut()
                    .zip(regs)
                    .for_each(|(u, r)| *u = (*u).max(r));
            }
        }
        Ok(count(&union))
    }

    /// PFMERGE: `dst` becomes the union of itself and the sources.
    pub fn pfmerge(&self, ks: KeyspaceId, dst: &[u8], srcs: &[Bytes]) -> Result<()> {
        let mut lk: Vec<(KeyspaceId, &[u8])> = srcs.iter().map(|k| (ks, k.as_ref())).collect();
        lk.push((ks, dst));
        let _l = self.lock(&lk);
        let now = self.now_ms();
        let (mut union, expire) = match self.hll_registers(ks, dst, now)? {
            Some(x) => x,
            None => (vec![0u8; REGISTERS], 0),
        };
        for k in srcs {
            if let Some((regs, _)) = self.hll_registers(ks, k, now)? {
                union
                    .iter_mut()
                    .zip(regs)
                    .for_each(|(u, r)| *u = (*u).max(r));
            }
        }
        let mut b = rust_rocksdb::WriteBatch::default();
        self.put_meta(
            &mut b,
            ks,
            dst,
            &Meta::string(Bytes::from(encode(&union)), expire),
        )?;
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_and_estimates() {
        let mut regs = vec![0u8; REGISTERS];
        let elems: Vec<Bytes> = (0..100_000).map(|i| Bytes::from(format!("e{i}"))).collect();
        assert!(add(&mut regs, &elems));
        assert!(!add(&mut regs, &elems[..10]), "nothing new");
        let back = decode(&encode(&regs)).unwrap();
        assert_eq!(back, regs);
        let n = count(&regs) as f64;
        assert!((n - 100_000.0).abs() / 100_000.0 < 0.02, "estimate {n}");
        assert_eq!(count(&vec![0u8; REGISTERS]), 0);
    }

    #[test]
    fn sparse_values_from_redis_are_read() {
        // An empty sparse HLL: header + XZERO covering all 16384 registers.
        let mut v = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        v.extend([0x7f, 0xff]);
        assert_eq!(decode(&v).unwrap(), vec![0u8; REGISTERS]);
        assert!(decode(b"HYLL").is_err());
        assert!(decode(b"not an hll at all").is_err());
    }
}
