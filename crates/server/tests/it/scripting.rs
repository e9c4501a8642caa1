//! Lua scripts as black boxes: one atomic unit (one engine batch, one binlog record of its
//! effects) that replicas and a restart after `kill -9` reproduce without running Lua; BUSY,
//! SCRIPT KILL, UNKILLABLE and SHUTDOWN NOSAVE; redis-py's Lock. Reply shapes and error texts
//! are compared with redis-server in `tests/diff/20-scripting.redis`.

use std::time::{Duration, Instant};

use crate::replication::{assert_same_data, replica_of, wait_caught_up};
use crate::util::{Client, Reply, Server};

/// INCR a counter and push its new value to a list, in one script: after any crash both agree.
const COUNT_AND_LOG: &str =
    "local n = redis.call('incr', KEYS[1]) redis.call('rpush', KEYS[2], n) return n";

fn sha1(body: &str, c: &mut Client) -> String {
    c.cmd(&["SCRIPT", "LOAD", body]).text()
}

#[test]
fn scripts_are_atomic_units_that_replicas_and_a_restart_after_kill_9_reproduce() {
    let mut master = Server::start(&["--appendfsync", "always"]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    let sha = sha1(COUNT_AND_LOG, &mut c);
    for _ in 0..50 {
        c.cmd(&["EVALSHA", &sha, "2", "n", "log"]);
    }
    // Pipelined scripts: one unit for the run, one record per script.
    let mut buf = Vec::new();
    for _ in 0..20 {
        buf.extend(Client::encode(&[
            b"EVALSHA",
            sha.as_bytes(),
            b"2",
            b"n",
            b"log",
        ]));
    }
    c.send_raw(&buf).expect("send");
    for i in 0..20 {
        assert_eq!(c.read_reply().expect("reply"), Reply::Int(51 + i));
    }
    // A script that fails after a write keeps the write (Redis's semantics), and logs it.
    let failed = c.cmd(&[
        "EVAL",
        "redis.call('set', 'kept', 'yes') error('after the write')",
        "0",
    ]);
    assert!(failed.is_error(), "{failed:?}");
    assert_eq!(c.cmd(&["GET", "kept"]), Reply::bulk("yes"));
    // A read-only script writes nothing and is refused a write.
    assert!(c
        .cmd(&["EVAL_RO", "return redis.call('set', 'ro', '1')", "0"])
        .is_error());
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    assert_same_data(&master, &replica, "after scripts");
    // The replica applied the scripts' effects: it never ran Lua.
    let stats = replica.client().cmd(&["INFO", "commandstats"]).text();
    assert!(!stats.contains("cmdstat_eval"), "{stats}");
    assert_eq!(replica.client().cmd(&["GET", "kept"]), Reply::bulk("yes"));

    // kill -9 under a load of scripts: every acknowledged run is there, and no run is half
    // there (the counter and the list agree).
    let port = master.port;
    let sha2 = sha.clone();
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut acked = 0i64;
        // Pipelines of 8 (a run of scripts committed as one unit) and single ones.
        'outer: for round in 0..1_000_000 {
            let n = if round % 2 == 0 { 8 } else { 1 };
            let mut buf = Vec::new();
            for _ in 0..n {
                buf.extend(Client::encode(&[
                    b"EVALSHA",
                    sha2.as_bytes(),
                    b"2",
                    b"n",
                    b"log",
                ]));
            }
            if c.send_raw(&buf).is_err() {
                break;
            }
            for _ in 0..n {
                match c.read_reply() {
                    Ok(Reply::Int(v)) => acked = acked.max(v),
                    _ => break 'outer,
                }
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    master.kill9().expect("kill -9");
    let acked = writer.join().expect("writer");
    master.spawn();
    let mut c = master.client();
    let n: i64 = c.cmd(&["GET", "n"]).text().parse().expect("counter");
    assert!(n >= acked, "acknowledged {acked}, found {n}");
    assert_eq!(
        c.cmd(&["LLEN", "log"]),
        Reply::Int(n),
        "a script half applied"
    );
    assert_eq!(c.cmd(&["LINDEX", "log", "-1"]), Reply::bulk(&n.to_string()));
    println!("kill -9 under EVALSHA load: {acked} acknowledged, {n} after restart");
}

fn info_field(c: &mut Client, section: &str, field: &str) -> i64 {
    let info = c.cmd(&["INFO", section]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {info}"))
}

/// Scripts of different connections that queue on the script thread at the same time are
/// committed as one unit (one engine batch, one binlog append, one record per script): each
/// connection still gets the reply of its own script run in arrival order, a replica and a
/// restart after kill -9 hold every script's effect.
#[test]
fn scripts_of_connections_queued_together_commit_as_one_unit() {
    let mut master = Server::start(&["--appendfsync", "always"]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    let sha = sha1(COUNT_AND_LOG, &mut c);
    let before = info_field(&mut c, "stats", "script_commits");
    // The first script pauses before its commit on the script thread: the others queue.
    c.cmd(&["DEBUG", "FAILPOINT", "script-batch-before-commit", "1500"]);
    let port = master.port;
    let run = |sha: String| {
        std::thread::spawn(move || {
            Client::connect(port)
                .cmd(&["EVALSHA", &sha, "2", "n", "log"])
                .int()
        })
    };
    let first = run(sha.clone());
    std::thread::sleep(Duration::from_millis(300));
    let others: Vec<_> = (0..10).map(|_| run(sha.clone())).collect();
    assert_eq!(first.join().expect("first script"), 1);
    let mut got: Vec<i64> = others
        .into_iter()
        .map(|t| t.join().expect("script"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (2..=11).collect::<Vec<i64>>(), "one reply per script");
    // Two commits: the first script's, then the ten queued behind it together.
    assert_eq!(info_field(&mut c, "stats", "script_commits") - before, 2);
    assert!(info_field(&mut c, "stats", "script_commit_scripts") >= 11);
    assert_eq!(c.cmd(&["LLEN", "log"]), Reply::Int(11));
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    assert_same_data(&master, &replica, "after grouped scripts");
    master.kill9().expect("kill -9");
    master.spawn();
    let mut c = master.client();
    assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("11"));
    assert_eq!(c.cmd(&["LRANGE", "log", "0", "-1"]).array().len(), 11);
}

/// Waits until a function runs (FUNCTION STATS names it).
fn wait_function_running(c: &mut Client) {
    let t = Instant::now();
    while let Reply::Array(stats) = c.cmd(&["FUNCTION", "STATS"]) {
        if stats[1] != Reply::Nil {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "never ran");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_busy(c: &mut Client) {
    let t = Instant::now();
    loop {
        match c.cmd(&["GET", "x"]) {
            Reply::Error(e) if e.starts_with("BUSY") => {
                assert_eq!(
                    e,
                    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                );
                return;
            }
            _ => {}
        }
        assert!(t.elapsed() < Duration::from_secs(10), "never BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_busy_script_gets_busy_replies_script_kill_ends_it_and_unkillable_needs_shutdown_nosave() {
    // One worker thread: the script's thread is handed over, the others are still served.
    let mut s = Server::start(&["--busy-reply-threshold", "200", "--worker-threads", "1"]);
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]),
        Reply::Error("NOTBUSY No scripts in execution right now.".into())
    );

    // Below the threshold other clients wait for the script, then run.
    b.cmd(&["SET", "x", "before"]);
    b.cmd(&["CONFIG", "SET", "busy-reply-threshold", "60000"]);
    let slow = "#!lua name=slow\nredis.register_function('slow', function() local i = 0 while i < 1e8 do i = i + 1 end redis.call('set', 'x', 'script') return i end)";
    assert_eq!(b.cmd(&["FUNCTION", "LOAD", slow]), Reply::bulk("slow"));
    a.send_raw(&Client::encode(&[b"FCALL", b"slow", b"0"]))
        .expect("send");
    // Once it runs (FUNCTION STATS names it), this GET waits for it to end.
    wait_function_running(&mut b);
    assert_eq!(b.cmd(&["GET", "x"]), Reply::bulk("script"));
    assert_eq!(a.read_reply().expect("reply"), Reply::Int(100_000_000));
    b.cmd(&["CONFIG", "SET", "lua-time-limit", "200"]);
    assert_eq!(
        b.cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        Reply::Array(vec![
            Reply::bulk("busy-reply-threshold"),
            Reply::bulk("200")
        ])
    );

    // An endless script: BUSY past the threshold, SCRIPT KILL stops it.
    a.send_raw(&Client::encode(&[b"EVAL", b"while true do end", b"0"]))
        .expect("send");
    wait_busy(&mut b);
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    match a.read_reply().expect("reply") {
        Reply::Error(e) => assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL... script: ")
                && e.ends_with(", on @user_script:1."),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(a.cmd(&["GET", "x"]), Reply::bulk("script"));

    // A busy function: FUNCTION STATS names it, FUNCTION KILL stops it.
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(b.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("spin"));
    a.send_raw(&Client::encode(&[b"FCALL", b"spin", b"0"]))
        .expect("send");
    wait_busy(&mut b);
    match b.cmd(&["FUNCTION", "STATS"]) {
        Reply::Array(stats) => match &stats[1] {
            Reply::Array(running) => {
                assert_eq!(running[1], Reply::bulk("spin"), "{running:?}");
                assert_eq!(
                    running[3],
                    Reply::Array(vec![
                        Reply::bulk("FCALL"),
                        Reply::bulk("spin"),
                        Reply::bulk("0")
                    ])
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(b.cmd(&["FUNCTION", "KILL"]), Reply::ok());
    match a.read_reply().expect("reply") {
        Reply::Error(e) => assert!(e.contains("Script killed by user"), "{e}"),
        other => panic!("{other:?}"),
    }

    // After a write it cannot be killed; SHUTDOWN NOSAVE ends it and its write is not kept.
    a.send_raw(&Client::encode(&[
        b"EVAL",
        b"redis.call('set', 'x', 'endless') while true do end",
        b"0",
    ]))
    .expect("send");
    wait_busy(&mut b);
    match b.cmd(&["SCRIPT", "KILL"]) {
        Reply::Error(e) => assert!(
            e.starts_with("UNKILLABLE Sorry the script already executed write commands"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.cmd(&["SHUTDOWN"]), Reply::Error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.".into()));
    let _ = b.send_raw(&Client::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let t = Instant::now();
    let code = s.wait_exit(Duration::from_secs(20));
    assert!(code.is_some(), "still running after SHUTDOWN NOSAVE");
    assert!(t.elapsed() < Duration::from_secs(20));
    s.spawn();
    assert_eq!(s.client().cmd(&["GET", "x"]), Reply::bulk("script"));
}

/// A script handed to the script thread while another connection's script runs, and still
/// waiting when that one passes `busy-reply-threshold`, is answered -BUSY and not run (Redis
/// reads it during the busy script and refuses it); the same connection is served again after.
#[test]
fn a_script_queued_behind_a_busy_one_gets_busy_and_does_not_run() {
    let s = Server::start(&["--busy-reply-threshold", "1000"]);
    let mut a = s.client();
    let mut b = s.client();
    let mut k = s.client();
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(k.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("spin"));
    a.send_raw(&Client::encode(&[b"FCALL", b"spin", b"0"]))
        .expect("send");
    wait_function_running(&mut k);
    // Below the threshold: handed over, queued behind the spinning function.
    b.send_raw(&Client::encode(&[
        b"EVAL",
        b"return redis.call('incr', 'queued')",
        b"0",
    ]))
    .expect("send");
    wait_busy(&mut k);
    assert_eq!(k.cmd(&["FUNCTION", "KILL"]), Reply::ok());
    assert!(a.read_reply().expect("reply").is_error());
    assert_eq!(
        b.read_reply().expect("reply"),
        Reply::Error(
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                .into()
        )
    );
    assert!(k.cmd(&["GET", "queued"]).is_null(), "the queued script ran");
    assert_eq!(
        b.cmd(&["EVAL", "return redis.call('incr', 'queued')", "0"]),
        Reply::Int(1)
    );
}

#[test]
fn scripts_inside_multi_see_the_transaction_and_info_counts_the_cache() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert!(c.cmd(&["MULTI"]).is_ok());
    c.cmd(&["SET", "k", "1"]);
    c.cmd(&["EVAL", "return redis.call('incr', 'k')", "0"]);
    c.cmd(&["EVAL", "return redis.call('get', 'k')", "0"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::ok(), Reply::Int(2), Reply::bulk("2")])
    );
    c.cmd(&["SCRIPT", "LOAD", "return 1"]);
    let info = c.cmd(&["INFO", "memory"]).text();
    let field = |n: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{n}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(field("number_of_cached_scripts"), 3, "{info}");
    assert!(field("used_memory_lua") > 10_000, "{info}");
    assert!(c.cmd(&["SCRIPT", "FLUSH"]).is_ok());
    let info = c.cmd(&["INFO", "memory"]).text();
    assert!(info.contains("number_of_cached_scripts:0"), "{info}");
    // A script that allocates without bound gets an error; the server lives.
    c.cmd(&["CONFIG", "SET", "lua-memory-limit", "64mb"]);
    c.cmd(&["SCRIPT", "FLUSH"]);
    let r = c.cmd(&[
        "EVAL",
        "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end",
        "0",
    ]);
    match r {
        Reply::Error(e) => assert!(e.contains("not enough memory"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.cmd(&["EVAL", "return 'alive'", "0"]),
        Reply::bulk("alive")
    );
}

/// redis-py's distributed Lock (EVALSHA of its scripts, NOSCRIPT then SCRIPT LOAD) works as
/// on Redis.
#[test]
fn redis_py_lock_works() {
    let s = Server::start(&[]);
    let (ok, text) = crate::util::run_python("redis_py_lock.py", s.port);
    assert!(ok, "{text}");
    assert!(text.contains("redis-py lock ok"), "{text}");
}

fn library_names(c: &mut Client) -> Vec<String> {
    match c.cmd(&["FUNCTION", "LIST"]) {
        Reply::Array(libs) => libs
            .iter()
            .map(|l| match l {
                Reply::Array(f) => f[1].text(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Function libraries are data: logged, replicated (full and incremental sync), back after
/// `kill -9`, and scoped to the namespace that loaded them.
#[test]
fn function_libraries_replicate_survive_kill_9_and_stay_in_their_namespace() {
    let mut master = Server::start(&[]);
    let mut c = master.client();
    let counter = "#!lua name=counter\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", counter]),
        Reply::bulk("counter")
    );
    assert_eq!(c.cmd(&["FCALL", "bump", "1", "n"]), Reply::Int(1));
    // A replica that syncs after the load gets it with the snapshot...
    let replica = replica_of(&master, &[]);
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    let mut r = replica.client();
    assert_eq!(library_names(&mut r), vec!["counter".to_string()]);
    match r.cmd(&["FCALL", "bump", "1", "n"]) {
        Reply::Error(e) => assert!(e.starts_with("READONLY"), "{e}"),
        other => panic!("{other:?}"),
    }
    // ... and the later ones from the binlog.
    let reader = "#!lua name=reader\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", reader]), Reply::bulk("reader"));
    assert_eq!(c.cmd(&["FCALL", "bump", "1", "n"]), Reply::Int(2));
    assert!(c.cmd(&["FUNCTION", "DELETE", "counter"]).is_ok());
    wait_caught_up(&master, &replica, Duration::from_secs(20));
    assert_eq!(library_names(&mut r), vec!["reader".to_string()]);
    assert_eq!(r.cmd(&["FCALL_RO", "peek", "1", "n"]), Reply::bulk("2"));

    // Back after kill -9 (replayed from the binlog or read from the engine).
    master.kill9().expect("kill -9");
    master.spawn();
    let mut c = master.client();
    assert_eq!(library_names(&mut c), vec!["reader".to_string()]);
    assert_eq!(c.cmd(&["FCALL", "peek", "1", "n"]), Reply::bulk("2"));
    assert_eq!(
        c.cmd(&["FCALL", "bump", "1", "n"]),
        Reply::Error("ERR Function not found".into())
    );

    // A namespace sees only its own libraries.
    assert!(c.cmd(&["CONFIG", "SET", "requirepass", "pw"]).is_ok());
    let added = c.cmd(&["NAMESPACE", "ADD", "team", "team-token"]);
    assert_eq!(added, Reply::ok());
    let mut t = master.client();
    assert!(t.cmd(&["AUTH", "team-token"]).is_ok());
    assert!(library_names(&mut t).is_empty());
    assert_eq!(
        t.cmd(&["FCALL", "peek", "1", "n"]),
        Reply::Error("ERR Function not found".into())
    );
    let mine =
        "#!lua name=reader\nredis.register_function('peek', function(keys) return 'team' end)";
    assert_eq!(t.cmd(&["FUNCTION", "LOAD", mine]), Reply::bulk("reader"));
    assert_eq!(t.cmd(&["FCALL", "peek", "1", "n"]), Reply::bulk("team"));
    assert_eq!(c.cmd(&["FCALL", "peek", "1", "n"]), Reply::bulk("2"));
    assert!(t.cmd(&["FUNCTION", "FLUSH"]).is_ok());
    assert_eq!(library_names(&mut c), vec!["reader".to_string()]);
    // Dropping a namespace drops its libraries too.
    assert_eq!(t.cmd(&["FUNCTION", "LOAD", mine]), Reply::bulk("reader"));
    assert_eq!(c.cmd(&["NAMESPACE", "DEL", "team"]), Reply::ok());
    assert_eq!(library_names(&mut c), vec!["reader".to_string()]);
    let info = c.cmd(&["INFO", "memory"]).text();
    assert!(info.contains("number_of_libraries:1\r\n"), "{info}");
}

/// Hostile scripts get errors, the server goes on: a self-referencing reply (nested until
/// the interpreter's stack runs out, then Redis's error), a 10 GB string, endless recursion
/// through a metamethod, bytecode.
#[test]
fn hostile_scripts_get_errors_and_the_server_goes_on() {
    // The 8000-deep reply is parsed (and dropped) recursively by the test's client.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(hostile_scripts)
        .expect("thread")
        .join()
        .expect("hostile scripts");
}

fn hostile_scripts() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut depth = 0;
    let mut r = c.cmd(&["EVAL", "local t = {} t[1] = t return t", "0"]);
    loop {
        match r {
            Reply::Array(mut items) if items.len() == 1 => {
                depth += 1;
                r = items.remove(0);
            }
            Reply::Error(e) => {
                assert_eq!(e, "ERR reached lua stack limit");
                break;
            }
            other => panic!("at depth {depth}: {other:?}"),
        }
    }
    assert!(depth > 7000, "{depth}");
    for (script, expect) in [
        ("return string.rep('x', 1e10)", "not enough memory"),
        (
            "local t = {} setmetatable(t, {__index = function(t, k) return t[k] end}) return t.x",
            "stack overflow",
        ),
        (
            "local f, e = loadstring(string.dump(function() return 1 end)) return e",
            "binary chunk",
        ),
    ] {
        match c.cmd(&["EVAL", script, "0"]) {
            Reply::Error(e) => assert!(e.contains(expect), "{script}: {e}"),
            Reply::Bulk(b) => assert!(String::from_utf8_lossy(&b).contains(expect), "{script}"),
            other => panic!("{script}: {other:?}"),
        }
    }
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}
