//! Differential tests: every command sequence in `tests/diff/*.redis` is sent to a real
//! `redis-server` (Debian's, the reference) and to Strata; the replies must be identical.
//!
//! File format: one command per line in redis-cli/inline syntax (quotes and `\xHH` escapes),
//! `#` starts a comment line. A line starting with `@sorted ` compares the elements of an
//! array reply in sorted order (for replies whose order Redis leaves unspecified: KEYS,
//! HKEYS, SMEMBERS); `@sortedpairs ` sorts (field, value) pairs (HGETALL, HSCAN). Each file starts from empty databases (FLUSHALL on both).
//! Avoid commands whose replies legitimately differ between runs (TTL countdowns, TIME, INFO,
//! RANDOMKEY, SCAN cursors); put those in the ordinary tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{free_port, Client, Reply, Server};

/// Debian's redis-server on a free port, killed when dropped (the reference peer).
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    dir.path().to_str().unwrap_or("."),
                    "--loglevel",
                    "warning",
                    // DEBUG PROTOCOL and friends are compared too.
                    "--enable-debug-command",
                    "yes",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is required (apt-get install redis-server)");
            let mut r = RedisServer {
                child,
                port,
                _dir: tempfile::tempdir().expect("tempdir"),
            };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(mut c) = Client::try_connect(port) {
                    if c.try_cmd(&["PING"]).is_ok() {
                        r._dir = dir;
                        return r;
                    }
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            let _ = r.child.kill();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn diff_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diff");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/diff")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    files.sort();
    files
}

fn send(c: &mut Client, args: &[Vec<u8>]) -> Reply {
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    c.cmd_bytes(&refs)
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    No,
    /// Sort the elements of an array reply.
    Items,
    /// Sort a flat array as (field, value) pairs; for a SCAN-shaped reply, its inner array.
    Pairs,
}

fn sort_pairs(items: Vec<Reply>) -> Vec<Reply> {
    let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(|c| c.to_vec()).collect();
    pairs.sort_by_key(|p| format!("{p:?}"));
    pairs.into_iter().flatten().collect()
}

fn sort_reply(r: Reply, mode: Sort) -> Reply {
    match r {
        Reply::Array(items) if mode == Sort::Pairs => {
            if let [cursor, Reply::Array(inner)] = items.as_slice() {
                return Reply::Array(vec![
                    cursor.clone(),
                    Reply::Array(sort_pairs(inner.clone())),
                ]);
            }
            Reply::Array(sort_pairs(items))
        }
        Reply::Array(mut items) => {
            if let [cursor @ Reply::Bulk(_), Reply::Array(inner)] = items.as_slice() {
                let mut inner = inner.clone();
                inner.sort_by_key(|a| format!("{a:?}"));
                return Reply::Array(vec![cursor.clone(), Reply::Array(inner)]);
            }
            items.sort_by_key(|a| format!("{a:?}"));
            Reply::Array(items)
        }
        Reply::Set(mut items) => {
            items.sort_by_key(|a| format!("{a:?}"));
            Reply::Set(items)
        }
        Reply::Map(mut pairs) => {
            pairs.sort_by_key(|a| format!("{a:?}"));
            Reply::Map(pairs)
        }
        other => other,
    }
}

#[test]
fn replies_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let files = diff_files();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    let mut total = 0;
    // Every file runs twice: in RESP2, then in RESP3 (after HELLO 3 on both connections).
    for (file, proto) in files.iter().flat_map(|f| [(f, 2), (f, 3)]) {
        let text = std::fs::read_to_string(file).expect("read diff file");
        let mut r = Client::connect(redis.port);
        let mut s = strata.client();
        send(&mut r, &[b"FLUSHALL".to_vec()]);
        send(&mut s, &[b"FLUSHALL".to_vec()]);
        if proto == 3 {
            send(&mut r, &[b"HELLO".to_vec(), b"3".to_vec()]);
            send(&mut s, &[b"HELLO".to_vec(), b"3".to_vec()]);
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (mode, line) = if let Some(rest) = line.strip_prefix("@sortedpairs ") {
                (Sort::Pairs, rest.trim())
            } else if let Some(rest) = line.strip_prefix("@sorted ") {
                (Sort::Items, rest.trim())
            } else {
                (Sort::No, line)
            };
            let Some(args) = resp::split_inline(line.as_bytes()) else {
                panic!("{}:{}: bad line", file.display(), n + 1);
            };
            let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.to_vec()).collect();
            total += 1;
            let mut expected = send(&mut r, &args);
            let mut got = send(&mut s, &args);
            if mode != Sort::No {
                expected = sort_reply(expected, mode);
                got = sort_reply(got, mode);
            }
            if expected != got {
                failures.push(format!(
                    "{}:{} (RESP{proto}): {line}\n    redis:  {expected:?}\n    strata: {got:?}",
                    file.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
                    n + 1
                ));
            }
        }
    }
    eprintln!("differential: {total} commands in {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A client of `port` with keyspace notifications `flags` on (everything flushed first) and
/// a second one subscribed to every keyspace and keyevent channel.
fn notifying(port: u16, flags: &str) -> (Client, Client) {
    let mut c = Client::connect(port);
    c.cmd(&["FLUSHALL"]);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        Reply::ok()
    );
    let mut sub = Client::connect(port);
    sub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    (c, sub)
}

#[test]
fn keyspace_notifications_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diff/events/keyspace.redis");
    let text = std::fs::read_to_string(path).expect("events file");
    let commands: Vec<Vec<Vec<u8>>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            resp::split_inline(l.as_bytes())
                .expect("line")
                .into_iter()
                .map(|a| a.to_vec())
                .collect()
        })
        .collect();
    // Every class, then every class and `new` (Redis 7.0's key-creation event), then with
    // `keymiss`.
    for (flags, canonical) in [("KEA", "AKE"), ("KEAn", "AKE"), ("KEAm", "AKEm")] {
        let mut results = Vec::new();
        for port in [redis.port, strata.port] {
            let (mut c, mut sub) = notifying(port, flags);
            assert_eq!(
                c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
                Reply::Array(vec![
                    Reply::bulk("notify-keyspace-events"),
                    Reply::bulk(canonical)
                ])
            );
            for args in &commands {
                send(&mut c, args);
            }
            c.cmd(&["PUBLISH", "__keyspace@0__:END", "end"]);
            results.push(crate::util::events_until_end(&mut sub));
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        }
        let (r, s) = (&results[0], &results[1]);
        let diff: Vec<String> = (0..r.len().max(s.len()))
            .filter(|&i| r.get(i) != s.get(i))
            .take(10)
            .map(|i| format!("#{i}: redis {:?} / strata {:?}", r.get(i), s.get(i)))
            .collect();
        eprintln!(
            "keyspace notifications ({flags}): {} events from {} commands",
            r.len(),
            commands.len()
        );
        assert!(
            diff.is_empty(),
            "{flags}: events differ:\n{}",
            diff.join("\n")
        );
    }
}

/// The events of a blocked client served later (its twin runs when another client's write
/// makes the key ready), with `new` for the destination it creates: each blocking command
/// waits first, then a push serves it; compared with redis-server in order.
#[test]
fn keyspace_events_of_blocked_clients_served_later_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let scenarios: &[(&[&str], &[&str])] = &[
        (
            &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"],
            &["RPUSH", "src", "a"],
        ),
        (&["BLPOP", "l1", "l2", "0"], &["LPUSH", "l2", "x"]),
        (
            &["BLMPOP", "0", "1", "l3", "RIGHT", "COUNT", "2"],
            &["RPUSH", "l3", "a", "b", "c"],
        ),
        (&["BZPOPMIN", "z1", "0"], &["ZADD", "z1", "1", "m"]),
        (
            &["BZMPOP", "0", "1", "z2", "MAX"],
            &["ZADD", "z2", "1", "a", "2", "b"],
        ),
        (
            &["BRPOPLPUSH", "src2", "src2", "0"],
            &["RPUSH", "src2", "only"],
        ),
    ];
    let mut results = Vec::new();
    for port in [redis.port, strata.port] {
        let (mut c, mut sub) = notifying(port, "KEAn");
        let mut waiter = Client::connect(port);
        for (block, push) in scenarios {
            let a: Vec<&[u8]> = block.iter().map(|x| x.as_bytes()).collect();
            waiter.send_raw(&Client::encode(&a)).expect("send");
            // Blocked before the push (CLIENT LIST shows it waiting).
            let t = Instant::now();
            loop {
                let list = c.cmd(&["CLIENT", "LIST"]);
                let text = match list {
                    Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => format!("{other:?}"),
                };
                if text.lines().any(|l| l.contains("flags=b")) {
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "never blocked: {text}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            c.cmd(push);
            waiter.read_reply().expect("served");
        }
        c.cmd(&["PUBLISH", "__keyspace@0__:END", "end"]);
        results.push(crate::util::events_until_end(&mut sub));
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    }
    assert!(results[0].len() > 20, "{:?}", results[0]);
    assert_eq!(results[1], results[0], "strata (left) / redis (right)");
}

/// Every line of every differential file, run with all notification classes on (KEAnm) on
/// both servers: the keyspace events each line publishes, in order, are Redis's. Lines that
/// change the connection or wait (MULTI, BLPOP, CONFIG, SELECT, ...) are skipped, and so are
/// `expired` events: Strata expires keys from active expiry, Redis also when a read meets one,
/// so when that event comes is timing, not a command's effect.
#[test]
fn keyspace_events_of_every_differential_line_match_redis_server() {
    const SKIP_FILES: &[&str] = &[
        "03-connection",
        "17-transactions",
        "18-blocking",
        "19-pubsub",
        "24-multi",
        "29-tracking",
        "30-config",
        "31-swapdb",
        "35-acl",
    ];
    const SKIP_COMMANDS: &[&str] = &[
        "multi",
        "exec",
        "discard",
        "watch",
        "auth",
        "hello",
        "select",
        "shutdown",
        "debug",
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "bzpopmin",
        "bzpopmax",
        "blmpop",
        "bzmpop",
        "xread",
        "xreadgroup",
        "wait",
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "monitor",
        "reset",
        "quit",
        "client",
        "swapdb",
        "config",
        "acl",
        "function",
        "script",
        "move",
        "copy",
        "flushall",
        "flushdb",
    ];
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut failures = Vec::new();
    let mut total = 0;
    for file in diff_files() {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if SKIP_FILES.iter().any(|s| name.starts_with(s)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read diff file");
        let lines: Vec<(usize, Vec<Vec<u8>>)> = text
            .lines()
            .enumerate()
            .filter_map(|(n, l)| {
                let l = l.trim();
                let l = l
                    .strip_prefix("@sortedpairs ")
                    .or_else(|| l.strip_prefix("@sorted "))
                    .unwrap_or(l);
                if l.is_empty() || l.starts_with('#') {
                    return None;
                }
                let args: Vec<Vec<u8>> = resp::split_inline(l.as_bytes())?
                    .into_iter()
                    .map(|a| a.to_vec())
                    .collect();
                let cmd = String::from_utf8_lossy(args.first()?).to_ascii_lowercase();
                (!SKIP_COMMANDS.contains(&cmd.as_str())).then_some((n + 1, args))
            })
            .collect();
        let mut per_server = Vec::new();
        for port in [redis.port, strata.port] {
            let (mut c, mut sub) = notifying(port, "KEAnm");
            let mut events = Vec::new();
            for (_, args) in &lines {
                send(&mut c, args);
                c.cmd(&["PUBLISH", "__keyspace@0__:END", "end"]);
                let mut evs = crate::util::events_until_end(&mut sub);
                evs.retain(|(ch, payload)| !ch.ends_with(":expired") && payload != "expired");
                events.push(evs);
            }
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
            per_server.push(events);
        }
        for ((n, args), (r, s)) in lines.iter().zip(per_server[0].iter().zip(&per_server[1])) {
            total += 1;
            if r != s {
                let line: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                failures.push(format!(
                    "{name}:{n}: {}\n  redis  {r:?}\n  strata {s:?}",
                    line.join(" ")
                ));
            }
        }
    }
    eprintln!("keyspace events of {total} differential lines compared");
    assert!(total > 1500, "only {total} lines");
    assert!(
        failures.is_empty(),
        "{} lines differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn hyperloglog_estimates_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut counts: Vec<Vec<i64>> = Vec::new();
    for port in [redis.port, strata.port] {
        let mut c = Client::connect(port);
        c.cmd(&["FLUSHALL"]);
        let mut seen = Vec::new();
        let mut next = 0u64;
        for target in [10u64, 100, 1_000, 10_000, 100_000] {
            let mut buf = Vec::new();
            let mut sent = 0;
            while next < target {
                let mut args: Vec<Vec<u8>> = vec![b"PFADD".to_vec(), b"hll".to_vec()];
                let end = (next + 500).min(target);
                args.extend((next..end).map(|i| format!("element:{i}").into_bytes()));
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                buf.extend(Client::encode(&refs));
                sent += 1;
                next = end;
            }
            c.send_raw(&buf).expect("send");
            for _ in 0..sent {
                c.read_reply().expect("PFADD reply");
            }
            seen.push(c.cmd(&["PFCOUNT", "hll"]).int());
        }
        c.cmd(&["PFADD", "other", "element:1", "x", "y", "z"]);
        c.cmd(&["PFMERGE", "merged", "hll", "other"]);
        seen.push(c.cmd(&["PFCOUNT", "merged"]).int());
        seen.push(c.cmd(&["PFCOUNT", "hll", "other", "missing"]).int());
        counts.push(seen);
    }
    eprintln!("PFCOUNT redis {:?} strata {:?}", counts[0], counts[1]);
    assert_eq!(counts[0], counts[1]);
}

/// The same files, each sent as ONE pipeline: the batched paths (pipelined GETs, runs of
/// writes to one key committed as one batch) must answer exactly like redis-server.
#[test]
fn pipelined_replies_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut failures = Vec::new();
    let mut total = 0;
    for file in diff_files() {
        let name = file
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("?")
            .to_string();
        if name.contains("blocking") {
            continue; // timeouts make a pipeline of it slow, not different
        }
        let text = std::fs::read_to_string(&file).expect("read diff file");
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (mode, line) = if let Some(rest) = line.strip_prefix("@sortedpairs ") {
                (Sort::Pairs, rest.trim())
            } else if let Some(rest) = line.strip_prefix("@sorted ") {
                (Sort::Items, rest.trim())
            } else {
                (Sort::No, line)
            };
            let args = resp::split_inline(line.as_bytes()).expect("line");
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
            buf.extend(Client::encode(&refs));
            lines.push((n + 1, mode, line.to_string()));
        }
        let mut replies = Vec::new();
        for port in [redis.port, strata.port] {
            let mut c = Client::connect(port);
            c.cmd(&["FLUSHALL"]);
            c.send_raw(&buf).expect("send pipeline");
            let got: Vec<Reply> = lines
                .iter()
                .map(|(_, mode, _)| sort_reply(c.read_reply().expect("reply"), *mode))
                .collect();
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
            replies.push(got);
        }
        for (i, (n, _, line)) in lines.iter().enumerate() {
            total += 1;
            if replies[0][i] != replies[1][i] {
                failures.push(format!(
                    "{name}:{n} (pipelined): {line}\n    redis:  {:?}\n    strata: {:?}",
                    replies[0][i], replies[1][i]
                ));
            }
        }
    }
    eprintln!("pipelined differential: {total} commands");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// GEO searches over thousands of generated points (clusters at the poles' limits, along the
/// antimeridian, around the equator, and spread over the globe), with radii from meters to
/// half the planet, boxes, counts, sort orders and every WITH option, in RESP2 and RESP3:
/// the members found, their order, distances, hashes and coordinates must be Redis's to the
/// last printed digit.
#[test]
fn geo_searches_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    // A small deterministic generator (xorshift): the same points and queries every run.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut unit = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
    let mut points: Vec<(f64, f64)> = Vec::new();
    let clusters = [
        (0.0, 0.0, 5.0),
        (179.5, 10.0, 1.0),
        (-179.5, -10.0, 1.0),
        (13.4, 52.5, 0.5),
        (0.0, 84.9, 0.2),
        (120.0, -84.9, 0.2),
    ];
    for &(lon, lat, spread) in &clusters {
        for _ in 0..300 {
            let x: f64 = (lon + (unit() - 0.5) * 2.0 * spread).clamp(-180.0, 180.0);
            let y: f64 = (lat + (unit() - 0.5) * 2.0 * spread).clamp(-85.05, 85.05);
            points.push((x, y));
        }
    }
    for _ in 0..1200 {
        points.push((unit() * 360.0 - 180.0, unit() * 170.1 - 85.05));
    }
    let mut add: Vec<Vec<u8>> = vec![b"GEOADD".to_vec(), b"pts".to_vec()];
    for (i, (x, y)) in points.iter().enumerate() {
        add.push(format!("{x:.6}").into_bytes());
        add.push(format!("{y:.6}").into_bytes());
        add.push(format!("p{i}").into_bytes());
    }
    let units = ["m", "km", "mi", "ft"];
    let mut queries: Vec<Vec<String>> = Vec::new();
    for q in 0..400 {
        let (cx, cy) = if q % 3 == 0 {
            let i = (unit() * points.len() as f64) as usize % points.len();
            points[i]
        } else {
            (unit() * 360.0 - 180.0, unit() * 170.1 - 85.05)
        };
        let (cx, cy) = (format!("{cx:.5}"), format!("{cy:.5}"));
        // Radii from 10 m to 10,000 km, spread on a log scale.
        let meters = 10f64.powf(1.0 + unit() * 6.0);
        let u = units[q % units.len()];
        let per = match u {
            "km" => 1000.0,
            "mi" => 1609.34,
            "ft" => 0.3048,
            _ => 1.0,
        };
        let r = format!("{:.3}", meters / per);
        let mut opts: Vec<String> = Vec::new();
        for (w, p) in [("WITHDIST", 0.5), ("WITHCOORD", 0.4), ("WITHHASH", 0.3)] {
            if unit() < p {
                opts.push(w.into());
            }
        }
        match q % 4 {
            0 => opts.push("ASC".into()),
            1 => opts.push("DESC".into()),
            _ => {}
        }
        if unit() < 0.3 {
            opts.push("COUNT".into());
            opts.push(format!("{}", 1 + (unit() * 20.0) as u32));
        }
        let mut cmd: Vec<String> = match q % 5 {
            0 | 1 => vec!["GEORADIUS".into(), "pts".into(), cx, cy, r, u.into()],
            2 => vec![
                "GEOSEARCH".into(),
                "pts".into(),
                "FROMLONLAT".into(),
                cx,
                cy,
                "BYBOX".into(),
                r.clone(),
                format!("{:.3}", meters / per / 2.0),
                u.into(),
            ],
            3 => vec![
                "GEORADIUSBYMEMBER".into(),
                "pts".into(),
                format!(
                    "p{}",
                    (unit() * points.len() as f64) as usize % points.len()
                ),
                r,
                u.into(),
            ],
            _ => vec![
                "GEOSEARCH".into(),
                "pts".into(),
                "FROMLONLAT".into(),
                cx,
                cy,
                "BYRADIUS".into(),
                r,
                u.into(),
            ],
        };
        cmd.extend(opts);
        queries.push(cmd);
    }
    for _ in 0..100 {
        let a = (unit() * points.len() as f64) as usize % points.len();
        let b = (unit() * points.len() as f64) as usize % points.len();
        queries.push(vec![
            "GEODIST".into(),
            "pts".into(),
            format!("p{a}"),
            format!("p{b}"),
            units[a % 4].into(),
        ]);
        queries.push(vec![
            "GEOPOS".into(),
            "pts".into(),
            format!("p{a}"),
            format!("p{b}"),
        ]);
        queries.push(vec!["GEOHASH".into(), "pts".into(), format!("p{a}")]);
    }
    let mut failures = Vec::new();
    let mut found = 0usize;
    for proto in [2, 3] {
        let mut r = Client::connect(redis.port);
        let mut s = strata.client();
        for c in [&mut r, &mut s] {
            send(c, &[b"FLUSHALL".to_vec()]);
            if proto == 3 {
                send(c, &[b"HELLO".to_vec(), b"3".to_vec()]);
            }
            assert_eq!(send(c, &add), Reply::Int(points.len() as i64));
        }
        let scores = vec![
            b"ZRANGE".to_vec(),
            b"pts".to_vec(),
            b"0".to_vec(),
            b"-1".to_vec(),
            b"WITHSCORES".to_vec(),
        ];
        assert_eq!(send(&mut r, &scores), send(&mut s, &scores));
        for q in &queries {
            let args: Vec<Vec<u8>> = q.iter().map(|a| a.clone().into_bytes()).collect();
            let expected = send(&mut r, &args);
            let got = send(&mut s, &args);
            if let Reply::Array(items) = &expected {
                found += items.len();
            }
            if expected != got && failures.len() < 10 {
                failures.push(format!(
                    "RESP{proto}: {}\n    redis:  {expected:?}\n    strata: {got:?}",
                    q.join(" ")
                ));
            }
        }
    }
    eprintln!(
        "geo: {} points, {} queries, {found} results compared",
        points.len(),
        queries.len()
    );
    assert!(found > 1000, "the queries found too little to compare");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// XPENDING's extended form and XINFO CONSUMERS against redis-server: the same consumer-group
/// work on both, then every listing compared with its clock-dependent numbers (idle
/// milliseconds, which only have to be small and not negative) set aside.
#[test]
fn stream_pending_and_consumer_listings_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let script: &[&[&str]] = &[
        &["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"],
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "2-1", "a", "2"],
        &["XADD", "s", "3-1", "a", "3"],
        &["XADD", "s", "4-1", "a", "4"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
        &["XCLAIM", "s", "g", "carol", "0", "3-1", "RETRYCOUNT", "7"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "dave"],
        &["XDEL", "s", "4-1"],
    ];
    let listings: &[&[&str]] = &[
        &["XPENDING", "s", "g", "-", "+", "10"],
        &["XPENDING", "s", "g", "-", "+", "1"],
        &["XPENDING", "s", "g", "(1-1", "+", "10"],
        &["XPENDING", "s", "g", "-", "(3-1", "10"],
        &["XPENDING", "s", "g", "-", "+", "10", "alice"],
        &["XPENDING", "s", "g", "-", "+", "10", "carol"],
        &["XPENDING", "s", "g", "-", "+", "10", "nobody"],
        &["XPENDING", "s", "g", "IDLE", "0", "-", "+", "10"],
        &["XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10"],
        &["XPENDING", "s", "g", "2-1", "2-1", "5"],
        &["XINFO", "CONSUMERS", "s", "g"],
        &["XINFO", "CONSUMERS", "s", "nogroup"],
        &["XINFO", "CONSUMERS", "nokey", "g"],
    ];
    // Idle times (4-element XPENDING rows' third item, XINFO CONSUMERS' "idle") become 0.
    fn settle(r: Reply) -> Reply {
        match r {
            Reply::Array(items) if items.len() == 4 && matches!(items[2], Reply::Int(_)) => {
                let mut it = items;
                if let Reply::Int(idle) = it[2] {
                    assert!((0..60_000).contains(&idle), "idle {idle}");
                }
                it[2] = Reply::Int(0);
                Reply::Array(it)
            }
            Reply::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut zero = false;
                for it in items {
                    if zero {
                        out.push(Reply::Int(0));
                        zero = false;
                        continue;
                    }
                    zero = it == Reply::bulk("idle");
                    out.push(settle(it));
                }
                Reply::Array(out)
            }
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        if k == Reply::bulk("idle") {
                            (k, Reply::Int(0))
                        } else {
                            (k, settle(v))
                        }
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    for proto in [2, 3] {
        let mut r = Client::connect(redis.port);
        let mut s = strata.client();
        for c in [&mut r, &mut s] {
            send(c, &[b"FLUSHALL".to_vec()]);
            if proto == 3 {
                send(c, &[b"HELLO".to_vec(), b"3".to_vec()]);
            }
        }
        for cmd in script {
            let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
            assert_eq!(
                send(&mut s, &args),
                send(&mut r, &args),
                "RESP{proto}: {cmd:?}"
            );
        }
        for cmd in listings {
            let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
            assert_eq!(
                settle(send(&mut s, &args)),
                settle(send(&mut r, &args)),
                "RESP{proto}: {cmd:?}"
            );
        }
    }
}
