//! The command table: every command declared once as data (name, arity, flags, key positions,
//! docs) and checked centrally by [`check`] before its handler runs. One file per family.
//!
//! Invariant: handlers never check arity, authentication or flags themselves; they only turn
//! arguments into a reply through the storage layer.

mod bits;
mod connection;
pub mod effects;
pub mod geo;
mod geohash;
mod hashes;
pub mod introspect;
mod keys;
mod lists;
pub mod meta;
pub mod multi;
pub mod pubsub;
mod server;
pub(crate) use server::{keys_and_flags, own_acl_categories};
mod sets;
mod sort;
pub mod streams;
mod strings;
mod zsets;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use resp::{Frame, Protocol};

use crate::clients::ClientEntry;
use crate::shared::Shared;

pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const FAST: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const DENYOOM: u32 = 1 << 7;
    pub const NOSCRIPT: u32 = 1 << 8;
    pub const PUBSUB: u32 = 1 << 9;
    pub const BLOCKING: u32 = 1 << 10;
    /// Writes no data but is logged for the replicas while any is connected (PUBLISH: its
    /// message reaches their subscribers). Redis's `may_replicate`; not listed by COMMAND here.
    pub const MAY_REPLICATE: u32 = 1 << 11;
    /// Refused inside MULTI (`-ERR Command not allowed inside a transaction`), as Redis's
    /// `no_multi` commands.
    pub const NO_MULTI: u32 = 1 << 12;
    /// Not recorded in the SLOWLOG (EXEC: its commands are, one by one).
    pub const SKIP_SLOWLOG: u32 = 1 << 13;

    // Strata's own properties of a write (never listed by COMMAND): what the write path,
    // the storage-full check and key batching read instead of command names.
    /// Runs alone under the engine's exclusive gate: it writes keys its key positions do not
    /// name (another database, every key) or changes the database map. See also
    /// `CommandSpec::alone_if` for commands that do so only with an option.
    pub const ALONE: u32 = 1 << 20;
    /// Frees space (deletes, pops, trims): still runs while storage is full.
    pub const FREES_SPACE: u32 = 1 << 21;
    /// Sets an expiry: runs while storage is full only if it shortens the key's life.
    pub const SETS_EXPIRY: u32 = 1 << 22;
    /// Reads or writes keys besides its first argument although only that one is declared
    /// (numkeys sources, BY patterns, another database): never joins a key batch.
    pub const NO_KEY_BATCH: u32 = 1 << 23;
    /// Runs a Lua script: the connection hands its runtime thread over while it runs, and
    /// other clients wait for it (or get -BUSY), see `scripting`.
    pub const RUNS_SCRIPT: u32 = 1 << 24;

    /// Names as `COMMAND` reports them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (NO_AUTH, "no_auth"),
        (FAST, "fast"),
        (NO_MULTI, "no_multi"),
        (SKIP_SLOWLOG, "skip_slowlog"),
    ];
}

use flags::*;

/// Per-connection state that commands read and change.
pub struct Session {
    pub client: Arc<ClientEntry>,
    /// The keyspace this command reads and writes: where the data of the selected database
    /// is (`Storage::physical` of `ldb`, resolved again for every command; SWAPDB changes it).
    pub db: u32,
    /// The database the client selected, as a keyspace id (its namespace's base plus the
    /// index): what binlog records, notifications and blocked clients name.
    pub ldb: u32,
    pub proto: Protocol,
    pub authed: bool,
    /// The ACL user this connection runs as (`default` until AUTH names another).
    pub user: Arc<crate::access::UserHandle>,
    /// Close the connection after this reply (QUIT, CLIENT KILL of oneself).
    pub close_after_reply: bool,
    /// Highest storage write sequence of this connection not yet known to be in the OS;
    /// replies are held until `Storage::wal_barrier` has passed it.
    pub wal_seq: u64,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<multi::Queue>,
    /// Keys under WATCH.
    pub watches: Vec<storage::WatchToken>,
    /// Running the commands of an EXEC: blocking commands do not block.
    pub in_exec: bool,
    /// Running the commands of a script (XREAD BLOCK is refused there, as Redis).
    pub in_script: bool,
    /// Set by a blocking command that found nothing: the connection waits on it.
    pub wait: Option<crate::blocking::Wait>,
    /// Pub/Sub mailbox and subscriptions, from the first (P)SUBSCRIBE on.
    pub sub: Option<crate::pubsub::Subscriber>,
    /// Set by a command whose work continues on the connection (PSYNC, WAIT, throttled
    /// transfer chunks).
    pub takeover: Option<crate::replication::master::Takeover>,
    /// A replica's listening port and announced address (REPLCONF).
    pub repl_port: u16,
    pub repl_ip: Option<String>,
    /// The namespace this client authenticated into (`None`: the default one). `db` is then
    /// the namespace's base plus the database index.
    pub ns: Option<Arc<crate::namespace::Ns>>,
    /// CLIENT REPLY OFF: no replies (Pub/Sub confirmations and messages still go out).
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: replies still to suppress (the SKIP itself and the next one).
    pub reply_skip: u8,
    /// CLIENT TRACKING is on (settings in `Shared::tracking`).
    pub tracking: bool,
    /// CLIENT CACHING yes|no given for the next command.
    pub caching: bool,
    /// In MONITOR mode.
    pub monitoring: bool,
    /// The binlog records of the EXEC or key batch this session is running (its writes are
    /// described into it and committed by whoever set it).
    pub sink: Option<crate::commitlog::Sink>,
    /// Applying logged records (replay, a replica's stream): nothing is logged again.
    pub replaying: bool,
    /// Keyspace events, Pub/Sub messages and invalidations of the unit this session is
    /// running, held until it commits (see `notify::Held`).
    pub held: crate::notify::Held,
    /// The deterministic form the running write command reported of itself
    /// (`Ctx::log_as`); `None`: its arguments as given. Taken by `commitlog::run_described`.
    pub logged_as: Option<effects::Logged>,
    /// With the `n` event class: the keys the running write command names that did not
    /// exist before it (each gets `new` before the first event about it, see `Ctx::notify`).
    pub new_keys: Vec<Bytes>,
    /// How many of the keys the running write found expired got their `expired` event.
    pub expired_notified: usize,
    /// With the `m` class: the keys the running command reads that are not there, waiting
    /// for their `keymiss` (see `notify::key_misses`).
    pub pending_misses: Vec<Bytes>,
}

impl Session {
    /// The namespace was dropped: this client gets the error once and is let go.
    pub fn ns_dropped(&self) -> bool {
        self.ns.as_ref().is_some_and(|n| n.dropped.is_cancelled())
    }

    /// The keyspace id of database 0 of this client's namespace.
    pub fn base(&self) -> u32 {
        crate::namespace::base_of(self.ldb)
    }

    /// Selects the database with keyspace id `ldb` (base plus index).
    pub fn select_db(&mut self, db: &storage::Db<'_>, ldb: u32) {
        self.ldb = ldb;
        self.db = db.physical(ldb);
    }

    /// Resolves where the selected database's data is now, as the running unit sees it
    /// (SWAPDB may have moved it, also earlier in the same transaction).
    pub fn resolve_db(&mut self, db: &storage::Db<'_>) {
        self.db = db.physical(self.ldb);
    }
}

impl Session {
    /// Whether replies are sent as they are made (no CLIENT REPLY OFF/SKIP in effect).
    pub fn replies_on(&self) -> bool {
        !self.reply_off && self.reply_skip == 0
    }

    /// Whether the reply of the command just run is sent (CLIENT REPLY): the Pub/Sub
    /// confirmations always are, as in Redis 7.0.
    pub fn take_reply_allowed(&mut self, name: &str) -> bool {
        if self.reply_skip > 0 {
            self.reply_skip -= 1;
            return pubsub::is_subscription(name);
        }
        !self.reply_off || pubsub::is_subscription(name)
    }

    /// Subscribed to at least one channel or pattern.
    pub fn subscribed(&self) -> bool {
        self.sub.as_ref().is_some_and(|s| s.total() > 0)
    }
}

impl Session {
    pub fn new(
        client: Arc<ClientEntry>,
        authed: bool,
        user: Arc<crate::access::UserHandle>,
    ) -> Session {
        Session {
            user,
            client,
            db: 0,
            ldb: 0,
            proto: Protocol::Resp2,
            authed,
            close_after_reply: false,
            wal_seq: 0,
            multi: None,
            watches: Vec::new(),
            in_exec: false,
            in_script: false,
            wait: None,
            sub: None,
            takeover: None,
            repl_port: 0,
            repl_ip: None,
            ns: None,
            reply_off: false,
            reply_skip: 0,
            tracking: false,
            caching: false,
            monitoring: false,
            sink: None,
            replaying: false,
            held: Default::default(),
            logged_as: None,
            new_keys: Vec::new(),
            expired_notified: 0,
            pending_misses: Vec::new(),
        }
    }
}

pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub session: &'a mut Session,
    /// The engine (loaded once for the command) seen through the write context of the unit
    /// the command runs in: reads see the unit's pending writes, writes join them.
    pub db: storage::Db<'a>,
}

pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Frame;

pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first, last (negative counts from the end), step; 0,0,0 = no keys.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    /// Runs alone (as [`flags::ALONE`]) when this word appears among its arguments from the
    /// given position on (COPY ... DB, SORT ... STORE).
    pub alone_if: Option<(&'static [&'static str], usize)>,
}

impl CommandSpec {
    const fn alone_if(mut self, words: &'static [&'static str], from: usize) -> CommandSpec {
        self.alone_if = Some((words, from));
        self
    }

    /// Whether this call must run alone under the engine's exclusive gate.
    pub fn runs_alone(&self, args: &[Bytes]) -> bool {
        self.flags & ALONE != 0
            || self.alone_if.is_some_and(|(words, from)| {
                args.iter()
                    .skip(from)
                    .any(|a| words.iter().any(|w| eq_ic(a, w)))
            })
    }
}

#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        since,
        summary,
        complexity,
        handler,
        alone_if: None,
    }
}

const NOKEYS: (i32, i32, i32) = (0, 0, 0);
const KEY1: (i32, i32, i32) = (1, 1, 1);
const KEYS_ALL: (i32, i32, i32) = (1, -1, 1);
const KEY12: (i32, i32, i32) = (1, 2, 1);
const O1: &str = "O(1)";
const ON: &str = "O(N)";
const GEO_SEARCH_COST: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const GEO_AREA_COST: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

/// Every command. Handlers live in the family modules.
pub static TABLE: &[CommandSpec] = &[
    // connection
    cmd("ping", -1, FAST | STALE | LOADING, NOKEYS, "connection", "1.0.0", "Returns the server's liveliness response.", O1, connection::ping),
    cmd("echo", 2, FAST | LOADING | STALE, NOKEYS, "connection", "1.0.0", "Returns the given string.", O1, connection::echo),
    cmd("select", 2, FAST | LOADING | STALE, NOKEYS, "connection", "1.0.0", "Changes the selected database.", O1, connection::select),
    cmd("quit", -1, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, NOKEYS, "connection", "1.0.0", "Closes the connection.", O1, connection::quit),
    cmd("hello", -1, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, NOKEYS, "connection", "6.0.0", "Handshakes with the Redis server.", O1, connection::hello),
    cmd("auth", -2, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, NOKEYS, "connection", "1.0.0", "Authenticates the connection.", "O(N) where N is the number of passwords defined for the user", connection::auth),
    cmd("client", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "connection", "2.4.0", "A container for client connection commands.", "Depends on subcommand.", connection::client),
    cmd("acl", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "6.0.0", "A container for Access List Control commands.", "Depends on subcommand.", crate::access::acl_command),
    cmd("reset", 1, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, NOKEYS, "connection", "6.2.0", "Resets the connection.", O1, connection::reset),
    // bitmaps
    cmd("setbit", 4, WRITE | DENYOOM, KEY1, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", O1, bits::setbit),
    cmd("getbit", 3, READONLY | FAST, KEY1, "bitmap", "2.2.0", "Returns a bit value by offset.", O1, bits::getbit),
    cmd("bitcount", -2, READONLY, KEY1, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", ON, bits::bitcount),
    cmd("bitpos", -3, READONLY, KEY1, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", ON, bits::bitpos),
    cmd("bitop", -4, WRITE | DENYOOM, (2, -1, 1), "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", ON, bits::bitop),
    cmd("bitfield", -2, WRITE | DENYOOM, KEY1, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "O(1) for each subcommand specified", bits::bitfield),
    cmd("bitfield_ro", -2, READONLY | FAST, KEY1, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "O(1) for each subcommand specified", bits::bitfield_ro),
    // HyperLogLog
    cmd("pfadd", -2, WRITE | DENYOOM | FAST, KEY1, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "O(1) to add every element.", bits::pfadd),
    cmd("pfcount", -2, READONLY, KEYS_ALL, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", bits::pfcount),
    cmd("pfmerge", -2, WRITE | DENYOOM, KEYS_ALL, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", "O(N) to merge N HyperLogLogs, but with high constant times.", bits::pfmerge),
    cmd("pfselftest", 1, ADMIN, NOKEYS, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values.", "N/A", bits::pfselftest),
    cmd("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", "N/A", bits::pfdebug),
    // sorting
    cmd("sort", -2, WRITE | DENYOOM | NO_KEY_BATCH, KEY1, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort::sort).alone_if(&["store"], 2),
    cmd("sort_ro", -2, READONLY, KEY1, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort::sort_ro),
    // blocking pops
    cmd("blpop", -3, WRITE | BLOCKING | NOSCRIPT | FREES_SPACE, (1, -2, 1), "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", crate::blocking::handler),
    cmd("brpop", -3, WRITE | BLOCKING | NOSCRIPT | FREES_SPACE, (1, -2, 1), "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", crate::blocking::handler),
    cmd("brpoplpush", 4, WRITE | DENYOOM | BLOCKING | NOSCRIPT, KEY12, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", O1, crate::blocking::handler),
    cmd("blmove", 6, WRITE | DENYOOM | BLOCKING | NOSCRIPT, KEY12, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", O1, crate::blocking::handler),
    cmd("blmpop", -5, WRITE | BLOCKING | FREES_SPACE, NOKEYS, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", crate::blocking::handler),
    cmd("bzpopmin", -3, WRITE | FAST | BLOCKING | NOSCRIPT | FREES_SPACE, (1, -2, 1), "sorted_set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", crate::blocking::handler),
    cmd("bzpopmax", -3, WRITE | FAST | BLOCKING | NOSCRIPT | FREES_SPACE, (1, -2, 1), "sorted_set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", crate::blocking::handler),
    cmd("bzmpop", -5, WRITE | BLOCKING | FREES_SPACE, NOKEYS, "sorted_set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", crate::blocking::handler),
    // pub/sub
    cmd("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEYS, "pubsub", "2.0.0", "Listens for messages published to channels.", "O(N) where N is the number of channels to subscribe to.", pubsub::subscribe),
    cmd("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEYS, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to subscribe to.", pubsub::psubscribe),
    cmd("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEYS, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", "O(N) where N is the number of channels to unsubscribe.", pubsub::unsubscribe),
    cmd("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEYS, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to unsubscribe.", pubsub::punsubscribe),
    cmd("publish", 3, PUBSUB | FAST | LOADING | STALE | MAY_REPLICATE, NOKEYS, "pubsub", "2.0.0", "Posts a message to a channel.", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", pubsub::publish),
    cmd("pubsub", -2, PUBSUB | LOADING | STALE, NOKEYS, "pubsub", "2.8.0", "A container for Pub/Sub commands.", "Depends on subcommand.", pubsub::pubsub),
    cmd("spublish", 3, PUBSUB | FAST | LOADING | STALE | MAY_REPLICATE, KEY1, "pubsub", "7.0.0", "Post a message to a shard channel", "O(N) where N is the number of clients subscribed to the receiving shard channel.", pubsub::spublish),
    cmd("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, KEYS_ALL, "pubsub", "7.0.0", "Listens for messages published to shard channels.", "O(N) where N is the number of shard channels to subscribe to.", pubsub::ssubscribe),
    cmd("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, KEYS_ALL, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", "O(N) where N is the number of shard channels to unsubscribe.", pubsub::sunsubscribe),
    // transactions
    // scripting
    cmd("eval", -3, NOSCRIPT | STALE | RUNS_SCRIPT, NOKEYS, "scripting", "2.6.0", "Executes a server-side Lua script.", "Depends on the script that is executed.", crate::scripting::eval),
    cmd("evalsha", -3, NOSCRIPT | STALE | RUNS_SCRIPT, NOKEYS, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", crate::scripting::evalsha),
    cmd("eval_ro", -3, NOSCRIPT | STALE | READONLY | RUNS_SCRIPT, NOKEYS, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", "Depends on the script that is executed.", crate::scripting::eval_ro),
    cmd("evalsha_ro", -3, NOSCRIPT | STALE | READONLY | RUNS_SCRIPT, NOKEYS, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", crate::scripting::evalsha_ro),
    cmd("script", -2, NOSCRIPT, NOKEYS, "scripting", "2.6.0", "A container for Lua scripts management commands.", "Depends on subcommand.", crate::scripting::script),
    cmd("fcall", -3, NOSCRIPT | STALE | RUNS_SCRIPT, NOKEYS, "scripting", "7.0.0", "Invokes a function.", "Depends on the function that is executed.", crate::scripting::fcall),
    cmd("fcall_ro", -3, NOSCRIPT | STALE | READONLY | RUNS_SCRIPT, NOKEYS, "scripting", "7.0.0", "Invokes a read-only function.", "Depends on the function that is executed.", crate::scripting::fcall_ro),
    // LOAD, DELETE, FLUSH write (logged, replicated): see `scripting::functions::function_writes`.
    cmd("function", -2, WRITE | NOSCRIPT, NOKEYS, "scripting", "7.0.0", "A container for function commands.", "Depends on subcommand.", crate::scripting::functions::function),
    cmd("multi", 1, FAST | LOADING | STALE | NOSCRIPT, NOKEYS, "transactions", "1.2.0", "Starts a transaction.", O1, multi::multi),
    cmd("exec", 1, LOADING | STALE | NOSCRIPT | SKIP_SLOWLOG, NOKEYS, "transactions", "1.2.0", "Executes all commands in a transaction.", "Depends on commands in the transaction", multi::exec),
    cmd("discard", 1, FAST | LOADING | STALE | NOSCRIPT, NOKEYS, "transactions", "2.0.0", "Discards a transaction.", "O(N), when N is the number of queued commands", multi::discard),
    cmd("watch", -2, FAST | LOADING | STALE | NOSCRIPT, KEYS_ALL, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", "O(1) for every key.", multi::watch),
    cmd("unwatch", 1, FAST | LOADING | STALE | NOSCRIPT, NOKEYS, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", O1, multi::unwatch),
    // strings
    cmd("get", 2, READONLY | FAST, KEY1, "string", "1.0.0", "Returns the string value of a key.", O1, strings::get),
    cmd("set", -3, WRITE | DENYOOM, KEY1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", O1, strings::set),
    cmd("setnx", 3, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", O1, strings::setnx),
    cmd("setex", 4, WRITE | DENYOOM, KEY1, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", O1, strings::setex),
    cmd("psetex", 4, WRITE | DENYOOM, KEY1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", O1, strings::psetex),
    cmd("mget", -2, READONLY | FAST, KEYS_ALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.", strings::mget),
    cmd("mset", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.", strings::mset),
    cmd("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.", strings::msetnx),
    cmd("getset", 3, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", O1, strings::getset),
    cmd("getdel", 2, WRITE | FAST | FREES_SPACE, KEY1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", O1, strings::getdel),
    cmd("getex", -2, WRITE | FAST, KEY1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", O1, strings::getex),
    cmd("append", 3, WRITE | DENYOOM | FAST, KEY1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", O1, strings::append),
    cmd("strlen", 2, READONLY | FAST, KEY1, "string", "2.2.0", "Returns the length of a string value.", O1, strings::strlen),
    cmd("lcs", -3, READONLY, KEY12, "string", "7.0.0", "Finds the longest common substring.", "O(N*M) where N and M are the lengths of s1 and s2, respectively", strings::lcs),
    cmd("incr", 2, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", O1, strings::incr),
    cmd("decr", 2, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", O1, strings::decr),
    cmd("incrby", 3, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", O1, strings::incrby),
    cmd("decrby", 3, WRITE | DENYOOM | FAST, KEY1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", O1, strings::decrby),
    cmd("incrbyfloat", 3, WRITE | DENYOOM | FAST, KEY1, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", O1, strings::incrbyfloat),
    cmd("getrange", 4, READONLY, KEY1, "string", "2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string.", strings::getrange),
    cmd("substr", 4, READONLY, KEY1, "string", "1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string.", strings::getrange),
    cmd("setrange", 4, WRITE | DENYOOM, KEY1, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", O1, strings::setrange),
    // hashes
    cmd("hset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", "O(1) for each field/value pair added", hashes::hset),
    cmd("hmset", -4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Sets the values of multiple fields.", "O(N) where N is the number of fields being set.", hashes::hmset),
    cmd("hsetnx", 4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", O1, hashes::hsetnx),
    cmd("hget", 3, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the value of a field in a hash.", O1, hashes::hget),
    cmd("hmget", -3, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the values of all fields in a hash.", "O(N) where N is the number of fields being requested.", hashes::hmget),
    cmd("hdel", -3, WRITE | FAST | FREES_SPACE, KEY1, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "O(N) where N is the number of fields to be removed.", hashes::hdel),
    cmd("hexists", 3, READONLY | FAST, KEY1, "hash", "2.0.0", "Determines whether a field exists in a hash.", O1, hashes::hexists),
    cmd("hlen", 2, READONLY | FAST, KEY1, "hash", "2.0.0", "Returns the number of fields in a hash.", O1, hashes::hlen),
    cmd("hstrlen", 3, READONLY | FAST, KEY1, "hash", "3.2.0", "Returns the length of the value of a field.", O1, hashes::hstrlen),
    cmd("hkeys", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all fields in a hash.", "O(N) where N is the size of the hash.", hashes::hkeys),
    cmd("hvals", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all values in a hash.", "O(N) where N is the size of the hash.", hashes::hvals),
    cmd("hgetall", 2, READONLY, KEY1, "hash", "2.0.0", "Returns all fields and values in a hash.", "O(N) where N is the size of the hash.", hashes::hgetall),
    cmd("hincrby", 4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", O1, hashes::hincrby),
    cmd("hincrbyfloat", 4, WRITE | DENYOOM | FAST, KEY1, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", O1, hashes::hincrbyfloat),
    cmd("hrandfield", -2, READONLY, KEY1, "hash", "6.2.0", "Returns one or more random fields from a hash.", "O(N) where N is the size of the hash.", hashes::hrandfield),
    cmd("hscan", -3, READONLY, KEY1, "hash", "2.8.0", "Iterates over fields and values of a hash.", "O(1) for every call. O(N) for a complete iteration.", hashes::hscan),
    // lists
    cmd("lpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added", lists::lpush),
    cmd("rpush", -3, WRITE | DENYOOM | FAST, KEY1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added", lists::rpush),
    cmd("lpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", "O(1) for each element added", lists::lpushx),
    cmd("rpushx", -3, WRITE | DENYOOM | FAST, KEY1, "list", "2.2.0", "Appends an element to a list only when the list exists.", "O(1) for each element added", lists::rpushx),
    cmd("lpop", -2, WRITE | FAST | FREES_SPACE, KEY1, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", lists::lpop),
    cmd("rpop", -2, WRITE | FAST | FREES_SPACE, KEY1, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", lists::rpop),
    cmd("llen", 2, READONLY | FAST, KEY1, "list", "1.0.0", "Returns the length of a list.", O1, lists::llen),
    cmd("lindex", 3, READONLY, KEY1, "list", "1.0.0", "Returns an element from a list by its index.", O1, lists::lindex),
    cmd("lset", 4, WRITE | DENYOOM, KEY1, "list", "1.0.0", "Sets the value of an element in a list by its index.", O1, lists::lset),
    cmd("lrange", 4, READONLY, KEY1, "list", "1.0.0", "Returns a range of elements from a list.", "O(S+N) where S is the start offset and N the number of elements.", lists::lrange),
    cmd("ltrim", 4, WRITE | FREES_SPACE, KEY1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "O(N) where N is the number of elements to be removed.", lists::ltrim),
    cmd("lrem", 4, WRITE | FREES_SPACE, KEY1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "O(N+M) where N is the length of the list and M is the number of elements removed.", lists::lrem),
    cmd("linsert", 5, WRITE | DENYOOM, KEY1, "list", "2.2.0", "Inserts an element before or after another element in a list.", ON, lists::linsert),
    cmd("lpos", -3, READONLY, KEY1, "list", "6.0.6", "Returns the index of matching elements in a list.", ON, lists::lpos),
    cmd("lmove", 5, WRITE | DENYOOM, KEY12, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", O1, lists::lmove),
    cmd("rpoplpush", 3, WRITE | DENYOOM, KEY12, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", O1, lists::rpoplpush),
    cmd("lmpop", -4, WRITE | FREES_SPACE, NOKEYS, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", lists::lmpop),
    // sets
    cmd("sadd", -3, WRITE | DENYOOM | FAST, KEY1, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "O(1) for each element added", sets::sadd),
    cmd("srem", -3, WRITE | FAST | FREES_SPACE, KEY1, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "O(N) where N is the number of members to be removed.", sets::srem),
    cmd("sismember", 3, READONLY | FAST, KEY1, "set", "1.0.0", "Determines whether a member belongs to a set.", O1, sets::sismember),
    cmd("smismember", -3, READONLY | FAST, KEY1, "set", "6.2.0", "Determines whether multiple members belong to a set.", "O(N) where N is the number of elements being checked for membership", sets::smismember),
    cmd("smembers", 2, READONLY, KEY1, "set", "1.0.0", "Returns all members of a set.", "O(N) where N is the set cardinality.", sets::smembers),
    cmd("scard", 2, READONLY | FAST, KEY1, "set", "1.0.0", "Returns the number of members in a set.", O1, sets::scard),
    cmd("spop", -2, WRITE | FAST | FREES_SPACE, KEY1, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "Without the count argument O(1), otherwise O(N) where N is the set size.", sets::spop),
    cmd("srandmember", -2, READONLY, KEY1, "set", "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the set size.", sets::srandmember),
    cmd("smove", 4, WRITE | FAST, KEY12, "set", "1.0.0", "Moves a member from one set to another.", O1, sets::smove),
    cmd("sinter", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Returns the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sets::sinter),
    cmd("sintercard", -3, READONLY, NOKEYS, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sets::sintercard),
    cmd("sinterstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", sets::sinterstore),
    cmd("sunion", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Returns the union of multiple sets.", "O(N) where N is the total number of elements in all given sets.", sets::sunion),
    cmd("sunionstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Stores the union of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", sets::sunionstore),
    cmd("sdiff", -2, READONLY, KEYS_ALL, "set", "1.0.0", "Returns the difference of multiple sets.", "O(N) where N is the total number of elements in all given sets.", sets::sdiff),
    cmd("sdiffstore", -3, WRITE | DENYOOM, KEYS_ALL, "set", "1.0.0", "Stores the difference of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", sets::sdiffstore),
    cmd("sscan", -3, READONLY, KEY1, "set", "2.6.0", "Iterates over members of a set.", "O(1) for every call. O(N) for a complete iteration.", sets::sscan),
    // sorted sets
    cmd("zadd", -4, WRITE | DENYOOM | FAST, KEY1, "sorted_set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "O(log(N)) for each item added", zsets::zadd),
    cmd("zincrby", 4, WRITE | DENYOOM | FAST, KEY1, "sorted_set", "1.2.0", "Increments the score of a member in a sorted set.", "O(log(N))", zsets::zincrby),
    cmd("zrem", -3, WRITE | FAST | FREES_SPACE, KEY1, "sorted_set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "O(M*log(N))", zsets::zrem),
    cmd("zcard", 2, READONLY | FAST, KEY1, "sorted_set", "1.2.0", "Returns the number of members in a sorted set.", O1, zsets::zcard),
    cmd("zscore", 3, READONLY | FAST, KEY1, "sorted_set", "1.2.0", "Returns the score of a member in a sorted set.", O1, zsets::zscore),
    cmd("zmscore", -3, READONLY | FAST, KEY1, "sorted_set", "6.2.0", "Returns the score of one or more members in a sorted set.", ON, zsets::zmscore),
    cmd("zrank", 3, READONLY | FAST, KEY1, "sorted_set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", "O(rank) here (O(log(N)) in Redis)", zsets::zrank),
    cmd("zrevrank", 3, READONLY | FAST, KEY1, "sorted_set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", "O(rank) here (O(log(N)) in Redis)", zsets::zrevrank),
    cmd("zrange", -4, READONLY, KEY1, "sorted_set", "1.2.0", "Returns members in a sorted set within a range of indexes.", "O(log(N)+M)", zsets::zrange),
    cmd("zrangestore", -5, WRITE | DENYOOM, KEY12, "sorted_set", "6.2.0", "Stores a range of members from sorted set in a key.", "O(log(N)+M)", zsets::zrangestore),
    cmd("zrevrange", -4, READONLY, KEY1, "sorted_set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", "O(log(N)+M)", zsets::zrevrange),
    cmd("zrangebyscore", -4, READONLY, KEY1, "sorted_set", "1.0.5", "Returns members in a sorted set within a range of scores.", "O(log(N)+M)", zsets::zrangebyscore),
    cmd("zrevrangebyscore", -4, READONLY, KEY1, "sorted_set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", "O(log(N)+M)", zsets::zrevrangebyscore),
    cmd("zrangebylex", -4, READONLY, KEY1, "sorted_set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", "O(log(N)+M)", zsets::zrangebylex),
    cmd("zrevrangebylex", -4, READONLY, KEY1, "sorted_set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", "O(log(N)+M)", zsets::zrevrangebylex),
    cmd("zcount", 4, READONLY | FAST, KEY1, "sorted_set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", "O(M) here (O(log(N)) in Redis)", zsets::zcount),
    cmd("zlexcount", 4, READONLY | FAST, KEY1, "sorted_set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", "O(M) here (O(log(N)) in Redis)", zsets::zlexcount),
    cmd("zremrangebyrank", 4, WRITE | FREES_SPACE, KEY1, "sorted_set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "O(log(N)+M)", zsets::zremrangebyrank),
    cmd("zremrangebyscore", 4, WRITE | FREES_SPACE, KEY1, "sorted_set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "O(log(N)+M)", zsets::zremrangebyscore),
    cmd("zremrangebylex", 4, WRITE | FREES_SPACE, KEY1, "sorted_set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "O(log(N)+M)", zsets::zremrangebylex),
    cmd("zpopmin", -2, WRITE | FAST | FREES_SPACE, KEY1, "sorted_set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M)", zsets::zpopmin),
    cmd("zpopmax", -2, WRITE | FAST | FREES_SPACE, KEY1, "sorted_set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M)", zsets::zpopmax),
    cmd("zunion", -3, READONLY, NOKEYS, "sorted_set", "6.2.0", "Returns the union of multiple sorted sets.", "O(N)+O(M*log(M))", zsets::zunion),
    cmd("zinter", -3, READONLY, NOKEYS, "sorted_set", "6.2.0", "Returns the intersect of multiple sorted sets.", "O(N*K)+O(M*log(M))", zsets::zinter),
    cmd("zintercard", -3, READONLY, NOKEYS, "sorted_set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", zsets::zintercard),
    cmd("zdiff", -3, READONLY, NOKEYS, "sorted_set", "6.2.0", "Returns the difference between multiple sorted sets.", "O(L + (N-K)log(N))", zsets::zdiff),
    cmd("zunionstore", -4, WRITE | DENYOOM | NO_KEY_BATCH, KEY1, "sorted_set", "2.0.0", "Stores the union of multiple sorted sets in a key.", "O(N)+O(M log(M))", zsets::zunionstore),
    cmd("zinterstore", -4, WRITE | DENYOOM | NO_KEY_BATCH, KEY1, "sorted_set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", "O(N*K)+O(M*log(M))", zsets::zinterstore),
    cmd("zdiffstore", -4, WRITE | DENYOOM | NO_KEY_BATCH, KEY1, "sorted_set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", "O(L + (N-K)log(N))", zsets::zdiffstore),
    cmd("zrandmember", -2, READONLY, KEY1, "sorted_set", "6.2.0", "Returns one or more random members from a sorted set.", "O(N) where N is the size of the sorted set here", zsets::zrandmember),
    cmd("zmpop", -4, WRITE | FREES_SPACE, NOKEYS, "sorted_set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "O(K) + O(M*log(N))", zsets::zmpop),
    cmd("zscan", -3, READONLY, KEY1, "sorted_set", "2.8.0", "Iterates over members and scores of a sorted set.", "O(1) for every call. O(N) for a complete iteration.", zsets::zscan),
    // geo (sorted sets under geohash scores; the destination of STORE/STOREDIST is found by
    // `key_positions`)
    cmd("geoadd", -5, WRITE | DENYOOM, KEY1, "geo", "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", geo::geoadd),
    cmd("geodist", -4, READONLY, KEY1, "geo", "3.2.0", "Returns the distance between two members of a geospatial index", "O(log(N))", geo::geodist),
    cmd("geohash", -2, READONLY, KEY1, "geo", "3.2.0", "Returns members of a geospatial index as standard geohash strings", "O(log(N)) for each member requested, where N is the number of elements in the sorted set.", geo::geohash),
    cmd("geopos", -2, READONLY, KEY1, "geo", "3.2.0", "Returns longitude and latitude of members of a geospatial index", "O(N) where N is the number of members requested.", geo::geopos),
    cmd("georadius", -6, WRITE | DENYOOM, KEY1, "geo", "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", GEO_SEARCH_COST, geo::georadius),
    cmd("georadius_ro", -6, READONLY, KEY1, "geo", "3.2.10", "A read-only variant for GEORADIUS", GEO_SEARCH_COST, geo::georadius_ro),
    cmd("georadiusbymember", -5, WRITE | DENYOOM, KEY1, "geo", "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", GEO_SEARCH_COST, geo::georadiusbymember),
    cmd("georadiusbymember_ro", -5, READONLY, KEY1, "geo", "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", GEO_SEARCH_COST, geo::georadiusbymember_ro),
    cmd("geosearch", -7, READONLY, KEY1, "geo", "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", GEO_AREA_COST, geo::geosearch),
    cmd("geosearchstore", -8, WRITE | DENYOOM, KEY12, "geo", "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", GEO_AREA_COST, geo::geosearchstore),
    // streams
    cmd("xadd", -5, WRITE | DENYOOM | FAST, KEY1, "stream", "5.0.0", "Appends a new entry to a stream", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", streams::xadd),
    cmd("xrange", -4, READONLY, KEY1, "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", streams::xrange),
    cmd("xrevrange", -4, READONLY, KEY1, "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", streams::xrevrange),
    cmd("xlen", 2, READONLY | FAST, KEY1, "stream", "5.0.0", "Return the number of entries in a stream", O1, streams::xlen),
    cmd("xdel", -3, WRITE | FAST | FREES_SPACE, KEY1, "stream", "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "O(1) for each single item to delete in the stream, regardless of the stream size.", streams::xdel),
    cmd("xtrim", -4, WRITE | FREES_SPACE, KEY1, "stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", "O(N), with N being the number of evicted entries; a whole node (up to 100 entries) is one range deletion.", streams::xtrim),
    cmd("xread", -4, READONLY | BLOCKING, NOKEYS, "stream", "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", streams::xread),
    cmd("xsetid", -3, WRITE | DENYOOM | FAST, KEY1, "stream", "5.0.0", "An internal command for replicating stream values", O1, streams::xsetid),
    cmd("xinfo", -2, READONLY, NOKEYS, "stream", "5.0.0", "A container for stream introspection commands", "Depends on subcommand.", streams::xinfo),
    cmd("xgroup", -2, WRITE, NOKEYS, "stream", "5.0.0", "A container for consumer groups commands", "Depends on subcommand.", streams::xgroup),
    cmd("xreadgroup", -7, WRITE | BLOCKING, NOKEYS, "stream", "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", streams::xreadgroup),
    cmd("xack", -4, WRITE | FAST, KEY1, "stream", "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "O(1) for each message ID processed.", streams::xack),
    cmd("xpending", -3, READONLY, KEY1, "stream", "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", streams::xpending),
    cmd("xclaim", -6, WRITE | FAST, KEY1, "stream", "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "O(log N) with N being the number of messages in the PEL of the consumer group.", streams::xclaim),
    cmd("xautoclaim", -6, WRITE | FAST, KEY1, "stream", "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "O(1) if COUNT is small.", streams::xautoclaim),
    // keys
    cmd("del", -2, WRITE | FREES_SPACE, KEYS_ALL, "generic", "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed; O(1) per key whatever its size.", keys::del),
    cmd("unlink", -2, WRITE | FAST | FREES_SPACE, KEYS_ALL, "generic", "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.", keys::del),
    cmd("exists", -2, READONLY | FAST, KEYS_ALL, "generic", "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.", keys::exists),
    cmd("touch", -2, READONLY | FAST, KEYS_ALL, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.", keys::exists),
    cmd("type", 2, READONLY | FAST, KEY1, "generic", "1.0.0", "Determines the type of value stored at a key.", O1, keys::type_),
    cmd("expire", -3, WRITE | FAST | SETS_EXPIRY, KEY1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", O1, keys::expire),
    cmd("pexpire", -3, WRITE | FAST | SETS_EXPIRY, KEY1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", O1, keys::pexpire),
    cmd("expireat", -3, WRITE | FAST | SETS_EXPIRY, KEY1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", O1, keys::expireat),
    cmd("pexpireat", -3, WRITE | FAST | SETS_EXPIRY, KEY1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", O1, keys::pexpireat),
    cmd("ttl", 2, READONLY | FAST, KEY1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", O1, keys::ttl),
    cmd("pttl", 2, READONLY | FAST, KEY1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", O1, keys::pttl),
    cmd("expiretime", 2, READONLY | FAST, KEY1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", O1, keys::expiretime),
    cmd("pexpiretime", 2, READONLY | FAST, KEY1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", O1, keys::pexpiretime),
    cmd("persist", 2, WRITE | FAST, KEY1, "generic", "2.2.0", "Removes the expiration time of a key.", O1, keys::persist),
    cmd("rename", 3, WRITE, KEY12, "generic", "1.0.0", "Renames a key and overwrites the destination.", O1, keys::rename),
    cmd("renamenx", 3, WRITE | FAST, KEY12, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", O1, keys::renamenx),
    cmd("copy", -3, WRITE | DENYOOM, KEY12, "generic", "6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items.", keys::copy).alone_if(&["db"], 3),
    cmd("move", 3, WRITE | FAST | ALONE | NO_KEY_BATCH, KEY1, "generic", "1.0.0", "Moves a key to another database.", O1, keys::move_),
    cmd("swapdb", 3, WRITE | FAST | ALONE, NOKEYS, "server", "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.", keys::swapdb),
    cmd("dump", 2, READONLY, KEY1, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size.", keys::dump),
    cmd("restore", -4, WRITE | DENYOOM, KEY1, "generic", "2.6.0", "Creates a key from the serialized representation of a value.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size.", keys::restore),
    cmd("restore-asking", -4, WRITE | DENYOOM, KEY1, "server", "3.0.0", "An internal command for migrating keys in a cluster.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size.", keys::restore),
    cmd("migrate", -6, WRITE, (3, 3, 1), "generic", "2.6.0", "Atomically transfers a key from one Redis instance to another.", "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance.", keys::migrate),
    cmd("object", -2, READONLY, NOKEYS, "generic", "2.2.3", "A container for object introspection commands.", "Depends on subcommand.", keys::object),
    cmd("keys", 2, READONLY, NOKEYS, "generic", "1.0.0", "Returns all key names that match a pattern.", ON, keys::keys),
    cmd("scan", -2, READONLY, NOKEYS, "generic", "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration.", keys::scan),
    cmd("randomkey", 1, READONLY, NOKEYS, "generic", "1.0.0", "Returns a random key name from the database.", O1, keys::randomkey),
    cmd("dbsize", 1, READONLY | FAST, NOKEYS, "server", "1.0.0", "Returns the number of keys in the database.", ON, keys::dbsize),
    cmd("flushdb", -1, WRITE | ALONE | FREES_SPACE, NOKEYS, "server", "1.0.0", "Remove all keys from the current database.", O1, keys::flushdb),
    cmd("flushall", -1, WRITE | ALONE | FREES_SPACE, NOKEYS, "server", "1.0.0", "Removes all keys from all databases.", O1, keys::flushall),
    // server
    cmd("info", -1, LOADING | STALE, NOKEYS, "server", "1.0.0", "Returns information and statistics about the server.", O1, server::info),
    cmd("config", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.0.0", "A container for server configuration commands.", "Depends on subcommand.", server::config),
    cmd("command", -1, LOADING | STALE, NOKEYS, "server", "2.8.13", "Returns detailed information about all commands.", ON, server::command),
    cmd("time", 1, FAST | LOADING | STALE, NOKEYS, "server", "2.6.0", "Returns the server time.", O1, server::time),
    cmd("lastsave", 1, FAST | LOADING | STALE, NOKEYS, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", O1, server::lastsave),
    cmd("slowlog", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.2.12", "A container for slow log commands.", "Depends on subcommand.", introspect::slowlog),
    cmd("latency", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "2.8.13", "A container for latency diagnostics commands.", "Depends on subcommand.", introspect::latency),
    cmd("memory", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "4.0.0", "A container for memory diagnostics commands.", "Depends on subcommand.", introspect::memory),
    cmd("module", -2, ADMIN | NOSCRIPT, NOKEYS, "server", "4.0.0", "A container for module commands.", "Depends on subcommand.", server::module),
    cmd("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "1.0.0", "Listens for all requests received by the server in real-time.", ON, introspect::monitor),
    cmd("bgrewriteaof", 1, ADMIN | NOSCRIPT, NOKEYS, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk.", O1, server::bgrewriteaof),
    cmd("lolwut", -1, READONLY | FAST, NOKEYS, "server", "5.0.0", "Displays computer art and the Redis version", ON, server::lolwut),
    cmd("asking", 1, FAST, NOKEYS, "cluster", "3.0.0", "Signals that a cluster client is following an -ASK redirect.", O1, server::cluster_disabled),
    cmd("readonly", 1, FAST | LOADING | STALE, NOKEYS, "cluster", "3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node.", O1, server::cluster_disabled),
    cmd("readwrite", 1, FAST | LOADING | STALE, NOKEYS, "cluster", "3.0.0", "Enables read-write queries for a connection to a Reids Cluster replica node.", O1, server::cluster_disabled),
    // replication
    cmd("replicaof", 3, ADMIN | NOSCRIPT | STALE, NOKEYS, "server", "5.0.0", "Configures a server as replica of another, or promotes it to a master.", O1, crate::net::replicaof),
    cmd("slaveof", 3, ADMIN | NOSCRIPT | STALE, NOKEYS, "server", "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.", O1, crate::net::replicaof),
    cmd("role", 1, NOSCRIPT | LOADING | STALE | FAST, NOKEYS, "server", "2.8.12", "Returns the replication role.", O1, crate::net::role),
    cmd("failover", -1, ADMIN | NOSCRIPT | STALE, NOKEYS, "server", "6.2.0", "Starts a coordinated failover from a server to one of its replicas.", O1, crate::net::failover),
    cmd("wait", 3, NOSCRIPT, NOKEYS, "generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", O1, crate::net::wait),
    cmd("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "3.0.0", "An internal command for configuring the replication stream.", O1, crate::net::replconf),
    cmd("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", "2.8.0", "An internal command used in replication.", O1, crate::net::psync),
    cmd("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", "1.0.0", "An internal command used in replication.", O1, crate::net::sync),
    cmd("syncfile", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "0.1.0", "Strata: the full-sync transfer service (MANIFEST <snapshot> | READ <snapshot> <file> <offset> <length>).", O1, crate::net::syncfile),
    cmd("namespace", -2, WRITE | ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "0.1.0", "Manages namespaces: ADD <name> <token> | DEL <name> | SET <name> <token> | GET <name>|* | LIST.", O1, crate::namespace::namespace),
    cmd("save", 1, ADMIN | NOSCRIPT | NO_MULTI, NOKEYS, "server", "1.0.0", "Synchronously saves the database(s) to disk.", ON, server::save),
    cmd("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "1.0.0", "A container for debugging commands (SLEEP, SET-ACTIVE-EXPIRE, RELOAD, FAILPOINT, HELP).", "Depends on subcommand.", server::debug),
    cmd("binlog", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEYS, "server", "7.0.0", "Binlog administration: purge, leases, snapshots (Strata).", "Depends on subcommand.", server::binlog),
    cmd("compact", 1, ADMIN | NOSCRIPT, NOKEYS, "server", "0.1.0", "Compacts the storage now, reclaiming the space of deleted and expired data (Strata, as in Kvrocks).", "O(N) in the data size", server::compact),
    cmd("bgsave", -1, ADMIN | NOSCRIPT, NOKEYS, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", ON, server::bgsave),
    cmd("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, NOKEYS, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", ON, server::shutdown),
];

static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();

/// Finds a command by name (case-insensitive) and returns its index in [`TABLE`].
pub fn lookup(name: &[u8]) -> Option<usize> {
    let index = INDEX.get_or_init(|| TABLE.iter().enumerate().map(|(i, c)| (c.name, i)).collect());
    if name.len() > 32 {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower)
        .ok()
        .and_then(|n| index.get(n).copied())
}

fn quote_arg(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
    s.replace(['\r', '\n'], " ")
}

/// Central checks before a handler runs: known command, arity, authentication. Returns the
/// command index or the error reply (Redis's exact texts).
pub fn check(shared: &Shared, session: &Session, args: &[Bytes]) -> Result<usize, Frame> {
    let Some(idx) = lookup(&args[0]) else {
        let mut msg = format!(
            "ERR unknown command '{}', with args beginning with: ",
            quote_arg(&args[0])
        );
        for a in args.iter().skip(1) {
            msg.push_str(&format!("'{}' ", quote_arg(a)));
        }
        return Err(Frame::Error(msg));
    };
    let spec = &TABLE[idx];
    let n = args.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || (spec.arity < 0 && n < -spec.arity) {
        shared
            .stat(idx, args)
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(wrong_arity(spec.name));
    }
    // Subcommands of a container (CLIENT KILL, CONFIG SET, ...) have arities of their own,
    // checked here as Redis 7 checks them; a subcommand neither Redis nor Strata has is
    // refused here too.
    let subs = &subcommand_arities()[idx];
    let found = subs
        .iter()
        .find(|(s, _)| args.len() > 1 && args[1].eq_ignore_ascii_case(s.as_bytes()));
    if !subs.is_empty()
        && args.len() > 1
        && found.is_none()
        && !EXTRA_SUBCOMMANDS
            .iter()
            .any(|(c, s)| *c == spec.name && eq_ic(&args[1], s))
    {
        return Err(Frame::Error(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            quote_arg(&args[1]),
            spec.name.to_ascii_uppercase()
        )));
    }
    if let Some(sub) = found {
        let a = sub.1;
        if (a > 0 && n != a) || (a < 0 && n < -a) {
            shared
                .stat(idx, args)
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(wrong_arity(&format!("{}|{}", spec.name, sub.0)));
        }
    }
    // MODULE LOAD/LOADEX/UNLOAD are Redis's protected subcommands (`enable-module-command
    // no`): refused before authentication and ACLs, as Redis checks them.
    // (Redis's `protected` flag is internal: COMMAND INFO does not list it.)
    if spec.name == "module"
        && args
            .get(1)
            .is_some_and(|s| ["load", "loadex", "unload"].iter().any(|p| eq_ic(s, p)))
    {
        return Err(Frame::error(server::MODULE_NOT_ALLOWED));
    }
    if !session.authed
        && spec.flags & NO_AUTH == 0
        && shared
            .hot
            .password_set
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        shared
            .stat(idx, args)
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(Frame::error("NOAUTH Authentication required."));
    }
    if let Err(f) = crate::access::check(shared, session, idx, args) {
        shared
            .stat(idx, args)
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(f);
    }
    if session.ns.is_some() && spec.flags & ADMIN != 0 && !ns_allowed(spec.name, args) {
        shared
            .stat(idx, args)
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(Frame::Error(format!(
            "NOPERM this user has no permissions to run the '{}' command",
            full_name(idx, args)
        )));
    }
    let writes = spec.flags & WRITE != 0
        && (spec.name != "namespace" || crate::namespace::namespace_writes(args))
        && (spec.name != "function" || crate::scripting::functions::function_writes(args));
    if writes {
        if crate::replication::is_replica(shared)
            && shared
                .hot
                .replica_read_only
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            shared
                .stat(idx, args)
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(Frame::error(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if let Some(refused) = crate::diskguard::refuse(shared, session.db, spec, args) {
            return Err(refused);
        }
    }
    Ok(idx)
}

/// Subcommands Strata has beyond Redis 7.0's (CLIENT SETINFO and NO-TOUCH are Redis 7.2's:
/// client libraries send SETINFO on connect).
const EXTRA_SUBCOMMANDS: &[(&str, &str)] = &[("client", "setinfo"), ("client", "no-touch")];

/// Per command of the table: its subcommands as Redis 7.0 declares them (name after the
/// `|`, arity counted over the whole request), empty for plain commands.
fn subcommand_arities() -> &'static [Vec<(String, i32)>] {
    static SUBS: OnceLock<Vec<Vec<(String, i32)>>> = OnceLock::new();
    SUBS.get_or_init(|| {
        TABLE
            .iter()
            .map(|c| {
                meta::get(c.name)
                    .map(|m| {
                        m.subcommands
                            .iter()
                            .filter_map(|(full, sm)| {
                                let name = full.split_once('|')?.1.to_string();
                                match &sm.info {
                                    Frame::Array(a) => match a.get(1) {
                                        Some(Frame::Integer(ar)) => Some((name, *ar as i32)),
                                        _ => None,
                                    },
                                    _ => None,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    })
}

/// The position + 1 of a request's subcommand in its container's list (0: none), for
/// `CLIENT LIST`'s `cmd=container|sub`.
pub fn subcommand_slot(idx: usize, args: &[Bytes]) -> usize {
    match args.get(1) {
        Some(a) => subcommand_arities()[idx]
            .iter()
            .position(|(s, _)| a.eq_ignore_ascii_case(s.as_bytes()))
            .map_or(0, |p| p + 1),
        None => 0,
    }
}

/// How many subcommands Redis declares for command `idx` (0 for plain commands).
pub fn subcommand_count(idx: usize) -> usize {
    subcommand_arities().get(idx).map_or(0, Vec::len)
}

/// The subcommand name of a slot from [`subcommand_slot`].
pub fn subcommand_name(idx: usize, slot: usize) -> Option<&'static str> {
    let subs = subcommand_arities().get(idx)?;
    slot.checked_sub(1)
        .and_then(|p| subs.get(p))
        .map(|(s, _)| s.as_str())
}

/// Admin commands a namespace client may still run: CLIENT about itself.
fn ns_allowed(name: &str, args: &[Bytes]) -> bool {
    if name == "memory" {
        // The footprint of one of its own keys.
        return args
            .get(1)
            .is_some_and(|s| eq_ic(s, "usage") || eq_ic(s, "help"));
    }
    if name == "acl" {
        // Who it is and what the categories are; users are managed by the admin.
        return args.get(1).is_some_and(|s| {
            ["whoami", "cat", "genpass", "help"]
                .iter()
                .any(|w| eq_ic(s, w))
        });
    }
    name == "client"
        && args.get(1).is_some_and(|s| {
            [
                "setname", "getname", "id", "info", "reply", "setinfo", "no-evict", "no-touch",
                "help",
            ]
            .iter()
            .any(|w| eq_ic(s, w))
        })
}

/// A command's name as Redis reports it in errors: `container|subcommand` for containers.
pub fn full_name(idx: usize, args: &[Bytes]) -> String {
    let name = TABLE[idx].name;
    const CONTAINERS: &[&str] = &[
        "pubsub", "client", "config", "object", "command", "memory", "debug", "script", "function",
        "cluster", "acl", "latency", "slowlog", "module", "xinfo",
    ];
    match args.get(1) {
        Some(sub) if CONTAINERS.contains(&name) => {
            format!(
                "{name}|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )
        }
        _ => name.to_string(),
    }
}

/// Runs a command that passed [`check`]: the handler, then its statistics.
/// Runs command `idx` on a fresh write context of its own (outside any unit): the engine is
/// loaded once for it; the write sequence it commits is added to the session's.
pub fn call(shared: &Shared, session: &mut Session, idx: usize, args: &[Bytes]) -> Frame {
    let engine = shared.storage();
    let cx = storage::WriteCx::new();
    let reply = call_in(shared, session, engine.db(&cx), idx, args);
    session.wal_seq = session.wal_seq.max(cx.seq());
    reply
}

/// Runs command `idx` through `db`: the context of the unit it is part of (EXEC, a key batch)
/// or one of its own (see [`call`]).
pub fn call_in(
    shared: &Shared,
    session: &mut Session,
    db: storage::Db<'_>,
    idx: usize,
    args: &[Bytes],
) -> Frame {
    let spec = &TABLE[idx];
    let start = std::time::Instant::now();
    session.resolve_db(&db);
    // Blocking commands' events come from the twin that ran (`blocking::attempt`).
    let notify = spec.flags & WRITE != 0
        && spec.flags & flags::BLOCKING == 0
        && crate::notify::enabled(shared);
    let pdb = session.db;
    // A command run by a script keeps its own lists; the script's are put back after it.
    let outer_misses = std::mem::replace(
        &mut session.pending_misses,
        crate::notify::key_misses(shared, &db, session.db, spec, args),
    );
    let outer_new_keys = std::mem::take(&mut session.new_keys);
    if notify {
        session.new_keys = crate::notify::absent_keys(shared, &db, session.db, spec, args);
    }
    // MONITOR shows a script's EVAL/FCALL before the commands it runs (as Redis 7.0 does);
    // every other command after it ran.
    let feed_first = spec.flags & RUNS_SCRIPT != 0;
    if feed_first && shared.monitors.count() > 0 {
        shared.monitors.feed(shared, session, spec, args);
    }
    let run = |session: &mut Session, db: storage::Db<'_>| {
        let mut ctx = Ctx {
            shared,
            session,
            db,
        };
        (spec.handler)(&mut ctx, args)
    };
    // Writes run with their binlog record (a blocking command logs the non-blocking twin it
    // runs, see `blocking::attempt`).
    // FUNCTION LIST/STATS/KILL write nothing: not a unit of their own (KILL must not wait for
    // the gate a running script holds).
    let writes = spec.flags & WRITE != 0
        && spec.flags & flags::BLOCKING == 0
        && (spec.name != "function" || crate::scripting::functions::function_writes(args));
    let reply = if writes {
        let reply = crate::commitlog::run_write(shared, session, db, idx, args, run);
        if spec.name == "namespace" && !reply.is_error() {
            crate::namespace::after_commit(shared, &args[0]);
        }
        reply
    } else if spec.flags & MAY_REPLICATE != 0 && crate::replication::replica_count(shared) > 0 {
        // As in Redis, a message published on a master reaches the subscribers of its
        // replicas: it travels as a binlog record (no effect on the data).
        crate::commitlog::run_write(shared, session, db, idx, args, run)
    } else {
        run(session, db)
    };
    // The handler published its events (`Ctx::notify`); `new` of the keys it created that
    // no event named goes after them.
    if notify && !reply.is_error() {
        crate::notify::flush_new(shared, &db, session);
    }
    session.new_keys = outer_new_keys;
    let misses = std::mem::replace(&mut session.pending_misses, outer_misses);
    if !misses.is_empty() && !crate::notify::stopped_at_arguments(spec, &reply) {
        for k in misses {
            crate::notify::key_miss(shared, &db, &session.held, pdb, &k);
        }
    }
    let elapsed = start.elapsed();
    let st = shared.stat(idx, args);
    shared.record_call(st, elapsed, 1);
    if !reply.is_error() && (session.tracking || shared.tracking.clients() > 0) {
        track(shared, session, spec, args);
    }
    if session.caching && spec.name != "client" && session.multi.is_none() {
        // CLIENT CACHING applies to the one command after it.
        session.caching = false;
    }
    crate::commands::introspect::after_call(shared, session, spec, args, elapsed);
    if !feed_first && shared.monitors.count() > 0 {
        shared.monitors.feed(shared, session, spec, args);
    }
    if reply.is_error() {
        st.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    } else if spec.flags & WRITE != 0 {
        shared.bump(&shared.stats.dirty, 1);
    }
    shared.bump(&shared.stats.commands_processed, 1);
    reply
}

/// Client-side caching after a command that succeeded: a tracking client's reads are
/// remembered; writes invalidate the keys for every client tracking them.
fn track(shared: &Shared, session: &Session, spec: &CommandSpec, args: &[Bytes]) {
    let base = session.base();
    let scoped = |i: usize| crate::namespace::scope(base, &args[i]);
    if spec.flags & READONLY != 0 && session.tracking {
        shared.tracking.remember(
            session.client.id,
            session.caching,
            key_positions(spec, args).into_iter().map(scoped),
        );
    }
    if spec.flags & WRITE != 0 && shared.tracking.clients() > 0 {
        match spec.name {
            "flushdb" | "flushall" => shared.tracking.invalidate_all(
                shared,
                &session.held,
                &crate::namespace::scope(base, b""),
            ),
            _ => {
                let keys: Vec<Bytes> = key_positions(spec, args).into_iter().map(scoped).collect();
                shared
                    .tracking
                    .invalidate(shared, &session.held, session.client.id, &keys);
            }
        }
    }
}

pub fn wrong_arity(name: &str) -> Frame {
    Frame::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

// ---- helpers shared by the handlers ----

pub fn syntax_error() -> Frame {
    Frame::error("ERR syntax error")
}

pub fn not_integer() -> Frame {
    Frame::error("ERR value is not an integer or out of range")
}

/// Maps a storage error to its reply; engine failures are logged.
/// The reply of a storage error: the RESP prefix and text are chosen here (Redis's where
/// Redis has the same error, `docs/errors.md`), the storage layer only says what happened.
pub fn storage_error(e: storage::Error) -> Frame {
    use storage::Error as E;
    if e.is_fault() {
        tracing::error!(error = %e, "storage error");
    }
    Frame::error(match e {
        E::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
        E::NotHll => "WRONGTYPE Key is not a valid HyperLogLog string value.",
        E::CorruptHll => "INVALIDOBJ Corrupted HLL object detected",
        E::NotInteger => "ERR value is not an integer or out of range",
        E::NotFloat => "ERR value is not a valid float",
        E::HashNotInteger => "ERR hash value is not an integer",
        E::HashNotFloat => "ERR hash value is not a float",
        E::Overflow => "ERR increment or decrement would overflow",
        E::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        E::TooLarge => "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        E::NoSuchKey => "ERR no such key",
        E::ScoreNaN => "ERR resulting score is not a number (NaN)",
        E::IndexOutOfRange => "ERR index out of range",
        E::Stream(s) => return streams::stream_error(s),
        E::Unsupported(what) => what,
        E::NoSpace(_) => crate::diskguard::FULL_ERROR,
        _ if e.is_io() => crate::diskguard::IO_ERROR,
        E::Io(_) | E::Engine(_) | E::Corrupt(_) | E::FormatVersion { .. } => {
            return Frame::Error(format!("ERR {e}"))
        }
    })
}

pub fn parse_int(b: &[u8]) -> Result<i64, Frame> {
    storage::num::parse_i64(b).ok_or_else(not_integer)
}

/// `key [count [WORD]]` of HRANDFIELD/ZRANDMEMBER: the optional count (|count| bounded as
/// in Redis) and whether WORD (WITHVALUES/WITHSCORES) was given.
pub fn parse_rand_args(args: &[Bytes], word: &str) -> Result<(Option<i64>, bool), Frame> {
    // The count is parsed before the rest is looked at, as Redis does.
    let count = match args.get(2) {
        Some(c) => Some(parse_int(c)?),
        None => None,
    };
    let with = match args.len() {
        2 | 3 => false,
        4 if eq_ic(&args[3], word) => true,
        _ => return Err(syntax_error()),
    };
    if count.is_some_and(|c| c.unsigned_abs() > (i64::MAX as u64) / 2) {
        return Err(Frame::error("ERR value is out of range"));
    }
    Ok((count, with))
}

/// The `[LIMIT n]` tail of SINTERCARD / ZINTERCARD from `args[from..]`: 0 = no limit; a
/// negative or non-numeric limit gets Redis's one message.
pub fn parse_card_limit(args: &[Bytes], from: usize) -> Result<usize, Frame> {
    let mut limit = 0usize;
    let mut i = from;
    while i < args.len() {
        if eq_ic(&args[i], "limit") && i + 1 < args.len() {
            match parse_int(&args[i + 1]) {
                Ok(l) if l >= 0 => limit = l as usize,
                _ => return Err(Frame::error("ERR LIMIT can't be negative")),
            }
            i += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(limit)
}

/// The optional count of LPOP/RPOP/SPOP/ZPOPMIN/ZPOPMAX (`key [count]`): non-negative.
pub fn parse_pop_count(args: &[Bytes]) -> Result<Option<u64>, Frame> {
    match args.len() {
        2 => Ok(None),
        3 => match parse_int(&args[2]) {
            Ok(c) if c >= 0 => Ok(Some(c as u64)),
            _ => Err(Frame::error("ERR value is out of range, must be positive")),
        },
        _ => Err(syntax_error()),
    }
}

pub fn bulk_or_null(v: Option<Bytes>) -> Frame {
    match v {
        Some(b) => Frame::Bulk(b),
        None => Frame::Null,
    }
}

pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// The keys of a command according to its declared positions (for COMMAND GETKEYS and for
/// later gates such as cluster routing and namespaces).
/// Where the `numkeys` argument is for commands whose keys follow a count (LMPOP numkeys
/// key ..., ZUNIONSTORE dst numkeys key ...).
pub(crate) fn numkeys_position(name: &str) -> Option<usize> {
    match name {
        "lmpop" | "zmpop" | "sintercard" | "zintercard" | "zunion" | "zinter" | "zdiff" => Some(1),
        "blmpop" | "bzmpop" | "zunionstore" | "zinterstore" | "zdiffstore" | "eval" | "evalsha"
        | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => Some(2),
        _ => None,
    }
}

/// For commands with a `numkeys` argument: whether it is a positive count of keys that are
/// all present (COMMAND GETKEYS refuses the request otherwise, as Redis does).
pub fn numkeys_valid(spec: &CommandSpec, args: &[Bytes]) -> bool {
    match numkeys_position(spec.name) {
        None => true,
        Some(p) => match args.get(p).map(|a| parse_int(a)) {
            Some(Ok(n)) if n > 0 => (n as u64) <= args.len().saturating_sub(p + 1) as u64,
            _ => false,
        },
    }
}

/// The positions of the keys in a request (`args[0]` is the command name): the declared
/// range, plus the keys that follow a `numkeys` argument.
pub fn key_positions(spec: &CommandSpec, args: &[Bytes]) -> Vec<usize> {
    let argc = args.len();
    let mut out = declared_key_positions(spec, argc);
    if spec.name == "migrate" {
        // MIGRATE ... KEYS k1 k2 ...: the keys follow KEYS (the key argument is then empty).
        if let Some(i) = args.iter().skip(6).position(|a| eq_ic(a, "keys")) {
            return (i + 7..argc).collect();
        }
    }
    if spec.name == "sort" {
        // SORT ... STORE dst: the destination is a key too.
        if let Some(i) = args.iter().position(|a| eq_ic(a, "store")) {
            if i + 1 < argc && i > 1 {
                out.push(i + 1);
            }
        }
    }
    if spec.name == "xread" || spec.name == "xreadgroup" {
        // ... STREAMS key [key ...] id [id ...]: the first half after STREAMS.
        if let Some(i) = args.iter().skip(1).position(|a| eq_ic(a, "streams")) {
            let at = i + 2;
            let n = argc.saturating_sub(at) / 2;
            out.extend(at..at + n);
        }
    }
    if (spec.name == "xinfo" || spec.name == "xgroup") && argc >= 3 {
        out.push(2);
    }
    if spec.name == "georadius" || spec.name == "georadiusbymember" {
        // GEORADIUS ... STORE|STOREDIST dst: the destination is a key too.
        out.extend(geo::store_position(args));
    }
    if let Some(p) = numkeys_position(spec.name) {
        if let Some(n) = args.get(p).and_then(|a| parse_int(a).ok()) {
            let n = n.max(0) as usize;
            out.extend(p + 1..p.saturating_add(1).saturating_add(n).min(argc));
        }
    }
    out
}

fn declared_key_positions(spec: &CommandSpec, argc: usize) -> Vec<usize> {
    if spec.first_key <= 0 {
        return Vec::new();
    }
    let last = if spec.last_key < 0 {
        argc as i32 + spec.last_key
    } else {
        spec.last_key
    };
    let mut out = Vec::new();
    let mut i = spec.first_key;
    while i <= last && (i as usize) < argc {
        out.push(i as usize);
        i += spec.step.max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for c in TABLE {
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            assert_eq!(c.name, c.name.to_ascii_lowercase(), "{}", c.name);
            assert!(c.arity != 0, "{} has arity 0", c.name);
            assert!(
                !(c.flags & WRITE != 0 && c.flags & READONLY != 0),
                "{} is both write and readonly",
                c.name
            );
            if c.first_key > 0 {
                assert!(c.step >= 1, "{}: step", c.name);
                assert!(
                    c.arity.abs() > c.first_key || c.last_key < 0,
                    "{}: key beyond arity",
                    c.name
                );
                assert!(
                    c.last_key < 0 || c.last_key >= c.first_key,
                    "{}: last key before first",
                    c.name
                );
                assert!(
                    c.flags & (WRITE | READONLY | PUBSUB) != 0 || c.name == "watch",
                    "{} has keys but is neither write nor readonly",
                    c.name
                );
            } else {
                assert_eq!((c.last_key, c.step), (0, 0), "{}", c.name);
            }
            assert!(!c.summary.is_empty() && !c.group.is_empty());
            assert_eq!(
                lookup(c.name.to_uppercase().as_bytes()),
                Some(seen.len() - 1)
            );
        }
    }

    /// The table agrees with what Redis 7.0 declares for the same command: arity, the flags
    /// that change behaviour, and the key positions of the first key spec.
    #[test]
    fn table_agrees_with_redis_declarations() {
        const COMPARED: &[(u32, &str)] = &[
            (WRITE, "write"),
            (READONLY, "readonly"),
            (DENYOOM, "denyoom"),
            (BLOCKING, "blocking"),
            (NO_AUTH, "no_auth"),
            (NOSCRIPT, "noscript"),
            (NO_MULTI, "no_multi"),
            (PUBSUB, "pubsub"),
            (SKIP_SLOWLOG, "skip_slowlog"),
        ];
        let mut checked = 0;
        for c in TABLE {
            let Some(m) = meta::get(c.name) else {
                continue;
            };
            checked += 1;
            let arity = match &m.info {
                Frame::Array(a) => match a.get(1) {
                    Some(Frame::Integer(i)) => *i as i32,
                    _ => 0,
                },
                _ => 0,
            };
            assert_eq!(c.arity, arity, "{}: arity", c.name);
            if !m.subcommands.is_empty() {
                // A container: flags are its subcommands'.
                continue;
            }
            for (bit, name) in COMPARED {
                assert_eq!(
                    c.flags & bit != 0,
                    m.flags.iter().any(|f| f == name),
                    "{}: flag {name} (Redis: {:?})",
                    c.name,
                    m.flags
                );
            }
        }
        assert!(checked > 190, "{checked} commands compared");
    }

    #[test]
    fn write_properties_are_in_the_table() {
        let spec = |n: &str| &TABLE[lookup(n.as_bytes()).expect(n)];
        let args = |s: &str| -> Vec<Bytes> {
            s.split(' ')
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect()
        };
        assert!(spec("copy").runs_alone(&args("COPY a b DB 2")));
        assert!(!spec("copy").runs_alone(&args("COPY db b REPLACE")));
        assert!(spec("sort").runs_alone(&args("SORT k STORE d")));
        assert!(!spec("sort").runs_alone(&args("SORT store")));
        for n in ["flushall", "flushdb", "move", "swapdb"] {
            assert!(spec(n).runs_alone(&args(n)), "{n}");
        }
        for s in TABLE.iter() {
            let own = s.flags & (ALONE | FREES_SPACE | SETS_EXPIRY | NO_KEY_BATCH);
            assert!(
                own == 0 || s.flags & WRITE != 0,
                "{} is not a write",
                s.name
            );
        }
        assert!(spec("bzmpop").flags & FREES_SPACE != 0);
        assert!(spec("set").flags & FREES_SPACE == 0);
    }

    #[test]
    fn storage_errors_get_redis_s_replies() {
        use storage::Error as E;
        let text = |e: E| match storage_error(e) {
            Frame::Error(t) => t,
            other => panic!("not an error: {other:?}"),
        };
        assert_eq!(
            text(E::WrongType),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            text(E::CorruptHll),
            "INVALIDOBJ Corrupted HLL object detected"
        );
        assert_eq!(
            text(E::NotInteger),
            "ERR value is not an integer or out of range"
        );
        let enospc = std::io::Error::from_raw_os_error(28);
        assert!(matches!(E::from_io(enospc), E::NoSpace(_)));
        assert_eq!(
            text(E::from_io(std::io::Error::from_raw_os_error(28))),
            crate::diskguard::FULL_ERROR
        );
        assert_eq!(
            text(E::from_io(std::io::Error::from_raw_os_error(5))),
            crate::diskguard::IO_ERROR
        );
        assert!(text(E::Corrupt("x".into())).starts_with("ERR corrupt data"));
    }

    #[test]
    fn key_positions_follow_declarations() {
        let mset = &TABLE[lookup(b"mset").unwrap()];
        let args = |s: &str| -> Vec<Bytes> {
            s.split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        assert_eq!(key_positions(mset, &args("mset a 1 b 2")), vec![1, 3]);
        let zus = &TABLE[lookup(b"zunionstore").unwrap()];
        assert_eq!(
            key_positions(zus, &args("zunionstore d 2 a b WEIGHTS 1 2")),
            vec![1, 3, 4]
        );
        let blmpop = &TABLE[lookup(b"blmpop").unwrap()];
        assert_eq!(
            key_positions(blmpop, &args("blmpop 0 2 a b LEFT")),
            vec![3, 4]
        );
        let del = &TABLE[lookup(b"del").unwrap()];
        assert_eq!(key_positions(del, &args("del a b c")), vec![1, 2, 3]);
        let ping = &TABLE[lookup(b"ping").unwrap()];
        assert!(key_positions(ping, &args("ping")).is_empty());
    }
}
