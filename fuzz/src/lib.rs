//! The fuzz targets' bodies and invariant checks, shared by the libFuzzer
//! binaries in `fuzz/fuzz_targets/` and by the stable replay test
//! `tests/fuzz_corpus.rs`, which includes this file with `#[path]`. Keep it a
//! plain module: no crate attributes, only `ackwire`, `arbitrary`, `bytes`
//! and `crc32fast` (dependencies of both crates).
//!
//! Each target takes raw bytes and panics when an invariant breaks. The
//! structured targets read their operations with `arbitrary` one at a time
//! (`u.arbitrary::<Op>()` until the input is used up), so an input is simply
//! the concatenation of its operations and [`Enc`] can write seeds.

use ackwire::*;
use arbitrary::{Arbitrary, Unstructured};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

/// A target's body: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Named inputs for one target.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// A range list's floor and its `[start, end)` ranges.
pub type RangeSet = (u64, Vec<(u64, u64)>);

/// A message's identity in the checkers.
pub type Key = (StreamId, Version);

/// The fuzz targets, by the name of their corpus directory.
pub const TARGETS: [(&str, Target); 4] = [
    ("packet_decode", packet_decode),
    ("receiver_hostile", receiver_hostile),
    ("sender_hostile", sender_hostile),
    ("pair_ops", pair_ops),
];

/// Most operations one structured input runs (keeps each execution short).
const MAX_OPS: usize = 400;

/// Rounds `pair_ops` gives the healed pair to go quiet. Under its tight
/// bounds (a window of 8, 24 held messages) recovery can go one message
/// per retry round: find 25 needed between 5,000 and 10,000, find 27
/// between 20,000 and 30,000. A livelock runs into this bound for ever.
const HEAL_ROUNDS: usize = 200_000;

thread_local! {
    /// Bit `n` set: known bug `n` is not stepped around.
    static EXPOSED_BUGS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether the targets step around the known, unfixed bugs in `src/` (the
/// default), so fuzzing finds new ones instead of these again and again:
///
/// 14. (What 326a1bf left of bug 6.) A resend of an at-least-once message
///     with a receipt whose SID is below the floors because the sender
///     escalated it (a FLOOR came first) raises `ReceiptWanted` for a
///     message the app never got. `pair_ops` answers it once the app has
///     the message and committed it.
/// 15. A latest start's jump (the head moves to the page's `first_prev`)
///     leaves the package opened at the old head open; when it expires,
///     `PackageExpired { after: head, last: <below the head> }` is reported
///     and `st.head = open.last` moves the head back: versions already
///     delivered can come again. `receiver_hostile` stops the input there.
/// 16. (What 326a1bf left of bug 5.) A HISTORY copy that wants a receipt
///     and arrives when its page is already reported (an answer to the
///     request's retry) is acked as "nobody asked for" without the empty
///     RECEIPT: the sender resends it for ever. `pair_ops`' store answers
///     history requests without the receipt flag.
/// 32. (Issue 13's wire changes.) A HISTORY copy wanting a receipt whose
///     SID the receiver already received (a retransmission: the packet
///     with its RECEIPT and ACK was lost) is answered with an *empty*
///     RECEIPT (`on_history_data`'s `repeat_receipt(raw_sid, Bytes::new())`,
///     left from the rule before issue 13), though history copies are now
///     skipped (no receipt) or, when the key's receipt is remembered,
///     settled as committed *with that receipt*. In the second case the
///     sender reports `Acked { receipt: Some("") }`: not the receipt the
///     app committed; in the first, the SID enters the committed set while
///     SKIPPED still lists it (`receiver_hostile`, 660 execs into its first
///     run after issue 13: `known-bug-32-*`). `receiver_hostile` allows an empty RECEIPT for a SID
///     that carried a HISTORY copy with the flag; `pair_ops` an empty
///     receipt on the `Acked` of a key copied into a history page.
///     Reproduction: `history_copy_resent_gets_the_remembered_receipt` in
///     `tests/fuzz_regressions.rs` (ignored until fixed).
///
/// (Bugs 1–3, found by the first fuzzing round, and 4–13, found by the
/// second, are fixed; see fuzz/README.md; their
/// reproducers are `fuzz/artifacts/*/bug-<n>-*`.)
///
/// `tests/fuzz_corpus.rs` exposes one bug at a time ([`expose_known_bug`],
/// per thread) to replay its `known-bug-<n>-*` artifacts in its ignored
/// tests. Remove each point once the bug is fixed.
pub fn avoiding_known_bugs() -> bool {
    EXPOSED_BUGS.with(|b| b.get()) == 0
}

/// Whether the targets step around known bug `n` (see
/// [`avoiding_known_bugs`]).
pub fn avoiding(n: u32) -> bool {
    // Fixed on main since (see fuzz/README.md): nothing to step around.
    const FIXED: [u32; 3] = [15, 16, 32];
    !FIXED.contains(&n) && EXPOSED_BUGS.with(|b| b.get()) & (1 << n) == 0
}

/// Stops stepping around known bug `n` only (per thread): its reproducer
/// then shows it, and no other bug gets in the way.
pub fn expose_known_bug(n: u32) {
    EXPOSED_BUGS.with(|b| b.set(b.get() | 1 << n));
}

// ---------------------------------------------------------------------------
// Wire format, written independently of the library (PROTOCOL.md §2–§4).

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
            kind::SYNC_END => {
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
                WireFrame::SyncEnd {
                    stream,
                    mode,
                    anchor,
                    first_prev,
                    through,
                    count,
                    more,
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
fn well_formed(p: &Bytes, max_packet_size: usize) -> Vec<WireFrame> {
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

fn key(m: &Message) -> Key {
    (m.stream, m.version)
}

// ---------------------------------------------------------------------------
// Seed writing: the byte form `arbitrary` 1.x reads (little-endian integers,
// `bool` = low bit of a byte, enum variant `i` of `n` = a u32 `x` with
// `x * n >> 32 == i`). `tests/fuzz_corpus.rs` checks it round-trips.

/// Writes operations in the form the structured targets read them.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn variant(&mut self, i: u32, n: u32) -> &mut Self {
        let x = ((u64::from(i) << 32).div_ceil(u64::from(n))) as u32;
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.0.push(u8::from(v));
        self
    }
    pub fn num(&mut self, n: Num) -> &mut Self {
        match n {
            Num::Small(x) => self.variant(0, 3).u8(x),
            Num::Top(x) => self.variant(1, 3).u8(x),
            Num::Any(x) => self.variant(2, 3).u64(x),
        }
    }
}

/// A number a hostile peer picks: small, near `u64::MAX`, or anything.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Num {
    Small(u8),
    Top(u8),
    Any(u64),
}

impl Num {
    pub fn get(self) -> u64 {
        match self {
            Num::Small(x) => u64::from(x),
            Num::Top(x) => u64::MAX - u64::from(x),
            Num::Any(x) => x,
        }
    }
}

/// Reads operations until the input runs out (or `MAX_OPS`).
fn read_ops<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Vec<T> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match u.arbitrary::<T>() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// `handle_timeout(now)` must leave no deadline at or before `now`: one that
/// never clears is a busy loop in every adapter (STYLE.md, rule 3).
/// Known bug 12: `Sender::handle_timeout` checks the stall escape before
/// the retransmission timer, whose escalations can make the stall due at
/// once; a second call runs it. While avoiding known bugs, a sender gets
/// that second call ([`sender_timeout`]).
fn assert_deadline_after(deadline: Option<Instant>, now: Instant, who: &str) {
    if let Some(t) = deadline {
        assert!(
            t > now,
            "{who}: deadline {t:?} still due after handle_timeout({now:?})"
        );
    }
}

/// `tx.handle_timeout(now)`, then the deadline check (see known bug 12).
fn sender_timeout(tx: &mut Sender, now: Instant) {
    tx.handle_timeout(now);
    assert_deadline_after(tx.poll_timeout(), now, "Sender");
}

// ---------------------------------------------------------------------------
// packet_decode: arbitrary bytes into every endpoint's handle_input. A
// rejected packet must change nothing observable, compared with a twin that
// never saw it.

fn busy_config() -> Config {
    Config {
        max_packet_size: 512 + ID_LEN,
        max_in_flight: 64,
        ..Config::default()
    }
}

fn msg(stream: u64, prev: u64, version: u64, payload: &'static [u8]) -> Message {
    Message::new(
        StreamId(stream),
        Version(prev),
        Version(version),
        Bytes::from_static(payload),
    )
}

/// A sender with messages in flight (plain, with a receipt, at least once,
/// a package, a datagram), some received, some acked, a sync answered and
/// not yet written; and a receiver holding delivered, buffered and
/// uncommitted messages, a receipt, a sync under way on stream 2, a history
/// request on stream 1, a latest start on stream 8 and a contiguous stream 9.
pub fn busy_pair() -> (Sender, Receiver) {
    let cfg = busy_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    rx.set_contiguous(StreamId(9), true);
    rx.resume_latest(StreamId(8), 3);
    for m in [
        msg(1, 0, 1, b"a"),
        msg(1, 1, 2, b"b"),
        msg(1, 3, 4, b"d"), // waits behind missing version 3
        msg(2, 0, 5, b"e"),
        msg(3, 0, 7, b"f").with_receipt(),
        msg(4, 0, 1, b"p").with_package(Package::new(9, 0, 2, Version(2))),
        msg(4, 1, 2, b"q").with_package(Package::new(9, 1, 2, Version(2))),
        msg(5, 0, 3, b"u").with_qos(Qos::AtLeastOnce).with_receipt(),
        msg(6, 0, 1, b"t").with_qos(Qos::AtMostOnce),
        msg(9, 0, 1, b"c"),
    ] {
        tx.send(t0, m).unwrap();
    }
    // The first packet is lost; the rest arrive.
    let mut first = true;
    while let Some(p) = tx.poll_transmit(t0) {
        if !std::mem::take(&mut first) {
            rx.handle_input(t0, p).unwrap();
        }
    }
    while rx.poll_event().is_some() {}
    let t1 = Instant::from_millis(1_020);
    let _ = rx.commit(t1, StreamId(1), Version(1));
    let _ = rx.commit_with_receipt(t1, StreamId(3), Version(7), Bytes::from_static(b"r7"));
    rx.resume(StreamId(2), Version(5));
    rx.fetch_history(StreamId(1), Version(9), 4);
    while let Some(p) = rx.poll_transmit(t1) {
        let _ = tx.handle_input(t1, p);
    }
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::SyncRequested(req) = e {
            if req.stream == StreamId(2) {
                let _ = tx.answer_sync(t1, &req, &[msg(2, 5, 6, b"s")], false);
            }
        }
    }
    tx.send(t1, msg(3, 7, 9, b"g")).unwrap();
    (tx, rx)
}

/// Two connections that exchanged traffic both ways; the first is returned.
pub fn busy_connection() -> Connection {
    let cfg = busy_config();
    let mut a = Connection::new(cfg.clone(), CONN);
    let mut b = Connection::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    a.send(t0, msg(1, 0, 1, b"a1")).unwrap();
    a.send(t0, msg(1, 1, 3, b"a3").with_receipt()).unwrap();
    b.send(t0, msg(9, 0, 2, b"b2")).unwrap();
    b.send(t0, msg(9, 4, 6, b"b6")).unwrap();
    b.send(t0, msg(7, 0, 1, b"b7").with_qos(Qos::AtMostOnce))
        .unwrap();
    for _ in 0..2 {
        while let Some(p) = a.poll_transmit(t0) {
            b.handle_input(t0, p).unwrap();
        }
        while let Some(p) = b.poll_transmit(t0) {
            a.handle_input(t0, p).unwrap();
        }
    }
    while a.poll_event().is_some() {}
    let _ = a.commit(t0, StreamId(9), Version(2));
    a.send(t0, msg(1, 3, 4, b"a4")).unwrap();
    a
}

type RxView = (
    ReceiverStats,
    usize,
    usize,
    Option<Instant>,
    Vec<Option<Version>>,
);

fn rx_view(rx: &Receiver) -> RxView {
    let heads = [0, 1, 2, 3, 4, 5, 7, 8, 9, u64::MAX]
        .map(|s| rx.head(StreamId(s)))
        .to_vec();
    (
        rx.stats(),
        rx.held(),
        rx.streams(),
        rx.poll_timeout(),
        heads,
    )
}

type TxView = (
    SenderStats,
    usize,
    Option<Instant>,
    Duration,
    Option<Duration>,
    bool,
);

fn tx_view(tx: &Sender) -> TxView {
    (
        tx.stats(),
        tx.pending(),
        tx.poll_timeout(),
        tx.rto(),
        tx.srtt(),
        tx.is_closed(),
    )
}

/// Everything one endpoint shows: its getters, then all it transmits and
/// reports at `now` and after its timers ran at `later`.
trait Observe {
    fn observe(&mut self, now: Instant, later: Instant) -> String;
}

impl Observe for Receiver {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let mut out = format!("{:?}\n", rx_view(self));
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &format!("{:?}\n", rx_view(self));
        }
        out
    }
}

impl Observe for Sender {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let mut out = format!("{:?}\n", tx_view(self));
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &format!("{:?}\n", tx_view(self));
        }
        out
    }
}

impl Observe for Connection {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let view = |c: &Connection| {
            format!(
                "{:?} {:?} {:?}\n",
                tx_view(c.sender()),
                rx_view(c.receiver()),
                c.poll_timeout()
            )
        };
        let mut out = view(self);
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &view(self);
        }
        out
    }
}

/// Whether a frame goes to the receiving half (PROTOCOL.md §5.1 routing).
fn for_receiver(f: &WireFrame) -> bool {
    matches!(
        f,
        WireFrame::Data { .. }
            | WireFrame::Floor { .. }
            | WireFrame::Ping
            | WireFrame::SyncEnd { .. }
            | WireFrame::Datagram { .. }
    )
}

/// Feeds `packet` to `a`; on rejection, `a` must look exactly like `b`.
/// `must_accept`: the packet is valid and the endpoint has no reason of
/// its own to refuse it.
fn twin_check<T: Observe>(
    who: &str,
    mut a: T,
    mut b: T,
    packet: &Bytes,
    must_accept: bool,
    handle: impl Fn(&mut T, Instant, Bytes) -> Result<(), InputError>,
) {
    let now = Instant::from_millis(1_100);
    let result = handle(&mut a, now, packet.clone());
    // Junk the header check rejects must be rejected with the same error.
    if let Err(e) = packet_len(packet, busy_config().max_packet_size) {
        assert_eq!(
            result,
            Err(InputError::Malformed(e)),
            "{who}: packet_len said {e:?}"
        );
    }
    // A whole packet of another connection: that, before any frame.
    if let Some((id, _)) = open_packet(packet, busy_config().max_packet_size) {
        if id != CONN.0 {
            assert_eq!(
                result,
                Err(InputError::OtherConnection(ConnectionId(id))),
                "{who}: a packet of connection {id:#x}"
            );
        }
    }
    if decode_packet(packet, busy_config().max_packet_size).is_none() {
        assert!(
            result.is_err(),
            "{who} accepted a packet PROTOCOL.md rejects"
        );
    } else if must_accept {
        assert_eq!(result, Ok(()), "{who} rejected a valid packet");
    }
    let later = Instant::from_millis(200_000);
    let seen = a.observe(now, later);
    if result.is_err() {
        let twin = b.observe(now, later);
        assert_eq!(
            seen, twin,
            "{who}: rejected packet ({result:?}) changed state"
        );
    }
}

/// Target `packet_decode`. The first byte picks the mode: even = the rest
/// as-is (header, length and CRC must be right by luck or by mutation); odd
/// = the rest as a body, sealed with a valid header and CRC, so the frame
/// decoders are reached — and sealed again as a packet of another
/// connection (the id differs in the bit the mode byte's upper bits name),
/// which every endpoint must reject as that, changing nothing.
pub fn packet_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let packet = if mode % 2 == 0 {
        Bytes::copy_from_slice(rest)
    } else {
        let other = CONN.0 ^ (1 << ((mode >> 1) % 64));
        into_every_endpoint(&seal_for(other, rest));
        seal(rest)
    };
    into_every_endpoint(&packet);
}

/// `packet` into a busy `Receiver`, `Sender` and `Connection`, each beside
/// a twin that never sees it.
fn into_every_endpoint(packet: &Bytes) {
    // A valid packet of receiver frames only: the receiving halves must
    // take it (§5.1 lets them refuse nothing else).
    let rx_only = decode_packet(packet, busy_config().max_packet_size)
        .is_some_and(|fs| fs.iter().all(for_receiver));
    let (tx, rx) = busy_pair();
    let (tx2, rx2) = busy_pair();
    twin_check("Receiver", rx, rx2, packet, rx_only, Receiver::handle_input);
    twin_check("Sender", tx, tx2, packet, false, Sender::handle_input);
    twin_check(
        "Connection",
        busy_connection(),
        busy_connection(),
        packet,
        rx_only,
        Connection::handle_input,
    );
}

// ---------------------------------------------------------------------------
// receiver_hostile: valid, sealed packets from a hostile sender.

fn hostile_stream(s: u8) -> StreamId {
    match s % 8 {
        7 => StreamId(u64::MAX),
        6 => StreamId(1 << 40),
        x => StreamId(u64::from(x)),
    }
}

/// A datagram seq a hostile sender picks, relative to the highest it wrote.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seq {
    Next,
    Back(u8),
    Ahead(u8),
    Any(Num),
}

impl Seq {
    fn get(self, top: u64) -> u64 {
        match self {
            Seq::Next => top,
            Seq::Back(x) => top.saturating_sub(u64::from(x)),
            Seq::Ahead(x) => top.saturating_add(u64::from(x)),
            Seq::Any(n) => n.get(),
        }
    }
    fn encode(self, e: &mut Enc) {
        match self {
            Seq::Next => e.variant(0, 4),
            Seq::Back(x) => e.variant(1, 4).u8(x),
            Seq::Ahead(x) => e.variant(2, 4).u8(x),
            Seq::Any(n) => e.variant(3, 4).num(n),
        };
    }
}

/// One step of a hostile sender (or of the receiving app).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxOp {
    /// A DATA frame with any SID, chain, stream and flags (package fields
    /// made to agree, so the packet stays valid).
    Data {
        sid: Num,
        stream: u8,
        prev: Num,
        gap: Num,
        len: u8,
        flags: u8,
        pkg: [u8; 3],
    },
    /// A DATA frame continuing the hostile sender's own chain for `stream`,
    /// with the next SID.
    Next {
        stream: u8,
        skip: u8,
        len: u8,
        receipt: bool,
    },
    /// A package continuing the own chain: `n` members, those in `drop`'s
    /// bits left out (incomplete), `conflict` naming a member whose id or
    /// last disagrees.
    Package {
        stream: u8,
        n: u8,
        drop: u8,
        conflict: u8,
    },
    /// An UNORDERED (at least once) DATA frame with the next SID.
    Unordered {
        stream: u8,
        version: u8,
        receipt: bool,
    },
    /// An earlier DATA frame again.
    Replay {
        pick: u8,
    },
    /// Answers the receiver's latest request for `stream` from the own
    /// chain: its DATA frames (HISTORY for `before`), then the SYNC_END.
    Answer {
        stream: u8,
        limit: u8,
        more: bool,
    },
    /// A SYNC_END with any mode and fields (made valid).
    SyncEnd {
        stream: u8,
        mode: u8,
        anchor: Num,
        first_prev: Num,
        span: Num,
        count: u8,
        more: bool,
    },
    Datagram {
        seq: Seq,
        stream: u8,
        version: u8,
    },
    /// An earlier DATAGRAM frame again.
    DatagramReplay {
        pick: u8,
    },
    Floor {
        resend: Num,
        settled: Num,
    },
    Ping,
    /// Seals the frames so far into a packet and hands it over.
    Flush,
    /// The app commits one delivered message, with a receipt or not.
    Commit {
        pick: u8,
        receipt: bool,
    },
    /// The app commits everything delivered.
    CommitAll,
    /// The app answers a `ReceiptWanted`.
    ProvideReceipt {
        pick: u8,
    },
    /// The app resumes a stream at a version.
    Resume {
        stream: u8,
        version: Num,
    },
    ResumeLatest {
        stream: u8,
        n: u8,
    },
    FetchHistory {
        stream: u8,
        before: Num,
        limit: u8,
    },
    SetContiguous {
        stream: u8,
        on: bool,
    },
    Advance {
        ms: u16,
    },
    /// Jump to the receiver's deadline.
    Timeout,
}

impl RxOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 21;
        match *self {
            RxOp::Data {
                sid,
                stream,
                prev,
                gap,
                len,
                flags,
                pkg,
            } => {
                e.variant(0, N)
                    .num(sid)
                    .u8(stream)
                    .num(prev)
                    .num(gap)
                    .u8(len)
                    .u8(flags)
                    .u8(pkg[0])
                    .u8(pkg[1])
                    .u8(pkg[2]);
            }
            RxOp::Next {
                stream,
                skip,
                len,
                receipt,
            } => {
                e.variant(1, N).u8(stream).u8(skip).u8(len).bool(receipt);
            }
            RxOp::Package {
                stream,
                n,
                drop,
                conflict,
            } => {
                e.variant(2, N).u8(stream).u8(n).u8(drop).u8(conflict);
            }
            RxOp::Unordered {
                stream,
                version,
                receipt,
            } => {
                e.variant(3, N).u8(stream).u8(version).bool(receipt);
            }
            RxOp::Replay { pick } => {
                e.variant(4, N).u8(pick);
            }
            RxOp::Answer {
                stream,
                limit,
                more,
            } => {
                e.variant(5, N).u8(stream).u8(limit).bool(more);
            }
            RxOp::SyncEnd {
                stream,
                mode,
                anchor,
                first_prev,
                span,
                count,
                more,
            } => {
                e.variant(6, N)
                    .u8(stream)
                    .u8(mode)
                    .num(anchor)
                    .num(first_prev)
                    .num(span)
                    .u8(count)
                    .bool(more);
            }
            RxOp::Datagram {
                seq,
                stream,
                version,
            } => {
                e.variant(7, N);
                seq.encode(e);
                e.u8(stream).u8(version);
            }
            RxOp::DatagramReplay { pick } => {
                e.variant(8, N).u8(pick);
            }
            RxOp::Floor { resend, settled } => {
                e.variant(9, N).num(resend).num(settled);
            }
            RxOp::Ping => {
                e.variant(10, N);
            }
            RxOp::Flush => {
                e.variant(11, N);
            }
            RxOp::Commit { pick, receipt } => {
                e.variant(12, N).u8(pick).bool(receipt);
            }
            RxOp::CommitAll => {
                e.variant(13, N);
            }
            RxOp::ProvideReceipt { pick } => {
                e.variant(14, N).u8(pick);
            }
            RxOp::Resume { stream, version } => {
                e.variant(15, N).u8(stream).num(version);
            }
            RxOp::ResumeLatest { stream, n } => {
                e.variant(16, N).u8(stream).u8(n);
            }
            RxOp::FetchHistory {
                stream,
                before,
                limit,
            } => {
                e.variant(17, N).u8(stream).num(before).u8(limit);
            }
            RxOp::SetContiguous { stream, on } => {
                e.variant(18, N).u8(stream).bool(on);
            }
            RxOp::Advance { ms } => {
                e.variant(19, N).u16(ms);
            }
            RxOp::Timeout => {
                e.variant(20, N);
            }
        }
    }
}

pub fn receiver_config() -> Config {
    Config {
        max_streams: 4,
        max_held_messages: 12,
        max_reorder_per_stream: 4,
        max_in_flight: 64,
        ack_every: 4,
        sync_page: 5,
        max_packet_size: 1024 + ID_LEN,
        max_receipts: 3,
        package_timeout: Duration::from_millis(500),
        ..Config::default()
    }
}

fn payload(len: u8, tag: u64) -> Bytes {
    Bytes::from(
        (0..len % 16)
            .map(|i| (tag as u8).wrapping_add(i))
            .collect::<Vec<u8>>(),
    )
}

/// A message as the checker compares it (every field `Message` has).
type MsgKey = (
    StreamId,
    Version,
    Version,
    Bytes,
    Option<Package>,
    Qos,
    bool,
);

fn mkey(m: &Message) -> MsgKey {
    (
        m.stream,
        m.prev,
        m.version,
        m.payload.clone(),
        m.package,
        m.qos,
        m.wants_receipt,
    )
}

/// What the receiving app has seen, checked as events arrive.
#[derive(Default)]
struct RxModel {
    /// Per stream: the last version delivered, resumed or skipped.
    head: HashMap<StreamId, Version>,
    delivered: HashSet<Key>,
    /// Delivered, not yet committed by the app (`true`: at least once).
    uncommitted: Vec<(Key, bool)>,
    /// At-least-once messages delivered and not committed.
    unordered_held: HashSet<Key>,
    /// Keys some UNORDERED frame carried.
    unordered_keys: HashSet<Key>,
    /// Whether some SID carried two different messages.
    sid_reused: bool,
    /// The receiver's `ReceiptWanted` table was full at some point, so it
    /// may have dropped requests (and asks again).
    receipt_requests_full: bool,
    /// Known bug 15 seen: the input stops.
    stopped: bool,
    /// The lowest `prev` a frame gave each message.
    lowest_prev: HashMap<Key, Version>,

    sid_keys: HashMap<u64, (Key, bool)>,
    /// Every message some live (non-HISTORY) DATA frame carried.
    sent: HashSet<MsgKey>,
    /// Every message some HISTORY DATA frame carried.
    history_sent: HashSet<MsgKey>,
    /// The package being delivered: (stream, id, last).
    pkg_run: Option<(StreamId, u64, Version)>,
    /// Streams started with `resume_latest` that have not moved yet, with
    /// the `first_prev`s of latest pages written for them.
    latest: HashMap<StreamId, HashSet<Version>>,
    /// Open history requests: before, limit.
    history: HashMap<StreamId, (Version, u32)>,
    /// Receipts the app gave, per message.
    receipts: HashMap<Key, HashSet<Bytes>>,
    /// Keys the app committed.
    committed: HashSet<Key>,
    /// `ReceiptWanted` not answered yet.
    wanted: Vec<Key>,
    /// Datagrams the replay window lets through, in order, not yet seen.
    datagrams_due: VecDeque<(StreamId, Version, Bytes)>,
    /// Per stream, the highest version the app declared stored by
    /// `resume` (§5.2: a message dropped by `resume` is committed, with an
    /// empty receipt if one is wanted).
    resumed: HashMap<StreamId, Version>,
}

impl RxModel {
    fn head(&self, s: StreamId) -> Version {
        self.head.get(&s).copied().unwrap_or(Version::ZERO)
    }

    /// `v` is where `s` stands. (A latest start's jump is reported by
    /// `Started` since issue 13: no position moves without an event.)
    fn at_head(&mut self, s: StreamId, v: Version) -> bool {
        v == self.head(s)
    }

    /// Checks one event; `rx_head` is the receiver's position of a stream
    /// now (at or past where it stood at the event).
    fn on_event(&mut self, e: ReceiverEvent, rx_head: impl Fn(StreamId) -> Version) {
        if self.stopped {
            return;
        }
        if let Some((s, id, last)) = self.pkg_run {
            let next = matches!(&e, ReceiverEvent::Deliver(m)
                if m.stream == s && m.package.is_some_and(|p| p.id == id && p.last == last));
            assert!(next, "package {id} on {s:?} interrupted by {e:?}");
        }
        match e {
            ReceiverEvent::Deliver(m) if m.qos == Qos::AtLeastOnce => {
                assert!(
                    self.sent.contains(&mkey(&m)),
                    "delivered {m:?}, which no UNORDERED frame carried"
                );
                let k = key(&m);
                assert!(
                    self.unordered_held.insert(k),
                    "at-least-once {k:?} delivered again before its commit"
                );
                self.uncommitted.push((k, true));
            }
            ReceiverEvent::Deliver(m) => {
                assert!(
                    self.at_head(m.stream, m.prev),
                    "delivered {m:?} does not follow the stream's head {:?}",
                    self.head(m.stream)
                );
                assert!(m.version > m.prev, "delivered {m:?}: version <= prev");
                assert!(
                    self.delivered.insert(key(&m)),
                    "delivered {:?} twice",
                    key(&m)
                );
                assert!(
                    self.sent.contains(&mkey(&m)),
                    "delivered {m:?}, which no frame carried"
                );
                self.latest.remove(&m.stream);
                self.head.insert(m.stream, m.version);
                self.uncommitted.push((key(&m), false));
                self.pkg_run = m
                    .package
                    .filter(|p| m.version < p.last)
                    .map(|p| (m.stream, p.id, p.last));
            }
            ReceiverEvent::Gap {
                stream,
                after,
                waiting_after,
            } => {
                assert!(
                    self.at_head(stream, after),
                    "gap on {stream:?} reported after {after:?}, head is {:?}",
                    self.head(stream)
                );
                assert!(
                    waiting_after > after,
                    "gap on {stream:?}: waiting after {waiting_after:?} <= head {after:?}"
                );
            }
            ReceiverEvent::PackageExpired { after, last, .. } if avoiding(15) && last <= after => {
                // Known bug 15: a stale package moves the head back; the
                // input stops here.
                self.stopped = true;
            }
            ReceiverEvent::PackageExpired {
                stream,
                after,
                last,
                received,
                count,
                ..
            } => {
                assert!(
                    self.at_head(stream, after),
                    "package on {stream:?} expired after {after:?}, head is {:?}",
                    self.head(stream)
                );
                assert!(
                    last > after,
                    "package expired through {last:?} <= {after:?}"
                );
                // `received` counts members that arrived, agreeing or not
                // (a member with another id or last is counted).
                assert!(received <= count, "package expired with {received}/{count}");
                self.latest.remove(&stream);
                self.head.insert(stream, last);
            }
            ReceiverEvent::History {
                stream,
                before,
                messages,
                ..
            } => {
                let (b, limit) = self
                    .history
                    .remove(&stream)
                    .unwrap_or_else(|| panic!("history for {stream:?}, never asked"));
                assert_eq!(before, b, "history for the wrong request");
                // PROTOCOL.md §5.1: a page collects up to
                // max(limit, max_reorder_per_stream) messages.
                assert!(
                    messages.len()
                        <= (limit as usize).max(receiver_config().max_reorder_per_stream),
                    "history past its bound"
                );
                for w in messages.windows(2) {
                    assert_eq!(w[1].prev, w[0].version, "history page not one chain");
                }
                for m in &messages {
                    assert!(m.version < before, "history {m:?} not before {before:?}");
                    assert!(
                        self.history_sent.contains(&mkey(m)),
                        "history {m:?}, which no HISTORY frame carried"
                    );
                }
            }
            ReceiverEvent::Started { stream, after } => {
                // §5.1 *Latest*: only for a stream `resume_latest` began
                // with no position, once a latest page's SYNC_END came: the
                // head jumps to that page's `first_prev`.
                let named = self.latest.get(&stream);
                assert!(
                    named.is_some_and(|a| a.contains(&after)),
                    "Started {{ {stream:?}, after {after:?} }}: no latest page of a latest start \
                     named it ({named:?})"
                );
                assert_eq!(
                    self.head(stream),
                    Version::ZERO,
                    "Started on {stream:?}, which has a position"
                );
                self.latest.remove(&stream);
                self.head.insert(stream, after);
            }
            ReceiverEvent::Datagram(m) => {
                let due = self.datagrams_due.pop_front();
                assert_eq!(
                    due,
                    Some((m.stream, m.version, m.payload.clone())),
                    "datagram delivered against the replay window"
                );
            }
            ReceiverEvent::ReceiptWanted { stream, version }
                if avoiding(14)
                    && self.unordered_keys.contains(&(stream, version))
                    && !self.committed.contains(&(stream, version)) =>
            {
                // Known bug 14: an at-least-once resend below the floors
                // (a FLOOR passed its SID) asks for a receipt never given.
            }
            ReceiverEvent::ReceiptWanted { stream, version } => {
                let k = (stream, version);
                // §5.2: committed by SID, or by version (at or below the
                // head: skipped versions too, by a latest start or an
                // expired package). A hostile sender that reuses a committed
                // SID for another message makes the receiver ask for that
                // one's receipt (it keeps no key per SID): not checked then.
                // A message whose chain forked below the head (dropped as
                // stale, its SID settled) is asked for too.
                let head = self.head(stream).max(rx_head(stream));
                let stale = self.lowest_prev.get(&k).is_some_and(|&p| p < head);
                assert!(
                    version <= head || stale || self.committed.contains(&k) || self.sid_reused,
                    "receipt wanted for {k:?}, never committed"
                );
                // Twice only once requests were dropped for room (the
                // table was full): the sender asked again.
                assert!(
                    !self.wanted.contains(&k) || self.receipt_requests_full,
                    "receipt wanted twice for {k:?}"
                );
                if !self.wanted.contains(&k) {
                    self.wanted.push(k);
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// The hostile sender's own chain of a stream: what `Answer` pages from.
type Chain = Vec<Message>;

struct RxHarness {
    rx: Receiver,
    cfg: Config,
    now: Instant,
    model: RxModel,
    body: Vec<u8>,
    frames_sent: Vec<(u64, Message, bool)>,
    datagrams_sent: Vec<(u64, StreamId, u64, Bytes)>,
    /// One past the highest datagram seq written, and the receiver's window
    /// as PROTOCOL.md §5.2 describes it: top and the seqs let through.
    dgram_written: u64,
    dgram_top: u64,
    dgram_seen: HashSet<u64>,
    chains: HashMap<StreamId, Chain>,
    next_sid: u64,
    next_package: u64,
    /// The receiver's latest SYNC per stream: mode, anchor, limit.
    requests: HashMap<StreamId, (u8, u64, u32)>,
    /// SIDs sent with the RECEIPT flag, and the messages they carried;
    /// those of them sent as HISTORY.
    receipt_sids: HashMap<u64, HashSet<Key>>,
    /// Every key each SID carried, with or without the RECEIPT flag.
    carried: HashMap<u64, HashSet<Key>>,
    /// SIDs that carried a HISTORY copy with the RECEIPT flag (known bug
    /// 32).
    history_receipt_sids: HashSet<u64>,
    /// SIDs a hostile sender reused for another message (or for a history
    /// copy and a live one): the receiver keeps one state per SID, so one
    /// copy may be skipped and another committed (find 24's input).
    reused_sids: HashSet<u64>,
    /// Streams the app named (these may exceed `max_streams`).
    app_streams: BTreeSet<StreamId>,
    streams_seen: BTreeSet<StreamId>,
    /// The highest `settled` of a FLOOR handed over: the receiver forgets
    /// skipped SIDs below it (§5.2, *On FLOOR*).
    floor_settled: u64,
    /// SIDs some SKIPPED frame listed: settled without the app storing
    /// them, so never in a committed list (until the FLOOR passes them).
    skipped: BTreeSet<u64>,
}

impl RxHarness {
    fn new() -> RxHarness {
        let cfg = receiver_config();
        RxHarness {
            rx: Receiver::new(cfg.clone(), CONN),
            cfg,
            now: Instant::from_millis(1_000),
            model: RxModel::default(),
            body: Vec::new(),
            frames_sent: Vec::new(),
            datagrams_sent: Vec::new(),
            dgram_written: 0,
            dgram_top: 0,
            dgram_seen: HashSet::new(),
            chains: HashMap::new(),
            next_sid: 0,
            next_package: 0,
            requests: HashMap::new(),
            receipt_sids: HashMap::new(),
            carried: HashMap::new(),
            history_receipt_sids: HashSet::new(),
            reused_sids: HashSet::new(),
            app_streams: BTreeSet::new(),
            streams_seen: BTreeSet::new(),
            floor_settled: 0,
            skipped: BTreeSet::new(),
        }
    }

    /// Adds a frame to the packet being built, sending the packet first if
    /// the frame would not fit.
    fn push(&mut self, frame: Vec<u8>) {
        if self.body.len() + frame.len() > self.cfg.max_packet_size - wire::OVERHEAD {
            self.flush();
        }
        self.body.extend_from_slice(&frame);
    }

    fn data(&mut self, sid: u64, m: Message, history: bool) {
        trace(&(
            "DATA",
            sid,
            m.stream,
            m.prev,
            m.version,
            m.qos,
            m.wants_receipt,
            history,
        ));
        let mut f = Vec::new();
        put_data(&mut f, sid, &m, history);
        if m.qos == Qos::AtLeastOnce {
            self.model.unordered_keys.insert(key(&m));
        }
        let low = self.model.lowest_prev.entry(key(&m)).or_insert(m.prev);
        *low = (*low).min(m.prev);
        // A SID reused for another message, or for a history copy (which is
        // committed on arrival) and a live one.
        let id = (key(&m), history);
        if *self.model.sid_keys.entry(sid).or_insert(id) != id {
            self.model.sid_reused = true;
            self.reused_sids.insert(sid);
        }
        if history {
            self.model.history_sent.insert(mkey(&m));
        } else {
            self.model.sent.insert(mkey(&m));
        }
        self.carried.entry(sid).or_default().insert(key(&m));
        if m.wants_receipt {
            self.receipt_sids.entry(sid).or_default().insert(key(&m));
            if history {
                self.history_receipt_sids.insert(sid);
            }
        }
        self.streams_seen.insert(m.stream);
        self.frames_sent.push((sid, m, history));
        self.push(f);
    }

    fn next_sid(&mut self) -> u64 {
        self.next_sid += 1;
        self.next_sid - 1
    }

    fn datagram(&mut self, seq: u64, stream: StreamId, version: u64, payload: Bytes) {
        let mut f = Vec::new();
        put_datagram(&mut f, seq, stream.0, version, &payload);
        self.dgram_written = self.dgram_written.max(seq.saturating_add(1));
        self.datagrams_sent.push((seq, stream, version, payload));
        self.push(f);
    }

    /// Seals the frames so far and hands the packet over; a valid packet
    /// must be accepted.
    fn flush(&mut self) {
        if self.body.is_empty() {
            return;
        }
        let p = seal(&std::mem::take(&mut self.body));
        let frames = decode_packet(&p, self.cfg.max_packet_size).expect("harness wrote junk");
        for f in frames {
            match f {
                WireFrame::Datagram {
                    seq,
                    stream,
                    version,
                    payload,
                } => {
                    // §5.2: a replay window of 128 below `top`. Seq
                    // `u64::MAX` is dropped: one past it does not exist.
                    let fresh = seq != u64::MAX
                        && (seq >= self.dgram_top
                            || (self.dgram_top - seq <= 128 && !self.dgram_seen.contains(&seq)));
                    if fresh {
                        self.dgram_seen.insert(seq);
                        self.dgram_top = self.dgram_top.max(seq + 1);
                        self.model.datagrams_due.push_back((
                            StreamId(stream),
                            Version(version),
                            payload,
                        ));
                    }
                }
                WireFrame::SyncEnd {
                    stream,
                    mode: mode::LATEST,
                    first_prev,
                    ..
                } => {
                    if let Some(a) = self.model.latest.get_mut(&StreamId(stream)) {
                        a.insert(Version(first_prev));
                    }
                }
                WireFrame::Floor { settled, .. } => {
                    self.floor_settled = self.floor_settled.max(settled);
                }
                _ => {}
            }
        }
        self.rx
            .handle_input(self.now, p)
            .expect("valid packet rejected");
    }

    fn commit(&mut self, i: usize, with_receipt: bool) {
        let (k, _) = self.model.uncommitted.remove(i);
        // `commit(stream, version)` takes an at-least-once message of that
        // key first, whichever delivery the app meant.
        self.model.unordered_held.remove(&k);
        let receipt = if with_receipt {
            receipt_of(k)
        } else {
            Bytes::new()
        };
        self.model
            .receipts
            .entry(k)
            .or_default()
            .insert(receipt.clone());
        self.model.committed.insert(k);
        self.rx
            .commit_with_receipt(self.now, k.0, k.1, receipt)
            .expect("commit of a delivered message");
    }

    /// An `Answer` page from the own chain for the receiver's request.
    fn answer(&mut self, stream: StreamId, cap: u8, more_anyway: bool) {
        let Some(&(mode, anchor, limit)) = self.requests.get(&stream) else {
            return;
        };
        let chain = self.chains.get(&stream).cloned().unwrap_or_default();
        let n = (limit as usize).min(usize::from(cap % 8) + 1);
        let (page, more): (Vec<Message>, bool) = match mode {
            mode::AFTER => {
                let after: Vec<_> = chain.into_iter().filter(|m| m.version.0 > anchor).collect();
                let more = after.len() > n;
                (after.into_iter().take(n).collect(), more)
            }
            _ => {
                let below: Vec<_> = chain
                    .into_iter()
                    .filter(|m| mode == mode::LATEST || m.version.0 < anchor)
                    .collect();
                let more = below.len() > n;
                (below[below.len().saturating_sub(n)..].to_vec(), more)
            }
        };
        let empty_at = if mode == mode::AFTER { anchor } else { 0 };
        let first_prev = page.first().map_or(empty_at, |m| m.prev.0);
        let through = page.last().map_or(empty_at, |m| m.version.0);
        for m in &page {
            let sid = self.next_sid();
            self.data(sid, m.clone(), mode == mode::BEFORE);
        }
        let mut f = Vec::new();
        put_sync_end(
            &mut f,
            stream.0,
            mode,
            anchor,
            first_prev,
            through,
            page.len() as u64,
            more || more_anyway,
        );
        self.push(f);
    }

    /// Continues the own chain of `s` with `m`'s payload and flags.
    fn chain_next(&mut self, s: StreamId, skip: u64) -> (Version, Version) {
        let prev = self
            .chains
            .get(&s)
            .and_then(|c| c.last())
            .map_or(0, |m| m.version.0)
            .min(u64::MAX - 4);
        (Version(prev), Version(prev.saturating_add(1 + skip)))
    }

    fn apply(&mut self, i: usize, op: RxOp) {
        let now = self.now;
        match op {
            RxOp::Data {
                sid,
                stream,
                prev,
                gap,
                len,
                flags,
                pkg,
            } => {
                let prev = prev.get().min(u64::MAX - 1);
                let version = prev.saturating_add(1).saturating_add(gap.get());
                let s = hostile_stream(stream);
                let mut m =
                    Message::new(s, Version(prev), Version(version), payload(len, i as u64));
                if flags & flag::PACKAGE != 0 {
                    let count = u64::from(pkg[1] % 4) + 1;
                    let index = u64::from(pkg[2]) % count;
                    let after = count - 1 - index;
                    let last = version.checked_add(after + u64::from(pkg[0] % 2));
                    let last = if after == 0 { Some(version) } else { last };
                    if let Some(last) = last.filter(|&l| package_fits(version, index, count, l)) {
                        m = m.with_package(Package::new(
                            u64::from(pkg[0] / 2),
                            index as u32,
                            count as u32,
                            Version(last),
                        ));
                    }
                }
                if flags & flag::RECEIPT != 0 {
                    m = m.with_receipt();
                }
                if flags & flag::UNORDERED != 0 {
                    m = m.with_qos(Qos::AtLeastOnce);
                }
                self.data(sid.get(), m, flags & flag::HISTORY != 0);
            }
            RxOp::Next {
                stream,
                skip,
                len,
                receipt,
            } => {
                let s = hostile_stream(stream);
                let (prev, version) = self.chain_next(s, u64::from(skip % 3));
                let mut m = Message::new(s, prev, version, payload(len, i as u64));
                if receipt {
                    m = m.with_receipt();
                }
                self.chains.entry(s).or_default().push(m.clone());
                let sid = self.next_sid();
                self.data(sid, m, false);
            }
            RxOp::Package {
                stream,
                n,
                drop,
                conflict,
            } => {
                let s = hostile_stream(stream);
                let count = u32::from(n % 4) + 1;
                let (mut prev, first) = self.chain_next(s, 0);
                let last = Version(first.0 + u64::from(count) - 1);
                let id = self.next_package;
                self.next_package += 1;
                for index in 0..count {
                    let version = Version(prev.0 + 1);
                    let mut p = Package::new(id, index, count, last);
                    if u32::from(conflict % 8) == index {
                        if index + 1 < count && conflict & 8 != 0 {
                            p.last = Version(last.0 + 1);
                        } else {
                            p.id = id + 1_000;
                        }
                    }
                    let m = Message::new(s, prev, version, payload(1, u64::from(index)))
                        .with_package(p);
                    self.chains.entry(s).or_default().push(m.clone());
                    if drop & (1 << index) == 0 {
                        let sid = self.next_sid();
                        self.data(sid, m, false);
                    }
                    prev = version;
                }
            }
            RxOp::Unordered {
                stream,
                version,
                receipt,
            } => {
                let s = hostile_stream(stream);
                let v = u64::from(version) + 1;
                let mut m = Message::new(s, Version(v - 1), Version(v), payload(3, v))
                    .with_qos(Qos::AtLeastOnce);
                if receipt {
                    m = m.with_receipt();
                }
                let sid = self.next_sid();
                self.data(sid, m, false);
            }
            RxOp::Replay { pick } => {
                if !self.frames_sent.is_empty() {
                    let (sid, m, h) =
                        self.frames_sent[usize::from(pick) % self.frames_sent.len()].clone();
                    self.data(sid, m, h);
                }
            }
            RxOp::Answer {
                stream,
                limit,
                more,
            } => self.answer(hostile_stream(stream), limit, more),
            RxOp::SyncEnd {
                stream,
                mode,
                anchor,
                first_prev,
                span,
                count,
                more,
            } => {
                let m = mode % 3;
                let anchor = if m == mode::LATEST { 0 } else { anchor.get() };
                let count = u64::from(count % 8);
                let fp = first_prev.get().min(u64::MAX - 8);
                let through = if count == 0 {
                    fp
                } else {
                    fp.saturating_add(span.get().max(count))
                };
                let s = hostile_stream(stream);
                let mut f = Vec::new();
                put_sync_end(&mut f, s.0, m, anchor, fp, through, count, more);
                self.streams_seen.insert(s);
                self.push(f);
            }
            RxOp::Datagram {
                seq,
                stream,
                version,
            } => {
                let seq = seq.get(self.dgram_written);
                let p = Bytes::from(seq.to_le_bytes().to_vec());
                self.datagram(seq, hostile_stream(stream), u64::from(version), p);
            }
            RxOp::DatagramReplay { pick } => {
                if !self.datagrams_sent.is_empty() {
                    let (seq, s, v, p) =
                        self.datagrams_sent[usize::from(pick) % self.datagrams_sent.len()].clone();
                    self.datagram(seq, s, v, p);
                }
            }
            RxOp::Floor { resend, settled } => {
                let mut f = vec![kind::FLOOR];
                put_varint(&mut f, resend.get());
                put_varint(&mut f, settled.get().min(resend.get()));
                self.push(f);
            }
            RxOp::Ping => self.push(vec![kind::PING]),
            RxOp::Flush => self.flush(),
            RxOp::Commit { pick, receipt } => {
                if !self.model.uncommitted.is_empty() {
                    self.commit(usize::from(pick) % self.model.uncommitted.len(), receipt);
                }
            }
            RxOp::CommitAll => {
                while !self.model.uncommitted.is_empty() {
                    self.commit(0, true);
                }
            }
            RxOp::ProvideReceipt { pick } => {
                if !self.model.wanted.is_empty() {
                    let k = self
                        .model
                        .wanted
                        .remove(usize::from(pick) % self.model.wanted.len());
                    let r = receipt_of(k);
                    self.model.receipts.entry(k).or_default().insert(r.clone());
                    // Dropped for room meanwhile only once the table was
                    // full (see bug 28): then the late answer is refused.
                    match self.rx.provide_receipt(k.0, k.1, r) {
                        Ok(()) => {}
                        Err(CommitError::NotDelivered) if self.model.receipt_requests_full => {}
                        Err(e) => panic!("receipt for a ReceiptWanted: {e:?}"),
                    }
                }
            }
            RxOp::Resume { stream, version } => {
                let s = hostile_stream(stream);
                // The app's store holds everything delivered: it may resume
                // at any version at or above what it committed.
                let v = Version(version.get());
                self.rx.resume(s, v);
                self.app_streams.insert(s);
                let r = self.model.resumed.entry(s).or_default();
                *r = (*r).max(v);
                self.model
                    .uncommitted
                    .retain(|&((us, uv), unordered)| unordered || us != s || uv > v);
                let head = self.model.head.entry(s).or_default();
                *head = (*head).max(v);
            }
            RxOp::ResumeLatest { stream, n } => {
                let s = hostile_stream(stream);
                if self.rx.head(s).unwrap_or_default() == Version::ZERO {
                    self.model.latest.entry(s).or_default();
                }
                self.app_streams.insert(s);
                self.rx.resume_latest(s, u32::from(n));
            }
            RxOp::FetchHistory {
                stream,
                before,
                limit,
            } => {
                let s = hostile_stream(stream);
                let limit = u32::from(limit).clamp(1, self.cfg.max_reorder_per_stream as u32);
                self.model.history.insert(s, (Version(before.get()), limit));
                self.app_streams.insert(s);
                self.rx.fetch_history(s, Version(before.get()), limit);
            }
            RxOp::SetContiguous { stream, on } => {
                let s = hostile_stream(stream);
                self.app_streams.insert(s);
                self.rx.set_contiguous(s, on);
            }
            RxOp::Advance { ms } => {
                self.now = now + Duration::from_millis(u64::from(ms));
                self.rx.handle_timeout(self.now);
                assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
            }
            RxOp::Timeout => {
                if let Some(t) = self.rx.poll_timeout() {
                    self.now = now.max(t);
                }
                self.rx.handle_timeout(self.now);
                assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
            }
        }
    }

    /// Takes the receiver's events and packets; checks them and the bounds.
    fn check(&mut self) {
        if self.rx.usage().receipts_wanted >= self.cfg.max_streams {
            self.model.receipt_requests_full = true;
        }
        while let Some(e) = self.rx.poll_event() {
            trace(&("EVENT", &e));
            let rx = &self.rx;
            self.model
                .on_event(e, |s| rx.head(s).unwrap_or(Version::ZERO));
        }
        assert!(
            self.model.datagrams_due.is_empty(),
            "datagrams the window lets through were not delivered: {:?}",
            self.model.datagrams_due
        );
        while let Some(p) = self.rx.poll_transmit(self.now) {
            for f in well_formed(&p, self.cfg.max_packet_size) {
                trace(&("WROTE", &f));
                self.check_written(f);
            }
        }
        let cfg = &self.cfg;
        assert!(
            self.rx.held() <= cfg.max_held_messages,
            "held {} > bound",
            self.rx.held()
        );
        let tracked = self
            .streams_seen
            .iter()
            .filter(|s| !self.app_streams.contains(s) && self.rx.head(**s).is_some())
            .count();
        assert!(
            tracked <= cfg.max_streams,
            "{tracked} streams tracked > bound"
        );
        if self.model.stopped {
            return;
        }
        // A stream's position moves only by delivery, package expiry, resume
        // or a latest start.
        let streams: BTreeSet<StreamId> = (self.model.head.keys())
            .chain(self.model.latest.keys())
            .copied()
            .collect();
        for s in streams {
            let Some(h) = self.rx.head(s) else { continue };
            if !self.model.at_head(s, h) {
                panic!(
                    "{s:?} stands at {h:?} without an event (model {:?})",
                    self.model.head(s)
                );
            }
        }
    }

    /// Whether live DATA frames sent for `s` chain from `head` to `to`
    /// (`prev` → `version`, every step above `head`): `to` can be the last
    /// version the receiver holds without a hole (§5.1, *Sync*).
    fn chain_reaches(&self, s: StreamId, head: Version, to: Version) -> bool {
        let mut next: HashMap<Version, Vec<Version>> = HashMap::new();
        for (_, m, history) in &self.frames_sent {
            if !history && m.stream == s && m.qos != Qos::AtLeastOnce && m.prev >= head {
                next.entry(m.prev).or_default().push(m.version);
            }
        }
        let mut seen = HashSet::new();
        let mut todo = vec![head];
        while let Some(v) = todo.pop() {
            if v == to {
                return true;
            }
            if seen.insert(v) {
                todo.extend(next.get(&v).into_iter().flatten().copied());
            }
        }
        false
    }

    fn check_written(&mut self, f: WireFrame) {
        match f {
            WireFrame::Skipped { ranges } => {
                // §4.9/§5.2: SIDs the receiver received (some DATA frame
                // carried them) and settled by its own policy, listed until
                // the FLOOR's `settled` passes them.
                for &(start, end) in &ranges {
                    for sid in start..end.min(start + 4_096) {
                        assert!(
                            self.carried.contains_key(&sid),
                            "SKIPPED lists SID {sid}, which no DATA frame carried"
                        );
                        assert!(
                            sid >= self.floor_settled,
                            "SKIPPED lists SID {sid}, below the FLOOR's settled {}",
                            self.floor_settled
                        );
                        self.skipped.insert(sid);
                    }
                }
                for w in ranges.windows(2) {
                    assert!(w[0].1 < w[1].0, "SKIPPED ranges adjacent or unordered");
                }
            }
            WireFrame::Ack {
                committed, room, ..
            } => {
                // §4.2: a skipped SID is never committed (the committed
                // floor stays below it until the FLOOR passes it).
                let (floor, ranges) = committed;
                let in_committed =
                    |sid: u64| sid < floor || ranges.iter().any(|&(a, b)| a <= sid && sid < b);
                if let Some(sid) = self.skipped.range(self.floor_settled..).find(|&&sid| {
                    in_committed(sid)
                            && !self.reused_sids.contains(&sid)
                            // Known bug 32: the empty RECEIPT for a history
                            // copy received again also commits its SID.
                            && !(avoiding(32) && self.history_receipt_sids.contains(&sid))
                }) {
                    panic!("SID {sid} was SKIPPED, then acked as committed");
                }
                // §4.2: room = max_held_messages − held.
                assert_eq!(
                    room,
                    self.cfg.max_held_messages.saturating_sub(self.rx.held()) as u64,
                    "ACK room"
                );
            }
            WireFrame::Sync {
                stream,
                mode,
                anchor,
                limit,
            } => {
                let s = StreamId(stream);
                match mode {
                    mode::AFTER => {
                        // §5.1: after the last version held without a hole
                        // from the head (the head, then buffered messages
                        // keyed by prev): a chain of frames sent leads there.
                        let head = self.rx.head(s).expect("sync for a stream not tracked");
                        assert!(
                            self.chain_reaches(s, head, Version(anchor)),
                            "sync for {s:?} after {anchor}: no chain of messages sent leads \
                             there from the head {head:?}"
                        );
                        assert_eq!(limit, self.cfg.sync_page);
                    }
                    mode::LATEST => {
                        assert!(self.app_streams.contains(&s), "latest sync unasked");
                        assert!(
                            (1..=self.cfg.max_reorder_per_stream as u32).contains(&limit),
                            "latest limit {limit}"
                        );
                    }
                    _ => {
                        let asked = self.model.history.get(&s).copied();
                        assert_eq!(
                            asked,
                            Some((Version(anchor), limit)),
                            "history sync for {s:?} not as asked"
                        );
                    }
                }
                self.requests.insert(s, (mode, anchor, limit));
            }
            WireFrame::Receipt { sid, receipt } => {
                let keys = self.receipt_sids.get(&sid);
                // §5.2 *Receipts* (issue 13): a receipt the app gave for a
                // key this SID carried — by commit, `provide_receipt`, or
                // remembered for the key when a copy of it was skipped or
                // dropped (settled as committed with it). A hostile peer
                // reusing a SID for copies of one key with and without the
                // flag may get it on the copy that did not ask (find 19;
                // the sender ignores it). Else only an empty one for a
                // message dropped by `resume` (the app says it is stored).
                // A skipped copy (expired package, latest start, HISTORY,
                // fork, passed-over version) gets none: its sender hears
                // `Skipped`.
                let given = self.carried.get(&sid).is_some_and(|ks| {
                    ks.iter().any(|k| {
                        self.model
                            .receipts
                            .get(k)
                            .is_some_and(|rs| rs.contains(&receipt))
                            || (receipt.is_empty()
                                && self.model.resumed.get(&k.0).is_some_and(|&r| k.1 <= r))
                    })
                });
                // Known bug 32: a HISTORY copy received again is answered
                // with an empty receipt.
                let bug_32 =
                    avoiding(32) && receipt.is_empty() && self.history_receipt_sids.contains(&sid);
                assert!(
                    given || bug_32,
                    "RECEIPT {receipt:?} for SID {sid}: not a receipt the app gave for {keys:?}"
                );
            }
            other => panic!("receiver wrote {other:?}"),
        }
    }
}

/// Target `receiver_hostile`: held messages and tracked streams stay within
/// the configured bounds; every delivery follows its stream's head (so no
/// (stream, version) twice and versions strictly increase) and was carried
/// by some frame, package members come together and in order; a stream's
/// position moves only by an event, resume or a latest start; gaps,
/// package expiries and history pages are consistent with what was sent and
/// asked; datagrams pass exactly as PROTOCOL.md's replay window says;
/// at-least-once messages are not delivered again while uncommitted; every
/// RECEIPT written carries a receipt the app gave for that SID's message;
/// SYNC requests are from the head (after) or as asked (latest, before);
/// valid packets are accepted; deadlines clear.
pub fn receiver_hostile(data: &[u8]) {
    let ops: Vec<RxOp> = read_ops(data);
    let mut h = RxHarness::new();
    for (i, op) in ops.iter().chain([RxOp::Flush].iter()).enumerate() {
        h.apply(i, *op);
        h.check();
        if h.model.stopped {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// sender_hostile: acks and sync requests from a hostile receiver.

/// A SID a hostile receiver names: relative to what was sent, or anything.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sid {
    Below(u8),
    Above(u8),
    Any(Num),
}

impl Sid {
    fn get(self, sent_end: u64) -> u64 {
        match self {
            Sid::Below(x) => sent_end.saturating_sub(u64::from(x)),
            Sid::Above(x) => sent_end.saturating_add(u64::from(x)),
            Sid::Any(n) => n.get(),
        }
    }
    fn encode(self, e: &mut Enc) {
        match self {
            Sid::Below(x) => e.variant(0, 3).u8(x),
            Sid::Above(x) => e.variant(1, 3).u8(x),
            Sid::Any(n) => e.variant(2, 3).num(n),
        };
    }
}

/// A range list as a hostile receiver writes it.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Ranges {
    pub floor: Sid,
    /// How many of `pairs` to write.
    pub n: u8,
    pub pairs: [(Num, Num); 4],
    /// A count that disagrees with the pairs written.
    pub count: Option<u16>,
}

impl Ranges {
    fn encode(&self, e: &mut Enc) {
        self.floor.encode(e);
        e.u8(self.n);
        for (a, b) in self.pairs {
            e.num(a).num(b);
        }
        e.bool(self.count.is_some());
        if let Some(c) = self.count {
            e.u16(c);
        }
    }

    /// Writes the list; returns the `[start, end)` ranges it means, or
    /// `None` if the count is off (any result allowed) and `Some(None)` if
    /// it must be rejected as `Inconsistent`.
    fn write(&self, buf: &mut Vec<u8>, sent_end: u64) -> Option<Option<RangeSet>> {
        let floor = self.floor.get(sent_end);
        let pairs: Vec<(u64, u64)> = self.pairs[..usize::from(self.n % 5)]
            .iter()
            .map(|(a, b)| (a.get(), b.get()))
            .collect();
        let count = self.count.map_or(pairs.len() as u64, u64::from);
        put_range_list(buf, floor, count, &pairs);
        if count != pairs.len() as u64 {
            return None;
        }
        Some(ranges_of(floor, count, &pairs).map(|r| (floor, r)))
    }
}

/// A skip list as a hostile receiver writes it (PROTOCOL.md §4.9).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Skips {
    /// How many of `pairs` to write.
    pub n: u8,
    /// `(gap, len - 1)`; a `Sid` gap for the first range, so it can name
    /// what was sent.
    pub first: (Sid, Num),
    pub pairs: [(Num, Num); 3],
    /// A count that disagrees with the pairs written.
    pub count: Option<u16>,
}

impl Skips {
    fn encode(&self, e: &mut Enc) {
        e.u8(self.n);
        self.first.0.encode(e);
        e.num(self.first.1);
        for (a, b) in self.pairs {
            e.num(a).num(b);
        }
        e.bool(self.count.is_some());
        if let Some(c) = self.count {
            e.u16(c);
        }
    }

    /// Writes the list; returns the `[start, end)` ranges it means, or
    /// `None` if the count is off (any result allowed) and `Some(None)` if
    /// it must be rejected as `Inconsistent`.
    fn write(&self, buf: &mut Vec<u8>, sent_end: u64) -> Option<Option<Vec<(u64, u64)>>> {
        let n = usize::from(self.n % 5);
        let mut pairs = Vec::new();
        if n > 0 {
            pairs.push((self.first.0.get(sent_end), self.first.1.get()));
        }
        pairs.extend(
            self.pairs[..n.saturating_sub(1)]
                .iter()
                .map(|(a, b)| (a.get(), b.get())),
        );
        let count = self.count.map_or(pairs.len() as u64, u64::from);
        put_skip_list(buf, count, &pairs);
        if count != pairs.len() as u64 {
            return None;
        }
        Some(skip_ranges_of(count, &pairs))
    }
}

#[allow(clippy::large_enum_variant)] // built and used one at a time
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum TxOp {
    /// The app sends the next message of a stream; `kind` picks the QoS and
    /// whether it wants a receipt.
    Send {
        stream: u8,
        len: u8,
        kind: u8,
    },
    /// The app sends a package of `n % 4 + 1` members.
    Package {
        stream: u8,
        n: u8,
    },
    /// Everything the sender has goes on the wire (and is read back).
    Transmit,
    Ack {
        delay: Num,
        received: Ranges,
        committed: Ranges,
        /// The receiver's room (§4.2; flow control).
        room: Num,
    },
    /// A packet of `n` SYNC frames (`mode` 3 and up are invalid).
    Sync {
        stream: Num,
        mode: u8,
        anchor: Num,
        limit: Num,
        n: u8,
    },
    /// The app answers a request it read (or one it made up) from its store;
    /// `bad` breaks the page's chain.
    AnswerSync {
        pick: u8,
        start: u8,
        count: u8,
        more: bool,
        bad: u8,
    },
    /// A packet of `n` RECEIPT frames for one SID.
    Receipt {
        sid: Sid,
        len: u8,
        n: u8,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    Close,
    /// A SKIPPED frame (§4.9), alone or (`ack`) before an ACK of the SIDs
    /// sent, received and nothing committed, as a receiver writes them.
    Skipped {
        list: Skips,
        ack: bool,
    },
}

impl TxOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 11;
        match self {
            TxOp::Send { stream, len, kind } => {
                e.variant(0, N).u8(*stream).u8(*len).u8(*kind);
            }
            TxOp::Package { stream, n } => {
                e.variant(1, N).u8(*stream).u8(*n);
            }
            TxOp::Transmit => {
                e.variant(2, N);
            }
            TxOp::Ack {
                delay,
                received,
                committed,
                room,
            } => {
                e.variant(3, N).num(*delay);
                received.encode(e);
                committed.encode(e);
                e.num(*room);
            }
            TxOp::Sync {
                stream,
                mode,
                anchor,
                limit,
                n,
            } => {
                e.variant(4, N)
                    .num(*stream)
                    .u8(*mode)
                    .num(*anchor)
                    .num(*limit)
                    .u8(*n);
            }
            TxOp::AnswerSync {
                pick,
                start,
                count,
                more,
                bad,
            } => {
                e.variant(5, N)
                    .u8(*pick)
                    .u8(*start)
                    .u8(*count)
                    .bool(*more)
                    .u8(*bad);
            }
            TxOp::Receipt { sid, len, n } => {
                e.variant(6, N);
                sid.encode(e);
                e.u8(*len).u8(*n);
            }
            TxOp::Advance { ms } => {
                e.variant(7, N).u16(*ms);
            }
            TxOp::Timeout => {
                e.variant(8, N);
            }
            TxOp::Close => {
                e.variant(9, N);
            }
            TxOp::Skipped { list, ack } => {
                e.variant(10, N);
                list.encode(e);
                e.bool(*ack);
            }
        }
    }
}

pub fn sender_config() -> Config {
    Config {
        max_in_flight: 8,
        max_queued: 16,
        max_retransmits: 2,
        max_streams: 4,
        max_packet_size: 256 + ID_LEN,
        peer_dead_after: Duration::from_secs(20),
        ..Config::default()
    }
}

/// A page end the sender owes: the frame, and the page's messages not
/// written since the answer.
type OwedEnd = (WireFrame, HashSet<Key>);

/// What the sending app has seen, checked as events arrive.
#[derive(Default)]
struct TxModel {
    /// Every message given to `send` or `answer_sync`, by key.
    sent: HashMap<Key, Message>,
    /// How often each was given (sends and answers).
    sends: HashMap<Key, usize>,
    total_sends: usize,
    /// Per chained stream (0..3), the app's store.
    store: BTreeMap<u64, Vec<Message>>,
    /// Messages that went out in some DATA frame; the SID each DATA frame
    /// had.
    transmitted: HashSet<Key>,
    /// Keys written as DATA, with the HISTORY flag they carried: the
    /// sender dedups a sync answer against copies of the same flag.
    transmitted_as: HashSet<(Key, bool)>,
    sid_key: HashMap<u64, Key>,
    /// Keys answered in a `before` page (sent with HISTORY).
    history: HashSet<Key>,
    /// RECEIPT frames accepted, by the key of their SID.
    receipts: HashMap<Key, HashSet<Bytes>>,
    acked: HashMap<Key, usize>,
    escalated: HashMap<Key, usize>,
    /// `Skipped` events per key, and the keys of SIDs some accepted SKIPPED
    /// frame named (§5.3 *On SKIPPED*).
    skipped: HashMap<Key, usize>,
    skip_named: HashSet<Key>,
    n_acked: usize,
    n_escalated: usize,
    n_skipped: usize,
    /// At-most-once: given, written (in seq order), queued.
    datagrams: HashSet<Key>,
    datagrams_written: HashSet<Key>,
    next_seq: u64,
    /// SYNC_ENDs owed, in answer order.
    owed_ends: VecDeque<OwedEnd>,
    /// The `room` of the last ACK accepted (§5.3 flow control; `None`:
    /// no ACK yet, nothing limited).
    room: Option<u64>,
    /// Requests read and not answered.
    requests: Vec<SyncRequest>,
    handed_back: usize,
    closed: bool,
}

impl TxModel {
    fn settled(&self) -> usize {
        self.n_acked + self.n_escalated + self.n_skipped
    }

    /// How often `k` was settled, by any outcome.
    fn settled_key(&self, k: &Key) -> usize {
        [&self.acked, &self.escalated, &self.skipped]
            .iter()
            .map(|m| m.get(k).copied().unwrap_or(0))
            .sum()
    }

    fn gave(&mut self, m: &Message) {
        let k = key(m);
        if let Some(old) = self.sent.get(&k) {
            assert_eq!(old, m, "harness: two messages with one key");
        }
        self.sent.insert(k, m.clone());
        *self.sends.entry(k).or_default() += 1;
        self.total_sends += 1;
    }

    fn on_event(&mut self, e: SenderEvent, sync_requests: &mut usize) {
        match e {
            SenderEvent::Acked {
                stream,
                version,
                receipt,
            } => {
                let k = (stream, version);
                assert!(self.transmitted.contains(&k), "acked {k:?}, never sent");
                *self.acked.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "acked {k:?} more often than sent (or after escalating or skipping it)"
                );
                self.n_acked += 1;
                if self.sent[&k].wants_receipt {
                    let r = receipt.unwrap_or_else(|| panic!("{k:?} acked without its receipt"));
                    assert!(
                        self.receipts.get(&k).is_some_and(|rs| rs.contains(&r)),
                        "{k:?} acked with receipt {r:?}, which no RECEIPT frame carried"
                    );
                } else {
                    assert_eq!(receipt, None, "{k:?} acked with a receipt nobody asked");
                }
            }
            SenderEvent::Escalated(m) => {
                let k = key(&m);
                assert!(self.transmitted.contains(&k), "escalated {k:?}, never sent");
                assert_eq!(self.sent.get(&k), Some(&m), "escalated a different message");
                *self.escalated.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "escalated {k:?} too often"
                );
                self.n_escalated += 1;
            }
            SenderEvent::Skipped { stream, version } => {
                // §5.3 *On SKIPPED*: only for a SID a SKIPPED frame named,
                // never more often than sent; no receipt (none to carry).
                let k = (stream, version);
                assert!(self.transmitted.contains(&k), "skipped {k:?}, never sent");
                assert!(
                    self.skip_named.contains(&k),
                    "skipped {k:?}, which no SKIPPED frame named"
                );
                *self.skipped.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "skipped {k:?} more often than sent (or after acking or escalating it)"
                );
                self.n_skipped += 1;
            }
            SenderEvent::PeerDead { unacked } | SenderEvent::Closed { unacked } => {
                assert!(!self.closed, "closed twice");
                self.closed = true;
                for u in &unacked {
                    let k = key(&u.message);
                    assert_eq!(
                        self.sent.get(&k),
                        Some(&u.message),
                        "handed back a stranger"
                    );
                    assert_ne!(u.message.qos, Qos::AtMostOnce, "handed back a datagram");
                    if u.state != UnackedState::NeverSent {
                        assert!(
                            self.transmitted.contains(&k),
                            "{k:?} handed back as {:?}, never sent",
                            u.state
                        );
                    }
                }
                self.handed_back = unacked.len();
                assert_eq!(
                    self.settled() + self.handed_back,
                    self.total_sends,
                    "messages lost on close"
                );
            }
            SenderEvent::SyncRequested(req) => {
                *sync_requests += 1;
                self.requests.push(req);
                if self.requests.len() > 16 {
                    self.requests.remove(0);
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Checks one frame the sender wrote.
    fn written(&mut self, f: WireFrame, sent_end: &mut u64) {
        match f {
            WireFrame::Data { sid, msg, history } => {
                let k = key(&msg);
                assert_eq!(
                    self.sent.get(&k),
                    Some(&msg),
                    "DATA SID {sid} is no message the app gave (flags or fields differ)"
                );
                assert!(
                    !history || self.history.contains(&k),
                    "{k:?} written as HISTORY, never in a before page"
                );
                if let Some(old) = self.sid_key.insert(sid, k) {
                    assert_eq!(old, k, "SID {sid} carried two messages");
                }
                *sent_end = (*sent_end).max(sid + 1);
                self.transmitted.insert(k);
                self.transmitted_as.insert((k, history));
                for (_, keys) in self.owed_ends.iter_mut() {
                    keys.remove(&k);
                }
            }
            WireFrame::Datagram {
                seq,
                stream,
                version,
                payload,
            } => {
                assert_eq!(seq, self.next_seq, "datagram seqs not consecutive");
                self.next_seq += 1;
                let k = (StreamId(stream), Version(version));
                assert!(self.datagrams.contains(&k), "datagram {k:?} never sent");
                assert_eq!(self.sent[&k].payload, payload);
                assert!(
                    self.datagrams_written.insert(k),
                    "datagram {k:?} written twice"
                );
            }
            end @ WireFrame::SyncEnd { .. } => {
                // Markers of different pages may pass each other (each
                // waits for its own page only), so find the one it answers.
                let at = self
                    .owed_ends
                    .iter()
                    .position(|(owed, _)| *owed == end)
                    .unwrap_or_else(|| {
                        panic!("{end:?} answers nothing owed: {:?}", self.owed_ends)
                    });
                let Some((owed, unwritten)) = self.owed_ends.remove(at) else {
                    unreachable!("position found above")
                };
                // §5.1: once none of the page's messages waits for the
                // window. Flow control may still hold them (they have SIDs);
                // without it (no ACK yet, or room for a whole window) they
                // are all written first, as before issue 13.
                let limited = self.room.is_some_and(|r| r < sender_config().max_in_flight);
                // A latest page's end goes at once (it says where the
                // stream starts; the peer holds the page until it knows).
                let latest =
                    matches!(owed, WireFrame::SyncEnd { mode, .. } if mode == mode::LATEST);
                assert!(
                    unwritten.is_empty() || limited || latest,
                    "SYNC_END written before its page's {unwritten:?}"
                );
            }
            WireFrame::Floor { .. } | WireFrame::Ping => {}
            other => panic!("sender wrote {other:?}"),
        }
    }
}

/// Target `sender_hostile`: every `Acked` is for a message transmitted,
/// never more often than it was given (nor after its escalation), and
/// carries exactly a receipt some RECEIPT frame gave when the message asked
/// for one (`None` otherwise); `pending()` is exactly what was given and not
/// settled; every DATA frame is a message the app gave, flags included, and
/// one SID always names one message; datagrams go out once each with
/// consecutive seqs; each SYNC_END follows its whole page and says what
/// `answer_sync` was given; a bad page is `BadChain`; an ACK, SYNC or
/// RECEIPT is accepted or rejected exactly as PROTOCOL.md §4/§5.1 says, and
/// a rejected packet changes nothing; at most `max_streams` unread sync
/// requests; `min_rto <= rto() <= max_rto`; close hands back everything
/// unsettled.
pub fn sender_hostile(data: &[u8]) {
    let ops: Vec<TxOp> = read_ops(data);
    let cfg = sender_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut model = TxModel::default();
    let mut now = Instant::from_millis(1_000);
    // Next version per stream (chained 0..3, at least once 10.., datagrams 20..).
    let mut heads: HashMap<u64, u64> = HashMap::new();
    let mut next_package = 0u64;
    let mut sent_end = 0u64;
    // A few messages in flight before the hostile part starts.
    let setup = [
        TxOp::Send {
            stream: 0,
            len: 1,
            kind: 0,
        },
        TxOp::Send {
            stream: 1,
            len: 2,
            kind: 2,
        },
        TxOp::Send {
            stream: 0,
            len: 3,
            kind: 3,
        },
        TxOp::Transmit,
    ];
    for op in setup.iter().chain(ops.iter()) {
        let mut sync_requests = 0;
        match op {
            TxOp::Send { stream, len, kind } => {
                let (qos, receipt) = match kind % 6 {
                    0 | 1 => (Qos::ExactlyOnce, false),
                    2 => (Qos::ExactlyOnce, true),
                    3 => (Qos::AtLeastOnce, false),
                    4 => (Qos::AtLeastOnce, true),
                    _ => (Qos::AtMostOnce, false),
                };
                let s = u64::from(stream % 3)
                    + match qos {
                        Qos::ExactlyOnce => 0,
                        Qos::AtLeastOnce => 10,
                        Qos::AtMostOnce => 20,
                    };
                let prev = heads.get(&s).copied().unwrap_or(0);
                let mut m = Message::new(
                    StreamId(s),
                    Version(prev),
                    Version(prev + 1),
                    payload(*len, prev),
                )
                .with_qos(qos);
                if receipt {
                    m = m.with_receipt();
                }
                send_checked(&mut tx, now, m, &mut model, &mut heads);
            }
            TxOp::Package { stream, n } => {
                let s = u64::from(stream % 3);
                let count = u32::from(n % 4) + 1;
                let first = heads.get(&s).copied().unwrap_or(0) + 1;
                let last = Version(first + u64::from(count) - 1);
                for index in 0..count {
                    let v = first + u64::from(index);
                    let m = Message::new(StreamId(s), Version(v - 1), Version(v), payload(1, v))
                        .with_package(Package::new(next_package, index, count, last));
                    if !send_checked(&mut tx, now, m, &mut model, &mut heads) {
                        break;
                    }
                }
                next_package += 1;
            }
            TxOp::Transmit => {
                while let Some(p) = tx.poll_transmit(now) {
                    for f in well_formed(&p, cfg.max_packet_size) {
                        model.written(f, &mut sent_end);
                    }
                }
            }
            TxOp::Ack {
                delay,
                received,
                committed,
                room,
            } => {
                let mut body = vec![kind::ACK];
                put_varint(&mut body, delay.get());
                let r = received.write(&mut body, sent_end);
                let c = committed.write(&mut body, sent_end);
                put_varint(&mut body, room.get());
                // §5.1: decode errors first, then a closed sender, then SIDs
                // never transmitted (received list before committed).
                let expected = match (r, c) {
                    (Some(Some(r)), Some(Some(c))) => Some(if model.closed {
                        Err(InputError::Closed)
                    } else {
                        let unsent = [r, c].into_iter().find_map(|(floor, ranges)| {
                            let end = ranges.last().map_or(floor, |x| x.1).max(floor);
                            (end > sent_end).then(|| InputError::AckForUnsentSid(end - 1))
                        });
                        unsent.map_or(Ok(()), Err)
                    }),
                    (Some(None), _) | (Some(Some(_)), Some(None)) => {
                        Some(Err(InputError::Malformed(CodecError::Inconsistent)))
                    }
                    _ => None,
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "ACK handled against PROTOCOL.md §5.1");
                }
                if result.is_ok() {
                    model.room = Some(room.get());
                }
            }
            TxOp::Sync {
                stream,
                mode,
                anchor,
                limit,
                n,
            } => {
                let m = match mode % 8 {
                    x @ 0..=2 => x,
                    3..=5 => mode % 3,
                    6 => 3,
                    _ => *mode,
                };
                let mut f = vec![kind::SYNC];
                put_varint(&mut f, stream.get());
                f.push(m);
                // Latest takes anchor 0, mostly.
                let anchor = if m == mode::LATEST && mode & 0x80 == 0 {
                    0
                } else {
                    anchor.get()
                };
                put_varint(&mut f, anchor);
                put_varint(&mut f, limit.get());
                let range = match (m, anchor) {
                    (mode::AFTER, a) => Some(SyncRange::After(Version(a))),
                    (mode::LATEST, 0) => Some(SyncRange::Latest),
                    (mode::BEFORE, a) => Some(SyncRange::Before(Version(a))),
                    _ => None,
                };
                let valid = range.is_some() && limit.get() <= u64::from(u32::MAX);
                // As many as fit in one packet.
                let fit = (cfg.max_packet_size - wire::OVERHEAD) / f.len();
                let body = f.repeat(usize::from(n % 16 + 1).min(fit));
                let result = input_checked(&mut tx, now, &body, &mut model);
                let expected = if !valid {
                    Err(InputError::Malformed(CodecError::Inconsistent))
                } else if model.closed {
                    Err(InputError::Closed)
                } else {
                    Ok(())
                };
                assert_eq!(result, expected, "SYNC handled against PROTOCOL.md");
                while let Some(e) = tx.poll_event() {
                    if let SenderEvent::SyncRequested(req) = &e {
                        let want = SyncRequest {
                            stream: StreamId(stream.get()),
                            range: range.unwrap(),
                            limit: limit.get() as u32,
                        };
                        assert_eq!(*req, want, "SyncRequested differs from the SYNC frame");
                    }
                    model.on_event(e, &mut sync_requests);
                }
                assert!(
                    sync_requests <= cfg.max_streams,
                    "{sync_requests} sync requests unread"
                );
            }
            TxOp::AnswerSync {
                pick,
                start,
                count,
                more,
                bad,
            } => {
                let req = if model.requests.is_empty() {
                    SyncRequest {
                        stream: StreamId(u64::from(*pick % 4)),
                        range: SyncRange::After(Version(u64::from(*start % 4))),
                        limit: 5,
                    }
                } else {
                    model
                        .requests
                        .remove(usize::from(*pick) % model.requests.len())
                };
                let stored = model.store.get(&req.stream.0).cloned().unwrap_or_default();
                let from = usize::from(*start) % (stored.len() + 1);
                let to = (from + usize::from(count % 6)).min(stored.len());
                let mut page = stored[from..to].to_vec();
                let bad = bad % 6 == 0;
                let broken = bad
                    && if page.len() >= 2 {
                        page.swap(0, 1);
                        true
                    } else if let Some(m) = model.store.values().flatten().next() {
                        if m.stream != req.stream {
                            page.push(m.clone());
                            true
                        } else {
                            false
                        }
                    } else {
                        false
                    };
                let before = tx.pending();
                let r = tx.answer_sync(now, &req, &page, *more);
                if model.closed && !page.is_empty() {
                    assert_eq!(r, Err(SendError::Closed), "answer_sync on a closed sender");
                } else if broken {
                    assert_eq!(
                        r,
                        Err(SendError::BadChain),
                        "answer_sync took a broken page"
                    );
                } else if r == Err(SendError::Backpressure) {
                    assert_eq!(tx.pending(), before, "a refused answer changed the sender");
                } else {
                    assert_eq!(r, Ok(()), "answer_sync");
                }
                if r.is_ok() {
                    let history = matches!(req.range, SyncRange::Before(_));
                    let on_way: HashSet<Key> = page
                        .iter()
                        .map(key)
                        .filter(|k| {
                            model.transmitted_as.contains(&(*k, history))
                                && model.settled_key(k) < model.sends.get(k).copied().unwrap_or(0)
                        })
                        .collect();
                    for m in &page {
                        model.gave(m);
                        if history {
                            model.history.insert(key(m));
                        }
                    }
                    // §5.1: a page message already on its way (unsettled in
                    // the window, or queued by an earlier answer, with the
                    // same HISTORY flag) is not queued twice. Per key,
                    // `sends` counts what was given (a bound); the total is
                    // what was queued.
                    if !model.closed {
                        let queued = tx.pending() - before;
                        assert!(
                            queued <= page.len(),
                            "answer_sync queued more than its page"
                        );
                        model.total_sends -= page.len() - queued;
                    }
                    let (mode, anchor, empty_at) = match req.range {
                        SyncRange::After(v) => (mode::AFTER, v.0, v.0),
                        SyncRange::Latest => (mode::LATEST, 0, 0),
                        SyncRange::Before(v) => (mode::BEFORE, v.0, 0),
                    };
                    let end = WireFrame::SyncEnd {
                        stream: req.stream.0,
                        mode,
                        anchor,
                        first_prev: page.first().map_or(empty_at, |m| m.prev.0),
                        through: page.last().map_or(empty_at, |m| m.version.0),
                        count: page.len() as u64,
                        more: *more,
                    };
                    if !model.closed {
                        // A message already on its way (transmitted, a copy
                        // unsettled, same HISTORY flag) is not queued again.
                        let owed = page
                            .iter()
                            .map(key)
                            .filter(|k| !on_way.contains(k))
                            .collect();
                        // The same page answered again while its marker
                        // is still queued gets no second marker.
                        if !model.owed_ends.iter().any(|(e, _)| *e == end) {
                            model.owed_ends.push_back((end, owed));
                        }
                    }
                }
            }
            TxOp::Receipt { sid, len, n } => {
                let sid = sid.get(sent_end);
                let receipt = payload(*len, sid).repeat(usize::from(*len / 16) + 1);
                let mut f = Vec::new();
                put_receipt(&mut f, sid, &receipt);
                let fit = ((cfg.max_packet_size - wire::OVERHEAD) / f.len()).max(1);
                let body = f.repeat(usize::from(n % 4 + 1).min(fit));
                let expected = if body.len() + wire::OVERHEAD > cfg.max_packet_size {
                    None
                } else if model.closed {
                    Some(Err(InputError::Closed))
                } else if sid >= sent_end {
                    Some(Err(InputError::AckForUnsentSid(sid)))
                } else {
                    Some(Ok(()))
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "RECEIPT handled against PROTOCOL.md");
                }
                if result.is_ok() {
                    if let Some(k) = model.sid_key.get(&sid) {
                        model
                            .receipts
                            .entry(*k)
                            .or_default()
                            .insert(Bytes::from(receipt));
                    }
                }
            }
            TxOp::Advance { ms } => {
                now = now + Duration::from_millis(u64::from(*ms));
                sender_timeout(&mut tx, now);
            }
            TxOp::Timeout => {
                if let Some(t) = tx.poll_timeout() {
                    now = now.max(t);
                }
                sender_timeout(&mut tx, now);
            }
            TxOp::Close => tx.close(),
            TxOp::Skipped { list, ack } => {
                let mut body = vec![kind::SKIPPED];
                let ranges = list.write(&mut body, sent_end);
                if *ack {
                    // What a receiver writes after it: everything sent
                    // received, nothing more committed, room to spare.
                    body.push(kind::ACK);
                    put_varint(&mut body, 0);
                    put_range_list(&mut body, sent_end, 0, &[]);
                    put_range_list(&mut body, 0, 0, &[]);
                    put_varint(&mut body, 64);
                }
                // §5.1: decode errors, a closed sender, then a last `end`
                // past one beyond the highest SID sent.
                let expected = match &ranges {
                    Some(None) => Some(Err(InputError::Malformed(CodecError::Inconsistent))),
                    Some(Some(_)) if model.closed => Some(Err(InputError::Closed)),
                    Some(Some(r)) => Some(match r.last() {
                        Some(&(_, end)) if end > sent_end => {
                            Err(InputError::AckForUnsentSid(end - 1))
                        }
                        _ => Ok(()),
                    }),
                    None => None,
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "SKIPPED handled against PROTOCOL.md §5.1");
                }
                if result.is_ok() && *ack {
                    model.room = Some(64);
                }
                if result.is_ok() {
                    // The keys the frame named, as the independent decoder
                    // reads it (a count that disagrees with the pairs
                    // written is read as whatever it decodes to), before
                    // their events are taken.
                    let frames = decode_packet(&seal(&body), usize::MAX).unwrap_or_default();
                    for f in frames {
                        if let WireFrame::Skipped { ranges } = f {
                            for (sid, k) in &model.sid_key {
                                if ranges.iter().any(|&(a, b)| a <= *sid && *sid < b) {
                                    model.skip_named.insert(*k);
                                }
                            }
                        }
                    }
                }
            }
        }
        while let Some(e) = tx.poll_event() {
            trace(&e);
            model.on_event(e, &mut sync_requests);
        }
        trace(&(op, now, tx.poll_timeout(), tx.pending(), tx.stats()));
        if model.closed {
            model.owed_ends.clear();
        }
        assert_eq!(tx.stats().acked as usize, model.n_acked);
        assert_eq!(tx.stats().escalated as usize, model.n_escalated);
        assert_eq!(tx.stats().skipped as usize, model.n_skipped);
        assert_eq!(tx.stats().datagrams as usize, model.datagrams_written.len());
        if model.closed {
            assert!(tx.is_closed());
            assert_eq!(tx.pending(), 0);
        } else {
            assert_eq!(
                tx.pending(),
                model.total_sends - model.settled(),
                "pending() != sent - settled"
            );
        }
        assert!(tx.pending() <= cfg.max_in_flight as usize + cfg.max_queued);
        let rto = tx.rto();
        assert!(
            rto >= cfg.min_rto && rto <= cfg.max_rto,
            "rto {rto:?} out of bounds"
        );
    }
}

/// Sends `m` as the app would; returns whether the sender took it.
fn send_checked(
    tx: &mut Sender,
    now: Instant,
    m: Message,
    model: &mut TxModel,
    heads: &mut HashMap<u64, u64>,
) -> bool {
    let cfg = sender_config();
    let s = m.stream.0;
    let v = m.version.0;
    match tx.send(now, m.clone()) {
        Ok(()) => {
            heads.insert(s, v);
            if m.qos == Qos::AtMostOnce {
                model.datagrams.insert(key(&m));
                model.sent.insert(key(&m), m);
            } else {
                model.gave(&m);
                if m.qos == Qos::ExactlyOnce {
                    model.store.entry(s).or_default().push(m);
                }
            }
            true
        }
        Err(SendError::Backpressure) => {
            if m.qos == Qos::AtMostOnce {
                let queued = model.datagrams.len() - model.datagrams_written.len();
                assert!(
                    queued >= cfg.max_queued,
                    "datagram backpressure at {queued}"
                );
            } else {
                // The local queue is full (settled SIDs may still hold
                // window slots below the oldest unsettled one).
                assert!(
                    tx.pending() >= cfg.max_queued,
                    "backpressure at {}",
                    tx.pending()
                );
            }
            false
        }
        Err(SendError::Closed) => {
            assert!(model.closed);
            false
        }
        Err(e) => panic!("send: {e:?}"),
    }
}

/// Hands `body` to the sender; a rejected packet must change nothing.
fn input_checked(
    tx: &mut Sender,
    now: Instant,
    body: &[u8],
    model: &mut TxModel,
) -> Result<(), InputError> {
    let mut ignored = 0;
    while let Some(e) = tx.poll_event() {
        model.on_event(e, &mut ignored);
    }
    let before = tx_view(tx);
    let result = tx.handle_input(now, seal(body));
    if result.is_err() {
        assert_eq!(
            tx_view(tx),
            before,
            "rejected packet ({result:?}) changed the sender"
        );
        assert_eq!(
            tx.poll_event(),
            None,
            "rejected packet ({result:?}) raised an event"
        );
    }
    result
}

// ---------------------------------------------------------------------------
// pair_ops: a Sender and a Receiver over a link the fuzzer controls, with
// the sending app answering sync and history requests from its store.

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairOp {
    /// The sending app sends a message: `kind` picks exactly once (chained
    /// streams 0..3), at least once (streams 10, 11) or at most once
    /// (stream 20), and whether it wants a receipt.
    Send {
        stream: u8,
        skip: u8,
        kind: u8,
    },
    /// The sending app sends a package of `n % 4 + 1` members.
    Package {
        stream: u8,
        n: u8,
    },
    /// One side (`acks`: the receiver) writes everything it has onto the link.
    Transmit {
        acks: bool,
    },
    /// A packet on one direction's link arrives (any of them: reordering).
    Deliver {
        acks: bool,
        pick: u8,
    },
    Drop {
        acks: bool,
        pick: u8,
    },
    /// A copy arrives; the original stays on the link.
    Duplicate {
        acks: bool,
        pick: u8,
    },
    /// The receiving app commits one delivered message (with a receipt or
    /// an empty one, decided once per message).
    Commit {
        pick: u8,
        receipt: bool,
    },
    /// The receiving app asks for history before a stored version.
    FetchHistory {
        stream: u8,
        back: u8,
        limit: u8,
    },
    Advance {
        ms: u16,
    },
    /// Jump to the earliest deadline of either endpoint.
    Timeout,
}

impl PairOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 10;
        match *self {
            PairOp::Send { stream, skip, kind } => {
                e.variant(0, N).u8(stream).u8(skip).u8(kind);
            }
            PairOp::Package { stream, n } => {
                e.variant(1, N).u8(stream).u8(n);
            }
            PairOp::Transmit { acks } => {
                e.variant(2, N).bool(acks);
            }
            PairOp::Deliver { acks, pick } => {
                e.variant(3, N).bool(acks).u8(pick);
            }
            PairOp::Drop { acks, pick } => {
                e.variant(4, N).bool(acks).u8(pick);
            }
            PairOp::Duplicate { acks, pick } => {
                e.variant(5, N).bool(acks).u8(pick);
            }
            PairOp::Commit { pick, receipt } => {
                e.variant(6, N).u8(pick).bool(receipt);
            }
            PairOp::FetchHistory {
                stream,
                back,
                limit,
            } => {
                e.variant(7, N).u8(stream).u8(back).u8(limit);
            }
            PairOp::Advance { ms } => {
                e.variant(8, N).u16(ms);
            }
            PairOp::Timeout => {
                e.variant(9, N);
            }
        }
    }
}

pub fn pair_config() -> Config {
    Config {
        max_in_flight: 8,
        max_queued: 10_000,
        max_retransmits: 3,
        max_packet_size: 200 + ID_LEN,
        max_rto: Duration::from_secs(2),
        peer_dead_after: Duration::from_secs(1_000_000),
        max_streams: 8,
        max_held_messages: 24,
        max_reorder_per_stream: 8,
        max_receipts: 2,
        package_timeout: Duration::from_millis(500),
        ..Config::default()
    }
}

/// Prints `x` when `FUZZ_TRACE` is set (for reading finds; never in
/// libFuzzer runs).
fn trace(x: &dyn core::fmt::Debug) {
    thread_local! {
        static ON: bool = std::env::var_os("FUZZ_TRACE").is_some();
    }
    if ON.with(|on| *on) {
        eprintln!("{x:?}");
    }
}

/// Both endpoints, both apps and the link, with the checker's records.
struct Pair {
    tx: Sender,
    rx: Receiver,
    now: Instant,
    /// Per chained stream, the messages the sending app sent (its store).
    store: BTreeMap<u64, Vec<Message>>,
    /// Every message sent, by key; `send` calls per key.
    sent: HashMap<Key, Message>,
    sends: HashMap<Key, usize>,
    total_sends: usize,
    /// Copies sent in answer to history requests (acked without a commit).
    history_copies: HashMap<Key, usize>,
    acked: HashMap<Key, usize>,
    /// `Skipped` per key: copies the receiver's policy passed over (§5.2).
    skipped: HashMap<Key, usize>,
    escalated: usize,
    escalated_keys: HashSet<Key>,
    /// At-least-once messages escalated: the app sends them again.
    resend: Vec<Message>,
    handed_back: usize,
    dead: bool,
    next_version: HashMap<u64, u64>,
    next_package: u64,
    /// Per chained stream, the receiving app's position and the versions
    /// delivered to it, in order; versions given up with a package.
    head: BTreeMap<u64, u64>,
    delivered: BTreeMap<u64, Vec<u64>>,
    expired: HashSet<Key>,
    pkg_run: Option<(StreamId, u64, Version)>,
    /// At least once: deliveries per key; at most once: deliveries per key.
    alo_delivered: HashMap<Key, usize>,
    datagrams: HashMap<Key, usize>,
    uncommitted: Vec<Key>,
    /// The receipt the receiving app committed each message with.
    committed: HashMap<Key, Bytes>,
    /// Open history requests: before, limit; the largest limit asked.
    history: HashMap<u64, (u64, u32)>,
    history_limit_max: u32,
    /// Packets in flight: data towards the receiver, acks towards the sender.
    to_rx: Vec<Bytes>,
    to_tx: Vec<Bytes>,
    healed: bool,
    /// `ReceiptWanted` before the app committed (known bug 14).
    wanted_early: HashSet<Key>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            tx: Sender::new(pair_config(), CONN),
            rx: Receiver::new(pair_config(), CONN),
            now: Instant::from_millis(1_000),
            store: BTreeMap::new(),
            sent: HashMap::new(),
            sends: HashMap::new(),
            total_sends: 0,
            history_copies: HashMap::new(),
            acked: HashMap::new(),
            skipped: HashMap::new(),
            escalated: 0,
            escalated_keys: HashSet::new(),
            resend: Vec::new(),
            handed_back: 0,
            dead: false,
            next_version: HashMap::new(),
            next_package: 0,
            head: BTreeMap::new(),
            delivered: BTreeMap::new(),
            expired: HashSet::new(),
            pkg_run: None,
            alo_delivered: HashMap::new(),
            datagrams: HashMap::new(),
            uncommitted: Vec::new(),
            committed: HashMap::new(),
            history: HashMap::new(),
            history_limit_max: 0,
            to_rx: Vec::new(),
            to_tx: Vec::new(),
            healed: false,
            wanted_early: HashSet::new(),
        }
    }

    /// How often `k` was settled by the peer (acked or skipped).
    fn settled_key(&self, k: &Key) -> usize {
        self.acked.get(k).copied().unwrap_or(0) + self.skipped.get(k).copied().unwrap_or(0)
    }

    fn send(&mut self, m: Message) -> bool {
        let k = key(&m);
        match self.tx.send(self.now, m.clone()) {
            Ok(()) => {
                if m.qos != Qos::AtMostOnce {
                    *self.sends.entry(k).or_default() += 1;
                    self.total_sends += 1;
                }
                self.sent.insert(k, m);
                true
            }
            Err(SendError::Closed) => {
                assert!(self.dead);
                false
            }
            Err(e) => panic!("send: {e:?}"),
        }
    }

    /// The next message of a chained stream, into the store.
    fn send_chained(&mut self, s: u64, skip: u64, f: impl FnOnce(Message) -> Message) -> bool {
        let prev = self
            .store
            .get(&s)
            .and_then(|v| v.last())
            .map_or(0, |m| m.version.0);
        let v = prev + 1 + skip;
        let m = f(Message::new(
            StreamId(s),
            Version(prev),
            Version(v),
            payload(skip as u8 + 1, v),
        ));
        if self.send(m.clone()) {
            self.store.entry(s).or_default().push(m);
            true
        } else {
            false
        }
    }

    fn transmit(&mut self, acks: bool) {
        let max = pair_config().max_packet_size;
        loop {
            let p = if acks {
                self.rx.poll_transmit(self.now)
            } else {
                self.tx.poll_transmit(self.now)
            };
            let Some(p) = p else { break };
            let frames = well_formed(&p, max);
            trace(&(if acks { "rx->" } else { "tx->" }, frames));
            if acks {
                self.to_tx.push(p);
            } else {
                self.to_rx.push(p);
            }
        }
    }

    fn arrive(&mut self, acks: bool, p: Bytes) {
        let r = if acks {
            self.tx.handle_input(self.now, p)
        } else {
            self.rx.handle_input(self.now, p)
        };
        if acks && self.dead {
            assert_eq!(r, Err(InputError::Closed));
        } else {
            r.expect("a packet from the peer was rejected");
        }
    }

    fn commit(&mut self, i: usize, receipt: bool) {
        let k = self.uncommitted.remove(i);
        let r = self
            .committed
            .entry(k)
            .or_insert_with(|| if receipt { receipt_of(k) } else { Bytes::new() })
            .clone();
        self.rx
            .commit_with_receipt(self.now, k.0, k.1, r.clone())
            .expect("commit of a delivered message");
        if self.wanted_early.remove(&k) {
            // The request may have been dropped for room meanwhile (its
            // SIDs all settled here): the sender asks again if it waits.
            match self.rx.provide_receipt(k.0, k.1, r) {
                Ok(()) | Err(CommitError::NotDelivered) => {}
                Err(e) => panic!("provide_receipt after ReceiptWanted: {e:?}"),
            }
        }
    }

    fn timeout(&mut self) {
        sender_timeout(&mut self.tx, self.now);
        self.rx.handle_timeout(self.now);
        assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
    }

    fn on_rx_event(&mut self, e: ReceiverEvent) {
        trace(&e);
        if let Some((s, id, last)) = self.pkg_run {
            let next = matches!(&e, ReceiverEvent::Deliver(m)
                if m.stream == s && m.package.is_some_and(|p| p.id == id && p.last == last));
            assert!(next, "package {id} on {s:?} interrupted by {e:?}");
        }
        match e {
            ReceiverEvent::Deliver(m) => {
                let k = key(&m);
                assert_eq!(
                    self.sent.get(&k),
                    Some(&m),
                    "delivered a message never sent"
                );
                if m.qos == Qos::AtLeastOnce {
                    let n = self.alo_delivered.entry(k).or_default();
                    *n += 1;
                    assert!(
                        *n <= self.sends[&k],
                        "at-least-once {k:?} delivered {n} times, sent {}",
                        self.sends[&k]
                    );
                } else {
                    let head = self.head.get(&m.stream.0).copied().unwrap_or(0);
                    assert_eq!(m.prev.0, head, "delivered {m:?} out of order (head {head})");
                    self.head.insert(m.stream.0, m.version.0);
                    self.delivered
                        .entry(m.stream.0)
                        .or_default()
                        .push(m.version.0);
                    self.pkg_run = m
                        .package
                        .filter(|p| m.version < p.last)
                        .map(|p| (m.stream, p.id, p.last));
                }
                self.uncommitted.push(k);
            }
            ReceiverEvent::Datagram(m) => {
                let k = key(&m);
                assert_eq!(self.sent.get(&k).map(|s| &s.payload), Some(&m.payload));
                let n = self.datagrams.entry(k).or_default();
                *n += 1;
                assert_eq!(*n, 1, "at-most-once {k:?} delivered twice");
            }
            ReceiverEvent::PackageExpired {
                stream,
                after,
                last,
                ..
            } => {
                let head = self.head.get(&stream.0).copied().unwrap_or(0);
                assert_eq!(
                    after.0, head,
                    "package expired after {after:?}, head {head}"
                );
                for m in self.store.get(&stream.0).into_iter().flatten() {
                    if m.version > after && m.version <= last {
                        self.expired.insert(key(m));
                    }
                }
                self.head.insert(stream.0, last.0);
            }
            ReceiverEvent::Gap {
                stream,
                after,
                waiting_after,
            } => {
                let head = self.head.get(&stream.0).copied().unwrap_or(0);
                assert_eq!(after.0, head, "gap after {after:?}, head {head}");
                assert!(waiting_after > after, "gap waiting after {waiting_after:?}");
            }
            ReceiverEvent::History {
                stream,
                before,
                messages,
                more,
            } => {
                let (b, limit) = self
                    .history
                    .remove(&stream.0)
                    .unwrap_or_else(|| panic!("history for {stream:?}, never asked"));
                assert_eq!(before.0, b);
                let older: Vec<&Message> = self
                    .store
                    .get(&stream.0)
                    .into_iter()
                    .flatten()
                    .filter(|m| m.version < before)
                    .collect();
                // The newest messages before `before`, as many as some
                // request for this `before` asked (a replaced request's
                // answer may finish the page: same `before`).
                let n = messages.len();
                assert!(n <= limit.max(self.history_limit_max) as usize);
                assert!(
                    n > 0 || older.is_empty(),
                    "empty history page, older stored"
                );
                let want = &older[older.len() - n.min(older.len())..];
                let got: Vec<_> = messages
                    .iter()
                    .map(|m| (m.prev, m.version, &m.payload))
                    .collect();
                let want_: Vec<_> = want
                    .iter()
                    .map(|m| (m.prev, m.version, &m.payload))
                    .collect();
                assert_eq!(got, want_, "history page differs from the store");
                assert_eq!(more, older.len() > n, "history `more`");
            }
            ReceiverEvent::ReceiptWanted { stream, version }
                if avoiding(14)
                    && !self.committed.contains_key(&(stream, version))
                    && self.sent[&(stream, version)].qos == Qos::AtLeastOnce =>
            {
                // Known bug 14 (see `avoiding_known_bugs`): the app has no
                // receipt yet; it answers once it commits the message.
                self.wanted_early.insert((stream, version));
            }
            ReceiverEvent::ReceiptWanted { stream, version } => {
                let k = (stream, version);
                let r = self
                    .committed
                    .get(&k)
                    .unwrap_or_else(|| panic!("receipt wanted for {k:?}, never committed"))
                    .clone();
                // A later request in the same input may have made the
                // receiver drop this one for room (all its SIDs settled):
                // the sender asks again if it still waits.
                match self.rx.provide_receipt(stream, version, r) {
                    Ok(()) | Err(CommitError::NotDelivered) => {}
                    Err(e) => panic!("provide_receipt after ReceiptWanted: {e:?}"),
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn on_tx_event(&mut self, e: SenderEvent) {
        trace(&e);
        match e {
            SenderEvent::Acked {
                stream,
                version,
                receipt,
            } => {
                let k = (stream, version);
                *self.acked.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends.get(&k).copied().unwrap_or(0),
                    "acked {k:?} more often than sent"
                );
                // The issue's promise (§1, §4.2): `Acked` only once the
                // receiving app committed the message — history copies and
                // expired package members included (they are `Skipped`).
                let committed = self.committed.get(&k).cloned().unwrap_or_else(|| {
                    panic!("acked {k:?}, which the receiving app never committed")
                });
                if self.sent[&k].wants_receipt {
                    // Exactly the receipt the app committed (a skipped copy
                    // settled with the remembered receipt included). Known
                    // bug 32: a history copy received again gets an empty
                    // one.
                    let bug_32 = avoiding(32)
                        && self.history_copies.contains_key(&k)
                        && receipt == Some(Bytes::new());
                    assert!(
                        receipt == Some(committed.clone()) || bug_32,
                        "{k:?} acked with receipt {receipt:?}, committed {committed:?}"
                    );
                } else {
                    assert_eq!(receipt, None, "{k:?} acked with a receipt nobody asked");
                }
            }
            SenderEvent::Skipped { stream, version } => {
                // §5.2 *Skipped*: the receiver's policy passed it over. In
                // this pair (no latest start, an honest store: no forks)
                // that is a member of an expired package or a history copy.
                let k = (stream, version);
                *self.skipped.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends.get(&k).copied().unwrap_or(0),
                    "skipped {k:?} more often than sent"
                );
                assert!(
                    self.expired.contains(&k) || self.history_copies.contains_key(&k),
                    "skipped {k:?}: neither an expired package's member nor a history copy"
                );
                assert!(
                    self.skipped[&k]
                        <= self.history_copies.get(&k).copied().unwrap_or(0)
                            + if self.expired.contains(&k) {
                                self.sends[&k]
                            } else {
                                0
                            },
                    "skipped {k:?} more often than it was copied into history pages"
                );
            }
            SenderEvent::Escalated(m) => {
                let k = key(&m);
                assert!(self.sends.contains_key(&k));
                self.escalated += 1;
                self.escalated_keys.insert(k);
                if m.qos == Qos::AtLeastOnce {
                    self.resend.push(m);
                }
            }
            SenderEvent::PeerDead { unacked } | SenderEvent::Closed { unacked } => {
                self.dead = true;
                self.handed_back += unacked.len();
            }
            SenderEvent::SyncRequested(req) => self.answer_sync(req),
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Both apps take their events: the receiving app stores deliveries, the
    /// sending app answers sync requests from its store. Returns whether
    /// anything happened.
    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(e) = self.rx.poll_event() {
            any = true;
            self.on_rx_event(e);
        }
        while let Some(e) = self.tx.poll_event() {
            any = true;
            self.on_tx_event(e);
        }
        if self.healed && !self.dead {
            for m in std::mem::take(&mut self.resend) {
                any = true;
                self.send(m);
            }
        }
        any
    }

    /// The sending app reads a page from its store (PROTOCOL.md §4.5).
    fn answer_sync(&mut self, req: SyncRequest) {
        if self.dead {
            return;
        }
        let stored = self.store.get(&req.stream.0).cloned().unwrap_or_default();
        let limit = req.limit as usize;
        let (mut page, more): (Vec<Message>, bool) = match req.range {
            SyncRange::After(a) => {
                let after: Vec<_> = stored.into_iter().filter(|m| m.version > a).collect();
                (
                    after.iter().take(limit).cloned().collect(),
                    after.len() > limit,
                )
            }
            SyncRange::Latest | SyncRange::Before(_) => {
                let b = match req.range {
                    SyncRange::Before(b) => b,
                    _ => Version(u64::MAX),
                };
                let below: Vec<_> = stored.into_iter().filter(|m| m.version < b).collect();
                let from = below.len().saturating_sub(limit);
                (below[from..].to_vec(), from > 0)
            }
        };
        let history = matches!(req.range, SyncRange::Before(_));
        if history && avoiding(16) {
            // Known bug 16: a late history copy that wants a receipt is
            // never settled.
            for m in &mut page {
                m.wants_receipt = false;
            }
        }
        let pending = self.tx.pending();
        match self.tx.answer_sync(self.now, &req, &page, more) {
            Ok(()) => {
                // §5.1: a page message already on its way (unsettled in the
                // window, or queued by an earlier answer, same HISTORY flag)
                // is not queued twice: `sends` counts what was given (at
                // most what was queued per key), the total what was queued.
                let queued = self.tx.pending() - pending;
                assert!(
                    queued <= page.len(),
                    "answer_sync queued more than its page"
                );
                self.total_sends += queued;
                for m in &page {
                    let k = key(m);
                    *self.sends.entry(k).or_default() += 1;
                    if history {
                        *self.history_copies.entry(k).or_default() += 1;
                    }
                }
            }
            // The peer asks again.
            Err(SendError::Backpressure) => {
                trace(&("answer_sync: backpressure", &req, self.tx.usage()))
            }
            Err(e) => panic!("answer_sync: {e:?}"),
        }
    }

    fn apply(&mut self, op: &PairOp) {
        let pick =
            |link: &Vec<Bytes>, p: u8| (!link.is_empty()).then(|| usize::from(p) % link.len());
        match *op {
            PairOp::Send { stream, skip, kind } => {
                let skip = u64::from(skip % 3);
                match kind % 8 {
                    k @ 0..=3 => {
                        self.send_chained(u64::from(stream % 4), skip, |m| {
                            if k == 1 {
                                m.with_receipt()
                            } else {
                                m
                            }
                        });
                    }
                    k @ 4..=6 => {
                        let (s, qos) = if k == 6 {
                            (20, Qos::AtMostOnce)
                        } else {
                            (10 + u64::from(stream % 2), Qos::AtLeastOnce)
                        };
                        let n = self.next_version.entry(s).or_insert(0);
                        *n += 1;
                        let v = *n;
                        let mut m =
                            Message::new(StreamId(s), Version(v - 1), Version(v), payload(3, v))
                                .with_qos(qos);
                        if k == 5 {
                            m = m.with_receipt();
                        }
                        self.send(m);
                    }
                    _ => {
                        self.send_chained(u64::from(stream % 4), skip, Message::with_receipt);
                    }
                }
            }
            PairOp::Package { stream, n } => {
                let s = u64::from(stream % 4);
                let count = u32::from(n % 4) + 1;
                let first = self
                    .store
                    .get(&s)
                    .and_then(|v| v.last())
                    .map_or(0, |m| m.version.0)
                    + 1;
                let last = Version(first + u64::from(count) - 1);
                let id = self.next_package;
                self.next_package += 1;
                for index in 0..count {
                    let p = Package::new(id, index, count, last);
                    if !self.send_chained(s, 0, |m| m.with_package(p)) {
                        break;
                    }
                }
            }
            PairOp::Transmit { acks } => self.transmit(acks),
            PairOp::Deliver { acks, pick: p } | PairOp::Duplicate { acks, pick: p } => {
                let link = if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                };
                if let Some(i) = pick(link, p) {
                    let packet = if matches!(op, PairOp::Deliver { .. }) {
                        link.remove(i)
                    } else {
                        link[i].clone()
                    };
                    self.arrive(acks, packet);
                }
            }
            PairOp::Drop { acks, pick: p } => {
                let link = if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                };
                if let Some(i) = pick(link, p) {
                    link.remove(i);
                }
            }
            PairOp::Commit { pick: p, receipt } => {
                if !self.uncommitted.is_empty() {
                    self.commit(usize::from(p) % self.uncommitted.len(), receipt);
                }
            }
            PairOp::FetchHistory {
                stream,
                back,
                limit,
            } => {
                let s = u64::from(stream % 4);
                let versions: Vec<u64> = self
                    .store
                    .get(&s)
                    .into_iter()
                    .flatten()
                    .map(|m| m.version.0)
                    .collect();
                if !versions.is_empty() {
                    // A stored version: newer sends never fall below it.
                    let before = versions[versions.len() - 1 - usize::from(back) % versions.len()];
                    let limit = u32::from(limit % 6) + 1;
                    self.history.insert(s, (before, limit));
                    self.history_limit_max = self.history_limit_max.max(limit);
                    self.rx.fetch_history(StreamId(s), Version(before), limit);
                }
            }
            PairOp::Advance { ms } => {
                self.now = self.now + Duration::from_millis(u64::from(ms));
                self.timeout();
            }
            PairOp::Timeout => {
                let next = [self.tx.poll_timeout(), self.rx.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    self.now = self.now.max(t);
                }
                self.timeout();
            }
        }
        self.drain_events();
    }

    /// The link heals (what is in flight still arrives, nothing more is
    /// lost), the apps commit at once and resend escalated at-least-once
    /// messages, and the receiver resumes every stream (a reconnect's
    /// integrity check fetches tails that were escalated). Then both run
    /// until nothing is left to do. Returns false if a known bug stopped it
    /// (see [`avoiding_known_bugs`]).
    fn heal(&mut self) -> bool {
        self.healed = true;
        while !self.uncommitted.is_empty() {
            self.commit(0, true);
        }
        let streams: Vec<u64> = self.store.keys().copied().collect();
        for s in streams {
            let head = self.head.get(&s).copied().unwrap_or(0);
            self.rx.resume(StreamId(s), Version(head));
        }
        for round in 0.. {
            if round == HEAL_ROUNDS {
                panic!(
                    "no quiescence after healing (livelock): {} pending, {} held ({:?}, heads {:?}), deadlines {:?} {:?}, now {:?}, {:?}, {:?}",
                    self.tx.pending(),
                    self.rx.held(),
                    self.rx.usage(),
                    self.store.keys().map(|&s| (s, self.rx.head(StreamId(s)))).collect::<Vec<_>>(),
                    self.tx.stats(),
                    self.rx.stats(),
                    self.tx.poll_timeout(),
                    self.rx.poll_timeout(),
                    self.now,
                );
            }
            let mut busy = self.drain_events();
            if self.dead {
                // The connection is over (peer dead, e.g. after a long time
                // jump): nothing will answer the receiver's sync requests,
                // which it retries by design. `check_end` checks what is left.
                return true;
            }
            while !self.uncommitted.is_empty() {
                self.commit(0, true);
                busy = true;
            }
            for acks in [false, true] {
                self.transmit(acks);
                let link = std::mem::take(if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                });
                busy |= !link.is_empty();
                for p in link {
                    if round + 2 >= HEAL_ROUNDS {
                        trace(&decode_packet(&p, usize::MAX));
                    }
                    self.arrive(acks, p);
                }
            }
            if busy {
                continue;
            }
            let next = [self.tx.poll_timeout(), self.rx.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            self.timeout();
        }
        true
    }

    fn check_end(&self) {
        let acked: usize = self.acked.values().sum();
        let skipped: usize = self.skipped.values().sum();
        assert_eq!(
            acked + skipped + self.escalated + self.handed_back,
            self.total_sends,
            "a send neither acked, skipped, escalated nor handed back"
        );
        if self.dead {
            return;
        }
        assert_eq!(self.tx.pending(), 0);
        for (s, stored) in &self.store {
            let want: Vec<u64> = stored
                .iter()
                .filter(|m| !self.expired.contains(&key(m)))
                .map(|m| m.version.0)
                .collect();
            let got = self.delivered.get(s).cloned().unwrap_or_default();
            assert_eq!(
                got, want,
                "stream {s}: delivered != sent (less expired packages)"
            );
        }
        for (k, m) in &self.sent {
            match m.qos {
                // Each message is acked at least once, unless it was
                // escalated: a message the receiver got while its acks were
                // lost may escalate, and the sync after the head then has no
                // reason to send it again.
                // A member of an expired package ends `Skipped` instead:
                // the receiving app never stored it.
                Qos::ExactlyOnce => assert!(
                    self.acked.contains_key(k)
                        || self.escalated_keys.contains(k)
                        || (self.expired.contains(k) && self.skipped.contains_key(k)),
                    "{k:?} neither acked, escalated nor (expired) skipped"
                ),
                Qos::AtLeastOnce => {
                    assert!(
                        self.alo_delivered.contains_key(k),
                        "at-least-once {k:?} lost"
                    );
                    assert!(
                        self.acked.contains_key(k),
                        "at-least-once {k:?} never acked"
                    );
                }
                Qos::AtMostOnce => {}
            }
        }
    }
}

/// Target `pair_ops`: a Sender and a Receiver over a link that loses,
/// duplicates and reorders at the fuzzer's choice, with commits in any order,
/// time jumps, packages, receipts, all three QoS levels and history fetches;
/// the sending app answers every sync request from its store. After the
/// operations the link heals and both run to quiescence. Checked: every
/// delivery is a message sent; chained ones follow their stream's head
/// (exactly once, in order), package members come one after another to
/// their last; at the end each stream delivered exactly what was sent but
/// for expired packages; at least once is delivered at least once and never
/// more often than the app sent it; at most once never twice; history pages
/// equal the store's; no `Acked` before the app committed (history copies
/// aside), nor more often than sent, and a message sent with a receipt is
/// acked with exactly the receipt the app committed; every send ends acked,
/// escalated or handed back; valid packets are accepted; deadlines clear.
pub fn pair_ops(data: &[u8]) {
    let ops: Vec<PairOp> = read_ops(data);
    let mut pair = Pair::new();
    for op in &ops {
        pair.apply(op);
    }
    if pair.heal() {
        pair.check_end();
    }
}

// ---------------------------------------------------------------------------
// Seeds: meaningful starting points for each target, written to
// `fuzz/corpus/<target>/seed-<name>` by `tests/fuzz_corpus.rs` (`write_seeds`);
// those named `bug-*` (fixed) and `known-bug-*` (not fixed yet) reproduce a
// bug and go to `fuzz/artifacts/<target>/` instead.

fn ops_bytes<T>(ops: &[T], encode: impl Fn(&T, &mut Enc)) -> Vec<u8> {
    let mut e = Enc::default();
    for op in ops {
        encode(op, &mut e);
    }
    e.0
}

/// Seeds for `packet_decode`: real packets from a normal run (mode byte 0)
/// and frame bodies, valid and malformed, to be sealed (mode byte 1).
pub fn packet_seeds() -> Seeds {
    let mut out = Vec::new();
    let raw = |name: &str, p: &[u8]| (format!("raw-{name}"), [&[0u8][..], p].concat());
    let body = |name: &str, b: &[u8]| (format!("body-{name}"), [&[1u8][..], b].concat());
    // A normal run: data of every kind, acks, receipts and sync requests,
    // as the endpoints write them.
    let cfg = busy_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    tx.send(t0, msg(1, 0, 1, b"hello").with_receipt()).unwrap();
    tx.send(t0, msg(1, 1, 2, b"world")).unwrap();
    tx.send(t0, msg(2, 0, 300, b"")).unwrap();
    tx.send(
        t0,
        msg(4, 0, 1, b"p").with_package(Package::new(3, 0, 2, Version(2))),
    )
    .unwrap();
    tx.send(
        t0,
        msg(4, 1, 2, b"q").with_package(Package::new(3, 1, 2, Version(2))),
    )
    .unwrap();
    tx.send(t0, msg(5, 0, 1, b"u").with_qos(Qos::AtLeastOnce))
        .unwrap();
    tx.send(t0, msg(6, 0, 1, b"t").with_qos(Qos::AtMostOnce))
        .unwrap();
    let data = tx.poll_transmit(t0).unwrap();
    out.push(raw("data-packet", &data));
    rx.handle_input(t0, data).unwrap();
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::Deliver(m) = e {
            rx.commit_with_receipt(t0, m.stream, m.version, Bytes::from_static(b"ok"))
                .unwrap();
        }
    }
    rx.resume(StreamId(3), Version(7));
    rx.resume_latest(StreamId(8), 20);
    rx.fetch_history(StreamId(1), Version(2), 10);
    let ack = rx.poll_transmit(Instant::from_millis(1_050)).unwrap();
    out.push(raw("receipt-ack-and-syncs-packet", &ack));
    tx.handle_input(t0, ack).unwrap();
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::SyncRequested(req) = e {
            let page = match req.range {
                SyncRange::Before(_) => vec![msg(1, 0, 1, b"hello")],
                _ => vec![],
            };
            tx.answer_sync(t0, &req, &page, false).unwrap();
        }
    }
    let answers = tx.poll_transmit(t0).unwrap();
    out.push(raw("sync-answers-packet", &answers));
    // The history copy is skipped on arrival (§5.2): SKIPPED before the ACK.
    let t1 = Instant::from_millis(1_100);
    rx.handle_input(t1, answers).unwrap();
    while rx.poll_event().is_some() {}
    let t2 = Instant::from_millis(1_200);
    rx.handle_timeout(t2);
    let skipped = rx.poll_transmit(t2).unwrap();
    assert!(
        well_formed(&skipped, busy_config().max_packet_size)
            .iter()
            .any(|f| matches!(f, WireFrame::Skipped { .. })),
        "seed: the receiver skipped no history copy"
    );
    out.push(raw("skipped-and-ack-packet", &skipped));
    let mut a = Connection::new(busy_config(), CONN);
    let mut b = Connection::new(busy_config(), CONN);
    a.send(t0, msg(4, 0, 1, b"a")).unwrap();
    b.send(t0, msg(5, 0, 1, b"b")).unwrap();
    let p = a.poll_transmit(t0).unwrap();
    b.handle_input(t0, p).unwrap();
    out.push(raw(
        "connection-ack-with-data",
        &b.poll_transmit(t0).unwrap(),
    ));
    // PROTOCOL.md §6.
    out.push(raw(
        "protocol-data-vector",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x08, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69, 0x5c, 0xc2, 0x78,
            0x77,
        ],
    ));
    out.push(raw(
        "protocol-ping-vector",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x08, 0x04, 0xaf, 0xce, 0xab, 0x08,
        ],
    ));
    out.push(raw(
        "protocol-data-vector-other-connection",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x09, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69, 0x9d, 0x4c, 0xa7,
            0xb7,
        ],
    ));
    out.push(raw(
        "format-1-data-vector",
        &[
            0x41, 0x57, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00,
            0x02, 0x68, 0x69, 0x5c, 0xbb, 0xa5, 0xd7,
        ],
    ));
    out.push(raw(
        "bad-magic",
        b"XW\x02\x00\x00\x00\x01\x01\x02\x03\x04\x05\x06\x07\x08\x04\x00\x00\x00\x00",
    ));
    out.push(raw(
        "oversize-length",
        &[0x41, 0x57, 0x02, 0xff, 0xff, 0xff, 0xff],
    ));
    for (name, b) in [
        (
            "data",
            &[0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69][..],
        ),
        (
            "data-package",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x00, 0x02, 0xae, 0x02, 0x00,
            ],
        ),
        ("data-history", &[0x01, 0x08, 0x07, 0x14, 0x19, 0x02, 0x00]),
        (
            "data-receipt-unordered",
            &[0x01, 0x09, 0x07, 0x00, 0x04, 0x0c, 0x00],
        ),
        (
            "ack",
            &[
                0x02, 0xe8, 0x07, 0x0a, 0x02, 0x01, 0x01, 0x05, 0x00, 0x03, 0x00, 0xc8, 0x01,
            ],
        ),
        ("ack-for-sent", &[0x02, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00]),
        // §4.9: SIDs 0, 1 and 5; SID 0 alone, before an ACK of all sent.
        ("skipped", &[0x09, 0x02, 0x00, 0x01, 0x02, 0x00]),
        (
            "skipped-sid-0-and-ack",
            &[
                0x09, 0x01, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05,
            ],
        ),
        ("ack-without-room", &[0x02, 0x00, 0x02, 0x00, 0x01, 0x00]),
        ("floor-ping", &[0x03, 0x09, 0x04, 0x04]),
        ("sync-after", &[0x05, 0x07, 0x00, 0xac, 0x02, 0x32]),
        ("sync-latest", &[0x05, 0x07, 0x01, 0x00, 0x14]),
        ("sync-before", &[0x05, 0x07, 0x02, 0xac, 0x02, 0x14]),
        (
            "sync-end",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x04, 0x01,
            ],
        ),
        (
            "sync-end-latest-for-stream-8",
            &[0x06, 0x08, 0x01, 0x00, 0x03, 0x05, 0x02, 0x00],
        ),
        (
            "sync-end-before-for-stream-1",
            &[0x06, 0x01, 0x02, 0x09, 0x00, 0x00, 0x00, 0x00],
        ),
        ("receipt", &[0x07, 0x05, 0x02, 0x01, 0x2c]),
        ("datagram", &[0x08, 0x03, 0x07, 0x09, 0x01, 0x74]),
        (
            "datagram-replay",
            &[
                0x08, 0x03, 0x07, 0x09, 0x01, 0x74, 0x08, 0x03, 0x07, 0x09, 0x01, 0x74,
            ],
        ),
        // PROTOCOL.md §6, rejected inputs.
        ("unknown-frame", &[0x0a]),
        ("skipped-truncated", &[0x09]),
        ("skipped-count-257", &[0x09, 0x81, 0x02]),
        (
            "skipped-overflow",
            &[
                0x09, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
            ],
        ),
        (
            "skipped-second-range-overflow",
            &[
                0x09, 0x02, 0x00, 0x00, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                0x00,
            ],
        ),
        (
            "version-not-above-prev",
            &[0x01, 0x05, 0x07, 0x05, 0x05, 0x00, 0x00],
        ),
        ("unknown-flags", &[0x01, 0x05, 0x07, 0x00, 0x01, 0x80, 0x00]),
        (
            "package-index-past-count",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x02, 0x02, 0xae, 0x02, 0x00,
            ],
        ),
        (
            "package-first-at-last",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x00, 0x02, 0xad, 0x02, 0x00,
            ],
        ),
        ("sync-latest-with-anchor", &[0x05, 0x07, 0x01, 0x05, 0x14]),
        ("sync-mode-3", &[0x05, 0x07, 0x03, 0x00, 0x14]),
        (
            "sync-end-more-2",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x04, 0x02,
            ],
        ),
        (
            "sync-end-count-past-span",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x0b, 0x01,
            ],
        ),
        (
            "sync-end-empty-spanning",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x00, 0x01,
            ],
        ),
        ("receipt-truncated", &[0x07, 0x05, 0x03, 0x01, 0x2c]),
        (
            "payload-truncated",
            &[0x01, 0x05, 0x07, 0x00, 0x01, 0x00, 0x05, 0x68, 0x69],
        ),
        ("floor-settled-above-resend", &[0x03, 0x01, 0x02]),
        ("count-513", &[0x02, 0x00, 0x00, 0x81, 0x04]),
        (
            "range-overflow",
            &[
                0x02, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00,
                0x00, 0x00, 0x00,
            ],
        ),
        ("non-canonical", &[0x03, 0x80, 0x00, 0x00]),
    ] {
        out.push(body(name, b));
    }
    // Bug 1 (fixed), minimized: SID u64::MAX after a FLOOR near it.
    let mut b = vec![1u8];
    b.push(kind::FLOOR);
    put_varint(&mut b, u64::MAX - 1);
    put_varint(&mut b, 0);
    put_data(&mut b, u64::MAX, &msg(0, 0, 1, b""), false);
    out.push(("bug-1-sid-max-overflow".into(), b));
    // Bug 4 (fixed), minimized.
    let mut b = vec![1u8];
    put_datagram(&mut b, u64::MAX, 7, 9, b"");
    out.push(("bug-4-datagram-seq-max".into(), b));
    out
}

/// Seeds for `receiver_hostile`.
pub fn receiver_seeds() -> Seeds {
    use RxOp::*;
    let enc = |ops: &[RxOp]| ops_bytes(ops, RxOp::encode);
    let next = |stream, skip| Next {
        stream,
        skip,
        len: 3,
        receipt: false,
    };
    let data = |sid, prev, gap| Data {
        sid: Num::Small(sid),
        stream: 0,
        prev: Num::Small(prev),
        gap: Num::Small(gap),
        len: 0,
        flags: 0,
        pkg: [0; 3],
    };
    vec![
        (
            "in-order-commit".into(),
            enc(&[
                next(0, 0),
                next(0, 1),
                next(1, 0),
                Flush,
                CommitAll,
                Advance { ms: 20 },
            ]),
        ),
        (
            // Version 2 of stream 0 never comes: a gap, a sync, the answer.
            "gap-sync".into(),
            enc(&[
                next(0, 0),
                Data {
                    sid: Num::Small(9),
                    stream: 0,
                    prev: Num::Small(2),
                    gap: Num::Small(0),
                    len: 1,
                    flags: 0,
                    pkg: [0; 3],
                },
                Flush,
                Advance { ms: 400 },
                Timeout,
                Answer {
                    stream: 0,
                    limit: 7,
                    more: false,
                },
                Flush,
                Replay { pick: 0 },
                Timeout,
            ]),
        ),
        (
            "absurd-values".into(),
            enc(&[
                Data {
                    sid: Num::Top(0),
                    stream: 7,
                    prev: Num::Top(1),
                    gap: Num::Small(0),
                    len: 0,
                    flags: 0x0f,
                    pkg: [1, 2, 3],
                },
                Data {
                    sid: Num::Any(1 << 40),
                    stream: 6,
                    prev: Num::Small(0),
                    gap: Num::Top(0),
                    len: 15,
                    flags: 0x05,
                    pkg: [0, 0, 0],
                },
                SyncEnd {
                    stream: 7,
                    mode: 0,
                    anchor: Num::Top(0),
                    first_prev: Num::Top(0),
                    span: Num::Top(0),
                    count: 7,
                    more: false,
                },
                Datagram {
                    seq: Seq::Any(Num::Top(1)),
                    stream: 7,
                    version: 255,
                },
                Ping,
                Flush,
                CommitAll,
            ]),
        ),
        (
            "packages".into(),
            enc(&[
                // Complete; incomplete (member 1 of 3 missing); conflicting.
                Package {
                    stream: 1,
                    n: 2,
                    drop: 0,
                    conflict: 0xff,
                },
                Package {
                    stream: 2,
                    n: 2,
                    drop: 2,
                    conflict: 0xff,
                },
                Package {
                    stream: 3,
                    n: 3,
                    drop: 0,
                    conflict: 1,
                },
                Flush,
                CommitAll,
                Advance { ms: 600 },
                Answer {
                    stream: 2,
                    limit: 7,
                    more: false,
                },
                Flush,
                Timeout,
                Timeout,
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "latest-and-history".into(),
            enc(&[
                next(4, 0),
                next(4, 1),
                next(4, 0),
                ResumeLatest { stream: 5, n: 2 },
                FetchHistory {
                    stream: 4,
                    before: Num::Small(4),
                    limit: 5,
                },
                Timeout,
                Flush,
                Answer {
                    stream: 4,
                    limit: 7,
                    more: false,
                },
                next(5, 0),
                next(5, 0),
                next(5, 0),
                Answer {
                    stream: 5,
                    limit: 1,
                    more: false,
                },
                Flush,
                CommitAll,
            ]),
        ),
        (
            "receipts".into(),
            enc(&[
                Next {
                    stream: 1,
                    skip: 0,
                    len: 1,
                    receipt: true,
                },
                Unordered {
                    stream: 2,
                    version: 4,
                    receipt: true,
                },
                Flush,
                Commit {
                    pick: 0,
                    receipt: true,
                },
                Commit {
                    pick: 0,
                    receipt: false,
                },
                Advance { ms: 20 },
                Replay { pick: 0 },
                Replay { pick: 1 },
                Flush,
                Resume {
                    stream: 3,
                    version: Num::Small(5),
                },
                Data {
                    sid: Num::Small(40),
                    stream: 3,
                    prev: Num::Small(1),
                    gap: Num::Small(0),
                    len: 0,
                    flags: flag::RECEIPT,
                    pkg: [0; 3],
                },
                Flush,
                ProvideReceipt { pick: 0 },
                Advance { ms: 20 },
            ]),
        ),
        (
            "datagrams".into(),
            enc(&[
                Datagram {
                    seq: Seq::Next,
                    stream: 1,
                    version: 1,
                },
                Datagram {
                    seq: Seq::Ahead(200),
                    stream: 1,
                    version: 2,
                },
                DatagramReplay { pick: 0 },
                DatagramReplay { pick: 1 },
                Datagram {
                    seq: Seq::Back(5),
                    stream: 1,
                    version: 3,
                },
                Flush,
                DatagramReplay { pick: 4 },
                Datagram {
                    seq: Seq::Back(129),
                    stream: 1,
                    version: 4,
                },
                Flush,
            ]),
        ),
        (
            "contiguous".into(),
            enc(&[
                SetContiguous {
                    stream: 1,
                    on: true,
                },
                next(1, 0),
                next(1, 1),
                next(1, 0),
                Flush,
                Timeout,
            ]),
        ),
        (
            // Bug 1 (fixed), minimized.
            "bug-1-sid-max-overflow".into(),
            enc(&[
                Floor {
                    resend: Num::Top(1),
                    settled: Num::Small(0),
                },
                Data {
                    sid: Num::Top(0),
                    stream: 0,
                    prev: Num::Small(0),
                    gap: Num::Small(0),
                    len: 0,
                    flags: 0,
                    pkg: [0; 3],
                },
            ]),
        ),
        (
            // Bug 3 (fixed), minimized: 1 -> 2 waits for 1, then 0 -> 2
            // arrives and is delivered; the first is stale for good.
            "bug-3-stale-buffered".into(),
            enc(&[data(0, 1, 0), data(1, 0, 1), Flush, Advance { ms: 400 }]),
        ),
        (
            // Bug 4 (fixed), minimized.
            "bug-4-datagram-seq-max".into(),
            enc(&[Datagram {
                seq: Seq::Any(Num::Top(0)),
                stream: 0,
                version: 0,
            }]),
        ),
        (
            // Bug 6 (fixed), minimized: a resend of an uncommitted at-least-once
            // message with a receipt raises ReceiptWanted.
            "bug-6-unordered-receipt-before-commit".into(),
            enc(&[
                Unordered {
                    stream: 3,
                    version: 0,
                    receipt: true,
                },
                Replay { pick: 0 },
            ]),
        ),
        (
            // Bug 10 (fixed), minimized: resume onto the prev of a waiting
            // member of an incomplete package; the old gap timer fires.
            "bug-10-gap-at-head-after-resume".into(),
            enc(&[
                next(3, 2),
                next(3, 0),
                Package {
                    stream: 3,
                    n: 2,
                    drop: 5,
                    conflict: 0xff,
                },
                Flush,
                Resume {
                    stream: 3,
                    version: Num::Small(5),
                },
                Timeout,
            ]),
        ),
        (
            // Bug 11 (fixed), minimized: member 0 names a later last; the walk
            // counts the message after the package too.
            "bug-11-package-received-above-count".into(),
            enc(&[
                Data {
                    sid: Num::Small(0),
                    stream: 0,
                    prev: Num::Small(2),
                    gap: Num::Small(5),
                    len: 0,
                    flags: 0,
                    pkg: [0; 3],
                },
                Package {
                    stream: 0,
                    n: 1,
                    drop: 0,
                    conflict: 8,
                },
                Flush,
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "many-streams".into(),
            enc(&[
                next(0, 0),
                next(1, 0),
                next(2, 0),
                next(3, 0),
                next(4, 0),
                next(5, 0),
                next(6, 0),
                next(7, 0),
                Flush,
            ]),
        ),
        (
            "reorder-full".into(),
            enc(&[
                data(1, 1, 0),
                data(2, 2, 0),
                data(3, 3, 0),
                data(4, 4, 0),
                data(5, 5, 0),
                Flush,
                data(0, 0, 0),
                Flush,
                Commit {
                    pick: 0,
                    receipt: false,
                },
            ]),
        ),
        (
            "resume".into(),
            enc(&[
                next(2, 0),
                next(2, 0),
                Flush,
                Resume {
                    stream: 2,
                    version: Num::Small(1),
                },
                next(2, 0),
                Flush,
                Timeout,
            ]),
        ),
    ]
}

/// Seeds for `sender_hostile` (three messages are in flight before these run).
pub fn sender_seeds() -> Seeds {
    use TxOp::*;
    let enc = |ops: &[TxOp]| ops_bytes(ops, TxOp::encode);
    let z = (Num::Small(0), Num::Small(0));
    let list = |floor, n, count| Ranges {
        floor,
        n,
        pairs: [z; 4],
        count,
    };
    let send = |stream, kind| Send {
        stream,
        len: 1,
        kind,
    };
    vec![
        (
            "ack-all".into(),
            enc(&[Ack {
                delay: Num::Small(5),
                received: list(Sid::Below(0), 0, None),
                committed: list(Sid::Below(0), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "received-then-committed".into(),
            enc(&[
                Send {
                    stream: 2,
                    len: 4,
                    kind: 0,
                },
                Transmit,
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Top(0),
                },
                Advance { ms: 1500 },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(1), 0, None),
                    room: Num::Top(0),
                },
            ]),
        ),
        (
            "ack-unsent".into(),
            enc(&[Ack {
                delay: Num::Top(0),
                received: list(Sid::Above(1), 0, None),
                committed: list(Sid::Any(Num::Top(0)), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "ranges-overflow".into(),
            enc(&[Ack {
                delay: Num::Small(0),
                received: Ranges {
                    floor: Sid::Any(Num::Top(2)),
                    n: 2,
                    pairs: [(Num::Small(0), Num::Top(0)); 4],
                    count: None,
                },
                committed: list(Sid::Below(0), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "count-off".into(),
            enc(&[Ack {
                delay: Num::Small(0),
                received: list(Sid::Below(0), 1, Some(300)),
                committed: list(Sid::Below(0), 0, Some(1)),
                room: Num::Top(0),
            }]),
        ),
        (
            "sync-burst-and-answers".into(),
            enc(&[
                Sync {
                    stream: Num::Small(0),
                    mode: 0,
                    anchor: Num::Small(0),
                    limit: Num::Small(5),
                    n: 15,
                },
                Sync {
                    stream: Num::Small(1),
                    mode: 2,
                    anchor: Num::Small(9),
                    limit: Num::Small(5),
                    n: 0,
                },
                Sync {
                    stream: Num::Top(0),
                    mode: 6,
                    anchor: Num::Top(0),
                    limit: Num::Top(0),
                    n: 3,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: true,
                    bad: 1,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: false,
                    bad: 1,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 2,
                    more: false,
                    bad: 0,
                },
                Transmit,
            ]),
        ),
        (
            "receipts".into(),
            enc(&[
                Receipt {
                    sid: Sid::Below(2),
                    len: 2,
                    n: 2,
                },
                Receipt {
                    sid: Sid::Below(1),
                    len: 200,
                    n: 0,
                },
                Receipt {
                    sid: Sid::Above(0),
                    len: 1,
                    n: 0,
                },
                Receipt {
                    sid: Sid::Any(Num::Top(0)),
                    len: 1,
                    n: 3,
                },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(0), 0, None),
                    room: Num::Top(0),
                },
                Timeout,
                Transmit,
                Receipt {
                    sid: Sid::Below(2),
                    len: 3,
                    n: 0,
                },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(0), 0, None),
                    room: Num::Top(0),
                },
            ]),
        ),
        (
            "qos-and-packages".into(),
            enc(&[
                send(0, 3),
                send(1, 4),
                send(2, 5),
                send(2, 5),
                Package { stream: 1, n: 2 },
                Transmit,
                Close,
                Transmit,
            ]),
        ),
        (
            // Bug 7 (fixed), minimized: the window is full, the page waits,
            // its SYNC_END does not.
            "bug-7-sync-end-before-page".into(),
            enc(&[
                Send {
                    stream: 1,
                    len: 51,
                    kind: 51,
                },
                Package { stream: 51, n: 51 },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: false,
                    bad: 1,
                },
                Transmit,
            ]),
        ),
        (
            "escalate-then-dead".into(),
            enc(&[
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Timeout,
                send(1, 0),
            ]),
        ),
        (
            "window-full-close".into(),
            enc(&[
                send(0, 0),
                send(0, 0),
                send(0, 0),
                send(0, 0),
                send(0, 0),
                Transmit,
                Close,
                Transmit,
            ]),
        ),
        (
            // Bug 12 (fixed), the fuzzer's reproducer as its operations,
            // written again when the ACK gained its room (issue 13): room
            // u64::MAX, so nothing waits for flow control, as before.
            "bug-12-stall-due-after-timeout".into(),
            enc(&[
                Ack {
                    delay: Num::Small(4),
                    received: Ranges {
                        floor: Sid::Below(0),
                        n: 0,
                        pairs: [z, z, (Num::Small(0), Num::Small(49)), z],
                        count: None,
                    },
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Top(0),
                },
                Package {
                    stream: 139,
                    n: 162,
                },
                Send {
                    stream: 0,
                    len: 255,
                    kind: 253,
                },
                Transmit,
                Advance { ms: 2816 },
                Send {
                    stream: 0,
                    len: 0,
                    kind: 171,
                },
                send(0, 0),
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Sync {
                    stream: Num::Small(76),
                    mode: 51,
                    anchor: Num::Small(4),
                    limit: Num::Small(51),
                    n: 205,
                },
                Timeout,
                send(0, 0),
            ]),
        ),
        (
            // Flow control (§5.3): room 0 after the first message, more
            // sends, then a SYNC after 0 on stream 0 expedites past it.
            "room-zero-then-sync".into(),
            enc(&[
                send(0, 0),
                Transmit,
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(1), 0, None),
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Small(0),
                },
                send(0, 0),
                send(0, 0),
                send(1, 0),
                Transmit,
                Sync {
                    stream: Num::Small(0),
                    mode: 0,
                    anchor: Num::Small(0),
                    limit: Num::Small(5),
                    n: 0,
                },
                Transmit,
                Advance { ms: 1500 },
                Transmit,
            ]),
        ),
        (
            // SKIPPED (§4.9): SIDs 0 and 1 skipped, with the ACK after it;
            // then one past what was sent; then an inconsistent count.
            "skipped".into(),
            enc(&[
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Any(Num::Small(0)), Num::Small(1)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: true,
                },
                Transmit,
                Skipped {
                    list: Skips {
                        n: 2,
                        first: (Sid::Any(Num::Small(0)), Num::Small(0)),
                        pairs: [(Num::Small(1), Num::Small(0)); 3],
                        count: None,
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Below(0), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 0,
                        first: (Sid::Below(0), Num::Small(0)),
                        pairs: [z; 3],
                        count: Some(257),
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 2,
                        first: (Sid::Any(Num::Top(0)), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: true,
                },
                Close,
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Below(1), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: false,
                },
            ]),
        ),
    ]
}

/// Seeds for `pair_ops`.
pub fn pair_seeds() -> Seeds {
    use PairOp::*;
    let enc = |ops: &[PairOp]| ops_bytes(ops, PairOp::encode);
    let send = |stream| Send {
        stream,
        skip: 0,
        kind: 0,
    };
    let data = Transmit { acks: false };
    let acks = Transmit { acks: true };
    let commit = Commit {
        pick: 0,
        receipt: true,
    };
    let lose = Drop {
        acks: false,
        pick: 0,
    };
    vec![
        (
            "clean".into(),
            enc(&[
                send(0),
                send(0),
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                commit,
                commit,
                Advance { ms: 20 },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "loss-and-rto".into(),
            enc(&[
                send(0),
                send(1),
                data,
                lose,
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Timeout,
                acks,
                Drop {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "reorder-dup".into(),
            enc(&[
                send(0),
                data,
                send(0),
                data,
                send(0),
                data,
                Deliver {
                    acks: false,
                    pick: 2,
                },
                Duplicate {
                    acks: false,
                    pick: 0,
                },
                Deliver {
                    acks: false,
                    pick: 1,
                },
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Duplicate {
                    acks: true,
                    pick: 0,
                },
                Commit {
                    pick: 1,
                    receipt: false,
                },
                commit,
                Timeout,
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            // One message escalates; the next one of its stream makes a gap,
            // and the sync brings the escalated one.
            "escalate-one-then-sync".into(),
            enc(&[
                send(0),
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                send(0),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                Advance { ms: 400 },
                Timeout,
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            // Receipts: the ack with the receipt is lost, the resend gets it
            // from the receiver's memory (2 receipts) or from the app.
            "receipts".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 1,
                },
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 7,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 5,
                },
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Commit {
                    pick: 0,
                    receipt: false,
                },
                commit,
                Advance { ms: 20 },
                acks,
                Drop {
                    acks: true,
                    pick: 0,
                },
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "qos".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 4,
                },
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 4,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 6,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 6,
                },
                data,
                Duplicate {
                    acks: false,
                    pick: 0,
                },
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
            ]),
        ),
        (
            "packages".into(),
            enc(&[
                Package { stream: 2, n: 2 },
                Package { stream: 3, n: 1 },
                data,
                Drop {
                    acks: false,
                    pick: 0,
                },
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                Advance { ms: 600 },
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "history".into(),
            enc(&[
                send(1),
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 1,
                },
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                FetchHistory {
                    stream: 1,
                    back: 0,
                    limit: 1,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
            ]),
        ),
        (
            // Bug 2 (fixed), minimized: two messages time out together; the
            // first escalated and the second was lost from the list.
            "bug-2-double-unlink".into(),
            enc(&[
                send(0),
                send(0),
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
            ]),
        ),
        (
            // Bug 5 (fixed), minimized: a history page holding a message sent
            // with a receipt never settles.
            "bug-5-history-receipt".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 1,
                },
                send(0),
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
            ]),
        ),
        (
            // Bug 6 (fixed) (found by pair_ops): the at-least-once message's
            // retransmission reaches the receiver before the app commits.
            "bug-6-unordered-receipt-before-commit".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 5,
                },
                data,
                Advance { ms: 19660 },
            ]),
        ),
        (
            // Bug 8 (fixed): the answer to the replaced request (before 3)
            // fills the page of the new one (before 5).
            "bug-8-stale-history-page".into(),
            enc(&[
                send(0),
                Send {
                    stream: 0,
                    skip: 1,
                    kind: 0,
                },
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
                acks,
                Send {
                    stream: 0,
                    skip: 1,
                    kind: 0,
                },
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
            ]),
        ),
        (
            "window-full".into(),
            enc(&[
                send(0),
                send(1),
                send(2),
                send(3),
                send(0),
                send(1),
                send(2),
                send(3),
                send(0),
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
                data,
            ]),
        ),
    ]
}

/// Every seed, by target.
pub fn seeds() -> Vec<(&'static str, Seeds)> {
    vec![
        ("packet_decode", packet_seeds()),
        ("receiver_hostile", receiver_seeds()),
        ("sender_hostile", sender_seeds()),
        ("pair_ops", pair_seeds()),
    ]
}

/// The seeds' operations read back exactly as written (the seeds mean what
/// they say with this version of `arbitrary`).
pub fn check_seed_encoding() {
    fn round_trip<'a, T: Arbitrary<'a> + core::fmt::Debug + PartialEq>(
        bytes: &'a [u8],
        encode: impl Fn(&T, &mut Enc),
    ) {
        let ops: Vec<T> = read_ops(bytes);
        assert_eq!(
            ops_bytes(&ops, encode),
            bytes,
            "seed does not round-trip: {ops:?}"
        );
    }
    for (_, b) in receiver_seeds() {
        round_trip::<RxOp>(&b, RxOp::encode);
    }
    for (_, b) in sender_seeds() {
        round_trip::<TxOp>(&b, TxOp::encode);
    }
    for (_, b) in pair_seeds() {
        round_trip::<PairOp>(&b, PairOp::encode);
    }
}

/// An input of a structured target as the operations it runs (for reading
/// finds): `FUZZ_TARGET=pair_ops FUZZ_INPUT=<file> cargo test --test
/// fuzz_corpus -- --ignored --nocapture show_input`.
pub fn describe(target: &str, data: &[u8]) -> String {
    fn list<'a, T: Arbitrary<'a> + core::fmt::Debug>(data: &'a [u8]) -> String {
        read_ops::<T>(data)
            .iter()
            .map(|op| format!("{op:?}\n"))
            .collect()
    }
    match target {
        "receiver_hostile" => list::<RxOp>(data),
        "sender_hostile" => list::<TxOp>(data),
        "pair_ops" => list::<PairOp>(data),
        _ => format!("{data:02x?}\n"),
    }
}
