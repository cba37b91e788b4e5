//! Pauses between the attempts of a write that lost a race (a cancelled transaction's
//! `TransactionConflict`, a single-item write's `TransactionConflictException`): growing, with
//! full jitter (each pause uniform in [0, min(cap, base x 2^attempt)]), so writers that collided
//! spread out instead of colliding again in step, and a request under contention waits longer
//! the longer the contention lasts. The request's deadline (`edge`) bounds the whole.
//!
//! Each pause is counted for the request (`counting`): the metric `ContentionRetries` says how
//! often requests lose races, which a test on one-request-at-a-time moto never shows.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The first pause's ceiling; each further one doubles it, up to `CAP_MS`.
pub const BASE_MS: u64 = 4;
/// The largest ceiling: 8 pauses wait at most 4+8+16+32+64+128+250+250 ms (~0.75 s), ~0.38 s
/// on average, far inside the 8 s deadline.
pub const CAP_MS: u64 = 250;

tokio::task_local! {
    /// Pauses taken by the request this task serves (none outside `counting`).
    static PAUSES: Cell<u32>;
}

/// The pauses of one write's attempts (shared by reference where a request's steps take
/// turns on the same items: the count goes on growing across them).
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: AtomicU32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// The ceiling of the next pause.
    pub fn ceiling_ms(&self) -> u64 {
        BASE_MS.checked_shl(self.attempt.load(Ordering::Relaxed)).filter(|ms| *ms <= CAP_MS).unwrap_or(CAP_MS)
    }

    /// The next pause: a random time up to its ceiling (full jitter), then the ceiling doubles.
    pub fn next_pause(&self) -> Duration {
        use rand::Rng;
        let ms = rand::rng().random_range(0..=self.ceiling_ms());
        self.attempt.fetch_add(1, Ordering::Relaxed);
        Duration::from_millis(ms)
    }

    /// Waits the next pause, counted for the request.
    pub async fn wait(&self) {
        let _ = PAUSES.try_with(|pauses| pauses.set(pauses.get().saturating_add(1)));
        tokio::time::sleep(self.next_pause()).await;
    }
}

/// Runs `work`, and answers its output with the pauses it took (`Backoff::wait`).
pub async fn counting<F: Future>(work: F) -> (F::Output, u32) {
    PAUSES
        .scope(Cell::new(0), async move {
            let output = work.await;
            (output, PAUSES.with(Cell::get))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_attempts_follow_each_other_should_double_the_ceiling_up_to_the_cap() {
        let backoff = Backoff::new();
        let mut ceilings = vec![];
        for _ in 0..10 {
            ceilings.push(backoff.ceiling_ms());
            backoff.next_pause();
        }
        assert_eq!(ceilings, [4, 8, 16, 32, 64, 128, 250, 250, 250, 250]);
        let far = Backoff { attempt: AtomicU32::new(200) };
        assert_eq!(far.ceiling_ms(), CAP_MS, "no overflow however many attempts");
        assert!(far.next_pause() <= Duration::from_millis(CAP_MS));
    }

    #[test]
    fn when_pauses_are_drawn_should_spread_over_the_whole_range_from_zero() {
        // Full jitter: uniform in [0, ceiling]; 2,000 draws at ceiling 64 cover both ends.
        let draws: Vec<u64> =
            (0..2000).map(|_| Backoff { attempt: AtomicU32::new(4) }.next_pause().as_millis() as u64).collect();
        assert!(draws.iter().all(|ms| *ms <= 64));
        assert!(draws.iter().any(|ms| *ms <= 3), "reaches down to zero");
        assert!(draws.iter().any(|ms| *ms >= 61), "reaches up to the ceiling");
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        assert!((26.0..38.0).contains(&mean), "uniform: mean {mean} near 32");
    }

    #[tokio::test(start_paused = true)]
    async fn when_a_request_waits_should_count_each_pause_for_it_only() {
        let (out, pauses) = counting(async {
            let backoff = Backoff::new();
            for _ in 0..3 {
                backoff.wait().await;
            }
            7
        })
        .await;
        assert_eq!((out, pauses), (7, 3));
        let (_, none) = counting(async {}).await;
        assert_eq!(none, 0);
        // Outside a counted request a pause is taken all the same.
        Backoff::new().wait().await;
    }
}
