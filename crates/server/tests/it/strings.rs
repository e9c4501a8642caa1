//! String commands, with their error cases.

use crate::util::{Reply, Server};

fn nil() -> Reply {
    Reply::Nil
}

#[test]
fn set_and_get_with_options() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["SET", "k", "v2", "NX"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "v2", "XX"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "nope", "v", "XX"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "v3", "GET"]), Reply::bulk("v2"));
    assert_eq!(c.cmd(&["SET", "new", "v", "GET"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]), Reply::ok());
    let ttl = c.cmd(&["TTL", "k"]).int();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(c.cmd(&["SET", "k", "v4", "KEEPTTL"]), Reply::ok());
    assert!(c.cmd(&["TTL", "k"]).int() > 90);
    assert_eq!(c.cmd(&["SET", "k", "v5"]), Reply::ok());
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "100000"]), Reply::ok());
    assert!(c.cmd(&["PTTL", "k"]).int() > 99_000);
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000)
        .to_string();
    assert_eq!(c.cmd(&["SET", "k", "v", "EXAT", &future]), Reply::ok());
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]).int().to_string(), future);
    assert_eq!(c.cmd(&["SET", "k", "v", "PXAT", "1"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]), nil(), "a PXAT in the past deletes");
    // Errors.
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "0"]).err_text(),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "-5"]).err_text(),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "abc"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "9223372036854775807"])
            .err_text(),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "NX", "XX"]).err_text(),
        "ERR syntax error"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "1", "PX", "1"]).err_text(),
        "ERR syntax error"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX"]).err_text(),
        "ERR syntax error"
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "BOGUS"]).err_text(),
        "ERR syntax error"
    );
}

#[test]
fn setnx_setex_psetex_getset_getdel_getex() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["SETNX", "a", "1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SETNX", "a", "2"]), Reply::Int(0));
    assert_eq!(c.cmd(&["SETEX", "b", "100", "x"]), Reply::ok());
    assert!(c.cmd(&["TTL", "b"]).int() > 98);
    assert_eq!(
        c.cmd(&["SETEX", "b", "0", "x"]).err_text(),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(c.cmd(&["PSETEX", "c", "100000", "y"]), Reply::ok());
    assert_eq!(
        c.cmd(&["PSETEX", "c", "-1", "y"]).err_text(),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(c.cmd(&["GETSET", "a", "9"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["GETSET", "zz", "9"]), nil());
    assert_eq!(c.cmd(&["GETDEL", "a"]), Reply::bulk("9"));
    assert_eq!(c.cmd(&["GETDEL", "a"]), nil());
    assert_eq!(c.cmd(&["GETEX", "c", "PERSIST"]), Reply::bulk("y"));
    assert_eq!(c.cmd(&["TTL", "c"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["GETEX", "c", "EX", "50"]), Reply::bulk("y"));
    assert!(c.cmd(&["TTL", "c"]).int() > 48);
    assert_eq!(c.cmd(&["GETEX", "c"]), Reply::bulk("y"));
    assert_eq!(
        c.cmd(&["GETEX", "c", "EX", "1", "PX", "5"]).err_text(),
        "ERR syntax error"
    );
    assert_eq!(c.cmd(&["GETEX", "missing", "EX", "5"]), nil());
}

#[test]
fn mget_mset_msetnx() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2"]), Reply::ok());
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "nope"]),
        Reply::Array(vec![Reply::bulk("1"), Reply::bulk("2"), nil()])
    );
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b"]).err_text(),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(c.cmd(&["MSETNX", "a", "x", "c", "3"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["GET", "c"]),
        nil(),
        "MSETNX writes nothing when one key exists"
    );
    assert_eq!(c.cmd(&["MSETNX", "c", "3", "d", "4"]), Reply::Int(1));
    assert_eq!(c.cmd(&["GET", "d"]), Reply::bulk("4"));
}

#[test]
fn counters_and_their_errors() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["INCR", "n"]), Reply::Int(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "10"]), Reply::Int(11));
    assert_eq!(c.cmd(&["DECR", "n"]), Reply::Int(10));
    assert_eq!(c.cmd(&["DECRBY", "n", "20"]), Reply::Int(-10));
    assert_eq!(
        c.cmd(&["INCRBY", "n", "x"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    c.cmd(&["SET", "s", "hello"]);
    assert_eq!(
        c.cmd(&["INCR", "s"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    c.cmd(&["SET", "sp", " 1"]);
    assert_eq!(
        c.cmd(&["INCR", "sp"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    c.cmd(&["SET", "max", "9223372036854775807"]);
    assert_eq!(
        c.cmd(&["INCR", "max"]).err_text(),
        "ERR increment or decrement would overflow"
    );
    c.cmd(&["SET", "min", "-9223372036854775808"]);
    assert_eq!(
        c.cmd(&["DECR", "min"]).err_text(),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        c.cmd(&["DECRBY", "n", "-9223372036854775808"]).err_text(),
        "ERR decrement would overflow"
    );
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "10.5"]), Reply::bulk("10.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), Reply::bulk("10.6"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "-5.6"]), Reply::bulk("5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "5.0e3"]), Reply::bulk("5005"));
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "abc"]).err_text(),
        "ERR value is not a valid float"
    );
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "s", "1"]).err_text(),
        "ERR value is not a valid float"
    );
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "inf"]).err_text(),
        "ERR increment would produce NaN or Infinity"
    );
}

#[test]
fn append_strlen_ranges() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["APPEND", "k", "Hello "]), Reply::Int(6));
    assert_eq!(c.cmd(&["APPEND", "k", "World"]), Reply::Int(11));
    assert_eq!(c.cmd(&["STRLEN", "k"]), Reply::Int(11));
    assert_eq!(c.cmd(&["STRLEN", "nope"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GETRANGE", "k", "0", "4"]), Reply::bulk("Hello"));
    assert_eq!(c.cmd(&["GETRANGE", "k", "-5", "-1"]), Reply::bulk("World"));
    assert_eq!(
        c.cmd(&["GETRANGE", "k", "0", "-1"]),
        Reply::bulk("Hello World")
    );
    assert_eq!(c.cmd(&["GETRANGE", "k", "100", "200"]), Reply::bulk(""));
    assert_eq!(c.cmd(&["SUBSTR", "k", "0", "0"]), Reply::bulk("H"));
    assert_eq!(
        c.cmd(&["GETRANGE", "k", "a", "1"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(c.cmd(&["SETRANGE", "k", "6", "Redis"]), Reply::Int(11));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("Hello Redis"));
    assert_eq!(c.cmd(&["SETRANGE", "pad", "2", "x"]), Reply::Int(3));
    assert_eq!(c.cmd(&["GET", "pad"]), Reply::Bulk(b"\0\0x".to_vec()));
    assert_eq!(
        c.cmd(&["SETRANGE", "k", "-1", "x"]).err_text(),
        "ERR offset is out of range"
    );
    assert_eq!(c.cmd(&["SETRANGE", "empty", "5", ""]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXISTS", "empty"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["SETRANGE", "k", "536870911", "xx"]).err_text(),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn binary_safe_keys_and_values() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let key: &[u8] = b"\x00\xffkey\r\n";
    let val: &[u8] = b"\x00\x01\x02\r\n\xfe";
    assert_eq!(c.cmd_bytes(&[b"SET", key, val]), Reply::ok());
    assert_eq!(c.cmd_bytes(&[b"GET", key]), Reply::Bulk(val.to_vec()));
}
