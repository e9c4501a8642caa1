//! MULTI/EXEC/WATCH across connections: touched keys abort EXEC, EXEC is isolated from other
//! clients and atomic on disk.

use std::time::Duration;

use crate::util::{Client, Reply, Server};

/// WATCH `key` on `a`, let `touch` run on `b`, then EXEC on `a`: whether EXEC ran.
fn exec_after(s: &Server, setup: &[&[&str]], key: &str, touch: &[&[&str]]) -> bool {
    let mut a = s.client();
    let mut b = s.client();
    b.cmd(&["FLUSHALL"]);
    for c in setup {
        b.cmd(c);
    }
    assert_eq!(a.cmd(&["WATCH", key]), Reply::ok());
    for c in touch {
        b.cmd(c);
    }
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(a.cmd(&["PING"]), Reply::Status("QUEUED".into()));
    match a.cmd(&["EXEC"]) {
        Reply::NilArray => false,
        Reply::Array(v) => {
            assert_eq!(v, vec![Reply::Status("PONG".into())]);
            true
        }
        other => panic!("unexpected EXEC reply {other:?}"),
    }
}

#[test]
fn watched_keys_touched_by_anyone_abort_exec() {
    let s = Server::start(&[]);
    let set: &[&[&str]] = &[&["SET", "k", "v"]];
    assert!(exec_after(&s, set, "k", &[]), "untouched");
    assert!(exec_after(&s, set, "k", &[&["SET", "other", "x"]]));
    assert!(
        !exec_after(&s, set, "k", &[&["SET", "k", "v"]]),
        "same value"
    );
    assert!(!exec_after(&s, set, "k", &[&["DEL", "k"]]));
    assert!(!exec_after(&s, set, "k", &[&["EXPIRE", "k", "100"]]));
    assert!(!exec_after(&s, set, "k", &[&["RENAME", "k", "k2"]]));
    assert!(
        !exec_after(&s, set, "k2", &[&["RENAME", "k", "k2"]]),
        "rename target"
    );
    assert!(!exec_after(&s, set, "k", &[&["FLUSHDB"]]));
    assert!(!exec_after(&s, set, "k", &[&["FLUSHALL"]]));
    assert!(
        exec_after(&s, set, "k", &[&["SELECT", "1"], &["FLUSHDB"]]),
        "FLUSHDB of another database"
    );
    assert!(
        exec_after(&s, &[], "absent", &[&["FLUSHALL"]]),
        "nothing to flush"
    );
    assert!(!exec_after(&s, &[], "absent", &[&["SET", "absent", "1"]]));
    let hash: &[&[&str]] = &[&["HSET", "h", "f", "1"]];
    assert!(!exec_after(&s, hash, "h", &[&["HSET", "h", "f", "2"]]));
    assert!(!exec_after(&s, hash, "h", &[&["HINCRBY", "h", "f", "1"]]));
    assert!(
        exec_after(&s, hash, "h", &[&["HGET", "h", "f"]]),
        "reads do not touch"
    );
    let list: &[&[&str]] = &[&["RPUSH", "l", "a", "b"]];
    assert!(!exec_after(&s, list, "l", &[&["LPOP", "l"]]));
    assert!(!exec_after(&s, list, "l", &[&["LSET", "l", "0", "z"]]));
    let zset: &[&[&str]] = &[&["ZADD", "z", "1", "m"]];
    assert!(!exec_after(&s, zset, "z", &[&["ZINCRBY", "z", "1", "m"]]));
    let set2: &[&[&str]] = &[&["SADD", "s", "m"], &["SADD", "d", "x"]];
    assert!(!exec_after(
        &s,
        set2,
        "d",
        &[&["SINTERSTORE", "d", "s", "s"]]
    ));
}

#[test]
fn expiry_of_a_watched_key_aborts_exec_but_stale_keys_do_not() {
    let s = Server::start(&[]);
    // Live when watched, expired before EXEC: aborted (Redis 7 semantics).
    let mut a = s.client();
    a.cmd(&["SET", "k", "v", "PX", "50"]);
    a.cmd(&["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(150));
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
    // Already expired when watched, then deleted or flushed by others: not a change.
    a.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut b = s.client();
    for touch in [["DEL", "stale"], ["FLUSHDB", "ASYNC"]] {
        a.cmd(&["SET", "stale", "v", "PX", "10"]);
        std::thread::sleep(Duration::from_millis(50));
        a.cmd(&["WATCH", "stale"]);
        b.cmd(&touch);
        a.cmd(&["MULTI"]);
        a.cmd(&["PING"]);
        assert!(
            matches!(a.cmd(&["EXEC"]), Reply::Array(_)),
            "{touch:?} of a stale key"
        );
    }
}

#[test]
fn optimistic_increments_from_many_clients_never_lose_an_update() {
    let s = Server::start(&[]);
    let port = s.port;
    let clients = 6;
    let per_client = 100;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut retries = 0u64;
                for _ in 0..per_client {
                    loop {
                        c.cmd(&["WATCH", "counter"]);
                        let v: i64 = match c.cmd(&["GET", "counter"]) {
                            Reply::Bulk(b) => String::from_utf8_lossy(&b).parse().unwrap_or(0),
                            _ => 0,
                        };
                        c.cmd(&["MULTI"]);
                        c.cmd(&["SET", "counter", &(v + 1).to_string()]);
                        match c.cmd(&["EXEC"]) {
                            Reply::Array(_) => break,
                            Reply::NilArray => retries += 1,
                            other => panic!("EXEC replied {other:?}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["GET", "counter"]),
        Reply::bulk(&(clients * per_client).to_string())
    );
    println!(
        "{} increments, {retries} EXEC retries",
        clients * per_client
    );
}

#[test]
fn other_clients_never_see_half_a_transaction() {
    let s = Server::start(&[]);
    let port = s.port;
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        for i in 0..400 {
            let v = i.to_string();
            c.cmd(&["MULTI"]);
            c.cmd(&["SET", "a", &v]);
            c.cmd(&["RPUSH", "log", &v]);
            c.cmd(&["SET", "b", &v]);
            let r = c.cmd(&["EXEC"]);
            assert_eq!(r.array().len(), 3);
        }
    });
    let mut r = s.client();
    let mut checks = 0;
    while !writer.is_finished() {
        let ab = r.cmd(&["MGET", "a", "b"]);
        assert_eq!(ab.array()[0], ab.array()[1], "MGET saw half a transaction");
        checks += 1;
    }
    writer.join().unwrap();
    assert_eq!(r.cmd(&["LLEN", "log"]), Reply::Int(400));
    assert!(checks > 0);
}

#[test]
fn a_transaction_survives_kill_9_whole_or_not_at_all() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let port = s.port;
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut acked = 0u64;
        for round in 1..=100_000u64 {
            let mut buf = Client::encode(&[b"MULTI"]);
            for k in &keys_of(20) {
                buf.extend(Client::encode(&[
                    b"SET",
                    k.as_bytes(),
                    round.to_string().as_bytes(),
                ]));
            }
            buf.extend(Client::encode(&[b"EXEC"]));
            if c.send_raw(&buf).is_err() {
                break;
            }
            let mut ok = true;
            for _ in 0..22 {
                if c.read_reply().is_err() {
                    ok = false;
                    break;
                }
            }
            if !ok {
                break;
            }
            acked = round;
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    s.kill9().unwrap();
    let acked = writer.join().unwrap();
    s.spawn();
    let mut c = s.client();
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(|k| k.as_str()));
    let vals = c.cmd(&args);
    let first = vals.array()[0].clone();
    assert!(
        vals.array().iter().all(|v| *v == first),
        "a transaction was half applied: {vals:?}"
    );
    let got: u64 = String::from_utf8_lossy(match &first {
        Reply::Bulk(b) => b,
        other => panic!("no transaction survived: {other:?}"),
    })
    .parse()
    .unwrap();
    assert!(
        got >= acked,
        "acknowledged transaction {acked} lost (found {got})"
    );
    println!("kill -9 after {acked} acknowledged transactions; found {got}, all 20 keys equal");
}

fn keys_of(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i}")).collect()
}

/// A pipelined run of single-key writes to DIFFERENT keys is one unit: one engine batch
/// (the fail point pauses it between running and committing: no write of the run is visible
/// before the commit, all are after), and it bumps for WATCH only the keys its commands
/// changed (SETNX of an existing key leaves a WATCH on it intact, as in Redis).
#[test]
fn pipelined_writes_to_different_keys_commit_as_one_unit() {
    let s = Server::start(&["--worker-threads", "4"]);
    let mut admin = s.client();
    let mut reader = s.client();
    let mut writer = s.client();
    let mut watch_b = s.client();
    let mut watch_a = s.client();
    assert!(writer.cmd(&["SET", "b", "old"]).is_ok());
    watch_b.cmd(&["WATCH", "b"]);
    watch_a.cmd(&["WATCH", "a"]);
    assert!(admin
        .cmd(&["DEBUG", "FAILPOINT", "key-batch-before-commit", "600"])
        .is_ok());
    let mut buf = Client::encode(&[b"SET", b"a", b"1"]);
    buf.extend(Client::encode(&[b"SETNX", b"b", b"new"]));
    buf.extend(Client::encode(&[b"INCR", b"c"]));
    buf.extend(Client::encode(&[b"RPUSH", b"l", b"x"]));
    writer.send_raw(&buf).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Paused before the commit: nothing of the run is visible yet.
    assert_eq!(reader.cmd(&["GET", "a"]), Reply::Nil);
    assert_eq!(reader.cmd(&["GET", "c"]), Reply::Nil);
    assert_eq!(reader.cmd(&["LLEN", "l"]), Reply::Int(0));
    assert_eq!(writer.read_reply().unwrap(), Reply::ok());
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(0));
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(1));
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(1));
    assert_eq!(reader.cmd(&["GET", "a"]), Reply::bulk("1"));
    assert_eq!(reader.cmd(&["GET", "b"]), Reply::bulk("old"));
    assert_eq!(reader.cmd(&["GET", "c"]), Reply::bulk("1"));
    watch_b.cmd(&["MULTI"]);
    watch_b.cmd(&["SET", "b", "mine"]);
    assert_eq!(
        watch_b.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::ok()]),
        "the run did not change b"
    );
    watch_a.cmd(&["MULTI"]);
    watch_a.cmd(&["SET", "a", "mine"]);
    assert_eq!(watch_a.cmd(&["EXEC"]), Reply::NilArray, "the run changed a");
}

#[test]
fn pipelined_key_batches_touch_watched_keys_and_wake_blocked_clients() {
    let s = Server::start(&[]);
    let mut watcher = s.client();
    let mut writer = s.client();
    watcher.cmd(&["WATCH", "k"]);
    // A run of writes to one key (one key batch on the server).
    let mut buf = Client::encode(&[b"SET", b"k", b"1"]);
    buf.extend(Client::encode(&[b"APPEND", b"k", b"2"]));
    buf.extend(Client::encode(&[b"INCR", b"k"]));
    writer.send_raw(&buf).unwrap();
    assert_eq!(writer.read_reply().unwrap(), Reply::ok());
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(2));
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(13));
    watcher.cmd(&["MULTI"]);
    watcher.cmd(&["GET", "k"]);
    assert_eq!(watcher.cmd(&["EXEC"]), Reply::NilArray);

    // A client blocked on a list is served by a pipelined run of pushes, in order.
    let mut blocked = s.client();
    blocked
        .send_raw(&Client::encode(&[b"BLPOP", b"q", b"0"]))
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let info = writer.cmd(&["INFO", "clients"]).text();
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut buf = Client::encode(&[b"RPUSH", b"q", b"a"]);
    buf.extend(Client::encode(&[b"RPUSH", b"q", b"b"]));
    buf.extend(Client::encode(&[b"LLEN", b"q"]));
    writer.send_raw(&buf).unwrap();
    // As in Redis, the waiter is served right after the first push.
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(1));
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(1));
    assert_eq!(writer.read_reply().unwrap(), Reply::Int(1));
    assert_eq!(
        blocked.read_reply().unwrap(),
        Reply::Array(vec![Reply::bulk("q"), Reply::bulk("a")])
    );
}
