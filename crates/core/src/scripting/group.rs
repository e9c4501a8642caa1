//! Scripts of several connections committed as one unit (group commit on the script thread).
//!
//! Every connection hands its (pipelined) scripts to the script thread as a [`ScriptRun`].
//! When the thread picks one up and more are already queued behind it, it runs them all in
//! one atomic unit (`commitlog::run_unit`, Alone): the scripts run one after the other in the
//! order they arrived (each sees the writes of those before it, as when they run one by one),
//! each keeps its own binlog record (`Sink::seal`), and all their writes reach the engine in
//! one batch with one binlog append. A connection gets its replies only after that commit, so
//! what it was told succeeded is as durable as a single script's reply. One write, one lane
//! lock and one log append per group instead of per script is the point.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use resp::Frame;

use crate::commands::{self, Session};
use crate::shared::Shared;

/// One connection's scripts, waiting for the script thread.
pub struct ScriptRun {
    pub(super) shared: Arc<Shared>,
    pub(super) session: Session,
    /// (command index, request) of each script, in the connection's order.
    pub(super) batch: Vec<(usize, Vec<Bytes>)>,
    /// When it was handed over (see [`run_batch`]: a run that waited while another
    /// connection's script went past `busy-reply-threshold` gets -BUSY).
    pub(super) queued: Instant,
    pub(super) done: tokio::sync::oneshot::Sender<(Session, Vec<Frame>)>,
}

/// The most runs joined into one unit (bounds how long the first one waits for its reply).
pub(super) const MAX_GROUP: usize = 32;

/// Runs the scripts of `runs`, which arrived in this order, as ONE unit and answers each run's
/// connection with its session and replies.
pub(super) fn run_group(mut runs: Vec<ScriptRun>) {
    let Some(sh) = runs.first().map(|r| r.shared.clone()) else {
        return;
    };
    let running = sh.scripts.hold();
    let engine = sh.storage();
    let mut replies: Vec<Vec<Frame>> = runs
        .iter()
        .map(|r| Vec::with_capacity(r.batch.len()))
        .collect();
    let (first, rest) = match runs.split_first_mut() {
        Some(split) => split,
        None => return,
    };
    // The first run's session owns the unit (its records, its held events); the others hold
    // their own events until the commit and borrow the unit's records while they run.
    let holding: Vec<bool> = rest.iter().map(|r| r.session.held.begin()).collect();
    let first_batch = &first.batch;
    let first_queued = first.queued;
    let unit = crate::commitlog::run_unit(
        &sh,
        &engine,
        &mut first.session,
        crate::commitlog::Unit::Alone,
        crate::commitlog::Commit::Logged { one_record: true },
        "script-batch-before-commit",
        |session, txn| {
            let (mine, others) = replies.split_first_mut()?;
            run_batch(&sh, session, txn, first_batch, first_queued, mine)?;
            for (run, out) in rest.iter_mut().zip(others.iter_mut()) {
                let s = &mut run.session;
                s.resolve_db(&txn.db());
                s.sink = session.sink.take();
                let ran = run_batch(&sh, s, txn, &run.batch, run.queued, out);
                session.sink = s.sink.take();
                ran?;
            }
            Some(())
        },
    );
    let committed = matches!(unit, Ok(Some(())));
    let wal_seq = first.session.wal_seq;
    for (run, holding) in rest.iter_mut().zip(holding) {
        if holding {
            run.session.held.release(&sh, committed);
        }
        run.session.wal_seq = run.session.wal_seq.max(wal_seq);
    }
    match unit {
        Ok(Some(())) => {
            let n: usize = runs.iter().map(|r| r.batch.len()).sum();
            sh.scripts.commits.fetch_add(1, Ordering::Relaxed);
            sh.scripts
                .committed_scripts
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(None) => {
            // SHUTDOWN NOSAVE: nothing of the unit is kept.
            for (run, out) in runs.iter().zip(replies.iter_mut()) {
                *out = vec![Frame::error(super::SHUTDOWN_KILLED); run.batch.len()];
            }
        }
        Err(e) => {
            let f = commands::storage_error(e);
            for (run, out) in runs.iter().zip(replies.iter_mut()) {
                *out = vec![f.clone(); run.batch.len()];
            }
        }
    }
    if sh.blocked.count() > 0 {
        // Clients blocked on keys the scripts wrote are served before the replies go out.
        let shr: &Shared = &sh;
        let keys: Vec<(u32, Bytes)> = runs
            .iter()
            .flat_map(|r| {
                let ldb = r.session.ldb;
                r.batch
                    .iter()
                    .flat_map(move |(_, args)| crate::blocking::woken_by(shr, ldb, args))
            })
            .collect();
        crate::blocking::signal(&sh, keys);
    }
    // Scripts count as running until their writes are committed (see `Scripts::hold`).
    drop(running);
    for (run, out) in runs.into_iter().zip(replies) {
        let _ = run.done.send((run.session, out));
    }
}

/// Runs one connection's scripts inside the unit: each through the central checks, each its
/// own record. `None`: SHUTDOWN NOSAVE stopped the unit.
///
/// If a script of another connection ran past `busy-reply-threshold` after this run was
/// handed over, the run is answered -BUSY and not run: in Redis its requests would have been
/// read during that script and refused (`wait_or_busy` does the same for other commands; a
/// connection's own later scripts wait for its long one, as Redis keeps a client's pipeline
/// for after its script).
fn run_batch(
    sh: &Arc<Shared>,
    session: &mut Session,
    txn: &storage::Txn<'_>,
    batch: &[(usize, Vec<Bytes>)],
    queued: Instant,
    replies: &mut Vec<Frame>,
) -> Option<()> {
    if sh.scripts.busy_after(queued) {
        replies.extend(std::iter::repeat_n(Frame::error(super::BUSY), batch.len()));
        return Some(());
    }
    for (idx, args) in batch {
        let reply = match commands::check(sh, session, args) {
            Ok(_) => {
                session.client.touch(*idx);
                commands::call_in(sh, session, txn.db(), *idx, args)
            }
            Err(f) => f,
        };
        if let Some(sink) = session.sink.as_mut() {
            sink.seal();
        }
        replies.push(reply);
        if sh.scripts.run.abort.load(Ordering::Acquire) {
            return None;
        }
    }
    Some(())
}
