//! TLS, black box: certificates made with the openssl command (a CA, a server and a client
//! certificate), Debian's redis-cli over `--tls`, client certificates required or not,
//! certificates reloaded with CONFIG SET, and a replica syncing over TLS.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{free_port, run_tool, Reply, Server};

pub use testkit::{make_certs, openssl, Certs};

fn tls_args(c: &Certs, port: &str) -> Vec<String> {
    vec![
        "--tls-port".into(),
        port.into(),
        "--tls-cert-file".into(),
        c.path("server.crt"),
        "--tls-key-file".into(),
        c.path("server.key"),
        "--tls-ca-cert-file".into(),
        c.path("ca.crt"),
    ]
}

fn cli(c: &Certs, port: u16, with_cert: bool, cmd: &[&str]) -> (bool, String) {
    let port = port.to_string();
    let ca = c.path("ca.crt");
    let cert = c.path("client.crt");
    let key = c.path("client.key");
    let mut args: Vec<&str> = vec!["--tls", "--cacert", &ca, "-p", &port];
    if with_cert {
        args.extend(["--cert", &cert, "--key", &key]);
    }
    args.extend(cmd);
    run_tool("redis-cli", &args)
}

/// The subject CN of the certificate the server presents now.
fn presented_cn(c: &Certs, port: u16) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &c.path("ca.crt"),
            "-cert",
            &c.path("client.crt"),
            "-key",
            &c.path("client.key"),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn redis_cli_over_tls_with_client_certificates() {
    let certs = make_certs();
    let tls_port = free_port();
    let args = tls_args(&certs, &tls_port.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args);
    // redis-cli --tls with a client certificate.
    let (ok, out) = cli(&certs, tls_port, true, &["SET", "k", "over-tls"]);
    assert!(ok && out.trim() == "OK", "{out}");
    let (ok, out) = cli(&certs, tls_port, true, &["GET", "k"]);
    assert!(ok && out.trim() == "over-tls", "{out}");
    // The plain port serves the same data.
    let mut plain = s.client();
    assert_eq!(plain.cmd(&["GET", "k"]), Reply::bulk("over-tls"));
    // tls-auth-clients yes (the default): no certificate, no connection.
    let (_, out) = cli(&certs, tls_port, false, &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
    // optional: a client without a certificate is let in.
    assert!(plain
        .cmd(&["CONFIG", "SET", "tls-auth-clients", "optional"])
        .is_ok());
    let (ok, out) = cli(&certs, tls_port, false, &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
    // A large value and a pipeline of commands cross TLS records intact.
    let big = "x".repeat(100_000);
    let (ok, out) = cli(&certs, tls_port, false, &["SET", "big", &big]);
    assert!(ok && out.trim() == "OK", "{out}");
    let (ok, out) = cli(&certs, tls_port, false, &["STRLEN", "big"]);
    assert!(ok && out.trim() == "100000", "{out}");
    let (ok, out) = run_tool(
        "redis-benchmark",
        &[
            "--tls",
            "--cacert",
            &certs.path("ca.crt"),
            "-p",
            &tls_port.to_string(),
            "-n",
            "2000",
            "-c",
            "4",
            "-P",
            "16",
            "-t",
            "set,get",
            "-q",
        ],
    );
    assert!(ok && out.contains("SET") && out.contains("GET"), "{out}");

    // Certificates reloaded without a restart: new connections see the new one.
    assert!(presented_cn(&certs, tls_port).contains("strata-server"));
    assert!(plain
        .cmd(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &certs.path("server2.crt"),
            "tls-key-file",
            &certs.path("server2.key"),
        ])
        .is_ok());
    assert!(
        presented_cn(&certs, tls_port).contains("strata-reloaded"),
        "{}",
        presented_cn(&certs, tls_port)
    );
    // A file that cannot be read changes nothing, and says why.
    let e = plain.cmd(&["CONFIG", "SET", "tls-cert-file", "/nonexistent/cert.pem"]);
    assert!(
        e.err_text().contains("Unable to update TLS configuration"),
        "{e:?}"
    );
    assert_eq!(
        plain.cmd(&["CONFIG", "GET", "tls-cert-file"]).array()[1],
        Reply::bulk(&certs.path("server2.crt"))
    );
    let (ok, out) = cli(&certs, tls_port, true, &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
    // Garbage on the TLS port is a failed handshake, not a crash.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", tls_port)).expect("connect");
    use std::io::Write;
    let _ = raw.write_all(b"PING\r\n*1\r\n$4\r\nPING\r\n");
    drop(raw);
    assert_eq!(plain.cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn tls_only_server_and_bad_certificates_at_start() {
    let certs = make_certs();
    let tmp = tempfile::tempdir().expect("tempdir");
    let tls_port = free_port();
    // The key encrypted with a password (PKCS#8, as `openssl ... -passout` writes it).
    openssl(
        &certs.dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "server.key",
            "-out",
            "server-enc.key",
            "-passout",
            "pass:s3cret",
        ],
    );
    let mut args = tls_args(&certs, &tls_port.to_string());
    let at = args
        .iter()
        .position(|a| a == "--tls-key-file")
        .expect("key arg")
        + 1;
    args[at] = certs.path("server-enc.key");
    args.extend([
        "--tls-key-file-pass".into(),
        "s3cret".into(),
        "--port".into(),
        "0".into(),
        "--tls-auth-clients".into(),
        "no".into(),
        "--dir".into(),
        tmp.path().join("d").display().to_string(),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let t = Instant::now();
    let mut pong = String::new();
    while t.elapsed() < Duration::from_secs(20) {
        let (ok, out) = cli(&certs, tls_port, false, &["PING"]);
        if ok && out.trim() == "PONG" {
            pong = out;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(pong.trim(), "PONG");

    // A key that does not match... a missing file: the server does not start, and says so.
    let out = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            "--port",
            "0",
            "--dir",
            &tmp.path().join("e").display().to_string(),
            "--tls-port",
            &free_port().to_string(),
            "--tls-cert-file",
            "/nonexistent.crt",
            "--tls-key-file",
            &certs.path("server.key"),
            "--tls-auth-clients",
            "no",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls-cert-file '/nonexistent.crt'"), "{err}");
    // A wrong password for the encrypted key: no start either.
    let out = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            "--port",
            "0",
            "--dir",
            &tmp.path().join("f").display().to_string(),
            "--tls-port",
            &free_port().to_string(),
            "--tls-cert-file",
            &certs.path("server.crt"),
            "--tls-key-file",
            &certs.path("server-enc.key"),
            "--tls-key-file-pass",
            "wrong",
            "--tls-auth-clients",
            "no",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot decrypt the key"), "{err}");
}

#[test]
fn replica_syncs_over_tls() {
    let certs = make_certs();
    let m_tls = free_port();
    let margs = tls_args(&certs, &m_tls.to_string());
    let margs: Vec<&str> = margs.iter().map(String::as_str).collect();
    let master = Server::start(&margs);
    let mut m = master.client();
    for i in 0..500 {
        assert!(m.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]).is_ok());
    }
    let r_tls = free_port();
    let mut rargs = tls_args(&certs, &r_tls.to_string());
    let mp = m_tls.to_string();
    rargs.extend([
        "--tls-replication".into(),
        "yes".into(),
        "--replicaof".into(),
        "127.0.0.1".into(),
        mp,
    ]);
    let rargs: Vec<&str> = rargs.iter().map(String::as_str).collect();
    let replica = Server::start(&rargs);
    let mut r = replica.client();
    let wait = |r: &mut crate::util::Client, key: &str, want: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if r.cmd(&["GET", key]) == Reply::bulk(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    assert!(
        wait(&mut r, "k499", "v499"),
        "full sync over TLS; replica log:\n{}",
        replica.log_text()
    );
    assert!(m.cmd(&["SET", "after", "incremental"]).is_ok());
    assert!(wait(&mut r, "after", "incremental"), "incremental over TLS");
    // The master sees its replica on the TLS port's connection.
    let info = m.cmd(&["INFO", "replication"]).text();
    assert!(info.contains("connected_slaves:1"), "{info}");
    // A replica without TLS cannot use the TLS port.
    let p2 = m_tls.to_string();
    let plain_replica = Server::start(&["--replicaof", "127.0.0.1", &p2]);
    std::thread::sleep(Duration::from_secs(1));
    let mut pr = plain_replica.client();
    assert!(pr.cmd(&["GET", "k1"]).is_null());
}
