//! The storage-full state: writes are refused, with one documented error, while the data on
//! disk is over `max-db-size` or the data filesystem has less than `min-free-disk` free; reads,
//! commands that free space and everything else go on. Checked continuously (every
//! maintenance cycle), and cleared by itself when space is back.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use bytes::Bytes;

use crate::commands::{flags, CommandSpec};
use crate::shared::Shared;

/// The error every refused write gets (always the same text; not -OOM, -LOADING or -BUSY,
/// which proxies take for a dead server).
pub const FULL_ERROR: &str =
    "STORAGEFULL storage is full: writes are refused until space is freed (see INFO storage)";

/// The error every write gets after an I/O error that is not a full disk (EIO, corruption):
/// the disk cannot be trusted, so nothing resumes by itself.
pub const IO_ERROR: &str =
    "IOERR storage I/O error: writes are stopped until the server is restarted (see INFO storage)";

/// Why writes are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    None = 0,
    /// Data on disk (SST files, binlog, snapshots) is over `max-db-size`.
    Limit = 1,
    /// The data filesystem has less than `min-free-disk` free.
    LowDisk = 2,
    /// A write to disk failed with ENOSPC/EDQUOT (binlog, flush, compaction) and has not been
    /// recovered yet.
    DiskFull = 3,
    /// A write failed with another I/O error (EIO, corruption): writes stop until a restart.
    IoError = 4,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::Limit => "max-db-size reached",
            Reason::LowDisk => "free disk space below min-free-disk",
            Reason::DiskFull => "disk full (a write failed with no space left)",
            Reason::IoError => "I/O error (not a full disk): restart after checking the disk",
        }
    }
}

#[derive(Default)]
pub struct Guard {
    state: AtomicU8,
    pub refused: AtomicU64,
    pub sst_bytes: AtomicU64,
    pub binlog_bytes: AtomicU64,
    pub snapshot_bytes: AtomicU64,
    pub free_bytes: AtomicU64,
    /// When the snapshot directory was last measured (ms since start), it is walked rarely.
    snapshots_measured_ms: AtomicU64,
    /// The ballast file was released for a recovery and is not back yet.
    pub ballast_released: std::sync::atomic::AtomicBool,
}

impl Guard {
    pub fn reason(&self) -> Reason {
        match self.state.load(Ordering::Relaxed) {
            1 => Reason::Limit,
            2 => Reason::LowDisk,
            3 => Reason::DiskFull,
            4 => Reason::IoError,
            _ => Reason::None,
        }
    }

    pub fn full(&self) -> bool {
        self.reason() != Reason::None
    }

    pub fn used_bytes(&self) -> u64 {
        self.sst_bytes.load(Ordering::Relaxed)
            + self.binlog_bytes.load(Ordering::Relaxed)
            + self.snapshot_bytes.load(Ordering::Relaxed)
    }
}

/// Free bytes (for unprivileged users) of the filesystem holding `path`.
#[allow(unsafe_code)]
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of the
    // right type; statvfs only writes into it, and we read it only when it reports success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

fn ballast_path(shared: &Shared) -> std::path::PathBuf {
    shared.repl.dir.join("ballast")
}

/// Creates the ballast file (`storage-ballast-size` bytes of reserved space, released when a
/// full disk must be recovered from); `false` if there is no room for it.
pub fn ensure_ballast(shared: &Shared) -> bool {
    let size = shared.with_config(|c| c.get_u64("storage-ballast-size"));
    let path = ballast_path(shared);
    if size == 0 {
        let _ = std::fs::remove_file(&path);
        return true;
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return true;
    }
    let tmp = path.with_extension("tmp");
    let made = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        // Written, not just sized: the blocks must really be taken.
        let chunk = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!(error = %e, "ballast file not (re)created yet");
        return false;
    }
    true
}

/// Measures usage and free space and updates the state (logging every change).
pub fn check(shared: &Shared) {
    let g = &shared.guard;
    let storage = &shared.storage();
    let sst: u64 = storage::ALL_CF_NAMES
        .iter()
        .map(|cf| storage.property_int(cf, "rocksdb.total-sst-files-size"))
        .sum();
    g.sst_bytes.store(sst, Ordering::Relaxed);
    if let Some(log) = shared.binlog.get() {
        g.binlog_bytes
            .store(log.lock().status().bytes, Ordering::Relaxed);
    }
    let now_ms = shared.started.elapsed().as_millis() as u64;
    if now_ms >= g.snapshots_measured_ms.load(Ordering::Relaxed) + 2000 {
        g.snapshots_measured_ms.store(now_ms, Ordering::Relaxed);
        let dir = &shared.repl.dir;
        g.snapshot_bytes.store(
            dir_bytes(&dir.join("snapshots"))
                + dir_bytes(&crate::replication::snapshots_dir(dir))
                + dir_bytes(&crate::replication::sync_root(dir)),
            Ordering::Relaxed,
        );
    }
    let free = free_bytes(&shared.repl.dir);
    if let Some(f) = free {
        g.free_bytes.store(f, Ordering::Relaxed);
    }
    let (max, min_free) =
        shared.with_config(|c| (c.get_u64("max-db-size"), c.get_u64("min-free-disk")));
    // A real ENOSPC: retry what failed (pending binlog records, the engine's background
    // error) every cycle; writes stay refused until it works.
    // A full disk: first release the ballast so the recovery itself has room.
    if storage.disk_full() && !g.ballast_released.load(Ordering::Relaxed) {
        let path = ballast_path(shared);
        if std::fs::remove_file(&path).is_ok() {
            g.ballast_released.store(true, Ordering::Relaxed);
            tracing::warn!(file = %path.display(), "disk full: ballast released for the recovery");
        }
    }
    let disk_full = storage.disk_full()
        && match storage.recover_disk_full() {
            Ok(recovered) => !recovered,
            Err(e) => {
                tracing::error!(error = %e, "recovery from a full disk failed");
                true
            }
        };
    // Writes resume only once the ballast is back (the next full disk has its reserve too).
    let ballast_missing = g.ballast_released.load(Ordering::Relaxed) && {
        let back = !disk_full && ensure_ballast(shared);
        if back {
            g.ballast_released.store(false, Ordering::Relaxed);
            tracing::warn!("disk full: ballast re-created");
        }
        !back
    };
    let reason = if storage.io_failed().is_some() {
        Reason::IoError
    } else if disk_full || ballast_missing {
        Reason::DiskFull
    } else if max > 0 && g.used_bytes() >= max {
        Reason::Limit
    } else if min_free > 0 && free.is_some_and(|f| f < min_free) {
        Reason::LowDisk
    } else {
        Reason::None
    };
    let before = g.state.swap(reason as u8, Ordering::Relaxed);
    if before != reason as u8 {
        if reason == Reason::None {
            tracing::warn!(
                used = g.used_bytes(),
                free = g.free_bytes.load(Ordering::Relaxed),
                "storage: space is back, writes resume"
            );
        } else {
            tracing::warn!(
                reason = reason.name(),
                used = g.used_bytes(),
                max_db_size = max,
                free = g.free_bytes.load(Ordering::Relaxed),
                min_free_disk = min_free,
                "storage full: writes are refused"
            );
        }
    }
}

/// Whether a command frees space: it still runs when storage is full. EXPIRE and its kin run
/// when they shorten the key's life (or the key has none).
fn frees_space(shared: &Shared, db: u32, spec: &CommandSpec, args: &[Bytes]) -> bool {
    if spec.flags & flags::FREES_SPACE != 0 {
        return true;
    }
    if spec.flags & flags::SETS_EXPIRY == 0 {
        return false;
    }
    let Some(n) = args
        .get(2)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return true; // the command's own error follows
    };
    let now = storage::now_ms() as i64;
    // EXPIRE/PEXPIRE are relative, EXPIREAT/PEXPIREAT absolute; the P forms in ms.
    let ms = |v: i64| {
        if spec.name.starts_with('p') {
            v
        } else {
            v.saturating_mul(1000)
        }
    };
    let at = if spec.name.ends_with("at") {
        ms(n)
    } else {
        now.saturating_add(ms(n))
    };
    let engine = shared.storage();
    let cx = storage::WriteCx::new();
    match engine
        .db(&cx)
        .get_meta(db, &args[1], storage::now_ms())
        .ok()
        .flatten()
    {
        Some(m) => m.expire_ms == 0 || at <= m.expire_ms as i64,
        None => true,
    }
}

/// The refusal of a write command while storage is full, or `None` to run it.
pub fn refuse(shared: &Shared, db: u32, spec: &CommandSpec, args: &[Bytes]) -> Option<resp::Frame> {
    if !shared.guard.full() {
        return None;
    }
    if shared.guard.reason() == Reason::IoError {
        shared.guard.refused.fetch_add(1, Ordering::Relaxed);
        return Some(resp::Frame::error(IO_ERROR));
    }
    if frees_space(shared, db, spec, args) {
        return None;
    }
    shared.guard.refused.fetch_add(1, Ordering::Relaxed);
    Some(resp::Frame::error(FULL_ERROR))
}

/// RocksDB's write stalls as the maintenance cycle sees them: whether writes are slowed
/// (`rocksdb.actual-delayed-write-rate` > 0) or stopped (`rocksdb.is-write-stopped`), how
/// many stalls there were and how long they lasted. Each start and end is logged once.
#[derive(Default)]
pub struct Stalls {
    /// 0 none, 1 delayed, 2 stopped.
    state: AtomicU8,
    since_ms: AtomicU64,
    pub count: AtomicU64,
    pub total_ms: AtomicU64,
}

/// A stall's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    None,
    Delayed,
    Stopped,
}

impl Stall {
    pub fn name(self) -> &'static str {
        match self {
            Stall::None => "none",
            Stall::Delayed => "delayed",
            Stall::Stopped => "stopped",
        }
    }

    fn from_u8(v: u8) -> Stall {
        match v {
            1 => Stall::Delayed,
            2 => Stall::Stopped,
            _ => Stall::None,
        }
    }
}

/// What changed between two observations.
#[derive(Debug, PartialEq, Eq)]
pub enum StallChange {
    Started(Stall),
    /// It ended (or changed kind) after this long.
    Ended {
        was: Stall,
        after_ms: u64,
    },
}

impl Stalls {
    pub fn current(&self) -> Stall {
        Stall::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Records an observation at `now_ms`: the changes it makes (none, a start, an end, or an
    /// end and a start when the kind changes).
    pub fn observe(&self, now: Stall, now_ms: u64) -> Vec<StallChange> {
        let was = self.current();
        if was == now {
            return Vec::new();
        }
        let mut out = Vec::new();
        if was != Stall::None {
            let after_ms = now_ms.saturating_sub(self.since_ms.load(Ordering::Relaxed));
            self.total_ms.fetch_add(after_ms, Ordering::Relaxed);
            out.push(StallChange::Ended { was, after_ms });
        }
        if now != Stall::None {
            self.count.fetch_add(1, Ordering::Relaxed);
            self.since_ms.store(now_ms, Ordering::Relaxed);
            out.push(StallChange::Started(now));
        }
        self.state.store(now as u8, Ordering::Relaxed);
        out
    }
}

/// One maintenance cycle's look at the engine's stall conditions; logs each change once.
pub fn watch_stalls(shared: &Shared) {
    let storage = shared.storage();
    let cf = storage::ALL_CF_NAMES[0];
    let now = if storage.property_int(cf, "rocksdb.is-write-stopped") > 0 {
        Stall::Stopped
    } else if storage.property_int(cf, "rocksdb.actual-delayed-write-rate") > 0 {
        Stall::Delayed
    } else {
        Stall::None
    };
    for change in shared.stalls.observe(now, storage::now_ms()) {
        match change {
            StallChange::Started(kind) => tracing::warn!(
                stall = kind.name(),
                "RocksDB write stall started (L0 files, pending compaction or memtables over their limits)"
            ),
            StallChange::Ended { was, after_ms } => tracing::info!(
                stall = was.name(),
                after_ms,
                "RocksDB write stall ended"
            ),
        }
    }
}

#[cfg(test)]
mod stall_tests {
    use super::*;

    #[test]
    fn stalls_are_counted_and_timed_once_per_change() {
        let s = Stalls::default();
        assert!(s.observe(Stall::None, 0).is_empty());
        assert_eq!(
            s.observe(Stall::Delayed, 100),
            vec![StallChange::Started(Stall::Delayed)]
        );
        assert!(s.observe(Stall::Delayed, 150).is_empty());
        assert_eq!(
            s.observe(Stall::Stopped, 300),
            vec![
                StallChange::Ended {
                    was: Stall::Delayed,
                    after_ms: 200
                },
                StallChange::Started(Stall::Stopped)
            ]
        );
        assert_eq!(
            s.observe(Stall::None, 350),
            vec![StallChange::Ended {
                was: Stall::Stopped,
                after_ms: 50
            }]
        );
        assert_eq!(s.count.load(Ordering::Relaxed), 2);
        assert_eq!(s.total_ms.load(Ordering::Relaxed), 250);
        assert_eq!(s.current(), Stall::None);
    }
}
