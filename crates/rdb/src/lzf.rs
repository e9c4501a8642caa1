//! LZF, the compression of long strings in RDB payloads.
//!
//! Format: a control byte below 32 starts a literal run of `ctrl + 1` bytes; otherwise its
//! top 3 bits are a match length minus 2 (7: one more byte adds to it) and its low 5 bits
//! with the next byte an offset back minus 1.
//!
//! The compressor makes the same choices as the one Redis ships (a 2^16-slot hash of the
//! next three bytes, hash `((h >> 8) - h * 5) & 0xffff`, the two positions before the end
//! of a match re-hashed), so a payload compresses to the same bytes as in Redis.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

fn first(p: &[u8], i: usize) -> u32 {
    ((p[i] as u32) << 8) | p[i + 1] as u32
}

fn next(v: u32, p: &[u8], i: usize) -> u32 {
    (v << 8) | p[i + 2] as u32
}

/// Adds one byte to the current literal run, closing the run when it is full.
fn literal(out: &mut Vec<u8>, b: u8, lit: &mut usize, lit_at: &mut usize) {
    *lit += 1;
    out.push(b);
    if *lit == MAX_LIT {
        out[*lit_at] = (*lit - 1) as u8;
        *lit = 0;
        *lit_at = out.len();
        out.push(0);
    }
}

/// Compresses `input` into at most `max_out` bytes; `None` if it does not fit (the caller
/// then stores the string as it is).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || max_out == 0 {
        return None;
    }
    // Positions + 1 (0: empty slot).
    let mut htab = vec![0u32; HSIZE];
    let mut out: Vec<u8> = Vec::with_capacity(max_out);
    // `lit_at`: index in `out` of the current literal run's control byte.
    let mut lit = 0usize;
    let mut lit_at = 0usize;
    out.push(0);
    let mut ip = 0usize;
    if in_len < 3 {
        // Only literals.
    } else {
        let mut hval = first(input, ip);
        while ip < in_len - 2 {
            hval = next(hval, input, ip);
            let slot = idx(hval);
            let r = htab[slot];
            htab[slot] = ip as u32 + 1;
            let matched = r != 0 && {
                let rf = r as usize - 1;
                rf < ip
                    && ip - rf - 1 < MAX_OFF
                    && rf > 0
                    && input[rf + 2] == input[ip + 2]
                    && input[rf] == input[ip]
                    && input[rf + 1] == input[ip + 1]
            };
            if matched {
                let rf = r as usize - 1;
                let off = ip - rf - 1;
                let mut len = 2usize;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                if out.len() + 3 + 1 >= max_out
                    && out.len() - usize::from(lit == 0) + 3 + 1 >= max_out
                {
                    return None;
                }
                out[lit_at] = (lit as u8).wrapping_sub(1); // stop run
                if lit == 0 {
                    out.pop(); // undo the empty run
                }
                // As liblzf: with more than 16 bytes allowed, 16 unrolled steps check their
                // byte without the bound (they stay inside the input); then steps that stop at
                // the bound or the first difference.
                let mut done = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[rf + len] != input[ip + len] {
                            done = true;
                            break;
                        }
                    }
                }
                if !done {
                    loop {
                        len += 1;
                        if !(len < maxlen && input[rf + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2;
                ip += 1;
                if len < 7 {
                    out.push(((off >> 8) + (len << 5)) as u8);
                } else {
                    out.push(((off >> 8) + (7 << 5)) as u8);
                    out.push((len - 7) as u8);
                }
                out.push(off as u8);
                lit = 0;
                lit_at = out.len();
                out.push(0); // start run
                ip += len + 1;
                if ip >= in_len - 2 {
                    break;
                }
                ip -= 2;
                hval = first(input, ip);
                hval = next(hval, input, ip);
                htab[idx(hval)] = ip as u32 + 1;
                ip += 1;
                hval = next(hval, input, ip);
                htab[idx(hval)] = ip as u32 + 1;
                ip += 1;
            } else {
                if out.len() >= max_out {
                    return None;
                }
                literal(&mut out, input[ip], &mut lit, &mut lit_at);
                ip += 1;
            }
        }
    }
    if out.len() + 3 > max_out {
        return None;
    }
    while ip < in_len {
        literal(&mut out, input[ip], &mut lit, &mut lit_at);
        ip += 1;
    }
    out[lit_at] = (lit as u8).wrapping_sub(1);
    if lit == 0 {
        out.pop();
    }
    (out.len() <= max_out).then_some(out)
}

/// Decompresses exactly `out_len` bytes; `None` for any malformed input.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if ip + len > input.len() || out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + len]);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            len += 2;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_compresses_repetitions() {
        let cases: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello world hello world hello world hello world!".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            (0..3000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        for c in cases {
            let z = compress(&c, c.len() - 4).expect("compressible");
            assert!(z.len() < c.len());
            assert_eq!(decompress(&z, c.len()).as_deref(), Some(&c[..]));
        }
    }

    #[test]
    fn incompressible_input_does_not_fit() {
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
    }

    #[test]
    fn malformed_input_is_refused() {
        assert!(decompress(&[0x05, b'a'], 6).is_none());
        assert!(decompress(&[0x20, 0x00], 3).is_none());
        assert!(decompress(&[0x00, b'a', 0xe0], 20).is_none());
        assert!(decompress(&[0x00, b'a'], 2).is_none());
    }
}
