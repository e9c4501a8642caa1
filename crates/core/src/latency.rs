//! Per-command latency histograms (INFO latencystats) and error counts by prefix (INFO
//! errorstats), as Redis 7.0 reports them.
//!
//! The histogram is log-linear over nanoseconds: 32 sub-buckets per power of two (relative
//! error under 3.2%), allocated on a command's first call, recorded with one relaxed atomic
//! add. A percentile is the highest value of the bucket that holds it, as HDR histograms
//! report it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

fn bucket_of(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros(); // >= SUB_BITS
    let sub = (ns >> (e - SUB_BITS)) & (SUB - 1);
    ((e - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The highest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = (i / SUB) + SUB_BITS as u64 - 1;
    let sub = i % SUB;
    let low = (1u64 << e) | (sub << (e - SUB_BITS as u64));
    low.saturating_add((1u64 << (e - SUB_BITS as u64)) - 1)
}

#[derive(Default)]
pub struct Histogram {
    counts: OnceLock<Box<[AtomicU64]>>,
}

impl Histogram {
    /// Records `n` calls that took `ns` nanoseconds each.
    pub fn record(&self, ns: u64, n: u64) {
        let counts = self
            .counts
            .get_or_init(|| (0..BUCKETS).map(|_| AtomicU64::new(0)).collect());
        counts[bucket_of(ns)].fetch_add(n, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        if let Some(c) = self.counts.get() {
            for b in c.iter() {
                b.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The values (ns) at the given percentiles (0-100], or `None` if nothing was recorded.
    pub fn percentiles(&self, ps: &[f64]) -> Option<Vec<u64>> {
        let counts: Vec<u64> = self
            .counts
            .get()?
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(
            ps.iter()
                .map(|p| {
                    let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
                    let mut seen = 0;
                    for (i, c) in counts.iter().enumerate() {
                        seen += c;
                        if seen >= want {
                            return bucket_high(i);
                        }
                    }
                    bucket_high(BUCKETS - 1)
                })
                .collect(),
        )
    }
}

/// Error replies counted by their prefix (`ERR`, `WRONGTYPE`, ...). As in Redis, at most 128
/// distinct prefixes are tracked; later new ones are not.
#[derive(Default)]
pub struct ErrorStats {
    by_prefix: Mutex<BTreeMap<String, u64>>,
}

const MAX_PREFIXES: usize = 128;

impl ErrorStats {
    pub fn count(&self, msg: &str) {
        let prefix = msg.split(' ').next().unwrap_or("ERR");
        let mut m = self.by_prefix.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = m.get_mut(prefix) {
            *c += 1;
        } else if m.len() < MAX_PREFIXES {
            m.insert(prefix.to_string(), 1);
        }
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let m = self.by_prefix.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn reset(&self) {
        self.by_prefix
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_within_their_precision() {
        for v in [
            0u64,
            1,
            31,
            32,
            33,
            100,
            1000,
            12_345,
            1 << 40,
            u64::MAX >> 1,
            u64::MAX,
        ] {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            let high = bucket_high(b);
            assert!(high >= v, "{v}: high {high}");
            assert!(
                (high - v) as f64 <= v as f64 / SUB as f64 + 1.0,
                "{v}: high {high}"
            );
        }
    }

    #[test]
    fn percentiles_follow_the_recorded_values() {
        let h = Histogram::default();
        assert_eq!(h.percentiles(&[50.0]), None);
        for v in 1..=1000u64 {
            h.record(v * 1000, 1);
        }
        let p = h.percentiles(&[50.0, 99.0, 99.9]).expect("values");
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() / (want as f64) < 0.04;
        assert!(near(p[0], 500_000), "{p:?}");
        assert!(near(p[1], 990_000), "{p:?}");
        assert!(near(p[2], 999_000), "{p:?}");
    }

    #[test]
    fn errors_are_counted_by_prefix() {
        let e = ErrorStats::default();
        e.count("ERR syntax error");
        e.count("WRONGTYPE Operation against a key");
        e.count("ERR unknown command");
        assert_eq!(
            e.snapshot(),
            vec![("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]
        );
    }
}

/// One SLOWLOG entry.
#[derive(Clone)]
pub struct SlowEntry {
    pub id: u64,
    pub at_secs: u64,
    pub usec: u64,
    pub args: Vec<bytes::Bytes>,
    pub addr: String,
    pub name: bytes::Bytes,
}

/// SLOWLOG: the newest `slowlog-max-len` commands that took longer than
/// `slowlog-log-slower-than` microseconds, newest first.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<(u64, std::collections::VecDeque<SlowEntry>)>,
}

/// As Redis: at most 32 arguments (the last says how many more), each at most 128 bytes.
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_ARGLEN: usize = 128;

impl SlowLog {
    pub fn push(
        &self,
        usec: u64,
        args: &[bytes::Bytes],
        addr: String,
        name: bytes::Bytes,
        max_len: usize,
    ) {
        let mut kept = Vec::with_capacity(args.len().min(SLOWLOG_MAX_ARGC));
        for (i, a) in args.iter().enumerate() {
            if i == SLOWLOG_MAX_ARGC - 1 && args.len() > SLOWLOG_MAX_ARGC {
                kept.push(bytes::Bytes::from(format!(
                    "... ({} more arguments)",
                    args.len() - SLOWLOG_MAX_ARGC + 1
                )));
                break;
            }
            if a.len() > SLOWLOG_MAX_ARGLEN {
                let mut v = a[..SLOWLOG_MAX_ARGLEN].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_ARGLEN).as_bytes(),
                );
                kept.push(bytes::Bytes::from(v));
            } else {
                kept.push(a.clone());
            }
        }
        let at_secs = storage::now_ms() / 1000;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = g.0;
        g.0 += 1;
        g.1.push_front(SlowEntry {
            id,
            at_secs,
            usec,
            args: kept,
            addr,
            name,
        });
        g.1.truncate(max_len);
    }

    pub fn get(&self, count: usize) -> Vec<SlowEntry> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1.iter().take(count).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clear();
    }

    /// Applies a smaller `slowlog-max-len` at once.
    pub fn trim(&self, max_len: usize) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .truncate(max_len);
    }
}

/// The latency monitor (LATENCY LATEST/HISTORY/RESET/DOCTOR/GRAPH): per event, one sample a
/// second (the highest), the last 160 kept, as Redis keeps them.
#[derive(Default)]
pub struct Monitor {
    events: Mutex<BTreeMap<String, EventSeries>>,
}

#[derive(Clone, Default)]
pub struct EventSeries {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: std::collections::VecDeque<(u64, u64)>,
    pub max: u64,
}

const HISTORY_LEN: usize = 160;

impl Monitor {
    pub fn add(&self, event: &str, ms: u64) {
        let now = storage::now_ms() / 1000;
        let mut g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let e = g.entry(event.to_string()).or_default();
        e.max = e.max.max(ms);
        match e.samples.back_mut() {
            Some(last) if last.0 == now => last.1 = last.1.max(ms),
            _ => {
                e.samples.push_back((now, ms));
                if e.samples.len() > HISTORY_LEN {
                    e.samples.pop_front();
                }
            }
        }
    }

    pub fn snapshot(&self) -> Vec<(String, EventSeries)> {
        let g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        g.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Resets the named events (all when empty); returns how many were reset.
    pub fn reset(&self, names: &[String]) -> usize {
        let mut g = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if names.is_empty() {
            let n = g.len();
            g.clear();
            return n;
        }
        names
            .iter()
            .filter(|n| g.remove(n.as_str()).is_some())
            .count()
    }
}

impl Histogram {
    /// Redis's LATENCY HISTOGRAM buckets: (upper bound in microseconds, a power of two;
    /// calls at or below it), cumulative, only where the count grows.
    pub fn power_of_two_buckets(&self) -> (u64, Vec<(u64, u64)>) {
        let Some(counts) = self.counts.get() else {
            return (0, Vec::new());
        };
        let mut by_bucket: BTreeMap<u64, u64> = BTreeMap::new();
        let mut total = 0;
        for (i, c) in counts.iter().enumerate() {
            let c = c.load(Ordering::Relaxed);
            if c == 0 {
                continue;
            }
            total += c;
            let usec = (bucket_high(i) / 1000).max(1);
            *by_bucket.entry(usec.next_power_of_two()).or_default() += c;
        }
        let mut cum = 0;
        let out = by_bucket
            .into_iter()
            .map(|(b, c)| {
                cum += c;
                (b, cum)
            })
            .collect();
        (total, out)
    }
}
