//! Redis 7.0 Functions: `#!lua name=<lib>` libraries that `redis.register_function`, kept as
//! data (`storage::functions`: per namespace, written through the command's unit, so FUNCTION
//! LOAD/DELETE/FLUSH are logged, replicated, replayed and carried by a full sync), compiled
//! into the server's interpreter on demand (the registry is rebuilt from storage whenever a
//! FUNCTION write or an engine switch made it stale).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use mlua::{Function, Table, Value};
use resp::Frame;

use super::vm::{lua_message, one_line, ScriptFlags, Vm};
use crate::commands::{eq_ic, Ctx};
use crate::shared::Shared;

/// One registered function.
pub struct FnInfo {
    pub name: String,
    pub description: Option<String>,
    /// Flag names as given (FUNCTION LIST shows them).
    pub flag_names: Vec<String>,
    pub flags: ScriptFlags,
    pub func: Function,
}

/// One loaded library.
pub struct Library {
    pub code: Bytes,
    pub functions: Vec<FnInfo>,
}

/// The libraries compiled in the interpreter, by (namespace, library name), and the functions
/// by (namespace, function name) → library name.
#[derive(Default)]
pub struct Registry {
    /// The engine (address) and FUNCTION write version it was built from.
    built: Option<(usize, u64)>,
    pub libs: BTreeMap<(u32, String), Library>,
    pub by_name: HashMap<(u32, String), String>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The library name from the `#!lua name=<lib>` first line.
fn metadata(code: &[u8]) -> Result<String, Frame> {
    if !code.starts_with(b"#!") {
        return Err(Frame::error("ERR Missing library metadata"));
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut words = line.split_ascii_whitespace();
    let engine = words.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Frame::Error(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for w in words {
        match w.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => {
                return Err(Frame::Error(format!(
                    "ERR Invalid metadata value given: {w}"
                )))
            }
        }
    }
    let name = name.ok_or_else(|| Frame::error("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(Frame::error(BAD_NAME));
    }
    Ok(name)
}

/// Compiles library `code` (its metadata line blanked) and runs it with the load-time API:
/// the functions it registered.
fn compile(vm: &Vm, code: &[u8]) -> Result<Vec<FnInfo>, Frame> {
    let lua = &vm.lua;
    let lerr = |e: mlua::Error| Frame::Error(format!("ERR {}", one_line(&lua_message(&e))));
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let body = &code[end..];
    // The library's environment: the sandbox's globals, and at load time a `redis` that only
    // registers functions (and logs); once loaded, the full `redis` API.
    let env = lua.create_table().map_err(lerr)?;
    let registered: std::cell::RefCell<Vec<FnInfo>> = Default::default();
    let failure: std::cell::RefCell<Option<String>> = Default::default();
    let result = lua.scope(|scope| {
        let load_redis = lua.create_table()?;
        for k in [
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
            "log",
        ] {
            load_redis.raw_set(k, vm.redis.raw_get::<Value>(k)?)?;
        }
        let register = scope.create_function(|_, args: mlua::Variadic<Value>| {
            // The handler of the load adds the `ERR ` back.
            let fail = |m: &str| {
                let m = m.strip_prefix("ERR ").unwrap_or(m);
                Err(mlua::Error::RuntimeError(m.to_string()))
            };
            let (name, func, flags, description) = match args.as_slice() {
                [Value::String(n), Value::Function(f)] => {
                    (n.to_string_lossy(), f.clone(), Vec::new(), None)
                }
                [Value::Table(t)] => {
                    let name = match t.raw_get::<Value>("function_name")? {
                        Value::String(s) => s.to_string_lossy(),
                        _ => return fail("ERR function_name argument given to redis.register_function must be a string"),
                    };
                    let func = match t.raw_get::<Value>("callback")? {
                        Value::Function(f) => f,
                        _ => return fail("ERR callback argument given to redis.register_function must be a function"),
                    };
                    let description = match t.raw_get::<Value>("description")? {
                        Value::String(s) => Some(s.to_string_lossy()),
                        Value::Nil => None,
                        _ => return fail("ERR description argument given to redis.register_function must be a string"),
                    };
                    let mut flags = Vec::new();
                    if let Value::Table(f) = t.raw_get::<Value>("flags")? {
                        for v in f.sequence_values::<Value>() {
                            match v? {
                                Value::String(s) => flags.push(s.to_string_lossy()),
                                _ => return fail("ERR unknown flag given"),
                            }
                        }
                    }
                    (name, func, flags, description)
                }
                _ => return fail("ERR wrong number of arguments to redis.register_function"),
            };
            if !valid_name(&name) {
                return fail(BAD_NAME);
            }
            let mut sflags = ScriptFlags {
                shebang: true,
                ..Default::default()
            };
            for f in &flags {
                match f.as_str() {
                    "no-writes" => sflags.no_writes = true,
                    "allow-oom" => sflags.allow_oom = true,
                    "allow-stale" => sflags.allow_stale = true,
                    "no-cluster" | "allow-cross-slot-keys" => {}
                    _ => return fail("ERR unknown flag given"),
                }
            }
            if registered.borrow().iter().any(|r| r.name == name) {
                return fail("ERR Function already exists in the library");
            }
            registered.borrow_mut().push(FnInfo {
                name,
                description,
                flag_names: flags,
                flags: sflags,
                func,
            });
            Ok(())
        })?;
        load_redis.raw_set("register_function", register)?;
        let protect: Function = vm.private.raw_get("protect_env")?;
        let load_env: Table = protect.call((&env, &load_redis))?;
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(load_env)
            .into_function()
            .inspect_err(|e| {
                *failure.borrow_mut() = Some(format!(
                    "Error compiling function: {}",
                    one_line(&lua_message(e))
                ));
            })?;
        let (ok, err): (bool, Value) = vm.xpcall.call((&chunk, &vm.handler))?;
        if !ok {
            let msg = match &err {
                Value::Table(t) => t
                    .raw_get::<Option<mlua::LuaString>>("err")?
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                _ => "ERR unknown error".into(),
            };
            *failure.borrow_mut() = Some(format!("Error registering functions: {msg}"));
            return Err(mlua::Error::RuntimeError(msg));
        }
        // From now on the library's functions see the full API.
        env.raw_set("redis", vm.real.raw_get::<Value>("redis")?)?;
        Ok(())
    });
    if let Some(f) = failure.take() {
        let f = f.strip_prefix("ERR ").unwrap_or(&f).to_string();
        return Err(Frame::Error(format!("ERR {f}")));
    }
    result.map_err(lerr)?;
    let functions = registered.take();
    if functions.is_empty() {
        return Err(Frame::error("ERR No functions registered"));
    }
    Ok(functions)
}

/// The registry as of the committed libraries of engine `db` (rebuilt if stale).
fn ensure(shared: &Shared, vm: &mut Vm, db: &storage::Db<'_>) -> Result<(), Frame> {
    let engine: &storage::Storage = db;
    let key = (
        engine as *const storage::Storage as usize,
        shared.scripts.functions_version.load(Ordering::Acquire),
    );
    if vm.functions.built == Some(key) {
        return Ok(());
    }
    let stored = db
        .function_libraries(None)
        .map_err(crate::commands::storage_error)?;
    let mut reg = Registry::default();
    for lib in stored {
        match compile(vm, &lib.code) {
            Ok(functions) => {
                for f in &functions {
                    reg.by_name
                        .insert((lib.ns, f.name.clone()), lib.name.clone());
                }
                reg.libs.insert(
                    (lib.ns, lib.name.clone()),
                    Library {
                        code: Bytes::from(lib.code),
                        functions,
                    },
                );
            }
            Err(e) => {
                tracing::error!(library = %lib.name, error = ?e, "a stored function library does not load")
            }
        }
    }
    reg.built = Some(key);
    let sc = &shared.scripts;
    sc.libraries.store(reg.libs.len() as u64, Ordering::Relaxed);
    sc.functions
        .store(reg.by_name.len() as u64, Ordering::Relaxed);
    vm.functions = reg;
    Ok(())
}

/// The function `name` of namespace `ns`: its Lua function and flags.
pub fn lookup(
    shared: &Shared,
    vm: &mut Vm,
    db: &storage::Db<'_>,
    ns: u32,
    name: &str,
) -> Result<(Function, ScriptFlags), Frame> {
    ensure(shared, vm, db)?;
    let not_found = || Frame::error("ERR Function not found");
    let lib = vm
        .functions
        .by_name
        .get(&(ns, name.to_string()))
        .ok_or_else(not_found)?;
    let f = vm
        .functions
        .libs
        .get(&(ns, lib.clone()))
        .and_then(|l| l.functions.iter().find(|f| f.name == name))
        .ok_or_else(not_found)?;
    Ok((f.func.clone(), f.flags))
}

/// Whether FUNCTION `args[1]` writes (LOAD, DELETE, FLUSH, RESTORE).
pub fn function_writes(args: &[Bytes]) -> bool {
    args.get(1).is_some_and(|s| {
        ["load", "delete", "flush", "restore"]
            .iter()
            .any(|w| eq_ic(s, w))
    })
}

fn bump(shared: &Shared) {
    shared
        .scripts
        .functions_version
        .fetch_add(1, Ordering::AcqRel);
}

/// FUNCTION LOAD | DELETE | FLUSH | LIST | STATS | KILL | DUMP | RESTORE | HELP.
pub fn function(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let shared = ctx.shared;
    let ns = ctx.session.base();
    let db = ctx.db;
    match sub.as_str() {
        "load" => {
            let (replace, code) = match args.len() {
                3 => (false, &args[2]),
                4 if eq_ic(&args[2], "replace") => (true, &args[3]),
                _ => return crate::commands::syntax_error(),
            };
            let name = match metadata(code) {
                Ok(n) => n,
                Err(f) => return f,
            };
            let checked = super::with_vm(shared, |vm| {
                ensure(shared, vm, &db)?;
                if !replace && vm.functions.libs.contains_key(&(ns, name.clone())) {
                    return Err(Frame::Error(format!("ERR Library '{name}' already exists")));
                }
                let functions = compile(vm, code)?;
                for f in &functions {
                    if let Some(owner) = vm.functions.by_name.get(&(ns, f.name.clone())) {
                        if *owner != name {
                            return Err(Frame::Error(format!(
                                "ERR Function {} already exists",
                                f.name
                            )));
                        }
                    }
                }
                Ok(())
            });
            if let Err(f) = checked {
                return f;
            }
            if let Err(e) = db.function_put(ns, &name, code) {
                return crate::commands::storage_error(e);
            }
            bump(shared);
            Frame::Bulk(Bytes::from(name))
        }
        "delete" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            match db.function_delete(ns, &name) {
                Ok(true) => {
                    bump(shared);
                    Frame::ok()
                }
                Ok(false) => Frame::error("ERR Library not found"),
                Err(e) => crate::commands::storage_error(e),
            }
        }
        "flush" => {
            if let Some(mode) = args.get(2) {
                if args.len() > 3 || !(eq_ic(mode, "sync") || eq_ic(mode, "async")) {
                    return Frame::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                }
            }
            if let Err(e) = db.function_flush(ns) {
                return crate::commands::storage_error(e);
            }
            bump(shared);
            Frame::ok()
        }
        "list" => list(ctx, args, ns),
        "stats" => {
            // While a script runs it holds the interpreter: counts as of the last build then.
            let counts = if shared.scripts.running() {
                Ok((
                    shared.scripts.libraries.load(Ordering::Relaxed) as i64,
                    shared.scripts.functions.load(Ordering::Relaxed) as i64,
                ))
            } else {
                super::with_vm(shared, |vm| {
                    ensure(shared, vm, &db)?;
                    let libs = vm
                        .functions
                        .libs
                        .range((ns, String::new())..)
                        .take_while(|((n, _), _)| *n == ns);
                    let (mut l, mut f) = (0i64, 0i64);
                    for (_, lib) in libs {
                        l += 1;
                        f += lib.functions.len() as i64;
                    }
                    Ok((l, f))
                })
            };
            let (l, f) = match counts {
                Ok(c) => c,
                Err(e) => return e,
            };
            let running = match shared.scripts.running_function() {
                Some((name, command, elapsed)) => Frame::Map(vec![
                    (Frame::bulk_str("name"), Frame::bulk_str(&name)),
                    (
                        Frame::bulk_str("command"),
                        Frame::Array(command.into_iter().map(Frame::Bulk).collect()),
                    ),
                    (
                        Frame::bulk_str("duration_ms"),
                        Frame::Integer(elapsed.as_millis() as i64),
                    ),
                ]),
                None => Frame::Null,
            };
            Frame::Map(vec![
                (Frame::bulk_str("running_script"), running),
                (
                    Frame::bulk_str("engines"),
                    Frame::Map(vec![(
                        Frame::bulk_str("LUA"),
                        Frame::Map(vec![
                            (Frame::bulk_str("libraries_count"), Frame::Integer(l)),
                            (Frame::bulk_str("functions_count"), Frame::Integer(f)),
                        ]),
                    )]),
                ),
            ])
        }
        "kill" => shared.scripts.kill(),
        "dump" => {
            let codes = super::with_vm(shared, |vm| {
                ensure(shared, vm, &db)?;
                Ok(vm
                    .functions
                    .libs
                    .iter()
                    .filter(|((n, _), _)| *n == ns)
                    .map(|(_, l)| l.code.clone())
                    .collect::<Vec<Bytes>>())
            });
            match codes {
                Ok(c) => Frame::Bulk(Bytes::from(rdb::dump_functions(&c))),
                Err(f) => f,
            }
        }
        "restore" => restore(ctx, args, ns),
        "help" => Frame::Array(
            [
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOAD [REPLACE] <FUNCTION CODE>",
                "DELETE <LIBRARY NAME>",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "FLUSH [ASYNC|SYNC]",
                "STATS",
                "KILL",
                "HELP",
            ]
            .iter()
            .map(|l| Frame::Simple(l.to_string()))
            .collect(),
        ),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: every library is checked (metadata,
/// compilation, name clashes) before any is written.
fn restore(ctx: &mut Ctx<'_>, args: &[Bytes], ns: u32) -> Frame {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy =
        match args.get(3) {
            None => Policy::Append,
            Some(p) if args.len() == 4 && eq_ic(p, "flush") => Policy::Flush,
            Some(p) if args.len() == 4 && eq_ic(p, "append") => Policy::Append,
            Some(p) if args.len() == 4 && eq_ic(p, "replace") => Policy::Replace,
            Some(_) => return Frame::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let Ok(codes) = rdb::load_functions(&args[2]) else {
        return Frame::error("ERR DUMP payload version or checksum are wrong");
    };
    let shared = ctx.shared;
    let db = ctx.db;
    let checked = super::with_vm(shared, |vm| {
        ensure(shared, vm, &db)?;
        let mut named = Vec::new();
        // Function name -> library, as it will be after the restore.
        let mut owners: HashMap<String, String> = if policy == Policy::Flush {
            HashMap::new()
        } else {
            vm.functions
                .by_name
                .iter()
                .filter(|((n, _), _)| *n == ns)
                .map(|((_, f), l)| (f.clone(), l.clone()))
                .collect()
        };
        for code in &codes {
            let name = metadata(code)?;
            let exists = vm.functions.libs.contains_key(&(ns, name.clone()));
            if exists && policy == Policy::Append {
                return Err(Frame::Error(format!("ERR Library {name} already exists")));
            }
            if exists && policy == Policy::Replace {
                owners.retain(|_, l| *l != name);
            }
            for f in compile(vm, code)? {
                if let Some(other) = owners.insert(f.name.clone(), name.clone()) {
                    if other != name {
                        return Err(Frame::Error(format!(
                            "ERR Function {} already exists",
                            f.name
                        )));
                    }
                }
            }
            named.push((name, code.clone()));
        }
        Ok(named)
    });
    let named = match checked {
        Ok(n) => n,
        Err(f) => return f,
    };
    let written = (|| {
        if policy == Policy::Flush {
            db.function_flush(ns)?;
        }
        for (name, code) in &named {
            db.function_put(ns, name, code)?;
        }
        Ok::<(), storage::Error>(())
    })();
    if let Err(e) = written {
        return crate::commands::storage_error(e);
    }
    bump(shared);
    Frame::ok()
}

fn list(ctx: &mut Ctx<'_>, args: &[Bytes], ns: u32) -> Frame {
    let mut pattern: Option<Vec<u8>> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        if eq_ic(&args[i], "withcode") && !with_code {
            with_code = true;
            i += 1;
        } else if eq_ic(&args[i], "libraryname") && pattern.is_none() && i + 1 < args.len() {
            pattern = Some(args[i + 1].to_vec());
            i += 2;
        } else {
            return Frame::Error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    let shared = ctx.shared;
    let db = ctx.db;
    let out = super::with_vm(shared, |vm| {
        ensure(shared, vm, &db)?;
        let mut out = Vec::new();
        for ((n, name), lib) in &vm.functions.libs {
            if *n != ns {
                continue;
            }
            if let Some(p) = &pattern {
                if !storage::glob::glob_match(p, name.as_bytes(), false) {
                    continue;
                }
            }
            let functions = lib
                .functions
                .iter()
                .map(|f| {
                    Frame::Map(vec![
                        (Frame::bulk_str("name"), Frame::bulk_str(&f.name)),
                        (
                            Frame::bulk_str("description"),
                            f.description
                                .as_deref()
                                .map_or(Frame::Null, Frame::bulk_str),
                        ),
                        (
                            Frame::bulk_str("flags"),
                            Frame::Set(
                                f.flag_names
                                    .iter()
                                    .map(|s| Frame::Simple(s.clone()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (Frame::bulk_str("library_name"), Frame::bulk_str(name)),
                (Frame::bulk_str("engine"), Frame::bulk_str("LUA")),
                (Frame::bulk_str("functions"), Frame::Array(functions)),
            ];
            if with_code {
                fields.push((
                    Frame::bulk_str("library_code"),
                    Frame::Bulk(lib.code.clone()),
                ));
            }
            out.push(Frame::Map(fields));
        }
        Ok(out)
    });
    match out {
        Ok(v) => Frame::Array(v),
        Err(f) => f,
    }
}
