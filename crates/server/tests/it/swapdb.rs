//! SWAPDB: O(1), for every client at once, with Redis's WATCH and blocking semantics,
//! keyspace events and INFO naming the databases as clients see them, scoped to a
//! namespace, and durable (see also `replication::swapdb_racing_writes_*`).

use std::time::Duration;

use crate::util::{Client, Reply, Server};

fn select(c: &mut Client, db: &str) {
    assert_eq!(c.cmd(&["SELECT", db]), Reply::ok());
}

#[test]
fn other_clients_see_the_swap_from_their_next_command_and_info_follows() {
    let s = Server::start(&[]);
    let mut a = s.client();
    let mut b = s.client();
    select(&mut b, "1");
    a.cmd(&["SET", "k", "zero"]);
    a.cmd(&["SET", "only0", "x"]);
    b.cmd(&["SET", "k", "one"]);
    assert_eq!(a.cmd(&["SWAPDB", "0", "1"]), Reply::ok());
    assert_eq!(b.cmd(&["GET", "k"]), Reply::bulk("zero"));
    assert_eq!(b.cmd(&["DBSIZE"]), Reply::Int(2));
    assert_eq!(a.cmd(&["GET", "k"]), Reply::bulk("one"));
    // Writes after the swap go where each client's database now is.
    b.cmd(&["SET", "later", "b"]);
    assert_eq!(b.cmd(&["EXISTS", "later", "only0"]), Reply::Int(2));
    let info = a.cmd(&["INFO", "keyspace"]).text();
    assert!(info.contains("db0:keys=1,"), "{info}");
    assert!(info.contains("db1:keys=3,"), "{info}");
    // COPY and MOVE name databases as clients see them.
    assert_eq!(a.cmd(&["COPY", "k", "k2", "DB", "1"]), Reply::Int(1));
    assert_eq!(b.cmd(&["GET", "k2"]), Reply::bulk("one"));
    assert_eq!(b.cmd(&["MOVE", "later", "0"]), Reply::Int(1));
    assert_eq!(a.cmd(&["GET", "later"]), Reply::bulk("b"));
    // CLIENT LIST keeps each client's selected index.
    let list = a.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.lines().any(|l| l.contains(" db=1 ")), "{list}");
}

#[test]
fn watch_is_touched_by_a_swap_when_the_key_exists_on_either_side() {
    let s = Server::start(&[]);
    let mut w = s.client();
    let mut other = s.client();
    // The watched key exists (in db 0): the swap touches it.
    w.cmd(&["SET", "k", "v"]);
    assert_eq!(w.cmd(&["WATCH", "k"]), Reply::ok());
    assert_eq!(other.cmd(&["SWAPDB", "0", "1"]), Reply::ok());
    w.cmd(&["MULTI"]);
    w.cmd(&["SET", "k", "mine"]);
    assert!(w.cmd(&["EXEC"]).is_null(), "aborted");
    // Absent on both sides: not touched.
    assert_eq!(w.cmd(&["WATCH", "nowhere"]), Reply::ok());
    assert_eq!(other.cmd(&["SWAPDB", "0", "1"]), Reply::ok());
    w.cmd(&["MULTI"]);
    w.cmd(&["SET", "nowhere", "x"]);
    assert_eq!(w.cmd(&["EXEC"]).array().len(), 1);
    // Exists only in the database swapped in: touched.
    select(&mut other, "2");
    other.cmd(&["SET", "incoming", "x"]);
    assert_eq!(w.cmd(&["WATCH", "incoming"]), Reply::ok());
    assert_eq!(other.cmd(&["SWAPDB", "2", "0"]), Reply::ok());
    w.cmd(&["MULTI"]);
    w.cmd(&["GET", "incoming"]);
    assert!(w.cmd(&["EXEC"]).is_null(), "aborted");
}

#[test]
fn a_client_blocked_on_an_empty_database_is_served_by_the_swapped_in_list() {
    let s = Server::start(&[]);
    let mut blocked = s.client();
    let mut other = s.client();
    blocked
        .send_raw(&Client::encode(&[b"BLPOP", b"q", b"10"]))
        .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    select(&mut other, "1");
    other.cmd(&["RPUSH", "q", "from-db1"]);
    // Still blocked: its database (0) has no list.
    assert_eq!(other.cmd(&["LLEN", "q"]), Reply::Int(1));
    assert_eq!(other.cmd(&["SWAPDB", "1", "0"]), Reply::ok());
    let r = blocked.read_reply().expect("served");
    assert_eq!(
        r,
        Reply::Array(vec![Reply::bulk("q"), Reply::bulk("from-db1")])
    );
    // The pop happened in the blocked client's database (now db 0) and was logged there.
    assert_eq!(other.cmd(&["EXISTS", "q"]), Reply::Int(0));
    select(&mut other, "0");
    assert_eq!(other.cmd(&["EXISTS", "q"]), Reply::Int(0));
}

#[test]
fn keyspace_events_name_the_database_the_client_selected() {
    let s = Server::start(&["--notify-keyspace-events", "KA"]);
    let mut sub = s.client();
    assert_eq!(sub.cmd(&["PSUBSCRIBE", "__keyspace@*"]).array().len(), 3);
    let mut c = s.client();
    assert_eq!(c.cmd(&["SWAPDB", "0", "5"]), Reply::ok());
    c.cmd(&["SET", "k", "v"]);
    select(&mut c, "5");
    c.cmd(&["SET", "k5", "v"]);
    let mut channels = Vec::new();
    for _ in 0..2 {
        let m = sub.read_reply().expect("event");
        channels.push(m.array()[2].text());
    }
    assert_eq!(channels, ["__keyspace@0__:k", "__keyspace@5__:k5"]);
}

#[test]
fn a_namespace_swaps_its_own_databases_only() {
    let s = Server::start(&["--requirepass", "adminpw"]);
    let mut ad = s.client();
    ad.cmd(&["AUTH", "adminpw"]);
    assert_eq!(ad.cmd(&["NAMESPACE", "ADD", "team", "tt"]), Reply::ok());
    ad.cmd(&["SET", "k", "admin0"]);
    let mut t = s.client();
    assert_eq!(t.cmd(&["AUTH", "tt"]), Reply::ok());
    t.cmd(&["SET", "k", "team0"]);
    assert_eq!(t.cmd(&["SWAPDB", "0", "1"]), Reply::ok());
    assert!(t.cmd(&["GET", "k"]).is_null());
    select(&mut t, "1");
    assert_eq!(t.cmd(&["GET", "k"]), Reply::bulk("team0"));
    // The default namespace's databases did not move.
    assert_eq!(ad.cmd(&["GET", "k"]), Reply::bulk("admin0"));
    assert_eq!(
        t.cmd(&["SWAPDB", "0", "16"]).err_text(),
        "ERR DB index is out of range"
    );
}
