//! What the server needs of its store beyond `ackwire::store::Store`:
//! appends that never go below a floor, and a feed of every server's
//! appends. Implemented for `MemoryStore` (one process) and, with the
//! `redis-store` feature, `RedisStore` (pub/sub).

use super::hub::Hub;
use super::metrics::Metrics;
use ackwire::store::{Appended, MemoryStore, ReceiptKey, Store};
use ackwire::{StreamId, Version};
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;

pub trait ChatStore: Store + Clone + 'static {
    /// `Store::append`, but never under a version at or below `floor`
    /// (the server's evidence of the highest version the stream had). The
    /// `bool` says the store held less than the floor: it lost data.
    fn append_above(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
        floor: Version,
    ) -> impl Future<Output = Result<(Appended, bool), Self::Error>> + Send;

    /// Publishes every other server's appends into `hub` until dropped,
    /// reconnecting as needed (and calling `hub.resync()` after each gap).
    fn feed(&self, hub: Arc<Hub>, metrics: Arc<Metrics>) -> impl Future<Output = ()> + Send;
}

impl ChatStore for MemoryStore {
    async fn append_above(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
        floor: Version,
    ) -> Result<(Appended, bool), std::convert::Infallible> {
        let head = self.head(stream).await?;
        let regressed = head < floor;
        if regressed {
            // The allocator reloads from the raised bound: the next version
            // is above it.
            self.persist_bound(stream, floor).await?;
            self.restart();
        }
        Ok((self.append(stream, payload, receipt).await?, regressed))
    }

    /// One process: its own appends are all there is.
    async fn feed(&self, _hub: Arc<Hub>, _metrics: Arc<Metrics>) {
        std::future::pending().await
    }
}

#[cfg(feature = "redis-store")]
impl ChatStore for ackwire::store::RedisStore {
    async fn append_above(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
        floor: Version,
    ) -> Result<(Appended, bool), ackwire::store::RedisStoreError> {
        ackwire::store::RedisStore::append_above(self, stream, payload, receipt, floor).await
    }

    async fn feed(&self, hub: Arc<Hub>, metrics: Arc<Metrics>) {
        use futures_util::StreamExt;
        use std::sync::atomic::Ordering::Relaxed;
        use std::time::Duration;
        let mut backoff = Duration::from_millis(50);
        loop {
            let pubsub = match self.subscribe_appends().await {
                Ok(p) => p,
                Err(e) => {
                    metrics.store_errors.fetch_add(1, Relaxed);
                    metrics.store_up.store(false, Relaxed);
                    tracing::warn!(error = %e, retry_in = ?backoff, "redis subscription failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            backoff = Duration::from_millis(50);
            metrics.feed_reconnects.fetch_add(1, Relaxed);
            metrics.store_up.store(true, Relaxed);
            tracing::info!("subscribed to {}", self.notify_channel());
            // What was published while nobody listened is in the store:
            // every connection reads it once. And a Redis that restarted
            // empty gets this server's evidence back before new appends
            // can land below it.
            hub.resync();
            let (store, floors) = (self.clone(), hub.floors());
            let m = metrics.clone();
            tokio::spawn(async move {
                for (c, v) in floors {
                    if store.persist_bound(StreamId(c), v).await.is_err() {
                        m.store_errors.fetch_add(1, Relaxed);
                        return;
                    }
                }
            });
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                metrics.notifications.fetch_add(1, Relaxed);
                match self.parse_notification(msg.get_payload_bytes()) {
                    Ok(m) => hub.publish(&m),
                    Err(e) => tracing::warn!(error = %e, "bad notification"),
                }
            }
            metrics.store_errors.fetch_add(1, Relaxed);
            tracing::warn!("redis subscription lost; resubscribing");
        }
    }
}
