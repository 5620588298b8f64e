//! The simulated server's store: the crate's [`MemoryStore`], used through
//! the [`Store`] trait as a real server would use any store, with the
//! simulation's fault model around it.
//!
//! The store itself is durable and answers at once. The model adds what a
//! real database does to a server: a write takes a while, writes complete
//! in the order they began, and a server crash loses the writes not yet
//! done and restarts the store's volatile part — its version allocator,
//! which reloads from the persisted bounds, so versions skip ahead and never
//! repeat. Keeping the model here, outside the store, means the simulator
//! tests the same store code a server runs, not a copy of it.
//!
//! Every call is resolved with [`now_or_never`]. A call that is not ready,
//! or fails, is a [`SimError::Driver`]: the run ends with that error rather
//! than a panic or a silently wrong history.

use super::scenario::SimError;
use crate::message::{StreamId, Version};
use crate::store::{now_or_never, Appended, MemoryStore, Page, ReceiptKey, Store};
use crate::sync::SyncRange;
use crate::time::Instant;
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt::Display;
use core::future::Future;
use core::time::Duration;

/// A write begun in one life of the store: it lands only in that life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WriteTicket(u64);

/// The server's store with its delays and crashes.
pub(super) struct SimStore {
    store: MemoryStore,
    /// Bumped by every crash: writes begun in an earlier life are lost.
    life: u64,
    /// Writes begun and neither landed nor lost.
    pending: usize,
    /// When the last write begun lands: later ones land after it.
    tail: Instant,
    /// Messages kept per stream (`None`: all); see [`SimConfig::retain`](super::SimConfig::retain).
    retain: Option<usize>,
}

impl SimStore {
    /// An empty store whose allocator persists a bound every `alloc_step`
    /// versions.
    pub(super) fn new(alloc_step: u64, retain: Option<usize>) -> Result<SimStore, SimError> {
        let store = MemoryStore::with_alloc_step(alloc_step)
            .map_err(|e| SimError::Config(format!("alloc_step {alloc_step}: {e}")))?;
        Ok(SimStore {
            store,
            life: 0,
            pending: 0,
            tail: Instant::ZERO,
            retain: retain.map(|n| n.max(1)),
        })
    }

    /// A write begins at `now` and takes `delay`: when it lands (never
    /// before a write begun earlier), and its ticket for
    /// [`land`](Self::land).
    pub(super) fn begin_write(&mut self, now: Instant, delay: Duration) -> (Instant, WriteTicket) {
        let at = (now + delay).max(self.tail);
        self.tail = at;
        self.pending += 1;
        (at, WriteTicket(self.life))
    }

    /// The write with `ticket` is due: whether it lands, `false` if it
    /// died in a crash since it began.
    pub(super) fn land(&mut self, ticket: WriteTicket) -> bool {
        if ticket.0 != self.life {
            return false;
        }
        self.pending = self.pending.saturating_sub(1);
        true
    }

    /// Writes begun that have not landed.
    pub(super) fn writes_pending(&self) -> usize {
        self.pending
    }

    /// The server crashes at `now`: writes not yet landed are lost, and the
    /// store's allocator starts over from its persisted bounds.
    pub(super) fn crash(&mut self, now: Instant) {
        self.life += 1;
        self.pending = 0;
        self.tail = now;
        self.store.restart();
    }

    /// [`Store::append`]: stores `payload` in `stream` once per `key`.
    pub(super) fn append(
        &self,
        stream: StreamId,
        payload: Bytes,
        key: ReceiptKey,
    ) -> Result<Appended, SimError> {
        resolve("append", self.store.append(stream, payload, Some(key)))
    }

    /// [`MemoryStore::append_package`]: stores `members` in `stream` as one
    /// package, once per first key.
    pub(super) fn append_package(
        &self,
        stream: StreamId,
        members: &[(Bytes, ReceiptKey)],
    ) -> Vec<Appended> {
        self.store.append_package(stream, members)
    }

    /// [`Store::read`]: a page of `stream` for a sync request, with what
    /// retention trimmed left out and reported ([`Page::trimmed`]).
    ///
    /// The memory store keeps every message (the checker needs them all);
    /// retention is modelled here as a cut below which reads see nothing.
    /// The cut only moves up (messages are only added), and the newest
    /// `retain` messages — the stream's head among them — are always kept.
    pub(super) fn read(
        &self,
        stream: StreamId,
        range: SyncRange,
        limit: u32,
    ) -> Result<Page, SimError> {
        let cut = self.trimmed(stream);
        let range = match range {
            SyncRange::After(a) => SyncRange::After(a.max(cut)),
            r => r,
        };
        let mut page = resolve("read", self.store.read(stream, range, limit))?;
        if cut > Version::ZERO && !matches!(range, SyncRange::After(_)) {
            // Older pages (before, latest): drop what lies at or below the
            // cut; nothing older than it is kept any more.
            page.messages.retain(|m| m.version > cut);
            page.more = page.more && page.messages.first().is_some_and(|m| m.prev > cut);
        }
        page.trimmed = cut;
        Ok(page)
    }

    /// The last version of `stream` retention trimmed (`Version::ZERO`:
    /// none): everything but the newest `retain` messages.
    pub(super) fn trimmed(&self, stream: StreamId) -> Version {
        let Some(keep) = self.retain else {
            return Version::ZERO;
        };
        let all = self.store.messages(stream);
        match all.len().checked_sub(keep + 1) {
            Some(i) => all[i].version,
            None => Version::ZERO,
        }
    }

    /// [`Store::receipt`]: the version a send was stored under, if it was.
    pub(super) fn receipt(&self, key: ReceiptKey) -> Result<Option<Version>, SimError> {
        resolve("receipt", self.store.receipt(key))
    }

    /// [`Store::outbox_head`]: where a client's outbox stands in the store.
    pub(super) fn outbox_head(&self, client: u64) -> Result<Version, SimError> {
        resolve("outbox_head", self.store.outbox_head(client))
    }

    /// Every stream holding messages, ascending, with its messages' versions
    /// and `prev`s, oldest first: what the checker is given at the end.
    pub(super) fn contents(&self) -> Vec<(StreamId, Vec<(Version, Version)>)> {
        self.store
            .streams()
            .into_iter()
            .map(|s| {
                let chain = self.store.messages(s).into_iter();
                (s, chain.map(|m| (m.version, m.prev)).collect())
            })
            .collect()
    }
}

/// The output of a store call, which must be ready at once and succeed.
fn resolve<T, E: Display>(
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, SimError> {
    match now_or_never(call) {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(SimError::Driver(format!("store {what}: {e}"))),
        None => Err(SimError::Driver(format!("store {what}: not ready at once"))),
    }
}
