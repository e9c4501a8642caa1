//! GEO beyond the differential files: what a replica and a restart after kill -9 hold, the
//! read-only forms on a replica, WATCH of a STORE destination.

use std::time::Duration;

use crate::replication::{assert_same_data, replica_of, wait_caught_up};
use crate::util::{Reply, Server};

fn scores(c: &mut crate::util::Client, key: &str) -> Reply {
    c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])
}

#[test]
fn geo_writes_replicate_and_survive_kill_9() {
    let mut master = Server::start(&[]);
    let replica = replica_of(&master, &[]);
    let mut c = master.client();
    let mut args: Vec<String> = vec!["GEOADD".into(), "places".into()];
    for i in 0..500 {
        let lon = -179.5 + (i as f64 * 0.7193) % 359.0;
        let lat = -84.0 + (i as f64 * 0.3371) % 168.0;
        args.extend([format!("{lon:.6}"), format!("{lat:.6}"), format!("m{i}")]);
    }
    let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    assert_eq!(c.cmd(&refs), Reply::Int(500));
    let stored = c.cmd(&[
        "GEORADIUS",
        "places",
        "0",
        "0",
        "3000",
        "km",
        "STORE",
        "near",
    ]);
    let Reply::Int(n) = stored else {
        panic!("{stored:?}")
    };
    assert!(n > 0, "the search should find members");
    let by_dist = c.cmd(&[
        "GEOSEARCHSTORE",
        "far",
        "places",
        "FROMMEMBER",
        "m7",
        "BYBOX",
        "4000",
        "2000",
        "km",
        "STOREDIST",
        "DESC",
        "COUNT",
        "20",
    ]);
    assert_eq!(by_dist, Reply::Int(20));
    let expected: Vec<Reply> = ["places", "near", "far"]
        .iter()
        .map(|k| scores(&mut c, k))
        .collect();

    wait_caught_up(&master, &replica, Duration::from_secs(20));
    assert_same_data(&master, &replica, "replica after GEO writes");
    let mut r = replica.client();
    // The searches that may store are writes: refused by a read-only replica; the _RO forms
    // and GEOSEARCH serve.
    match r.cmd(&["GEORADIUS", "places", "0", "0", "3000", "km"]) {
        Reply::Error(e) => assert!(e.starts_with("READONLY"), "{e}"),
        other => panic!("{other:?}"),
    }
    let ro = r.cmd(&["GEORADIUS_RO", "places", "0", "0", "3000", "km", "ASC"]);
    assert_eq!(
        ro,
        c.cmd(&["GEORADIUS_RO", "places", "0", "0", "3000", "km", "ASC"])
    );
    assert_eq!(
        r.cmd(&[
            "GEOSEARCH",
            "places",
            "FROMMEMBER",
            "m1",
            "BYRADIUS",
            "500",
            "km"
        ]),
        c.cmd(&[
            "GEOSEARCH",
            "places",
            "FROMMEMBER",
            "m1",
            "BYRADIUS",
            "500",
            "km"
        ])
    );

    master.kill9().expect("kill -9");
    master.spawn();
    let mut c = master.client();
    let after: Vec<Reply> = ["places", "near", "far"]
        .iter()
        .map(|k| scores(&mut c, k))
        .collect();
    assert_eq!(after, expected, "GEO data after kill -9 and restart");
}

#[test]
fn watch_sees_a_search_storing_into_the_watched_key() {
    let s = Server::start(&[]);
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(
        a.cmd(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]),
        Reply::Int(1)
    );
    assert!(a.cmd(&["WATCH", "dst"]).is_ok());
    assert_eq!(
        b.cmd(&["GEORADIUS", "g", "13", "38", "100", "km", "STORE", "dst"]),
        Reply::Int(1)
    );
    assert!(a.cmd(&["MULTI"]).is_ok());
    a.cmd(&["SET", "dst", "x"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
    assert_eq!(a.cmd(&["TYPE", "dst"]), Reply::Status("zset".into()));
}
