//! The transmit unit: a self-delimiting, checksummed packet of frames,
//! stamped with its connection's identity.
//!
//! ```text
//! magic "AW" (2) | format version 0x02 (1) | body length u32 BE (4) | connection id u64 BE (8) | body | CRC-32 BE (4)
//! ```
//! The same bytes work on a byte stream (read the header, then the length)
//! and as one datagram. Magic, version, exact length and checksum make it
//! vanishingly unlikely (about 2^-56) that random bytes parse as a packet;
//! the connection id keeps a well-formed packet of one connection (delayed,
//! duplicated or misrouted) out of another.

use crate::error::{CodecError, InputError};
use bytes::{BufMut, Bytes, BytesMut};

/// The identity of one connection, carried by every packet (cf. KCP's
/// `conv`, QUIC's connection IDs).
///
/// Both ends of one connection use the same id, and every new connection
/// (a reconnect, a restart) gets a fresh one: a random `u64` from the OS,
/// say, or a counter the app persists. The client can pick it and name it
/// in its hello, or the server can assign it; it never needs to be secret,
/// only different from every earlier connection between the same two ends.
///
/// An endpoint rejects a packet carrying any other id with
/// [`InputError::OtherConnection`](crate::InputError::OtherConnection), and
/// the packet changes nothing. Without it, over a datagram transport a
/// packet of an earlier connection arriving late would be taken as
/// current: its ACK would report the new sender's uncommitted messages
/// acked (SIDs start at 0 on every connection), its DATA would make the new
/// receiver take a new message for a duplicate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// The two bytes every packet starts with.
pub const MAGIC: [u8; 2] = *b"AW";
/// The format version this build writes and accepts.
pub const FORMAT_VERSION: u8 = 2;
/// Where the body length (u32 big-endian) starts.
const LEN_AT: usize = 3;
/// Where the connection id (u64 big-endian) starts.
const ID_AT: usize = 7;
/// Bytes before the body: magic, version, body length, connection id.
pub const HEADER_LEN: usize = 15;
/// Bytes after the body.
pub const TRAILER_LEN: usize = 4;
/// Header plus trailer: what a packet costs beyond its frames.
pub const OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;

/// For byte-stream transports: how long the packet at the start of `buf` is.
///
/// `Ok(None)` means "need more bytes" and consumes nothing. Junk is rejected
/// as early as its first byte, so a stream that lost framing fails fast. The
/// length is known from the first 7 bytes; the connection id is checked
/// with the rest of the packet.
pub fn packet_len(buf: &[u8], max_packet_size: usize) -> Result<Option<usize>, CodecError> {
    for (i, m) in MAGIC.iter().enumerate() {
        match buf.get(i) {
            None => return Ok(None),
            Some(b) if b != m => return Err(CodecError::BadMagic),
            Some(_) => {}
        }
    }
    match buf.get(2) {
        None => return Ok(None),
        Some(&v) if v != FORMAT_VERSION => return Err(CodecError::UnsupportedVersion(v)),
        Some(_) => {}
    }
    let Some(len_bytes) = buf.get(LEN_AT..ID_AT) else {
        return Ok(None);
    };
    let body = u64::from(u32::from_be_bytes([
        len_bytes[0],
        len_bytes[1],
        len_bytes[2],
        len_bytes[3],
    ]));
    let total = body + OVERHEAD as u64;
    if total > max_packet_size as u64 {
        return Err(CodecError::Oversize(total));
    }
    Ok(Some(total as usize))
}

/// Checks one whole packet (magic, version, length, checksum) and returns
/// its body (a slice, not a copy) and the connection id it carries. The
/// caller compares the id with its own before decoding any frame.
pub(crate) fn open(
    packet: &Bytes,
    max_packet_size: usize,
) -> Result<(Bytes, ConnectionId), CodecError> {
    let total = packet_len(packet, max_packet_size)?.ok_or(CodecError::Truncated)?;
    if packet.len() < total {
        return Err(CodecError::Truncated);
    }
    if packet.len() > total {
        return Err(CodecError::TrailingBytes);
    }
    let crc_at = total - TRAILER_LEN;
    let expected = u32::from_be_bytes([
        packet[crc_at],
        packet[crc_at + 1],
        packet[crc_at + 2],
        packet[crc_at + 3],
    ]);
    if crc32fast::hash(&packet[..crc_at]) != expected {
        return Err(CodecError::BadChecksum);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&packet[ID_AT..HEADER_LEN]);
    Ok((
        packet.slice(HEADER_LEN..crc_at),
        ConnectionId(u64::from_be_bytes(id)),
    ))
}

/// [`open`], then the check every endpoint makes before decoding any frame:
/// a packet of another connection is rejected (and changes nothing).
pub(crate) fn open_own(
    packet: &Bytes,
    max_packet_size: usize,
    own: ConnectionId,
) -> Result<Bytes, InputError> {
    let (body, id) = open(packet, max_packet_size)?;
    if id != own {
        return Err(InputError::OtherConnection(id));
    }
    Ok(body)
}

/// Writes one packet of one connection into a reusable buffer.
///
/// The buffer is split off as `Bytes` when the packet is finished; once the
/// caller drops those, `reserve` reclaims the same allocation, so steady-state
/// transmission allocates nothing.
pub(crate) struct PacketWriter {
    buf: BytesMut,
    reserve: usize,
    id: ConnectionId,
}

impl PacketWriter {
    pub(crate) fn new(max_packet_size: usize, id: ConnectionId) -> PacketWriter {
        PacketWriter {
            buf: BytesMut::new(),
            reserve: max_packet_size.saturating_mul(4),
            id,
        }
    }

    /// Starts a packet; returns the buffer to append frames to.
    pub(crate) fn begin(&mut self, max_packet_size: usize) -> &mut BytesMut {
        self.buf.clear();
        if self.buf.capacity() < max_packet_size {
            self.buf.reserve(self.reserve.max(max_packet_size));
        }
        self.buf.put_slice(&MAGIC);
        self.buf.put_u8(FORMAT_VERSION);
        self.buf.put_u32(0);
        self.buf.put_u64(self.id.0);
        &mut self.buf
    }

    /// Seals the packet, or returns `None` if no frame was written.
    pub(crate) fn finish(&mut self) -> Option<Bytes> {
        if self.buf.len() <= HEADER_LEN {
            self.buf.clear();
            return None;
        }
        let body = (self.buf.len() - HEADER_LEN) as u32;
        self.buf[LEN_AT..ID_AT].copy_from_slice(&body.to_be_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.put_u32(crc);
        Some(self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection id of PROTOCOL.md's packet vectors.
    const VECTOR_ID: ConnectionId = ConnectionId(0x0102_0304_0506_0708);

    fn sealed(body: &[u8]) -> Bytes {
        let mut w = PacketWriter::new(1024, VECTOR_ID);
        w.begin(1024).put_slice(body);
        w.finish().unwrap()
    }

    /// The whole-packet vector in PROTOCOL.md: one DATA frame.
    #[test]
    fn data_packet_vector() {
        let body = [0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69];
        let p = sealed(&body);
        let expected = [
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x08, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69, 0x5c, 0xc2, 0x78,
            0x77,
        ];
        assert_eq!(&p[..], &expected);
        let (opened, id) = open(&p, 1024).unwrap();
        assert_eq!(&opened[..], &body);
        assert_eq!(id, VECTOR_ID);
    }

    #[test]
    fn empty_packet_is_not_sent() {
        let mut w = PacketWriter::new(1024, VECTOR_ID);
        w.begin(1024);
        assert_eq!(w.finish(), None);
    }

    #[test]
    fn header_vector_and_rejections() {
        let p = sealed(&[0x04]);
        assert_eq!(
            &p[..],
            &[
                0x41, 0x57, 0x02, 0, 0, 0, 1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x04,
                0xaf, 0xce, 0xab, 0x08
            ]
        );
        assert_eq!(p.len(), 20);
        assert_eq!(
            open(&p, 1024).unwrap(),
            (Bytes::from_static(&[0x04]), VECTOR_ID)
        );
        assert_eq!(packet_len(&p[..1], 1024), Ok(None));
        assert_eq!(packet_len(&p[..6], 1024), Ok(None));
        // The length is known before the connection id has arrived.
        assert_eq!(packet_len(&p[..7], 1024), Ok(Some(20)));
        assert_eq!(packet_len(&p, 1024), Ok(Some(20)));
        assert_eq!(packet_len(b"X", 1024), Err(CodecError::BadMagic));
        assert_eq!(
            packet_len(b"AW\x01", 1024),
            Err(CodecError::UnsupportedVersion(1))
        );
        assert_eq!(packet_len(&p, 19), Err(CodecError::Oversize(20)));
        assert_eq!(open(&p.slice(..19), 1024), Err(CodecError::Truncated));
        let mut long = p.to_vec();
        long.push(0);
        assert_eq!(
            open(&Bytes::from(long), 1024),
            Err(CodecError::TrailingBytes)
        );
        // A flipped bit anywhere, the connection id included, fails the
        // checksum: it is checked before the id is compared.
        for at in [ID_AT, HEADER_LEN] {
            let mut flipped = p.to_vec();
            flipped[at] ^= 1;
            assert_eq!(
                open(&Bytes::from(flipped), 1024),
                Err(CodecError::BadChecksum)
            );
        }
    }

    /// PROTOCOL.md §6: the DATA vector at an endpoint of another connection.
    #[test]
    fn other_connection_vector() {
        let p = sealed(&[0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69]);
        assert_eq!(
            open_own(&p, 1024, ConnectionId(0x0102_0304_0506_0709)),
            Err(InputError::OtherConnection(VECTOR_ID))
        );
        assert!(open_own(&p, 1024, VECTOR_ID).is_ok());
        // A damaged packet is damaged, whatever connection it names.
        let mut bad = p.to_vec();
        bad[ID_AT + 7] ^= 1;
        assert_eq!(
            open_own(&Bytes::from(bad), 1024, VECTOR_ID),
            Err(InputError::Malformed(CodecError::BadChecksum))
        );
    }

    /// Format version 1 (no connection id) is no longer spoken.
    #[test]
    fn format_version_1_is_rejected() {
        let v1 = [
            0x41, 0x57, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0xb3, 0x4d, 0xec, 0xde,
        ];
        assert_eq!(
            open(&Bytes::copy_from_slice(&v1), 1024),
            Err(CodecError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn the_writer_stamps_its_connection_id() {
        for id in [0, 1, u64::MAX, 0x8000_0000_0000_0000] {
            let mut w = PacketWriter::new(64, ConnectionId(id));
            w.begin(64).put_u8(0x04);
            let p = w.finish().unwrap();
            assert_eq!(&p[ID_AT..HEADER_LEN], &id.to_be_bytes());
            assert_eq!(open(&p, 64).unwrap().1, ConnectionId(id));
        }
    }
}
