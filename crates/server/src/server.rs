//! Start-up, the accept loop, background maintenance (active expiry, `everysec` fsync,
//! statistics) and shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{Durability, Storage};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::clients::ClientEntry;

use crate::config::Config;
use crate::shared::Shared;

/// A running server: its address and shared state; `wait` resolves when it has stopped.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    join: tokio::task::JoinHandle<bool>,
}

impl ServerHandle {
    /// Asks the server to stop (as SIGTERM does).
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Waits until the server has stopped and its data is synced; whether the shutdown was
    /// clean (no stage cut short, no second signal, the final flush done).
    pub async fn wait(self) -> bool {
        self.join.await.unwrap_or(false)
    }
}

/// The commands the core's table declares and this crate serves (`strata_core::net`).
fn register_net_commands() {
    use crate::replication::{failover, master, replica};
    crate::net::register(crate::net::NetCommands {
        replicaof: replica::replicaof,
        role: replica::role,
        failover: failover::failover,
        wait: master::wait,
        replconf: master::replconf,
        psync: master::psync,
        sync: master::sync,
        syncfile: master::syncfile,
    });
}

/// Opens the storage and binds the listener; errors here stop start-up.
pub async fn start(config: Config) -> Result<ServerHandle, String> {
    register_net_commands();
    let dir = config.get("dir").to_string();
    let state = crate::replication::load_state(std::path::Path::new(&dir))?;
    let generation = state.generation;
    crate::replication::start_up_cleanup(std::path::Path::new(&dir), generation);
    let db_path = crate::replication::db_dir(std::path::Path::new(&dir), generation);
    let opts = crate::lifecycle::storage_options(&config, &db_path);
    let segment_bytes = config.get_u64("binlog-segment-size");
    let t = Instant::now();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&opts))
        .await
        .map_err(|e| format!("storage open task failed: {e}"))?
        .map_err(|e| format!("cannot open data directory '{dir}': {e}"))?;
    tracing::info!(dir = %dir, took_ms = t.elapsed().as_millis() as u64, "storage opened");
    let log = if storage.logged() || config.get_bool("binlog") {
        let binlog_dir = crate::replication::binlog_dir(std::path::Path::new(&dir), generation);
        let (floor, max_applied) = (storage.applied_offset(), storage.max_applied());
        let log = tokio::task::spawn_blocking(move || {
            crate::commitlog::Log::open(&binlog_dir, segment_bytes, floor, max_applied)
        })
        .await
        .map_err(|e| format!("binlog open task failed: {e}"))??;
        let log = Arc::new(log);
        storage.set_commit_log(log.clone());
        Some(log)
    } else {
        None
    };
    let bind = config
        .get("bind")
        .split_whitespace()
        .next()
        .unwrap_or("127.0.0.1")
        .to_string();
    let port = config.get_i64("port");
    let tls_port = config.get_i64("tls-port");
    // `port 0` with a `tls-port`: TLS only (as Redis).
    let plain = if port != 0 || tls_port == 0 {
        Some(
            TcpListener::bind((bind.as_str(), port as u16))
                .await
                .map_err(|e| format!("cannot listen on {bind}:{port}: {e}"))?,
        )
    } else {
        None
    };
    let tls = if tls_port != 0 {
        Some(
            TcpListener::bind((bind.as_str(), tls_port as u16))
                .await
                .map_err(|e| format!("cannot listen for TLS on {bind}:{tls_port}: {e}"))?,
        )
    } else {
        None
    };
    let addr = plain
        .as_ref()
        .or(tls.as_ref())
        .map(|l| l.local_addr())
        .transpose()
        .map_err(|e| format!("cannot read listening address: {e}"))?
        .ok_or("no listener")?;
    let repl = crate::replication::Repl::new(std::path::PathBuf::from(&dir), state);
    let _ = repl.runtime.set(tokio::runtime::Handle::current());
    let shared = Arc::new(Shared::new(storage, config, repl));
    shared.set_me();
    shared.port.store(addr.port() as u64, Ordering::Relaxed);
    crate::lifecycle::apply_config(&shared);
    crate::tls::reload(&shared).map_err(|e| format!("TLS: {e}"))?;
    // ACL: `requirepass` is the default user's password; then the config file's `user`
    // lines or the ACL file (a bad one stops start-up, naming the line).
    shared
        .access
        .set_requirepass(&shared, &shared.requirepass());
    crate::access::load_at_start(&shared)?;
    if let Some(log) = log {
        let _ = shared.binlog.set(log.clone());
        // Recovery: the records the engine does not hold yet (appended, then a crash before or
        // after their batch reached only the memtable).
        let t = Instant::now();
        let sh = shared.clone();
        let n = tokio::task::spawn_blocking(move || crate::commitlog::replay(&sh, &log))
            .await
            .map_err(|e| format!("binlog replay task failed: {e}"))??;
        let st = shared.binlog.get().map(|l| l.lock().status());
        tracing::info!(
            replayed = n,
            took_ms = t.elapsed().as_millis() as u64,
            applied = shared.storage().applied_offset(),
            first = st.as_ref().map_or(0, |s| s.first_offset),
            next = st.as_ref().map_or(0, |s| s.next_offset),
            "binlog recovered"
        );
    }
    shared
        .namespaces
        .reload(&shared.storage())
        .map_err(|e| format!("cannot read the namespace registry: {e}"))?;
    if !crate::diskguard::ensure_ballast(&shared) {
        tracing::warn!("no room for the ballast file: recovery from a full disk has no reserve");
    }
    crate::diskguard::check(&shared);
    crate::commitlog::Syncer::start(shared.clone())
        .map_err(|e| format!("cannot start the fsync thread: {e}"))?;
    let master = shared.with_config(|c| c.get("replicaof").to_string());
    if let Some((host, port)) = master.split_once(' ') {
        if shared.binlog.get().is_none() {
            return Err("replicaof needs the binlog (binlog yes)".into());
        }
        crate::replication::replica::follow(&shared, host, port.parse().unwrap_or(6379));
    }
    let join = tokio::spawn(run(Listeners { plain, tls }, shared.clone()));
    Ok(ServerHandle { addr, shared, join })
}

/// A connection for a worker: the socket, its registry entry, and whether it came in on
/// `tls-port` (the worker then runs the TLS handshake before serving it).
type NewConnection = (std::net::TcpStream, Arc<ClientEntry>, bool);

/// What the server accepts connections on: `port` and `tls-port`, either may be off.
pub struct Listeners {
    pub plain: Option<TcpListener>,
    pub tls: Option<TcpListener>,
}

async fn accept_on(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts one worker: a thread with its own single-threaded runtime that serves the
/// connections handed to it. Connections stay on their worker (no work stealing, no
/// cross-thread wake-ups per request), and the commands of all connections of a worker that
/// are ready at once share one WAL write (see `connection::flush`).
fn spawn_worker(
    index: usize,
    shared: Arc<Shared>,
) -> Result<
    (
        mpsc::UnboundedSender<NewConnection>,
        std::thread::JoinHandle<()>,
    ),
    String,
> {
    let (tx, mut rx) = mpsc::unbounded_channel::<NewConnection>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start worker runtime: {e}"))?;
    let handle = std::thread::Builder::new()
        .name(format!("strata-worker-{index}"))
        .spawn(move || {
            rt.block_on(async move {
                let tracker = TaskTracker::new();
                while let Some((std_stream, entry, tls)) = rx.recv().await {
                    let id = entry.id;
                    let stream = match TcpStream::from_std(std_stream) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot register connection");
                            shared.clients.unregister(id);
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let sh = shared.clone();
                    tracker.spawn(async move {
                        let conn = if tls {
                            match tls_accept(&sh, stream).await {
                                Some(c) => c,
                                None => {
                                    sh.clients.unregister(id);
                                    return;
                                }
                            }
                        } else {
                            crate::tls::Conn::Plain(stream)
                        };
                        crate::connection::serve(sh.clone(), conn, entry).await;
                        sh.clients.unregister(id);
                    });
                }
                tracker.close();
                tracker.wait().await;
            });
        })
        .map_err(|e| format!("cannot start worker thread: {e}"))?;
    Ok((tx, handle))
}

/// The TLS handshake of a connection accepted on `tls-port`, with the configuration in force
/// now; `None` (logged) when it fails or takes too long.
async fn tls_accept(shared: &Shared, stream: TcpStream) -> Option<crate::tls::Conn> {
    let acceptor = shared.tls.acceptor.load_full()?;
    let peer = stream.peer_addr().ok();
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(crate::tls::Conn::Tls(Box::new(s))),
        Ok(Err(e)) => {
            tracing::info!(peer = ?peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(peer = ?peer, "TLS handshake timed out");
            None
        }
    }
}

/// Serves until `shared.shutdown` is cancelled, then stops in order: close the listeners,
/// let connections finish the requests they hold, sync and flush the storage.
pub async fn run(listeners: Listeners, shared: Arc<Shared>) -> bool {
    // Default: one worker per core but one. Writes commit one at a time (binlog order), and
    // the core left serves RocksDB's background work and the fsync thread; on 2 cores two
    // workers contending for the commit lock were measured slower than one (docs/benchmarks.md).
    let n = match shared.with_config(|c| c.get_i64("worker-threads")) {
        0 => std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1).max(1))
            .unwrap_or(1),
        n => n as usize,
    };
    let mut workers = Vec::new();
    for i in 0..n {
        match spawn_worker(i, shared.clone()) {
            Ok(w) => workers.push(w),
            Err(e) => tracing::error!("{e}"),
        }
    }
    if workers.is_empty() {
        tracing::error!("no worker could start; stopping");
        shared.shutdown.cancel();
    }
    let maintenance = tokio::spawn(maintenance(shared.clone()));
    let metrics_port = shared.with_config(|c| c.get_u64("metrics-port"));
    if metrics_port > 0 {
        let bind = shared.with_config(|c| c.get("metrics-bind").to_string());
        match TcpListener::bind((bind.as_str(), metrics_port as u16)).await {
            Ok(l) => {
                tracing::info!(address = %format!("{bind}:{metrics_port}"), "metrics endpoint up");
                tokio::spawn(crate::metrics::serve(l, shared.clone()));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for metrics on {bind}:{metrics_port}")
            }
        }
    }
    let mut next = 0usize;
    loop {
        tokio::select! {
            accepted = async {
                tokio::select! {
                    a = accept_on(&listeners.plain) => (a, false),
                    a = accept_on(&listeners.tls) => (a, true),
                }
            } => {
                let (accepted, tls) = accepted;
                let (mut stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                shared.bump(&shared.stats.connections_received, 1);
                let max = shared.hot.maxclients.load(Ordering::Relaxed) as usize;
                if shared.clients.count() >= max {
                    shared.bump(&shared.stats.rejected_connections, 1);
                    let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                    continue;
                }
                let laddr = stream.local_addr().unwrap_or(peer);
                let std_stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot hand connection to a worker");
                        continue;
                    }
                };
                let entry = shared.clients.register(peer, laddr);
                {
                    use std::os::fd::AsRawFd;
                    entry
                        .fd
                        .store(std_stream.as_raw_fd() as i64, Ordering::Relaxed);
                }
                let id = entry.id;
                if workers.is_empty() || workers[next % workers.len()].0.send((std_stream, entry, tls)).is_err() {
                    tracing::error!("worker gone; dropping connection");
                    shared.clients.unregister(id);
                }
                next = next.wrapping_add(1);
            }
            _ = shared.shutdown.cancelled() => break,
        }
    }
    shutdown_stages(listeners, shared, workers, maintenance).await
}

/// How long stage 2 (finish received commands, send replies) and stage 3 (close connections)
/// may take before what is left is cut.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);
/// How long stage 5 may take to sync the binlog and flush the memtables.
const FLUSH_DEADLINE: Duration = Duration::from_secs(15);

/// The shutdown stage in progress: 0 while serving, 1-5 during the staged shutdown, 6 once it
/// is done (`strata_shutdown_stage` on /metrics, which answers until the process ends).
static SHUTDOWN_STAGE: AtomicU64 = AtomicU64::new(0);

pub fn shutdown_stage() -> u64 {
    SHUTDOWN_STAGE.load(Ordering::Relaxed)
}

/// Logs the end of a shutdown stage with its duration.
fn stage_done(n: u32, name: &str, t: Instant, cut: &str) {
    SHUTDOWN_STAGE.store(n as u64 + 1, Ordering::Relaxed);
    let took_ms = t.elapsed().as_millis() as u64;
    if cut.is_empty() {
        tracing::info!(took_ms, "shutdown stage {n}/5 ({name}): done");
    } else {
        tracing::warn!(took_ms, cut, "shutdown stage {n}/5 ({name}): cut short");
    }
}

/// Waits for `done` to hold, polling, until `deadline` or a forced shutdown; `false` if cut.
async fn wait_until(shared: &Shared, deadline: Duration, done: impl Fn() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end || shared.shutdown_force.is_cancelled() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = shared.shutdown_force.cancelled() => {}
        }
    }
}

/// The staged shutdown (after `shared.shutdown` was cancelled), each stage logged with its
/// duration: 1 stop accepting; 2 finish the requests already received and send their replies
/// (blocked clients are answered); 3 close connections; 4 let replicas catch up; 5 flush and
/// sync the binlog and the engine, remove the pid file. A stage past its deadline, or a
/// second signal, moves on and logs what it cut. Returns whether the shutdown was clean.
async fn shutdown_stages(
    listener: Listeners,
    shared: Arc<Shared>,
    workers: Vec<(
        mpsc::UnboundedSender<NewConnection>,
        std::thread::JoinHandle<()>,
    )>,
    maintenance: tokio::task::JoinHandle<()>,
) -> bool {
    let all = Instant::now();
    let mut clean = true;
    SHUTDOWN_STAGE.store(1, Ordering::Relaxed);

    let t = Instant::now();
    drop(listener);
    stage_done(1, "stop accepting connections", t, "");

    let t = Instant::now();
    let drained = wait_until(&shared, DRAIN_DEADLINE, || {
        shared
            .clients
            .all()
            .iter()
            .all(|c| c.drained.load(Ordering::Acquire))
    })
    .await;
    if drained {
        stage_done(2, "finish received commands and reply", t, "");
    } else {
        clean = false;
        let stuck: Vec<_> = shared
            .clients
            .all()
            .into_iter()
            .filter(|c| !c.drained.load(Ordering::Acquire))
            .collect();
        for c in &stuck {
            tracing::warn!(client = c.id, addr = %c.addr, "shutdown: dropping a client that does not read its replies (or still runs a command)");
            c.kill.cancel();
        }
        stage_done(
            2,
            "finish received commands and reply",
            t,
            &format!("{} clients cut", stuck.len()),
        );
    }

    let t = Instant::now();
    shared.close_connections.cancel();
    // Replicas stay connected until stage 4.
    let closed = wait_until(&shared, CLOSE_DEADLINE, || {
        shared.clients.all().iter().all(|c| c.kind() == "replica")
    })
    .await;
    if closed {
        stage_done(3, "close client connections", t, "");
    } else {
        clean = false;
        stage_done(3, "close client connections", t, "connections abandoned");
    }

    let t = Instant::now();
    let feeders = crate::replication::replica_count(&shared);
    if shared.shutdown_now.load(Ordering::Relaxed) {
        tracing::info!("shutdown stage 4/5 (replicas catch up): skipped (SHUTDOWN NOW)");
    } else if feeders == 0 {
        stage_done(4, "replicas catch up: none attached", t, "");
    } else {
        let target = crate::replication::last_offset(&shared);
        // What is left of the wait that ran before the stages, or the whole timeout.
        let limit = match *crate::replication::lock(&shared.shutdown_wait.deadline) {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(shared.with_config(|c| c.get_u64("shutdown-timeout"))),
        };
        let caught_up = wait_until(&shared, limit, || {
            crate::replication::lagging(&shared, target) == 0
        })
        .await;
        if caught_up {
            stage_done(
                4,
                &format!("replicas catch up: {feeders} at offset {target}"),
                t,
                "",
            );
        } else {
            clean = false;
            let behind = crate::replication::lagging(&shared, target);
            stage_done(
                4,
                &format!("replicas catch up to offset {target}"),
                t,
                &format!("{behind} of {feeders} replicas still behind at shutdown-timeout"),
            );
        }
    }
    shared.repl.drop_feeders();
    // Closing the channels ends each worker once its connections have closed.
    let handles: Vec<_> = workers
        .into_iter()
        .map(|(tx, h)| {
            drop(tx);
            h
        })
        .collect();
    let joined = tokio::task::spawn_blocking(move || {
        for h in handles {
            let _ = h.join();
        }
    });
    let joined = tokio::select! {
        r = tokio::time::timeout(CLOSE_DEADLINE, joined) => r.is_ok(),
        _ = shared.shutdown_force.cancelled() => false,
    };
    maintenance.abort();
    if !joined {
        clean = false;
        tracing::warn!("shutdown: worker threads did not end in time (connections abandoned)");
    }

    let t = Instant::now();
    // The binlog first (after it, every acknowledged write survives whatever follows), then
    // the memtables; each bounded: a flush that does not end is cut (recovery replays).
    let sh = shared.clone();
    let synced = match tokio::time::timeout(
        FLUSH_DEADLINE,
        tokio::task::spawn_blocking(move || {
            sh.storage().sync_wal()?;
            if let Some(log) = sh.binlog.get() {
                // The active segment keeps only its records (no preallocated zeros).
                log.lock()
                    .trim()
                    .map_err(|e| storage::Error::Io(std::io::Error::other(e.to_string())))?;
            }
            sh.storage().flush_all()
        }),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Ok(Err(storage::Error::Io(std::io::Error::other(
            "flush did not end within its deadline",
        )))),
    };
    let pidfile = shared.with_config(|c| c.get("pidfile").to_string());
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    match synced {
        Ok(Ok(())) => stage_done(5, "flush and sync binlog and engine", t, ""),
        Ok(Err(e)) => {
            clean = false;
            tracing::error!(error = %e, "shutdown: storage flush failed");
            stage_done(5, "flush and sync binlog and engine", t, "flush failed");
        }
        Err(e) => {
            clean = false;
            tracing::error!(error = %e, "shutdown: storage flush task failed");
            stage_done(5, "flush and sync binlog and engine", t, "flush failed");
        }
    }
    if shared.shutdown_force.is_cancelled() {
        clean = false;
    }
    tracing::info!(
        took_ms = all.elapsed().as_millis() as u64,
        clean,
        "shutdown complete"
    );
    clean
}

/// Background work, `hz` times per second: active expiry; once a second: the `everysec` WAL
/// fsync and the ops/sec sample.
async fn maintenance(shared: Arc<Shared>) {
    let mut last_sync = Instant::now();
    let mut last_purge = Instant::now();
    let mut last_ops = (Instant::now(), 0u64, 0u64, 0u64);
    loop {
        let hz = shared.with_config(|c| c.get_i64("hz")).clamp(1, 500) as u64;
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        // Storage full? Measured every cycle, not only after compactions.
        crate::diskguard::check(&shared);
        crate::diskguard::watch_stalls(&shared);
        let per_cycle = shared.with_config(|c| c.get_u64("active-expire-keys-per-cycle")) as usize;
        // A replica deletes nothing by itself: its master's DELs come through the stream.
        let per_cycle = if shared.hot.active_expire_paused.load(Ordering::Relaxed)
            || shared.client_pause.active()
            || crate::replication::is_replica(&shared)
        {
            0
        } else {
            per_cycle
        };
        let sh = shared.clone();
        let cycle = move || -> Result<Vec<(u32, Vec<u8>)>, storage::Error> {
            let mut deleted = Vec::new();
            let cx = storage::WriteCx::new();
            for raw in sh.storage().db(&cx).expiry_due(per_cycle)? {
                if let Some(k) = crate::commitlog::expire_entry(&sh, &raw)? {
                    deleted.push(k);
                }
            }
            Ok(deleted)
        };
        match tokio::task::spawn_blocking(cycle).await {
            Ok(Ok(keys)) if !keys.is_empty() => {
                shared.bump(&shared.stats.expired_keys, keys.len() as u64);
                // Their `expired` events went out as each was deleted (`expire_entry`).
                // Invalidations: committed already, nothing is held.
                let held = crate::notify::Held::default();
                for (db, key) in keys {
                    let scoped = crate::namespace::scope(crate::namespace::base_of(db), &key);
                    shared.tracking.invalidate(&shared, &held, 0, &[scoped]);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "active expiry failed"),
            _ => {}
        }
        // Rank fences of large sorted sets (built or split under the key lock).
        let sh = shared.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || {
            let cx = storage::WriteCx::new();
            sh.storage().db(&cx).rank_maintenance(8)
        })
        .await
        {
            tracing::warn!(error = %e, "sorted-set rank maintenance failed");
        }
        if last_purge.elapsed() >= Duration::from_secs(10) && shared.binlog.get().is_some() {
            last_purge = Instant::now();
            let sh = shared.clone();
            match tokio::task::spawn_blocking(move || crate::commitlog::purge(&sh, None)).await {
                Ok(Err(e)) => tracing::error!(error = %e, "binlog purge failed"),
                Err(e) => tracing::error!(error = %e, "binlog purge task failed"),
                _ => {}
            }
        }
        if last_sync.elapsed() >= Duration::from_secs(1) {
            last_sync = Instant::now();
            let sh = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                crate::replication::master::collect_snapshots(&sh);
                crate::replication::collect_retired(&sh);
            })
            .await;
            if shared.binlog.get().is_some() {
                let sh = shared.clone();
                if let Ok(Err(e)) =
                    tokio::task::spawn_blocking(move || crate::commitlog::bound_recovery(&sh)).await
                {
                    tracing::error!(error = %e, "memtable flush (recovery bound) failed");
                }
            }
            if shared.storage().durability() == Durability::EverySec {
                let sh = shared.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || {
                    let t = Instant::now();
                    let r = sh.storage().sync_wal();
                    sh.syncer.latency.observe(t.elapsed().as_secs_f64());
                    r
                })
                .await
                {
                    tracing::error!(error = %e, "everysec WAL fsync failed");
                }
            }
            let st = &shared.stats;
            let total = st.commands_processed.load(Ordering::Relaxed);
            let input = st.net_input_bytes.load(Ordering::Relaxed);
            let output = st.net_output_bytes.load(Ordering::Relaxed);
            let secs = last_ops.0.elapsed().as_secs_f64().max(0.001);
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
            st.ops_per_sec
                .store(rate(total, last_ops.1) as u64, Ordering::Relaxed);
            // Kilobytes per second, kept in hundredths.
            st.input_kbps_x100
                .store((rate(input, last_ops.2) / 10.24) as u64, Ordering::Relaxed);
            st.output_kbps_x100
                .store((rate(output, last_ops.3) / 10.24) as u64, Ordering::Relaxed);
            last_ops = (Instant::now(), total, input, output);
        }
    }
}
