//! Reply frames and their encoding in RESP2 and RESP3.
//!
//! Handlers build one `Frame` per reply; the connection encodes it for the protocol version the
//! client chose with `HELLO`. RESP3-only types degrade the way Redis degrades them in RESP2
//! (maps become flat arrays, doubles become bulk strings, null becomes `$-1`/`*-1`).

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol version negotiated by `HELLO` (2 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`; the string includes the prefix (`ERR`, `WRONGTYPE`, ...).
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// Null bulk in RESP2 (`$-1`), `_` in RESP3.
    Null,
    /// Null array in RESP2 (`*-1`), `_` in RESP3.
    NullArray,
    Array(Vec<Frame>),
    /// `%` in RESP3, a flat array of key, value, ... in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// `~` in RESP3, an array in RESP2.
    Set(Vec<Frame>),
    /// `,` in RESP3, a bulk string in RESP2.
    Double(f64),
    /// `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    Boolean(bool),
    /// `=` in RESP3 (`txt:` prefix), a bulk string in RESP2.
    Verbatim(Bytes),
    /// Already-encoded bytes, written as they are (used for replies cached by the server).
    Raw(Bytes),
    /// Out-of-band data (Pub/Sub messages): `>` in RESP3, an array in RESP2.
    Push(Vec<Frame>),
}

impl Frame {
    pub fn ok() -> Frame {
        Frame::Simple("OK".into())
    }

    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends the encoding of this frame to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => {
                out.put_u8(b'+');
                put_line(out, s.as_bytes());
            }
            Frame::Error(s) => {
                out.put_u8(b'-');
                put_line(out, s.as_bytes());
            }
            Frame::Integer(i) => {
                out.put_u8(b':');
                put_int_line(out, *i);
            }
            Frame::Bulk(b) => put_bulk(out, b),
            Frame::Null => match proto {
                Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Frame::NullArray => match proto {
                Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Frame::Array(items) => {
                out.put_u8(b'*');
                put_int_line(out, items.len() as i64);
                for f in items {
                    f.encode(proto, out);
                }
            }
            Frame::Set(items) => {
                out.put_u8(if proto == Protocol::Resp3 { b'~' } else { b'*' });
                put_int_line(out, items.len() as i64);
                for f in items {
                    f.encode(proto, out);
                }
            }
            Frame::Map(pairs) => {
                match proto {
                    Protocol::Resp3 => {
                        out.put_u8(b'%');
                        put_int_line(out, pairs.len() as i64);
                    }
                    Protocol::Resp2 => {
                        out.put_u8(b'*');
                        put_int_line(out, 2 * pairs.len() as i64);
                    }
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Frame::Double(d) => {
                let s = format_double(*d);
                match proto {
                    Protocol::Resp3 => {
                        out.put_u8(b',');
                        put_line(out, s.as_bytes());
                    }
                    Protocol::Resp2 => put_bulk(out, s.as_bytes()),
                }
            }
            Frame::Boolean(b) => match proto {
                Protocol::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
                Protocol::Resp2 => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            },
            Frame::Verbatim(b) => match proto {
                Protocol::Resp3 => {
                    out.put_u8(b'=');
                    put_int_line(out, b.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(b);
                    out.put_slice(b"\r\n");
                }
                Protocol::Resp2 => put_bulk(out, b),
            },
            Frame::Raw(b) => out.put_slice(b),
            Frame::Push(items) => {
                out.put_u8(if proto == Protocol::Resp3 { b'>' } else { b'*' });
                put_int_line(out, items.len() as i64);
                for f in items {
                    f.encode(proto, out);
                }
            }
        }
    }

    /// Convenience for tests and logs: the RESP2 encoding as a byte vector.
    pub fn to_resp2(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.encode(Protocol::Resp2, &mut out);
        out.to_vec()
    }
}

/// Formats a double the way Redis 7.0 replies with it (`%.17g`): `inf`/`-inf`, integers
/// without a fraction, 17 significant digits otherwise, exponent form below 1e-4 or from 1e17.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.16e}", d);
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&x) {
        format!(
            "{}e{}{:02}",
            trim_fraction(mant),
            if x < 0 { '-' } else { '+' },
            x.abs()
        )
    } else {
        trim_fraction(&format!("{:.*}", (16 - x) as usize, d)).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn put_line(out: &mut BytesMut, s: &[u8]) {
    // A simple string or error must not contain CR or LF; replace them so a reply can never
    // break the framing of the stream.
    if s.iter().any(|&c| c == b'\r' || c == b'\n') {
        for &c in s {
            out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
    } else {
        out.put_slice(s);
    }
    out.put_slice(b"\r\n");
}

fn put_int_line(out: &mut BytesMut, i: i64) {
    // Format into a stack buffer: no allocation per reply.
    let mut tmp = [0u8; 20];
    let mut pos = tmp.len();
    let mut v = i.unsigned_abs();
    loop {
        pos -= 1;
        tmp[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if i < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&tmp[pos..]);
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, b: &[u8]) {
    out.put_u8(b'$');
    put_int_line(out, b.len() as i64);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: &Frame, p: Protocol) -> String {
        let mut out = BytesMut::new();
        f.encode(p, &mut out);
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }

    #[test]
    fn null_differs_by_protocol() {
        assert_eq!(enc(&Frame::Null, Protocol::Resp2), "$-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Protocol::Resp2), "*-1\r\n");
        assert_eq!(enc(&Frame::Null, Protocol::Resp3), "_\r\n");
    }

    #[test]
    fn map_flattens_in_resp2() {
        let m = Frame::Map(vec![(Frame::bulk_str("a"), Frame::Integer(1))]);
        assert_eq!(enc(&m, Protocol::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Protocol::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn doubles() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.5), "10.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(format_double(123456.0), "123456");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp3), ",1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Protocol::Resp2), "$3\r\n1.5\r\n");
    }

    #[test]
    fn simple_strings_cannot_break_framing() {
        assert_eq!(
            enc(&Frame::error("ERR a\r\nb"), Protocol::Resp2),
            "-ERR a  b\r\n"
        );
    }
}
