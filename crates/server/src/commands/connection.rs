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
            ctx.session.db = ctx.session.base() + n as u32;
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

/// Checks a password for a user; only the `default` user exists.
fn check_password(ctx: &mut Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> Result<(), Frame> {
    let required = ctx.shared.requirepass();
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && (required.is_empty() || required.as_bytes() == pass) {
        // The admin, in the default namespace.
        if ctx.session.ns.take().is_some() {
            ctx.session.db = 0;
            ctx.session.client.db.store(0, Ordering::Relaxed);
        }
        ctx.session.authed = true;
        Ok(())
    } else if let Some(ns) = user_ok
        .then(|| ctx.shared.namespaces.by_token(pass))
        .flatten()
    {
        // A namespace's token: this client works inside that namespace only.
        ctx.session.db = ns.base;
        ctx.session.client.db.store(0, Ordering::Relaxed);
        ctx.session.ns = Some(ns);
        ctx.session.authed = true;
        Ok(())
    } else {
        Err(Frame::error(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match args.len() {
        2 => {
            if ctx.shared.requirepass().is_empty() {
                return Frame::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            }
            match check_password(ctx, None, &args[1]) {
                Ok(()) => Frame::ok(),
                Err(f) => f,
            }
        }
        3 => match check_password(ctx, Some(&args[1]), &args[2]) {
            Ok(()) => Frame::ok(),
            Err(f) => f,
        },
        _ => syntax_error(),
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
            if let Err(f) = check_password(ctx, Some(&args[i + 1]), &args[i + 2]) {
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
    if !ctx.session.authed && !ctx.shared.requirepass().is_empty() {
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
    ctx.session.db = 0;
    ctx.session.client.db.store(0, Ordering::Relaxed);
    ctx.session.proto = Protocol::Resp2;
    ctx.session.client.resp.store(2, Ordering::Relaxed);
    ctx.session.authed = ctx.shared.requirepass().is_empty();
    if let Ok(mut n) = ctx.session.client.name.lock() {
        *n = None;
    }
    ctx.session.reply_off = false;
    ctx.session.reply_skip = 0;
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
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Set client library name or version.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST [TYPE normal|master|replica|pubsub] [ID <id> [<id> ...]]",
                "    Return information about client connections.",
                "KILL <ip:port> | KILL <option> <value> [<option> <value> ...]",
                "    Kill connections. Options: ID, TYPE, ADDR, LADDR, SKIPME, MAXAGE.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        "id" | "getname" | "setname" | "setinfo" | "info" | "kill" | "no-evict" | "no-touch"
        | "unblock" | "reply" | "pause" | "unpause" | "help" => sub_arity(&sub),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
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
            if vs != "default" {
                return Frame::Error(format!("ERR No such user '{vs}'"));
            }
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
