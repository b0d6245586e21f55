//! SIGHUP reloads the credentials and statements files (those in use) without dropping
//! connections. The handler also keeps SIGHUP from ending the process.

use std::future::Future;
use std::sync::Arc;

use crate::auth::CredentialsStore;
use crate::statements::StatementsStore;

/// Reloads on each SIGHUP until `stop` completes.
pub async fn on_sighup(
    credentials: Option<Arc<CredentialsStore>>,
    statements: Arc<StatementsStore>,
    stop: impl Future<Output = ()>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler");
        return;
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            received = hup.recv() => if received.is_none() { return },
        }
        // Reading the credentials file: off the async threads. (The statements are
        // prepared by the workers.)
        let tokens = credentials.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(store) = &tokens {
                store.reload();
            }
        })
        .await;
        if statements.has_file() {
            // A refusal is logged by reload itself.
            let _ = statements.reload().await;
        }
        if credentials.is_none() && !statements.has_file() {
            tracing::info!(
                "SIGHUP received: nothing to reload (no --credentials, no --statements); still serving"
            );
        }
    }
}
