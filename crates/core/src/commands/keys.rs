//! Generic key commands (any type): DEL, EXISTS, TYPE, expiry, RENAME, COPY, KEYS, SCAN, ...

use bytes::Bytes;
use resp::Frame;
use storage::{now_ms, ExpireCond, KeyType};

use crate::notify;

use super::{eq_ic, parse_int, storage_error, syntax_error, Ctx};

pub fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    // Each key it deletes gets `del` (a key named twice once).
    let mut existing: Vec<&Bytes> = Vec::new();
    if ctx.notifying() {
        for k in &args[1..] {
            if !existing.contains(&k) && ctx.key_exists(k) {
                existing.push(k);
            }
        }
    }
    match ctx.db.del(ctx.session.db, &args[1..]) {
        Ok(n) => {
            for k in existing {
                ctx.notify(notify::GENERIC, "del", k);
            }
            Frame::Integer(n)
        }
        Err(e) => storage_error(e),
    }
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.exists(ctx.session.db, &args[1..]) {
        Ok(n) => Frame::Integer(n),
        Err(e) => storage_error(e),
    }
}

pub fn type_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.key_type(ctx.session.db, &args[1]) {
        Ok(Some(t)) => Frame::Simple(t.name().into()),
        Ok(None) => Frame::Simple("none".into()),
        Err(e) => storage_error(e),
    }
}

fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    unit: i64,
    absolute: bool,
    cmd: &str,
) -> Frame {
    // Options first, then the time, as Redis checks them.
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        if eq_ic(a, "nx") {
            nx = true;
        } else if eq_ic(a, "xx") {
            xx = true;
        } else if eq_ic(a, "gt") {
            gt = true;
        } else if eq_ic(a, "lt") {
            lt = true;
        } else {
            return Frame::Error(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(a)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return Frame::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Frame::error("ERR GT and LT options at the same time are not compatible");
    }
    let v = match parse_int(&args[2]) {
        Ok(v) => v,
        Err(f) => return f,
    };
    let invalid = || Frame::Error(format!("ERR invalid expire time in '{cmd}' command"));
    let Some(ms) = v.checked_mul(unit) else {
        return invalid();
    };
    let at = if absolute {
        ms
    } else {
        match ms.checked_add(now_ms() as i64) {
            Some(t) => t,
            None => return invalid(),
        }
    };
    let cond = if nx {
        ExpireCond::Nx
    } else if gt {
        ExpireCond::Gt
    } else if lt {
        ExpireCond::Lt
    } else if xx {
        ExpireCond::Xx
    } else {
        ExpireCond::Always
    };
    // With XX plus GT/LT, the key must also have an expiry already.
    if xx && (gt || lt) {
        match ctx.db.expire_time_ms(ctx.session.db, &args[1]) {
            Ok(t) if t < 0 => return Frame::Integer(0),
            Ok(_) => {}
            Err(e) => return storage_error(e),
        }
    }
    let at = at.max(0) as u64;
    match ctx.db.expire_at(ctx.session.db, &args[1], at.max(1), cond) {
        Ok(done) => {
            if done {
                // A time in the past deletes the key.
                if ctx.notifying() && !ctx.key_exists(&args[1]) {
                    ctx.notify(notify::GENERIC, "del", &args[1]);
                } else {
                    ctx.notify(notify::GENERIC, "expire", &args[1]);
                }
            }
            ctx.log_as(|db, ks| super::effects::expiry_of(db, ks, &args[1]));
            Frame::Integer(done as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    expire_generic(ctx, args, 1000, false, "expire")
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    expire_generic(ctx, args, 1, false, "pexpire")
}

pub fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    expire_generic(ctx, args, 1000, true, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    expire_generic(ctx, args, 1, true, "pexpireat")
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.pttl(ctx.session.db, &args[1]) {
        Ok(ms) if ms < 0 => Frame::Integer(ms),
        Ok(ms) => Frame::Integer((ms + 500) / 1000),
        Err(e) => storage_error(e),
    }
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.pttl(ctx.session.db, &args[1]) {
        Ok(ms) => Frame::Integer(ms),
        Err(e) => storage_error(e),
    }
}

pub fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.expire_time_ms(ctx.session.db, &args[1]) {
        Ok(t) if t < 0 => Frame::Integer(t),
        Ok(t) => Frame::Integer(t / 1000),
        Err(e) => storage_error(e),
    }
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.expire_time_ms(ctx.session.db, &args[1]) {
        Ok(t) => Frame::Integer(t),
        Err(e) => storage_error(e),
    }
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.persist(ctx.session.db, &args[1]) {
        Ok(done) => {
            if done {
                ctx.notify(notify::GENERIC, "persist", &args[1]);
            }
            Frame::Integer(done as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// The events of a rename that happened: the destination is added (its `new`, even over an
/// existing key) before the source goes.
fn renamed(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if args[1] == args[2] {
        // A key renamed to itself: nothing changed, no event (as Redis).
        return;
    }
    ctx.added(&args[2]);
    ctx.notify(notify::GENERIC, "rename_from", &args[1]);
    ctx.notify(notify::GENERIC, "rename_to", &args[2]);
}

pub fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.rename(ctx.session.db, &args[1], &args[2], false) {
        Ok(_) => {
            renamed(ctx, args);
            Frame::ok()
        }
        Err(e) => storage_error(e),
    }
}

pub fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.rename(ctx.session.db, &args[1], &args[2], true) {
        Ok(done) => {
            if done {
                renamed(ctx, args);
            }
            Frame::Integer(done as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut dst_db = ctx.session.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(&args[i], "replace") {
            replace = true;
        } else if eq_ic(&args[i], "db") && i + 1 < args.len() {
            match parse_int(&args[i + 1]) {
                Ok(n) if n >= 0 && n < ctx.shared.databases() as i64 => {
                    dst_db = ctx.db.physical(ctx.session.base() + n as u32)
                }
                Ok(_) => return Frame::error("ERR DB index is out of range"),
                Err(f) => return f,
            }
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    match ctx
        .db
        .copy(ctx.session.db, &args[1], dst_db, &args[2], replace)
    {
        Ok(done) => {
            if done {
                ctx.added_in(dst_db, &args[2]);
                ctx.notify_in(notify::GENERIC, "copy_to", dst_db, &args[2]);
            }
            Frame::Integer(done as i64)
        }
        Err(e) => storage_error(e),
    }
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.keys(ctx.session.db, &args[1]) {
        Ok(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
        Err(e) => storage_error(e),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. Cursor 0 starts; other cursors are
/// handed out by the server and map to the last key returned (see `shared::Cursors`). An
/// unknown cursor (forgotten after many newer ones) restarts the iteration, which keeps SCAN's
/// guarantee that every key present throughout is returned.
pub fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Frame::error("ERR invalid cursor");
    };
    let mut pattern: Option<Bytes> = None;
    let mut count = 10usize;
    let mut ty: Option<Option<KeyType>> = None;
    let mut i = 2;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return syntax_error();
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
                Ok(_) => return syntax_error(),
                Err(f) => return f,
            }
        } else if eq_ic(&args[i], "type") {
            ty = Some(KeyType::from_name(v));
        } else {
            return syntax_error();
        }
        i += 2;
    }
    // An unknown type name matches nothing (Redis 7.0).
    if let Some(None) = ty {
        return Frame::Array(vec![Frame::bulk_str("0"), Frame::Array(vec![])]);
    }
    let db = ctx.session.db;
    let after = if cursor == 0 {
        None
    } else {
        ctx.shared.cursors.lock().ok().and_then(|c| {
            c.get(cursor)
                .filter(|(ks, _)| *ks == db)
                .map(|(_, k)| k.clone())
        })
    };
    let page = match ctx.db.scan(
        db,
        after.as_deref(),
        count,
        pattern.as_deref(),
        ty.flatten(),
    ) {
        Ok(p) => p,
        Err(e) => return storage_error(e),
    };
    let next = match page.next {
        None => 0,
        Some(k) => match ctx.shared.cursors.lock() {
            Ok(mut c) => c.insert(db, k),
            Err(_) => 0,
        },
    };
    Frame::Array(vec![
        Frame::bulk(next.to_string()),
        Frame::Array(page.keys.into_iter().map(Frame::Bulk).collect()),
    ])
}

pub fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    match ctx.db.random_key(ctx.session.db) {
        Ok(k) => super::bulk_or_null(k),
        Err(e) => storage_error(e),
    }
}

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    match ctx.db.dbsize(ctx.session.db) {
        Ok((n, _)) => Frame::Integer(n as i64),
        Err(e) => storage_error(e),
    }
}

fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => eq_ic(&args[1], "async") || eq_ic(&args[1], "sync"),
        _ => false,
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    match ctx.db.flushdb(ctx.session.db) {
        Ok(()) => Frame::ok(),
        Err(e) => storage_error(e),
    }
}

pub fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    // The databases of this client's namespace only (other namespaces are other volumes).
    let base = ctx.session.base();
    let end = if base == 0 {
        storage::FIRST_NAMESPACE_ID
    } else {
        base + storage::namespaces::NS_DATABASES
    };
    match ctx.db.flush_keyspaces(base, end) {
        Ok(()) => Frame::ok(),
        Err(e) => storage_error(e),
    }
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT|HELP. Encodings are the ones Redis 7.0 would report
/// for a value of this type and size (the data here is in RocksDB, not in Redis's structures);
/// idle time and LFU frequency are not tracked.
pub fn object(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    if sub == "help" {
        return Frame::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        );
    }
    if !["encoding", "freq", "idletime", "refcount"].contains(&sub.as_str()) {
        return Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    }
    if args.len() != 3 {
        return Frame::Error(format!(
            "ERR wrong number of arguments for 'object|{sub}' command"
        ));
    }
    let meta = match ctx.db.get_meta(ctx.session.db, &args[2], ctx.db.now_ms()) {
        Ok(Some(m)) => m,
        Ok(None) => return Frame::Null,
        Err(e) => return storage_error(e),
    };
    let lfu = ctx
        .shared
        .with_config(|c| c.get("maxmemory-policy").contains("lfu"));
    match sub.as_str() {
        "encoding" => {
            let enc = match meta.ty {
                KeyType::String => {
                    let v = &meta.value;
                    if v.len() <= 20 && storage::num::parse_i64(v).is_some() {
                        "int"
                    } else if v.len() <= 44 {
                        "embstr"
                    } else {
                        "raw"
                    }
                }
                KeyType::Hash
                    if meta.size
                        <= ctx
                            .shared
                            .with_config(|c| c.get_u64("hash-max-listpack-entries")) =>
                {
                    "listpack"
                }
                KeyType::Hash => "hashtable",
                KeyType::List => "quicklist",
                // Redis 7.0: small all-integer sets are intsets, every other set a hashtable.
                KeyType::Set if meta.size <= 512 => {
                    match ctx.db.smembers(ctx.session.db, &args[2]) {
                        Ok(m) if m.iter().all(|x| storage::num::parse_i64(x).is_some()) => "intset",
                        Ok(_) => "hashtable",
                        Err(e) => return storage_error(e),
                    }
                }
                KeyType::Set => "hashtable",
                KeyType::ZSet if meta.size <= 128 => "listpack",
                KeyType::ZSet => "skiplist",
                KeyType::Stream => "stream",
            };
            Frame::bulk_str(enc)
        }
        // Access is not tracked on disk (nothing is evicted): FREQ counts no access (0) and
        // IDLETIME reads 0; which of the two answers follows `maxmemory-policy`, as in Redis.
        "freq" if lfu => Frame::Integer(0),
        "freq" => Frame::error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "idletime" if lfu => Frame::error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "idletime" => Frame::Integer(0),
        _ => Frame::Integer(1),
    }
}

/// SWAPDB index1 index2: the two databases (of the client's namespace) exchange their data
/// in O(1), durably and for every client (`storage::dbmap`): a client that selected one of
/// them sees the other's keys from its next command on.
pub fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let index = |a: &Bytes, which: &str| match parse_int(a) {
        Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(Frame::error(format!("ERR invalid {which} DB index"))),
    };
    let (a, b) = match (index(&args[1], "first"), index(&args[2], "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(f), _) | (_, Err(f)) => return f,
    };
    let dbs = ctx.shared.databases() as i64;
    if !(0..dbs).contains(&a) || !(0..dbs).contains(&b) {
        return Frame::error("ERR DB index is out of range");
    }
    let base = ctx.session.base();
    match ctx.db.swap_keyspaces(base + a as u32, base + b as u32) {
        Ok(()) => Frame::ok(),
        Err(e) => storage_error(e),
    }
}

/// MOVE key db: to another database of the same namespace (value and TTL), unless the key
/// exists there.
pub fn move_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let n = match parse_int(&args[2]) {
        Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => n,
        Ok(_) => {
            return Frame::error(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            )
        }
        Err(f) => return f,
    };
    if n < 0 || n >= ctx.shared.databases() as i64 {
        return Frame::error("ERR DB index is out of range");
    }
    let dst = ctx.db.physical(ctx.session.base() + n as u32);
    if dst == ctx.session.db {
        return Frame::error("ERR source and destination objects are the same");
    }
    match ctx.db.move_key(ctx.session.db, &args[1], dst) {
        Ok(moved) => {
            if moved {
                ctx.added_in(dst, &args[1]);
                ctx.notify(notify::GENERIC, "move_from", &args[1]);
                ctx.notify_in(notify::GENERIC, "move_to", dst, &args[1]);
            }
            Frame::Integer(moved as i64)
        }
        Err(e) => storage_error(e),
    }
}

/// The encoding thresholds of DUMP: Redis's `*-max-listpack-*` and `set-max-intset-entries`
/// parameters, so a payload is encoded as Redis with the same settings would encode it.
fn dump_limits(shared: &crate::shared::Shared) -> rdb::Limits {
    shared.with_config(|c| rdb::Limits {
        hash_max_listpack_entries: c.get_u64("hash-max-listpack-entries") as usize,
        hash_max_listpack_value: c.get_u64("hash-max-listpack-value") as usize,
        zset_max_listpack_entries: c.get_u64("zset-max-listpack-entries") as usize,
        zset_max_listpack_value: c.get_u64("zset-max-listpack-value") as usize,
        set_max_intset_entries: c.get_u64("set-max-intset-entries") as usize,
        list_max_listpack_size: c.get_i64("list-max-listpack-size"),
    })
}

/// DUMP key: the value in Redis's serialization format (RDB 10 object, version, CRC64).
pub fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match ctx.db.read_value(ctx.session.db, &args[1]) {
        Ok(Some((v, _))) => Frame::Bulk(Bytes::from(rdb::dump(&v, &dump_limits(ctx.shared)))),
        Ok(None) => Frame::Null,
        Err(e) => storage_error(e),
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]: checks in Redis's order
/// (options, existing key, TTL, version and CRC, then the object). IDLETIME and FREQ are
/// validated and have no effect (no eviction here). A TTL already in the past creates
/// nothing (and with REPLACE deletes the old key), as in Redis.
pub fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        if eq_ic(&args[j], "replace") {
            replace = true;
        } else if eq_ic(&args[j], "absttl") {
            absttl = true;
        } else if eq_ic(&args[j], "idletime") && more >= 1 && !freq {
            match parse_int(&args[j + 1]) {
                Ok(v) if v >= 0 => {}
                Ok(_) => return Frame::error("ERR Invalid IDLETIME value, must be >= 0"),
                Err(f) => return f,
            }
            idle = true;
            j += 1;
        } else if eq_ic(&args[j], "freq") && more >= 1 && !idle {
            match parse_int(&args[j + 1]) {
                Ok(v) if (0..=255).contains(&v) => {}
                Ok(_) => return Frame::error("ERR Invalid FREQ value, must be >= 0 and <= 255"),
                Err(f) => return f,
            }
            freq = true;
            j += 1;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let storage = ctx.db;
    let db = ctx.session.db;
    if !replace {
        match storage.exists(db, &[args[1].clone()]) {
            Ok(0) => {}
            Ok(_) => return Frame::error("BUSYKEY Target key name already exists."),
            Err(e) => return storage_error(e),
        }
    }
    let ttl = match parse_int(&args[2]) {
        Ok(t) if t >= 0 => t,
        Ok(_) => return Frame::error("ERR Invalid TTL value, must be >= 0"),
        Err(f) => return f,
    };
    let skip_crc = ctx
        .shared
        .hot
        .skip_restore_checksum
        .load(std::sync::atomic::Ordering::Relaxed);
    let value = match rdb::load_with(&args[3], !skip_crc) {
        Ok(v) => v,
        Err(e) => return Frame::Error(e.to_string()),
    };
    let now = storage::now_ms() as i64;
    let expire = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => t.saturating_add(now),
    };
    if expire != 0 && expire <= now {
        if replace {
            match storage.del(db, &[args[1].clone()]) {
                Ok(n) if n > 0 => ctx.notify(notify::GENERIC, "del", &args[1]),
                Ok(_) => {}
                Err(e) => return storage_error(e),
            }
            ctx.log_as(|_, _| vec![super::effects::cmd(&[b"DEL", &args[1]])]);
        }
        return Frame::ok();
    }
    match storage.restore_value(db, &args[1], &value, expire as u64, replace) {
        Ok(true) => {
            ctx.added(&args[1]);
            ctx.notify(notify::GENERIC, "restore", &args[1]);
            ctx.log_as(|db, ks| super::effects::restored(db, ks, &args[1], &args[3]));
            Frame::ok()
        }
        Ok(false) => Frame::error("BUSYKEY Target key name already exists."),
        Err(e) => storage_error(e),
    }
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k ...]:
/// the keys are sent to another Redis-protocol server as RESTORE payloads (Redis's format, so
/// the target may be Redis or Strata) and, unless COPY, deleted here once the target accepted
/// them (logged as DEL). Blocking with `timeout` milliseconds for each network step, as in
/// Redis; only the named keys are locked meanwhile.
pub fn migrate(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    use std::io::{BufRead, BufReader, Write};
    let (mut copy, mut replace) = (false, false);
    let mut auth: Vec<Bytes> = Vec::new();
    let mut keys: Vec<Bytes> = vec![args[3].clone()];
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if eq_ic(&args[j], "copy") {
            copy = true;
        } else if eq_ic(&args[j], "replace") {
            replace = true;
        } else if eq_ic(&args[j], "auth") {
            if more < 1 {
                return syntax_error();
            }
            auth = vec![args[j + 1].clone()];
            j += 1;
        } else if eq_ic(&args[j], "auth2") {
            if more < 2 {
                return syntax_error();
            }
            auth = vec![args[j + 1].clone(), args[j + 2].clone()];
            j += 2;
        } else if eq_ic(&args[j], "keys") {
            if !args[3].is_empty() {
                return Frame::error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
            }
            keys = args[j + 1..].to_vec();
            break;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let (timeout, dbid) = match (parse_int(&args[5]), parse_int(&args[4])) {
        (Ok(t), Ok(d)) => (if t <= 0 { 1000 } else { t as u64 }, d),
        (Err(f), _) | (_, Err(f)) => return f,
    };
    let storage = ctx.db;
    let db = ctx.session.db;
    let mut found = Vec::new();
    for k in &keys {
        match storage.read_value(db, k) {
            Ok(Some((v, expire))) => found.push((k.clone(), v, expire)),
            Ok(None) => {}
            Err(e) => return storage_error(e),
        }
    }
    if found.is_empty() {
        return Frame::Simple("NOKEY".into());
    }
    let limits = dump_limits(ctx.shared);
    let mut out: Vec<u8> = Vec::new();
    let mut push = |parts: &[&[u8]]| {
        out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
        for p in parts {
            out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
    };
    let mut expected = 0;
    if !auth.is_empty() {
        let mut a: Vec<&[u8]> = vec![b"AUTH"];
        a.extend(auth.iter().map(|x| x.as_ref()));
        push(&a);
        expected += 1;
    }
    let db_s = dbid.to_string();
    push(&[b"SELECT", db_s.as_bytes()]);
    expected += 1;
    let now = storage::now_ms();
    for (k, v, expire) in &found {
        let ttl = if *expire == 0 {
            0
        } else {
            expire.saturating_sub(now).max(1)
        };
        let payload = rdb::dump(v, &limits);
        let ttl_s = ttl.to_string();
        let mut r: Vec<&[u8]> = vec![b"RESTORE", k, ttl_s.as_bytes(), &payload];
        if replace {
            r.push(b"REPLACE");
        }
        push(&r);
        expected += 1;
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = String::from_utf8_lossy(&args[2]).into_owned();
    let t = std::time::Duration::from_millis(timeout);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(
        host.as_str(),
        port.parse::<u16>().unwrap_or(0),
    ))
    .ok()
    .and_then(|mut a| a.next());
    let Some(stream) = addr.and_then(|a| std::net::TcpStream::connect_timeout(&a, t).ok()) else {
        return Frame::error("IOERR error or timeout connecting to the client");
    };
    let _ = stream.set_read_timeout(Some(t));
    let _ = stream.set_write_timeout(Some(t));
    let mut w = &stream;
    if w.write_all(&out).is_err() {
        return Frame::error("IOERR error or timeout writing to target instance");
    }
    let mut reader = BufReader::new(&stream);
    let mut first_error: Option<String> = None;
    let mut restored = Vec::new();
    let restores_from = expected - found.len();
    for i in 0..expected {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return Frame::error("IOERR error or timeout reading to target instance"),
        }
        let line = line.trim_end();
        if let Some(e) = line.strip_prefix('-') {
            if i < restores_from {
                // AUTH or SELECT refused: nothing was migrated.
                return Frame::Error(format!("ERR Target instance replied with error: {e}"));
            }
            first_error.get_or_insert_with(|| e.to_string());
        } else if i >= restores_from {
            restored.push(found[i - restores_from].0.clone());
        }
    }
    if !copy && !restored.is_empty() {
        if let Err(e) = storage.del(db, &restored) {
            return storage_error(e);
        }
        for k in &restored {
            ctx.notify(notify::GENERIC, "del", k);
        }
        // The keys it deleted after the target took them (never the transfer itself).
        ctx.log_as(|_, _| {
            let mut del = vec![Bytes::from_static(b"DEL")];
            del.extend(restored.iter().cloned());
            vec![del]
        });
    }
    match first_error {
        Some(e) => Frame::Error(format!("ERR Target instance replied with error: {e}")),
        None => Frame::ok(),
    }
}
