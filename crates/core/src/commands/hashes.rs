//! Hash commands: argument parsing and replies; semantics in `storage::hashes`.

use bytes::Bytes;
use resp::Frame;
use storage::num::parse_f64;

use crate::notify;

use super::{bulk_or_null, eq_ic, parse_int, storage_error, syntax_error, wrong_arity, Ctx};

fn pairs(args: &[Bytes]) -> Vec<(Bytes, Bytes)> {
    args.chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

pub fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if !args.len().is_multiple_of(2) {
        return wrong_arity("hset");
    }
    match ctx
        .db
        .hset(ctx.session.db, &args[1], &pairs(&args[2..]), false)
    {
        Ok(n) => {
            ctx.notify(notify::HASH, "hset", &args[1]);
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if !args.len().is_multiple_of(2) {
        return wrong_arity("hmset");
    }
    match ctx
        .db
        .hset(ctx.session.db, &args[1], &pairs(&args[2..]), false)
    {
        Ok(_) => {
            ctx.notify(notify::HASH, "hset", &args[1]);
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx
        .db
        .hset(ctx.session.db, &args[1], &pairs(&args[2..4]), true)
    {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::HASH, "hset", &args[1]);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hget(ctx.session.db, &args[1], &args[2]) {
        Ok(v) => bulk_or_null(v),
        Err(e) => storage_error(e),
    }
}

pub fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hmget(ctx.session.db, &args[1], &args[2..]) {
        Ok(v) => Frame::Array(v.into_iter().map(bulk_or_null).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hdel(ctx.session.db, &args[1], &args[2..]) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::HASH, "hdel", &args[1]);
                ctx.notify_del_if_gone(&args[1]);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hget(ctx.session.db, &args[1], &args[2]) {
        Ok(v) => Frame::Integer(v.is_some() as i64),
        Err(e) => storage_error(e),
    }
}

pub fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hlen(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hget(ctx.session.db, &args[1], &args[2]) {
        Ok(v) => Frame::Integer(v.map(|v| v.len()).unwrap_or(0) as i64),
        Err(e) => storage_error(e),
    }
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hgetall(ctx.session.db, &args[1]) {
        Ok(p) => Frame::Array(p.into_iter().map(|(f, _)| Frame::Bulk(f)).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hgetall(ctx.session.db, &args[1]) {
        Ok(p) => Frame::Array(p.into_iter().map(|(_, v)| Frame::Bulk(v)).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.hgetall(ctx.session.db, &args[1]) {
        Ok(p) => Frame::Map(
            p.into_iter()
                .map(|(f, v)| (Frame::Bulk(f), Frame::Bulk(v)))
                .collect(),
        ),
        Err(e) => storage_error(e),
    }
}

pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let delta = match parse_int(&args[3]) {
        Ok(d) => d,
        Err(f) => return f,
    };
    match ctx.db.hincr_by(ctx.session.db, &args[1], &args[2], delta) {
        Ok(n) => {
            ctx.notify(notify::HASH, "hincrby", &args[1]);
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let Some(delta) = parse_f64(&args[3]) else {
        return Frame::error("ERR value is not a valid float");
    };
    if !delta.is_finite() {
        return Frame::error("ERR value is NaN or Infinity");
    }
    match ctx
        .db
        .hincr_by_float(ctx.session.db, &args[1], &args[2], delta)
    {
        Ok(v) => {
            ctx.notify(notify::HASH, "hincrbyfloat", &args[1]);
            // The result, not the increment: float formatting is replayed exactly.
            ctx.log_as(|_, _| vec![super::effects::cmd(&[b"HSET", &args[1], &args[2], &v])]);
            Frame::Bulk(v)
        }
        Err(e) => storage_error(e),
    }
}

/// HRANDFIELD key [count [WITHVALUES]]: a positive count gives distinct fields (at most all),
/// a negative one may repeat fields.
pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    use rand::Rng;
    let (count, withvalues) = match super::parse_rand_args(args, "withvalues") {
        Ok(x) => x,
        Err(f) => return f,
    };
    let all = match ctx.db.hgetall(ctx.session.db, &args[1]) {
        Ok(p) => p,
        Err(e) => return storage_error(e),
    };
    let mut rng = rand::rng();
    let Some(count) = count else {
        if all.is_empty() {
            return Frame::Null;
        }
        return Frame::Bulk(all[rng.random_range(0..all.len())].0.clone());
    };
    let chosen = storage::random_sample(all, count);
    let proto3 = ctx.session.proto == resp::Protocol::Resp3;
    let mut out = Vec::new();
    for (f, v) in chosen {
        if withvalues && proto3 {
            out.push(Frame::Array(vec![Frame::Bulk(f), Frame::Bulk(v)]));
        } else {
            out.push(Frame::Bulk(f));
            if withvalues {
                out.push(Frame::Bulk(v));
            }
        }
    }
    Frame::Array(out)
}

/// Parses `key cursor [MATCH pattern] [COUNT count]` (HSCAN, SSCAN, ZSCAN).
pub(crate) fn parse_scan_args(args: &[Bytes]) -> Result<(u64, Option<Bytes>, usize), Frame> {
    let Some(cursor) = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Err(Frame::error("ERR invalid cursor"));
    };
    let mut pattern: Option<Bytes> = None;
    let mut count = 10usize;
    let mut i = 3;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        if eq_ic(&args[i], "match") {
            pattern = if &v[..] == b"*" {
                None
            } else {
                Some(v.clone())
            };
        } else if eq_ic(&args[i], "count") {
            match parse_int(v) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return Err(syntax_error()),
                Err(f) => return Err(f),
            }
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok((cursor, pattern, count))
}

/// A collection cursor remembers `keylen | key | member`, so it only resumes the key it came
/// from. Returns the member to continue after.
pub(crate) fn resume_position(ctx: &Ctx<'_>, key: &[u8], cursor: u64) -> Option<Vec<u8>> {
    if cursor == 0 {
        return None;
    }
    let db = ctx.session.db;
    let mut prefix = (key.len() as u32).to_be_bytes().to_vec();
    prefix.extend_from_slice(key);
    ctx.shared.cursors.lock().ok().and_then(|c| {
        c.get(cursor)
            .filter(|(ks, k)| *ks == db && k.starts_with(&prefix))
            .map(|(_, k)| k[prefix.len()..].to_vec())
    })
}

/// Stores the position to continue from and returns its cursor (0 when finished).
pub(crate) fn save_position(ctx: &Ctx<'_>, key: &[u8], next: Option<Vec<u8>>) -> u64 {
    let Some(member) = next else {
        return 0;
    };
    let mut pos = (key.len() as u32).to_be_bytes().to_vec();
    pos.extend_from_slice(key);
    pos.extend_from_slice(&member);
    match ctx.shared.cursors.lock() {
        Ok(mut c) => c.insert(ctx.session.db, pos),
        Err(_) => 0,
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: cursors are server-side positions, as
/// for SCAN.
pub fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (cursor, pattern, count) = match parse_scan_args(args) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let after = resume_position(ctx, &args[1], cursor);
    let page = match ctx.db.hscan(
        ctx.session.db,
        &args[1],
        after.as_deref(),
        count,
        pattern.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return storage_error(e),
    };
    let next = save_position(ctx, &args[1], page.next);
    let mut items = Vec::with_capacity(page.pairs.len() * 2);
    for (f, v) in page.pairs {
        items.push(Frame::Bulk(f));
        items.push(Frame::Bulk(v));
    }
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(items)])
}
