//! Snapshots: a sender's or receiver's whole state as bytes, so a process
//! can restart where it stopped instead of resyncing everything.
//!
//! Layout: `"AWS"`, a format version byte (2), a kind byte (`S` sender, `R`
//! receiver), the connection id (u64 big-endian), the body (canonical LEB128
//! varints, like the wire format), and a CRC-32 (big-endian) of everything
//! before it. (Format 1 had no connection id; format 2 adds it, skipped
//! SIDs, aliases, passed-over ranges and flow-control state; format 3 adds
//! where each queued page end's SIDs end and the window slots kept for
//! packages.) Restoring decodes as
//! defensively as a packet: every count is checked against the bytes left
//! and the configuration's bounds, and the state's invariants are checked
//! before anything is returned.

use crate::error::CodecError;
use crate::message::{Message, Package, Qos, StreamId, Version};
use crate::packet::ConnectionId;
use crate::sid_set::SidSet;
use crate::sync::{PageEnd, SyncRange};
use crate::time::Instant;
use crate::varint;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use core::time::Duration;
use thiserror::Error;

const MAGIC: &[u8; 3] = b"AWS";
const FORMAT: u8 = 3;
/// Magic, format, kind, connection id: the bytes before the body.
const HEADER_LEN: usize = 3 + 1 + 1 + 8;
pub(crate) const SENDER: u8 = b'S';
pub(crate) const RECEIVER: u8 = b'R';

/// Why a snapshot could not be taken or restored. A failed restore returns
/// nothing: there is no half-restored state.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Events are waiting: take the snapshot after `poll_event` returned
    /// `None`, so no event is lost or reported twice.
    #[error("events are pending; drain poll_event first")]
    EventsPending,
    /// Not an ackwire snapshot.
    #[error("bad snapshot magic")]
    BadMagic,
    /// A snapshot format this build does not read.
    #[error("unsupported snapshot format {0}")]
    UnsupportedVersion(u8),
    /// A sender's snapshot given to a receiver, or the other way round.
    #[error("snapshot is of another kind of endpoint")]
    WrongKind,
    /// The checksum does not match.
    #[error("snapshot checksum mismatch")]
    BadChecksum,
    /// The bytes do not decode.
    #[error("malformed snapshot: {0}")]
    Malformed(#[from] CodecError),
    /// The state decodes but breaks an invariant, or does not fit the
    /// configuration given to restore.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(&'static str),
}

/// Writes a snapshot body.
pub(crate) struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    pub(crate) fn new(kind: u8, id: ConnectionId) -> Enc {
        let mut buf = Vec::new();
        buf.extend_from_slice(MAGIC);
        buf.push(FORMAT);
        buf.push(kind);
        buf.put_u64(id.0);
        Enc { buf }
    }

    pub(crate) fn finish(mut self) -> Bytes {
        let crc = crc32fast::hash(&self.buf);
        self.buf.put_u32(crc);
        Bytes::from(self.buf)
    }

    pub(crate) fn u(&mut self, v: u64) {
        varint::put(&mut self.buf, v);
    }

    pub(crate) fn usize(&mut self, v: usize) {
        self.u(v as u64);
    }

    pub(crate) fn b(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub(crate) fn opt_u(&mut self, v: Option<u64>) {
        self.b(v.is_some());
        if let Some(v) = v {
            self.u(v);
        }
    }

    pub(crate) fn instant(&mut self, t: Instant) {
        self.u(t.as_micros());
    }

    pub(crate) fn opt_instant(&mut self, t: Option<Instant>) {
        self.opt_u(t.map(Instant::as_micros));
    }

    pub(crate) fn duration(&mut self, d: Duration) {
        self.u(crate::time::duration_micros(d));
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.usize(b.len());
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn message(&mut self, m: &Message) {
        self.u(m.stream.0);
        self.u(m.prev.0);
        self.u(m.version.0);
        self.u(match m.qos {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        });
        self.b(m.wants_receipt);
        self.b(m.package.is_some());
        if let Some(p) = m.package {
            self.u(p.id);
            self.u(u64::from(p.index));
            self.u(u64::from(p.count));
            self.u(p.last.0);
        }
        self.bytes(&m.payload);
    }

    pub(crate) fn sid_set(&mut self, s: &SidSet) {
        let (floor, end, words) = s.parts();
        self.u(floor);
        self.u(end);
        self.usize(words.len());
        for &w in words {
            self.u(w);
        }
    }

    pub(crate) fn page_end(&mut self, e: &PageEnd) {
        let (mode, anchor) = e.range.wire();
        self.u(e.stream.0);
        self.u(u64::from(mode));
        self.u(anchor.0);
        self.u(e.first_prev.0);
        self.u(e.through.0);
        self.u(e.count);
        // Bit 1 of the `more` byte says a trimmed version follows, so
        // snapshots written before retention existed read unchanged.
        self.buf
            .push(u8::from(e.more) | (u8::from(e.trimmed.is_some()) << 1));
        if let Some(t) = e.trimmed {
            self.u(t.0);
        }
    }
}

/// Reads a snapshot body, refusing anything that does not decode exactly.
pub(crate) struct Dec {
    data: Bytes,
    pos: usize,
    id: ConnectionId,
}

impl Dec {
    /// Checks the envelope and returns a reader of the body.
    pub(crate) fn open(snapshot: Bytes, kind: u8) -> Result<Dec, SnapshotError> {
        if snapshot.len() < HEADER_LEN + 4 {
            return Err(CodecError::Truncated.into());
        }
        if &snapshot[..3] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        if snapshot[3] != FORMAT {
            return Err(SnapshotError::UnsupportedVersion(snapshot[3]));
        }
        if snapshot[4] != kind {
            return Err(SnapshotError::WrongKind);
        }
        let body_end = snapshot.len() - 4;
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&snapshot[body_end..]);
        if crc32fast::hash(&snapshot[..body_end]) != u32::from_be_bytes(crc) {
            return Err(SnapshotError::BadChecksum);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&snapshot[HEADER_LEN - 8..HEADER_LEN]);
        Ok(Dec {
            data: snapshot.slice(..body_end),
            pos: HEADER_LEN,
            id: ConnectionId(u64::from_be_bytes(id)),
        })
    }

    /// The connection the snapshot's endpoint belongs to.
    pub(crate) fn connection_id(&self) -> ConnectionId {
        self.id
    }

    /// Requires that every byte was read.
    pub(crate) fn close(self) -> Result<(), SnapshotError> {
        if self.pos != self.data.len() {
            return Err(CodecError::TrailingBytes.into());
        }
        Ok(())
    }

    pub(crate) fn u(&mut self) -> Result<u64, SnapshotError> {
        Ok(varint::get(&self.data, &mut self.pos)?)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, SnapshotError> {
        u32::try_from(self.u()?).map_err(|_| SnapshotError::Inconsistent("value above u32"))
    }

    pub(crate) fn usize(&mut self) -> Result<usize, SnapshotError> {
        usize::try_from(self.u()?).map_err(|_| SnapshotError::Inconsistent("value above usize"))
    }

    /// A count of items that take at least one byte each: never more than
    /// the bytes left, so a forged count can not make restore allocate.
    pub(crate) fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.usize()?;
        if n > self.data.len() - self.pos {
            return Err(CodecError::Truncated.into());
        }
        Ok(n)
    }

    pub(crate) fn b(&mut self) -> Result<bool, SnapshotError> {
        let v = *self.data.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Inconsistent.into()),
        }
    }

    pub(crate) fn opt_u(&mut self) -> Result<Option<u64>, SnapshotError> {
        Ok(if self.b()? { Some(self.u()?) } else { None })
    }

    pub(crate) fn instant(&mut self) -> Result<Instant, SnapshotError> {
        Ok(Instant::from_micros(self.u()?))
    }

    pub(crate) fn opt_instant(&mut self) -> Result<Option<Instant>, SnapshotError> {
        Ok(self.opt_u()?.map(Instant::from_micros))
    }

    pub(crate) fn duration(&mut self) -> Result<Duration, SnapshotError> {
        Ok(Duration::from_micros(self.u()?))
    }

    pub(crate) fn bytes(&mut self) -> Result<Bytes, SnapshotError> {
        let n = self.count()?;
        let out = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn message(&mut self) -> Result<Message, SnapshotError> {
        let stream = StreamId(self.u()?);
        let prev = Version(self.u()?);
        let version = Version(self.u()?);
        let qos = match self.u()? {
            0 => Qos::AtMostOnce,
            1 => Qos::AtLeastOnce,
            2 => Qos::ExactlyOnce,
            _ => return Err(SnapshotError::Inconsistent("unknown qos")),
        };
        let wants_receipt = self.b()?;
        let package = if self.b()? {
            let p = Package::new(self.u()?, self.u32()?, self.u32()?, Version(self.u()?));
            if !p.fits(version) {
                return Err(SnapshotError::Inconsistent("package fields"));
            }
            Some(p)
        } else {
            None
        };
        if version <= prev && qos != Qos::AtMostOnce {
            return Err(SnapshotError::Inconsistent("version not above prev"));
        }
        let payload = self.bytes()?;
        let mut m = Message::new(stream, prev, version, payload).with_qos(qos);
        m.wants_receipt = wants_receipt;
        m.package = package;
        Ok(m)
    }

    /// A SID set shaped like `like` (the size the configuration gives).
    pub(crate) fn sid_set(&mut self, like: SidSet) -> Result<SidSet, SnapshotError> {
        let floor = self.u()?;
        let end = self.u()?;
        let n = self.count()?;
        let mut words = Vec::with_capacity(n);
        for _ in 0..n {
            words.push(self.u()?);
        }
        like.with_parts(floor, end, words)
            .ok_or(SnapshotError::Inconsistent("SID window"))
    }

    pub(crate) fn page_end(&mut self) -> Result<PageEnd, SnapshotError> {
        let stream = StreamId(self.u()?);
        let mode = u8::try_from(self.u()?).map_err(|_| CodecError::Inconsistent)?;
        let anchor = Version(self.u()?);
        let range = SyncRange::from_wire(mode, anchor).ok_or(CodecError::Inconsistent)?;
        let first_prev = Version(self.u()?);
        let through = Version(self.u()?);
        let count = self.u()?;
        let flags = *self.data.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        if flags > 3 {
            return Err(CodecError::Inconsistent.into());
        }
        let trimmed = if flags & 2 != 0 {
            Some(Version(self.u()?))
        } else {
            None
        };
        let end = PageEnd {
            stream,
            range,
            first_prev,
            through,
            count,
            more: flags & 1 != 0,
            trimmed,
        };
        if !end.trim_consistent() {
            return Err(SnapshotError::Inconsistent("trimmed version out of range"));
        }
        Ok(end)
    }
}
