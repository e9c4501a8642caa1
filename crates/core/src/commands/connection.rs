//! Connection commands: PING ECHO SELECT QUIT HELLO AUTH CLIENT RESET.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use resp::{Frame, Protocol};

use super::{eq_ic, parse_int, syntax_error, Ctx};

pub fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if ctx.session.proto == Protocol::Resp2 && ctx.session.subscribed() && args.len() <= 2 {
        // Subscribed RESP2 connections get PING's answer in the shape of a message.
        return Frame::Array(vec![
            Frame::bulk_str("pong"),
            Frame::Bulk(args.get(1).cloned().unwrap_or_default()),
        ]);
    }
    match args.len() {
        1 => Frame::Simple("PONG".into()),
        2 => Frame::Bulk(args[1].clone()),
        _ => super::wrong_arity("ping"),
    }
}

pub fn echo(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    Frame::Bulk(args[1].clone())
}

pub fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match parse_int(&args[1]) {
        Ok(n) if n >= 0 && n < ctx.shared.databases() as i64 => {
            let ldb = ctx.session.base() + n as u32;
            ctx.session.select_db(&ctx.db, ldb);
            ctx.session.client.db.store(n as u32, Ordering::Relaxed);
            Frame::ok()
        }
        Ok(_) => Frame::error("ERR DB index is out of range"),
        Err(f) => f,
    }
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    ctx.session.close_after_reply = true;
    Frame::ok()
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let result = match args.len() {
        2 => {
            let d = ctx.shared.access.default_user().get();
            if d.nopass && d.enabled {
                return Frame::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            }
            crate::access::authenticate(ctx, None, &args[1], &args[0])
        }
        3 => crate::access::authenticate(ctx, Some(&args[1]), &args[2], &args[0]),
        _ => return syntax_error(),
    };
    match result {
        Ok(()) => Frame::ok(),
        Err(f) => f,
    }
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(ctx: &mut Ctx<'_>, name: &Bytes) -> Result<(), Frame> {
    if !valid_client_name(name) {
        return Err(Frame::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Ok(mut n) = ctx.session.client.name.lock() {
        *n = if name.is_empty() {
            None
        } else {
            Some(name.clone())
        };
    }
    Ok(())
}

pub fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut proto = ctx.session.proto;
    let mut i = 1;
    if args.len() > 1 {
        match parse_int(&args[1]) {
            Ok(2) => proto = Protocol::Resp2,
            Ok(3) => proto = Protocol::Resp3,
            Ok(_) => return Frame::error("NOPROTO unsupported protocol version"),
            Err(_) => {
                return Frame::error("ERR Protocol version is not an integer or out of range")
            }
        }
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        if eq_ic(&args[i], "auth") && i + 2 < args.len() {
            if let Err(f) =
                crate::access::authenticate(ctx, Some(&args[i + 1]), &args[i + 2], &args[0])
            {
                return f;
            }
            i += 3;
        } else if eq_ic(&args[i], "setname") && i + 1 < args.len() {
            setname = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Frame::Error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if !ctx.session.authed && ctx.shared.access.auth_required() {
        return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        if let Err(f) = set_name(ctx, &name) {
            return f;
        }
    }
    ctx.session.proto = proto;
    ctx.session.client.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    Frame::Map(vec![
        (Frame::bulk_str("server"), Frame::bulk_str("redis")),
        (
            Frame::bulk_str("version"),
            Frame::bulk_str(crate::REDIS_VERSION),
        ),
        (
            Frame::bulk_str("proto"),
            Frame::Integer(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (
            Frame::bulk_str("id"),
            Frame::Integer(ctx.session.client.id as i64),
        ),
        (Frame::bulk_str("mode"), Frame::bulk_str("standalone")),
        (Frame::bulk_str("role"), Frame::bulk_str("master")),
        (Frame::bulk_str("modules"), Frame::Array(vec![])),
    ])
}

pub fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    if let Some(mut sub) = ctx.session.sub.take() {
        ctx.shared.pubsub.unsubscribe_all(&mut sub);
    }
    ctx.session.multi = None;
    ctx.session.client.multi.store(-1, Ordering::Relaxed);
    ctx.session.watches.clear();
    ctx.session.ns = None;
    ctx.session.select_db(&ctx.db, 0);
    ctx.session.client.db.store(0, Ordering::Relaxed);
    ctx.session.proto = Protocol::Resp2;
    ctx.session.client.resp.store(2, Ordering::Relaxed);
    ctx.session.authed = !ctx.shared.access.auth_required();
    crate::access::set_user(ctx.session, ctx.shared.access.default_user());
    if let Ok(mut n) = ctx.session.client.name.lock() {
        *n = None;
    }
    ctx.session.reply_off = false;
    ctx.session.reply_skip = 0;
    ctx.shared.tracking.disable(ctx.session.client.id);
    ctx.session.tracking = false;
    ctx.session.caching = false;
    ctx.shared.monitors.remove(ctx.session.client.id);
    ctx.session.monitoring = false;
    let c = &ctx.session.client;
    c.tracking.store(0, Ordering::Relaxed);
    c.redir.store(-1, Ordering::Relaxed);
    c.monitor.store(false, Ordering::Relaxed);
    Frame::Simple("RESET".into())
}

fn sub_arity(sub: &str) -> Frame {
    Frame::Error(format!(
        "ERR wrong number of arguments for 'client|{sub}' command"
    ))
}

pub fn client(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let n = args.len();
    match sub.as_str() {
        "id" if n == 2 => Frame::Integer(ctx.session.client.id as i64),
        "getname" if n == 2 => {
            let name = ctx.session.client.name.lock().ok().and_then(|n| n.clone());
            super::bulk_or_null(name)
        }
        "setname" if n == 3 => match set_name(ctx, &args[2]) {
            Ok(()) => Frame::ok(),
            Err(f) => f,
        },
        "setinfo" if n == 4 => {
            let target = if eq_ic(&args[2], "lib-name") {
                &ctx.session.client.lib_name
            } else if eq_ic(&args[2], "lib-ver") {
                &ctx.session.client.lib_ver
            } else {
                return Frame::Error(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&args[2])
                ));
            };
            if !valid_client_name(&args[3]) {
                return Frame::error(
                    "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.",
                );
            }
            if let Ok(mut v) = target.lock() {
                *v = Some(args[3].clone());
            }
            Frame::ok()
        }
        "info" if n == 2 => {
            Frame::Verbatim(Bytes::from(format!("{}\n", ctx.session.client.describe())))
        }
        "list" => client_list(ctx, args),
        "kill" if n >= 3 => client_kill(ctx, args),
        "unblock" if n == 3 || n == 4 => {
            let Ok(id) = parse_int(&args[2]) else {
                return Frame::error("ERR value is not an integer or out of range");
            };
            let reply = match args.get(3) {
                None => None,
                Some(a) if eq_ic(a, "timeout") => None,
                Some(a) if eq_ic(a, "error") => Some(Frame::error(
                    "UNBLOCKED client unblocked via CLIENT UNBLOCK",
                )),
                Some(_) => {
                    return Frame::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
                }
            };
            Frame::Integer(ctx.shared.blocked.unblock(id as u64, reply) as i64)
        }
        "tracking" if n >= 3 => client_tracking(ctx, args),
        "caching" if n == 3 => {
            let Some(t) = ctx
                .shared
                .tracking
                .settings(ctx.session.client.id)
                .filter(|_| ctx.session.tracking)
            else {
                return Frame::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
            };
            if eq_ic(&args[2], "yes") {
                if !t.optin {
                    return Frame::error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
                }
            } else if eq_ic(&args[2], "no") {
                if !t.optout {
                    return Frame::error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
                }
            } else {
                return syntax_error();
            }
            ctx.session.caching = true;
            Frame::ok()
        }
        "getredir" if n == 2 => {
            Frame::Integer(match ctx.shared.tracking.settings(ctx.session.client.id) {
                Some(t) if ctx.session.tracking => t.redirect as i64,
                _ => -1,
            })
        }
        "trackinginfo" if n == 2 => {
            let t = ctx
                .shared
                .tracking
                .settings(ctx.session.client.id)
                .filter(|_| ctx.session.tracking);
            let mut flags = Vec::new();
            let (redirect, prefixes) = match &t {
                None => {
                    flags.push("off");
                    (-1, Vec::new())
                }
                Some(t) => {
                    flags.push("on");
                    for (on, name) in [(t.bcast, "bcast"), (t.optin, "optin"), (t.optout, "optout")]
                    {
                        if on {
                            flags.push(name);
                        }
                    }
                    if ctx.session.caching {
                        flags.push(if t.optin { "caching-yes" } else { "caching-no" });
                    }
                    if t.noloop {
                        flags.push("noloop");
                    }
                    // In byte order, as Redis keeps them (a radix tree).
                    let mut sorted: Vec<Bytes> =
                        t.prefixes.iter().map(crate::namespace::unscope).collect();
                    sorted.sort();
                    let prefixes = sorted.into_iter().map(Frame::Bulk).collect();
                    (t.redirect as i64, prefixes)
                }
            };
            Frame::Map(vec![
                (
                    Frame::bulk_str("flags"),
                    Frame::Set(flags.into_iter().map(Frame::bulk_str).collect()),
                ),
                (Frame::bulk_str("redirect"), Frame::Integer(redirect)),
                (Frame::bulk_str("prefixes"), Frame::Array(prefixes)),
            ])
        }
        "pause" if n == 3 || n == 4 => {
            let ms = match parse_int(&args[2]) {
                Ok(v) if v < 0 => return Frame::error("ERR timeout is negative"),
                Ok(v) => v as u64,
                Err(_) => return Frame::error("ERR timeout is not an integer or out of range"),
            };
            let all = match args.get(3) {
                None => true,
                Some(m) if eq_ic(m, "all") => true,
                Some(m) if eq_ic(m, "write") => false,
                Some(_) => return Frame::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
            };
            ctx.shared
                .client_pause
                .pause(storage::now_ms().saturating_add(ms), all);
            Frame::ok()
        }
        "unpause" if n == 2 => {
            ctx.shared.client_pause.unpause();
            Frame::ok()
        }
        "reply" if n == 3 => {
            if eq_ic(&args[2], "on") {
                ctx.session.reply_off = false;
                ctx.session.reply_skip = 0;
            } else if eq_ic(&args[2], "off") {
                ctx.session.reply_off = true;
            } else if eq_ic(&args[2], "skip") {
                // This command's reply and the next one's.
                ctx.session.reply_skip = 2;
            } else {
                return syntax_error();
            }
            Frame::ok()
        }
        "no-evict" | "no-touch" if n == 3 => {
            if eq_ic(&args[2], "on") || eq_ic(&args[2], "off") {
                Frame::ok()
            } else {
                syntax_error()
            }
        }
        "help" if n == 2 => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CACHING (YES|NO)",
                "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
                "GETREDIR",
                "    Return the client ID we are redirecting to when tracking is enabled.",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "UNPAUSE",
                "    Stop the current client pause, resuming traffic.",
                "PAUSE <timeout> [WRITE|ALL]",
                "    Suspend all, or just write, clients for <timeout> milliseconds.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                "         [OPTIN] [OPTOUT] [NOLOOP]",
                "    Control server assisted client side caching.",
                "TRACKINGINFO",
                "    Report tracking status for the current connection.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        "id" | "getname" | "setname" | "setinfo" | "info" | "kill" | "no-evict" | "no-touch"
        | "unblock" | "reply" | "pause" | "unpause" | "tracking" | "caching" | "getredir"
        | "trackinginfo" | "help" => sub_arity(&sub),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP],
/// with Redis 7.0's checks in its order.
fn client_tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    use crate::tracking::Settings;
    let mut new = Settings::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if eq_ic(&args[j], "redirect") && more {
            j += 1;
            if new.redirect != 0 {
                return Frame::error("ERR A client can only redirect to a single other client");
            }
            let id = match parse_int(&args[j]) {
                Ok(id) => id,
                Err(f) => return f,
            };
            if id <= 0 || !ctx.shared.clients.all().iter().any(|c| c.id == id as u64) {
                return Frame::error("ERR The client ID you want redirect to does not exist");
            }
            new.redirect = id as u64;
        } else if eq_ic(&args[j], "bcast") {
            new.bcast = true;
        } else if eq_ic(&args[j], "optin") {
            new.optin = true;
        } else if eq_ic(&args[j], "optout") {
            new.optout = true;
        } else if eq_ic(&args[j], "noloop") {
            new.noloop = true;
        } else if eq_ic(&args[j], "prefix") && more {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let id = ctx.session.client.id;
    if eq_ic(&args[2], "off") {
        ctx.shared.tracking.disable(id);
        ctx.session.tracking = false;
        ctx.session.caching = false;
        ctx.session.client.tracking.store(0, Ordering::Relaxed);
        ctx.session.client.redir.store(-1, Ordering::Relaxed);
        return Frame::ok();
    }
    if !eq_ic(&args[2], "on") {
        return syntax_error();
    }
    if !new.bcast && !prefixes.is_empty() {
        return Frame::error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    let old = ctx
        .shared
        .tracking
        .settings(id)
        .filter(|_| ctx.session.tracking);
    if old.as_ref().is_some_and(|o| o.bcast != new.bcast) {
        return Frame::error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if new.bcast && (new.optin || new.optout) {
        return Frame::error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if new.optin && new.optout {
        return Frame::error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if old
        .as_ref()
        .is_some_and(|o| (new.optin && o.optout) || (new.optout && o.optin))
    {
        return Frame::error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    let base = ctx.session.base();
    let mut all: Vec<Bytes> = old.as_ref().map(|o| o.prefixes.clone()).unwrap_or_default();
    if new.bcast {
        // Prefixes of one client must not overlap (each key would be sent twice).
        for (i, p) in prefixes.iter().enumerate() {
            let scoped = crate::namespace::scope(base, p);
            for q in &all {
                if q.starts_with(&scoped) || scoped.starts_with(q) {
                    return Frame::Error(format!(
                        "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(&crate::namespace::unscope(q))
                    ));
                }
            }
            for q in &prefixes[i + 1..] {
                if q.starts_with(p) || p.starts_with(q) {
                    return Frame::Error(format!(
                        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(q)
                    ));
                }
            }
        }
        all.extend(prefixes.iter().map(|p| crate::namespace::scope(base, p)));
        // No PREFIX at all: every key (an empty prefix).
        if all.is_empty() {
            all.push(crate::namespace::scope(base, b""));
        }
    }
    new.prefixes = all;
    // Its own mailbox receives the pushes of a RESP3 client without redirection.
    let own = if new.redirect == 0 && ctx.session.proto == Protocol::Resp3 {
        let client = ctx.session.client.clone();
        Some(
            ctx.session
                .sub
                .get_or_insert_with(|| crate::pubsub::Subscriber::new(client))
                .mailbox
                .clone(),
        )
    } else {
        None
    };
    let (bcast, redir) = (new.bcast, new.redirect);
    ctx.shared
        .tracking
        .enable(id, new, own, crate::namespace::scope(base, b""));
    ctx.session.tracking = true;
    let c = &ctx.session.client;
    c.tracking
        .store(if bcast { 2 } else { 1 }, Ordering::Relaxed);
    c.redir.store(redir as i64, Ordering::Relaxed);
    Frame::ok()
}

fn client_kind(t: &str) -> &str {
    match t {
        "slave" => "replica",
        t => t,
    }
}

fn client_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        if eq_ic(&args[i], "type") && i + 1 < args.len() {
            let t = &args[i + 1];
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| eq_ic(t, n))
            {
                return Frame::Error(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                ));
            }
            kind = Some(client_kind(&String::from_utf8_lossy(t).to_ascii_lowercase()).to_string());
            i += 2;
        } else if eq_ic(&args[i], "id") && i + 1 < args.len() {
            let mut v = Vec::new();
            for a in &args[i + 1..] {
                match parse_int(a) {
                    Ok(id) if id > 0 => v.push(id as u64),
                    _ => return Frame::error("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return syntax_error();
        }
    }
    let mut out = String::new();
    for c in ctx.shared.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id))
            || kind.as_ref().is_some_and(|k| c.kind() != k)
        {
            continue;
        }
        out.push_str(&c.describe());
        out.push('\n');
    }
    Frame::Verbatim(Bytes::from(out))
}

fn client_kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let me = ctx.session.client.id;
    // Old form: CLIENT KILL ip:port.
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]);
        for c in ctx.shared.clients.all() {
            if c.addr.to_string() == addr {
                if c.id == me {
                    ctx.session.close_after_reply = true;
                } else {
                    c.kill.cancel();
                }
                return Frame::ok();
            }
        }
        return Frame::error("ERR No such client");
    }
    if !args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut ty: Option<String> = None;
    let mut skipme = true;
    let mut maxage: Option<u64> = None;
    let mut user: Option<String> = None;
    for pair in args[2..].chunks(2) {
        let (k, v) = (&pair[0], &pair[1]);
        let vs = String::from_utf8_lossy(v).to_string();
        if eq_ic(k, "id") {
            match parse_int(v) {
                Ok(n) if n > 0 => id = Some(n as u64),
                _ => return Frame::error("ERR client-id should be greater than 0"),
            }
        } else if eq_ic(k, "addr") {
            addr = Some(vs);
        } else if eq_ic(k, "laddr") {
            laddr = Some(vs);
        } else if eq_ic(k, "type") {
            let t = vs.to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Frame::Error(format!("ERR Unknown client type '{vs}'"));
            }
            ty = Some(t);
        } else if eq_ic(k, "skipme") {
            if eq_ic(v, "yes") {
                skipme = true;
            } else if eq_ic(v, "no") {
                skipme = false;
            } else {
                return syntax_error();
            }
        } else if eq_ic(k, "maxage") {
            match parse_int(v) {
                Ok(n) if n >= 0 => maxage = Some(n as u64),
                _ => return syntax_error(),
            }
        } else if eq_ic(k, "user") {
            if ctx.shared.access.user(v).is_none() {
                return Frame::Error(format!("ERR No such user '{vs}'"));
            }
            user = Some(vs);
        } else {
            return syntax_error();
        }
    }
    let mut killed = 0;
    for c in ctx.shared.clients.all() {
        if id.is_some_and(|id| c.id != id)
            || addr.as_ref().is_some_and(|a| c.addr.to_string() != *a)
            || laddr.as_ref().is_some_and(|a| c.laddr.to_string() != *a)
            || ty.as_ref().is_some_and(|t| c.kind() != client_kind(t))
            || maxage.is_some_and(|m| c.created.elapsed().as_secs() < m)
            || user
                .as_ref()
                .is_some_and(|u| c.user.lock().map(|cu| *cu != *u).unwrap_or(true))
        {
            continue;
        }
        if c.id == me {
            if skipme {
                continue;
            }
            ctx.session.close_after_reply = true;
        } else {
            c.kill.cancel();
        }
        killed += 1;
    }
    Frame::Integer(killed)
}
