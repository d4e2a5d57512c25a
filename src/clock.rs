//! One clock for every wait.
//!
//! The converge loop sleeps between polls and checks its wait budget. Both go
//! through [`Clock`] so that tests (and the local demo) can run the loop on
//! *scaled* time: with a time scale of 100, "sleep 15 s" takes 150 ms of real
//! time and a 200 s wait budget ends after 2 s. The simulator is started with
//! the same scale, so node boot times and poll intervals keep their real
//! proportions and the loop behaves as it would against Azure.

use std::time::Duration;
use tokio::time::Instant;

/// Scaled monotonic time. `scale` simulated seconds pass per real second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    scale: f64,
    origin: Instant,
    origin_wall: time::OffsetDateTime,
}

impl Clock {
    /// Real time: what runs in Azure.
    #[cfg(test)]
    pub(crate) fn real() -> Self {
        Self::scaled(1.0)
    }

    /// Time that runs `scale` times faster than the wall clock (dev and tests).
    /// Non-finite or non-positive scales fall back to real time.
    pub(crate) fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            scale,
            origin: Instant::now(),
            origin_wall: time::OffsetDateTime::now_utc(),
        }
    }

    /// A scaled clock whose wall time starts at `wall`: `simulate-day` sets it to the
    /// simulator's own start, so leases and `lastModified` are read on one time line.
    #[cfg(feature = "simulator")]
    pub(crate) fn scaled_from(scale: f64, wall: time::OffsetDateTime) -> Self {
        Self {
            origin_wall: wall,
            ..Self::scaled(scale)
        }
    }

    pub(crate) fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated time elapsed since this clock was made.
    pub(crate) fn elapsed(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.scale)
    }

    /// Wall-clock time on this clock: real UTC at scale 1; on a fast clock it
    /// runs ahead from the moment the clock was made (lease expiry in tests).
    pub(crate) fn now_utc(&self) -> time::OffsetDateTime {
        self.origin_wall + self.elapsed()
    }

    /// A point on this clock's simulated time line, for measuring a wait.
    pub(crate) fn start(&self) -> Stopwatch {
        Stopwatch {
            clock: *self,
            started: Instant::now(),
        }
    }

    /// Sleep for `simulated` time.
    pub(crate) async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.to_real(simulated)).await;
    }

    /// The real duration that `simulated` time takes on this clock.
    pub(crate) fn to_real(self, simulated: Duration) -> Duration {
        simulated.div_f64(self.scale)
    }
}

/// Measures simulated time since it was started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch {
    clock: Clock,
    started: Instant,
}

impl Stopwatch {
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed().mul_f64(self.clock.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn scaled_sleep_takes_a_fraction_of_real_time() {
        let clock = Clock::scaled(100.0);
        let watch = clock.start();
        let real = Instant::now();
        clock.sleep(Duration::from_secs(15)).await;
        assert_eq!(real.elapsed(), Duration::from_millis(150));
        assert_eq!(watch.elapsed(), Duration::from_secs(15));
    }

    #[test]
    fn nonsense_scales_mean_real_time() {
        assert_eq!(Clock::scaled(0.0).scale(), 1.0);
        assert_eq!(Clock::scaled(f64::NAN).scale(), 1.0);
        assert_eq!(Clock::scaled(-3.0).scale(), 1.0);
    }
}
