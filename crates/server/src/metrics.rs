//! The built-in Prometheus endpoint: `GET /metrics` on `metrics-port` (0, the default: off),
//! bound to `metrics-bind` (loopback by default). Nothing runs unless it is scraped: each
//! scrape reads INFO's sections and the engine's properties once and encodes them with
//! `prometheus-client` (OpenMetrics text).
//!
//! Redis's numbers carry the names `redis_exporter` gives them (`redis_up`,
//! `redis_connected_clients`, `redis_commands_total{cmd}`, `redis_db_keys{db}`, ...), so
//! dashboards made for it work; Strata's own are `strata_*` (binlog, storage-full state and
//! reason, free disk, RocksDB memtables/SSTs/pending compaction/stalls, replica link and
//! transfer progress, namespaces).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::shared::Shared;

type Labels = Vec<(String, String)>;

/// INFO's fields by section (`section` lower-case, `field` as printed).
fn info_fields(shared: &Shared) -> HashMap<String, HashMap<String, String>> {
    let text = crate::info::render(shared, &["everything".to_string()], 0);
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.entry(section.clone())
                .or_default()
                .insert(k.to_string(), v.trim().to_string());
        }
    }
    out
}

/// `a=1,b=2` (keyspace lines, commandstats, replica lines).
fn pairs(v: &str) -> HashMap<&str, &str> {
    v.split(',').filter_map(|p| p.split_once('=')).collect()
}

struct Builder {
    reg: Registry,
}

impl Builder {
    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(v);
        self.reg.register(name, help, g);
    }

    fn counter(&mut self, name: &str, help: &str, v: f64) {
        let c = Counter::<f64, AtomicU64>::default();
        c.inc_by(v);
        self.reg.register(name, help, c);
    }

    fn gauges(&mut self, name: &str, help: &str, items: Vec<(Labels, f64)>) {
        let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (l, v) in items {
            f.get_or_create(&l).set(v);
        }
        self.reg.register(name, help, f);
    }

    fn counters(&mut self, name: &str, help: &str, items: Vec<(Labels, f64)>) {
        let f = Family::<Labels, Counter<f64, AtomicU64>>::default();
        for (l, v) in items {
            f.get_or_create(&l).inc_by(v);
        }
        self.reg.register(name, help, f);
    }
}

fn num(v: Option<&String>) -> Option<f64> {
    v.and_then(|s| s.parse::<f64>().ok())
}

/// Redis's INFO fields under the names `redis_exporter` gives them: (section, field, metric,
/// counter?).
const REDIS_FIELDS: &[(&str, &str, &str, bool)] = &[
    (
        "server",
        "uptime_in_seconds",
        "redis_uptime_in_seconds",
        false,
    ),
    (
        "clients",
        "connected_clients",
        "redis_connected_clients",
        false,
    ),
    ("clients", "blocked_clients", "redis_blocked_clients", false),
    ("memory", "used_memory", "redis_memory_used_bytes", false),
    (
        "memory",
        "used_memory_rss",
        "redis_memory_used_rss_bytes",
        false,
    ),
    ("memory", "maxmemory", "redis_memory_max_bytes", false),
    (
        "stats",
        "total_connections_received",
        "redis_connections_received",
        true,
    ),
    (
        "stats",
        "total_commands_processed",
        "redis_commands_processed",
        true,
    ),
    (
        "stats",
        "rejected_connections",
        "redis_rejected_connections",
        true,
    ),
    ("stats", "expired_keys", "redis_expired_keys", true),
    ("stats", "evicted_keys", "redis_evicted_keys", true),
    ("stats", "keyspace_hits", "redis_keyspace_hits", true),
    ("stats", "keyspace_misses", "redis_keyspace_misses", true),
    (
        "stats",
        "total_net_input_bytes",
        "redis_net_input_bytes",
        true,
    ),
    (
        "stats",
        "total_net_output_bytes",
        "redis_net_output_bytes",
        true,
    ),
    ("stats", "pubsub_channels", "redis_pubsub_channels", false),
    ("stats", "pubsub_patterns", "redis_pubsub_patterns", false),
    (
        "replication",
        "connected_slaves",
        "redis_connected_slaves",
        false,
    ),
    (
        "replication",
        "master_repl_offset",
        "redis_master_repl_offset",
        false,
    ),
    (
        "replication",
        "slave_repl_offset",
        "redis_slave_repl_offset",
        false,
    ),
];

/// Each lease of INFO's binlog section (`leaseN:owner=..,offset=..,expires_in_ms=..`) with
/// how far its holder is behind `last`.
fn lease_lags(fields: &HashMap<String, String>, last: f64) -> Vec<(Labels, f64)> {
    let mut out: Vec<(Labels, f64)> = fields
        .iter()
        .filter(|(k, _)| k.starts_with("lease") && k[5..].chars().all(|c| c.is_ascii_digit()))
        .filter_map(|(k, v)| {
            let p = pairs(v);
            let offset: f64 = p.get("offset")?.parse().ok()?;
            let owner = p.get("owner").copied().unwrap_or("").to_string();
            Some((
                vec![
                    ("lease".to_string(), k[5..].to_string()),
                    ("owner".to_string(), owner),
                ],
                (last - offset).max(0.0),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One scrape's text.
pub fn render(shared: &Shared) -> String {
    let info = info_fields(shared);
    let get = |s: &str, f: &str| info.get(s).and_then(|m| m.get(f));
    let mut b = Builder {
        reg: Registry::default(),
    };
    b.gauge("redis_up", "Whether the server answers", 1.0);
    for (section, field, metric, counter) in REDIS_FIELDS {
        if let Some(v) = num(get(section, field)) {
            let help = format!("INFO {section} {field}");
            if *counter {
                b.counter(metric, &help, v);
            } else {
                b.gauge(metric, &help, v);
            }
        }
    }
    // Keyspace: dbN:keys=..,expires=..,avg_ttl=..
    let (mut keys, mut expiring) = (Vec::new(), Vec::new());
    if let Some(ks) = info.get("keyspace") {
        let mut dbs: Vec<(&String, &String)> = ks.iter().collect();
        dbs.sort();
        for (db, v) in dbs {
            let p = pairs(v);
            let l = vec![("db".to_string(), db.clone())];
            keys.push((
                l.clone(),
                p.get("keys").and_then(|x| x.parse().ok()).unwrap_or(0.0),
            ));
            expiring.push((
                l,
                p.get("expires").and_then(|x| x.parse().ok()).unwrap_or(0.0),
            ));
        }
    }
    b.gauges("redis_db_keys", "Keys per database", keys);
    b.gauges(
        "redis_db_keys_expiring",
        "Keys with an expiry per database",
        expiring,
    );
    // Commandstats: cmdstat_set:calls=..,usec=..,rejected_calls=..,failed_calls=..
    let (mut calls, mut usec) = (Vec::new(), Vec::new());
    if let Some(cs) = info.get("commandstats") {
        let mut names: Vec<(&String, &String)> = cs.iter().collect();
        names.sort();
        for (k, v) in names {
            let cmd = k.strip_prefix("cmdstat_").unwrap_or(k).to_string();
            let p = pairs(v);
            let l = vec![("cmd".to_string(), cmd)];
            calls.push((
                l.clone(),
                p.get("calls").and_then(|x| x.parse().ok()).unwrap_or(0.0),
            ));
            usec.push((
                l,
                p.get("usec")
                    .and_then(|x| x.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    / 1e6,
            ));
        }
    }
    b.counters("redis_commands", "Calls per command", calls);
    b.counters(
        "redis_commands_duration_seconds",
        "Time spent per command",
        usec,
    );
    // Errorstats: errorstat_ERR:count=..
    let mut errors = Vec::new();
    if let Some(es) = info.get("errorstats") {
        let mut names: Vec<(&String, &String)> = es.iter().collect();
        names.sort();
        for (k, v) in names {
            let err = k.strip_prefix("errorstat_").unwrap_or(k).to_string();
            let n = pairs(v)
                .get("count")
                .and_then(|x| x.parse().ok())
                .unwrap_or(0.0);
            errors.push((vec![("err".to_string(), err)], n));
        }
    }
    b.counters("redis_errors", "Error replies per prefix", errors);
    let role_master = get("replication", "role").is_some_and(|r| r == "master");
    b.gauge(
        "redis_instance_master",
        "1 on a master, 0 on a replica",
        if role_master { 1.0 } else { 0.0 },
    );

    // Strata's own: every number of INFO's Binlog and Storage sections.
    for section in ["binlog", "storage"] {
        if let Some(fields) = info.get(section) {
            let mut names: Vec<(&String, &String)> = fields.iter().collect();
            names.sort();
            for (k, v) in names {
                if let Ok(x) = v.parse::<f64>() {
                    let name = if k.starts_with(section) {
                        format!("strata_{k}")
                    } else {
                        format!("strata_{section}_{k}")
                    };
                    b.gauge(&name, &format!("INFO {section} {k}"), x);
                }
            }
        }
    }
    if let Some(fields) = info.get("binlog") {
        let last = num(fields.get("binlog_last_offset")).unwrap_or(0.0);
        b.gauges(
            "strata_binlog_lease_lag_records",
            "Records between a lease's position and the binlog's end (what its holder still has to read)",
            lease_lags(fields, last),
        );
    }
    b.gauge(
        "strata_storage_ballast_present",
        "1 while the ballast file (released to make room when the disk fills) is in place",
        if get("storage", "storage_ballast").is_some_and(|s| s == "present") {
            1.0
        } else {
            0.0
        },
    );
    let full = get("storage", "storage_state").is_some_and(|s| s != "ok");
    let reason = get("storage", "storage_full_reason")
        .cloned()
        .unwrap_or_else(|| "none".into());
    b.gauges(
        "strata_storage_full",
        "1 while writes are refused for lack of space (reason as a label)",
        vec![(
            vec![("reason".to_string(), reason)],
            if full { 1.0 } else { 0.0 },
        )],
    );
    // The engine, per column family.
    let engine = shared.storage();
    let per_cf = |prop: &str| -> Vec<(Labels, f64)> {
        storage::ALL_CF_NAMES
            .iter()
            .map(|cf| {
                (
                    vec![("cf".to_string(), cf.to_string())],
                    engine.property_int(cf, prop) as f64,
                )
            })
            .collect()
    };
    b.gauges(
        "strata_rocksdb_memtable_bytes",
        "Bytes in memtables",
        per_cf("rocksdb.cur-size-all-mem-tables"),
    );
    b.gauges(
        "strata_rocksdb_sst_bytes",
        "Bytes of SST files",
        per_cf("rocksdb.total-sst-files-size"),
    );
    b.gauges(
        "strata_rocksdb_pending_compaction_bytes",
        "Estimated bytes compaction still has to rewrite",
        per_cf("rocksdb.estimate-pending-compaction-bytes"),
    );
    b.gauges(
        "strata_rocksdb_l0_files",
        "SST files in level 0",
        per_cf("rocksdb.num-files-at-level0"),
    );
    b.gauge(
        "strata_rocksdb_write_stopped",
        "1 while RocksDB stops writes (too many L0 files, pending compaction, memtables)",
        engine.property_int(storage::ALL_CF_NAMES[0], "rocksdb.is-write-stopped") as f64,
    );
    b.gauge(
        "strata_rocksdb_delayed_write_rate",
        "Bytes per second RocksDB slows writes to (0: no stall)",
        engine.property_int(
            storage::ALL_CF_NAMES[0],
            "rocksdb.actual-delayed-write-rate",
        ) as f64,
    );
    let stall = shared.stalls.current();
    b.gauges(
        "strata_rocksdb_write_stall",
        "1 for the stall in progress (delayed or stopped), 0 with kind=\"none\"",
        vec![(
            vec![("kind".to_string(), stall.name().to_string())],
            if stall == crate::diskguard::Stall::None {
                0.0
            } else {
                1.0
            },
        )],
    );
    let (hits, misses) = engine.block_cache_hits();
    b.counter(
        "strata_rocksdb_block_cache_hits",
        "Block cache hits",
        hits as f64,
    );
    b.counter(
        "strata_rocksdb_block_cache_misses",
        "Block cache misses (hit ratio: hits / (hits + misses))",
        misses as f64,
    );
    b.gauge(
        "strata_rocksdb_block_cache_bytes",
        "Bytes in the block cache",
        engine.property_int(storage::ALL_CF_NAMES[0], "rocksdb.block-cache-usage") as f64,
    );
    // Replication: the replica's link, a transfer's progress.
    if !role_master {
        let up = get("replication", "master_link_status").is_some_and(|s| s == "up");
        b.gauge(
            "strata_replica_link_up",
            "1 while the replica's link to its master is up",
            if up { 1.0 } else { 0.0 },
        );
    }
    for (field, metric, help) in [
        (
            "master_sync_total_bytes",
            "strata_transfer_total_bytes",
            "Bytes of the full sync being transferred",
        ),
        (
            "master_sync_read_bytes",
            "strata_transfer_done_bytes",
            "Bytes of the full sync transferred so far",
        ),
    ] {
        if let Some(v) = num(get("replication", field)) {
            b.gauge(metric, help, v);
        }
    }
    b.reg.register(
        "strata_fsync_duration_seconds",
        "Write-ahead log fsyncs (group commits, everysec's)",
        shared.syncer.latency.clone(),
    );
    if let Some(v) = num(get("stats", "sync_full")) {
        b.counter("strata_full_syncs", "Full syncs served", v);
    }
    b.gauge(
        "strata_shutdown_stage",
        "0 while serving; 1-5: the shutdown stage in progress; 6: shut down",
        crate::server::shutdown_stage() as f64,
    );
    b.gauge(
        "strata_namespaces",
        "Namespaces (besides the default one)",
        shared.namespaces.count() as f64,
    );
    b.gauges(
        "strata_namespace_keys",
        "Keys per namespace (all its databases; counted at most every 5 s)",
        shared
            .namespace_keys
            .counts(shared)
            .into_iter()
            .map(|(name, keys)| (vec![("namespace".to_string(), name)], keys as f64))
            .collect(),
    );
    let mut out = String::new();
    if encode(&mut out, &b.reg).is_err() {
        return "# encoding failed\n".to_string();
    }
    out
}

/// Serves `/metrics` until the process ends (through the shutdown's stages, which it
/// reports). Requests are bounded (8 KB, 5 s); anything else is 404.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept().await;
        let Ok((mut stream, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while len < buf.len() {
                    match stream.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            len += n;
                            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let request = String::from_utf8_lossy(&buf[..len]);
            let ok = request.starts_with("GET /metrics ") || request.starts_with("GET /metrics?");
            let response = if ok {
                let body = render(&shared);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lags_come_from_the_binlog_section() {
        let mut f = HashMap::new();
        f.insert("binlog_leases".to_string(), "2".to_string());
        f.insert(
            "lease3".to_string(),
            "owner=replica 127.0.0.1:7001,offset=90,expires_in_ms=5000".to_string(),
        );
        f.insert(
            "lease7".to_string(),
            "owner=strata-sync,offset=120,expires_in_ms=100".to_string(),
        );
        let lags = lease_lags(&f, 100.0);
        assert_eq!(lags.len(), 2);
        assert_eq!(lags[0].1, 10.0);
        assert_eq!(lags[0].0[1].1, "replica 127.0.0.1:7001");
        assert_eq!(lags[1].1, 0.0);
    }
}
