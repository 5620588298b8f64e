//! Frames: the typed contents of a packet body. See `PROTOCOL.md`.
//!
//! Every field is a canonical LEB128 varint unless stated. Decoders check
//! every length against what remains and treat anything left over as an
//! error, so a frame has exactly one byte form.

use crate::error::CodecError;
use crate::message::{Message, StreamId, Version};
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
    /// Asks the sending side for a stream's messages after a version.
    pub const SYNC: u8 = 0x05;
    /// Ends one page of a sync answer.
    pub const SYNC_END: u8 = 0x06;
}

/// Most ranges one range list may carry on the wire, whatever the config.
pub const MAX_WIRE_RANGES: u64 = 256;

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Data {
        sid: u64,
        msg: Message,
    },
    Ack(AckFrame),
    Floor {
        resend: u64,
        settled: u64,
    },
    Ping,
    Sync {
        stream: StreamId,
        after: Version,
        limit: u64,
    },
    SyncEnd {
        stream: StreamId,
        through: Version,
        more: bool,
    },
}

/// An ack: which SIDs the receiver holds and which its app committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AckFrame {
    /// Microseconds between receiving the highest received SID and sending
    /// this ack, so the sender can take it out of its RTT sample.
    pub ack_delay_us: u64,
    pub received: RangeList,
    pub committed: RangeList,
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

/// Iterates a validated [`RangeList`].
#[derive(Clone)]
pub(crate) struct RangeIter<'a> {
    data: &'a [u8],
    pos: usize,
    prev_end: u64,
    left: u64,
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
        let start = self.prev_end.checked_add(gap)?.checked_add(1)?;
        let end = start.checked_add(len)?.checked_add(1)?;
        self.prev_end = end;
        Some((start, end))
    }
}

/// Bytes a DATA frame for `msg` takes.
pub(crate) fn data_len(sid: u64, msg: &Message) -> usize {
    1 + varint::len(sid)
        + varint::len(msg.stream.0)
        + varint::len(msg.prev.0)
        + varint::len(msg.version.0)
        + 1
        + varint::len(msg.payload.len() as u64)
        + msg.payload.len()
}

/// Writes a DATA frame (versions absolute; the decoder requires `version > prev`).
pub(crate) fn put_data(buf: &mut impl BufMut, sid: u64, msg: &Message) {
    buf.put_u8(kind::DATA);
    varint::put(buf, sid);
    varint::put(buf, msg.stream.0);
    varint::put(buf, msg.prev.0);
    varint::put(buf, msg.version.0);
    buf.put_u8(0); // flags: none defined in format version 1
    varint::put(buf, msg.payload.len() as u64);
    buf.put_slice(&msg.payload);
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
pub(crate) fn put_sync(buf: &mut impl BufMut, stream: StreamId, after: Version, limit: u64) {
    buf.put_u8(kind::SYNC);
    varint::put(buf, stream.0);
    varint::put(buf, after.0);
    varint::put(buf, limit);
}

/// Writes a SYNC_END frame.
pub(crate) fn put_sync_end(buf: &mut impl BufMut, stream: StreamId, through: Version, more: bool) {
    buf.put_u8(kind::SYNC_END);
    varint::put(buf, stream.0);
    varint::put(buf, through.0);
    buf.put_u8(u8::from(more));
}

/// Upper bound of a SYNC or SYNC_END frame's size.
pub(crate) const SYNC_MAX_LEN: usize = 31;

/// Upper bound of a FLOOR frame's size.
pub(crate) const FLOOR_MAX_LEN: usize = 21;

fn get_u8(data: &[u8], pos: &mut usize) -> Result<u8, CodecError> {
    let b = *data.get(*pos).ok_or(CodecError::Truncated)?;
    *pos += 1;
    Ok(b)
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
            if flags != 0 {
                return Err(CodecError::UnknownFlags(flags));
            }
            let len = varint::get(body, pos)?;
            let remaining = (body.len() - *pos) as u64;
            if len > remaining {
                return Err(CodecError::Truncated);
            }
            let end = *pos + len as usize;
            let payload = body.slice(*pos..end);
            *pos = end;
            Ok(Frame::Data {
                sid,
                msg: Message::new(stream, prev, version, payload),
            })
        }
        kind::ACK => {
            let ack_delay_us = varint::get(body, pos)?;
            let received = decode_ranges(body, pos)?;
            let committed = decode_ranges(body, pos)?;
            Ok(Frame::Ack(AckFrame {
                ack_delay_us,
                received,
                committed,
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
            let after = Version(varint::get(body, pos)?);
            let limit = varint::get(body, pos)?;
            Ok(Frame::Sync {
                stream,
                after,
                limit,
            })
        }
        kind::SYNC_END => {
            let stream = StreamId(varint::get(body, pos)?);
            let through = Version(varint::get(body, pos)?);
            let more = match get_u8(body, pos)? {
                0 => false,
                1 => true,
                _ => return Err(CodecError::Inconsistent),
            };
            Ok(Frame::SyncEnd {
                stream,
                through,
                more,
            })
        }
        other => Err(CodecError::UnknownFrame(other)),
    }
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
            Frame::Data { sid, msg } => put_data(buf, *sid, msg),
            Frame::Ack(a) => {
                buf.put_u8(kind::ACK);
                varint::put(buf, a.ack_delay_us);
                put_ranges(buf, a.received.floor, a.received.ranges());
                put_ranges(buf, a.committed.floor, a.committed.ranges());
            }
            Frame::Floor { resend, settled } => put_floor(buf, *resend, *settled),
            Frame::Ping => buf.put_u8(kind::PING),
            Frame::Sync {
                stream,
                after,
                limit,
            } => put_sync(buf, *stream, *after, *limit),
            Frame::SyncEnd {
                stream,
                through,
                more,
            } => put_sync_end(buf, *stream, *through, *more),
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
        };
        assert_eq!(enc(&data), hex("01 05 07 00 ac02 00 02 6869"));
        let ack = Frame::Ack(AckFrame {
            ack_delay_us: 1000,
            received: RangeList::from_ranges(10, &[(12, 14), (20, 21)]),
            committed: RangeList::from_ranges(3, &[]),
        });
        assert_eq!(enc(&ack), hex("02 e807 0a 02 01 01 05 00 03 00"));
        assert_eq!(
            enc(&Frame::Floor {
                resend: 9,
                settled: 4
            }),
            hex("03 09 04")
        );
        assert_eq!(enc(&Frame::Ping), hex("04"));
        let sync = Frame::Sync {
            stream: StreamId(7),
            after: Version(300),
            limit: 50,
        };
        assert_eq!(enc(&sync), hex("05 07 ac02 32"));
        let end = Frame::SyncEnd {
            stream: StreamId(7),
            through: Version(310),
            more: true,
        };
        assert_eq!(enc(&end), hex("06 07 b602 01"));
        assert_eq!(dec(&hex("06 07 b602 02")), Err(CodecError::Inconsistent));
        assert_eq!(dec(&enc(&sync)), Ok(sync));
        assert_eq!(dec(&enc(&end)), Ok(end));
        for f in [
            data,
            ack,
            Frame::Floor {
                resend: 9,
                settled: 4,
            },
            Frame::Ping,
        ] {
            assert_eq!(dec(&enc(&f)), Ok(f));
        }
    }

    #[test]
    fn malformed_frames_rejected() {
        assert_eq!(dec(&hex("09")), Err(CodecError::UnknownFrame(9)));
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
        )
            .prop_map(|(s, p, d, pl)| {
                let prev = p % (u64::MAX - d);
                Message::new(
                    StreamId(s),
                    Version(prev),
                    Version(prev + d),
                    Bytes::from(pl),
                )
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

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u64>(), arb_message()).prop_map(|(sid, msg)| Frame::Data { sid, msg }),
            (any::<u64>(), arb_ranges(), arb_ranges()).prop_map(|(d, r, c)| Frame::Ack(AckFrame {
                ack_delay_us: d,
                received: r,
                committed: c
            })),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Frame::Floor {
                resend: a.max(b),
                settled: a.min(b)
            }),
            Just(Frame::Ping),
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(s, a, l)| Frame::Sync {
                stream: StreamId(s),
                after: Version(a),
                limit: l
            }),
            (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(s, t, m)| Frame::SyncEnd {
                stream: StreamId(s),
                through: Version(t),
                more: m
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
