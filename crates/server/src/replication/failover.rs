//! FAILOVER (Redis 6.2): a coordinated switch of roles with a replica, without losing a
//! write. Writes are paused (reads go on) and those already running are waited for (the
//! engine's transaction gate); once a replica has acknowledged every record (or,
//! with FORCE, when TIMEOUT passes) it is told to become a master (`REPLICAOF NO ONE`, with
//! `masterauth` if set), and this server follows it. ABORT, or a TIMEOUT without FORCE,
//! unpauses and stays master. `INFO replication` shows `master_failover_state`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use strata_core::replication::failover::*;

use bytes::Bytes;
use resp::Frame;

use super::{lock, master::Feeder};
use crate::commands::{eq_ic, parse_int, syntax_error, Ctx};
use crate::shared::Shared;

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis's checks and texts.
pub fn failover(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let (mut host, mut port, mut timeout_ms, mut force, mut abort) =
        (None::<String>, 0u16, 0i64, false, false);
    let mut j = 1;
    while j < args.len() {
        if eq_ic(&args[j], "to") && host.is_none() && j + 2 < args.len() {
            host = Some(String::from_utf8_lossy(&args[j + 1]).into_owned());
            port = match parse_int(&args[j + 2]) {
                Ok(p) if (0..=65535).contains(&p) => p as u16,
                Ok(_) => return Frame::error("ERR value is out of range"),
                Err(f) => return f,
            };
            j += 2;
        } else if eq_ic(&args[j], "timeout") && timeout_ms <= 0 && j + 1 < args.len() {
            timeout_ms = match parse_int(&args[j + 1]) {
                Ok(t) if t > 0 => t,
                Ok(_) => return Frame::error("ERR FAILOVER timeout must be greater than 0"),
                Err(f) => return f,
            };
            j += 1;
        } else if eq_ic(&args[j], "force") && !force {
            force = true;
        } else if eq_ic(&args[j], "abort") && !abort {
            abort = true;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let f = &shared.repl.failover;
    if abort {
        if f.state.load(Ordering::Acquire) == FAILOVER_NONE {
            return Frame::error("ERR No failover in progress.");
        }
        f.abort.store(true, Ordering::Release);
        return Frame::ok();
    }
    if force && (timeout_ms == 0 || host.is_none()) {
        return Frame::error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    if super::is_replica(shared) {
        return Frame::error("ERR FAILOVER is not valid when server is a replica.");
    }
    let replicas: Vec<Arc<Feeder>> = lock(&shared.repl.replicas).clone();
    if replicas.is_empty() {
        return Frame::error("ERR FAILOVER requires connected replicas.");
    }
    if f.state.load(Ordering::Acquire) != FAILOVER_NONE {
        return Frame::error("ERR FAILOVER already in progress.");
    }
    if let Some(h) = &host {
        match replicas.iter().find(|r| r.ip == *h && r.port == port) {
            None => return Frame::error("ERR FAILOVER target HOST and PORT is not a replica."),
            Some(r) if r.state_name() != "online" => {
                return Frame::error("ERR FAILOVER target replica is not online.")
            }
            Some(_) => {}
        }
    }
    let (Some(me), Some(rt)) = (shared.me(), shared.repl.runtime.get().cloned()) else {
        return Frame::error("ERR server not ready");
    };
    f.abort.store(false, Ordering::Release);
    f.state.store(FAILOVER_WAITING, Ordering::Release);
    // Writes wait (reads go on) until the switch is done or given up.
    shared
        .client_pause
        .failover_pause(Some(storage::now_ms().saturating_add(24 * 3600 * 1000)));
    tracing::info!(target = ?host.as_ref().map(|h| format!("{h}:{port}")), timeout_ms, force, "FAILOVER started: writes paused");
    let target = host.map(|h| (h, port));
    rt.spawn(async move {
        run(&me, target, timeout_ms, force).await;
    });
    Frame::ok()
}

async fn run(shared: &Arc<Shared>, target: Option<(String, u16)>, timeout_ms: i64, force: bool) {
    let f = &shared.repl.failover;
    let start = Instant::now();
    let deadline = (timeout_ms > 0).then(|| start + Duration::from_millis(timeout_ms as u64));
    let end = |why: &str| {
        f.state.store(FAILOVER_NONE, Ordering::Release);
        shared.client_pause.failover_pause(None);
        tracing::warn!(
            reason = why,
            "FAILOVER aborted: writes resumed, still the master"
        );
    };
    // Writes that passed the pause check before it was set finish first: taking the engine's
    // transaction gate waits for every write in flight (twice, 50 ms apart, for one that was
    // between the check and the gate).
    for _ in 0..2 {
        let sh = shared.clone();
        let _ = tokio::task::spawn_blocking(move || drop(sh.storage().exclusive())).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Wait for a replica (the target, or any) that has every record.
    let chosen = loop {
        if f.abort.load(Ordering::Acquire) {
            return end("Failover manually aborted");
        }
        let offset = super::last_offset(shared);
        let replicas: Vec<Arc<Feeder>> = lock(&shared.repl.replicas).clone();
        let candidate = replicas.iter().find(|r| {
            target
                .as_ref()
                .is_none_or(|(h, p)| r.ip == *h && r.port == *p)
                && r.acked.load(Ordering::Acquire) >= offset
        });
        if let Some(r) = candidate {
            break (r.ip.clone(), r.port);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            match (&target, force) {
                (Some(t), true) => break t.clone(),
                _ => return end("Replica never caught up before timeout"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    f.state.store(FAILOVER_IN_PROGRESS, Ordering::Release);
    let (host, port) = chosen;
    let addr = format!("{host}:{port}");
    let promoted = async {
        let tls = shared.tls.client.load_full();
        let mut c =
            replication::client::Conn::connect_with(&addr, Duration::from_secs(5), tls.as_deref())
                .await?;
        let (user, pass) = shared.with_config(|c| {
            (
                c.get("masteruser").to_string(),
                c.get("masterauth").to_string(),
            )
        });
        let t = Duration::from_secs(5);
        if !pass.is_empty() {
            let r = if user.is_empty() {
                c.call(&["AUTH", pass.as_str()], t).await?
            } else {
                c.call(&["AUTH", user.as_str(), pass.as_str()], t).await?
            };
            if let replication::client::Reply::Error(e) = r {
                return Err(std::io::Error::other(e));
            }
        }
        match c.call(&["REPLICAOF", "NO", "ONE"], t).await? {
            replication::client::Reply::Error(e) => Err(std::io::Error::other(e)),
            _ => Ok(()),
        }
    }
    .await;
    if let Err(e) = promoted {
        tracing::error!(target = %addr, error = %e, "FAILOVER: the replica could not be promoted");
        return end("the target did not accept the promotion");
    }
    // Follow the new master; writes resume (as a replica, they get -READONLY). The role
    // changes under the exclusive gate, as REPLICAOF does.
    {
        let sh = shared.clone();
        let (h, p) = (host.clone(), port);
        let _ = tokio::task::spawn_blocking(move || {
            let storage = sh.storage();
            let _gate = storage.exclusive();
            super::replica::follow(&sh, &h, p);
        })
        .await;
    }
    let _ = shared.with_config_mut(|c| c.set("replicaof", &format!("{host} {port}")));
    f.state.store(FAILOVER_NONE, Ordering::Release);
    shared.client_pause.failover_pause(None);
    tracing::info!(new_master = %addr, "FAILOVER done: now a replica");
}
