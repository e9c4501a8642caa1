//! Persistence across restarts, and `kill -9` under write load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

#[test]
fn hundred_thousand_keys_survive_a_restart() {
    let mut s = Server::start(&[]);
    let mut c = s.client();
    let n = 100_000;
    // Pipelined in batches of 1000.
    for batch in 0..(n / 1000) {
        let mut buf = Vec::new();
        for i in batch * 1000..(batch + 1) * 1000 {
            let k = format!("key:{i}");
            let v = format!("value:{i}");
            buf.extend(Client::encode(&[b"SET", k.as_bytes(), v.as_bytes()]));
        }
        c.send_raw(&buf).unwrap();
        for _ in 0..1000 {
            assert_eq!(c.read_reply().unwrap(), Reply::ok());
        }
    }
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "in-db-3", "yes", "EX", "1000"]);
    drop(c);
    assert_eq!(s.stop(), Some(0), "clean stop exits 0");
    s.spawn();
    let mut c = s.client();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(n as i64));
    for batch in 0..(n / 1000) {
        let mut buf = Vec::new();
        for i in batch * 1000..(batch + 1) * 1000 {
            let k = format!("key:{i}");
            buf.extend(Client::encode(&[b"GET", k.as_bytes()]));
        }
        c.send_raw(&buf).unwrap();
        for i in batch * 1000..(batch + 1) * 1000 {
            assert_eq!(c.read_reply().unwrap(), Reply::bulk(&format!("value:{i}")));
        }
    }
    c.cmd(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "in-db-3"]), Reply::bulk("yes"));
    assert!(c.cmd(&["TTL", "in-db-3"]).int() > 900);
}

/// Writers record every SET the server acknowledged; after `kill -9` and restart, all of
/// them must be there (appendfsync always: a reply means the write is on disk).
#[test]
fn kill9_under_load_loses_no_acknowledged_write() {
    kill9_rounds(&["--appendfsync", "always"], 20);
}

/// Without the binlog the engine's own WAL carries durability: same guarantee.
#[test]
fn kill9_without_binlog_loses_no_acknowledged_write() {
    kill9_rounds(&["--appendfsync", "always", "--binlog", "no"], 2);
    kill9_rounds(&["--appendfsync", "everysec", "--binlog", "no"], 1);
}

/// With `everysec` a reply means the write reached the OS (the WAL barrier before replies):
/// a crash of the process alone must not lose it either.
#[test]
fn kill9_with_everysec_loses_no_acknowledged_write() {
    kill9_rounds(&["--appendfsync", "everysec"], 2);
}

#[allow(clippy::unwrap_used)]
fn kill9_rounds(args: &[&str], rounds: usize) {
    let mut s = Server::start(args);
    for round in 0..rounds {
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let port = s.port;
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let acked = acked.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let Ok(mut c) = Client::try_connect(port) else {
                        return;
                    };
                    let mut i = 0u64;
                    let t = Instant::now();
                    while !stop.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(20) {
                        let k = format!("r{round}:w{w}:{i}");
                        let v = format!("v{i}");
                        match c.try_cmd(&["SET", &k, &v]) {
                            Ok(Reply::Status(s)) if s == "OK" => {
                                acked.lock().unwrap().push((k, v));
                            }
                            _ => return,
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(if rounds > 5 { 300 } else { 700 }));
        // Under a loaded machine the writers may start slowly: kill only once some writes
        // are acknowledged (bounded).
        let t = Instant::now();
        while acked.lock().unwrap().len() <= 100 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.kill9().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() > 50,
            "round {round}: only {} writes acknowledged",
            acked.len()
        );
        let t = Instant::now();
        s.spawn();
        eprintln!(
            "round {round}: {} acknowledged writes, restart took {:?}",
            acked.len(),
            t.elapsed()
        );
        let mut c = s.client();
        for chunk in acked.chunks(500) {
            let mut buf = Vec::new();
            for (k, _) in chunk {
                buf.extend(Client::encode(&[b"GET", k.as_bytes()]));
            }
            c.send_raw(&buf).unwrap();
            for (k, v) in chunk {
                assert_eq!(
                    c.read_reply().unwrap(),
                    Reply::bulk(v),
                    "lost acknowledged write {k}"
                );
            }
        }
    }
}

/// A client that sent 256 pipelined GETs of a 1 MB value and never reads the replies: the
/// server's writes to it block on a full socket. Keep it alive for the test's duration.
pub fn client_that_never_reads(s: &Server) -> std::net::TcpStream {
    let mut c = s.client();
    c.cmd(&["SET", "big", &"x".repeat(1 << 20)]);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let mut buf = Vec::new();
    for _ in 0..256 {
        buf.extend(Client::encode(&[b"GET", b"big"]));
    }
    std::io::Write::write_all(&mut raw, &buf).expect("send");
    std::thread::sleep(Duration::from_millis(500));
    raw
}

#[test]
fn a_client_that_never_reads_cannot_hold_shutdown() {
    let mut s = Server::start(&[]);
    let raw = client_that_never_reads(&s);
    let t = Instant::now();
    let code = s.stop();
    let took = t.elapsed();
    println!("shutdown with a client that never reads took {took:?}, exit code {code:?}");
    assert!(code.is_some(), "the server did not stop within 30 s");
    // Stage 2 is cut at its 5 s deadline: a forced shutdown, within the bound plus a margin.
    assert_eq!(code, Some(4));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(s.log_text().contains("does not read"), "{}", s.log_text());
    drop(raw);
}

#[test]
fn pipelined_key_batches_survive_kill_9() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let port = s.port;
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let (mut acked, mut rounds) = (0u64, 0u64);
        'outer: for round in 0..100_000u64 {
            // 32 pushes to one list and an INCR of a counter per pipeline: one key batch
            // of two keys on the server.
            let mut buf = Vec::new();
            for i in 0..32 {
                let v = (round * 32 + i).to_string();
                buf.extend(Client::encode(&[b"RPUSH", b"log", v.as_bytes()]));
            }
            buf.extend(Client::encode(&[b"INCR", b"rounds"]));
            if c.send_raw(&buf).is_err() {
                break;
            }
            for _ in 0..32 {
                match c.read_reply() {
                    Ok(Reply::Int(n)) => acked = acked.max(n as u64),
                    _ => break 'outer,
                }
            }
            match c.read_reply() {
                Ok(Reply::Int(n)) => rounds = n as u64,
                _ => break 'outer,
            }
        }
        (acked, rounds)
    });
    std::thread::sleep(Duration::from_millis(800));
    s.kill9().expect("kill -9");
    let (acked, rounds) = writer.join().expect("writer");
    s.spawn();
    let mut c = s.client();
    let len = c.cmd(&["LLEN", "log"]).int() as u64;
    assert!(len >= acked, "acknowledged {acked} pushes, found {len}");
    // The counter and the list agree: a round's INCR runs after its 32 pushes, and the
    // next round is sent only once it is answered.
    let found = match c.cmd(&["GET", "rounds"]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).parse().unwrap_or(0),
        _ => 0u64,
    };
    assert!(
        found >= rounds,
        "acknowledged {rounds} rounds, found {found}"
    );
    assert!(
        (found * 32..=found * 32 + 32).contains(&len),
        "{found} rounds but {len} pushes"
    );
    // In order and without holes: item i is i.
    for i in [0, len / 2, len.saturating_sub(1)] {
        assert_eq!(
            c.cmd(&["LINDEX", "log", &i.to_string()]),
            Reply::bulk(&i.to_string())
        );
    }
    println!("kill -9 under pipelined pushes: {acked} acknowledged, {len} after restart");
}

/// SIGTERM under a write load from 50 clients: the five shutdown stages run in order, each
/// logged with its duration; the exit is clean; every acknowledged write is there afterwards.
#[test]
fn sigterm_under_load_runs_the_five_stages_and_keeps_every_acknowledged_write() {
    let mut s = Server::start(&[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let port = s.port;
    let writers: Vec<_> = (0..50)
        .map(|w| {
            let acked = acked.clone();
            std::thread::spawn(move || {
                let Ok(mut c) = Client::try_connect(port) else {
                    return;
                };
                let t = Instant::now();
                for i in 0..100_000u64 {
                    if t.elapsed() > Duration::from_secs(20) {
                        return;
                    }
                    let k = format!("w{w}:{i}");
                    match c.try_cmd(&["SET", &k, "v"]) {
                        Ok(Reply::Status(st)) if st == "OK" => {
                            acked.lock().unwrap_or_else(|p| p.into_inner()).push(k)
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let t = Instant::now();
    let code = s.stop();
    let took = t.elapsed();
    for w in writers {
        let _ = w.join();
    }
    let log = s.log_text();
    assert_eq!(code, Some(0), "{log}");
    let mut last = 0;
    for n in 1..=5 {
        let pos = log
            .find(&format!("shutdown stage {n}/5"))
            .unwrap_or_else(|| panic!("stage {n} not logged:\n{log}"));
        assert!(pos > last, "stage {n} out of order:\n{log}");
        last = pos;
    }
    assert!(log.contains("took_ms"), "{log}");
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    eprintln!(
        "shutdown under load took {took:?}; {} acknowledged writes",
        acked.len()
    );
    s.spawn();
    let mut c = s.client();
    for chunk in acked.chunks(1000) {
        let mut buf = Vec::new();
        for k in chunk {
            buf.extend(Client::encode(&[b"EXISTS", k.as_bytes()]));
        }
        c.send_raw(&buf).expect("send");
        for k in chunk {
            assert_eq!(
                c.read_reply().expect("reply"),
                Reply::Int(1),
                "lost acknowledged write {k}"
            );
        }
    }
}

/// A second SIGTERM while a client that never reads holds stage 2: the shutdown is forced
/// at once, and the exit code says so (4).
#[test]
fn a_second_signal_forces_the_shutdown() {
    let mut s = Server::start(&[]);
    let raw = client_that_never_reads(&s);
    let pid = s.pid().to_string();
    let term = || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
    };
    let t = Instant::now();
    term();
    std::thread::sleep(Duration::from_millis(300));
    term();
    let mut child = s.child.take().expect("child");
    let code = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st.code();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    eprintln!("forced shutdown took {took:?}, exit code {code:?}");
    assert_eq!(code, Some(4), "{}", s.log_text());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(s.log_text().contains("forcing the shutdown"));
    drop(raw);
}

/// A bug that panics in the middle of a write (the `write-panic` fail point: records being
/// built, key locks, the transaction and held events all live) ends that connection only.
/// The write path keeps no state on the thread past it: the next writes on the same worker
/// are logged and survive `kill -9`, the panicked writes took no effect, and the connection
/// leaves no trace in CLIENT LIST. Single write, EXEC and a pipelined key batch.
#[test]
fn a_panic_inside_a_write_leaves_the_next_writes_on_that_thread_intact() {
    let mut s = Server::start(&["--worker-threads", "1"]);
    let mut other = s.client();
    let arm = |c: &mut Client| {
        assert_eq!(
            c.cmd(&["DEBUG", "FAILPOINT", "write-panic", "1"]),
            Reply::ok()
        );
    };
    // A single write.
    let mut c = s.client();
    arm(&mut other);
    assert!(c.try_cmd(&["SET", "p1", "x"]).is_err(), "connection closed");
    assert_eq!(other.cmd(&["SET", "after1", "v"]), Reply::ok());
    // Inside EXEC.
    let mut c = s.client();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "p2", "x"]);
    c.cmd(&["INCR", "p2n"]);
    arm(&mut other);
    assert!(c.try_cmd(&["EXEC"]).is_err(), "connection closed");
    assert_eq!(other.cmd(&["SET", "after2", "v"]), Reply::ok());
    assert_eq!(other.cmd(&["INCR", "after2n"]), Reply::Int(1));
    // A pipelined run of writes to one key (one key batch).
    let mut c = s.client();
    arm(&mut other);
    let mut raw = Vec::new();
    for v in ["a", "b", "c"] {
        raw.extend(Client::encode(&[b"APPEND", b"p3", v.as_bytes()]));
    }
    c.send_raw(&raw).expect("send");
    assert!(c.read_reply().is_err(), "connection closed");
    assert_eq!(other.cmd(&["SET", "after3", "v"]), Reply::ok());
    let mut sub = s.client();
    assert_eq!(sub.cmd(&["SUBSCRIBE", "ch"]).array().len(), 3);
    assert_eq!(other.cmd(&["PUBLISH", "ch", "m"]), Reply::Int(1));
    assert_eq!(
        sub.read_reply().expect("message").array()[2],
        Reply::bulk("m")
    );
    let clients = other.cmd(&["CLIENT", "LIST"]).text();
    assert_eq!(clients.lines().count(), 2, "no ghost clients:\n{clients}");
    s.kill9().expect("kill -9");
    s.spawn();
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["EXISTS", "after1", "after2", "after2n", "after3"]),
        Reply::Int(4),
        "the writes after the panics were logged"
    );
    assert_eq!(
        c.cmd(&["EXISTS", "p1", "p2", "p2n", "p3"]),
        Reply::Int(0),
        "the panicked writes took no effect"
    );
}
