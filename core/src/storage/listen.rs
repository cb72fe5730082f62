//! Wake-ups across processes for followers of the signal log. On PostgreSQL every signal
//! transaction sends `NOTIFY mimamori_signals` (delivered when it commits), and a follower in
//! another process (`mimamori alerts` beside separate gateways) LISTENs and reads at once instead of
//! at its next poll. A notification is only a wake-up: the follower still reads by id from its
//! cursor, and one lost while the listening connection reconnects is made up by the poll. SQLite
//! has no such channel (one machine, usually one process, where the gateway wakes followers in
//! memory); followers poll.

use super::{StorageError, Store};
use crate::config::Backend;

/// The PostgreSQL notification channel of stored signals.
pub(super) const SIGNALS_CHANNEL: &str = "mimamori_signals";

/// Notifications of signals stored by any process (from [`Store::listen_for_signals`]).
pub struct SignalListener(sqlx::postgres::PgListener);

impl SignalListener {
    /// Waits until signals have been committed since the last call (several commits may come as
    /// one wake-up). Reconnects by itself after an error.
    pub async fn recv(&mut self) -> Result<(), StorageError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Listens for signals stored by any process; `None` where the backend cannot tell (SQLite).
    pub async fn listen_for_signals(&self) -> Result<Option<SignalListener>, StorageError> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => {
                let url = self.pool.connect_options().database_url.clone();
                let mut listener = sqlx::postgres::PgListener::connect(url.as_str()).await?;
                listener.listen(SIGNALS_CHANNEL).await?;
                Ok(Some(SignalListener(listener)))
            }
        }
    }
}
