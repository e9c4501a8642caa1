//! GEO commands: positions stored in a sorted set under Redis's 52-bit geohash scores (see
//! `geohash`), so ZRANGE, ZSCORE and every other sorted-set command see what Redis shows.
//! A search scans only the score ranges of the nine cells around its centre.

use bytes::Bytes;
use resp::{Frame, Protocol};
use storage::ZaddFlags;

use super::geohash::{self, Search, Shape};
use super::{eq_ic, storage_error, syntax_error, Ctx};

fn parse_f64(b: &[u8]) -> Option<f64> {
    storage::num::parse_f64(b).filter(|v| !v.is_nan())
}

fn not_float() -> Frame {
    Frame::error("ERR value is not a valid float")
}

/// A longitude and latitude argument pair, checked against Redis's limits.
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Frame> {
    let (Some(x), Some(y)) = (parse_f64(lon), parse_f64(lat)) else {
        return Err(not_float());
    };
    if !geohash::valid(x, y) {
        return Err(Frame::Error(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// Meters per unit.
fn parse_unit(u: &[u8]) -> Result<f64, Frame> {
    if eq_ic(u, "m") {
        Ok(1.0)
    } else if eq_ic(u, "km") {
        Ok(1000.0)
    } else if eq_ic(u, "ft") {
        Ok(0.3048)
    } else if eq_ic(u, "mi") {
        Ok(1609.34)
    } else {
        Err(Frame::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `<radius> <unit>`: (radius, meters per unit).
fn parse_distance(r: &[u8], unit: &[u8]) -> Result<(f64, f64), Frame> {
    let radius = parse_f64(r).ok_or_else(|| Frame::error("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(Frame::error("ERR radius cannot be negative"));
    }
    Ok((radius, parse_unit(unit)?))
}

/// `<width> <height> <unit>`: (width, height, meters per unit).
fn parse_box(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), Frame> {
    let width = parse_f64(w).ok_or_else(|| Frame::error("ERR need numeric width"))?;
    let height = parse_f64(h).ok_or_else(|| Frame::error("ERR need numeric height"))?;
    if width < 0.0 || height < 0.0 {
        return Err(Frame::error("ERR height or width cannot be negative"));
    }
    Ok((width, height, parse_unit(unit)?))
}

/// A coordinate as Redis replies one: a bulk string in RESP2, a double in RESP3.
fn coordinate(proto: Protocol, v: f64) -> Frame {
    let text = geohash::human(v);
    match proto {
        Protocol::Resp2 => Frame::bulk(text),
        Protocol::Resp3 => Frame::Raw(Bytes::from(format!(",{text}\r\n"))),
    }
}

/// A distance as Redis replies one: four decimals, always a bulk string.
fn distance_frame(d: f64) -> Frame {
    Frame::bulk(format!("{d:.4}"))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]
pub fn geoadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut flags = ZaddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        if eq_ic(&args[i], "nx") {
            flags.nx = true;
        } else if eq_ic(&args[i], "xx") {
            flags.xx = true;
        } else if eq_ic(&args[i], "ch") {
            ch = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(3) || (flags.nx && flags.xx) {
        return syntax_error();
    }
    let mut pairs = Vec::with_capacity(rest.len() / 3);
    for c in rest.chunks(3) {
        let (lon, lat) = match parse_lonlat(&c[0], &c[1]) {
            Ok(p) => p,
            Err(f) => return f,
        };
        let Some(score) = geohash::score_of(lon, lat) else {
            return Frame::Error(format!(
                "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
            ));
        };
        pairs.push((score as f64, c[2].clone()));
    }
    match ctx.db.zadd(ctx.session.db, &args[1], flags, &pairs) {
        Ok(o) => {
            super::zsets::zadded(ctx, &args[1], &o, false);
            Frame::Integer((o.added + if ch { o.changed } else { 0 }) as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let per_meter = match args.len() {
        4 => 1.0,
        5 => match parse_unit(&args[4]) {
            Ok(u) => u,
            Err(f) => return f,
        },
        _ => return syntax_error(),
    };
    let scores = match ctx.db.zmscore(ctx.session.db, &args[1], &args[2..4]) {
        Ok(s) => s,
        Err(e) => return storage_error(e),
    };
    let (Some(a), Some(b)) = (scores[0], scores[1]) else {
        return Frame::Null;
    };
    match (geohash::decode_score(a), geohash::decode_score(b)) {
        (Some((x1, y1)), Some((x2, y2))) => {
            distance_frame(geohash::distance(x1, y1, x2, y2) / per_meter)
        }
        _ => Frame::Null,
    }
}

/// GEOHASH key [member ...]
pub fn geohash(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.zmscore(ctx.session.db, &args[1], &args[2..]) {
        Ok(scores) => Frame::Array(
            scores
                .into_iter()
                .map(|s| match s.and_then(geohash::standard_string) {
                    Some(h) => Frame::bulk(h),
                    None => Frame::Null,
                })
                .collect(),
        ),
        Err(e) => storage_error(e),
    }
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let proto = ctx.session.proto;
    match ctx.db.zmscore(ctx.session.db, &args[1], &args[2..]) {
        Ok(scores) => Frame::Array(
            scores
                .into_iter()
                .map(|s| match s.and_then(geohash::decode_score) {
                    Some((lon, lat)) => {
                        Frame::Array(vec![coordinate(proto, lon), coordinate(proto, lat)])
                    }
                    None => Frame::NullArray,
                })
                .collect(),
        ),
        Err(e) => storage_error(e),
    }
}

/// Which search command runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS[_RO] key longitude latitude radius unit ...
    Radius { store_allowed: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    ByMember { store_allowed: bool },
    /// GEOSEARCH key FROMMEMBER|FROMLONLAT ... BYRADIUS|BYBOX ...
    Search,
    /// GEOSEARCHSTORE destination source ...
    SearchStore,
}

impl Kind {
    fn is_search(self) -> bool {
        matches!(self, Kind::Search | Kind::SearchStore)
    }

    fn store_allowed(self) -> bool {
        matches!(
            self,
            Kind::Radius {
                store_allowed: true
            } | Kind::ByMember {
                store_allowed: true
            }
        )
    }
}

pub fn georadius(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(
        ctx,
        args,
        Kind::Radius {
            store_allowed: true,
        },
    )
}

pub fn georadius_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(
        ctx,
        args,
        Kind::Radius {
            store_allowed: false,
        },
    )
}

pub fn georadiusbymember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(
        ctx,
        args,
        Kind::ByMember {
            store_allowed: true,
        },
    )
}

pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(
        ctx,
        args,
        Kind::ByMember {
            store_allowed: false,
        },
    )
}

pub fn geosearch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(ctx, args, Kind::Search)
}

pub fn geosearchstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    search(ctx, args, Kind::SearchStore)
}

/// The argument position of the destination of GEORADIUS[BYMEMBER] ... STORE|STOREDIST key
/// (the last one given wins, as in Redis), or of GEOSEARCHSTORE's.
pub fn store_position(args: &[Bytes]) -> Option<usize> {
    let name = args.first()?;
    if eq_ic(name, "geosearchstore") {
        return (args.len() > 1).then_some(1);
    }
    let from = if eq_ic(name, "georadius") {
        6
    } else if eq_ic(name, "georadiusbymember") {
        5
    } else {
        return None;
    };
    let mut last = None;
    let mut i = from;
    while i + 1 < args.len() {
        if eq_ic(&args[i], "store") || eq_ic(&args[i], "storedist") {
            last = Some(i + 1);
            i += 2;
        } else if eq_ic(&args[i], "count") {
            i += 2;
        } else {
            i += 1;
        }
    }
    last
}

/// The destination key of a search that stores its result.
pub fn store_key(args: &[Bytes]) -> Option<&Bytes> {
    store_position(args).and_then(|p| args.get(p))
}

/// A point found by a search.
struct Found {
    member: Bytes,
    lon: f64,
    lat: f64,
    /// Meters from the centre (then in the search's unit, for the reply).
    dist: f64,
    score: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// The position of a member (a search from a member).
fn member_position(ctx: &Ctx<'_>, key: &[u8], member: &Bytes) -> Result<(f64, f64), Frame> {
    let not_found = || Frame::error("ERR could not decode requested zset member");
    let scores = ctx
        .db
        .zmscore(ctx.session.db, key, std::slice::from_ref(member))
        .map_err(storage_error)?;
    scores
        .first()
        .copied()
        .flatten()
        .and_then(geohash::decode_score)
        .ok_or_else(not_found)
}

fn search(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> Frame {
    // A search that stores: its event (or `del` of a destination it emptied), as Redis.
    let (dst, event) = match kind {
        Kind::Radius {
            store_allowed: true,
        }
        | Kind::ByMember {
            store_allowed: true,
        } => (store_key(args).cloned(), "georadiusstore"),
        Kind::SearchStore => (store_key(args).cloned(), "geosearchstore"),
        _ => (None, ""),
    };
    let existed = dst.as_ref().is_some_and(|d| ctx.existed_for_events(d));
    let reply = match search_inner(ctx, args, kind) {
        Ok(f) | Err(f) => f,
    };
    if let (Some(dst), Frame::Integer(n)) = (&dst, &reply) {
        ctx.notify_stored(crate::notify::ZSET, event, dst, *n as u64, existed);
    }
    reply
}

fn search_inner(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> Result<Frame, Frame> {
    let ks = ctx.session.db;
    let src = &args[if kind == Kind::SearchStore { 2 } else { 1 }];
    // The source's type is checked before any argument, as Redis does.
    let exists = ctx.db.zcard(ks, src).map_err(storage_error)? > 0;
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let mut store: Option<&Bytes> = None;
    let mut storedist = false;
    let base = match kind {
        Kind::Radius { .. } => {
            center = Some(parse_lonlat(&args[2], &args[3])?);
            let (r, conv) = parse_distance(&args[4], &args[5])?;
            shape = Some((Shape::Radius(r), conv));
            6
        }
        Kind::ByMember { .. } => {
            if exists {
                center = Some(member_position(ctx, src, &args[2])?);
                let (r, conv) = parse_distance(&args[3], &args[4])?;
                shape = Some((Shape::Radius(r), conv));
            }
            5
        }
        Kind::Search => 2,
        Kind::SearchStore => {
            store = Some(&args[1]);
            3
        }
    };
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let rest = &args[base.min(args.len())..];
    let remaining = rest.len();
    let mut i = 0;
    while i < remaining {
        let a = &rest[i];
        if eq_ic(a, "withdist") {
            withdist = true;
        } else if eq_ic(a, "withhash") {
            withhash = true;
        } else if eq_ic(a, "withcoord") {
            withcoord = true;
        } else if eq_ic(a, "any") {
            any = true;
        } else if eq_ic(a, "asc") {
            sort = Sort::Asc;
        } else if eq_ic(a, "desc") {
            sort = Sort::Desc;
        } else if eq_ic(a, "count") && i + 1 < remaining {
            count = super::parse_int(&rest[i + 1])?;
            if count <= 0 {
                return Err(Frame::error("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (eq_ic(a, "store") || eq_ic(a, "storedist"))
            && i + 1 < remaining
            && kind.store_allowed()
        {
            store = Some(&rest[i + 1]);
            storedist = eq_ic(a, "storedist");
            i += 1;
        } else if eq_ic(a, "storedist") && kind == Kind::SearchStore {
            storedist = true;
        } else if eq_ic(a, "frommember") && i + 1 < remaining && kind.is_search() && !fromloc {
            if exists {
                center = Some(member_position(ctx, src, &rest[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if eq_ic(a, "fromlonlat") && i + 2 < remaining && kind.is_search() && !frommember {
            center = Some(parse_lonlat(&rest[i + 1], &rest[i + 2])?);
            fromloc = true;
            i += 2;
        } else if eq_ic(a, "byradius") && i + 2 < remaining && kind.is_search() && !bybox {
            let (r, conv) = parse_distance(&rest[i + 1], &rest[i + 2])?;
            shape = Some((Shape::Radius(r), conv));
            byradius = true;
            i += 2;
        } else if eq_ic(a, "bybox") && i + 3 < remaining && kind.is_search() && !byradius {
            let (w, h, conv) = parse_box(&rest[i + 1], &rest[i + 2], &rest[i + 3])?;
            shape = Some((
                Shape::Box {
                    width: w,
                    height: h,
                },
                conv,
            ));
            bybox = true;
            i += 3;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(Frame::Error(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Kind::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if kind.is_search() && !(frommember || fromloc) {
        return Err(Frame::Error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if kind.is_search() && !(byradius || bybox) {
        return Err(Frame::Error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Frame::error("ERR the ANY argument requires COUNT argument"));
    }
    let (Some((lon, lat)), Some((shape, conversion)), true) = (center, shape, exists) else {
        // No source: an empty reply, or the destination deleted.
        return Ok(match store {
            Some(dst) => {
                ctx.db.zstore(ks, dst, &[]).map_err(storage_error)?;
                Frame::Integer(0)
            }
            None => Frame::Array(Vec::new()),
        });
    };
    if count != 0 && sort == Sort::None && !any {
        // The closest `count` are meant: sorted (not needed with ANY).
        sort = Sort::Asc;
    }
    let search = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found: Vec<Found> = Vec::new();
    for cell in search.cells() {
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_range(cell);
        ctx.db
            .zscan_scores(ks, src, min as f64, max as f64, |m, score| {
                if let Some((x, y)) = geohash::decode_score(score) {
                    if let Some(dist) = search.admits(x, y) {
                        found.push(Found {
                            member: Bytes::copy_from_slice(m),
                            lon: x,
                            lat: y,
                            dist,
                            score,
                        });
                    }
                }
                !(limit > 0 && found.len() >= limit)
            })
            .map_err(storage_error)?;
    }
    if found.is_empty() && store.is_none() {
        return Ok(Frame::Array(Vec::new()));
    }
    match sort {
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    for f in &mut found {
        f.dist /= conversion;
    }
    if let Some(dst) = store {
        let mut items: Vec<(Bytes, f64)> = Vec::with_capacity(found.len());
        let mut seen = std::collections::HashSet::new();
        for f in &found {
            if seen.insert(f.member.clone()) {
                items.push((f.member.clone(), if storedist { f.dist } else { f.score }));
            }
        }
        ctx.db.zstore(ks, dst, &items).map_err(storage_error)?;
        return Ok(Frame::Integer(found.len() as i64));
    }
    let proto = ctx.session.proto;
    let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
    Ok(Frame::Array(
        found
            .into_iter()
            .map(|f| {
                if options == 0 {
                    return Frame::Bulk(f.member);
                }
                let mut item = Vec::with_capacity(options + 1);
                item.push(Frame::Bulk(f.member));
                if withdist {
                    item.push(distance_frame(f.dist));
                }
                if withhash {
                    item.push(Frame::Integer(f.score as i64));
                }
                if withcoord {
                    item.push(Frame::Array(vec![
                        coordinate(proto, f.lon),
                        coordinate(proto, f.lat),
                    ]));
                }
                Frame::Array(item)
            })
            .collect(),
    ))
}
