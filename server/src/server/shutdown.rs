//! The server's one shutdown signal, raised once and seen by everything that serves: both
//! ports' accept loops (which then stop accepting, tell each connection to go and wait until
//! every one has closed), the sessions (which end with UNAVAILABLE "shutting down", rolling
//! their transactions back at once), and the SIGHUP reloader.
//!
//! A `watch` channel rather than mini-redis's `broadcast`: a part that subscribes after the
//! signal was raised (a session opened in the very instant) sees it too, and the sessions
//! already take a `watch::Receiver`.

use std::future::Future;

use tokio::sync::watch;

/// The signal's sending side: [`App::serve`](super::App::serve) raises it once.
pub struct Shutdown {
    raised: watch::Sender<bool>,
}

impl Shutdown {
    /// A signal not raised yet.
    pub fn new() -> Self {
        Self {
            raised: watch::Sender::new(false),
        }
    }

    /// Raises it: every subscriber sees it at once, and so does one that subscribes later.
    pub fn raise(&self) {
        self.raised.send_replace(true);
    }

    /// A receiver that turns true when the signal is raised (the sessions' form).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.raised.subscribe()
    }

    /// A future that completes once the signal is raised (the accept loops' form).
    pub fn raised(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut raised = self.subscribe();
        async move {
            // An error means the sender is gone: the server is going away, so this is the
            // end too.
            let _ = raised.wait_for(|raised| *raised).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_it_even_one_that_comes_late() {
        let shutdown = Shutdown::new();
        let early = shutdown.raised();
        let mut session = shutdown.subscribe();
        assert!(!*session.borrow_and_update());
        shutdown.raise();
        early.await;
        session.changed().await.unwrap();
        assert!(*session.borrow());
        // Subscribed after the signal: raised already.
        assert!(*shutdown.subscribe().borrow());
        shutdown.raised().await;
    }
}
