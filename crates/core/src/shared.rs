//! State shared by every connection: the storage engine, the live configuration, the client
//! registry, statistics and the shutdown signal.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use storage::{KeyspaceId, Storage};
use tokio_util::sync::CancellationToken;

use crate::clients::Clients;
use crate::config::Config;

/// Server-wide counters (INFO stats).
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub error_replies: AtomicU64,
    pub dirty: AtomicU64,
    /// Commands per second over the last sample, computed by the maintenance task.
    pub ops_per_sec: AtomicU64,
    /// Network input and output over the last sample, in hundredths of KB/s.
    pub input_kbps_x100: AtomicU64,
    pub output_kbps_x100: AtomicU64,
    /// SAVE / BGSAVE runs (INFO `rdb_saves`).
    pub saves: AtomicU64,
}

/// Per-command counters (INFO commandstats), indexed like the command table.
#[derive(Default)]
pub struct CommandStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Latency of each call (INFO latencystats).
    pub hist: crate::latency::Histogram,
}

/// SCAN cursors: Redis cursors are integers, our positions are keys, so the server maps one to
/// the other in a bounded table (oldest entries are forgotten first).
pub struct Cursors {
    next: u64,
    map: HashMap<u64, (KeyspaceId, Vec<u8>)>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Cursors {
    pub fn new(capacity: usize) -> Self {
        Cursors {
            next: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn insert(&mut self, ks: KeyspaceId, key: Vec<u8>) -> u64 {
        self.next += 1;
        let id = self.next;
        self.map.insert(id, (ks, key));
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        id
    }

    pub fn get(&self, id: u64) -> Option<&(KeyspaceId, Vec<u8>)> {
        self.map.get(&id)
    }
}

/// Cached key counts for INFO keyspace (a full count is O(N), so it is refreshed at most
/// every few seconds, and less often the longer it takes).
#[derive(Default)]
pub struct KeyspaceCache {
    pub at: Option<Instant>,
    pub took_ms: u64,
    /// (physical keyspace, keys, expires): a SWAPDB changes which database they are.
    pub counts: Vec<(u32, u64, u64)>,
}

/// Configuration values read on every request, kept in atomics so the hot path takes no lock
/// and does no lookup. Refreshed by `lifecycle::apply_config` at start and after CONFIG SET.
#[derive(Default)]
pub struct HotConfig {
    pub max_bulk_len: AtomicU64,
    pub max_multibulk_len: AtomicU64,
    pub max_inline_len: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub idle_timeout_secs: AtomicU64,
    pub maxclients: AtomicU64,
    pub password_set: std::sync::atomic::AtomicBool,
    /// `DEBUG SET-ACTIVE-EXPIRE 0` (tests): the background expiry cycle is paused.
    pub active_expire_paused: std::sync::atomic::AtomicBool,
    /// `notify-keyspace-events` as flags (see `notify`).
    pub notify_flags: std::sync::atomic::AtomicU32,
    /// `latency-tracking yes`: per-command latency histograms are recorded.
    pub latency_tracking: std::sync::atomic::AtomicBool,
    /// `slowlog-log-slower-than` (microseconds; negative: off) and `slowlog-max-len`.
    pub slowlog_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// `latency-monitor-threshold` (milliseconds; 0: off).
    pub latency_threshold_ms: AtomicU64,
    /// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`: RESTORE does not check payload CRCs (tests).
    pub skip_restore_checksum: std::sync::atomic::AtomicBool,
    /// `busy-reply-threshold` (alias `lua-time-limit`), milliseconds.
    pub busy_reply_threshold_ms: AtomicU64,
    /// `replica-read-only`.
    pub replica_read_only: std::sync::atomic::AtomicBool,
    /// `databases`.
    pub databases: AtomicU64,
}

pub struct Shared {
    /// The engine; replaced as a whole when a replica installs a full sync (see
    /// `replication::install`). Take it per command with [`Shared::storage`].
    storage: arc_swap::ArcSwap<Storage>,
    pub config: RwLock<Config>,
    pub clients: Clients,
    /// ACL users, the ACL log and settings.
    pub access: crate::access::Access,
    /// The TLS configurations in force (`tls-port`, `tls-replication`).
    pub tls: crate::tls::Tls,
    pub stats: Stats,
    pub cmdstats: Vec<CommandStat>,
    /// Per subcommand of a container (`cmdstat_config|get`), in the order of
    /// `commands::subcommand_slot`.
    pub subcmdstats: Vec<Vec<CommandStat>>,
    /// Error replies by prefix (INFO errorstats).
    pub errorstats: crate::latency::ErrorStats,
    pub slowlog: crate::latency::SlowLog,
    /// CLIENT PAUSE / UNPAUSE.
    pub client_pause: crate::clients::ClientPause,
    /// CLIENT TRACKING: client-side caching invalidations.
    pub tracking: crate::tracking::Tracking,
    /// Clients in MONITOR mode.
    pub monitors: crate::commands::introspect::Monitors,
    pub latency_monitor: crate::latency::Monitor,
    pub run_id: String,
    pub started: Instant,
    pub cursors: Mutex<Cursors>,
    pub keyspace_cache: Mutex<KeyspaceCache>,
    pub last_save: AtomicU64,
    pub shutdown: CancellationToken,
    /// A second signal (or a stage past its deadline): every later wait is cut short.
    pub shutdown_force: CancellationToken,
    /// Stage 3 of shutdown: drained connections close.
    pub close_connections: CancellationToken,
    /// `SHUTDOWN NOW`: skip waiting for replicas.
    pub shutdown_now: std::sync::atomic::AtomicBool,
    /// A shutdown waits for lagging replicas before its stages (writes paused meanwhile;
    /// `SHUTDOWN ABORT` cancels it): see `lifecycle::request_shutdown`.
    pub shutdown_wait: crate::lifecycle::ShutdownWait,
    pub port: AtomicU64,
    pub hot: HotConfig,
    pub blocked: crate::blocking::Blocked,
    pub pubsub: crate::pubsub::PubSub,
    /// The binlog, when `binlog yes`.
    pub binlog: std::sync::OnceLock<Arc<crate::commitlog::Log>>,
    pub failpoints: crate::commitlog::FailPoints,
    pub syncer: crate::commitlog::Syncer,
    pub guard: crate::diskguard::Guard,
    /// RocksDB write stalls seen by the maintenance cycle.
    pub stalls: crate::diskguard::Stalls,
    /// Keys per namespace for /metrics (cached).
    pub namespace_keys: crate::namespace::NamespaceKeys,
    pub repl: crate::replication::Repl,
    pub namespaces: crate::namespace::Namespaces,
    /// Lua scripts: the interpreter, its cache, the running script (`scripting`).
    pub scripts: crate::scripting::Scripts,
    /// This value's own `Arc` (for work that outlives a command, such as a replication link).
    me: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

fn random_hex40() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Shared {
    /// Counts an error reply sent to a client (INFO stats and errorstats).
    pub fn error_reply(&self, reply: &resp::Frame) {
        if let resp::Frame::Error(msg) = reply {
            self.bump(&self.stats.error_replies, 1);
            self.errorstats.count(msg);
        }
    }

    /// The statistics of a request: its subcommand's for a container (`config|get`), else
    /// its command's.
    pub fn stat(&self, idx: usize, args: &[bytes::Bytes]) -> &CommandStat {
        let subs = &self.subcmdstats[idx];
        if !subs.is_empty() {
            if let Some(st) = crate::commands::subcommand_slot(idx, args)
                .checked_sub(1)
                .and_then(|s| subs.get(s))
            {
                return st;
            }
        }
        &self.cmdstats[idx]
    }

    /// Every statistics entry with the name INFO shows it under: commands, and the
    /// subcommands of containers as `container|sub`, in table order.
    pub fn named_stats(&self) -> Vec<(String, &CommandStat)> {
        let mut out = Vec::new();
        for (i, spec) in crate::commands::TABLE.iter().enumerate() {
            out.push((spec.name.to_string(), &self.cmdstats[i]));
            for (slot, st) in self.subcmdstats[i].iter().enumerate() {
                if let Some(sub) = crate::commands::subcommand_name(i, slot + 1) {
                    out.push((format!("{}|{sub}", spec.name), st));
                }
            }
        }
        out
    }

    /// Records one call (or `n` calls of a batch) that took `elapsed`.
    pub fn record_call(&self, st: &CommandStat, elapsed: std::time::Duration, n: u64) {
        st.calls.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        st.usec.fetch_add(
            elapsed.as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if self
            .hot
            .latency_tracking
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            st.hist.record(elapsed.as_nanos() as u64 / n.max(1), n);
        }
    }

    pub fn new(storage: Storage, config: Config, repl: crate::replication::Repl) -> Shared {
        Shared {
            storage: arc_swap::ArcSwap::from_pointee(storage),
            config: RwLock::new(config),
            clients: Clients::default(),
            access: crate::access::Access::default(),
            tls: Default::default(),
            stats: Stats::default(),
            cmdstats: crate::commands::TABLE
                .iter()
                .map(|_| CommandStat::default())
                .collect(),
            subcmdstats: (0..crate::commands::TABLE.len())
                .map(|i| {
                    (0..crate::commands::subcommand_count(i))
                        .map(|_| CommandStat::default())
                        .collect()
                })
                .collect(),
            errorstats: Default::default(),
            slowlog: Default::default(),
            client_pause: Default::default(),
            tracking: Default::default(),
            monitors: Default::default(),
            latency_monitor: Default::default(),
            run_id: random_hex40(),
            started: Instant::now(),
            cursors: Mutex::new(Cursors::new(65536)),
            keyspace_cache: Mutex::new(KeyspaceCache::default()),
            last_save: AtomicU64::new(storage::now_ms() / 1000),
            shutdown: CancellationToken::new(),
            shutdown_force: CancellationToken::new(),
            close_connections: CancellationToken::new(),
            shutdown_now: Default::default(),
            shutdown_wait: Default::default(),
            port: AtomicU64::new(0),
            hot: HotConfig::default(),
            blocked: Default::default(),
            pubsub: Default::default(),
            binlog: Default::default(),
            failpoints: Default::default(),
            syncer: Default::default(),
            guard: Default::default(),
            stalls: Default::default(),
            namespace_keys: Default::default(),
            repl,
            namespaces: Default::default(),
            scripts: Default::default(),
            me: std::sync::OnceLock::new(),
        }
    }

    /// Remembers the `Arc` this value lives in (once, right after it is made).
    pub fn set_me(self: &Arc<Self>) {
        let _ = self.me.set(Arc::downgrade(self));
    }

    pub fn me(&self) -> Option<Arc<Shared>> {
        self.me.get().and_then(|w| w.upgrade())
    }

    /// Runs `f` with the configuration write-locked.
    pub fn with_config_mut<T>(&self, f: impl FnOnce(&mut Config) -> T) -> T {
        match self.config.write() {
            Ok(mut c) => f(&mut c),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The engine in use (a cheap handle: hold it for one command, not across awaits).
    pub fn storage(&self) -> arc_swap::Guard<Arc<Storage>> {
        self.storage.load()
    }

    /// Puts `new` in place of the engine; returns the one replaced (commands still holding it
    /// finish on it).
    pub fn replace_storage(&self, new: Arc<Storage>) -> Arc<Storage> {
        self.storage.swap(new)
    }

    /// Runs `f` with the configuration read-locked (a poisoned lock still gives the data).
    pub fn with_config<T>(&self, f: impl FnOnce(&Config) -> T) -> T {
        match self.config.read() {
            Ok(c) => f(&c),
            Err(p) => f(&p.into_inner()),
        }
    }

    pub fn requirepass(&self) -> String {
        self.with_config(|c| c.get("requirepass").to_string())
    }

    pub fn databases(&self) -> u32 {
        self.hot
            .databases
            .load(std::sync::atomic::Ordering::Relaxed) as u32
    }

    pub fn bump(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
