//! Master–replica replication (protocol and states in `docs/replication.md`).
//!
//! - [`master`]: what a master (or a replica feeding sub-replicas) serves: `PSYNC` (continue
//!   from the binlog, or point to a snapshot), snapshots and their files (`SYNCFILE`), the
//!   binlog stream with acknowledgements, `WAIT`.
//! - [`replica`]: the link a replica keeps to its master: handshake, full sync (parallel,
//!   verified, resumable file transfer into a staging directory, then an atomic switch of
//!   the engine), incremental sync (each record applied at its own offset).
//!
//! The data directory holds the engine and binlog of one *generation* (`strata.state` says
//! which, with the replication history): generation 0 is the engine in the directory itself
//! and `binlog/`; a full sync installs generation g as `db-g/` and `binlog-g/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use replication::history::{History, State};

pub const STATE_FILE: &str = "strata.state";

pub fn db_dir(dir: &Path, generation: u64) -> PathBuf {
    if generation == 0 {
        dir.to_path_buf()
    } else {
        dir.join(format!("db-{generation}"))
    }
}

pub fn binlog_dir(dir: &Path, generation: u64) -> PathBuf {
    if generation == 0 {
        dir.join("binlog")
    } else {
        dir.join(format!("binlog-{generation}"))
    }
}

/// Staging directory of a full sync in progress on a replica.
pub fn sync_root(dir: &Path) -> PathBuf {
    dir.join("sync")
}

/// Where a master keeps the snapshots it serves to replicas (removed at start-up; `BINLOG
/// SNAPSHOT`'s own snapshots live in `snapshots/` and are the operator's).
pub fn snapshots_dir(dir: &Path) -> PathBuf {
    dir.join("repl-snapshots")
}

/// Reads the state file, creating it for a new (or older) data directory: generation 0 and
/// a new history.
pub fn load_state(dir: &Path) -> Result<State, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    let path = dir.join(STATE_FILE);
    if let Some(st) = State::load(&path)? {
        return Ok(st);
    }
    let st = State {
        generation: 0,
        history: History::fresh(),
    };
    st.store(&path)
        .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    Ok(st)
}

/// Whether a file in the data directory itself belongs to a generation-0 engine (RocksDB's
/// names only: a user's own `strata.log` there is left alone).
fn is_engine_file(name: &str) -> bool {
    let numbered = |ext: &str| {
        name.strip_suffix(ext)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    ["CURRENT", "IDENTITY", "LOCK", "LOG"].contains(&name)
        || ["MANIFEST-", "OPTIONS-", "LOG.old."]
            .iter()
            .any(|p| name.starts_with(p))
        || [".sst", ".log", ".blob"].iter().any(|e| numbered(e))
        || name.ends_with(".dbtmp")
}

/// Removes every engine and binlog directory but those of `keep` (the old generation after
/// a full sync, or what a crash in the middle of one left behind).
pub fn remove_other_generations(dir: &Path, keep: u64) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let generation = name
            .strip_prefix("db-")
            .or_else(|| name.strip_prefix("binlog-"))
            .and_then(|g| g.parse::<u64>().ok());
        let path = entry.path();
        match generation {
            Some(g) if g != keep => {
                std::fs::remove_dir_all(&path)?;
                removed += 1;
            }
            None if keep != 0 && name == "binlog" && path.is_dir() => {
                std::fs::remove_dir_all(&path)?;
                removed += 1;
            }
            None if keep != 0 && path.is_file() && is_engine_file(&name) => {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
            _ => {}
        }
    }
    if removed > 0 {
        replication::sync_dir(dir)?;
    }
    Ok(removed)
}

/// This server's role.
pub enum Role {
    Master,
    Replica(Arc<replica::Link>),
}

/// Replication state shared by every connection.
pub struct Repl {
    pub dir: PathBuf,
    /// Generation and history (persisted in `strata.state`).
    pub state: Mutex<State>,
    pub role: Mutex<Role>,
    /// Fast check for the write path: this server follows a master.
    pub is_replica: AtomicBool,
    /// Replicas fed by this server.
    pub replicas: Mutex<Vec<Arc<master::Feeder>>>,
    /// Bumped on every acknowledgement (wakes `WAIT`).
    pub acks: tokio::sync::watch::Sender<u64>,
    /// Records were handed to the OS (wakes feeders waiting for data).
    pub data_ready: tokio::sync::Notify,
    /// Feeders stop (shutdown stage 4 is over, or this server changed master).
    pub stop_feeders: Mutex<tokio_util::sync::CancellationToken>,
    pub throttle: replication::throttle::Throttle,
    pub snapshots: Mutex<Vec<Arc<master::Snapshot>>>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Last full sync per replica address (warning when one needs another soon after).
    pub last_full_sync: Mutex<std::collections::HashMap<String, Instant>>,
    /// Engines replaced by a full sync, removed once nothing uses them.
    pub retired: Mutex<Vec<std::sync::Weak<storage::Storage>>>,
    /// Held by a full sync's switch and by the removal of old generations (which must never
    /// see the new generation's directories before the state file names them).
    pub install_lock: Mutex<()>,
    /// FAILOVER in progress.
    pub failover: failover::Failover,
    /// The main runtime (replication tasks run there, not on a connection's worker).
    pub runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Repl {
    pub fn new(dir: PathBuf, state: State) -> Repl {
        Repl {
            dir,
            state: Mutex::new(state),
            role: Mutex::new(Role::Master),
            is_replica: AtomicBool::new(false),
            replicas: Mutex::new(Vec::new()),
            acks: tokio::sync::watch::channel(0).0,
            data_ready: tokio::sync::Notify::new(),
            stop_feeders: Mutex::new(tokio_util::sync::CancellationToken::new()),
            throttle: Default::default(),
            snapshots: Mutex::new(Vec::new()),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            last_full_sync: Mutex::new(Default::default()),
            retired: Mutex::new(Vec::new()),
            install_lock: Mutex::new(()),
            failover: Default::default(),
            runtime: std::sync::OnceLock::new(),
        }
    }

    pub fn history(&self) -> History {
        lock(&self.state).history.clone()
    }

    pub fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    /// Changes the state in place (read, change and write under one lock: a promotion and a
    /// full sync's switch never undo each other's part).
    pub fn update_state(&self, f: impl FnOnce(&mut State)) -> std::io::Result<()> {
        let mut cur = lock(&self.state);
        let mut st = cur.clone();
        f(&mut st);
        st.store(&self.dir.join(STATE_FILE))?;
        *cur = st;
        Ok(())
    }

    pub fn link(&self) -> Option<Arc<replica::Link>> {
        match &*lock(&self.role) {
            Role::Replica(l) => Some(l.clone()),
            Role::Master => None,
        }
    }

    /// Disconnects every replica fed by this server (they reconnect and continue if they can).
    pub fn drop_feeders(&self) {
        let mut t = lock(&self.stop_feeders);
        t.cancel();
        *t = tokio_util::sync::CancellationToken::new();
    }

    pub fn feeders_token(&self) -> tokio_util::sync::CancellationToken {
        lock(&self.stop_feeders).clone()
    }

    /// Runs a background task on the main runtime (not on the worker of the connection that
    /// asked for it).
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        match self.runtime.get() {
            Some(rt) => {
                rt.spawn(fut);
            }
            None => {
                tokio::spawn(fut);
            }
        }
    }

    /// Wakes feeders: new records may be readable.
    pub fn notify_data(&self) {
        self.data_ready.notify_waiters();
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the directories of engines replaced by a full sync once no command uses them.
pub fn collect_retired(shared: &crate::shared::Shared) {
    let r = &shared.repl;
    let Ok(_installing) = r.install_lock.try_lock() else {
        return;
    };
    let done = {
        let mut retired = lock(&r.retired);
        let had = !retired.is_empty();
        retired.retain(|w| w.strong_count() > 0);
        had && retired.is_empty()
    };
    if done {
        let keep = r.generation();
        match remove_other_generations(&r.dir, keep) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                generation = keep,
                "old engine and binlog files removed"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot remove old engine files"),
        }
    }
}

/// Start-up: what a crash in the middle of a full sync's switch left behind goes.
pub fn start_up_cleanup(dir: &Path, generation: u64) {
    if let Err(e) = remove_other_generations(dir, generation) {
        tracing::warn!(error = %e, "cannot remove leftover engine directories");
    }
    let snaps = snapshots_dir(dir);
    if snaps.exists() {
        if let Err(e) = std::fs::remove_dir_all(&snaps) {
            tracing::warn!(error = %e, "cannot remove old snapshots");
        }
    }
}

/// The offset of the last record in this server's binlog (`master_repl_offset`).
pub fn last_offset(shared: &crate::shared::Shared) -> u64 {
    match shared.binlog.get() {
        Some(l) => l.lock().next_offset().saturating_sub(1),
        None => 0,
    }
}

/// `slave_priority` etc. read on every INFO: small helpers over the config.
pub fn priority(shared: &crate::shared::Shared) -> i64 {
    shared.with_config(|c| c.get_i64("replica-priority"))
}

pub fn is_replica(shared: &crate::shared::Shared) -> bool {
    shared.repl.is_replica.load(Ordering::Acquire)
}

/// How many replicas this server feeds.
pub fn replica_count(shared: &crate::shared::Shared) -> usize {
    lock(&shared.repl.replicas).len()
}

/// How many fed replicas have not acknowledged `target` yet.
pub fn lagging(shared: &crate::shared::Shared, target: u64) -> usize {
    lock(&shared.repl.replicas)
        .iter()
        .filter(|f| f.acked.load(Ordering::Acquire) < target)
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_rocksdb_files_count_as_the_old_engine() {
        for f in [
            "000012.sst",
            "000008.log",
            "CURRENT",
            "MANIFEST-000005",
            "OPTIONS-000007",
            "LOG",
            "LOG.old.1234",
            "000009.blob",
        ] {
            assert!(super::is_engine_file(f), "{f}");
        }
        for f in [
            "strata.log",
            "ballast",
            "strata.state",
            "notes.sst.txt",
            "x.log",
            "server-6379.log",
        ] {
            assert!(!super::is_engine_file(f), "{f}");
        }
    }
}

// ---- the state of replication links, as commands, INFO and the links themselves see it ----
// (the links' loops, the transfer service and FAILOVER's procedure are in the server crate)

pub mod master {
    //! What a master keeps of the replicas it feeds and the snapshots it serves.
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use replication::manifest::Manifest;

    use super::lock;

    /// What a command asks its connection to do after it ran (the work is asynchronous or owns
    /// the socket).
    pub enum Takeover {
        /// `PSYNC` accepted a continuation: the connection becomes a binlog feeder from `next`
        /// (registered already, so WAIT and shutdown count it from the `+CONTINUE` on).
        Feed { next: u64, feeder: Arc<Feeder> },
        /// `PSYNC` needs a full sync: build (or reuse) a snapshot, then reply `+FULLRESYNC`.
        FullSync,
        /// `WAIT`: reply when `n` replicas acknowledged `target`, or at the deadline.
        Wait {
            n: u64,
            target: u64,
            deadline: Option<Instant>,
        },
        /// A transfer chunk waits this long before it is sent (the throttle).
        Delay(Duration),
        /// `SHUTDOWN` while the shutdown waits for replicas: the caller waits for the outcome.
        ShutdownWait,
    }

    /// A replica fed by this server, as INFO, ROLE and WAIT see it.
    pub struct Feeder {
        pub client: u64,
        pub ip: String,
        pub port: u16,
        pub acked: AtomicU64,
        pub sent: AtomicU64,
        pub last_ack: std::sync::Mutex<Instant>,
        /// 0 wait_bgsave, 1 send_bulk, 2 online.
        pub state: AtomicU8,
    }

    impl Feeder {
        pub fn state_name(&self) -> &'static str {
            match self.state.load(Ordering::Relaxed) {
                0 => "wait_bgsave",
                1 => "send_bulk",
                _ => "online",
            }
        }

        pub fn lag_secs(&self) -> u64 {
            lock(&self.last_ack).elapsed().as_secs()
        }
    }

    /// A snapshot served to replicas: a RocksDB checkpoint holding exactly the records up to
    /// `offset`, and the lease that keeps the binlog from `offset + 1` on.
    pub struct Snapshot {
        pub id: String,
        pub dir: PathBuf,
        pub manifest: Manifest,
        pub lease: u64,
        pub created: Instant,
        /// Chunk reads in progress (the directory is never removed under one).
        pub readers: AtomicU64,
        /// Last request for it, and whether a replica continued from its offset (installed it).
        pub last_use: std::sync::Mutex<Instant>,
        pub installed: std::sync::atomic::AtomicBool,
    }

    impl Snapshot {
        pub fn files(&self) -> PathBuf {
            self.dir.join("db")
        }
    }
}

pub mod replica {
    //! A replica's link to its master, as INFO and ROLE see it.
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio_util::sync::CancellationToken;

    use super::lock;

    /// Link states (INFO `master_link_status` is `up` only in `CONNECTED`).
    pub const CONNECTING: u8 = 0;
    pub const HANDSHAKE: u8 = 1;
    pub const SYNCING: u8 = 2;
    pub const CONNECTED: u8 = 3;

    pub struct Link {
        pub host: String,
        pub port: u16,
        pub cancel: CancellationToken,
        pub status: AtomicU8,
        pub down_since: Mutex<Option<Instant>>,
        pub last_io: Mutex<Instant>,
        /// Full sync in progress: bytes of the snapshot, and bytes verified so far.
        pub sync_total: AtomicU64,
        pub sync_read: AtomicU64,
        /// File bytes received over the network (all full syncs), chunks that failed their
        /// checksum, full syncs done.
        pub fetched: AtomicU64,
        pub corrupt_chunks: AtomicU64,
        pub full_syncs: AtomicU64,
        /// The master's last offset as it last said (PING).
        pub master_offset: AtomicU64,
        /// Held while a batch of records is applied (promotion waits for it).
        pub apply_lock: Mutex<()>,
        /// Applying waits because this server's storage is full.
        pub paused: std::sync::atomic::AtomicBool,
        /// When the last record received was written on the master (Unix ms): the lag in time.
        pub last_record_ms: AtomicU64,
    }

    impl Link {
        pub fn status_name(&self) -> &'static str {
            match self.status.load(Ordering::Relaxed) {
                CONNECTING => "connecting",
                HANDSHAKE => "handshake",
                SYNCING => "sync",
                _ => "connected",
            }
        }

        pub fn up(&self) -> bool {
            self.status.load(Ordering::Relaxed) == CONNECTED
        }

        pub fn set_status(&self, s: u8) {
            self.status.store(s, Ordering::Relaxed);
            let mut d = lock(&self.down_since);
            if s == CONNECTED {
                *d = None;
            } else if d.is_none() {
                *d = Some(Instant::now());
            }
        }

        pub fn io(&self) {
            *lock(&self.last_io) = Instant::now();
        }
    }
}

pub mod failover {
    //! FAILOVER's state (`master_failover_state`).
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    pub const FAILOVER_NONE: u8 = 0;
    pub const FAILOVER_WAITING: u8 = 1;
    pub const FAILOVER_IN_PROGRESS: u8 = 2;

    #[derive(Default)]
    pub struct Failover {
        pub state: AtomicU8,
        pub abort: AtomicBool,
    }

    impl Failover {
        /// `master_failover_state` of INFO.
        pub fn state_name(&self) -> &'static str {
            match self.state.load(Ordering::Acquire) {
                FAILOVER_WAITING => "waiting-for-sync",
                FAILOVER_IN_PROGRESS => "failover-in-progress",
                _ => "no-failover",
            }
        }
    }
}
