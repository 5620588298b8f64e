//! One connection carrying both directions: a [`Sender`] and a [`Receiver`]
//! sharing packets, so acks ride along with data.

use crate::config::Config;
use crate::error::{CommitError, InputError, SendError};
use crate::frame::{self, Frame};
use crate::message::{Message, StreamId, Version};
use crate::packet::{self, ConnectionId, PacketWriter};
use crate::receiver::{Receiver, ReceiverEvent};
use crate::sender::{Sender, SenderEvent};
use crate::snapshot::SnapshotError;
use crate::sync::SyncRequest;
use crate::time::Instant;
use alloc::sync::Arc;
use bytes::Bytes;

/// An event from either half of a [`Connection`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// From the sending half (acks, escalations, peer death).
    Sender(SenderEvent),
    /// From the receiving half (deliveries).
    Receiver(ReceiverEvent),
}

/// Both halves of one connection. Frames are routed by kind: DATA, FLOOR and
/// PING go to the receiver, ACK to the sender; one packet may carry both
/// directions' frames.
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
    writer: PacketWriter,
    max_packet_size: usize,
    /// Decoded frames of the packet being handled (capacity reused).
    scratch: alloc::vec::Vec<Frame>,
}

impl Connection {
    /// The connection `id` (see [`ConnectionId`]: the peer's connection
    /// uses the same id, and every new connection a fresh one), whose two
    /// halves share `config` and the id.
    pub fn new(config: impl Into<Arc<Config>>, id: ConnectionId) -> Connection {
        let config = config.into();
        Connection::from_halves(Sender::new(config.clone(), id), Receiver::new(config, id))
    }

    /// Both halves, which share a config and a connection id.
    fn from_halves(sender: Sender, receiver: Receiver) -> Connection {
        let max_packet_size = sender.config().max_packet_size;
        Connection {
            writer: PacketWriter::new(max_packet_size, sender.id()),
            max_packet_size,
            scratch: alloc::vec::Vec::new(),
            sender,
            receiver,
        }
    }

    /// The connection both halves belong to.
    pub fn id(&self) -> ConnectionId {
        self.sender.id()
    }

    /// The sending half.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The receiving half.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// See [`Sender::send`].
    pub fn send(&mut self, now: Instant, msg: Message) -> Result<(), SendError> {
        self.sender.send(now, msg)
    }

    /// See [`Receiver::commit`].
    pub fn commit(
        &mut self,
        now: Instant,
        stream: StreamId,
        version: Version,
    ) -> Result<(), CommitError> {
        self.receiver.commit(now, stream, version)
    }

    /// See [`Receiver::resume`].
    pub fn resume(&mut self, stream: StreamId, last_committed: Version) {
        self.receiver.resume(stream, last_committed)
    }

    /// See [`Sender::close`].
    pub fn close(&mut self) {
        self.sender.close()
    }

    /// [`Receiver::commit_with_receipt`] on the receiving half.
    pub fn commit_with_receipt(
        &mut self,
        now: Instant,
        stream: StreamId,
        version: Version,
        receipt: Bytes,
    ) -> Result<(), CommitError> {
        self.receiver
            .commit_with_receipt(now, stream, version, receipt)
    }

    /// [`Receiver::provide_receipt`] on the receiving half.
    pub fn provide_receipt(
        &mut self,
        stream: StreamId,
        version: Version,
        receipt: Bytes,
    ) -> Result<(), CommitError> {
        self.receiver.provide_receipt(stream, version, receipt)
    }

    /// The configuration both halves run with (`max_packet_size` for a
    /// stream codec, say).
    pub fn config(&self) -> &Config {
        self.sender.config()
    }

    /// [`Receiver::resume_latest`] on the receiving half.
    pub fn resume_latest(&mut self, stream: StreamId, latest: u32) {
        self.receiver.resume_latest(stream, latest)
    }

    /// [`Receiver::resume_started`] on the receiving half.
    pub fn resume_started(&mut self, stream: StreamId, after: Version, last_committed: Version) {
        self.receiver.resume_started(stream, after, last_committed)
    }

    /// [`Receiver::pass_over`] on the receiving half.
    pub fn pass_over(&mut self, stream: StreamId, after: Version, last: Version) {
        self.receiver.pass_over(stream, after, last)
    }

    /// [`Receiver::fetch_history`] on the receiving half.
    pub fn fetch_history(&mut self, stream: StreamId, before: Version, limit: u32) {
        self.receiver.fetch_history(stream, before, limit)
    }

    /// [`Receiver::set_contiguous`] on the receiving half.
    pub fn set_contiguous(&mut self, stream: StreamId, contiguous: bool) {
        self.receiver.set_contiguous(stream, contiguous)
    }

    /// [`Sender::answer_sync`] on the sending half.
    pub fn answer_sync(
        &mut self,
        now: Instant,
        request: &SyncRequest,
        page: &[Message],
        more: bool,
    ) -> Result<(), SendError> {
        self.sender.answer_sync(now, request, page, more)
    }

    /// [`Sender::answer_sync_trimmed`] on the sending half.
    pub fn answer_sync_trimmed(
        &mut self,
        now: Instant,
        request: &SyncRequest,
        trimmed_through: Version,
        page: &[Message],
        more: bool,
    ) -> Result<(), SendError> {
        self.sender
            .answer_sync_trimmed(now, request, trimmed_through, page, more)
    }

    /// Both halves' snapshots (sender, receiver); see [`Sender::snapshot`].
    pub fn snapshot(&self) -> Result<(Bytes, Bytes), SnapshotError> {
        Ok((self.sender.snapshot()?, self.receiver.snapshot()?))
    }

    /// A connection restored from [`snapshot`](Self::snapshot)'s two parts;
    /// its id is theirs, and they must agree on it.
    pub fn restore(
        config: impl Into<Arc<Config>>,
        sender: Bytes,
        receiver: Bytes,
    ) -> Result<Connection, SnapshotError> {
        let config = config.into();
        let sender = Sender::restore(config.clone(), sender)?;
        let receiver = Receiver::restore(config, receiver)?;
        if sender.id() != receiver.id() {
            return Err(SnapshotError::Inconsistent(
                "the halves belong to different connections",
            ));
        }
        Ok(Connection::from_halves(sender, receiver))
    }

    /// Takes one packet from the peer. A rejected packet changes nothing.
    pub fn handle_input(&mut self, now: Instant, packet: Bytes) -> Result<(), InputError> {
        let body = packet::open_own(&packet, self.max_packet_size, self.id())?;
        let mut frames = core::mem::take(&mut self.scratch);
        let sender = &self.sender;
        // A closed sending half ignores its frames, so the receiving half
        // still gets the data that shares their packet.
        let checked = frame::decode_all(&body, &mut frames, |f| match f {
            Frame::Ack(_) | Frame::Sync(_) | Frame::Receipt { .. } | Frame::Skipped(_)
                if sender.is_closed() =>
            {
                Ok(())
            }
            Frame::Ack(_) | Frame::Sync(_) | Frame::Receipt { .. } | Frame::Skipped(_) => {
                sender.check_frame(f)
            }
            _ => Receiver::check_frame(f),
        });
        if let Err(e) = checked {
            self.scratch = frames;
            return Err(e);
        }
        self.sender.begin_packet();
        for f in frames.drain(..) {
            match f {
                Frame::Ack(_) | Frame::Sync(_) | Frame::Receipt { .. } | Frame::Skipped(_) => {
                    if !self.sender.is_closed() {
                        self.sender.on_frame(now, f)
                    }
                }
                _ => self.receiver.on_frame(now, f),
            }
        }
        self.scratch = frames;
        Ok(())
    }

    /// Runs both halves' timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sender.handle_timeout(now);
        self.receiver.handle_timeout(now);
    }

    /// The earliest deadline of either half.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.sender.poll_timeout(), self.receiver.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next packet to send, until `None`. An owed ack rides along with
    /// data even before its delay has passed.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        let max = self.max_packet_size;
        let limit = max - packet::TRAILER_LEN;
        let buf = self.writer.begin(max);
        let piggyback = self.sender.has_transmit();
        self.receiver.write_frames(now, buf, limit, piggyback);
        self.sender.write_frames(now, buf, limit);
        let out = self.writer.finish();
        if out.is_some() {
            self.sender.note_packet_sent();
        }
        out
    }

    /// The next event from either half, sender first, until `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.sender
            .poll_event()
            .map(Event::Sender)
            .or_else(|| self.receiver.poll_event().map(Event::Receiver))
    }
}
