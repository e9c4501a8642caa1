//! Pub/Sub across connections: delivery to channel and pattern subscribers, RESP3 pushes,
//! introspection, and the output-buffer limit that disconnects a subscriber that does not read.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

#[test]
fn messages_reach_channel_and_pattern_subscribers() {
    let s = Server::start(&[]);
    let mut sub = s.client();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news"]),
        Reply::Array(vec![b("subscribe"), b("news"), Reply::Int(1)])
    );
    assert_eq!(
        sub.cmd(&["PSUBSCRIBE", "n*"]),
        Reply::Array(vec![b("psubscribe"), b("n*"), Reply::Int(2)])
    );
    let mut p = s.client();
    assert_eq!(p.cmd(&["PUBLISH", "news", "hello"]), Reply::Int(2));
    assert_eq!(p.cmd(&["PUBLISH", "nope", "x"]), Reply::Int(1));
    assert_eq!(p.cmd(&["PUBLISH", "other", "x"]), Reply::Int(0));
    let mut got = vec![
        sub.read_reply().unwrap(),
        sub.read_reply().unwrap(),
        sub.read_reply().unwrap(),
    ];
    // Per publisher the order is kept; channel and pattern deliveries of one message may come
    // in either order.
    got[..2].sort_by_key(|r| r.array().len());
    assert_eq!(
        got,
        vec![
            Reply::Array(vec![b("message"), b("news"), b("hello")]),
            Reply::Array(vec![b("pmessage"), b("n*"), b("news"), b("hello")]),
            Reply::Array(vec![b("pmessage"), b("n*"), b("nope"), b("x")]),
        ]
    );
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "news", "nope"]),
        Reply::Array(vec![b("news"), Reply::Int(1), b("nope"), Reply::Int(0)])
    );
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(1));
    let list = p.cmd(&["CLIENT", "LIST"]).text();
    assert!(
        list.contains("flags=P") && list.contains("sub=1 psub=1"),
        "{list}"
    );
    // A subscriber that disconnects is unsubscribed.
    drop(sub);
    let t = Instant::now();
    while p.cmd(&["PUBLISH", "news", "x"]) != Reply::Int(0) {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(0));
}

#[test]
fn resp3_subscribers_get_pushes_and_may_run_any_command() {
    let s = Server::start(&[]);
    let mut sub = s.client();
    sub.cmd(&["HELLO", "3"]);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "c"]),
        Reply::Push(vec![b("subscribe"), b("c"), Reply::Int(1)])
    );
    assert_eq!(
        sub.cmd(&["SET", "k", "v"]),
        Reply::ok(),
        "RESP3 has no subscribed context"
    );
    let mut p = s.client();
    p.cmd(&["PUBLISH", "c", "m"]);
    assert_eq!(
        sub.read_reply().unwrap(),
        Reply::Push(vec![b("message"), b("c"), b("m")])
    );
    // RESP2: only the subscription commands, PING, QUIT and RESET.
    let mut sub2 = s.client();
    sub2.cmd(&["SUBSCRIBE", "c"]);
    assert!(sub2
        .cmd(&["GET", "k"])
        .err_text()
        .starts_with("ERR Can't execute 'get'"));
    assert_eq!(sub2.cmd(&["PING"]), Reply::Array(vec![b("pong"), b("")]));
    assert_eq!(sub2.cmd(&["RESET"]), Reply::Status("RESET".into()));
    assert_eq!(sub2.cmd(&["GET", "k"]), b("v"));
    assert_eq!(p.cmd(&["PUBLISH", "c", "m2"]), Reply::Int(1));
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_by_the_output_limit() {
    let s = Server::start(&["--client-output-buffer-limit", "pubsub 1mb 256kb 1"]);
    // A raw socket that subscribes and then never reads.
    let mut raw = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    raw.write_all(&Client::encode(&[b"SUBSCRIBE", b"firehose"]))
        .unwrap();
    let mut p = s.client();
    let t = Instant::now();
    while p.cmd(&["PUBSUB", "NUMSUB", "firehose"]).array()[1] != Reply::Int(1) {
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    let payload = "x".repeat(16 * 1024);
    let rss_before = s.rss_kb();
    let mut sent = 0u64;
    let start = Instant::now();
    // 4,000 x 16 KB = 64 MB offered: far past the limit and the socket buffers.
    while sent < 4000 {
        let n = p.cmd(&["PUBLISH", "firehose", &payload]).int();
        sent += 1;
        if n == 0 {
            break;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(60));
    let t = Instant::now();
    while p.cmd(&["PUBSUB", "NUMSUB", "firehose"]).array()[1] != Reply::Int(0) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "slow subscriber never dropped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_after = s.rss_kb();
    println!(
        "slow subscriber dropped after {sent} messages of 16 KB; RSS {rss_before} kB -> {rss_after} kB"
    );
    assert!(sent < 4000, "publishing never reached the limit");
    assert!(
        rss_after < rss_before + 48 * 1024,
        "memory grew with the unread messages: {rss_before} -> {rss_after} kB"
    );
    let log = s.log_text();
    assert!(log.contains("pubsub output buffer limit"), "{log}");
    // The server goes on.
    assert_eq!(p.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn active_expiry_publishes_expired_events() {
    let s = Server::start(&["--notify-keyspace-events", "Ex"]);
    let mut sub = s.client();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expired"]);
    let mut c = s.client();
    c.cmd(&["SET", "short", "v", "PX", "20"]);
    c.cmd(&["SET", "other", "v"]);
    assert_eq!(
        sub.read_reply().unwrap(),
        Reply::Array(vec![b("message"), b("__keyevent@0__:expired"), b("short")])
    );
    assert_eq!(c.cmd(&["EXISTS", "short"]), Reply::Int(0));
}

#[test]
fn keyspace_events_of_a_key_batch_or_a_transaction_go_out_once_it_is_committed() {
    // The writer pauses (fail point) between running a pipelined key batch, or an EXEC, and
    // committing it. Subscribers and readers sit on other workers (round robin over four): one
    // that hears of the write must be able to read it. Without holding the events back until
    // the commit, the GET below returns the old value during the pause.
    let s = Server::start(&["--notify-keyspace-events", "K$", "--worker-threads", "4"]);
    let mut admin = s.client();
    let mut pairs: Vec<(Client, Client)> = (0..3)
        .map(|_| {
            let mut sub = s.client();
            sub.cmd(&["SUBSCRIBE", "__keyspace@0__:k"]);
            (sub, s.client())
        })
        .collect();
    let mut w = s.client();
    let event = Reply::Array(vec![b("message"), b("__keyspace@0__:k"), b("set")]);

    admin.cmd(&["DEBUG", "FAILPOINT", "key-batch-before-commit", "400"]);
    let mut batch = Client::encode(&[b"SET", b"k", b"first"]);
    batch.extend(Client::encode(&[b"SET", b"k", b"second"]));
    w.send_raw(&batch).expect("send");
    for (sub, reader) in pairs.iter_mut() {
        assert_eq!(sub.read_reply().expect("event"), event);
        assert_eq!(
            reader.cmd(&["GET", "k"]),
            b("second"),
            "event before commit"
        );
        assert_eq!(sub.read_reply().expect("event"), event);
    }
    for _ in 0..2 {
        assert_eq!(w.read_reply().expect("reply"), Reply::Status("OK".into()));
    }

    admin.cmd(&["DEBUG", "FAILPOINT", "exec-before-commit", "400"]);
    w.cmd(&["MULTI"]);
    w.cmd(&["SET", "k", "third"]);
    w.send_raw(&Client::encode(&[b"EXEC"])).expect("send");
    for (sub, reader) in pairs.iter_mut() {
        assert_eq!(sub.read_reply().expect("event"), event);
        assert_eq!(
            reader.cmd(&["GET", "k"]),
            b("third"),
            "event before EXEC committed"
        );
    }
    assert_eq!(
        w.read_reply().expect("exec"),
        Reply::Array(vec![Reply::Status("OK".into())])
    );
}

#[test]
fn a_replica_publishes_the_keyspace_events_of_the_writes_it_applies() {
    // As a Redis replica does for the commands its master sends: the events come from the
    // handlers that apply each record (Ctx::notify), so a replica's subscribers hear of
    // every write, after it is applied. Without handler-emitted events a replica was silent.
    let master = Server::start(&["--notify-keyspace-events", "KEA"]);
    let replica = crate::replication::replica_of(&master, &["--notify-keyspace-events", "KEA"]);
    crate::replication::wait_caught_up(&master, &replica, Duration::from_secs(30));
    let mut msub = master.client();
    msub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    let mut rsub = replica.client();
    rsub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    let mut c = master.client();
    for cmd in [
        &["SET", "a", "1"][..],
        &["INCRBY", "a", "5"],
        &["SET", "b", "v", "EX", "100"],
        &["RPUSH", "l", "x", "y"],
        &["LPOP", "l", "2"],
        &["HSET", "h", "f", "v"],
        &["ZADD", "z", "1", "m"],
        &["EXPIRE", "a", "100"],
        &["DEL", "b", "nothing"],
    ] {
        c.cmd(cmd);
    }
    c.cmd(&["MULTI"]);
    c.cmd(&["SADD", "s", "1", "2"]);
    c.cmd(&["RENAME", "h", "h2"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["PUBLISH", "__keyspace@0__:END", "end"]);
    let on_master = crate::util::events_until_end(&mut msub);
    let on_replica = crate::util::events_until_end(&mut rsub);
    assert_eq!(on_master.len(), 28, "{on_master:?}");
    assert_eq!(on_replica, on_master);
}
