//! The serving side of replication: `PSYNC`, `REPLCONF`, `SYNCFILE`, `WAIT`, snapshots and
//! the binlog stream (see `docs/replication.md`).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use strata_core::replication::master::*;

use crate::tls::Conn;
use bytes::{Bytes, BytesMut};
use replication::manifest::Manifest;
use resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{lock, Repl};
use crate::commands::{eq_ic, parse_int, syntax_error, Ctx, Session};
use crate::shared::Shared;

/// How long a snapshot some replica installed stays for others after its last request.
const SNAPSHOT_LINGER: Duration = Duration::from_secs(30);

fn log_or_err(shared: &Shared) -> Result<&Arc<crate::commitlog::Log>, Frame> {
    shared
        .binlog
        .get()
        .ok_or_else(|| Frame::error("ERR replication needs the binlog (binlog yes)"))
}

fn lease_ttl(shared: &Shared) -> Duration {
    crate::commitlog::policy(shared).lease_ttl
}

// ---- commands ----

/// `REPLCONF listening-port <port> | ip-address <ip> | capa <..> | ACK <offset>`.
pub fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if args.len().is_multiple_of(2) {
        return syntax_error();
    }
    for pair in args[1..].chunks(2) {
        let (k, v) = (&pair[0], &pair[1]);
        if eq_ic(k, "listening-port") {
            match parse_int(v) {
                Ok(p) if (0..=65535).contains(&p) => ctx.session.repl_port = p as u16,
                _ => return Frame::error("ERR value is out of range"),
            }
        } else if eq_ic(k, "ip-address") {
            ctx.session.repl_ip = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq_ic(k, "capa") || eq_ic(k, "ack") || eq_ic(k, "getack") {
            // Acknowledgements arrive on the feeder's socket, not here.
        } else {
            return Frame::Error(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(k)
            ));
        }
    }
    Frame::ok()
}

/// `PSYNC <replid> <next offset>` (`PSYNC ? -1`: no history).
pub fn psync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let log = match log_or_err(shared) {
        Ok(l) => l,
        Err(f) => return f,
    };
    if ctx.session.multi.is_some() || ctx.session.in_exec {
        return Frame::error("ERR Command is not allowed inside a transaction");
    }
    let id = String::from_utf8_lossy(&args[1]).into_owned();
    let next = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    let history = shared.repl.history();
    let (first, end) = {
        let l = log.lock();
        (l.first_offset(), l.next_offset())
    };
    let r = &shared.repl;
    if next > 0 && history.continues(&id, next as u64) && next as u64 >= first && next as u64 <= end
    {
        r.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
        for s in lock(&r.snapshots).iter() {
            if s.manifest.offset + 1 == next as u64 {
                s.installed.store(true, Ordering::Release);
            }
        }
        let feeder = register(shared, ctx.session, next as u64);
        ctx.session.takeover = Some(Takeover::Feed {
            next: next as u64,
            feeder,
        });
        return Frame::Simple(format!("CONTINUE {} {next}", history.id));
    }
    if id != "?" {
        r.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            replica = %ctx.session.client.addr,
            replid = %id,
            next,
            first,
            end,
            "partial resync not possible: full sync"
        );
    }
    r.sync_full.fetch_add(1, Ordering::Relaxed);
    let who = format!(
        "{}:{}",
        ctx.session
            .repl_ip
            .clone()
            .unwrap_or_else(|| ctx.session.client.addr.ip().to_string()),
        ctx.session.repl_port
    );
    if let Some(t) = lock(&r.last_full_sync).insert(who.clone(), Instant::now()) {
        if t.elapsed() < Duration::from_secs(300) {
            tracing::warn!(
                replica = %who,
                secs_since_last = t.elapsed().as_secs(),
                "replica needs a second full sync within minutes: its binlog position was lost (retention too short for the sync?)"
            );
        }
    }
    ctx.session.takeover = Some(Takeover::FullSync);
    Frame::Null
}

/// SYNC, the pre-2.8 replication handshake: a full sync in Strata's protocol (as `PSYNC ? -1`;
/// the snapshot is transferred with SYNCFILE, not as an RDB payload).
pub fn sync(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    let args = [
        Bytes::from_static(b"PSYNC"),
        Bytes::from_static(b"?"),
        Bytes::from_static(b"-1"),
    ];
    psync(ctx, &args)
}

/// `SYNCFILE MANIFEST <snapshot>` | `SYNCFILE READ <snapshot> <file> <offset> <length>`:
/// the transfer service of full syncs. Every request renews the snapshot's lease.
pub fn syncfile(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some(id) = args.get(2).map(|a| String::from_utf8_lossy(a).into_owned()) else {
        return crate::commands::wrong_arity("syncfile");
    };
    let snap = lock(&shared.repl.snapshots)
        .iter()
        .find(|s| s.id == id)
        .cloned();
    let Some(snap) = snap else {
        return Frame::Error(format!(
            "ERR no such snapshot '{id}' (expired or never made)"
        ));
    };
    *lock(&snap.last_use) = Instant::now();
    if let Some(log) = shared.binlog.get() {
        if !log
            .lock()
            .renew_lease(snap.lease, snap.manifest.offset + 1, lease_ttl(shared))
        {
            return Frame::Error(format!("ERR snapshot '{id}' expired"));
        }
    }
    match (sub.as_str(), args.len()) {
        ("manifest", 3) => Frame::bulk(Bytes::from(snap.manifest.to_text())),
        ("read", 6) => {
            let name = String::from_utf8_lossy(&args[3]).into_owned();
            let Some(entry) = snap.manifest.file(&name) else {
                return Frame::Error(format!("ERR no file '{name}' in snapshot '{id}'"));
            };
            let (Ok(off), Ok(len)) = (parse_int(&args[4]), parse_int(&args[5])) else {
                return crate::commands::not_integer();
            };
            if off < 0 || len <= 0 || len > 64 << 20 || off as u64 > entry.size {
                return Frame::error("ERR offset or length out of range");
            }
            let len = (len as u64).min(entry.size - off as u64) as usize;
            snap.readers.fetch_add(1, Ordering::AcqRel);
            let read = (|| -> std::io::Result<Vec<u8>> {
                use std::os::unix::fs::FileExt;
                let f = std::fs::File::open(snap.files().join(&name))?;
                let mut buf = vec![0u8; len];
                f.read_exact_at(&mut buf, off as u64)?;
                Ok(buf)
            })();
            snap.readers.fetch_sub(1, Ordering::AcqRel);
            let mut data = match read {
                Ok(d) => d,
                Err(e) => return Frame::Error(format!("ERR cannot read '{name}': {e}")),
            };
            let crc = replication::crc32c(&data);
            if shared.failpoints.take("syncfile-corrupt-chunk") && !data.is_empty() {
                // Tests: the chunk is damaged in transit, after its checksum was computed.
                data[0] ^= 0xff;
            }
            let delay = shared.repl.throttle.reserve(data.len() as u64);
            if !delay.is_zero() {
                ctx.session.takeover = Some(Takeover::Delay(delay));
            }
            Frame::Array(vec![Frame::bulk(data), Frame::Integer(crc as i64)])
        }
        _ => Frame::Error(
            "ERR unknown subcommand or wrong number of arguments for 'SYNCFILE'".to_string(),
        ),
    }
}

/// `WAIT numreplicas timeout`.
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    if super::is_replica(shared) {
        return Frame::error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let (Ok(n), Ok(timeout)) = (parse_int(&args[1]), parse_int(&args[2])) else {
        return crate::commands::not_integer();
    };
    if timeout < 0 {
        return Frame::error("ERR timeout is negative");
    }
    let target = super::last_offset(shared);
    let count = acked_count(&shared.repl, target);
    if n <= 0 || count >= n as u64 || ctx.session.in_exec {
        return Frame::Integer(count as i64);
    }
    ctx.session.takeover = Some(Takeover::Wait {
        n: n as u64,
        target,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    Frame::Integer(count as i64)
}

fn acked_count(r: &Repl, target: u64) -> u64 {
    lock(&r.replicas)
        .iter()
        .filter(|f| f.acked.load(Ordering::Acquire) >= target)
        .count() as u64
}

/// Waits for `WAIT`: the number of replicas that acknowledged `target` when `n` did or the
/// deadline passed (or the server began shutting down).
pub async fn wait_acks(shared: &Shared, n: u64, target: u64, deadline: Option<Instant>) -> Frame {
    let mut rx = shared.repl.acks.subscribe();
    loop {
        let count = acked_count(&shared.repl, target);
        if count >= n {
            return Frame::Integer(count as i64);
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Frame::Integer(count as i64) },
            _ = sleep => return Frame::Integer(acked_count(&shared.repl, target) as i64),
            _ = shared.shutdown.cancelled() => return Frame::Integer(count as i64),
        }
    }
}

// ---- snapshots ----

/// A snapshot to serve: the newest one if it is recent and still usable (its lease alive,
/// the binlog still holding every record after it), otherwise a new one.
pub fn snapshot_for_sync(shared: &Shared) -> Result<Arc<Snapshot>, String> {
    let log = shared
        .binlog
        .get()
        .ok_or("replication needs the binlog (binlog yes)")?;
    let ttl = lease_ttl(shared);
    let mut snaps = lock(&shared.repl.snapshots);
    if let Some(s) = snaps.last() {
        let mut l = log.lock();
        // Defence in depth: a snapshot whose continuation was purged is never handed out.
        let usable = s.created.elapsed() < Duration::from_secs(60)
            && s.manifest.offset + 1 >= l.first_offset()
            && l.renew_lease(s.lease, s.manifest.offset + 1, ttl);
        if usable {
            return Ok(s.clone());
        }
    }
    let snap = Arc::new(make_snapshot(shared, log, ttl)?);
    snaps.push(snap.clone());
    Ok(snap)
}

fn make_snapshot(
    shared: &Shared,
    log: &crate::commitlog::Log,
    ttl: Duration,
) -> Result<Snapshot, String> {
    let t = Instant::now();
    let id = format!("{}-{:04x}", storage::now_ms(), rand::random::<u16>());
    let dir = super::snapshots_dir(&shared.repl.dir).join(&id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let storage = shared.storage();
    // Most of the memtables go to SST files first, so the checkpoint below (which flushes
    // what is left while writes wait) is short.
    storage.flush_memtables().map_err(|e| e.to_string())?;
    let (offset, lease) = {
        // No write in flight: the engine holds exactly the records up to its last applied
        // offset, and the lease is taken before the checkpoint fixes that offset.
        let _exclusive = storage.exclusive();
        let offset = storage.max_applied();
        let lease = log
            .lock()
            .take_lease(&format!("snapshot {id}"), offset + 1, ttl);
        if let Err(e) = storage.checkpoint(&dir.join("db")) {
            log.lock().release_lease(lease);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("checkpoint failed: {e}"));
        }
        (offset, lease)
    };
    let replid = shared.repl.history().id;
    let manifest = match Manifest::build(&dir.join("db"), &id, &replid, offset) {
        Ok(m) => m,
        Err(e) => {
            log.lock().release_lease(lease);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("cannot list the snapshot: {e}"));
        }
    };
    tracing::info!(
        snapshot = %id,
        offset,
        files = manifest.files.len(),
        bytes = manifest.total_bytes(),
        took_ms = t.elapsed().as_millis() as u64,
        "snapshot for a full sync created"
    );
    Ok(Snapshot {
        id,
        dir,
        manifest,
        lease,
        created: Instant::now(),
        readers: AtomicU64::new(0),
        last_use: std::sync::Mutex::new(Instant::now()),
        installed: Default::default(),
    })
}

/// Removes snapshots that no transfer uses: their lease ended (nobody renewed it), or a
/// replica installed it and nobody asked for it for a while; never one a read is using.
pub fn collect_snapshots(shared: &Shared) {
    let Some(log) = shared.binlog.get() else {
        return;
    };
    let live: Vec<u64> = log.lock().leases().iter().map(|l| l.id).collect();
    let gone: Vec<Arc<Snapshot>> = {
        let mut snaps = lock(&shared.repl.snapshots);
        let (gone, keep) = snaps.drain(..).partition(|s| {
            let unused = !live.contains(&s.lease)
                || (s.installed.load(Ordering::Acquire)
                    && lock(&s.last_use).elapsed() > SNAPSHOT_LINGER);
            unused && s.readers.load(Ordering::Acquire) == 0
        });
        *snaps = keep;
        gone
    };
    for s in gone {
        log.lock().release_lease(s.lease);
        match std::fs::remove_dir_all(&s.dir) {
            Ok(()) => tracing::info!(snapshot = %s.id, "snapshot removed (no transfer uses it)"),
            Err(e) => tracing::warn!(snapshot = %s.id, error = %e, "cannot remove snapshot"),
        }
    }
}

// ---- the feeder ----

/// After `+FULLRESYNC` is due: makes or reuses a snapshot off the connection's thread and
/// answers with its id and offset.
pub async fn full_sync_reply(shared: &Arc<Shared>) -> Frame {
    let sh = shared.clone();
    let rt = shared.repl.runtime.get().cloned();
    let job = move || snapshot_for_sync(&sh);
    let made = match rt {
        Some(rt) => rt.spawn_blocking(job).await,
        None => tokio::task::spawn_blocking(job).await,
    };
    match made {
        Ok(Ok(s)) => Frame::Simple(format!(
            "FULLRESYNC {} {} {}",
            s.manifest.replid, s.manifest.offset, s.id
        )),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot make a snapshot for a full sync");
            Frame::Error(format!("ERR cannot make a snapshot: {e}"))
        }
        Err(e) => Frame::Error(format!("ERR snapshot task failed: {e}")),
    }
}

fn encode_record(offset: u64, timestamp_ms: u64, payload: &[u8], out: &mut BytesMut) {
    out.extend_from_slice(b"*4\r\n$3\r\nREC\r\n:");
    out.extend_from_slice(offset.to_string().as_bytes());
    out.extend_from_slice(b"\r\n:");
    out.extend_from_slice(timestamp_ms.to_string().as_bytes());
    out.extend_from_slice(b"\r\n$");
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

fn encode_ping(offset: u64, out: &mut BytesMut) {
    out.extend_from_slice(b"*2\r\n$4\r\nPING\r\n:");
    out.extend_from_slice(offset.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Streams the binlog from `next` to a replica until it goes away, stops acknowledging
/// (`repl-timeout`), or feeders are stopped. Records are sent only once their effect is in
/// the engine (at or below the floor); a record voided by a failed engine write is sent as
/// a void record at its offset. Memory is bounded: at most one batch (about 1 MB) is
/// buffered, and the socket's backpressure paces the reads.
/// A replica about to be fed from `next`, in the list INFO, WAIT and shutdown read.
fn register(shared: &Shared, session: &Session, next: u64) -> Arc<Feeder> {
    let ip = session
        .repl_ip
        .clone()
        .unwrap_or_else(|| session.client.addr.ip().to_string());
    let feeder = Arc::new(Feeder {
        client: session.client.id,
        ip,
        port: session.repl_port,
        acked: AtomicU64::new(next.saturating_sub(1)),
        sent: AtomicU64::new(next.saturating_sub(1)),
        last_ack: std::sync::Mutex::new(Instant::now()),
        state: AtomicU8::new(2),
    });
    lock(&shared.repl.replicas).push(feeder.clone());
    feeder
}

/// Takes a replica out of the list (its link ended).
pub fn unregister(shared: &Shared, feeder: &Arc<Feeder>) {
    lock(&shared.repl.replicas).retain(|f| !Arc::ptr_eq(f, feeder));
    shared.repl.acks.send_modify(|v| *v += 1);
}

pub async fn feed(
    shared: &Arc<Shared>,
    stream: &mut Conn,
    rbuf: &mut BytesMut,
    session: &Session,
    next: u64,
    feeder: Arc<Feeder>,
) {
    let Some(log) = shared.binlog.get().cloned() else {
        unregister(shared, &feeder);
        return;
    };
    let r = &shared.repl;
    let ip = feeder.ip.clone();
    session
        .client
        .replica
        .store(true, std::sync::atomic::Ordering::Release);
    // Shutdown's stage 2 does not wait for this connection (stage 4 does).
    session.client.drained.store(true, Ordering::Release);
    let owner = format!(
        "replica {ip}:{} (client {})",
        session.repl_port, session.client.id
    );
    let lease = log.lock().take_lease(&owner, next, lease_ttl(shared));
    tracing::info!(replica = %owner, from = next, "replica attached: streaming the binlog");
    let stop = r.feeders_token();
    let reader = log.lock().reader(next);
    let why = match reader {
        Err(e) => format!("cannot read the binlog from {next}: {e}"),
        Ok(reader) => {
            let (mut rd, mut wr) = tokio::io::split(stream);
            let acks = read_acks(shared, &mut rd, rbuf, &feeder, &log, lease);
            let send = send_records(shared, &mut wr, reader, &feeder, &log);
            tokio::select! {
                w = acks => w,
                w = send => w,
                _ = stop.cancelled() => "replication links closed".to_string(),
                _ = session.client.kill.cancelled() => "killed".to_string(),
            }
        }
    };
    unregister(shared, &feeder);
    tracing::info!(replica = %owner, acked = feeder.acked.load(Ordering::Relaxed), why = %why, "replica detached");
    // The lease stays until it expires: a replica that reconnects soon continues from it.
}

async fn read_acks(
    shared: &Shared,
    rd: &mut tokio::io::ReadHalf<&mut Conn>,
    rbuf: &mut BytesMut,
    feeder: &Feeder,
    log: &crate::commitlog::Log,
    lease: u64,
) -> String {
    loop {
        let timeout = Duration::from_secs(shared.with_config(|c| c.get_u64("repl-timeout")).max(1));
        while let Some(reply) = match replication::client::parse_reply(rbuf) {
            Ok(r) => r,
            Err(e) => return format!("garbage from the replica: {e}"),
        } {
            let replication::client::Reply::Array(Some(items)) = reply else {
                return "unexpected message from the replica".into();
            };
            let word = |i: usize| {
                items
                    .get(i)
                    .and_then(|r| r.bulk())
                    .cloned()
                    .unwrap_or_default()
            };
            if eq_ic(&word(0), "replconf") && eq_ic(&word(1), "ack") {
                let Some(off) = std::str::from_utf8(&word(2))
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    return "malformed acknowledgement".into();
                };
                feeder.acked.fetch_max(off, Ordering::AcqRel);
                *lock(&feeder.last_ack) = Instant::now();
                log.lock().renew_lease(lease, off + 1, lease_ttl(shared));
                shared.repl.acks.send_modify(|v| *v += 1);
            }
        }
        if rbuf.capacity() - rbuf.len() < 1024 {
            rbuf.reserve(16 * 1024);
        }
        let since = lock(&feeder.last_ack).elapsed();
        if since > timeout {
            return format!(
                "no acknowledgement for {} s (repl-timeout)",
                since.as_secs()
            );
        }
        match tokio::time::timeout(timeout - since, rd.read_buf(rbuf)).await {
            Ok(Ok(0)) => return "connection closed by the replica".into(),
            Ok(Ok(n)) => shared.bump(&shared.stats.net_input_bytes, n as u64),
            Ok(Err(e)) => return format!("read error: {e}"),
            Err(_) => {}
        }
    }
}

async fn send_records(
    shared: &Shared,
    wr: &mut tokio::io::WriteHalf<&mut Conn>,
    mut reader: ::binlog::Reader,
    feeder: &Feeder,
    log: &crate::commitlog::Log,
) -> String {
    let mut held: Option<::binlog::Record> = None;
    let mut out = BytesMut::with_capacity(1 << 20);
    let mut last_ping = Instant::now();
    loop {
        // Arm the wake-up before looking, so a write that lands meanwhile is not missed.
        let ready = shared.repl.data_ready.notified();
        let floor = shared.storage().applied_offset();
        let mut refreshed = false;
        out.clear();
        while out.len() < 1 << 20 {
            let rec = match held.take() {
                Some(r) => Some(r),
                None => match reader.next_record() {
                    Ok(Some(r)) => Some(r),
                    Ok(None) if !refreshed => {
                        refreshed = true;
                        if let Err(e) = reader.refresh(&mut log.lock()) {
                            return format!("binlog read failed: {e}");
                        }
                        continue;
                    }
                    Ok(None) => None,
                    Err(e) => return format!("binlog read failed: {e}"),
                },
            };
            let Some(rec) = rec else { break };
            if rec.offset > floor {
                held = Some(rec);
                break;
            }
            if log.is_void(rec.offset) {
                let lane = rec.payload.get(1).copied().unwrap_or(0);
                let p = crate::commitlog::encode_void(lane, rec.offset, rec.offset);
                encode_record(rec.offset, rec.timestamp_ms, &p, &mut out);
            } else {
                encode_record(rec.offset, rec.timestamp_ms, &rec.payload, &mut out);
            }
            feeder.sent.store(rec.offset, Ordering::Release);
        }
        let period = Duration::from_secs(
            shared
                .with_config(|c| c.get_u64("repl-ping-replica-period"))
                .max(1),
        );
        if out.is_empty() && last_ping.elapsed() >= period {
            encode_ping(feeder.sent.load(Ordering::Acquire), &mut out);
            last_ping = Instant::now();
        }
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                return format!("write error: {e}");
            }
            if let Err(e) = wr.flush().await {
                return format!("write error: {e}");
            }
            shared.bump(&shared.stats.net_output_bytes, out.len() as u64);
            // The feeder shares its worker with client connections: let them run.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = ready => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}
