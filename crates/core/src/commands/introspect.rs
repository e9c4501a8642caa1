//! Introspection: SLOWLOG, LATENCY, MEMORY — and what every call feeds them
//! ([`after_call`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use resp::Frame;

use super::{eq_ic, flags, parse_int, storage_error, CommandSpec, Ctx, Session};
use crate::shared::Shared;

/// After every call: the SLOWLOG (`slowlog-log-slower-than`) and the latency monitor
/// (`latency-monitor-threshold`, events `command` and `fast-command`).
pub fn after_call(
    shared: &Shared,
    session: &Session,
    spec: &CommandSpec,
    args: &[Bytes],
    elapsed: Duration,
) {
    let h = &shared.hot;
    let usec = elapsed.as_micros() as u64;
    let slower = h.slowlog_slower_than.load(Ordering::Relaxed);
    if slower >= 0 && usec >= slower as u64 && spec.flags & flags::SKIP_SLOWLOG == 0 {
        let name = session
            .client
            .name
            .lock()
            .map(|n| n.clone().unwrap_or_default())
            .unwrap_or_default();
        shared.slowlog.push(
            usec,
            &redacted(spec, args),
            session.client.addr.to_string(),
            name,
            h.slowlog_max_len.load(Ordering::Relaxed) as usize,
        );
    }
    let threshold = h.latency_threshold_ms.load(Ordering::Relaxed);
    let ms = usec / 1000;
    if threshold > 0 && ms >= threshold {
        let event = if spec.flags & flags::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        shared.latency_monitor.add(event, ms);
    }
}

/// Arguments as the SLOWLOG keeps them: passwords replaced by `(redacted)`, as in Redis.
fn redacted(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    let secret = Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    match spec.name {
        "auth" => out.iter_mut().skip(1).for_each(|a| *a = secret.clone()),
        "hello" => {
            if let Some(i) = out.iter().position(|a| eq_ic(a, "auth")) {
                for a in out.iter_mut().skip(i + 1).take(2) {
                    *a = secret.clone();
                }
            }
        }
        "config" if out.len() > 3 && eq_ic(&out[1], "set") => {
            let secrets = ["requirepass", "masterauth"];
            for pair in out[2..].chunks_mut(2) {
                if pair.len() == 2 && secrets.iter().any(|s| eq_ic(&pair[0], s)) {
                    pair[1] = secret.clone();
                }
            }
        }
        _ => {}
    }
    out
}

fn help(lines: &[&str]) -> Frame {
    Frame::Array(lines.iter().map(|s| Frame::Simple(s.to_string())).collect())
}

fn unknown_sub(args: &[Bytes], container: &str) -> Frame {
    Frame::Error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

/// SLOWLOG GET [count] | LEN | RESET | HELP.
pub fn slowlog(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let log = &ctx.shared.slowlog;
    match (sub.as_str(), args.len()) {
        ("help", 2) => help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ]),
        ("reset", 2) => {
            log.reset();
            Frame::ok()
        }
        ("len", 2) => Frame::Integer(log.len() as i64),
        ("get", 2 | 3) => {
            let count = match args.get(2).map(|a| parse_int(a)) {
                None => 10,
                Some(Ok(-1)) => usize::MAX,
                Some(Ok(n)) if n >= 0 => n as usize,
                _ => return Frame::error("ERR count should be greater than or equal to -1"),
            };
            Frame::Array(
                log.get(count)
                    .into_iter()
                    .map(|e| {
                        Frame::Array(vec![
                            Frame::Integer(e.id as i64),
                            Frame::Integer(e.at_secs as i64),
                            Frame::Integer(e.usec as i64),
                            Frame::Array(e.args.into_iter().map(Frame::Bulk).collect()),
                            Frame::bulk(e.addr),
                            Frame::Bulk(e.name),
                        ])
                    })
                    .collect(),
            )
        }
        _ => unknown_sub(args, "SLOWLOG"),
    }
}

/// LATENCY LATEST | HISTORY event | RESET [event ...] | HISTOGRAM [command ...] | DOCTOR |
/// GRAPH event | HELP.
pub fn latency(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let mon = &shared.latency_monitor;
    match (sub.as_str(), args.len()) {
        ("help", 2) => help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]),
        ("latest", 2) => Frame::Array(
            mon.snapshot()
                .into_iter()
                .filter_map(|(name, e)| {
                    let (at, ms) = *e.samples.back()?;
                    Some(Frame::Array(vec![
                        Frame::bulk(name),
                        Frame::Integer(at as i64),
                        Frame::Integer(ms as i64),
                        Frame::Integer(e.max as i64),
                    ]))
                })
                .collect(),
        ),
        ("history", 3) => {
            let want = String::from_utf8_lossy(&args[2]).into_owned();
            let series = mon.snapshot().into_iter().find(|(n, _)| *n == want);
            Frame::Array(
                series
                    .map(|(_, e)| {
                        e.samples
                            .iter()
                            .map(|(at, ms)| {
                                Frame::Array(vec![
                                    Frame::Integer(*at as i64),
                                    Frame::Integer(*ms as i64),
                                ])
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        }
        ("reset", _) => {
            let names: Vec<String> = args[2..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Frame::Integer(mon.reset(&names) as i64)
        }
        ("histogram", _) => {
            // Commands and `container|sub` names, as Redis names them.
            let wanted: Vec<String> = args[2..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
                .collect();
            let mut out = Vec::new();
            for (name, st) in shared.named_stats() {
                if !wanted.is_empty() && !wanted.contains(&name) {
                    continue;
                }
                let (calls, buckets) = st.hist.power_of_two_buckets();
                if calls == 0 {
                    continue;
                }
                out.push((
                    Frame::bulk(name),
                    Frame::Map(vec![
                        (Frame::bulk_str("calls"), Frame::Integer(calls as i64)),
                        (
                            Frame::bulk_str("histogram_usec"),
                            Frame::Map(
                                buckets
                                    .into_iter()
                                    .map(|(b, c)| {
                                        (Frame::Integer(b as i64), Frame::Integer(c as i64))
                                    })
                                    .collect(),
                            ),
                        ),
                    ]),
                ));
            }
            Frame::Map(out)
        }
        ("doctor", 2) => Frame::Verbatim(Bytes::from(doctor(shared))),
        ("graph", 3) => {
            let want = String::from_utf8_lossy(&args[2]).into_owned();
            match mon.snapshot().into_iter().find(|(n, _)| *n == want) {
                Some((name, e)) => Frame::Verbatim(Bytes::from(graph(&name, &e))),
                None => Frame::Error(format!(
                    "ERR No samples available for event '{want}'"
                )),
            }
        }
        _ => unknown_sub(args, "LATENCY"),
    }
}

fn doctor(shared: &Shared) -> String {
    let events = shared.latency_monitor.snapshot();
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let threshold = shared.hot.latency_threshold_ms.load(Ordering::Relaxed);
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    for (i, (name, e)) in events.iter().enumerate() {
        let n = e.samples.len().max(1) as u64;
        let avg = e.samples.iter().map(|(_, ms)| ms).sum::<u64>() / n;
        let first = e.samples.front().map(|s| s.0).unwrap_or(0);
        let now = storage::now_ms() / 1000;
        out.push_str(&format!(
            "{}. {name}: {} latency spikes (average {avg}ms, mean deviation 0ms, period {} sec). Worst all time event {}ms.\n",
            i + 1,
            e.samples.len(),
            now.saturating_sub(first) / n,
            e.max
        ));
    }
    out.push_str(&format!(
        "\nI have a few advices for you:\n\n- Check your system: commands slower than the latency-monitor-threshold ({threshold} ms) were seen. SLOWLOG GET lists the slowest commands and their arguments. On a disk store, slow commands usually mean large collections read whole (HGETALL, SMEMBERS, LRANGE 0 -1, ZRANGE 0 -1): page them with the SCAN family, or a disk that cannot keep up (see INFO storage and INFO persistence).\n"
    ));
    out
}

/// An ASCII graph of an event's samples (oldest left), 10 rows high.
fn graph(name: &str, e: &crate::latency::EventSeries) -> String {
    let max = e
        .samples
        .iter()
        .map(|(_, ms)| *ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = format!(
        "{name} - high {max} ms, low {} ms (all time high {} ms)\n",
        e.samples.iter().map(|(_, ms)| *ms).min().unwrap_or(0),
        e.max
    );
    out.push_str(&"-".repeat(80));
    out.push('\n');
    for row in (1..=10u64).rev() {
        let line: String = e
            .samples
            .iter()
            .map(|(_, ms)| if ms * 10 >= row * max { '#' } else { ' ' })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// MEMORY USAGE key [SAMPLES n] | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP.
pub fn memory(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]),
        ("usage", n) if n >= 3 => {
            let mut samples = 5usize;
            let mut i = 3;
            while i < args.len() {
                if eq_ic(&args[i], "samples") && i + 1 < args.len() {
                    match parse_int(&args[i + 1]) {
                        Ok(v) if v >= 0 => samples = v as usize,
                        Ok(_) => return Frame::error("ERR value is out of range, must be positive"),
                        Err(f) => return f,
                    }
                    i += 2;
                } else {
                    return super::syntax_error();
                }
            }
            match ctx
                .db
                .memory_usage(ctx.session.db, &args[2], samples)
            {
                Ok(Some(n)) => Frame::Integer(n as i64),
                Ok(None) => Frame::Null,
                Err(e) => storage_error(e),
            }
        }
        ("stats", 2) => {
            let info = crate::info::render(shared, &["memory".to_string()], 0);
            let field = |name: &str| -> i64 {
                info.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
            };
            let int = |name: &str, v: i64| (Frame::bulk_str(name), Frame::Integer(v));
            let used = field("used_memory");
            let dataset = field("used_memory_dataset");
            let keys: u64 = (0..shared.databases())
                .filter_map(|db| ctx.db.dbsize(ctx.session.base() + db).ok())
                .map(|(k, _)| k)
                .sum();
            Frame::Map(vec![
                int("peak.allocated", field("used_memory_peak")),
                int("total.allocated", used),
                int("startup.allocated", field("used_memory_startup")),
                int("replication.backlog", 0),
                int("clients.slaves", 0),
                int("clients.normal", field("mem_clients_normal")),
                int("cluster.links", 0),
                int("aof.buffer", 0),
                int("lua.caches", 0),
                int("functions.caches", 0),
                int("overhead.total", field("used_memory_overhead")),
                int("keys.count", keys as i64),
                int(
                    "keys.bytes-per-key",
                    if keys > 0 { dataset / keys as i64 } else { 0 },
                ),
                int("dataset.bytes", dataset),
                (
                    Frame::bulk_str("dataset.percentage"),
                    Frame::Double(dataset as f64 * 100.0 / used.max(1) as f64),
                ),
                (
                    Frame::bulk_str("peak.percentage"),
                    Frame::Double(
                        used as f64 * 100.0 / field("used_memory_peak").max(1) as f64,
                    ),
                ),
                int("allocator.allocated", used),
                int("allocator.active", used),
                int("allocator.resident", field("used_memory_rss")),
                int("allocator-fragmentation.bytes", 0),
                int("rss-overhead.bytes", 0),
                int(
                    "fragmentation.bytes",
                    field("used_memory_rss") - used,
                ),
                int("rocksdb.memtables", field("rocksdb_memtables_bytes")),
                int("rocksdb.block-cache", field("rocksdb_block_cache_usage")),
            ])
        }
        ("doctor", 2) => Frame::Verbatim(Bytes::from_static(
            b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base. (Strata keeps its data in RocksDB: memory here is the engine's memtables and block cache plus connections; see INFO memory.)\n",
        )),
        ("malloc-stats", 2) => Frame::Verbatim(Bytes::from(crate::alloc::stats_report())),
        ("purge", 2) => Frame::ok(),
        _ => unknown_sub(args, "MEMORY"),
    }
}

/// The clients in MONITOR mode: every command that ran is sent to them as one line.
#[derive(Default)]
pub struct Monitors {
    list: std::sync::Mutex<Vec<(u64, std::sync::Arc<crate::pubsub::Mailbox>)>>,
    count: std::sync::atomic::AtomicUsize,
}

impl Monitors {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn add(&self, id: u64, mb: std::sync::Arc<crate::pubsub::Mailbox>) {
        let mut l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if !l.iter().any(|(i, _)| *i == id) {
            l.push((id, mb));
            self.count.store(l.len(), Ordering::Relaxed);
        }
    }

    pub fn remove(&self, id: u64) {
        let mut l = self.list.lock().unwrap_or_else(|p| p.into_inner());
        l.retain(|(i, _)| *i != id);
        self.count.store(l.len(), Ordering::Relaxed);
    }

    /// Feeds one command that ran (admin commands are never shown, as in Redis).
    pub fn feed(&self, shared: &Shared, session: &Session, spec: &CommandSpec, args: &[Bytes]) {
        if spec.flags & flags::ADMIN != 0 {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // A script's commands show `lua` where a client's show its address (as Redis).
        let from = if session.in_script {
            "lua".to_string()
        } else {
            session.client.addr.to_string()
        };
        let mut line = format!(
            "{}.{:06} [{} {}]",
            now.as_secs(),
            now.subsec_micros(),
            session.ldb - session.base(),
            from
        );
        for a in redacted(spec, args) {
            line.push(' ');
            line.push_str(&quote(&a));
        }
        let targets: Vec<_> = self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, mb)| mb.clone())
            .collect();
        for mb in targets {
            shared
                .pubsub
                .send_to(&mb, crate::pubsub::Message::monitor_line(line.clone()));
        }
    }
}

/// An argument as Redis's `sdscatrepr` shows it: quoted, with C escapes and `\xHH`.
fn quote(a: &[u8]) -> String {
    let mut s = String::with_capacity(a.len() + 2);
    s.push('"');
    for &b in a {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => s.push(b as char),
            b => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// MONITOR: this connection receives every command that runs from now on.
pub fn monitor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    if ctx.session.multi.is_some() || ctx.session.in_exec {
        return Frame::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    let client = ctx.session.client.clone();
    let mb = ctx
        .session
        .sub
        .get_or_insert_with(|| crate::pubsub::Subscriber::new(client))
        .mailbox
        .clone();
    ctx.shared.monitors.add(ctx.session.client.id, mb);
    ctx.session.monitoring = true;
    ctx.session
        .client
        .monitor
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Frame::ok()
}
