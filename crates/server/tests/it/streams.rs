//! Streams beyond the differential files: XREAD BLOCK served by the writer, auto IDs, what a
//! replica and a restart after kill -9 hold (IDs, counters, trimmed nodes), the key commands.

use std::time::{Duration, Instant};

use crate::blocking::{send, wait_blocked};
use crate::replication::{replica_of, wait_caught_up};
use crate::util::{Client, Reply, Server};

fn entry_ids(r: &Reply) -> Vec<String> {
    r.array()
        .iter()
        .map(|e| match &e.array()[0] {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn xread_block_is_served_by_the_writer_and_times_out() {
    let s = Server::start(&[]);
    let mut w = s.client();
    let mut a = s.client();
    let mut b = s.client();
    assert!(matches!(
        w.cmd(&["XADD", "s", "1-1", "f", "old"]),
        Reply::Bulk(_)
    ));
    // `$`: only what arrives after the call; two readers on two streams each.
    send(
        &mut a,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "other", "$", "$"],
    );
    send(
        &mut b,
        &["XREAD", "COUNT", "1", "BLOCK", "10000", "STREAMS", "s", "$"],
    );
    wait_blocked(&mut w, 2);
    assert_eq!(w.cmd(&["XADD", "s", "2-1", "f", "new"]), Reply::bulk("2-1"));
    for c in [&mut a, &mut b] {
        let got = c.read_reply().expect("served");
        let streams = got.array();
        assert_eq!(streams.len(), 1, "{got:?}");
        assert_eq!(streams[0].array()[0], Reply::bulk("s"));
        assert_eq!(entry_ids(&streams[0].array()[1]), vec!["2-1".to_string()]);
    }
    // A timeout answers a null array after about the time asked.
    let t = Instant::now();
    assert_eq!(
        a.cmd(&["XREAD", "BLOCK", "200", "STREAMS", "s", "$"]),
        Reply::NilArray
    );
    assert!(t.elapsed() >= Duration::from_millis(190));
    // Inside MULTI it does not block.
    assert!(a.cmd(&["MULTI"]).is_ok());
    a.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![Reply::NilArray]));
    // A blocked reader of a key that becomes another type keeps waiting (as Redis 7.0).
    send(&mut a, &["XREAD", "BLOCK", "300", "STREAMS", "later", "0"]);
    wait_blocked(&mut w, 1);
    assert!(w.cmd(&["SET", "later", "x"]).is_ok());
    assert_eq!(a.read_reply().expect("timeout"), Reply::NilArray);
}

#[test]
fn streams_replicate_and_survive_kill_9_with_their_ids_and_counters() {
    let mut master = Server::start(&[]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    // Auto IDs, approximate trimming (whole nodes), deletions, exact trimming, XSETID.
    for i in 0..450 {
        let v = format!("v{i}");
        let r = c.cmd(&["XADD", "auto", "MAXLEN", "~", "200", "*", "n", &v]);
        assert!(matches!(r, Reply::Bulk(_)), "{r:?}");
    }
    for i in 1..=30 {
        let id = format!("5-{i}");
        c.cmd(&["XADD", "fixed", &id, "f", "v"]);
    }
    assert_eq!(
        c.cmd(&["XDEL", "fixed", "5-3", "5-4", "5-30"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["XTRIM", "fixed", "MINID", "5-10"]), Reply::Int(7));
    assert!(c
        .cmd(&["XSETID", "fixed", "9-9", "ENTRIESADDED", "99"])
        .is_ok());
    let view = |c: &mut Client| -> Vec<Reply> {
        let mut out = Vec::new();
        for k in ["auto", "fixed"] {
            out.push(c.cmd(&["XRANGE", k, "-", "+"]));
            out.push(c.cmd(&["XINFO", "STREAM", k]));
        }
        out
    };
    let expected = view(&mut c);
    let len = c.cmd(&["XLEN", "auto"]).int();
    assert!((200..300).contains(&len), "approximate trimming left {len}");
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    assert_eq!(view(&mut replica.client()), expected, "replica");
    master.kill9().expect("kill -9");
    master.spawn();
    assert_eq!(view(&mut master.client()), expected, "after kill -9");
}

#[test]
fn key_commands_know_streams() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["XADD", "st", "1-1", "a", "1"]);
    c.cmd(&["XADD", "st", "2-1", "b", "2"]);
    assert_eq!(c.cmd(&["TYPE", "st"]), Reply::Status("stream".into()));
    let scan = c.cmd(&["SCAN", "0", "TYPE", "stream"]);
    assert_eq!(scan.array()[1], Reply::Array(vec![Reply::bulk("st")]));
    assert_eq!(c.cmd(&["COPY", "st", "st2"]), Reply::Int(1));
    assert!(c.cmd(&["RENAME", "st2", "st3"]).is_ok());
    assert_eq!(
        c.cmd(&["XRANGE", "st3", "-", "+"]),
        c.cmd(&["XRANGE", "st", "-", "+"])
    );
    assert_eq!(
        c.cmd(&["XINFO", "STREAM", "st3"]),
        c.cmd(&["XINFO", "STREAM", "st"])
    );
    assert!(c.cmd(&["MEMORY", "USAGE", "st"]).int() > 0);
    // An emptied stream stays a key (as in Redis).
    assert_eq!(c.cmd(&["XDEL", "st", "1-1", "2-1"]), Reply::Int(2));
    assert_eq!(c.cmd(&["EXISTS", "st"]), Reply::Int(1));
    assert_eq!(c.cmd(&["XLEN", "st"]), Reply::Int(0));
    assert_eq!(c.cmd(&["DEL", "st", "st3"]), Reply::Int(2));
    assert_eq!(c.cmd(&["EXISTS", "st", "st3"]), Reply::Int(0));
    // DUMP and RESTORE carry a stream with its groups.
    c.cmd(&["XADD", "st", "1-1", "a", "1"]);
    assert!(c.cmd(&["XGROUP", "CREATE", "st", "g", "0"]).is_ok());
    c.cmd(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "st", ">"]);
    let Reply::Bulk(payload) = c.cmd(&["DUMP", "st"]) else {
        panic!("DUMP of a stream")
    };
    assert!(c.cmd_bytes(&[b"RESTORE", b"st4", b"0", &payload]).is_ok());
    assert_eq!(
        c.cmd(&["XINFO", "STREAM", "st4", "FULL"]),
        c.cmd(&["XINFO", "STREAM", "st", "FULL"])
    );
}

/// XINFO STREAM FULL with each consumer's seen-time zeroed: the consumer's last activity is
/// the clock of whoever applied it (a replica's own, as in Redis); everything else — entries,
/// pending lists with delivery times and counts, last-delivered IDs, read counters — must be
/// exact.
fn full_view(c: &mut Client, key: &str) -> Reply {
    fn strip(r: Reply) -> Reply {
        match r {
            Reply::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut zero_next = false;
                for it in items {
                    if zero_next {
                        out.push(Reply::Int(0));
                        zero_next = false;
                        continue;
                    }
                    zero_next = it == Reply::bulk("seen-time");
                    out.push(strip(it));
                }
                Reply::Array(out)
            }
            other => other,
        }
    }
    strip(c.cmd(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]))
}

#[test]
fn consumer_groups_survive_a_dead_consumer_kill_9_and_replicas() {
    let mut master = Server::start(&[]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    assert!(c
        .cmd(&["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"])
        .is_ok());
    for i in 0..20 {
        let v = i.to_string();
        assert!(matches!(
            c.cmd(&["XADD", "jobs", "*", "n", &v]),
            Reply::Bulk(_)
        ));
    }
    // alice takes 8 and finishes 3, then dies without acknowledging the rest.
    let mut alice = master.client();
    let got = alice.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "alice",
        "COUNT",
        "8",
        "STREAMS",
        "jobs",
        ">",
    ]);
    let ids = entry_ids(&got.array()[0].array()[1]);
    assert_eq!(ids.len(), 8);
    let mut ack = vec!["XACK", "jobs", "workers"];
    ack.extend(ids[..3].iter().map(|s| s.as_str()));
    assert_eq!(alice.cmd(&ack), Reply::Int(3));
    drop(alice);
    // bob takes 5 and finishes them all.
    let got = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "bob",
        "COUNT",
        "5",
        "STREAMS",
        "jobs",
        ">",
    ]);
    let bob_ids = entry_ids(&got.array()[0].array()[1]);
    let mut ack = vec!["XACK", "jobs", "workers"];
    ack.extend(bob_ids.iter().map(|s| s.as_str()));
    assert_eq!(c.cmd(&ack), Reply::Int(5));
    // One of alice's entries is deleted meanwhile.
    assert_eq!(c.cmd(&["XDEL", "jobs", &ids[4]]), Reply::Int(1));
    std::thread::sleep(Duration::from_millis(30));
    // carol claims what alice left (idle >= 10 ms): four entries, and the deleted one is
    // reported (and dropped from the pending list).
    let claimed = c.cmd(&[
        "XAUTOCLAIM",
        "jobs",
        "workers",
        "carol",
        "10",
        "0-0",
        "COUNT",
        "10",
    ]);
    let parts = claimed.array();
    assert_eq!(parts[0], Reply::bulk("0-0"));
    assert_eq!(
        entry_ids(&parts[1]),
        vec![
            ids[3].clone(),
            ids[5].clone(),
            ids[6].clone(),
            ids[7].clone()
        ]
    );
    assert_eq!(parts[2], Reply::Array(vec![Reply::bulk(&ids[4])]));
    assert_eq!(c.cmd(&["XACK", "jobs", "workers", &ids[3]]), Reply::Int(1));
    // A delivery count goes up with a history read; dave reads without acknowledging.
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "carol",
        "STREAMS",
        "jobs",
        "0",
    ]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "dave",
        "COUNT",
        "2",
        "NOACK",
        "STREAMS",
        "jobs",
        ">",
    ]);
    c.cmd(&[
        "XCLAIM",
        "jobs",
        "workers",
        "erin",
        "0",
        &ids[7],
        "RETRYCOUNT",
        "9",
    ]);
    let summary = c.cmd(&["XPENDING", "jobs", "workers"]);
    assert_eq!(summary.array()[0], Reply::Int(3), "{summary:?}");
    let expected = full_view(&mut c, "jobs");
    let groups = c.cmd(&["XINFO", "GROUPS", "jobs"]);

    wait_caught_up(&master, &replica, Duration::from_secs(20));
    let mut r = replica.client();
    assert_eq!(full_view(&mut r, "jobs"), expected, "replica");
    assert_eq!(r.cmd(&["XINFO", "GROUPS", "jobs"]), groups);

    master.kill9().expect("kill -9");
    master.spawn();
    let mut c = master.client();
    assert_eq!(full_view(&mut c, "jobs"), expected, "after kill -9");
    assert_eq!(c.cmd(&["XINFO", "GROUPS", "jobs"]), groups);
}

#[test]
fn xreadgroup_block_is_served_by_the_writer_and_woken_when_its_group_or_stream_goes() {
    let s = Server::start(&[]);
    let mut w = s.client();
    let mut a = s.client();
    assert!(w
        .cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"])
        .is_ok());
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "q",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["XADD", "q", "1-1", "f", "v"]), Reply::bulk("1-1"));
    let got = a.read_reply().expect("served");
    assert_eq!(
        entry_ids(&got.array()[0].array()[1]),
        vec!["1-1".to_string()]
    );
    // The delivery is pending for c.
    let summary = w.cmd(&["XPENDING", "q", "g"]);
    assert_eq!(summary.array()[0], Reply::Int(1));
    // History reads never block.
    let hist = a.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "q",
        "0",
    ]);
    assert_eq!(
        entry_ids(&hist.array()[0].array()[1]),
        vec!["1-1".to_string()]
    );
    // A destroyed group, then a deleted stream, wake the waiter with Redis's errors.
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "q",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["XGROUP", "DESTROY", "q", "g"]), Reply::Int(1));
    assert_eq!(
        a.read_reply().expect("woken"),
        Reply::Error(
            "NOGROUP the consumer group this client was blocked on no longer exists".into()
        )
    );
    assert!(w.cmd(&["XGROUP", "CREATE", "q", "g", "$"]).is_ok());
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "q",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    assert_eq!(w.cmd(&["DEL", "q"]), Reply::Int(1));
    assert_eq!(
        a.read_reply().expect("woken"),
        Reply::Error("UNBLOCKED the stream key no longer exists".into())
    );
    // A timeout answers a null array.
    assert!(w
        .cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"])
        .is_ok());
    assert_eq!(
        a.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "100",
            "STREAMS",
            "q",
            ">"
        ]),
        Reply::NilArray
    );
    // From a script BLOCK is refused, as in Redis.
    let e = a.cmd(&[
        "EVAL",
        "return redis.call('xread', 'block', '10', 'streams', 'q', '$')",
        "0",
    ]);
    assert!(
        e.err_text()
            .contains("xread command is not allowed with BLOCK option from scripts"),
        "{e:?}"
    );
}
