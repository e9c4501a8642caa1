//! Streaming request decoder.
//!
//! Requests are either multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline (`GET k\r\n`, as
//! typed into telnet). The decoder keeps its position between calls: a complete element is
//! split off the input buffer at once (zero-copy `Bytes`), so a large pipelined request is never
//! re-scanned, and every announced length is checked against [`Limits`] before any memory is
//! reserved for it. Error texts are Redis's, because clients and tools match on them.

use bytes::{Buf, Bytes, BytesMut};

/// Size limits that bound the memory one connection can make the server hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, Redis default 512 MB).
    pub max_bulk_len: usize,
    /// Largest element count of one multibulk request.
    pub max_multibulk_len: usize,
    /// Longest inline request or `*`/`$` header line (Redis: 64 KB).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
        }
    }
}

/// Limits Redis applies to a client that has not authenticated yet (when a password is set).
const UNAUTH_MAX_MULTIBULK: usize = 10;
const UNAUTH_MAX_BULK: usize = 16 * 1024;

/// A violation of the protocol; the text follows `-ERR Protocol error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(s: impl Into<String>) -> Self {
        ProtocolError(s.into())
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for the first byte of a request.
    Start,
    /// Inside a multibulk request, `remaining` arguments still to read.
    Multi { remaining: usize },
    /// Inside a multibulk request, reading the payload of a bulk of `len` bytes.
    Bulk { remaining: usize, len: usize },
}

/// Decodes requests from a byte buffer, one call per complete request.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    state: State,
    args: Vec<Bytes>,
    /// Bytes held in `args` of the request being assembled.
    held: usize,
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            state: State::Start,
            args: Vec::new(),
            held: 0,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bytes of a partially received request already taken out of the input buffer.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// True when no partial request is pending.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Start)
    }

    /// Decodes the next request. `Ok(None)` means more bytes are needed; consumed bytes are
    /// removed from `buf`. Empty requests (`*0`, blank inline lines) are skipped silently.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first == b'*' {
                        let Some(line) = self.take_line(buf, "too big mbulk count string")? else {
                            return Ok(None);
                        };
                        let n = parse_len(&line[1..])
                            .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
                        if n > self.limits.max_multibulk_len as i64 {
                            return Err(ProtocolError::new("invalid multibulk length"));
                        }
                        if !authenticated && n > UNAUTH_MAX_MULTIBULK as i64 {
                            return Err(ProtocolError::new("unauthenticated multibulk length"));
                        }
                        if n <= 0 {
                            continue; // empty request: nothing to execute
                        }
                        let n = n as usize;
                        // Reserve a little; the vector grows only as elements really arrive.
                        self.args = Vec::with_capacity(n.min(64));
                        self.held = 0;
                        self.state = State::Multi { remaining: n };
                    } else {
                        match self.parse_inline(buf)? {
                            None => return Ok(None),
                            Some(args) if args.is_empty() => continue,
                            Some(args) => return Ok(Some(args)),
                        }
                    }
                }
                State::Multi { remaining } => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'$' {
                        return Err(ProtocolError(format!(
                            "expected '$', got '{}'",
                            printable(first)
                        )));
                    }
                    let Some(line) = self.take_line(buf, "too big bulk count string")? else {
                        return Ok(None);
                    };
                    let len = parse_len(&line[1..])
                        .ok_or_else(|| ProtocolError::new("invalid bulk length"))?;
                    if len < 0 || len as u64 > self.limits.max_bulk_len as u64 {
                        return Err(ProtocolError::new("invalid bulk length"));
                    }
                    if !authenticated && len as usize > UNAUTH_MAX_BULK {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    self.state = State::Bulk {
                        remaining,
                        len: len as usize,
                    };
                }
                State::Bulk { remaining, len } => {
                    if buf.len() < len + 2 {
                        // Nothing is reserved for the announced size: the buffer grows only
                        // as bytes really arrive, so a lying header costs no memory.
                        return Ok(None);
                    }
                    if &buf[len..len + 2] != b"\r\n" {
                        return Err(ProtocolError::new("expected CRLF after bulk string"));
                    }
                    let data = buf.split_to(len).freeze();
                    buf.advance(2);
                    self.held += len;
                    self.args.push(data);
                    if remaining == 1 {
                        self.state = State::Start;
                        self.held = 0;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                    self.state = State::Multi {
                        remaining: remaining - 1,
                    };
                }
            }
        }
    }

    /// Takes one `\r\n`-terminated header line out of `buf` (returned without the CRLF).
    fn take_line(
        &self,
        buf: &mut BytesMut,
        too_big: &str,
    ) -> Result<Option<BytesMut>, ProtocolError> {
        match memchr_nl(buf) {
            Some(pos) => {
                if pos > self.limits.max_inline_len {
                    return Err(ProtocolError::new(too_big));
                }
                let mut line = buf.split_to(pos + 1);
                line.truncate(pos);
                if line.last() == Some(&b'\r') {
                    line.truncate(pos - 1);
                }
                Ok(Some(line))
            }
            None if buf.len() > self.limits.max_inline_len => Err(ProtocolError::new(too_big)),
            None => Ok(None),
        }
    }

    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(line) = self.take_line(buf, "too big inline request")? else {
            return Ok(None);
        };
        split_args(&line)
            .map(Some)
            .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
    }
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' {
        b as char
    } else {
        '?'
    }
}

/// Parses a decimal length as Redis does (optional '-', digits only, fits in i64).
fn parse_len(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// Splits an inline request into arguments the way `redis-cli` and Redis's `sdssplitargs` do:
/// whitespace separates, "double quotes" support `\n \r \t \b \a \\ \" \xHH`, 'single quotes'
/// support `\'`. A closing quote must be followed by whitespace or the end. `None` means
/// unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok()?;
                    cur.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 4;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                    i += 1;
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                    i += 1;
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                    i += 1;
                }
            } else {
                if i >= n || line[i].is_ascii_whitespace() {
                    break;
                }
                match line[i] {
                    b'"' if cur.is_empty() => in_dq = true,
                    b'\'' if cur.is_empty() => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(Bytes::from(cur));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = p.parse(&mut buf, true)? {
            out.push(r);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipelining() {
        let r = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(r[1], vec![Bytes::from("PING")]);
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n";
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(r) = p.parse(&mut buf, true).unwrap() {
                out.push(r);
            }
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][2], Bytes::from("hello"));
        assert_eq!(out[1], vec![Bytes::from("PING")]);
    }

    #[test]
    fn inline_with_quotes() {
        let r = parse_all(b"SET k \"a b\\x41\\n\" 'c\\'d'\r\n\r\nPING\n").unwrap();
        assert_eq!(
            r[0],
            vec![
                Bytes::from("SET"),
                Bytes::from("k"),
                Bytes::from("a bA\n"),
                Bytes::from("c'd")
            ]
        );
        assert_eq!(r[1], vec![Bytes::from("PING")]);
        assert_eq!(
            parse_all(b"SET \"k\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
    }

    #[test]
    fn errors_have_redis_texts() {
        assert_eq!(
            parse_all(b"*2\r\n+x\r\n").unwrap_err().0,
            "expected '$', got '+'"
        );
        assert_eq!(
            parse_all(b"*x\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        let mut p = RequestParser::new(Limits {
            max_bulk_len: 10,
            ..Limits::default()
        });
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(
            p.parse(&mut buf, true).unwrap_err().0,
            "invalid bulk length"
        );
        let long = vec![b'a'; 70 * 1024];
        assert_eq!(parse_all(&long).unwrap_err().0, "too big inline request");
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            p.parse(&mut buf, false).unwrap_err().0,
            "unauthenticated multibulk length"
        );
    }

    #[test]
    fn huge_announced_length_allocates_nothing_up_front() {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&b"*2147483647\r\n"[..]);
        assert!(p.parse(&mut buf, true).unwrap().is_none());
        assert!(p.args.capacity() <= 64);
    }
}
