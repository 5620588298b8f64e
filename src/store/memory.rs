//! The in-memory store: one process's "database", shared by cloning.

extern crate std;

use super::{page_of, Appended, Page, ReceiptKey, Store};
use crate::allocator::{AllocError, AllocatorConfigError, VersionAllocator};
use crate::message::{Message, Package, StreamId, Version};
use crate::sync::SyncRange;
use alloc::vec::Vec;
use bytes::Bytes;
use core::convert::Infallible;
use hashbrown::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Versions one persisted allocator bound covers, unless
/// [`MemoryStore::with_alloc_step`] says otherwise.
const STEP: u64 = 64;

/// Streams the allocator keeps in memory; one evicted reloads from its
/// persisted bound (skipping ahead, like a restart).
const STREAMS: usize = 1024;

/// A [`Store`] in memory, for examples, tests and simulators. Clones share
/// the same data, so it stands for a database that outlives the server
/// processes (tasks) using it; [`restart`](Self::restart) models the store
/// process itself restarting.
///
/// Versions come from a [`VersionAllocator`] whose bounds live in the
/// store's durable part: after a restart a stream's versions skip ahead
/// (less than two segments) and never repeat. Receipts are kept until
/// [`forget_receipts`](Self::forget_receipts) (a real store gives them a
/// TTL). Its futures are ready on their first poll: drive it without an
/// executor with [`now_or_never`](super::now_or_never). Memory grows with
/// what is stored; there is no bound.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    /// Durable: messages by stream, ascending by version.
    streams: HashMap<StreamId, Vec<Message>>,
    /// Durable: allocator bounds.
    bounds: HashMap<StreamId, Version>,
    /// Durable: receipts and outbox heads.
    receipts: HashMap<ReceiptKey, Version>,
    outbox_heads: HashMap<u64, Version>,
    /// Volatile: lost by `restart`.
    allocator: Option<VersionAllocator>,
    /// Versions one persisted bound covers.
    step: u64,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            streams: HashMap::new(),
            bounds: HashMap::new(),
            receipts: HashMap::new(),
            outbox_heads: HashMap::new(),
            allocator: None,
            step: STEP,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store whose allocator persists a bound every `step`
    /// versions (the default is 64). A small step writes bounds often and
    /// skips few versions on a [`restart`](Self::restart): a simulator uses
    /// one so that even short runs cross many segment boundaries.
    pub fn with_alloc_step(step: u64) -> Result<MemoryStore, AllocatorConfigError> {
        // Checked here, so the allocator built later (lazily, after each
        // restart) cannot fail.
        VersionAllocator::new(step, STREAMS)?;
        let store = MemoryStore::new();
        store.lock().step = step;
        Ok(store)
    }

    /// The store process restarts: everything stored stays, the version
    /// allocator's memory is lost and reloads from the persisted bounds.
    pub fn restart(&self) {
        self.lock().allocator = None;
    }

    /// Drops every receipt (as if their TTL ran out). Outbox heads stay.
    pub fn forget_receipts(&self) {
        self.lock().receipts.clear();
    }

    /// Every message of `stream`, oldest first (for checks and reports).
    pub fn messages(&self, stream: StreamId) -> Vec<Message> {
        self.lock()
            .streams
            .get(&stream)
            .cloned()
            .unwrap_or_default()
    }

    /// The streams holding at least one message, ascending.
    pub fn streams(&self) -> Vec<StreamId> {
        let mut streams: Vec<StreamId> = self.lock().streams.keys().copied().collect();
        streams.sort();
        streams
    }

    /// Appends `members` to `stream` as one package, atomically: each
    /// member under the next version (members follow each other in the
    /// chain), each stored with its receipt key and package fields naming
    /// the package's last version; the package's id is its first member's
    /// version. If the first member's key was stored before, nothing is
    /// written and each member's earlier version comes back as
    /// [`Appended::Duplicate`] (keys are written together, so all or none
    /// are there). Reads return the members with their package fields, so
    /// a sync page carries them.
    ///
    /// Not on the [`Store`] trait yet: `RedisStore` keeps no package fields.
    pub fn append_package(
        &self,
        stream: StreamId,
        members: &[(Bytes, ReceiptKey)],
    ) -> Vec<Appended> {
        let mut inner = self.lock();
        if let Some((_, key)) = members.first() {
            if inner.receipts.contains_key(key) {
                return members
                    .iter()
                    .map(|(_, k)| {
                        Appended::Duplicate(inner.receipts.get(k).copied().unwrap_or_default())
                    })
                    .collect();
            }
        }
        let versions: Vec<Version> = members.iter().map(|_| inner.allocate(stream)).collect();
        let (Some(&first), Some(&last)) = (versions.first(), versions.last()) else {
            return Vec::new();
        };
        let count = members.len() as u32;
        let stored = inner.streams.entry(stream).or_default();
        let mut prev = stored.last().map_or(Version::ZERO, |m| m.version);
        let mut out = Vec::with_capacity(members.len());
        for (i, ((payload, _), &version)) in members.iter().zip(&versions).enumerate() {
            debug_assert!(version > prev);
            let msg = Message::new(stream, prev, version, payload.clone())
                .with_package(Package::new(first.0, i as u32, count, last));
            stored.push(msg.clone());
            out.push(Appended::New(msg));
            prev = version;
        }
        for ((_, key), &version) in members.iter().zip(&versions) {
            inner.receipts.insert(*key, version);
            let head = inner.outbox_heads.entry(key.client).or_default();
            *head = (*head).max(key.outbox);
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves no half-written state
        // (every method writes after its last fallible step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn allocate(&mut self, stream: StreamId) -> Version {
        let step = self.step;
        let allocator = self.allocator.get_or_insert_with(|| {
            VersionAllocator::new(step, STREAMS)
                .expect("step checked at construction, streams nonzero")
        });
        loop {
            match allocator.allocate(stream) {
                Ok(v) => return v,
                Err(AllocError::NotLoaded) => {
                    let bound = self.bounds.get(&stream).copied().unwrap_or_default();
                    // Only streams with a write outstanding block a load,
                    // and writes here complete at once: never full.
                    allocator.load(stream, bound).expect("no write outstanding");
                }
                Err(AllocError::AwaitingPersist) => {}
                Err(AllocError::Exhausted) => panic!("{stream:?}: version space exhausted"),
            }
            while let Some(p) = allocator.poll_persist() {
                let stored = self.bounds.entry(p.stream).or_default();
                *stored = (*stored).max(p.bound);
                allocator
                    .confirm_persisted(p.stream, p.bound)
                    .expect("the bound just requested");
            }
        }
    }
}

impl Store for MemoryStore {
    type Error = Infallible;

    async fn append(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
    ) -> Result<Appended, Infallible> {
        let mut inner = self.lock();
        if let Some(key) = receipt {
            if let Some(&v) = inner.receipts.get(&key) {
                return Ok(Appended::Duplicate(v));
            }
        }
        let version = inner.allocate(stream);
        let messages = inner.streams.entry(stream).or_default();
        let prev = messages.last().map_or(Version::ZERO, |m| m.version);
        debug_assert!(version > prev);
        let msg = Message::new(stream, prev, version, payload);
        messages.push(msg.clone());
        if let Some(key) = receipt {
            inner.receipts.insert(key, version);
            let head = inner.outbox_heads.entry(key.client).or_default();
            *head = (*head).max(key.outbox);
        }
        Ok(Appended::New(msg))
    }

    async fn read(
        &self,
        stream: StreamId,
        range: SyncRange,
        limit: u32,
    ) -> Result<Page, Infallible> {
        let inner = self.lock();
        let messages = inner.streams.get(&stream).map_or(&[][..], |m| &m[..]);
        Ok(page_of(messages, range, limit))
    }

    async fn head(&self, stream: StreamId) -> Result<Version, Infallible> {
        let inner = self.lock();
        Ok(inner
            .streams
            .get(&stream)
            .and_then(|m| m.last())
            .map_or(Version::ZERO, |m| m.version))
    }

    async fn receipt(&self, key: ReceiptKey) -> Result<Option<Version>, Infallible> {
        Ok(self.lock().receipts.get(&key).copied())
    }

    async fn outbox_head(&self, client: u64) -> Result<Version, Infallible> {
        Ok(self
            .lock()
            .outbox_heads
            .get(&client)
            .copied()
            .unwrap_or_default())
    }

    async fn load_bound(&self, stream: StreamId) -> Result<Version, Infallible> {
        Ok(self.lock().bounds.get(&stream).copied().unwrap_or_default())
    }

    async fn persist_bound(&self, stream: StreamId, bound: Version) -> Result<(), Infallible> {
        let mut inner = self.lock();
        let stored = inner.bounds.entry(stream).or_default();
        *stored = (*stored).max(bound);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::now_or_never;
    use super::*;

    fn run<T>(f: impl core::future::Future<Output = Result<T, Infallible>>) -> T {
        match now_or_never(f).expect("ready at once") {
            Ok(t) => t,
            Err(e) => match e {},
        }
    }

    #[test]
    fn appends_chain_and_restart_skips_but_never_repeats() {
        let store = MemoryStore::new();
        let s = StreamId(3);
        let mut last = Version::ZERO;
        for i in 0..100u32 {
            if i == 50 {
                store.restart();
            }
            let Appended::New(m) = run(store.append(s, Bytes::from(alloc::format!("{i}")), None))
            else {
                panic!("no receipt key, never a duplicate")
            };
            assert_eq!(m.prev, last);
            assert!(m.version > last);
            last = m.version;
        }
        assert!(last.0 > 100, "the restart skipped ahead: {last:?}");
        assert_eq!(run(store.head(s)), last);
        assert!(run(store.load_bound(s)) >= last);
        let all = store.messages(s);
        assert_eq!(all.len(), 100);
        assert!(all.windows(2).all(|w| w[1].prev == w[0].version));
    }

    #[test]
    fn a_small_step_skips_little_on_restart() {
        assert!(MemoryStore::with_alloc_step(0).is_err());
        let store = MemoryStore::with_alloc_step(2).expect("a nonzero step");
        let s = StreamId(1);
        let append = || run(store.append(s, Bytes::new(), None)).version();
        assert_eq!(append(), Version(1));
        store.restart();
        let after = append();
        // Less than two segments of two versions skipped.
        assert!(after > Version(2) && after.0 <= 5, "{after:?}");
        assert!(run(store.load_bound(s)) >= after);
    }

    #[test]
    fn a_receipt_key_is_stored_once() {
        let store = MemoryStore::new();
        let key = ReceiptKey {
            client: 7,
            outbox: Version(3),
        };
        let first = run(store.append(StreamId(1), Bytes::from("a"), Some(key)));
        let again = run(store.append(StreamId(1), Bytes::from("a"), Some(key)));
        assert_eq!(again, Appended::Duplicate(first.version()));
        assert_eq!(store.messages(StreamId(1)).len(), 1);
        assert_eq!(run(store.receipt(key)), Some(first.version()));
        assert_eq!(run(store.outbox_head(7)), Version(3));
        assert_eq!(run(store.outbox_head(8)), Version::ZERO);
        store.forget_receipts();
        assert_eq!(run(store.receipt(key)), None);
        assert_eq!(run(store.outbox_head(7)), Version(3));
    }

    #[test]
    fn reads_pages_in_every_direction() {
        let store = MemoryStore::new();
        let s = StreamId(1);
        let versions: Vec<Version> = (0..10)
            .map(|_| run(store.append(s, Bytes::new(), None)).version())
            .collect();
        let page = |range, limit| {
            let p = run(store.read(s, range, limit));
            let v: Vec<Version> = p.messages.iter().map(|m| m.version).collect();
            (v, p.more)
        };
        assert_eq!(
            page(SyncRange::After(Version::ZERO), 4),
            (versions[..4].to_vec(), true)
        );
        assert_eq!(
            page(SyncRange::After(versions[5]), 4),
            (versions[6..].to_vec(), false)
        );
        assert_eq!(page(SyncRange::After(versions[9]), 4), (Vec::new(), false));
        assert_eq!(page(SyncRange::Latest, 3), (versions[7..].to_vec(), true));
        assert_eq!(page(SyncRange::Latest, 30), (versions.clone(), false));
        assert_eq!(
            page(SyncRange::Before(versions[5]), 3),
            (versions[2..5].to_vec(), true)
        );
        assert_eq!(
            page(SyncRange::Before(versions[2]), 3),
            (versions[..2].to_vec(), false)
        );
        assert_eq!(
            run(store.read(StreamId(9), SyncRange::Latest, 5)),
            Page::default()
        );
        let p = run(store.read(s, SyncRange::After(versions[1]), 100));
        assert_eq!(p.messages[0].prev, versions[1]);
    }
}
