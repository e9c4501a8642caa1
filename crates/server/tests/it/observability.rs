//! Observability with the tools operators already run: Debian's
//! `prometheus-redis-exporter`, unmodified, pointed at Strata.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::replication::{replica_of, wait_caught_up};
use crate::util::{free_port, Reply, Server};

/// One sample of the Prometheus text exposition format.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (version 0.0.4): `# HELP` / `# TYPE` comments, then
/// `name{label="value",...} value [timestamp]` lines, label values with `\\`, `\"` and `\n`
/// escapes. A malformed line is an error naming it.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line}", n + 1);
        let name_end = line.find(['{', ' ']).ok_or_else(|| bad("no value"))?;
        let name = &line[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(bad("bad metric name"));
        }
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end = loop {
                // Skip separators, find `}` or a label name.
                while let Some(&(_, c)) = chars.peek() {
                    if c == ',' || c == ' ' {
                        chars.next();
                    } else {
                        break;
                    }
                }
                match chars.peek() {
                    Some(&(i, '}')) => break i,
                    None => return Err(bad("unterminated labels")),
                    _ => {}
                }
                let mut key = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(bad("label value not quoted"));
                }
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(e @ ('\\' | '"')) => value.push(e),
                            _ => return Err(bad("bad escape")),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(bad("unterminated label value"));
                }
                labels.insert(key, value);
            };
            rest = &body[end + 1..];
        }
        let mut fields = rest.split_whitespace();
        let raw = fields.next().ok_or_else(|| bad("no value"))?;
        let value = match raw {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| bad("value is not a number"))?,
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let at = body.find("\r\n\r\n")?;
    body[..at]
        .starts_with("HTTP/1.")
        .then(|| body[at + 4..].to_string())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The stock exporter against a Strata master with a replica: every number it reports is
/// Strata's, nothing fails to scrape.
#[test]
fn the_stock_prometheus_exporter_scrapes_strata_without_errors() {
    let master = Server::start(&[]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    for i in 0..25 {
        assert!(c.cmd(&["SET", &format!("k{i}"), "v"]).is_ok());
    }
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "in-db3", "x", "EX", "1000"]);
    c.cmd(&["SELECT", "0"]);
    // An error, for the error counters.
    assert!(c.cmd(&["INCR", "k1"]).is_error());
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    // A known slow log: PING logged under a 0 threshold, then a threshold nothing reaches
    // (a loaded machine must not add entries of its own).
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["PING"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "60000000"]);
    let slow = c.cmd(&["SLOWLOG", "LEN"]).int();
    assert!(slow >= 1, "PING was not logged");

    let port = free_port();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut exporter = Command::new("prometheus-redis-exporter")
        .args([
            "-redis.addr",
            &format!("redis://127.0.0.1:{}", master.port),
            "-web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log.reopen().expect("log")))
        .spawn()
        .expect("prometheus-redis-exporter (Debian's package; scripts/deps.sh installs it)");
    let t = Instant::now();
    let text = loop {
        if let Some(body) = http_get(port, "/metrics") {
            if body.contains("redis_up") {
                break body;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the exporter never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = exporter.kill();
    let _ = exporter.wait();
    let samples = parse_exposition(&text).expect("the exposition parses");
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    assert_eq!(v("redis_up", &[]), 1.0);
    assert!(v("redis_connected_clients", &[]) >= 1.0);
    let dbsize = c.cmd(&["DBSIZE"]).int() as f64;
    assert_eq!(v("redis_db_keys", &[("db", "db0")]), dbsize);
    assert_eq!(v("redis_db_keys", &[("db", "db3")]), 1.0);
    assert_eq!(v("redis_db_keys_expiring", &[("db", "db3")]), 1.0);
    assert!(v("redis_commands_total", &[("cmd", "set")]) >= 26.0);
    assert_eq!(v("redis_slowlog_length", &[]), slow as f64);
    assert_eq!(v("redis_errors_total", &[("err", "ERR")]), 1.0);
    // Replication: the replica is seen with its offset and lag.
    assert_eq!(v("redis_connected_slaves", &[]), 1.0);
    let offset =
        value(&samples, "redis_connected_slave_offset_bytes", &[]).expect("the replica's offset");
    assert!(offset > 0.0, "replica offset {offset}");
    assert!(value(&samples, "redis_connected_slave_lag_seconds", &[]).is_some());
    assert_eq!(v("redis_exporter_last_scrape_error", &[]), 0.0);
    assert!(v("redis_uptime_in_seconds", &[]) >= 0.0);
    let logged = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        !logged.contains("level=error") && !logged.contains("level=warn"),
        "exporter log:\n{logged}"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn the_exposition_parser_reads_the_format_and_refuses_garbage() {
    let text = "# HELP a doc\n# TYPE a gauge\na 1\nb{x=\"q\\\"uote\",y=\"n\\nl\"} 2.5 1700000000\nc{} +Inf\n";
    let s = parse_exposition(text).expect("parses");
    assert_eq!(s.len(), 3);
    assert_eq!(s[1].labels.get("x").map(String::as_str), Some("q\"uote"));
    assert_eq!(s[1].labels.get("y").map(String::as_str), Some("n\nl"));
    assert_eq!(s[2].value, f64::INFINITY);
    for bad in ["a", "a{x=1} 2", "a{x=\"1\" 2", "a x", "{x=\"1\"} 2"] {
        assert!(parse_exposition(bad).is_err(), "{bad}");
    }
}

/// Waits until `/metrics` shows `name` (with `labels`) at `want`.
fn wait_metric(port: u16, name: &str, labels: &[(&str, &str)], want: f64) -> Vec<Sample> {
    let t = Instant::now();
    loop {
        if let Some(body) = http_get(port, "/metrics") {
            let samples = parse_exposition(&body).expect("the exposition parses");
            if value(&samples, name, labels) == Some(want) {
                return samples;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{name}{labels:?} never became {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The built-in endpoint: off by default; on `metrics-port`, Redis's numbers under the
/// exporter's names and Strata's own, parsed as the text format; the storage-full gauge
/// follows the state in and out; other paths are 404.
#[test]
fn the_builtin_metrics_endpoint_reports_strata_and_follows_storage_full() {
    let port = free_port();
    let s = Server::start(&[
        "--metrics-port",
        &port.to_string(),
        "--appendfsync",
        "always",
    ]);
    let mut c = s.client();
    for i in 0..40 {
        assert!(c.cmd(&["SET", &format!("k{i}"), "some value"]).is_ok());
    }
    let samples = wait_metric(port, "redis_db_keys", &[("db", "db0")], 40.0);
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    assert_eq!(v("redis_up", &[]), 1.0);
    assert!(v("redis_connected_clients", &[]) >= 1.0);
    assert!(v("redis_commands_total", &[("cmd", "set")]) >= 40.0);
    assert!(v("strata_binlog_last_offset", &[]) >= 40.0);
    assert!(v("strata_binlog_segments", &[]) >= 1.0);
    assert!(v("strata_storage_free_bytes", &[]) > 0.0);
    assert!(value(&samples, "strata_rocksdb_memtable_bytes", &[("cf", "meta")]).is_some());
    assert_eq!(v("strata_storage_full", &[("reason", "none")]), 0.0);
    // With appendfsync always, every acknowledged write waited for an fsync: measured.
    assert!(v("strata_fsync_duration_seconds_count", &[]) >= 1.0);
    assert!(value(
        &samples,
        "strata_fsync_duration_seconds_bucket",
        &[("le", "+Inf")]
    )
    .is_some());
    assert_eq!(v("strata_shutdown_stage", &[]), 0.0);
    assert_eq!(v("strata_storage_ballast_present", &[]), 1.0);
    assert!(value(&samples, "strata_rocksdb_block_cache_hits_total", &[]).is_some());
    assert!(value(&samples, "strata_rocksdb_block_cache_misses_total", &[]).is_some());
    assert_eq!(v("strata_namespaces", &[]), 0.0);
    // Write stalls: none now, counted in INFO and here.
    assert_eq!(v("strata_rocksdb_write_stall", &[("kind", "none")]), 0.0);
    assert_eq!(v("strata_storage_rocksdb_write_stalls", &[]), 0.0);
    let info = c.cmd(&["INFO", "storage"]).text();
    assert!(info.contains("rocksdb_write_stall:none\r\n"), "{info}");
    // Into the storage-full state and out again.
    assert!(c.cmd(&["CONFIG", "SET", "max-db-size", "1"]).is_ok());
    wait_metric(
        port,
        "strata_storage_full",
        &[("reason", "max-db-size reached")],
        1.0,
    );
    assert!(c.cmd(&["CONFIG", "SET", "max-db-size", "0"]).is_ok());
    wait_metric(port, "strata_storage_full", &[("reason", "none")], 0.0);
    // Namespaces and their keys.
    assert!(c.cmd(&["CONFIG", "SET", "requirepass", "pw"]).is_ok());
    assert!(c.cmd(&["AUTH", "pw"]).is_ok());
    assert_eq!(
        c.cmd(&["NAMESPACE", "ADD", "team", "team-token"]),
        Reply::ok()
    );
    let mut t = s.client();
    assert!(t.cmd(&["AUTH", "team-token"]).is_ok());
    for i in 0..7 {
        t.cmd(&["SET", &format!("t{i}"), "v"]);
    }
    t.cmd(&["SELECT", "2"]);
    t.cmd(&["SET", "in-db2", "v"]);
    wait_metric(port, "strata_namespaces", &[], 1.0);
    wait_metric(port, "strata_namespace_keys", &[("namespace", "team")], 8.0);
    // Only /metrics is served.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    raw.write_all(b"GET /other HTTP/1.0\r\n\r\n").expect("send");
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // Off by default: no endpoint without metrics-port.
    let plain = Server::start(&[]);
    assert_eq!(
        plain.client().cmd(&["CONFIG", "GET", "metrics-port"]),
        Reply::Array(vec![Reply::bulk("metrics-port"), Reply::bulk("0")])
    );
}

/// On a replica in a full sync (the master throttled to 8 MB/s), the transfer's progress
/// moves on `/metrics` while it runs, then the link is up.
#[test]
fn transfer_progress_moves_on_metrics_during_a_full_sync() {
    let master = Server::start(&["--max-replication-mb", "8"]);
    crate::replication::fill(&master, 24);
    let port = free_port();
    let replica = replica_of(&master, &["--metrics-port", &port.to_string()]);
    let mut seen: Vec<(f64, f64)> = Vec::new();
    let t = Instant::now();
    loop {
        if let Some(body) = http_get(port, "/metrics") {
            let samples = parse_exposition(&body).expect("the exposition parses");
            if let (Some(done), Some(total)) = (
                value(&samples, "strata_transfer_done_bytes", &[]),
                value(&samples, "strata_transfer_total_bytes", &[]),
            ) {
                if total > 0.0 && seen.last().is_none_or(|l| l.0 != done) {
                    seen.push((done, total));
                }
            }
            if value(&samples, "strata_replica_link_up", &[]) == Some(1.0) {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the replica never synced; progress seen {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let moving: Vec<&(f64, f64)> = seen.iter().filter(|(d, t)| *d < *t).collect();
    assert!(
        moving.len() >= 2 && moving.windows(2).all(|w| w[0].0 < w[1].0),
        "progress should move while the transfer runs: {seen:?}"
    );
    assert!(seen.iter().all(|(d, t)| d <= t), "{seen:?}");
    wait_caught_up(&master, &replica, Duration::from_secs(30));
}

/// The Grafana dashboard in docs/ is valid JSON and asks only for metrics the endpoint
/// serves (the replica-only ones aside).
#[test]
fn the_grafana_dashboard_queries_metrics_that_exist() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana/strata.json");
    let text = std::fs::read_to_string(&path).expect("docs/grafana/strata.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut wanted = std::collections::BTreeSet::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("redis_") || word.starts_with("strata_") {
                    wanted.insert(word.to_string());
                }
            }
        }
    }
    assert!(wanted.len() > 10, "{wanted:?}");
    let port = free_port();
    let s = Server::start(&["--metrics-port", &port.to_string()]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v"]);
    // An error reply, so that the error counters have a sample.
    assert!(c.cmd(&["INCR", "k"]).is_error());
    let body = http_get(port, "/metrics").expect("/metrics");
    let served: std::collections::BTreeSet<String> = parse_exposition(&body)
        .expect("parses")
        .into_iter()
        .map(|s| s.name)
        .collect();
    let replica_only = [
        "strata_replica_link_up",
        "strata_transfer_done_bytes",
        "strata_transfer_total_bytes",
    ];
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !served.contains(*w) && !replica_only.contains(&w.as_str()))
        .collect();
    assert!(missing.is_empty(), "the dashboard asks for {missing:?}");
}
