//! Server commands: INFO CONFIG COMMAND TIME LASTSAVE SAVE BGSAVE SHUTDOWN.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use resp::Frame;
use storage::glob::glob_match;

use super::{eq_ic, flags, meta, syntax_error, CommandSpec, Ctx, TABLE};
use crate::config;

pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    Frame::Verbatim(Bytes::from(crate::info::render(
        ctx.shared,
        &sections,
        ctx.session.base(),
    )))
}

pub fn time(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Frame::Array(vec![
        Frame::bulk(d.as_secs().to_string()),
        Frame::bulk(d.subsec_micros().to_string()),
    ])
}

pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    Frame::Integer(ctx.shared.last_save.load(Ordering::Relaxed) as i64)
}

/// SAVE: every write is already persistent; this flushes memtables to SST files and syncs
/// the WAL, which is the closest equivalent of a snapshot on disk.
pub fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    match ctx.db.flush_all() {
        Ok(()) => {
            ctx.shared
                .last_save
                .store(storage::now_ms() / 1000, Ordering::Relaxed);
            ctx.shared.stats.saves.fetch_add(1, Ordering::Relaxed);
            Frame::ok()
        }
        Err(e) => super::storage_error(e),
    }
}

/// COMPACT (as in Kvrocks): flushes memtables and compacts every column family down to the
/// bottommost level now, so the compaction filters drop stale members and expired records.
/// Blocks this worker thread while it runs.
/// DEBUG: the subcommands test suites rely on.
pub fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => Frame::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "SLEEP <seconds>",
                "    Stop the server for <seconds> (decimals allowed).",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Pause (0) or resume (1) the background expiry of keys.",
                "RELOAD",
                "    Flush memtables to disk (Strata keeps no dataset in memory to reload).",
                "FAILPOINT <name> <ms>",
                "    Pause <ms> milliseconds the next time the named point is reached (tests).",
                "OBJECT <key>",
                "    Show low level info about the key and associated value.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type (string, integer, double, bignum, null, array, set, map, verbatim, true, false).",
                "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
                "    Skip (1) or check (0) the CRC of RESTORE payloads.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "CHANGE-REPL-ID, JMAP, QUICKLIST-PACKED-THRESHOLD <size>, LISTPACK <key>, QUICKLIST <key>, STRINGMATCH-LEN, SET-DISABLE-DENY-SCRIPTS <0|1>, REPLYBUFFER ...",
                "    Accepted for test suites; no effect here (no in-memory encodings).",
            ]
            .iter()
            .map(|s| Frame::Simple((*s).into()))
            .collect(),
        ),
        ("object", 3) => debug_object(ctx, &args[2]),
        ("protocol", 3) => debug_protocol(ctx.session.proto, &args[2]),
        ("set-skip-checksum-validation", 3) => match super::parse_int(&args[2]) {
            Ok(n) => {
                ctx.shared
                    .hot
                    .skip_restore_checksum
                    .store(n != 0, std::sync::atomic::Ordering::Relaxed);
                Frame::ok()
            }
            Err(f) => f,
        },
        ("log", 3) => {
            tracing::warn!(message = %String::from_utf8_lossy(&args[2]), "DEBUG LOG");
            Frame::ok()
        }
        // Encoding knobs and internals of Redis's in-memory objects: accepted, no effect.
        ("change-repl-id", 2) | ("jmap", 2) | ("stringmatch-len", _) => Frame::ok(),
        ("quicklist-packed-threshold", 3)
        | ("set-disable-deny-scripts", 3)
        | ("replybuffer", _)
        | ("listpack", 3)
        | ("quicklist", 3..=4) => Frame::ok(),
        ("sleep", 3) => match String::from_utf8_lossy(&args[2]).parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
                Frame::ok()
            }
            _ => Frame::error("ERR value is not a valid float"),
        },
        ("set-active-expire", 3) => match super::parse_int(&args[2]) {
            Ok(n) => {
                ctx.shared
                    .hot
                    .active_expire_paused
                    .store(n == 0, std::sync::atomic::Ordering::Relaxed);
                Frame::ok()
            }
            Err(f) => f,
        },
        ("failpoint", 4) => match super::parse_int(&args[3]) {
            Ok(ms) if ms >= 0 => {
                let name = String::from_utf8_lossy(&args[2]);
                if name == "binlog-eio" {
                    // The next binlog append fails with EIO (a failing disk).
                    if let Some(log) = ctx.shared.binlog.get() {
                        log.inject_eio
                            .store(ms > 0, std::sync::atomic::Ordering::Release);
                    }
                } else {
                    ctx.shared.failpoints.set(&name, ms as u64);
                }
                Frame::ok()
            }
            Ok(_) => Frame::error("ERR value is out of range, must be positive"),
            Err(f) => f,
        },
        ("reload", 2) => match ctx.db.flush_all() {
            Ok(()) => Frame::ok(),
            Err(e) => super::storage_error(e),
        },
        _ => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// DEBUG OBJECT key: Redis's line, with the encoding OBJECT ENCODING reports and the length
/// the value's serialization (DUMP) has.
fn debug_object(ctx: &mut Ctx<'_>, key: &Bytes) -> Frame {
    let enc_args = [
        Bytes::from_static(b"object"),
        Bytes::from_static(b"encoding"),
        key.clone(),
    ];
    let encoding = match super::keys::object(ctx, &enc_args) {
        Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Frame::Null => return Frame::error("ERR no such key"),
        other => return other,
    };
    let len = match ctx.db.read_value(ctx.session.db, key) {
        Ok(Some((v, _))) => rdb::dump(&v, &rdb::Limits::default())
            .len()
            .saturating_sub(11),
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return super::storage_error(e),
    };
    let lru = (storage::now_ms() / 1000) & ((1 << 24) - 1);
    Frame::Simple(format!(
        "Value at:0x0 refcount:1 encoding:{encoding} serializedlength:{len} lru:{lru} lru_seconds_idle:0"
    ))
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, as Redis's test suites expect.
fn debug_protocol(proto: resp::Protocol, kind: &[u8]) -> Frame {
    let ints = |n: i64| (0..n).map(Frame::Integer).collect::<Vec<_>>();
    match String::from_utf8_lossy(kind).to_ascii_lowercase().as_str() {
        "string" => Frame::bulk_str("Hello World"),
        "integer" => Frame::Integer(12345),
        // Redis's fixed test value (not π).
        #[allow(clippy::approx_constant)]
        "double" => Frame::Double(3.141),
        "bignum" => match proto {
            resp::Protocol::Resp3 => Frame::Raw(Bytes::from_static(
                b"(1234567999999999999999999999999999999\r\n",
            )),
            resp::Protocol::Resp2 => Frame::bulk_str("1234567999999999999999999999999999999"),
        },
        "null" => Frame::Null,
        "array" => Frame::Array(ints(3)),
        "set" => Frame::Set(ints(3)),
        "map" => Frame::Map(
            (0..3)
                .map(|i| (Frame::Integer(i), Frame::Boolean(i == 1)))
                .collect(),
        ),
        "verbatim" => Frame::Verbatim(Bytes::from_static(b"This is a verbatim\nstring")),
        "true" => Frame::Boolean(true),
        "false" => Frame::Boolean(false),
        _ => Frame::error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

pub fn compact(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    match ctx.db.flush_all().and_then(|()| ctx.db.compact_all()) {
        Ok(()) => Frame::ok(),
        Err(e) => super::storage_error(e),
    }
}

pub fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if args.len() > 2 || (args.len() == 2 && !eq_ic(&args[1], "schedule")) {
        return syntax_error();
    }
    match save(ctx, args) {
        f @ Frame::Error(_) => f,
        _ => Frame::Simple("Background saving started".into()),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Data is always persistent, so SAVE/NOSAVE
/// change nothing (shutdown always syncs the binlog and flushes memtables).
pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    for a in &args[1..] {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|o| eq_ic(a, o))
        {
            return syntax_error();
        }
    }
    if args[1..].iter().any(|a| eq_ic(a, "abort")) {
        // Only a shutdown waiting for its replicas (before its stages) can be aborted.
        if args.len() == 2 && crate::lifecycle::abort_shutdown(ctx.shared) {
            return Frame::ok();
        }
        return Frame::error("ERR No shutdown in progress.");
    }
    let has = |o: &str| args[1..].iter().any(|a| eq_ic(a, o));
    if has("nosave") && has("save") {
        return syntax_error();
    }
    if ctx.shared.scripts.running() {
        // A script is running (this command passed the -BUSY check): only SHUTDOWN NOSAVE
        // ends it, and whatever it wrote is not kept.
        if !has("nosave") {
            return Frame::error(crate::scripting::BUSY);
        }
        ctx.shared.scripts.abort();
    }
    // FORCE: a shutdown here always goes on even if the final flush fails (exit code 4).
    tracing::info!(
        client = ctx.session.client.id,
        "SHUTDOWN requested by a client"
    );
    let Some(me) = ctx.shared.me() else {
        return Frame::error("ERR server not ready");
    };
    if crate::lifecycle::request_shutdown(&me, has("now")) {
        // Waiting for replicas: this client waits for the outcome (an error if aborted).
        ctx.session.takeover = Some(crate::replication::master::Takeover::ShutdownWait);
        return Frame::Null;
    }
    ctx.session.close_after_reply = true;
    // Redis closes the connection without a reply on success.
    Frame::Raw(Bytes::new())
}

pub fn config(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity_err = |s: &str| {
        Frame::Error(format!(
            "ERR wrong number of arguments for 'config|{s}' command"
        ))
    };
    match sub.as_str() {
        "get" => {
            if args.len() < 3 {
                return arity_err("get");
            }
            // As Redis 7.0: a name without glob characters is looked up as given (an alias
            // answers under the alias, in the letters asked); a pattern lists every name and
            // alias it matches; a parameter matched by an earlier argument is not repeated.
            let mut out: Vec<(Frame, Frame)> = Vec::new();
            let mut seen: std::collections::HashSet<&'static str> = Default::default();
            ctx.shared.with_config(|cfg| {
                let values: std::collections::HashMap<&str, &str> = cfg.iter().collect();
                for pat in &args[2..] {
                    let exact = !pat.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
                    for p in config::PARAMS {
                        let Some(value) = values.get(p.name) else {
                            continue;
                        };
                        if seen.contains(p.name) {
                            continue;
                        }
                        let names = std::iter::once(p.name).chain(p.aliases.iter().copied());
                        if exact {
                            // Answered under the name as it was asked.
                            if names
                                .into_iter()
                                .any(|n| pat.eq_ignore_ascii_case(n.as_bytes()))
                            {
                                seen.insert(p.name);
                                out.push((Frame::Bulk(pat.clone()), Frame::bulk_str(value)));
                            }
                        } else {
                            for n in names.filter(|n| glob_match(pat, n.as_bytes(), true)) {
                                seen.insert(p.name);
                                out.push((Frame::bulk_str(n), Frame::bulk_str(value)));
                            }
                        }
                    }
                }
            });
            out.retain(|(k, _)| !matches!(k, Frame::Bulk(b) if b.is_empty()));
            // Redis 7.0 accepts the `n` class but does not print it back (`KEAn` -> `AKE`).
            for (k, v) in out.iter_mut() {
                if matches!(k, Frame::Bulk(b) if b.as_ref() == b"notify-keyspace-events") {
                    if let Frame::Bulk(b) = v {
                        *v = Frame::Bulk(Bytes::from(String::from_utf8_lossy(b).replace('n', "")));
                    }
                }
            }
            Frame::Map(out)
        }
        "set" => {
            if args.len() < 4 || !args.len().is_multiple_of(2) {
                return arity_err("set");
            }
            config_set(ctx, &args[2..])
        }
        "rewrite" => {
            if args.len() != 2 {
                return arity_err("rewrite");
            }
            let users = crate::access::config_lines(ctx.shared);
            match ctx.shared.with_config(|c| c.rewrite(&users)) {
                Ok(()) => Frame::ok(),
                Err(e) => Frame::Error(format!("ERR Rewriting config file: {e}")),
            }
        }
        "resetstat" => {
            if args.len() != 2 {
                return arity_err("resetstat");
            }
            let s = &ctx.shared.stats;
            for c in [
                &s.commands_processed,
                &s.connections_received,
                &s.rejected_connections,
                &s.net_input_bytes,
                &s.net_output_bytes,
                &s.expired_keys,
                &s.keyspace_hits,
                &s.keyspace_misses,
                &s.error_replies,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            for (_, c) in ctx.shared.named_stats() {
                c.calls.store(0, Ordering::Relaxed);
                c.usec.store(0, Ordering::Relaxed);
                c.rejected.store(0, Ordering::Relaxed);
                c.failed.store(0, Ordering::Relaxed);
                c.hist.reset();
            }
            ctx.shared.errorstats.reset();
            s.saves.store(0, Ordering::Relaxed);
            Frame::ok()
        }
        "help" => Frame::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// CONFIG SET name value [name value ...]: all or nothing, as in Redis 7.
fn config_set(ctx: &mut Ctx<'_>, pairs: &[Bytes]) -> Frame {
    let mut staged = Vec::new();
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).to_string();
        let Some(param) = config::find(&name) else {
            return Frame::Error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if !param.mutable {
            return Frame::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
        }
        if let Err(e) = config::normalize(param, &value) {
            return Frame::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ));
        }
        if staged
            .iter()
            .any(|(p, _): &(&config::Param, String)| p.name == param.name)
        {
            return Frame::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            ));
        }
        staged.push((param, value));
    }
    let mut cfg = match ctx.shared.config.write() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    };
    // All or nothing: a failure part way restores every value set before it.
    let before = cfg.clone();
    for (param, value) in &staged {
        if let Err(e) = cfg.set(param.name, value) {
            *cfg = before;
            return Frame::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {e}",
                param.name
            ));
        }
    }
    drop(cfg);
    if staged.iter().any(|(p, _)| crate::tls::is_tls_param(p.name)) {
        // New certificates, CAs or suites for new connections; a bad one changes nothing.
        if let Err(e) = crate::tls::reload(ctx.shared) {
            tracing::warn!(error = %e, "TLS configuration not updated");
            let mut cfg = match ctx.shared.config.write() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            *cfg = before;
            let name = staged
                .iter()
                .find(|(p, _)| crate::tls::is_tls_param(p.name))
                .map_or("", |(p, _)| p.name);
            return Frame::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration: {e}"
            ));
        }
    }
    crate::lifecycle::apply_config(ctx.shared);
    if staged.iter().any(|(p, _)| p.name == "requirepass") {
        // Redis: the default user's passwords become this one (or `nopass`).
        let pass = ctx.shared.requirepass();
        ctx.shared.access.set_requirepass(ctx.shared, &pass);
    }
    Frame::ok()
}

fn flag_frames(spec: &CommandSpec) -> Vec<Frame> {
    flags::NAMES
        .iter()
        .filter(|(f, _)| spec.flags & f != 0)
        .map(|(_, n)| Frame::Simple(n.to_string()))
        .collect()
}

/// ACL categories of a command Redis does not have (Strata's own).
pub(crate) fn own_acl_categories(spec: &CommandSpec) -> Vec<String> {
    if spec.flags & flags::ADMIN != 0 {
        // Administration (NAMESPACE, BINLOG, SYNCFILE, COMPACT): only in the admin
        // categories, so `+@write` or `+@read` never grants it.
        return vec!["@admin".into(), "@slow".into(), "@dangerous".into()];
    }
    let mut cats = Vec::new();
    if spec.flags & flags::WRITE != 0 {
        cats.push("@write".to_string());
    }
    if spec.flags & flags::READONLY != 0 {
        cats.push("@read".into());
    }
    if spec.flags & flags::FAST != 0 {
        cats.push("@fast".into());
    } else {
        cats.push("@slow".into());
    }
    if spec.flags & flags::ADMIN != 0 {
        cats.push("@admin".into());
        cats.push("@dangerous".into());
    }
    cats
}

/// The ACL categories of a command, as `COMMAND INFO` lists them.
fn acl_categories(spec: &CommandSpec) -> Vec<String> {
    match meta::get(spec.name) {
        Some(m) => m.acl.clone(),
        None => own_acl_categories(spec),
    }
}

/// One entry of `COMMAND` / `COMMAND INFO` (Redis 7 shape: 10 elements): Redis's own
/// declaration for the commands Redis has, built from the table for Strata's.
fn command_info(spec: &CommandSpec) -> Frame {
    if let Some(m) = meta::get(spec.name) {
        return m.info.clone();
    }
    Frame::Array(vec![
        Frame::bulk_str(spec.name),
        Frame::Integer(spec.arity as i64),
        Frame::Set(flag_frames(spec)),
        Frame::Integer(spec.first_key as i64),
        Frame::Integer(spec.last_key as i64),
        Frame::Integer(spec.step as i64),
        Frame::Set(
            own_acl_categories(spec)
                .into_iter()
                .map(Frame::Simple)
                .collect(),
        ),
        Frame::Set(vec![]),
        Frame::Set(vec![]),
        Frame::Set(vec![]),
    ])
}

fn command_docs(spec: &CommandSpec) -> Frame {
    if let Some(d) = meta::get(spec.name).and_then(|m| m.docs.clone()) {
        return d;
    }
    Frame::Map(vec![
        (Frame::bulk_str("summary"), Frame::bulk_str(spec.summary)),
        (Frame::bulk_str("since"), Frame::bulk_str(spec.since)),
        (Frame::bulk_str("group"), Frame::bulk_str(spec.group)),
        (
            Frame::bulk_str("complexity"),
            Frame::bulk_str(spec.complexity),
        ),
    ])
}

/// Every name `COMMAND LIST` reports: the commands and their subcommands (`client|list`),
/// with their ACL categories.
fn listed_names() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for spec in TABLE {
        out.push((spec.name.to_string(), acl_categories(spec)));
        if let Some(m) = meta::get(spec.name) {
            for (name, sub) in &m.subcommands {
                out.push((name.clone(), sub.acl.clone()));
            }
        }
    }
    out
}

/// The keys of a request with their key-spec flags, as `COMMAND GETKEYSANDFLAGS` reports
/// them: by Redis's key specs, or by the command's own rule where its specs cannot be
/// evaluated alone (SORT's STORE, SET's GET, BITFIELD's operations).
/// Redis's refusal of its protected MODULE subcommands (`enable-module-command no`).
pub(crate) const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

pub(crate) fn keys_and_flags(
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<Vec<(usize, Vec<String>)>, Frame> {
    let invalid = || Frame::error("ERR Invalid arguments specified for command");
    let by_specs = match meta::get(spec.name) {
        // A container (XINFO, XGROUP, OBJECT, MEMORY, ...): its subcommand's key specs (their
        // positions count from the container's name, as Redis's).
        Some(m) => match meta::subcommand_of(m, spec.name, args) {
            Some(sub) => {
                let arity = meta::arity_of(sub).unwrap_or(spec.arity);
                meta::keys_by_specs(&sub.key_specs, args, arity)
            }
            None => meta::keys_by_specs(&m.key_specs, args, spec.arity),
        },
        None => Err(meta::KeysError::NeedsProc),
    };
    let fl = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // ZUNIONSTORE & co. with a key count below 1 name no keys at all (Redis finds their keys
    // with its own rule, which gives up there): not even the destination.
    if matches!(spec.name, "zunionstore" | "zinterstore" | "zdiffstore")
        && args
            .get(2)
            .and_then(|n| storage::num::parse_i64(n))
            .is_none_or(|n| n < 1)
    {
        return Err(invalid());
    }
    match by_specs {
        Ok(k) => Ok(k),
        Err(meta::KeysError::Invalid) => Err(invalid()),
        Err(meta::KeysError::NeedsProc) => match spec.name {
            "set" => {
                let get = args[3..].iter().any(|a| eq_ic(a, "get"));
                Ok(vec![(
                    1,
                    if get {
                        fl(&["RW", "access", "update"])
                    } else {
                        fl(&["OW", "update"])
                    },
                )])
            }
            "bitfield" => {
                let writes = args[2..]
                    .iter()
                    .any(|a| eq_ic(a, "set") || eq_ic(a, "incrby"));
                Ok(vec![(
                    1,
                    if writes {
                        fl(&["RW", "access", "update"])
                    } else {
                        fl(&["RO", "access"])
                    },
                )])
            }
            _ => Ok(super::key_positions(spec, args)
                .into_iter()
                .map(|p| {
                    // SORT, GEORADIUS[BYMEMBER]: the source is read; the STORE destination
                    // overwritten.
                    let reads_first =
                        matches!(spec.name, "sort" | "georadius" | "georadiusbymember");
                    let f = if p > 1 {
                        fl(&["OW", "update"])
                    } else if spec.flags & flags::WRITE != 0 && !reads_first {
                        fl(&["RW", "access", "update"])
                    } else {
                        fl(&["RO", "access"])
                    };
                    (p, f)
                })
                .collect()),
        },
    }
}

pub fn command(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if args.len() == 1 {
        return Frame::Array(TABLE.iter().map(command_info).collect());
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let find = |a: &Bytes| super::lookup(a).map(|i| &TABLE[i]);
    match sub.as_str() {
        "count" if args.len() == 2 => Frame::Integer(TABLE.len() as i64),
        "info" => {
            if args.len() == 2 {
                return Frame::Array(TABLE.iter().map(command_info).collect());
            }
            Frame::Array(
                args[2..]
                    .iter()
                    .map(|a| find(a).map(command_info).unwrap_or(Frame::Null))
                    .collect(),
            )
        }
        "docs" => {
            let specs: Vec<&CommandSpec> = if args.len() == 2 {
                TABLE.iter().collect()
            } else {
                args[2..].iter().filter_map(find).collect()
            };
            Frame::Map(
                specs
                    .into_iter()
                    .map(|s| (Frame::bulk_str(s.name), command_docs(s)))
                    .collect(),
            )
        }
        "list" => {
            let mut names = listed_names();
            if args.len() == 5 && eq_ic(&args[2], "filterby") {
                let v = String::from_utf8_lossy(&args[4]).to_ascii_lowercase();
                if eq_ic(&args[3], "pattern") {
                    names.retain(|(n, _)| glob_match(v.as_bytes(), n.as_bytes(), true));
                } else if eq_ic(&args[3], "aclcat") {
                    let cat = format!("@{}", v.trim_start_matches('@'));
                    names.retain(|(_, cats)| cats.contains(&cat));
                } else if eq_ic(&args[3], "module") {
                    names.clear();
                } else {
                    return syntax_error();
                }
            } else if args.len() != 2 {
                return syntax_error();
            }
            Frame::Array(names.iter().map(|(n, _)| Frame::bulk_str(n)).collect())
        }
        "getkeys" | "getkeysandflags" if args.len() < 3 => Frame::Error(format!(
            "ERR wrong number of arguments for 'command|{sub}' command"
        )),
        "getkeys" | "getkeysandflags" => {
            let Some(spec) = find(&args[2]) else {
                return Frame::error("ERR Invalid command specified");
            };
            let cmd_args = &args[2..];
            // A container's subcommand (XINFO STREAM, OBJECT ENCODING) has its own keys and
            // arity.
            let m = meta::get(spec.name)
                .map(|m| meta::subcommand_of(m, spec.name, cmd_args).unwrap_or(m));
            let has_keys = spec.first_key > 0
                || super::numkeys_position(spec.name).is_some()
                || m.is_some_and(|m| m.key_specs.iter().any(|k| !k.has("not_key")));
            if !has_keys {
                return Frame::error("ERR The command has no key arguments");
            }
            let arity = m.and_then(meta::arity_of).unwrap_or(spec.arity);
            let n = cmd_args.len() as i32;
            if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
                return Frame::error("ERR Invalid number of arguments specified for command");
            }
            let keys = match keys_and_flags(spec, cmd_args) {
                Ok(k) => k,
                Err(f) => return f,
            };
            if keys.is_empty() {
                // EVAL & co. may name no key at all (Redis's `no_mandatory_keys`).
                if m.is_some_and(|m| m.flags.iter().any(|f| f == "no_mandatory_keys")) {
                    return Frame::Array(Vec::new());
                }
                return Frame::error("ERR Invalid arguments specified for command");
            }
            let with_flags = sub == "getkeysandflags";
            Frame::Array(
                keys.into_iter()
                    .map(|(i, f)| {
                        let key = Frame::Bulk(cmd_args[i].clone());
                        if with_flags {
                            Frame::Array(vec![
                                key,
                                Frame::Set(f.into_iter().map(Frame::Simple).collect()),
                            ])
                        } else {
                            key
                        }
                    })
                    .collect(),
            )
        }
        "help" => Frame::Array(
            [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        _ => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// `BINLOG PURGE|LEASE|LEASES|SNAPSHOT|HELP`: the binlog's admin commands (docs/binlog.md).
pub fn binlog(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    if sub == "help" && args.len() == 2 {
        return Frame::Array(
            [
                "BINLOG <subcommand> [<arg> ...]. Subcommands are:",
                "PURGE <offset>",
                "    Remove the segments whose records are all below <offset> (never what a lease or crash recovery needs).",
                "LEASE TAKE <owner> <offset> [<ttl-seconds>]",
                "    Keep the log from <offset> on until released or expired; returns the lease id.",
                "LEASE RENEW <id> <offset> [<ttl-seconds>]",
                "    Move a lease forward and extend it.",
                "LEASE RELEASE <id>",
                "    End a lease.",
                "LEASES",
                "    List the leases: id, owner, offset, milliseconds to expiry.",
                "SNAPSHOT <name>",
                "    Take a lease, then a checkpoint of the data in <dir>/snapshots/<name>; returns path, offset, lease id.",
            ]
            .iter()
            .map(|s| Frame::Simple((*s).into()))
            .collect(),
        );
    }
    let Some(log) = shared.binlog.get() else {
        return Frame::error("ERR the binlog is disabled (binlog no)");
    };
    let ttl = |i: usize| -> Result<std::time::Duration, Frame> {
        match args.get(i) {
            None => Ok(crate::commitlog::policy(shared).lease_ttl),
            Some(a) => match super::parse_int(a) {
                Ok(s) if s > 0 => Ok(std::time::Duration::from_secs(s as u64)),
                _ => Err(Frame::error("ERR invalid lease ttl")),
            },
        }
    };
    let offset = |i: usize| -> Result<u64, Frame> {
        match args.get(i).map(|a| super::parse_int(a)) {
            Some(Ok(n)) if n >= 0 => Ok(n as u64),
            _ => Err(Frame::error("ERR invalid binlog offset")),
        }
    };
    let sub2 = args
        .get(2)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .unwrap_or_default();
    let result: Result<Frame, Frame> = (|| match (sub.as_str(), args.len()) {
        ("purge", 3) => {
            let to = offset(2)?;
            crate::commitlog::purge(shared, Some(to))
                .map(|n| Frame::Integer(n as i64))
                .map_err(|e| Frame::Error(format!("ERR binlog purge failed: {e}")))
        }
        ("lease", 5 | 6) if sub2 == "take" => {
            let owner = String::from_utf8_lossy(&args[3]).into_owned();
            let (off, ttl) = (offset(4)?, ttl(5)?);
            let mut b = log.lock();
            if off < b.first_offset() {
                return Err(Frame::error("ERR offset is no longer in the binlog"));
            }
            Ok(Frame::Integer(b.take_lease(&owner, off, ttl) as i64))
        }
        ("lease", 5 | 6) if sub2 == "renew" => {
            let id = offset(3)?;
            let (off, ttl) = (offset(4)?, ttl(5)?);
            if log.lock().renew_lease(id, off, ttl) {
                Ok(Frame::ok())
            } else {
                Err(Frame::error("ERR no such lease (released or expired)"))
            }
        }
        ("lease", 4) if sub2 == "release" => {
            log.lock().release_lease(offset(3)?);
            Ok(Frame::ok())
        }
        ("leases", 2) => {
            let now = std::time::Instant::now();
            Ok(Frame::Array(
                log.lock()
                    .leases()
                    .into_iter()
                    .map(|l| {
                        Frame::Array(vec![
                            Frame::Integer(l.id as i64),
                            Frame::Bulk(Bytes::from(l.owner)),
                            Frame::Integer(l.offset as i64),
                            Frame::Integer(
                                l.expires.saturating_duration_since(now).as_millis() as i64
                            ),
                        ])
                    })
                    .collect(),
            ))
        }
        ("snapshot", 3) => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if name.is_empty()
                || name.starts_with('.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(Frame::error("ERR invalid snapshot name"));
            }
            let dir = shared.storage().path().join("snapshots");
            std::fs::create_dir_all(&dir)
                .map_err(|e| Frame::Error(format!("ERR cannot create {}: {e}", dir.display())))?;
            let path = dir.join(&name);
            if path.exists() {
                return Err(Frame::error("ERR a snapshot of that name exists"));
            }
            // The lease first, from the applied offset on: no purge can run between it and the
            // checkpoint that fixes the snapshot's offset.
            let ttl = crate::commitlog::policy(shared).lease_ttl;
            let from = shared.storage().applied_offset() + 1;
            let id = log
                .lock()
                .take_lease(&format!("snapshot:{name}"), from, ttl);
            shared.failpoints.hit("snapshot-before-checkpoint");
            let at = match shared.storage().checkpoint(&path) {
                Ok(at) => at,
                Err(e) => {
                    log.lock().release_lease(id);
                    return Err(Frame::Error(format!("ERR snapshot failed: {e}")));
                }
            };
            shared.failpoints.hit("snapshot-after-checkpoint");
            log.lock().renew_lease(id, at + 1, ttl);
            Ok(Frame::Array(vec![
                Frame::Bulk(Bytes::from(path.display().to_string())),
                Frame::Integer(at as i64),
                Frame::Integer(id as i64),
            ]))
        }
        _ => Err(Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try BINLOG HELP.",
            String::from_utf8_lossy(&args[1])
        ))),
    })();
    result.unwrap_or_else(|f| f)
}

/// BGREWRITEAOF: the binlog needs no rewrite; the closest work is compacting the engine
/// (dropping stale and expired data), started in the background as Redis starts its rewrite.
pub fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    let Some(me) = ctx.shared.me() else {
        return Frame::error("ERR server not ready");
    };
    let spawned = std::thread::Builder::new()
        .name("bgrewriteaof".into())
        .spawn(move || {
            let st = me.storage();
            if let Err(e) = st.flush_all().and_then(|()| st.compact_all()) {
                tracing::error!(error = %e, "BGREWRITEAOF compaction failed");
            } else {
                tracing::info!("BGREWRITEAOF: compaction finished");
            }
        });
    match spawned {
        Ok(_) => Frame::Simple("Background append only file rewriting started".into()),
        Err(e) => Frame::Error(format!("ERR Can't start the compaction: {e}")),
    }
}

/// LOLWUT [VERSION v]: Redis 7.0 answers its version line for versions without art.
pub fn lolwut(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut i = 1;
    while i < args.len() {
        if eq_ic(&args[i], "version") && i + 1 < args.len() {
            if let Err(f) = super::parse_int(&args[i + 1]) {
                return f;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    Frame::Verbatim(Bytes::from(format!(
        "Redis ver. {}\n",
        crate::REDIS_VERSION
    )))
}

/// ASKING, READONLY, READWRITE: cluster commands, refused as by a Redis without cluster mode.
pub fn cluster_disabled(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    Frame::error("ERR This instance has cluster support disabled")
}

/// MODULE LIST | HELP answer as a Redis without modules; LOAD, LOADEX and UNLOAD as a Redis
/// whose `enable-module-command` is `no` (Strata loads no modules).
pub fn module(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match sub.as_str() {
        "list" => Frame::Array(Vec::new()),
        "help" => Frame::Array(
            [
                "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LIST",
                "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>",
                "    Unload a module.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        _ => Frame::error(MODULE_NOT_ALLOWED),
    }
}
