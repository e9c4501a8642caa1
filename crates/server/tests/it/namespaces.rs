//! Namespaces: isolated keyspaces created and dropped at run time; clients of a dropped
//! namespace get one permanent error and are let go; drops replicate.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

const PASS: &str = "adminpw";

fn admin(s: &Server) -> Client {
    let mut c = s.client();
    assert_eq!(c.cmd(&["AUTH", PASS]), Reply::ok());
    c
}

fn tenant(s: &Server, token: &str) -> Client {
    let mut c = s.client();
    assert_eq!(c.cmd(&["AUTH", token]), Reply::ok());
    c
}

fn dropped(name: &str) -> Reply {
    Reply::Error(format!("NONAMESPACE namespace '{name}' was dropped"))
}

/// Reads until the server closes the connection; the replies read on the way.
fn replies_until_closed(c: &mut Client) -> Vec<Reply> {
    let mut out = Vec::new();
    let t = Instant::now();
    loop {
        match c.read_reply() {
            Ok(r) => out.push(r),
            Err(_) => return out,
        }
        assert!(t.elapsed() < Duration::from_secs(20), "never closed");
    }
}

fn keys(c: &mut Client) -> Vec<String> {
    let mut k: Vec<String> = c
        .cmd(&["KEYS", "*"])
        .array()
        .iter()
        .map(|r| r.text())
        .collect();
    k.sort();
    k
}

#[test]
fn namespace_clients_see_only_their_own_keys_channels_and_commands() {
    let s = Server::start(&["--requirepass", PASS, "--notify-keyspace-events", "KEA"]);
    let mut ad = admin(&s);
    assert_eq!(ad.cmd(&["NAMESPACE", "ADD", "a", "ta"]), Reply::ok());
    assert_eq!(ad.cmd(&["NAMESPACE", "ADD", "b", "tb"]), Reply::ok());
    assert!(ad
        .cmd(&["NAMESPACE", "ADD", "a", "tx"])
        .err_text()
        .contains("already exists"));
    assert!(ad
        .cmd(&["NAMESPACE", "ADD", "c", "ta"])
        .err_text()
        .contains("token"));
    assert_eq!(ad.cmd(&["NAMESPACE", "GET", "a"]).text(), "ta");
    ad.cmd(&["SET", "k", "default"]);
    let mut a = tenant(&s, "ta");
    let mut b = tenant(&s, "tb");
    // Keys, databases, DBSIZE, SCAN, FLUSHALL: each namespace its own.
    a.cmd(&["SET", "k", "a"]);
    a.cmd(&["SET", "only-a", "1"]);
    b.cmd(&["SET", "k", "b"]);
    assert_eq!(a.cmd(&["GET", "k"]).text(), "a");
    assert_eq!(b.cmd(&["GET", "k"]).text(), "b");
    assert_eq!(ad.cmd(&["GET", "k"]).text(), "default");
    assert_eq!(keys(&mut a), vec!["k", "only-a"]);
    assert_eq!(keys(&mut b), vec!["k"]);
    assert_eq!(keys(&mut ad), vec!["k"]);
    assert_eq!(b.cmd(&["DBSIZE"]).int(), 1);
    a.cmd(&["SELECT", "3"]);
    a.cmd(&["SET", "in-db3", "x"]);
    b.cmd(&["SELECT", "3"]);
    assert_eq!(b.cmd(&["DBSIZE"]).int(), 0);
    assert!(ad.cmd(&["SELECT", "3"]).is_ok());
    assert_eq!(ad.cmd(&["DBSIZE"]).int(), 0);
    ad.cmd(&["SELECT", "0"]);
    b.cmd(&["SELECT", "0"]);
    a.cmd(&["SELECT", "0"]);
    // A SCAN cursor handed out in one namespace shows nothing of it in another.
    for i in 0..50 {
        a.cmd(&["SET", &format!("scan{i}"), "x"]);
    }
    let page = a.cmd(&["SCAN", "0", "COUNT", "10"]);
    let cursor = page.array()[0].text();
    assert_ne!(cursor, "0");
    let other = b.cmd(&["SCAN", &cursor, "COUNT", "1000"]);
    let seen: Vec<String> = other.array()[1].array().iter().map(|r| r.text()).collect();
    assert_eq!(seen, vec!["k"], "another namespace's cursor leaks nothing");
    // MULTI/EXEC runs inside the namespace.
    assert_eq!(b.cmd(&["MULTI"]), Reply::ok());
    b.cmd(&["INCR", "counter"]);
    b.cmd(&["DEL", "only-a"]);
    let r = b.cmd(&["EXEC"]);
    assert_eq!(r.array()[1], Reply::Int(0), "only-a is not b's");
    assert_eq!(a.cmd(&["EXISTS", "only-a"]).int(), 1);
    assert!(a.cmd(&["GET", "counter"]).is_null());
    // COPY ... DB n stays in the namespace.
    assert_eq!(a.cmd(&["COPY", "k", "k2", "DB", "5"]).int(), 1);
    ad.cmd(&["SELECT", "5"]);
    assert_eq!(ad.cmd(&["DBSIZE"]).int(), 0);
    ad.cmd(&["SELECT", "0"]);
    // Pub/Sub and keyspace notifications never cross namespaces.
    let mut sub_b = tenant(&s, "tb");
    sub_b.cmd(&["PSUBSCRIBE", "*"]);
    let mut sub_a = tenant(&s, "ta");
    sub_a.cmd(&["SUBSCRIBE", "news"]);
    sub_a.read_reply().ok();
    let mut sub_ad = admin(&s);
    sub_ad.cmd(&["PSUBSCRIBE", "*"]);
    assert_eq!(a.cmd(&["PUBLISH", "news", "hello"]).int(), 1);
    a.cmd(&["SET", "notify-me", "1"]);
    let msg = sub_a.read_reply().expect("message");
    assert_eq!(msg.array()[1].text(), "news");
    b.cmd(&["SET", "b-key", "1"]);
    // b's pattern subscriber gets b's events, with b's own channel names.
    let ev = sub_b.read_reply().expect("event");
    assert_eq!(ev.array()[2].text(), "__keyspace@0__:b-key");
    sub_b
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok();
    let mut more = Vec::new();
    while let Ok(r) = sub_b.read_reply() {
        more.push(r);
    }
    assert!(
        more.iter().all(|r| !format!("{r:?}").contains("notify-me") && !format!("{r:?}").contains("hello")),
        "b saw a's messages: {more:?}"
    );
    sub_ad
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok();
    let mut admin_saw = Vec::new();
    while let Ok(r) = sub_ad.read_reply() {
        admin_saw.push(r);
    }
    assert!(
        admin_saw.is_empty(),
        "the default namespace saw: {admin_saw:?}"
    );
    // Admin commands are the admin's.
    for cmd in [
        vec!["CONFIG", "GET", "port"],
        vec!["NAMESPACE", "LIST"],
        vec!["DEBUG", "RELOAD"],
        vec!["CLIENT", "LIST"],
        vec!["BINLOG", "LEASES"],
        vec!["REPLICAOF", "NO", "ONE"],
    ] {
        let r = a.cmd(&cmd);
        assert!(r.err_text().starts_with("NOPERM"), "{cmd:?}: {r:?}");
    }
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "x"]), Reply::ok());
    // FLUSHALL empties the caller's namespace only.
    assert_eq!(a.cmd(&["FLUSHALL"]), Reply::ok());
    assert_eq!(a.cmd(&["DBSIZE"]).int(), 0);
    assert_eq!(b.cmd(&["GET", "k"]).text(), "b");
    assert_eq!(ad.cmd(&["GET", "k"]).text(), "default");
    let mut names: Vec<String> = ad
        .cmd(&["NAMESPACE", "LIST"])
        .array()
        .iter()
        .map(|r| r.text())
        .collect();
    names.sort();
    assert_eq!(names, vec!["a", "b"]);
}

#[test]
fn dropping_a_namespace_tells_each_client_once_and_lets_it_go() {
    let mut s = Server::start(&["--requirepass", PASS]);
    let mut ad = admin(&s);
    ad.cmd(&["NAMESPACE", "ADD", "a", "ta"]);
    ad.cmd(&["NAMESPACE", "ADD", "b", "tb"]);
    let mut a = tenant(&s, "ta");
    for i in 0..1000 {
        a.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let mut b = tenant(&s, "tb");
    b.cmd(&["SET", "b", "1"]);
    // One client blocked, one subscribed, one inside MULTI, one idle, one mid-pipeline.
    let mut blocked = tenant(&s, "ta");
    blocked
        .send_raw(&Client::encode(&[b"BLPOP", b"q", b"0"]))
        .unwrap();
    let mut subscribed = tenant(&s, "ta");
    subscribed.cmd(&["SUBSCRIBE", "ch"]);
    let mut in_multi = tenant(&s, "ta");
    assert_eq!(in_multi.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(in_multi.cmd(&["SET", "x", "1"]).text(), "QUEUED");
    let mut idle = tenant(&s, "ta");
    let mut pipelined = tenant(&s, "ta");
    let mut buf = Vec::new();
    for i in 0..20_000 {
        buf.extend(Client::encode(&[
            b"INCR",
            format!("p{}", i % 10).as_bytes(),
        ]));
    }
    let port = s.port;
    let sender = std::thread::spawn(move || {
        pipelined.send_raw(&buf).unwrap();
        pipelined
    });
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(ad.cmd(&["NAMESPACE", "DEL", "a"]), Reply::ok());
    eprintln!("drop took {:?}", t.elapsed());
    // Each gets the permanent error exactly once, then the connection closes.
    let err = dropped("a");
    assert_eq!(replies_until_closed(&mut blocked), vec![err.clone()]);
    let r = replies_until_closed(&mut subscribed);
    assert_eq!(r, vec![err.clone()], "subscriber");
    let _ = in_multi.send_raw(&Client::encode(&[b"EXEC"]));
    assert_eq!(replies_until_closed(&mut in_multi), vec![err.clone()]);
    let _ = idle.send_raw(&Client::encode(&[b"GET", b"k1"]));
    assert_eq!(replies_until_closed(&mut idle), vec![err.clone()]);
    let mut pipelined = sender.join().unwrap();
    let r = replies_until_closed(&mut pipelined);
    let errors: Vec<&Reply> = r.iter().filter(|x| x.is_error()).collect();
    assert_eq!(
        errors,
        vec![&err],
        "one error, after the commands run before the drop"
    );
    assert!(r.last() == Some(&err), "the error comes last");
    assert!(r[..r.len() - 1].iter().all(|x| matches!(x, Reply::Int(_))));
    // Other namespaces see nothing; the token is gone at once.
    assert_eq!(b.cmd(&["GET", "b"]).text(), "1");
    assert_eq!(b.cmd(&["PING"]).text(), "PONG");
    let mut c = s.client();
    assert!(c.cmd(&["AUTH", "ta"]).err_text().starts_with("WRONGPASS"));
    // Re-created: empty, never the old data.
    assert_eq!(ad.cmd(&["NAMESPACE", "ADD", "a", "ta"]), Reply::ok());
    let mut a2 = tenant(&s, "ta");
    assert_eq!(a2.cmd(&["DBSIZE"]).int(), 0);
    assert!(a2.cmd(&["GET", "k1"]).is_null());
    a2.cmd(&["SET", "new", "1"]);
    // Namespaces are durable.
    drop((a, a2, b, ad, c));
    let _ = port;
    assert_eq!(s.stop(), Some(0));
    s.spawn();
    let mut a3 = tenant(&s, "ta");
    assert_eq!(a3.cmd(&["GET", "new"]).text(), "1");
    assert_eq!(tenant(&s, "tb").cmd(&["GET", "b"]).text(), "1");
}

fn sst_bytes(c: &mut Client) -> u64 {
    let info = c.cmd(&["INFO", "storage"]).text();
    crate::binlog::info_field(&info, "storage_sst_bytes")
}

#[test]
fn a_dropped_namespace_costs_a_range_deletion_and_its_space_comes_back() {
    let s = Server::start(&["--requirepass", PASS]);
    let mut ad = admin(&s);
    ad.cmd(&["NAMESPACE", "ADD", "big", "tbig"]);
    let mut c = tenant(&s, "tbig");
    let n = 200_000;
    let value = "x".repeat(100);
    let mut buf = Vec::new();
    for i in 0..n {
        buf.extend(Client::encode(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            value.as_bytes(),
        ]));
        if (i + 1) % 1000 == 0 {
            c.send_raw(&buf).unwrap();
            buf.clear();
            for _ in 0..1000 {
                c.read_reply().unwrap();
            }
        }
    }
    assert_eq!(c.cmd(&["DBSIZE"]).int(), n);
    ad.cmd(&["COMPACT"]);
    std::thread::sleep(Duration::from_millis(500));
    let before = sst_bytes(&mut ad);
    let t = Instant::now();
    assert_eq!(ad.cmd(&["NAMESPACE", "DEL", "big"]), Reply::ok());
    let took = t.elapsed();
    eprintln!("dropping a namespace of {n} keys took {took:?}");
    ad.cmd(&["COMPACT"]);
    // INFO storage is measured every maintenance cycle.
    std::thread::sleep(Duration::from_millis(500));
    let after = sst_bytes(&mut ad);
    eprintln!("SST bytes {before} -> {after} after compaction");
    assert!(after < before / 10, "space reclaimed: {before} -> {after}");
    let mut buf = [0u8; 1];
    let _ = c.stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = c.stream.read(&mut buf);
}

#[test]
fn a_drop_replicates_and_the_replicas_clients_are_let_go() {
    let master = Server::start(&["--requirepass", PASS]);
    let target = format!("127.0.0.1 {}", master.port);
    let replica = Server::start(&[
        "--requirepass",
        PASS,
        "--masterauth",
        PASS,
        "--replicaof",
        &target,
    ]);
    let mut ad = admin(&master);
    ad.cmd(&["NAMESPACE", "ADD", "a", "ta"]);
    let mut a = tenant(&master, "ta");
    a.cmd(&["SET", "k", "v"]);
    assert!(ad.cmd(&["WAIT", "1", "10000"]).int() >= 1);
    let mut ra = tenant(&replica, "ta");
    assert_eq!(ra.cmd(&["GET", "k"]).text(), "v");
    assert!(ra
        .cmd(&["SET", "x", "1"])
        .err_text()
        .starts_with("READONLY"));
    let mut ra_blocked_reader = tenant(&replica, "ta");
    ra_blocked_reader.cmd(&["SUBSCRIBE", "ch"]);
    assert_eq!(ad.cmd(&["NAMESPACE", "DEL", "a"]), Reply::ok());
    assert!(ad.cmd(&["WAIT", "1", "10000"]).int() >= 1);
    let _ = ra.send_raw(&Client::encode(&[b"GET", b"k"]));
    assert_eq!(replies_until_closed(&mut ra), vec![dropped("a")]);
    assert_eq!(
        replies_until_closed(&mut ra_blocked_reader),
        vec![dropped("a")]
    );
    let mut c = replica.client();
    assert!(c.cmd(&["AUTH", "ta"]).err_text().starts_with("WRONGPASS"));
}
