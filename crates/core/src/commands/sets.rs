//! Set commands: argument parsing and replies; semantics in `storage::sets`.

use bytes::Bytes;
use resp::Frame;
use storage::SetOp;

use crate::notify;

use super::{parse_int, storage_error, syntax_error, Ctx};

fn members_frame(v: Vec<Bytes>) -> Frame {
    Frame::Set(v.into_iter().map(Frame::Bulk).collect())
}

pub fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.sadd(ctx.session.db, &args[1], &args[2..]) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::SET, "sadd", &args[1]);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.srem(ctx.session.db, &args[1], &args[2..]) {
        Ok(n) => {
            if n > 0 {
                ctx.notify(notify::SET, "srem", &args[1]);
                ctx.notify_del_if_gone(&args[1]);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.sismember(ctx.session.db, &args[1], &args[2]) {
        Ok(b) => Frame::Integer(b as i64),
        Err(e) => storage_error(e),
    }
}

pub fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.smismember(ctx.session.db, &args[1], &args[2..]) {
        Ok(v) => Frame::Array(v.into_iter().map(|b| Frame::Integer(b as i64)).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.smembers(ctx.session.db, &args[1]) {
        Ok(v) => members_frame(v),
        Err(e) => storage_error(e),
    }
}

pub fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.scard(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

pub fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let count = match super::parse_pop_count(args) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let popped = ctx.db.spop(ctx.session.db, &args[1], count);
    if popped.as_ref().is_ok_and(|v| !v.is_empty()) {
        ctx.notify(notify::SET, "spop", &args[1]);
        ctx.notify_del_if_gone(&args[1]);
    }
    if let Ok(v) = &popped {
        // The members it chose at random, removed.
        ctx.log_as(|_, _| {
            if v.is_empty() {
                return Vec::new();
            }
            let mut srem = vec![Bytes::from_static(b"SREM"), args[1].clone()];
            srem.extend(v.iter().cloned());
            vec![srem]
        });
    }
    match popped {
        Ok(v) if count.is_none() => super::bulk_or_null(v.into_iter().next()),
        Ok(v) => members_frame(v),
        Err(e) => storage_error(e),
    }
}

pub fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let count = match args.len() {
        2 => None,
        3 => match parse_int(&args[2]) {
            Ok(c) if c.unsigned_abs() <= (i64::MAX as u64) / 2 => Some(c),
            Ok(_) => return Frame::error("ERR value is out of range"),
            Err(f) => return f,
        },
        _ => return syntax_error(),
    };
    match ctx.db.srandmember(ctx.session.db, &args[1], count) {
        Ok(v) if count.is_none() => super::bulk_or_null(v.into_iter().next()),
        Ok(v) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
        Err(e) => storage_error(e),
    }
}

pub fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // Events as Redis: none when source and destination are the same set; `sadd` only if
    // the destination did not have the member.
    let notifying = ctx.notifying() && args[1] != args[2];
    let dst_had = notifying
        && ctx
            .db
            .sismember(ctx.session.db, &args[2], &args[3])
            .unwrap_or(false);
    match ctx.db.smove(ctx.session.db, &args[1], &args[2], &args[3]) {
        Ok(b) => {
            if b && notifying {
                ctx.notify(notify::SET, "srem", &args[1]);
                ctx.notify_del_if_gone(&args[1]);
                if !dst_had {
                    ctx.notify(notify::SET, "sadd", &args[2]);
                }
            }
            Frame::Integer(b as i64)
        }
        Err(e) => storage_error(e),
    }
}

fn combine(ctx: &mut Ctx<'_>, op: SetOp, keys: &[Bytes]) -> Frame {
    match ctx.db.set_combine(ctx.session.db, op, keys) {
        Ok(v) => members_frame(v),
        Err(e) => storage_error(e),
    }
}

fn combine_store(ctx: &mut Ctx<'_>, op: SetOp, args: &[Bytes], event: &str) -> Frame {
    let existed = ctx.existed_for_events(&args[1]);
    match ctx
        .db
        .set_combine_store(ctx.session.db, op, &args[1], &args[2..])
    {
        Ok(n) => {
            ctx.notify_stored(notify::SET, event, &args[1], n, existed);
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, SetOp::Inter, &args[1..])
}

pub fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, SetOp::Union, &args[1..])
}

pub fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, SetOp::Diff, &args[1..])
}

pub fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, SetOp::Inter, args, "sinterstore")
}

pub fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, SetOp::Union, args, "sunionstore")
}

pub fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, SetOp::Diff, args, "sdiffstore")
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let numkeys = match parse_int(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) => return Frame::error("ERR numkeys should be greater than 0"),
        Err(_) => return Frame::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    let keys = &args[2..2 + numkeys];
    let limit = match super::parse_card_limit(args, 2 + numkeys) {
        Ok(l) => l,
        Err(f) => return f,
    };
    match ctx.db.set_combine(ctx.session.db, SetOp::Inter, keys) {
        Ok(v) => {
            let n = if limit > 0 {
                v.len().min(limit)
            } else {
                v.len()
            };
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// SSCAN key cursor [MATCH pattern] [COUNT count].
pub fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (cursor, pattern, count) = match super::hashes::parse_scan_args(args) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let db = ctx.session.db;
    let after = super::hashes::resume_position(ctx, &args[1], cursor);
    let page = match ctx
        .db
        .sscan(db, &args[1], after.as_deref(), count, pattern.as_deref())
    {
        Ok(p) => p,
        Err(e) => return storage_error(e),
    };
    let next = super::hashes::save_position(ctx, &args[1], page.next);
    Frame::Array(vec![
        Frame::bulk(next.to_string()),
        Frame::Array(
            page.pairs
                .into_iter()
                .map(|(m, _)| Frame::Bulk(m))
                .collect(),
        ),
    ])
}
