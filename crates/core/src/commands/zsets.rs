//! Sorted-set commands: argument parsing and replies; semantics in `storage::zsets`.

use bytes::Bytes;
use resp::{Frame, Protocol};
use storage::{Aggregate, LexBound, ScoreBound, ZOp, ZaddFlags};

use crate::notify;

use super::{eq_ic, parse_int, storage_error, syntax_error, Ctx};

fn not_float() -> Frame {
    Frame::error("ERR value is not a valid float")
}

fn score_frame(proto: Protocol, s: f64) -> Frame {
    match proto {
        Protocol::Resp3 => Frame::Double(s),
        Protocol::Resp2 => Frame::bulk(resp::format_double(s)),
    }
}

/// Members (with scores if asked) as Redis replies: flat in RESP2, pairs in RESP3.
fn members_reply(proto: Protocol, items: Vec<(Bytes, f64)>, withscores: bool) -> Frame {
    let mut out = Vec::with_capacity(items.len() * if withscores { 2 } else { 1 });
    for (m, s) in items {
        if !withscores {
            out.push(Frame::Bulk(m));
        } else if proto == Protocol::Resp3 {
            out.push(Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]));
        } else {
            out.push(Frame::Bulk(m));
            out.push(score_frame(proto, s));
        }
    }
    Frame::Array(out)
}

fn parse_score(b: &[u8]) -> Option<f64> {
    storage::num::parse_f64(b)
}

fn parse_score_bound(b: &[u8]) -> Option<ScoreBound> {
    let (exclusive, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    parse_score(rest).map(|value| ScoreBound { value, exclusive })
}

fn parse_lex_bound(b: &[u8]) -> Option<LexBound> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Some(LexBound::Min),
        Some(b'+') if b.len() == 1 => Some(LexBound::Max),
        Some(b'[') => Some(LexBound::Inclusive(Bytes::copy_from_slice(&b[1..]))),
        Some(b'(') => Some(LexBound::Exclusive(Bytes::copy_from_slice(&b[1..]))),
        _ => None,
    }
}

pub fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut flags = ZaddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if eq_ic(a, "nx") {
            flags.nx = true;
        } else if eq_ic(a, "xx") {
            flags.xx = true;
        } else if eq_ic(a, "gt") {
            flags.gt = true;
        } else if eq_ic(a, "lt") {
            flags.lt = true;
        } else if eq_ic(a, "ch") {
            ch = true;
        } else if eq_ic(a, "incr") {
            flags.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return syntax_error();
    }
    if flags.nx && flags.xx {
        return Frame::error("ERR XX and NX options at the same time are not compatible");
    }
    if [flags.gt, flags.lt, flags.nx]
        .iter()
        .filter(|f| **f)
        .count()
        > 1
    {
        return Frame::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if flags.incr && rest.len() > 2 {
        return Frame::error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for c in rest.chunks(2) {
        let Some(s) = parse_score(&c[0]) else {
            return not_float();
        };
        pairs.push((s, c[1].clone()));
    }
    let out = ctx.db.zadd(ctx.session.db, &args[1], flags, &pairs);
    if let Ok(o) = &out {
        zadded(ctx, &args[1], o, flags.incr);
    }
    match out {
        Ok(o) if flags.incr => match o.score {
            Some(s) => score_frame(ctx.session.proto, s),
            None => Frame::Null,
        },
        Ok(o) => Frame::Integer((o.added + if ch { o.changed } else { 0 }) as i64),
        Err(e) => storage_error(e),
    }
}

/// The event of a ZADD (ZINCRBY, GEOADD) that added or changed a member, as Redis: none if
/// nothing changed.
pub(crate) fn zadded(ctx: &mut Ctx<'_>, key: &[u8], o: &storage::ZaddOutcome, incr: bool) {
    if o.added + o.changed > 0 {
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
}

/// The events of members removed from `key` by `event`: it, and `del` if it emptied it.
fn removed(ctx: &mut Ctx<'_>, event: &str, key: &[u8]) {
    ctx.notify(notify::ZSET, event, key);
    ctx.notify_del_if_gone(key);
}

pub fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let Some(delta) = parse_score(&args[2]) else {
        return not_float();
    };
    let flags = ZaddFlags {
        incr: true,
        ..ZaddFlags::default()
    };
    match ctx
        .db
        .zadd(ctx.session.db, &args[1], flags, &[(delta, args[3].clone())])
    {
        Ok(o) => {
            zadded(ctx, &args[1], &o, true);
            match o.score {
                Some(s) => score_frame(ctx.session.proto, s),
                None => Frame::Null,
            }
        }
        Err(e) => storage_error(e),
    }
}

pub fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.zrem(ctx.session.db, &args[1], &args[2..]) {
        Ok(n) => {
            if n > 0 {
                removed(ctx, "zrem", &args[1]);
            }
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.zcard(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

pub fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.zscore(ctx.session.db, &args[1], &args[2]) {
        Ok(Some(s)) => score_frame(ctx.session.proto, s),
        Ok(None) => Frame::Null,
        Err(e) => storage_error(e),
    }
}

pub fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.zmscore(ctx.session.db, &args[1], &args[2..]) {
        Ok(v) => Frame::Array(
            v.into_iter()
                .map(|s| match s {
                    Some(s) => score_frame(ctx.session.proto, s),
                    None => Frame::Null,
                })
                .collect(),
        ),
        Err(e) => storage_error(e),
    }
}

fn rank(ctx: &mut Ctx<'_>, args: &[Bytes], reverse: bool) -> Frame {
    match ctx.db.zrank(ctx.session.db, &args[1], &args[2], reverse) {
        Ok(Some((r, _))) => Frame::Integer(r as i64),
        Ok(None) => Frame::Null,
        Err(e) => storage_error(e),
    }
}

pub fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    rank(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    rank(ctx, args, true)
}

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

struct RangeSpec {
    by: By,
    rev: bool,
    offset: u64,
    count: i64,
    withscores: bool,
}

/// Runs a range query given `min`/`max` (or start/stop) as written by the caller.
fn run_range(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    a: &[u8],
    b: &[u8],
    spec: &RangeSpec,
) -> Result<Vec<(Bytes, f64)>, Frame> {
    let st = &ctx.db;
    let db = ctx.session.db;
    match spec.by {
        By::Rank => {
            let (s, e) = (parse_int(a)?, parse_int(b)?);
            st.zrange_by_rank(db, key, s, e, spec.rev)
                .map_err(storage_error)
        }
        By::Score => {
            // With REV the first argument is the maximum.
            let (min, max) = if spec.rev { (b, a) } else { (a, b) };
            let (Some(min), Some(max)) = (parse_score_bound(min), parse_score_bound(max)) else {
                return Err(Frame::error("ERR min or max is not a float"));
            };
            st.zrange_by_score(db, key, min, max, spec.rev, spec.offset, spec.count)
                .map_err(storage_error)
        }
        By::Lex => {
            let (min, max) = if spec.rev { (b, a) } else { (a, b) };
            let (Some(min), Some(max)) = (parse_lex_bound(min), parse_lex_bound(max)) else {
                return Err(Frame::error("ERR min or max not valid string range item"));
            };
            st.zrange_by_lex(db, key, &min, &max, spec.rev, spec.offset, spec.count)
                .map_err(storage_error)
        }
    }
}

/// Parses `[BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` (ZRANGE and ZRANGESTORE),
/// or the fixed forms of the older commands (`by`/`rev` given, options after).
fn parse_range_opts(args: &[Bytes], mut spec: RangeSpec, full: bool) -> Result<RangeSpec, Frame> {
    let mut limit = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if full && eq_ic(a, "byscore") {
            spec.by = By::Score;
        } else if full && eq_ic(a, "bylex") {
            spec.by = By::Lex;
        } else if full && eq_ic(a, "rev") {
            spec.rev = true;
        } else if eq_ic(a, "withscores") {
            spec.withscores = true;
        } else if eq_ic(a, "limit") && i + 2 < args.len() {
            spec.offset = match parse_int(&args[i + 1])? {
                o if o < 0 => return Ok(RangeSpec { count: 0, ..spec }),
                o => o as u64,
            };
            spec.count = parse_int(&args[i + 2])?;
            limit = true;
            i += 2;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if limit && spec.by == By::Rank {
        return Err(Frame::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if spec.withscores && spec.by == By::Lex {
        return Err(Frame::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(spec)
}

fn default_spec(by: By, rev: bool) -> RangeSpec {
    RangeSpec {
        by,
        rev,
        offset: 0,
        count: -1,
        withscores: false,
    }
}

fn range_generic(ctx: &mut Ctx<'_>, args: &[Bytes], by: By, rev: bool, full: bool) -> Frame {
    let spec = match parse_range_opts(&args[4..], default_spec(by, rev), full) {
        Ok(s) => s,
        Err(f) => return f,
    };
    match run_range(ctx, &args[1], &args[2], &args[3], &spec) {
        Ok(items) => members_reply(ctx.session.proto, items, spec.withscores),
        Err(f) => f,
    }
}

pub fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Rank, false, true)
}
pub fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Rank, true, false)
}
pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Score, false, false)
}
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Score, true, false)
}
pub fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Lex, false, false)
}
pub fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    range_generic(ctx, args, By::Lex, true, false)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let spec = match parse_range_opts(&args[5..], default_spec(By::Rank, false), true) {
        Ok(s) if s.withscores => return syntax_error(),
        Ok(s) => s,
        Err(f) => return f,
    };
    let items = match run_range(ctx, &args[2], &args[3], &args[4], &spec) {
        Ok(i) => i,
        Err(f) => return f,
    };
    let existed = ctx.existed_for_events(&args[1]);
    match ctx.db.zstore(ctx.session.db, &args[1], &items) {
        Ok(n) => {
            ctx.notify_stored(notify::ZSET, "zrangestore", &args[1], n, existed);
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

fn count_generic(ctx: &mut Ctx<'_>, args: &[Bytes], by: By) -> Frame {
    match run_range(ctx, &args[1], &args[2], &args[3], &default_spec(by, false)) {
        Ok(items) => Frame::Integer(items.len() as i64),
        Err(f) => f,
    }
}

pub fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    count_generic(ctx, args, By::Score)
}
pub fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    count_generic(ctx, args, By::Lex)
}

fn remrange(ctx: &mut Ctx<'_>, args: &[Bytes], by: By, event: &str) -> Frame {
    let spec = default_spec(by, false);
    // Validate arguments before taking the lock.
    let probe = match by {
        By::Rank => parse_int(&args[2]).and(parse_int(&args[3])).map(|_| ()),
        By::Score => match (parse_score_bound(&args[2]), parse_score_bound(&args[3])) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(Frame::error("ERR min or max is not a float")),
        },
        By::Lex => match (parse_lex_bound(&args[2]), parse_lex_bound(&args[3])) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(Frame::error("ERR min or max not valid string range item")),
        },
    };
    if let Err(f) = probe {
        return f;
    }
    let db = ctx.session.db;
    let key = args[1].clone();
    let (a, b) = (args[2].clone(), args[3].clone());
    let result = ctx.db.zrange_remove(db, &key, |st| match by {
        By::Rank => st.zrange_by_rank(
            db,
            &key,
            parse_int(&a).unwrap_or(0),
            parse_int(&b).unwrap_or(-1),
            false,
        ),
        By::Score => match (parse_score_bound(&a), parse_score_bound(&b)) {
            (Some(min), Some(max)) => st.zrange_by_score(db, &key, min, max, false, 0, spec.count),
            _ => Ok(Vec::new()),
        },
        By::Lex => match (parse_lex_bound(&a), parse_lex_bound(&b)) {
            (Some(min), Some(max)) => st.zrange_by_lex(db, &key, &min, &max, false, 0, spec.count),
            _ => Ok(Vec::new()),
        },
    });
    match result {
        Ok(v) => {
            if !v.is_empty() {
                removed(ctx, event, &key);
            }
            Frame::Integer(v.len() as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    remrange(ctx, args, By::Rank, "zremrangebyrank")
}
pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    remrange(ctx, args, By::Score, "zremrangebyscore")
}
pub fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    remrange(ctx, args, By::Lex, "zremrangebylex")
}

fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> Frame {
    let count = match super::parse_pop_count(args) {
        Ok(c) => c.map(|c| c as i64),
        Err(f) => return f,
    };
    let n = count.unwrap_or(1);
    let db = ctx.session.db;
    let key = args[1].clone();
    let result = ctx.db.zpop(db, &key, n as u64, max);
    if result.as_ref().is_ok_and(|items| !items.is_empty()) {
        removed(ctx, if max { "zpopmax" } else { "zpopmin" }, &key);
    }
    let proto = ctx.session.proto;
    match result {
        Ok(items) if count.is_none() && proto == Protocol::Resp3 => {
            match items.into_iter().next() {
                Some((m, s)) => Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]),
                None => Frame::Array(vec![]),
            }
        }
        Ok(items) => {
            // RESP2: flat member, score list; RESP3 with a count: pairs.
            members_reply(proto, items, true)
        }
        Err(e) => storage_error(e),
    }
}

pub fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    pop(ctx, args, false)
}
pub fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    pop(ctx, args, true)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (cursor, pattern, count) = match super::hashes::parse_scan_args(args) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let after = super::hashes::resume_position(ctx, &args[1], cursor);
    let (items, next) = match ctx.db.zscan(
        ctx.session.db,
        &args[1],
        after.as_deref(),
        count,
        pattern.as_deref(),
    ) {
        Ok(x) => x,
        Err(e) => return storage_error(e),
    };
    let next = super::hashes::save_position(ctx, &args[1], next);
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        out.push(Frame::Bulk(m));
        out.push(Frame::bulk(resp::format_double(s)));
    }
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(out)])
}

/// Parses `numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
/// starting at `args[0]` = numkeys. `algebra` allows WEIGHTS/AGGREGATE (not for ZDIFF),
/// `withscores` allows WITHSCORES (not for the STORE forms).
#[allow(clippy::type_complexity)]
fn parse_combine(
    args: &[Bytes],
    name: &str,
    algebra: bool,
    withscores_ok: bool,
) -> Result<(Vec<Bytes>, Vec<f64>, Aggregate, bool), Frame> {
    let n = match parse_int(&args[0]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) => {
            return Err(Frame::Error(format!(
                "ERR at least 1 input key is needed for '{name}' command"
            )))
        }
        Err(f) => return Err(f),
    };
    if n > args.len() - 1 {
        return Err(syntax_error());
    }
    let keys = args[1..1 + n].to_vec();
    let mut weights = Vec::new();
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut i = 1 + n;
    while i < args.len() {
        let a = &args[i];
        if algebra && eq_ic(a, "weights") && i + n < args.len() {
            for w in &args[i + 1..=i + n] {
                match parse_score(w) {
                    Some(v) => weights.push(v),
                    None => return Err(Frame::error("ERR weight value is not a float")),
                }
            }
            i += n + 1;
        } else if algebra && eq_ic(a, "aggregate") && i + 1 < args.len() {
            let v = &args[i + 1];
            agg = if eq_ic(v, "sum") {
                Aggregate::Sum
            } else if eq_ic(v, "min") {
                Aggregate::Min
            } else if eq_ic(v, "max") {
                Aggregate::Max
            } else {
                return Err(syntax_error());
            };
            i += 2;
        } else if withscores_ok && eq_ic(a, "withscores") {
            withscores = true;
            i += 1;
        } else {
            return Err(syntax_error());
        }
    }
    Ok((keys, weights, agg, withscores))
}

fn combine(ctx: &mut Ctx<'_>, args: &[Bytes], op: ZOp, name: &str) -> Frame {
    let (keys, weights, agg, withscores) =
        match parse_combine(&args[1..], name, op != ZOp::Diff, true) {
            Ok(x) => x,
            Err(f) => return f,
        };
    match ctx.db.zcombine(ctx.session.db, op, &keys, &weights, agg) {
        Ok(items) => members_reply(ctx.session.proto, items, withscores),
        Err(e) => storage_error(e),
    }
}

fn combine_store(ctx: &mut Ctx<'_>, args: &[Bytes], op: ZOp, name: &str) -> Frame {
    let (keys, weights, agg, _) = match parse_combine(&args[2..], name, op != ZOp::Diff, false) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let existed = ctx.existed_for_events(&args[1]);
    match ctx
        .db
        .zcombine_store(ctx.session.db, op, &args[1], &keys, &weights, agg)
    {
        Ok(n) => {
            ctx.notify_stored(notify::ZSET, name, &args[1], n, existed);
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, args, ZOp::Union, "zunion")
}
pub fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, args, ZOp::Inter, "zinter")
}
pub fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine(ctx, args, ZOp::Diff, "zdiff")
}
pub fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, args, ZOp::Union, "zunionstore")
}
pub fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, args, ZOp::Inter, "zinterstore")
}
pub fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    combine_store(ctx, args, ZOp::Diff, "zdiffstore")
}

/// ZRANDMEMBER key [count [WITHSCORES]]: as HRANDFIELD (positive count: distinct members,
/// negative: may repeat).
pub fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    use rand::Rng;
    let (count, withscores) = match super::parse_rand_args(args, "withscores") {
        Ok(x) => x,
        Err(f) => return f,
    };
    let all = match ctx.db.zall(ctx.session.db, &args[1]) {
        Ok(a) => a,
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
    members_reply(ctx.session.proto, chosen, withscores)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let numkeys = match parse_int(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        _ => return Frame::error("ERR numkeys should be greater than 0"),
    };
    if args.len() < 2 + numkeys + 1 {
        return syntax_error();
    }
    let keys = &args[2..2 + numkeys];
    let where_ = &args[2 + numkeys];
    let max = if eq_ic(where_, "max") {
        true
    } else if eq_ic(where_, "min") {
        false
    } else {
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
    let proto = ctx.session.proto;
    match ctx.db.zmpop(ctx.session.db, keys, max, count) {
        Ok(None) => Frame::NullArray,
        Ok(Some((k, items))) => {
            removed(ctx, if max { "zpopmax" } else { "zpopmin" }, &k);
            Frame::Array(vec![
                Frame::Bulk(k),
                Frame::Array(
                    items
                        .into_iter()
                        .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), score_frame(proto, s)]))
                        .collect(),
                ),
            ])
        }
        Err(e) => storage_error(e),
    }
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]: the size of the intersection (sets count
/// as sorted sets), stopping at `limit` when it is not 0. As in Redis, the keys' types are
/// checked before the options.
pub fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let numkeys = match parse_int(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) => {
            return Frame::error("ERR at least 1 input key is needed for 'zintercard' command")
        }
        Err(f) => return f,
    };
    if numkeys > args.len() - 2 {
        return syntax_error();
    }
    let keys = &args[2..2 + numkeys];
    let items = match ctx
        .db
        .zcombine(ctx.session.db, ZOp::Inter, keys, &[], Aggregate::Sum)
    {
        Ok(items) => items,
        Err(e) => return storage_error(e),
    };
    let limit = match super::parse_card_limit(args, 2 + numkeys) {
        Ok(l) => l,
        Err(f) => return f,
    };
    let n = if limit > 0 {
        items.len().min(limit)
    } else {
        items.len()
    };
    Frame::Integer(n as i64)
}
