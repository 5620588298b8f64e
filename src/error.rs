//! Errors, in layers: a small codec error for malformed bytes, wrapped by one
//! `#[non_exhaustive]` error per public call.

use crate::packet::ConnectionId;
use thiserror::Error;

/// Why bytes did not decode. Small and `Copy` so decoders stay cheap.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended inside a packet or field.
    #[error("truncated input")]
    Truncated,
    /// The first bytes are not the ackwire magic.
    #[error("bad magic")]
    BadMagic,
    /// The format version byte is one this build does not speak.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A declared length exceeds the configured maximum packet size.
    #[error("packet of {0} bytes exceeds the configured maximum")]
    Oversize(u64),
    /// The checksum does not match the packet's bytes.
    #[error("checksum mismatch")]
    BadChecksum,
    /// Bytes follow the end of the packet or of its last frame.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A frame kind this build does not know.
    #[error("unknown frame kind {0:#04x}")]
    UnknownFrame(u8),
    /// Flag bits this build does not know were set.
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// A varint longer than 64 bits.
    #[error("varint overflow")]
    VarintOverflow,
    /// A varint with redundant bytes.
    #[error("non-canonical varint")]
    NonCanonical,
    /// Fields that contradict each other (ranges out of order, a version not
    /// above its predecessor, counts past the limit).
    #[error("inconsistent field values")]
    Inconsistent,
}

/// Why [`Sender::handle_input`](crate::Sender::handle_input) or
/// [`Receiver::handle_input`](crate::Receiver::handle_input) rejected a
/// packet. A rejected packet changes no state.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// The bytes are not a well-formed packet.
    #[error("malformed packet: {0}")]
    Malformed(#[from] CodecError),
    /// The packet belongs to another connection (the id it carries, not
    /// this endpoint's): a stale packet of an earlier connection, delayed
    /// on a datagram transport, or a misrouted one. It changes nothing.
    #[error("packet of connection {0:?}, not this one")]
    OtherConnection(ConnectionId),
    /// An ack names a SID this sender never sent.
    #[error("ack for SID {0}, which was never sent")]
    AckForUnsentSid(u64),
    /// A frame that the receiving side has no use for (an ack sent to a
    /// receiver, data sent to a sender).
    #[error("frame kind {0:#04x} is not valid for this endpoint")]
    UnexpectedFrame(u8),
    /// The connection is closed (peer dead or closed by the app).
    #[error("connection closed")]
    Closed,
}

/// Why [`Sender::send`](crate::Sender::send) refused a message. A refused
/// message is not queued; the caller still owns the decision.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The window and the local queue are full; retry after acks arrive.
    #[error("window and queue full")]
    Backpressure,
    /// The message does not fit in one packet of the configured size (a
    /// payload of [`Config::max_payload`](crate::Config::max_payload)
    /// bytes always does).
    #[error("message needs {needed} bytes, packets hold {max}")]
    TooLarge {
        /// Bytes the message's frame and packet header need.
        needed: usize,
        /// The configured maximum packet size.
        max: usize,
    },
    /// `version` is not greater than `prev`, or a sync page's messages do
    /// not follow each other in one stream.
    #[error("version must be greater than prev")]
    BadChain,
    /// The message's package fields contradict each other or its version
    /// (see [`Package`](crate::Package)), or the package has more members
    /// than `Config::max_in_flight`: its members are held, uncommitted,
    /// until all are there, so a larger one could never pass the window.
    #[error("package fields are inconsistent, or the package is larger than the window")]
    BadPackage,
    /// The connection is closed (peer dead or closed by the app).
    #[error("connection closed")]
    Closed,
}

/// Why [`Receiver::commit`](crate::Receiver::commit) refused.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitError {
    /// No message of this stream was ever delivered or resumed.
    #[error("unknown stream")]
    UnknownStream,
    /// This version has not been delivered yet.
    #[error("version was not delivered")]
    NotDelivered,
    /// `provide_receipt` for a key nobody asked for: no resend waits for
    /// its receipt (answered already, or the request was dropped for room
    /// once all its copies settled; the sender asks again if it still
    /// waits). Harmless.
    #[error("no receipt was asked for")]
    NotAsked,
    /// The receipt is longer than `Config::max_receipt_len`.
    #[error("receipt too large")]
    ReceiptTooLarge,
}
