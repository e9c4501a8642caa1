//! First contact of tools and client libraries, compared with Debian's redis-server side by
//! side: INFO's sections and fields, COMMAND's list of commands, the MULTI refusals.

use std::collections::BTreeSet;

use crate::differential::RedisServer;
use crate::util::{Client, Reply, Server};

/// `name:value` field names of an INFO reply, and its `# Section` headers in order.
fn info_fields(text: &str) -> (Vec<String>, BTreeSet<String>) {
    let mut sections = Vec::new();
    let mut fields = BTreeSet::new();
    for l in text.lines() {
        if let Some(h) = l.strip_prefix("# ") {
            sections.push(h.to_string());
        } else if let Some((name, _)) = l.split_once(':') {
            fields.insert(name.to_string());
        }
    }
    (sections, fields)
}

/// Fields that depend on what ran or what is stored (per command, per error, per database).
fn is_dynamic(field: &str) -> bool {
    [
        "cmdstat_",
        "errorstat_",
        "latency_percentiles_usec_",
        "db",
        "slave",
    ]
    .iter()
    .any(|p| field.starts_with(p) && field != "slave_expires_tracked_keys")
}

fn field_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// redis-py's test session reads `INFO` with no argument and needs `cluster_enabled`; every
/// field Redis 7.0 prints in `INFO` / `INFO everything` is there too, with Redis's sections
/// in Redis's order (Strata's Storage and Binlog sections in addition).
#[test]
fn info_has_every_section_and_field_of_redis() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut r = Client::connect(redis.port);
    let mut s = strata.client();
    for c in [&mut r, &mut s] {
        assert!(c.cmd(&["SET", "k", "v"]).is_ok());
        assert!(c.cmd(&["NOSUCH"]).is_error());
        assert!(c.cmd(&["LPUSH", "k", "x"]).is_error());
    }
    for args in [
        vec!["INFO"],
        vec!["INFO", "everything"],
        vec!["INFO", "all"],
    ] {
        let (rs, rf) = info_fields(&r.cmd(&args).text());
        let (ss, sf) = info_fields(&s.cmd(&args).text());
        let strata_sections: Vec<String> = ss
            .into_iter()
            .filter(|h| h != "Storage" && h != "Binlog")
            .collect();
        assert_eq!(strata_sections, rs, "{args:?}: sections");
        let missing: Vec<&String> = rf
            .iter()
            .filter(|f| !is_dynamic(f) && !sf.contains(*f))
            .collect();
        assert!(
            missing.is_empty(),
            "{args:?}: fields Redis has and Strata lacks: {missing:?}"
        );
    }
    let info = s.cmd(&["INFO"]).text();
    assert_eq!(field_value(&info, "cluster_enabled").as_deref(), Some("0"));
    assert_eq!(
        field_value(&info, "redis_mode").as_deref(),
        Some("standalone")
    );
    assert_eq!(
        field_value(&info, "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert_eq!(
        field_value(&info, "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        field_value(&info, "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
    // The default INFO leaves out commandstats and latencystats; `all` has them.
    assert!(field_value(&info, "cmdstat_set").is_none());
    let all = s.cmd(&["INFO", "all"]).text();
    let set = field_value(&all, "cmdstat_set").expect("cmdstat_set");
    assert!(set.starts_with("calls=1,usec="), "{set}");
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{set}");
    // Subcommands of containers count on their own, as Redis names them.
    assert!(s.cmd(&["CONFIG", "GET", "maxmemory"]).array().len() == 2);
    let all = s.cmd(&["INFO", "all"]).text();
    let cfg = field_value(&all, "cmdstat_config|get").expect("cmdstat_config|get");
    assert!(cfg.starts_with("calls=1,"), "{cfg}");
    assert!(field_value(&all, "cmdstat_config").is_none(), "{all}");
    assert!(field_value(&all, "latency_percentiles_usec_config|get").is_some());
    let lpush = field_value(&all, "cmdstat_lpush").expect("cmdstat_lpush");
    assert!(lpush.ends_with("failed_calls=1"), "{lpush}");
    let lat = field_value(&all, "latency_percentiles_usec_set").expect("latencystats");
    let names: Vec<&str> = lat
        .split(',')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["p50", "p99", "p99.9"], "{lat}");
    // Honest memory figures: a heap in use and a resident set, both non-zero.
    let mem = s.cmd(&["INFO", "memory"]).text();
    for f in [
        "used_memory",
        "used_memory_rss",
        "used_memory_peak",
        "total_system_memory",
    ] {
        let v: u64 = field_value(&mem, f)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{f} in {mem}"));
        assert!(v > 0, "{f}");
    }
    // CONFIG RESETSTAT clears the per-command and per-error numbers.
    assert!(s.cmd(&["CONFIG", "RESETSTAT"]).is_ok());
    let all = s.cmd(&["INFO", "all"]).text();
    assert!(field_value(&all, "errorstat_ERR").is_none(), "{all}");
    assert!(field_value(&all, "cmdstat_set").is_none(), "{all}");
    assert!(
        field_value(&all, "latency_percentiles_usec_set").is_none(),
        "{all}"
    );
    // Percentiles follow latency-tracking-info-percentiles; latency-tracking no stops them.
    assert!(s
        .cmd(&[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 99.99"
        ])
        .is_ok());
    assert!(s.cmd(&["GET", "k"]).text() == "v");
    let lat = s.cmd(&["INFO", "latencystats"]).text();
    let get = field_value(&lat, "latency_percentiles_usec_get").expect("get latency");
    assert!(get.starts_with("p50=") && get.contains(",p99.99="), "{get}");
    assert!(s
        .cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "101"])
        .is_error());
    assert!(s.cmd(&["CONFIG", "SET", "latency-tracking", "no"]).is_ok());
    assert!(s.cmd(&["CONFIG", "RESETSTAT"]).is_ok());
    assert!(s.cmd(&["GET", "k"]).text() == "v");
    let lat = s.cmd(&["INFO", "latencystats"]).text();
    assert!(
        field_value(&lat, "latency_percentiles_usec_get").is_none(),
        "{lat}"
    );
}

/// `COMMAND COUNT` and `COMMAND LIST` against redis-server's: prints the difference, and
/// fails on a command Strata has that Redis 7.0 does not (other than Strata's own).
#[test]
fn command_list_is_redis_s_with_the_difference_printed() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut r = Client::connect(redis.port);
    let mut s = strata.client();
    let names = |c: &mut Client| -> BTreeSet<String> {
        c.cmd(&["COMMAND", "LIST"])
            .array()
            .iter()
            .map(|n| n.text())
            .filter(|n| !n.contains('|'))
            .collect()
    };
    let (rn, sn) = (names(&mut r), names(&mut s));
    let missing: Vec<&String> = rn.difference(&sn).collect();
    let extra: Vec<&String> = sn.difference(&rn).collect();
    eprintln!(
        "COMMAND LIST: Redis {} commands, Strata {}; missing here: {missing:?}; Strata's own: {extra:?}",
        rn.len(),
        sn.len()
    );
    assert_eq!(
        extra,
        ["binlog", "compact", "namespace", "syncfile"],
        "only Strata's own commands are extra"
    );
    // Every other command of Redis 7.0 is here, but the families filed separately:
    // scripting and functions, streams, geo, ACL, and cluster.
    let filed_separately = |n: &str| {
        matches!(
            n,
            "eval"
                | "evalsha"
                | "eval_ro"
                | "evalsha_ro"
                | "script"
                | "function"
                | "fcall"
                | "fcall_ro"
                | "cluster"
                | "acl"
        ) || n.starts_with('x')
            || n.starts_with("geo")
    };
    let unfiled: Vec<&&String> = missing.iter().filter(|n| !filed_separately(n)).collect();
    assert!(
        unfiled.is_empty(),
        "Redis commands missing here: {unfiled:?}"
    );
    assert_eq!(s.cmd(&["COMMAND", "COUNT"]), Reply::Int(sn.len() as i64));
}

/// SHUTDOWN and SAVE inside MULTI are refused and the transaction aborts; the server keeps
/// serving (it once shut down at once).
#[test]
fn shutdown_and_save_inside_multi_leave_the_server_running() {
    let strata = Server::start(&[]);
    let mut c = strata.client();
    for refused in [vec!["SHUTDOWN"], vec!["SHUTDOWN", "NOSAVE"], vec!["SAVE"]] {
        assert!(c.cmd(&["MULTI"]).is_ok());
        assert_eq!(
            c.cmd(&["SET", "foo", "bar"]),
            Reply::Status("QUEUED".into())
        );
        assert_eq!(
            c.cmd(&refused),
            Reply::Error("ERR Command not allowed inside a transaction".into())
        );
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
        );
        assert!(c.cmd(&["GET", "foo"]).is_null());
    }
    let mut other = strata.client();
    assert_eq!(other.cmd(&["PING"]), Reply::Status("PONG".into()));
    let info = other.cmd(&["INFO", "commandstats"]).text();
    let shutdown = field_value(&info, "cmdstat_shutdown").expect("cmdstat_shutdown");
    assert!(
        shutdown.contains("calls=0") && shutdown.contains("rejected_calls=2"),
        "{shutdown}"
    );
}

/// Sends `script` (inline commands) on a fresh connection, then PUBLISHes from a second
/// connection when `publish` is set, and returns every byte the first connection received.
fn raw_session(port: u16, script: &str, publish: Option<&str>) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    c.write_all(script.as_bytes()).expect("send");
    std::thread::sleep(std::time::Duration::from_millis(200));
    if let Some(ch) = publish {
        let mut p = Client::connect(port);
        assert_eq!(p.cmd(&["PUBLISH", ch, "hello"]), Reply::Int(1));
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// CLIENT REPLY OFF / SKIP / ON: the same bytes reach the client as from redis-server, and
/// Pub/Sub confirmations and messages still reach a client whose replies are off.
#[test]
fn client_reply_modes_send_what_redis_sends() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let scripts: [(&str, Option<&str>); 3] = [
        ("CLIENT REPLY SKIP\r\nSET k 1\r\nGET k\r\nCLIENT REPLY OFF\r\nSET k 2\r\nGET k\r\nCLIENT REPLY ON\r\nGET k\r\n", None),
        ("CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPING\r\n", Some("ch")),
        ("CLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\nRESET\r\n", None),
    ];
    for (script, publish) in scripts {
        let want = raw_session(redis.port, script, publish);
        let got = raw_session(strata.port, script, publish);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{script:?}"
        );
        assert!(!want.is_empty());
    }
}

/// Fills a server with one key of every type and encoding class.
fn fill_every_type(c: &mut Client) {
    let long = "x".repeat(300);
    let big_hash: Vec<String> = (0..200)
        .flat_map(|i| [format!("f{i}"), format!("v{i}")])
        .collect();
    let big_zset: Vec<String> = (0..200)
        .flat_map(|i| [format!("{}", i as f64 / 7.0), format!("m{i}")])
        .collect();
    let many: Vec<String> = (0..3000).map(|i| format!("element-{i}")).collect();
    let big_set: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    let words: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
    let mut run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert!(!c.cmd(&a).is_error(), "{args:?}");
    };
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    run(v(&["SET", "str", "hello"]));
    run(v(&["SET", "int", "-12345"]));
    run(v(&["SET", "long", &long]));
    run(v(&["RPUSH", "list", "a", "1", "-7", &long]));
    run([v(&["RPUSH", "biglist"]), many.clone()].concat());
    run(v(&["HSET", "hash", "a", "1", "b", "two"]));
    run([v(&["HSET", "bighash"]), big_hash].concat());
    run(v(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]));
    run([v(&["ZADD", "bigzset"]), big_zset].concat());
    run(v(&["SADD", "intset", "1", "2", "-3", "5000000000"]));
    run([v(&["SADD", "bigintset"]), big_set].concat());
    run([v(&["SADD", "set"]), words].concat());
    run(v(&["PEXPIRE", "str", "100000000"]));
    run(v(&["XADD", "fstream", "1-1", "a", "1", "b", "2"]));
    run(v(&["XADD", "fstream", "1-2", "a", "3", "c", &long]));
    run(v(&["XGROUP", "CREATE", "fstream", "g", "0"]));
    run(v(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "fstream",
        ">",
    ]));
}

/// The keys `fill_every_type` makes, with the command that reads each whole.
const READ_BACK: &[(&str, &[&str])] = &[
    ("str", &["GET"]),
    ("int", &["GET"]),
    ("long", &["GET"]),
    ("list", &["LRANGE", "0", "-1"]),
    ("biglist", &["LRANGE", "0", "-1"]),
    ("hash", &["HGETALL"]),
    ("bighash", &["HGETALL"]),
    ("zset", &["ZRANGE", "0", "-1", "WITHSCORES"]),
    ("bigzset", &["ZRANGE", "0", "-1", "WITHSCORES"]),
    ("intset", &["SMEMBERS"]),
    ("bigintset", &["SMEMBERS"]),
    ("set", &["SMEMBERS"]),
    ("fstream", &["XRANGE", "-", "+"]),
];

fn read_back(c: &mut Client, key: &str, cmd: &[&str]) -> Vec<String> {
    let mut args = vec![cmd[0], key];
    args.extend_from_slice(&cmd[1..]);
    let mut items: Vec<String> = match c.cmd(&args) {
        Reply::Array(a) => a.iter().map(|x| format!("{x:?}")).collect(),
        other => vec![format!("{other:?}")],
    };
    if matches!(cmd[0], "SMEMBERS" | "HGETALL") {
        // Unordered in Redis (hash tables): compare as sets of pairs / members.
        if cmd[0] == "HGETALL" {
            let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            return pairs;
        }
        items.sort();
    }
    items
}

/// DUMP payloads move keys both ways between redis-server and Strata: every type and
/// encoding (listpack, intset, hash table, skiplist, quicklist of many nodes, LZF strings)
/// restores to the same value, TTLs included.
#[test]
fn dump_payloads_restore_across_redis_and_strata_in_both_directions() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut r = Client::connect(redis.port);
    let mut s = strata.client();
    for forward in [true, false] {
        let (from, to, name) = if forward {
            (&mut r, &mut s, "redis -> strata")
        } else {
            (&mut s, &mut r, "strata -> redis")
        };
        assert!(from.cmd(&["FLUSHALL"]).is_ok());
        assert!(to.cmd(&["FLUSHALL"]).is_ok());
        fill_every_type(from);
        for (key, cmd) in READ_BACK {
            let payload = match from.cmd(&["DUMP", key]) {
                Reply::Bulk(b) => b,
                other => panic!("{name}: DUMP {key}: {other:?}"),
            };
            let ttl = from.cmd(&["PTTL", key]).int().max(0).to_string();
            let reply = to.cmd_bytes(&[b"RESTORE", key.as_bytes(), ttl.as_bytes(), &payload]);
            assert!(reply.is_ok(), "{name}: RESTORE {key}: {reply:?}");
            assert_eq!(
                read_back(to, key, cmd),
                read_back(from, key, cmd),
                "{name}: {key}"
            );
            assert_eq!(
                to.cmd(&["TYPE", key]),
                from.cmd(&["TYPE", key]),
                "{name}: {key}"
            );
        }
        let pttl = to.cmd(&["PTTL", "str"]).int();
        assert!(pttl > 99_000_000, "{name}: TTL carried over: {pttl}");
    }
}

/// Random, truncated and bit-flipped payloads: RESTORE answers an error, never crashes,
/// never creates the key; the server keeps serving.
#[test]
fn restore_refuses_random_and_damaged_payloads() {
    use rand::{Rng, SeedableRng};
    let strata = Server::start(&[]);
    let mut c = strata.client();
    fill_every_type(&mut c);
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for (key, _) in READ_BACK {
        if let Reply::Bulk(b) = c.cmd(&["DUMP", key]) {
            payloads.push(b);
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let mut refused = 0;
    for round in 0..3000 {
        let base = &payloads[round % payloads.len()];
        let mut p = base.clone();
        match round % 3 {
            0 => p.truncate(rng.random_range(0..p.len())),
            1 => {
                let i = rng.random_range(0..p.len());
                p[i] ^= 1 << rng.random_range(0..8);
            }
            _ => {
                let len = rng.random_range(0..80);
                p = (0..len).map(|_| rng.random()).collect();
            }
        }
        if p == *base {
            continue;
        }
        let reply = c.cmd_bytes(&[b"RESTORE", b"fuzzed", b"0", &p]);
        let err = reply.err_text().to_string();
        assert!(
            err == "ERR DUMP payload version or checksum are wrong" || err == "ERR Bad data format",
            "{err}"
        );
        refused += 1;
    }
    assert!(refused > 2900);
    assert_eq!(c.cmd(&["EXISTS", "fuzzed"]), Reply::Int(0));
    // Payloads with a valid trailer but a damaged body (CRC recomputed) are refused too.
    let crc_fixed = |mut body: Vec<u8>| {
        body.extend_from_slice(&10u16.to_le_bytes());
        let crc = rdb_crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    };
    for body in [
        vec![0x10, 0x03, 1, 2, 3],
        vec![0x12, 0x05],
        vec![0x02, 0x00],
        vec![0x0e, 0x01, 0x00],
        vec![0x06, 0x00],
    ] {
        let reply = c.cmd_bytes(&[b"RESTORE", b"fuzzed", b"0", &crc_fixed(body)]);
        assert_eq!(reply.err_text(), "ERR Bad data format");
    }
    assert_eq!(c.cmd(&["EXISTS", "fuzzed"]), Reply::Int(0));
    // DEBUG SET-SKIP-CHECKSUM-VALIDATION 1 (test suites): a wrong CRC is no longer checked,
    // a damaged body still is.
    let mut wrong_crc = payloads[0].clone();
    let n = wrong_crc.len();
    wrong_crc[n - 1] ^= 0xff;
    assert!(c
        .cmd_bytes(&[b"RESTORE", b"fuzzed", b"0", &wrong_crc])
        .is_error());
    assert!(c
        .cmd(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"])
        .is_ok());
    assert!(c
        .cmd_bytes(&[b"RESTORE", b"fuzzed", b"0", &wrong_crc])
        .is_ok());
    let mut body = wrong_crc.clone();
    body.truncate(3);
    body.extend_from_slice(&wrong_crc[n - 10..]);
    assert_eq!(
        c.cmd_bytes(&[b"RESTORE", b"fuzzed2", b"0", &body])
            .err_text(),
        "ERR Bad data format"
    );
    assert!(c
        .cmd(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "0"])
        .is_ok());
    let dbg = c.cmd(&["DEBUG", "OBJECT", "str"]);
    assert!(
        matches!(&dbg, Reply::Status(t) if t.contains(" encoding:embstr serializedlength:")),
        "{dbg:?}"
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}

/// CRC-64/Jones (reflected 0xad93d23594c935a9), as Redis checks DUMP payloads.
fn rdb_crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// CLIENT PAUSE WRITE holds writes (reads go on) until CLIENT UNPAUSE; ALL holds reads too;
/// bad arguments get Redis's errors.
#[test]
fn client_pause_holds_writes_until_unpause() {
    let strata = Server::start(&[]);
    let mut ctl = strata.client();
    let mut writer = strata.client();
    let mut reader = strata.client();
    assert!(ctl.cmd(&["SET", "k", "before"]).is_ok());
    assert!(ctl.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]).is_ok());
    let a: Vec<&[u8]> = vec![b"SET", b"k", b"after"];
    writer.send_raw(&Client::encode(&a)).expect("send");
    // Reads are served meanwhile; the write is not applied.
    for _ in 0..5 {
        assert_eq!(reader.cmd(&["GET", "k"]), Reply::bulk("before"));
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    assert!(ctl.cmd(&["CLIENT", "UNPAUSE"]).is_ok());
    assert!(writer.read_reply().expect("reply").is_ok());
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::bulk("after"));
    // ALL: reads wait too.
    assert!(ctl.cmd(&["CLIENT", "PAUSE", "300"]).is_ok());
    let get: Vec<&[u8]> = vec![b"GET", b"k"];
    reader.send_raw(&Client::encode(&get)).expect("send");
    assert_eq!(reader.read_reply().expect("reply"), Reply::bulk("after"));
    for (args, err) in [
        (
            vec!["CLIENT", "PAUSE", "x"],
            "ERR timeout is not an integer or out of range",
        ),
        (vec!["CLIENT", "PAUSE", "-1"], "ERR timeout is negative"),
        (
            vec!["CLIENT", "PAUSE", "10", "READ"],
            "ERR CLIENT PAUSE mode must be WRITE or ALL",
        ),
    ] {
        assert_eq!(ctl.cmd(&args), Reply::Error(err.into()));
    }
}

/// The arguments as the scenario wrote them (client ids differ between servers).
fn steps_args(args: &[String], id2: &str) -> Vec<String> {
    args.iter()
        .map(|a| {
            if a == id2 {
                "$id2".to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Runs a client-side caching scenario on one server: `steps` are (connection, command);
/// after each write on another connection, the tracking connections are read up to a PING's
/// reply so every invalidation push that write caused is in the transcript.
fn tracking_transcript(port: u16, steps: &[(usize, Vec<String>)]) -> Vec<String> {
    let mut conns: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    let id2 = conns[2].cmd(&["CLIENT", "ID"]).int().to_string();
    let mut out = Vec::new();
    for (i, args) in steps {
        let mut args: Vec<String> = args.clone();
        // `$id2`: the id of connection 2 (the redirect target).
        for a in args.iter_mut() {
            if a == "$id2" {
                *a = id2.clone();
            }
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = conns[*i].cmd(&refs);
        let shown = match (&args[0][..], &reply) {
            ("HELLO", _) => "hello".to_string(),
            _ => format!("{reply:?}"),
        };
        out.push(format!("c{i} {:?} -> {shown}", steps_args(&args, &id2)));
        // Collect what the other connections were sent meanwhile.
        for (j, c) in conns.iter_mut().enumerate() {
            if j == *i {
                continue;
            }
            let ping: Vec<&[u8]> = vec![b"PING"];
            c.send_raw(&Client::encode(&ping)).expect("send");
            loop {
                let r = c.read_reply().expect("reply");
                match &r {
                    Reply::Status(s) if s == "PONG" => break,
                    // PING in RESP2 Pub/Sub mode.
                    Reply::Array(a) if a.first() == Some(&Reply::bulk("pong")) => break,
                    _ => out.push(format!("  c{j} got {r:?}")),
                }
            }
        }
    }
    out
}

/// CLIENT TRACKING against redis-server: default mode (a read key is invalidated once by
/// another client's write, and again after being read again), self-invalidation before the
/// reply, NOLOOP, BCAST with PREFIX, OPTIN with CACHING, RESP2 REDIRECT to a client
/// subscribed to `__redis__:invalidate`, and a flush's null invalidation: the same pushes
/// reach the same clients in the same order.
#[test]
fn client_side_caching_invalidations_match_redis() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let s = |i: usize, a: &[&str]| (i, a.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    let scenarios: Vec<Vec<(usize, Vec<String>)>> = vec![
        vec![
            s(0, &["HELLO", "3"]),
            s(0, &["CLIENT", "TRACKING", "ON"]),
            s(1, &["SET", "a", "1"]),
            s(0, &["GET", "a"]),
            s(0, &["MGET", "b", "c"]),
            s(1, &["SET", "a", "2"]),
            s(1, &["SET", "a", "3"]),
            s(1, &["MSET", "b", "1", "c", "2"]),
            s(0, &["GET", "a"]),
            s(0, &["SET", "a", "mine"]),
            s(0, &["GET", "a"]),
            s(1, &["FLUSHALL"]),
            s(0, &["CLIENT", "TRACKING", "OFF"]),
            s(1, &["SET", "a", "4"]),
        ],
        vec![
            s(0, &["HELLO", "3"]),
            s(0, &["CLIENT", "TRACKING", "ON", "NOLOOP"]),
            s(0, &["GET", "k"]),
            s(0, &["SET", "k", "1"]),
            s(0, &["GET", "k"]),
            s(1, &["DEL", "k"]),
        ],
        vec![
            s(0, &["HELLO", "3"]),
            s(0, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:"]),
            s(1, &["SET", "user:1", "x"]),
            s(1, &["SET", "other", "x"]),
            s(1, &["HSET", "user:2", "f", "v"]),
        ],
        vec![
            s(0, &["HELLO", "3"]),
            s(0, &["CLIENT", "TRACKING", "ON", "OPTIN"]),
            s(0, &["GET", "x"]),
            s(0, &["CLIENT", "CACHING", "YES"]),
            s(0, &["GET", "y"]),
            s(0, &["GET", "z"]),
            s(1, &["MSET", "x", "1", "y", "1", "z", "1"]),
        ],
        vec![
            s(2, &["SUBSCRIBE", "__redis__:invalidate"]),
            s(0, &["CLIENT", "TRACKING", "ON", "REDIRECT", "$id2"]),
            s(0, &["GET", "r"]),
            s(1, &["SET", "r", "1"]),
            s(1, &["FLUSHDB"]),
        ],
    ];
    for steps in &scenarios {
        let want = tracking_transcript(redis.port, steps);
        let got = tracking_transcript(strata.port, steps);
        assert_eq!(
            got,
            want,
            "strata:\n{}\nredis:\n{}",
            got.join("\n"),
            want.join("\n")
        );
        Client::connect(redis.port).cmd(&["FLUSHALL"]);
        Client::connect(strata.port).cmd(&["FLUSHALL"]);
    }
}

/// MONITOR against redis-server: the same commands in the same order with the same quoting
/// (timestamps and client addresses aside); admin commands are not shown.
#[test]
fn monitor_shows_what_redis_shows() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let script: &[&[&str]] = &[
        &["SET", "a", "x y"],
        &["GET", "a"],
        &["HSET", "h", "f", "line\nbreak\"q\"\u{1}"],
        &["CONFIG", "GET", "maxmemory"],
        &["SELECT", "3"],
        &["MULTI"],
        &["INCR", "n"],
        &["EXEC"],
        &["AUTH", "secret"],
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])",
            "1",
            "s",
        ],
        &["PING"],
    ];
    let mut transcripts = Vec::new();
    for port in [redis.port, strata.port] {
        let mut m = Client::connect(port);
        assert!(m.cmd(&["MONITOR"]).is_ok());
        let mut c = Client::connect(port);
        for args in script {
            c.cmd(args);
        }
        let mut lines = Vec::new();
        loop {
            let line = match m.read_reply().expect("monitor line") {
                Reply::Status(s) => s,
                other => panic!("{other:?}"),
            };
            // "1700000000.123456 [0 127.0.0.1:5555] "set" ..." -> "[0 client] "set" ..."
            // (a script's commands: "[0 lua] ...")
            let (_, rest) = line.split_once(' ').expect("timestamp");
            let db = &rest[1..rest.find(' ').expect("db")];
            let end = rest.find("] ").expect("addr");
            let from = &rest[rest.find(' ').expect("db") + 1..end];
            let from = if from == "lua" { "lua" } else { "client" };
            let args = &rest[end + 2..];
            lines.push(format!("[{db} {from}] {args}"));
            if args.eq_ignore_ascii_case("\"ping\"") {
                break;
            }
        }
        transcripts.push(lines);
    }
    assert_eq!(transcripts[1], transcripts[0]);
}

/// CLIENT LIST / CLIENT INFO lines have Redis 7.0's fields in Redis's order (Strata adds
/// Redis 7.2's lib-name and lib-ver at the end), a real fd, `cmd=container|sub`, and the
/// tracking / monitor / blocked flags.
#[test]
fn client_list_lines_have_redis_s_fields() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let names = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .map(|kv| kv.split('=').next().unwrap_or_default().to_string())
            .collect()
    };
    let field = |line: &str, f: &str| -> String {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{f}=")))
            .unwrap_or_default()
            .to_string()
    };
    let want = names(&Client::connect(redis.port).cmd(&["CLIENT", "INFO"]).text());
    let mut c = strata.client();
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    let got = names(&info);
    assert_eq!(&got[..want.len()], &want[..], "{info}");
    assert_eq!(&got[want.len()..], ["lib-name", "lib-ver"]);
    assert_eq!(field(&info, "cmd"), "client|info");
    assert!(
        field(&info, "fd").parse::<i64>().unwrap_or(-1) > 2,
        "{info}"
    );
    assert!(c.cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]).is_ok());
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert_eq!(field(&info, "flags"), "tB");
    assert_eq!(field(&info, "redir"), "0");
    let mut m = strata.client();
    assert!(m.cmd(&["MONITOR"]).is_ok());
    let mut b = strata.client();
    let blpop: Vec<&[u8]> = vec![b"BLPOP", b"nothing", b"0"];
    b.send_raw(&Client::encode(&blpop)).expect("send");
    let t = std::time::Instant::now();
    loop {
        let list = c.cmd(&["CLIENT", "LIST"]).text();
        let flags: Vec<String> = list.lines().map(|l| field(l, "flags")).collect();
        if flags.iter().any(|f| f == "O") && flags.iter().any(|f| f == "b") {
            break;
        }
        assert!(t.elapsed().as_secs() < 10, "{list}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A tracking client told that a key changed can read the change: the invalidations of an
/// EXEC (and of a pipelined key batch) go out once its engine batch commits. The writer
/// pauses (fail point) between running and committing; without holding the invalidation
/// back, the GET below returns the old value during the pause.
#[test]
fn invalidations_of_a_transaction_go_out_once_it_is_committed() {
    let strata = Server::start(&["--worker-threads", "4"]);
    let mut admin = strata.client();
    let mut t = strata.client();
    t.cmd(&["HELLO", "3"]);
    assert!(t.cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]).is_ok());
    let mut reader = strata.client();
    let mut w = strata.client();
    for (point, value) in [
        ("exec-before-commit", "tx"),
        ("key-batch-before-commit", "batch"),
    ] {
        assert!(admin.cmd(&["DEBUG", "FAILPOINT", point, "400"]).is_ok());
        let replies = if point == "exec-before-commit" {
            assert!(w.cmd(&["MULTI"]).is_ok());
            w.cmd(&["SET", "k", value]);
            w.send_raw(&Client::encode(&[b"EXEC"])).expect("send");
            1
        } else {
            let mut batch = Client::encode(&[b"SET", b"k", b"x"]);
            batch.extend(Client::encode(&[b"SET", b"k", value.as_bytes()]));
            w.send_raw(&batch).expect("send");
            2
        };
        match t.read_reply().expect("invalidation") {
            Reply::Push(p) => assert_eq!(p[0], Reply::bulk("invalidate")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            reader.cmd(&["GET", "k"]),
            Reply::bulk(value),
            "{point}: invalidated before the commit"
        );
        for _ in 0..replies {
            assert!(!w.read_reply().expect("reply").is_error());
        }
        // Whatever else the batch sent (BCAST: one message per write) comes before PONG.
        t.send_raw(&Client::encode(&[b"PING"])).expect("send");
        while matches!(t.read_reply().expect("reply"), Reply::Push(_)) {}
    }
}

/// MIGRATE moves keys both ways between Strata and redis-server (DUMP payloads, TTLs kept;
/// COPY keeps the source, REPLACE overwrites, KEYS moves several); NOKEY, BUSYKEY from the
/// target and an unreachable target answer as Redis.
#[test]
fn migrate_moves_keys_between_strata_and_redis_in_both_directions() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut r = Client::connect(redis.port);
    let mut s = strata.client();
    let (rp, sp) = (redis.port.to_string(), strata.port.to_string());
    // Strata -> Redis.
    assert!(s.cmd(&["SET", "a", "1"]).is_ok());
    assert_eq!(s.cmd(&["PEXPIRE", "a", "100000"]), Reply::Int(1));
    s.cmd(&["RPUSH", "l", "x", "y"]);
    s.cmd(&["HSET", "h", "f", "v"]);
    assert!(s
        .cmd(&["MIGRATE", "127.0.0.1", &rp, "a", "0", "5000"])
        .is_ok());
    assert_eq!(s.cmd(&["EXISTS", "a"]), Reply::Int(0));
    assert_eq!(r.cmd(&["GET", "a"]), Reply::bulk("1"));
    assert!(r.cmd(&["PTTL", "a"]).int() > 90_000);
    assert!(s
        .cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &rp,
            "",
            "0",
            "5000",
            "COPY",
            "KEYS",
            "l",
            "h",
            "nosuch"
        ])
        .is_ok());
    assert_eq!(s.cmd(&["EXISTS", "l", "h"]), Reply::Int(2));
    assert_eq!(r.cmd(&["LRANGE", "l", "0", "-1"]).array().len(), 2);
    assert_eq!(r.cmd(&["HGET", "h", "f"]), Reply::bulk("v"));
    let busy = s.cmd(&["MIGRATE", "127.0.0.1", &rp, "l", "0", "5000"]);
    assert_eq!(
        busy.err_text(),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(
        s.cmd(&["EXISTS", "l"]),
        Reply::Int(1),
        "kept when the target refused"
    );
    assert!(s
        .cmd(&["MIGRATE", "127.0.0.1", &rp, "l", "0", "5000", "REPLACE"])
        .is_ok());
    assert_eq!(s.cmd(&["EXISTS", "l"]), Reply::Int(0));
    assert_eq!(
        s.cmd(&["MIGRATE", "127.0.0.1", &rp, "nosuch", "0", "5000"]),
        Reply::Status("NOKEY".into())
    );
    let closed = crate::util::free_port().to_string();
    assert_eq!(
        s.cmd(&["MIGRATE", "127.0.0.1", &closed, "h", "0", "500"])
            .err_text(),
        "IOERR error or timeout connecting to the client"
    );
    assert_eq!(
        s.cmd(&["MIGRATE", "127.0.0.1", &rp, "h", "0", "500", "KEYS", "h"])
            .err_text(),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    // Redis -> Strata (Redis's own MIGRATE sends RESTORE payloads to Strata).
    r.cmd(&["ZADD", "z", "1", "m", "2", "n"]);
    r.cmd(&["SET", "t", "x", "EX", "1000"]);
    assert!(r
        .cmd(&[
            "MIGRATE",
            "127.0.0.1",
            &sp,
            "",
            "3",
            "5000",
            "KEYS",
            "z",
            "t"
        ])
        .is_ok());
    assert_eq!(r.cmd(&["EXISTS", "z", "t"]), Reply::Int(0));
    s.cmd(&["SELECT", "3"]);
    assert_eq!(
        s.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Reply::Array(vec![
            Reply::bulk("m"),
            Reply::bulk("1"),
            Reply::bulk("n"),
            Reply::bulk("2")
        ])
    );
    assert!(s.cmd(&["TTL", "t"]).int() > 900);
}

/// SLOWLOG, LATENCY and MEMORY: entries as Redis shapes them, the config knobs applied,
/// passwords redacted.
#[test]
fn slowlog_latency_and_memory_introspection() {
    let strata = Server::start(&[]);
    let mut c = strata.client();
    // SLOWLOG: everything is slow at threshold 0; -1 turns it off; max-len trims.
    assert!(c
        .cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"])
        .is_ok());
    assert!(c.cmd(&["SLOWLOG", "RESET"]).is_ok());
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["AUTH", "secret"]);
    let long = "x".repeat(200);
    c.cmd(&["SET", "big", &long]);
    let entries = c.cmd(&["SLOWLOG", "GET", "-1"]);
    let entries = entries.array();
    assert!(entries.len() >= 3, "{entries:?}");
    let args_of =
        |e: &Reply| -> Vec<String> { e.array()[3].array().iter().map(|a| a.text()).collect() };
    // Newest first: SET big ... (its value cut at 128 bytes), AUTH (redacted), SET k v.
    let newest = &entries[0].array();
    assert_eq!(newest.len(), 6);
    assert!(newest[2].int() >= 0);
    let set_big = args_of(&entries[0]);
    assert_eq!(
        set_big[2],
        format!("{}... (72 more bytes)", "x".repeat(128))
    );
    assert!(entries.iter().any(|e| args_of(e) == ["AUTH", "(redacted)"]));
    assert!(c.cmd(&["SLOWLOG", "LEN"]).int() >= 3);
    assert!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "2"]).is_ok());
    assert!(c.cmd(&["SLOWLOG", "LEN"]).int() <= 2);
    assert!(c
        .cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"])
        .is_ok());
    assert!(c.cmd(&["SLOWLOG", "RESET"]).is_ok());
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["SLOWLOG", "GET", "-2"]).err_text(),
        "ERR count should be greater than or equal to -1"
    );
    // LATENCY: a 20 ms command over a 1 ms threshold is a `command` event.
    assert!(c
        .cmd(&["CONFIG", "SET", "latency-monitor-threshold", "1"])
        .is_ok());
    assert!(c.cmd(&["DEBUG", "SLEEP", "0.02"]).is_ok());
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    let ev = latest
        .array()
        .iter()
        .find(|e| e.array()[0] == Reply::bulk("command"));
    let ev = ev.expect("a command event");
    assert!(
        ev.array()[2].int() >= 20 && ev.array()[3].int() >= 20,
        "{ev:?}"
    );
    assert!(!c.cmd(&["LATENCY", "HISTORY", "command"]).array().is_empty());
    assert!(c.cmd(&["LATENCY", "DOCTOR"]).text().contains("command"));
    assert!(c
        .cmd(&["LATENCY", "GRAPH", "command"])
        .text()
        .contains("command"));
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), Reply::Int(1));
    assert!(c.cmd(&["LATENCY", "LATEST"]).array().is_empty());
    let hist = c.cmd(&["LATENCY", "HISTOGRAM", "set"]);
    let flat = hist.array();
    assert_eq!(flat[0], Reply::bulk("set"), "{hist:?}");
    // MEMORY USAGE grows with the value; missing keys answer nil.
    let small = c.cmd(&["MEMORY", "USAGE", "k"]).int();
    let bigger = c.cmd(&["MEMORY", "USAGE", "big"]).int();
    assert!(small > 0 && bigger > small + 150, "{small} {bigger}");
    for i in 0..100 {
        c.cmd(&["HSET", "h", &format!("field{i}"), "value"]);
    }
    let all = c.cmd(&["MEMORY", "USAGE", "h", "SAMPLES", "0"]).int();
    let sampled = c.cmd(&["MEMORY", "USAGE", "h"]).int();
    assert!(
        all > 100 * 10 && (sampled - all).abs() < all / 2,
        "{all} {sampled}"
    );
    assert!(c.cmd(&["MEMORY", "USAGE", "nosuch"]).is_null());
    let stats = c.cmd(&["MEMORY", "STATS"]);
    assert!(
        stats.array().contains(&Reply::bulk("keys.count")),
        "{stats:?}"
    );
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Reply::Status("Background append only file rewriting started".into())
    );
}

/// XINFO STREAM FULL with the radix-tree sizes zeroed (Redis's memory layout, which Strata
/// only approximates).
fn stream_full(c: &mut Client, key: &str) -> Reply {
    match c.cmd(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]) {
        Reply::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut zero = false;
            for it in items {
                if zero {
                    out.push(Reply::Int(0));
                    zero = false;
                    continue;
                }
                zero =
                    it == Reply::bulk("radix-tree-keys") || it == Reply::bulk("radix-tree-nodes");
                out.push(it);
            }
            Reply::Array(out)
        }
        other => other,
    }
}

/// Streams move between redis-server and Strata in DUMP payloads both ways: entries (with and
/// without the first entry's fields, over several nodes), deletions, counters, and consumer
/// groups with their pending lists, delivery times and counts, consumers and seen times.
#[test]
fn stream_dump_payloads_restore_across_redis_and_strata_in_both_directions() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let mut r = Client::connect(redis.port);
    let mut s = strata.client();
    for forward in [true, false] {
        let (from, to, name) = if forward {
            (&mut r, &mut s, "redis -> strata")
        } else {
            (&mut s, &mut r, "strata -> redis")
        };
        assert!(from.cmd(&["FLUSHALL"]).is_ok());
        assert!(to.cmd(&["FLUSHALL"]).is_ok());
        for i in 1..=250 {
            let id = format!("{}-{}", 1000 + i / 3, i);
            let v = format!("value-{i}");
            let r = if i % 7 == 0 {
                from.cmd(&["XADD", "st", &id, "other", &v, "n", "12345"])
            } else {
                from.cmd(&["XADD", "st", &id, "f", &v, "n", &i.to_string()])
            };
            assert!(matches!(r, Reply::Bulk(_)), "{name}: {r:?}");
        }
        assert_eq!(
            from.cmd(&["XDEL", "st", "1001-3", "1066-200"]),
            Reply::Int(2)
        );
        assert!(from.cmd(&["XGROUP", "CREATE", "st", "g1", "0"]).is_ok());
        assert!(from
            .cmd(&["XGROUP", "CREATE", "st", "g2", "$", "ENTRIESREAD", "250"])
            .is_ok());
        from.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "5",
            "STREAMS",
            "st",
            ">",
        ]);
        from.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "3",
            "STREAMS",
            "st",
            ">",
        ]);
        from.cmd(&["XACK", "st", "g1", "1000-1"]);
        from.cmd(&[
            "XCLAIM",
            "st",
            "g1",
            "carol",
            "0",
            "1002-6",
            "RETRYCOUNT",
            "4",
        ]);
        from.cmd(&["XGROUP", "CREATECONSUMER", "st", "g2", "idle"]);
        assert!(from
            .cmd(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"])
            .is_ok());
        for key in ["st", "empty"] {
            let payload = match from.cmd(&["DUMP", key]) {
                Reply::Bulk(b) => b,
                other => panic!("{name}: DUMP {key}: {other:?}"),
            };
            let reply = to.cmd_bytes(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
            assert!(reply.is_ok(), "{name}: RESTORE {key}: {reply:?}");
            assert_eq!(
                stream_full(to, key),
                stream_full(from, key),
                "{name}: {key}"
            );
            assert_eq!(
                to.cmd(&["XINFO", "GROUPS", key]),
                from.cmd(&["XINFO", "GROUPS", key]),
                "{name}: {key}"
            );
        }
        // The restored stream goes on as the original: the next auto ID and the next read.
        for c in [&mut *from, &mut *to] {
            c.cmd(&["XADD", "st", "5000-1", "f", "next"]);
        }
        assert_eq!(
            to.cmd(&["XREADGROUP", "GROUP", "g2", "x", "STREAMS", "st", ">"]),
            from.cmd(&["XREADGROUP", "GROUP", "g2", "x", "STREAMS", "st", ">"]),
            "{name}"
        );
    }
}

/// MIGRATE logs what it did (a typed effect): the DEL of exactly the keys the target took.
/// A key the target refused (BUSYKEY) stays on the master and on its replica.
#[test]
fn a_partly_refused_migrate_deletes_only_the_moved_keys_on_replicas_too() {
    let redis = RedisServer::start();
    let master = Server::start(&[]);
    let replica = crate::replication::replica_of(&master, &[]);
    let mut r = Client::connect(redis.port);
    let mut s = master.client();
    let rp = redis.port.to_string();
    s.cmd(&["SET", "moved", "1"]);
    s.cmd(&["SET", "refused", "2"]);
    r.cmd(&["SET", "refused", "already there"]);
    let out = s.cmd(&[
        "MIGRATE",
        "127.0.0.1",
        &rp,
        "",
        "0",
        "5000",
        "KEYS",
        "moved",
        "refused",
    ]);
    assert_eq!(
        out.err_text(),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(s.cmd(&["EXISTS", "moved"]), Reply::Int(0));
    assert_eq!(s.cmd(&["GET", "refused"]), Reply::bulk("2"));
    assert_eq!(r.cmd(&["GET", "moved"]), Reply::bulk("1"));
    crate::replication::wait_caught_up(&master, &replica, std::time::Duration::from_secs(20));
    let mut rc = replica.client();
    assert_eq!(rc.cmd(&["EXISTS", "moved"]), Reply::Int(0));
    assert_eq!(
        rc.cmd(&["GET", "refused"]),
        Reply::bulk("2"),
        "the replica deleted a key the master kept"
    );
}
