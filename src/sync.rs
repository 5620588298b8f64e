//! Sync: how a receiver asks the sending side's app for stored messages —
//! what follows its position, the latest few for an empty stream, or older
//! history — and how the answer's end is marked.

use crate::message::{StreamId, Version};

/// Which stored messages of a stream a sync request wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncRange {
    /// The messages after this version, oldest first: catching up after a
    /// gap or a reconnect.
    After(Version),
    /// The newest messages: a stream with nothing local (new device,
    /// reinstall) starts there instead of replaying all of history.
    Latest,
    /// The messages just before this version: paging back through history,
    /// apart from live delivery.
    Before(Version),
}

impl SyncRange {
    pub(crate) fn wire(self) -> (u8, Version) {
        match self {
            SyncRange::After(v) => (0, v),
            SyncRange::Latest => (1, Version::ZERO),
            SyncRange::Before(v) => (2, v),
        }
    }

    pub(crate) fn from_wire(mode: u8, anchor: Version) -> Option<SyncRange> {
        match (mode, anchor) {
            (0, v) => Some(SyncRange::After(v)),
            (1, Version::ZERO) => Some(SyncRange::Latest),
            (2, v) => Some(SyncRange::Before(v)),
            _ => None,
        }
    }
}

/// A peer's request for one page of a stream's stored messages, as
/// [`SenderEvent::SyncRequested`](crate::SenderEvent::SyncRequested) hands
/// it to the app. Answer it with [`Sender::answer_sync`](crate::Sender::answer_sync).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncRequest {
    /// The stream to read.
    pub stream: StreamId,
    /// Which messages.
    pub range: SyncRange,
    /// The most messages the page may hold.
    pub limit: u32,
}

/// The end marker of one answered page: which request it answers and what
/// the page held, so the receiver can tell when it has all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageEnd {
    pub stream: StreamId,
    pub range: SyncRange,
    /// The `prev` of the page's first message (equal to `through` when the
    /// page is empty).
    pub first_prev: Version,
    /// The version of the page's last message.
    pub through: Version,
    /// Messages in the page.
    pub count: u64,
    /// Whether more messages lie beyond the page in its direction.
    pub more: bool,
    /// The last version the store no longer keeps, when the request
    /// reached into what retention trimmed (a TRIMMED frame rather than a
    /// SYNC_END): retained history starts after it.
    pub trimmed: Option<Version>,
}

impl PageEnd {
    /// Whether `trimmed` (if any) is a cut the request reached: past the
    /// anchor of an *after* request, below that of a *before* one (a
    /// *latest* page is what is kept, never trimmed), with the page
    /// starting at or after the cut. Anything else would let a peer move a
    /// stream backwards or name a cut it did not need to.
    pub(crate) fn trim_consistent(&self) -> bool {
        let Some(t) = self.trimmed else {
            return true;
        };
        let reaches = match self.range {
            SyncRange::After(a) => t > a,
            SyncRange::Before(b) => t < b,
            SyncRange::Latest => false,
        };
        reaches && (self.count == 0 || self.first_prev >= t)
    }
}
