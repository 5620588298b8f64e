//! The server side's durable state behind one interface: stored messages
//! per stream, version assignment, allocator bounds and send receipts.
//! Feature `store` (std, no runtime); [`RedisStore`] with `redis-store`.
//!
//! ## What a server does with it
//! - **Live pushes.** [`Store::append`] stores a message and gives it its
//!   version and its `prev`; the server pushes exactly that [`Message`], so
//!   the chain the client sees is the store's chain.
//! - **Sync.** [`SenderEvent::SyncRequested`](crate::SenderEvent::SyncRequested)
//!   is answered with [`Store::read`] for the request's range and limit,
//!   handed to [`Connection::answer_sync`](crate::Connection::answer_sync)
//!   as it comes back (`page.messages`, `page.more`).
//! - **Offline messages.** The store *is* the offline buffer: a push that
//!   is escalated or lost with its connection is still stored, and the
//!   client's next [`resume`](crate::Receiver::resume) reads it with a sync.
//!   Nothing else has to be written when a push fails.
//! - **Idempotent sends (M1, M14).** A client's outbox message is appended
//!   with its [`ReceiptKey`] (client, outbox version). The first append
//!   stores it; a resend — on the same server, another server, after a
//!   crash — gets [`Appended::Duplicate`] with the version assigned the
//!   first time. [`Store::outbox_head`] is where the server's receiver
//!   [`resume`](crate::Receiver::resume)s the client's outbox on a new
//!   connection; [`Store::receipt`] answers
//!   [`ReceiverEvent::ReceiptWanted`](crate::ReceiverEvent::ReceiptWanted).
//! - **Acks after durability.** Commit (and so ack) a client's message only
//!   after `append` returned `Ok`: an error means "not stored", the client
//!   resends, and the receipt key keeps the retry from storing it twice.
//!
//! ## Why the interface is async
//! Every method returns a `Send` future. A tokio server awaits it in the
//! connection's task, so a store that really does I/O (Redis, a database)
//! never blocks a runtime thread and needs no `spawn_blocking` — and the
//! store is the *only* part of the server that waits on anything. A
//! deterministic driver (a simulator, a test) loses nothing: the
//! in-memory [`MemoryStore`]'s futures are ready on their first poll, and
//! [`now_or_never`] takes their result in a plain function, with no
//! executor, no thread and no clock. A sync trait would have served the
//! simulator alone and forced every async server to block on each call.
//!
//! ## Versions
//! Versions are assigned by the store, per stream, strictly increasing in
//! append order, not necessarily contiguous. [`MemoryStore`] uses the
//! segment [`VersionAllocator`](crate::VersionAllocator) with its bounds in
//! [`Store::load_bound`] / [`Store::persist_bound`]; [`RedisStore`] uses
//! `INCR` inside the append script (see its docs for the trade-off). The
//! bound methods are also there for a server that runs its own allocator
//! for something else (message ids, say).

use crate::message::{Message, StreamId, Version};
use crate::sync::SyncRange;
use alloc::vec::Vec;
use bytes::Bytes;
use core::future::Future;
use core::task::{Context, Poll, Waker};

mod memory;
#[cfg(feature = "redis-store")]
mod redis_store;

pub use memory::MemoryStore;
#[cfg(feature = "redis-store")]
pub use redis_store::{Durability, RedisStore, RedisStoreError};

/// Identifies one upstream send: the client and the version of the message
/// in that client's outbox stream. Stored with the message so that a resend
/// is recognised by any server sharing the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptKey {
    /// The sending client (its account or device id).
    pub client: u64,
    /// The message's version in the client's outbox stream.
    pub outbox: Version,
}

/// What [`Store::append`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, as this message: its stream, assigned version, `prev`
    /// (the stream's previous head) and payload. Push it as it is.
    New(Message),
    /// The receipt key was stored before, under this version: nothing was
    /// written. Answer the resend with the same receipt.
    Duplicate(Version),
}

impl Appended {
    /// The version the message has in its stream, new or not.
    pub fn version(&self) -> Version {
        match self {
            Appended::New(m) => m.version,
            Appended::Duplicate(v) => *v,
        }
    }
}

/// One page read from a stream, shaped for
/// [`Sender::answer_sync`](crate::Sender::answer_sync).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages, oldest first, each following the one before.
    pub messages: Vec<Message>,
    /// Whether more messages lie beyond the page in the range's direction:
    /// newer ones for [`SyncRange::After`], older ones otherwise.
    pub more: bool,
    /// Every version up to this one was trimmed by the stream's
    /// [`Retention`] (`Version::ZERO`: nothing was): retained history
    /// starts after it. A page for [`SyncRange::After`] an anchor below it
    /// does not follow the anchor (what lay between is gone), and a
    /// history page without `more` ends at it. The store says so instead
    /// of leaving a silent gap; the server tells the client.
    pub trimmed: Version,
}

/// How much of each stream a store keeps: messages beyond either limit are
/// trimmed, oldest first. Both `None` (the default) keeps everything. A
/// trimmed version is never reused and never read again; reads report how
/// far trimming reached ([`Page::trimmed`]).
///
/// Trimming happens as messages are appended (a stream nobody writes to is
/// trimmed by age only at its next append), and the newest message of a
/// stream is never trimmed: it is the stream's head, the `prev` of the
/// next append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages per stream (at least 1).
    pub max_messages: Option<u64>,
    /// Trim messages stored longer ago than this.
    pub max_age: Option<core::time::Duration>,
}

/// A server's durable message store. See the [module docs](self) for how a
/// server uses each method and why the interface is async.
///
/// Implementations must make every write durable (by their own standard)
/// before its future resolves `Ok`: the server acks on that.
pub trait Store: Send + Sync {
    /// Why an operation failed. Nothing is assumed written after an error.
    type Error: core::error::Error + Send + Sync + 'static;

    /// Appends `payload` to `stream` under the next version, `prev` being
    /// the stream's current head. With `receipt`, an append whose key was
    /// stored before writes nothing and returns
    /// [`Appended::Duplicate`]; otherwise the key is stored with the
    /// message, atomically, and [`outbox_head`](Self::outbox_head) of
    /// `receipt.client` rises to `receipt.outbox` if that is higher.
    fn append(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
    ) -> impl Future<Output = Result<Appended, Self::Error>> + Send;

    /// At most `limit` messages of `stream`, oldest first: those after a
    /// version, the newest ones, or those before a version.
    fn read(
        &self,
        stream: StreamId,
        range: SyncRange,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Self::Error>> + Send;

    /// The version of `stream`'s newest message (`Version::ZERO` if none).
    fn head(&self, stream: StreamId) -> impl Future<Output = Result<Version, Self::Error>> + Send;

    /// The version a send was stored under, if its receipt is still kept.
    fn receipt(
        &self,
        key: ReceiptKey,
    ) -> impl Future<Output = Result<Option<Version>, Self::Error>> + Send;

    /// The highest outbox version of `client` stored so far
    /// (`Version::ZERO` if none): every outbox message up to it is stored,
    /// because a client's outbox reaches the server in chain order.
    fn outbox_head(&self, client: u64)
        -> impl Future<Output = Result<Version, Self::Error>> + Send;

    /// The persisted allocator bound of `stream` (`Version::ZERO` if none),
    /// for [`VersionAllocator::load`](crate::VersionAllocator::load).
    fn load_bound(
        &self,
        stream: StreamId,
    ) -> impl Future<Output = Result<Version, Self::Error>> + Send;

    /// Raises `stream`'s persisted bound to `bound`; never lowers it. Once
    /// this resolves `Ok`, confirm it with
    /// [`VersionAllocator::confirm_persisted`](crate::VersionAllocator::confirm_persisted).
    fn persist_bound(
        &self,
        stream: StreamId,
        bound: Version,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The output of a future that is ready on its first poll, or `None` if it
/// is not. For deterministic drivers of [`MemoryStore`], whose futures are
/// always ready: no executor, no thread.
///
/// ```
/// use ackwire::store::{now_or_never, MemoryStore, Store};
/// use ackwire::{StreamId, Version};
///
/// let store = MemoryStore::new();
/// let head = now_or_never(store.head(StreamId(1))).unwrap().unwrap();
/// assert_eq!(head, Version::ZERO);
/// ```
pub fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = core::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Reads a page from messages sorted by version (oldest first): the
/// in-memory store's reads, and a reference for other stores.
pub(crate) fn page_of(messages: &[Message], range: SyncRange, limit: u32) -> Page {
    let limit = limit as usize;
    let (start, end, more) = match range {
        SyncRange::After(after) => {
            let start = messages.partition_point(|m| m.version <= after);
            let end = start.saturating_add(limit).min(messages.len());
            (start, end, end < messages.len())
        }
        SyncRange::Latest | SyncRange::Before(_) => {
            let end = match range {
                SyncRange::Before(before) => messages.partition_point(|m| m.version < before),
                _ => messages.len(),
            };
            let start = end.saturating_sub(limit);
            (start, end, start > 0)
        }
    };
    Page {
        messages: messages[start..end].to_vec(),
        more,
        trimmed: Version::ZERO,
    }
}
