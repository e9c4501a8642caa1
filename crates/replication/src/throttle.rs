//! A token bucket in bytes per second, shared by every transfer stream of a server and
//! changeable at run time (0: unlimited). A stream asks how long to wait before sending `n`
//! bytes; the bucket holds at most one second of credit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    rate: AtomicU64,
    state: Mutex<(Instant, f64)>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            rate: AtomicU64::new(0),
            state: Mutex::new((Instant::now(), 0.0)),
        }
    }
}

impl Throttle {
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::Relaxed);
    }

    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes of credit; returns how long the caller must wait before sending them.
    pub fn reserve(&self, n: u64) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(st.0).as_secs_f64();
        st.0 = now;
        st.1 = (st.1 + elapsed * rate as f64).min(rate as f64) - n as f64;
        if st.1 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.1 / rate as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_to_the_rate() {
        let t = Throttle::default();
        assert_eq!(t.reserve(1 << 30), Duration::ZERO, "unlimited");
        t.set_rate(1000);
        let mut wait = Duration::ZERO;
        for _ in 0..10 {
            wait = t.reserve(500);
        }
        // 5000 bytes at 1000 B/s with at most 1 s of credit: about 4-5 s of debt.
        assert!(
            wait >= Duration::from_secs(3) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
    }
}
