//! The storage-full state driven by `max-db-size` and `min-free-disk`: writes get one
//! documented error, reads and space-freeing commands go on, and writes resume by themselves.

use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

const FULL: &str =
    "STORAGEFULL storage is full: writes are refused until space is freed (see INFO storage)";

fn storage_field(c: &mut Client, name: &str) -> String {
    let info = c.cmd(&["INFO", "storage"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {info}"))
}

/// Rebuilds the data from `binlog` alone (a fresh server replaying it) and checks it equals
/// what the server holds; returns the server's data.
fn assert_binlog_agrees(
    c: &mut Client,
    binlog: &std::path::Path,
    what: &str,
) -> std::collections::BTreeMap<String, String> {
    let cut = crate::binlog::cutoff();
    let live = crate::binlog::dump(c, cut);
    let (replayed, _) = crate::binlog::replay_from_empty(binlog, cut);
    crate::binlog::assert_same(&live, &replayed, what);
    live
}

fn wait_state(c: &mut Client, want: &str) -> Duration {
    let t = Instant::now();
    while storage_field(c, "storage_state") != want {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "storage_state never became {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

#[test]
fn over_max_db_size_writes_are_refused_reads_and_deletes_go_on_and_writes_resume() {
    let mut s = Server::start(&[]);
    let target = format!("127.0.0.1 {}", s.port);
    let r1 = Server::start(&["--replicaof", &target]);
    let mut c = s.client();
    for i in 0..500 {
        c.cmd(&["SET", &format!("k{i}"), "some value"]);
    }
    c.cmd(&["RPUSH", "list", "a", "b", "c"]);
    c.cmd(&["SADD", "set", "x"]);
    c.cmd(&["DEBUG", "RELOAD"]);
    assert_eq!(storage_field(&mut c, "storage_state"), "ok");
    c.cmd(&["CONFIG", "SET", "max-db-size", "1"]);
    let took = wait_state(&mut c, "full");
    eprintln!("storage full noticed after {took:?}");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "max-db-size reached"
    );
    assert!(
        storage_field(&mut c, "storage_used_bytes")
            .parse::<u64>()
            .unwrap_or(0)
            > 1
    );

    // Writes: the same error every time, also pipelined (key batches) and inside MULTI.
    assert_eq!(c.cmd(&["SET", "new", "v"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["SADD", "set", "y"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["PERSIST", "k1"]), Reply::Error(FULL.into()));
    let mut buf = Vec::new();
    for _ in 0..5 {
        buf.extend(Client::encode(&[b"INCR", b"counter"]));
    }
    c.send_raw(&buf).expect("send");
    for _ in 0..5 {
        assert_eq!(c.read_reply().expect("reply"), Reply::Error(FULL.into()));
    }
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "in-multi", "v"]), Reply::Error(FULL.into()));
    assert!(c.cmd(&["EXEC"]).err_text().starts_with("EXECABORT"));
    // Reads, and commands that free space, go on.
    assert_eq!(c.cmd(&["GET", "k1"]), Reply::bulk("some value"));
    assert_eq!(c.cmd(&["DEL", "k1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["LPOP", "list"]), Reply::bulk("a"));
    assert_eq!(c.cmd(&["SREM", "set", "x"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k2", "1000"]), Reply::Int(1));
    // ... but not an EXPIRE that lengthens a key's life.
    assert_eq!(c.cmd(&["EXPIRE", "k2", "5000"]), Reply::Error(FULL.into()));
    assert!(c.cmd(&["DBSIZE"]).int() > 400);
    // Replication goes on: the replica gets the deletions, a new replica a full sync.
    let t = Instant::now();
    while r1.client().cmd(&["EXISTS", "k1"]) != Reply::Int(0) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "replica stopped streaming"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r2 = Server::start(&["--replicaof", &target]);
    let t = Instant::now();
    while r2.client().cmd(&["DBSIZE"]) != c.cmd(&["DBSIZE"]) {
        assert!(t.elapsed() < Duration::from_secs(30), "{}", r2.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        storage_field(&mut c, "storage_writes_refused")
            .parse::<u64>()
            .unwrap_or(0)
            >= 9
    );

    // Space back (limit raised): writes resume by themselves.
    c.cmd(&["CONFIG", "SET", "max-db-size", "0"]);
    let took = wait_state(&mut c, "ok");
    eprintln!("writes resumed after {took:?}");
    assert_eq!(c.cmd(&["SET", "new", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["INCR", "counter"]), Reply::Int(1));
    // After the episode: kill -9 and restart; the binlog and the data agree.
    drop(c);
    s.kill9().unwrap();
    s.spawn();
    assert_binlog_agrees(
        &mut s.client(),
        &s.dir.join("data").join("binlog"),
        "binlog replayed vs data after the episode",
    );
}

#[test]
fn low_free_disk_space_refuses_writes_until_it_is_back() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert!(
        storage_field(&mut c, "storage_free_bytes")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    c.cmd(&["CONFIG", "SET", "min-free-disk", "1000000gb"]);
    wait_state(&mut c, "full");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "free disk space below min-free-disk"
    );
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
    c.cmd(&["CONFIG", "SET", "min-free-disk", "64mb"]);
    wait_state(&mut c, "ok");
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
}

/// A small tmpfs mounted by the test (removed when dropped); `None` where mounting is not
/// allowed.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(SmallFs { dir })
    }

    fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "remount failed");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A real ENOSPC: fill a small filesystem through the server until writes fail; then writes
/// are refused with the documented error, reads go on, nothing acknowledged is lost, and when
/// the filesystem grows writes resume without a restart.
#[test]
fn a_real_full_disk_refuses_writes_and_recovers_when_space_returns() {
    let Some(fs) = SmallFs::mount("24m") else {
        eprintln!("SKIPPED: this machine does not allow mounting a tmpfs (needs root)");
        return;
    };
    let data = fs.dir.path().join("data");
    let data = data.to_str().expect("path").to_string();
    let mut s = Server::start(&[
        "--dir",
        &data,
        "--min-free-disk",
        "0",
        "--storage-ballast-size",
        "4mb",
    ]);
    assert!(
        std::fs::metadata(fs.dir.path().join("data/ballast")).is_ok_and(|m| m.len() == 4 << 20),
        "no ballast file"
    );
    // A replica (on the ordinary disk) streams from it all along.
    let target = format!("127.0.0.1 {}", s.port);
    let r1 = Server::start(&["--replicaof", &target]);
    let value = "v".repeat(256 << 10);
    let mut acked = Vec::new();
    let mut c = s.client();
    for i in 0..400 {
        match c.try_cmd(&["SET", &format!("k{i}"), &value]) {
            Ok(Reply::Status(st)) if st == "OK" => acked.push(i),
            Ok(Reply::Error(e)) => {
                eprintln!("write {i} refused: {e}");
                break;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                eprintln!("write {i}: connection closed without a reply (binlog write failed)");
                break;
            }
        }
    }
    assert!(acked.len() < 400, "the 24 MB filesystem never filled");
    eprintln!(
        "{} writes of 256 KB acknowledged before the disk was full",
        acked.len()
    );
    let mut c = s.client();
    wait_state(&mut c, "full");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "disk full (a write failed with no space left)"
    );
    assert_eq!(c.cmd(&["SET", "more", "x"]), Reply::Error(FULL.into()));
    // The ballast went, so the recovery had room; writes stay refused until it is back.
    let t = Instant::now();
    while storage_field(&mut c, "storage_ballast") != "released" {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "ballast never released"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(storage_field(&mut c, "storage_state"), "full");
    assert_eq!(c.cmd(&["SET", "more", "x"]), Reply::Error(FULL.into()));
    let first = format!("k{}", acked[0]);
    assert_eq!(c.cmd(&["STRLEN", &first]), Reply::Int(256 << 10));
    assert!(c.cmd(&["INFO"]).text().contains("storage_state:full"));
    // Replication goes on from the full master: the replica holds every acknowledged write,
    // and a new replica completes a full sync.
    let last = format!("k{}", acked[acked.len() - 1]);
    let t = Instant::now();
    while r1.client().cmd(&["STRLEN", &last]) != Reply::Int(256 << 10) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "replica stopped streaming"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r2 = Server::start(&["--replicaof", &target]);
    let t = Instant::now();
    while r2.client().cmd(&["STRLEN", &last]) != Reply::Int(256 << 10) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no full sync from the full master: {}",
            r2.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // (The write whose binlog flush failed got no reply; its effect may exist.)
    let n = r2.client().cmd(&["DBSIZE"]).int();
    assert!(
        n >= acked.len() as i64 && n <= acked.len() as i64 + 1,
        "{n} keys"
    );

    // Space comes back: writes resume by themselves, nothing acknowledged was lost.
    fs.resize("200m");
    let took = wait_state(&mut c, "ok");
    eprintln!("writes resumed {took:?} after the filesystem grew");
    assert_eq!(c.cmd(&["SET", "more", "x"]), Reply::ok());
    assert_eq!(storage_field(&mut c, "storage_ballast"), "present");
    for i in &acked {
        assert_eq!(
            c.cmd(&["STRLEN", &format!("k{i}")]),
            Reply::Int(256 << 10),
            "lost k{i}"
        );
    }
    drop(c);
    assert_eq!(s.stop(), Some(0), "{}", s.log_text());
    s.spawn();
    let mut c = s.client();
    for i in &acked {
        assert_eq!(c.cmd(&["STRLEN", &format!("k{i}")]), Reply::Int(256 << 10));
    }
    assert_eq!(c.cmd(&["GET", "more"]), Reply::bulk("x"));
    // After the episode: kill -9 and restart; the binlog and the data agree.
    drop(c);
    s.kill9().unwrap();
    s.spawn();
    let mut c = s.client();
    let live = assert_binlog_agrees(
        &mut c,
        &fs.dir.path().join("data").join("binlog"),
        "binlog replayed vs data after the episode",
    );
    assert!(live.len() > acked.len());
    drop(c);
    s.stop();
}

const IOERR: &str =
    "IOERR storage I/O error: writes are stopped until the server is restarted (see INFO storage)";

/// An I/O error that is not a full disk (EIO from the binlog) stops writes with its own
/// error; nothing resumes by itself; reads go on; a restart recovers and the binlog and the
/// data agree.
#[test]
fn an_io_error_is_told_apart_from_a_full_disk_and_nothing_resumes_blindly() {
    let mut s = Server::start(&[]);
    let mut c = s.client();
    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    c.cmd(&["DEBUG", "FAILPOINT", "binlog-eio", "1"]);
    let r = c.cmd(&["SET", "failed", "x"]);
    assert!(
        r.is_error(),
        "the write whose log append failed is not acknowledged: {r:?}"
    );
    wait_state(&mut c, "full");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "I/O error (not a full disk): restart after checking the disk"
    );
    assert!(storage_field(&mut c, "storage_io_error").contains("Input/output error"));
    // Every write is refused, even those that free space; reads go on.
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Error(IOERR.into()));
    assert_eq!(c.cmd(&["DEL", "k1"]), Reply::Error(IOERR.into()));
    assert_eq!(c.cmd(&["GET", "k7"]), Reply::bulk("7"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        storage_field(&mut c, "storage_state"),
        "full",
        "no blind resume"
    );
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Error(IOERR.into()));
    // A restart (after the disk was checked) recovers; the binlog and the data agree.
    s.kill9().unwrap();
    s.spawn();
    let mut c = s.client();
    assert_eq!(storage_field(&mut c, "storage_state"), "ok");
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
    assert!(c.cmd(&["GET", "failed"]).is_null());
    assert_binlog_agrees(
        &mut c,
        &s.dir.join("data").join("binlog"),
        "binlog replayed vs data",
    );
}

/// A replica whose own storage is full stops applying, says so, keeps its link and its
/// position, and continues incrementally when space is back (no second full sync).
#[test]
fn a_full_replica_pauses_and_continues_without_a_full_sync() {
    let master = Server::start(&["--repl-timeout", "2"]);
    let target = format!("127.0.0.1 {}", master.port);
    let replica = Server::start(&["--replicaof", &target, "--repl-timeout", "2"]);
    let mut mc = master.client();
    mc.cmd(&["SET", "first", "1"]);
    let t = Instant::now();
    while mc.cmd(&["WAIT", "1", "100"]).int() < 1 {
        assert!(t.elapsed() < Duration::from_secs(30));
    }
    let mut rc = replica.client();
    rc.cmd(&["CONFIG", "SET", "max-db-size", "1"]);
    wait_state(&mut rc, "full");
    for i in 0..200 {
        mc.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let repl_field = |c: &mut Client, name: &str| {
        let info = c.cmd(&["INFO", "replication"]).text();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let t = Instant::now();
    while repl_field(&mut rc, "replica_apply_paused") != "storage-full" {
        assert!(t.elapsed() < Duration::from_secs(10), "never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Longer than repl-timeout: the link stays (acknowledgements go on), nothing is applied.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(repl_field(&mut rc, "master_link_status"), "up");
    assert!(rc.cmd(&["GET", "k199"]).is_null());
    assert!(repl_field(&mut mc, "slave0").contains("state=online"));
    rc.cmd(&["CONFIG", "SET", "max-db-size", "0"]);
    let t = Instant::now();
    while rc.cmd(&["GET", "k199"]).is_null() {
        assert!(t.elapsed() < Duration::from_secs(10), "never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(repl_field(&mut rc, "replica_apply_paused"), "no");
    let stats = mc.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        crate::binlog::info_field(&stats, "sync_full"),
        1,
        "no second full sync: {stats}"
    );
    assert_eq!(rc.cmd(&["DBSIZE"]).int(), 201);
}

/// A memtable flush that fails for lack of space (RocksDB's background error, reported at
/// once by its event listener) enters the same state; deleting files frees space and writes
/// resume without a restart (RocksDB resumes a failed flush once a write buffer's worth,
/// 64 MB here, is free; it checks every 5 s).
#[test]
fn a_flush_that_hits_enospc_is_a_full_disk_and_deleting_files_recovers() {
    let Some(fs) = SmallFs::mount("100m") else {
        eprintln!("SKIPPED: this machine does not allow mounting a tmpfs (needs root)");
        return;
    };
    let data = fs.dir.path().join("data");
    let data = data.to_str().expect("path").to_string();
    let s = Server::start(&[
        "--dir",
        &data,
        "--min-free-disk",
        "0",
        "--storage-ballast-size",
        "1mb",
    ]);
    let mut c = s.client();
    // Incompressible values: the SST file is as large as the memtable.
    let mut rnd = crate::robustness::xorshift(7);
    for i in 0..100 {
        let value: String = (0..(64 << 10) / 16)
            .map(|_| format!("{:016x}", rnd(usize::MAX)))
            .collect();
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), &value]), Reply::ok());
    }
    // Something else fills the filesystem: the memtable (about 6.5 MB) cannot be flushed.
    let filler = fs.dir.path().join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![7u8; 1 << 20];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let r = c.cmd(&["DEBUG", "RELOAD"]);
    assert!(
        r.is_error(),
        "the flush cannot succeed on a full disk: {r:?}"
    );
    wait_state(&mut c, "full");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "disk full (a write failed with no space left)"
    );
    assert_eq!(c.cmd(&["SET", "x", "1"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["STRLEN", "k5"]), Reply::Int(64 << 10));
    std::fs::remove_file(&filler).expect("remove filler");
    let t = Instant::now();
    while storage_field(&mut c, "storage_state") != "ok" {
        assert!(t.elapsed() < Duration::from_secs(20), "{}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = t.elapsed();
    eprintln!("writes resumed {took:?} after the file was deleted");
    assert_eq!(c.cmd(&["SET", "x", "1"]), Reply::ok());
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Reply::ok());
}

/// Scripts while storage is full: one that may write (a shebang without `no-writes`) is
/// refused before it starts unless it has `allow-oom`; read-only scripts and functions run;
/// a legacy script (no shebang) is refused at its first write that does not free space, and
/// its deletes go through.
#[test]
fn scripts_while_storage_is_full() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SET", "gone", "v"]);
    c.cmd(&["DEBUG", "RELOAD"]);
    let lib = "#!lua name=l\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}\nredis.register_function('put', function(keys) return redis.call('set', keys[1], 'x') end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("l"));
    c.cmd(&["CONFIG", "SET", "max-db-size", "1"]);
    wait_state(&mut c, "full");
    assert_eq!(
        c.cmd(&["EVAL", "#!lua\nreturn redis.call('get', 'k')", "0"]),
        Reply::Error(FULL.into())
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', 'k')",
            "0"
        ]),
        Reply::bulk("v")
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "#!lua flags=allow-oom\nreturn redis.call('del', 'gone')",
            "0"
        ]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["FCALL", "peek", "1", "k"]), Reply::bulk("v"));
    assert_eq!(
        c.cmd(&["FCALL", "put", "1", "k"]),
        Reply::Error(FULL.into())
    );
    match c.cmd(&["EVAL", "return redis.call('set', 'new', '1')", "0"]) {
        Reply::Error(e) => assert!(e.starts_with(FULL), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('del', 'k')", "0"]),
        Reply::Int(1)
    );
    c.cmd(&["CONFIG", "SET", "max-db-size", "0"]);
    wait_state(&mut c, "ok");
    assert_eq!(c.cmd(&["FCALL", "put", "1", "k"]), Reply::ok());
}
