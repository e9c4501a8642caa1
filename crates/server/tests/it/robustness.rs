//! Bad input never crashes the server or grows its memory without bound.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::util::{Client, Reply, Server};

fn fragments() -> Vec<Vec<u8>> {
    vec![
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec(),
        b"*1\r\n$4\r\nPING\r\n".to_vec(),
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec(),
        b"*-1\r\n".to_vec(),
        b"*0\r\n".to_vec(),
        b"$5\r\nhello\r\n".to_vec(),
        b"*99999999999\r\n".to_vec(),
        b"*2147483647\r\n$2147483647\r\n".to_vec(),
        b"*1\r\n$536870912\r\n".to_vec(),
        b"PING\r\n".to_vec(),
        b"SET a \"b\r\n".to_vec(),
        b"\r\n\r\n".to_vec(),
        b"*1\r\n$-1\r\n".to_vec(),
        b"INCR k\r\n".to_vec(),
        b"GETRANGE k 0 -1\r\n".to_vec(),
        b"SCAN 0 COUNT 100000000\r\n".to_vec(),
        b"CLIENT KILL ID 1\r\n".to_vec(),
    ]
}

#[test]
fn random_and_truncated_input_never_kills_the_server() {
    let s = Server::start(&[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let frags = fragments();
    let mut watcher = s.client();
    let rss_before = s.rss_kb();
    for round in 0..300 {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", s.port)) else {
            panic!("server stopped accepting at round {round}");
        };
        let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
        let mut payload = Vec::new();
        for _ in 0..rng.random_range(1..8) {
            match rng.random_range(0..4) {
                0 => {
                    let n = rng.random_range(1..512);
                    payload.extend((0..n).map(|_| rng.random::<u8>()));
                }
                1 => {
                    let f = &frags[rng.random_range(0..frags.len())];
                    let cut = rng.random_range(0..=f.len());
                    payload.extend_from_slice(&f[..cut]);
                }
                _ => payload.extend_from_slice(&frags[rng.random_range(0..frags.len())]),
            }
        }
        let _ = conn.write_all(&payload);
        if round % 2 == 0 {
            drop(conn); // close mid-request
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        if round % 50 == 0 {
            assert_eq!(
                watcher.cmd(&["PING"]),
                Reply::Status("PONG".into()),
                "round {round}"
            );
        }
    }
    // Still serving, and a fresh client works normally.
    let mut c = Client::connect(s.port);
    assert_eq!(c.cmd(&["SET", "alive", "1"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "alive"]), Reply::bulk("1"));
    let rss_after = s.rss_kb();
    assert!(
        rss_after < rss_before + 200 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
}

/// Many clients each announce a huge bulk and then stall: the server holds only what was sent.
#[test]
fn announced_sizes_do_not_allocate() {
    let s = Server::start(&[]);
    let before = s.rss_kb();
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.write_all(b"*2\r\n$3\r\nGET\r\n$536870000\r\nabc")
            .unwrap();
        conns.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut c = Client::connect(s.port);
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    let after = s.rss_kb();
    assert!(
        after < before + 100 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

/// Every command the server lists, with random arguments drawn from values that stress
/// parsers (extreme integers, NaN, options in the wrong place, keys of every type): 12,000
/// requests, and the server must answer every one (a reply, never a dropped connection) and
/// still serve afterwards.
#[test]
fn random_arguments_to_every_command_never_crash_the_server() {
    let s = Server::start(&[]);
    let mut c = s.client();
    // Commands that would end the test's connection, change its protocol, block it, stop the
    // server, or answer with several frames (UNSUBSCRIBE a b) are left out; everything else
    // is fair game.
    let names = fuzzable_commands(&mut c, &[]);
    let pool: Vec<&str> = vec![
        "k",
        "str",
        "list",
        "hash",
        "set",
        "zset",
        "nokey",
        "0",
        "1",
        "-1",
        "2",
        "5",
        "100",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615",
        "1.5",
        "-0.0",
        "inf",
        "-inf",
        "+inf",
        "nan",
        "1e309",
        "",
        "*",
        "-",
        "+",
        "[a",
        "(a",
        "(1",
        "#1",
        "#-1",
        "u8",
        "i64",
        "u64",
        "i65",
        "LIMIT",
        "COUNT",
        "WITHSCORES",
        "BYSCORE",
        "BYLEX",
        "REV",
        "LEFT",
        "RIGHT",
        "MIN",
        "MAX",
        "GET",
        "SET",
        "INCRBY",
        "OVERFLOW",
        "FAIL",
        "SAT",
        "STORE",
        "BY",
        "ALPHA",
        "DESC",
        "NX",
        "XX",
        "GT",
        "LT",
        "CH",
        "INCR",
        "EX",
        "PX",
        "EXAT",
        "KEEPTTL",
        "MATCH",
        "TYPE",
        "AGGREGATE",
        "WEIGHTS",
        "SUM",
        "BEFORE",
        "AFTER",
        "RANK",
        "MAXLEN",
        "BIT",
        "BYTE",
        "AND",
        "NOT",
        "WITHVALUES",
        "REPLACE",
        "DB",
        "ASYNC",
        "x\u{0}y",
        "stream",
        "geo",
        "STREAMS",
        "GROUP",
        "g",
        ">",
        "$",
        "MKSTREAM",
        "CREATE",
        "NOACK",
        "JUSTID",
        "FORCE",
        "IDLE",
        "MINID",
        "~",
        "=",
        "1-1",
        "0-0",
        "18446744073709551615-18446744073709551615",
        "km",
        "BYRADIUS",
        "BYBOX",
        "FROMLONLAT",
        "FROMMEMBER",
        "WITHCOORD",
        "WITHDIST",
        "ANY",
        "STOREDIST",
        // ACL rules (ACL SETUSER / DRYRUN get them as arguments).
        "SETUSER",
        "DRYRUN",
        "~*",
        "%R~x",
        "%W~",
        "+@all",
        "-@all",
        "+get|x",
        "(+get ~x",
        "(+set ~y)",
        "&*",
        ">pw",
        "#00",
        "nopass",
        "resetchannels",
        "namespace=x",
    ];
    let setup: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["RPUSH", "list", "a", "b", "c", "1", "2"],
        &["HSET", "hash", "f", "1", "g", "x"],
        &["SADD", "set", "a", "b", "1"],
        &["ZADD", "zset", "1", "a", "2", "b", "-inf", "c"],
        &["PFADD", "hll", "a"],
        &["XADD", "stream", "1-1", "a", "1"],
        &["XADD", "stream", "*", "b", "2"],
        &["XGROUP", "CREATE", "stream", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "stream", ">"],
        &["GEOADD", "geo", "13.36", "38.11", "a", "15.08", "37.5", "b"],
    ];
    // STRATA_FUZZ_SEED / STRATA_FUZZ_ROUNDS explore further by hand.
    let mut rnd = xorshift(
        std::env::var("STRATA_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x5eed_1234_abcd_0001),
    );
    let rounds: usize = std::env::var("STRATA_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12_000);
    for round in 0..rounds {
        if round % 500 == 0 {
            for cmd in setup {
                c.cmd(cmd);
            }
        }
        let name = names[rnd(names.len())].clone();
        let argc = rnd(7);
        let mut args: Vec<String> = vec![name.clone()];
        for _ in 0..argc {
            args.push(pool[rnd(pool.len())].to_string());
        }
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        match c.try_cmd(&refs) {
            Ok(Reply::Push(_)) => panic!("unexpected push after {args:?}"),
            Ok(_) => {}
            Err(e) => panic!("no reply to {args:?}: {e}"),
        }
        if name == "select" {
            c.cmd(&["SELECT", "0"]);
        }
    }
    // The same, pipelined 64 at a time (runs of writes to one key become key batches).
    for _ in 0..rounds / 64 {
        let mut buf = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..64 {
            let name = names[rnd(names.len())].clone();
            if name == "select" {
                continue;
            }
            let mut args: Vec<String> = vec![name];
            // Mostly the same few keys, so runs form.
            args.push(["list", "hash", "set", "zset", "str"][rnd(5)].to_string());
            for _ in 0..rnd(5) {
                args.push(pool[rnd(pool.len())].to_string());
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            buf.extend(Client::encode(&refs));
            sent.push(args);
        }
        c.send_raw(&buf).expect("send pipeline");
        for args in &sent {
            if let Err(e) = c.read_reply() {
                panic!("no reply to pipelined {args:?}: {e}");
            }
        }
    }
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    let mut fresh = s.client();
    assert_eq!(fresh.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// Key batches must not change any reply: the same random commands (deterministic ones),
/// pipelined to one server and sent one at a time to another, get identical replies.
#[test]
fn pipelined_and_one_by_one_replies_are_identical() {
    let batched = Server::start(&[]);
    let single = Server::start(&[]);
    let mut b = batched.client();
    let mut s = single.client();
    let names = fuzzable_commands(
        &mut b,
        &[
            // Random or time-dependent replies.
            "srandmember",
            "hrandfield",
            "zrandmember",
            "randomkey",
            "ttl",
            "pttl",
            "expiretime",
            "pexpiretime",
            "object",
            "info",
            "time",
            "lastsave",
            "memory",
            "latency",
            "slowlog",
            // Changing the database or all keys breaks the comparison's bookkeeping.
            "discard",
            "select",
            "flushall",
            "flushdb",
            "swapdb",
            "move",
            // Millisecond TTLs (PEXPIRE k 10) expire between the pipelined run and the slower
            // one-by-one run: the two would differ by timing, not by semantics.
            "pexpire",
            "psetex",
        ],
    );
    let pool = [
        "0",
        "1",
        "-1",
        "2",
        "3",
        "10",
        "a",
        "b",
        "c",
        "x",
        "1.5",
        "-inf",
        "+inf",
        "(1",
        "[a",
        "-",
        "+",
        "LIMIT",
        "COUNT",
        "WITHSCORES",
        "LEFT",
        "RIGHT",
        "NX",
        "XX",
        "GT",
        "CH",
        "INCR",
        "KEEPTTL",
        "GET",
        "BEFORE",
        "AFTER",
        "RANK",
        "u8",
        "i16",
        "#1",
        "OVERFLOW",
        "SAT",
        "BYSCORE",
        "REV",
    ];
    let mut rnd = xorshift(0x00c0_ffee_1234_5679);
    let mut compared = 0;
    for round in 0..150 {
        let mut batch: Vec<Vec<String>> = Vec::new();
        // Runs of commands on the same key, as pipelines usually are.
        let key = ["list", "hash", "set", "zset", "str"][round % 5].to_string();
        for _ in 0..48 {
            let mut args = vec![names[rnd(names.len())].clone(), key.clone()];
            for _ in 0..rnd(5) {
                args.push(pool[rnd(pool.len())].to_string());
            }
            batch.push(args);
        }
        let mut buf = Vec::new();
        for args in &batch {
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            buf.extend(Client::encode(&refs));
        }
        b.send_raw(&buf).expect("send pipeline");
        for args in &batch {
            let got = b.read_reply().expect("pipelined reply");
            let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            let want = s.cmd(&refs);
            assert_eq!(got, want, "pipelined {args:?}");
            compared += 1;
        }
    }
    println!("{compared} pipelined replies identical to one-by-one");
}

/// The commands `COMMAND LIST` reports, minus those a fuzz test must not send (they end the
/// connection, change its protocol, block, stop the server, answer with several frames or
/// take minutes) and minus `more`.
#[allow(clippy::unwrap_used)]
fn fuzzable_commands(c: &mut Client, more: &[&str]) -> Vec<String> {
    const NEVER: &[&str] = &[
        "shutdown",
        "quit",
        "reset",
        "hello",
        "auth",
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "monitor",
        "debug",
        "client",
        "config",
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "blmpop",
        "bzpopmin",
        "bzpopmax",
        "bzmpop",
        "multi",
        "exec",
        "watch",
        "sync",
        "psync",
        "replicaof",
        "slaveof",
        "failover",
        // Connects to the host it is given: never to anything but a test's own servers.
        "migrate",
        "compact",
        "save",
        "bgsave",
        "bgrewriteaof",
    ];
    match c.cmd(&["COMMAND", "LIST"]) {
        Reply::Array(v) => v
            .iter()
            .map(|r| r.text().to_lowercase())
            .filter(|n| !NEVER.contains(&n.as_str()) && !more.contains(&n.as_str()))
            .collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    }
}

/// A small deterministic generator: `rnd(n)` is in `0..n`.
pub fn xorshift(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    }
}
