//! A token bucket: keeps bulk listings (the reconciler's) under an API's rate quota, so they
//! never starve the replicator's own calls of the account's shared budget.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Up to `burst` calls at once, refilled at `rate_per_second`.
#[derive(Debug)]
pub struct TokenBucket {
    rate_per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    ///
    /// # Panics
    /// If `rate_per_second` is not positive or `burst` is below one.
    pub fn new(rate_per_second: f64, burst: f64) -> Self {
        assert!(
            rate_per_second > 0.0 && burst >= 1.0,
            "a token bucket needs a positive rate and a burst of at least 1"
        );
        Self {
            rate_per_second,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// The tokens at `now` (negative while reservations are owed), from the state saved
    /// at `last`, capped at the burst.
    fn refilled(&self, (tokens, last): (f64, Instant), now: Instant) -> f64 {
        now.saturating_duration_since(last)
            .as_secs_f64()
            .mul_add(self.rate_per_second, tokens)
            .min(self.burst)
    }

    /// Take a token at `now`, or say how long until one is there.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("not poisoned");
        let now = now.max(state.1);
        let refilled = self.refilled(*state, now);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            Ok(())
        } else {
            *state = (refilled, now);
            Err(Duration::from_secs_f64(
                (1.0 - refilled) / self.rate_per_second,
            ))
        }
    }

    /// Reserve the next token at `now` and say how long to wait until it is due (zero when
    /// one is there). Unlike [`try_take`](Self::try_take), a reservation is a promise: the
    /// bucket goes into debt, so concurrent callers are served one `1/rate` apart in the
    /// order they asked, instead of all waking for each token and racing for it (which
    /// wastes wake-ups and lets an unlucky caller starve).
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().expect("not poisoned");
        // A caller that read the clock before another but got the lock after it must not
        // move the bucket's clock back: the time between would be credited twice.
        let now = now.max(state.1);
        let left = self.refilled(*state, now) - 1.0;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate_per_second)
        }
    }

    /// Wait for a token; `sleep` is the runtime's timer. A caller dropped while waiting
    /// leaves its token unused (the rate only errs on the slow side).
    pub async fn take<F: std::future::Future<Output = ()>>(&self, sleep: impl Fn(Duration) -> F) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let bucket = TokenBucket::new(10.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(bucket.try_take(start).is_ok());
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(bucket.try_take(start + Duration::from_millis(100)).is_ok());
        assert!(bucket.try_take(start + Duration::from_millis(100)).is_err());
        // A long pause refills no more than the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.try_take(later).is_ok());
        }
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn a_caller_with_an_older_clock_reading_does_not_move_the_bucket_back() {
        let bucket = TokenBucket::new(1.0, 1.0);
        let start = Instant::now();
        let later = start + Duration::from_secs(1);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        // Read the clock at `start`, got the lock after the call at `later`.
        assert_eq!(bucket.reserve(start), Duration::from_secs(1));
        assert_eq!(
            bucket.reserve(later),
            Duration::from_secs(2),
            "the second between start and later is not credited again"
        );
    }

    #[test]
    fn concurrent_reservations_are_served_one_interval_apart_in_order() {
        let bucket = TokenBucket::new(10.0, 2.0);
        let start = Instant::now();
        let waits: Vec<f64> = (0..6)
            .map(|_| bucket.reserve(start).as_secs_f64())
            .collect();
        let expected = [0.0, 0.0, 0.1, 0.2, 0.3, 0.4];
        for (wait, expected) in waits.iter().zip(expected) {
            assert!((wait - expected).abs() < 1e-9, "{waits:?}");
        }
        // Half a second later the debt is paid: the next caller goes at once, the one
        // after it waits one interval.
        let later = start + Duration::from_millis(500);
        assert!((bucket.reserve(later).as_secs_f64()).abs() < 1e-9);
        assert!((bucket.reserve(later).as_secs_f64() - 0.1).abs() < 1e-9);
    }
}
