//! Replication: replicas converge under load, full syncs are verified, resumable and leave
//! no file handle behind, the purge race cannot force a second full sync, promotion keeps
//! the peers' positions, shutdown lets replicas catch up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::binlog::{assert_same, cutoff, dump, info_field, run_load};
use crate::util::{Client, Reply, Server};

fn info(s: &Server) -> String {
    s.client().cmd(&["INFO", "replication"]).text()
}

fn text_field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn replica_of(master: &Server, extra: &[&str]) -> Server {
    let target = format!("127.0.0.1 {}", master.port);
    let mut args = vec!["--replicaof", target.as_str()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Waits until the replica's link is up and it holds every record of the master.
pub(crate) fn wait_caught_up(master: &Server, replica: &Server, limit: Duration) {
    let t = Instant::now();
    loop {
        let m = info_field(&info(master), "master_repl_offset");
        let ri = info(replica);
        if text_field(&ri, "master_link_status") == "up"
            && info_field(&ri, "slave_repl_offset") >= m
        {
            return;
        }
        assert!(
            t.elapsed() < limit,
            "replica did not catch up with master offset {m}: {ri}\nreplica log:\n{}",
            replica.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every key of `replica` equals `master`'s.
pub(crate) fn assert_same_data(master: &Server, replica: &Server, what: &str) {
    let cut = cutoff();
    assert_same(
        &dump(&mut master.client(), cut),
        &dump(&mut replica.client(), cut),
        what,
    );
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn two_replicas_hold_exactly_the_masters_data_after_a_write_load() {
    let master = Server::start(&[]);
    let mut c = master.client();
    for i in 0..500 {
        c.cmd(&["SET", &format!("pre{i}"), &i.to_string(), "EX", "10000"]);
    }
    // One replica syncs before the load, one joins in the middle of it.
    let r1 = replica_of(&master, &[]);
    wait_caught_up(&master, &r1, Duration::from_secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let port = master.port;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || run_load(port, 6, stop, Duration::from_secs(6), 11))
    };
    std::thread::sleep(Duration::from_millis(1500));
    let r2 = replica_of(&master, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    // Acknowledged by both (WAIT counts replicas at the master's last offset).
    let n = c.cmd(&["WAIT", "2", "30000"]).int();
    assert_eq!(n, 2, "WAIT 2: {}", info(&master));
    wait_caught_up(&master, &r1, Duration::from_secs(30));
    wait_caught_up(&master, &r2, Duration::from_secs(30));
    let cut = cutoff();
    let want = dump(&mut master.client(), cut);
    assert!(want.len() > 500, "{} keys", want.len());
    assert_same(&want, &dump(&mut r1.client(), cut), "replica 1");
    assert_same(&want, &dump(&mut r2.client(), cut), "replica 2");
    let mi = info(&master);
    assert_eq!(info_field(&mi, "connected_slaves"), 2, "{mi}");
    for i in 0..2 {
        let line = text_field(&mi, &format!("slave{i}"));
        assert!(line.contains("state=online"), "{line}");
        assert!(
            line.contains(&format!("port={}", r1.port))
                || line.contains(&format!("port={}", r2.port)),
            "the replica's listening port: {line}"
        );
    }
    // Replicas refuse writes, answer ROLE, and their history is the master's.
    let mut rc = r1.client();
    assert!(rc
        .cmd(&["SET", "x", "1"])
        .err_text()
        .starts_with("READONLY"));
    let role = rc.cmd(&["ROLE"]);
    assert_eq!(role.array()[0].text(), "slave");
    assert_eq!(
        text_field(&info(&r1), "master_replid"),
        text_field(&mi, "master_replid")
    );
    let stats = master.client().cmd(&["INFO", "stats"]).text();
    assert_eq!(info_field(&stats, "sync_full"), 2, "{stats}");
}

/// Fills the master with `mb` MB of incompressible values in large SST files.
pub(crate) fn fill(master: &Server, mb: usize) {
    let mut c = master.client();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut buf = Vec::new();
    let mut n = 0;
    for i in 0..mb * 16 {
        let mut v = String::with_capacity(65536);
        while v.len() < 65536 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.push_str(&format!("{seed:016x}"));
        }
        buf.extend(Client::encode(&[
            b"SET",
            format!("big{i}").as_bytes(),
            &v.as_bytes()[..65536],
        ]));
        n += 1;
        if n == 32 {
            c.send_raw(&buf).expect("send");
            for _ in 0..n {
                c.read_reply().expect("reply");
            }
            buf.clear();
            n = 0;
        }
    }
    c.send_raw(&buf).expect("send");
    for _ in 0..n {
        c.read_reply().expect("reply");
    }
}

#[test]
fn a_replica_killed_in_a_full_sync_resumes_without_fetching_verified_bytes_again() {
    let master = Server::start(&["--max-replication-mb", "12"]);
    fill(&master, 48);
    let mut replica = replica_of(&master, &["--repl-transfer-chunk-size", "1mb"]);
    // Kill it once about half is verified.
    let t = Instant::now();
    let (read, total) = loop {
        let ri = info(&replica);
        if ri.contains("master_sync_in_progress:1") {
            let read = info_field(&ri, "master_sync_read_bytes");
            let total = info_field(&ri, "master_sync_total_bytes");
            if read > total / 2 {
                break (read, total);
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no full sync progress: {ri}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    replica.kill9().unwrap();
    // Nothing half-written ever sits under a final name.
    let sync = replica.dir.join("data").join("sync");
    let manifest = std::fs::read_to_string(sync.join("manifest")).unwrap();
    for line in manifest.lines().filter(|l| l.starts_with("file ")) {
        let w: Vec<&str> = line.split(' ').collect();
        let path = sync.join("db").join(w[1]);
        if let Ok(md) = std::fs::metadata(&path) {
            assert_eq!(
                md.len(),
                w[2].parse::<u64>().unwrap(),
                "{} is complete",
                w[1]
            );
        }
    }
    replica.spawn();
    wait_caught_up(&master, &replica, Duration::from_secs(90));
    let log = replica.log_text();
    let resumed: u64 = log
        .split("resumed_bytes=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fetched = info_field(&info(&replica), "master_sync_fetched_bytes");
    // Verified bytes are saved every 8 MB per file (4 streams at once).
    assert!(
        resumed > 0 && resumed + 4 * (8 << 20) >= read,
        "resumed {resumed} of {total} ({read} verified at the kill):\n{log}"
    );
    // After the restart only what was not verified is fetched (a few chunks per file at most
    // are fetched twice: those after the last saved checkpoint).
    assert!(
        fetched <= total - resumed + 16 * (8 << 20),
        "fetched {fetched} after resuming {resumed} of {total}"
    );
    assert!(
        fetched < total,
        "fetched {fetched} of {total}: everything again"
    );
    assert_same_data(&master, &replica, "resumed replica");
    assert!(
        !sync.exists(),
        "the staging directory is removed after the switch"
    );
}

#[test]
fn a_corrupted_chunk_is_detected_and_fetched_again() {
    let master = Server::start(&[]);
    fill(&master, 4);
    master
        .client()
        .cmd(&["DEBUG", "FAILPOINT", "syncfile-corrupt-chunk", "1"]);
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(60));
    let ri = info(&replica);
    assert_eq!(info_field(&ri, "master_sync_corrupt_chunks"), 1, "{ri}");
    assert!(replica
        .log_text()
        .contains("chunk failed its checksum: fetching it again"));
    assert_same_data(&master, &replica, "replica");
}

#[test]
fn fifty_full_syncs_leave_the_fd_count_flat() {
    let master = Server::start(&[]);
    let mut c = master.client();
    for i in 0..2000 {
        c.cmd(&["HSET", &format!("h{}", i % 50), &format!("f{i}"), "v"]);
    }
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    let mut rc = replica.client();
    let target = format!("{}", master.port);
    // Settle, then measure: promoting and re-following forces a full sync (a new history).
    let cycle = |rc: &mut Client, i: usize| {
        assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]).text(), "OK");
        assert_eq!(rc.cmd(&["REPLICAOF", "127.0.0.1", &target]).text(), "OK");
        c_write(&master, i);
        wait_caught_up(&master, &replica, Duration::from_secs(30));
    };
    for i in 0..3 {
        cycle(&mut rc, i);
    }
    let (m0, r0) = (fd_count(master.pid()), fd_count(replica.pid()));
    let fulls0 = info_field(&master.client().cmd(&["INFO", "stats"]).text(), "sync_full");
    for i in 0..50 {
        cycle(&mut rc, 100 + i);
    }
    let fulls = info_field(&master.client().cmd(&["INFO", "stats"]).text(), "sync_full");
    assert_eq!(fulls - fulls0, 50, "every cycle was a full sync");
    assert!(
        master
            .log_text()
            .contains("replica needs a second full sync within minutes"),
        "repeated full syncs of one replica are warned about"
    );
    // Old engines are closed once nothing uses them (checked every second).
    std::thread::sleep(Duration::from_millis(1500));
    let (m1, r1) = (fd_count(master.pid()), fd_count(replica.pid()));
    assert!(m1 <= m0 + 8, "master fds {m0} -> {m1}");
    assert!(r1 <= r0 + 8, "replica fds {r0} -> {r1}");
    assert_same_data(&master, &replica, "replica");
    let dirs: Vec<String> = std::fs::read_dir(replica.dir.join("data"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("db-") || n.starts_with("binlog-"))
        .collect();
    assert!(dirs.len() <= 4, "old generations removed: {dirs:?}");
}

fn c_write(master: &Server, i: usize) {
    master.client().cmd(&["SET", &format!("cycle{i}"), "x"]);
}

#[test]
fn the_purge_race_cannot_force_a_second_full_sync() {
    // A tiny binlog (4 KB segments, 2 kept) under a heavy write load, and a slow transfer:
    // without the lease taken before the snapshot, the records after it would be purged
    // before the replica asks for them, and it would need another full sync.
    let master = Server::start(&[
        "--binlog-segment-size",
        "4096",
        "--binlog-max-segments",
        "2",
        "--max-replication-mb",
        "4",
    ]);
    fill(&master, 8);
    let stop = Arc::new(AtomicBool::new(false));
    let port = master.port;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || run_load(port, 4, stop, Duration::from_secs(30), 5))
    };
    let replica = replica_of(&master, &[]);
    // Meanwhile, purge everything no lease protects, again and again.
    let mut admin = master.client();
    let t = Instant::now();
    while info_field(&info(&replica), "master_sync_full_syncs") == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{}",
            replica.log_text()
        );
        let last = info_field(&admin.cmd(&["INFO", "binlog"]).text(), "binlog_last_offset");
        admin.cmd(&["BINLOG", "PURGE", &last.to_string()]);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    wait_caught_up(&master, &replica, Duration::from_secs(60));
    let stats = master.client().cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&stats, "sync_full"),
        1,
        "{stats}\n{}",
        master.log_text()
    );
    assert_eq!(info_field(&info(&replica), "master_sync_full_syncs"), 1);
    let binlog = master.client().cmd(&["INFO", "binlog"]).text();
    assert!(
        info_field(&binlog, "binlog_first_offset") > 1,
        "the master did purge: {binlog}"
    );
    assert_same_data(&master, &replica, "replica");
}

#[test]
fn promotion_keeps_peers_partial_and_an_old_master_discards_what_nobody_else_has() {
    let mut a = Server::start(&[]);
    let b = replica_of(&a, &[]);
    let c = replica_of(&a, &[]);
    let mut ac = a.client();
    for i in 0..300 {
        ac.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    wait_caught_up(&a, &b, Duration::from_secs(30));
    wait_caught_up(&a, &c, Duration::from_secs(30));
    // A writes more that nobody receives (its replicas are cut off), then dies.
    b.client().cmd(&["REPLICAOF", "NO", "ONE"]);
    let mut cc = c.client();
    cc.cmd(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    ac.cmd(&["SET", "lost", "only-on-a"]);
    a.kill9().unwrap();
    let mut bc = b.client();
    assert_eq!(bc.cmd(&["SET", "after", "promotion"]).text(), "OK");
    wait_caught_up(&b, &c, Duration::from_secs(30));
    let bs = bc.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&bs, "sync_partial_ok"),
        1,
        "C continued by partial sync: {bs}"
    );
    assert_eq!(info_field(&bs, "sync_full"), 0, "{bs}");
    assert_eq!(cc.cmd(&["GET", "after"]).text(), "promotion");
    // The old master comes back and follows B: its extra write is discarded (full sync).
    a.spawn();
    a.client()
        .cmd(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_caught_up(&b, &a, Duration::from_secs(30));
    let mut ac = a.client();
    assert!(
        ac.cmd(&["GET", "lost"]).is_null(),
        "divergent write discarded"
    );
    assert_eq!(ac.cmd(&["GET", "after"]).text(), "promotion");
    let cut = cutoff();
    let want = dump(&mut bc, cut);
    assert_same(&want, &dump(&mut ac, cut), "old master");
    assert_same(&want, &dump(&mut cc, cut), "peer replica");
}

#[test]
fn garbage_on_the_replication_stream_and_bad_transfer_requests_are_refused() {
    let master = Server::start(&[]);
    let mut c = master.client();
    c.cmd(&["SET", "k", "v"]);
    let mut feed = master.client();
    assert!(feed
        .cmd(&["PSYNC", "?", "-1"])
        .text()
        .starts_with("FULLRESYNC"));
    let mut feed = master.client();
    let replid = text_field(&info(&master), "master_replid");
    let r = feed.cmd(&["PSYNC", &replid, "1"]);
    assert!(r.text().starts_with("CONTINUE"), "{r:?}");
    feed.send_raw(b"\x00\xff garbage that is not RESP\r\n")
        .unwrap();
    let t = Instant::now();
    while info_field(&info(&master), "connected_slaves") != 0 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    for bad in [
        vec!["SYNCFILE", "READ", "nope", "CURRENT", "0", "10"],
        vec!["SYNCFILE", "MANIFEST", "../../etc"],
        vec!["PSYNC", "x", "notanumber"],
    ] {
        let r = c.cmd(&bad);
        assert!(
            r.is_error() || r.text().starts_with("FULLRESYNC"),
            "{bad:?}: {r:?}"
        );
    }
    assert_eq!(c.cmd(&["GET", "k"]).text(), "v");
    assert_eq!(
        c.cmd(&["REPLICAOF", "127.0.0.1", "0"]).err_text(),
        "ERR Invalid master port"
    );
    assert_eq!(c.cmd(&["WAIT", "0", "0"]).int(), 0);
}

#[test]
fn shutdown_lets_replicas_catch_up_and_a_silent_replica_cannot_hold_it() {
    let mut master = Server::start(&["--shutdown-timeout", "3"]);
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    let mut c = master.client();
    for i in 0..2000 {
        c.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    assert_eq!(master.stop(), Some(0), "{}", master.log_text());
    let log = master.log_text();
    assert!(
        log.contains("shutdown stage 4/5 (replicas catch up: 1 at offset"),
        "{log}"
    );
    let mut rc = replica.client();
    assert_eq!(rc.cmd(&["DBSIZE"]).int(), 2000);

    // A replica that stopped acknowledging (SIGSTOP) holds shutdown at most shutdown-timeout.
    master.spawn();
    rc.cmd(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &replica.pid().to_string()])
        .status();
    let mut c = master.client();
    for i in 0..100 {
        c.cmd(&["SET", &format!("late{i}"), "x"]);
    }
    // And a client that never reads its replies.
    let _stuck = crate::crash::client_that_never_reads(&master);
    let t = Instant::now();
    let code = master.stop();
    let took = t.elapsed();
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &replica.pid().to_string()])
        .status();
    // shutdown-timeout (3 s) + the documented margin: stage 2's 5 s drain deadline, stage
    // 3's 2 s, and a little for stage 5.
    assert!(
        took < Duration::from_secs(3 + 7 + 2),
        "shutdown took {took:?}"
    );
    assert_eq!(
        code,
        Some(4),
        "a cut stage is a forced shutdown: {}",
        master.log_text()
    );
    assert!(master
        .log_text()
        .contains("still behind at shutdown-timeout"));
}

#[test]
fn masterauth_announce_and_a_stopped_replica_that_cannot_hold_the_master() {
    let master = Server::start(&["--requirepass", "s3cret"]);
    let auth = |s: &Server| {
        let mut c = s.client();
        c.cmd(&["AUTH", "s3cret"]);
        c
    };
    // Without the password the link stays down, and the reason is logged once.
    let bad = replica_of(&master, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let bi = info(&bad);
    assert_eq!(text_field(&bi, "master_link_status"), "down", "{bi}");
    let log = bad.log_text();
    assert_eq!(
        log.matches("master refused").count(),
        1,
        "logged once per state: {log}"
    );
    drop(bad);
    let replica = replica_of(
        &master,
        &["--masterauth", "s3cret", "--replica-announce-port", "12345"],
    );
    let mut mc = auth(&master);
    mc.cmd(&["SET", "a", "1"]);
    let t = Instant::now();
    while mc.cmd(&["WAIT", "1", "100"]).int() < 1 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            replica.log_text()
        );
    }
    let mi = mc.cmd(&["INFO", "replication"]).text();
    assert!(text_field(&mi, "slave0").contains("port=12345"), "{mi}");
    // A replica that stops reading (SIGSTOP) costs the master a socket buffer, not memory
    // per write: writes go on, RSS stays bounded, and the replica catches up afterwards.
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &replica.pid().to_string()])
        .status();
    let rss0 = master.rss_kb();
    let value = "x".repeat(4096);
    for i in 0..20_000 {
        mc.cmd(&["SET", &format!("k{}", i % 5000), &value]);
    }
    let rss1 = master.rss_kb();
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &replica.pid().to_string()])
        .status();
    assert!(
        rss1 < rss0 + 80 * 1024,
        "master RSS grew from {rss0} KB to {rss1} KB while the replica was stopped (80 MB written)"
    );
    let t = Instant::now();
    loop {
        let m = info_field(
            &mc.cmd(&["INFO", "replication"]).text(),
            "master_repl_offset",
        );
        let r = info_field(
            &auth(&replica).cmd(&["INFO", "replication"]).text(),
            "slave_repl_offset",
        );
        if r >= m {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "replica stuck at {r} < {m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(auth(&replica).cmd(&["GET", "k4999"]).text(), value);
    // PUBLISH works on a read-only replica (Sentinel's hello messages).
    assert_eq!(
        auth(&replica)
            .cmd(&["PUBLISH", "__sentinel__:hello", "x"])
            .int(),
        0
    );
}

#[test]
fn shutdown_abort_cancels_a_shutdown_waiting_for_replicas() {
    let mut master = Server::start(&["--shutdown-timeout", "30"]);
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    let signal_replica = |sig: &str| {
        let _ = std::process::Command::new("kill")
            .args([sig, &replica.pid().to_string()])
            .status();
    };
    signal_replica("-STOP");
    let mut c = master.client();
    c.cmd(&["SET", "before", "1"]);
    // A signal lands asynchronously: make sure the master sees the replica behind (it may
    // have acknowledged `before` just before it stopped).
    let t = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let mi = info(&master);
        let acked = text_field(&mi, "slave0")
            .split(',')
            .find_map(|f| {
                f.strip_prefix("offset=")
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        if acked < info_field(&mi, "master_repl_offset") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the replica never fell behind: {mi}"
        );
        c.cmd(&["SET", "before", "1"]);
    }
    // SHUTDOWN waits for the stopped replica: its caller waits, writes are paused, reads go on.
    let port = master.port;
    let caller = std::thread::spawn(move || Client::connect(port).cmd(&["SHUTDOWN"]));
    std::thread::sleep(Duration::from_millis(300));
    let writer = std::thread::spawn(move || Client::connect(port).cmd(&["SET", "during", "1"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writer.is_finished(),
        "writes are paused while the shutdown waits"
    );
    assert_eq!(c.cmd(&["GET", "before"]).text(), "1");
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]).text(), "OK");
    let r = caller.join().unwrap();
    assert_eq!(r.err_text(), "ERR Errors trying to SHUTDOWN. Check logs.");
    assert_eq!(writer.join().unwrap().text(), "OK");
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]).err_text(),
        "ERR No shutdown in progress."
    );
    assert!(master.log_text().contains("shutdown aborted"));
    // SIGTERM waits the same way and is aborted the same way.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &master.pid().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = master.client();
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]).text(), "OK");
    assert_eq!(c.cmd(&["SET", "after", "1"]).text(), "OK");
    // Once the replica is back, a shutdown waits for it and ends cleanly.
    signal_replica("-CONT");
    assert_eq!(master.stop(), Some(0), "{}", master.log_text());
    let mut rc = replica.client();
    for k in ["before", "during", "after"] {
        assert_eq!(rc.cmd(&["GET", k]).text(), "1", "{k} reached the replica");
    }
}

#[test]
fn a_replica_killed_during_incremental_sync_restarts_and_continues_partially() {
    let master = Server::start(&[]);
    let mut replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let port = master.port;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || run_load(port, 4, stop, Duration::from_secs(30), 23))
    };
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        replica.kill9().unwrap();
        replica.spawn();
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    wait_caught_up(&master, &replica, Duration::from_secs(60));
    assert_same_data(&master, &replica, "replica after 5 kill -9");
    let stats = master.client().cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&stats, "sync_full"),
        1,
        "only the first sync was full: {stats}"
    );
    assert!(info_field(&stats, "sync_partial_ok") >= 5, "{stats}");
}

#[test]
fn a_message_published_on_the_master_reaches_the_subscribers_of_its_replicas() {
    use crate::util::Reply;
    let msg = |ch: &str, m: &str| {
        Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk(ch),
            Reply::bulk(m),
        ])
    };
    // A password: namespaces need one (their tokens are other passwords).
    let authed = |s: &Server| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["AUTH", "pw"]), Reply::ok());
        c
    };
    let offset = |s: &Server| {
        info_field(
            &authed(s).cmd(&["INFO", "replication"]).text(),
            "master_repl_offset",
        )
    };
    let master = Server::start(&["--requirepass", "pw"]);
    let mut m = authed(&master);
    // Without replicas a PUBLISH takes no place in the log.
    let off = offset(&master);
    assert_eq!(m.cmd(&["PUBLISH", "news", "nobody"]), Reply::Int(0));
    assert_eq!(offset(&master), off);
    assert_eq!(
        m.cmd(&["NAMESPACE", "ADD", "tenant", "tenant-token"]),
        Reply::ok()
    );

    let replica = replica_of(&master, &["--masterauth", "pw", "--requirepass", "pw"]);
    let t0 = Instant::now();
    while !authed(&replica)
        .cmd(&["INFO", "replication"])
        .text()
        .contains("master_link_status:up")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{}",
            replica.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut sub = authed(&replica);
    sub.cmd(&["SUBSCRIBE", "news"]);
    let mut tenant_sub = replica.client();
    assert_eq!(tenant_sub.cmd(&["AUTH", "tenant-token"]), Reply::ok());
    tenant_sub.cmd(&["SUBSCRIBE", "news"]);
    let mut master_sub = authed(&master);
    master_sub.cmd(&["SUBSCRIBE", "news"]);

    // The reply counts the master's own receivers, as in Redis.
    assert_eq!(m.cmd(&["PUBLISH", "news", "hello"]), Reply::Int(1));
    assert_eq!(
        master_sub.read_reply().expect("message"),
        msg("news", "hello")
    );
    assert_eq!(sub.read_reply().expect("message"), msg("news", "hello"));

    // Inside a transaction, with a write: both reach the replica, in order.
    m.cmd(&["MULTI"]);
    m.cmd(&["PUBLISH", "news", "in-multi"]);
    m.cmd(&["SET", "k", "v"]);
    m.cmd(&["EXEC"]);
    assert_eq!(sub.read_reply().expect("message"), msg("news", "in-multi"));
    assert_eq!(authed(&replica).cmd(&["GET", "k"]), Reply::bulk("v"));

    // A namespace's messages stay in the namespace on the replica too.
    let mut t = master.client();
    assert_eq!(t.cmd(&["AUTH", "tenant-token"]), Reply::ok());
    assert_eq!(t.cmd(&["PUBLISH", "news", "for-tenant"]), Reply::Int(0));
    assert_eq!(
        tenant_sub.read_reply().expect("message"),
        msg("news", "for-tenant")
    );
    m.cmd(&["PUBLISH", "news", "after"]);
    assert_eq!(sub.read_reply().expect("message"), msg("news", "after"));

    // PUBLISH on the replica stays there (no write, not refused).
    let mut r = authed(&replica);
    assert_eq!(r.cmd(&["PUBLISH", "news", "local"]), Reply::Int(1));
    assert_eq!(sub.read_reply().expect("message"), msg("news", "local"));
    assert_eq!(
        info_field(&r.cmd(&["INFO", "replication"]).text(), "slave_repl_offset"),
        offset(&master)
    );
}

/// FAILOVER (Redis 6.2): writes pause, the replica that has every record is promoted, the
/// old master follows it; nothing acknowledged is lost and new writes flow the other way.
/// Redis's refusals for a server without replicas, a replica, a bad target and ABORT.
#[test]
fn failover_switches_roles_with_a_replica_without_losing_writes() {
    let master = Server::start(&[]);
    let mut m = master.client();
    assert_eq!(
        m.cmd(&["FAILOVER"]).err_text(),
        "ERR FAILOVER requires connected replicas."
    );
    assert_eq!(
        m.cmd(&["FAILOVER", "ABORT"]).err_text(),
        "ERR No failover in progress."
    );
    assert_eq!(
        m.cmd(&["FAILOVER", "FORCE"]).err_text(),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
    let replica = replica_of(&master, &[]);
    for i in 0..200 {
        m.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    assert_eq!(
        replica.client().cmd(&["FAILOVER"]).err_text(),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        m.cmd(&["FAILOVER", "TO", "127.0.0.1", "1"]).err_text(),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    // A writer keeps incrementing through the switch: every acknowledged INCR must be on
    // the new master.
    let port = master.port;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut acked = 0i64;
        while !stop2.load(Ordering::Relaxed) {
            match c.try_cmd(&["INCR", "counter"]) {
                Ok(r) if !r.is_error() => acked = r.int(),
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(m.cmd(&["FAILOVER", "TIMEOUT", "30000"]).is_ok());
    let t = Instant::now();
    loop {
        let old = info(&master);
        let new = info(&replica);
        if text_field(&new, "role") == "master"
            && text_field(&old, "role") == "slave"
            && text_field(&old, "master_port") == replica.port.to_string()
            && text_field(&old, "master_link_status") == "up"
            && text_field(&old, "master_failover_state") == "no-failover"
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no switch: old master {old}\nnew master {new}\nlogs:\n{}\n{}",
            master.log_text(),
            replica.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().expect("writer");
    let mut n = replica.client();
    assert_eq!(n.cmd(&["GET", "k199"]).text(), "199");
    let kept: i64 = n.cmd(&["GET", "counter"]).text().parse().unwrap_or(0);
    assert!(
        acked > 0 && kept >= acked,
        "acknowledged {acked}, new master has {kept}"
    );
    assert_eq!(n.cmd(&["SET", "after", "failover"]).text(), "OK");
    wait_caught_up(&replica, &master, Duration::from_secs(30));
    assert_eq!(master.client().cmd(&["GET", "after"]).text(), "failover");
    assert!(master
        .client()
        .cmd(&["SET", "x", "1"])
        .err_text()
        .starts_with("READONLY"));
    assert_same_data(&replica, &master, "after FAILOVER");
}

/// A master turned into a replica while a client keeps writing: once the first write is
/// refused with -READONLY, none is acknowledged again (a write that raced the role change is
/// refused, never applied locally as a write no master has).
#[test]
fn writes_racing_replicaof_are_refused_not_applied_locally() {
    let other = Server::start(&[]);
    let master = Server::start(&[]);
    let port = master.port;
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut replies = Vec::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            match c.try_cmd(&["INCR", "n"]) {
                Ok(r) => {
                    let refused = r.is_error();
                    replies.push(r);
                    if refused && replies.len() > 50 {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        replies
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut m = master.client();
    assert_eq!(
        m.cmd(&["REPLICAOF", "127.0.0.1", &other.port.to_string()])
            .text(),
        "OK"
    );
    let replies = writer.join().expect("writer");
    let first_refused = replies
        .iter()
        .position(|r| r.is_error())
        .expect("writes refused after REPLICAOF");
    assert!(replies[first_refused].err_text().starts_with("READONLY"));
    assert!(
        replies[first_refused..].iter().all(|r| r.is_error()),
        "a write acknowledged after the first READONLY"
    );
}

/// SWAPDB racing writers: single writes (INCR), pipelined runs to one key (key batches) and
/// EXECs, on two databases, while another client swaps them over and over. Every write
/// lands where the database it was sent to is when it runs, and its record names that
/// database: the replica (applying the records) and the master after `kill -9` (replaying
/// them) hold exactly what the master held, and no acknowledged increment is lost.
#[test]
fn swapdb_racing_writes_is_replicated_and_replayed_exactly() {
    let mut master = Server::start(&["--worker-threads", "4"]);
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    let port = master.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<std::thread::JoinHandle<u64>> = (0..6)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.cmd(&["SELECT", &(w / 3).to_string()]);
                let key = format!("n{}-{w}", w % 3);
                let w = w % 3;
                let mut acked = 0u64;
                let t = Instant::now();
                while !stop.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(20) {
                    match w {
                        0 => {
                            assert!(!c.cmd(&["INCR", &key]).is_error());
                            acked += 1;
                        }
                        1 => {
                            // A pipelined run of writes to one key: one key batch.
                            let mut raw = Vec::new();
                            for _ in 0..20 {
                                raw.extend(Client::encode(&[b"INCR", key.as_bytes()]));
                            }
                            c.send_raw(&raw).expect("send");
                            for _ in 0..20 {
                                assert!(!c.read_reply().expect("reply").is_error());
                                acked += 1;
                            }
                        }
                        _ => {
                            c.cmd(&["MULTI"]);
                            c.cmd(&["INCR", &key]);
                            c.cmd(&["RPUSH", "l2", "x"]);
                            assert_eq!(c.cmd(&["EXEC"]).array().len(), 2);
                            acked += 1;
                        }
                    }
                }
                acked
            })
        })
        .collect();
    let mut c = master.client();
    let t = Instant::now();
    let mut i = 0;
    while t.elapsed() < Duration::from_secs(3) {
        let (a, b) = if i % 3 == 0 { ("0", "1") } else { ("1", "0") };
        assert_eq!(c.cmd(&["SWAPDB", a, b]), Reply::ok());
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    // Each counter is split over the two databases it was written in; the parts add up.
    for (w, &acked) in acked.iter().enumerate() {
        let key = format!("n{}-{w}", w % 3);
        let mut total = 0i64;
        for db in ["0", "1"] {
            c.cmd(&["SELECT", db]);
            let v = c.cmd(&["GET", &key]);
            if !v.is_null() {
                total += v.text().parse::<i64>().expect("a number");
            }
        }
        assert_eq!(
            total as u64, acked,
            "{key}: every acknowledged INCR counted once"
        );
    }
    wait_caught_up(&master, &replica, Duration::from_secs(30));
    assert_same_data(&master, &replica, "after SWAPDBs racing writes");
    let before = dump(&mut master.client(), cutoff());
    master.kill9().expect("kill -9");
    master.respawn_same_port();
    assert_same(
        &before,
        &dump(&mut master.client(), cutoff()),
        "replayed after kill -9",
    );
    // The map survived too: a write now goes where the database is.
    let mut c = master.client();
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["SET", "after-restart", "db1"]);
    c.cmd(&["SELECT", "0"]);
    assert!(c.cmd(&["GET", "after-restart"]).is_null());
}
