//! Differential tests: every command sequence in `tests/diff/*.redis` is sent to a real
//! `redis-server` (Debian's, the reference) and to Strata; the replies must be identical.
//!
//! File format: one command per line in redis-cli/inline syntax (quotes and `\xHH` escapes),
//! `#` starts a comment line. A line starting with `@sorted ` compares the elements of an
//! array reply in sorted order (for replies whose order Redis leaves unspecified: KEYS,
//! HKEYS, SMEMBERS); `@sortedpairs ` sorts (field, value) pairs (HGETALL, HSCAN). Each file starts from empty databases (FLUSHALL on both).
//! Avoid commands whose replies legitimately differ between runs (TTL countdowns, TIME, INFO,
//! RANDOMKEY, SCAN cursors); put those in the ordinary tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{free_port, Client, Reply, Server};

struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    dir.path().to_str().unwrap_or("."),
                    "--loglevel",
                    "warning",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is required (apt-get install redis-server)");
            let mut r = RedisServer {
                child,
                port,
                _dir: tempfile::tempdir().expect("tempdir"),
            };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(mut c) = Client::try_connect(port) {
                    if c.try_cmd(&["PING"]).is_ok() {
                        r._dir = dir;
                        return r;
                    }
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            let _ = r.child.kill();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn diff_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diff");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/diff")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    files.sort();
    files
}

fn send(c: &mut Client, args: &[Vec<u8>]) -> Reply {
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    c.cmd_bytes(&refs)
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    No,
    /// Sort the elements of an array reply.
    Items,
    /// Sort a flat array as (field, value) pairs; for a SCAN-shaped reply, its inner array.
    Pairs,
}

fn sort_pairs(items: Vec<Reply>) -> Vec<Reply> {
    let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(|c| c.to_vec()).collect();
    pairs.sort_by_key(|p| format!("{p:?}"));
    pairs.into_iter().flatten().collect()
}

fn sort_reply(r: Reply, mode: Sort) -> Reply {
    match r {
        Reply::Array(items) if mode == Sort::Pairs => {
            if let [cursor, Reply::Array(inner)] = items.as_slice() {
                return Reply::Array(vec![
                    cursor.clone(),
                    Reply::Array(sort_pairs(inner.clone())),
                ]);
            }
            Reply::Array(sort_pairs(items))
        }
        Reply::Array(mut items) => {
            if let [cursor @ Reply::Bulk(_), Reply::Array(inner)] = items.as_slice() {
                let mut inner = inner.clone();
                inner.sort_by_key(|a| format!("{a:?}"));
                return Reply::Array(vec![cursor.clone(), Reply::Array(inner)]);
            }
            items.sort_by_key(|a| format!("{a:?}"));
            Reply::Array(items)
        }
        Reply::Set(mut items) => {
            items.sort_by_key(|a| format!("{a:?}"));
            Reply::Set(items)
        }
        Reply::Map(mut pairs) => {
            pairs.sort_by_key(|a| format!("{a:?}"));
            Reply::Map(pairs)
        }
        other => other,
    }
}

#[test]
fn replies_match_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let files = diff_files();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    let mut total = 0;
    // Every file runs twice: in RESP2, then in RESP3 (after HELLO 3 on both connections).
    for (file, proto) in files.iter().flat_map(|f| [(f, 2), (f, 3)]) {
        let text = std::fs::read_to_string(file).expect("read diff file");
        let mut r = Client::connect(redis.port);
        let mut s = strata.client();
        send(&mut r, &[b"FLUSHALL".to_vec()]);
        send(&mut s, &[b"FLUSHALL".to_vec()]);
        if proto == 3 {
            send(&mut r, &[b"HELLO".to_vec(), b"3".to_vec()]);
            send(&mut s, &[b"HELLO".to_vec(), b"3".to_vec()]);
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (mode, line) = if let Some(rest) = line.strip_prefix("@sortedpairs ") {
                (Sort::Pairs, rest.trim())
            } else if let Some(rest) = line.strip_prefix("@sorted ") {
                (Sort::Items, rest.trim())
            } else {
                (Sort::No, line)
            };
            let Some(args) = resp::split_inline(line.as_bytes()) else {
                panic!("{}:{}: bad line", file.display(), n + 1);
            };
            let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.to_vec()).collect();
            total += 1;
            let mut expected = send(&mut r, &args);
            let mut got = send(&mut s, &args);
            if mode != Sort::No {
                expected = sort_reply(expected, mode);
                got = sort_reply(got, mode);
            }
            if expected != got {
                failures.push(format!(
                    "{}:{} (RESP{proto}): {line}\n    redis:  {expected:?}\n    strata: {got:?}",
                    file.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
                    n + 1
                ));
            }
        }
    }
    eprintln!("differential: {total} commands in {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
