//! `strata-sync`: follows a Strata server like a replica — snapshot first, then the binlog
//! stream — and applies every change, in order, to a target Redis-protocol server (Redis,
//! another Strata, twemproxy). See `docs/sync.md` for options, exit codes and guarantees.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use binlog::record::{decode, LoggedCommand, Payload};
use bytes::Bytes;
use replication::client::{encode_request, Conn, Reply};
use replication::manifest::Manifest;
use replication::staging::Staging;

const EXIT_FATAL: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_DROPPED: i32 = 3;
const EXIT_AUTH: i32 = 4;
const EXIT_REJECTED: i32 = 5;

/// With transactions, the target keeps the position here (db 0), in the same MULTI/EXEC as
/// the records it covers.
const POSITION_KEY: &str = "strata-sync:position";

const USAGE: &str =
    "usage: strata-sync --source HOST:PORT [--source-user USER] [--source-password PW]
                   [--source-tls] [--namespace NAME]
                   --target HOST:PORT [--target-user USER] [--target-password PW]
                   [--target-tls] --state-file PATH
                   [--tls-ca-cert-file PATH] [--tls-cert-file PATH --tls-key-file PATH]
                   [--work-dir DIR] [--status-file PATH] [--no-transactions]";

#[derive(Clone, Debug)]
struct Opts {
    source: String,
    /// ACL user to log in as (AUTH user password); empty: the default user.
    source_user: String,
    source_password: String,
    /// Connect over TLS (the server's `tls-port`).
    source_tls: bool,
    target_user: String,
    target_tls: bool,
    tls_ca_cert_file: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    namespace: Option<String>,
    target: String,
    target_password: String,
    state_file: PathBuf,
    work_dir: PathBuf,
    status_file: Option<PathBuf>,
    /// Each record in MULTI/EXEC with the position (exactly once); off for targets without
    /// transactions (twemproxy).
    transactions: bool,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        source: String::new(),
        source_user: String::new(),
        source_password: String::new(),
        source_tls: false,
        target_user: String::new(),
        target_tls: false,
        tls_ca_cert_file: None,
        tls_cert_file: None,
        tls_key_file: None,
        namespace: None,
        target: String::new(),
        target_password: String::new(),
        state_file: PathBuf::new(),
        work_dir: PathBuf::new(),
        status_file: None,
        transactions: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--source" => o.source = val()?,
            "--source-password" => o.source_password = val()?,
            "--source-user" => o.source_user = val()?,
            "--source-tls" => o.source_tls = true,
            "--target-user" => o.target_user = val()?,
            "--target-tls" => o.target_tls = true,
            "--tls-ca-cert-file" => o.tls_ca_cert_file = Some(val()?),
            "--tls-cert-file" => o.tls_cert_file = Some(val()?),
            "--tls-key-file" => o.tls_key_file = Some(val()?),
            "--namespace" => o.namespace = Some(val()?),
            "--target" => o.target = val()?,
            "--target-password" => o.target_password = val()?,
            "--state-file" => o.state_file = PathBuf::from(val()?),
            "--work-dir" => o.work_dir = PathBuf::from(val()?),
            "--status-file" => o.status_file = Some(PathBuf::from(val()?)),
            "--no-transactions" => o.transactions = false,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.source.is_empty() || o.target.is_empty() || o.state_file.as_os_str().is_empty() {
        return Err("--source, --target and --state-file are required".into());
    }
    if (o.source_tls || o.target_tls) && o.tls_ca_cert_file.is_none() {
        return Err("--source-tls/--target-tls need --tls-ca-cert-file".into());
    }
    if o.tls_cert_file.is_some() != o.tls_key_file.is_some() {
        return Err("--tls-cert-file and --tls-key-file go together".into());
    }
    if o.work_dir.as_os_str().is_empty() {
        o.work_dir = o.state_file.with_extension("work");
    }
    Ok(o)
}

/// Why a session ended.
#[derive(Debug)]
enum Stop {
    /// Retried with backoff: source or target unreachable, loading, storage full, link down.
    Transient(String),
    /// The followed namespace was dropped at the source.
    Dropped(String),
    Auth(String),
    /// The target refused data permanently (a wrong type, a syntax error).
    Rejected(String),
    Fatal(String),
    /// SIGTERM/SIGINT.
    Signal,
}

fn io(e: impl std::fmt::Display) -> Stop {
    Stop::Transient(e.to_string())
}

/// Sorts an error reply by its prefix (`docs/errors.md`).
fn classify(side: &str, e: &str) -> Stop {
    let prefix = e.split(' ').next().unwrap_or("");
    match prefix {
        "NOAUTH" | "WRONGPASS" | "NOPERM" => Stop::Auth(format!("{side}: {e}")),
        "NONAMESPACE" => Stop::Dropped(e.to_string()),
        "LOADING" | "BUSY" | "STORAGEFULL" | "IOERR" | "READONLY" | "MASTERDOWN" | "TRYAGAIN"
        | "CLUSTERDOWN" => Stop::Transient(format!("{side}: {e}")),
        _ if side == "target" => Stop::Rejected(format!("target: {e}")),
        _ => Stop::Fatal(format!("{side}: {e}")),
    }
}

/// The saved position: history id and last applied offset, and the namespace followed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    replid: String,
    offset: u64,
    base: u32,
}

impl State {
    fn load(path: &Path) -> Result<Option<State>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut st = State {
            replid: String::new(),
            offset: 0,
            base: 0,
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("replid", v)) => st.replid = v.to_string(),
                Some(("offset", v)) => st.offset = v.parse().map_err(|_| "bad offset")?,
                Some(("base", v)) => st.base = v.parse().map_err(|_| "bad base")?,
                _ => {}
            }
        }
        if st.replid.is_empty() {
            return Err(format!("{}: no replid", path.display()));
        }
        Ok(Some(st))
    }

    /// Written to a temporary file, fsync'd, renamed.
    fn store(&self, path: &Path) -> std::io::Result<()> {
        replication::write_atomically(
            path,
            format!(
                "replid {}\noffset {}\nbase {}\n",
                self.replid, self.offset, self.base
            )
            .as_bytes(),
        )
    }
}

/// Progress for people (stderr) and machines (`--status-file`).
struct Progress {
    started: Instant,
    applied_records: u64,
    last_print: Instant,
    last_count: u64,
    phase: &'static str,
    source_offset: u64,
    offset: u64,
    snapshot_done: u64,
    snapshot_total: u64,
    status_file: Option<PathBuf>,
    last_state: String,
    /// When the last record applied was written at the source (Unix ms).
    record_ms: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Progress {
    fn tick(&mut self, force: bool) {
        if !force && self.last_print.elapsed() < Duration::from_secs(1) {
            return;
        }
        let secs = self.last_print.elapsed().as_secs_f64().max(0.001);
        let rate = (self.applied_records - self.last_count) as f64 / secs;
        self.last_print = Instant::now();
        self.last_count = self.applied_records;
        let lag = self.source_offset.saturating_sub(self.offset);
        // Seconds behind: the age of the last record applied, while records are pending.
        let lag_s = if lag == 0 || self.record_ms == 0 {
            0.0
        } else {
            now_ms().saturating_sub(self.record_ms) as f64 / 1000.0
        };
        if self.phase == "snapshot" && self.snapshot_total > 0 {
            let pct = self.snapshot_done as f64 * 100.0 / self.snapshot_total as f64;
            let bar = "#".repeat((pct / 5.0) as usize);
            eprintln!(
                "strata-sync: snapshot [{bar:<20}] {pct:5.1}% ({} / {} bytes)",
                self.snapshot_done, self.snapshot_total
            );
        } else {
            eprintln!(
                "strata-sync: {} offset {} records/s {:.0} lag {} records {:.1} s",
                self.phase, self.offset, rate, lag, lag_s
            );
        }
        if let Some(p) = &self.status_file {
            let json = format!(
                "{{\"phase\":\"{}\",\"offset\":{},\"source_offset\":{},\"lag_records\":{},\"lag_seconds\":{:.1},\"records_per_sec\":{:.0},\"applied_records\":{},\"snapshot_bytes_done\":{},\"snapshot_bytes_total\":{},\"uptime_s\":{}}}\n",
                self.phase,
                self.offset,
                self.source_offset,
                lag,
                lag_s,
                rate,
                self.applied_records,
                self.snapshot_done,
                self.snapshot_total,
                self.started.elapsed().as_secs()
            );
            let _ = replication::write_atomically(p, json.as_bytes());
        }
    }

    /// Logs a state change once (not once per retry).
    fn state(&mut self, s: String) {
        if s != self.last_state {
            eprintln!("strata-sync: {s}");
            self.last_state = s;
        }
    }
}

/// One side's connection settings.
struct Side<'a> {
    addr: &'a str,
    user: &'a str,
    password: &'a str,
    tls: bool,
    name: &'a str,
}

impl Opts {
    fn source_side(&self) -> Side<'_> {
        Side {
            addr: &self.source,
            user: &self.source_user,
            password: &self.source_password,
            tls: self.source_tls,
            name: "source",
        }
    }

    fn target_side(&self) -> Side<'_> {
        Side {
            addr: &self.target,
            user: &self.target_user,
            password: &self.target_password,
            tls: self.target_tls,
            name: "target",
        }
    }

    /// The TLS client configuration, when a side uses TLS.
    fn tls_client(&self) -> Result<Option<replication::client::TlsClient>, Stop> {
        match &self.tls_ca_cert_file {
            Some(ca) if self.source_tls || self.target_tls => {
                replication::client::TlsClient::from_files(
                    ca,
                    self.tls_cert_file.as_deref(),
                    self.tls_key_file.as_deref(),
                )
                .map(Some)
                .map_err(|e| Stop::Fatal(format!("TLS: {e}")))
            }
            _ => Ok(None),
        }
    }
}

async fn connect(
    side: Side<'_>,
    tls: Option<&replication::client::TlsClient>,
) -> Result<Conn, Stop> {
    let (addr, name) = (side.addr, side.name);
    let tls = if side.tls { tls } else { None };
    let mut c = Conn::connect_with(addr, Duration::from_secs(5), tls)
        .await
        .map_err(|e| Stop::Transient(format!("{name} {addr} unreachable: {e}")))?;
    if !side.password.is_empty() {
        let reply = if side.user.is_empty() {
            c.call(&["AUTH", side.password], Duration::from_secs(10))
                .await
        } else {
            c.call(&["AUTH", side.user, side.password], Duration::from_secs(10))
                .await
        }
        .map_err(io)?;
        if let Reply::Error(e) = reply {
            return Err(classify(name, &e));
        }
    }
    Ok(c)
}

struct Sync {
    opts: Opts,
    state: Option<State>,
    progress: Progress,
    stop: Arc<AtomicBool>,
    target_db: u32,
}

impl Sync {
    fn base(&self) -> u32 {
        self.state.as_ref().map_or(0, |s| s.base)
    }

    fn save(&self) -> Result<(), Stop> {
        if let Some(st) = &self.state {
            st.store(&self.opts.state_file)
                .map_err(|e| Stop::Fatal(format!("cannot write the state file: {e}")))?;
        }
        Ok(())
    }

    async fn session(&mut self) -> Result<(), Stop> {
        let tls = self.opts.tls_client()?;
        let mut src = connect(self.opts.source_side(), tls.as_ref()).await?;
        let mut dst = connect(self.opts.target_side(), tls.as_ref()).await?;
        self.target_db = 0;
        if self.opts.transactions {
            // The target may be ahead of the state file (a crash between its EXEC and our
            // save): its position, committed with the data, wins.
            let r = dst
                .call(&["GET", POSITION_KEY], Duration::from_secs(10))
                .await
                .map_err(io)?;
            if let (Reply::Bulk(Some(v)), Some(st)) = (r, self.state.as_mut()) {
                let text = String::from_utf8_lossy(&v).into_owned();
                if let Some((id, off)) = text.split_once(' ') {
                    if id == st.replid {
                        if let Ok(off) = off.parse::<u64>() {
                            if off > st.offset {
                                st.offset = off;
                            }
                        }
                    }
                }
            }
        }
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Stop::Signal);
            }
            let (id, next) = match &self.state {
                Some(s) => (s.replid.clone(), (s.offset + 1).to_string()),
                None => ("?".to_string(), "-1".to_string()),
            };
            let reply = src
                .call(&["PSYNC", &id, &next], Duration::from_secs(600))
                .await
                .map_err(io)?;
            let text = match reply {
                Reply::Simple(s) => s,
                Reply::Error(e) => return Err(classify("source", &e)),
                other => return Err(Stop::Fatal(format!("unexpected PSYNC reply {other:?}"))),
            };
            let words: Vec<&str> = text.split(' ').collect();
            match words.as_slice() {
                ["CONTINUE", rid, _] => {
                    if let Some(st) = self.state.as_mut() {
                        st.replid = rid.to_string();
                    }
                    self.progress
                        .state(format!("following {} from offset {next}", self.opts.source));
                    return self.stream(&mut src, &mut dst).await;
                }
                ["FULLRESYNC", rid, offset, snap] => {
                    let offset: u64 = offset
                        .parse()
                        .map_err(|_| Stop::Fatal("bad offset".into()))?;
                    self.progress
                        .state(format!("full copy from snapshot {snap} (offset {offset})"));
                    let base = self.snapshot(snap, &mut dst).await?;
                    self.state = Some(State {
                        replid: rid.to_string(),
                        offset,
                        base,
                    });
                    self.save()?;
                    self.progress.offset = offset;
                }
                _ => return Err(Stop::Fatal(format!("unexpected PSYNC reply '{text}'"))),
            }
        }
    }

    /// Fetches the snapshot's files, opens them, and writes the followed namespace's keys to
    /// the target (each key replaced as a whole, so a copy that is started again is
    /// harmless). Returns the namespace's base keyspace id.
    async fn snapshot(&mut self, snap: &str, dst: &mut Conn) -> Result<u32, Stop> {
        let tls = self.opts.tls_client()?;
        let mut src = connect(self.opts.source_side(), tls.as_ref()).await?;
        let m = match src
            .call(&["SYNCFILE", "MANIFEST", snap], Duration::from_secs(30))
            .await
            .map_err(io)?
        {
            Reply::Bulk(Some(t)) => {
                Manifest::parse(&String::from_utf8_lossy(&t)).map_err(Stop::Fatal)?
            }
            Reply::Error(e) => return Err(classify("source", &e)),
            other => return Err(Stop::Fatal(format!("unexpected manifest reply {other:?}"))),
        };
        let root = self.opts.work_dir.join("snapshot");
        let staging = Staging::open(&root, &m).map_err(|e| Stop::Fatal(e.to_string()))?;
        self.progress.phase = "snapshot";
        self.progress.snapshot_total = m.total_bytes();
        self.progress.snapshot_done = staging.verified_bytes();
        for f in &m.files {
            let mut w = staging
                .writer(&f.name)
                .map_err(|e| Stop::Fatal(e.to_string()))?;
            while !w.is_complete() {
                if self.stop.load(Ordering::Relaxed) {
                    return Err(Stop::Signal);
                }
                let off = w.offset();
                let len = (4u64 << 20).min(f.size - off);
                let reply = src
                    .call(
                        &[
                            "SYNCFILE",
                            "READ",
                            snap,
                            &f.name,
                            &off.to_string(),
                            &len.to_string(),
                        ],
                        Duration::from_secs(60),
                    )
                    .await
                    .map_err(io)?;
                match reply {
                    Reply::Array(Some(items)) => match items.as_slice() {
                        [Reply::Bulk(Some(d)), Reply::Int(c)] => {
                            if w.write_chunk(off, d, *c as u32).is_ok() {
                                self.progress.snapshot_done += d.len() as u64;
                            }
                        }
                        _ => return Err(Stop::Fatal("malformed chunk reply".into())),
                    },
                    Reply::Error(e) => return Err(classify("source", &e)),
                    other => return Err(Stop::Fatal(format!("unexpected chunk reply {other:?}"))),
                }
                self.progress.tick(false);
            }
            w.finish().map_err(|e| Stop::Transient(e.to_string()))?;
        }
        let db_dir = staging.complete().map_err(|e| Stop::Fatal(e.to_string()))?;
        self.progress.tick(true);
        // Read it with the storage engine (our own copy: nothing else opens it).
        let opts = storage::StorageOptions::new(&db_dir);
        let engine = storage::Storage::open(&opts)
            .map_err(|e| Stop::Fatal(format!("cannot open the snapshot: {e}")))?;
        let cx = storage::WriteCx::new();
        let st = engine.db(&cx);
        let base = match &self.opts.namespace {
            None => 0,
            Some(name) => match st
                .namespaces()
                .map_err(|e| Stop::Fatal(e.to_string()))?
                .into_iter()
                .find(|e| &e.name == name)
            {
                Some(e) => e.base,
                None => {
                    return Err(Stop::Dropped(format!(
                        "namespace '{name}' does not exist at the source"
                    )))
                }
            },
        };
        self.progress.phase = "loading";
        let mut copied = 0u64;
        for db in 0..16u32 {
            // Where the database's data is (SWAPDB); records name databases as clients do.
            let ks = st.physical(base + db);
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = st
                    .scan(ks, after.as_deref(), 1000, None, None)
                    .map_err(|e| Stop::Fatal(e.to_string()))?;
                let mut out = bytes::BytesMut::new();
                let mut n = 0;
                self.select(db, &mut out, &mut n);
                for key in &page.keys {
                    n += key_commands(&st, ks, key, &mut out)
                        .map_err(|e| Stop::Fatal(e.to_string()))?;
                    copied += 1;
                }
                send_and_check(dst, &out, n).await?;
                self.progress.applied_records = copied;
                self.progress.tick(false);
                match page.next {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
        }
        // The namespace's function libraries (FUNCTION LOAD ... REPLACE); later loads,
        // deletions and flushes arrive as records.
        let libraries = st
            .function_libraries(Some(base))
            .map_err(|e| Stop::Fatal(e.to_string()))?;
        if !libraries.is_empty() {
            let mut out = bytes::BytesMut::new();
            for lib in &libraries {
                let args: [&[u8]; 4] = [b"FUNCTION", b"LOAD", b"REPLACE", &lib.code];
                encode_request(&args, &mut out);
            }
            send_and_check(dst, &out, libraries.len()).await?;
        }
        drop(engine);
        let _ = Staging::discard(&root);
        eprintln!(
            "strata-sync: snapshot copied: {copied} keys, {} function libraries",
            libraries.len()
        );
        self.progress.phase = "streaming";
        Ok(base)
    }

    fn select(&mut self, db: u32, out: &mut bytes::BytesMut, n: &mut usize) {
        if self.target_db != db {
            encode_request(&["SELECT".as_bytes(), db.to_string().as_bytes()], out);
            *n += 1;
            self.target_db = db;
        }
    }

    /// Applies the stream: each record (of the followed namespace) in order, its commands in
    /// MULTI/EXEC when it has several; the position is saved after every batch.
    async fn stream(&mut self, src: &mut Conn, dst: &mut Conn) -> Result<(), Stop> {
        self.progress.phase = "streaming";
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Stop::Signal);
            }
            let first = match tokio::time::timeout(Duration::from_millis(500), src.read()).await {
                Ok(r) => r.map_err(io)?,
                Err(_) => {
                    self.progress.tick(false);
                    continue;
                }
            };
            let mut next = Some(first);
            let mut out = bytes::BytesMut::new();
            let mut replies = 0usize;
            if self.opts.transactions {
                // The batch and the new position commit together on the target: after a
                // crash at any moment, no record is applied twice nor lost.
                encode_request(&[&b"MULTI"[..]], &mut out);
                replies += 1;
            }
            let mut last = None;
            let mut records = 0u64;
            while let Some(msg) = next.take() {
                let Reply::Array(Some(items)) = msg else {
                    return Err(Stop::Transient("unexpected message from the source".into()));
                };
                match items.as_slice() {
                    [Reply::Bulk(Some(k)), Reply::Int(off), Reply::Int(ts), Reply::Bulk(Some(p))]
                        if k.eq_ignore_ascii_case(b"rec") =>
                    {
                        let off = *off as u64;
                        self.progress.record_ms = *ts as u64;
                        let payload =
                            decode(p).map_err(|e| Stop::Fatal(format!("record {off}: {e}")))?;
                        if let Payload::Commands { cmds, .. } = payload {
                            replies += self.record(cmds, &mut out)?;
                        }
                        last = Some(off);
                        records += 1;
                    }
                    [Reply::Bulk(Some(k)), Reply::Int(off)] if k.eq_ignore_ascii_case(b"ping") => {
                        self.progress.source_offset = self.progress.source_offset.max(*off as u64);
                    }
                    _ => return Err(Stop::Transient("malformed message from the source".into())),
                }
                if records < 1000 {
                    next = replication::client::parse_reply(&mut src.rbuf).map_err(io)?;
                }
            }
            if let Some(off) = last {
                if self.opts.transactions {
                    self.select(0, &mut out, &mut replies);
                    let pos = format!(
                        "{} {off}",
                        self.state.as_ref().map_or("", |s| s.replid.as_str())
                    );
                    encode_request(&[b"SET", POSITION_KEY.as_bytes(), pos.as_bytes()], &mut out);
                    encode_request(&[&b"EXEC"[..]], &mut out);
                    replies += 2;
                }
                send_and_check(dst, &out, replies).await?;
                if let Some(st) = self.state.as_mut() {
                    st.offset = off;
                }
                self.save()?;
                self.progress.offset = off;
                self.progress.source_offset = self.progress.source_offset.max(off);
                self.progress.applied_records += records;
            }
            let ack = self.progress.offset.to_string();
            src.send(&["REPLCONF", "ACK", &ack]).await.map_err(io)?;
            self.progress.tick(false);
        }
    }

    /// Encodes one record's commands for the target; returns how many replies to expect.
    fn record(
        &mut self,
        cmds: Vec<LoggedCommand>,
        out: &mut bytes::BytesMut,
    ) -> Result<usize, Stop> {
        let base = self.base();
        let mine: Vec<(u32, Vec<Bytes>)> = cmds
            .into_iter()
            .filter_map(|(ks, args)| {
                if args[0].eq_ignore_ascii_case(b"namespace") {
                    let dropped = args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"del"))
                        && args.get(2).map(|n| n.as_ref())
                            == self.opts.namespace.as_deref().map(str::as_bytes);
                    return dropped.then_some((u32::MAX, args));
                }
                (ks >= base && ks < base + 16 && (base != 0 || ks < storage::FIRST_NAMESPACE_ID))
                    .then(|| (ks - base, args))
            })
            .collect();
        if let Some((_, args)) = mine.iter().find(|(db, _)| *db == u32::MAX) {
            return Err(Stop::Dropped(format!(
                "namespace '{}' was dropped at the source",
                String::from_utf8_lossy(&args[2])
            )));
        }
        let mut n = 0;
        // With transactions the whole batch is one MULTI (see `stream`); without, a record of
        // several commands is sent as it ran, one command after the other.
        for (db, args) in &mine {
            self.select(*db, out, &mut n);
            let a: Vec<&[u8]> = args.iter().map(|x| x.as_ref()).collect();
            encode_request(&a, out);
            n += 1;
            if self.opts.transactions && args[0].eq_ignore_ascii_case(b"swapdb") {
                // The position key lives in db 0: one swapped away from there is stale (the
                // batch sets it in db 0 again at its end, in the same transaction).
                let index = |i: usize| {
                    args.get(i)
                        .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u32>().ok())
                };
                if let (Some(x), Some(y)) = (index(1), index(2)) {
                    if (x == 0) != (y == 0) {
                        self.select(x.max(y), out, &mut n);
                        encode_request(&[b"DEL", POSITION_KEY.as_bytes()], out);
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}

/// The commands that recreate one key on the target (replacing whatever is there).
fn key_commands(
    st: &storage::Db<'_>,
    ks: u32,
    key: &[u8],
    out: &mut bytes::BytesMut,
) -> Result<usize, storage::Error> {
    let Some(meta) = st.get_meta(ks, key, storage::now_ms())? else {
        return Ok(0);
    };
    let mut n = 0;
    let mut push = |args: Vec<&[u8]>, out: &mut bytes::BytesMut| {
        encode_request(&args, out);
        n += 1;
    };
    let ty = st.key_type(ks, key)?;
    match ty {
        Some(storage::KeyType::String) => {
            let v = st.get(ks, key)?.unwrap_or_default();
            push(vec![b"SET", key, &v], out);
        }
        Some(t) => {
            push(vec![b"DEL", key], out);
            match t {
                storage::KeyType::Hash => {
                    for chunk in st.hgetall(ks, key)?.chunks(500) {
                        let mut a: Vec<&[u8]> = vec![b"HSET", key];
                        for (f, v) in chunk {
                            a.push(f);
                            a.push(v);
                        }
                        push(a, out);
                    }
                }
                storage::KeyType::List => {
                    for chunk in st.lrange(ks, key, 0, -1)?.chunks(500) {
                        let mut a: Vec<&[u8]> = vec![b"RPUSH", key];
                        a.extend(chunk.iter().map(|x| x.as_ref()));
                        push(a, out);
                    }
                }
                storage::KeyType::Set => {
                    for chunk in st.smembers(ks, key)?.chunks(500) {
                        let mut a: Vec<&[u8]> = vec![b"SADD", key];
                        a.extend(chunk.iter().map(|x| x.as_ref()));
                        push(a, out);
                    }
                }
                storage::KeyType::ZSet => {
                    for chunk in st.zrange_by_rank(ks, key, 0, -1, false)?.chunks(500) {
                        let scores: Vec<String> =
                            chunk.iter().map(|(_, s)| resp::format_double(*s)).collect();
                        let mut a: Vec<&[u8]> = vec![b"ZADD", key];
                        for ((m, _), s) in chunk.iter().zip(&scores) {
                            a.push(s.as_bytes());
                            a.push(m);
                        }
                        push(a, out);
                    }
                }
                storage::KeyType::Stream => {
                    // As a DUMP payload: the only form that carries consumer groups (their
                    // pending lists, delivery counts, consumers) to Redis or Strata alike.
                    if let Some((value, _)) = st.read_value(ks, key)? {
                        let payload = rdb::dump(&value, &rdb::Limits::default());
                        push(vec![b"RESTORE", key, b"0", &payload], out);
                    }
                }
                storage::KeyType::String => {}
            }
        }
        None => return Ok(0),
    }
    if meta.expire_ms != 0 {
        let at = meta.expire_ms.to_string();
        push(vec![b"PEXPIREAT", key, at.as_bytes()], out);
    }
    Ok(n)
}

/// Sends a pipeline and reads its `n` replies; the first error reply decides.
async fn send_and_check(dst: &mut Conn, out: &[u8], n: usize) -> Result<(), Stop> {
    if n == 0 {
        return Ok(());
    }
    use tokio::io::AsyncWriteExt;
    dst.stream.write_all(out).await.map_err(io)?;
    dst.stream.flush().await.map_err(io)?;
    let mut first_error = None;
    for _ in 0..n {
        let r = tokio::time::timeout(Duration::from_secs(60), dst.read())
            .await
            .map_err(|_| Stop::Transient("target did not answer in time".into()))?
            .map_err(io)?;
        let err = match &r {
            Reply::Error(e) => Some(e.clone()),
            // EXEC's replies: a command that failed inside the transaction.
            Reply::Array(Some(items)) => items.iter().find_map(|i| match i {
                Reply::Error(e) => Some(e.clone()),
                _ => None,
            }),
            _ => None,
        };
        if let (Some(e), None) = (err, &first_error) {
            first_error = Some(e);
        }
    }
    match first_error {
        Some(e) => Err(classify("target", &e)),
        None => Ok(()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("strata-sync: {e}\n{USAGE}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata-sync: cannot start: {e}");
            std::process::exit(EXIT_FATAL);
        }
    };
    let code = rt.block_on(run(opts));
    std::process::exit(code);
}

async fn run(opts: Opts) -> i32 {
    let stop = Arc::new(AtomicBool::new(false));
    for kind in [
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::interrupt(),
    ] {
        if let Ok(mut s) = tokio::signal::unix::signal(kind) {
            let stop = stop.clone();
            tokio::spawn(async move {
                s.recv().await;
                stop.store(true, Ordering::Relaxed);
            });
        }
    }
    let state = match State::load(&opts.state_file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("strata-sync: cannot read the state file: {e}");
            return EXIT_FATAL;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&opts.work_dir) {
        eprintln!(
            "strata-sync: cannot create {}: {e}",
            opts.work_dir.display()
        );
        return EXIT_FATAL;
    }
    let mut sync = Sync {
        progress: Progress {
            started: Instant::now(),
            applied_records: 0,
            last_print: Instant::now(),
            last_count: 0,
            phase: "connecting",
            source_offset: 0,
            offset: state.as_ref().map_or(0, |s| s.offset),
            snapshot_done: 0,
            snapshot_total: 0,
            status_file: opts.status_file.clone(),
            last_state: String::new(),
            record_ms: 0,
        },
        opts,
        state,
        stop: stop.clone(),
        target_db: 0,
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let r = sync.session().await;
        let Err(stop_reason) = r else { continue };
        match stop_reason {
            Stop::Signal => {
                let saved = sync.save().is_ok();
                eprintln!(
                    "strata-sync: stopping on a signal at offset {} (position saved: {saved})",
                    sync.progress.offset
                );
                sync.progress.phase = "stopped";
                sync.progress.tick(true);
                return if saved { 0 } else { EXIT_FATAL };
            }
            Stop::Transient(e) => {
                sync.progress.state(format!("waiting: {e} (retrying)"));
                let t = Instant::now();
                while t.elapsed() < backoff && !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Stop::Dropped(e) => {
                let _ = sync.save();
                sync.progress.phase = "dropped";
                sync.progress.tick(true);
                eprintln!("strata-sync: {e}: stopping (exit code {EXIT_DROPPED})");
                return EXIT_DROPPED;
            }
            Stop::Auth(e) => {
                eprintln!("strata-sync: authentication failed: {e} (exit code {EXIT_AUTH})");
                return EXIT_AUTH;
            }
            Stop::Rejected(e) => {
                let _ = sync.save();
                eprintln!("strata-sync: the target rejected data: {e} (exit code {EXIT_REJECTED})");
                return EXIT_REJECTED;
            }
            Stop::Fatal(e) => {
                let _ = sync.save();
                eprintln!("strata-sync: {e} (exit code {EXIT_FATAL})");
                return EXIT_FATAL;
            }
        }
    }
}
