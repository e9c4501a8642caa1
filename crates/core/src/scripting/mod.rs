//! Lua scripts (EVAL, EVALSHA, their `_RO` forms, SCRIPT): Redis 7.0's semantics on Strata's
//! write path (docs/scripting.md).
//!
//! A script runs alone, like EXEC: under the engine's exclusive gate, as ONE unit
//! (`commitlog::run_unit`) whose commands read each other's writes and are committed as one
//! engine batch with ONE binlog record of their effects (the commands it ran, made
//! deterministic as anywhere else). Replicas, replay and `strata-sync` therefore never run Lua:
//! they apply what the master's script did. A script that fails after writing keeps its writes
//! (Redis's semantics); one ended by SHUTDOWN NOSAVE leaves nothing.
//!
//! One interpreter per server (as Redis), created on first use, behind a mutex; the connection
//! running a script hands its runtime thread over (`block_in_place`), so other connections are
//! served meanwhile: they wait for the script (as in Redis, where nothing else runs) until
//! `busy-reply-threshold`, then get `-BUSY`, except the commands Redis allows then (SCRIPT KILL,
//! SHUTDOWN NOSAVE, ...).

mod cjson;
mod cmsgpack;
pub mod functions;
mod group;
mod structlib;
pub mod vm;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::Value;
use resp::Frame;

use crate::commands::{flags, parse_int, Ctx, Session, TABLE};
use crate::shared::Shared;
use vm::{sha1_hex, Vm};

/// What the interpreter's hook and the command bridge share with the rest of the server about
/// the script running now.
#[derive(Default)]
pub struct RunState {
    /// SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE asked the script to stop.
    pub kill: AtomicBool,
    /// SHUTDOWN NOSAVE: stop even after writes, and commit nothing.
    pub abort: AtomicBool,
    /// The script ran a write command (SCRIPT KILL then refuses: UNKILLABLE).
    pub wrote: AtomicBool,
    running: AtomicBool,
    started: Mutex<Option<Instant>>,
    /// The running function's name and command (FUNCTION STATS); `None` for EVAL scripts.
    function: Mutex<Option<(String, Vec<Bytes>)>>,
}

/// Work for the script thread.
enum Job {
    /// Anything to run there (a script outside a pipeline batch, EXEC calling scripts).
    Call(Box<dyn FnOnce() + Send>),
    /// A connection's scripts: runs queued together are committed as one unit (`group`).
    Scripts(Box<group::ScriptRun>),
}

/// See [`Scripts::hold`].
pub struct RunningGuard<'a>(&'a Scripts);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        let s = self.0;
        s.run.running.store(false, Ordering::Release);
        *s.run.started.lock().unwrap_or_else(|p| p.into_inner()) = None;
        s.ended.notify_waiters();
    }
}

/// The server's scripting state (in `Shared`).
pub struct Scripts {
    vm: Mutex<Option<Vm>>,
    /// The thread scripts run on (started on first use): a worker thread serves many
    /// connections, and must go on serving them while a script runs.
    runner: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    pub run: Arc<RunState>,
    /// Woken when a script ends (clients waiting for it go on).
    pub ended: tokio::sync::Notify,
    /// For INFO without taking the interpreter's lock (a script may hold it).
    pub lua_memory: AtomicU64,
    pub cached: AtomicU64,
    pub cached_bytes: AtomicU64,
    /// Bumped by every FUNCTION write (the compiled registry is rebuilt when it moved).
    pub functions_version: AtomicU64,
    /// Libraries and functions loaded (all namespaces), as of the last registry build (INFO).
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
    /// Units of pipelined or concurrent scripts committed (`group`), and the scripts they
    /// held (INFO `script_commits`, `script_commit_scripts`: their ratio is the grouping).
    pub commits: AtomicU64,
    pub committed_scripts: AtomicU64,
    /// When a script last ended after running past `busy-reply-threshold` (see `group`).
    busy_mark: Mutex<Option<Instant>>,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            vm: Mutex::new(None),
            runner: Mutex::new(None),
            run: Arc::new(RunState::default()),
            ended: tokio::sync::Notify::new(),
            lua_memory: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            cached_bytes: AtomicU64::new(0),
            functions_version: AtomicU64::new(0),
            libraries: AtomicU64::new(0),
            functions: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            committed_scripts: AtomicU64::new(0),
            busy_mark: Mutex::new(None),
        }
    }
}

/// The reply of a script (or a pipelined run of them) ended by SHUTDOWN NOSAVE.
pub const SHUTDOWN_KILLED: &str = "ERR Script killed by a shutdown (SHUTDOWN NOSAVE)";

pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

impl Scripts {
    /// A script is running now.
    pub fn running(&self) -> bool {
        self.run.running.load(Ordering::Acquire)
    }

    fn started(&self) -> Option<Instant> {
        *self.run.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running function (name, command) and how long it has run (FUNCTION STATS).
    pub fn running_function(&self) -> Option<(String, Vec<Bytes>, Duration)> {
        if !self.running() {
            return None;
        }
        let f = self
            .run
            .function
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let elapsed = self.started().map(|s| s.elapsed()).unwrap_or_default();
        Some((f.0, f.1, elapsed))
    }

    fn begin(&self, function: Option<(String, Vec<Bytes>)>) {
        *self.run.function.lock().unwrap_or_else(|p| p.into_inner()) = function;
        self.run.kill.store(false, Ordering::Release);
        self.run.wrote.store(false, Ordering::Release);
        *self.run.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// One script of the running unit has ended (the unit may go on with others). One that
    /// ran past `threshold` marks when it ended: scripts queued before get -BUSY (`group`).
    fn end(&self, threshold: Duration) {
        let started = self
            .run
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if started.is_some_and(|s| s.elapsed() >= threshold) {
            *self.busy_mark.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    /// Marks scripts as running until the guard is dropped: taken on the script thread around
    /// a whole unit (a script, a pipelined run of them, an EXEC calling them) and dropped only
    /// after its commit, so a client that waited for the scripts reads what they wrote.
    pub fn hold(&self) -> RunningGuard<'_> {
        // SHUTDOWN NOSAVE applies to the unit: every script after it stops at once.
        self.run.abort.store(false, Ordering::Release);
        self.run.running.store(true, Ordering::Release);
        RunningGuard(self)
    }

    /// Runs `f` on the script thread; the receiver gets its result (an error if the thread
    /// is gone).
    pub fn offload<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Job::Call(Box::new(move || {
            let _ = tx.send(f());
        })));
        rx
    }

    /// Runs a connection's scripts (`batch`: command index and request of each, in order)
    /// on the script thread with its session, possibly in one unit with other connections'
    /// scripts queued at the same time (see `group`); the receiver gets the session back with
    /// one reply per script (an error if the thread is gone).
    pub fn run_scripts(
        shared: &Arc<Shared>,
        session: Session,
        batch: Vec<(usize, Vec<Bytes>)>,
    ) -> tokio::sync::oneshot::Receiver<(Session, Vec<Frame>)> {
        let (done, rx) = tokio::sync::oneshot::channel();
        shared
            .scripts
            .submit(Job::Scripts(Box::new(group::ScriptRun {
                shared: shared.clone(),
                session,
                batch,
                queued: Instant::now(),
                done,
            })));
        rx
    }

    fn submit(&self, job: Job) {
        let mut runner = self.runner.lock().unwrap_or_else(|p| p.into_inner());
        let job = match runner.as_ref() {
            Some(r) => match r.send(job) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("strata-script".into())
            // Deeply nested script replies are converted recursively (see `lua_to_frame`).
            .stack_size(64 << 20)
            .spawn(move || script_thread(queue));
        match spawned {
            Ok(_) => {
                let _ = jobs.send(job);
                *runner = Some(jobs);
            }
            Err(e) => tracing::error!(error = %e, "cannot start the script thread"),
        }
    }

    /// SCRIPT KILL.
    pub fn kill(&self) -> Frame {
        if !self.running() {
            return Frame::error("NOTBUSY No scripts in execution right now.");
        }
        if self.run.wrote.load(Ordering::Acquire) {
            return Frame::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        self.run.kill.store(true, Ordering::Release);
        Frame::ok()
    }

    /// SHUTDOWN NOSAVE during a script: it stops at its next check and commits nothing.
    pub fn abort(&self) {
        if self.running() {
            self.run.abort.store(true, Ordering::Release);
            self.run.kill.store(true, Ordering::Release);
        }
    }

    /// Whether a script ran past `busy-reply-threshold` and ended after `since`.
    fn busy_after(&self, since: Instant) -> bool {
        self.busy_mark
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|m| m > since)
    }

    /// A script is running and has run for `threshold` already.
    pub fn busy(&self, threshold: Duration) -> bool {
        self.running() && self.started().is_some_and(|s| s.elapsed() >= threshold)
    }

    /// Waits (without holding a thread) until no script runs, or answers `-BUSY` once the
    /// running one has passed `threshold`.
    pub async fn wait_or_busy(&self, threshold: Duration) -> Result<(), Frame> {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !self.running() {
                return Ok(());
            }
            // Between two scripts of a unit: running, not busy.
            let elapsed = self.started().map(|s| s.elapsed()).unwrap_or_default();
            if elapsed >= threshold {
                return Err(Frame::error(BUSY));
            }
            tokio::select! {
                _ = ended => {}
                _ = tokio::time::sleep((threshold - elapsed).min(Duration::from_millis(100))) => {}
            }
        }
    }

    fn note_stats(&self, vm: &Vm) {
        self.lua_memory
            .store(vm.used_memory() as u64, Ordering::Relaxed);
        self.cached
            .store(vm.scripts.len() as u64, Ordering::Relaxed);
        self.cached_bytes.store(vm.cached_bytes, Ordering::Relaxed);
    }
}

/// The script thread: runs jobs in arrival order; scripts of connections queued behind each
/// other run as one unit (at most `group::MAX_GROUP` connections).
fn script_thread(queue: std::sync::mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match queue.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        // A panic in a script's command is contained to its request(s): their connections
        // get an error and are closed (their sessions stayed here).
        match job {
            Job::Call(f) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            }
            Job::Scripts(first) => {
                let mut runs = vec![*first];
                while runs.len() < group::MAX_GROUP {
                    match queue.try_recv() {
                        Ok(Job::Scripts(r)) => runs.push(*r),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    group::run_group(runs)
                }));
            }
        }
    }
}

/// Commands that run while a script is busy (Redis 7.0's `allow_busy`).
pub fn allowed_while_busy(idx: usize, args: &[Bytes]) -> bool {
    let sub = |s: &str| {
        args.get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
    };
    match TABLE[idx].name {
        "auth" | "hello" | "quit" | "reset" | "discard" | "watch" | "unwatch" | "multi"
        | "replconf" | "shutdown" => true,
        "script" => sub("kill"),
        "function" => sub("kill") || sub("stats"),
        _ => false,
    }
}

fn lua_memory_limit(shared: &Shared) -> usize {
    shared.with_config(|c| c.get_u64("lua-memory-limit")) as usize
}

/// Runs `f` on the interpreter (created on first use).
fn with_vm<T>(shared: &Shared, f: impl FnOnce(&mut Vm) -> Result<T, Frame>) -> Result<T, Frame> {
    let scripts = &shared.scripts;
    let mut guard = scripts.vm.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let vm = Vm::new(lua_memory_limit(shared), scripts.run.clone()).map_err(|e| {
            Frame::Error(format!(
                "ERR cannot start the Lua interpreter: {}",
                vm::lua_message(&e)
            ))
        })?;
        *guard = Some(vm);
    }
    let Some(vm) = guard.as_mut() else {
        return Err(Frame::error("ERR the Lua interpreter is not available"));
    };
    let out = f(vm);
    // Lua 5.1 has no emergency collection: a script that hit the memory limit leaves its
    // garbage behind; collect it before the next one needs the room.
    if vm.used_memory() > 32 << 20 {
        let _ = vm.lua.gc_collect();
    }
    scripts.note_stats(vm);
    out
}

pub fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Body, false)
}

pub fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Sha, false)
}

pub fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Body, true)
}

pub fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Sha, true)
}

pub fn fcall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Function, false)
}

pub fn fcall_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    run(ctx, args, Target::Function, true)
}

/// What EVAL & co. run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The script in the request (EVAL), cached.
    Body,
    /// A cached script (EVALSHA).
    Sha,
    /// A registered function (FCALL).
    Function,
}

fn run(ctx: &mut Ctx<'_>, args: &[Bytes], target: Target, read_only: bool) -> Frame {
    let numkeys = match parse_int(&args[2]) {
        Ok(n) => n,
        Err(f) => return f,
    };
    if numkeys < 0 {
        return Frame::error("ERR Number of keys can't be negative");
    }
    if numkeys as u64 > (args.len() - 3) as u64 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    let split = 3 + numkeys as usize;
    let (keys, argv) = (&args[3..split], &args[split..]);
    let sha = match target {
        Target::Sha => String::from_utf8_lossy(&args[1]).to_ascii_lowercase(),
        Target::Body => sha1_hex(&args[1]),
        Target::Function => String::from_utf8_lossy(&args[1]).into_owned(),
    };
    let ns = ctx.session.base();
    let shared = ctx.shared;
    let (saved_ldb, saved_proto, saved_exec) =
        (ctx.session.ldb, ctx.session.proto, ctx.session.in_exec);
    let written: RefCell<Vec<(u32, Vec<Bytes>)>> = RefCell::new(Vec::new());
    // Lock order: the unit (the engine's gate) first, then the interpreter, as for a script
    // called by EXEC (which holds the gate already).
    let body = |session: &mut Session, db: storage::Db<'_>| -> Outcome {
        let out = with_vm(shared, |vm| {
            let (func, sflags) = match target {
                Target::Sha => {
                    let s = vm.scripts.get(&sha).ok_or_else(|| {
                        Frame::error("NOSCRIPT No matching script. Please use EVAL.")
                    })?;
                    (s.func.clone(), s.flags)
                }
                Target::Body => {
                    let s = vm.load(&sha, &args[1])?;
                    (s.func.clone(), s.flags)
                }
                Target::Function => {
                    let (f, flags) = functions::lookup(shared, vm, &db, ns, &sha)?;
                    if read_only && !flags.no_writes {
                        return Err(Frame::error(
                            "ERR Can not execute a script with write flag using *_ro command.",
                        ));
                    }
                    (f, flags)
                }
            };
            let read_only = read_only || sflags.no_writes;
            if sflags.shebang && !read_only {
                // A script that declares it may write is refused before it starts when the
                // server cannot take writes (legacy scripts: at their first write, as Redis).
                if crate::replication::is_replica(shared)
                    && shared.hot.replica_read_only.load(Ordering::Relaxed)
                {
                    return Err(Frame::error(
                        "READONLY You can't write against a read only replica.",
                    ));
                }
                if !sflags.allow_oom && shared.guard.full() {
                    return Err(Frame::error(crate::diskguard::FULL_ERROR));
                }
            }
            shared
                .scripts
                .begin((target == Target::Function).then(|| (sha.clone(), args.to_vec())));
            session.in_exec = true;
            let saved_script = std::mem::replace(&mut session.in_script, true);
            let out = call_lua(
                shared,
                session,
                db,
                vm,
                &func,
                &sha,
                keys,
                argv,
                read_only,
                target == Target::Function,
                &written,
            );
            session.in_exec = saved_exec;
            session.in_script = saved_script;
            shared.scripts.end(Duration::from_millis(
                shared.hot.busy_reply_threshold_ms.load(Ordering::Relaxed),
            ));
            Ok(out)
        });
        match out {
            Err(f) => Outcome::Abandon(f),
            Ok(_) if shared.scripts.run.abort.load(Ordering::Acquire) => {
                Outcome::Abandon(Frame::error(SHUTDOWN_KILLED))
            }
            Ok(f) => Outcome::Commit(f),
        }
    };
    let reply = if ctx.db.in_unit() {
        // Called by EXEC: part of the transaction's unit.
        match body(ctx.session, ctx.db) {
            Outcome::Commit(f) | Outcome::Abandon(f) => f,
        }
    } else {
        let mut abandoned = None;
        let unit = crate::commitlog::run_unit(
            shared,
            &ctx.db,
            ctx.session,
            crate::commitlog::Unit::Alone,
            crate::commitlog::Commit::Logged { one_record: true },
            "script-before-commit",
            |session, txn| match body(session, txn.db()) {
                Outcome::Commit(f) => Some(f),
                Outcome::Abandon(f) => {
                    abandoned = Some(f);
                    None
                }
            },
        );
        match unit {
            Ok(Some(f)) => f,
            Ok(None) => abandoned.unwrap_or(Frame::Null),
            Err(e) => crate::commands::storage_error(e),
        }
    };
    // A script's SELECT does not outlive it.
    ctx.session.ldb = saved_ldb;
    ctx.session.resolve_db(&ctx.db);
    ctx.session.proto = saved_proto;
    if shared.blocked.count() > 0 {
        let keys: Vec<(u32, Bytes)> = written
            .borrow()
            .iter()
            .flat_map(|(ldb, args)| crate::blocking::woken_by(shared, *ldb, args))
            .collect();
        crate::blocking::signal(shared, keys);
    }
    reply
}

/// How a script's unit ends.
enum Outcome {
    /// Committed (also after a script error: its writes stay, as in Redis).
    Commit(Frame),
    /// Abandoned: nothing it wrote is kept (SHUTDOWN NOSAVE; or it never started).
    Abandon(Frame),
}

/// What the `redis.call`/`redis.pcall`/`redis.setresp` of the running script work with
/// (registered once, they find it through the interpreter's app data: see [`current`]).
struct RunCtx<'a> {
    shared: &'a Shared,
    session: RefCell<&'a mut Session>,
    db: storage::Db<'a>,
    read_only: bool,
    resp3: Cell<bool>,
    written: &'a RefCell<Vec<(u32, Vec<Bytes>)>>,
}

/// The interpreter's app data: the address of the running script's [`RunCtx`] (0 between
/// scripts).
#[derive(Default)]
pub struct RunPtr(usize);

/// Runs `f` with the running script's context.
fn current<R>(lua: &mlua::Lua, f: impl FnOnce(&RunCtx<'_>) -> R) -> mlua::Result<R> {
    let p = lua.app_data_ref::<RunPtr>().map_or(0, |r| r.0);
    if p == 0 {
        return Err(mlua::Error::RuntimeError(
            "redis.call is only available while a script runs".into(),
        ));
    }
    #[allow(unsafe_code)]
    // SAFETY: `p` is the address of the `RunCtx` on the stack of `call_lua`, which stores it
    // right before running the script and resets it to 0 (by a guard, also when unwinding)
    // before that frame ends. The callbacks that read it run only inside that run, on the
    // thread that holds the interpreter's lock, and only share the context immutably (its
    // mutable parts are behind `RefCell`/`Cell`).
    let ctx = unsafe { &*(p as *const RunCtx<'_>) };
    Ok(f(ctx))
}

/// `redis.call`: a failed command raises its error.
pub(crate) fn redis_call(lua: &mlua::Lua, args: mlua::Variadic<Value>) -> mlua::Result<Value> {
    match current(lua, |ctx| bridge(lua, ctx, &args))?? {
        Reply::Value(v) => Ok(v),
        Reply::Error(msg) => Err(vm::raise(&msg)),
    }
}

/// `redis.pcall`: a failed command's error is returned as `{err = ...}`.
pub(crate) fn redis_pcall(lua: &mlua::Lua, args: mlua::Variadic<Value>) -> mlua::Result<Value> {
    match current(lua, |ctx| bridge(lua, ctx, &args))?? {
        Reply::Value(v) => Ok(v),
        Reply::Error(msg) => {
            let t = lua.create_table()?;
            t.raw_set("err", msg)?;
            Ok(Value::Table(t))
        }
    }
}

/// `redis.setresp(2|3)`: the protocol of the replies the script gets.
pub(crate) fn redis_setresp(lua: &mlua::Lua, v: Value) -> mlua::Result<()> {
    let resp3 = match v {
        Value::Integer(2) | Value::Number(2.0) => false,
        Value::Integer(3) | Value::Number(3.0) => true,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "RESP version must be 2 or 3.".into(),
            ))
        }
    };
    current(lua, |ctx| ctx.resp3.set(resp3))
}

/// Clears the running script's context when `call_lua` ends, also by a panic.
struct ClearRun<'a>(&'a mlua::Lua);

impl Drop for ClearRun<'_> {
    fn drop(&mut self) {
        self.0.set_app_data(RunPtr(0));
    }
}

#[allow(clippy::too_many_arguments)]
fn call_lua(
    shared: &Shared,
    session: &mut Session,
    db: storage::Db<'_>,
    vm: &Vm,
    func: &mlua::Function,
    sha: &str,
    keys: &[Bytes],
    argv: &[Bytes],
    read_only: bool,
    as_function: bool,
    written: &RefCell<Vec<(u32, Vec<Bytes>)>>,
) -> Frame {
    let lua = &vm.lua;
    let client_resp3 = session.proto == resp::Protocol::Resp3;
    let ctx = RunCtx {
        shared,
        session: RefCell::new(session),
        db,
        read_only,
        resp3: Cell::new(false),
        written,
    };
    let run = || -> mlua::Result<Frame> {
        let strings = |items: &[Bytes]| -> mlua::Result<mlua::Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(it)?)?;
            }
            Ok(t)
        };
        let unlimited = vm::Unlimited::new(lua);
        let entry = if as_function {
            // FCALL: the function gets the keys and arguments as its two arguments.
            vm.private.raw_set("fn", func)?;
            vm.private.raw_set("keys", strings(keys)?)?;
            vm.private.raw_set("args", strings(argv)?)?;
            vm.private.raw_get::<mlua::Function>("fcall")?
        } else {
            vm.real.raw_set("KEYS", strings(keys)?)?;
            vm.real.raw_set("ARGV", strings(argv)?)?;
            func.clone()
        };
        lua.set_app_data(RunPtr(&ctx as *const RunCtx<'_> as usize));
        let _clear = ClearRun(lua);
        drop(unlimited);
        let (ok, value): (bool, Value) = vm.xpcall.call((&entry, &vm.handler))?;
        Ok(if ok {
            vm::lua_to_frame(&value, ctx.resp3.get(), client_resp3, 0)
        } else {
            vm::error_reply(&value, sha)
        })
    };
    match run() {
        Ok(f) => f,
        Err(e) => Frame::Error(vm::one_line(&format!(
            "ERR {} script: {sha}",
            vm::lua_message(&e)
        ))),
    }
}

/// What a command called by a script answered.
enum Reply {
    Value(Value),
    /// An error (Redis's normalised text): `redis.call` raises it, `redis.pcall` returns it.
    Error(String),
}

/// `redis.call`/`redis.pcall`: runs one command for the script, inside its unit.
fn bridge(lua: &mlua::Lua, ctx: &RunCtx<'_>, args: &[Value]) -> mlua::Result<Reply> {
    let shared = ctx.shared;
    let mut session = ctx.session.borrow_mut();
    let session: &mut Session = &mut session;
    let (db, read_only, resp3, written) = (ctx.db, ctx.read_only, ctx.resp3.get(), ctx.written);
    let err = |msg: &str| -> mlua::Result<Reply> { Ok(Reply::Error(msg.to_string())) };
    if args.is_empty() {
        return err("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Bytes> = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(_) => match lua.coerce_string(a.clone())? {
                Some(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
                None => {
                    return err("ERR Lua redis lib command arguments must be strings or integers")
                }
            },
            _ => return err("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some(idx) = crate::commands::lookup(&argv[0]) else {
        return err("ERR Unknown Redis command called from script");
    };
    let spec = &TABLE[idx];
    let n = argv.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || (spec.arity < 0 && n < -spec.arity) {
        return err("ERR Wrong number of args calling Redis command from script");
    }
    if spec.flags & flags::NOSCRIPT != 0 {
        return err("ERR This Redis command is not allowed from script");
    }
    let writes = spec.flags & flags::WRITE != 0;
    if writes && read_only {
        return err("ERR Write commands are not allowed from read-only scripts.");
    }
    // The rest of the central checks (subcommands, namespaces, read-only replica, storage
    // full) as for a client's command.
    if let Err(Frame::Error(m)) = crate::commands::check(shared, session, &argv) {
        return err(&m);
    }
    session.proto = if resp3 {
        resp::Protocol::Resp3
    } else {
        resp::Protocol::Resp2
    };
    let reply = crate::commands::call_in(shared, session, db, idx, &argv);
    shared.error_reply(&reply);
    if writes && !reply.is_error() {
        shared.scripts.run.wrote.store(true, Ordering::Release);
        written.borrow_mut().push((session.ldb, argv));
    }
    if let Frame::Error(m) = &reply {
        return err(&vm::error_text(&format!("-{m}")));
    }
    let _unlimited = vm::Unlimited::new(lua);
    Ok(Reply::Value(vm::frame_to_lua(lua, &reply, resp3)?))
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.
pub fn script(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let shared = ctx.shared;
    match sub.as_str() {
        "load" => {
            let sha = sha1_hex(&args[2]);
            match with_vm(shared, |vm| vm.load(&sha, &args[2]).map(|_| ())) {
                Ok(()) => Frame::Bulk(Bytes::from(sha)),
                Err(f) => f,
            }
        }
        "exists" => {
            let found = with_vm(shared, |vm| {
                Ok(args[2..]
                    .iter()
                    .map(|a| {
                        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
                        Frame::Integer(vm.scripts.contains_key(&sha) as i64)
                    })
                    .collect::<Vec<_>>())
            });
            match found {
                Ok(v) => Frame::Array(v),
                Err(f) => f,
            }
        }
        "flush" => {
            if let Some(mode) = args.get(2) {
                if args.len() > 3
                    || !(mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async"))
                {
                    return Frame::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                }
            }
            // A new interpreter: the cache and every global a script may have left go.
            let scripts = &shared.scripts;
            let mut guard = scripts.vm.lock().unwrap_or_else(|p| p.into_inner());
            *guard = None;
            scripts.lua_memory.store(0, Ordering::Relaxed);
            scripts.cached.store(0, Ordering::Relaxed);
            scripts.cached_bytes.store(0, Ordering::Relaxed);
            Frame::ok()
        }
        "kill" => shared.scripts.kill(),
        "help" => Frame::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DEBUG (YES|SYNC|NO)",
                "    Set the debug mode for subsequent scripts executed.",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Frame::Simple(l.to_string()))
            .collect(),
        ),
        "debug" => Frame::error("ERR SCRIPT DEBUG is not supported by Strata"),
        _ => Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}
