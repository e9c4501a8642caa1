//! The registry of connected clients: what `CLIENT LIST/INFO/KILL` and `INFO clients` read.
//! Each connection owns an `Arc<ClientEntry>` and updates it as it works; killing a client
//! cancels its token, and its connection task closes the socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

pub struct ClientEntry {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<Option<Bytes>>,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    pub db: AtomicU32,
    pub resp: AtomicU8,
    /// Index in the command table of the last command, `usize::MAX` for none.
    pub last_cmd: AtomicUsize,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    pub query_buf: AtomicU64,
    pub kill: CancellationToken,
    /// Channels and patterns subscribed to (CLIENT LIST `sub`, `psub`).
    pub subs: std::sync::atomic::AtomicU32,
    pub psubs: std::sync::atomic::AtomicU32,
    /// Shard channels subscribed to (`ssub`).
    pub ssubs: std::sync::atomic::AtomicU32,
    /// Commands queued in MULTI, -1 outside a transaction (CLIENT LIST `multi`).
    pub multi: std::sync::atomic::AtomicI64,
    /// Bytes of Pub/Sub messages queued for this client and not yet written (`omem`).
    pub pending_push: AtomicU64,
    /// Shutdown: this connection has run every request it received and sent the replies.
    pub drained: std::sync::atomic::AtomicBool,
    /// A replica fed by this server (CLIENT LIST flag `S`, type `replica`).
    pub replica: std::sync::atomic::AtomicBool,
    /// The socket's file descriptor (-1 for internal clients).
    pub fd: std::sync::atomic::AtomicI64,
    /// The subcommand of the last command when it was a container's (`cmd=client|list`):
    /// its position in the container's list + 1, 0 for none.
    pub last_sub: AtomicUsize,
    /// CLIENT LIST flags that depend on the session: `O` monitor, `b` blocked, `t` tracking,
    /// `B` broadcast tracking; and the tracking redirection (`redir`, -1 for none).
    pub monitor: std::sync::atomic::AtomicBool,
    pub blocked: std::sync::atomic::AtomicBool,
    pub tracking: AtomicU8,
    pub redir: std::sync::atomic::AtomicI64,
    /// The ACL user it is authenticated as (CLIENT LIST `user=`, CLIENT KILL USER).
    pub user: Mutex<String>,
}

impl ClientEntry {
    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }

    /// Redis's client type: `replica`, `pubsub` or `normal`.
    pub fn kind(&self) -> &'static str {
        if self.replica.load(Ordering::Relaxed) {
            "replica"
        } else if self.subs.load(Ordering::Relaxed)
            + self.psubs.load(Ordering::Relaxed)
            + self.ssubs.load(Ordering::Relaxed)
            > 0
        {
            "pubsub"
        } else {
            "normal"
        }
    }

    pub fn touch(&self, cmd_index: usize) {
        self.last_cmd.store(cmd_index, Ordering::Relaxed);
        self.last_active_ms
            .store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// One line of `CLIENT LIST` in Redis's format.
    pub fn describe(&self) -> String {
        let name = self
            .name
            .lock()
            .ok()
            .and_then(|n| n.clone())
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .unwrap_or_default();
        let cmd = match self.last_cmd.load(Ordering::Relaxed) {
            usize::MAX => "NULL".to_string(),
            i => crate::commands::TABLE
                .get(i)
                .map(|c| {
                    match crate::commands::subcommand_name(i, self.last_sub.load(Ordering::Relaxed))
                    {
                        Some(sub) => format!("{}|{sub}", c.name),
                        None => c.name.to_string(),
                    }
                })
                .unwrap_or_else(|| "NULL".into()),
        };
        let lib = |m: &Mutex<Option<Bytes>>| {
            m.lock()
                .ok()
                .and_then(|n| n.clone())
                .map(|n| String::from_utf8_lossy(&n).into_owned())
                .unwrap_or_default()
        };
        let (subs, psubs, ssubs) = (
            self.subs.load(Ordering::Relaxed),
            self.psubs.load(Ordering::Relaxed),
            self.ssubs.load(Ordering::Relaxed),
        );
        let multi = self.multi.load(Ordering::Relaxed);
        let mut flags = String::new();
        if self.replica.load(Ordering::Relaxed) {
            flags.push('S');
        }
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if subs + psubs + ssubs > 0 {
            flags.push('P');
        }
        if multi >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        match self.tracking.load(Ordering::Relaxed) {
            1 => flags.push('t'),
            2 => flags.push_str("tB"),
            _ => {}
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd.load(Ordering::Relaxed),
            name,
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            flags,
            self.db.load(Ordering::Relaxed),
            subs,
            psubs,
            ssubs,
            multi,
            self.query_buf.load(Ordering::Relaxed),
            self.pending_push.load(Ordering::Relaxed),
            cmd,
            self.user.lock().map(|u| u.clone()).unwrap_or_default(),
            self.redir.load(Ordering::Relaxed),
            self.resp.load(Ordering::Relaxed),
            lib(&self.lib_name),
            lib(&self.lib_ver),
        )
    }
}

#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    map: Mutex<BTreeMap<u64, std::sync::Arc<ClientEntry>>>,
}

impl Clients {
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> std::sync::Arc<ClientEntry> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = std::sync::Arc::new(ClientEntry {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(usize::MAX),
            last_active_ms: AtomicU64::new(0),
            query_buf: AtomicU64::new(0),
            kill: CancellationToken::new(),
            subs: Default::default(),
            psubs: Default::default(),
            ssubs: Default::default(),
            multi: std::sync::atomic::AtomicI64::new(-1),
            pending_push: AtomicU64::new(0),
            drained: Default::default(),
            replica: Default::default(),
            fd: std::sync::atomic::AtomicI64::new(-1),
            last_sub: AtomicUsize::new(0),
            monitor: Default::default(),
            blocked: Default::default(),
            tracking: AtomicU8::new(0),
            redir: std::sync::atomic::AtomicI64::new(-1),
            user: Mutex::new("default".to_string()),
        });
        if let Ok(mut m) = self.map.lock() {
            m.insert(id, entry.clone());
        }
        entry
    }

    pub fn unregister(&self, id: u64) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&id);
        }
    }

    /// Every live client (a killed one is left out at once, even while its task winds down).
    pub fn all(&self) -> Vec<std::sync::Arc<ClientEntry>> {
        self.map
            .lock()
            .map(|m| {
                m.values()
                    .filter(|c| !c.kill.is_cancelled())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// CLIENT PAUSE: until a deadline, commands of normal clients wait (all of them, or only
/// those that write), and keys do not expire. Replicas are never paused. A FAILOVER pauses
/// writes for a purpose of its own: CLIENT UNPAUSE does not end it (as in Redis).
#[derive(Default)]
pub struct ClientPause {
    /// Unix milliseconds the pause ends at (0: none).
    until_ms: AtomicU64,
    all: std::sync::atomic::AtomicBool,
    /// FAILOVER's write pause (0: none), ended only by the failover itself.
    failover_until_ms: AtomicU64,
    pub ended: tokio::sync::Notify,
}

impl ClientPause {
    /// Starts or extends a pause; as in Redis a pause only ever grows (later end, or ALL).
    pub fn pause(&self, until_ms: u64, all: bool) {
        let now = storage::now_ms();
        if self.until_ms.load(Ordering::Acquire) <= now {
            self.all.store(all, Ordering::Release);
        } else if all {
            self.all.store(true, Ordering::Release);
        }
        self.until_ms.fetch_max(until_ms, Ordering::AcqRel);
    }

    pub fn unpause(&self) {
        self.until_ms.store(0, Ordering::Release);
        self.all.store(false, Ordering::Release);
        self.ended.notify_waiters();
    }

    /// FAILOVER's write pause (`None` ends it).
    pub fn failover_pause(&self, until_ms: Option<u64>) {
        self.failover_until_ms
            .store(until_ms.unwrap_or(0), Ordering::Release);
        if until_ms.is_none() {
            self.ended.notify_waiters();
        }
    }

    /// Whether any pause is in effect (expiry is held).
    pub fn active(&self) -> bool {
        let until = self
            .until_ms
            .load(Ordering::Acquire)
            .max(self.failover_until_ms.load(Ordering::Acquire));
        until != 0 && until > storage::now_ms()
    }

    /// How long a command must still wait (`writes`: it writes or may replicate).
    pub fn wait_for(&self, writes: bool) -> Option<std::time::Duration> {
        let client = self.until_ms.load(Ordering::Acquire);
        let failover = self.failover_until_ms.load(Ordering::Acquire);
        if client == 0 && failover == 0 {
            return None;
        }
        let now = storage::now_ms();
        let mut until = 0;
        if writes || self.all.load(Ordering::Acquire) {
            until = client;
        }
        if writes {
            until = until.max(failover);
        }
        (until > now).then(|| std::time::Duration::from_millis(until - now))
    }
}

#[cfg(test)]
mod pause_tests {
    use super::*;

    #[test]
    fn client_unpause_does_not_end_a_failover_pause() {
        let p = ClientPause::default();
        assert!(p.wait_for(true).is_none());
        let later = storage::now_ms() + 60_000;
        p.failover_pause(Some(later));
        assert!(p.wait_for(true).is_some(), "writes wait");
        assert!(p.wait_for(false).is_none(), "reads go on");
        p.unpause();
        assert!(
            p.wait_for(true).is_some(),
            "CLIENT UNPAUSE leaves the failover's pause"
        );
        p.pause(later, true);
        assert!(p.wait_for(false).is_some(), "ALL holds reads too");
        p.unpause();
        assert!(p.wait_for(false).is_none());
        p.failover_pause(None);
        assert!(p.wait_for(true).is_none());
        assert!(!p.active());
    }
}
