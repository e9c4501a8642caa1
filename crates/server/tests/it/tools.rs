//! Real tools against the real server: redis-cli and redis-benchmark.

use crate::util::{run_tool, Server};

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok()
}

#[test]
fn redis_benchmark_default_suite_runs_clean() {
    assert!(
        have("redis-benchmark"),
        "redis-benchmark is required (apt-get install redis-tools)"
    );
    let s = Server::start(&[]);
    let port = s.port.to_string();
    let (ok, out) = run_tool(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set,get,incr,mset,ping",
            "-n",
            "5000",
            "-c",
            "20",
            "-q",
        ],
    );
    assert!(ok, "{out}");
    for t in [
        "PING_INLINE: ",
        "PING_MBULK: ",
        "SET: ",
        "GET: ",
        "INCR: ",
        "MSET (10 keys): ",
    ] {
        assert!(
            out.contains(&t.to_string()) && out.contains("requests per second"),
            "missing {t} in:\n{out}"
        );
    }
    assert!(!out.to_lowercase().contains("error"), "{out}");
    let mut c = s.client();
    let incr = c.cmd(&["GET", "counter:__rand_int__"]).text();
    assert_eq!(incr, "5000");
}

#[test]
fn redis_cli_round_trip() {
    assert!(
        have("redis-cli"),
        "redis-cli is required (apt-get install redis-tools)"
    );
    let s = Server::start(&[]);
    let port = s.port.to_string();
    let cli = |args: &[&str]| {
        let mut a = vec!["-p", &port];
        a.extend_from_slice(args);
        run_tool("redis-cli", &a)
    };
    assert_eq!(cli(&["SET", "greeting", "hi there"]).1.trim(), "OK");
    assert_eq!(cli(&["GET", "greeting"]).1.trim(), "hi there");
    assert_eq!(cli(&["-n", "9", "SET", "x", "1"]).1.trim(), "OK");
    assert_eq!(cli(&["-n", "9", "DBSIZE"]).1.trim(), "1");
    assert!(cli(&["INFO", "server"]).1.contains("redis_version:"));
    let (_, out) = cli(&["--scan", "--pattern", "gre*"]);
    assert_eq!(out.trim(), "greeting");
    // --pipe mass insertion.
    let mut input = String::new();
    for i in 0..1000 {
        input.push_str(&format!("SET pipe:{i} {i}\r\n"));
    }
    let mut child = std::process::Command::new("redis-cli")
        .args(["-p", &port, "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
}

/// The whole default suite of redis-benchmark (strings, lists, sets, hashes, sorted sets,
/// LRANGE, MSET) runs without errors.
#[test]
fn redis_benchmark_full_default_suite_runs_clean() {
    let s = Server::start(&[]);
    let port = s.port.to_string();
    let (ok, out) = run_tool(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-n",
            "2000",
            "-c",
            "10",
            "-q",
        ],
    );
    assert!(ok, "{out}");
    for t in [
        "SET: ",
        "GET: ",
        "INCR: ",
        "LPUSH: ",
        "RPUSH: ",
        "LPOP: ",
        "RPOP: ",
        "SADD: ",
        "HSET: ",
        "SPOP: ",
        "ZADD: ",
        "ZPOPMIN: ",
        "LRANGE_100",
        "LRANGE_600",
        "MSET (10 keys): ",
    ] {
        assert!(out.contains(t), "missing {t} in:\n{out}");
    }
    assert!(!out.to_lowercase().contains("error"), "{out}");
}
