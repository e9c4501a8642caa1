//! A real failover under Debian's `redis-sentinel`: 1 master + 2 replicas of Strata and 3
//! sentinels. Writes acknowledged with `WAIT 1` survive `kill -9` of the master, the other
//! replica follows the promoted one by partial sync, and the old master rejoins as a replica.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binlog::{assert_same, cutoff, dump, info_field};
use crate::util::{free_port, Client, Server};

struct Sentinel {
    child: Child,
    port: u16,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sentinel(dir: &std::path::Path, i: usize, master_port: u16) -> Sentinel {
    let port = free_port();
    let conf = dir.join(format!("sentinel-{i}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {}\nlogfile {}\n\
             sentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 10000\n\
             sentinel parallel-syncs mymaster 1\n",
            dir.display(),
            dir.join(format!("sentinel-{i}.log")).display()
        ),
    )
    .expect("write sentinel config");
    let child = Command::new("redis-sentinel")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-sentinel (apt-get install redis-sentinel)");
    Sentinel { child, port }
}

fn text_field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// A server started with a config file (CONFIG REWRITE persists the role there).
fn with_conf(dir: &std::path::Path, name: &str, extra: &str) -> Server {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, format!("# {name}\n{extra}")).expect("write config");
    Server::start(&[conf.to_str().expect("utf-8 path")])
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn master_addr(sentinels: &[Sentinel]) -> Option<u16> {
    let mut c = Client::try_connect(sentinels[0].port).ok()?;
    let r = c
        .try_cmd(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
        .ok()?;
    r.array().get(1).and_then(|p| p.text().parse().ok())
}

#[test]
fn sentinel_fails_over_and_every_wait_acknowledged_write_survives() {
    if Command::new("redis-sentinel")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("redis-sentinel is not installed (the test command installs it)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut a = with_conf(dir, "a", "");
    let b = with_conf(dir, "b", &format!("replicaof 127.0.0.1 {}\n", a.port));
    let c = with_conf(dir, "c", &format!("replicaof 127.0.0.1 {}\n", a.port));
    // Sentinel's reconfiguration sends `CLIENT KILL TYPE normal` to the instances it changes:
    // a poll that meets it is simply asked again.
    let info = |s: &Server| {
        for _ in 0..20 {
            if let Ok(Ok(r)) = Client::try_connect(s.port).map(|mut c| c.try_cmd(&["INFO"])) {
                if !r.is_error() {
                    return r.text();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("INFO failed on port {}", s.port)
    };
    wait_for("replicas attached", Duration::from_secs(30), || {
        info_field(&info(&a), "connected_slaves") == 2
    });
    let sentinels: Vec<Sentinel> = (0..3).map(|i| sentinel(dir, i, a.port)).collect();
    // The sentinels see the master, both replicas and each other.
    wait_for(
        "sentinels discovered everything",
        Duration::from_secs(30),
        || {
            let Ok(mut s) = Client::try_connect(sentinels[0].port) else {
                return false;
            };
            let Ok(r) = s.try_cmd(&["SENTINEL", "master", "mymaster"]) else {
                return false;
            };
            let fields: Vec<String> = r.array().iter().map(|x| x.text()).collect();
            let get = |k: &str| {
                fields
                    .iter()
                    .position(|f| f == k)
                    .and_then(|i| fields.get(i + 1).cloned())
                    .unwrap_or_default()
            };
            get("num-slaves") == "2" && get("num-other-sentinels") == "2"
        },
    );

    // Writes acknowledged by at least one replica.
    let mut ac = a.client();
    let mut acked = Vec::new();
    for i in 0..300 {
        let k = format!("k{i}");
        ac.cmd(&["SET", &k, &i.to_string()]);
        if ac.cmd(&["WAIT", "1", "2000"]).int() >= 1 {
            acked.push(k);
        }
    }
    assert!(
        acked.len() >= 290,
        "only {} writes acknowledged",
        acked.len()
    );

    a.kill9().unwrap();
    let old = a.port;
    wait_for(
        "a replica promoted by the sentinels",
        Duration::from_secs(60),
        || master_addr(&sentinels).is_some_and(|p| p != old),
    );
    let new_port = master_addr(&sentinels).unwrap();
    let (new, other) = if new_port == b.port {
        (&b, &c)
    } else {
        (&c, &b)
    };
    let mut nc = new.client();
    wait_for(
        "the promoted replica is a master",
        Duration::from_secs(30),
        || text_field(&info(new), "role") == "master",
    );
    for k in &acked {
        assert!(
            !nc.cmd(&["GET", k]).is_null(),
            "{k} acknowledged by WAIT 1 but lost"
        );
    }
    // The other replica follows the new master, by partial sync.
    wait_for(
        "the other replica follows the new master",
        Duration::from_secs(60),
        || {
            let i = info(other);
            text_field(&i, "master_port") == new_port.to_string()
                && text_field(&i, "master_link_status") == "up"
        },
    );
    let stats = nc.cmd(&["INFO", "stats"]).text();
    assert!(info_field(&stats, "sync_partial_ok") >= 1, "{stats}");
    assert_eq!(
        info_field(&stats, "sync_full"),
        0,
        "no full sync for the peer: {stats}"
    );
    assert_eq!(nc.cmd(&["SET", "after", "failover"]).text(), "OK");

    // The old master comes back on its address and is turned into a replica.
    a.respawn_same_port();
    let t = Instant::now();
    loop {
        let i = info(&a);
        // The master the sentinels name now: two sentinels may both have started a failover
        // (different epochs) and converged on the later one since `new_port` was read.
        let current = master_addr(&sentinels).unwrap_or(new_port);
        if text_field(&i, "role") == "slave"
            && text_field(&i, "master_port") == current.to_string()
            && text_field(&i, "master_link_status") == "up"
        {
            break;
        }
        // Sentinel converts it on one of its INFO rounds (every 10 s for a replica); slow
        // machines get time, and a failure prints everything needed to see why.
        if t.elapsed() > Duration::from_secs(120) {
            let logs: Vec<String> = (0..3)
                .map(|i| {
                    std::fs::read_to_string(dir.join(format!("sentinel-{i}.log")))
                        .unwrap_or_default()
                })
                .collect();
            panic!(
                "the old master never rejoined as a replica: {i}\nits log:\n{}\nnew master log:\n{}\nsentinel logs:\n{}",
                a.log_text(),
                new.log_text(),
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two sentinels may have raced (different epochs) and the master may have moved once more
    // since: whoever is the one master now, the other two follow it and have all it has.
    wait_for("everyone caught up", Duration::from_secs(60), || {
        let all = [&a, new, other];
        let infos: Vec<String> = all.iter().map(|s| info(s)).collect();
        let masters: Vec<&String> = infos
            .iter()
            .filter(|i| text_field(i, "role") == "master")
            .collect();
        if masters.len() != 1 {
            return false;
        }
        let m = info_field(masters[0], "master_repl_offset");
        infos
            .iter()
            .filter(|i| text_field(i, "role") == "slave")
            .all(|i| {
                text_field(i, "slave_repl_offset")
                    .parse::<u64>()
                    .unwrap_or(0)
                    >= m
            })
    });
    let cut = cutoff();
    // Fresh connections: if the sentinels raced into a second failover, they killed the
    // normal clients of the demoted server (as they do with Redis), `nc` among them.
    let want = dump(&mut new.client(), cut);
    assert_same(&want, &dump(&mut a.client(), cut), "old master");
    assert_same(&want, &dump(&mut other.client(), cut), "other replica");
    // CONFIG REWRITE persisted the roles: the master's file names no master.
    let master_conf = [(&a, "a.conf"), (&b, "b.conf"), (&c, "c.conf")]
        .into_iter()
        .find(|(s, _)| text_field(&info(s), "role") == "master")
        .map_or("b.conf", |(_, f)| f);
    let conf = std::fs::read_to_string(dir.join(master_conf)).unwrap();
    assert!(
        !conf.lines().any(|l| l.starts_with("replicaof 127.0.0.1")),
        "{conf}"
    );
}

/// Sentinel logging in with a user of its own that has only what Sentinel needs (the rules
/// Redis's documentation gives), on servers that require a password for the default user:
/// it monitors, discovers the replica and carries out a manual failover. (Without `+info` in
/// the rules it never sees the replica: the rules are what lets it work.)
#[test]
fn sentinel_with_its_own_acl_user() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let users = "requirepass adminpw\nmasterauth adminpw\n\
                 user sentinel-user on >spw allchannels +multi +slaveof +replicaof +ping +exec \
                 +subscribe +config|rewrite +role +publish +info +client|setname +client|kill \
                 +script|kill\n";
    let a = with_conf(dir, "a", users);
    let b = with_conf(
        dir,
        "b",
        &format!("{users}replicaof 127.0.0.1 {}\n", a.port),
    );
    let mut ac = a.client();
    assert!(ac.cmd(&["AUTH", "adminpw"]).is_ok());
    wait_for("replica attached", Duration::from_secs(30), || {
        info_field(&ac.cmd(&["INFO", "replication"]).text(), "connected_slaves") == 1
    });
    let port = free_port();
    let conf = dir.join("sentinel-acl.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {}\nlogfile {}\n\
             sentinel monitor mymaster 127.0.0.1 {} 1\n\
             sentinel auth-user mymaster sentinel-user\n\
             sentinel auth-pass mymaster spw\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 10000\n",
            dir.display(),
            dir.join("sentinel-acl.log").display(),
            a.port
        ),
    )
    .expect("write sentinel config");
    let child = Command::new("redis-sentinel")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-sentinel");
    let sentinels = vec![Sentinel { child, port }];
    let field = |name: &str| -> String {
        let Ok(mut s) = Client::try_connect(port) else {
            return String::new();
        };
        let Ok(r) = s.try_cmd(&["SENTINEL", "master", "mymaster"]) else {
            return String::new();
        };
        let fields: Vec<String> = r.array().iter().map(|x| x.text()).collect();
        fields
            .iter()
            .position(|f| f == name)
            .and_then(|i| fields.get(i + 1).cloned())
            .unwrap_or_default()
    };
    wait_for(
        "sentinel sees the master and its replica",
        Duration::from_secs(30),
        || field("num-slaves") == "1" && field("flags") == "master",
    );
    let mut s = Client::connect(port);
    // Until Sentinel has fresh INFO of the replica it answers -NOGOODSLAVE: ask again.
    wait_for(
        "SENTINEL FAILOVER accepted",
        Duration::from_secs(30),
        || s.cmd(&["SENTINEL", "FAILOVER", "mymaster"]).is_ok(),
    );
    wait_for("the replica promoted", Duration::from_secs(60), || {
        master_addr(&sentinels) == Some(b.port)
    });
    let mut bc = b.client();
    assert!(bc.cmd(&["AUTH", "adminpw"]).is_ok());
    wait_for("b is a master", Duration::from_secs(30), || {
        text_field(&bc.cmd(&["INFO", "replication"]).text(), "role") == "master"
    });
    // The ACL log of the servers has no refusal of Sentinel's commands.
    for c in [&mut ac, &mut bc] {
        let log = c.cmd(&["ACL", "LOG"]);
        // Each entry: field, value, ... (username and object are bulk strings).
        let refused: Vec<String> = log
            .array()
            .iter()
            .filter_map(|e| {
                let kv = e.array();
                let get = |k: &str| {
                    kv.chunks(2)
                        .find(|p| p[0].text() == k)
                        .map(|p| p[1].text())
                        .unwrap_or_default()
                };
                (get("username") == "sentinel-user").then(|| get("object"))
            })
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
}
