//! Stream commands: argument parsing, checks in Redis's order, and replies; the data and its
//! layout are `storage::streams`.

use bytes::Bytes;
use resp::{Frame, Protocol};
use storage::{AddId, StreamEntry, StreamError, StreamId, Trim, TrimBy};

use super::{eq_ic, parse_int, storage_error, syntax_error, Ctx};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn invalid_id() -> Frame {
    Frame::error(INVALID_ID)
}

/// The words of a refused stream write, as Redis's.
pub fn stream_error(e: StreamError) -> Frame {
    Frame::error(match e {
        StreamError::IdNotGreater => {
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        }
        StreamError::Exhausted => {
            "ERR The stream has exhausted the last possible ID, unable to add more items"
        }
        StreamError::SetIdSmaller => {
            "ERR The ID specified in XSETID is smaller than the target stream top item"
        }
        StreamError::SetIdEntriesAdded => {
            "ERR The entries_added specified in XSETID is smaller than the target stream length"
        }
        StreamError::SetIdMaxDeleted => {
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
        }
    })
}

fn error(e: storage::Error) -> Frame {
    storage_error(e)
}

/// An unsigned number as C's `strtoull` (after Redis's check for a negative integer):
/// leading blanks and a `+` are accepted.
fn parse_u64(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.len() > 20 + 1 {
        return None;
    }
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// How an ID argument may be written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdForm {
    /// `-` and `+` accepted (XRANGE bounds).
    Loose,
    /// Neither `-` nor `+`.
    Strict,
}

/// Parses `ms[-seq]` (`missing_seq` when there is no `-seq`), `-`, `+`.
fn parse_id(b: &[u8], missing_seq: u64, form: IdForm) -> Result<StreamId, Frame> {
    if b.len() > 127 {
        return Err(invalid_id());
    }
    match b {
        b"-" if form == IdForm::Loose => return Ok(StreamId::MIN),
        b"+" if form == IdForm::Loose => return Ok(StreamId::MAX),
        b"-" | b"+" => return Err(invalid_id()),
        _ => {}
    }
    let (ms, seq) = match b.iter().position(|&c| c == b'-') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let ms = parse_u64(ms).ok_or_else(invalid_id)?;
    let seq = match seq {
        Some(s) => parse_u64(s).ok_or_else(invalid_id)?,
        None => missing_seq,
    };
    Ok(StreamId::new(ms, seq))
}

/// XADD's ID: `*`, `ms-*`, or an explicit one.
fn parse_add_id(b: &[u8]) -> Result<AddId, Frame> {
    if b == b"*" {
        return Ok(AddId::Auto);
    }
    if let Some(ms) = b.strip_suffix(b"-*") {
        if b.len() <= 127 {
            return parse_u64(ms).map(AddId::Ms).ok_or_else(invalid_id);
        }
    }
    parse_id(b, 0, IdForm::Strict).map(AddId::Exact)
}

fn id_frame(id: StreamId) -> Frame {
    Frame::bulk(id.to_string())
}

fn entry_frame(e: StreamEntry) -> Frame {
    Frame::Array(vec![
        id_frame(e.id),
        Frame::Array(e.fields.into_iter().map(Frame::Bulk).collect()),
    ])
}

fn entries_frame(entries: Vec<StreamEntry>) -> Frame {
    Frame::Array(entries.into_iter().map(entry_frame).collect())
}

/// What XADD and XTRIM parsed (`id_at`: where XADD's ID is).
struct AddTrimArgs {
    trim: Option<Trim>,
    nomkstream: bool,
    id_at: usize,
}

/// The options of XADD (`xadd`) or XTRIM, in Redis's order of checks.
fn parse_add_trim(args: &[Bytes], xadd: bool) -> Result<AddTrimArgs, Frame> {
    let mut by: Option<TrimBy> = None;
    let mut approx = false;
    let mut limit: Option<i64> = None;
    let mut nomkstream = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if xadd && a.as_ref() == b"*" {
            break;
        } else if (eq_ic(a, "maxlen") || eq_ic(a, "minid")) && more > 0 {
            if by.is_some() {
                return Err(Frame::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &args[i + 1];
            if more >= 2 && (next.as_ref() == b"~" || next.as_ref() == b"=") {
                approx = next.as_ref() == b"~";
                i += 1;
            }
            let v = &args[i + 1];
            if eq_ic(a, "maxlen") {
                let n = parse_int(v)?;
                if n < 0 {
                    return Err(Frame::error("ERR The MAXLEN argument must be >= 0."));
                }
                by = Some(TrimBy::MaxLen(n as u64));
            } else {
                by = Some(TrimBy::MinId(parse_id(v, 0, IdForm::Strict)?));
            }
            i += 1;
        } else if eq_ic(a, "limit") && more > 0 {
            let n = parse_int(&args[i + 1])?;
            if n < 0 {
                return Err(Frame::error("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 1;
        } else if xadd && eq_ic(a, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            // An ID (or an error).
            parse_add_id(a)?;
            break;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if limit.is_some_and(|l| l != 0) && by.is_none() {
        return Err(Frame::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && by.is_none() {
        return Err(Frame::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let limit = match limit {
        Some(_) if !approx => {
            return Err(Frame::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ))
        }
        Some(l) => l as u64,
        // At most 100 nodes' worth of entries with `~`; exact trimming is not bounded.
        None if approx => 100 * storage::STREAM_NODE_MAX_ENTRIES,
        None => 0,
    };
    Ok(AddTrimArgs {
        trim: by.map(|by| Trim { by, approx, limit }),
        nomkstream,
        id_at: i,
    })
}

/// Whether an XADD has a trimming option (MAXLEN/MINID).
pub fn add_trims(args: &[Bytes]) -> bool {
    parse_add_trim(args, true).is_ok_and(|p| p.trim.is_some())
}

/// The binlog form of a successful XADD: the ID it got, and its trimming as the exact length
/// it left (`~`, LIMIT and MINID resolved), so replay and replicas do exactly this.
pub fn logged_xadd(args: &[Bytes], id: &Bytes, len_after: u64) -> Vec<Bytes> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let Ok(p) = parse_add_trim(args, true) else {
        return args.to_vec();
    };
    let mut out = vec![b("XADD"), args[1].clone()];
    if p.trim.is_some() {
        out.extend([b("MAXLEN"), b("="), b(&len_after.to_string())]);
    }
    out.push(id.clone());
    out.extend(args[p.id_at + 1..].iter().cloned());
    out
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
pub fn xadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let parsed = match parse_add_trim(args, true) {
        Ok(p) => p,
        Err(f) => return f,
    };
    let fields = args.len().saturating_sub(parsed.id_at + 1);
    if parsed.id_at >= args.len() || fields < 2 || fields % 2 == 1 {
        return Frame::error("ERR wrong number of arguments for 'xadd' command");
    }
    let id = match parse_add_id(&args[parsed.id_at]) {
        Ok(id) => id,
        Err(f) => return f,
    };
    if let AddId::Exact(StreamId { ms: 0, seq: 0 }) = id {
        return Frame::error("ERR The ID specified in XADD must be greater than 0-0");
    }
    match ctx.db.xadd(
        ctx.session.db,
        &args[1],
        id,
        &args[parsed.id_at + 1..],
        parsed.nomkstream,
        parsed.trim,
    ) {
        Ok(Some(id)) => id_frame(id),
        Ok(None) => Frame::Null,
        Err(e) => error(e),
    }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // The key's type is checked first; a missing key trims nothing.
    match ctx.db.stream_exists(ctx.session.db, &args[1]) {
        Ok(true) => {}
        Ok(false) => return Frame::Integer(0),
        Err(e) => return error(e),
    }
    let parsed = match parse_add_trim(args, false) {
        Ok(p) => p,
        Err(f) => return f,
    };
    let Some(trim) = parsed.trim else {
        return syntax_error();
    };
    match ctx.db.xtrim(ctx.session.db, &args[1], &trim) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => error(e),
    }
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.stream_exists(ctx.session.db, &args[1]) {
        Ok(true) => {}
        Ok(false) => return Frame::Integer(0),
        Err(e) => return error(e),
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        match parse_id(a, 0, IdForm::Strict) {
            Ok(id) => ids.push(id),
            Err(f) => return f,
        }
    }
    match ctx.db.xdel(ctx.session.db, &args[1], &ids) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => error(e),
    }
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.xlen(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => error(e),
    }
}

/// An interval bound of XRANGE: `(` excludes it.
fn parse_bound(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Frame> {
    if b.len() > 1 && b[0] == b'(' {
        return Ok((parse_id(&b[1..], missing_seq, IdForm::Strict)?, true));
    }
    Ok((parse_id(b, missing_seq, IdForm::Loose)?, false))
}

fn range(ctx: &mut Ctx<'_>, args: &[Bytes], reverse: bool) -> Frame {
    let (start_arg, end_arg) = if reverse {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = match parse_bound(start_arg, 0) {
        Ok((id, false)) => id,
        Ok((id, true)) => match id.next() {
            Some(n) => n,
            None => return Frame::error("ERR invalid start ID for the interval"),
        },
        Err(f) => return f,
    };
    let end = match parse_bound(end_arg, u64::MAX) {
        Ok((id, false)) => id,
        Ok((id, true)) => match id.prev() {
            Some(p) => p,
            None => return Frame::error("ERR invalid end ID for the interval"),
        },
        Err(f) => return f,
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if eq_ic(&args[j], "count") && j + 1 < args.len() {
            count = match parse_int(&args[j + 1]) {
                Ok(n) => n.max(0),
                Err(f) => return f,
            };
            j += 2;
        } else {
            return syntax_error();
        }
    }
    if count == 0 {
        return Frame::NullArray;
    }
    match ctx.db.xrange(
        ctx.session.db,
        &args[1],
        start,
        end,
        count.max(0) as u64,
        reverse,
    ) {
        Ok(entries) => entries_frame(entries),
        Err(e) => error(e),
    }
}

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range(ctx, args, true)
}

/// A parsed XREAD.
pub struct ReadArgs {
    /// Milliseconds (0: forever); `None` without BLOCK.
    pub block: Option<u64>,
    pub count: u64,
    /// Keys and the ID after which each is read (`$` resolved).
    pub streams: Vec<(Bytes, StreamId)>,
}

/// Parses XREAD, resolving `$` to each stream's last ID now.
pub fn parse_xread(ctx: &Ctx<'_>, args: &[Bytes]) -> Result<ReadArgs, Frame> {
    let mut block = None;
    let mut count = 0u64;
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if eq_ic(a, "block") && more > 0 {
            i += 1;
            let ms = storage::num::parse_i64(&args[i])
                .ok_or_else(|| Frame::error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Frame::error("ERR timeout is negative"));
            }
            block = Some(ms as u64);
        } else if eq_ic(a, "count") && more > 0 {
            i += 1;
            count = parse_int(&args[i])?.max(0) as u64;
        } else if eq_ic(a, "streams") && more > 0 {
            streams_at = Some(i + 1);
            if !(args.len() - (i + 1)).is_multiple_of(2) {
                return Err(Frame::error("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            break;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(syntax_error());
    };
    let n = (args.len() - at) / 2;
    let mut streams = Vec::with_capacity(n);
    for k in 0..n {
        let key = &args[at + k];
        let raw = &args[at + n + k];
        let last = ctx.db.xlast_id(ctx.session.db, key).map_err(error)?;
        let id = if raw.as_ref() == b"$" {
            last.unwrap_or_default()
        } else if raw.as_ref() == b">" {
            return Err(Frame::error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
        } else {
            parse_id(raw, 0, IdForm::Strict)?
        };
        streams.push((key.clone(), id));
    }
    Ok(ReadArgs {
        block,
        count,
        streams,
    })
}

/// What XREAD finds now: `None` when no stream has an entry after its ID.
pub fn read_now(ctx: &Ctx<'_>, read: &ReadArgs) -> Result<Option<Frame>, Frame> {
    let mut out: Vec<(Frame, Frame)> = Vec::new();
    for (key, after) in &read.streams {
        let Some(start) = after.next() else {
            continue;
        };
        let entries = ctx
            .db
            .xrange(ctx.session.db, key, start, StreamId::MAX, read.count, false)
            .map_err(error)?;
        if !entries.is_empty() {
            out.push((Frame::Bulk(key.clone()), entries_frame(entries)));
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(match ctx.session.proto {
        Protocol::Resp3 => Frame::Map(out),
        Protocol::Resp2 => Frame::Array(
            out.into_iter()
                .map(|(k, v)| Frame::Array(vec![k, v]))
                .collect(),
        ),
    }))
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let read = match parse_xread(ctx, args) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let Some(block) = read.block.filter(|_| !ctx.session.in_exec) else {
        // No BLOCK (or inside MULTI or a script: nothing can arrive meanwhile).
        return match read_now(ctx, &read) {
            Ok(Some(f)) | Err(f) => f,
            Ok(None) => Frame::NullArray,
        };
    };
    // Blocking: its twin is the same read without BLOCK, with `$` resolved now, run again
    // by the writer that adds to one of the streams.
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let mut twin = vec![b("XREAD")];
    if read.count > 0 {
        twin.push(b("COUNT"));
        twin.push(b(&read.count.to_string()));
    }
    twin.push(b("STREAMS"));
    twin.extend(read.streams.iter().map(|(k, _)| k.clone()));
    twin.extend(read.streams.iter().map(|(_, id)| b(&id.to_string())));
    let req = crate::blocking::Request {
        timeout: (block > 0).then(|| std::time::Duration::from_millis(block)),
        twin,
        keys: read.streams.iter().map(|(k, _)| k.clone()).collect(),
        shape: crate::blocking::Shape::Array,
    };
    crate::blocking::block_on(ctx, req)
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let last = match parse_id(&args[2], 0, IdForm::Strict) {
        Ok(id) => id,
        Err(f) => return f,
    };
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if eq_ic(&args[i], "entriesadded") && more > 0 {
            match parse_int(&args[i + 1]) {
                Ok(n) if n < 0 => return Frame::error("ERR entries_added must be positive"),
                Ok(n) => entries_added = Some(n as u64),
                Err(f) => return f,
            }
            i += 2;
        } else if eq_ic(&args[i], "maxdeletedid") && more > 0 {
            match parse_id(&args[i + 1], 0, IdForm::Strict) {
                Ok(id) if last < id => {
                    return Frame::error(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    )
                }
                Ok(id) => max_deleted = Some(id),
                Err(f) => return f,
            }
            i += 2;
        } else {
            return syntax_error();
        }
    }
    match ctx
        .db
        .xsetid(ctx.session.db, &args[1], last, entries_added, max_deleted)
    {
        Ok(()) => Frame::ok(),
        Err(e) => error(e),
    }
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub fn xinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => Frame::Array(
            [
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Frame::Simple(l.to_string()))
            .collect(),
        ),
        ("stream", n) if n >= 3 => xinfo_stream(ctx, args),
        ("groups", 3) => match ctx.db.stream_exists(ctx.session.db, &args[2]) {
            Ok(true) => Frame::Array(Vec::new()),
            Ok(false) => Frame::error("ERR no such key"),
            Err(e) => error(e),
        },
        ("consumers", 4) => match ctx.db.stream_exists(ctx.session.db, &args[2]) {
            Ok(true) => Frame::Error(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(&args[3]),
                String::from_utf8_lossy(&args[2])
            )),
            Ok(false) => Frame::error("ERR no such key"),
            Err(e) => error(e),
        },
        ("stream" | "groups" | "consumers" | "help", _) => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(&args[1])
        )),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

fn xinfo_stream(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // [FULL [COUNT n]] exactly; a negative count is the default 10, 0 is every entry.
    let opts = &args[3..];
    let bad = || {
        Frame::error(
            "ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.",
        )
    };
    let full = !opts.is_empty();
    let mut count: u64 = 10;
    if full {
        if !(opts.len() == 1 || opts.len() == 3) || !eq_ic(&opts[0], "full") {
            return bad();
        }
        if opts.len() == 3 {
            if !eq_ic(&opts[1], "count") {
                return bad();
            }
            match parse_int(&opts[2]) {
                Ok(n) if n < 0 => count = 10,
                Ok(n) => count = n as u64,
                Err(f) => return f,
            }
        }
    }
    let info = match ctx.db.xinfo_stream(ctx.session.db, &args[2]) {
        Ok(Some(i)) => i,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return error(e),
    };
    let kv = |k: &str, v: Frame| (Frame::bulk(k.to_string()), v);
    let mut pairs = vec![
        kv("length", Frame::Integer(info.length as i64)),
        kv("radix-tree-keys", Frame::Integer(info.nodes as i64)),
        kv("radix-tree-nodes", Frame::Integer((info.nodes + 1) as i64)),
        kv("last-generated-id", id_frame(info.last_id)),
        kv("max-deleted-entry-id", id_frame(info.max_deleted)),
        kv("entries-added", Frame::Integer(info.entries_added as i64)),
        kv(
            "recorded-first-entry-id",
            id_frame(info.first.as_ref().map_or(StreamId::MIN, |e| e.id)),
        ),
    ];
    if full {
        let entries = match ctx.db.xrange(
            ctx.session.db,
            &args[2],
            StreamId::MIN,
            StreamId::MAX,
            count,
            false,
        ) {
            Ok(e) => e,
            Err(e) => return error(e),
        };
        pairs.push(kv("entries", entries_frame(entries)));
        pairs.push(kv("groups", Frame::Array(Vec::new())));
    } else {
        pairs.push(kv("groups", Frame::Integer(0)));
        let edge = |e: Option<StreamEntry>| e.map_or(Frame::Null, entry_frame);
        pairs.push(kv("first-entry", edge(info.first)));
        pairs.push(kv("last-entry", edge(info.last)));
    }
    match ctx.session.proto {
        Protocol::Resp3 => Frame::Map(pairs),
        Protocol::Resp2 => Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis() {
        assert_eq!(
            parse_id(b"5", 0, IdForm::Strict).ok(),
            Some(StreamId::new(5, 0))
        );
        assert_eq!(
            parse_id(b"5", u64::MAX, IdForm::Loose).ok(),
            Some(StreamId::new(5, u64::MAX))
        );
        assert_eq!(parse_id(b"-", 0, IdForm::Loose).ok(), Some(StreamId::MIN));
        assert!(parse_id(b"-", 0, IdForm::Strict).is_err());
        assert!(parse_id(b"1-x", 0, IdForm::Strict).is_err());
        assert!(parse_id(b"-1", 0, IdForm::Strict).is_err());
        assert!(parse_id(b"18446744073709551616", 0, IdForm::Strict).is_err());
        assert!(matches!(parse_add_id(b"7-*"), Ok(AddId::Ms(7))));
        assert!(matches!(parse_add_id(b"*"), Ok(AddId::Auto)));
    }
}
