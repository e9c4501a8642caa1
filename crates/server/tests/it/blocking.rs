//! Blocking pops across connections: FIFO wake-up, timeouts, disconnection while blocked,
//! chains through BLMOVE, CLIENT UNBLOCK.

use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

pub(crate) fn blocked_clients(c: &mut Client) -> i64 {
    let info = c.cmd(&["INFO", "clients"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Waits until `n` clients are blocked (so arrival order is known).
pub(crate) fn wait_blocked(c: &mut Client, n: i64) {
    let start = Instant::now();
    while blocked_clients(c) != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never saw {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a)).expect("send");
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let s = Server::start(&[]);
    let mut ctl = s.client();
    let mut waiters: Vec<Client> = Vec::new();
    for i in 0..4 {
        let mut c = s.client();
        // Two keys: the wake-up is per key, FIFO among everyone waiting on it.
        send(&mut c, &["BLPOP", "other", "q", "0"]);
        wait_blocked(&mut ctl, i + 1);
        waiters.push(c);
    }
    // One element at a time: each goes to the client that has waited longest.
    for (i, w) in waiters.iter_mut().enumerate() {
        let v = format!("v{i}");
        assert_eq!(
            ctl.cmd(&["RPUSH", "q", &v]),
            Reply::Int(1),
            "pushed to an empty list"
        );
        assert_eq!(
            w.read_reply().unwrap(),
            Reply::Array(vec![Reply::bulk("q"), Reply::bulk(&v)])
        );
    }
    assert_eq!(ctl.cmd(&["EXISTS", "q"]), Reply::Int(0));
    // Several elements in one push: served in order too.
    let mut a = s.client();
    let mut b = s.client();
    send(&mut a, &["BRPOP", "r", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut b, &["BRPOP", "r", "0"]);
    wait_blocked(&mut ctl, 2);
    assert_eq!(ctl.cmd(&["LPUSH", "r", "1", "2", "3"]), Reply::Int(3));
    assert_eq!(a.read_reply().unwrap().array()[1], Reply::bulk("1"));
    assert_eq!(b.read_reply().unwrap().array()[1], Reply::bulk("2"));
    assert_eq!(
        ctl.cmd(&["LRANGE", "r", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("3")])
    );
}

#[test]
fn timeouts_return_nil_and_a_pipeline_continues_after_the_wake_up() {
    let s = Server::start(&[]);
    let mut c = s.client();
    for cmd in [
        vec!["BLPOP", "none", "0.2"],
        vec!["BLMOVE", "none", "dst", "LEFT", "LEFT", "0.2"],
        vec!["BZPOPMIN", "none", "0.2"],
        vec!["BLMPOP", "0.2", "1", "none", "LEFT"],
    ] {
        let t = Instant::now();
        assert_eq!(c.cmd(&cmd), Reply::NilArray, "{cmd:?}");
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_secs(3),
            "{cmd:?} waited {waited:?}"
        );
    }
    // Requests pipelined behind a blocked one run after it is served.
    let mut ctl = s.client();
    let mut buf = Client::encode(&[b"PING"]);
    buf.extend(Client::encode(&[b"BLPOP", b"p", b"0"]));
    buf.extend(Client::encode(&[b"ECHO", b"after"]));
    c.send_raw(&buf).unwrap();
    assert_eq!(c.read_reply().unwrap(), Reply::Status("PONG".into()));
    wait_blocked(&mut ctl, 1);
    ctl.cmd(&["RPUSH", "p", "x"]);
    assert_eq!(
        c.read_reply().unwrap(),
        Reply::Array(vec![Reply::bulk("p"), Reply::bulk("x")])
    );
    assert_eq!(c.read_reply().unwrap(), Reply::bulk("after"));
}

#[test]
fn a_client_that_disconnects_while_blocked_takes_nothing() {
    let s = Server::start(&[]);
    let mut ctl = s.client();
    {
        let mut gone = s.client();
        send(&mut gone, &["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
    }
    wait_blocked(&mut ctl, 0);
    let mut next = s.client();
    send(&mut next, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    ctl.cmd(&["RPUSH", "k", "a", "b"]);
    assert_eq!(next.read_reply().unwrap().array()[1], Reply::bulk("a"));
    assert_eq!(
        ctl.cmd(&["LRANGE", "k", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("b")])
    );
    // CLIENT KILL of a blocked client.
    let mut killed = s.client();
    let id = killed.cmd(&["CLIENT", "ID"]).int().to_string();
    send(&mut killed, &["BLPOP", "nothing", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&["CLIENT", "KILL", "ID", &id]), Reply::Int(1));
    wait_blocked(&mut ctl, 0);
    assert!(killed.read_reply().is_err() || killed.is_closed());
}

#[test]
fn blmove_chains_and_sorted_set_waiters() {
    let s = Server::start(&[]);
    let mut ctl = s.client();
    let mut mover = s.client();
    let mut reader = s.client();
    send(&mut mover, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut reader, &["BLPOP", "dst", "0"]);
    wait_blocked(&mut ctl, 2);
    ctl.cmd(&["RPUSH", "src", "m"]);
    assert_eq!(mover.read_reply().unwrap(), Reply::bulk("m"));
    assert_eq!(
        reader.read_reply().unwrap(),
        Reply::Array(vec![Reply::bulk("dst"), Reply::bulk("m")])
    );
    assert_eq!(ctl.cmd(&["EXISTS", "src", "dst"]), Reply::Int(0));

    let mut z = s.client();
    send(&mut z, &["BZPOPMAX", "z1", "z2", "0"]);
    wait_blocked(&mut ctl, 1);
    ctl.cmd(&["ZADD", "z2", "1", "a", "5", "b"]);
    assert_eq!(
        z.read_reply().unwrap(),
        Reply::Array(vec![Reply::bulk("z2"), Reply::bulk("b"), Reply::bulk("5")])
    );
    send(&mut z, &["BZMPOP", "0", "1", "z3", "MIN", "COUNT", "5"]);
    wait_blocked(&mut ctl, 1);
    // A transaction's writes wake waiters too, after the commit.
    ctl.cmd(&["MULTI"]);
    ctl.cmd(&["ZADD", "z3", "2", "x", "1", "y"]);
    ctl.cmd(&["ZADD", "z3", "3", "w"]);
    ctl.cmd(&["EXEC"]);
    let r = z.read_reply().unwrap();
    assert_eq!(r.array()[0], Reply::bulk("z3"));
    assert_eq!(r.array()[1].array().len(), 3);
}

#[test]
fn wrong_type_keeps_waiting_and_client_unblock_answers() {
    let s = Server::start(&[]);
    let mut ctl = s.client();
    let mut w = s.client();
    let id = w.cmd(&["CLIENT", "ID"]).int().to_string();
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    ctl.cmd(&["SET", "k", "string"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        blocked_clients(&mut ctl),
        1,
        "a string does not serve a list waiter"
    );
    ctl.cmd(&["DEL", "k"]);
    ctl.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(w.read_reply().unwrap().array()[1], Reply::bulk("v"));

    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(w.read_reply().unwrap(), Reply::NilArray);
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Reply::Int(1));
    assert_eq!(
        w.read_reply().unwrap().err_text(),
        "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );
    assert_eq!(ctl.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));
}

#[test]
fn many_blocked_clients_each_get_exactly_one_element() {
    let s = Server::start(&[]);
    let port = s.port;
    let n = 40;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                match c.cmd(&["BLPOP", "jobs", "20"]) {
                    Reply::Array(v) => v[1].clone(),
                    other => panic!("BLPOP answered {other:?}"),
                }
            })
        })
        .collect();
    let mut ctl = s.client();
    wait_blocked(&mut ctl, n);
    let mut p = s.client();
    for i in 0..n {
        p.cmd(&["RPUSH", "jobs", &i.to_string()]);
    }
    let mut got: Vec<i64> = handles
        .into_iter()
        .map(|h| match h.join().unwrap() {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).parse().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    assert_eq!(blocked_clients(&mut ctl), 0);
}

/// A client blocked in BRPOPLPUSH / BLMOVE whose destination holds another type is woken
/// with WRONGTYPE when the source gets an element, and the element stays in the source (as
/// Redis 7.0); a client waiting behind it on the same source is then served.
#[test]
fn a_blocked_move_to_a_destination_of_another_type_is_woken_with_wrongtype() {
    let s = Server::start(&[]);
    let mut ctl = s.client();
    assert!(ctl.cmd(&["SET", "dst", "a string"]).is_ok());
    let mut a = s.client();
    send(&mut a, &["BRPOPLPUSH", "src", "dst", "0"]);
    wait_blocked(&mut ctl, 1);
    let mut b = s.client();
    send(&mut b, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut ctl, 2);
    let mut c = s.client();
    send(&mut c, &["BLMOVE", "src", "good", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut ctl, 3);
    assert_eq!(ctl.cmd(&["RPUSH", "src", "x"]), Reply::Int(1));
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(a.read_reply().unwrap(), Reply::Error(wrongtype.into()));
    assert_eq!(b.read_reply().unwrap(), Reply::Error(wrongtype.into()));
    // The element stayed for the third client, whose destination is a list.
    assert_eq!(c.read_reply().unwrap(), Reply::bulk("x"));
    assert_eq!(ctl.cmd(&["LRANGE", "good", "0", "-1"]).array().len(), 1);
    assert_eq!(ctl.cmd(&["EXISTS", "src"]), Reply::Int(0));
    assert_eq!(ctl.cmd(&["GET", "dst"]), Reply::bulk("a string"));
    assert_eq!(blocked_clients(&mut ctl), 0);
    // The woken clients' connections go on.
    assert_eq!(a.cmd(&["PING"]), Reply::Status("PONG".into()));
    // Without a waiter to take it, an element pushed for a wrong-type move stays in the source.
    send(&mut a, &["BRPOPLPUSH", "src2", "dst", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&["RPUSH", "src2", "y"]), Reply::Int(1));
    assert_eq!(a.read_reply().unwrap(), Reply::Error(wrongtype.into()));
    assert_eq!(
        ctl.cmd(&["LRANGE", "src2", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("y")])
    );
}
