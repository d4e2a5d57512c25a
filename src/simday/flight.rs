//! Zero-latency Batch calls on a paused clock.
//!
//! A paused tokio clock jumps to the next timer whenever no task can run, and a task
//! waiting for an HTTP answer from the simulator (same runtime, loopback) cannot run
//! until the runtime polls its sockets. So a call in flight would let time leap ahead,
//! by however far the next timer happens to be (seconds, or hours at night). While a
//! call is in flight a spinner task keeps the runtime busy instead: the sockets are
//! polled, the clock does not move, and every call takes no simulated time at all.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub(crate) struct Flight(Arc<Inner>);

#[derive(Default)]
struct Inner {
    calls: AtomicUsize,
    wake: Notify,
}

/// Held while a call is in flight.
pub(crate) struct InFlight(Flight);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Flight {
    pub(crate) fn enter(&self) -> InFlight {
        self.0.calls.fetch_add(1, Ordering::AcqRel);
        self.0.wake.notify_one();
        InFlight(self.clone())
    }

    /// Run `call` as a call in flight.
    pub(crate) fn around<F: Future>(&self, call: F) -> impl Future<Output = F::Output> + use<F> {
        let guard = self.enter();
        async move {
            let out = call.await;
            drop(guard);
            out
        }
    }

    /// The spinner: yields while any call is in flight, sleeps otherwise. Spawn once
    /// per runtime; it ends when the runtime does.
    pub(crate) async fn spin(self) {
        loop {
            if self.0.calls.load(Ordering::Acquire) > 0 {
                tokio::task::yield_now().await;
            } else {
                self.0.wake.notified().await;
            }
        }
    }
}
