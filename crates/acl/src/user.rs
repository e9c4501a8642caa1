//! A user and its selectors: the rules of `ACL SETUSER` applied one by one, the description
//! `ACL LIST` and `ACL SAVE` print, and the permission check of one command.
//!
//! Semantics are Redis 7.0's: a user has a root selector and any number of extra selectors
//! (`(...)`); a command is allowed when one selector allows the command, every key it names
//! and every channel it names. Command permissions are a bitmap over the catalog's ids, plus
//! the reserved "future commands" bit that only `+@all`/`allcommands` sets, which decides
//! whether a description starts from `+@all` or `-@all`.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::catalog::{category_bit, Catalog, CATEGORIES};

/// What a rule that cannot be applied gets (Redis's `ACLSetUserStringError` texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
    Duplicate,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
            RuleError::Duplicate => "Duplicate user found. A user can only be defined once in config files",
        })
    }
}

/// What rules are applied against: the command catalog and `acl-pubsub-default`.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub catalog: &'a Catalog,
    /// `acl-pubsub-default allchannels`: new selectors (and `reset`) allow every channel.
    pub allchannels_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    fn describe(&self, out: &mut String) {
        out.push_str(match (self.read, self.write) {
            (true, true) => "~",
            (true, false) => "%R~",
            _ => "%W~",
        });
        out.push_str(&String::from_utf8_lossy(&self.pattern));
    }
}

#[derive(Debug, Clone)]
pub struct Selector {
    root: bool,
    allowed: Vec<u64>,
    /// The reserved bit: set by `+@all`, cleared only by `-@all`.
    future: bool,
    /// Skips the bitmap test; cleared by any rule that clears a bit.
    allcommands: bool,
    /// Allowed first arguments of otherwise denied commands (`+select|0`), by command id.
    firstargs: Vec<(usize, Vec<String>)>,
    allkeys: bool,
    keys: Vec<KeyPattern>,
    allchannels: bool,
    channels: Vec<Vec<u8>>,
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
}

impl Selector {
    fn new(n: usize, root: bool, allchannels: bool) -> Selector {
        Selector {
            root,
            allowed: vec![0; n.div_ceil(64).max(1)],
            future: false,
            allcommands: false,
            firstargs: Vec::new(),
            allkeys: false,
            keys: Vec::new(),
            allchannels,
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.allcommands = false;
            }
        }
    }

    /// Allows or denies a command, and with a container all its subcommands.
    fn change(&mut self, cat: &Catalog, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.retain(|(i, _)| *i != id);
        for &s in &cat.get(id).subs {
            self.set_bit(s, allow);
        }
    }

    fn change_category(&mut self, cat: &Catalog, bit: u32, allow: bool) {
        for &top in cat.top() {
            if cat.get(top).categories & bit != 0 {
                self.change(cat, top, allow);
            }
            for &s in &cat.get(top).subs {
                if cat.get(s).categories & bit != 0 {
                    self.change(cat, s, allow);
                }
            }
        }
    }

    fn count_category(&self, cat: &Catalog, bit: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for id in cat.walk() {
            if cat.get(id).categories & bit != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// One selector rule (`ACLSetSelector`).
    fn apply(&mut self, rules: Rules<'_>, op: &[u8]) -> Result<(), RuleError> {
        let cat = rules.catalog;
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed.iter_mut().for_each(|w| *w = u64::MAX);
            self.future = true;
            self.allcommands = true;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed.iter_mut().for_each(|w| *w = 0);
            self.future = false;
            self.allcommands = false;
            self.firstargs.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.allkeys {
                return Err(RuleError::KeyAfterAll);
            }
            let (mut read, mut write) = (false, false);
            let mut offset = 1;
            if op[0] == b'%' {
                let mut tilde = false;
                while offset < op.len() {
                    let c = op[offset];
                    offset += 1;
                    match c.to_ascii_uppercase() {
                        b'R' if !read => read = true,
                        b'W' if !write => write = true,
                        b'~' => {
                            tilde = true;
                            break;
                        }
                        _ => return Err(RuleError::Syntax),
                    }
                }
                // Redis 7.0 would take `%R` (no `~`) or `%~x` (no permission) and then fail to
                // describe it; both are refused here.
                if !tilde || !(read || write) {
                    return Err(RuleError::Syntax);
                }
            } else {
                read = true;
                write = true;
            }
            let pattern = &op[offset..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => {
                    k.read |= read;
                    k.write |= write;
                }
                None => self.keys.push(KeyPattern {
                    pattern: pattern.to_vec(),
                    read,
                    write,
                }),
            }
            self.allkeys = false;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.allchannels = false;
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let name = std::str::from_utf8(&op[2..]).map_err(|_| RuleError::UnknownCommand)?;
            let bit = category_bit(name).ok_or(RuleError::UnknownCommand)?;
            self.change_category(cat, bit, op[0] == b'+');
        } else if op[0] == b'+' {
            let name = std::str::from_utf8(&op[1..]).map_err(|_| RuleError::UnknownCommand)?;
            match name.rsplit_once('|') {
                None => {
                    let id = cat.lookup(name).ok_or(RuleError::UnknownCommand)?;
                    self.change(cat, id, true);
                }
                Some((container, sub)) => {
                    let id = cat.lookup(container).ok_or(RuleError::UnknownCommand)?;
                    if cat.get(id).parent.is_some() {
                        return Err(RuleError::FirstArgOfSub);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !cat.get(id).subs.is_empty() {
                        let sid = cat.lookup(name).ok_or(RuleError::UnknownCommand)?;
                        self.change(cat, sid, true);
                    } else {
                        // `+select|0`: only that first argument of an otherwise denied command.
                        match self.firstargs.iter_mut().find(|(i, _)| *i == id) {
                            Some((_, args)) => {
                                if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                                    args.push(sub.to_string());
                                }
                            }
                            None => self.firstargs.push((id, vec![sub.to_string()])),
                        }
                    }
                }
            }
        } else if op[0] == b'-' {
            let name = std::str::from_utf8(&op[1..]).map_err(|_| RuleError::UnknownCommand)?;
            let id = cat.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cat, id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules that rebuild this bitmap: `+@all`/`-@all`, the categories that fit
    /// best (Redis's greedy choice, in [`CATEGORIES`] order), then single commands.
    pub fn describe_commands(&self, rules: Rules<'_>) -> String {
        let cat = rules.catalog;
        let n = cat.len();
        let additive = !self.future;
        let mut out = String::new();
        let mut fake = Selector::new(n, false, false);
        let start = if additive { "-@all" } else { "+@all" };
        out.push_str(start);
        out.push(' ');
        let _ = fake.apply(rules, start.as_bytes());
        let mut temp = Selector::new(n, false, false);
        temp.allowed.clone_from(&self.allowed);
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, name) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let bit = category_bit(name).unwrap_or(0);
                let (on, off) = temp.count_category(cat, bit);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let bit = category_bit(CATEGORIES[j]).unwrap_or(0);
            fake.change_category(cat, bit, additive);
            temp.change_category(cat, bit, !additive);
            out.push_str(if additive { "+@" } else { "-@" });
            out.push_str(CATEGORIES[j]);
            out.push(' ');
            applied[j] = true;
        }
        for &top in cat.top() {
            self.describe_single(cat, &mut fake, top, &mut out);
        }
        out.pop();
        out
    }

    fn describe_single(&self, cat: &Catalog, fake: &mut Selector, id: usize, out: &mut String) {
        let user = self.bit(id);
        if user != fake.bit(id) {
            out.push(if user { '+' } else { '-' });
            out.push_str(&cat.get(id).fullname);
            out.push(' ');
            fake.change(cat, id, user);
        }
        for &s in &cat.get(id).subs {
            self.describe_single(cat, fake, s, out);
        }
        if !user {
            if let Some((_, args)) = self.firstargs.iter().find(|(i, _)| *i == id) {
                for a in args {
                    out.push('+');
                    out.push_str(&cat.get(id).fullname);
                    out.push('|');
                    out.push_str(a);
                    out.push(' ');
                }
            }
        }
    }

    /// Key patterns, channel patterns and command rules, as `ACL LIST` shows a selector.
    pub fn describe(&self, rules: Rules<'_>) -> String {
        let mut out = String::new();
        if self.allkeys {
            out.push_str("~* ");
        } else {
            for k in &self.keys {
                k.describe(&mut out);
                out.push(' ');
            }
        }
        if self.allchannels {
            out.push_str("&* ");
        } else {
            out.push_str("resetchannels ");
            for c in &self.channels {
                out.push('&');
                out.push_str(&String::from_utf8_lossy(c));
                out.push(' ');
            }
        }
        out.push_str(&self.describe_commands(rules));
        out
    }

    /// `ACL GETUSER`'s `keys` field.
    pub fn keys_field(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let mut out = String::new();
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            k.describe(&mut out);
        }
        out
    }

    /// `ACL GETUSER`'s `channels` field.
    pub fn channels_field(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn allchannels(&self) -> bool {
        self.allchannels
    }

    pub fn channels(&self) -> &[Vec<u8>] {
        &self.channels
    }

    fn check_key(&self, key: &[u8], k: &KeyRef) -> bool {
        self.allkeys
            || self.keys.iter().any(|p| {
                (!k.read || p.read)
                    && (!k.write || p.write)
                    && pattern::glob_match(&p.pattern, key, false)
            })
    }

    /// Every key readable: `allkeys`, or a `*` pattern with read permission.
    fn all_keys_readable(&self) -> bool {
        self.allkeys || self.keys.iter().any(|p| p.read && p.pattern == b"*")
    }

    fn check_channel(&self, channel: &[u8], literal: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if literal {
                    p.as_slice() == channel
                } else {
                    pattern::glob_match(p, channel, false)
                }
            })
    }

    fn check<A: AsRef<[u8]>, F: FnOnce() -> Vec<KeyRef>>(
        &self,
        req: &Request<'_, A>,
        keys: &mut KeyCache<F>,
    ) -> Result<(), Denied> {
        let cmd = req.catalog.get(req.id);
        if !self.allcommands && !cmd.no_auth && !self.bit(req.id) {
            let at = if cmd.parent.is_some() { 2 } else { 1 };
            let first = req.args.get(at).map(AsRef::as_ref);
            let ok = req.args.len() >= 2
                && first.is_some_and(|f| {
                    self.firstargs
                        .iter()
                        .find(|(i, _)| *i == req.id)
                        .is_some_and(|(_, allowed)| {
                            allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(f))
                        })
                });
            if !ok {
                return Err(Denied::Command);
            }
        }
        if !self.allkeys {
            for k in keys.get() {
                let Some(key) = req.args.get(k.pos) else {
                    continue;
                };
                if !self.check_key(key.as_ref(), k) {
                    return Err(Denied::Key(k.pos));
                }
            }
        }
        if !self.allchannels {
            let (from, to, literal) = match req.channels {
                Channels::None => (0, 0, false),
                Channels::Publish => (1, 2.min(req.args.len()), false),
                Channels::Subscribe => (1, req.args.len(), false),
                Channels::PSubscribe => (1, req.args.len(), true),
            };
            for j in from..to {
                if !self.check_channel(req.args[j].as_ref(), literal) {
                    return Err(Denied::Channel(j));
                }
            }
        }
        Ok(())
    }
}

/// A key a command touches and how (from its key specs: `ACCESS` reads; `INSERT`, `UPDATE`,
/// `DELETE` write). A key with neither (EXISTS, TYPE) matches any pattern that matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub read: bool,
    pub write: bool,
}

/// Which arguments of a command are Pub/Sub channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    None,
    /// PUBLISH, SPUBLISH: the first argument, matched against the patterns.
    Publish,
    /// SUBSCRIBE, SSUBSCRIBE: every argument, matched against the patterns.
    Subscribe,
    /// PSUBSCRIBE: every argument, compared literally with the patterns.
    PSubscribe,
}

/// Why a command was refused; positions are argument indexes (the command name is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(p) => (2, p),
            Denied::Channel(p) => (4, p),
        }
    }
}

/// One command to check.
pub struct Request<'a, A> {
    pub catalog: &'a Catalog,
    /// The command's id, or its subcommand's.
    pub id: usize,
    pub args: &'a [A],
    pub channels: Channels,
}

/// The keys of a request, found once however many selectors look at them (and not at all
/// when every selector allows all keys).
pub struct KeyCache<F> {
    find: Option<F>,
    keys: Vec<KeyRef>,
}

impl<F: FnOnce() -> Vec<KeyRef>> KeyCache<F> {
    pub fn new(find: F) -> KeyCache<F> {
        KeyCache {
            find: Some(find),
            keys: Vec::new(),
        }
    }

    fn get(&mut self) -> &[KeyRef] {
        if let Some(f) = self.find.take() {
            self.keys = f();
        }
        &self.keys
    }
}

/// `sanitize-payload` / `skip-sanitize-payload` (kept and shown; RESTORE always checks here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitize {
    Unset,
    Sanitize,
    Skip,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize: Sanitize,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
    /// Strata: the namespace this user works in (`namespace=<name>`); `None`: the default.
    pub namespace: Option<String>,
    /// The root selector first.
    selectors: Vec<Selector>,
    n: usize,
}

/// SHA-256 of a password, lower-case hex (what `#<hash>` takes and `ACL GETUSER` shows).
pub fn hash_password(pass: &[u8]) -> String {
    let digest = Sha256::digest(pass);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hash a password rule names: hashed from the clear text after `>`/`<`, or given after
/// `#`/`!` (then it must be a valid SHA-256 hex digest).
fn password_hash(op: &[u8]) -> Result<String, RuleError> {
    let rest = &op[1..];
    if op[0] == b'>' || op[0] == b'<' {
        return Ok(hash_password(rest));
    }
    if !valid_hash(rest) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(rest).into_owned())
}

/// Compares without leaking where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (x, y) in a.iter().zip(b) {
        diff |= (x ^ y) as usize;
    }
    diff == 0
}

impl User {
    /// A user as `ACL SETUSER` creates it: off, no passwords, no keys, no commands.
    pub fn new(name: &str, rules: Rules<'_>) -> User {
        let n = rules.catalog.len();
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            namespace: None,
            selectors: vec![Selector::new(n, true, rules.allchannels_default)],
            n,
        }
    }

    /// The `default` user of a fresh server: `on nopass ~* &* +@all`.
    pub fn default_user(rules: Rules<'_>) -> User {
        let mut u = User::new("default", rules);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(rules, op.as_bytes());
        }
        u
    }

    fn root(&mut self) -> &mut Selector {
        &mut self.selectors[0]
    }

    pub fn root_selector(&self) -> &Selector {
        &self.selectors[0]
    }

    /// The selectors besides the root one.
    pub fn extra_selectors(&self) -> &[Selector] {
        &self.selectors[1..]
    }

    /// Applies one rule (`ACLSetUser`). On error the user may be half-changed: callers apply
    /// rules to a copy and keep it only when all succeed.
    pub fn apply(&mut self, rules: Rules<'_>, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is("sanitize-payload") {
            self.sanitize = Sanitize::Sanitize;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = password_hash(op)?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = password_hash(op)?;
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(self.n, false, rules.allchannels_default);
            let inner = &op[1..op.len() - 1];
            for part in split_args(inner).ok_or(RuleError::Syntax)? {
                s.apply(rules, &part)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = self.root();
            root.allkeys = false;
            root.keys.clear();
            root.allchannels = rules.allchannels_default;
            root.channels.clear();
            self.enabled = false;
            self.sanitize = Sanitize::Sanitize;
            self.selectors.truncate(1);
            self.namespace = None;
            let _ = self.root().apply(rules, b"-@all");
        } else if op.len() > 10 && op[..10].eq_ignore_ascii_case(b"namespace=") {
            let name = &op[10..];
            if has_spaces(name) {
                return Err(RuleError::Syntax);
            }
            self.namespace = Some(String::from_utf8_lossy(name).into_owned());
        } else if is("nonamespace") {
            self.namespace = None;
        } else {
            self.root().apply(rules, op)?;
        }
        Ok(())
    }

    /// Whether `pass` logs this user in (an enabled user with `nopass` or a matching password).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        let mut ok = false;
        for p in &self.passwords {
            ok |= same(p.as_bytes(), h.as_bytes());
        }
        ok
    }

    /// Everything allowed (`~* &* +@all` in some selector): no check needed.
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.allcommands && s.allkeys && s.allchannels)
    }

    /// Whether a request may run; the refusal of the "most relevant" selector otherwise
    /// (Redis's choice: a channel over a key over the command, the later argument first).
    pub fn check<A: AsRef<[u8]>, F: FnOnce() -> Vec<KeyRef>>(
        &self,
        req: &Request<'_, A>,
        keys: &mut KeyCache<F>,
    ) -> Result<(), Denied> {
        let mut worst = Denied::Command;
        for s in &self.selectors {
            match s.check(req, keys) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.rank() > worst.rank() {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether a selector that allows this request can also read every key (Redis's check
    /// for SORT's BY and GET patterns, which name keys no key spec declares).
    pub fn unrestricted_read<A: AsRef<[u8]>, F: FnOnce() -> Vec<KeyRef>>(
        &self,
        req: &Request<'_, A>,
        keys: &mut KeyCache<F>,
    ) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_keys_readable() && s.check(req, keys).is_ok())
    }

    /// Whether the user may mention this channel (PUBSUB and kills after SETUSER).
    pub fn channel_ok(&self, channel: &[u8], literal: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.check_channel(channel, literal))
    }

    /// `ACL GETUSER`'s `flags`.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut out = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            out.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => out.push("skip-sanitize-payload"),
            Sanitize::Sanitize => out.push("sanitize-payload"),
            Sanitize::Unset => {}
        }
        out
    }

    /// The rules after `user <name> ` in `ACL LIST` and the ACL file.
    pub fn describe(&self, rules: Rules<'_>) -> String {
        let mut out = String::new();
        for f in self.flags() {
            out.push_str(f);
            out.push(' ');
        }
        for p in &self.passwords {
            out.push('#');
            out.push_str(p);
            out.push(' ');
        }
        if let Some(ns) = &self.namespace {
            out.push_str("namespace=");
            out.push_str(ns);
            out.push(' ');
        }
        for s in &self.selectors {
            if s.root {
                out.push_str(&s.describe(rules));
            } else {
                out.push_str(" (");
                out.push_str(&s.describe(rules));
                out.push(')');
            }
        }
        out
    }
}

/// Splits a selector's inside as Redis's `sdssplitargs` does (spaces; quotes allowed).
pub fn split_args(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let mut cur = Vec::new();
        let mut quote: Option<u8> = None;
        while i < s.len() {
            let c = s[i];
            match quote {
                Some(q) if c == q => {
                    i += 1;
                    if i < s.len() && !s[i].is_ascii_whitespace() {
                        return None;
                    }
                    quote = None;
                    break;
                }
                Some(b'"') if c == b'\\' && i + 1 < s.len() => {
                    cur.push(s[i + 1]);
                    i += 2;
                    continue;
                }
                Some(_) => cur.push(c),
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c.is_ascii_whitespace() => break,
                None => cur.push(c),
            }
            i += 1;
        }
        if quote.is_some() {
            return None;
        }
        out.push(cur);
    }
    Some(out)
}

/// Joins selector rules given over several arguments (`(~x`, `+get)`) into one, as Redis does
/// for ACL SETUSER and the ACL file; `Err(i)`: the argument `i` opens a selector never closed.
pub fn merge_selectors(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                if let Some((_, s)) = open.take() {
                    out.push(s);
                }
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((j, a.clone()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}
