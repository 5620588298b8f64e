//! The transmit unit: a self-delimiting, checksummed packet of frames.
//!
//! ```text
//! magic "AW" (2) | format version 0x01 (1) | body length u32 BE (4) | body | CRC-32 BE (4)
//! ```
//! The same bytes work on a byte stream (read the header, then the length)
//! and as one datagram. Magic, version, exact length and checksum make it
//! vanishingly unlikely (about 2^-56) that random bytes parse as a packet.

use crate::error::CodecError;
use bytes::{BufMut, Bytes, BytesMut};

/// The two bytes every packet starts with.
pub const MAGIC: [u8; 2] = *b"AW";
/// The format version this build writes and accepts.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 7;
/// Bytes after the body.
pub const TRAILER_LEN: usize = 4;
/// Header plus trailer: what a packet costs beyond its frames.
pub const OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;

/// For byte-stream transports: how long the packet at the start of `buf` is.
///
/// `Ok(None)` means "need more bytes" and consumes nothing. Junk is rejected
/// as early as its first byte, so a stream that lost framing fails fast.
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
    let Some(len_bytes) = buf.get(3..HEADER_LEN) else {
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

/// Checks one whole packet and returns its body (a slice, not a copy).
pub(crate) fn open(packet: &Bytes, max_packet_size: usize) -> Result<Bytes, CodecError> {
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
    Ok(packet.slice(HEADER_LEN..crc_at))
}

/// Writes one packet into a reusable buffer.
///
/// The buffer is split off as `Bytes` when the packet is finished; once the
/// caller drops those, `reserve` reclaims the same allocation, so steady-state
/// transmission allocates nothing.
pub(crate) struct PacketWriter {
    buf: BytesMut,
    reserve: usize,
}

impl PacketWriter {
    pub(crate) fn new(max_packet_size: usize) -> PacketWriter {
        PacketWriter {
            buf: BytesMut::new(),
            reserve: max_packet_size.saturating_mul(4),
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
        &mut self.buf
    }

    /// Seals the packet, or returns `None` if no frame was written.
    pub(crate) fn finish(&mut self) -> Option<Bytes> {
        if self.buf.len() <= HEADER_LEN {
            self.buf.clear();
            return None;
        }
        let body = (self.buf.len() - HEADER_LEN) as u32;
        self.buf[3..HEADER_LEN].copy_from_slice(&body.to_be_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.put_u32(crc);
        Some(self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(body: &[u8]) -> Bytes {
        let mut w = PacketWriter::new(1024);
        w.begin(1024).put_slice(body);
        w.finish().unwrap()
    }

    /// The whole-packet vector in PROTOCOL.md: one DATA frame.
    #[test]
    fn data_packet_vector() {
        let body = [0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69];
        let p = sealed(&body);
        let expected = [
            0x41, 0x57, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00,
            0x02, 0x68, 0x69, 0x5c, 0xbb, 0xa5, 0xd7,
        ];
        assert_eq!(&p[..], &expected);
        assert_eq!(&open(&p, 1024).unwrap()[..], &body);
    }

    #[test]
    fn empty_packet_is_not_sent() {
        let mut w = PacketWriter::new(1024);
        w.begin(1024);
        assert_eq!(w.finish(), None);
    }

    #[test]
    fn header_vector_and_rejections() {
        let p = sealed(&[0x04]);
        assert_eq!(
            &p[..],
            &[0x41, 0x57, 0x01, 0, 0, 0, 1, 0x04, 0xb3, 0x4d, 0xec, 0xde]
        );
        assert_eq!(p.len(), 12);
        assert_eq!(open(&p, 1024).unwrap(), Bytes::from_static(&[0x04]));
        assert_eq!(packet_len(&p[..1], 1024), Ok(None));
        assert_eq!(packet_len(&p[..6], 1024), Ok(None));
        assert_eq!(packet_len(&p, 1024), Ok(Some(12)));
        assert_eq!(packet_len(b"X", 1024), Err(CodecError::BadMagic));
        assert_eq!(
            packet_len(b"AW\x02", 1024),
            Err(CodecError::UnsupportedVersion(2))
        );
        assert_eq!(packet_len(&p, 11), Err(CodecError::Oversize(12)));
        assert_eq!(open(&p.slice(..11), 1024), Err(CodecError::Truncated));
        let mut long = p.to_vec();
        long.push(0);
        assert_eq!(
            open(&Bytes::from(long), 1024),
            Err(CodecError::TrailingBytes)
        );
        let mut flipped = p.to_vec();
        flipped[7] ^= 1;
        assert_eq!(
            open(&Bytes::from(flipped), 1024),
            Err(CodecError::BadChecksum)
        );
    }
}
