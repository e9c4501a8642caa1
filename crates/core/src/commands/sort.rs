//! SORT and SORT_RO: sort the elements of a list, set or sorted set, numerically or
//! lexicographically, optionally by external keys (BY), projecting external keys (GET),
//! with LIMIT and STORE — Redis's rules, including BY without `*` (no sorting) and the
//! tie-break on equal scores (the elements compared as strings).

use std::cmp::Ordering;

use bytes::Bytes;
use resp::Frame;
use storage::KeyType;

use super::{eq_ic, parse_int, storage_error, syntax_error, Ctx};

struct Opts {
    by: Option<Bytes>,
    gets: Vec<Bytes>,
    limit: Option<(i64, i64)>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

/// `reads_all_keys`: whether the user may read every key (asked at the first BY pattern or
/// GET; Redis refuses those options otherwise, at the first one in argument order).
fn parse(
    args: &[Bytes],
    read_only: bool,
    reads_all_keys: impl Fn() -> bool,
) -> Result<Opts, Frame> {
    let allowed = std::cell::OnceCell::new();
    let allowed = || *allowed.get_or_init(&reads_all_keys);
    let mut o = Opts {
        by: None,
        gets: Vec::new(),
        limit: None,
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        let left = args.len() - i - 1;
        if eq_ic(a, "asc") {
            o.desc = false;
        } else if eq_ic(a, "desc") {
            o.desc = true;
        } else if eq_ic(a, "alpha") {
            o.alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            let off = parse_int(&args[i + 1])?;
            let count = parse_int(&args[i + 2])?;
            o.limit = Some((off, count));
            i += 2;
        } else if eq_ic(a, "store") && left >= 1 && !read_only {
            o.store = Some(args[i + 1].clone());
            i += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            if args[i + 1].contains(&b'*') && !allowed() {
                return Err(Frame::error(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(args[i + 1].clone());
            i += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            if !allowed() {
                return Err(Frame::error(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args[i + 1].clone());
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(o)
}

/// The value a BY/GET pattern names for one element: `#` is the element, `*` is replaced by
/// it (first `*` only), `key->field` reads a hash field. Anything missing or of another type
/// is `None`.
fn lookup(ctx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(Bytes::copy_from_slice(elem));
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| p + star + 1)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let st = &ctx.db;
    let found = match arrow {
        Some(a) => st
            .hget(ctx.session.db, &key, &pattern[a + 2..])
            .ok()
            .flatten(),
        None => st.get(ctx.session.db, &key).ok().flatten(),
    };
    if found.is_none() && crate::notify::key_misses_on(ctx.shared) && !ctx.key_exists(&key) {
        // Each key a pattern names is a read lookup of its own (`keymiss` as Redis).
        ctx.key_miss(&key);
    }
    found
}

fn score_error() -> Frame {
    Frame::error("ERR One or more scores can't be converted into double")
}

fn sort_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> Frame {
    let session = &*ctx.session;
    let reads_all_keys = || {
        super::lookup(&args[0]).is_some_and(|idx| crate::access::reads_all_keys(session, idx, args))
    };
    let o = match parse(args, read_only, reads_all_keys) {
        Ok(o) => o,
        Err(f) => return f,
    };
    let (ty, mut elems) = match ctx.db.sort_source(ctx.session.db, &args[1]) {
        Ok(Some(x)) => x,
        Ok(None) => (KeyType::List, Vec::new()),
        Err(e) => return storage_error(e),
    };
    let mut dontsort = o.by.as_ref().is_some_and(|p| !p.contains(&b'*'));
    let mut alpha = o.alpha;
    // A set has no order of its own: stored results are sorted to be deterministic.
    if dontsort && ty == KeyType::Set && o.store.is_some() {
        dontsort = false;
        alpha = true;
    }
    if dontsort {
        if (ty == KeyType::ZSet || ty == KeyType::List) && o.desc {
            elems.reverse();
        }
    } else {
        // Weights: numeric (missing = 0) or strings (missing sorts first with BY).
        let mut keyed: Vec<(Bytes, f64, Option<Bytes>)> = Vec::with_capacity(elems.len());
        for e in elems {
            let val = match &o.by {
                Some(p) => lookup(ctx, p, &e),
                _ => Some(e.clone()),
            };
            if alpha {
                keyed.push((e, 0.0, val));
            } else {
                let score = match val {
                    None => 0.0,
                    Some(v) => match storage::num::parse_f64(&v) {
                        Some(f) if !f.is_nan() => f,
                        _ => return score_error(),
                    },
                };
                keyed.push((e, score, None));
            }
        }
        keyed.sort_by(|a, b| {
            let c = if alpha {
                match (&a.2, &b.2) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
        elems = keyed.into_iter().map(|(e, _, _)| e).collect();
    }
    if let Some((off, count)) = o.limit {
        let n = elems.len() as i64;
        let start = off.clamp(0, n);
        let end = if count < 0 {
            n
        } else {
            start.saturating_add(count).min(n)
        };
        elems = elems[start as usize..end as usize].to_vec();
    }
    let out: Vec<Option<Bytes>> = if o.gets.is_empty() {
        elems.into_iter().map(Some).collect()
    } else {
        elems
            .iter()
            .flat_map(|e| o.gets.iter().map(|g| lookup(ctx, g, e)).collect::<Vec<_>>())
            .collect()
    };
    match o.store {
        Some(dst) => {
            let items: Vec<Bytes> = out.into_iter().map(|v| v.unwrap_or_default()).collect();
            let existed = ctx.existed_for_events(&dst);
            match ctx.db.list_replace(ctx.session.db, &dst, &items) {
                Ok(n) => {
                    ctx.notify_stored(crate::notify::LIST, "sortstore", &dst, n, existed);
                    Frame::Integer(n as i64)
                }
                Err(e) => storage_error(e),
            }
        }
        None => Frame::Array(
            out.into_iter()
                .map(|v| v.map_or(Frame::Null, Frame::Bulk))
                .collect(),
        ),
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
pub fn sort(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    sort_generic(ctx, args, false)
}

/// SORT_RO: SORT without STORE.
pub fn sort_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    sort_generic(ctx, args, true)
}
