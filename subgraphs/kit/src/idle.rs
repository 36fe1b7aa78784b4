//! Batch loads by *burst*, not by clock. A DataLoader batch must hold every key a level of the query
//! asks for; async-graphql closes a batch after a fixed delay, and a list of a hundred entities
//! can take longer than any delay to resolve (a debug build, a busy machine), splitting one SQL
//! statement into several. Instead, a batch waits until the request's future is truly idle:
//! pending without having woken itself, i.e. waiting on the loaders and nothing else.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

use tokio::sync::Notify;

#[derive(Default)]
pub struct IdleGate {
    idle: AtomicBool,
    notify: Notify,
}

impl IdleGate {
    /// Resolves once the request future has gone idle (at once if it is idle now).
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.idle.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    fn set_idle(&self) {
        self.idle.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// Records whether the future it wraps woke itself while being polled; any wake, during the poll
/// or after it (tokio defers `yield_now`'s wake to the end of the tick), means it will run again,
/// so it is not idle.
struct SelfWakeProbe {
    outer: Waker,
    woken: AtomicBool,
    gate: Arc<IdleGate>,
}

impl Wake for SelfWakeProbe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.gate.idle.store(false, Ordering::SeqCst);
        self.outer.wake_by_ref();
    }
}

/// Runs `future`, keeping `gate` informed of when it is idle.
pub async fn track_idle<F: Future>(gate: Arc<IdleGate>, future: F) -> F::Output {
    let mut future: Pin<Box<F>> = Box::pin(future);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        gate.idle.store(false, Ordering::SeqCst);
        let probe = Arc::new(SelfWakeProbe {
            outer: cx.waker().clone(),
            woken: AtomicBool::new(false),
            gate: gate.clone(),
        });
        let waker = Waker::from(probe.clone());
        let result = future.as_mut().poll(&mut Context::from_waker(&waker));
        if result.is_ready() || !probe.woken.load(Ordering::SeqCst) {
            gate.set_idle();
        }
        result
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_tracked_future_to_stop_yielding() {
        let gate = Arc::new(IdleGate::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let steps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = steps.clone();
        let tracked = tokio::spawn(track_idle(gate.clone(), async move {
            // Yields (wakes itself) a few times, then waits on something outside.
            for _ in 0..5 {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            let _ = rx.await;
        }));
        gate.wait_idle().await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            5,
            "idle only after every yield"
        );
        let _ = tx.send(());
        assert!(tracked.await.is_ok());
    }
}
