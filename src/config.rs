//! Every timer, window and bound, in one place.

use crate::{frame, packet, varint};
use core::time::Duration;
use thiserror::Error;

/// The smallest `max_packet_size` [`Config::validate`] accepts: an ACK with
/// its ranges, a FLOOR and a small DATA frame fit in one packet.
pub const MIN_PACKET_SIZE: usize = 128;

/// A rule of [`Config::validate`] that a configuration breaks. Every
/// endpoint still works with such a configuration (it never panics), but
/// not as documented: a message may never fit, acks may come too late for
/// the RTO, and so on.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_packet_size` below [`MIN_PACKET_SIZE`].
    #[error("max_packet_size {got} is below {MIN_PACKET_SIZE}: an ack and a message must fit in one packet")]
    PacketTooSmall {
        /// The configured size.
        got: usize,
    },
    /// A count that must be at least `min` (a window, a page, a bound).
    #[error("{field} must be at least {min}")]
    TooSmall {
        /// The field's name.
        field: &'static str,
        /// Its smallest valid value.
        min: u64,
    },
    /// The RTO bounds are not `0 < min_rto <= initial_rto <= max_rto`.
    #[error("RTO bounds out of order: need 0 < min_rto <= initial_rto <= max_rto")]
    RtoOrder,
    /// An ack delay (`ack_delay` or `sparse_ack_delay`) not below `min_rto`:
    /// the sender would resend what the receiver holds but has not acked.
    #[error("{field} must be below min_rto, or the sender resends what the receiver holds but has not acked yet")]
    AckDelayNotBelowMinRto {
        /// The field's name.
        field: &'static str,
    },
    /// `max_receipt_len` so long that a RECEIPT frame and an ACK do not fit
    /// one packet.
    #[error("max_receipt_len {got} does not fit a packet with an ack (at most {max})")]
    ReceiptTooLong {
        /// The configured length.
        got: usize,
        /// The longest that fits.
        max: usize,
    },
}

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
    /// `TooLarge` for a longer one that does not). At least
    /// [`MIN_PACKET_SIZE`] (128, checked by [`validate`](Self::validate)), so
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
    /// ... or after this long. Below `min_rto` (checked by
    /// [`validate`](Self::validate)), or the sender resends what the
    /// receiver holds but has not acked yet.
    pub sparse_ack_delay: Duration,
}

impl Config {
    /// Checks the rules the field docs state, one typed error each: a
    /// packet fits an ack and a message, the RTO bounds are ordered, acks
    /// are never delayed past `min_rto`, a receipt fits a packet beside an
    /// ack, and every window, page and bound is at least 1 (`max_held_messages`
    /// at least 2: one slot is kept for in-order messages). Endpoints take
    /// any configuration without panicking; this says whether one behaves
    /// as documented. Call it where the configuration is read.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_packet_size < MIN_PACKET_SIZE {
            return Err(ConfigError::PacketTooSmall {
                got: self.max_packet_size,
            });
        }
        if self.min_rto.is_zero()
            || self.min_rto > self.initial_rto
            || self.initial_rto > self.max_rto
        {
            return Err(ConfigError::RtoOrder);
        }
        for (field, delay) in [
            ("ack_delay", self.ack_delay),
            ("sparse_ack_delay", self.sparse_ack_delay),
        ] {
            if delay >= self.min_rto {
                return Err(ConfigError::AckDelayNotBelowMinRto { field });
            }
        }
        let at_least = [
            ("max_in_flight", self.max_in_flight, 1),
            ("max_queued", self.max_queued as u64, 1),
            ("ack_every", u64::from(self.ack_every), 1),
            ("max_ack_ranges", self.max_ack_ranges as u64, 1),
            ("max_streams", self.max_streams as u64, 1),
            (
                "max_reorder_per_stream",
                self.max_reorder_per_stream as u64,
                1,
            ),
            ("sync_page", u64::from(self.sync_page), 1),
            ("max_held_messages", self.max_held_messages as u64, 2),
            ("sparse_ack_every", u64::from(self.sparse_ack_every), 1),
            (
                "fast_retransmit_threshold",
                self.fast_retransmit_threshold,
                1,
            ),
        ];
        for (field, value, min) in at_least {
            if value < min {
                return Err(ConfigError::TooSmall { field, min });
            }
        }
        // A RECEIPT goes before the ACK that reports its commit, in one
        // packet: the longest must fit beside the longest ack head.
        let room = self.max_packet_size - packet::OVERHEAD - frame::ACK_MIN_LEN;
        let mut max = room.saturating_sub(frame::receipt_len(u64::MAX, &[]));
        while max > 0
            && frame::receipt_len(u64::MAX, &[]) - 1 + varint::len(max as u64) + max > room
        {
            max -= 1;
        }
        if self.max_receipt_len > max {
            return Err(ConfigError::ReceiptTooLong {
                got: self.max_receipt_len,
                max,
            });
        }
        Ok(())
    }

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
