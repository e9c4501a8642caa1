//! Test support: start the real `strata-server` binary on a free port with a temporary data
//! directory, and a small synchronous RESP client that shows replies exactly as sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_strata-server");

/// A reply as received (RESP2 and RESP3 types).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    NilArray,
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(String),
    /// RESP3 big number (`(`).
    BigNumber(String),
    /// RESP3 out-of-band data (`>`).
    Push(Vec<Reply>),
}

impl Reply {
    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }
    pub fn err_text(&self) -> &str {
        match self {
            Reply::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
    pub fn text(&self) -> String {
        match self {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Status(s) | Reply::Verbatim(s) | Reply::Double(s) => s.clone(),
            other => panic!("expected text, got {other:?}"),
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Reply::Nil | Reply::NilArray)
    }
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(a) | Reply::Set(a) | Reply::Push(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// The real server process; killed when dropped.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_prepared(args, |_| {})
    }

    /// Like [`Server::start`], after `prepare` has filled the (not yet existing) data
    /// directory, e.g. with a copied binlog.
    pub fn start_prepared(args: &[&str], prepare: impl FnOnce(&std::path::Path)) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        prepare(&dir.join("data"));
        let mut s = Server {
            child: None,
            port: 0,
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            log: PathBuf::new(),
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// Starts (again) on a fresh free port with the same data directory and arguments.
    pub fn spawn(&mut self) {
        self.spawn_with(None)
    }

    /// Starts again on the same port (peers such as Sentinel know it by its address).
    pub fn respawn_same_port(&mut self) {
        self.spawn_with(Some(self.port))
    }

    fn spawn_with(&mut self, fixed: Option<u16>) {
        for attempt in 0..5 {
            let port = fixed.unwrap_or_else(free_port);
            let log = self.dir.join(format!("server-{port}.log"));
            let mut cmd = Command::new(BIN);
            // A config file given as first argument must stay first.
            let mut args = self.args.clone();
            let conf_first = args.first().is_some_and(|a| !a.starts_with("--"));
            let mut base = vec![
                "--port".to_string(),
                port.to_string(),
                "--dir".to_string(),
                self.dir.join("data").display().to_string(),
            ];
            if conf_first {
                let conf = args.remove(0);
                base.insert(0, conf);
            }
            base.extend(args);
            cmd.args(&base)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            let child = cmd.spawn().expect("spawn strata-server");
            self.child = Some(child);
            self.port = port;
            self.log = log;
            if self.wait_ready(Duration::from_secs(30)) {
                return;
            }
            let _ = self.kill9();
            eprintln!(
                "server did not start on port {port} (attempt {attempt}); log:\n{}",
                self.log_text()
            );
        }
        panic!("server did not start");
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut c) = Client::try_connect(self.port) {
                match c.try_cmd(&["PING"]) {
                    Ok(Reply::Status(s)) if s == "PONG" => return true,
                    Ok(Reply::Error(e)) if e.starts_with("NOAUTH") => return true,
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        false
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) -> std::io::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "server pid {} did not stop within 30 s of SIGTERM; its log:\n{}",
            c.id(),
            self.log_text()
        );
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Waits up to `limit` for the server to exit by itself: its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let c = self.child.as_mut()?;
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn rss_kb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// A blocking RESP client that returns replies exactly as the server sent them.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn try_connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client { stream, reader })
    }

    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).expect("connect")
    }

    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn try_cmd(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send_raw(&Self::encode(&a))?;
        self.read_reply()
    }

    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.send_raw(&Self::encode(args)).expect("send");
        self.read_reply().expect("reply")
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        let n = self.reader.read_line(&mut l)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(l.trim_end_matches("\r\n").to_string())
    }

    fn bulk_body(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; n + 2];
        self.reader.read_exact(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let l = self.line()?;
        let (t, rest) = l.split_at(1);
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad reply");
        Ok(match t {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Reply::Nil
                } else {
                    Reply::Bulk(self.bulk_body(n as usize)?)
                }
            }
            "*" | "~" | ">" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Reply::NilArray
                } else {
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(self.read_reply()?);
                    }
                    if t == "~" {
                        Reply::Set(v)
                    } else if t == ">" {
                        Reply::Push(v)
                    } else {
                        Reply::Array(v)
                    }
                }
            }
            "%" => {
                let n: usize = rest.parse().map_err(|_| bad())?;
                let mut v = Vec::new();
                for _ in 0..n {
                    let k = self.read_reply()?;
                    let val = self.read_reply()?;
                    v.push((k, val));
                }
                Reply::Map(v)
            }
            "_" => Reply::Nil,
            "," => Reply::Double(rest.into()),
            "(" => Reply::BigNumber(rest.into()),
            "#" => Reply::Bool(rest == "t"),
            "=" => {
                let n: usize = rest.parse().map_err(|_| bad())?;
                let body = self.bulk_body(n)?;
                Reply::Verbatim(String::from_utf8_lossy(&body[4..]).into_owned())
            }
            _ => return Err(bad()),
        })
    }

    /// True when the server closed the connection (EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}

/// Runs one of the Python scripts of `tests/py` (redis-py against a server) with the server's
/// port: (exit ok, stdout+stderr).
/// Reads Pub/Sub messages (RESP2 or RESP3) until one on the channel `__keyspace@0__:END` (a
/// marker the test PUBLISHes after its commands): the (channel, payload) pairs before it.
pub fn events_until_end(c: &mut Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let v = match c.read_reply().expect("event") {
            Reply::Array(v) | Reply::Push(v) => v,
            other => panic!("not a message: {other:?}"),
        };
        let text = |r: &Reply| match r {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        let (ch, payload) = (text(&v[v.len() - 2]), text(&v[v.len() - 1]));
        if ch == "__keyspace@0__:END" {
            return out;
        }
        out.push((ch, payload));
    }
}

pub fn run_python(script: &str, port: u16) -> (bool, String) {
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    run_tool("python3", &[&path, &port.to_string()])
}

/// Runs a command-line tool and returns (exit ok, stdout+stderr).
pub fn run_tool(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
