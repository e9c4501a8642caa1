//! Run-time configuration and the start of a shutdown, as commands see them: applying the
//! configuration (CONFIG SET, start-up), the engine's options, and the wait for replicas a
//! shutdown may begin with (SHUTDOWN, SHUTDOWN ABORT, signals). The stages of the shutdown
//! itself run in the server crate, which owns the listeners and connections.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{Durability, StorageOptions};

use crate::config::Config;
use crate::shared::Shared;

/// Applies the parts of the configuration that take effect at run time.
pub fn apply_config(shared: &Shared) {
    let (fsync, max_bulk) = shared.with_config(|c| {
        (
            Durability::parse(c.get("appendfsync")).unwrap_or(Durability::EverySec),
            c.get_u64("proto-max-bulk-len"),
        )
    });
    shared.storage().set_durability(fsync);
    shared.storage().set_max_value_len(max_bulk as usize);
    shared.repl.throttle.set_rate(
        shared
            .with_config(|c| c.get_u64("max-replication-mb"))
            .saturating_mul(1 << 20),
    );
    let h = &shared.hot;
    shared.with_config(|c| {
        let r = Ordering::Relaxed;
        h.max_bulk_len.store(c.get_u64("proto-max-bulk-len"), r);
        h.max_multibulk_len
            .store(c.get_u64("proto-max-multibulk-len"), r);
        h.max_inline_len.store(c.get_u64("proto-max-inline-len"), r);
        h.query_buffer_limit
            .store(c.get_u64("client-query-buffer-limit"), r);
        h.idle_timeout_secs.store(c.get_u64("timeout"), r);
        h.maxclients.store(c.get_u64("maxclients"), r);
        shared
            .access
            .log_max
            .store(c.get_u64("acllog-max-len") as usize, r);
        shared
            .access
            .allchannels_default
            .store(c.get("acl-pubsub-default") == "allchannels", r);
        h.latency_tracking.store(c.get_bool("latency-tracking"), r);
        h.slowlog_slower_than
            .store(c.get_i64("slowlog-log-slower-than"), r);
        h.slowlog_max_len.store(c.get_u64("slowlog-max-len"), r);
        shared.slowlog.trim(c.get_u64("slowlog-max-len") as usize);
        h.latency_threshold_ms
            .store(c.get_u64("latency-monitor-threshold"), r);
        h.busy_reply_threshold_ms
            .store(c.get_u64("busy-reply-threshold"), r);
        h.replica_read_only
            .store(c.get_bool("replica-read-only"), r);
        h.databases.store(c.get_u64("databases"), r);
        crate::alloc::set_background_thread(c.get_bool("jemalloc-bg-thread"));
        let (hard, soft, secs) =
            crate::pubsub::parse_output_limits(c.get("client-output-buffer-limit"))
                .ok()
                .flatten()
                .unwrap_or((32 << 20, 8 << 20, 60));
        h.notify_flags.store(
            crate::notify::parse(c.get("notify-keyspace-events")).unwrap_or(0),
            r,
        );
        let l = &shared.pubsub.limits;
        l.hard.store(hard, r);
        l.soft.store(soft, r);
        l.soft_secs.store(secs, r);
    });
}

/// The engine's options from the configuration, for the engine at `path`.
pub fn storage_options(config: &Config, path: &std::path::Path) -> StorageOptions {
    let mut opts = StorageOptions::new(path);
    opts.block_cache_bytes = config.get_u64("rocksdb-block-cache-size") as usize;
    opts.write_buffer_bytes = config.get_u64("rocksdb-write-buffer-size") as usize;
    opts.bottommost_compression =
        storage::Compression::parse(config.get("rocksdb-bottommost-compression"))
            .unwrap_or(storage::Compression::Lz4);
    opts.durability = Durability::parse(config.get("appendfsync")).unwrap_or(Durability::EverySec);
    opts.max_value_len = config.get_u64("proto-max-bulk-len") as usize;
    opts.external_log = config.get_bool("binlog");
    opts
}

/// A shutdown waiting for its replicas before the stages begin (as Redis 7: writes are paused,
/// reads go on, `SHUTDOWN ABORT` resumes normal service).
#[derive(Default)]
pub struct ShutdownWait {
    /// Writes wait while this is set.
    pub paused: std::sync::atomic::AtomicBool,
    /// While waiting: until when, and the token `SHUTDOWN ABORT` cancels.
    state: std::sync::Mutex<Option<(Instant, tokio_util::sync::CancellationToken)>>,
    /// The deadline the wait had: stage 4 does not wait past it.
    pub deadline: std::sync::Mutex<Option<Instant>>,
    /// Wakes paused writers and waiting SHUTDOWN callers when the wait ends.
    pub ended: tokio::sync::Notify,
    /// The last wait's outcome for SHUTDOWN callers: 0 waiting, 1 aborted, 2 shutting down.
    pub outcome: std::sync::atomic::AtomicU8,
}

impl ShutdownWait {
    pub fn waiting(&self) -> bool {
        crate::replication::lock(&self.state).is_some()
    }

    fn end(&self, outcome: u8) {
        *crate::replication::lock(&self.state) = None;
        self.outcome.store(outcome, Ordering::Release);
        self.paused.store(false, Ordering::Release);
        self.ended.notify_waiters();
    }
}

/// Asks for a shutdown (a signal or `SHUTDOWN`). With replicas behind and no `NOW`, it first
/// waits for them (up to `shutdown-timeout`) with writes paused; `SHUTDOWN ABORT` cancels
/// that wait. Returns whether it is waiting (the caller may wait for the outcome).
pub fn request_shutdown(shared: &Arc<Shared>, now: bool) -> bool {
    if now {
        shared.shutdown_now.store(true, Ordering::Relaxed);
    }
    if shared.shutdown.is_cancelled() {
        return false;
    }
    let w = &shared.shutdown_wait;
    let target = crate::replication::last_offset(shared);
    if now || crate::replication::lagging(shared, target) == 0 {
        shared.shutdown.cancel();
        return false;
    }
    let limit = Duration::from_secs(shared.with_config(|c| c.get_u64("shutdown-timeout")));
    let (end, abort) = {
        let mut st = crate::replication::lock(&w.state);
        if st.is_some() {
            return true;
        }
        let end = Instant::now() + limit;
        let abort = tokio_util::sync::CancellationToken::new();
        *st = Some((end, abort.clone()));
        *crate::replication::lock(&w.deadline) = Some(end);
        (end, abort)
    };
    w.outcome.store(0, Ordering::Release);
    w.paused.store(true, Ordering::Release);
    tracing::info!(
        lagging = crate::replication::lagging(shared, target),
        offset = target,
        limit_s = limit.as_secs(),
        "shutdown: waiting for replicas to catch up first (writes paused; SHUTDOWN ABORT cancels)"
    );
    let sh = shared.clone();
    let fut = async move {
        let w = &sh.shutdown_wait;
        loop {
            let target = crate::replication::last_offset(&sh);
            if crate::replication::lagging(&sh, target) == 0 || Instant::now() >= end {
                break;
            }
            tokio::select! {
                _ = abort.cancelled() => {
                    *crate::replication::lock(&w.deadline) = None;
                    w.end(1);
                    tracing::warn!("shutdown aborted (SHUTDOWN ABORT): serving again");
                    return;
                }
                _ = sh.shutdown_force.cancelled() => break,
                _ = sh.shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        sh.shutdown.cancel();
        w.end(2);
    };
    shared.repl.spawn(fut);
    true
}

/// `SHUTDOWN ABORT`: cancels a shutdown waiting for replicas; `false` if none is.
pub fn abort_shutdown(shared: &Shared) -> bool {
    if shared.shutdown.is_cancelled() {
        return false;
    }
    match &*crate::replication::lock(&shared.shutdown_wait.state) {
        Some((_, abort)) => {
            abort.cancel();
            true
        }
        None => false,
    }
}
