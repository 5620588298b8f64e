//! Frames: the typed contents of a packet body. See `PROTOCOL.md`.
//!
//! Every field is a canonical LEB128 varint unless stated. Decoders check
//! every length against what remains and treat anything left over as an
//! error, so a frame has exactly one byte form.

use crate::error::CodecError;
use crate::message::{Message, Package, Qos, StreamId, Version};
use crate::sync::{PageEnd, SyncRange, SyncRequest};
use crate::varint;
use bytes::{BufMut, Bytes};

/// Frame kind bytes.
pub(crate) mod kind {
    /// A message with its SID.
    pub const DATA: u8 = 0x01;
    /// Received and committed SID sets.
    pub const ACK: u8 = 0x02;
    /// The sender's floors: SIDs below are settled for it.
    pub const FLOOR: u8 = 0x03;
    /// Asks for an ack now.
    pub const PING: u8 = 0x04;
    /// Asks the sending side for a page of a stream's stored messages.
    pub const SYNC: u8 = 0x05;
    /// Ends one page of a sync answer.
    pub const SYNC_END: u8 = 0x06;
    /// The receiving app's receipt for a committed message.
    pub const RECEIPT: u8 = 0x07;
    /// An at-most-once message: no SID, no ack, never resent.
    pub const DATAGRAM: u8 = 0x08;
    /// SIDs the receiver settled without its app storing them.
    pub const SKIPPED: u8 = 0x09;
    /// Ends one page of a sync answer whose request reached versions the
    /// store no longer keeps: SYNC_END's fields and where retention cut.
    pub const TRIMMED: u8 = 0x0A;
}

/// DATA flag bits.
pub(crate) mod flag {
    /// Package fields follow the flags.
    pub const PACKAGE: u8 = 0x01;
    /// The message answers a history request: not part of the live chain.
    pub const HISTORY: u8 = 0x02;
    /// The sender wants a receipt with the commit.
    pub const RECEIPT: u8 = 0x04;
    /// At least once: delivered on arrival, outside the stream's chain.
    pub const UNORDERED: u8 = 0x08;
    /// Every bit this build knows.
    pub const KNOWN: u8 = PACKAGE | HISTORY | RECEIPT | UNORDERED;
}

/// Most ranges one range list may carry on the wire, whatever the config.
pub const MAX_WIRE_RANGES: u64 = 256;

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Data {
        sid: u64,
        msg: Message,
        history: bool,
    },
    Ack(AckFrame),
    Floor {
        resend: u64,
        settled: u64,
    },
    Ping,
    Sync(SyncRequest),
    SyncEnd(PageEnd),
    Receipt {
        sid: u64,
        receipt: Bytes,
    },
    Datagram {
        seq: u64,
        msg: Message,
    },
    /// SIDs the receiver settled by its own policy, not by a commit.
    Skipped(SkipList),
}

/// An ack: which SIDs the receiver holds and which its app committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AckFrame {
    /// Microseconds between receiving the highest received SID and sending
    /// this ack, so the sender can take it out of its RTT sample.
    pub ack_delay_us: u64,
    pub received: RangeList,
    pub committed: RangeList,
    /// Messages the receiver can take beyond those it holds: the sender
    /// keeps no more than this many unreceived messages on the wire.
    pub room: u64,
}

/// A set of SIDs: everything below `floor`, plus disjoint ranges above it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangeList {
    pub floor: u64,
    count: u64,
    /// The validated, still encoded (gap, len - 1) pairs.
    encoded: Bytes,
}

impl RangeList {
    /// The ranges above the floor, ascending, as half-open `[start, end)`.
    pub(crate) fn ranges(&self) -> RangeIter<'_> {
        RangeIter {
            data: &self.encoded,
            pos: 0,
            prev_end: self.floor,
            left: self.count,
            first_at_zero: false,
        }
    }

    /// One past the highest SID in the set (the floor if no ranges).
    pub(crate) fn end(&self) -> u64 {
        self.ranges().last().map_or(self.floor, |(_, e)| e)
    }

    #[cfg(test)]
    pub(crate) fn from_ranges(floor: u64, ranges: &[(u64, u64)]) -> RangeList {
        let mut out = alloc::vec::Vec::new();
        put_ranges(&mut out, floor, ranges.iter().copied());
        let mut pos = 0;
        decode_ranges(&Bytes::from(out), &mut pos).unwrap()
    }
}

/// SIDs in ascending, disjoint, non-adjacent ranges, with no floor: the
/// first range starts `gap` above SID 0, each later one `gap + 1` above the
/// end of the one before (so SID 0 can be named, unlike in a [`RangeList`],
/// whose ranges lie strictly above its floor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SkipList {
    count: u64,
    /// The validated, still encoded (gap, len - 1) pairs.
    encoded: Bytes,
}

impl SkipList {
    /// The ranges, ascending, as half-open `[start, end)`.
    pub(crate) fn ranges(&self) -> RangeIter<'_> {
        RangeIter {
            data: &self.encoded,
            pos: 0,
            prev_end: 0,
            left: self.count,
            first_at_zero: true,
        }
    }

    /// One past the highest SID named (0 if none).
    pub(crate) fn end(&self) -> u64 {
        self.ranges().last().map_or(0, |(_, e)| e)
    }

    #[cfg(test)]
    pub(crate) fn from_ranges(ranges: &[(u64, u64)]) -> SkipList {
        let mut out = alloc::vec::Vec::new();
        put_skip_list(&mut out, ranges.iter().copied());
        let mut pos = 0;
        decode_skip_list(&Bytes::from(out), &mut pos).unwrap()
    }
}

/// Iterates a validated [`RangeList`] or [`SkipList`].
#[derive(Clone)]
pub(crate) struct RangeIter<'a> {
    data: &'a [u8],
    pos: usize,
    prev_end: u64,
    left: u64,
    /// A [`SkipList`]'s first range starts `gap` above 0, not `gap + 1`.
    first_at_zero: bool,
}

impl Iterator for RangeIter<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let gap = varint::get(self.data, &mut self.pos).ok()?;
        let len = varint::get(self.data, &mut self.pos).ok()?;
        let step = u64::from(!core::mem::take(&mut self.first_at_zero));
        let start = self.prev_end.checked_add(gap)?.checked_add(step)?;
        let end = start.checked_add(len)?.checked_add(1)?;
        self.prev_end = end;
        Some((start, end))
    }
}

/// The most a DATA frame's fields before the payload length take: kind,
/// four varints, flags and the package's four varints, all at their longest
/// (all of them can be at once: a last member at version `u64::MAX`, SID
/// `u64::MAX`; see `Config::max_payload`).
pub(crate) const DATA_FIELDS_MAX: usize = 1 + 4 * 10 + 1 + (10 + 5 + 5 + 10);

/// The most a DATA frame takes beyond its payload: its fields and the
/// length varint, all at their longest.
const DATA_OVERHEAD_MAX: usize = DATA_FIELDS_MAX + 10;

/// An upper bound of [`data_len`], for any SID, at the cost of one add: the
/// exact length is only needed when a frame might not fit.
pub(crate) fn data_len_bound(msg: &Message) -> usize {
    DATA_OVERHEAD_MAX + msg.payload.len()
}

/// Bytes a DATA frame for `msg` takes.
pub(crate) fn data_len(sid: u64, msg: &Message) -> usize {
    let package = msg.package.map_or(0, |p| {
        varint::len(p.id)
            + varint::len(u64::from(p.index))
            + varint::len(u64::from(p.count))
            + varint::len(p.last.0)
    });
    1 + varint::len(sid)
        + varint::len(msg.stream.0)
        + varint::len(msg.prev.0)
        + varint::len(msg.version.0)
        + 1
        + package
        + varint::len(msg.payload.len() as u64)
        + msg.payload.len()
}

/// Writes a DATA frame (versions absolute; the decoder requires `version > prev`).
pub(crate) fn put_data(buf: &mut impl BufMut, sid: u64, msg: &Message, history: bool) {
    // The fields go to a stack buffer first and into `buf` with one copy:
    // byte-at-a-time writes to a `BytesMut` check its capacity each time,
    // which cost more than the encoding. `DATA_OVERHEAD_MAX` bounds them.
    let mut head = [0u8; DATA_OVERHEAD_MAX];
    let mut w = HeadWriter {
        bytes: &mut head,
        len: 0,
    };
    w.byte(kind::DATA);
    w.varint(sid);
    w.varint(msg.stream.0);
    w.varint(msg.prev.0);
    w.varint(msg.version.0);
    let mut flags = 0;
    if msg.package.is_some() {
        flags |= flag::PACKAGE;
    }
    if history {
        flags |= flag::HISTORY;
    }
    if msg.wants_receipt {
        flags |= flag::RECEIPT;
    }
    if msg.qos == Qos::AtLeastOnce {
        flags |= flag::UNORDERED;
    }
    w.byte(flags);
    if let Some(p) = msg.package {
        w.varint(p.id);
        w.varint(u64::from(p.index));
        w.varint(u64::from(p.count));
        w.varint(p.last.0);
    }
    w.varint(msg.payload.len() as u64);
    let written = w.len.min(DATA_OVERHEAD_MAX);
    buf.put_slice(&head[..written]);
    buf.put_slice(&msg.payload);
}

/// A frame's fields on the stack, before one copy into the packet.
struct HeadWriter<'a> {
    bytes: &'a mut [u8; DATA_OVERHEAD_MAX],
    len: usize,
}

impl HeadWriter<'_> {
    fn byte(&mut self, b: u8) {
        // Never out of bounds (`DATA_OVERHEAD_MAX` bounds every field);
        // `get_mut` keeps even a miscount from panicking.
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
        }
        self.len += 1;
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
}

/// Bytes `put_ranges` writes for these ranges.
pub(crate) fn ranges_len(floor: u64, ranges: impl Iterator<Item = (u64, u64)>) -> usize {
    let mut prev_end = floor;
    let mut count = 0u64;
    let mut len = varint::len(floor);
    for (start, end) in ranges {
        len += varint::len(start - prev_end - 1) + varint::len(end - start - 1);
        prev_end = end;
        count += 1;
    }
    len + varint::len(count)
}

/// Writes a range list; `ranges` must be ascending, disjoint, non-adjacent
/// and above `floor` (the SID sets guarantee it).
pub(crate) fn put_ranges(
    buf: &mut impl BufMut,
    floor: u64,
    ranges: impl Iterator<Item = (u64, u64)> + Clone,
) {
    varint::put(buf, floor);
    varint::put(buf, ranges.clone().count() as u64);
    let mut prev_end = floor;
    for (start, end) in ranges {
        varint::put(buf, start - prev_end - 1);
        varint::put(buf, end - start - 1);
        prev_end = end;
    }
}

/// Writes a FLOOR frame.
pub(crate) fn put_floor(buf: &mut impl BufMut, resend: u64, settled: u64) {
    buf.put_u8(kind::FLOOR);
    varint::put(buf, resend);
    varint::put(buf, settled);
}

/// Writes a SYNC frame.
pub(crate) fn put_sync(buf: &mut impl BufMut, req: &SyncRequest) {
    let (mode, anchor) = req.range.wire();
    buf.put_u8(kind::SYNC);
    varint::put(buf, req.stream.0);
    buf.put_u8(mode);
    varint::put(buf, anchor.0);
    varint::put(buf, u64::from(req.limit));
}

/// Writes a SYNC_END frame, or a TRIMMED frame if the page end says where
/// retention cut (the same fields, then `trimmed`).
pub(crate) fn put_sync_end(buf: &mut impl BufMut, end: &PageEnd) {
    let (mode, anchor) = end.range.wire();
    buf.put_u8(if end.trimmed.is_some() {
        kind::TRIMMED
    } else {
        kind::SYNC_END
    });
    varint::put(buf, end.stream.0);
    buf.put_u8(mode);
    varint::put(buf, anchor.0);
    varint::put(buf, end.first_prev.0);
    varint::put(buf, end.through.0);
    varint::put(buf, end.count);
    buf.put_u8(u8::from(end.more));
    if let Some(t) = end.trimmed {
        varint::put(buf, t.0);
    }
}

/// Bytes a RECEIPT frame takes.
pub(crate) fn receipt_len(sid: u64, receipt: &[u8]) -> usize {
    1 + varint::len(sid) + varint::len(receipt.len() as u64) + receipt.len()
}

/// Writes a RECEIPT frame.
pub(crate) fn put_receipt(buf: &mut impl BufMut, sid: u64, receipt: &[u8]) {
    buf.put_u8(kind::RECEIPT);
    varint::put(buf, sid);
    varint::put(buf, receipt.len() as u64);
    buf.put_slice(receipt);
}

/// Bytes a DATAGRAM frame takes.
pub(crate) fn datagram_len(seq: u64, msg: &Message) -> usize {
    1 + varint::len(seq)
        + varint::len(msg.stream.0)
        + varint::len(msg.version.0)
        + varint::len(msg.payload.len() as u64)
        + msg.payload.len()
}

/// Writes a DATAGRAM frame.
pub(crate) fn put_datagram(buf: &mut impl BufMut, seq: u64, msg: &Message) {
    buf.put_u8(kind::DATAGRAM);
    varint::put(buf, seq);
    varint::put(buf, msg.stream.0);
    varint::put(buf, msg.version.0);
    varint::put(buf, msg.payload.len() as u64);
    buf.put_slice(&msg.payload);
}

/// Upper bound of an ACK frame's size with no ranges (kind, delay, two
/// floors and counts, room).
pub(crate) const ACK_MIN_LEN: usize = 1 + 10 + 2 * (10 + 1) + 10;

/// Upper bound of a SYNC frame's size.
pub(crate) const SYNC_MAX_LEN: usize = 27;

/// Upper bound of a SYNC_END or TRIMMED frame's size (a TRIMMED frame is
/// a SYNC_END with one more varint).
pub(crate) const SYNC_END_MAX_LEN: usize = 63;

/// Bytes a SKIPPED frame with these ranges takes.
pub(crate) fn skipped_len(ranges: impl Iterator<Item = (u64, u64)>) -> usize {
    let mut prev_end = None;
    let mut count = 0u64;
    let mut len = 1;
    for (start, end) in ranges {
        let gap = prev_end.map_or(start, |p: u64| start - p - 1);
        len += varint::len(gap) + varint::len(end - start - 1);
        prev_end = Some(end);
        count += 1;
    }
    len + varint::len(count)
}

/// Writes a SKIPPED frame; `ranges` ascending, disjoint, non-adjacent.
pub(crate) fn put_skipped(buf: &mut impl BufMut, ranges: impl Iterator<Item = (u64, u64)> + Clone) {
    buf.put_u8(kind::SKIPPED);
    put_skip_list(buf, ranges);
}

fn put_skip_list(buf: &mut impl BufMut, ranges: impl Iterator<Item = (u64, u64)> + Clone) {
    varint::put(buf, ranges.clone().count() as u64);
    let mut prev_end = None;
    for (start, end) in ranges {
        varint::put(buf, prev_end.map_or(start, |p: u64| start - p - 1));
        varint::put(buf, end - start - 1);
        prev_end = Some(end);
    }
}

/// Upper bound of a FLOOR frame's size.
pub(crate) const FLOOR_MAX_LEN: usize = 21;

fn get_u8(data: &[u8], pos: &mut usize) -> Result<u8, CodecError> {
    let b = *data.get(*pos).ok_or(CodecError::Truncated)?;
    *pos += 1;
    Ok(b)
}

fn get_u32(data: &[u8], pos: &mut usize) -> Result<u32, CodecError> {
    u32::try_from(varint::get(data, pos)?).map_err(|_| CodecError::Inconsistent)
}

fn get_range(data: &[u8], pos: &mut usize) -> Result<SyncRange, CodecError> {
    let mode = get_u8(data, pos)?;
    let anchor = Version(varint::get(data, pos)?);
    SyncRange::from_wire(mode, anchor).ok_or(CodecError::Inconsistent)
}

fn decode_ranges(body: &Bytes, pos: &mut usize) -> Result<RangeList, CodecError> {
    let floor = varint::get(body, pos)?;
    let count = varint::get(body, pos)?;
    if count > MAX_WIRE_RANGES {
        return Err(CodecError::Inconsistent);
    }
    let start = *pos;
    let mut prev_end = floor;
    for _ in 0..count {
        let gap = varint::get(body, pos)?;
        let len = varint::get(body, pos)?;
        let s = prev_end
            .checked_add(gap)
            .and_then(|v| v.checked_add(1))
            .ok_or(CodecError::Inconsistent)?;
        prev_end = s
            .checked_add(len)
            .and_then(|v| v.checked_add(1))
            .ok_or(CodecError::Inconsistent)?;
    }
    Ok(RangeList {
        floor,
        count,
        encoded: body.slice(start..*pos),
    })
}

fn decode_skip_list(body: &Bytes, pos: &mut usize) -> Result<SkipList, CodecError> {
    let count = varint::get(body, pos)?;
    if count > MAX_WIRE_RANGES {
        return Err(CodecError::Inconsistent);
    }
    let start = *pos;
    let mut prev_end: Option<u64> = None;
    for _ in 0..count {
        let gap = varint::get(body, pos)?;
        let len = varint::get(body, pos)?;
        let s = match prev_end {
            None => Some(gap),
            Some(p) => p.checked_add(gap).and_then(|v| v.checked_add(1)),
        }
        .ok_or(CodecError::Inconsistent)?;
        prev_end = Some(
            s.checked_add(len)
                .and_then(|v| v.checked_add(1))
                .ok_or(CodecError::Inconsistent)?,
        );
    }
    Ok(SkipList {
        count,
        encoded: body.slice(start..*pos),
    })
}

/// Decodes the frame at `*pos`, advancing past it.
pub(crate) fn decode(body: &Bytes, pos: &mut usize) -> Result<Frame, CodecError> {
    let k = get_u8(body, pos)?;
    match k {
        kind::DATA => {
            let sid = varint::get(body, pos)?;
            let stream = StreamId(varint::get(body, pos)?);
            let prev = Version(varint::get(body, pos)?);
            let version = Version(varint::get(body, pos)?);
            if version <= prev {
                return Err(CodecError::Inconsistent);
            }
            let flags = get_u8(body, pos)?;
            if flags & !flag::KNOWN != 0 {
                return Err(CodecError::UnknownFlags(flags));
            }
            let package = if flags & flag::PACKAGE != 0 {
                let id = varint::get(body, pos)?;
                let index = get_u32(body, pos)?;
                let count = get_u32(body, pos)?;
                let last = Version(varint::get(body, pos)?);
                let p = Package::new(id, index, count, last);
                if !p.fits(version) {
                    return Err(CodecError::Inconsistent);
                }
                Some(p)
            } else {
                None
            };
            let payload = get_bytes(body, pos)?;
            let mut msg = Message::new(stream, prev, version, payload);
            msg.package = package;
            msg.wants_receipt = flags & flag::RECEIPT != 0;
            if flags & flag::UNORDERED != 0 {
                msg.qos = Qos::AtLeastOnce;
            }
            Ok(Frame::Data {
                sid,
                msg,
                history: flags & flag::HISTORY != 0,
            })
        }
        kind::ACK => {
            let ack_delay_us = varint::get(body, pos)?;
            let received = decode_ranges(body, pos)?;
            let committed = decode_ranges(body, pos)?;
            let room = varint::get(body, pos)?;
            Ok(Frame::Ack(AckFrame {
                ack_delay_us,
                received,
                committed,
                room,
            }))
        }
        kind::FLOOR => {
            let resend = varint::get(body, pos)?;
            let settled = varint::get(body, pos)?;
            if settled > resend {
                return Err(CodecError::Inconsistent);
            }
            Ok(Frame::Floor { resend, settled })
        }
        kind::PING => Ok(Frame::Ping),
        kind::SYNC => {
            let stream = StreamId(varint::get(body, pos)?);
            let range = get_range(body, pos)?;
            let limit = get_u32(body, pos)?;
            Ok(Frame::Sync(SyncRequest {
                stream,
                range,
                limit,
            }))
        }
        kind::SYNC_END | kind::TRIMMED => {
            let stream = StreamId(varint::get(body, pos)?);
            let range = get_range(body, pos)?;
            let first_prev = Version(varint::get(body, pos)?);
            let through = Version(varint::get(body, pos)?);
            let count = varint::get(body, pos)?;
            let more = match get_u8(body, pos)? {
                0 => false,
                1 => true,
                _ => return Err(CodecError::Inconsistent),
            };
            // An empty page starts where it ends; a full one spans at least
            // one version per message.
            let consistent = if count == 0 {
                first_prev == through
            } else {
                through
                    .0
                    .checked_sub(first_prev.0)
                    .is_some_and(|d| d >= count)
            };
            if !consistent {
                return Err(CodecError::Inconsistent);
            }
            let trimmed = if k == kind::TRIMMED {
                Some(Version(varint::get(body, pos)?))
            } else {
                None
            };
            let end = PageEnd {
                stream,
                range,
                first_prev,
                through,
                count,
                more,
                trimmed,
            };
            if !end.trim_consistent() {
                return Err(CodecError::Inconsistent);
            }
            Ok(Frame::SyncEnd(end))
        }
        kind::RECEIPT => {
            let sid = varint::get(body, pos)?;
            let receipt = get_bytes(body, pos)?;
            Ok(Frame::Receipt { sid, receipt })
        }
        kind::SKIPPED => Ok(Frame::Skipped(decode_skip_list(body, pos)?)),
        kind::DATAGRAM => {
            let seq = varint::get(body, pos)?;
            let stream = StreamId(varint::get(body, pos)?);
            let version = Version(varint::get(body, pos)?);
            let payload = get_bytes(body, pos)?;
            let msg =
                Message::new(stream, Version::ZERO, version, payload).with_qos(Qos::AtMostOnce);
            Ok(Frame::Datagram { seq, msg })
        }
        other => Err(CodecError::UnknownFrame(other)),
    }
}

/// A length-prefixed byte string, sliced from `body` without copying.
fn get_bytes(body: &Bytes, pos: &mut usize) -> Result<Bytes, CodecError> {
    let len = varint::get(body, pos)?;
    let remaining = (body.len() - *pos) as u64;
    if len > remaining {
        return Err(CodecError::Truncated);
    }
    let end = *pos + len as usize;
    let out = body.slice(*pos..end);
    *pos = end;
    Ok(out)
}

/// Decodes every frame of `body` into `out` (cleared first), checking each
/// with `check`. Nothing is applied here: the caller applies `out` only if
/// this succeeds, so a packet is accepted or rejected whole, and each frame
/// is decoded once.
pub(crate) fn decode_all<E: From<CodecError>>(
    body: &Bytes,
    out: &mut alloc::vec::Vec<Frame>,
    mut check: impl FnMut(&Frame) -> Result<(), E>,
) -> Result<(), E> {
    out.clear();
    if body.is_empty() {
        return Err(CodecError::Truncated.into());
    }
    let mut pos = 0;
    while pos < body.len() {
        let f = decode(body, &mut pos)?;
        if let Err(e) = check(&f) {
            out.clear();
            return Err(e);
        }
        out.push(f);
    }
    Ok(())
}

impl Frame {
    /// Encodes the frame (used by tests; the endpoints write frames straight
    /// from their state).
    #[cfg(test)]
    pub(crate) fn encode(&self, buf: &mut impl BufMut) {
        match self {
            Frame::Data { sid, msg, history } => put_data(buf, *sid, msg, *history),
            Frame::Ack(a) => {
                buf.put_u8(kind::ACK);
                varint::put(buf, a.ack_delay_us);
                put_ranges(buf, a.received.floor, a.received.ranges());
                put_ranges(buf, a.committed.floor, a.committed.ranges());
                varint::put(buf, a.room);
            }
            Frame::Floor { resend, settled } => put_floor(buf, *resend, *settled),
            Frame::Ping => buf.put_u8(kind::PING),
            Frame::Sync(req) => put_sync(buf, req),
            Frame::SyncEnd(end) => put_sync_end(buf, end),
            Frame::Receipt { sid, receipt } => put_receipt(buf, *sid, receipt),
            Frame::Skipped(r) => put_skipped(buf, r.ranges()),
            Frame::Datagram { seq, msg } => put_datagram(buf, *seq, msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn enc(f: &Frame) -> Vec<u8> {
        let mut v = Vec::new();
        f.encode(&mut v);
        v
    }

    fn dec(bytes: &[u8]) -> Result<Frame, CodecError> {
        let b = Bytes::copy_from_slice(bytes);
        let mut pos = 0;
        let f = decode(&b, &mut pos)?;
        if pos != b.len() {
            return Err(CodecError::TrailingBytes);
        }
        Ok(f)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: alloc::string::String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The vectors printed in PROTOCOL.md.
    #[test]
    fn protocol_vectors() {
        let data = Frame::Data {
            sid: 5,
            msg: Message::new(
                StreamId(7),
                Version(0),
                Version(300),
                Bytes::from_static(b"hi"),
            ),
            history: false,
        };
        assert_eq!(enc(&data), hex("01 05 07 00 ac02 00 02 6869"));
        let member = Frame::Data {
            sid: 6,
            msg: Message::new(StreamId(7), Version(300), Version(301), Bytes::new())
                .with_package(Package::new(9, 0, 2, Version(302))),
            history: false,
        };
        assert_eq!(enc(&member), hex("01 06 07 ac02 ad02 01 09 00 02 ae02 00"));
        let old = Frame::Data {
            sid: 8,
            msg: Message::new(StreamId(7), Version(20), Version(25), Bytes::new()),
            history: true,
        };
        assert_eq!(enc(&old), hex("01 08 07 14 19 02 00"));
        let ack = Frame::Ack(AckFrame {
            ack_delay_us: 1000,
            received: RangeList::from_ranges(10, &[(12, 14), (20, 21)]),
            committed: RangeList::from_ranges(3, &[]),
            room: 200,
        });
        assert_eq!(enc(&ack), hex("02 e807 0a 02 01 01 05 00 03 00 c801"));
        let floor = Frame::Floor {
            resend: 9,
            settled: 4,
        };
        assert_eq!(enc(&floor), hex("03 09 04"));
        let skipped = Frame::Skipped(SkipList::from_ranges(&[(0, 2), (5, 6)]));
        assert_eq!(enc(&skipped), hex("09 02 00 01 02 00"));
        assert_eq!(enc(&Frame::Ping), hex("04"));
        let sync = Frame::Sync(SyncRequest {
            stream: StreamId(7),
            range: SyncRange::After(Version(300)),
            limit: 50,
        });
        assert_eq!(enc(&sync), hex("05 07 00 ac02 32"));
        let latest = Frame::Sync(SyncRequest {
            stream: StreamId(7),
            range: SyncRange::Latest,
            limit: 20,
        });
        assert_eq!(enc(&latest), hex("05 07 01 00 14"));
        let history = Frame::Sync(SyncRequest {
            stream: StreamId(7),
            range: SyncRange::Before(Version(300)),
            limit: 20,
        });
        assert_eq!(enc(&history), hex("05 07 02 ac02 14"));
        let end = Frame::SyncEnd(PageEnd {
            stream: StreamId(7),
            range: SyncRange::After(Version(300)),
            first_prev: Version(300),
            through: Version(310),
            count: 4,
            more: true,
            trimmed: None,
        });
        assert_eq!(enc(&end), hex("06 07 00 ac02 ac02 b602 04 01"));
        // After 300, but the store keeps only what follows 305: three
        // messages from prev 305 through 310, nothing more.
        let trimmed = Frame::SyncEnd(PageEnd {
            stream: StreamId(7),
            range: SyncRange::After(Version(300)),
            first_prev: Version(305),
            through: Version(310),
            count: 3,
            more: false,
            trimmed: Some(Version(305)),
        });
        assert_eq!(enc(&trimmed), hex("0a 07 00 ac02 b102 b602 03 00 b102"));
        // Before 300: nothing older than 200 is kept, and the page is empty.
        let trimmed_history = Frame::SyncEnd(PageEnd {
            stream: StreamId(7),
            range: SyncRange::Before(Version(300)),
            first_prev: Version(0),
            through: Version(0),
            count: 0,
            more: false,
            trimmed: Some(Version(200)),
        });
        assert_eq!(enc(&trimmed_history), hex("0a 07 02 ac02 00 00 00 00 c801"));
        assert_eq!(
            dec(&hex("0a 07 00 ac02 b102 b602 03 00 ac02")),
            Err(CodecError::Inconsistent),
            "an after cut must lie past the anchor"
        );
        assert_eq!(
            dec(&hex("0a 07 00 ac02 ac02 b602 04 00 b102")),
            Err(CodecError::Inconsistent),
            "the page starts at or after the cut"
        );
        assert_eq!(
            dec(&hex("0a 07 02 ac02 00 00 00 00 ac02")),
            Err(CodecError::Inconsistent),
            "a before cut must lie below the anchor"
        );
        assert_eq!(
            dec(&hex("0a 07 01 00 00 00 00 00 05")),
            Err(CodecError::Inconsistent),
            "a latest page is never trimmed"
        );
        assert_eq!(
            dec(&hex("0a 07 00 ac02 b102 b602 03 00")),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            dec(&hex("06 07 00 ac02 ac02 b602 04 02")),
            Err(CodecError::Inconsistent),
            "more is 0 or 1"
        );
        assert_eq!(
            dec(&hex("06 07 00 ac02 ac02 b602 0b 01")),
            Err(CodecError::Inconsistent),
            "11 messages cannot fit in 10 versions"
        );
        assert_eq!(
            dec(&hex("06 07 00 ac02 ac02 b602 00 01")),
            Err(CodecError::Inconsistent),
            "an empty page spans nothing"
        );
        assert_eq!(
            dec(&hex("05 07 01 05 14")),
            Err(CodecError::Inconsistent),
            "latest has no anchor"
        );
        assert_eq!(dec(&hex("05 07 03 00 14")), Err(CodecError::Inconsistent));
        for f in [
            data,
            member,
            old,
            ack,
            floor,
            skipped,
            Frame::Ping,
            sync,
            latest,
            history,
            end,
            trimmed,
            trimmed_history,
        ] {
            assert_eq!(dec(&enc(&f)), Ok(f));
        }
    }

    #[test]
    fn malformed_frames_rejected() {
        assert_eq!(dec(&hex("0b")), Err(CodecError::UnknownFrame(11)));
        assert_eq!(dec(&hex("0a")), Err(CodecError::Truncated));
        assert_eq!(dec(&hex("09")), Err(CodecError::Truncated));
        assert_eq!(
            dec(&hex("01 05 07 05 05 00 00")),
            Err(CodecError::Inconsistent),
            "version == prev"
        );
        assert_eq!(
            dec(&hex("01 05 07 00 01 80 00")),
            Err(CodecError::UnknownFlags(0x80))
        );
        assert_eq!(
            dec(&hex("01 06 07 ac02 ad02 01 09 02 02 ae02 00")),
            Err(CodecError::Inconsistent),
            "package index past its count"
        );
        assert_eq!(
            dec(&hex("01 06 07 ac02 ad02 01 09 00 02 ad02 00")),
            Err(CodecError::Inconsistent),
            "first of two members already at the last version"
        );
        assert_eq!(
            dec(&hex("01 05 07 00 01 00 05 6869")),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            dec(&hex("01 05 07 00 01 00 01 68 69")),
            Err(CodecError::TrailingBytes)
        );
        assert_eq!(
            dec(&hex("03 01 02")),
            Err(CodecError::Inconsistent),
            "settled above resend"
        );
        assert_eq!(
            dec(&hex("02 00 00 8104")),
            Err(CodecError::Inconsistent),
            "too many ranges"
        );
        assert_eq!(
            dec(&hex("02 00 feffffffffffffffff01 01 00 00 00 00")),
            Err(CodecError::Inconsistent),
            "range past u64"
        );
        let mut out = Vec::new();
        assert_eq!(
            decode_all(&Bytes::new(), &mut out, |_| Ok::<(), CodecError>(())),
            Err(CodecError::Truncated)
        );
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            any::<u64>(),
            any::<u64>(),
            1..u64::MAX,
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::option::of((any::<u64>(), 1u32..10, any::<u32>(), 0u64..1000)),
            any::<(bool, bool)>(),
        )
            .prop_map(|(s, p, d, pl, pk, (receipt, unordered))| {
                let prev = p % (u64::MAX - d - 2000);
                let version = prev + d;
                let mut msg = Message::new(
                    StreamId(s),
                    Version(prev),
                    Version(version),
                    Bytes::from(pl),
                );
                msg.wants_receipt = receipt;
                if unordered {
                    msg.qos = Qos::AtLeastOnce;
                }
                match pk {
                    None => msg,
                    Some((id, count, index, extra)) => {
                        let index = index % count;
                        let last = version
                            + u64::from(count - 1 - index)
                            + if index + 1 == count { 0 } else { extra };
                        msg.with_package(Package::new(id, index, count, Version(last)))
                    }
                }
            })
    }

    fn arb_ranges() -> impl Strategy<Value = RangeList> {
        (
            any::<u32>(),
            proptest::collection::vec((0u64..50, 1u64..50), 0..8),
        )
            .prop_map(|(floor, gaps)| {
                let floor = u64::from(floor);
                let mut prev = floor;
                let mut rs = Vec::new();
                for (g, l) in gaps {
                    let s = prev + g + 1;
                    rs.push((s, s + l));
                    prev = s + l;
                }
                RangeList::from_ranges(floor, &rs)
            })
    }

    fn arb_range() -> impl Strategy<Value = SyncRange> {
        prop_oneof![
            any::<u64>().prop_map(|v| SyncRange::After(Version(v))),
            Just(SyncRange::Latest),
            any::<u64>().prop_map(|v| SyncRange::Before(Version(v))),
        ]
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..70)).prop_map(|(sid, r)| {
                Frame::Receipt {
                    sid,
                    receipt: Bytes::from(r),
                }
            }),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(seq, s, v, p)| Frame::Datagram {
                    seq,
                    msg: Message::new(StreamId(s), Version(0), Version(v), Bytes::from(p))
                        .with_qos(Qos::AtMostOnce),
                }),
            (any::<u64>(), arb_message(), any::<bool>())
                .prop_map(|(sid, msg, history)| Frame::Data { sid, msg, history }),
            (any::<u64>(), arb_ranges(), arb_ranges(), any::<u64>()).prop_map(|(d, r, c, room)| {
                Frame::Ack(AckFrame {
                    ack_delay_us: d,
                    received: r,
                    committed: c,
                    room,
                })
            }),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Frame::Floor {
                resend: a.max(b),
                settled: a.min(b)
            }),
            Just(Frame::Ping),
            arb_ranges().prop_map(|r| {
                let ranges: Vec<(u64, u64)> = r.ranges().collect();
                Frame::Skipped(SkipList::from_ranges(&ranges))
            }),
            (any::<u64>(), arb_range(), any::<u32>()).prop_map(|(s, range, limit)| {
                Frame::Sync(SyncRequest {
                    stream: StreamId(s),
                    range,
                    limit,
                })
            }),
            (
                any::<u64>(),
                arb_range(),
                any::<u64>(),
                0u64..1000,
                any::<u32>(),
                any::<bool>(),
                any::<Option<u64>>()
            )
                .prop_map(|(s, range, first, count, extra, more, cut)| {
                    let first = first % (u64::MAX - 5000);
                    let span = if count == 0 {
                        0
                    } else {
                        count + u64::from(extra % 1000)
                    };
                    let mut end = PageEnd {
                        stream: StreamId(s),
                        range,
                        first_prev: Version(first),
                        through: Version(first + span),
                        count,
                        more,
                        // A cut at or below the page's start, kept where
                        // the request reaches it (a TRIMMED frame).
                        trimmed: cut.map(|c| Version(c % first.saturating_add(1))),
                    };
                    if !end.trim_consistent() {
                        end.trimmed = None;
                    }
                    Frame::SyncEnd(end)
                }),
        ]
    }

    proptest! {
        #[test]
        fn value_bytes_value(f in arb_frame()) {
            let bytes = enc(&f);
            prop_assert_eq!(dec(&bytes), Ok(f));
        }

        #[test]
        fn bytes_value_bytes(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = dec(&data) {
                prop_assert_eq!(enc(&f), data);
            }
        }

        #[test]
        fn data_len_is_exact_and_bounded(f in arb_frame()) {
            if let Frame::Data { sid, msg, history } = &f {
                let mut out = Vec::new();
                put_data(&mut out, *sid, msg, *history);
                prop_assert_eq!(out.len(), data_len(*sid, msg));
                prop_assert!(data_len(u64::MAX, msg) <= data_len_bound(msg));
            }
        }

        #[test]
        fn ranges_iterate_as_encoded(r in arb_ranges()) {
            let mut prev = r.floor;
            for (s, e) in r.ranges() {
                prop_assert!(s > prev && e > s);
                prev = e;
            }
            prop_assert_eq!(r.end(), prev);
            let mut out = Vec::new();
            put_ranges(&mut out, r.floor, r.ranges());
            prop_assert_eq!(out.len(), ranges_len(r.floor, r.ranges()));
        }
    }
}
