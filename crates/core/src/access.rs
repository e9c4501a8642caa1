//! ACL in the server (`docs/acl.md`): the users (the `acl` crate's model) as connections hold
//! them, the command catalog built from the command table and Redis's declarations, the
//! keys and channels of a request, the check in the central checks, the ACL log, the ACL
//! file, and the `ACL` command.
//!
//! A session holds its user's [`UserHandle`]: `ACL SETUSER` swaps the user inside it, so the
//! change applies to every connection at once; `ACL DELUSER` (and `ACL LOAD`) let the
//! user's connections go, as Redis does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use acl::log::{Context, Entry, Reason};
use acl::{Catalog, Channels, Denied, KeyCache, KeyRef, Request, Rules, User};
use arc_swap::ArcSwap;
use bytes::Bytes;
use resp::Frame;

use crate::commands::meta;
use crate::commands::{eq_ic, parse_int, Ctx, Session, TABLE};
use crate::shared::Shared;

/// A user as connections hold it.
pub struct UserHandle {
    pub name: String,
    user: ArcSwap<User>,
    /// Cached `User::unrestricted` of the current user: the check is skipped.
    open: AtomicBool,
}

impl UserHandle {
    fn new(user: User) -> Arc<UserHandle> {
        Arc::new(UserHandle {
            name: user.name.clone(),
            open: AtomicBool::new(user.unrestricted()),
            user: ArcSwap::from_pointee(user),
        })
    }

    /// Everything allowed: no ACL check needed (the batched fast paths require it).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn get(&self) -> Arc<User> {
        self.user.load_full()
    }

    fn set(&self, user: User) {
        self.open.store(user.unrestricted(), Ordering::Relaxed);
        self.user.store(Arc::new(user));
    }
}

/// The user of the server's own sessions (replay, serving blocked clients): everything
/// allowed; their commands were checked when a client sent them.
pub fn internal() -> Arc<UserHandle> {
    static INTERNAL: OnceLock<Arc<UserHandle>> = OnceLock::new();
    INTERNAL
        .get_or_init(|| {
            UserHandle::new(User::default_user(Rules {
                catalog: catalog(),
                allchannels_default: false,
            }))
        })
        .clone()
}

/// Every user, the ACL log and the ACL settings.
pub struct Access {
    users: RwLock<BTreeMap<String, Arc<UserHandle>>>,
    default: Arc<UserHandle>,
    log: Mutex<acl::log::Log>,
    pub log_max: AtomicUsize,
    pub allchannels_default: AtomicBool,
    /// `aclfile` as read at start (ACL LOAD and SAVE use it).
    pub file: Mutex<Option<PathBuf>>,
}

impl Default for Access {
    fn default() -> Access {
        let default = UserHandle::new(User::default_user(Rules {
            catalog: catalog(),
            allchannels_default: false,
        }));
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), default.clone());
        Access {
            users: RwLock::new(users),
            default,
            log: Mutex::new(acl::log::Log::default()),
            log_max: AtomicUsize::new(128),
            allchannels_default: AtomicBool::new(false),
            file: Mutex::new(None),
        }
    }
}

impl Access {
    pub fn rules(&self) -> Rules<'static> {
        Rules {
            catalog: catalog(),
            allchannels_default: self.allchannels_default.load(Ordering::Relaxed),
        }
    }

    pub fn default_user(&self) -> Arc<UserHandle> {
        self.default.clone()
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<UserHandle>> {
        let name = std::str::from_utf8(name).ok()?;
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// New connections start authenticated unless the default user needs a password or is
    /// off (Redis's `authRequired`).
    pub fn auth_required(&self) -> bool {
        let d = self.default.get();
        !d.nopass || !d.enabled
    }

    fn users_snapshot(&self) -> Vec<Arc<UserHandle>> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// `requirepass`: the default user's password (empty: `nopass`).
    pub fn set_requirepass(&self, shared: &Shared, pass: &str) {
        let rules = self.rules();
        let mut u = (*self.default.get()).clone();
        let _ = u.apply(rules, b"resetpass");
        if pass.is_empty() {
            let _ = u.apply(rules, b"nopass");
        } else {
            let _ = u.apply(rules, format!(">{pass}").as_bytes());
        }
        self.default.set(u);
        self.default_changed(shared);
    }

    fn default_changed(&self, shared: &Shared) {
        shared
            .hot
            .password_set
            .store(self.auth_required(), Ordering::Relaxed);
    }

    /// Replaces every user (ACL LOAD, start-up): users that were there before (but the
    /// default one, which is updated in place) have their connections let go.
    fn replace_all(&self, shared: &Shared, users: Vec<User>) {
        let mut map = self.users.write().unwrap_or_else(|p| p.into_inner());
        let old: Vec<String> = map.keys().filter(|n| *n != "default").cloned().collect();
        let mut next = BTreeMap::new();
        for u in users {
            if u.name == "default" {
                self.default.set(u);
                next.insert("default".to_string(), self.default.clone());
            } else {
                next.insert(u.name.clone(), UserHandle::new(u));
            }
        }
        *map = next;
        drop(map);
        for name in old {
            let_go(shared, &name, None, false);
        }
        self.default_changed(shared);
    }

    fn log(&self, e: Entry) {
        let max = self.log_max.load(Ordering::Relaxed);
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(e, max);
    }
}

/// Lets go of the connections authenticated as `name` (only its subscribed ones with
/// `subscribers_only`); the one running the command (`current`) closes after its reply.
fn let_go(shared: &Shared, name: &str, current: Option<&mut Session>, subscribers_only: bool) {
    let me = current.as_ref().map(|s| s.client.id);
    let mut mine = false;
    for c in shared.clients.all() {
        let of_user = c.user.lock().map(|u| u.as_str() == name).unwrap_or(false);
        if !of_user || (subscribers_only && c.kind() != "pubsub") {
            continue;
        }
        if Some(c.id) == me {
            mine = true;
        } else {
            c.kill.cancel();
        }
    }
    if let Some(s) = current.filter(|_| mine) {
        s.close_after_reply = true;
    }
}

/// The catalog: every command Redis 7.0 declares (so rules name them as in Redis and the
/// category counts of descriptions are Redis's), Strata's own, and their subcommands.
pub fn catalog() -> &'static Catalog {
    &index().0
}

/// Per command of the table, its catalog id.
fn ids() -> &'static [usize] {
    &index().1
}

fn cats_of(names: &[String]) -> u32 {
    names
        .iter()
        .filter_map(|n| acl::category_bit(n.trim_start_matches('@')))
        .fold(0, |a, b| a | b)
}

fn index() -> &'static (Catalog, Vec<usize>) {
    static INDEX: OnceLock<(Catalog, Vec<usize>)> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut c = Catalog::new();
        let mut names: Vec<(&String, &meta::Meta)> = meta::all().iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (name, m) in names {
            let no_auth = m.flags.iter().any(|f| f == "no_auth");
            let id = c.add(name, cats_of(&m.acl), no_auth);
            for (full, sm) in &m.subcommands {
                let sub = full.split_once('|').map_or(full.as_str(), |(_, s)| s);
                let no_auth = sm.flags.iter().any(|f| f == "no_auth");
                c.add_sub(id, sub, cats_of(&sm.acl), no_auth);
            }
        }
        let mut ids = Vec::with_capacity(TABLE.len());
        for spec in TABLE {
            let id = match c.lookup(spec.name) {
                Some(id) => id,
                None => {
                    let cats = crate::commands::own_acl_categories(spec);
                    c.add(
                        spec.name,
                        cats_of(&cats),
                        spec.flags & crate::commands::flags::NO_AUTH != 0,
                    )
                }
            };
            ids.push(id);
        }
        // Subcommands Strata has beyond Redis 7.0's (Redis 7.2's CLIENT SETINFO, NO-TOUCH).
        if let Some(client) = c.lookup("client") {
            let cats = acl::category_bit("slow").unwrap_or(0)
                | acl::category_bit("connection").unwrap_or(0);
            c.add_sub(client, "setinfo", cats, false);
            c.add_sub(
                client,
                "no-touch",
                cats | acl::category_bit("fast").unwrap_or(0),
                false,
            );
        }
        c.sort();
        (c, ids)
    })
}

/// The catalog id of a request: its subcommand's when it has one.
fn request_id(idx: usize, args: &[Bytes]) -> usize {
    let id = ids()[idx];
    let cat = catalog();
    match args.get(1) {
        Some(sub) if !cat.get(id).subs.is_empty() => cat.sub_of(id, sub).unwrap_or(id),
        _ => id,
    }
}

fn channels_of(name: &str) -> Channels {
    match name {
        "publish" | "spublish" => Channels::Publish,
        "subscribe" | "ssubscribe" => Channels::Subscribe,
        "psubscribe" => Channels::PSubscribe,
        _ => Channels::None,
    }
}

/// What a key spec's flags mean for key patterns: `ACCESS` reads; `INSERT`, `UPDATE`,
/// `DELETE` write.
fn key_ref(pos: usize, flags: &[String]) -> KeyRef {
    let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
    KeyRef {
        pos,
        read: has("ACCESS"),
        write: has("INSERT") || has("UPDATE") || has("DELETE"),
    }
}

/// The keys of a request and how it uses each: what `COMMAND GETKEYSANDFLAGS` reports
/// (Redis's key specs, or the command's own rule where they cannot be evaluated alone). A
/// request whose keys cannot be found (a bad key count) has none, as in Redis: it is not
/// refused for its keys, and fails on its arguments when it runs.
pub fn keys_of(idx: usize, args: &[Bytes]) -> Vec<KeyRef> {
    let spec = &TABLE[idx];
    match crate::commands::keys_and_flags(spec, args) {
        Ok(keys) => keys
            .iter()
            .map(|(pos, flags)| key_ref(*pos, flags))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Checks a request against the session's user. The error is Redis's for where it runs (a
/// client's command, a script's `redis.call`); the refusal goes to the ACL log.
pub fn check(shared: &Shared, session: &Session, idx: usize, args: &[Bytes]) -> Result<(), Frame> {
    if session.user.open.load(Ordering::Relaxed) {
        return Ok(());
    }
    let context = if session.in_script {
        Context::Lua
    } else if session.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let denied = match denied(session, idx, args) {
        Some(d) => d,
        None => return Ok(()),
    };
    log_denied(shared, session, idx, args, denied, context);
    Err(Frame::Error(match (context, denied) {
        (Context::Lua, Denied::Command) => {
            "ERR The user executing the script can't run this command or subcommand".into()
        }
        (Context::Lua, Denied::Key(_)) => "ERR The user executing the script can't access at least one of the keys mentioned in the command".into(),
        (Context::Lua, Denied::Channel(_)) => "ERR The user executing the script can't publish to the channel mentioned in the command".into(),
        (_, Denied::Command) => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            catalog().get(request_id(idx, args)).fullname
        ),
        (_, Denied::Key(_)) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .into()
        }
        (_, Denied::Channel(_)) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }))
}

/// EXEC runs its queued commands again through the user's rules: they may have changed since
/// the commands were queued (Redis's error text).
pub fn check_at_exec(
    shared: &Shared,
    session: &Session,
    idx: usize,
    args: &[Bytes],
) -> Option<Frame> {
    if session.user.open.load(Ordering::Relaxed) {
        return None;
    }
    let d = denied(session, idx, args)?;
    log_denied(shared, session, idx, args, d, Context::Multi);
    let reason = match d {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    Some(Frame::Error(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}")))
}

/// Whether the session's user may run this request, without logging a refusal: the batched
/// paths ask before taking a request; a refused one goes the normal way and gets its error
/// (and its ACL log entry) there.
pub fn allowed(session: &Session, idx: usize, args: &[Bytes]) -> bool {
    session.user.is_open() || denied(session, idx, args).is_none()
}

/// [`allowed`] for `GET key` (the batched GET path), the command looked up once.
pub fn allowed_get(session: &Session, args: &[Bytes]) -> bool {
    static GET: OnceLock<Option<usize>> = OnceLock::new();
    GET.get_or_init(|| crate::commands::lookup(b"get"))
        .is_some_and(|i| allowed(session, i, args))
}

/// Whether the session's user may read every key with this request (SORT's BY and GET
/// patterns: Redis refuses them otherwise).
pub fn reads_all_keys(session: &Session, idx: usize, args: &[Bytes]) -> bool {
    if session.user.is_open() {
        return true;
    }
    session.user.user.load().unrestricted_read(
        &request(idx, args),
        &mut KeyCache::new(|| keys_of(idx, args)),
    )
}

/// Request `idx` with `args`, as the user's rules see it.
fn request(idx: usize, args: &[Bytes]) -> Request<'_, Bytes> {
    Request {
        catalog: catalog(),
        id: request_id(idx, args),
        args,
        channels: channels_of(TABLE[idx].name),
    }
}

fn denied(session: &Session, idx: usize, args: &[Bytes]) -> Option<Denied> {
    request_denied(&session.user.user.load(), idx, args)
}

fn request_denied(user: &User, idx: usize, args: &[Bytes]) -> Option<Denied> {
    user.check(
        &request(idx, args),
        &mut KeyCache::new(|| keys_of(idx, args)),
    )
    .err()
}

fn log_denied(
    shared: &Shared,
    session: &Session,
    idx: usize,
    args: &[Bytes],
    d: Denied,
    context: Context,
) {
    let (reason, object) = match d {
        Denied::Command => (
            Reason::Command,
            catalog()
                .get(request_id(idx, args))
                .fullname
                .as_bytes()
                .to_vec(),
        ),
        Denied::Key(p) => (Reason::Key, args[p].to_vec()),
        Denied::Channel(p) => (Reason::Channel, args[p].to_vec()),
    };
    shared.access.log(Entry {
        count: 1,
        reason,
        context,
        object,
        username: session.user.name.as_bytes().to_vec(),
        ctime_ms: now_ms(),
        client_info: session.client.describe(),
    });
}

/// Logs in as `user` (default: the `default` user) with `pass`, as AUTH and HELLO AUTH do.
/// A user bound to a namespace works in it from now on.
pub fn authenticate(
    ctx: &mut Ctx<'_>,
    user: Option<&[u8]>,
    pass: &[u8],
    command: &[u8],
) -> Result<(), Frame> {
    let access = &ctx.shared.access;
    let name: &[u8] = user.unwrap_or(b"default");
    let handle = access.user(name);
    let ok = handle.as_ref().is_some_and(|h| h.get().password_ok(pass));
    if let Some(h) = handle.filter(|_| ok) {
        let ns = match h.get().namespace.clone() {
            Some(n) => match ctx.shared.namespaces.by_name(&n) {
                Some(ns) => Some(ns),
                None => {
                    return Err(Frame::Error(format!(
                        "ERR the namespace '{n}' of user '{}' does not exist",
                        h.name
                    )))
                }
            },
            None => None,
        };
        set_user(ctx.session, h);
        match ns {
            Some(ns) => {
                ctx.session.select_db(&ctx.db, ns.base);
                ctx.session.client.db.store(0, Ordering::Relaxed);
                ctx.session.ns = Some(ns);
            }
            None => {
                if ctx.session.ns.take().is_some() {
                    ctx.session.select_db(&ctx.db, 0);
                    ctx.session.client.db.store(0, Ordering::Relaxed);
                }
            }
        }
        ctx.session.authed = true;
        return Ok(());
    }
    // A namespace's token given as the default user's password: a client of that namespace.
    if name == b"default" {
        if let Some(ns) = ctx.shared.namespaces.by_token(pass) {
            set_user(ctx.session, access.default_user());
            ctx.session.select_db(&ctx.db, ns.base);
            ctx.session.client.db.store(0, Ordering::Relaxed);
            ctx.session.ns = Some(ns);
            ctx.session.authed = true;
            return Ok(());
        }
    }
    access.log(Entry {
        count: 1,
        reason: Reason::Auth,
        context: if ctx.session.multi.is_some() {
            Context::Multi
        } else {
            Context::Toplevel
        },
        object: command.to_vec(),
        username: name.to_vec(),
        ctime_ms: now_ms(),
        client_info: ctx.session.client.describe(),
    });
    Err(Frame::error(
        "WRONGPASS invalid username-password pair or user is disabled.",
    ))
}

pub fn set_user(session: &mut Session, h: Arc<UserHandle>) {
    if let Ok(mut u) = session.client.user.lock() {
        *u = h.name.clone();
    }
    session.user = h;
}

/// Start-up: `user` lines of the config file, then the ACL file (not both, as in Redis).
pub fn load_at_start(shared: &Shared) -> Result<(), String> {
    let (file, lines, pubsub_default, log_max, dir) = shared.with_config(|c| {
        (
            c.get("aclfile").to_string(),
            c.users.clone(),
            c.get("acl-pubsub-default").to_string(),
            c.get_u64("acllog-max-len"),
            c.get("dir").to_string(),
        )
    });
    let access = &shared.access;
    access
        .allchannels_default
        .store(pubsub_default == "allchannels", Ordering::Relaxed);
    access.log_max.store(log_max as usize, Ordering::Relaxed);
    let rules = access.rules();
    if !file.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    if !lines.is_empty() {
        let mut users: Vec<User> = vec![(*access.default.get()).clone()];
        for (where_, args) in &lines {
            let name = &args[0];
            if name.bytes().any(|c| c.is_ascii_whitespace() || c == 0) {
                return Err(format!("{where_}: Spaces not allowed in ACL usernames"));
            }
            if users.iter().any(|u| &u.name == name && u.name != "default") {
                return Err(format!("{where_}: {}", acl::RuleError::Duplicate));
            }
            let ops: Vec<Vec<u8>> = args[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
            let merged = acl::merge_selectors(&ops).map_err(|i| {
                format!(
                    "{where_}: Unmatched parenthesis in acl selector starting at '{}'.",
                    args[1 + i]
                )
            })?;
            let mut u = if name == "default" {
                let mut d = (*access.default.get()).clone();
                let _ = d.apply(rules, b"reset");
                users.retain(|u| u.name != "default");
                d
            } else {
                User::new(name, rules)
            };
            for op in merged {
                u.apply(rules, &op).map_err(|e| {
                    format!(
                        "{where_}: Error in user declaration '{}': {e}",
                        String::from_utf8_lossy(&op)
                    )
                })?;
            }
            users.push(u);
        }
        access.replace_all(shared, users);
    }
    if !file.is_empty() {
        let path = PathBuf::from(&file);
        let path = if path.is_relative() && !dir.is_empty() && !path.exists() {
            PathBuf::from(&dir).join(path)
        } else {
            path
        };
        let users = read_file(&path, &file, rules)?;
        access.replace_all(shared, users);
        *access.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }
    access.default_changed(shared);
    Ok(())
}

fn read_file(path: &std::path::Path, name: &str, rules: Rules<'_>) -> Result<Vec<User>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{name}': {e}"))?;
    acl::file::parse(&text, name, rules)
}

/// What CONFIG REWRITE writes for the users: a `user` line each, unless they live in an
/// `aclfile` (then none, as Redis).
pub fn config_lines(shared: &Shared) -> Vec<String> {
    let access = &shared.access;
    if access
        .file
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some()
    {
        return Vec::new();
    }
    let rules = access.rules();
    access
        .users_snapshot()
        .iter()
        .map(|h| format!("user {} {}", h.name, h.get().describe(rules)))
        .collect()
}

const NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn bulk(s: impl Into<String>) -> Frame {
    Frame::Bulk(Bytes::from(s.into()))
}

/// `ACL <subcommand>`.
pub fn acl_command(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let shared = ctx.shared;
    let access = &shared.access;
    let rules = access.rules();
    // The argument counts each subcommand takes (Redis checks them in the command).
    let n = args.len();
    let fits = match sub.as_str() {
        "setuser" | "deluser" => n >= 3,
        "getuser" => n == 3,
        "list" | "users" | "whoami" | "load" | "save" | "help" => n == 2,
        "cat" | "genpass" | "log" => n == 2 || n == 3,
        "dryrun" => n >= 4,
        _ => false,
    };
    if !fits {
        return Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    }
    match sub.as_str() {
        "setuser" => setuser(ctx, args),
        "deluser" => {
            if args[2..].iter().any(|a| a.as_ref() == b"default") {
                return Frame::error("ERR The 'default' user cannot be removed");
            }
            let mut deleted = 0;
            for name in &args[2..] {
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                let removed = access
                    .users
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name);
                if removed.is_some() {
                    let_go(shared, name, Some(ctx.session), false);
                    deleted += 1;
                }
            }
            Frame::Integer(deleted)
        }
        "getuser" => match access.user(&args[2]) {
            None => Frame::Null,
            Some(h) => {
                let u = h.get();
                let mut m = vec![
                    (
                        bulk("flags"),
                        Frame::Set(u.flags().into_iter().map(bulk).collect()),
                    ),
                    (
                        bulk("passwords"),
                        Frame::Array(u.passwords.iter().map(|p| bulk(p.clone())).collect()),
                    ),
                ];
                m.extend(selector_fields(u.root_selector(), rules));
                m.push((
                    bulk("selectors"),
                    Frame::Array(
                        u.extra_selectors()
                            .iter()
                            .map(|s| Frame::Map(selector_fields(s, rules)))
                            .collect(),
                    ),
                ));
                Frame::Map(m)
            }
        },
        "list" | "users" => {
            let users = access.users_snapshot();
            Frame::Array(
                users
                    .iter()
                    .map(|h| {
                        if sub == "users" {
                            bulk(h.name.clone())
                        } else {
                            bulk(format!("user {} {}", h.name, h.get().describe(rules)))
                        }
                    })
                    .collect(),
            )
        }
        "whoami" => bulk(ctx.session.user.name.clone()),
        "load" | "save" => {
            let Some(path) = access
                .file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            else {
                return Frame::error(NO_FILE);
            };
            if sub == "load" {
                match read_file(&path, &path.display().to_string(), rules) {
                    Ok(users) => {
                        access.replace_all(shared, users);
                        if !ctx.session.user.name.eq("default") {
                            ctx.session.close_after_reply = true;
                        }
                        Frame::ok()
                    }
                    Err(e) => Frame::Error(format!("ERR {e}")),
                }
            } else {
                let users: Vec<Arc<User>> =
                    access.users_snapshot().iter().map(|h| h.get()).collect();
                let text = acl::file::render(users.iter().map(|u| u.as_ref()), rules);
                match crate::config::write_atomically(&path, text.as_bytes()) {
                    Ok(()) => Frame::ok(),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "ACL SAVE failed");
                        Frame::error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                    }
                }
            }
        }
        "cat" => {
            if args.len() == 2 {
                return Frame::Array(acl::CATEGORIES.iter().map(|c| bulk(*c)).collect());
            }
            let name = String::from_utf8_lossy(&args[2]);
            match acl::category_bit(&name) {
                None => Frame::Error(format!(
                    "ERR Unknown category '{}'",
                    name.chars().take(128).collect::<String>()
                )),
                Some(bit) => {
                    Frame::Array(catalog().in_category(bit).into_iter().map(bulk).collect())
                }
            }
        }
        "genpass" => {
            let bits = match args.get(2) {
                None => 256,
                Some(a) => match parse_int(a) {
                    Ok(b) => b,
                    Err(f) => return f,
                },
            };
            if bits <= 0 || bits > 4096 {
                return Frame::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
            }
            let chars = ((bits + 3) / 4) as usize;
            let mut out = String::with_capacity(chars);
            for _ in 0..chars {
                let d: u8 = rand::random::<u8>() & 15;
                out.push(char::from_digit(d as u32, 16).unwrap_or('0'));
            }
            bulk(out)
        }
        "log" => {
            let mut count = 10i64;
            if let Some(a) = args.get(2) {
                if eq_ic(a, "reset") {
                    access.log.lock().unwrap_or_else(|p| p.into_inner()).reset();
                    return Frame::ok();
                }
                count = match parse_int(a) {
                    Ok(n) => n.max(0),
                    Err(f) => return f,
                };
            }
            let now = now_ms();
            let log = access.log.lock().unwrap_or_else(|p| p.into_inner());
            Frame::Array(
                log.newest(count as usize)
                    .map(|e| {
                        Frame::Map(vec![
                            (bulk("count"), Frame::Integer(e.count as i64)),
                            (bulk("reason"), bulk(e.reason.as_str())),
                            (bulk("context"), bulk(e.context.as_str())),
                            (bulk("object"), Frame::Bulk(Bytes::from(e.object.clone()))),
                            (
                                bulk("username"),
                                Frame::Bulk(Bytes::from(e.username.clone())),
                            ),
                            (
                                bulk("age-seconds"),
                                Frame::Double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0),
                            ),
                            (bulk("client-info"), bulk(e.client_info.clone())),
                        ])
                    })
                    .collect(),
            )
        }
        "dryrun" => {
            let Some(h) = access.user(&args[2]) else {
                return Frame::Error(format!(
                    "ERR User '{}' not found",
                    String::from_utf8_lossy(&args[2])
                ));
            };
            let cmd_args = &args[3..];
            let Some(idx) = crate::commands::lookup(&cmd_args[0]) else {
                return Frame::Error(format!(
                    "ERR Command '{}' not found",
                    String::from_utf8_lossy(&cmd_args[0])
                ));
            };
            let spec = &TABLE[idx];
            let n = cmd_args.len() as i32;
            if (spec.arity > 0 && n != spec.arity) || (spec.arity < 0 && n < -spec.arity) {
                return Frame::Error(format!(
                    "ERR wrong number of arguments for '{}' command",
                    catalog().get(request_id(idx, cmd_args)).fullname
                ));
            }
            match request_denied(&h.get(), idx, cmd_args) {
                None => Frame::ok(),
                Some(Denied::Command) => bulk(format!(
                    "This user has no permissions to run the '{}' command",
                    catalog().get(request_id(idx, cmd_args)).fullname
                )),
                Some(Denied::Key(p)) => bulk(format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&cmd_args[p])
                )),
                Some(Denied::Channel(p)) => bulk(format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&cmd_args[p])
                )),
            }
        }
        "help" => Frame::Array(
            HELP.iter()
                .map(|l| Frame::Simple((*l).to_string()))
                .collect(),
        ),
        _ => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

fn selector_fields(s: &acl::Selector, rules: Rules<'_>) -> Vec<(Frame, Frame)> {
    vec![
        (bulk("commands"), bulk(s.describe_commands(rules))),
        (bulk("keys"), bulk(s.keys_field())),
        (bulk("channels"), bulk(s.channels_field())),
    ]
}

fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let access = &shared.access;
    let rules = access.rules();
    let name = &args[2];
    if name
        .iter()
        .any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
    {
        return Frame::error("ERR Usernames can't contain spaces or null characters");
    }
    let Ok(name) = std::str::from_utf8(name) else {
        return Frame::error("ERR Usernames can't contain spaces or null characters");
    };
    let ops: Vec<Vec<u8>> = args[3..].iter().map(|a| a.to_vec()).collect();
    let merged = match acl::merge_selectors(&ops) {
        Ok(m) => m,
        Err(i) => {
            return Frame::Error(format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&args[3 + i])
            ))
        }
    };
    let existing = access.user(name.as_bytes());
    let mut u = match &existing {
        Some(h) => (*h.get()).clone(),
        None => User::new(name, rules),
    };
    for op in &merged {
        if let Err(e) = u.apply(rules, op) {
            return Frame::Error(format!(
                "ERR Error in ACL SETUSER modifier '{}': {e}",
                String::from_utf8_lossy(op)
            ));
        }
    }
    let revoked_channels = existing
        .as_ref()
        .is_some_and(|h| channels_revoked(&h.get(), &u));
    match existing {
        Some(h) => h.set(u),
        None => {
            access
                .users
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string(), UserHandle::new(u));
        }
    }
    if revoked_channels {
        let_go(shared, name, Some(ctx.session), true);
    }
    if name == "default" {
        access.default_changed(shared);
    }
    Frame::ok()
}

/// Whether the new rules drop channel permissions the old ones had (then the user's
/// subscribed connections are let go, as Redis's `ACLKillPubsubClientsIfNeeded`).
fn channels_revoked(old: &User, new: &User) -> bool {
    let all = |u: &User| {
        u.root_selector().allchannels() || u.extra_selectors().iter().any(|s| s.allchannels())
    };
    if all(new) {
        return false;
    }
    let pats = |u: &User| -> Vec<Vec<u8>> {
        std::iter::once(u.root_selector())
            .chain(u.extra_selectors().iter())
            .flat_map(|s| s.channels().to_vec())
            .collect()
    };
    let newp = pats(new);
    all(old) || pats(old).iter().any(|p| !newp.contains(p))
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];
