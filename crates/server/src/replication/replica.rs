//! The replica's link to its master: handshake, full sync, incremental sync, promotion
//! (see `docs/replication.md`).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use strata_core::replication::replica::*;

use bytes::Bytes;
use replication::client::{Conn, Reply};
use replication::history::{History, State};
use replication::manifest::Manifest;
use replication::staging::{ChunkError, Staging};
use resp::Frame;
use tokio_util::sync::CancellationToken;

use super::{lock, Role};
use crate::commands::{eq_ic, Ctx};
use crate::shared::Shared;

/// Starts following `host:port` (the link runs on the main runtime until cancelled).
pub fn start(shared: &Arc<Shared>, host: &str, port: u16) -> Arc<Link> {
    let link = Arc::new(Link {
        host: host.to_string(),
        port,
        cancel: CancellationToken::new(),
        status: AtomicU8::new(CONNECTING),
        down_since: Mutex::new(Some(Instant::now())),
        last_io: Mutex::new(Instant::now()),
        sync_total: AtomicU64::new(0),
        sync_read: AtomicU64::new(0),
        fetched: AtomicU64::new(0),
        corrupt_chunks: AtomicU64::new(0),
        full_syncs: AtomicU64::new(0),
        master_offset: AtomicU64::new(0),
        apply_lock: Mutex::new(()),
        paused: Default::default(),
        last_record_ms: AtomicU64::new(0),
    });
    let fut = run(shared.clone(), link.clone());
    shared.repl.spawn(fut);
    link
}

fn timeout(shared: &Shared) -> Duration {
    Duration::from_secs(shared.with_config(|c| c.get_u64("repl-timeout")).max(1))
}

async fn run(shared: Arc<Shared>, link: Arc<Link>) {
    let mut backoff = Duration::from_millis(100);
    let mut last_error = String::new();
    tracing::info!(master = %format!("{}:{}", link.host, link.port), "replica: connecting to master");
    loop {
        let r = tokio::select! {
            r = session(&shared, &link) => r,
            _ = link.cancel.cancelled() => return,
            _ = shared.shutdown.cancelled() => return,
        };
        link.set_status(CONNECTING);
        match r {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                // Logged once per change, not once per attempt.
                if e != last_error {
                    tracing::warn!(master = %format!("{}:{}", link.host, link.port), error = %e, "replication link down; retrying");
                    last_error = e;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = link.cancel.cancelled() => return,
                    _ = shared.shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn connect(shared: &Shared, link: &Link) -> Result<Conn, String> {
    let addr = format!("{}:{}", link.host, link.port);
    // `tls-replication yes`: this link and the transfer streams go over TLS.
    let tls = shared.tls.client.load_full();
    let mut conn = Conn::connect_with(&addr, Duration::from_secs(5), tls.as_deref())
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let t = timeout(shared);
    let (user, pass, ip, port) = shared.with_config(|c| {
        (
            c.get("masteruser").to_string(),
            c.get("masterauth").to_string(),
            c.get("replica-announce-ip").to_string(),
            c.get_u64("replica-announce-port"),
        )
    });
    if !pass.is_empty() {
        let reply = if user.is_empty() {
            conn.call(&["AUTH", &pass], t).await
        } else {
            conn.call(&["AUTH", &user, &pass], t).await
        }
        .map_err(err)?;
        if let Reply::Error(e) = reply {
            return Err(format!("master refused authentication: {e}"));
        }
    }
    let port = if port != 0 {
        port
    } else {
        shared.port.load(Ordering::Relaxed)
    };
    let check = |r: Reply| match r {
        Reply::Error(e) => Err(format!("master refused the handshake: {e}")),
        _ => Ok(()),
    };
    check(
        conn.call(&["REPLCONF", "listening-port", &port.to_string()], t)
            .await
            .map_err(err)?,
    )?;
    if !ip.is_empty() {
        check(
            conn.call(&["REPLCONF", "ip-address", &ip], t)
                .await
                .map_err(err)?,
        )?;
    }
    Ok(conn)
}

async fn fetch_manifest(shared: &Shared, conn: &mut Conn, id: &str) -> Result<Manifest, String> {
    match conn
        .call(&["SYNCFILE", "MANIFEST", id], timeout(shared))
        .await
        .map_err(err)?
    {
        Reply::Bulk(Some(text)) => Manifest::parse(&String::from_utf8_lossy(&text)),
        Reply::Error(e) => Err(e),
        other => Err(format!("unexpected manifest reply {other:?}")),
    }
}

/// One connection's life: handshake, a full sync when needed, then the record stream.
async fn session(shared: &Arc<Shared>, link: &Arc<Link>) -> Result<(), String> {
    let mut conn = connect(shared, link).await?;
    link.set_status(HANDSHAKE);
    link.io();
    let root = super::sync_root(&shared.repl.dir);
    // A transfer staged before a disconnect or a restart continues if the master still
    // serves that snapshot.
    let staged = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || Staging::existing(&root))
            .await
            .map_err(err)?
    };
    if let Some(m) = staged {
        match fetch_manifest(shared, &mut conn, &m.id).await {
            Ok(served) if served == m => {
                tracing::info!(snapshot = %m.id, "resuming the full sync staged earlier");
                full_sync(shared, link, &m).await?;
            }
            _ => {
                tracing::info!(snapshot = %m.id, "the staged full sync is no longer served: discarding it");
                let root = root.clone();
                tokio::task::spawn_blocking(move || Staging::discard(&root))
                    .await
                    .map_err(err)?
                    .map_err(err)?;
            }
        }
    }
    loop {
        let history = shared.repl.history();
        let next = super::last_offset(shared) + 1;
        let reply = conn
            .call(
                &["PSYNC", &history.id, &next.to_string()],
                timeout(shared) * 4,
            )
            .await
            .map_err(err)?;
        link.io();
        let text = match reply {
            Reply::Simple(s) => s,
            Reply::Error(e) => return Err(format!("master refused PSYNC: {e}")),
            other => return Err(format!("unexpected PSYNC reply {other:?}")),
        };
        let words: Vec<&str> = text.split(' ').collect();
        match words.as_slice() {
            ["CONTINUE", id, n] if n.parse::<u64>().ok() == Some(next) => {
                if *id != history.id {
                    shared
                        .repl
                        .update_state(|st| st.history.follow(id, next))
                        .map_err(err)?;
                }
                tracing::info!(
                    from = next,
                    "replica: partial sync, streaming the master's binlog"
                );
                return stream(shared, link, conn).await;
            }
            ["FULLRESYNC", id, offset, snap] => {
                tracing::info!(snapshot = %snap, offset = %offset, "replica: full sync needed");
                let m = fetch_manifest(shared, &mut conn, snap).await?;
                if m.replid != *id || m.offset.to_string() != *offset {
                    return Err(
                        "the snapshot's manifest does not match the FULLRESYNC reply".into(),
                    );
                }
                full_sync(shared, link, &m).await?;
            }
            _ => return Err(format!("unexpected PSYNC reply '{text}'")),
        }
    }
}

/// Fetches every file of `m` into the staging directory (parallel streams, verified chunks,
/// resumable), then switches the engine to it.
async fn full_sync(shared: &Arc<Shared>, link: &Arc<Link>, m: &Manifest) -> Result<(), String> {
    link.set_status(SYNCING);
    let t = Instant::now();
    let root = super::sync_root(&shared.repl.dir);
    let staging = {
        let (root, m) = (root.clone(), m.clone());
        tokio::task::spawn_blocking(move || Staging::open(&root, &m))
            .await
            .map_err(err)?
            .map_err(|e| format!("cannot stage the transfer: {e}"))?
    };
    let staging = Arc::new(staging);
    let already = staging.verified_bytes();
    link.sync_total.store(m.total_bytes(), Ordering::Relaxed);
    link.sync_read.store(already, Ordering::Relaxed);
    let mut todo: Vec<(String, u64)> = m
        .files
        .iter()
        .filter(|f| staging.progress(&f.name) != replication::staging::Progress::Done)
        .map(|f| (f.name.clone(), f.size))
        .collect();
    todo.sort_by_key(|f| std::cmp::Reverse(f.1));
    let queue = Arc::new(Mutex::new(todo));
    let streams = shared
        .with_config(|c| c.get_u64("repl-transfer-streams"))
        .clamp(1, 16) as usize;
    let chunk = shared
        .with_config(|c| c.get_u64("repl-transfer-chunk-size"))
        .clamp(4096, 64 << 20);
    let fetched_before = link.fetched.load(Ordering::Relaxed);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..streams.min(lock(&queue).len()).max(1) {
        let (shared, link, staging, queue) =
            (shared.clone(), link.clone(), staging.clone(), queue.clone());
        set.spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let Some((name, _)) = lock(&queue).pop() else {
                    return Ok::<(), String>(());
                };
                if conn.is_none() {
                    conn = Some(connect(&shared, &link).await?);
                }
                if let Some(c) = conn.as_mut() {
                    fetch_file(&shared, &link, c, &staging, &name, chunk).await?;
                }
            }
        });
    }
    let mut failed = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed.get_or_insert(e);
                set.abort_all();
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                failed.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = failed {
        return Err(format!(
            "full sync interrupted (it resumes from the verified data): {e}"
        ));
    }
    let fetched = link.fetched.load(Ordering::Relaxed) - fetched_before;
    let sh = shared.clone();
    let m2 = m.clone();
    tokio::task::spawn_blocking(move || install(&sh, &staging, &m2))
        .await
        .map_err(err)??;
    link.full_syncs.fetch_add(1, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    tracing::info!(
        snapshot = %m.id,
        offset = m.offset,
        bytes = m.total_bytes(),
        resumed_bytes = already,
        fetched_bytes = fetched,
        corrupt_chunks = link.corrupt_chunks.load(Ordering::Relaxed),
        took_ms = (secs * 1000.0) as u64,
        mb_per_s = format!("{:.1}", (fetched as f64 / 1e6) / secs.max(1e-3)),
        "full sync done: new data installed"
    );
    Ok(())
}

async fn fetch_file(
    shared: &Shared,
    link: &Link,
    conn: &mut Conn,
    staging: &Staging,
    name: &str,
    chunk: u64,
) -> Result<(), String> {
    let id = staging.manifest.id.clone();
    let mut restarts = 0;
    loop {
        let mut w = staging.writer(name).map_err(err)?;
        let mut retries = 0;
        while !w.is_complete() {
            let off = w.offset();
            let len = chunk.min(w.entry.size - off);
            let reply = conn
                .call(
                    &[
                        "SYNCFILE",
                        "READ",
                        &id,
                        name,
                        &off.to_string(),
                        &len.to_string(),
                    ],
                    timeout(shared),
                )
                .await
                .map_err(err)?;
            link.io();
            let (data, crc) = match reply {
                Reply::Array(Some(items)) => match items.as_slice() {
                    [Reply::Bulk(Some(d)), Reply::Int(c)] => (d.clone(), *c as u32),
                    _ => return Err("malformed chunk reply".into()),
                },
                Reply::Error(e) => return Err(format!("master: {e}")),
                other => return Err(format!("unexpected chunk reply {other:?}")),
            };
            link.fetched.fetch_add(data.len() as u64, Ordering::Relaxed);
            match w.write_chunk(off, &data, crc) {
                Ok(()) => {
                    link.sync_read
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Err(ChunkError::Corrupt(why)) if retries < 10 => {
                    retries += 1;
                    link.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(file = name, offset = off, why = %why, "chunk failed its checksum: fetching it again");
                }
                Err(e) => return Err(format!("{name}: {e}")),
            }
        }
        match w.finish() {
            Ok(()) => return Ok(()),
            Err(ChunkError::Corrupt(why)) if restarts < 3 => {
                restarts += 1;
                tracing::warn!(file = name, why = %why, "file failed its checksum: fetching it again");
            }
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
}

/// Switches to the transferred snapshot: it becomes the next generation's engine, with a new
/// binlog starting right after it; the state file (generation + history) is the commit
/// point. The old engine serves the commands already running on it and its files are
/// removed once none does.
fn install(shared: &Arc<Shared>, staging: &Staging, m: &Manifest) -> Result<(), String> {
    let t = Instant::now();
    let staged = staging.complete().map_err(err)?;
    let r = &shared.repl;
    let _installing = lock(&r.install_lock);
    let dir = r.dir.clone();
    let generation = r.generation() + 1;
    let db = super::db_dir(&dir, generation);
    let bdir = super::binlog_dir(&dir, generation);
    for d in [&db, &bdir] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(err)?;
        }
    }
    std::fs::rename(&staged, &db).map_err(|e| format!("cannot move the staged engine: {e}"))?;
    replication::sync_dir(&dir).map_err(err)?;
    let prepared = (|| -> Result<(storage::Storage, ::binlog::Binlog), String> {
        let config = shared.with_config(|c| c.clone());
        let opts = crate::lifecycle::storage_options(&config, &db);
        let st = storage::Storage::open(&opts)
            .map_err(|e| format!("cannot open the transferred engine: {e}"))?;
        if st.max_applied() != m.offset {
            return Err(format!(
                "the transferred engine holds records up to {}, its manifest says {}",
                st.max_applied(),
                m.offset
            ));
        }
        st.persist_floor(m.offset).map_err(err)?;
        let log = shared.binlog.get().ok_or("no binlog")?;
        let binlog = log.create(&bdir, m.offset + 1)?;
        Ok((st, binlog))
    })();
    let (st, binlog) = match prepared {
        Ok(p) => p,
        Err(e) => {
            // Not committed: the old generation stays; the files go back to staging (the
            // engine is closed by now), so a retry does not fetch them again.
            let _ = std::fs::remove_dir_all(&bdir);
            if let Err(me) = std::fs::rename(&db, &staged) {
                tracing::warn!(error = %me, "cannot move the transferred engine back to staging");
            }
            return Err(e);
        }
    };
    let log = shared.binlog.get().ok_or("no binlog")?;
    r.update_state(|st| {
        *st = State {
            generation,
            history: History {
                id: m.replid.clone(),
                id2: String::new(),
                second_offset: 0,
            },
        }
    })
    .map_err(|e| format!("cannot write the state file: {e}"))?;
    // Committed: from here on a restart opens the new generation.
    log.replace(binlog, bdir, m.offset);
    let st = Arc::new(st);
    st.set_commit_log(log.clone());
    st.mark_recovered(m.offset);
    let old = shared.replace_storage(st);
    lock(&r.retired).push(Arc::downgrade(&old));
    drop(old);
    if let Err(e) = Staging::discard(&super::sync_root(&dir)) {
        tracing::warn!(error = %e, "cannot remove the staging directory");
    }
    // Sub-replicas follow a new history now; namespaces are the transferred ones.
    r.drop_feeders();
    if let Err(e) = shared.namespaces.reload(&shared.storage()) {
        tracing::error!(error = %e, "cannot read the transferred namespace registry");
    }
    drop(_installing);
    super::collect_retired(shared);
    tracing::info!(
        generation,
        offset = m.offset,
        took_ms = t.elapsed().as_millis() as u64,
        "transferred engine switched in"
    );
    Ok(())
}

/// Applies records as they come, acknowledging each batch. While this server's storage is
/// full the records wait (the link and the position stay, the master is kept informed by
/// acknowledgements; backpressure holds the rest on its side), and applying resumes by
/// itself when space is back: no full sync.
async fn stream(shared: &Arc<Shared>, link: &Arc<Link>, mut conn: Conn) -> Result<(), String> {
    link.set_status(CONNECTED);
    let t = timeout(shared);
    let mut pending: std::collections::VecDeque<(u64, Bytes)> = Default::default();
    let mut last_ack = Instant::now();
    loop {
        if !pending.is_empty() {
            if shared.guard.full() {
                if !link.paused.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        reason = shared.guard.reason().name(),
                        at = pending.front().map_or(0, |r| r.0),
                        "replica: storage full, applying paused (link and position kept)"
                    );
                }
                if last_ack.elapsed() >= Duration::from_secs(1) {
                    let ack = super::last_offset(shared).to_string();
                    conn.send(&["REPLCONF", "ACK", &ack]).await.map_err(err)?;
                    last_ack = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if link.paused.swap(false, Ordering::Relaxed) {
                tracing::warn!("replica: space is back, applying resumes");
            }
            let (sh, l) = (shared.clone(), link.clone());
            let batch = std::mem::take(&mut pending);
            pending = tokio::task::spawn_blocking(move || apply(&sh, &l, batch))
                .await
                .map_err(err)??;
            let ack = super::last_offset(shared).to_string();
            conn.send(&["REPLCONF", "ACK", &ack]).await.map_err(err)?;
            last_ack = Instant::now();
            continue;
        }
        let first = tokio::time::timeout(t, conn.read())
            .await
            .map_err(|_| format!("master silent for {} s (repl-timeout)", t.as_secs()))?
            .map_err(err)?;
        link.io();
        let mut bytes = 0usize;
        let mut next = Some(first);
        let mut pinged = false;
        while let Some(msg) = next.take() {
            let Reply::Array(Some(items)) = msg else {
                return Err(format!("unexpected message from master: {msg:?}"));
            };
            match items.as_slice() {
                [Reply::Bulk(Some(k)), Reply::Int(off), Reply::Int(ts), Reply::Bulk(Some(p))]
                    if eq_ic(k, "rec") =>
                {
                    bytes += p.len();
                    link.last_record_ms.store(*ts as u64, Ordering::Relaxed);
                    link.master_offset.fetch_max(*off as u64, Ordering::Relaxed);
                    pending.push_back((*off as u64, p.clone()));
                }
                [Reply::Bulk(Some(k)), Reply::Int(off)] if eq_ic(k, "ping") => {
                    link.master_offset.fetch_max(*off as u64, Ordering::Relaxed);
                    pinged = true;
                }
                _ => return Err("malformed message from master".into()),
            }
            if pending.len() < 1000 && bytes < 8 << 20 {
                next = replication::client::parse_reply(&mut conn.rbuf).map_err(err)?;
            }
        }
        if pending.is_empty() && pinged {
            let ack = super::last_offset(shared).to_string();
            conn.send(&["REPLCONF", "ACK", &ack]).await.map_err(err)?;
            last_ack = Instant::now();
        }
    }
}

/// Applies records in order, each at its own offset: written to this server's binlog first,
/// then to the engine (skipping what the engine already holds: records the snapshot
/// contained, or duplicates after a reconnect). Returns the records not applied: when the
/// storage is full (a write failed for lack of space), from the one that failed on, with
/// that record taken out of the binlog again so it is applied later from the start.
fn apply(
    shared: &Arc<Shared>,
    link: &Link,
    mut batch: std::collections::VecDeque<(u64, Bytes)>,
) -> Result<std::collections::VecDeque<(u64, Bytes)>, String> {
    let _g = lock(&link.apply_lock);
    if link.cancel.is_cancelled() {
        return Err("link closed".into());
    }
    let log = shared.binlog.get().ok_or("no binlog")?;
    let storage = shared.storage();
    let result = crate::commitlog::with_replay_session(shared, |session| {
        while let Some((offset, payload)) = batch.front() {
            let offset = *offset;
            let next = log.lock().next_offset();
            if offset < next {
                batch.pop_front();
                continue;
            }
            if offset > next {
                return Err(format!(
                    "record {offset} received while {next} was expected"
                ));
            }
            let p = crate::commitlog::decode(payload)
                .map_err(|e| format!("record {offset} from the master cannot be decoded: {e}"))?;
            // Promoted meanwhile (checked again once no other writer runs): stop here.
            let append = || {
                if link.cancel.is_cancelled() {
                    return Err("link closed".to_string());
                }
                log.lock()
                    .append_at(offset, &[&payload[..]])
                    .map(|_| ())
                    .map_err(|e| format!("cannot log record {offset}: {e}"))
            };
            let applied = match p {
                crate::commitlog::Payload::Commands { lane, cmds }
                    if offset > storage.lane_applied(lane) =>
                {
                    crate::commitlog::apply_commands(
                        shared, &storage, session, offset, lane, cmds, append,
                    )
                }
                _ => append().map(|()| storage.note_applied(offset)),
            };
            if let Err(e) = applied {
                if storage.disk_full() || e.contains("No space left") {
                    // Not applied: out of the log again, retried when space is back.
                    if let Err(te) = log.lock().truncate_from(offset) {
                        return Err(format!("cannot take back record {offset}: {te}"));
                    }
                    tracing::warn!(offset, error = %e, "replica: disk full while applying; will retry");
                    return Ok(());
                }
                return Err(e);
            }
            batch.pop_front();
        }
        Ok(())
    });
    {
        use storage::CommitLog;
        log.flush().map_err(err)?;
        if storage.durability() == storage::Durability::Always {
            log.sync().map_err(err)?;
        }
    }
    shared.repl.notify_data();
    result.map(|()| batch)
}

// ---- commands ----

/// `REPLICAOF host port | NO ONE` (and `SLAVEOF`).
pub fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    if shared.binlog.get().is_none() {
        return Frame::error("ERR replication needs the binlog (binlog yes)");
    }
    let Some(me) = shared.me() else {
        return Frame::error("ERR server not ready");
    };
    if eq_ic(&args[1], "no") && eq_ic(&args[2], "one") {
        if let Some(link) = take_link(shared) {
            promote(shared, &link, !ctx.session.in_exec);
            let _ = shared.with_config_mut(|c| c.set("replicaof", ""));
        }
        return Frame::ok();
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = match std::str::from_utf8(&args[2])
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        Some(p) if p > 0 => p,
        _ => return Frame::error("ERR Invalid master port"),
    };
    if let Some(l) = shared.repl.link() {
        if l.host == host && l.port == port {
            return Frame::Simple("OK Already connected to specified master".into());
        }
    }
    if let Some(old) = take_link(shared) {
        old.cancel.cancel();
        if !ctx.session.in_exec {
            drop(lock(&old.apply_lock));
        }
    }
    {
        // Writes in flight finish first (the exclusive gate; inside EXEC this client already
        // holds it): a write that comes after sees the new role and is refused.
        let storage = shared.storage();
        let _gate = (!ctx.session.in_exec).then(|| storage.exclusive());
        follow(&me, &host, port);
    }
    let _ = shared.with_config_mut(|c| c.set("replicaof", &format!("{host} {port}")));
    Frame::ok()
}

/// Starts following `host:port` (also at start-up from `replicaof`).
pub fn follow(shared: &Arc<Shared>, host: &str, port: u16) {
    let r = &shared.repl;
    // Replicas of this server reconnect: they continue with the history this one follows.
    r.drop_feeders();
    let link = start(shared, host, port);
    *lock(&r.role) = Role::Replica(link);
    r.is_replica.store(true, Ordering::Release);
    tracing::info!(master = %format!("{host}:{port}"), "now a replica");
}

fn take_link(shared: &Shared) -> Option<Arc<Link>> {
    let mut role = lock(&shared.repl.role);
    match std::mem::replace(&mut *role, Role::Master) {
        Role::Replica(l) => Some(l),
        Role::Master => None,
    }
}

/// Becomes a master: the link stops (a batch being applied finishes first), a new history
/// starts after the last record, the former one stays valid up to there for the peers.
fn promote(shared: &Shared, link: &Link, wait_applier: bool) {
    link.cancel.cancel();
    // Inside EXEC this thread excludes every writer: the applier cannot finish its batch
    // (it stops at its next record, seeing the link cancelled, once EXEC is over).
    let _g = wait_applier.then(|| lock(&link.apply_lock));
    let r = &shared.repl;
    let last = super::last_offset(shared);
    if let Err(e) = r.update_state(|st| st.history.promote(last + 1)) {
        tracing::error!(error = %e, "cannot write the state file");
    }
    shared.storage().mark_recovered(last);
    r.is_replica.store(false, Ordering::Release);
    r.drop_feeders();
    tracing::info!(
        offset = last,
        "MASTER MODE enabled: promoted, new history from {}",
        last + 1
    );
}

/// `ROLE`.
pub fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let offset = super::last_offset(shared) as i64;
    match shared.repl.link() {
        Some(l) => Frame::Array(vec![
            Frame::bulk_str("slave"),
            Frame::bulk_str(&l.host),
            Frame::Integer(l.port as i64),
            Frame::bulk_str(l.status_name()),
            Frame::Integer(offset),
        ]),
        None => {
            let replicas = lock(&shared.repl.replicas)
                .iter()
                .map(|f| {
                    Frame::Array(vec![
                        Frame::bulk_str(&f.ip),
                        Frame::bulk_str(&f.port.to_string()),
                        Frame::bulk_str(&f.acked.load(Ordering::Relaxed).to_string()),
                    ])
                })
                .collect();
            Frame::Array(vec![
                Frame::bulk_str("master"),
                Frame::Integer(offset),
                Frame::Array(replicas),
            ])
        }
    }
}
