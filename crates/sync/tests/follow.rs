//! strata-sync against the real binaries: a Strata source with a namespace under a write
//! load, a real `redis-server` target; kill -9 in the middle; the namespace's drop ends it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SYNC: &str = env!("CARGO_BIN_EXE_strata-sync");

fn server_bin() -> PathBuf {
    Path::new(SYNC).with_file_name("strata-server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server on a free port until one stays up: a port found free can be taken by
/// another test's process before the server binds it (the server then exits, and the
/// port may even answer for a moment from that other process).
fn start_on_free_port(
    mut command: impl FnMut(u16) -> Command,
    what: &str,
    fixed: Option<u16>,
) -> (Proc, u16) {
    for _ in 0..5 {
        let port = fixed.unwrap_or_else(free_port);
        let mut p = Proc(
            command(port)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {what}: {e}")),
        );
        let t = Instant::now();
        let up = loop {
            if let Ok(Some(_)) = p.0.try_wait() {
                break false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Still ours a moment later: it bound the port.
                std::thread::sleep(Duration::from_millis(50));
                break matches!(p.0.try_wait(), Ok(None));
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{what} never opened {port}"
            );
            std::thread::sleep(Duration::from_millis(30));
        };
        if up {
            return (p, port);
        }
    }
    panic!("{what} did not start on any of 5 free ports");
}

/// The source: a Strata server with `requirepass adminpw`, ready.
fn start_strata(dir: &Path) -> (Proc, u16) {
    start_on_free_port(
        |port| {
            let mut c = Command::new(server_bin());
            c.args(["--port", &port.to_string(), "--dir"])
                .arg(dir.join("src"))
                .args(["--requirepass", "adminpw"]);
            c
        },
        "strata-server",
        None,
    )
}

/// The target: Debian's redis-server without persistence, ready (on `fixed`, if given).
fn start_redis(dir: &Path, fixed: Option<u16>) -> (Proc, u16) {
    start_on_free_port(
        |port| {
            let mut c = Command::new("redis-server");
            c.args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir);
            c
        },
        "redis-server",
        fixed,
    )
}

/// The exit code of strata-sync once it has stopped, failing after `limit`.
fn wait_exit(p: &mut Proc, limit: Duration, what: &str) -> Option<i32> {
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = p.0.try_wait() {
            return st.code();
        }
        assert!(t.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `NAMESPACE ADD app tapp` (the namespace the tests follow; its token is `tapp`).
fn add_app_namespace(admin: &mut redis::Connection) {
    let _: () = redis::cmd("NAMESPACE")
        .arg("ADD")
        .arg("app")
        .arg("tapp")
        .query(admin)
        .expect("ns add");
}

fn conn(port: u16, password: &str) -> redis::Connection {
    let url = if password.is_empty() {
        format!("redis://127.0.0.1:{port}/")
    } else {
        format!("redis://:{password}@127.0.0.1:{port}/")
    };
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect")
}

/// Every key of every database (type, absolute expiry, value), leaving out keys that expire
/// within a minute and strata-sync's position key.
fn dump(c: &mut redis::Connection) -> BTreeMap<String, String> {
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        + 60_000;
    let mut out = BTreeMap::new();
    for db in 0..16 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).expect("select");
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).expect("keys");
        for k in keys {
            let name = String::from_utf8_lossy(&k).into_owned();
            if name == "strata-sync:position" {
                continue;
            }
            let at: i64 = redis::cmd("PEXPIRETIME")
                .arg(&k)
                .query(c)
                .expect("pexpiretime");
            if at >= 0 && at < cutoff {
                continue;
            }
            let ty: String = redis::cmd("TYPE").arg(&k).query(c).expect("type");
            let value = match ty.as_str() {
                "string" => format!("{:?}", redis::cmd("GET").arg(&k).query::<Vec<u8>>(c).ok()),
                "hash" => {
                    let v: BTreeMap<Vec<u8>, Vec<u8>> =
                        redis::cmd("HGETALL").arg(&k).query(c).unwrap_or_default();
                    format!("{v:?}")
                }
                "list" => format!(
                    "{:?}",
                    redis::cmd("LRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .query::<Vec<Vec<u8>>>(c)
                        .ok()
                ),
                "set" => {
                    let mut v: Vec<Vec<u8>> =
                        redis::cmd("SMEMBERS").arg(&k).query(c).unwrap_or_default();
                    v.sort();
                    format!("{v:?}")
                }
                "zset" => format!(
                    "{:?}",
                    redis::cmd("ZRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query::<Vec<Vec<u8>>>(c)
                        .ok()
                ),
                "stream" => {
                    // Entries, then each group's position, pending list and consumers (with
                    // delivery times and counts, not the clock-dependent idle times).
                    let range: redis::Value = redis::cmd("XRANGE")
                        .arg(&k)
                        .arg("-")
                        .arg("+")
                        .query(c)
                        .unwrap_or(redis::Value::Nil);
                    let groups: redis::Value = redis::cmd("XINFO")
                        .arg("GROUPS")
                        .arg(&k)
                        .query(c)
                        .unwrap_or(redis::Value::Nil);
                    let pending: redis::Value = redis::cmd("XPENDING")
                        .arg(&k)
                        .arg("g")
                        .query(c)
                        .unwrap_or(redis::Value::Nil);
                    format!("{range:?} {groups:?} {pending:?}")
                }
                "none" => continue,
                other => other.to_string(),
            };
            out.insert(format!("{db}/{name}"), format!("{ty} {at} {value}"));
        }
    }
    out
}

fn sync_args(src: u16, dst: u16, state: &Path) -> Vec<String> {
    [
        "--source",
        &format!("127.0.0.1:{src}"),
        "--source-password",
        "adminpw",
        "--namespace",
        "app",
        "--target",
        &format!("127.0.0.1:{dst}"),
        "--state-file",
        &state.display().to_string(),
        "--status-file",
        &state.with_extension("status").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start_sync(dir: &Path, src: u16, dst: u16, state: &Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("sync.log"))
        .expect("log");
    Proc(
        Command::new(SYNC)
            .args(sync_args(src, dst, state))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn strata-sync"),
    )
}

fn state_offset(state: &Path) -> u64 {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("offset ").and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn info_u64(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A write load in the namespace: strings, hashes, lists, sets, zsets, counters, expiries.
fn load(port: u16, stop: Arc<AtomicBool>, seed: u64) {
    let mut c = conn(port, "tapp");
    let mut x = seed | 1;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let t = Instant::now();
    while !stop.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(30) {
        let mut p = redis::pipe();
        for _ in 0..50 {
            let k = rnd(200);
            match rnd(9) {
                0 => p.cmd("SET").arg(format!("s{k}")).arg(rnd(1000)).ignore(),
                1 => p.cmd("INCR").arg(format!("n{k}")).ignore(),
                2 => p
                    .cmd("HSET")
                    .arg(format!("h{k}"))
                    .arg(format!("f{}", rnd(10)))
                    .arg(rnd(9))
                    .ignore(),
                3 => p.cmd("LPUSH").arg(format!("l{k}")).arg(rnd(100)).ignore(),
                4 => p.cmd("SADD").arg(format!("t{k}")).arg(rnd(30)).ignore(),
                5 => p
                    .cmd("ZINCRBY")
                    .arg(format!("z{k}"))
                    .arg(1.5)
                    .arg(format!("m{}", rnd(10)))
                    .ignore(),
                6 => p.cmd("EXPIRE").arg(format!("s{k}")).arg(5000).ignore(),
                7 => p.cmd("DEL").arg(format!("t{k}")).ignore(),
                _ => p.cmd("RPOP").arg(format!("l{k}")).ignore(),
            };
        }
        if p.query::<()>(&mut c).is_err() {
            return;
        }
    }
}

#[test]
fn follows_a_namespace_into_redis_survives_kill_9_and_stops_when_it_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_strata, src) = start_strata(dir.path());
    let (_redis, dst) = start_redis(dir.path(), None);
    let mut admin = conn(src, "adminpw");
    add_app_namespace(&mut admin);
    let _: () = redis::cmd("SET")
        .arg("not-in-app")
        .arg("x")
        .query(&mut admin)
        .expect("set");
    let mut app = conn(src, "tapp");
    let mut p = redis::pipe();
    for i in 0..3000 {
        p.cmd("SET").arg(format!("pre{i}")).arg(i).ignore();
        p.cmd("HSET")
            .arg(format!("ph{}", i % 100))
            .arg(i)
            .arg(i)
            .ignore();
    }
    p.cmd("SELECT").arg(3).ignore();
    p.cmd("SET")
        .arg("in-db3")
        .arg("x")
        .arg("PX")
        .arg(9_000_000)
        .ignore();
    p.cmd("ZADD")
        .arg("pz")
        .arg(-1.5)
        .arg("a")
        .arg("inf")
        .arg("b")
        .ignore();
    // A function library (copied with the snapshot; a later one arrives as a record).
    p.cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=before\nredis.register_function('f1', function() return 1 end)")
        .ignore();
    // A stream with a consumer group (copied with its pending list).
    p.cmd("SELECT").arg(0).ignore();
    for i in 1..=5 {
        p.cmd("XADD")
            .arg("ps")
            .arg(format!("{i}-1"))
            .arg("f")
            .arg(i)
            .ignore();
    }
    p.cmd("XGROUP")
        .arg("CREATE")
        .arg("ps")
        .arg("g")
        .arg("0")
        .ignore();
    p.cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c1")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("ps")
        .arg(">")
        .ignore();
    p.cmd("SELECT").arg(3).ignore();
    // The snapshot holds swapped databases: copied as clients see them.
    p.cmd("SWAPDB").arg(3).arg(4).ignore();
    let _: () = p.query(&mut app).expect("preload");

    let state = dir.path().join("sync.state");
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let stop = stop.clone();
        std::thread::spawn(move || load(src, stop, 99))
    };
    let mut sync = start_sync(dir.path(), src, dst, &state);
    std::thread::sleep(Duration::from_millis(1000));
    // A SWAPDB in the stream is applied on the target as SWAPDB.
    let _: () = redis::cmd("SWAPDB")
        .arg(4)
        .arg(5)
        .query(&mut app)
        .expect("swapdb");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=after\nredis.register_function('f2', function() return 2 end)")
        .query(&mut app)
        .expect("function load");
    // Group changes in the stream of changes: a read, an acknowledgement, a claim.
    let _: () = redis::cmd("SELECT").arg(0).query(&mut app).expect("select");
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c2")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("ps")
        .arg(">")
        .query(&mut app)
        .expect("xreadgroup");
    let _: i64 = redis::cmd("XACK")
        .arg("ps")
        .arg("g")
        .arg("1-1")
        .query(&mut app)
        .expect("xack");
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg("ps")
        .arg("g")
        .arg("c3")
        .arg(0)
        .arg("3-1")
        .query(&mut app)
        .expect("xclaim");
    std::thread::sleep(Duration::from_millis(500));
    // kill -9 in the middle of the stream; it resumes from its state file.
    let _ = sync.0.kill();
    let _ = sync.0.wait();
    assert!(state_offset(&state) > 0, "position saved before the kill");
    std::thread::sleep(Duration::from_millis(300));
    sync = start_sync(dir.path(), src, dst, &state);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    loader.join().expect("loader");
    let last = info_u64(&mut admin, "replication", "master_repl_offset");
    let t = Instant::now();
    while state_offset(&state) < last {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "strata-sync stuck at {} < {last}: {}",
            state_offset(&state),
            std::fs::read_to_string(dir.path().join("sync.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut target = conn(dst, "");
    for lib in ["before", "after"] {
        let library = |c: &mut redis::Connection| -> String {
            let v: redis::Value = redis::cmd("FUNCTION")
                .arg("LIST")
                .arg("LIBRARYNAME")
                .arg(lib)
                .arg("WITHCODE")
                .query(c)
                .unwrap_or(redis::Value::Nil);
            format!("{v:?}")
        };
        let (src_lib, dst_lib) = (library(&mut app), library(&mut target));
        assert!(src_lib.contains("lua"), "{src_lib}");
        assert_eq!(dst_lib, src_lib, "function library {lib}");
    }
    let want = dump(&mut app);
    assert!(want.len() > 3000, "{} keys", want.len());
    let got = dump(&mut target);
    let diffs: Vec<_> = want
        .keys()
        .chain(got.keys())
        .filter(|k| want.get(*k) != got.get(*k))
        .take(5)
        .map(|k| format!("{k}: source {:?} target {:?}", want.get(k), got.get(k)))
        .collect();
    assert!(diffs.is_empty(), "target differs:\n{}", diffs.join("\n"));
    for db in 0..16 {
        let _: () = redis::cmd("SELECT")
            .arg(db)
            .query(&mut target)
            .expect("select");
        let n: i64 = redis::cmd("EXISTS")
            .arg("strata-sync:position")
            .query(&mut target)
            .expect("exists");
        assert_eq!(n, i64::from(db == 0), "the position key in db {db}");
    }
    assert!(
        !got.contains_key("0/not-in-app"),
        "only the namespace is copied"
    );
    let log = std::fs::read_to_string(dir.path().join("sync.log")).unwrap_or_default();
    assert_eq!(
        log.matches("full copy from snapshot").count(),
        1,
        "resumed, not copied again:\n{log}"
    );
    assert!(log.contains("records/s"), "progress for people:\n{log}");
    std::thread::sleep(Duration::from_millis(1200));
    let status = std::fs::read_to_string(state.with_extension("status")).unwrap_or_default();
    for field in [
        "\"phase\":\"streaming\"",
        "\"lag_records\":0",
        "\"lag_seconds\":0.0",
    ] {
        assert!(status.contains(field), "{field} in {status}");
    }

    // The namespace is dropped: it exits within 2 s with its code, state file intact.
    let pid = sync.0.id();
    let _: () = redis::cmd("NAMESPACE")
        .arg("DEL")
        .arg("app")
        .query(&mut admin)
        .expect("ns del");
    let code = wait_exit(
        &mut sync,
        Duration::from_secs(2),
        "still running 2 s after the drop",
    );
    assert_eq!(
        code,
        Some(3),
        "documented exit code for a dropped namespace"
    );
    assert!(state_offset(&state) > 0, "state file intact");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process gone with its fds"
    );
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut admin)
        .expect("client list");
    assert_eq!(
        clients.lines().count(),
        1,
        "no connection of strata-sync left: {clients}"
    );
}

#[test]
fn transient_errors_are_retried_and_logged_once_sigterm_saves_and_bad_auth_exits_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_strata, src) = start_strata(dir.path());
    let mut admin = conn(src, "adminpw");
    add_app_namespace(&mut admin);
    let mut app = conn(src, "tapp");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut app)
        .expect("set");
    // The target is not up yet: retried, logged once.
    let dst = free_port();
    let state = dir.path().join("sync.state");
    let mut sync = start_sync(dir.path(), src, dst, &state);
    std::thread::sleep(Duration::from_millis(2500));
    let log = std::fs::read_to_string(dir.path().join("sync.log")).unwrap_or_default();
    assert_eq!(
        log.matches("unreachable").count(),
        1,
        "one line per state change:\n{log}"
    );
    let (_redis, _) = start_redis(dir.path(), Some(dst));
    let mut target = conn(dst, "");
    let t = Instant::now();
    while redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut target)
        .ok()
        .flatten()
        .is_none()
    {
        assert!(t.elapsed() < Duration::from_secs(15), "never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: () = redis::cmd("SET")
        .arg("k2")
        .arg("v2")
        .query(&mut app)
        .expect("set");
    let last = info_u64(&mut admin, "replication", "master_repl_offset");
    let t = Instant::now();
    while state_offset(&state) < last {
        assert!(t.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: exit 0, position saved.
    let _ = Command::new("kill")
        .args(["-TERM", &sync.0.id().to_string()])
        .status();
    let code = wait_exit(&mut sync, Duration::from_secs(5), "did not stop on SIGTERM");
    assert_eq!(code, Some(0));
    assert_eq!(state_offset(&state), last);
    // A wrong source password is permanent: exit code 4.
    let mut args = sync_args(src, dst, &state);
    args[3] = "wrong".into();
    let out = Command::new(SYNC).args(&args).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// strata-sync reaching a source that takes it only over TLS and only as an ACL user with the
/// replication commands: the snapshot and then the stream arrive.
#[test]
fn follows_over_tls_as_a_restricted_acl_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let certs = testkit::make_certs();
    let tls_port = free_port();
    let (_strata, src) = start_on_free_port(
        |port| {
            let mut c = Command::new(server_bin());
            c.args(["--port", &port.to_string(), "--dir"])
                .arg(d.join("src"))
                .args([
                    "--requirepass",
                    "adminpw",
                    "--tls-port",
                    &tls_port.to_string(),
                ])
                .arg("--tls-cert-file")
                .arg(certs.path("server.crt"))
                .arg("--tls-key-file")
                .arg(certs.path("server.key"))
                .args(["--tls-auth-clients", "no"]);
            c
        },
        "strata-server",
        None,
    );
    let (_redis, dst) = start_redis(d, None);
    let mut admin = conn(src, "adminpw");
    add_app_namespace(&mut admin);
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "syncer",
            "on",
            ">syncpw",
            "+psync",
            "+replconf",
            "+syncfile",
        ])
        .query(&mut admin)
        .expect("acl setuser");
    let mut app = conn(src, "tapp");
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut app)
            .expect("set");
    }
    let state = d.join("sync.state");
    let log = std::fs::File::create(d.join("sync.log")).expect("log");
    let _sync = Proc(
        Command::new(SYNC)
            .args([
                "--source",
                &format!("127.0.0.1:{tls_port}"),
                "--source-user",
                "syncer",
                "--source-password",
                "syncpw",
                "--source-tls",
                "--tls-ca-cert-file",
            ])
            .arg(certs.path("ca.crt"))
            .args([
                "--namespace",
                "app",
                "--target",
                &format!("127.0.0.1:{dst}"),
                "--state-file",
            ])
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn strata-sync"),
    );
    let mut target = conn(dst, "");
    let wait = |target: &mut redis::Connection, key: &str, want: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let v: Option<String> = redis::cmd("GET").arg(key).query(target).unwrap_or(None);
            if v.as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    assert!(
        wait(&mut target, "k199", "199"),
        "snapshot over TLS; strata-sync log:\n{}",
        std::fs::read_to_string(d.join("sync.log")).unwrap_or_default()
    );
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("stream")
        .query(&mut app)
        .expect("set");
    assert!(wait(&mut target, "after", "stream"), "the stream over TLS");
    // The ACL log of the source has no refusal of strata-sync's commands.
    let log: Vec<redis::Value> = redis::cmd("ACL")
        .arg("LOG")
        .query(&mut admin)
        .expect("acl log");
    assert!(log.is_empty(), "{log:?}");
}
