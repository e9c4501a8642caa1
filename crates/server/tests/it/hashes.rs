//! Hashes beyond the differential sequences: HSCAN paging, RESP3 maps, expiry, big hashes.

use crate::util::{Client, Reply, Server};

#[test]
fn hscan_pages_cover_every_field_once() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut buf = Vec::new();
    for i in 0..300 {
        buf.extend(Client::encode(&[
            b"HSET",
            b"h",
            format!("f{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
    }
    c.send_raw(&buf).unwrap();
    for _ in 0..300 {
        assert_eq!(c.read_reply().unwrap(), Reply::Int(1));
    }
    c.cmd(&["HSET", "hk", "other", "1"]);
    let mut cursor = "0".to_string();
    let mut seen = std::collections::BTreeMap::new();
    for round in 0.. {
        assert!(round < 200, "HSCAN did not finish");
        let r = c.cmd(&["HSCAN", "h", &cursor, "COUNT", "7"]);
        let parts = r.array();
        cursor = parts[0].text();
        for pair in parts[1].array().chunks(2) {
            assert!(
                seen.insert(pair[0].text(), pair[1].text()).is_none(),
                "field repeated"
            );
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(seen["f42"], "v42");
    assert_eq!(c.cmd(&["HLEN", "h"]), Reply::Int(300));
}

#[test]
fn resp3_hgetall_is_a_map_and_expiry_applies() {
    let s = Server::start(&[]);
    let mut c = s.client();
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    let r = c.cmd(&["HGETALL", "h"]);
    assert_eq!(
        r,
        Reply::Map(vec![
            (Reply::bulk("a"), Reply::bulk("1")),
            (Reply::bulk("b"), Reply::bulk("2"))
        ])
    );
    let r = c.cmd(&["HRANDFIELD", "h", "-3", "WITHVALUES"]);
    assert_eq!(r.array().len(), 3, "negative count may repeat: {r:?}");
    assert!(
        r.array().iter().all(|p| p.array().len() == 2),
        "RESP3 pairs: {r:?}"
    );
    assert_eq!(c.cmd(&["PEXPIRE", "h", "50"]), Reply::Int(1));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.cmd(&["HGET", "h", "a"]), Reply::Nil);
    assert_eq!(c.cmd(&["HLEN", "h"]), Reply::Int(0));
    assert_eq!(c.cmd(&["HSET", "h", "c", "3"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["HLEN", "h"]),
        Reply::Int(1),
        "an expired hash's fields are gone"
    );
    assert_eq!(c.cmd(&["TTL", "h"]), Reply::Int(-1));
}
