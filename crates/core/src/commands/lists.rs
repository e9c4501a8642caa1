//! List commands (non-blocking): argument parsing and replies; semantics in `storage::lists`.

use bytes::Bytes;
use resp::Frame;
use storage::End;

use crate::notify;

use super::{bulk_or_null, eq_ic, parse_int, storage_error, syntax_error, Ctx};

fn push(ctx: &mut Ctx<'_>, args: &[Bytes], end: End, only_existing: bool) -> Frame {
    match ctx
        .db
        .push(ctx.session.db, &args[1], end, &args[2..], only_existing)
    {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::LIST, end_event(end, "push"), &args[1]);
            }
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    push(ctx, args, End::Left, false)
}
pub fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    push(ctx, args, End::Right, false)
}
pub fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    push(ctx, args, End::Left, true)
}
pub fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    push(ctx, args, End::Right, true)
}

/// `lpush`, `rpop`, ...: the event of `op` at `end`.
fn end_event(end: End, op: &str) -> &'static str {
    match (end, op) {
        (End::Left, "push") => "lpush",
        (End::Right, "push") => "rpush",
        (End::Left, _) => "lpop",
        (End::Right, _) => "rpop",
    }
}

/// The events of elements popped from `key`'s `end`: the pop, and `del` if it emptied it.
fn popped(ctx: &mut Ctx<'_>, key: &[u8], end: End) {
    ctx.notify(notify::LIST, end_event(end, "pop"), key);
    ctx.notify_del_if_gone(key);
}

fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> Frame {
    if args.len() > 3 {
        // LPOP/RPOP take at most a count: Redis answers with the arity error.
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return super::wrong_arity(name);
    }
    let count = match super::parse_pop_count(args) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let out = ctx
        .db
        .pop(ctx.session.db, &args[1], end, count.unwrap_or(1));
    if out
        .as_ref()
        .is_ok_and(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
    {
        popped(ctx, &args[1], end);
    }
    match out {
        Ok(None) if count.is_some() => Frame::NullArray,
        Ok(None) => Frame::Null,
        Ok(Some(v)) if count.is_none() => bulk_or_null(v.into_iter().next()),
        Ok(Some(v)) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    pop(ctx, args, End::Left)
}
pub fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    pop(ctx, args, End::Right)
}

pub fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.llen(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

pub fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let i = match parse_int(&args[2]) {
        Ok(i) => i,
        Err(f) => return f,
    };
    match ctx.db.lindex(ctx.session.db, &args[1], i) {
        Ok(v) => bulk_or_null(v),
        Err(e) => storage_error(e),
    }
}

pub fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let i = match parse_int(&args[2]) {
        Ok(i) => i,
        Err(f) => return f,
    };
    match ctx.db.lset(ctx.session.db, &args[1], i, args[3].clone()) {
        Ok(()) => {
            ctx.notify(notify::LIST, "lset", &args[1]);
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

fn two_ints(args: &[Bytes]) -> Result<(i64, i64), Frame> {
    Ok((parse_int(&args[2])?, parse_int(&args[3])?))
}

pub fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (s, e) = match two_ints(args) {
        Ok(x) => x,
        Err(f) => return f,
    };
    match ctx.db.lrange(ctx.session.db, &args[1], s, e) {
        Ok(v) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (s, e) = match two_ints(args) {
        Ok(x) => x,
        Err(f) => return f,
    };
    // A missing key is not trimmed: no event (as Redis).
    let existed = ctx.existed_for_events(&args[1]);
    match ctx.db.ltrim(ctx.session.db, &args[1], s, e) {
        Ok(()) => {
            if existed {
                ctx.notify(notify::LIST, "ltrim", &args[1]);
                ctx.notify_del_if_gone(&args[1]);
            }
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

pub fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let count = match parse_int(&args[2]) {
        Ok(c) => c,
        Err(f) => return f,
    };
    match ctx.db.lrem(ctx.session.db, &args[1], count, &args[3]) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::LIST, "lrem", &args[1]);
                ctx.notify_del_if_gone(&args[1]);
            }
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let before = if eq_ic(&args[2], "before") {
        true
    } else if eq_ic(&args[2], "after") {
        false
    } else {
        return syntax_error();
    };
    match ctx
        .db
        .linsert(ctx.session.db, &args[1], before, &args[3], args[4].clone())
    {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::LIST, "linsert", &args[1]);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<u64>, 0u64);
    let mut i = 3;
    while i < args.len() {
        // The option's name first, then its value (Redis's order and texts).
        let Some(v) = args.get(i + 1) else {
            return syntax_error();
        };
        let positive = |msg: &str| match parse_int(v) {
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err(Frame::Error(format!("ERR {msg}"))),
        };
        if eq_ic(&args[i], "rank") {
            let n = match parse_int(v) {
                Ok(n) => n,
                Err(f) => return f,
            };
            if n == 0 {
                return Frame::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            if n == i64::MIN {
                return Frame::error("ERR value is out of range");
            }
            rank = n;
        } else if eq_ic(&args[i], "count") {
            match positive("COUNT can't be negative") {
                Ok(n) => count = Some(n),
                Err(f) => return f,
            }
        } else if eq_ic(&args[i], "maxlen") {
            match positive("MAXLEN can't be negative") {
                Ok(n) => maxlen = n,
                Err(f) => return f,
            }
        } else {
            return syntax_error();
        }
        i += 2;
    }
    match ctx.db.lpos(
        ctx.session.db,
        &args[1],
        &args[2],
        rank,
        count.unwrap_or(1),
        maxlen,
    ) {
        Ok(v) if count.is_some() => {
            Frame::Array(v.into_iter().map(|p| Frame::Integer(p as i64)).collect())
        }
        Ok(v) => match v.first() {
            Some(p) => Frame::Integer(*p as i64),
            None => Frame::Null,
        },
        Err(e) => storage_error(e),
    }
}

fn parse_end(b: &[u8]) -> Option<End> {
    if b.eq_ignore_ascii_case(b"left") {
        Some(End::Left)
    } else if b.eq_ignore_ascii_case(b"right") {
        Some(End::Right)
    } else {
        None
    }
}

fn do_lmove(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> Frame {
    match ctx.db.lmove(ctx.session.db, src, dst, from, to) {
        Ok(v) => {
            if v.is_some() {
                // The push is notified before the pop, as Redis does.
                ctx.notify(notify::LIST, end_event(to, "push"), dst);
                popped(ctx, src, from);
            }
            bulk_or_null(v)
        }
        Err(e) => storage_error(e),
    }
}

pub fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (Some(from), Some(to)) = (parse_end(&args[3]), parse_end(&args[4])) else {
        return syntax_error();
    };
    do_lmove(ctx, &args[1], &args[2], from, to)
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    do_lmove(ctx, &args[1], &args[2], End::Right, End::Left)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let numkeys = match parse_int(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        _ => return Frame::error("ERR numkeys should be greater than 0"),
    };
    if args.len() < 2 + numkeys + 1 {
        return syntax_error();
    }
    let keys = &args[2..2 + numkeys];
    let Some(end) = parse_end(&args[2 + numkeys]) else {
        return syntax_error();
    };
    let mut count = 1u64;
    let rest = &args[3 + numkeys..];
    match rest.len() {
        0 => {}
        2 if eq_ic(&rest[0], "count") => match parse_int(&rest[1]) {
            Ok(c) if c > 0 => count = c as u64,
            _ => return Frame::error("ERR count should be greater than 0"),
        },
        _ => return syntax_error(),
    }
    match ctx.db.lmpop(ctx.session.db, keys, end, count) {
        Ok(None) => Frame::NullArray,
        Ok(Some((k, v))) => {
            popped(ctx, &k, end);
            Frame::Array(vec![
                Frame::Bulk(k),
                Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
            ])
        }
        Err(e) => storage_error(e),
    }
}
