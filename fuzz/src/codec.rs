//! The wire format, written independently of the library from PROTOCOL.md
//! §2–§4: the targets build packets and judge the endpoints' output with
//! it, so a bug shared by the library's encoder and decoder still shows.

use super::*;

/// Frame kind bytes (PROTOCOL.md §4).
pub mod kind {
    pub const DATA: u8 = 0x01;
    pub const ACK: u8 = 0x02;
    pub const FLOOR: u8 = 0x03;
    pub const PING: u8 = 0x04;
    pub const SYNC: u8 = 0x05;
    pub const SYNC_END: u8 = 0x06;
    pub const RECEIPT: u8 = 0x07;
    pub const DATAGRAM: u8 = 0x08;
    pub const SKIPPED: u8 = 0x09;
    pub const TRIMMED: u8 = 0x0A;
}

/// DATA flag bits (PROTOCOL.md §4.1).
pub mod flag {
    pub const PACKAGE: u8 = 0x01;
    pub const HISTORY: u8 = 0x02;
    pub const RECEIPT: u8 = 0x04;
    pub const UNORDERED: u8 = 0x08;
}

/// SYNC / SYNC_END modes (PROTOCOL.md §4.5).
pub mod mode {
    pub const AFTER: u8 = 0;
    pub const LATEST: u8 = 1;
    pub const BEFORE: u8 = 2;
}

/// Appends a canonical LEB128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf.push(b);
            return;
        }
        buf.push(b | 0x80);
    }
}

/// Reads a canonical varint, `None` on anything the protocol rejects.
pub fn get_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *data.get(*pos)?;
        *pos += 1;
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return None;
            }
            return Some(v);
        }
    }
    None
}

fn get_bytes(data: &[u8], pos: &mut usize) -> Option<Bytes> {
    let n = usize::try_from(get_varint(data, pos)?).ok()?;
    let b = data.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(Bytes::copy_from_slice(b))
}

/// The packet header, from PROTOCOL.md §2 (not the library's constants, so
/// a change there fails here).
pub mod wire {
    pub const MAGIC: [u8; 2] = *b"AW";
    pub const VERSION: u8 = 0x02;
    /// Magic, version, body length (u32), connection id (u64).
    pub const HEADER_LEN: usize = 2 + 1 + 4 + 8;
    /// Header and CRC-32.
    pub const OVERHEAD: usize = HEADER_LEN + 4;
}

/// The connection every endpoint in the targets belongs to: the one of
/// PROTOCOL.md's packet vectors, so those seeds reach the frames.
pub const CONN: ConnectionId = ConnectionId(0x0102_0304_0506_0708);

/// What format 2's connection id added to the header. The targets' configs
/// add it to the packet sizes they had before, so the room for frames, and
/// what every committed corpus input does, stay as they were.
pub const ID_LEN: usize = 8;

/// A whole packet of connection [`CONN`] around `body`.
pub fn seal(body: &[u8]) -> Bytes {
    seal_for(CONN.0, body)
}

/// A whole packet of connection `id` around `body`: magic, version,
/// length, connection id, body, CRC-32.
pub fn seal_for(id: u64, body: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(body.len() + wire::OVERHEAD);
    b.put_slice(&wire::MAGIC);
    b.put_u8(wire::VERSION);
    b.put_u32(body.len() as u32);
    b.put_u64(id);
    b.put_slice(body);
    let crc = crc32fast::hash(&b);
    b.put_u32(crc);
    b.freeze()
}

/// The flags byte PROTOCOL.md §4.1 gives `m` (HISTORY if `history`).
pub fn data_flags(m: &Message, history: bool) -> u8 {
    let mut f = 0;
    if m.package.is_some() {
        f |= flag::PACKAGE;
    }
    if history {
        f |= flag::HISTORY;
    }
    if m.wants_receipt {
        f |= flag::RECEIPT;
    }
    if m.qos == Qos::AtLeastOnce {
        f |= flag::UNORDERED;
    }
    f
}

pub fn put_data(buf: &mut Vec<u8>, sid: u64, m: &Message, history: bool) {
    buf.push(kind::DATA);
    put_varint(buf, sid);
    put_varint(buf, m.stream.0);
    put_varint(buf, m.prev.0);
    put_varint(buf, m.version.0);
    buf.push(data_flags(m, history));
    if let Some(p) = m.package {
        put_varint(buf, p.id);
        put_varint(buf, u64::from(p.index));
        put_varint(buf, u64::from(p.count));
        put_varint(buf, p.last.0);
    }
    put_varint(buf, m.payload.len() as u64);
    buf.extend_from_slice(&m.payload);
}

/// A SYNC_END frame, fields as given (consistent or not).
#[allow(clippy::too_many_arguments)]
pub fn put_sync_end(
    buf: &mut Vec<u8>,
    stream: u64,
    mode: u8,
    anchor: u64,
    first_prev: u64,
    through: u64,
    count: u64,
    more: bool,
) {
    buf.push(kind::SYNC_END);
    put_varint(buf, stream);
    buf.push(mode);
    put_varint(buf, anchor);
    put_varint(buf, first_prev);
    put_varint(buf, through);
    put_varint(buf, count);
    buf.push(u8::from(more));
}

/// A TRIMMED frame (PROTOCOL.md §4.10): a SYNC_END's fields, then the cut,
/// all as given (consistent or not).
#[allow(clippy::too_many_arguments)]
pub fn put_trimmed(
    buf: &mut Vec<u8>,
    stream: u64,
    mode: u8,
    anchor: u64,
    first_prev: u64,
    through: u64,
    count: u64,
    more: bool,
    trimmed: u64,
) {
    let start = buf.len();
    put_sync_end(buf, stream, mode, anchor, first_prev, through, count, more);
    buf[start] = kind::TRIMMED;
    put_varint(buf, trimmed);
}

pub fn put_receipt(buf: &mut Vec<u8>, sid: u64, receipt: &[u8]) {
    buf.push(kind::RECEIPT);
    put_varint(buf, sid);
    put_varint(buf, receipt.len() as u64);
    buf.extend_from_slice(receipt);
}

pub fn put_datagram(buf: &mut Vec<u8>, seq: u64, stream: u64, version: u64, payload: &[u8]) {
    buf.push(kind::DATAGRAM);
    put_varint(buf, seq);
    put_varint(buf, stream);
    put_varint(buf, version);
    put_varint(buf, payload.len() as u64);
    buf.extend_from_slice(payload);
}

/// A range list as written: floor, count, then `(gap, len - 1)` pairs. The
/// count may differ from the pairs given, to write inconsistent lists.
pub fn put_range_list(buf: &mut Vec<u8>, floor: u64, count: u64, pairs: &[(u64, u64)]) {
    put_varint(buf, floor);
    put_varint(buf, count);
    for &(gap, len_minus_1) in pairs {
        put_varint(buf, gap);
        put_varint(buf, len_minus_1);
    }
}

/// Decodes a range list's pairs to `[start, end)` ranges; `None` where the
/// protocol says `Inconsistent` (count over 256, an overflowing range).
pub fn ranges_of(floor: u64, count: u64, pairs: &[(u64, u64)]) -> Option<Vec<(u64, u64)>> {
    if count > 256 {
        return None;
    }
    let mut prev_end = floor;
    let mut out = Vec::new();
    for &(gap, len_minus_1) in pairs {
        let start = prev_end.checked_add(gap)?.checked_add(1)?;
        let end = start.checked_add(len_minus_1)?.checked_add(1)?;
        out.push((start, end));
        prev_end = end;
    }
    Some(out)
}

/// A skip list as written (PROTOCOL.md §4.9): count, then `(gap, len - 1)`
/// pairs. The count may differ from the pairs given.
pub fn put_skip_list(buf: &mut Vec<u8>, count: u64, pairs: &[(u64, u64)]) {
    put_varint(buf, count);
    for &(gap, len_minus_1) in pairs {
        put_varint(buf, gap);
        put_varint(buf, len_minus_1);
    }
}

/// Decodes a skip list's pairs to `[start, end)` ranges (PROTOCOL.md §4.9:
/// no floor, the first range starts at `gap`, later ones `gap + 1` past the
/// previous end); `None` where the protocol says `Inconsistent`.
pub fn skip_ranges_of(count: u64, pairs: &[(u64, u64)]) -> Option<Vec<(u64, u64)>> {
    if count > 256 {
        return None;
    }
    let mut prev_end: Option<u64> = None;
    let mut out = Vec::new();
    for &(gap, len_minus_1) in pairs {
        let start = match prev_end {
            None => gap,
            Some(p) => p.checked_add(gap)?.checked_add(1)?,
        };
        let end = start.checked_add(len_minus_1)?.checked_add(1)?;
        out.push((start, end));
        prev_end = Some(end);
    }
    Some(out)
}

/// Whether package fields agree (PROTOCOL.md §4.1).
pub fn package_fits(version: u64, index: u64, count: u64, last: u64) -> bool {
    count >= 1
        && index < count
        && version <= last
        && (version == last) == (index == count - 1)
        && last - version >= count - 1 - index
}

/// A frame as the independent decoder sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireFrame {
    Data {
        sid: u64,
        /// Package, receipt and UNORDERED (as `Qos::AtLeastOnce`) included.
        msg: Message,
        history: bool,
    },
    Ack {
        delay: u64,
        received: RangeSet,
        committed: RangeSet,
        /// `max_held_messages − held` (§4.2).
        room: u64,
    },
    /// SIDs the receiver settled without its app storing them (§4.9), as
    /// `[start, end)` ranges.
    Skipped {
        ranges: Vec<(u64, u64)>,
    },
    Floor {
        resend: u64,
        settled: u64,
    },
    Ping,
    Sync {
        stream: u64,
        mode: u8,
        anchor: u64,
        limit: u32,
    },
    SyncEnd {
        stream: u64,
        mode: u8,
        anchor: u64,
        first_prev: u64,
        through: u64,
        count: u64,
        more: bool,
        /// A TRIMMED frame's cut (PROTOCOL.md §4.10); `None`: a SYNC_END.
        trimmed: Option<u64>,
    },
    Receipt {
        sid: u64,
        receipt: Bytes,
    },
    Datagram {
        seq: u64,
        stream: u64,
        version: u64,
        payload: Bytes,
    },
}

fn get_ranges(body: &[u8], pos: &mut usize) -> Option<RangeSet> {
    let floor = get_varint(body, pos)?;
    let count = get_varint(body, pos)?;
    if count > 256 {
        return None;
    }
    let mut pairs = Vec::new();
    for _ in 0..count {
        pairs.push((get_varint(body, pos)?, get_varint(body, pos)?));
    }
    Some((floor, ranges_of(floor, count, &pairs)?))
}

fn get_skip_list(body: &[u8], pos: &mut usize) -> Option<Vec<(u64, u64)>> {
    let count = get_varint(body, pos)?;
    if count > 256 {
        return None;
    }
    let mut pairs = Vec::new();
    for _ in 0..count {
        pairs.push((get_varint(body, pos)?, get_varint(body, pos)?));
    }
    skip_ranges_of(count, &pairs)
}

/// A mode byte and anchor as SYNC and SYNC_END carry them.
fn get_mode_anchor(body: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let mode = *body.get(*pos)?;
    *pos += 1;
    if mode > mode::BEFORE {
        return None;
    }
    let anchor = get_varint(body, pos)?;
    if mode == mode::LATEST && anchor != 0 {
        return None;
    }
    Some((mode, anchor))
}

fn get_bool(body: &[u8], pos: &mut usize) -> Option<bool> {
    let b = *body.get(*pos)?;
    *pos += 1;
    match b {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn get_data(body: &[u8], pos: &mut usize) -> Option<WireFrame> {
    let sid = get_varint(body, pos)?;
    let stream = get_varint(body, pos)?;
    let prev = get_varint(body, pos)?;
    let version = get_varint(body, pos)?;
    if version <= prev {
        return None;
    }
    let flags = *body.get(*pos)?;
    *pos += 1;
    if flags & !(flag::PACKAGE | flag::HISTORY | flag::RECEIPT | flag::UNORDERED) != 0 {
        return None;
    }
    let package = if flags & flag::PACKAGE != 0 {
        let id = get_varint(body, pos)?;
        let index = get_varint(body, pos)?;
        let count = get_varint(body, pos)?;
        let last = get_varint(body, pos)?;
        let (i, c) = (u32::try_from(index).ok()?, u32::try_from(count).ok()?);
        if !package_fits(version, index, count, last) {
            return None;
        }
        Some(Package::new(id, i, c, Version(last)))
    } else {
        None
    };
    let payload = get_bytes(body, pos)?;
    let mut msg = Message::new(StreamId(stream), Version(prev), Version(version), payload);
    if let Some(p) = package {
        msg = msg.with_package(p);
    }
    if flags & flag::RECEIPT != 0 {
        msg = msg.with_receipt();
    }
    if flags & flag::UNORDERED != 0 {
        msg = msg.with_qos(Qos::AtLeastOnce);
    }
    Some(WireFrame::Data {
        sid,
        msg,
        history: flags & flag::HISTORY != 0,
    })
}

/// Checks a packet's header, length and CRC per PROTOCOL.md §2,
/// independently of the library: its connection id and body, or `None`.
pub fn open_packet(p: &[u8], max_packet_size: usize) -> Option<(u64, &[u8])> {
    if p.len() < wire::OVERHEAD
        || p.len() > max_packet_size
        || p[..2] != wire::MAGIC
        || p[2] != wire::VERSION
    {
        return None;
    }
    let len = u32::from_be_bytes([p[3], p[4], p[5], p[6]]) as usize;
    if len + wire::OVERHEAD != p.len() {
        return None;
    }
    let crc_at = wire::HEADER_LEN + len;
    let crc = u32::from_be_bytes([p[crc_at], p[crc_at + 1], p[crc_at + 2], p[crc_at + 3]]);
    if crc32fast::hash(&p[..crc_at]) != crc {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&p[7..wire::HEADER_LEN]);
    Some((u64::from_be_bytes(id), &p[wire::HEADER_LEN..crc_at]))
}

/// Decodes a whole packet of connection [`CONN`] per PROTOCOL.md,
/// independently of the library. `None` if anything about it is malformed
/// or it belongs to another connection.
pub fn decode_packet(p: &[u8], max_packet_size: usize) -> Option<Vec<WireFrame>> {
    let (id, body) = open_packet(p, max_packet_size)?;
    if id != CONN.0 || body.is_empty() {
        return None;
    }
    let pos = &mut 0;
    let mut out = Vec::new();
    while *pos < body.len() {
        let k = body[*pos];
        *pos += 1;
        let f = match k {
            kind::DATA => get_data(body, pos)?,
            kind::ACK => WireFrame::Ack {
                delay: get_varint(body, pos)?,
                received: get_ranges(body, pos)?,
                committed: get_ranges(body, pos)?,
                room: get_varint(body, pos)?,
            },
            kind::SKIPPED => WireFrame::Skipped {
                ranges: get_skip_list(body, pos)?,
            },
            kind::FLOOR => {
                let resend = get_varint(body, pos)?;
                let settled = get_varint(body, pos)?;
                if settled > resend {
                    return None;
                }
                WireFrame::Floor { resend, settled }
            }
            kind::PING => WireFrame::Ping,
            kind::SYNC => {
                let stream = get_varint(body, pos)?;
                let (mode, anchor) = get_mode_anchor(body, pos)?;
                let limit = u32::try_from(get_varint(body, pos)?).ok()?;
                WireFrame::Sync {
                    stream,
                    mode,
                    anchor,
                    limit,
                }
            }
            kind::SYNC_END | kind::TRIMMED => {
                let stream = get_varint(body, pos)?;
                let (mode, anchor) = get_mode_anchor(body, pos)?;
                let first_prev = get_varint(body, pos)?;
                let through = get_varint(body, pos)?;
                let count = get_varint(body, pos)?;
                let more = get_bool(body, pos)?;
                let fits = if count == 0 {
                    first_prev == through
                } else {
                    through.checked_sub(first_prev).is_some_and(|d| d >= count)
                };
                if !fits {
                    return None;
                }
                let trimmed = if k == kind::TRIMMED {
                    let t = get_varint(body, pos)?;
                    // §4.10: a cut the request reached, never for latest,
                    // and the page at or after it.
                    let reached = match mode {
                        mode::AFTER => t > anchor,
                        mode::BEFORE => t < anchor,
                        _ => false,
                    };
                    if !reached || (count > 0 && first_prev < t) {
                        return None;
                    }
                    Some(t)
                } else {
                    None
                };
                WireFrame::SyncEnd {
                    stream,
                    mode,
                    anchor,
                    first_prev,
                    through,
                    count,
                    more,
                    trimmed,
                }
            }
            kind::RECEIPT => WireFrame::Receipt {
                sid: get_varint(body, pos)?,
                receipt: get_bytes(body, pos)?,
            },
            kind::DATAGRAM => WireFrame::Datagram {
                seq: get_varint(body, pos)?,
                stream: get_varint(body, pos)?,
                version: get_varint(body, pos)?,
                payload: get_bytes(body, pos)?,
            },
            _ => return None,
        };
        out.push(f);
    }
    Some(out)
}

/// Every packet an endpoint writes must decode under the independent reader.
pub(crate) fn well_formed(p: &Bytes, max_packet_size: usize) -> Vec<WireFrame> {
    match decode_packet(p, max_packet_size) {
        Some(frames) => frames,
        None => panic!(
            "endpoint wrote a packet PROTOCOL.md rejects: {:02x?}",
            &p[..]
        ),
    }
}

/// The receipt the receiving apps give a message (fits `max_receipt_len`).
pub fn receipt_of(k: Key) -> Bytes {
    Bytes::from(format!("r{}/{}", k.0 .0, k.1 .0))
}

pub(crate) fn key(m: &Message) -> Key {
    (m.stream, m.version)
}
