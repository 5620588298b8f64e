//! The unit of delivery: a message on a stream, placed in the stream's
//! version chain.

use bytes::Bytes;

/// A conversation or inbox. Order is kept per stream; streams are independent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// A message's place in its stream. Versions only have to increase along the
/// chain, not be contiguous; `Version(0)` means "nothing before".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    /// "Nothing before": the `prev` of a stream's first message.
    pub const ZERO: Version = Version(0);
}

/// One message of one stream.
///
/// `prev` names the version this message follows. A receiver delivers a
/// message only once the message it follows has been delivered, so the chain
/// `prev -> version` both orders the stream and exposes gaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The stream the message belongs to.
    pub stream: StreamId,
    /// The version this message follows (`Version::ZERO` for the first).
    pub prev: Version,
    /// This message's version; must be greater than `prev`.
    pub version: Version,
    /// Application bytes, carried opaquely and sliced without copying.
    pub payload: Bytes,
}

impl Message {
    /// A message that follows `prev` in `stream`.
    pub fn new(stream: StreamId, prev: Version, version: Version, payload: Bytes) -> Message {
        Message {
            stream,
            prev,
            version,
            payload,
        }
    }
}
