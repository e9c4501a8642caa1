//! Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

use bytes::Bytes;
use resp::Frame;
use storage::bits::{self, BitOp, Field, FieldOp, FieldType, Overflow, MAX_BITS};

use crate::notify;

use super::{eq_ic, parse_int, storage_error, syntax_error, Ctx};

fn offset_error() -> Frame {
    Frame::error("ERR bit offset is not an integer or out of range")
}

fn parse_offset(b: &[u8]) -> Result<u64, Frame> {
    match parse_int(b) {
        Ok(n) if n >= 0 && (n as u64) < MAX_BITS => Ok(n as u64),
        _ => Err(offset_error()),
    }
}

pub fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let offset = match parse_offset(&args[2]) {
        Ok(o) => o,
        Err(f) => return f,
    };
    let bit = match &args[3][..] {
        b"0" => 0,
        b"1" => 1,
        _ => return Frame::error("ERR bit is not an integer or out of range"),
    };
    // The event is for a change: a new key, a longer string, or a bit that flipped (Redis).
    let len_before = if ctx.notifying() {
        ctx.db.strlen(ctx.session.db, &args[1]).ok()
    } else {
        None
    };
    let existed = len_before.is_some() && ctx.key_exists(&args[1]);
    match ctx.db.setbit(ctx.session.db, &args[1], offset, bit) {
        Ok(old) => {
            let grew = len_before.is_some_and(|l| offset / 8 >= l as u64);
            if !existed || grew || old != bit {
                ctx.notify(notify::STRING, "setbit", &args[1]);
            }
            Frame::Integer(old as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let offset = match parse_offset(&args[2]) {
        Ok(o) => o,
        Err(f) => return f,
    };
    match ctx.db.string_value(ctx.session.db, &args[1]) {
        Ok(v) => Frame::Integer(v.map_or(0, |v| bits::get_bit(&v, offset)) as i64),
        Err(e) => storage_error(e),
    }
}

/// `BYTE` (false) or `BIT` (true) at `args[i]`, if present.
fn parse_unit(args: &[Bytes], i: usize) -> Result<bool, Frame> {
    match args.get(i) {
        None => Ok(false),
        Some(a) if eq_ic(a, "byte") => Ok(false),
        Some(a) if eq_ic(a, "bit") => Ok(true),
        Some(_) => Err(syntax_error()),
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // Like Redis 7.0: a missing key answers 0 before the arguments are looked at.
    let v = match ctx.db.string_value(ctx.session.db, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Frame::Integer(0),
        Err(e) => return storage_error(e),
    };
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let (Ok(s), Ok(e)) = (parse_int(&args[2]), parse_int(&args[3])) else {
                return super::not_integer();
            };
            match parse_unit(args, 4) {
                Ok(bit) => Some((s, e, bit)),
                Err(f) => return f,
            }
        }
        _ => return syntax_error(),
    };
    Frame::Integer(bits::bitcount(&v, range))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let bit = match parse_int(&args[2]) {
        Ok(0) => 0u8,
        Ok(1) => 1,
        Ok(_) => return Frame::error("ERR The bit argument must be 1 or 0."),
        Err(f) => return f,
    };
    let v = match ctx.db.string_value(ctx.session.db, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Frame::Integer(if bit == 1 { -1 } else { 0 }),
        Err(e) => return storage_error(e),
    };
    if args.len() > 6 {
        return syntax_error();
    }
    let int_at =
        |i: usize| -> Result<Option<i64>, Frame> { args.get(i).map(|a| parse_int(a)).transpose() };
    let (start, end) = match (int_at(3), int_at(4)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(f), _) | (_, Err(f)) => return f,
    };
    let unit = match parse_unit(args, 5) {
        Ok(u) => u,
        Err(f) => return f,
    };
    Frame::Integer(bits::bitpos(&v, bit, start, end, unit))
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let op = match String::from_utf8_lossy(&args[1])
        .to_ascii_lowercase()
        .as_str()
    {
        "and" => BitOp::And,
        "or" => BitOp::Or,
        "xor" => BitOp::Xor,
        "not" => BitOp::Not,
        _ => return syntax_error(),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Frame::error("ERR BITOP NOT must be called with a single source key.");
    }
    let existed = ctx.existed_for_events(&args[2]);
    match ctx.db.bitop(ctx.session.db, op, &args[2], &args[3..]) {
        Ok(n) => {
            ctx.notify_stored(notify::STRING, "set", &args[2], n as u64, existed);
            Frame::Integer(n as i64)
        }
        Err(e) => storage_error(e),
    }
}

fn parse_fields(args: &[Bytes], read_only: bool) -> Result<Vec<Field>, Frame> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    let type_error = || {
        Frame::error(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    while i < args.len() {
        let sub = String::from_utf8_lossy(&args[i]).to_ascii_lowercase();
        let needs = match sub.as_str() {
            "get" => 3,
            "set" | "incrby" => 4,
            "overflow" => 2,
            _ => return Err(syntax_error()),
        };
        if i + needs > args.len() {
            return Err(syntax_error());
        }
        if sub == "overflow" {
            overflow = match String::from_utf8_lossy(&args[i + 1])
                .to_ascii_lowercase()
                .as_str()
            {
                "wrap" => Overflow::Wrap,
                "sat" => Overflow::Sat,
                "fail" => Overflow::Fail,
                _ => return Err(Frame::error("ERR Invalid OVERFLOW type specified")),
            };
            i += 2;
            continue;
        }
        if read_only && sub != "get" {
            return Err(Frame::error(
                "ERR BITFIELD_RO only supports the GET subcommand",
            ));
        }
        let ty = FieldType::parse(&args[i + 1]).ok_or_else(type_error)?;
        let raw = &args[i + 2];
        let offset = match raw.strip_prefix(b"#") {
            Some(n) => match parse_int(n) {
                Ok(n) if n >= 0 => (n as u64).checked_mul(ty.bits as u64),
                _ => None,
            },
            None => match parse_int(raw) {
                Ok(n) if n >= 0 => Some(n as u64),
                _ => None,
            },
        }
        .filter(|o| o.saturating_add(ty.bits as u64) <= MAX_BITS + 1)
        .ok_or_else(offset_error)?;
        let op = match sub.as_str() {
            "get" => FieldOp::Get,
            _ => {
                let v = parse_int(&args[i + 3])?;
                if sub == "set" {
                    FieldOp::Set(v)
                } else {
                    FieldOp::IncrBy(v)
                }
            }
        };
        fields.push(Field {
            ty,
            offset,
            op,
            overflow,
        });
        i += needs;
    }
    Ok(fields)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> Frame {
    let fields = match parse_fields(args, read_only) {
        Ok(f) => f,
        Err(f) => return f,
    };
    match ctx.db.bitfield(ctx.session.db, &args[1], &fields) {
        Ok(out) => {
            // `setbit` if a SET or INCRBY was applied (not refused by OVERFLOW FAIL).
            let changed = fields
                .iter()
                .zip(&out)
                .any(|(f, v)| !matches!(f.op, FieldOp::Get) && v.is_some());
            if changed {
                ctx.notify(notify::STRING, "setbit", &args[1]);
            }
            Frame::Array(
                out.into_iter()
                    .map(|v| v.map_or(Frame::Null, Frame::Integer))
                    .collect(),
            )
        }
        Err(e) => storage_error(e),
    }
}

pub fn bitfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    bitfield_generic(ctx, args, false)
}

pub fn bitfield_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    bitfield_generic(ctx, args, true)
}

/// PFADD key [element ...]
pub fn pfadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.pfadd(ctx.session.db, &args[1], &args[2..]) {
        Ok(changed) => {
            if changed {
                ctx.notify(notify::STRING, "pfadd", &args[1]);
            }
            Frame::Integer(changed as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// PFCOUNT key [key ...]
pub fn pfcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.pfcount(ctx.session.db, &args[1..]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.pfmerge(ctx.session.db, &args[1], &args[2..]) {
        Ok(()) => {
            ctx.notify(notify::STRING, "pfadd", &args[1]);
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

/// PFSELFTEST: checks the HyperLogLog code as Redis's does: every register value survives
/// the dense encoding, and estimates of growing random sets stay within the expected error
/// (5 standard errors of 1.04/sqrt(16384)). OK, or the first failure.
pub fn pfselftest(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    use rand::Rng;
    let mut rng = rand::rng();
    let n = storage::hll::REGISTERS;
    for _ in 0..100 {
        let regs: Vec<u8> = (0..n).map(|_| rng.random_range(0..64u8)).collect();
        match storage::hll::decode(&storage::hll::encode(&regs)) {
            Ok(back) if back == regs => {}
            _ => return Frame::error("ERR TESTFAILED Register error"),
        }
    }
    let mut regs = vec![0u8; n];
    let relerr = 1.04 / (n as f64).sqrt();
    let mut added = 0u64;
    for checkpoint in [10u64, 100, 1_000, 10_000, 100_000] {
        while added < checkpoint {
            let e = Bytes::from(rng.random::<u64>().to_le_bytes().to_vec());
            storage::hll::add(&mut regs, &[e]);
            added += 1;
        }
        let est = storage::hll::count(&regs) as f64;
        let err = (est - checkpoint as f64).abs() / checkpoint as f64;
        let allowed = if checkpoint < 100 { 0.1 } else { relerr * 5.0 };
        if err > allowed {
            return Frame::Error(format!(
                "ERR TESTFAILED Too big error. card:{checkpoint} abserr:{}",
                (est - checkpoint as f64).abs()
            ));
        }
    }
    Frame::ok()
}

/// PFDEBUG GETREG|ENCODING|TODENSE|DECODE key. Strata stores every HyperLogLog in the dense
/// encoding (a sparse one restored from Redis is read as it is): ENCODING answers what is
/// stored, TODENSE converts a sparse value (1) or finds it dense already (0), DECODE shows
/// a sparse value's opcodes as Redis does.
pub fn pfdebug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let storage = ctx.db;
    let v = match storage.string_value(ctx.session.db, &args[2]) {
        Ok(Some(v)) => v,
        Ok(None) => return Frame::error("ERR The specified key does not exist"),
        Err(e) => return storage_error(e),
    };
    let sparse = v.get(4) == Some(&1);
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    // ENCODING and DECODE look at the header only, as Redis's do.
    if v.len() < 16 || &v[..4] != b"HYLL" || v[4] > 1 {
        return storage_error(storage::Error::NotHll);
    }
    match sub.as_str() {
        "encoding" => return Frame::Simple(if sparse { "sparse" } else { "dense" }.into()),
        "decode" if !sparse => return Frame::error("ERR HLL encoding is not sparse"),
        "decode" => return Frame::Bulk(Bytes::from(storage::hll::describe_sparse(&v))),
        _ => {}
    }
    let regs = match storage::hll::decode(&v) {
        Ok(r) => r,
        Err(e) => return storage_error(e),
    };
    match sub.as_str() {
        "getreg" => Frame::Array(regs.iter().map(|r| Frame::Integer(*r as i64)).collect()),
        "todense" => {
            if !sparse {
                return Frame::Integer(0);
            }
            match storage.set(
                ctx.session.db,
                &args[2],
                Bytes::from(storage::hll::encode(&regs)),
                storage::SetCond::Always,
                storage::SetExpiry::Keep,
                false,
            ) {
                Ok(_) => Frame::Integer(1),
                Err(e) => storage_error(e),
            }
        }
        _ => Frame::Error(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(&args[1])
        )),
    }
}
