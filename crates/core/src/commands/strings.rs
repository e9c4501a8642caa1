//! String commands: argument parsing and replies; the semantics live in `storage::strings`.

use bytes::Bytes;
use resp::Frame;
use storage::{now_ms, SetCond, SetExpiry};

use super::{bulk_or_null, eq_ic, not_integer, parse_int, storage_error, syntax_error, Ctx};
use crate::notify;

fn invalid_expire(cmd: &str) -> Frame {
    Frame::Error(format!("ERR invalid expire time in '{cmd}' command"))
}

/// Converts a relative or absolute EX/PX/EXAT/PXAT argument to an absolute unix time in ms,
/// with Redis's checks (positive, no overflow).
pub(crate) fn absolute_expiry(
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Result<u64, Frame> {
    let v = parse_int(arg)?;
    if v <= 0 {
        return Err(invalid_expire(cmd));
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(|| invalid_expire(cmd))?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now_ms() as i64)
            .ok_or_else(|| invalid_expire(cmd))?
    };
    Ok(at as u64)
}

/// Parses the expiry options shared by SET and GETEX. `allow_keepttl` for SET,
/// `allow_persist` for GETEX.
fn parse_expiry_opt(args: &[Bytes], i: &mut usize, cmd: &str) -> Result<Option<SetExpiry>, Frame> {
    let a = &args[*i];
    let (unit, abs) = if eq_ic(a, "ex") {
        (1000, false)
    } else if eq_ic(a, "px") {
        (1, false)
    } else if eq_ic(a, "exat") {
        (1000, true)
    } else if eq_ic(a, "pxat") {
        (1, true)
    } else {
        return Ok(None);
    };
    let Some(v) = args.get(*i + 1) else {
        return Err(syntax_error());
    };
    *i += 1;
    Ok(Some(SetExpiry::At(absolute_expiry(v, unit, abs, cmd)?)))
}

pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.get(ctx.session.db, &args[1]) {
        Ok(v) => {
            hit_or_miss(ctx, v.is_some());
            bulk_or_null(v)
        }
        Err(e) => storage_error(e),
    }
}

fn hit_or_miss(ctx: &Ctx<'_>, hit: bool) {
    let s = &ctx.shared.stats;
    if hit {
        ctx.shared.bump(&s.keyspace_hits, 1);
    } else {
        ctx.shared.bump(&s.keyspace_misses, 1);
    }
}

pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut cond = SetCond::Always;
    let mut expiry = SetExpiry::Clear;
    let mut expiry_given = false;
    let mut get = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if eq_ic(a, "nx") && cond == SetCond::Always {
            cond = SetCond::Nx;
        } else if eq_ic(a, "xx") && cond == SetCond::Always {
            cond = SetCond::Xx;
        } else if eq_ic(a, "get") {
            get = true;
        } else if eq_ic(a, "keepttl") && !expiry_given {
            expiry = SetExpiry::Keep;
            expiry_given = true;
        } else if !expiry_given {
            match parse_expiry_opt(args, &mut i, "set") {
                Ok(Some(e)) => {
                    expiry = e;
                    expiry_given = true;
                }
                Ok(None) => return syntax_error(),
                Err(f) => return f,
            }
        } else {
            return syntax_error();
        }
        i += 1;
    }
    let out = ctx
        .db
        .set(ctx.session.db, &args[1], args[2].clone(), cond, expiry, get);
    if out.as_ref().is_ok_and(|o| o.written) {
        ctx.notify(notify::STRING, "set", &args[1]);
        if matches!(expiry, SetExpiry::At(_)) {
            ctx.notify(notify::GENERIC, "expire", &args[1]);
        }
        if expiry_given {
            ctx.log_as(|db, ks| super::effects::value_with_expiry(db, ks, &args[1], &args[2]));
        }
    }
    match out {
        Ok(out) if get => bulk_or_null(out.old),
        Ok(out) if out.written => Frame::ok(),
        Ok(_) => Frame::Null,
        Err(e) => storage_error(e),
    }
}

pub fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.set(
        ctx.session.db,
        &args[1],
        args[3 - 1].clone(),
        SetCond::Nx,
        SetExpiry::Clear,
        false,
    ) {
        Ok(out) => {
            if out.written {
                ctx.notify(notify::STRING, "set", &args[1]);
            }
            Frame::Integer(out.written as i64)
        }
        Err(e) => storage_error(e),
    }
}

fn setex_generic(ctx: &mut Ctx<'_>, args: &[Bytes], unit: i64, cmd: &str) -> Frame {
    let at = match absolute_expiry(&args[2], unit, false, cmd) {
        Ok(t) => t,
        Err(f) => return f,
    };
    match ctx.db.set(
        ctx.session.db,
        &args[1],
        args[3].clone(),
        SetCond::Always,
        SetExpiry::At(at),
        false,
    ) {
        Ok(_) => {
            ctx.notify(notify::STRING, "set", &args[1]);
            ctx.notify(notify::GENERIC, "expire", &args[1]);
            ctx.log_as(|db, ks| super::effects::value_with_expiry(db, ks, &args[1], &args[3]));
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

pub fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    setex_generic(ctx, args, 1000, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    setex_generic(ctx, args, 1, "psetex")
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.mget(ctx.session.db, &args[1..]) {
        Ok(vals) => Frame::Array(vals.into_iter().map(bulk_or_null).collect()),
        Err(e) => storage_error(e),
    }
}

fn mset_generic(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool, name: &str) -> Result<bool, Frame> {
    if args.len().is_multiple_of(2) {
        return Err(super::wrong_arity(name));
    }
    let pairs: Vec<(Bytes, Bytes)> = args[1..]
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    let done = ctx
        .db
        .mset(ctx.session.db, &pairs, nx)
        .map_err(storage_error)?;
    if done {
        for (k, _) in &pairs {
            ctx.notify(notify::STRING, "set", k);
        }
    }
    Ok(done)
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match mset_generic(ctx, args, false, "mset") {
        Ok(_) => Frame::ok(),
        Err(f) => f,
    }
}

pub fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match mset_generic(ctx, args, true, "msetnx") {
        Ok(done) => Frame::Integer(done as i64),
        Err(f) => f,
    }
}

pub fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.set(
        ctx.session.db,
        &args[1],
        args[2].clone(),
        SetCond::Always,
        SetExpiry::Clear,
        true,
    ) {
        Ok(out) => {
            ctx.notify(notify::STRING, "set", &args[1]);
            bulk_or_null(out.old)
        }
        Err(e) => storage_error(e),
    }
}

pub fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.getdel(ctx.session.db, &args[1]) {
        Ok(v) => {
            if v.is_some() {
                ctx.notify(notify::GENERIC, "del", &args[1]);
            }
            bulk_or_null(v)
        }
        Err(e) => storage_error(e),
    }
}

pub fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut expiry = None;
    let mut i = 2;
    while i < args.len() {
        if expiry.is_some() {
            return syntax_error();
        }
        if eq_ic(&args[i], "persist") {
            expiry = Some(SetExpiry::Clear);
        } else {
            match parse_expiry_opt(args, &mut i, "getex") {
                Ok(Some(e)) => expiry = Some(e),
                Ok(None) => return syntax_error(),
                Err(f) => return f,
            }
        }
        i += 1;
    }
    // PERSIST's event is for a key that had an expiry.
    let had_ttl = matches!(expiry, Some(SetExpiry::Clear))
        && ctx.notifying()
        && ctx
            .db
            .get_meta(ctx.session.db, &args[1], ctx.db.now_ms())
            .is_ok_and(|m| m.is_some_and(|m| m.expire_ms != 0));
    let persist = matches!(expiry, Some(SetExpiry::Clear));
    match ctx.db.getex(ctx.session.db, &args[1], expiry) {
        Ok(v) => {
            if v.is_some() {
                if persist {
                    if had_ttl {
                        ctx.notify(notify::GENERIC, "persist", &args[1]);
                    }
                } else if args.len() > 2 {
                    if ctx.key_exists(&args[1]) {
                        ctx.notify(notify::GENERIC, "expire", &args[1]);
                    } else {
                        ctx.notify(notify::GENERIC, "del", &args[1]);
                    }
                }
            }
            ctx.log_as(|db, ks| super::effects::expiry_of(db, ks, &args[1]));
            bulk_or_null(v)
        }
        Err(e) => storage_error(e),
    }
}

pub fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.append(ctx.session.db, &args[1], &args[2]) {
        Ok(n) => {
            ctx.notify(notify::STRING, "append", &args[1]);
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.strlen(ctx.session.db, &args[1]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> Frame {
    match ctx.db.incr_by(ctx.session.db, key, delta) {
        Ok(n) => {
            ctx.notify(notify::STRING, "incrby", key);
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    incr_generic(ctx, &args[1], 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    incr_generic(ctx, &args[1], -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match parse_int(&args[2]) {
        Ok(d) => incr_generic(ctx, &args[1], d),
        Err(f) => f,
    }
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match parse_int(&args[2]) {
        Ok(i64::MIN) => Frame::error("ERR decrement would overflow"),
        Ok(d) => incr_generic(ctx, &args[1], -d),
        Err(f) => f,
    }
}

pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let Some(delta) = storage::num::parse_f64(&args[2]) else {
        return Frame::error("ERR value is not a valid float");
    };
    match ctx.db.incr_by_float(ctx.session.db, &args[1], delta) {
        Ok(v) => {
            ctx.notify(notify::STRING, "incrbyfloat", &args[1]);
            // The result, not the increment: float formatting is replayed exactly.
            ctx.log_as(|_, _| vec![super::effects::cmd(&[b"SET", &args[1], &v, b"KEEPTTL"])]);
            Frame::Bulk(v)
        }
        Err(e) => storage_error(e),
    }
}

pub fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (Ok(start), Ok(end)) = (parse_int(&args[2]), parse_int(&args[3])) else {
        return not_integer();
    };
    match ctx.db.getrange(ctx.session.db, &args[1], start, end) {
        Ok(v) => Frame::Bulk(v),
        Err(e) => storage_error(e),
    }
}

pub fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let offset = match parse_int(&args[2]) {
        Ok(o) if o < 0 => return Frame::error("ERR offset is out of range"),
        Ok(o) => o as usize,
        Err(f) => return f,
    };
    match ctx.db.setrange(ctx.session.db, &args[1], offset, &args[3]) {
        Ok(n) => {
            // An empty value changes nothing (no event, as Redis).
            if !args[3].is_empty() {
                ctx.notify(notify::STRING, "setrange", &args[1]);
            }
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common
/// subsequence of two strings (missing keys are empty strings), as Redis 7.0 computes it:
/// the dynamic-programming table, then a walk back from its end that emits matched ranges
/// from the last to the first.
pub fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let storage = ctx.db;
    let mut values = Vec::with_capacity(2);
    for key in &args[1..3] {
        match storage.get(ctx.session.db, key) {
            Ok(v) => values.push(v.unwrap_or_default()),
            Err(storage::Error::WrongType) => {
                return Frame::error("ERR The specified keys must contain string values")
            }
            Err(e) => return storage_error(e),
        }
    }
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0u64);
    let mut i = 3;
    while i < args.len() {
        if eq_ic(&args[i], "len") {
            getlen = true;
        } else if eq_ic(&args[i], "idx") {
            getidx = true;
        } else if eq_ic(&args[i], "withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(&args[i], "minmatchlen") && i + 1 < args.len() {
            match parse_int(&args[i + 1]) {
                Ok(v) => minmatchlen = v.max(0) as u64,
                Err(f) => return f,
            }
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if getlen && getidx {
        return Frame::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (a, b) = (&values[0], &values[1]);
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u128 + 1) * (blen as u128 + 1);
    let max = ctx
        .shared
        .hot
        .max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as u128;
    if cells * 4 > max {
        return Frame::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    let w = blen + 1;
    let mut dp = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[alen * w + blen];
    if getlen {
        return Frame::Integer(total as i64);
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // `arange_start == alen` means no range is open.
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = (arange_end - arange_start + 1) as u64;
            if getidx && (minmatchlen == 0 || match_len >= minmatchlen) {
                let mut m = vec![
                    Frame::Array(vec![
                        Frame::Integer(arange_start as i64),
                        Frame::Integer(arange_end as i64),
                    ]),
                    Frame::Array(vec![
                        Frame::Integer(brange_start as i64),
                        Frame::Integer(brange_end as i64),
                    ]),
                ];
                if withmatchlen {
                    m.push(Frame::Integer(match_len as i64));
                }
                matches.push(Frame::Array(m));
            }
            arange_start = alen;
        }
    }
    if getidx {
        Frame::Map(vec![
            (Frame::bulk_str("matches"), Frame::Array(matches)),
            (Frame::bulk_str("len"), Frame::Integer(total as i64)),
        ])
    } else {
        Frame::Bulk(Bytes::from(result))
    }
}
