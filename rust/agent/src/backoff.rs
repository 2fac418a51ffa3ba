//! Waiting after failures: exponential growth up to a limit, each wait drawn
//! at random between half and all of the current step. When a server comes
//! back after an outage, a thousand devices that failed together therefore
//! spread their retries instead of arriving in one wave.

use std::time::Duration;

/// Back-off state.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Starts at `base`, never waits more than `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// With a fixed random seed (tests).
    pub fn with_seed(base: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            rng: fastrand::Rng::with_seed(seed),
            ..Backoff::new(base, max)
        }
    }

    /// The wait before the next attempt after one more failure.
    pub fn failed(&mut self) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        half + Duration::from_millis(self.rng.u64(0..=half.as_millis() as u64))
    }

    /// A success resets the growth.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_caps() {
        let mut b = Backoff::with_seed(Duration::from_secs(10), Duration::from_secs(300), 1);
        let waits: Vec<_> = (0..8).map(|_| b.failed()).collect();
        for (i, w) in waits.iter().enumerate() {
            let step = Duration::from_secs(10 * (1 << i)).min(Duration::from_secs(300));
            assert!(
                *w >= step / 2 && *w <= step,
                "attempt {i}: {w:?} not in [{:?}, {step:?}]",
                step / 2
            );
        }
        b.succeeded();
        assert!(b.failed() <= Duration::from_secs(10));
    }

    #[test]
    fn a_fleet_spreads_out() {
        // 1000 devices failing together do not retry at the same instant.
        let waits: std::collections::BTreeSet<u128> = (0..1000)
            .map(|seed| {
                let mut b =
                    Backoff::with_seed(Duration::from_secs(60), Duration::from_secs(3600), seed);
                b.failed();
                b.failed().as_millis()
            })
            .collect();
        assert!(waits.len() > 900, "only {} distinct waits", waits.len());
    }
}
