//! Server and connection commands: INFO, CONFIG, COMMAND, CLIENT, AUTH, HELLO, TIME.

use crate::util::{Client, Reply, Server};

fn map_or_pairs(r: &Reply) -> Vec<(String, String)> {
    match r {
        Reply::Array(a) => a.chunks(2).map(|p| (p[0].text(), p[1].text())).collect(),
        Reply::Map(m) => m.iter().map(|(k, v)| (k.text(), v.text())).collect(),
        other => panic!("not pairs: {other:?}"),
    }
}

#[test]
fn info_has_redis_format() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["GET", "a"]);
    let info = c.cmd(&["INFO"]).text();
    for l in info
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // `name:value`; names have no spaces (values may, as Redis's `os:Linux 6.1 x86_64`).
        let name = l.split(':').next().unwrap_or_default();
        assert!(
            l.contains(':') && !name.contains(' '),
            "bad INFO line {l:?}"
        );
    }
    assert!(!info.contains('\n') || info.contains("\r\n"));
    let run_id = info
        .lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(run_id.len(), 40);
    assert!(run_id.chars().all(|ch| ch.is_ascii_hexdigit()));
    for section in [
        "# Server",
        "# Clients",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "missing {section}");
    }
    assert!(info.contains("role:master\r\n"));
    assert!(info.contains(&format!("tcp_port:{}\r\n", s.port)));
    let cs = c.cmd(&["INFO", "commandstats"]).text();
    assert!(cs.contains("cmdstat_set:calls=1,"), "{cs}");
    assert!(cs.contains("cmdstat_get:calls=1,"), "{cs}");
    // A new start has a new run_id.
    let s2 = Server::start(&[]);
    let info2 = s2.client().cmd(&["INFO", "server"]).text();
    assert!(!info2.contains(&run_id));
    assert!(
        !info2.contains("# Keyspace"),
        "INFO server shows only that section"
    );
}

#[test]
fn config_get_set_and_redis_knobs() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let pairs = map_or_pairs(&c.cmd(&["CONFIG", "GET", "port"]));
    assert_eq!(pairs, vec![("port".to_string(), s.port.to_string())]);
    let pairs = map_or_pairs(&c.cmd(&["CONFIG", "GET", "*max-*-entries*"]));
    assert!(pairs.iter().any(|(k, _)| k == "hash-max-listpack-entries"));
    assert!(
        pairs.iter().any(|(k, _)| k == "hash-max-ziplist-entries"),
        "aliases are listed: {pairs:?}"
    );
    // Redis's knobs are accepted (and documented as no-ops where they mean nothing here).
    for (k, v) in [
        ("list-max-listpack-size", "-2"),
        ("list-max-ziplist-size", "-3"),
        ("save", "900 1"),
        ("maxmemory-policy", "allkeys-lru"),
        ("appendonly", "yes"),
        ("lua-time-limit", "5000"),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", k, v]),
            Reply::ok(),
            "CONFIG SET {k} {v}"
        );
    }
    assert_eq!(
        map_or_pairs(&c.cmd(&["CONFIG", "GET", "list-max-listpack-size"])),
        vec![("list-max-listpack-size".to_string(), "-3".to_string())]
    );
    // Applied parameters take effect.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendfsync", "always"]),
        Reply::ok()
    );
    assert!(c
        .cmd(&["INFO", "persistence"])
        .text()
        .contains("appendfsync:always"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "100", "timeout", "0"]),
        Reply::ok()
    );
    // Errors.
    assert!(c
        .cmd(&["CONFIG", "SET", "appendfsync", "sometimes"])
        .err_text()
        .starts_with("ERR CONFIG SET failed (possibly related to argument 'appendfsync')"));
    assert!(c
        .cmd(&["CONFIG", "SET", "nosuch", "1"])
        .err_text()
        .starts_with("ERR Unknown option"));
    assert!(c
        .cmd(&["CONFIG", "SET", "port", "1234"])
        .err_text()
        .contains("immutable"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hz"]).err_text(),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "FOO"]).err_text(),
        "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
    );
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "REWRITE"]).err_text(),
        "ERR Rewriting config file: The server is running without a config file"
    );
}

#[test]
fn config_file_and_rewrite_keep_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("strata.conf");
    std::fs::write(
        &conf,
        "# Strata test config\nloglevel notice\n\n# durability\nappendfsync everysec\n",
    )
    .unwrap();
    let s = Server::start(&[conf.to_str().unwrap()]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "appendfsync",
            "always",
            "maxclients",
            "500"
        ]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Reply::ok());
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with(
            "# Strata test config\nloglevel notice\n\n# durability\nappendfsync always\n"
        ),
        "{text}"
    );
    assert!(text.contains("maxclients 500"), "{text}");
}

#[test]
fn bad_config_stops_startup_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("bad.conf");
    std::fs::write(&conf, "port 7000\nappendfsync sometimes\n").unwrap();
    let (ok, out) = crate::util::run_tool(crate::util::BIN, &[conf.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains("line 2") && out.contains("appendfsync"),
        "{out}"
    );
    let (ok, out) = crate::util::run_tool(crate::util::BIN, &["--no-such-option", "1"]);
    assert!(!ok);
    assert!(out.contains("no-such-option"), "{out}");
}

#[test]
fn command_introspection() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let n = c.cmd(&["COMMAND", "COUNT"]).int();
    assert!(n > 50);
    assert_eq!(c.cmd(&["COMMAND"]).array().len() as i64, n);
    let info = c.cmd(&["COMMAND", "INFO", "get", "mset", "nosuch"]);
    let a = info.array();
    assert_eq!(a[0].array()[0], Reply::bulk("get"));
    assert_eq!(a[0].array()[1], Reply::Int(2));
    assert_eq!(
        &a[1].array()[1..6],
        &[
            Reply::Int(-3),
            a[1].array()[2].clone(),
            Reply::Int(1),
            Reply::Int(-1),
            Reply::Int(2)
        ]
    );
    // An unknown name: a null, as Redis 7.0 answers (`$-1` in RESP2).
    assert_eq!(a[2], Reply::Nil);
    let docs = c.cmd(&["COMMAND", "DOCS", "set"]);
    let Reply::Array(d) = docs else { panic!() };
    assert_eq!(d[0], Reply::bulk("set"));
    assert!(c.cmd(&["COMMAND", "DOCS"]).array().len() as i64 == 2 * n);
    assert!(c
        .cmd(&["COMMAND", "LIST"])
        .array()
        .contains(&Reply::bulk("scan")));
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
    let t = c.cmd(&["TIME"]);
    assert!(t.array()[0].text().parse::<u64>().unwrap() > 1_700_000_000);
    assert!(c.cmd(&["LASTSAVE"]).int() > 1_700_000_000);
}

#[test]
fn client_commands() {
    let s = Server::start(&[]);
    let mut a = s.client();
    let mut b = s.client();
    let id_a = a.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), Reply::ok());
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("alpha"));
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "has space"]).err_text(),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    b.cmd(&["CLIENT", "SETNAME", "beta"]);
    b.cmd(&["SELECT", "4"]);
    let list = a.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.contains("name=alpha"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.contains("name=beta") && l.contains("db=4")),
        "{list}"
    );
    let me = a.cmd(&["CLIENT", "INFO"]).text();
    assert!(me.starts_with(&format!("id={id_a} ")), "{me}");
    let id_b = b.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &id_b.to_string()]),
        Reply::Int(1)
    );
    assert!(b.is_closed());
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", "999999"]), Reply::Int(0));
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]).err_text(),
        "ERR No such client"
    );
    let mut c = s.client();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "TYPE", "normal"]),
        Reply::Int(1),
        "skips the caller"
    );
    assert!(c.is_closed());
    assert_eq!(
        a.cmd(&["CLIENT", "NOSUCH"]).err_text(),
        "ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP."
    );
    assert_eq!(a.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(a.cmd(&["RESET"]), Reply::Status("RESET".into()));
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
}

#[test]
fn requirepass_and_auth() {
    let s = Server::start(&["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["GET", "k"]).err_text(),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v"]).err_text(),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]).err_text(),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert!(c
        .cmd(&["HELLO", "3"])
        .err_text()
        .starts_with("NOAUTH HELLO must be called"));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    let mut d = s.client();
    assert!(matches!(
        d.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]),
        Reply::Map(_)
    ));
    assert_eq!(d.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(d.cmd(&["RESET"]), Reply::Status("RESET".into()));
    assert_eq!(
        d.cmd(&["GET", "k"]).err_text(),
        "NOAUTH Authentication required."
    );
    // Unauthenticated clients cannot send huge requests.
    let mut e = s.client();
    e.send_raw(b"*20\r\n").unwrap();
    assert_eq!(
        e.read_reply().unwrap().err_text(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    // Without requirepass, AUTH explains.
    let s2 = Server::start(&[]);
    assert!(s2
        .client()
        .cmd(&["AUTH", "x"])
        .err_text()
        .starts_with("ERR AUTH <password> called without any password configured"));
}

#[test]
fn works_with_the_redis_crate() {
    let s = Server::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/9", s.port)).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("SET")
            .arg("rk")
            .arg(42)
            .query_async(&mut con)
            .await
            .unwrap();
        let v: i64 = redis::cmd("INCR")
            .arg("rk")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(v, 43);
        let missing: Option<String> = redis::cmd("GET")
            .arg("nope")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(missing, None);
        let err = redis::cmd("INCR")
            .arg("rk")
            .arg("x")
            .query_async::<i64>(&mut con)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("wrong number of arguments"),
            "{err}"
        );
    });
    // The URL selected database 9.
    let mut c = s.client();
    c.cmd(&["SELECT", "9"]);
    assert_eq!(c.cmd(&["GET", "rk"]), Reply::bulk("43"));
}

#[test]
fn maxclients_and_idle_timeout() {
    let s = Server::start(&["--maxclients", "2", "--timeout", "1"]);
    // The start-up probe's connection may still be winding down: retry until admitted.
    let admitted = || {
        for _ in 0..50 {
            let mut c = s.client();
            if c.cmd(&["PING"]) == Reply::Status("PONG".into()) {
                return c;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("never admitted");
    };
    let mut a = admitted();
    let mut b = admitted();
    let mut c = s.client();
    assert_eq!(
        c.read_reply().unwrap().err_text(),
        "ERR max number of clients reached"
    );
    // Idle clients are closed after `timeout` seconds.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(a.is_closed());
    assert!(b.is_closed());
    // Their slots are free again (the server unregisters them as their tasks end).
    let mut ok = false;
    for _ in 0..50 {
        if s.client().cmd(&["PING"]) == Reply::Status("PONG".into()) {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "closed idle clients must not count against maxclients");
}

#[test]
fn shutdown_command_stops_cleanly_and_keeps_data() {
    let mut s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "before-shutdown", "1"]);
    assert_eq!(c.cmd(&["SHUTDOWN", "BOGUS"]).err_text(), "ERR syntax error");
    c.send_raw(&crate::util::Client::encode(&[b"SHUTDOWN"]))
        .unwrap();
    assert!(
        c.is_closed(),
        "SHUTDOWN closes the connection without a reply"
    );
    let mut child = s.child.take().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    s.spawn();
    assert_eq!(
        s.client().cmd(&["GET", "before-shutdown"]),
        Reply::bulk("1")
    );
    // The "ready" line may reach the log file just after the first reply: wait for it.
    let t = std::time::Instant::now();
    let mut log = s.log_text();
    while !log.contains("Strata ready to accept connections")
        && t.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        log = s.log_text();
    }
    assert!(log.contains("Strata ready to accept connections"), "{log}");
}

/// The bottommost level's compression is a start-time choice: zstd works end to end (data
/// written, compacted to the bottom, read back after a restart), a bad word stops start-up.
#[test]
fn bottommost_compression_can_be_chosen_at_start() {
    let mut s = Server::start(&["--rocksdb-bottommost-compression", "zstd"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "rocksdb-bottommost-compression"]),
        Reply::Array(vec![
            Reply::bulk("rocksdb-bottommost-compression"),
            Reply::bulk("zstd")
        ])
    );
    for i in 0..2000 {
        c.cmd(&["SET", &format!("k{i}"), &format!("value number {i}")]);
    }
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    drop(c);
    assert_eq!(s.stop(), Some(0));
    s.spawn();
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "k1999"]), Reply::bulk("value number 1999"));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(2000));
    let (ok, out) = crate::util::run_tool(
        crate::util::BIN,
        &["--rocksdb-bottommost-compression", "brotli"],
    );
    assert!(!ok);
    assert!(out.contains("rocksdb-bottommost-compression"), "{out}");
}

fn memory_field(c: &mut Client, name: &str) -> String {
    let info = c.cmd(&["INFO", "memory"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

/// The allocator is jemalloc (RocksDB's allocations too): INFO memory reports its counters as
/// Redis does, MEMORY MALLOC-STATS its report, and `jemalloc-bg-thread` is applied.
#[test]
fn memory_is_reported_from_jemalloc() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert!(memory_field(&mut c, "mem_allocator").starts_with("jemalloc-5."));
    let used: u64 = memory_field(&mut c, "used_memory")
        .parse()
        .expect("used_memory");
    let active: u64 = memory_field(&mut c, "allocator_active")
        .parse()
        .expect("active");
    let resident: u64 = memory_field(&mut c, "allocator_resident")
        .parse()
        .expect("resident");
    assert_eq!(
        memory_field(&mut c, "allocator_allocated"),
        used.to_string()
    );
    assert!(used > 1 << 20 && active >= used && resident >= active);
    // 20 MB of values held by the engine's memtables: the allocator's count follows.
    let value = "v".repeat(1000);
    for i in 0..20_000 {
        c.cmd(&["SET", &format!("k{i}"), &value]);
    }
    let after: u64 = memory_field(&mut c, "used_memory")
        .parse()
        .expect("used_memory");
    assert!(after > used + (10 << 20), "{used} -> {after}");
    let report = c.cmd(&["MEMORY", "MALLOC-STATS"]).text();
    assert!(report.contains("jemalloc"), "{report}");
    assert!(c
        .cmd(&["CONFIG", "SET", "jemalloc-bg-thread", "no"])
        .is_ok());
    assert!(c
        .cmd(&["CONFIG", "SET", "jemalloc-bg-thread", "yes"])
        .is_ok());
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}
