//! Stream commands: argument parsing, checks in Redis's order, and replies; the data and its
//! layout are `storage::streams`.

use bytes::Bytes;
use resp::{Frame, Protocol};
use storage::{AddId, StreamEntry, StreamError, StreamId, Trim, TrimBy};

use crate::notify;

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

/// `ms-seq` as a bulk string, written by hand (`format!` was a twentieth of XRANGE's time).
fn id_frame(id: StreamId) -> Frame {
    let mut buf = [0u8; 41];
    let mut at = buf.len();
    for (i, mut v) in [id.seq, id.ms].into_iter().enumerate() {
        if i == 1 {
            at -= 1;
            buf[at] = b'-';
        }
        loop {
            at -= 1;
            buf[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }
    Frame::Bulk(Bytes::copy_from_slice(&buf[at..]))
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

/// The IDs in a reply of entries (`[[id, fields] ...]`) or of IDs (JUSTID).
fn reply_ids(f: &Frame) -> Vec<Bytes> {
    let Frame::Array(items) = f else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| match it {
            Frame::Bulk(id) => Some(id.clone()),
            Frame::Array(pair) => match pair.first() {
                Some(Frame::Bulk(id)) => Some(id.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The binlog form of pending entries as they are now: `XCLAIM ... 0 id TIME t RETRYCOUNT n
/// FORCE JUSTID` recreates one exactly; without a pending entry, `XCLAIM ... 0 id JUSTID`
/// drops one whose stream entry is gone (what the claim did) and changes nothing else.
fn logged_pending(
    db: &storage::Db<'_>,
    ks: u32,
    key: &Bytes,
    group: &Bytes,
    ids: &[Bytes],
) -> Vec<Vec<Bytes>> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let parsed: Vec<StreamId> = ids
        .iter()
        .map(|id| parse_id(id, 0, IdForm::Strict).unwrap_or_default())
        .collect();
    let nacks = db
        .xpending_entries(ks, key, group, &parsed)
        .unwrap_or_else(|_| vec![None; ids.len()]);
    ids.iter()
        .zip(nacks)
        .map(|(id, nack)| match nack {
            Some(n) => vec![
                b("XCLAIM"),
                key.clone(),
                group.clone(),
                n.consumer,
                b("0"),
                id.clone(),
                b("TIME"),
                b(&n.delivery_time.to_string()),
                b("RETRYCOUNT"),
                b(&n.delivery_count.to_string()),
                b("FORCE"),
                b("JUSTID"),
            ],
            None => vec![
                b("XCLAIM"),
                key.clone(),
                group.clone(),
                b("-"),
                b("0"),
                id.clone(),
                b("JUSTID"),
            ],
        })
        .collect()
}

/// `XGROUP SETID key group last-id ENTRIESREAD n` as the group is now.
fn logged_position(
    db: &storage::Db<'_>,
    ks: u32,
    key: &Bytes,
    group: &Bytes,
) -> Option<Vec<Bytes>> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let (last, read) = db.xgroup_position(ks, key, group).ok().flatten()?;
    Some(vec![
        b("XGROUP"),
        b("SETID"),
        key.clone(),
        group.clone(),
        b(&last.to_string()),
        b("ENTRIESREAD"),
        b(&read.to_string()),
    ])
}

/// The binlog form of XREADGROUP, XCLAIM and XAUTOCLAIM (after they ran, from their reply
/// and the state they left): the consumer, every pending entry they created or changed as
/// an idempotent XCLAIM with its exact delivery time and count, and the group's position,
/// so replay and replicas hold exactly the master's pending lists.
pub fn logged_group_change(
    db: &storage::Db<'_>,
    ks: u32,
    name: &str,
    args: &[Bytes],
    reply: &Frame,
) -> Vec<Vec<Bytes>> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let mut out = Vec::new();
    match name {
        "xreadgroup" => {
            let Some(g) = args.iter().position(|a| eq_ic(a, "group")) else {
                return vec![args.to_vec()];
            };
            let (group, consumer) = (args[g + 1].clone(), args[g + 2].clone());
            let served: Vec<(Bytes, Vec<Bytes>)> = match reply {
                Frame::Array(items) => items
                    .iter()
                    .filter_map(|kv| match kv {
                        Frame::Array(p) if p.len() == 2 => match &p[0] {
                            Frame::Bulk(k) => Some((k.clone(), reply_ids(&p[1]))),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect(),
                Frame::Map(pairs) => pairs
                    .iter()
                    .filter_map(|(k, v)| match k {
                        Frame::Bulk(k) => Some((k.clone(), reply_ids(v))),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for (key, ids) in served {
                out.push(vec![
                    b("XGROUP"),
                    b("CREATECONSUMER"),
                    key.clone(),
                    group.clone(),
                    consumer.clone(),
                ]);
                out.extend(logged_pending(db, ks, &key, &group, &ids));
                out.extend(logged_position(db, ks, &key, &group));
            }
        }
        "xclaim" | "xautoclaim" => {
            let (key, group) = (args[1].clone(), args[2].clone());
            let mut ids: Vec<Bytes> = Vec::new();
            if name == "xclaim" {
                // Every ID named: claimed ones are recreated, gone ones dropped.
                for a in &args[5..] {
                    if parse_id(a, 0, IdForm::Strict).is_err() {
                        break;
                    }
                    ids.push(a.clone());
                }
            } else if let Frame::Array(parts) = reply {
                if let Some(claimed) = parts.get(1) {
                    ids.extend(reply_ids(claimed));
                }
                if let Some(Frame::Array(deleted)) = parts.get(2) {
                    ids.extend(deleted.iter().filter_map(|d| match d {
                        Frame::Bulk(id) => Some(id.clone()),
                        _ => None,
                    }));
                }
            }
            out.extend(logged_pending(db, ks, &key, &group, &ids));
            out.extend(logged_position(db, ks, &key, &group));
        }
        _ => out.push(args.to_vec()),
    }
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
    // With a trimming option: the length before, to tell whether it trimmed (`xtrim`).
    let len_before = if parsed.trim.is_some() && ctx.notifying() {
        ctx.db.xlen(ctx.session.db, &args[1]).ok()
    } else {
        None
    };
    match ctx.db.xadd(
        ctx.session.db,
        &args[1],
        id,
        &args[parsed.id_at + 1..],
        parsed.nomkstream,
        parsed.trim,
    ) {
        Ok(Some(id)) => {
            ctx.notify(notify::STREAM, "xadd", &args[1]);
            if let Some(len) = len_before {
                if ctx.db.xlen(ctx.session.db, &args[1]).unwrap_or(len + 1) < len + 1 {
                    ctx.notify(notify::STREAM, "xtrim", &args[1]);
                }
            }
            let reply = id_frame(id);
            if let Frame::Bulk(got) = &reply {
                // The ID it got and the length its trimming left.
                ctx.log_as(|db, ks| {
                    let len = db.xlen(ks, &args[1]).unwrap_or(0);
                    vec![logged_xadd(args, got, len)]
                });
            }
            reply
        }
        Ok(None) => Frame::Null,
        Err(e) => error(e),
    }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let parsed = match parse_add_trim(args, false) {
        Ok(p) => p,
        Err(f) => return f,
    };
    // Then the key's type; a missing key trims nothing.
    match ctx.db.stream_exists(ctx.session.db, &args[1]) {
        Ok(true) => {}
        Ok(false) => return Frame::Integer(0),
        Err(e) => return error(e),
    }
    let Some(trim) = parsed.trim else {
        return syntax_error();
    };
    match ctx.db.xtrim(ctx.session.db, &args[1], &trim) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::STREAM, "xtrim", &args[1]);
            }
            // The exact length it left (`~` and LIMIT resolved).
            ctx.log_as(|db, ks| {
                let len = db.xlen(ks, &args[1]).unwrap_or(0).to_string();
                vec![super::effects::cmd(&[
                    b"XTRIM",
                    &args[1],
                    b"MAXLEN",
                    b"=",
                    len.as_bytes(),
                ])]
            });
            Frame::Integer(n as i64)
        }
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
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::STREAM, "xdel", &args[1]);
            }
            Frame::Integer(n as i64)
        }
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
        // A null array for a stream, an empty one without (as Redis).
        return match ctx.db.stream_exists(ctx.session.db, &args[1]) {
            Ok(true) => Frame::NullArray,
            Ok(false) => Frame::Array(Vec::new()),
            Err(e) => error(e),
        };
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

/// A parsed XREAD / XREADGROUP.
pub struct ReadArgs {
    /// Milliseconds (0: forever); `None` without BLOCK.
    pub block: Option<u64>,
    pub count: u64,
    pub noack: bool,
    /// XREADGROUP's group and consumer.
    pub group: Option<(Bytes, Bytes)>,
    /// Keys and the ID after which each is read (`$` resolved; `None`: XREADGROUP's `>`).
    pub streams: Vec<(Bytes, Option<StreamId>)>,
}

/// Parses XREAD or XREADGROUP (`grouped`) with Redis's checks in Redis's order: the options,
/// then for each stream its type, its group, its ID (`$` resolved now).
fn parse_read(ctx: &Ctx<'_>, args: &[Bytes], grouped: bool) -> Result<ReadArgs, Frame> {
    let (mut read, at) = parse_read_options(ctx, args, grouped)?;
    let group = read.group.clone();
    let n = (args.len() - at) / 2;
    let mut streams = Vec::with_capacity(n);
    for k in 0..n {
        let key = &args[at + k];
        let raw = &args[at + n + k];
        let last = ctx.db.xlast_id(ctx.session.db, key).map_err(error)?;
        if let Some((g, _)) = &group {
            let found = last.is_some()
                && ctx
                    .db
                    .xgroup_position(ctx.session.db, key, g)
                    .map_err(error)?
                    .is_some();
            if !found {
                return Err(Frame::Error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        let id = if raw.as_ref() == b"$" {
            if grouped {
                return Err(Frame::error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            Some(last.unwrap_or_default())
        } else if raw.as_ref() == b">" {
            if !grouped {
                return Err(Frame::error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            None
        } else {
            Some(parse_id(raw, 0, IdForm::Strict)?)
        };
        streams.push((key.clone(), id));
    }
    read.streams = streams;
    Ok(read)
}

/// The options of XREAD / XREADGROUP (everything Redis checks before it looks at a stream):
/// the read with no streams yet, and where the keys start.
fn parse_read_options(
    ctx: &Ctx<'_>,
    args: &[Bytes],
    grouped: bool,
) -> Result<(ReadArgs, usize), Frame> {
    let mut block = None;
    let mut count = 0u64;
    let mut noack = false;
    let mut group = None;
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if eq_ic(a, "block") && more > 0 {
            if ctx.session.in_script {
                return Err(Frame::Error(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&args[0])
                )));
            }
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
        } else if eq_ic(a, "group") && more >= 2 {
            if !grouped {
                return Err(Frame::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if eq_ic(a, "noack") {
            if !grouped {
                return Err(Frame::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(syntax_error());
    };
    if grouped && group.is_none() {
        return Err(Frame::error("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok((
        ReadArgs {
            block,
            count,
            noack,
            group,
            streams: Vec::new(),
        },
        at,
    ))
}

/// The reply of a read that served some streams: `[[key, entries] ...]`, a map in RESP3.
fn read_reply(proto: Protocol, served: Vec<(Frame, Frame)>) -> Frame {
    match proto {
        Protocol::Resp3 => Frame::Map(served),
        Protocol::Resp2 => Frame::Array(
            served
                .into_iter()
                .map(|(k, v)| Frame::Array(vec![k, v]))
                .collect(),
        ),
    }
}

/// What XREAD finds now: `None` when no stream has an entry after its ID.
fn read_now(ctx: &Ctx<'_>, read: &ReadArgs) -> Result<Option<Frame>, Frame> {
    let mut out: Vec<(Frame, Frame)> = Vec::new();
    for (key, after) in &read.streams {
        let Some(start) = after.and_then(|a| a.next()) else {
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
    Ok(Some(read_reply(ctx.session.proto, out)))
}

/// The twin of a read: the same read without BLOCK (a blocked read waits for at most 1000
/// entries when no COUNT was given, as Redis), of `keys` after `ids` (as text).
fn read_twin(
    args: &[Bytes],
    read: &ReadArgs,
    blocking: bool,
    keys: &[Bytes],
    ids: Vec<Bytes>,
) -> Vec<Bytes> {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let mut twin = vec![args[0].clone()];
    if let Some((g, c)) = &read.group {
        twin.extend([b("GROUP"), g.clone(), c.clone()]);
    }
    let count = if read.count == 0 && blocking {
        1000
    } else {
        read.count
    };
    if count > 0 {
        twin.push(b("COUNT"));
        twin.push(b(&count.to_string()));
    }
    if read.noack {
        twin.push(b("NOACK"));
    }
    twin.push(b("STREAMS"));
    twin.extend(keys.iter().cloned());
    twin.extend(ids);
    twin
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let read = match parse_read(ctx, args, false) {
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
    let keys: Vec<Bytes> = read.streams.iter().map(|(k, _)| k.clone()).collect();
    let ids = read
        .streams
        .iter()
        .map(|(_, id)| Bytes::from(id.unwrap_or_default().to_string()))
        .collect();
    let req = crate::blocking::Request {
        timeout: (block > 0).then(|| std::time::Duration::from_millis(block)),
        twin: read_twin(args, &read, true, &keys, ids),
        keys,
        shape: crate::blocking::Shape::Array,
        serve: None,
    };
    crate::blocking::block_on(ctx, req)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...]
/// id|> [...]: its options are checked here; what it does runs as its twin
/// (`xreadgroup_serve`, which checks each stream, its group and its ID first, in Redis's
/// order), now or when a writer makes one of its streams ready.
pub fn xreadgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (read, at) = match parse_read_options(ctx, args, true) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let n = (args.len() - at) / 2;
    let (keys, ids) = (&args[at..at + n], &args[at + n..]);
    let block = read.block.filter(|_| !ctx.session.in_exec);
    let req = crate::blocking::Request {
        timeout: block
            .filter(|b| *b > 0)
            .map(std::time::Duration::from_millis),
        twin: read_twin(args, &read, block.is_some(), keys, ids.to_vec()),
        keys: keys.to_vec(),
        shape: crate::blocking::Shape::StreamGroup,
        serve: Some(xreadgroup_serve),
    };
    if block.is_some() && ids.iter().all(|id| id.as_ref() == b">") {
        return crate::blocking::block_on(ctx, req);
    }
    // History reads are always served at once.
    crate::blocking::run_now(ctx, &req)
}

/// Runs an XREADGROUP (without BLOCK) inside its unit: a null array when no stream had
/// anything new for `>` and no history was asked.
/// Its effect is logged as the pending entries and consumer it left (`logged_group_change`).
fn xreadgroup_serve(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let reply = xreadgroup_serve_run(ctx, args);
    ctx.log_as(|db, ks| logged_group_change(db, ks, "xreadgroup", args, &reply));
    reply
}

fn xreadgroup_serve_run(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let read = match parse_read(ctx, args, true) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let Some((group, consumer)) = read.group.clone() else {
        return syntax_error();
    };
    let mut served: Vec<(Frame, Frame)> = Vec::new();
    for (key, id) in &read.streams {
        let from = match id {
            Some(after) => storage::ReadFrom::History(*after),
            None => storage::ReadFrom::New,
        };
        let out = match ctx.db.xreadgroup(
            ctx.session.db,
            key,
            &group,
            &consumer,
            from,
            read.count,
            read.noack,
        ) {
            Ok(o) => o,
            Err(e) => return error(e),
        };
        let delivered = match out {
            storage::ReadGroup::NoGroup => {
                return Frame::Error(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&group)
            ))
            }
            storage::ReadGroup::Nothing => continue,
            storage::ReadGroup::Served(d, created) => (d, created),
        };
        let (delivered, created) = delivered;
        if created {
            consumer_created(ctx, key);
        }
        served.push((Frame::Bulk(key.clone()), delivered_frame(delivered, false)));
    }
    if served.is_empty() {
        return Frame::NullArray;
    }
    read_reply(ctx.session.proto, served)
}

/// The `xgroup-createconsumer` event of a consumer a read or a claim created.
fn consumer_created(ctx: &mut Ctx<'_>, key: &Bytes) {
    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
}

/// Entries handed out by a group: `[id, fields]`, `[id, nil]` for one deleted since, or just
/// the IDs (`justid`).
fn delivered_frame(items: Vec<storage::Delivered>, justid: bool) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .map(|d| {
                if justid {
                    return id_frame(d.id);
                }
                Frame::Array(vec![
                    id_frame(d.id),
                    match d.fields {
                        Some(f) => Frame::Array(f.into_iter().map(Frame::Bulk).collect()),
                        None => Frame::NullArray,
                    },
                ])
            })
            .collect(),
    )
}

fn nogroup_for(key: &[u8], group: &[u8]) -> Frame {
    Frame::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup_named(key: &[u8], group: &[u8]) -> Frame {
    Frame::Error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn subcommand_error(sub: &[u8], container: &str) -> Frame {
    Frame::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP
pub fn xgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = &args[1];
    let argc = args.len();
    if argc == 2 && eq_ic(sub, "help") {
        return Frame::Array(
            [
                "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Frame::Simple(l.to_string()))
            .collect(),
        );
    }
    let create = eq_ic(sub, "create");
    let setid = eq_ic(sub, "setid");
    let mut mkstream = false;
    let mut entries_read = storage::INVALID_ENTRIES_READ;
    let db = ctx.session.db;
    if argc < 4 {
        return subcommand_error(sub, "XGROUP");
    }
    let mut i = 5;
    while i < argc {
        if create && eq_ic(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && eq_ic(&args[i], "entriesread") && i + 1 < argc {
            match parse_int(&args[i + 1]) {
                Ok(n) if n < 0 && n != storage::INVALID_ENTRIES_READ => {
                    return Frame::error("ERR value for ENTRIESREAD must be positive or -1")
                }
                Ok(n) => entries_read = n,
                Err(f) => return f,
            }
            i += 2;
        } else {
            return subcommand_error(sub, "XGROUP");
        }
    }
    let (key, group) = (&args[2], &args[3]);
    let exists = match ctx.db.stream_exists(db, key) {
        Ok(e) => e,
        Err(e) => return error(e),
    };
    if !mkstream {
        if !exists {
            return Frame::error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        }
        let has_group = match ctx.db.xgroup_position(db, key, group) {
            Ok(p) => p.is_some(),
            Err(e) => return error(e),
        };
        if !has_group && (setid || eq_ic(sub, "createconsumer") || eq_ic(sub, "delconsumer")) {
            return nogroup_named(key, group);
        }
    }
    let parse_start = |raw: &Bytes, strict: bool| -> Result<Option<StreamId>, Frame> {
        if raw.as_ref() == b"$" {
            return Ok(None);
        }
        let form = if strict {
            IdForm::Strict
        } else {
            IdForm::Loose
        };
        parse_id(raw, 0, form).map(Some)
    };
    if create && (5..=8).contains(&argc) {
        let id = match parse_start(&args[4], true) {
            Ok(id) => id,
            Err(f) => return f,
        };
        match ctx
            .db
            .xgroup_create(db, key, group, id, mkstream, entries_read)
        {
            Ok(storage::Created::Created) => {
                ctx.notify(notify::STREAM, "xgroup-create", key);
                Frame::ok()
            }
            Ok(storage::Created::Exists) => {
                Frame::error("BUSYGROUP Consumer Group name already exists")
            }
            Ok(storage::Created::NoStream) => Frame::error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
            Err(e) => error(e),
        }
    } else if setid && (argc == 5 || argc == 7) {
        let id = match parse_start(&args[4], false) {
            Ok(id) => id,
            Err(f) => return f,
        };
        match ctx.db.xgroup_setid(db, key, group, id, entries_read) {
            Ok(true) => {
                ctx.notify(notify::STREAM, "xgroup-setid", key);
                Frame::ok()
            }
            Ok(false) => nogroup_named(key, group),
            Err(e) => error(e),
        }
    } else if eq_ic(sub, "destroy") && argc == 4 {
        match ctx.db.xgroup_destroy(db, key, group) {
            Ok(d) => {
                if d {
                    ctx.notify(notify::STREAM, "xgroup-destroy", key);
                }
                Frame::Integer(d as i64)
            }
            Err(e) => error(e),
        }
    } else if eq_ic(sub, "createconsumer") && argc == 5 {
        match ctx.db.xgroup_createconsumer(db, key, group, &args[4]) {
            Ok(Some(c)) => {
                if c {
                    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                Frame::Integer(c as i64)
            }
            Ok(None) => nogroup_named(key, group),
            Err(e) => error(e),
        }
    } else if eq_ic(sub, "delconsumer") && argc == 5 {
        // The event is for a consumer that existed.
        let existed = ctx.notifying()
            && ctx
                .db
                .xconsumer_exists(db, key, group, &args[4])
                .unwrap_or(false);
        match ctx.db.xgroup_delconsumer(db, key, group, &args[4]) {
            Ok(Some(n)) => {
                if existed {
                    ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
                }
                Frame::Integer(n as i64)
            }
            Ok(None) => nogroup_named(key, group),
            Err(e) => error(e),
        }
    } else {
        subcommand_error(sub, "XGROUP")
    }
}

/// Parses stream IDs that must all be valid before anything happens.
fn parse_ids(raw: &[Bytes]) -> Result<Vec<StreamId>, Frame> {
    raw.iter().map(|r| parse_id(r, 0, IdForm::Strict)).collect()
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let db = ctx.session.db;
    match ctx.db.stream_exists(db, &args[1]) {
        Ok(true) => {}
        Ok(false) => return Frame::Integer(0),
        Err(e) => return error(e),
    }
    match ctx.db.xgroup_position(db, &args[1], &args[2]) {
        Ok(Some(_)) => {}
        Ok(None) => return Frame::Integer(0),
        Err(e) => return error(e),
    }
    let ids = match parse_ids(&args[3..]) {
        Ok(i) => i,
        Err(f) => return f,
    };
    match ctx.db.xack(db, &args[1], &args[2], &ids) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => error(e),
    }
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return syntax_error();
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if eq_ic(&args[3], "idle") {
            min_idle = match parse_int(&args[4]) {
                Ok(n) => n,
                Err(f) => return f,
            };
            if argc < 8 {
                return syntax_error();
            }
            at += 2;
        }
        let count = match parse_int(&args[at + 2]) {
            Ok(n) => n.max(0) as u64,
            Err(f) => return f,
        };
        let start = match parse_bound(&args[at], 0) {
            Ok((id, false)) => id,
            Ok((id, true)) => match id.next() {
                Some(n) => n,
                None => return Frame::error("ERR invalid start ID for the interval"),
            },
            Err(f) => return f,
        };
        let end = match parse_bound(&args[at + 1], u64::MAX) {
            Ok((id, false)) => id,
            Ok((id, true)) => match id.prev() {
                Some(p) => p,
                None => return Frame::error("ERR invalid end ID for the interval"),
            },
            Err(f) => return f,
        };
        let consumer = args.get(at + 3).cloned();
        range = Some((start, end, count, min_idle.max(0) as u64, consumer));
    }
    let (key, group) = (&args[1], &args[2]);
    let db = ctx.session.db;
    if let Err(e) = ctx.db.stream_exists(db, key) {
        return error(e);
    }
    let Some((start, end, count, min_idle, consumer)) = range else {
        return match ctx.db.xpending_summary(db, key, group) {
            Ok(Some(sum)) => match sum.bounds {
                None => Frame::Array(vec![
                    Frame::Integer(0),
                    Frame::Null,
                    Frame::Null,
                    Frame::NullArray,
                ]),
                Some((lo, hi)) => Frame::Array(vec![
                    Frame::Integer(sum.count as i64),
                    id_frame(lo),
                    id_frame(hi),
                    Frame::Array(
                        sum.consumers
                            .into_iter()
                            .map(|(c, n)| {
                                Frame::Array(vec![Frame::Bulk(c), Frame::bulk(n.to_string())])
                            })
                            .collect(),
                    ),
                ]),
            },
            Ok(None) => nogroup_for(key, group),
            Err(e) => error(e),
        };
    };
    let now = storage::now_ms();
    match ctx.db.xpending_range(
        db,
        key,
        group,
        (start, end),
        count,
        min_idle,
        consumer.as_deref(),
    ) {
        Ok(Some(list)) => Frame::Array(
            list.into_iter()
                .map(|n| {
                    Frame::Array(vec![
                        id_frame(n.id),
                        Frame::Bulk(n.consumer),
                        Frame::Integer(now.saturating_sub(n.delivery_time) as i64),
                        Frame::Integer(n.delivery_count as i64),
                    ])
                })
                .collect(),
        ),
        Ok(None) => nogroup_for(key, group),
        Err(e) => error(e),
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let reply = xclaim_run(ctx, args);
    ctx.log_as(|db, ks| logged_group_change(db, ks, "xclaim", args, &reply));
    reply
}

fn xclaim_run(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let db = ctx.session.db;
    let found = match ctx.db.stream_exists(db, key) {
        Ok(true) => ctx.db.xgroup_position(db, key, group).map(|p| p.is_some()),
        Ok(false) => Ok(false),
        Err(e) => Err(e),
    };
    match found {
        Ok(true) => {}
        Ok(false) => return nogroup_for(key, group),
        Err(e) => return error(e),
    }
    let min_idle = match storage::num::parse_i64(&args[4]) {
        Some(n) => n.max(0) as u64,
        None => return Frame::error("ERR Invalid min-idle-time argument for XCLAIM"),
    };
    let mut j = 5;
    let mut ids = Vec::new();
    while j < args.len() {
        match parse_id(&args[j], 0, IdForm::Strict) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = storage::now_ms();
    let mut opts = storage::ClaimOpts {
        min_idle,
        ..Default::default()
    };
    let mut delivery: Option<i64> = None;
    let int_opt = |raw: &Bytes, what: &str| -> Result<i64, Frame> {
        storage::num::parse_i64(raw)
            .ok_or_else(|| Frame::Error(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        if eq_ic(a, "force") {
            opts.force = true;
        } else if eq_ic(a, "justid") {
            opts.justid = true;
        } else if eq_ic(a, "idle") && more > 0 {
            j += 1;
            match int_opt(&args[j], "IDLE") {
                Ok(v) => delivery = Some(now as i64 - v),
                Err(f) => return f,
            }
        } else if eq_ic(a, "time") && more > 0 {
            j += 1;
            match int_opt(&args[j], "TIME") {
                Ok(v) => delivery = Some(v),
                Err(f) => return f,
            }
        } else if eq_ic(a, "retrycount") && more > 0 {
            j += 1;
            match int_opt(&args[j], "RETRYCOUNT") {
                Ok(v) => opts.retry_count = (v >= 0).then_some(v as u64),
                Err(f) => return f,
            }
        } else if eq_ic(a, "lastid") && more > 0 {
            j += 1;
            match parse_id(&args[j], 0, IdForm::Strict) {
                Ok(id) => opts.last_id = Some(id),
                Err(f) => return f,
            }
        } else {
            return Frame::Error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(a)
            ));
        }
        j += 1;
    }
    // A delivery time in the future or before the epoch is taken as now (as Redis).
    opts.delivery_time = match delivery {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    match ctx.db.xclaim(db, key, group, consumer, &ids, &opts) {
        Ok(Some((list, created))) => {
            if created {
                consumer_created(ctx, key);
            }
            delivered_frame(list, opts.justid)
        }
        Ok(None) => nogroup_for(key, group),
        Err(e) => error(e),
    }
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let reply = xautoclaim_run(ctx, args);
    ctx.log_as(|db, ks| logged_group_change(db, ks, "xautoclaim", args, &reply));
    reply
}

fn xautoclaim_run(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = match storage::num::parse_i64(&args[4]) {
        Some(n) => n.max(0) as u64,
        None => return Frame::error("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let start = match parse_bound(&args[5], 0) {
        Ok((id, false)) => id,
        Ok((id, true)) => match id.next() {
            Some(n) => n,
            None => return Frame::error("ERR invalid start ID for the interval"),
        },
        Err(f) => return f,
    };
    let mut count = 100u64;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if eq_ic(&args[j], "count") && more > 0 {
            match storage::num::parse_i64(&args[j + 1]) {
                Some(n) if n >= 1 => count = n as u64,
                _ => return Frame::error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq_ic(&args[j], "justid") {
            justid = true;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let db = ctx.session.db;
    let found = match ctx.db.stream_exists(db, key) {
        Ok(true) => ctx.db.xgroup_position(db, key, group).map(|p| p.is_some()),
        Ok(false) => Ok(false),
        Err(e) => Err(e),
    };
    match found {
        Ok(true) => {}
        Ok(false) => return nogroup_for(key, group),
        Err(e) => return error(e),
    }
    match ctx
        .db
        .xautoclaim(db, key, group, consumer, min_idle, start, count, justid)
    {
        Ok(Some(storage::AutoClaimed {
            cursor,
            claimed,
            deleted,
            consumer_created: created,
        })) => {
            if created {
                consumer_created(ctx, key);
            }
            Frame::Array(vec![
                id_frame(cursor),
                delivered_frame(claimed, justid),
                Frame::Array(deleted.into_iter().map(id_frame).collect()),
            ])
        }
        Ok(None) => nogroup_for(key, group),
        Err(e) => error(e),
    }
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
        Ok(()) => {
            ctx.notify(notify::STREAM, "xsetid", &args[1]);
            Frame::ok()
        }
        Err(e) => error(e),
    }
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub fn xinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = &args[1];
    if eq_ic(sub, "help") {
        if args.len() != 2 {
            return subcommand_error(sub, "XINFO");
        }
        return Frame::Array(
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
        );
    }
    if args.len() < 3 {
        return subcommand_error(sub, "XINFO");
    }
    let (db, key) = (ctx.session.db, &args[2]);
    match ctx.db.stream_exists(db, key) {
        Ok(true) => {}
        Ok(false) => return Frame::error("ERR no such key"),
        Err(e) => return error(e),
    }
    let proto = ctx.session.proto;
    if eq_ic(sub, "consumers") && args.len() == 4 {
        let now = storage::now_ms();
        match ctx.db.xinfo_consumers(db, key, &args[3]) {
            Ok(Some(list)) => Frame::Array(
                list.into_iter()
                    .map(|c| {
                        map_frame(
                            proto,
                            vec![
                                ("name", Frame::Bulk(c.name)),
                                ("pending", Frame::Integer(c.pending as i64)),
                                (
                                    "idle",
                                    Frame::Integer(now.saturating_sub(c.seen_time) as i64),
                                ),
                            ],
                        )
                    })
                    .collect(),
            ),
            Ok(None) => nogroup_named(key, &args[3]),
            Err(e) => error(e),
        }
    } else if eq_ic(sub, "groups") && args.len() == 3 {
        match ctx.db.xinfo_groups(db, key) {
            Ok(Some(list)) => Frame::Array(
                list.into_iter()
                    .map(|g| {
                        map_frame(
                            proto,
                            vec![
                                ("name", Frame::Bulk(g.name)),
                                ("consumers", Frame::Integer(g.consumers as i64)),
                                ("pending", Frame::Integer(g.pending as i64)),
                                ("last-delivered-id", id_frame(g.last_id)),
                                ("entries-read", entries_read_frame(g.entries_read)),
                                ("lag", g.lag.map_or(Frame::Null, Frame::Integer)),
                            ],
                        )
                    })
                    .collect(),
            ),
            Ok(None) => Frame::error("ERR no such key"),
            Err(e) => error(e),
        }
    } else if eq_ic(sub, "stream") {
        xinfo_stream(ctx, args)
    } else {
        subcommand_error(sub, "XINFO")
    }
}

fn entries_read_frame(n: i64) -> Frame {
    if n == storage::INVALID_ENTRIES_READ {
        Frame::Null
    } else {
        Frame::Integer(n)
    }
}

/// Named fields: a map in RESP3, a flat array in RESP2.
fn map_frame(proto: Protocol, pairs: Vec<(&str, Frame)>) -> Frame {
    let pairs: Vec<(Frame, Frame)> = pairs
        .into_iter()
        .map(|(k, v)| (Frame::bulk(k.to_string()), v))
        .collect();
    match proto {
        Protocol::Resp3 => Frame::Map(pairs),
        Protocol::Resp2 => Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
    }
}

fn xinfo_stream(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // [FULL [COUNT n]] exactly; a negative count is the default 10, 0 is every entry.
    let opts = &args[3..];
    let full = !opts.is_empty();
    let mut count: u64 = 10;
    if full {
        if !(opts.len() == 1 || opts.len() == 3) || !eq_ic(&opts[0], "full") {
            return subcommand_error(&args[1], "XINFO");
        }
        if opts.len() == 3 {
            if !eq_ic(&opts[1], "count") {
                return subcommand_error(&args[1], "XINFO");
            }
            match parse_int(&opts[2]) {
                Ok(n) if n < 0 => count = 10,
                Ok(n) => count = n as u64,
                Err(f) => return f,
            }
        }
    }
    let (db, key) = (ctx.session.db, &args[2]);
    let proto = ctx.session.proto;
    let info = match ctx.db.xinfo_stream(db, key) {
        Ok(Some(i)) => i,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return error(e),
    };
    let groups = match ctx.db.xinfo_groups(db, key) {
        Ok(g) => g.unwrap_or_default(),
        Err(e) => return error(e),
    };
    let mut pairs = vec![
        ("length", Frame::Integer(info.length as i64)),
        ("radix-tree-keys", Frame::Integer(info.nodes as i64)),
        ("radix-tree-nodes", Frame::Integer((info.nodes + 1) as i64)),
        ("last-generated-id", id_frame(info.last_id)),
        ("max-deleted-entry-id", id_frame(info.max_deleted)),
        ("entries-added", Frame::Integer(info.entries_added as i64)),
        (
            "recorded-first-entry-id",
            id_frame(info.first.as_ref().map_or(StreamId::MIN, |e| e.id)),
        ),
    ];
    if !full {
        pairs.push(("groups", Frame::Integer(groups.len() as i64)));
        let edge = |e: Option<StreamEntry>| e.map_or(Frame::Null, entry_frame);
        pairs.push(("first-entry", edge(info.first)));
        pairs.push(("last-entry", edge(info.last)));
        return map_frame(proto, pairs);
    }
    let entries = match ctx
        .db
        .xrange(db, key, StreamId::MIN, StreamId::MAX, count, false)
    {
        Ok(e) => e,
        Err(e) => return error(e),
    };
    pairs.push(("entries", entries_frame(entries)));
    let mut group_frames = Vec::with_capacity(groups.len());
    for g in groups {
        let pel = match ctx.db.xpending_first(db, key, &g.name, None, count) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        let consumers = match ctx.db.xinfo_consumers(db, key, &g.name) {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return error(e),
        };
        let mut consumer_frames = Vec::with_capacity(consumers.len());
        for c in consumers {
            let own = match ctx
                .db
                .xpending_first(db, key, &g.name, Some(&c.name), count)
            {
                Ok(p) => p,
                Err(e) => return error(e),
            };
            consumer_frames.push(map_frame(
                proto,
                vec![
                    ("name", Frame::Bulk(c.name)),
                    ("seen-time", Frame::Integer(c.seen_time as i64)),
                    ("pel-count", Frame::Integer(c.pending as i64)),
                    (
                        "pending",
                        Frame::Array(
                            own.into_iter()
                                .map(|n| {
                                    Frame::Array(vec![
                                        id_frame(n.id),
                                        Frame::Integer(n.delivery_time as i64),
                                        Frame::Integer(n.delivery_count as i64),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ],
            ));
        }
        group_frames.push(map_frame(
            proto,
            vec![
                ("name", Frame::Bulk(g.name)),
                ("last-delivered-id", id_frame(g.last_id)),
                ("entries-read", entries_read_frame(g.entries_read)),
                ("lag", g.lag.map_or(Frame::Null, Frame::Integer)),
                ("pel-count", Frame::Integer(g.pending as i64)),
                (
                    "pending",
                    Frame::Array(
                        pel.into_iter()
                            .map(|n| {
                                Frame::Array(vec![
                                    id_frame(n.id),
                                    Frame::Bulk(n.consumer),
                                    Frame::Integer(n.delivery_time as i64),
                                    Frame::Integer(n.delivery_count as i64),
                                ])
                            })
                            .collect(),
                    ),
                ),
                ("consumers", Frame::Array(consumer_frames)),
            ],
        ));
    }
    pairs.push(("groups", Frame::Array(group_frames)));
    map_frame(proto, pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_redis() {
        for id in [
            StreamId::MIN,
            StreamId::MAX,
            StreamId::new(1, 0),
            StreamId::new(1700000000123, 42),
            StreamId::new(9, 10),
        ] {
            assert_eq!(id_frame(id), Frame::bulk(id.to_string()));
        }
    }

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
