//! The Lua 5.1 interpreter scripts run in (Redis 7.0's sandbox, see `prelude.lua`), the script
//! cache, and the conversions between Lua values and replies (Redis's tables, RESP2 and RESP3).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use resp::Frame;

use super::RunState;

const PRELUDE: &str = include_str!("prelude.lua");

/// Instructions between two checks of the running script (SCRIPT KILL, shutdown).
const HOOK_EVERY: u32 = 100_000;

/// The flags of a script's `#!lua flags=...` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// The script has a shebang line (flags then apply; without one, Redis's legacy rules).
    pub shebang: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
}

/// A compiled, cached script.
pub struct Script {
    pub body: Bytes,
    pub func: Function,
    pub flags: ScriptFlags,
}

pub struct Vm {
    pub lua: Lua,
    /// The real globals table (scripts see it through a read-only proxy).
    pub real: Table,
    /// The real `redis` table.
    pub redis: Table,
    /// The sandbox's private table (FCALL's trampoline, library environments).
    pub private: Table,
    /// FUNCTION libraries compiled in this interpreter.
    pub functions: super::functions::Registry,
    /// The read-only globals proxy scripts run in.
    pub globals: Table,
    /// The error handler of a script's run (adds where the error happened).
    pub handler: Function,
    pub xpcall: Function,
    pub scripts: HashMap<String, Script>,
    /// Bytes of the cached scripts' bodies.
    pub cached_bytes: u64,
}

impl Vm {
    pub fn new(memory_limit: usize, run: Arc<RunState>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let g = lua.globals();
        let redis = redis_lib(&lua)?;
        g.raw_set("redis", redis.clone())?;
        g.raw_set("bit", bit_lib(&lua)?)?;
        g.raw_set("cjson", super::cjson::lib(&lua)?)?;
        g.raw_set("cmsgpack", super::cmsgpack::lib(&lua)?)?;
        g.raw_set("struct", super::structlib::lib(&lua)?)?;
        let xpcall: Function = g.raw_get("xpcall")?;
        let (private, globals): (Table, Table) = lua
            .load(PRELUDE)
            .set_name("=strata")
            .set_mode(ChunkMode::Text)
            .eval()?;
        private.raw_set(
            "unwrap",
            lua.create_function(|lua, e: Value| match raised(&e) {
                Some(msg) => {
                    let t = lua.create_table()?;
                    t.raw_set("err", msg)?;
                    Ok(Value::Table(t))
                }
                None => Ok(e),
            })?,
        )?;
        redis.raw_set("call", lua.create_function(super::redis_call)?)?;
        redis.raw_set("pcall", lua.create_function(super::redis_pcall)?)?;
        redis.raw_set("setresp", lua.create_function(super::redis_setresp)?)?;
        lua.set_app_data(super::RunPtr::default());
        lua.set_globals(globals.clone())?;
        let handler = lua.create_function(error_handler)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if run.kill.load(Ordering::Acquire) {
                    return Err(mlua::Error::RuntimeError(KILLED.into()));
                }
                Ok(VmState::Continue)
            },
        )?;
        if memory_limit > 0 {
            lua.set_memory_limit(memory_limit)?;
        }
        Ok(Vm {
            lua,
            real: g,
            redis,
            private,
            functions: Default::default(),
            globals,
            handler,
            xpcall,
            scripts: HashMap::new(),
            cached_bytes: 0,
        })
    }

    /// Bytes the interpreter holds.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// The cached script `sha`, compiling and caching `body` if it is not there yet. Errors
    /// are the replies (bad shebang, syntax error).
    pub fn load(&mut self, sha: &str, body: &[u8]) -> Result<&Script, Frame> {
        if !self.scripts.contains_key(sha) {
            let (flags, code) = shebang(body)?;
            let func = self
                .lua
                .load(&code[..])
                .set_name("@user_script")
                .set_mode(ChunkMode::Text)
                .set_environment(self.globals.clone())
                .into_function()
                .map_err(|e| {
                    Frame::Error(format!(
                        "ERR Error compiling script (new function): {}",
                        one_line(&lua_message(&e))
                    ))
                })?;
            self.cached_bytes += body.len() as u64;
            self.scripts.insert(
                sha.to_string(),
                Script {
                    body: Bytes::copy_from_slice(body),
                    func,
                    flags,
                },
            );
        }
        self.scripts
            .get(sha)
            .ok_or_else(|| Frame::error("NOSCRIPT No matching script. Please use EVAL."))
    }
}

pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// While alive, the interpreter's memory limit is off. With a limit, mlua creates every string
/// and table the server hands to Lua inside a protected call of its own (it may fail); that
/// was a fifth of a one-command script's cost (docs/benchmarks.md, session 9). The server's
/// own values (KEYS, ARGV, command replies) are made unlimited; the script runs limited.
pub struct Unlimited<'a> {
    lua: &'a Lua,
    limit: usize,
}

impl<'a> Unlimited<'a> {
    pub fn new(lua: &'a Lua) -> Unlimited<'a> {
        let limit = lua.set_memory_limit(0).unwrap_or(0);
        Unlimited { lua, limit }
    }
}

impl Drop for Unlimited<'_> {
    fn drop(&mut self) {
        if self.limit > 0 {
            let _ = self.lua.set_memory_limit(self.limit);
        }
    }
}

/// An error raised by a library function as Lua's `luaL_error` raises it: prefixed with where
/// the script called it (`user_script:3: ...`).
pub fn lib_error(lua: &Lua, msg: &str) -> mlua::Error {
    let at = lua
        .inspect_stack(1, |d| {
            let src = d.source().short_src.map(|s| s.into_owned());
            (src, d.current_line())
        })
        .and_then(|(src, line)| Some(format!("{}:{}: ", src?, line?)))
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{at}{msg}"))
}

/// Marks the message of an error `redis.call` raises (a failed command): it reaches the
/// script (pcall) and the caller as Redis's error table `{err = message}`.
const RAISED: &str = "\u{1}strata-raised:";

/// The error `redis.call` raises for a failed command's error reply `msg`.
pub fn raise(msg: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{RAISED}{msg}"))
}

/// The message of an error raised by [`raise`].
fn raised(e: &Value) -> Option<String> {
    match e {
        Value::Error(e) => lua_message(e).strip_prefix(RAISED).map(str::to_string),
        _ => None,
    }
}

/// Redis's normalisation of an error message given to a script (`luaPushErrorBuff`):
/// `-CODE msg` keeps its code, anything else gets `ERR`.
pub fn error_text(msg: &str) -> String {
    match msg.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, m)) => format!("{code} {m}"),
            None => format!("ERR {rest}"),
        },
        None => format!("ERR {msg}"),
    }
}

/// Parses a `#!lua flags=a,b` first line: the flags, and the code to compile (the shebang
/// line blanked, so line numbers stay those of the script).
pub fn shebang(body: &[u8]) -> Result<(ScriptFlags, Vec<u8>), Frame> {
    let mut flags = ScriptFlags::default();
    if !body.starts_with(b"#!") {
        return Ok((flags, body.to_vec()));
    }
    flags.shebang = true;
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut words = line[2..].split_ascii_whitespace();
    if words.next() != Some("lua") {
        return Err(Frame::Error(format!(
            "ERR Unexpected engine in script shebang: {line}"
        )));
    }
    for w in words {
        let Some(list) = w.strip_prefix("flags=") else {
            return Err(Frame::Error(format!("ERR Unknown lua shebang option: {w}")));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(Frame::Error(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok((flags, body[end..].to_vec()))
}

/// The message of a Lua error as Lua would print it (without mlua's own prefixes).
pub fn lua_message(e: &mlua::Error) -> String {
    let m = match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => return lua_message(cause),
        other => other.to_string(),
    };
    match m.split_once("\nstack traceback:") {
        Some((head, _)) => head.to_string(),
        None => m,
    }
}

/// Error replies are one line.
pub fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// The `xpcall` handler of a run: the error as Redis's error table (`err`, and `source`/`line`
/// of the script line that raised it).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let t = match err {
        Value::Table(t) => t,
        other if raised(&other).is_some() => {
            let t = lua.create_table()?;
            t.raw_set("err", raised(&other).unwrap_or_default())?;
            t
        }
        other => {
            let msg = match &other {
                Value::String(s) => s.to_string_lossy(),
                Value::Error(e) => lua_message(e),
                v => v.to_string().unwrap_or_default(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {msg}"))?;
            t
        }
    };
    // The first Lua frame that is not the sandbox's own code (redis.call's wrapper).
    for level in 1..32 {
        let Some((what, source, line)) = lua.inspect_stack(level, |d| {
            let s = d.source();
            (
                s.what,
                s.source.map(|c| c.into_owned()).unwrap_or_default(),
                d.current_line(),
            )
        }) else {
            break;
        };
        if what != "C" && source != "=strata" {
            t.raw_set("source", source)?;
            if let Some(line) = line {
                t.raw_set("line", line as i64)?;
            }
            break;
        }
    }
    Ok(Value::Table(t))
}

/// The final error reply of a script that failed with error table `t`.
pub fn error_reply(t: &Value, sha: &str) -> Frame {
    let (err, source, line) = match t {
        Value::Table(t) => (
            t.raw_get::<Option<mlua::LuaString>>("err")
                .ok()
                .flatten()
                .map(|s| s.to_string_lossy())
                .unwrap_or_else(|| "ERR unknown error".into()),
            t.raw_get::<Option<String>>("source").ok().flatten(),
            t.raw_get::<Option<i64>>("line").ok().flatten(),
        ),
        Value::String(s) => (format!("ERR {}", s.to_string_lossy()), None, None),
        Value::Error(e) => (format!("ERR {}", lua_message(e)), None, None),
        _ => ("ERR unknown error".into(), None, None),
    };
    let msg = match (source, line) {
        (Some(src), Some(line)) => format!("{err} script: {sha}, on {src}:{line}."),
        _ => format!("{err} script: {sha}"),
    };
    Frame::Error(one_line(&msg))
}

fn redis_lib(lua: &Lua) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        r.raw_set(name, v)?;
    }
    r.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
    let num = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0))
        .fold(0i64, |acc, p| acc * 256 + p);
    r.raw_set("REDIS_VERSION_NUM", num)?;
    r.raw_set(
        "error_reply",
        lua.create_function(|lua, msg: mlua::LuaString| {
            let s = msg.to_string_lossy();
            let t = lua.create_table()?;
            let dashed = if s.starts_with('-') {
                s
            } else {
                format!("-{s}")
            };
            t.raw_set("err", error_text(&dashed))?;
            Ok(t)
        })?,
    )?;
    r.raw_set(
        "status_reply",
        lua.create_function(|lua, msg: mlua::LuaString| {
            let t = lua.create_table()?;
            t.raw_set("ok", msg)?;
            Ok(t)
        })?,
    )?;
    r.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::LuaString| Ok(sha1_hex(&s.as_bytes())))?,
    )?;
    r.raw_set(
        "log",
        lua.create_function(|_, args: mlua::Variadic<Value>| {
            if args.len() < 2 {
                return Err(mlua::Error::RuntimeError(
                    "redis.log() requires two arguments or more.".into(),
                ));
            }
            let level = match &args[0] {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                _ => -1,
            };
            if !(0..=3).contains(&level) {
                return Err(mlua::Error::RuntimeError("Invalid debug level.".into()));
            }
            let msg = args[1..]
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy(),
                    v => v.to_string().unwrap_or_default(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            match level {
                0 => tracing::debug!(target: "script", "{msg}"),
                1 | 2 => tracing::info!(target: "script", "{msg}"),
                _ => tracing::warn!(target: "script", "{msg}"),
            }
            Ok(())
        })?,
    )?;
    // Effects are always what is replicated: these are accepted and change nothing.
    r.raw_set(
        "set_repl",
        lua.create_function(|_, _: mlua::Variadic<Value>| Ok(()))?,
    )?;
    r.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    r.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    r.raw_set(
        "debug",
        lua.create_function(|_, _: mlua::Variadic<Value>| Ok(()))?,
    )?;
    r.raw_set(
        "acl_check_cmd",
        lua.create_function(|_, args: mlua::Variadic<Value>| {
            let name = match args.first() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            if crate::commands::lookup(&name).is_none() {
                return Err(mlua::Error::RuntimeError(
                    "Invalid command passed to redis.acl_check_cmd()".into(),
                ));
            }
            Ok(true)
        })?,
    )?;
    Ok(r)
}

pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// LuaBitOp's number → 32-bit integer (modulo 2^32, rounding to nearest even).
fn tobit(v: &Value) -> mlua::Result<i32> {
    let f = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_string_lossy()
            .trim()
            .parse::<f64>()
            .map_err(|_| mlua::Error::RuntimeError("bad argument to bit operation".into()))?,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "bad argument #1 (number expected)".into(),
            ))
        }
    };
    Ok(f.round_ties_even().rem_euclid(4294967296.0) as u64 as u32 as i32)
}

fn bit_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |lua: &Lua, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: mlua::Variadic<Value>| {
            let mut it = args.iter();
            let mut acc = tobit(it.next().unwrap_or(&Value::Nil))?;
            for v in it {
                acc = op(acc, tobit(v)?);
            }
            Ok(acc as i64)
        })
    };
    t.raw_set("band", fold(lua, |a, b| a & b)?)?;
    t.raw_set("bor", fold(lua, |a, b| a | b)?)?;
    t.raw_set("bxor", fold(lua, |a, b| a ^ b)?)?;
    t.raw_set(
        "tobit",
        lua.create_function(|_, v: Value| Ok(tobit(&v)? as i64))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|_, v: Value| Ok(!tobit(&v)? as i64))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, v: Value| Ok(tobit(&v)?.swap_bytes() as i64))?,
    )?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (v, n): (Value, Value)| {
            Ok(op(tobit(&v)?, (tobit(&n)? & 31) as u32) as i64)
        })
    };
    t.raw_set("lshift", shift(lua, |a, n| ((a as u32) << n) as i32)?)?;
    t.raw_set("rshift", shift(lua, |a, n| ((a as u32) >> n) as i32)?)?;
    t.raw_set("arshift", shift(lua, |a, n| a >> n)?)?;
    t.raw_set("rol", shift(lua, |a, n| (a as u32).rotate_left(n) as i32)?)?;
    t.raw_set("ror", shift(lua, |a, n| (a as u32).rotate_right(n) as i32)?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = tobit(&v)? as u32;
            let n = match n {
                Some(n) => tobit(&n)?,
                None => 8,
            };
            let upper = n < 0;
            let n = (n.unsigned_abs() as usize).min(8);
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}

/// A reply (of a command a script called) as the script sees it, by the script's protocol.
pub fn frame_to_lua(lua: &Lua, f: &Frame, resp3: bool) -> mlua::Result<Value> {
    let table_with = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match f {
        Frame::Simple(s) => table_with("ok", Value::String(lua.create_string(s)?))?,
        Frame::Error(s) => table_with("err", Value::String(lua.create_string(s)?))?,
        Frame::Integer(i) => Value::Integer(*i),
        Frame::Bulk(b) => Value::String(lua.create_string(b)?),
        Frame::Null | Frame::NullArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, it, resp3)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            if resp3 {
                let m = lua.create_table()?;
                for (k, v) in pairs {
                    m.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
                }
                table_with("map", Value::Table(m))?
            } else {
                let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    t.raw_set(2 * i + 1, frame_to_lua(lua, k, resp3)?)?;
                    t.raw_set(2 * i + 2, frame_to_lua(lua, v, resp3)?)?;
                }
                Value::Table(t)
            }
        }
        Frame::Set(items) => {
            if resp3 {
                let s = lua.create_table()?;
                for it in items {
                    s.raw_set(frame_to_lua(lua, it, resp3)?, true)?;
                }
                table_with("set", Value::Table(s))?
            } else {
                frame_to_lua(lua, &Frame::Array(items.clone()), resp3)?
            }
        }
        Frame::Double(d) => {
            if resp3 {
                table_with("double", Value::Number(*d))?
            } else {
                Value::String(lua.create_string(resp::format_double(*d))?)
            }
        }
        Frame::Boolean(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Integer(*b as i64)
            }
        }
        Frame::Verbatim(b) => {
            if resp3 {
                let v = lua.create_table()?;
                v.raw_set("format", "txt")?;
                v.raw_set("string", lua.create_string(b)?)?;
                table_with("verbatim_string", Value::Table(v))?
            } else {
                Value::String(lua.create_string(b)?)
            }
        }
        Frame::Raw(_) => Value::Boolean(false),
    })
}

/// A script's return value as the reply to its caller: `script_resp3` is the script's
/// protocol (`redis.setresp`), `client_resp3` the caller's (for the RESP3-only types).
pub fn lua_to_frame(v: &Value, script_resp3: bool, client_resp3: bool, depth: usize) -> Frame {
    // Where Redis's conversion runs out of Lua stack (LUAI_MAXCSTACK): a self-referencing
    // table gives the same 7995 nested arrays and then this error (the script thread's stack
    // is sized for it).
    if depth > 7994 {
        return Frame::error("ERR reached lua stack limit");
    }
    match v {
        Value::Nil => Frame::Null,
        Value::Boolean(b) => {
            if script_resp3 {
                Frame::Boolean(*b)
            } else if *b {
                Frame::Integer(1)
            } else {
                Frame::Null
            }
        }
        Value::Integer(i) => Frame::Integer(*i),
        // C's conversion on x86-64 (Redis's `(long long)`): out of range and NaN give the
        // smallest integer, where Rust's `as` would saturate.
        Value::Number(n) => Frame::Integer(
            if n.is_nan() || *n >= i64::MAX as f64 || *n < i64::MIN as f64 {
                i64::MIN
            } else {
                *n as i64
            },
        ),
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_frame(t, script_resp3, client_resp3, depth),
        _ => Frame::Null,
    }
}

fn table_to_frame(t: &Table, script_resp3: bool, client_resp3: bool, depth: usize) -> Frame {
    let field = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(s) = field("err") {
        return Frame::Error(one_line(&s.to_string_lossy()));
    }
    if let Value::String(s) = field("ok") {
        return Frame::Simple(one_line(&s.to_string_lossy()));
    }
    match field("double") {
        Value::Number(d) => return Frame::Double(d),
        Value::Integer(i) => return Frame::Double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        let s = one_line(&s.to_string_lossy());
        return if client_resp3 {
            Frame::Raw(Bytes::from(format!("({s}\r\n")))
        } else {
            Frame::Bulk(Bytes::from(s))
        };
    }
    if let Value::Table(m) = field("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    lua_to_frame(&k, script_resp3, client_resp3, depth + 1),
                    lua_to_frame(&v, script_resp3, client_resp3, depth + 1),
                )
            })
            .collect();
        return Frame::Map(pairs);
    }
    if let Value::Table(s) = field("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| lua_to_frame(&k, script_resp3, client_resp3, depth + 1))
            .collect();
        return Frame::Set(items);
    }
    if let Value::Table(v) = field("verbatim_string") {
        let format = v
            .raw_get::<Option<mlua::LuaString>>("format")
            .ok()
            .flatten()
            .map(|s| s.to_string_lossy())
            .unwrap_or_else(|| "txt".into());
        let text = v
            .raw_get::<Option<mlua::LuaString>>("string")
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default();
        return if client_resp3 {
            let mut out = format!("={}\r\n{format}:", text.len() + 4).into_bytes();
            out.extend_from_slice(&text);
            out.extend_from_slice(b"\r\n");
            Frame::Raw(Bytes::from(out))
        } else {
            Frame::Bulk(Bytes::from(text))
        };
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) => break,
            Ok(v) => items.push(lua_to_frame(&v, script_resp3, client_resp3, depth + 1)),
            // The interpreter is out of stack (references) for this nesting.
            Err(_) => {
                items.push(Frame::error("ERR reached lua stack limit"));
                break;
            }
        }
    }
    Frame::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_and_errors() {
        let (f, code) = shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(f.shebang && f.no_writes && f.allow_oom && !f.allow_stale);
        assert_eq!(code, b"\nreturn 1");
        let (f, code) = shebang(b"return 1").unwrap();
        assert!(!f.shebang);
        assert_eq!(code, b"return 1");
        assert_eq!(
            shebang(b"#!lua flags=bogus\nreturn 1").unwrap_err(),
            Frame::error("ERR Unexpected flag in script shebang: bogus")
        );
        assert_eq!(
            shebang(b"#!lua name=x\n").unwrap_err(),
            Frame::error("ERR Unknown lua shebang option: name=x")
        );
        assert_eq!(
            shebang(b"#!notlua\n").unwrap_err(),
            Frame::error("ERR Unexpected engine in script shebang: #!notlua")
        );
    }

    #[test]
    fn bit_operations_follow_luabitop() {
        let run = Arc::new(RunState::default());
        let vm = Vm::new(0, run).unwrap();
        let eval = |code: &str| -> String {
            let f = vm
                .lua
                .load(code)
                .set_environment(vm.globals.clone())
                .into_function()
                .unwrap();
            match f.call::<Value>(()).unwrap() {
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.to_string_lossy(),
                other => format!("{other:?}"),
            }
        };
        assert_eq!(eval("return bit.tobit(0xffffffff)"), "-1");
        assert_eq!(eval("return bit.tobit(2^32 + 5)"), "5");
        assert_eq!(eval("return bit.band(0xff, 0x0f, 0x3)"), "3");
        assert_eq!(eval("return bit.bor(1, 2, 4)"), "7");
        assert_eq!(eval("return bit.bxor(5, 1)"), "4");
        assert_eq!(eval("return bit.bnot(0)"), "-1");
        assert_eq!(eval("return bit.lshift(1, 31)"), "-2147483648");
        assert_eq!(eval("return bit.rshift(-1, 28)"), "15");
        assert_eq!(eval("return bit.arshift(-256, 4)"), "-16");
        assert_eq!(eval("return bit.rol(0x12345678, 8)"), "878082066");
        assert_eq!(eval("return bit.tohex(255)"), "000000ff");
        assert_eq!(eval("return bit.tohex(255, -4)"), "00FF");
        assert_eq!(eval("return bit.bswap(0x12345678)"), "2018915346");
    }

    #[test]
    fn the_sandbox_protects_globals_and_libraries() {
        let run = Arc::new(RunState::default());
        let vm = Vm::new(0, run).unwrap();
        let err = |code: &str| -> String {
            let f = vm
                .lua
                .load(code)
                .set_name("@user_script")
                .set_environment(vm.globals.clone())
                .into_function()
                .unwrap();
            match f.call::<Value>(()) {
                Err(e) => lua_message(&e),
                Ok(v) => format!("no error: {v:?}"),
            }
        };
        assert_eq!(
            err("x = 1"),
            "user_script:1: Attempt to modify a readonly table"
        );
        assert_eq!(
            err("return nosuch"),
            "user_script:1: Script attempted to access nonexistent global variable 'nosuch'"
        );
        assert_eq!(
            err("redis.call = 1"),
            "user_script:1: Attempt to modify a readonly table"
        );
        assert_eq!(
            err("string.upper = nil"),
            "user_script:1: Attempt to modify a readonly table"
        );
        assert_eq!(
            err("setmetatable(_G, nil)"),
            "Attempt to modify a readonly table"
        );
        assert_eq!(
            err("rawset(redis, 'x', 1)"),
            "Attempt to modify a readonly table"
        );
        assert!(err("return os").contains("nonexistent global variable 'os'"));
        assert_eq!(
            err("local f, e = loadstring(string.dump(function() end)) error(e, 0)"),
            "attempt to load a binary chunk"
        );
        // Reading through the proxies still works.
        assert_eq!(
            err("local n = 0 for k in pairs(redis) do n = n + 1 end error(n > 10 and 'many' or 'few', 0)"),
            "many"
        );
        assert_eq!(err("error(('abc'):upper(), 0)"), "ABC");
    }
}
