//! INFO in Redis's format: `# Section` headers, `name:value` lines ending in CRLF, a blank line
//! between sections. Field names are Redis's where one exists (Sentinel and tools parse them).

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::shared::Shared;

/// Redis 7.0's default sections, in its order, with Strata's own (storage, binlog) after
/// persistence.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "storage",
    "binlog",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Every section (`INFO all` / `everything`), in the order they are printed.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "storage",
    "binlog",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Renders the requested sections (`default`, `all`, `everything` or names).
pub fn render(shared: &Shared, requested: &[String], base: u32) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() || requested.iter().any(|s| s == "default") {
        wanted.extend(DEFAULT_SECTIONS);
    }
    if requested.iter().any(|s| s == "all" || s == "everything") {
        wanted.extend(ALL_SECTIONS);
    }
    for r in requested {
        if let Some(s) = ALL_SECTIONS.iter().find(|s| **s == r.as_str()) {
            wanted.push(s);
        }
    }
    let mut out = String::new();
    for s in ALL_SECTIONS {
        if !wanted.contains(s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *s {
            "server" => server(shared, &mut out),
            "clients" => clients(shared, &mut out),
            "memory" => memory(shared, &mut out),
            "persistence" => persistence(shared, &mut out),
            "binlog" => binlog(shared, &mut out),
            "storage" => storage_section(shared, &mut out),
            "stats" => stats(shared, &mut out),
            "replication" => replication(shared, &mut out),
            "cpu" => cpu(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "commandstats" => commandstats(shared, &mut out),
            "errorstats" => errorstats(shared, &mut out),
            "latencystats" => latencystats(shared, &mut out),
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" if base != 0 => namespace_keyspace(shared, &mut out, base),
            "keyspace" => keyspace(shared, &mut out),
            _ => {}
        }
    }
    out
}

fn line(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "{name}:{value}\r\n");
}

fn server(shared: &Shared, out: &mut String) {
    out.push_str("# Server\r\n");
    let up = shared.started.elapsed().as_secs();
    let (port, hz, config_file) = shared.with_config(|c| {
        (
            c.get("port").to_string(),
            c.get("hz").to_string(),
            c.file
                .as_ref()
                .and_then(|f| std::fs::canonicalize(f).ok())
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
        )
    });
    let port = match shared.port.load(Ordering::Relaxed) {
        0 => port,
        p => p.to_string(),
    };
    line(out, "redis_version", crate::REDIS_VERSION);
    line(out, "strata_version", crate::STRATA_VERSION);
    line(out, "redis_git_sha1", "00000000");
    line(out, "redis_git_dirty", 0);
    line(out, "redis_build_id", "0");
    line(out, "redis_mode", "standalone");
    line(out, "os", os_name());
    line(out, "arch_bits", usize::BITS);
    line(out, "monotonic_clock", "POSIX clock_gettime");
    line(out, "multiplexing_api", "epoll");
    line(out, "atomicvar_api", "c11-builtin");
    line(out, "gcc_version", "0.0.0");
    line(out, "process_id", std::process::id());
    line(out, "process_supervised", "no");
    line(out, "run_id", &shared.run_id);
    line(out, "tcp_port", port);
    line(
        out,
        "server_time_usec",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
    );
    line(out, "uptime_in_seconds", up);
    line(out, "uptime_in_days", up / 86400);
    line(out, "hz", &hz);
    line(out, "configured_hz", &hz);
    // Redis's LRU clock: seconds, 24 bits.
    line(
        out,
        "lru_clock",
        (storage::now_ms() / 1000) & ((1 << 24) - 1),
    );
    line(
        out,
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    line(out, "config_file", config_file);
    line(out, "io_threads_active", 0);
}

/// `Linux <release> <machine>`, as Redis prints uname.
fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let kind = read("/proc/sys/kernel/ostype");
    let kind = if kind.is_empty() {
        std::env::consts::OS.to_string()
    } else {
        kind
    };
    format!(
        "{kind} {} {}",
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

fn clients(shared: &Shared, out: &mut String) {
    out.push_str("# Clients\r\n");
    line(out, "connected_clients", shared.clients.count());
    line(out, "cluster_connections", 0);
    line(
        out,
        "maxclients",
        shared.with_config(|c| c.get_i64("maxclients")),
    );
    let all = shared.clients.all();
    line(
        out,
        "client_recent_max_input_buffer",
        all.iter()
            .map(|c| c.query_buf.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0),
    );
    line(
        out,
        "client_recent_max_output_buffer",
        all.iter()
            .map(|c| c.pending_push.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0),
    );
    line(out, "blocked_clients", shared.blocked.count());
    line(out, "tracking_clients", shared.tracking.clients());
    line(out, "clients_in_timeout_table", shared.blocked.count());
}

/// Resident set size from /proc (bytes), 0 where unavailable.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2}G", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.2}M", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

static PEAK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static STARTUP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// `used_memory`: the heap in use (allocator counters; RSS where they are unavailable), with
/// the peak seen so far. Called at start-up too, so `used_memory_startup` is the heap then.
pub fn used_memory() -> u64 {
    let used = crate::alloc::stats().map_or_else(rss_bytes, |s| s.allocated);
    STARTUP.get_or_init(|| used);
    PEAK.fetch_max(used, Ordering::Relaxed);
    used
}

fn memory(shared: &Shared, out: &mut String) {
    out.push_str("# Memory\r\n");
    let used = used_memory();
    let rss = rss_bytes();
    let alloc = crate::alloc::stats().unwrap_or(crate::alloc::Stats {
        allocated: used,
        active: used,
        resident: rss,
    });
    let peak = PEAK.load(Ordering::Relaxed).max(used);
    let startup = STARTUP.get().copied().unwrap_or(0);
    let st = &shared.storage();
    let memtables = st.property_int("meta", "rocksdb.cur-size-all-mem-tables")
        + st.property_int("sub", "rocksdb.cur-size-all-mem-tables");
    let block_cache = st.property_int("meta", "rocksdb.block-cache-usage");
    let table_readers = st.property_int("meta", "rocksdb.estimate-table-readers-mem")
        + st.property_int("sub", "rocksdb.estimate-table-readers-mem");
    // The engine's memory is the dataset's share; everything else is overhead.
    let dataset = memtables + block_cache + table_readers;
    let overhead = used.saturating_sub(dataset);
    let clients_normal: u64 = shared
        .clients
        .all()
        .iter()
        .map(|c| c.query_buf.load(Ordering::Relaxed) + c.pending_push.load(Ordering::Relaxed))
        .sum();
    let (maxmemory, policy) = shared.with_config(|c| {
        (
            c.get_u64("maxmemory"),
            c.get("maxmemory-policy").to_string(),
        )
    });
    let sys = total_system_memory();
    let pct = |a: u64, b: u64| format!("{:.2}%", a as f64 * 100.0 / b.max(1) as f64);
    let ratio = |a: u64, b: u64| format!("{:.2}", a as f64 / b.max(1) as f64);
    line(out, "used_memory", used);
    line(out, "used_memory_human", human(used));
    line(out, "used_memory_rss", rss);
    line(out, "used_memory_rss_human", human(rss));
    line(out, "used_memory_peak", peak);
    line(out, "used_memory_peak_human", human(peak));
    line(out, "used_memory_peak_perc", pct(used, peak));
    line(out, "used_memory_overhead", overhead);
    line(out, "used_memory_startup", startup);
    line(out, "used_memory_dataset", dataset);
    line(
        out,
        "used_memory_dataset_perc",
        // The engine's memory partly predates start-up's mark: at most all of it.
        pct(
            dataset.min(used.saturating_sub(startup)),
            used.saturating_sub(startup),
        ),
    );
    line(out, "allocator_allocated", alloc.allocated);
    line(out, "allocator_active", alloc.active);
    line(out, "allocator_resident", alloc.resident);
    line(out, "total_system_memory", sys);
    line(out, "total_system_memory_human", human(sys));
    // The Lua interpreter and the script cache (as of the last script run or load).
    let sc = &shared.scripts;
    let lua = sc.lua_memory.load(Ordering::Relaxed);
    let cached_bytes = sc.cached_bytes.load(Ordering::Relaxed);
    line(out, "used_memory_lua", lua);
    line(out, "used_memory_vm_eval", lua);
    line(out, "used_memory_lua_human", human(lua));
    line(out, "used_memory_scripts_eval", cached_bytes);
    line(
        out,
        "number_of_cached_scripts",
        sc.cached.load(Ordering::Relaxed),
    );
    line(
        out,
        "number_of_functions",
        sc.functions.load(Ordering::Relaxed),
    );
    line(
        out,
        "number_of_libraries",
        sc.libraries.load(Ordering::Relaxed),
    );
    line(out, "used_memory_vm_functions", 0);
    line(out, "used_memory_vm_total", lua);
    line(out, "used_memory_vm_total_human", human(lua));
    line(out, "used_memory_functions", 0);
    line(out, "used_memory_scripts", cached_bytes);
    line(out, "used_memory_scripts_human", human(cached_bytes));
    line(out, "maxmemory", maxmemory);
    line(out, "maxmemory_human", human(maxmemory));
    line(out, "maxmemory_policy", policy);
    // As Redis: fragmentation inside the allocator's pages, pages it keeps resident, and the
    // rest of the process's RSS (RocksDB's mmaps, stacks, the binary).
    for (name, a, b) in [
        ("allocator_frag", alloc.active, alloc.allocated),
        ("allocator_rss", alloc.resident, alloc.active),
        ("rss_overhead", rss, alloc.resident),
    ] {
        line(out, &format!("{name}_ratio"), ratio(a, b));
        line(out, &format!("{name}_bytes"), a as i64 - b as i64);
    }
    line(out, "mem_fragmentation_ratio", ratio(rss, used));
    line(out, "mem_fragmentation_bytes", rss as i64 - used as i64);
    line(out, "mem_not_counted_for_evict", 0);
    line(out, "mem_replication_backlog", 0);
    line(out, "mem_total_replication_buffers", 0);
    line(out, "mem_clients_slaves", 0);
    line(out, "mem_clients_normal", clients_normal);
    line(out, "mem_cluster_links", 0);
    line(out, "mem_aof_buffer", 0);
    line(out, "mem_allocator", crate::alloc::name());
    line(out, "active_defrag_running", 0);
    line(out, "lazyfree_pending_objects", 0);
    line(out, "lazyfreed_objects", 0);
    // Strata: the engine's share.
    line(out, "rocksdb_memtables_bytes", memtables);
    line(out, "rocksdb_block_cache_usage", block_cache);
    line(out, "rocksdb_table_readers_bytes", table_readers);
}

fn persistence(shared: &Shared, out: &mut String) {
    out.push_str("# Persistence\r\n");
    let fsync = shared.storage().durability().name();
    line(out, "loading", 0);
    line(out, "async_loading", 0);
    for f in [
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
        "current_save_keys_processed",
        "current_save_keys_total",
    ] {
        line(out, f, 0);
    }
    line(out, "current_fork_perc", "0.00");
    line(
        out,
        "rdb_changes_since_last_save",
        shared.stats.dirty.load(Ordering::Relaxed),
    );
    line(out, "rdb_bgsave_in_progress", 0);
    line(
        out,
        "rdb_last_save_time",
        shared.last_save.load(Ordering::Relaxed),
    );
    line(out, "rdb_last_bgsave_status", "ok");
    line(out, "rdb_last_bgsave_time_sec", -1);
    line(out, "rdb_current_bgsave_time_sec", -1);
    line(out, "rdb_saves", shared.stats.saves.load(Ordering::Relaxed));
    line(out, "rdb_last_cow_size", 0);
    line(out, "rdb_last_load_keys_expired", 0);
    line(out, "rdb_last_load_keys_loaded", 0);
    line(out, "aof_enabled", shared.binlog.get().is_some() as u8);
    line(out, "aof_rewrite_in_progress", 0);
    line(out, "aof_rewrite_scheduled", 0);
    line(out, "aof_last_rewrite_time_sec", -1);
    line(out, "aof_current_rewrite_time_sec", -1);
    line(out, "aof_last_bgrewrite_status", "ok");
    line(out, "aof_rewrites", 0);
    line(out, "aof_rewrites_consecutive_failures", 0);
    let write_ok = shared.storage().io_failed().is_none() && !shared.guard.full();
    line(
        out,
        "aof_last_write_status",
        if write_ok { "ok" } else { "err" },
    );
    line(out, "aof_last_cow_size", 0);
    line(out, "module_fork_in_progress", 0);
    line(out, "module_fork_last_cow_size", 0);
    line(out, "appendfsync", fsync);
    let syncs = shared.syncer.syncs.load(Ordering::Relaxed);
    line(out, "group_commit_fsyncs", syncs);
    line(
        out,
        "group_commit_fsync_avg_us",
        shared.syncer.sync_us.load(Ordering::Relaxed) / syncs.max(1),
    );
    line(out, "storage_engine", "rocksdb");
    line(out, "storage_dir", shared.storage().path().display());
    line(out, "storage_disk_bytes", shared.storage().disk_usage());
}

/// `# Storage`: the storage-full state and what it is measured from.
fn storage_section(shared: &Shared, out: &mut String) {
    out.push_str("# Storage\r\n");
    let g = &shared.guard;
    let (max, min_free) =
        shared.with_config(|c| (c.get_u64("max-db-size"), c.get_u64("min-free-disk")));
    line(out, "storage_state", if g.full() { "full" } else { "ok" });
    line(out, "storage_full_reason", g.reason().name());
    if let Some(e) = shared.storage().io_failed() {
        line(out, "storage_io_error", e.replace(['\r', '\n'], " "));
    }
    line(out, "storage_used_bytes", g.used_bytes());
    line(
        out,
        "storage_sst_bytes",
        g.sst_bytes.load(Ordering::Relaxed),
    );
    line(
        out,
        "storage_binlog_bytes",
        g.binlog_bytes.load(Ordering::Relaxed),
    );
    line(
        out,
        "storage_snapshot_bytes",
        g.snapshot_bytes.load(Ordering::Relaxed),
    );
    line(out, "max_db_size", max);
    line(
        out,
        "storage_free_bytes",
        g.free_bytes.load(Ordering::Relaxed),
    );
    line(out, "min_free_disk", min_free);
    line(
        out,
        "storage_writes_refused",
        g.refused.load(Ordering::Relaxed),
    );
    let st = &shared.stalls;
    line(out, "rocksdb_write_stall", st.current().name());
    line(
        out,
        "rocksdb_write_stalls",
        st.count.load(Ordering::Relaxed),
    );
    line(
        out,
        "rocksdb_write_stall_ms",
        st.total_ms.load(Ordering::Relaxed),
    );
    line(
        out,
        "storage_ballast",
        if g.ballast_released.load(Ordering::Relaxed) {
            "released"
        } else {
            "present"
        },
    );
}

/// `# Binlog`: offsets, segments, bytes, the applied and synced offsets, and every lease.
fn binlog(shared: &Shared, out: &mut String) {
    out.push_str("# Binlog\r\n");
    let Some(log) = shared.binlog.get() else {
        line(out, "binlog_enabled", 0);
        return;
    };
    let (st, leases) = {
        let mut b = log.lock();
        (b.status(), b.leases())
    };
    line(out, "binlog_enabled", 1);
    line(out, "binlog_dir", log.dir().display());
    line(out, "binlog_first_offset", st.first_offset);
    line(out, "binlog_last_offset", st.next_offset.saturating_sub(1));
    line(
        out,
        "binlog_applied_offset",
        shared.storage().applied_offset(),
    );
    line(
        out,
        "binlog_synced_offset",
        log.synced.load(Ordering::Relaxed),
    );
    line(out, "binlog_segments", st.segments);
    line(out, "binlog_bytes", st.bytes);
    line(out, "binlog_leases", leases.len());
    let now = Instant::now();
    for l in leases {
        line(
            out,
            &format!("lease{}", l.id),
            format!(
                "owner={},offset={},expires_in_ms={}",
                l.owner.replace([',', '\r', '\n'], "_"),
                l.offset,
                l.expires.saturating_duration_since(now).as_millis()
            ),
        );
    }
}

fn stats(shared: &Shared, out: &mut String) {
    out.push_str("# Stats\r\n");
    let s = &shared.stats;
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let kbps = |c: &std::sync::atomic::AtomicU64| format!("{:.2}", g(c) as f64 / 100.0);
    let r = &shared.repl;
    line(
        out,
        "total_connections_received",
        g(&s.connections_received),
    );
    line(out, "total_commands_processed", g(&s.commands_processed));
    line(out, "instantaneous_ops_per_sec", g(&s.ops_per_sec));
    line(out, "total_net_input_bytes", g(&s.net_input_bytes));
    line(out, "total_net_output_bytes", g(&s.net_output_bytes));
    line(out, "total_net_repl_input_bytes", 0);
    line(out, "total_net_repl_output_bytes", 0);
    line(out, "instantaneous_input_kbps", kbps(&s.input_kbps_x100));
    line(out, "instantaneous_output_kbps", kbps(&s.output_kbps_x100));
    line(out, "instantaneous_input_repl_kbps", "0.00");
    line(out, "instantaneous_output_repl_kbps", "0.00");
    line(out, "rejected_connections", g(&s.rejected_connections));
    line(out, "sync_full", g(&r.sync_full));
    line(out, "sync_partial_ok", g(&r.sync_partial_ok));
    line(out, "sync_partial_err", g(&r.sync_partial_err));
    line(out, "expired_keys", g(&s.expired_keys));
    line(out, "expired_stale_perc", "0.00");
    line(out, "expired_time_cap_reached_count", 0);
    line(out, "expire_cycle_cpu_milliseconds", 0);
    line(out, "evicted_keys", 0);
    line(out, "evicted_clients", 0);
    line(out, "total_eviction_exceeded_time", 0);
    line(out, "current_eviction_exceeded_time", 0);
    line(out, "keyspace_hits", g(&s.keyspace_hits));
    line(out, "keyspace_misses", g(&s.keyspace_misses));
    line(out, "pubsub_channels", shared.pubsub.num_channels());
    line(out, "pubsub_patterns", shared.pubsub.numpat());
    line(out, "pubsubshard_channels", 0);
    line(out, "latest_fork_usec", 0);
    line(out, "total_forks", 0);
    line(out, "migrate_cached_sockets", 0);
    line(out, "slave_expires_tracked_keys", 0);
    for f in [
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
        "unexpected_error_replies",
    ] {
        line(out, f, 0);
    }
    line(out, "tracking_total_keys", shared.tracking.keys());
    line(out, "tracking_total_items", shared.tracking.keys());
    line(out, "tracking_total_prefixes", shared.tracking.prefixes());
    line(out, "total_error_replies", g(&s.error_replies));
    line(out, "dump_payload_sanitizations", 0);
    line(out, "total_reads_processed", g(&s.commands_processed));
    line(out, "total_writes_processed", g(&s.commands_processed));
    line(out, "io_threaded_reads_processed", 0);
    line(out, "io_threaded_writes_processed", 0);
    line(out, "reply_buffer_shrinks", 0);
    line(out, "reply_buffer_expands", 0);
    // Strata: pipelined and concurrent scripts committed together (docs/scripting.md).
    let sc = &shared.scripts;
    line(out, "script_commits", g(&sc.commits));
    line(out, "script_commit_scripts", g(&sc.committed_scripts));
}

fn replication(shared: &Shared, out: &mut String) {
    use crate::replication as r;
    out.push_str("# Replication\r\n");
    let offset = r::last_offset(shared);
    let link = shared.repl.link();
    match &link {
        None => line(out, "role", "master"),
        Some(l) => {
            // Sentinel reads these after `role:` (docs/replication.md).
            line(out, "role", "slave");
            line(out, "master_host", &l.host);
            line(out, "master_port", l.port);
            line(
                out,
                "master_link_status",
                if l.up() { "up" } else { "down" },
            );
            line(
                out,
                "master_last_io_seconds_ago",
                r::lock(&l.last_io).elapsed().as_secs(),
            );
            let syncing = l.status.load(Ordering::Relaxed) == r::replica::SYNCING;
            line(out, "master_sync_in_progress", syncing as u8);
            if syncing {
                let total = l.sync_total.load(Ordering::Relaxed);
                let read = l.sync_read.load(Ordering::Relaxed);
                line(out, "master_sync_total_bytes", total);
                line(out, "master_sync_read_bytes", read);
                line(out, "master_sync_left_bytes", total.saturating_sub(read));
                line(
                    out,
                    "master_sync_perc",
                    format!("{:.2}", read as f64 * 100.0 / total.max(1) as f64),
                );
                line(
                    out,
                    "master_sync_last_io_seconds_ago",
                    r::lock(&l.last_io).elapsed().as_secs(),
                );
            }
            line(out, "slave_read_repl_offset", offset);
            line(out, "slave_repl_offset", offset);
            if let Some(d) = *r::lock(&l.down_since) {
                line(out, "master_link_down_since_seconds", d.elapsed().as_secs());
            }
            line(out, "slave_priority", r::priority(shared));
            line(
                out,
                "replica_apply_paused",
                if l.paused.load(Ordering::Relaxed) {
                    "storage-full"
                } else {
                    "no"
                },
            );
            line(
                out,
                "slave_read_only",
                shared.with_config(|c| c.get_bool("replica-read-only")) as u8,
            );
            line(out, "replica_announced", 1);
            line(
                out,
                "master_sync_full_syncs",
                l.full_syncs.load(Ordering::Relaxed),
            );
            line(
                out,
                "master_sync_fetched_bytes",
                l.fetched.load(Ordering::Relaxed),
            );
            line(
                out,
                "master_sync_corrupt_chunks",
                l.corrupt_chunks.load(Ordering::Relaxed),
            );
            let lag = l
                .master_offset
                .load(Ordering::Relaxed)
                .saturating_sub(offset);
            line(out, "master_link_lag_records", lag);
            // Time behind: how old the last record received is while some are not applied.
            let ts = l.last_record_ms.load(Ordering::Relaxed);
            line(
                out,
                "master_link_lag_ms",
                if lag == 0 || ts == 0 {
                    0
                } else {
                    storage::now_ms().saturating_sub(ts)
                },
            );
        }
    }
    let feeders: Vec<_> = r::lock(&shared.repl.replicas).clone();
    line(out, "connected_slaves", feeders.len());
    for (i, f) in feeders.iter().enumerate() {
        line(
            out,
            &format!("slave{i}"),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                f.ip,
                f.port,
                f.state_name(),
                f.acked.load(Ordering::Relaxed),
                f.lag_secs()
            ),
        );
    }
    line(
        out,
        "master_failover_state",
        shared.repl.failover.state_name(),
    );
    let h = shared.repl.history();
    line(out, "master_replid", &h.id);
    line(
        out,
        "master_replid2",
        if h.id2.is_empty() {
            "0000000000000000000000000000000000000000"
        } else {
            &h.id2
        },
    );
    line(out, "master_repl_offset", offset);
    line(out, "second_repl_offset", h.second_offset_info());
    let st = shared.binlog.get().map(|l| l.lock().status());
    line(out, "repl_backlog_active", st.is_some() as u8);
    if let Some(st) = st {
        line(out, "repl_backlog_size", st.bytes);
        line(out, "repl_backlog_first_byte_offset", st.first_offset);
        line(
            out,
            "repl_backlog_histlen",
            st.next_offset - st.first_offset,
        );
    }
}

fn cpu(out: &mut String) {
    out.push_str("# CPU\r\n");
    // utime, stime, cutime, cstime are fields 14-17 of /proc/<pid>/stat, in clock ticks
    // (100/s); the main thread's are in /proc/self/task/<pid>/stat.
    let ticks = |path: &str| -> Vec<f64> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_string();
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(
                    (11..15)
                        .map(|i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
                        .collect(),
                )
            })
            .unwrap_or_else(|| vec![0.0; 4])
    };
    let all = ticks("/proc/self/stat");
    let main = ticks(&format!("/proc/self/task/{}/stat", std::process::id()));
    let secs = |t: f64| format!("{:.6}", t / 100.0);
    line(out, "used_cpu_sys", secs(all[1]));
    line(out, "used_cpu_user", secs(all[0]));
    line(out, "used_cpu_sys_children", secs(all[3]));
    line(out, "used_cpu_user_children", secs(all[2]));
    line(out, "used_cpu_sys_main_thread", secs(main[1]));
    line(out, "used_cpu_user_main_thread", secs(main[0]));
}

fn commandstats(shared: &Shared, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    for (name, st) in shared.named_stats() {
        let calls = st.calls.load(Ordering::Relaxed);
        let rejected = st.rejected.load(Ordering::Relaxed);
        let failed = st.failed.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let usec = st.usec.load(Ordering::Relaxed);
        let per = if calls > 0 {
            usec as f64 / calls as f64
        } else {
            0.0
        };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
        );
    }
}

fn errorstats(shared: &Shared, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    for (prefix, count) in shared.errorstats.snapshot() {
        let _ = write!(out, "errorstat_{prefix}:count={count}\r\n");
    }
}

/// The percentiles of `latency-tracking-info-percentiles` (Redis's default 50 99 99.9).
fn tracked_percentiles(shared: &Shared) -> Vec<f64> {
    let text = shared.with_config(|c| c.get("latency-tracking-info-percentiles").to_string());
    text.split_whitespace()
        .filter_map(|p| p.parse::<f64>().ok())
        .filter(|p| *p > 0.0 && *p <= 100.0)
        .collect()
}

/// A percentile's name as Redis prints it (`p50`, `p99.9`).
fn percentile_name(p: f64) -> String {
    let s = format!("{p:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("p{s}")
}

fn latencystats(shared: &Shared, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    let ps = tracked_percentiles(shared);
    if ps.is_empty() {
        return;
    }
    for (name, st) in shared.named_stats() {
        let Some(values) = st.hist.percentiles(&ps) else {
            continue;
        };
        let fields: Vec<String> = ps
            .iter()
            .zip(values)
            .map(|(p, ns)| format!("{}={:.3}", percentile_name(*p), ns as f64 / 1000.0))
            .collect();
        let _ = write!(
            out,
            "latency_percentiles_usec_{name}:{}\r\n",
            fields.join(",")
        );
    }
}

/// Key counts per database. Counting is O(N): a count that took under 5 ms is simply redone
/// (small databases are always exact); a longer one is cached and refreshed when older than
/// 5 s or 50× the time it took, whichever is longer.
/// `# Keyspace` of a namespace client: its own databases only.
fn namespace_keyspace(shared: &Shared, out: &mut String, base: u32) {
    out.push_str("# Keyspace\r\n");
    for db in 0..shared.databases() {
        let engine = shared.storage();
        let cx = storage::WriteCx::new();
        let view = engine.db(&cx);
        if let Ok((keys, expires)) = view.dbsize(view.physical(base + db)) {
            if keys > 0 {
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
    }
}

fn keyspace(shared: &Shared, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let mut cache = match shared.keyspace_cache.lock() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    };
    let stale = cache.took_ms < 5
        || cache
            .at
            .is_none_or(|at| at.elapsed().as_millis() as u64 > (cache.took_ms * 50).max(5000));
    if stale {
        let t = Instant::now();
        let mut counts = Vec::new();
        let engine = shared.storage();
        let cx = storage::WriteCx::new();
        let view = engine.db(&cx);
        for ks in 0..shared.databases() {
            if let Ok((keys, expires)) = view.dbsize(ks) {
                if keys > 0 {
                    counts.push((ks, keys, expires));
                }
            }
        }
        cache.counts = counts;
        cache.took_ms = t.elapsed().as_millis() as u64;
        cache.at = Some(Instant::now());
    }
    let storage = shared.storage();
    for db in 0..shared.databases() {
        let ks = storage.committed_physical(db);
        if let Some((_, keys, expires)) = cache.counts.iter().find(|c| c.0 == ks) {
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}
