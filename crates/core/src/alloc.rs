//! The process's memory allocator: jemalloc, for Rust's allocations, Lua's (through Rust's
//! allocator) and, through its unprefixed `malloc`, RocksDB's C++ ones. Measured against
//! glibc's malloc (docs/benchmarks.md, session 12): ~12% of the script thread's CPU and
//! 5-10% of a worker's went to glibc's malloc/free; RocksDB itself recommends jemalloc for
//! its many small cross-thread allocations. Its counters give INFO's `used_memory` and the
//! `allocator_*` fields as Redis (also jemalloc) reports them.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What the allocator holds, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Handed out to the program (`used_memory`).
    pub allocated: u64,
    /// In pages the allocator uses (allocated plus fragmentation inside them).
    pub active: u64,
    /// In physically resident pages the allocator maps.
    pub resident: u64,
}

/// The allocator's counters now (`None` if they cannot be read).
pub fn stats() -> Option<Stats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The counters are a snapshot refreshed by advancing the epoch.
    epoch::advance().ok()?;
    Some(Stats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// `jemalloc-bg-thread` (as in Redis): background threads return freed pages to the system
/// as they age instead of the threads that free memory doing it inline.
pub fn set_background_thread(on: bool) {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
        tracing::warn!(error = %e, "cannot set jemalloc's background thread");
    }
}

/// MEMORY MALLOC-STATS: jemalloc's own statistics report.
pub fn stats_report() -> String {
    let mut out = Vec::new();
    match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, Default::default()) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("jemalloc statistics unavailable: {e}\n"),
    }
}

/// `mem_allocator` as INFO reports it, e.g. `jemalloc-5.3.0`.
pub fn name() -> String {
    match tikv_jemalloc_ctl::version::read() {
        // "5.3.0-1-g<hash>": the release part, as Redis prints it.
        Ok(v) => format!("jemalloc-{}", v.split('-').next().unwrap_or(v)),
        Err(_) => "jemalloc".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_follow_allocations() {
        let before = super::stats().expect("jemalloc counters");
        let big: Vec<u8> = vec![1; 64 << 20];
        let during = super::stats().expect("jemalloc counters");
        assert!(during.allocated >= before.allocated + (60 << 20));
        assert!(during.active >= during.allocated);
        assert!(during.resident >= during.active);
        drop(big);
        let after = super::stats().expect("jemalloc counters");
        assert!(after.allocated + (60 << 20) <= during.allocated);
        assert!(
            super::name().starts_with("jemalloc-5."),
            "{}",
            super::name()
        );
    }
}
