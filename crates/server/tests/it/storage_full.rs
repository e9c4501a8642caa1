//! The storage-full state driven by `max-db-size` and `min-free-disk`: writes get one
//! documented error, reads and space-freeing commands go on, and writes resume by themselves.

use std::time::{Duration, Instant};

use crate::util::{Client, Reply, Server};

const FULL: &str =
    "STORAGEFULL storage is full: writes are refused until space is freed (see INFO storage)";

fn storage_field(c: &mut Client, name: &str) -> String {
    let info = c.cmd(&["INFO", "storage"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {info}"))
}

fn wait_state(c: &mut Client, want: &str) -> Duration {
    let t = Instant::now();
    while storage_field(c, "storage_state") != want {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "storage_state never became {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

#[test]
fn over_max_db_size_writes_are_refused_reads_and_deletes_go_on_and_writes_resume() {
    let s = Server::start(&[]);
    let mut c = s.client();
    for i in 0..500 {
        c.cmd(&["SET", &format!("k{i}"), "some value"]);
    }
    c.cmd(&["RPUSH", "list", "a", "b", "c"]);
    c.cmd(&["SADD", "set", "x"]);
    c.cmd(&["DEBUG", "RELOAD"]);
    assert_eq!(storage_field(&mut c, "storage_state"), "ok");
    c.cmd(&["CONFIG", "SET", "max-db-size", "1"]);
    let took = wait_state(&mut c, "full");
    eprintln!("storage full noticed after {took:?}");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "max-db-size reached"
    );
    assert!(
        storage_field(&mut c, "storage_used_bytes")
            .parse::<u64>()
            .unwrap_or(0)
            > 1
    );

    // Writes: the same error every time, also pipelined (key batches) and inside MULTI.
    assert_eq!(c.cmd(&["SET", "new", "v"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["SADD", "set", "y"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["PERSIST", "k1"]), Reply::Error(FULL.into()));
    let mut buf = Vec::new();
    for _ in 0..5 {
        buf.extend(Client::encode(&[b"INCR", b"counter"]));
    }
    c.send_raw(&buf).expect("send");
    for _ in 0..5 {
        assert_eq!(c.read_reply().expect("reply"), Reply::Error(FULL.into()));
    }
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "in-multi", "v"]), Reply::Error(FULL.into()));
    assert!(c.cmd(&["EXEC"]).err_text().starts_with("EXECABORT"));
    // Reads, and commands that free space, go on.
    assert_eq!(c.cmd(&["GET", "k1"]), Reply::bulk("some value"));
    assert_eq!(c.cmd(&["DEL", "k1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["LPOP", "list"]), Reply::bulk("a"));
    assert_eq!(c.cmd(&["SREM", "set", "x"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k2", "1000"]), Reply::Int(1));
    // ... but not an EXPIRE that lengthens a key's life.
    assert_eq!(c.cmd(&["EXPIRE", "k2", "5000"]), Reply::Error(FULL.into()));
    assert!(c.cmd(&["DBSIZE"]).int() > 400);
    assert!(
        storage_field(&mut c, "storage_writes_refused")
            .parse::<u64>()
            .unwrap_or(0)
            >= 9
    );

    // Space back (limit raised): writes resume by themselves.
    c.cmd(&["CONFIG", "SET", "max-db-size", "0"]);
    let took = wait_state(&mut c, "ok");
    eprintln!("writes resumed after {took:?}");
    assert_eq!(c.cmd(&["SET", "new", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["INCR", "counter"]), Reply::Int(1));
}

#[test]
fn low_free_disk_space_refuses_writes_until_it_is_back() {
    let s = Server::start(&[]);
    let mut c = s.client();
    assert!(
        storage_field(&mut c, "storage_free_bytes")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    c.cmd(&["CONFIG", "SET", "min-free-disk", "1000000gb"]);
    wait_state(&mut c, "full");
    assert_eq!(
        storage_field(&mut c, "storage_full_reason"),
        "free disk space below min-free-disk"
    );
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Error(FULL.into()));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
    c.cmd(&["CONFIG", "SET", "min-free-disk", "64mb"]);
    wait_state(&mut c, "ok");
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
}
