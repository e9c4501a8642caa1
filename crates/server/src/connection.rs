//! One client connection: read bytes, decode every complete request in the buffer, run each in
//! order, encode the replies into one output buffer and write it back. Pipelined requests are
//! thus answered strictly in order and in as few writes as possible.
//!
//! Memory per connection is bounded: the input buffer plus the request being assembled may not
//! exceed `client-query-buffer-limit`, no single bulk may exceed `proto-max-bulk-len`, and the
//! output buffer is flushed (waiting for the client to read) whenever it passes 64 KB, so a
//! client that does not read its replies stops being read from.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::tls::Conn;
use bytes::{Bytes, BytesMut};
use resp::{Frame, Limits, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::clients::ClientEntry;
use crate::commands::{self, flags, multi, Session, TABLE};
use crate::shared::Shared;

const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

fn limits(shared: &Shared) -> (Limits, usize) {
    let h = &shared.hot;
    let r = Ordering::Relaxed;
    (
        Limits {
            max_bulk_len: h.max_bulk_len.load(r) as usize,
            max_multibulk_len: h.max_multibulk_len.load(r) as usize,
            max_inline_len: h.max_inline_len.load(r) as usize,
        },
        h.query_buffer_limit.load(r) as usize,
    )
}

/// Serves one client until it quits, is killed, breaks the protocol or the server stops.
pub async fn serve(shared: Arc<Shared>, stream: Conn, client: Arc<ClientEntry>) {
    let mut session = Session::new(
        client.clone(),
        !shared.hot.password_set.load(Ordering::Relaxed),
        shared.access.default_user(),
    );
    // A bug that panics in a command ends this connection only: its cleanup below still
    // runs, and every guard of the write path (locks, transaction, records, held events) was
    // released by the unwinding, so the next command on this worker is unaffected.
    let served = CatchUnwind(Box::pin(serve_session(
        &shared,
        stream,
        &client,
        &mut session,
    )));
    let stream = served.await.unwrap_or_else(|_| {
        tracing::error!(
            client = client.id,
            "a command panicked: the connection is closed"
        );
        None
    });
    if let Some(mut stream) = stream {
        // Shutdown: every request received has been run and answered (stage 2); the
        // connection closes when the server says so (stage 3).
        client.drained.store(true, Ordering::Release);
        tokio::select! {
            _ = shared.close_connections.cancelled() => {}
            _ = client.kill.cancelled() => {}
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), stream.shutdown()).await;
    }
    client.drained.store(true, Ordering::Release);
    // Whatever ended the connection: its subscriptions and tracking go with it.
    if let Some(mut sub) = session.sub.take() {
        shared.pubsub.unsubscribe_all(&mut sub);
    }
    if session.tracking {
        shared.tracking.disable(client.id);
    }
    if session.monitoring {
        shared.monitors.remove(client.id);
    }
}

/// A future whose panic is caught and returned as an error (the connection's task ends
/// cleanly instead of unwinding out of the worker's runtime).
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

/// Serves until the connection ends (`None`) or the server shuts down after this
/// connection's received requests were all answered (`Some(stream)`, still open).
async fn serve_session(
    shared: &Arc<Shared>,
    mut stream: Conn,
    client: &Arc<ClientEntry>,
    session: &mut Session,
) -> Option<Conn> {
    let (lim, mut qbuf_limit) = limits(shared);
    let mut parser = RequestParser::new(lim);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
    // Made once: waiting on them again each round costs no new registration.
    let killed = client.kill.cancelled();
    tokio::pin!(killed);
    let stopping = shared.shutdown.cancelled();
    tokio::pin!(stopping);
    loop {
        // Run every complete request already buffered. Consecutive plain GETs of a pipeline
        // are answered with one batched engine lookup (same replies, same order).
        // Consecutive single-key writes (to any keys) are run as one key batch.
        let mut gets: Vec<Bytes> = Vec::new();
        let mut writes: Vec<(usize, Vec<Bytes>)> = Vec::new();
        let mut scripts: Vec<(usize, Vec<Bytes>)> = Vec::new();
        loop {
            let mut parsed = parser.parse(&mut rbuf, session.authed);
            // Consecutive pipelined scripts go to the script thread together (each still its
            // own atomic unit, in order): one hand-over for the run instead of one per script.
            let script = match &parsed {
                Ok(Some(args))
                    if batchable(shared, session) && scripts.len() < MAX_SCRIPT_BATCH =>
                {
                    // EVAL*, FCALL*: a byte test first keeps the table lookup off the path of
                    // every other pipelined command.
                    matches!(
                        args[0].first().map(u8::to_ascii_lowercase),
                        Some(b'e' | b'f')
                    )
                    .then(|| commands::lookup(&args[0]))
                    .flatten()
                    .filter(|&i| TABLE[i].flags & flags::RUNS_SCRIPT != 0)
                }
                _ => None,
            };
            if !scripts.is_empty() && script.is_none() {
                execute_scripts(shared, session, &mut scripts, &mut wbuf).await;
            }
            if let Some(idx) = script {
                // What was batched before the script runs before it.
                if !gets.is_empty() {
                    execute_gets(shared, session, &mut gets, &mut wbuf);
                }
                if !writes.is_empty() {
                    execute_writes(shared, session, &mut writes, &mut wbuf);
                }
                if let Ok(Some(args)) = std::mem::replace(&mut parsed, Ok(None)) {
                    scripts.push((idx, args));
                }
                continue;
            }
            if let Ok(Some(args)) = &parsed {
                let plain = batchable(shared, session) && !shared.scripts.running();
                if plain
                    && writes.is_empty()
                    && args.len() == 2
                    && gets.len() < MAX_GET_BATCH
                    && is_get(&args[0])
                    // A request the user's ACL refuses goes the normal way (its error there).
                    && (session.user.is_open() || crate::access::allowed_get(session, args))
                {
                    gets.push(args[1].clone());
                    continue;
                }
                if plain && gets.is_empty() {
                    // While clients are blocked, every write must be able to serve them
                    // before the next command runs (as in Redis): no batching then.
                    // A replica's writes are refused by the central check: never batched.
                    let idx = if shared.blocked.count() == 0
                        && !shared.guard.full()
                        && !shared.shutdown_wait.paused.load(Ordering::Relaxed)
                        && !crate::replication::is_replica(shared)
                    {
                        batchable_write(args).filter(|&i| crate::access::allowed(session, i, args))
                    } else {
                        None
                    };
                    if !writes.is_empty() && (idx.is_none() || writes.len() >= MAX_WRITE_BATCH) {
                        execute_writes(shared, session, &mut writes, &mut wbuf);
                    }
                    if let Some(idx) = idx {
                        if let Ok(Some(args)) = std::mem::replace(&mut parsed, Ok(None)) {
                            writes.push((idx, args));
                        }
                        continue;
                    }
                }
            }
            if !gets.is_empty() {
                execute_gets(shared, session, &mut gets, &mut wbuf);
            }
            if !writes.is_empty() {
                execute_writes(shared, session, &mut writes, &mut wbuf);
                if wbuf.len() >= OUTPUT_FLUSH_BYTES
                    && !flush(shared, session, &mut stream, &mut wbuf).await
                {
                    return None;
                }
            }
            match parsed {
                Ok(Some(args)) => {
                    // CLIENT REPLY OFF/SKIP: the command's name decides whether its reply goes.
                    let was_on = session.replies_on();
                    let name0 = (!was_on).then(|| args[0].clone());
                    let mut reply = execute(shared, session, args).await;
                    if let Some(t) = session.takeover.take() {
                        use crate::replication::master::{self as rm, Takeover};
                        match t {
                            Takeover::Delay(d) => tokio::time::sleep(d).await,
                            Takeover::Wait {
                                n,
                                target,
                                deadline,
                            } => {
                                if !wbuf.is_empty()
                                    && !flush(shared, session, &mut stream, &mut wbuf).await
                                {
                                    return None;
                                }
                                reply = rm::wait_acks(shared, n, target, deadline).await;
                            }
                            Takeover::FullSync => reply = rm::full_sync_reply(shared).await,
                            Takeover::ShutdownWait => {
                                let w = &shared.shutdown_wait;
                                loop {
                                    let ended = w.ended.notified();
                                    if !w.waiting() {
                                        break;
                                    }
                                    tokio::select! {
                                        _ = ended => {}
                                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                                    }
                                }
                                if w.outcome.load(Ordering::Acquire) == 1 {
                                    reply =
                                        Frame::error("ERR Errors trying to SHUTDOWN. Check logs.");
                                } else {
                                    // Redis closes the connection without a reply.
                                    reply = Frame::Raw(Bytes::new());
                                    session.close_after_reply = true;
                                }
                            }
                            Takeover::Feed { next, feeder } => {
                                reply.encode(session.proto, &mut wbuf);
                                if !flush(shared, session, &mut stream, &mut wbuf).await {
                                    rm::unregister(shared, &feeder);
                                    return None;
                                }
                                rm::feed(shared, &mut stream, &mut rbuf, session, next, feeder)
                                    .await;
                                return None;
                            }
                        }
                    }
                    if let Some(wait) = session.wait.take() {
                        // Earlier pipelined replies go out before this client blocks.
                        if !wbuf.is_empty() && !flush(shared, session, &mut stream, &mut wbuf).await
                        {
                            shared.blocked.cancel(wait.id);
                            return None;
                        }
                        client.blocked.store(true, Ordering::Relaxed);
                        let served = block(
                            shared,
                            client,
                            &mut stream,
                            &mut rbuf,
                            wait,
                            session.ns.clone(),
                        )
                        .await;
                        client.blocked.store(false, Ordering::Relaxed);
                        match served {
                            Some(served) => {
                                session.wal_seq = session.wal_seq.max(served.wal_seq);
                                reply = served.reply;
                                if session.ns_dropped() {
                                    session.close_after_reply = true;
                                }
                            }
                            None => return None,
                        }
                    }
                    shared.error_reply(&reply);
                    let send = (was_on && session.replies_on()) || {
                        let name = name0
                            .and_then(|n| commands::lookup(&n))
                            .map_or("client", |i| TABLE[i].name);
                        session.take_reply_allowed(name)
                    };
                    if send {
                        reply.encode(session.proto, &mut wbuf);
                    }
                    if session.tracking {
                        // Invalidations this command caused for the client itself go out
                        // right after its reply, as in Redis 7.0.
                        deliver_pending(session, &mut wbuf);
                    }
                    if session.close_after_reply {
                        break;
                    }
                    if wbuf.len() >= OUTPUT_FLUSH_BYTES
                        && !flush(shared, session, &mut stream, &mut wbuf).await
                    {
                        return None;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(client = client.id, addr = %client.addr, error = %e, "protocol error, closing connection");
                    let f = Frame::Error(format!("ERR {e}"));
                    f.encode(session.proto, &mut wbuf);
                    shared.error_reply(&f);
                    let _ = flush(shared, session, &mut stream, &mut wbuf).await;
                    return None;
                }
            }
        }
        if !wbuf.is_empty() && !flush(shared, session, &mut stream, &mut wbuf).await {
            return None;
        }
        if session.close_after_reply {
            let _ = stream.shutdown().await;
            return None;
        }
        // Refresh limits (CONFIG SET may have changed them) and enforce the query buffer limit.
        if parser.is_idle() {
            let (lim, q) = limits(shared);
            parser.set_limits(lim);
            qbuf_limit = q;
        }
        let pending = rbuf.len() + parser.held_bytes();
        client.query_buf.store(pending as u64, Ordering::Relaxed);
        if pending > qbuf_limit {
            tracing::warn!(client = client.id, addr = %client.addr, bytes = pending, "closing client that reached max query buffer length");
            return None;
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let idle_timeout = shared.hot.idle_timeout_secs.load(Ordering::Relaxed);
        let idle = async {
            if idle_timeout == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(idle_timeout)).await
            }
        };
        if shared.shutdown.is_cancelled() {
            // Requests already received have been run and answered: nothing new is read.
            return Some(stream);
        }
        let ns = session.ns.clone();
        let dropped = async {
            match &ns {
                Some(n) => n.dropped.cancelled().await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => return None,
                Ok(n) => shared.bump(&shared.stats.net_input_bytes, n as u64),
            },
            _ = dropped => {
                // Its namespace was dropped while idle or subscribed: told once, let go.
                if let Some(n) = &ns {
                    let f = n.dropped_error();
                    f.encode(session.proto, &mut wbuf);
                    shared.error_reply(&f);
                }
                let _ = flush(shared, session, &mut stream, &mut wbuf).await;
                let _ = stream.shutdown().await;
                return None;
            }
            _ = &mut killed => {
                tracing::debug!(client = client.id, "connection killed");
                return None;
            }
            _ = &mut stopping => return None,
            m = next_message(session) => {
                if let Some(m) = m {
                    deliver(session, m, &mut wbuf);
                    if !flush(shared, session, &mut stream, &mut wbuf).await {
                        return None;
                    }
                }
            }
            _ = idle, if !session.subscribed() => {
                tracing::debug!(client = client.id, "closing idle client");
                return None;
            }
        }
    }
}

/// Waits for a blocked command's reply: served by a writer, timed out, or unblocked. Input
/// that arrives meanwhile is kept for later (bounded by the query buffer limit). `None`: the
/// connection is gone (closed, killed, over its limit) and must end.
async fn block(
    shared: &Arc<Shared>,
    client: &Arc<ClientEntry>,
    stream: &mut Conn,
    rbuf: &mut BytesMut,
    mut wait: crate::blocking::Wait,
    ns: Option<Arc<crate::namespace::Ns>>,
) -> Option<crate::blocking::Served> {
    let dropped = async {
        match &ns {
            Some(n) => n.dropped.cancelled().await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(dropped);
    let deadline = wait.timeout.map(|t| tokio::time::Instant::now() + t);
    let timed_out = |shape: crate::blocking::Shape| crate::blocking::Served {
        reply: shape.timeout_reply(),
        wal_seq: 0,
    };
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = &mut wait.rx => {
                return Some(r.unwrap_or_else(|_| timed_out(wait.shape)));
            }
            _ = sleep => {
                shared.blocked.cancel(wait.id);
                // Served just before the cancel took effect: that reply wins.
                return Some(wait.rx.try_recv().unwrap_or_else(|_| timed_out(wait.shape)));
            }
            r = stream.read_buf(rbuf) => match r {
                Ok(n) if n > 0 && rbuf.len() <= shared.hot.query_buffer_limit.load(Ordering::Relaxed) as usize => {
                    shared.bump(&shared.stats.net_input_bytes, n as u64);
                }
                _ => {
                    shared.blocked.cancel(wait.id);
                    return None;
                }
            },
            _ = client.kill.cancelled() => {
                shared.blocked.cancel(wait.id);
                return None;
            }
            _ = &mut dropped => {
                // Its namespace was dropped: woken with the permanent error (then let go).
                shared.blocked.cancel(wait.id);
                if let Ok(served) = wait.rx.try_recv() {
                    return Some(served);
                }
                return Some(crate::blocking::Served {
                    reply: ns.as_ref().map_or(Frame::Null, |n| n.dropped_error()),
                    wal_seq: 0,
                });
            }
            _ = shared.shutdown.cancelled() => {
                // Shutting down: answer as if the timeout had passed.
                shared.blocked.cancel(wait.id);
                return Some(wait.rx.try_recv().unwrap_or_else(|_| timed_out(wait.shape)));
            }
        }
    }
}

/// The next Pub/Sub message for this connection (never resolves when not subscribed).
async fn next_message(session: &mut Session) -> Option<crate::pubsub::Message> {
    match session.sub.as_mut() {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Encodes the messages already queued for this connection, if any.
fn deliver_pending(session: &mut Session, wbuf: &mut BytesMut) {
    if let Some(first) = session.sub.as_mut().and_then(|s| s.rx.try_recv().ok()) {
        deliver(session, first, wbuf);
    }
}

/// Encodes a message and whatever else is already queued (bounded per round).
fn deliver(session: &mut Session, first: crate::pubsub::Message, wbuf: &mut BytesMut) {
    let proto = session.proto;
    let Some(sub) = session.sub.as_mut() else {
        return;
    };
    let mut next = Some(first);
    let mut n = 0;
    while let Some(m) = next {
        m.frame(proto).encode(proto, wbuf);
        sub.delivered(&m);
        n += 1;
        if n >= 1024 || wbuf.len() >= OUTPUT_FLUSH_BYTES {
            break;
        }
        next = sub.rx.try_recv().ok();
    }
}

/// Writes the buffered replies, after the writes they acknowledge are as durable as
/// `appendfsync` promises.
async fn flush(
    shared: &Arc<Shared>,
    session: &mut Session,
    stream: &mut Conn,
    wbuf: &mut BytesMut,
) -> bool {
    if session.wal_seq > 0 {
        let seq = session.wal_seq;
        if shared.storage().needs_barrier(seq) {
            // Let the other ready connections of this thread run their commands first: one
            // WAL write (or fsync) then covers all of them — group commit, like Redis's AOF
            // write before its event loop sleeps.
            tokio::task::yield_now().await;
        }
        let result = if !shared.storage().needs_barrier(seq) {
            Ok(())
        } else if shared.storage().durability() == storage::Durability::Always {
            // An fsync by the sync thread, shared with every connection waiting meanwhile.
            if shared.syncer.wait(seq).await {
                Ok(())
            } else {
                Err(storage::Error::Io(std::io::Error::other("fsync failed")))
            }
        } else {
            shared.storage().wal_barrier(seq)
        };
        if let Err(e) = result {
            // The writes may not survive a crash: do not acknowledge them.
            tracing::error!(error = %e, "WAL flush failed; closing the connection without replies");
            return false;
        }
        session.wal_seq = 0;
        shared.repl.notify_data();
    }
    let n = wbuf.len();
    shared.bump(&shared.stats.net_output_bytes, n as u64);
    // Fast path: the socket takes the whole reply at once (almost always). Only a reply that
    // does not fit waits below, where a kill or the end of shutdown's grace can stop it.
    let mut sent = 0;
    while sent < n {
        match stream.try_write(&wbuf[sent..]) {
            Ok(0) => {
                wbuf.clear();
                return false;
            }
            Ok(k) => sent += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                wbuf.clear();
                return false;
            }
        }
    }
    if sent == n {
        wbuf.clear();
        return true;
    }
    let _ = wbuf.split_to(sent);
    // A client killed (or over its output limit) while its socket is full stops here; so does
    // one that still does not read when shutdown's stage 2 ends (it must not hold it).
    let shutdown_grace = shared.shutdown_force.cancelled();
    let ok = tokio::select! {
        r = async {
            stream.write_all(wbuf).await?;
            // TLS: the records still buffered go out now.
            stream.flush().await
        } => r.is_ok(),
        _ = session.client.kill.cancelled() => false,
        _ = shutdown_grace => {
            tracing::warn!(client = session.client.id, "shutdown: dropping replies of a client that does not read");
            false
        }
    };
    wbuf.clear();
    ok
}

/// Whether this session's pipelined requests may be run in batches (GETs, key batches,
/// scripts): replies all on, nothing per request to observe or wait for (tracking, MONITOR,
/// CLIENT PAUSE, MULTI queueing, Pub/Sub mode, a dropped namespace).
fn batchable(shared: &Shared, session: &Session) -> bool {
    session.authed
        && session.replies_on()
        && !session.tracking
        && shared.monitors.count() == 0
        && !shared.client_pause.active()
        && session.multi.is_none()
        && session.sub.is_none()
        && !session.ns_dropped()
}

const SCRIPT_THREAD_GONE: &str = "ERR the script thread stopped";

/// Lends this connection's session to the script thread: `send` hands it over (the worker
/// serves its other connections meanwhile) and the receiver brings it back with the result.
/// `None` if the script thread is gone: the connection is then closed after the reply (its
/// session stayed there).
async fn lend_session<T>(
    session: &mut Session,
    send: impl FnOnce(Session) -> tokio::sync::oneshot::Receiver<(Session, T)>,
) -> Option<T> {
    let placeholder = Session::new(session.client.clone(), session.authed, session.user.clone());
    let moved = std::mem::replace(session, placeholder);
    match send(moved).await {
        Ok((moved, out)) => {
            *session = moved;
            Some(out)
        }
        Err(_) => {
            session.close_after_reply = true;
            None
        }
    }
}

/// Runs `f` on the script thread with this connection's session (see [`lend_session`]),
/// scripts counted as running throughout (`Scripts::hold`).
async fn on_script_thread<T: Send + 'static>(
    shared: &Arc<Shared>,
    session: &mut Session,
    f: impl FnOnce(&Arc<Shared>, &mut Session) -> T + Send + 'static,
) -> Option<T> {
    let sh = shared.clone();
    lend_session(session, move |mut moved| {
        shared.scripts.offload(move || {
            let running = sh.scripts.hold();
            let out = f(&sh, &mut moved);
            drop(running);
            (moved, out)
        })
    })
    .await
}

const MAX_GET_BATCH: usize = 128;
const MAX_SCRIPT_BATCH: usize = 64;

/// Runs a run of pipelined scripts on the script thread in one hand-over: each goes through
/// the central checks and runs as its own atomic unit's part, in order, with one record each;
/// the run is committed together (and with the runs of other connections queued at the same
/// time, see `scripting::group`). The replies are those of running them one by one (a run
/// that meets a script busy past the threshold gets -BUSY for each).
async fn execute_scripts(
    shared: &Arc<Shared>,
    session: &mut Session,
    run: &mut Vec<(usize, Vec<Bytes>)>,
    wbuf: &mut BytesMut,
) {
    let batch = std::mem::take(run);
    let threshold =
        Duration::from_millis(shared.hot.busy_reply_threshold_ms.load(Ordering::Relaxed));
    let replies: Vec<Frame> = if shared.scripts.busy(threshold) {
        vec![Frame::error(crate::scripting::BUSY); batch.len()]
    } else {
        let n = batch.len();
        lend_session(session, |moved| {
            crate::scripting::Scripts::run_scripts(shared, moved, batch)
        })
        .await
        .unwrap_or_else(|| vec![Frame::error(SCRIPT_THREAD_GONE); n])
    };
    for r in &replies {
        shared.error_reply(r);
        r.encode(session.proto, wbuf);
    }
}
const MAX_WRITE_BATCH: usize = 256;

/// Whether a pipelined request can join the current run of single-key writes: a write
/// command (not blocking) that touches exactly its first argument as key and nothing else
/// (no numkeys sources, no BY patterns, no other database).
fn batchable_write(args: &[Bytes]) -> Option<usize> {
    let idx = commands::lookup(&args[0])?;
    let spec = &TABLE[idx];
    let n = args.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || (spec.arity < 0 && n < -spec.arity) {
        return None;
    }
    if spec.flags & flags::WRITE == 0
        || spec.flags & flags::BLOCKING != 0
        || spec.flags & flags::NO_KEY_BATCH != 0
        || spec.first_key != 1
        || spec.last_key != 1
    {
        return None;
    }
    Some(idx)
}

/// Runs a run of pipelined single-key writes as one key batch: the locks of all their keys
/// are taken once (in ascending stripe order, as any multi-key command), each command reads
/// the writes before it, and all their writes are committed as one engine batch with one
/// binlog record per command (replies are the same as one by one; if the commit fails, every
/// command of the run gets the error and none of them took effect). One lane lock, one log
/// append and one RocksDB write for the run instead of one per command.
fn execute_writes(
    shared: &Arc<Shared>,
    session: &mut Session,
    run: &mut Vec<(usize, Vec<Bytes>)>,
    wbuf: &mut BytesMut,
) {
    let mut keys: Vec<Bytes> = run.iter().map(|(_, args)| args[1].clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let replies: Vec<Frame> = if run.len() == 1 {
        let (idx, args) = &run[0];
        session.client.touch(*idx);
        vec![commands::call(shared, session, *idx, args)]
    } else {
        // One binlog record per command, all appended with the batch; keyspace events go out
        // once it is committed.
        let unit = crate::commitlog::run_unit(
            shared,
            &shared.storage(),
            session,
            crate::commitlog::Unit::Keys(keys.iter().map(|k| k.as_ref()).collect()),
            crate::commitlog::Commit::Logged { one_record: false },
            "key-batch-before-commit",
            |session, txn| {
                Some(
                    run.iter()
                        .map(|(idx, args)| {
                            session.client.touch(*idx);
                            commands::call_in(shared, session, txn.db(), *idx, args)
                        })
                        .collect::<Vec<Frame>>(),
                )
            },
        );
        match unit {
            Ok(replies) => replies.unwrap_or_default(),
            Err(e) => {
                let f = commands::storage_error(e);
                vec![f; run.len()]
            }
        }
    };
    for r in &replies {
        shared.error_reply(r);
        r.encode(session.proto, wbuf);
    }
    run.clear();
    if shared.blocked.count() > 0 {
        let ldb = session.ldb;
        crate::blocking::signal(shared, keys.into_iter().map(|k| (ldb, k)));
    }
}

fn is_get(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"get")
}

/// Answers a run of pipelined `GET key` requests with one batched lookup. Only used for
/// requests that would pass every central check (authenticated, arity 2), so the replies and
/// statistics are exactly those of running them one by one.
fn execute_gets(
    shared: &Arc<Shared>,
    session: &mut Session,
    keys: &mut Vec<Bytes>,
    wbuf: &mut BytesMut,
) {
    let Some(idx) = commands::lookup(b"get") else {
        return;
    };
    session.client.touch(idx);
    let start = Instant::now();
    let n = keys.len() as u64;
    let (mut hits, mut failed) = (0u64, 0u64);
    let engine = shared.storage();
    let cx = storage::WriteCx::new();
    let db = engine.db(&cx);
    session.resolve_db(&db);
    let misses = crate::notify::key_misses_on(shared);
    match db.get_many(session.db, keys) {
        Ok(results) => {
            for (i, r) in results.into_iter().enumerate() {
                let frame = match r {
                    Ok(Some(v)) => {
                        hits += 1;
                        Frame::Bulk(v)
                    }
                    Ok(None) => {
                        if misses {
                            let (pdb, held) = (session.db, &session.held);
                            crate::notify::key_miss(shared, &db, held, pdb, &keys[i]);
                        }
                        Frame::Null
                    }
                    Err(e) => {
                        failed += 1;
                        commands::storage_error(e)
                    }
                };
                shared.error_reply(&frame);
                frame.encode(session.proto, wbuf);
            }
        }
        Err(e) => {
            let frame = commands::storage_error(e);
            for _ in 0..n {
                shared.error_reply(&frame);
                frame.encode(session.proto, wbuf);
            }
            failed = n;
        }
    }
    keys.clear();
    let st = &shared.cmdstats[idx];
    shared.record_call(st, start.elapsed(), n);
    st.failed.fetch_add(failed, Ordering::Relaxed);
    let stats = &shared.stats;
    shared.bump(&stats.keyspace_hits, hits);
    shared.bump(&stats.keyspace_misses, n - hits - failed);
    shared.bump(&stats.commands_processed, n);
}

/// Runs one request: central checks, then the handler; records statistics.
pub async fn execute(shared: &Arc<Shared>, session: &mut Session, args: Vec<Bytes>) -> Frame {
    if let Some(ns) = session.ns.as_ref().filter(|n| n.dropped.is_cancelled()) {
        // The next command after its namespace was dropped: the permanent error, once.
        let e = ns.dropped_error();
        session.close_after_reply = true;
        return e;
    }
    let checked = commands::check(shared, session, &args);
    if shared.scripts.running() {
        // As in Redis, nothing else runs while a script does: wait for it, or get -BUSY once
        // it has run longer than `busy-reply-threshold` (SCRIPT KILL and a few others go on).
        // Another script does not wait here: it queues on the script thread (which runs
        // scripts one after the other), unless the running one is already past the threshold.
        if let Ok(i) = checked {
            let threshold =
                Duration::from_millis(shared.hot.busy_reply_threshold_ms.load(Ordering::Relaxed));
            if TABLE[i].flags & flags::RUNS_SCRIPT != 0 {
                if shared.scripts.busy(threshold) {
                    return Frame::error(crate::scripting::BUSY);
                }
            } else if !crate::scripting::allowed_while_busy(i, &args) {
                if let Err(f) = shared.scripts.wait_or_busy(threshold).await {
                    return f;
                }
            }
        }
    }
    if let Ok(i) = checked {
        if session.proto == resp::Protocol::Resp2
            && session.subscribed()
            && !commands::pubsub::allowed_while_subscribed(TABLE[i].name)
        {
            return Frame::Error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                commands::full_name(i, &args)
            ));
        }
    }
    if let Some(queue) = session.multi.as_mut() {
        let immediate = matches!(checked, Ok(i) if multi::runs_immediately(TABLE[i].name));
        if !immediate {
            if let Ok(i) = checked {
                session.client.touch(i);
            }
            // Redis's `no_multi` commands (SHUTDOWN, SAVE, PSYNC) are refused, and flag the
            // transaction like any other error at queue time.
            let checked = match checked {
                Ok(i) if TABLE[i].flags & flags::NO_MULTI != 0 => {
                    shared
                        .stat(i, &args)
                        .rejected
                        .fetch_add(1, Ordering::Relaxed);
                    Err(Frame::error("ERR Command not allowed inside a transaction"))
                }
                other => other,
            };
            return multi::enqueue(queue, &session.client, checked, args);
        }
    }
    let idx = match checked {
        Ok(i) => i,
        Err(f) => return f,
    };
    let spec = &TABLE[idx];
    session.client.touch(idx);
    session
        .client
        .last_sub
        .store(commands::subcommand_slot(idx, &args), Ordering::Relaxed);
    let is_write = spec.flags & flags::WRITE != 0 || spec.name == "exec";
    if !session.client.replica.load(Ordering::Relaxed) {
        // CLIENT PAUSE: this client waits (WRITE: only commands that write or replicate).
        let writes = is_write || spec.flags & flags::MAY_REPLICATE != 0;
        let mut waited = false;
        while let Some(left) = shared.client_pause.wait_for(writes) {
            waited = true;
            let ended = shared.client_pause.ended.notified();
            tokio::select! {
                _ = ended => {}
                _ = tokio::time::sleep(left.min(Duration::from_millis(100))) => {}
            }
        }
        if waited {
            // The server may have changed meanwhile (a FAILOVER made it a replica): the
            // central checks again, so a paused write gets -READONLY rather than applying
            // locally and being lost.
            if let Err(f) = commands::check(shared, session, &args) {
                return f;
            }
        }
    }
    if is_write {
        // A shutdown waits for its replicas: writes wait for it to end (or be aborted).
        let w = &shared.shutdown_wait;
        while w.paused.load(Ordering::Acquire) {
            let ended = w.ended.notified();
            if !w.paused.load(Ordering::Acquire) {
                break;
            }
            tokio::select! {
                _ = ended => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
    // A script may run for long: it runs on the script thread while this connection's
    // worker goes on serving its other connections (their -BUSY replies, SCRIPT KILL).
    let runs_script = spec.flags & flags::RUNS_SCRIPT != 0
        || (spec.name == "exec"
            && session.multi.as_ref().is_some_and(|q| {
                q.commands
                    .iter()
                    .any(|(i, _)| TABLE[*i].flags & flags::RUNS_SCRIPT != 0)
            }));
    if runs_script {
        let a = args.clone();
        return on_script_thread(shared, session, move |sh, moved| {
            commands::call(sh, moved, idx, &a)
        })
        .await
        .unwrap_or_else(|| Frame::error(SCRIPT_THREAD_GONE));
    }
    let run = |session: &mut Session| commands::call(shared, session, idx, &args);
    // With `appendfsync always` a write waits for an fsync: let the runtime move other
    // connections off this thread meanwhile, so concurrent writers share fsyncs (group commit).
    let reply = if is_write
        && shared.storage().durability() == storage::Durability::Always
        && tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
    {
        tokio::task::block_in_place(|| run(session))
    } else {
        run(session)
    };
    if spec.flags & flags::WRITE != 0 && shared.blocked.count() > 0 {
        // Serve the clients blocked on keys this command wrote, before its own reply.
        crate::blocking::signal(
            shared,
            crate::blocking::woken_by(shared, session.ldb, &args),
        );
    }
    reply
}
