//! Protocol: RESP2/RESP3, inline, pipelining, limits, protocol errors.

use crate::util::{Client, Reply, Server};

#[test]
fn pipelined_replies_come_back_in_order() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut batch = Vec::new();
    for i in 0..500 {
        let k = format!("k{i}");
        let v = format!("v{i}");
        batch.extend(Client::encode(&[b"SET", k.as_bytes(), v.as_bytes()]));
        batch.extend(Client::encode(&[b"GET", k.as_bytes()]));
        batch.extend(Client::encode(&[b"INCR", b"counter"]));
    }
    c.send_raw(&batch).unwrap();
    for i in 0..500 {
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
        assert_eq!(c.read_reply().unwrap(), Reply::bulk(&format!("v{i}")));
        assert_eq!(c.read_reply().unwrap(), Reply::Int(i + 1));
    }
}

#[test]
fn inline_commands_work() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.send_raw(b"SET greeting \"hello world\"\r\nGET greeting\r\nPING\n")
        .unwrap();
    assert_eq!(c.read_reply().unwrap(), Reply::ok());
    assert_eq!(c.read_reply().unwrap(), Reply::bulk("hello world"));
    assert_eq!(c.read_reply().unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn unknown_command_and_wrong_arity_keep_the_connection() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["NOSUCH", "a", "b"]).err_text(),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        c.cmd(&["GET"]).err_text(),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        c.cmd(&["set", "k"]).err_text(),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn protocol_errors_reply_then_close() {
    let s = Server::start(&[]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*2\r\n+foo\r\n",
            "ERR Protocol error: expected '$', got '+'",
        ),
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\n$-3\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"SET \"unterminated\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"*1\r\n$4\r\nPINGxx",
            "ERR Protocol error: expected CRLF after bulk string",
        ),
    ];
    for (input, expected) in cases {
        let mut c = s.client();
        c.send_raw(input).unwrap();
        assert_eq!(c.read_reply().unwrap(), Reply::Error(expected.to_string()));
        assert!(
            c.is_closed(),
            "connection should be closed after {expected}"
        );
    }
    // Replies to requests before the bad one are still sent.
    let mut c = s.client();
    c.send_raw(b"PING\r\n*1\r\n$x\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap(), Reply::Status("PONG".into()));
    assert_eq!(
        c.read_reply().unwrap().err_text(),
        "ERR Protocol error: invalid bulk length"
    );
    // The server still serves others.
    assert_eq!(s.client().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn bulk_and_inline_limits() {
    let s = Server::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = s.client();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        .unwrap();
    assert_eq!(
        c.read_reply().unwrap().err_text(),
        "ERR Protocol error: invalid bulk length"
    );
    assert!(c.is_closed());
    let mut c = s.client();
    let long = vec![b'a'; 70 * 1024];
    c.send_raw(&long).unwrap();
    assert_eq!(
        c.read_reply().unwrap().err_text(),
        "ERR Protocol error: too big inline request"
    );
    // Exactly at the limit is fine.
    let mut c = s.client();
    let v = "x".repeat(1 << 20);
    assert_eq!(c.cmd(&["SET", "big", &v]), Reply::ok());
    assert_eq!(c.cmd(&["STRLEN", "big"]), Reply::Int(1 << 20));
    // APPEND beyond proto-max-bulk-len is refused.
    assert_eq!(
        c.cmd(&["APPEND", "big", "y"]).err_text(),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let s = Server::start(&["--client-query-buffer-limit", "1mb"]);
    let mut c = s.client();
    // Announce a 3 MB argument (allowed by proto-max-bulk-len) and send 2 MB of it.
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
        .unwrap();
    let chunk = vec![b'z'; 64 * 1024];
    let mut closed = false;
    for _ in 0..32 {
        if c.send_raw(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    assert!(
        closed || c.is_closed(),
        "client past the query buffer limit must be closed"
    );
    assert_eq!(s.client().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn resp3_with_hello() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let r = c.cmd(&["HELLO", "3"]);
    let Reply::Map(m) = r else {
        panic!("HELLO 3 must answer a map, got {r:?}")
    };
    assert!(m.contains(&(Reply::bulk("proto"), Reply::Int(3))));
    assert!(m.contains(&(Reply::bulk("server"), Reply::bulk("redis"))));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
    c.send_raw(b"GET missing\r\n").unwrap();
    // RESP3 null is "_\r\n"; our reader maps it to Nil as well; check raw bytes via CONFIG GET map.
    assert_eq!(c.read_reply().unwrap(), Reply::Nil);
    let r = c.cmd(&["CONFIG", "GET", "port"]);
    assert!(
        matches!(r, Reply::Map(_)),
        "CONFIG GET in RESP3 is a map: {r:?}"
    );
    assert_eq!(
        c.cmd(&["HELLO", "4"]).err_text(),
        "NOPROTO unsupported protocol version"
    );
    let r = c.cmd(&["HELLO", "2"]);
    assert!(
        matches!(r, Reply::Array(_)),
        "HELLO 2 answers a flat array: {r:?}"
    );
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
}

#[test]
fn quit_closes_after_ok() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["QUIT"]), Reply::ok());
    assert!(c.is_closed());
}

#[test]
fn many_concurrent_clients() {
    let s = Server::start(&[]);
    let port = s.port;
    let handles: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..200 {
                    let k = format!("t{t}:{i}");
                    assert_eq!(c.cmd(&["SET", &k, &k]), Reply::ok());
                    assert_eq!(c.cmd(&["GET", &k]), Reply::bulk(&k));
                    c.cmd(&["INCR", "shared"]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    assert_eq!(s.client().cmd(&["GET", "shared"]), Reply::bulk("6400"));
}

/// Runs of pipelined GETs are answered by one batched lookup: the replies, their order, and the
/// statistics must be exactly those of running each GET alone.
#[test]
fn batched_pipelined_gets_answer_like_single_ones() {
    let s = Server::start(&[]);
    let mut c = s.client();
    for i in 0..150 {
        c.cmd(&["SET", &format!("g{i}"), &format!("v{i}")]);
    }
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let mut batch = Vec::new();
    for i in 0..150 {
        batch.extend(Client::encode(&[b"GET", format!("g{i}").as_bytes()]));
        if i == 60 {
            batch.extend(Client::encode(&[b"GET", b"missing"]));
            batch.extend(Client::encode(&[b"GET"]));
            batch.extend(Client::encode(&[b"get", b"a", b"b"]));
            batch.extend(Client::encode(&[b"SET", b"g61", b"changed"]));
        }
    }
    c.send_raw(&batch).unwrap();
    for i in 0..150 {
        let expected = if i == 61 {
            "changed".to_string()
        } else {
            format!("v{i}")
        };
        assert_eq!(c.read_reply().unwrap(), Reply::bulk(&expected), "reply {i}");
        if i == 60 {
            assert_eq!(c.read_reply().unwrap(), Reply::Nil);
            assert_eq!(
                c.read_reply().unwrap().err_text(),
                "ERR wrong number of arguments for 'get' command"
            );
            assert_eq!(
                c.read_reply().unwrap().err_text(),
                "ERR wrong number of arguments for 'get' command"
            );
            assert_eq!(c.read_reply().unwrap(), Reply::ok());
        }
    }
    let stats = c.cmd(&["INFO", "commandstats"]).text();
    assert!(stats.contains("cmdstat_get:calls=151,"), "{stats}");
    assert!(stats.contains("rejected_calls=2"), "{stats}");
    let info = c.cmd(&["INFO", "stats"]).text();
    assert!(info.contains("keyspace_hits:150\r\n"), "{info}");
    assert!(info.contains("keyspace_misses:1\r\n"), "{info}");
}
