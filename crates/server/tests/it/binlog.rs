//! The binlog: replaying it from empty reproduces the data (after any workload and after
//! `kill -9`), corruption is reported and a torn tail cut, purges respect snapshots and leases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::robustness::xorshift;
use crate::util::{Client, Reply, Server};

/// A cut-off for [`dump`]: a minute from now, in Unix ms.
pub fn cutoff() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        + 60_000
}

/// Every key of every database with its type, absolute expiry and value, in a comparable
/// form. Keys that expire before `cutoff` (Unix ms) are left out: they may expire between
/// two dumps compared with the same cut-off.
pub fn dump(c: &mut Client, cutoff: i64) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        c.cmd(&["SELECT", &db.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = c.cmd(&["SCAN", &cursor, "COUNT", "1000"]);
            let parts = r.array();
            cursor = parts[0].text();
            keys.extend(parts[1].array().iter().map(|k| match k {
                Reply::Bulk(b) => b.clone(),
                other => panic!("bad key {other:?}"),
            }));
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let k: &[u8] = &key;
            // The expiry first: a key past this check cannot expire during the dump.
            let exp = c.cmd_bytes(&[b"PEXPIRETIME", k]).int();
            if exp == -2 || (exp >= 0 && exp < cutoff) {
                continue;
            }
            let ty = c.cmd_bytes(&[b"TYPE", k]).text();
            let value = match ty.as_str() {
                "string" => format!("{:?}", c.cmd_bytes(&[b"GET", k])),
                "list" => format!("{:?}", c.cmd_bytes(&[b"LRANGE", k, b"0", b"-1"])),
                "hash" => {
                    let r = c.cmd_bytes(&[b"HGETALL", k]);
                    let mut pairs: Vec<String> =
                        r.array().chunks(2).map(|p| format!("{:?}", p)).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let r = c.cmd_bytes(&[b"SMEMBERS", k]);
                    let mut m: Vec<String> = r.array().iter().map(|x| format!("{x:?}")).collect();
                    m.sort();
                    m.join(",")
                }
                "zset" => format!(
                    "{:?}",
                    c.cmd_bytes(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])
                ),
                "stream" => {
                    // Everything but the consumers' seen times (the clock of whoever applied
                    // the change, as on Redis's replicas).
                    let full = c.cmd_bytes(&[b"XINFO", b"STREAM", k, b"FULL", b"COUNT", b"0"]);
                    let text = format!("{full:?}");
                    let mut out = String::new();
                    let mut rest = text.as_str();
                    let mark = "Bulk([115, 101, 101, 110, 45, 116, 105, 109, 101]), Int(";
                    while let Some(i) = rest.find(mark) {
                        out.push_str(&rest[..i + mark.len()]);
                        rest = &rest[i + mark.len()..];
                        let end = rest.find(')').unwrap_or(0);
                        out.push('0');
                        rest = &rest[end..];
                    }
                    out.push_str(rest);
                    out
                }
                "none" => continue,
                other => panic!("unexpected type {other}"),
            };
            out.insert(
                format!("{db}:{}", String::from_utf8_lossy(k)),
                format!("{ty} exp={exp} {value}"),
            );
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// Fails with the keys that differ (not two whole dumps).
pub fn assert_same(
    live: &BTreeMap<String, String>,
    replayed: &BTreeMap<String, String>,
    what: &str,
) {
    let keys: std::collections::BTreeSet<&String> = live.keys().chain(replayed.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| live.get(*k) != replayed.get(*k))
        .take(10)
        .map(|k| {
            let cut = |v: Option<&String>| {
                v.map_or("(absent)".to_string(), |v| v.chars().take(300).collect())
            };
            format!(
                "{k}:\n  live:     {}\n  replayed: {}",
                cut(live.get(k)),
                cut(replayed.get(k))
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}: keys differ:\n{}",
        diffs.join("\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn binlog_dir(s: &Server) -> PathBuf {
    s.dir.join("data").join("binlog")
}

/// Starts a server on an empty data directory holding only a copy of `binlog` (so start-up
/// replays it from its first record) and dumps what it built.
pub fn replay_from_empty(binlog: &Path, cutoff: i64) -> (BTreeMap<String, String>, String) {
    let mut b = Server::start_prepared(&[], |data| copy_dir(binlog, &data.join("binlog")));
    let mut c = b.client();
    let d = dump(&mut c, cutoff);
    let info = c.cmd(&["INFO", "binlog"]).text();
    b.stop();
    (d, info)
}

pub fn info_field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {info}"))
}

/// One random write (or a small transaction) of the workload, as commands.
pub fn random_commands(rnd: &mut impl FnMut(usize) -> usize, tag: &str) -> Vec<Vec<String>> {
    let k = |p: &str, rnd: &mut dyn FnMut(usize) -> usize| format!("{p}{}", rnd(12));
    let m = |rnd: &mut dyn FnMut(usize) -> usize| format!("m{}", rnd(20));
    let v = |rnd: &mut dyn FnMut(usize) -> usize| format!("{tag}-{}", rnd(1000));
    let one: Vec<String> = match rnd(38) {
        0 => vec!["SET".into(), k("s", rnd), v(rnd)],
        1 => vec![
            "SET".into(),
            k("s", rnd),
            v(rnd),
            "EX".into(),
            "1000".into(),
        ],
        2 => vec!["INCRBYFLOAT".into(), k("f", rnd), "1.5".into()],
        3 => vec!["HINCRBYFLOAT".into(), k("h", rnd), m(rnd), "0.25".into()],
        4 => vec!["HSET".into(), k("h", rnd), m(rnd), v(rnd)],
        5 => vec!["SADD".into(), k("t", rnd), m(rnd), m(rnd)],
        6 => vec!["SPOP".into(), k("t", rnd)],
        7 => vec!["SPOP".into(), k("t", rnd), "2".into()],
        8 => vec!["LPUSH".into(), k("l", rnd), v(rnd)],
        9 => vec!["RPOP".into(), k("l", rnd)],
        10 => vec!["ZADD".into(), k("z", rnd), rnd(50).to_string(), m(rnd)],
        11 => vec!["ZINCRBY".into(), k("z", rnd), "-1.5".into(), m(rnd)],
        12 => vec!["ZPOPMIN".into(), k("z", rnd)],
        13 => vec!["EXPIRE".into(), k("s", rnd), "500".into()],
        // Short expiries: later writes meet expired keys (logged as DEL first).
        14 => vec!["PEXPIRE".into(), k("l", rnd), "30".into()],
        15 => vec!["SET".into(), k("s", rnd), v(rnd), "PX".into(), "20".into()],
        16 => vec!["DEL".into(), k("s", rnd)],
        17 => vec!["RENAME".into(), k("h", rnd), k("h", rnd)],
        18 => vec!["GETEX".into(), k("s", rnd), "EX".into(), "700".into()],
        19 => vec!["APPEND".into(), k("s", rnd), v(rnd)],
        20 => vec!["PFADD".into(), k("p", rnd), m(rnd), m(rnd)],
        21 => vec![
            "SETBIT".into(),
            k("b", rnd),
            rnd(100).to_string(),
            "1".into(),
        ],
        22 => vec![
            "LMOVE".into(),
            k("l", rnd),
            k("l", rnd),
            "LEFT".into(),
            "RIGHT".into(),
        ],
        23 => vec!["SMOVE".into(), k("t", rnd), k("t", rnd), m(rnd)],
        24 => vec!["SINTERSTORE".into(), k("t", rnd), k("t", rnd), k("t", rnd)],
        25 => vec![
            "ZUNIONSTORE".into(),
            k("z", rnd),
            "2".into(),
            k("z", rnd),
            k("z", rnd),
        ],
        26 => vec!["LPUSH".into(), format!("q{}", rnd(3)), v(rnd)],
        27 => vec!["PERSIST".into(), k("s", rnd)],
        28 => vec!["INCR".into(), k("n", rnd)],
        // Streams: auto IDs, approximate trimming, consumer groups (deliveries, claims).
        29 => vec!["XADD".into(), k("x", rnd), "*".into(), "f".into(), v(rnd)],
        30 => vec![
            "XADD".into(),
            k("x", rnd),
            "MAXLEN".into(),
            "~".into(),
            "20".into(),
            "*".into(),
            "f".into(),
            v(rnd),
        ],
        31 => vec![
            "XGROUP".into(),
            "CREATE".into(),
            k("x", rnd),
            "g".into(),
            "0".into(),
            "MKSTREAM".into(),
        ],
        32 => vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            "g".into(),
            format!("c{}", rnd(3)),
            "COUNT".into(),
            "2".into(),
            "STREAMS".into(),
            k("x", rnd),
            ">".into(),
        ],
        33 => vec![
            "XAUTOCLAIM".into(),
            k("x", rnd),
            "g".into(),
            format!("c{}", rnd(3)),
            "0".into(),
            "0".into(),
            "COUNT".into(),
            "2".into(),
        ],
        34 => vec!["XTRIM".into(), k("x", rnd), "MAXLEN".into(), "30".into()],
        35 => vec![
            "GEOADD".into(),
            k("g", rnd),
            format!("{}.5", rnd(170)),
            format!("{}.25", rnd(80)),
            m(rnd),
        ],
        36 => vec![
            "GEORADIUS".into(),
            k("g", rnd),
            "10".into(),
            "10".into(),
            "5000".into(),
            "km".into(),
            "STORE".into(),
            k("g", rnd),
        ],
        _ => {
            return vec![
                vec!["MULTI".into()],
                vec!["INCR".into(), k("n", rnd)],
                vec!["SPOP".into(), k("t", rnd)],
                vec!["HSET".into(), k("h", rnd), m(rnd), v(rnd)],
                vec!["EXPIRE".into(), k("n", rnd), "900".into()],
                vec!["EXEC".into()],
            ]
        }
    };
    vec![one]
}

/// `writers` clients send pipelined random writes until `stop` (or `limit`), plus three
/// clients blocked on the queues the writers push to (served by the writers).
pub fn run_load(port: u16, writers: usize, stop: Arc<AtomicBool>, limit: Duration, seed: u64) {
    let mut handles: Vec<std::thread::JoinHandle<()>> = (0..3)
        .map(|q| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let Ok(mut c) = Client::try_connect(port) else {
                    return;
                };
                let t = Instant::now();
                while !stop.load(Ordering::Relaxed) && t.elapsed() < limit {
                    if c.try_cmd(&["BLPOP", &format!("q{q}"), "0.2"]).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    handles.extend((0..writers).map(|w| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let Ok(mut c) = Client::try_connect(port) else {
                return;
            };
            let mut rnd = xorshift(seed * 7919 + w as u64);
            let tag = format!("w{w}");
            let t = Instant::now();
            while !stop.load(Ordering::Relaxed) && t.elapsed() < limit {
                let mut buf = Vec::new();
                let mut n = 0;
                for _ in 0..20 {
                    for cmd in random_commands(&mut rnd, &tag) {
                        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
                        buf.extend(Client::encode(&args));
                        n += 1;
                    }
                }
                if c.send_raw(&buf).is_err() {
                    return;
                }
                for _ in 0..n {
                    if c.read_reply().is_err() {
                        return;
                    }
                }
            }
        })
    }));
    for h in handles {
        let _ = h.join();
    }
}

fn diff_lines() -> Vec<String> {
    let files = crate::differential::diff_files();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for line in text.lines() {
            let line = line.trim();
            let line = line
                .strip_prefix("@sortedpairs ")
                .or_else(|| line.strip_prefix("@sorted "))
                .unwrap_or(line);
            let upper = line.to_ascii_uppercase();
            // Keep every file's keys: no flushes; no config changes or subscriptions.
            if line.is_empty()
                || line.starts_with('#')
                || upper.starts_with("FLUSH")
                || upper.starts_with("CONFIG")
                || upper.contains("SUBSCRIBE")
                || upper.starts_with("DEBUG")
                || upper.starts_with("CLIENT")
                || upper.starts_with("HELLO")
                || upper.starts_with("RESET")
                || upper.starts_with("QUIT")
            {
                continue;
            }
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn replaying_the_binlog_from_empty_reproduces_every_command() {
    let mut a = Server::start(&["--worker-threads", "3"]);
    let mut c = a.client();
    // Every command of the differential files (errors included), then a concurrent random
    // workload with expiries, SPOP, float increments, transactions and served blocked pops.
    let lines = diff_lines();
    for line in &lines {
        let args = resp::split_inline(line.as_bytes()).expect("inline");
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
        c.cmd_bytes(&args);
    }
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["DISCARD"]);
    // Writes and reads that meet keys expired but not yet deleted (active expiry paused):
    // each must be logged after a DEL of the stale key, or the replay (where nothing
    // expires by itself) would build on the stale value.
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["RPUSH", "stale-list", "a", "b"]);
    c.cmd(&["SADD", "stale-src", "x", "y"]);
    c.cmd(&["HSET", "stale-hash", "f", "1"]);
    c.cmd(&["SET", "stale-str", "10"]);
    for k in ["stale-list", "stale-src", "stale-hash", "stale-str"] {
        c.cmd(&["PEXPIRE", k, "5"]);
    }
    std::thread::sleep(Duration::from_millis(50));
    c.cmd(&["RPUSH", "stale-list", "c"]);
    c.cmd(&["SUNIONSTORE", "stale-dst", "stale-src", "stale-none"]);
    c.cmd(&["SADD", "stale-dst2", "z"]);
    c.cmd(&["SUNIONSTORE", "stale-dst2", "stale-dst2", "stale-src"]);
    c.cmd(&["HINCRBY", "stale-hash", "f", "5"]);
    c.cmd(&["INCR", "stale-str"]);
    assert_eq!(c.cmd(&["LRANGE", "stale-list", "0", "-1"]).array().len(), 1);
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    run_load(
        a.port,
        4,
        Arc::new(AtomicBool::new(false)),
        Duration::from_secs(2),
        1,
    );
    // Active expiry would go on logging DELs of the load's keys while the offsets are read
    // and until the stop (the replayed log would then end past `last`): paused from here.
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // The two offsets are read in one INFO, not atomically; they meet once nothing is in
    // flight.
    let t = std::time::Instant::now();
    let last = loop {
        let info = c.cmd(&["INFO", "binlog"]).text();
        let last = info_field(&info, "binlog_last_offset");
        if info_field(&info, "binlog_applied_offset") == last {
            break last;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "applied never met last: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(last > 5000, "only {last} records");
    let cut = cutoff();
    let live = dump(&mut c, cut);
    drop(c);
    assert_eq!(a.stop(), Some(0));
    let (replayed, binfo) = replay_from_empty(&binlog_dir(&a), cut);
    assert_eq!(info_field(&binfo, "binlog_applied_offset"), last);
    eprintln!(
        "{} commands from the diff files + load: {last} records, {} keys",
        lines.len(),
        live.len()
    );
    assert!(live.len() > 100, "only {} keys", live.len());
    assert_same(
        &live,
        &replayed,
        "replaying from empty differs from the live data",
    );
}

/// After each `kill -9` under load, the restarted server (which replays the records its
/// engine missed) and a server built from the binlog alone hold exactly the same data.
#[test]
fn after_kill9_the_binlog_and_the_data_agree() {
    let rounds = std::env::var("STRATA_KILL9_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // Three workers: several commit lanes write the engine concurrently.
    let mut a = Server::start(&["--appendfsync", "everysec", "--worker-threads", "3"]);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let port = a.port;
        let s2 = stop.clone();
        let load = std::thread::spawn(move || {
            run_load(port, 4, s2, Duration::from_secs(10), round as u64 + 100)
        });
        std::thread::sleep(Duration::from_millis(250 + (round as u64 * 37) % 200));
        a.kill9().expect("kill -9");
        stop.store(true, Ordering::Relaxed);
        let _ = load.join();
        let snapshot = tempfile::tempdir().expect("tempdir");
        copy_dir(&binlog_dir(&a), snapshot.path());
        let t = Instant::now();
        a.spawn();
        let restart = t.elapsed();
        let mut c = a.client();
        let cut = cutoff();
        let live = dump(&mut c, cut);
        let info = c.cmd(&["INFO", "binlog"]).text();
        let last = info_field(&info, "binlog_last_offset");
        assert_eq!(info_field(&info, "binlog_applied_offset"), last);
        let (replayed, _) = replay_from_empty(snapshot.path(), cut);
        eprintln!(
            "round {round}: {last} records, {} keys, restart (with recovery) {restart:?}",
            live.len()
        );
        assert_same(
            &live,
            &replayed,
            &format!("round {round}: binlog and data disagree"),
        );
    }
}

/// Writes `key:i` for `i` in `from..to`, in pipelines of 16: a pipelined run of writes is
/// one commit and one binlog append, and segments rotate between appends (these tests need
/// many small segments).
fn write_keys(c: &mut Client, from: usize, to: usize) {
    for start in (from..to).step_by(16) {
        let end = (start + 16).min(to);
        let mut buf = Vec::new();
        for i in start..end {
            buf.extend(Client::encode(&[
                b"SET",
                format!("key:{i}").as_bytes(),
                format!("value:{i}").as_bytes(),
            ]));
        }
        c.send_raw(&buf).expect("send");
        for _ in start..end {
            assert_eq!(c.read_reply().expect("reply"), Reply::ok());
        }
    }
}

/// Runs the server on `data` to completion (start-up is expected to fail): its output.
fn start_on(data: &Path) -> std::process::Output {
    std::process::Command::new(crate::util::BIN)
        .args([
            "--port",
            &crate::util::free_port().to_string(),
            "--dir",
            &data.display().to_string(),
        ])
        .output()
        .expect("run")
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("binlog dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_torn_tail_is_cut_and_a_corrupt_record_stops_startup() {
    let mut s = Server::start(&["--binlog-segment-size", "4096"]);
    let mut c = s.client();
    write_keys(&mut c, 0, 500);
    drop(c);
    assert_eq!(s.stop(), Some(0));
    let segs = segments(&binlog_dir(&s));
    assert!(segs.len() > 3, "{} segments", segs.len());

    // A torn append: half a record at the end of the last segment.
    let last = segs.last().expect("segment").clone();
    let len = std::fs::metadata(&last).expect("meta").len();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .expect("open");
        f.write_all(&[0, 0, 0, 40, 1, 2, 3, 4, 0, 0])
            .expect("write");
    }
    s.spawn();
    assert!(
        s.log_text().contains("truncating a torn tail"),
        "{}",
        s.log_text()
    );
    assert_eq!(std::fs::metadata(&last).expect("meta").len(), len);
    let mut c = s.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(500));
    write_keys(&mut c, 500, 501);
    drop(c);
    assert_eq!(s.stop(), Some(0));

    // A flipped byte in the middle of an older segment: start-up stops and names it.
    let victim = segs[1].clone();
    let mut bytes = std::fs::read(&victim).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&victim, &bytes).expect("write");
    let out = start_on(&s.dir.join("data"));
    assert!(!out.status.success(), "started with a corrupt binlog");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt binlog record in")
            && err.contains(&victim.display().to_string())
            && err.contains("at byte")
            && err.contains(": record "),
        "{err}"
    );
    eprintln!("corrupt segment: {}", err.lines().last().unwrap_or(""));
    bytes[mid] ^= 0x40;
    std::fs::write(&victim, &bytes).expect("write");

    // The same in the middle of the LAST segment (good records follow): not a torn tail.
    let segs = segments(&binlog_dir(&s));
    let last = segs.last().expect("segment").clone();
    let mut bytes = std::fs::read(&last).expect("read");
    if bytes.len() > 200 {
        let mid = 40 + (bytes.len() - 40) / 3;
        bytes[mid] ^= 0x40;
        std::fs::write(&last, &bytes).expect("write");
        let out = start_on(&s.dir.join("data"));
        assert!(!out.status.success(), "started with a corrupt last segment");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("corrupt binlog record in"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn first_offset(c: &mut Client) -> u64 {
    info_field(&c.cmd(&["INFO", "binlog"]).text(), "binlog_first_offset")
}

#[test]
fn purges_never_remove_what_a_snapshot_or_a_lease_needs() {
    let mut s = Server::start(&["--binlog-segment-size", "4096", "--worker-threads", "4"]);
    let mut c = s.client();
    write_keys(&mut c, 0, 2000);
    c.cmd(&["CONFIG", "SET", "binlog-max-segments", "1"]);

    // The race, forced: a snapshot pauses right after its checkpoint (and, in a second
    // snapshot, between its lease and its checkpoint) while writes go on and purges run.
    for point in ["snapshot-after-checkpoint", "snapshot-before-checkpoint"] {
        c.cmd(&["DEBUG", "FAILPOINT", point, "1500"]);
        let mut snap = s.client();
        let name = format!("snap-{point}");
        snap.send_raw(&Client::encode(&[b"BINLOG", b"SNAPSHOT", name.as_bytes()]))
            .expect("send");
        std::thread::sleep(Duration::from_millis(300));
        let before = first_offset(&mut c);
        write_keys(&mut c, 2000, 3000);
        let removed = c.cmd(&["BINLOG", "PURGE", "1000000000"]).int();
        let leases = c.cmd(&["BINLOG", "LEASES"]);
        assert_eq!(leases.array().len(), 1, "{leases:?}");
        let r = snap.read_reply().expect("snapshot reply");
        let parts = r.array();
        let offset = parts[1].int() as u64;
        let first = first_offset(&mut c);
        eprintln!(
            "{point}: snapshot at offset {offset}; purge during the pause removed {removed} segments, first offset {before} -> {first}"
        );
        assert!(
            first <= offset + 1,
            "records after the snapshot ({offset}) were purged (first now {first})"
        );
        // The snapshot is a database of its own holding exactly the records up to its offset.
        let path = PathBuf::from(parts[0].text());
        let mut copy = Server::start_prepared(&["--binlog", "no"], |data| copy_dir(&path, data));
        let n = copy.client().cmd(&["DBSIZE"]).int();
        assert!(n >= 2000, "snapshot holds {n} keys");
        copy.stop();
        // Released, the purge moves past it.
        c.cmd(&["BINLOG", "LEASE", "RELEASE", &parts[2].int().to_string()]);
        write_keys(&mut c, 3000, 3200);
        c.cmd(&["BINLOG", "PURGE", "1000000000"]);
        assert!(first_offset(&mut c) > offset + 1);
    }

    // A lease holder that disconnects and comes back before its expiry.
    let from = first_offset(&mut c) + 10;
    let mut holder = s.client();
    let id = holder
        .cmd(&[
            "BINLOG",
            "LEASE",
            "TAKE",
            "backup-1",
            &from.to_string(),
            "30",
        ])
        .int();
    drop(holder);
    write_keys(&mut c, 4000, 5000);
    c.cmd(&["BINLOG", "PURGE", "1000000000"]);
    assert!(first_offset(&mut c) <= from, "a leased record was purged");
    let info = c.cmd(&["INFO", "binlog"]).text();
    assert!(
        info.contains(&format!("lease{id}:owner=backup-1,offset={from},")),
        "{info}"
    );
    let mut holder = s.client();
    assert_eq!(
        holder.cmd(&[
            "BINLOG",
            "LEASE",
            "RENEW",
            &id.to_string(),
            &(from + 500).to_string(),
            "1"
        ]),
        Reply::ok()
    );
    c.cmd(&["BINLOG", "PURGE", "1000000000"]);
    let first = first_offset(&mut c);
    assert!(first <= from + 500 && first > from, "first offset {first}");
    // It then vanishes for good: its lease expires and purges go on.
    drop(holder);
    std::thread::sleep(Duration::from_millis(1200));
    write_keys(&mut c, 5000, 5300);
    c.cmd(&["BINLOG", "PURGE", "1000000000"]);
    assert!(first_offset(&mut c) > from + 500);
    assert_eq!(c.cmd(&["BINLOG", "LEASES"]), Reply::Array(vec![]));
    // Nothing the engine needs was lost: every key is still there after a crash.
    drop(c);
    s.kill9().expect("kill");
    s.spawn();
    assert_eq!(s.client().cmd(&["DBSIZE"]), Reply::Int(4500));
}

#[test]
fn binlog_admin_errors_and_disabled_binlog() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "a", "1"]);
    let info = c.cmd(&["INFO", "binlog"]).text();
    assert!(info.contains("binlog_enabled:1"), "{info}");
    assert_eq!(info_field(&info, "binlog_last_offset"), 1);
    assert!(c
        .cmd(&["BINLOG", "PURGE", "x"])
        .err_text()
        .contains("invalid binlog offset"));
    assert!(c
        .cmd(&["BINLOG", "LEASE", "RENEW", "99", "1"])
        .err_text()
        .contains("no such lease"));
    assert!(c
        .cmd(&["BINLOG", "NOPE"])
        .err_text()
        .contains("BINLOG HELP"));
    assert!(c
        .cmd(&["BINLOG", "SNAPSHOT", "../x"])
        .err_text()
        .contains("invalid snapshot name"));
    assert!(!c.cmd(&["BINLOG", "HELP"]).array().is_empty());
    // A write that changes nothing is not logged; one that does is, once.
    c.cmd(&["DEL", "nothing-here"]);
    c.cmd(&["SREM", "a-set", "x"]);
    assert_eq!(
        info_field(&c.cmd(&["INFO", "binlog"]).text(), "binlog_last_offset"),
        1
    );
    c.cmd(&["MSET", "x", "1", "y", "2", "z", "3"]);
    assert_eq!(
        info_field(&c.cmd(&["INFO", "binlog"]).text(), "binlog_last_offset"),
        2
    );
    // After a clean restart every record is known applied.
    drop(c);
    let mut s = s;
    assert_eq!(s.stop(), Some(0));
    s.spawn();
    let info = s.client().cmd(&["INFO", "binlog"]).text();
    assert_eq!(info_field(&info, "binlog_applied_offset"), 2, "{info}");
    let mut c = s.client();
    c.cmd(&["SET", "after", "1"]);
    assert_eq!(
        info_field(&c.cmd(&["INFO", "binlog"]).text(), "binlog_last_offset"),
        3
    );

    let mut off = Server::start(&["--binlog", "no"]);
    let mut c = off.client();
    c.cmd(&["SET", "a", "1"]);
    assert!(c
        .cmd(&["INFO", "binlog"])
        .text()
        .contains("binlog_enabled:0"));
    assert!(c
        .cmd(&["BINLOG", "PURGE", "1"])
        .err_text()
        .contains("disabled"));
    drop(c);
    off.kill9().expect("kill");
    off.spawn();
    assert_eq!(off.client().cmd(&["GET", "a"]), Reply::bulk("1"));
}

/// `appendfsync always` under many clients: every reply waits for an fsync, but one fsync
/// covers the writes of every client waiting meanwhile (not one per client).
#[test]
fn always_fsyncs_are_shared_by_concurrent_clients() {
    let s = Server::start(&["--appendfsync", "always"]);
    let port = s.port;
    let (clients, per) = (20, 200);
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..per {
                    assert_eq!(c.cmd(&["SET", &format!("k{t}:{i}"), "v"]), Reply::ok());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let info = s.client().cmd(&["INFO", "persistence"]).text();
    let fsyncs = info_field(&info, "group_commit_fsyncs");
    eprintln!("{} acknowledged writes, {fsyncs} fsyncs", clients * per);
    assert!(fsyncs > 0);
    assert!(
        fsyncs < (clients * per / 2) as u64,
        "{fsyncs} fsyncs for {} writes",
        clients * per
    );
}

/// Crash recovery is bounded: past `binlog-recovery-max-records` unflushed records the
/// memtables are flushed, so a restart after `kill -9` replays only the records since.
#[test]
fn recovery_replays_at_most_about_the_configured_records() {
    let mut s = Server::start(&["--binlog-recovery-max-records", "1000"]);
    let mut c = s.client();
    write_keys(&mut c, 0, 5000);
    std::thread::sleep(Duration::from_millis(2500));
    write_keys(&mut c, 5000, 5200);
    drop(c);
    s.kill9().expect("kill");
    s.spawn();
    let log = s.log_text();
    let replayed: u64 = log
        .lines()
        .rfind(|l| l.contains("binlog recovered"))
        .and_then(|l| l.split("replayed").nth(1))
        .and_then(|r| {
            r.chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no recovery line in {log}"));
    eprintln!("replayed {replayed} records after kill -9");
    assert!(replayed <= 1300, "replayed {replayed}");
    assert_eq!(s.client().cmd(&["DBSIZE"]), Reply::Int(5200));
}
