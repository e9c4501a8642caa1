//! ACL, black box: users and their rules on a running server, over TCP; ACL SAVE and restart;
//! the ACL log compared with redis-server's; users bound to namespaces; replicas that log in
//! with `masteruser`.

use std::time::{Duration, Instant};

use crate::differential::RedisServer;
use crate::util::{Client, Reply, Server};

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn least_privilege_users() {
    let s = Server::start(&[]);
    let mut admin = s.client();
    assert!(admin.cmd(&["SET", "app:1", "a"]).is_ok());
    assert!(admin.cmd(&["SET", "other:1", "o"]).is_ok());
    assert!(admin
        .cmd(&[
            "ACL",
            "SETUSER",
            "reader",
            "on",
            ">rpw",
            "~*",
            "+@read",
            "+@connection",
            "+acl|whoami"
        ])
        .is_ok());
    assert!(admin
        .cmd(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">apw",
            "~app:*",
            "+@all",
            "-@dangerous"
        ])
        .is_ok());
    assert!(admin
        .cmd(&[
            "ACL",
            "SETUSER",
            "news",
            "on",
            ">npw",
            "resetchannels",
            "&news.*",
            "+@pubsub"
        ])
        .is_ok());

    // Strata's own admin commands are only in the admin categories: +@write does not give
    // NAMESPACE, -@dangerous takes it away.
    assert!(admin
        .cmd(&["ACL", "SETUSER", "writer", "on", "nopass", "~*", "+@write"])
        .is_ok());
    for user in ["writer", "app"] {
        assert_eq!(
            admin.cmd(&["ACL", "DRYRUN", user, "NAMESPACE", "ADD", "x", "y"]),
            Reply::bulk("This user has no permissions to run the 'namespace' command"),
            "{user}"
        );
    }
    assert!(admin
        .cmd(&["ACL", "CAT", "admin"])
        .array()
        .contains(&Reply::bulk("namespace")));
    // A read-only user cannot write.
    let mut r = s.client();
    assert!(r.cmd(&["AUTH", "reader", "rpw"]).is_ok());
    assert_eq!(r.cmd(&["GET", "other:1"]), Reply::bulk("o"));
    assert_eq!(
        r.cmd(&["SET", "app:1", "x"]).err_text(),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    assert_eq!(r.cmd(&["ACL", "WHOAMI"]), Reply::bulk("reader"));

    // A user with ~app:* cannot read other:1.
    let mut a = s.client();
    assert!(a.cmd(&["AUTH", "app", "apw"]).is_ok());
    assert_eq!(a.cmd(&["GET", "app:1"]), Reply::bulk("a"));
    assert_eq!(
        a.cmd(&["GET", "other:1"]).err_text(),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        a.cmd(&["FLUSHALL"]).err_text(),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    // Pipelined, through the batched GET and key-batch paths: each request still checked.
    let mut pipe = Vec::new();
    for args in [
        &["SET", "app:2", "x"][..],
        &["SET", "other:2", "x"],
        &["SET", "app:3", "y"],
        &["GET", "app:2"],
        &["GET", "other:1"],
        &["GET", "app:3"],
    ] {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        pipe.extend(Client::encode(&a));
    }
    a.send_raw(&pipe).expect("send");
    let replies: Vec<Reply> = (0..6).map(|_| a.read_reply().expect("reply")).collect();
    let key_err = "NOPERM this user has no permissions to access one of the keys used as arguments";
    assert_eq!(
        replies,
        vec![
            Reply::ok(),
            Reply::Error(key_err.into()),
            Reply::ok(),
            Reply::bulk("x"),
            Reply::Error(key_err.into()),
            Reply::bulk("y"),
        ]
    );
    assert!(admin.cmd(&["EXISTS", "other:2"]).int() == 0);

    // A user without &chan cannot subscribe to it.
    let mut n = s.client();
    assert!(n.cmd(&["AUTH", "news", "npw"]).is_ok());
    assert_eq!(
        n.cmd(&["SUBSCRIBE", "ops"]).err_text(),
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    );
    let sub = n.cmd(&["SUBSCRIBE", "news.today"]);
    assert_eq!(sub.array().len(), 3, "{sub:?}");

    // SETUSER applies at once to connected clients; taking the channel away closes the
    // subscriber.
    assert!(admin.cmd(&["ACL", "SETUSER", "reader", "-get"]).is_ok());
    assert_eq!(
        r.cmd(&["GET", "app:1"]).err_text(),
        "NOPERM this user has no permissions to run the 'get' command"
    );
    assert!(admin
        .cmd(&["ACL", "SETUSER", "news", "resetchannels", "&other"])
        .is_ok());
    assert!(
        n.is_closed(),
        "a subscriber whose channels were revoked is let go"
    );

    // DELUSER closes the user's connections.
    assert_eq!(admin.cmd(&["ACL", "DELUSER", "app"]), Reply::Int(1));
    assert!(a.is_closed(), "a deleted user's connection is closed");
    assert!(admin.cmd(&["CLIENT", "KILL", "USER", "app"]).is_error());
    // CLIENT LIST shows who is who; CLIENT KILL USER works.
    let list = admin.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.contains("user=reader"), "{list}");
    assert_eq!(
        admin.cmd(&["CLIENT", "KILL", "USER", "reader"]),
        Reply::Int(1)
    );
    assert!(r.is_closed());
    // The refusals are in the ACL log, at most `acllog-max-len` of them.
    let log = admin.cmd(&["ACL", "LOG"]);
    assert!(log.array().len() >= 3, "{log:?}");
    assert!(admin.cmd(&["CONFIG", "SET", "acllog-max-len", "2"]).is_ok());
    assert!(admin
        .cmd(&["ACL", "DRYRUN", "writer", "GET", "x"])
        .text()
        .contains("no permissions"));
    let mut w = s.client();
    assert!(w.cmd(&["AUTH", "writer", "x"]).is_ok());
    for k in ["a", "b", "c"] {
        assert!(w.cmd(&["GET", k]).is_error());
        assert!(w.cmd(&["HGET", k, "f"]).is_error());
    }
    assert_eq!(admin.cmd(&["ACL", "LOG"]).array().len(), 2);
}

#[test]
fn requirepass_is_the_default_users_password() {
    let s = Server::start(&["--requirepass", "sekret"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["GET", "x"]).err_text(),
        "NOAUTH Authentication required."
    );
    assert!(c.cmd(&["AUTH", "default", "sekret"]).is_ok());
    let d = c.cmd(&["ACL", "LIST"]).array()[0].text();
    assert!(d.contains("user default on #"), "{d}");
    // The default user's password changed by ACL: new connections need the new one.
    assert!(c
        .cmd(&["ACL", "SETUSER", "default", "resetpass", ">other"])
        .is_ok());
    let mut c2 = s.client();
    assert!(c2.cmd(&["AUTH", "sekret"]).is_error());
    assert!(c2.cmd(&["AUTH", "other"]).is_ok());
    // Namespaces follow the default user's password, whether set by requirepass or ACL.
    assert!(c2
        .cmd(&["NAMESPACE", "ADD", "t", "other"])
        .err_text()
        .contains("token has already exists"));
    assert!(c2.cmd(&["NAMESPACE", "ADD", "t", "ttoken"]).is_ok());
    // nopass: new connections are authenticated at once.
    assert!(c.cmd(&["ACL", "SETUSER", "default", "nopass"]).is_ok());
    let mut c3 = s.client();
    assert!(c3.cmd(&["PING"]).text() == "PONG");
    assert!(c3
        .cmd(&["NAMESPACE", "ADD", "u", "utoken"])
        .err_text()
        .contains("forbidden to add namespace"));
    // CONFIG SET requirepass sets it again.
    assert!(c.cmd(&["CONFIG", "SET", "requirepass", "third"]).is_ok());
    let mut c4 = s.client();
    assert!(c4.cmd(&["PING"]).is_error());
    assert!(c4.cmd(&["AUTH", "third"]).is_ok());
}

#[test]
fn acl_save_and_restart_restore_the_users() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("users.acl");
    std::fs::write(&file, "user default on nopass ~* &* +@all\n").expect("write");
    let path = file.display().to_string();
    let mut s = Server::start(&["--aclfile", &path]);
    let mut c = s.client();
    assert!(c
        .cmd(&[
            "ACL",
            "SETUSER",
            "alice",
            "on",
            ">pw",
            "%R~app:*",
            "+@read",
            "(+set ~w:*)"
        ])
        .is_ok());
    assert!(c
        .cmd(&[
            "ACL",
            "SETUSER",
            "bob",
            "off",
            "nopass",
            "+@all",
            "-@dangerous"
        ])
        .is_ok());
    let before = c.cmd(&["ACL", "LIST"]);
    assert!(c.cmd(&["ACL", "SAVE"]).is_ok());
    let saved = std::fs::read_to_string(&file).expect("read");
    assert!(saved.starts_with("user alice on #"), "{saved}");
    s.stop();
    s.spawn();
    let mut c = s.client();
    assert_eq!(c.cmd(&["ACL", "LIST"]), before);
    let mut a = s.client();
    assert!(a.cmd(&["AUTH", "alice", "pw"]).is_ok());
    assert!(a.cmd(&["SET", "w:1", "x"]).is_ok());
    assert!(a.cmd(&["SET", "app:1", "x"]).is_error());

    // ACL LOAD: all or nothing, and the error names the file and line.
    std::fs::write(
        &file,
        "user carol on nopass +@all ~*\nuser dave on +nosuch\n",
    )
    .expect("write");
    let e = c.cmd(&["ACL", "LOAD"]).err_text().to_string();
    assert!(
        e.contains("users.acl:2: Unknown command or category name in ACL"),
        "{e}"
    );
    assert_eq!(
        c.cmd(&["ACL", "LIST"]),
        before,
        "a bad file changes nothing"
    );
    std::fs::write(&file, "user carol on nopass +@all ~*\n").expect("write");
    assert!(c.cmd(&["ACL", "LOAD"]).is_ok());
    let users = c.cmd(&["ACL", "USERS"]);
    assert_eq!(
        users,
        Reply::Array(vec![Reply::bulk("carol"), Reply::bulk("default")])
    );
    assert!(
        a.is_closed(),
        "users replaced by ACL LOAD lose their connections"
    );

    // A bad file at start: the server does not start, and says why.
    std::fs::write(&file, "user erin on +@nosuch\n").expect("write");
    s.stop();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            "--port",
            "0",
            "--dir",
            &tmp.path().join("d2").display().to_string(),
            "--aclfile",
            &path,
        ])
        .output()
        .expect("run");
    assert!(!child.status.success());
    let err = String::from_utf8_lossy(&child.stderr);
    assert!(
        err.contains("users.acl:1: Unknown command or category name in ACL"),
        "{err}"
    );
}

#[test]
fn user_lines_in_the_config_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = tmp.path().join("strata.conf");
    std::fs::write(
        &conf,
        "user default on nopass ~* &* +@all\nuser ops on >opspw ~* &* +@all -@dangerous\nuser ro on >ropw ~* +@read\n",
    )
    .expect("write");
    let s = Server::start(&[&conf.display().to_string()]);
    let mut c = s.client();
    assert!(c.cmd(&["AUTH", "ro", "ropw"]).is_ok());
    assert!(c.cmd(&["SET", "k", "v"]).is_error());
    assert!(c.cmd(&["AUTH", "ops", "opspw"]).is_ok());
    assert!(c.cmd(&["SET", "k", "v"]).is_ok());
    assert!(c.cmd(&["DEBUG", "SLEEP", "0"]).is_error());
    // CONFIG REWRITE writes the users as they are now; a restart has them.
    assert!(c.cmd(&["AUTH", "default", "x"]).is_ok());
    assert!(c
        .cmd(&["ACL", "SETUSER", "late", "on", ">latepw", "~l:*", "+@all"])
        .is_ok());
    assert_eq!(c.cmd(&["ACL", "DELUSER", "ro"]).int(), 1);
    let before = c.cmd(&["ACL", "LIST"]);
    assert!(c.cmd(&["CONFIG", "REWRITE"]).is_ok());
    let text = std::fs::read_to_string(&conf).expect("read");
    assert!(
        text.contains("user late on #") && !text.contains("user ro "),
        "{text}"
    );
    let mut s = s;
    s.stop();
    s.spawn();
    let mut c = s.client();
    assert_eq!(c.cmd(&["ACL", "LIST"]), before);

    std::fs::write(&conf, "user bad on +@nosuch\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            &conf.display().to_string(),
            "--port",
            "0",
            "--dir",
            &tmp.path().join("d").display().to_string(),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1") && err.contains("+@nosuch"), "{err}");
}

/// ACL LOG entries against redis-server: the same refusals give the same entries (count,
/// reason, context, object, username), in the same order.
#[test]
fn acl_log_matches_redis_server() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    let script: &[&[&str]] = &[
        &["ACL", "LOG", "RESET"],
        &[
            "ACL", "SETUSER", "u", "on", "nopass", "~k:*", "+get", "+set", "+publish", "&c",
            "+multi", "+exec", "+eval",
        ],
        &["AUTH", "u", "x"],
        &["GET", "k:1"],
        &["GET", "no"],
        &["GET", "no"],
        &["DEL", "k:1"],
        &["PUBLISH", "other", "m"],
        &["MULTI"],
        &["SET", "other", "v"],
        &["EXEC"],
        &["EVAL", "return redis.call('get', 'other')", "0"],
        &["AUTH", "u2", "bad"],
        &["AUTH", "default", "x"],
        &["ACL", "LOG", "20"],
    ];
    let run = |port: u16| -> Vec<Vec<(String, String)>> {
        let mut c = Client::connect(port);
        let mut last = Reply::Nil;
        for args in script {
            last = c.cmd(args);
        }
        c.cmd(&["ACL", "DELUSER", "u"]);
        last.array()
            .iter()
            .map(|e| {
                e.array()
                    .chunks(2)
                    .filter(|kv| !matches!(kv[0].text().as_str(), "age-seconds" | "client-info"))
                    .map(|kv| (kv[0].text(), format!("{:?}", kv[1])))
                    .collect()
            })
            .collect()
    };
    let expected = run(redis.port);
    let got = run(strata.port);
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn users_bound_to_a_namespace() {
    let s = Server::start(&["--requirepass", "adminpw"]);
    let mut admin = s.client();
    assert!(admin.cmd(&["AUTH", "adminpw"]).is_ok());
    assert!(admin
        .cmd(&["NAMESPACE", "ADD", "team", "teamtoken"])
        .is_ok());
    assert!(admin.cmd(&["SET", "k", "admin"]).is_ok());
    assert!(admin
        .cmd(&[
            "ACL",
            "SETUSER",
            "t-ro",
            "on",
            ">pw",
            "namespace=team",
            "%R~*",
            "+@read",
            "+@connection"
        ])
        .is_ok());
    assert!(admin
        .cmd(&[
            "ACL",
            "SETUSER",
            "t-rw",
            "on",
            ">pw",
            "namespace=team",
            "~*",
            "+@all"
        ])
        .is_ok());
    let list: Vec<String> = admin
        .cmd(&["ACL", "LIST"])
        .array()
        .iter()
        .map(|l| l.text())
        .collect();
    assert!(
        list.iter().any(|l| l.contains(" namespace=team ")),
        "{list:?}"
    );
    let mut rw = s.client();
    assert!(rw.cmd(&["AUTH", "t-rw", "pw"]).is_ok());
    assert!(
        rw.cmd(&["GET", "k"]).is_null(),
        "the namespace's keyspace, not the admin's"
    );
    assert!(rw.cmd(&["SET", "k", "team"]).is_ok());
    // Admin commands stay refused inside a namespace whatever the rules.
    assert!(rw
        .cmd(&["CONFIG", "GET", "port"])
        .err_text()
        .starts_with("NOPERM"));
    assert!(rw
        .cmd(&["ACL", "SETUSER", "x"])
        .err_text()
        .starts_with("NOPERM"));
    let mut ro = s.client();
    assert!(ro.cmd(&["AUTH", "t-ro", "pw"]).is_ok());
    assert_eq!(ro.cmd(&["GET", "k"]), Reply::bulk("team"));
    assert!(ro.cmd(&["SET", "k", "x"]).err_text().starts_with("NOPERM"));
    assert_eq!(admin.cmd(&["GET", "k"]), Reply::bulk("admin"));
    // Dropping the namespace ends its clients, as for token clients.
    assert!(admin.cmd(&["NAMESPACE", "DEL", "team"]).is_ok());
    assert!(wait_until(Duration::from_secs(5), || ro.is_closed()));
    let mut again = s.client();
    assert!(again
        .cmd(&["AUTH", "t-ro", "pw"])
        .err_text()
        .contains("namespace 'team'"));
}

#[test]
fn replica_logs_in_with_masteruser() {
    let master = Server::start(&["--requirepass", "unused-default"]);
    let mut m = master.client();
    assert!(m.cmd(&["AUTH", "unused-default"]).is_ok());
    assert!(m
        .cmd(&[
            "ACL",
            "SETUSER",
            "repl",
            "on",
            ">replpw",
            "+psync",
            "+replconf",
            "+ping",
            "+syncfile",
            "+auth"
        ])
        .is_ok());
    assert!(m.cmd(&["SET", "k", "v"]).is_ok());
    let port = master.port.to_string();
    let replica = Server::start(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--masteruser",
        "repl",
        "--masterauth",
        "replpw",
    ]);
    let mut r = replica.client();
    assert!(
        wait_until(Duration::from_secs(30), || r.cmd(&["GET", "k"])
            == Reply::bulk("v")),
        "replica log:\n{}",
        replica.log_text()
    );
    assert!(m.cmd(&["SET", "k", "v2"]).is_ok());
    assert!(wait_until(Duration::from_secs(10), || r.cmd(&["GET", "k"])
        == Reply::bulk("v2")));
}

/// redis-py's ACL API (modelled on redis-py's own ACL tests): the same script passes against
/// Debian's redis-server and against Strata.
#[test]
fn redis_py_acl_api() {
    let redis = RedisServer::start();
    let strata = Server::start(&[]);
    for (who, port) in [("redis-server", redis.port), ("strata", strata.port)] {
        let (ok, text) = crate::util::run_python("redis_py_acl.py", port);
        assert!(ok, "{who}: {text}");
        assert!(text.contains("redis-py acl ok"), "{who}: {text}");
    }
}
