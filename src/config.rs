//! Every timer, window and bound, in one place.

use crate::{frame, packet, varint};
use core::time::Duration;

/// Configuration shared by [`Sender`](crate::Sender) and
/// [`Receiver`](crate::Receiver). Both ends of a connection should use the
/// same values for `max_in_flight` and `max_packet_size`.
///
/// Every structure a peer can grow is bounded by a field here.
///
/// Endpoints take it as `impl Into<Arc<Config>>`: pass a `Config` and each
/// endpoint keeps its own, or an `Arc<Config>` and a server's thousands of
/// endpoints share one (a [`Connection`](crate::Connection) shares it
/// between its halves either way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// RTO before any RTT sample exists (RFC 6298 recommends 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO, so a fast LAN does not cause spurious resends.
    pub min_rto: Duration,
    /// Upper bound of the RTO, including exponential backoff.
    pub max_rto: Duration,
    /// Retransmissions of one message before it is handed back as
    /// [`SenderEvent::Escalated`](crate::SenderEvent::Escalated).
    pub max_retransmits: u32,
    /// A message whose later transmissions were received this many packets
    /// after its own is resent at once (fast retransmit, cf. TCP's three
    /// duplicate acks and QUIC's packet threshold).
    pub fast_retransmit_threshold: u64,
    /// With messages outstanding, silence from the peer this long ends the
    /// connection with [`SenderEvent::PeerDead`](crate::SenderEvent::PeerDead).
    pub peer_dead_after: Duration,
    /// Window of sequence ids (SIDs) in flight: the sender never has more than
    /// this many SIDs between its oldest unacknowledged message and its next;
    /// the receiver tracks this many SIDs above its floor (rounded up to a
    /// power of two).
    pub max_in_flight: u64,
    /// A full window whose oldest message the peer holds but has not
    /// committed for this long, while more messages wait to be sent, gives
    /// that message up as [`SenderEvent::Escalated`](crate::SenderEvent::Escalated):
    /// the peer may be holding it for a predecessor queued behind it (a sync
    /// answer racing live pushes), which would otherwise never get a SID.
    pub window_stall_timeout: Duration,
    /// Messages queued locally beyond the window before `send` fails with
    /// [`SendError::Backpressure`](crate::SendError::Backpressure).
    pub max_queued: usize,
    /// Largest transmit unit (packet) either side writes or accepts, header and
    /// checksum included. One message must fit in one packet: a payload of up
    /// to [`max_payload()`](Self::max_payload) bytes always does (`send` says
    /// `TooLarge` for a longer one that does not). Keep it at 128 or more, so
    /// an ack always fits and `max_payload()` is at least 14; below 115 not
    /// even a 1-byte payload fits every message.
    pub max_packet_size: usize,
    /// The receiver waits at most this long to coalesce acks.
    pub ack_delay: Duration,
    /// ... or until this many ack-worthy events (receipts, commits) happened.
    pub ack_every: u32,
    /// Most SID ranges one ack frame reports per set (received, committed).
    pub max_ack_ranges: usize,
    /// Streams a receiver tracks; a message for a new stream beyond this is
    /// dropped unacknowledged.
    pub max_streams: usize,
    /// Out-of-order messages one stream may buffer while waiting for their
    /// predecessor.
    pub max_reorder_per_stream: usize,
    /// How long a stream may wait for a missing predecessor (it may just be
    /// late) before the receiver reports [`ReceiverEvent::Gap`](crate::ReceiverEvent::Gap).
    pub gap_wait: Duration,
    /// Most messages one sync request asks for (one page).
    pub sync_page: u32,
    /// A sync request with no complete answer is sent again after this.
    pub sync_retry: Duration,
    /// Messages a receiver holds in total: buffered out of order plus
    /// delivered but not yet committed. Beyond it, new messages are dropped
    /// unacknowledged and come again by retransmission. Messages waiting
    /// beyond a hole get all but the last slot, kept for in-order ones.
    pub max_held_messages: usize,
    /// Receipts a receiver remembers for committed messages, so a resend
    /// gets its receipt without the app; older ones are asked of the app
    /// again ([`ReceiverEvent::ReceiptWanted`](crate::ReceiverEvent::ReceiptWanted)).
    pub max_receipts: usize,
    /// Longest receipt, in bytes.
    pub max_receipt_len: usize,
    /// How long a package at the head of its stream may stay incomplete
    /// before the receiver fetches it again (or gives it up).
    pub package_timeout: Duration,
    /// Re-fetches of an incomplete package before the receiver gives it up
    /// with [`ReceiverEvent::PackageExpired`](crate::ReceiverEvent::PackageExpired).
    pub package_retries: u32,
    /// On a contiguous stream (see
    /// [`Receiver::set_contiguous`](crate::Receiver::set_contiguous)), an
    /// ack goes out after this many messages or commits...
    pub sparse_ack_every: u32,
    /// ... or after this long. Keep it below `min_rto`, or the sender
    /// resends what the receiver holds but has not acked yet.
    pub sparse_ack_delay: Duration,
}

impl Config {
    /// The largest payload for which [`Sender::send`](crate::Sender::send)
    /// accepts every message, whatever its stream, versions, package
    /// fields (within the window: a package may not have more members than
    /// `max_in_flight`), receipt flag and QoS, and whatever SID it gets: exact, so
    /// some message with one byte more is refused
    /// ([`SendError::TooLarge`](crate::SendError::TooLarge)). Messages with
    /// small ids and versions fit longer payloads.
    ///
    /// It is `max_packet_size` less the packet overhead (19), the room
    /// `send` keeps for a FLOOR frame and a PING (22), a DATA frame's fields
    /// at their longest (72: SID, stream, prev, version and package id of 10
    /// bytes each, package index and count of 5) and the payload's length
    /// varint. A DATAGRAM frame (at most once) is shorter than that.
    pub fn max_payload(&self) -> usize {
        // The room `Sender::send` keeps besides the DATA frame (check_sendable).
        let room = packet::OVERHEAD + frame::FLOOR_MAX_LEN + 1;
        let budget = self
            .max_packet_size
            .saturating_sub(room + frame::DATA_FIELDS_MAX);
        // The largest payload that fits with its own length varint.
        let mut payload = budget.saturating_sub(1);
        while payload > 0 && payload + varint::len(payload as u64) > budget {
            payload -= 1;
        }
        payload
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(30),
            max_retransmits: 8,
            fast_retransmit_threshold: 3,
            peer_dead_after: Duration::from_secs(60),
            max_in_flight: 1024,
            max_queued: 4096,
            window_stall_timeout: Duration::from_secs(5),
            max_packet_size: 16 * 1024,
            ack_delay: Duration::from_millis(10),
            ack_every: 16,
            max_ack_ranges: 32,
            max_streams: 10_000,
            max_reorder_per_stream: 256,
            gap_wait: Duration::from_millis(300),
            sync_page: 100,
            sync_retry: Duration::from_secs(1),
            max_held_messages: 4096,
            max_receipts: 4096,
            max_receipt_len: 64,
            package_timeout: Duration::from_secs(2),
            package_retries: 2,
            sparse_ack_every: 64,
            sparse_ack_delay: Duration::from_millis(100),
        }
    }
}
