//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.
//!
//! Between MULTI and EXEC the connection layer queues every command (after the central
//! arity and authentication checks; a command that fails them flags the transaction, and EXEC
//! then answers EXECABORT). EXEC takes the engine's transaction gate — no other writer runs
//! until it is done — checks the WATCHed keys, runs the queued commands in order (each sees
//! the writes of those before it) and commits their writes as one engine batch.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use resp::Frame;

use super::{storage_error, Ctx, TABLE};

/// The commands queued since MULTI.
#[derive(Default)]
pub struct Queue {
    pub commands: Vec<(usize, Vec<Bytes>)>,
    /// A command failed to queue: EXEC aborts.
    pub failed: bool,
}

/// Whether a command runs at once even inside MULTI.
pub fn runs_immediately(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

pub fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    if ctx.session.multi.is_some() {
        return Frame::error("ERR MULTI calls can not be nested");
    }
    ctx.session.multi = Some(Queue::default());
    ctx.session.client.multi.store(0, Ordering::Relaxed);
    Frame::ok()
}

pub fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    if ctx.session.multi.take().is_none() {
        return Frame::error("ERR DISCARD without MULTI");
    }
    ctx.session.client.multi.store(-1, Ordering::Relaxed);
    ctx.session.watches.clear();
    Frame::ok()
}

pub fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    if ctx.session.multi.is_some() {
        return Frame::error("ERR WATCH inside MULTI is not allowed");
    }
    for key in &args[1..] {
        match ctx.db.watch(ctx.session.ldb, key) {
            Ok(t) => ctx.session.watches.push(t),
            Err(e) => return storage_error(e),
        }
    }
    Frame::ok()
}

pub fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    ctx.session.watches.clear();
    Frame::ok()
}

pub fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Frame {
    let Some(queue) = ctx.session.multi.take() else {
        return Frame::error("ERR EXEC without MULTI");
    };
    ctx.session.client.multi.store(-1, Ordering::Relaxed);
    let watches = std::mem::take(&mut ctx.session.watches);
    if queue.failed {
        return Frame::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let shared = ctx.shared;
    let db = ctx.db;
    let mut written = Vec::new();
    // The whole transaction is one binlog record; its keyspace events go out once it is
    // committed.
    let unit = crate::commitlog::run_unit(
        shared,
        &db,
        ctx.session,
        crate::commitlog::Unit::Alone,
        crate::commitlog::Commit::Logged { one_record: true },
        "exec-before-commit",
        |session, txn| {
            for w in &watches {
                match txn.intact(w) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(storage_error(e))),
                }
            }
            session.in_exec = true;
            let replies: Vec<Frame> = queue
                .commands
                .iter()
                .map(|(idx, args)| {
                    if TABLE[*idx].flags & super::flags::WRITE != 0 {
                        written.push((session.ldb, *idx));
                    }
                    // The user's rules may have changed since the command was queued.
                    let reply = match crate::access::check_at_exec(shared, session, *idx, args) {
                        Some(refused) => refused,
                        None => super::call_in(shared, session, txn.db(), *idx, args),
                    };
                    // Errors inside the transaction count like any other (INFO errorstats).
                    shared.error_reply(&reply);
                    reply
                })
                .collect();
            session.in_exec = false;
            Some(Ok(replies))
        },
    );
    let replies = match unit {
        Ok(Some(Ok(replies))) => replies,
        Ok(Some(Err(f))) => return f,
        Ok(None) => return Frame::NullArray,
        Err(e) => return storage_error(e),
    };
    // Serve clients blocked on keys the transaction wrote, now that the writes are visible.
    if shared.blocked.count() > 0 {
        let keys: Vec<(u32, Bytes)> = queue
            .commands
            .iter()
            .filter(|(idx, _)| TABLE[*idx].flags & super::flags::WRITE != 0)
            .zip(written.iter())
            .flat_map(|((_, args), (db, _))| crate::blocking::woken_by(shared, *db, args))
            .collect();
        crate::blocking::signal(shared, keys);
    }
    Frame::Array(replies)
}

/// Queues a command received inside MULTI (`check` is the result of the central checks).
pub fn enqueue(
    queue: &mut Queue,
    client: &crate::clients::ClientEntry,
    check: Result<usize, Frame>,
    args: Vec<Bytes>,
) -> Frame {
    match check {
        Ok(idx) => {
            debug_assert!(!runs_immediately(TABLE[idx].name));
            queue.commands.push((idx, args));
            client
                .multi
                .store(queue.commands.len() as i64, Ordering::Relaxed);
            Frame::Simple("QUEUED".into())
        }
        Err(f) => {
            queue.failed = true;
            f
        }
    }
}
