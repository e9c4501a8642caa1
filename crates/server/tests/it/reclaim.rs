//! Deleting a big collection is O(1) and its members are reclaimed by compaction.
//! CI size: 200k members per collection (scripts/scale.sh runs 1M).

use crate::util::{Client, Reply, Server};

fn disk_bytes(c: &mut Client) -> u64 {
    let info = c.cmd(&["INFO", "persistence"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix("storage_disk_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("storage_disk_bytes in INFO")
}

fn fill(c: &mut Client, cmd: &[u8], key: &[u8], members: usize, zset: bool) {
    let per = 1000;
    for batch in 0..members / per {
        let mut args: Vec<Vec<u8>> = vec![cmd.to_vec(), key.to_vec()];
        for i in batch * per..(batch + 1) * per {
            if zset {
                args.push(i.to_string().into_bytes());
            }
            args.push(format!("member:{i:08}").into_bytes());
            if !zset {
                args.push(b"value-value-value-value".to_vec());
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(c.cmd_bytes(&refs), Reply::Int(per as i64));
    }
}

#[test]
fn deleting_big_collections_reclaims_disk() {
    let members: usize = std::env::var("STRATA_RECLAIM_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let s = Server::start(&[]);
    let mut c = s.client();
    fill(&mut c, b"HSET", b"bighash", members, false);
    fill(&mut c, b"ZADD", b"bigzset", members, true);
    assert_eq!(c.cmd(&["HLEN", "bighash"]), Reply::Int(members as i64));
    assert_eq!(c.cmd(&["ZCARD", "bigzset"]), Reply::Int(members as i64));
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    let before = disk_bytes(&mut c);
    let t = std::time::Instant::now();
    assert_eq!(c.cmd(&["DEL", "bighash", "bigzset"]), Reply::Int(2));
    let del_took = t.elapsed();
    assert_eq!(c.cmd(&["EXISTS", "bighash", "bigzset"]), Reply::Int(0));
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    let after = disk_bytes(&mut c);
    eprintln!(
        "reclaim: {members} hash fields + {members} zset members; DEL took {del_took:?}; disk {before} B -> {after} B"
    );
    assert!(
        before > 1_000_000,
        "the collections should take space: {before}"
    );
    assert!(
        after * 10 < before,
        "space not reclaimed: {before} -> {after}"
    );
}
