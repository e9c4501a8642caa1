//! Redis's packed encodings inside RDB payloads: listpack (written and read), ziplist and
//! intset (read; intset written too). Readers are strict: any length or encoding that does
//! not fit the blob is an error, never a panic.

use bytes::Bytes;

use crate::Error;

/// Redis's `string2ll`: a canonical decimal integer (no `+`, no leading zeros, no spaces,
/// at most 20 characters, within i64).
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i128 = 0;
    for &d in digits {
        v = v * 10 + (d - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

// ---- listpack ----

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    match backlen_size(l as usize) {
        1 => out.push(l as u8),
        2 => out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]),
        3 => out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        4 => out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        _ => out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
    }
}

/// One listpack entry (encoding + data, then its back length), as Redis encodes a string:
/// canonical integers as the smallest integer encoding.
fn push_entry(out: &mut Vec<u8>, s: &[u8]) {
    let start = out.len();
    if let Some(v) = canonical_int(s) {
        if (0..=127).contains(&v) {
            out.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            out.push(0xc0 | (u >> 8) as u8);
            out.push(u as u8);
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    } else if s.len() < 64 {
        out.push(0x80 | s.len() as u8);
        out.extend_from_slice(s);
    } else if s.len() < 4096 {
        out.push(0xe0 | (s.len() >> 8) as u8);
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    }
    let len = out.len() - start;
    push_backlen(out, len);
}

/// The bytes one entry of `s` takes in a listpack (for node size limits).
pub fn listpack_entry_size(s: &[u8]) -> usize {
    let mut v = Vec::new();
    push_entry(&mut v, s);
    v.len()
}

/// A listpack of the given elements.
pub fn listpack<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut n = 0usize;
    for s in items {
        push_entry(&mut out, s);
        n += 1;
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..6].copy_from_slice(&(n.min(65535) as u16).to_le_bytes());
    out
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Error> {
    let end = pos.checked_add(n).ok_or(Error::Format)?;
    let s = b.get(*pos..end).ok_or(Error::Format)?;
    *pos = end;
    Ok(s)
}

fn int_bytes(v: i64) -> Bytes {
    Bytes::from(v.to_string())
}

/// The elements of a listpack, as strings (integers in decimal).
pub fn read_listpack(b: &[u8]) -> Result<Vec<Bytes>, Error> {
    if b.len() < 7 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize != b.len() {
        return Err(Error::Format);
    }
    let declared = u16::from_le_bytes([b[4], b[5]]) as usize;
    let mut pos = 6usize;
    let mut out = Vec::new();
    loop {
        let start = pos;
        let enc = *b.get(pos).ok_or(Error::Format)?;
        if enc == 0xff {
            if pos + 1 != b.len() {
                return Err(Error::Format);
            }
            break;
        }
        pos += 1;
        let item = if enc & 0x80 == 0 {
            int_bytes((enc & 0x7f) as i64)
        } else if enc & 0xc0 == 0x80 {
            Bytes::copy_from_slice(take(b, &mut pos, (enc & 0x3f) as usize)?)
        } else if enc & 0xe0 == 0xc0 {
            let lo = take(b, &mut pos, 1)?[0] as u16;
            let u = (((enc & 0x1f) as u16) << 8) | lo;
            // 13-bit two's complement.
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            int_bytes(v)
        } else if enc & 0xf0 == 0xe0 {
            let lo = take(b, &mut pos, 1)?[0] as usize;
            let len = (((enc & 0x0f) as usize) << 8) | lo;
            Bytes::copy_from_slice(take(b, &mut pos, len)?)
        } else {
            match enc {
                0xf0 => {
                    let l = take(b, &mut pos, 4)?;
                    let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    Bytes::copy_from_slice(take(b, &mut pos, len)?)
                }
                0xf1 => {
                    let d = take(b, &mut pos, 2)?;
                    int_bytes(i16::from_le_bytes([d[0], d[1]]) as i64)
                }
                0xf2 => {
                    let d = take(b, &mut pos, 3)?;
                    int_bytes((i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64)
                }
                0xf3 => {
                    let d = take(b, &mut pos, 4)?;
                    int_bytes(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64)
                }
                0xf4 => {
                    let d = take(b, &mut pos, 8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    int_bytes(i64::from_le_bytes(a))
                }
                _ => return Err(Error::Format),
            }
        };
        let entry_len = pos - start;
        take(b, &mut pos, backlen_size(entry_len))?;
        out.push(item);
    }
    if declared != 65535 && declared != out.len() {
        return Err(Error::Format);
    }
    Ok(out)
}

// ---- ziplist (RDB version 9 and older) ----

/// The elements of a ziplist, as strings (integers in decimal).
pub fn read_ziplist(b: &[u8]) -> Result<Vec<Bytes>, Error> {
    if b.len() < 11 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize != b.len() {
        return Err(Error::Format);
    }
    let mut pos = 10usize;
    let mut out = Vec::new();
    loop {
        let first = *b.get(pos).ok_or(Error::Format)?;
        if first == 0xff {
            if pos + 1 != b.len() {
                return Err(Error::Format);
            }
            break;
        }
        // prevlen: 1 byte, or 0xfe + 4 bytes.
        pos += if first == 0xfe { 5 } else { 1 };
        let enc = *b.get(pos).ok_or(Error::Format)?;
        pos += 1;
        let item = match enc >> 6 {
            0 => Bytes::copy_from_slice(take(b, &mut pos, (enc & 0x3f) as usize)?),
            1 => {
                let lo = take(b, &mut pos, 1)?[0] as usize;
                let len = (((enc & 0x3f) as usize) << 8) | lo;
                Bytes::copy_from_slice(take(b, &mut pos, len)?)
            }
            2 => {
                let l = take(b, &mut pos, 4)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                Bytes::copy_from_slice(take(b, &mut pos, len)?)
            }
            _ => match enc {
                0xc0 => {
                    let d = take(b, &mut pos, 2)?;
                    int_bytes(i16::from_le_bytes([d[0], d[1]]) as i64)
                }
                0xd0 => {
                    let d = take(b, &mut pos, 4)?;
                    int_bytes(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64)
                }
                0xe0 => {
                    let d = take(b, &mut pos, 8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    int_bytes(i64::from_le_bytes(a))
                }
                0xf0 => {
                    let d = take(b, &mut pos, 3)?;
                    int_bytes((i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64)
                }
                0xfe => int_bytes(take(b, &mut pos, 1)?[0] as i8 as i64),
                0xf1..=0xfd => int_bytes((enc & 0x0f) as i64 - 1),
                _ => return Err(Error::Format),
            },
        };
        out.push(item);
    }
    Ok(out)
}

// ---- intset ----

/// An intset of sorted, distinct integers, in the smallest width that holds them all.
pub fn intset(sorted: &[i64]) -> Vec<u8> {
    let width: u32 = if sorted
        .iter()
        .all(|v| (i16::MIN as i64..=i16::MAX as i64).contains(v))
    {
        2
    } else if sorted
        .iter()
        .all(|v| (i32::MIN as i64..=i32::MAX as i64).contains(v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// The members of an intset.
pub fn read_intset(b: &[u8]) -> Result<Vec<Bytes>, Error> {
    if b.len() < 8 {
        return Err(Error::Format);
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || n.checked_mul(width).map(|x| x + 8) != Some(b.len()) {
        return Err(Error::Format);
    }
    Ok(b[8..]
        .chunks(width)
        .map(|c| {
            let v = match width {
                2 => i16::from_le_bytes([c[0], c[1]]) as i64,
                4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                _ => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    i64::from_le_bytes(a)
                }
            };
            int_bytes(v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_are_redis_s() {
        assert_eq!(canonical_int(b"0"), Some(0));
        assert_eq!(canonical_int(b"-12"), Some(-12));
        assert_eq!(canonical_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(canonical_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"01"[..],
            b"+1",
            b"-0",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"9223372036854775808",
            b"1.0",
        ] {
            assert_eq!(canonical_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn listpacks_round_trip_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"4096",
            b"-32768",
            b"32767",
            b"40000",
            b"-8388608",
            b"8388607",
            b"8388608",
            b"2147483647",
            b"-2147483649",
            b"9223372036854775807",
            b"abc",
            b"",
            &mid,
            &long,
            b"007",
        ];
        let lp = listpack(items.iter().copied());
        let back = read_listpack(&lp).expect("decodes");
        let want: Vec<Bytes> = items.iter().map(|s| Bytes::copy_from_slice(s)).collect();
        assert_eq!(back, want);
        // Truncations never panic.
        for cut in 0..lp.len() {
            let _ = read_listpack(&lp[..cut]);
        }
    }

    #[test]
    fn intsets_round_trip() {
        for set in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let b = intset(&set);
            let back: Vec<i64> = read_intset(&b)
                .expect("decodes")
                .iter()
                .map(|x| {
                    std::str::from_utf8(x)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0)
                })
                .collect();
            assert_eq!(back, set);
        }
        assert!(read_intset(&[2, 0, 0, 0, 3, 0, 0, 0, 1]).is_err());
    }
}
