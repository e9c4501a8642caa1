//! Generic key commands, expiry, SELECT, SCAN, flushes.

use crate::util::{Reply, Server};
use std::time::Duration;

#[test]
fn del_exists_type_touch_unlink() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(c.cmd(&["EXISTS", "a", "a", "nope"]), Reply::Int(2));
    assert_eq!(c.cmd(&["TOUCH", "a", "b", "nope"]), Reply::Int(2));
    assert_eq!(c.cmd(&["TYPE", "a"]), Reply::Status("string".into()));
    assert_eq!(c.cmd(&["TYPE", "nope"]), Reply::Status("none".into()));
    assert_eq!(c.cmd(&["DEL", "a", "a", "nope"]), Reply::Int(1));
    assert_eq!(c.cmd(&["UNLINK", "b", "c"]), Reply::Int(2));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["DEL"]).err_text(),
        "ERR wrong number of arguments for 'del' command"
    );
}

#[test]
fn expire_family_with_conditions() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["TTL", "nope"]), Reply::Int(-2));
    assert_eq!(c.cmd(&["PTTL", "nope"]), Reply::Int(-2));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["EXPIRE", "nope", "10"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "XX"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "GT"]),
        Reply::Int(0),
        "no TTL counts as infinite for GT"
    );
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "NX"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "GT"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "300", "LT"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "150", "LT", "XX"]), Reply::Int(1));
    let t = c.cmd(&["TTL", "k"]).int();
    assert!((148..=150).contains(&t), "{t}");
    assert_eq!(c.cmd(&["PEXPIRE", "k", "100000"]), Reply::Int(1));
    assert!(c.cmd(&["PTTL", "k"]).int() > 99_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let at = (now.as_secs() + 500).to_string();
    assert_eq!(c.cmd(&["EXPIREAT", "k", &at]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]).int().to_string(), at);
    let pat = (now.as_millis() as u64 + 600_000).to_string();
    assert_eq!(c.cmd(&["PEXPIREAT", "k", &pat]), Reply::Int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "k"]).int().to_string(), pat);
    assert_eq!(c.cmd(&["PERSIST", "k"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]), Reply::Int(0));
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));
    // Errors.
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "abc"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "10", "NX", "XX"]).err_text(),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "10", "GT", "LT"]).err_text(),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "10", "FOO"]).err_text(),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "9223372036854775807"]).err_text(),
        "ERR invalid expire time in 'expire' command"
    );
    // A time in the past deletes the key.
    assert_eq!(c.cmd(&["EXPIRE", "k", "-1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn keys_expire_lazily_and_actively() {
    let s = Server::start(&["--hz", "50"]);
    let mut c = s.client();
    for i in 0..300 {
        c.cmd(&["SET", &format!("tmp:{i}"), "v", "PX", "150"]);
    }
    c.cmd(&["SET", "keep", "v"]);
    c.cmd(&["SET", "lazy", "v", "PX", "100"]);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(
        c.cmd(&["GET", "lazy"]),
        Reply::Nil,
        "expired keys are invisible at once"
    );
    // The active cycle deletes expired keys without anyone reading them.
    let mut expired = 0;
    for _ in 0..100 {
        let info = c.cmd(&["INFO", "stats"]).text();
        expired = info
            .lines()
            .find_map(|l| l.strip_prefix("expired_keys:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if expired >= 301 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(expired >= 301, "active expiry removed only {expired} keys");
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["KEYS", "*"]),
        Reply::Array(vec![Reply::bulk("keep")])
    );
}

#[test]
fn rename_renamenx_copy() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "a", "1", "EX", "100"]);
    assert_eq!(c.cmd(&["RENAME", "a", "b"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "b"]), Reply::bulk("1"));
    assert!(c.cmd(&["TTL", "b"]).int() > 90, "RENAME keeps the TTL");
    assert_eq!(
        c.cmd(&["RENAME", "nope", "x"]).err_text(),
        "ERR no such key"
    );
    c.cmd(&["SET", "c", "3"]);
    assert_eq!(c.cmd(&["RENAMENX", "b", "c"]), Reply::Int(0));
    assert_eq!(c.cmd(&["RENAMENX", "b", "d"]), Reply::Int(1));
    assert_eq!(c.cmd(&["COPY", "d", "c"]), Reply::Int(0));
    assert_eq!(c.cmd(&["COPY", "d", "c", "REPLACE"]), Reply::Int(1));
    assert_eq!(c.cmd(&["GET", "c"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["COPY", "d", "e", "DB", "3"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["COPY", "d", "e", "DB", "16"]).err_text(),
        "ERR DB index is out of range"
    );
    assert_eq!(
        c.cmd(&["COPY", "d", "e", "BOGUS"]).err_text(),
        "ERR syntax error"
    );
    c.cmd(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "e"]), Reply::bulk("1"));
}

#[test]
fn select_isolates_databases() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "db0"]);
    assert_eq!(c.cmd(&["SELECT", "9"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    c.cmd(&["SET", "k", "db9"]);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["SELECT", "16"]).err_text(),
        "ERR DB index is out of range"
    );
    assert_eq!(
        c.cmd(&["SELECT", "-1"]).err_text(),
        "ERR DB index is out of range"
    );
    assert_eq!(
        c.cmd(&["SELECT", "x"]).err_text(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(c.cmd(&["FLUSHDB"]), Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
    c.cmd(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("db0"));
    let info = c.cmd(&["INFO", "keyspace"]).text();
    assert!(info.contains("db0:keys=1,expires=0"), "{info}");
    assert_eq!(c.cmd(&["FLUSHALL"]), Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(c.cmd(&["FLUSHALL", "BOGUS"]).err_text(), "ERR syntax error");
}

#[test]
fn scan_keys_randomkey() {
    let s = Server::start(&[]);
    let mut c = s.client();
    for i in 0..120 {
        c.cmd(&["SET", &format!("user:{i}"), "v"]);
    }
    for i in 0..30 {
        c.cmd(&["SET", &format!("other:{i}"), "v"]);
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::BTreeSet::new();
    let mut rounds = 0;
    loop {
        let r = c.cmd(&["SCAN", &cursor, "MATCH", "user:*", "COUNT", "7"]);
        let parts = r.array();
        cursor = parts[0].text();
        for k in parts[1].array() {
            seen.insert(k.text());
        }
        rounds += 1;
        if cursor == "0" {
            break;
        }
        assert!(rounds < 100);
    }
    assert_eq!(seen.len(), 120);
    assert!(seen.iter().all(|k| k.starts_with("user:")));
    let r = c.cmd(&["SCAN", "0", "COUNT", "1000", "TYPE", "string"]);
    assert_eq!(r.array()[1].array().len(), 150);
    let r = c.cmd(&["SCAN", "0", "COUNT", "1000", "TYPE", "hash"]);
    assert_eq!(r.array()[1].array().len(), 0);
    assert_eq!(c.cmd(&["SCAN", "abc"]).err_text(), "ERR invalid cursor");
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "0"]).err_text(),
        "ERR syntax error"
    );
    assert_eq!(c.cmd(&["KEYS", "other:1?"]).array().len(), 10);
    let k = c.cmd(&["RANDOMKEY"]).text();
    assert!(k.starts_with("user:") || k.starts_with("other:"));
    c.cmd(&["SELECT", "5"]);
    assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::Nil);
}
