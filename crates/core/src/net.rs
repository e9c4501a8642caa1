//! Commands whose work belongs to the server crate above this one (the replication links, the
//! snapshot transfer service, FAILOVER's procedure): the command table declares them here
//! like any other, and the server registers their handlers when it starts ([`register`]).
//! Until then (a unit test building a table) they answer an error.

use std::sync::OnceLock;

use bytes::Bytes;
use resp::Frame;

use crate::commands::{Ctx, Handler};

/// The handlers the server crate provides.
pub struct NetCommands {
    pub replicaof: Handler,
    pub role: Handler,
    pub failover: Handler,
    pub wait: Handler,
    pub replconf: Handler,
    pub psync: Handler,
    pub sync: Handler,
    pub syncfile: Handler,
}

static NET: OnceLock<NetCommands> = OnceLock::new();

/// Installs the server's handlers (once per process; they are the same for every server).
pub fn register(c: NetCommands) {
    let _ = NET.set(c);
}

fn call(pick: fn(&NetCommands) -> Handler, ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match NET.get() {
        Some(n) => pick(n)(ctx, args),
        None => Frame::error("ERR this command needs the server's replication service"),
    }
}

pub fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.replicaof, ctx, args)
}
pub fn role(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.role, ctx, args)
}
pub fn failover(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.failover, ctx, args)
}
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.wait, ctx, args)
}
pub fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.replconf, ctx, args)
}
pub fn psync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.psync, ctx, args)
}
pub fn sync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.sync, ctx, args)
}
pub fn syncfile(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    call(|n| n.syncfile, ctx, args)
}
